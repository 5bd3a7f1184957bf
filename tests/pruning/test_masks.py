"""skscreen.pruning.masks: mask buffers, keeping pruned weights at zero, both storages.

Each test builds a tiny ``Linear`` layer (or two that share a weight), sets a mask whose
zeros are known, and checks the exact entries of the weight, its gradient, the optimizer's
state and the state dict. The Ctrl-C section (skscreen.pruning._atomic) is tested here too:
it is what makes a mask update all-or-nothing.
"""

import copy
import os
import pickle
import signal

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from skscreen.pruning._atomic import deferred_interrupt  # noqa: E402
from skscreen.pruning.masks import (  # noqa: E402
    MaskEnforcer,
    attach_mask,
    effective_weight,
    enforce_masks,
    get_mask,
    masks_from_zeros,
    n_alive,
    remove_masks,
    reset_masks,
    share_mask,
    to_torch_prune,
    update_mask,
)

# a 2x3 pattern with one zero in each row
KEEP = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
PRUNED = KEEP == 0


def _lin(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    lin = nn.Linear(3, 2).to(dtype)
    with torch.no_grad():  # no weight is zero by chance: every zero below is a pruned one
        lin.weight.copy_(torch.arange(1.0, 7.0).reshape(2, 3))
    return lin


def _load_hooks(module):
    return [
        h
        for h in module._load_state_dict_post_hooks.values()
        if type(h).__name__ == "_MasksFromLoad"
    ]


def _backward(module, seed=1):
    torch.manual_seed(seed)
    module(torch.randn(5, 3)).pow(2).sum().backward()


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = _lin()
        self.b = nn.Linear(3, 2)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.a(x) + self.b(x)


class _AddOne(torch.optim.Optimizer):
    """An optimizer from outside torch.optim that moves every entry, zero or not."""

    def __init__(self, params):
        super().__init__(params, {})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(1.0)


# ------------------------------------------------------------------- the mask buffer
def test_attach_mask_gives_an_all_ones_non_persistent_buffer_once():
    lin = _lin()
    assert get_mask(lin) is None
    mask = attach_mask(lin)
    assert mask is get_mask(lin) is lin.weight_mask
    assert torch.equal(mask, torch.ones(2, 3)) and mask.dtype == lin.weight.dtype
    assert set(lin.state_dict()) == {"weight", "bias"}  # the plain module's state dict
    mask[0, 0] = 0
    assert attach_mask(lin) is mask and mask[0, 0] == 0  # an existing mask is kept
    assert len(_load_hooks(lin)) == 1  # one load post-hook, however often attached


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_the_mask_has_the_weight_dtype(dtype):
    lin = _lin(dtype=dtype)
    assert attach_mask(lin).dtype == dtype
    update_mask(lin, KEEP.bool())
    assert lin.weight.dtype == get_mask(lin).dtype == dtype
    assert torch.equal(lin.weight == 0, PRUNED)


def test_masks_of_two_parameter_names_are_independent():
    lin = _lin()
    attach_mask(lin)
    bias_mask = attach_mask(lin, "bias")
    assert bias_mask.shape == (2,) and get_mask(lin, "bias") is bias_mask
    assert sorted(h.name for h in _load_hooks(lin)) == ["bias", "weight"]
    update_mask(lin, torch.tensor([0.0, 1.0]), name="bias")
    assert lin.bias[0] == 0 and lin.bias[1] != 0
    assert torch.equal(get_mask(lin), torch.ones(2, 3))  # the weight's mask untouched


def test_get_mask_is_none_without_a_mask():
    lin = _lin()
    assert get_mask(lin) is None and get_mask(lin, "bias") is None
    attach_mask(lin)
    assert get_mask(lin, "bias") is None


def test_share_mask_ties_two_modules_to_one_buffer_and_one_load_rule():
    model = _Tied()
    mask = attach_mask(model.a)
    assert share_mask(model.b, mask) is mask and get_mask(model.b) is mask
    assert set(model.b.state_dict()) == {"weight", "bias"}
    update_mask(model.a, KEEP)
    assert torch.equal(get_mask(model.b), KEEP)
    # a state dict loaded into b alone re-derives the shared mask from b's zeros
    sd = model.b.state_dict()
    sd["weight"] = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    model.b.load_state_dict(sd)
    assert get_mask(model.a) is mask
    assert torch.equal(mask, torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]))


