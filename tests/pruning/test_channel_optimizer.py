"""skscreen.pruning.channels._optimizer: optimizer state sliced as its parameter was, on
hand-made parameters and state (the expected slices written out with index_select)."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from skscreen.pruning.channels._optimizer import _slice_state, remap_optimizer  # noqa: E402


def _param(*shape):
    return nn.Parameter(torch.arange(float(torch.tensor(shape).prod())).reshape(shape))


def test_state_follows_two_cuts_and_the_group_keeps_its_list():
    p, q = _param(4, 3), _param(2)
    opt = torch.optim.SGD([p, q], lr=0.1, momentum=0.9)
    buf = torch.arange(12.0).reshape(4, 3) * 10
    opt.state[p]["momentum_buffer"] = buf
    params_list = opt.param_groups[0]["params"]
    new = nn.Parameter(p.detach()[[0, 2]][:, [1]].clone())
    remap_optimizer(opt, {id(new): (new, p, [(0, [0, 2]), (1, [1])])})
    assert opt.param_groups[0]["params"] is params_list
    assert params_list[0] is new and params_list[1] is q
    assert p not in opt.state
    assert torch.equal(opt.state[new]["momentum_buffer"], torch.tensor([[10.0], [70.0]]))


def test_adam_state_after_a_step():
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(3, 2))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.randn(3, 2)
    opt.step()
    old = {k: v.clone() for k, v in opt.state[p].items()}
    new = nn.Parameter(p.detach()[[2]].clone())
    remap_optimizer(opt, {id(new): (new, p, [(0, [2])])})
    st = opt.state[new]
    assert torch.equal(st["step"], old["step"])  # scalar state kept
    assert torch.equal(st["exp_avg"], old["exp_avg"][[2]])
    assert torch.equal(st["exp_avg_sq"], old["exp_avg_sq"][[2]])
    new.grad = torch.ones(1, 2)
    opt.step()  # the optimizer runs on with the new parameter


def test_a_reduced_dimension_of_the_state_is_kept():
    state = {"a": torch.arange(4.0).reshape(4, 1), "b": torch.arange(3.0).reshape(1, 3)}
    got = _slice_state(state, (4, 3), [(0, [1, 3]), (1, [0, 2])])
    assert torch.equal(got["a"], torch.tensor([[1.0], [3.0]]))
    assert torch.equal(got["b"], torch.tensor([[0.0, 2.0]]))


def test_scalars_and_non_tensors_are_kept_as_they_are():
    step = torch.tensor(5.0)
    got = _slice_state({"step": step, "n": 3, "w": torch.zeros(2)}, (2,), [(0, [1])])
    assert got["step"] is step and got["n"] == 3 and got["w"].shape == (1,)


def test_state_without_cuts_is_copied():
    value = torch.ones(2, 2)
    got = _slice_state({"v": value}, (2, 2), [])
    assert torch.equal(got["v"], value) and got["v"] is not value
    assert got["v"].data_ptr() != value.data_ptr()


@pytest.mark.parametrize(
    "shape",
    [(4,), (4, 3, 1), (4, 2), (5, 3), (2, 3)],
    ids=["fewer dims", "more dims", "other size", "larger", "smaller"],
)
def test_state_not_shaped_like_the_parameter_cannot_be_mapped(shape):
    assert _slice_state({"s": torch.tensor(1.0), "v": torch.zeros(*shape)}, (4, 3), []) is None


def test_unmappable_state_is_dropped():
    p = _param(4, 3)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.state[p]["momentum_buffer"] = torch.zeros(5)
    new = nn.Parameter(p.detach()[:2].clone())
    remap_optimizer(opt, {id(new): (new, p, [(0, [0, 1])])})
    assert new not in opt.state and p not in opt.state
    assert opt.param_groups[0]["params"] == [new]


def test_a_parameter_without_state_gets_none():
    p = _param(4)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    new = nn.Parameter(p.detach()[:2].clone())
    remap_optimizer(opt, {id(new): (new, p, [(0, [0, 1])])})
    assert new not in opt.state and len(opt.state) == 0
    assert opt.param_groups[0]["params"][0] is new


def test_lbfgs_history_is_reset():
    p, q = _param(4), _param(2)
    opt = torch.optim.LBFGS([p, q])
    opt.state[p]["momentum_buffer"] = torch.zeros(4)
    opt.state[q]["x"] = torch.zeros(2)
    opt._numel_cache = 6
    params_list = opt.param_groups[0]["params"]
    new = nn.Parameter(p.detach()[:2].clone())
    remap_optimizer(opt, {id(new): (new, p, [(0, [0, 1])])})
    assert len(opt.state) == 0 and opt._numel_cache is None
    assert opt.param_groups[0]["params"] is params_list and params_list == [new, q]


def test_lbfgs_without_change_keeps_its_history():
    p = _param(4)
    opt = torch.optim.LBFGS([p])
    opt.state[p]["x"] = torch.zeros(4)
    opt._numel_cache = 4
    remap_optimizer(opt, {})
    assert "x" in opt.state[p] and opt._numel_cache == 4


def test_a_cut_keeping_nothing_gives_empty_state():
    got = _slice_state({"v": torch.ones(2, 3)}, (2, 3), [(0, [])])
    assert got["v"].shape == (0, 3)