# ------------------------------------------------------------------- masks from zeros
def test_masks_from_zeros_follows_the_weight_in_place_and_skips_unmasked_modules():
    lin, plain = _lin(), _lin()
    mask = update_mask(lin, KEEP)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, 2.0, 0.0], [4.0, 5.0, 6.0]]))
        plain.weight[0, 0] = 0
    masks_from_zeros([lin, plain])
    assert get_mask(lin) is mask  # updated in place (a tied module sees it)
    assert torch.equal(mask, torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    assert get_mask(plain) is None


def test_masks_from_zeros_for_another_parameter_name():
    lin = _lin()
    attach_mask(lin, "bias")
    with torch.no_grad():
        lin.bias.copy_(torch.tensor([0.0, 3.0]))
    masks_from_zeros([lin], "bias")
    assert torch.equal(get_mask(lin, "bias"), torch.tensor([0.0, 1.0]))


def test_loading_a_state_dict_re_derives_the_mask_from_its_zeros():
    lin = _lin()
    update_mask(lin, KEEP)
    sd = {k: v.clone() for k, v in lin.state_dict().items()}
    update_mask(lin, torch.zeros(2, 3))  # everything pruned
    lin.load_state_dict(sd)
    assert torch.equal(get_mask(lin), KEEP)  # masks may grow again: the loaded state is truth
    assert torch.equal(lin.weight, sd["weight"])


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_copied_masked_module_keeps_its_mask_and_load_rule(how):
    lin = _lin()
    update_mask(lin, KEEP)
    back = pickle.loads(pickle.dumps(lin)) if how == "pickle" else copy.deepcopy(lin)
    assert torch.equal(get_mask(back), KEEP)
    sd = back.state_dict()
    sd["weight"] = torch.ones(2, 3)
    back.load_state_dict(sd)
    assert torch.equal(get_mask(back), torch.ones(2, 3))
    assert torch.equal(get_mask(lin), KEEP)  # the original is a separate object


def test_masks_from_zeros_leaves_torch_prune_storage_alone():
    lin = _lin()
    update_mask(lin, KEEP)
    to_torch_prune(lin)
    with torch.no_grad():
        lin.weight_orig[0, 0] = 0  # a zero that the stored mask does not have
    lin(torch.ones(1, 3))  # the forward pre-hook recomputes lin.weight with that zero
    masks_from_zeros([lin])
    assert torch.equal(get_mask(lin), KEEP)


# ------------------------------------------------------------------- effective weight
def test_effective_weight_is_the_masked_detached_weight():
    lin = _lin()
    assert (
        torch.equal(effective_weight(lin), lin.weight) and not effective_weight(lin).requires_grad
    )
    attach_mask(lin).copy_(KEEP)  # a mask written without zeroing: the product shows
    expected = torch.arange(1.0, 7.0).reshape(2, 3) * KEEP
    assert torch.equal(effective_weight(lin), expected)
    assert not effective_weight(lin).requires_grad
    assert torch.equal(effective_weight(lin, "bias"), lin.bias.detach())  # no bias mask


def test_effective_weight_of_torch_prune_storage_masks_weight_orig():
    lin = _lin()
    update_mask(lin, KEEP)
    to_torch_prune(lin)
    with torch.no_grad():
        lin.weight_orig.fill_(2.0)
    assert torch.equal(effective_weight(lin), 2.0 * KEEP)


# ------------------------------------------------------------------- enforce / reset
def test_enforce_masks_zeroes_pruned_entries_of_masked_modules_only():
    lin, plain = _lin(), _lin()
    attach_mask(lin).copy_(KEEP)
    enforce_masks([lin, plain])
    assert torch.equal(lin.weight.detach(), torch.arange(1.0, 7.0).reshape(2, 3) * KEEP)
    assert torch.equal(plain.weight.detach(), torch.arange(1.0, 7.0).reshape(2, 3))


def test_enforce_masks_on_torch_prune_storage_zeroes_weight_orig():
    lin = _lin()
    update_mask(lin, KEEP)
    to_torch_prune(lin)
    with torch.no_grad():
        lin.weight_orig.fill_(3.0)
    enforce_masks([lin])
    assert torch.equal(lin.weight_orig.detach(), 3.0 * KEEP)


def test_enforce_masks_for_another_parameter_name():
    lin = _lin()
    attach_mask(lin, "bias").copy_(torch.tensor([0.0, 1.0]))
    bias = lin.bias.detach().clone()
    enforce_masks([lin], "bias")
    assert lin.bias[0] == 0 and lin.bias[1] == bias[1] != 0


def test_reset_masks_sets_ones_and_keeps_the_weights():
    lin, plain = _lin(), _lin()
    mask = update_mask(lin, KEEP)
    w = lin.weight.detach().clone()
    reset_masks([lin, plain])
    assert get_mask(lin) is mask and torch.equal(mask, torch.ones(2, 3))
    assert torch.equal(lin.weight, w) and get_mask(plain) is None
    attach_mask(lin, "bias").zero_()
    reset_masks([lin], "bias")
    assert torch.equal(get_mask(lin, "bias"), torch.ones(2))


# ------------------------------------------------------------------- update_mask
def test_update_mask_zeroes_the_weight_and_writes_old_mask_and_keep():
    lin = _lin()
    mask = update_mask(lin, KEEP.bool())  # a bool keep is accepted
    assert mask is get_mask(lin) and mask.dtype == torch.float32
    assert torch.equal(mask, KEEP)
    assert torch.equal(lin.weight.detach(), torch.arange(1.0, 7.0).reshape(2, 3) * KEEP)
    # a later mask never revives a weight: the result is old & keep
    update_mask(lin, torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]))
    assert torch.equal(mask, torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))
    assert torch.equal(lin.weight == 0, mask == 0)


def test_masked_weights_stay_zero_through_sgd_momentum_and_weight_decay():
    torch.manual_seed(0)
    lin = nn.Linear(6, 4)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)
    for _ in range(3):  # build up momentum first
        opt.zero_grad()
        lin(torch.randn(8, 6)).pow(2).sum().backward()
        opt.step()
    keep = torch.rand(4, 6) > 0.5
    update_mask(lin, keep, opt)
    assert torch.all(opt.state[lin.weight]["momentum_buffer"][~keep] == 0)
    for _ in range(10):
        opt.zero_grad()
        lin(torch.randn(8, 6)).pow(2).sum().backward()
        opt.step()
        enforce_masks([lin])
        assert torch.all(lin.weight[~keep] == 0)
    assert torch.all(effective_weight(lin)[~keep] == 0)
    # converted to torch.nn.utils.prune storage on request
    to_torch_prune(lin)
    assert prune.is_pruned(lin) and torch.all(lin.weight[~keep] == 0)
    # a later mask never revives a weight
    update_mask(lin, torch.ones(4, 6, dtype=torch.bool), opt)
    assert torch.equal(get_mask(lin).bool(), keep)


def _adam_after_steps(lin, n=2):
    opt = torch.optim.Adam(lin.parameters(), lr=0.1)
    for _ in range(n):
        opt.zero_grad()
        _backward(lin)
        opt.step()
    return opt


def test_update_mask_zeroes_the_pruned_entries_of_adams_moments_only():
    lin = _lin()
    opt = _adam_after_steps(lin)
    state = opt.state[lin.weight]
    before = {k: v.clone() for k, v in state.items()}
    bias_before = {k: v.clone() for k, v in opt.state[lin.bias].items()}
    update_mask(lin, KEEP, opt)
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.all(before[key] != 0)
        assert torch.equal(state[key], before[key] * KEEP)
    assert torch.equal(state["step"], before["step"])  # a scalar: not a per-entry state
    for k, v in opt.state[lin.bias].items():
        assert torch.equal(v, bias_before[k])


class _Wrapper:
    """An optimizer wrapper (gradient accumulation recipes, accelerate) naming the real one."""

    def __init__(self, optimizer):
        self.optimizer = optimizer


def test_update_mask_reaches_the_state_of_a_wrapped_optimizer():
    lin = _lin()
    opt = _adam_after_steps(lin)
    update_mask(lin, KEEP, _Wrapper(opt))
    assert torch.equal(opt.state[lin.weight]["exp_avg"] == 0, PRUNED)


@pytest.mark.parametrize("optimizer", [None, object(), _Wrapper(None), _Wrapper(object())])
def test_update_mask_without_a_torch_optimizer_masks_the_weight_only(optimizer):
    lin = _lin()
    update_mask(lin, KEEP, optimizer)
    assert torch.equal(lin.weight == 0, PRUNED)


def test_update_mask_restarts_lbfgs_history():
    lin = _lin()
    opt = torch.optim.LBFGS(lin.parameters(), lr=0.1, max_iter=3)

    def closure():
        opt.zero_grad()
        loss = lin(torch.ones(4, 3)).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert len(opt.state) > 0
    update_mask(lin, KEEP, opt)
    assert len(opt.state) == 0
    assert torch.equal(lin.weight == 0, PRUNED)


def test_update_mask_on_tied_modules_updates_the_one_shared_mask():
    model = _Tied()
    share_mask(model.b, attach_mask(model.a))
    update_mask(model.b, KEEP)
    assert torch.equal(get_mask(model.a), KEEP) and torch.equal(model.a.weight == 0, PRUNED)


def test_update_mask_with_torch_prune_storage_updates_orig_mask_and_weight_at_once():
    lin = _lin()
    update_mask(lin, KEEP)
    to_torch_prune(lin)
    update_mask(lin, torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]))
    expected = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert torch.equal(lin.weight_mask, expected)
    assert torch.equal(lin.weight_orig == 0, expected == 0)
    # the attribute the forward pass reads is current before the next forward
    assert torch.equal(lin.weight.detach(), lin.weight_orig.detach() * expected)


def test_a_ctrl_c_during_update_mask_is_raised_after_the_mask_is_written():
    lin = _lin()
    opt = _adam_after_steps(lin)

    class _Interrupting:
        @property
        def optimizer(self):  # read inside the critical section
            os.kill(os.getpid(), signal.SIGINT)
            return opt

    with pytest.raises(KeyboardInterrupt):
        update_mask(lin, KEEP, _Interrupting())
    # every part of the update is done
    assert torch.equal(get_mask(lin), KEEP) and torch.equal(lin.weight == 0, PRUNED)
    assert torch.equal(opt.state[lin.weight]["exp_avg"] == 0, PRUNED)


def test_sigint_during_a_mask_update_is_deferred():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("finished")
    assert done == ["finished"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_update_mask_moves_a_cpu_keep_to_the_module_device():
    lin = _lin().cuda()
    mask = update_mask(lin, KEEP.bool())
    assert mask.device.type == "cuda" and torch.equal(mask.cpu(), KEEP)
    assert torch.equal((lin.weight == 0).cpu(), PRUNED)


# ------------------------------------------------------------------- MaskEnforcer
def test_enforcer_zeroes_the_gradient_of_pruned_entries_only():
    lin, dense = _lin(), _lin()
    update_mask(lin, KEEP)
    with torch.no_grad():
        dense.weight.mul_(KEEP)  # the same function, without a mask
    enforcer = MaskEnforcer().attach([lin])
    assert enforcer.attached
    _backward(lin)
    _backward(dense)
    assert torch.all(dense.weight.grad[PRUNED] != 0)  # a pruned entry does get a gradient
    assert torch.equal(lin.weight.grad, dense.weight.grad * KEEP)
    assert torch.equal(lin.bias.grad, dense.bias.grad)  # no mask, no hook


def test_enforcer_zeroes_accumulated_gradients_and_keeps_weights_zero_under_adam():
    lin = _lin()
    update_mask(lin, KEEP)
    opt = torch.optim.Adam(lin.parameters(), lr=0.1, weight_decay=0.1)
    MaskEnforcer().attach([lin], opt)
    for step in range(4):
        _backward(lin, seed=step)  # never zeroed: gradients accumulate
        assert torch.all(lin.weight.grad[PRUNED] == 0)
        opt.step()
        assert torch.equal(lin.weight == 0, PRUNED)
    assert len(opt._optimizer_step_post_hooks) == 0  # torch.optim needs no backstop


def test_enforcer_follows_a_mask_updated_after_attaching():
    lin = _lin()
    attach_mask(lin)  # dense: the hook is idle
    enforcer = MaskEnforcer().attach([lin])
    _backward(lin)
    assert torch.all(lin.weight.grad != 0)
    lin.weight.grad = None
    update_mask(lin, KEEP)  # the same buffer, changed in place
    _backward(lin)
    assert torch.equal(lin.weight.grad == 0, PRUNED)
    lin.weight.grad = None
    update_mask(lin, torch.ones(2, 3))  # no change
    reset_masks([lin])  # dense again: gradients flow everywhere
    _backward(lin)
    assert torch.all(lin.weight.grad != 0)
    enforcer.remove()


def test_enforcer_follows_a_mask_buffer_replaced_after_attaching():
    lin = _lin()
    attach_mask(lin)
    MaskEnforcer().attach([lin])
    _backward(lin)
    lin.weight.grad = None
    new = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])  # a new tensor, version 0 too
    assert new._version == get_mask(lin)._version
    lin.register_buffer("weight_mask", new, persistent=False)
    _backward(lin)
    assert torch.equal(lin.weight.grad == 0, new == 0)


def test_enforcer_outlives_its_mask_harmlessly():
    lin = _lin()
    update_mask(lin, KEEP)
    MaskEnforcer().attach([lin])
    remove_masks(lin)
    _backward(lin)
    assert torch.equal(lin.weight.grad == 0, torch.zeros(2, 3, dtype=torch.bool))


def test_enforcer_attach_zeroes_pruned_weights_and_skips_unmasked_modules():
    lin, plain = _lin(), _lin()
    attach_mask(lin).copy_(KEEP)  # pruned entries not yet zero
    enforcer = MaskEnforcer().attach([lin, plain])
    assert torch.equal(lin.weight == 0, PRUNED)
    assert len(plain.weight._post_accumulate_grad_hooks or {}) == 0
    assert len(lin.weight._post_accumulate_grad_hooks) == 1
    assert not MaskEnforcer().attach([plain]).attached
    enforcer.remove()


def test_enforcer_hooks_a_tied_weight_once():
    model = _Tied()
    share_mask(model.b, update_mask(model.a, KEEP))
    MaskEnforcer().attach([model.a, model.b])
    assert len(model.a.weight._post_accumulate_grad_hooks) == 1
    _backward(model)
    assert torch.equal(model.a.weight.grad == 0, PRUNED)


def test_enforcer_skips_a_frozen_weight():
    lin = _lin()
    update_mask(lin, KEEP)
    lin.weight.requires_grad_(False)
    enforcer = MaskEnforcer().attach([lin])  # a frozen weight cannot take the hook
    assert not enforcer.attached


def test_enforcer_reattach_replaces_and_remove_detaches_its_hooks():
    lin = _lin()
    update_mask(lin, KEEP)
    enforcer = MaskEnforcer()
    assert not enforcer.attached
    enforcer.attach([lin]).attach([lin])
    assert len(lin.weight._post_accumulate_grad_hooks) == 1
    enforcer.remove()
    assert not enforcer.attached and len(lin.weight._post_accumulate_grad_hooks) == 0
    _backward(lin)
    assert torch.all(lin.weight.grad != 0)  # no longer enforced


def test_enforcer_attach_again_to_the_same_objects_keeps_its_hooks():
    # a training loop re-attaches after every pruning step: no new hook; the pruned entries
    # are re-zeroed all the same (weights edited behind the masks' back between two fits)
    lin = _lin()
    update_mask(lin, KEEP)
    opt = _AddOne(lin.parameters())
    enforcer = MaskEnforcer().attach([lin], opt)
    handles = list(enforcer._handles)
    with torch.no_grad():
        lin.weight[PRUNED] = 5.0  # e.g. net.module_[0].weight.data edited between two fits
    enforcer.attach([lin], opt)
    assert enforcer._handles == handles
    assert torch.all(lin.weight[PRUNED] == 0.0)
    assert len(lin.weight._post_accumulate_grad_hooks) == 1
    assert len(opt._optimizer_step_post_hooks) == 1
    enforcer.remove()


def test_enforcer_attach_that_failed_is_not_remembered_as_attached():
    # a mask that does not fit its weight makes attach raise after the gradient hook is
    # registered; attaching again to the same objects must try again (and raise again),
    # not keep the half-made hooks, and once the mask fits it hooks and zeroes as usual
    lin = _lin()
    lin.register_buffer("weight_mask", torch.ones(2), persistent=False)  # not (2, 3)
    enforcer = MaskEnforcer()
    for _ in range(2):
        with pytest.raises(RuntimeError, match="size"):
            enforcer.attach([lin])
    lin.weight_mask = KEEP.clone()  # the same module and parameter, a mask that fits
    enforcer.attach([lin])
    assert torch.equal(lin.weight.detach() == 0, PRUNED)
    assert len(lin.weight._post_accumulate_grad_hooks) == 1
    enforcer.remove()


def test_enforcer_attach_after_a_failed_one_hooks_the_new_modules():
    # the failed attach left a hook on the first module and remembered nothing: attaching to
    # another module must replace that hook with one on the new module, not keep the old one
    lin, other = _lin(), _lin(seed=1)
    lin.register_buffer("weight_mask", torch.ones(2), persistent=False)  # not (2, 3)
    update_mask(other, KEEP)
    enforcer = MaskEnforcer()
    with pytest.raises(RuntimeError, match="size"):
        enforcer.attach([lin])
    enforcer.attach([other])
    assert len(lin.weight._post_accumulate_grad_hooks or {}) == 0
    assert len(other.weight._post_accumulate_grad_hooks) == 1
    _backward(other)
    assert torch.equal(other.weight.grad == 0, PRUNED)
    enforcer.remove()


def test_enforcer_attach_after_a_parameter_was_replaced_hooks_the_new_one():
    # channel pruning (and a user) may put a new Parameter in place of the old one
    lin = _lin()
    update_mask(lin, KEEP)
    enforcer = MaskEnforcer().attach([lin])
    old = lin.weight
    lin.weight = nn.Parameter(old.detach().clone())
    enforcer.attach([lin])
    assert len(old._post_accumulate_grad_hooks) == 0
    _backward(lin)
    assert torch.equal(lin.weight.grad == 0, PRUNED)
    enforcer.remove()


def test_enforcer_attach_follows_a_new_optimizer_and_a_weight_unfrozen():
    lin = _lin()
    update_mask(lin, KEEP)
    first, second = _AddOne(lin.parameters()), _AddOne(lin.parameters())
    enforcer = MaskEnforcer().attach([lin], first)
    enforcer.attach([lin], second)  # skorch re-initialises the optimizer on set_params(lr=)
    assert len(first._optimizer_step_post_hooks) == 0
    assert len(second._optimizer_step_post_hooks) == 1
    frozen = _lin()
    update_mask(frozen, KEEP)
    frozen.weight.requires_grad_(False)
    enforcer.attach([frozen])
    assert not enforcer.attached
    enforcer.attach([lin, frozen])
    assert len(frozen.weight._post_accumulate_grad_hooks or {}) == 0
    frozen.weight.requires_grad_(True)
    enforcer.attach([lin, frozen])  # the same objects, one now trainable: hooked
    assert len(frozen.weight._post_accumulate_grad_hooks) == 1
    assert len(lin.weight._post_accumulate_grad_hooks) == 1
    enforcer.attach([frozen])  # another module list
    assert len(lin.weight._post_accumulate_grad_hooks) == 0
    enforcer.remove()


def test_enforcer_attach_to_another_module_sharing_the_parameter_reads_its_mask():
    lin = _lin()
    update_mask(lin, KEEP)
    other = nn.Linear(3, 2)
    other.weight = lin.weight  # the same Parameter, another module with its own mask
    update_mask(other, torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    enforcer = MaskEnforcer().attach([lin])
    enforcer.attach([other])
    _backward(other)
    assert torch.equal(lin.weight.grad == 0, get_mask(other) == 0)
    enforcer.remove()


def test_enforcer_backstops_an_optimizer_from_elsewhere_after_each_step():
    lin = _lin()
    update_mask(lin, KEEP)
    opt = _AddOne(lin.parameters())
    enforcer = MaskEnforcer().attach([lin], opt)
    assert len(opt._optimizer_step_post_hooks) == 1
    before = lin.weight.detach().clone()
    opt.step()
    assert torch.equal(lin.weight.detach(), (before + 1) * KEEP)
    enforcer.remove()
    assert len(opt._optimizer_step_post_hooks) == 0
    opt.step()
    assert torch.all(lin.weight[PRUNED] == 1)  # what the optimizer does unguarded


def test_enforcer_backstop_for_another_parameter_name():
    lin = _lin()
    update_mask(lin, torch.tensor([0.0, 1.0]), name="bias")
    opt = _AddOne(lin.parameters())
    MaskEnforcer().attach([lin], opt, name="bias")
    opt.step()
    assert lin.bias[0] == 0 and lin.bias[1] != 0
    assert torch.all(lin.weight != 0)  # its own mask is not the bias's


def test_enforcer_masks_the_gradient_of_another_parameter_name():
    lin = _lin()
    update_mask(lin, torch.tensor([0.0, 1.0]), name="bias")
    MaskEnforcer().attach([lin], name="bias")
    _backward(lin)
    assert lin.bias.grad[0] == 0 and lin.bias.grad[1] != 0
    assert torch.all(lin.weight.grad != 0)


@pytest.mark.parametrize("kind", ["attribute", "parameter"])
def test_enforcer_masks_the_gradient_by_a_mask_that_is_not_a_buffer(kind):
    # get_mask (getattr) finds a mask set as a plain tensor attribute or a frozen Parameter,
    # and update_mask / enforce_masks apply it; the gradient hook must read that same mask
    # (it read get_mask before eb25252; module._buffers alone misses it, and with a
    # torch.optim optimizer there is no step backstop: the pruned weights move)
    lin = _lin()
    ones = torch.ones(2, 3)
    lin.weight_mask = ones if kind == "attribute" else nn.Parameter(ones, requires_grad=False)
    assert "weight_mask" not in lin._buffers and get_mask(lin) is not None
    update_mask(lin, KEEP)
    MaskEnforcer().attach([lin])
    _backward(lin)
    assert torch.equal(lin.weight.grad == 0, PRUNED)


def test_enforcer_masks_the_bias_gradient_by_a_bias_mask_that_is_not_a_buffer():
    # the hook's fallback (get_mask) looks for the mask of its own parameter name
    lin = _lin()
    lin.bias_mask = torch.ones(2)  # a plain tensor attribute, not a buffer
    update_mask(lin, torch.tensor([0.0, 1.0]), name="bias")
    MaskEnforcer().attach([lin], name="bias")
    _backward(lin)
    assert lin.bias.grad[0] == 0 and lin.bias.grad[1] != 0
    assert torch.all(lin.weight.grad != 0)


def test_enforcer_needs_no_backstop_without_masked_modules():
    opt = _AddOne(_lin().parameters())
    assert not MaskEnforcer().attach([_lin()], opt).attached
    assert len(opt._optimizer_step_post_hooks) == 0


def test_enforcer_on_torch_prune_storage_hooks_weight_orig():
    lin = _lin()
    update_mask(lin, KEEP)
    to_torch_prune(lin)
    opt = _AddOne(lin.parameters())
    MaskEnforcer().attach([lin], opt)
    assert len(lin.weight_orig._post_accumulate_grad_hooks) == 1
    opt.step()
    assert torch.equal(lin.weight_orig == 0, PRUNED)


def test_a_pickled_enforcer_is_detached_and_reattachable():
    lin = _lin()
    update_mask(lin, KEEP)
    enforcer = MaskEnforcer().attach([lin])
    for back in (pickle.loads(pickle.dumps(enforcer)), copy.deepcopy(enforcer)):
        assert not back.attached
        assert back.attach([lin]).attached
        back.remove()
    assert enforcer.attached  # the original keeps its hooks
    model = pickle.loads(pickle.dumps(lin))  # the hooked module pickles; hooks stay behind
    assert not model.weight._post_accumulate_grad_hooks


# ------------------------------------------------------------------- storages
def test_to_torch_prune_moves_the_mask_into_prunes_reparametrisation():
    model = nn.Sequential(_lin(), nn.ReLU(), _lin(seed=1))
    update_mask(model[0], KEEP)
    w = model[0].weight.detach().clone()
    to_torch_prune(model)
    lin = model[0]
    assert prune.is_pruned(model) and not prune.is_pruned(model[2])
    assert torch.equal(lin.weight_orig.detach(), w) and torch.equal(lin.weight_mask, KEEP)
    assert set(lin.state_dict()) == {"weight_orig", "bias", "weight_mask"}
    assert "weight_mask" not in lin._non_persistent_buffers_set
    assert not _load_hooks(lin)
    x = torch.randn(4, 3)
    torch.testing.assert_close(lin(x), x @ (w * KEEP).T + lin.bias)
    to_torch_prune(model)  # a second time: nothing left to convert
    assert torch.equal(lin.weight_mask, KEEP) and prune.is_pruned(lin)


def test_to_torch_prune_for_another_parameter_name():
    lin = _lin()
    attach_mask(lin)
    update_mask(lin, torch.tensor([0.0, 1.0]), name="bias")
    to_torch_prune(lin, "bias")
    assert hasattr(lin, "bias_orig") and not hasattr(lin, "weight_orig")
    assert torch.equal(lin.bias_mask, torch.tensor([0.0, 1.0]))
    assert [h.name for h in _load_hooks(lin)] == ["weight"]


def test_remove_masks_bakes_the_mask_in_and_leaves_the_plain_module():
    model = nn.Sequential(_lin(), nn.ReLU(), _lin(seed=1))
    attach_mask(model[0]).copy_(KEEP)  # pruned entries not yet zero: remove bakes them in
    remove_masks(model)
    lin = model[0]
    assert torch.equal(lin.weight.detach(), torch.arange(1.0, 7.0).reshape(2, 3) * KEEP)
    assert get_mask(lin) is None and not _load_hooks(lin)
    assert "weight_mask" not in lin._non_persistent_buffers_set
    assert set(model.state_dict()) == set(nn.Sequential(_lin(), nn.ReLU(), _lin()).state_dict())
    sd = lin.state_dict()
    sd["weight"] = torch.ones(2, 3)
    lin.load_state_dict(sd)  # no mask comes back
    assert get_mask(lin) is None


def test_remove_masks_on_torch_prune_storage_gives_a_plain_parameter():
    model = nn.Sequential(_lin(), nn.ReLU(), _lin(seed=1))
    update_mask(model[0], KEEP)
    to_torch_prune(model)
    remove_masks(model)
    lin = model[0]
    assert not prune.is_pruned(model) and not hasattr(lin, "weight_orig")
    assert isinstance(lin.weight, nn.Parameter) and torch.equal(lin.weight == 0, PRUNED)
    assert set(lin.state_dict()) == {"weight", "bias"}


def test_remove_masks_of_one_name_leaves_the_other():
    lin = _lin()
    update_mask(lin, KEEP)
    update_mask(lin, torch.tensor([0.0, 1.0]), name="bias")
    remove_masks(lin, "bias")
    assert get_mask(lin, "bias") is None and torch.equal(get_mask(lin), KEEP)
    assert [h.name for h in _load_hooks(lin)] == ["weight"]


# ------------------------------------------------------------------- another parameter name
def test_a_bias_mask_alone_follows_the_loaded_zeros_of_the_bias():
    lin = _lin()
    attach_mask(lin, "bias")
    sd = lin.state_dict()
    sd["bias"] = torch.tensor([0.0, 2.0])
    lin.load_state_dict(sd)
    assert get_mask(lin) is None
    assert torch.equal(get_mask(lin, "bias"), torch.tensor([0.0, 1.0]))


def test_share_mask_of_a_bias_registers_the_bias_load_rule():
    a, b = _lin(), _lin(seed=1)
    mask = attach_mask(a, "bias")
    share_mask(b, mask, "bias")
    assert get_mask(b, "bias") is mask and get_mask(b) is None
    assert [h.name for h in _load_hooks(b)] == ["bias"]
    sd = b.state_dict()
    sd["bias"] = torch.tensor([3.0, 0.0])
    b.load_state_dict(sd)
    assert torch.equal(get_mask(a, "bias"), torch.tensor([1.0, 0.0]))


def test_enforcer_for_a_bias_mask_zeroes_the_bias_gradient_and_entries():
    lin = _lin()
    attach_mask(lin, "bias").copy_(torch.tensor([0.0, 1.0]))  # bias[0] not yet zero
    MaskEnforcer().attach([lin], name="bias")
    assert lin.bias[0] == 0 and lin.bias[1] != 0  # enforced at attach
    _backward(lin)
    assert lin.bias.grad[0] == 0 and lin.bias.grad[1] != 0
    assert torch.all(lin.weight.grad != 0)


def test_enforcer_hooks_every_module_after_a_skipped_one():
    frozen, tied, lin = _lin(), _Tied(), _lin(seed=1)
    for m in (frozen, tied.a, lin):
        update_mask(m, KEEP)
    share_mask(tied.b, get_mask(tied.a))
    frozen.weight.requires_grad_(False)
    # a frozen weight and a tied duplicate are skipped, the modules after them are not
    MaskEnforcer().attach([frozen, tied.a, tied.b, lin])
    _backward(lin)
    assert torch.equal(lin.weight.grad == 0, PRUNED)


def test_update_mask_with_an_optimizer_that_has_not_stepped_yet():
    lin = _lin()
    opt = torch.optim.Adam(lin.parameters(), lr=0.1)
    update_mask(lin, KEEP, opt)
    assert torch.equal(lin.weight == 0, PRUNED) and len(opt.state) == 0


def test_enforcer_attach_again_reads_a_mask_edited_by_hand():
    # a mask edited through .data keeps its version number; attaching again (the callback does
    # at every fit call) reads it afresh, as a new hook would
    lin = _lin()
    attach_mask(lin)
    enforcer = MaskEnforcer().attach([lin])
    _backward(lin)  # the hook has seen the dense mask
    lin.weight.grad = None
    version = get_mask(lin)._version
    get_mask(lin).data.copy_(KEEP)
    assert get_mask(lin)._version == version
    enforcer.attach([lin])
    _backward(lin)
    assert torch.equal(lin.weight.grad == 0, PRUNED)
    enforcer.remove()


def test_enforcer_attach_again_re_zeroes_another_parameter_name():
    # the same objects keep their hooks; the entries pruned by the bias mask, edited through
    # .data between two fits, are re-zeroed (and the weight, whose mask is not the bias's,
    # is left alone)
    lin = _lin()
    attach_mask(lin).copy_(KEEP)  # a weight mask too: attaching for "bias" must not apply it
    update_mask(lin, torch.tensor([0.0, 1.0]), name="bias")
    enforcer = MaskEnforcer().attach([lin], name="bias")
    handles = list(enforcer._handles)
    lin.bias.data[0] = 5.0
    enforcer.attach([lin], name="bias")
    assert enforcer._handles == handles
    assert lin.bias[0] == 0 and lin.bias[1] != 0
    assert torch.all(lin.weight != 0)
    enforcer.remove()


@pytest.mark.parametrize("n", [8, 4096, 4097, 70_000])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.bool])
def test_n_alive_counts_the_non_zero_entries_exactly(dtype, n):
    # as count_nonzero: -0.0 is zero, NaN is not; 70,000 ones (past float16's 65,504) exactly;
    # either side of the small-mask path
    mask = torch.ones(n, dtype=dtype)
    mask[:3] = 0
    if dtype.is_floating_point:
        mask[3] = -0.0
        mask[4] = float("nan")
    expected = n - (4 if dtype.is_floating_point else 3)
    assert n_alive(mask) == expected == int(torch.count_nonzero(mask))
    assert type(n_alive(mask)) is int
