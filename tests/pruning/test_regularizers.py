"""Training penalties: known values on convolutions, gradient-side application, pickling."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning.masks import update_mask  # noqa: E402
from skscreen.pruning.regularizers import BatchNormL1, ContributionEntropy  # noqa: E402


def _direct_conv_entropy(w, x, groups):
    """Loop-by-loop reading: c[o, i] = sum_k |w[o, i, k]| * mean|x[:, g*ipg + i]|."""
    out, ipg = w.shape[:2]
    opg = out // groups
    a = np.abs(x).mean(axis=(0, 2, 3))
    hs = []
    for o in range(out):
        g = o // opg
        c = np.array([np.abs(w[o, i]).sum() * a[g * ipg + i] + 1e-12 for i in range(ipg)])
        p = c / c.sum()
        hs.append(-(p * np.log(p)).sum())
    return float(np.mean(hs))


@pytest.mark.parametrize("groups", [1, 2])
def test_contribution_entropy_on_a_grouped_conv(groups):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 6, 3, groups=groups).double()
    reg = ContributionEntropy({"c": conv})
    x = torch.randn(5, 4, 6, 6, dtype=torch.float64)
    x[:, 1] *= 3.0  # channels with different scales: a wrong channel mapping shows
    conv(x)
    got = reg.penalty().item()
    want = _direct_conv_entropy(conv.weight.detach().numpy(), x.numpy(), groups)
    assert got == pytest.approx(want, rel=1e-10)


def test_linear_on_nd_input_uses_the_last_dimension():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3).double()
    reg = ContributionEntropy({"l": lin})
    x = torch.randn(2, 7, 5, dtype=torch.float64)
    lin(x)
    a = x.reshape(-1, 5).abs().mean(0)
    c = lin.weight.detach().abs() * a[None, :] + 1e-12
    p = c / c.sum(1, keepdim=True)
    assert reg.penalty().item() == pytest.approx(float(-(p * p.log()).sum(1).mean()), rel=1e-12)


def test_gradient_side_equals_the_penalty_in_the_loss():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 4).double()
    ref = torch.nn.Linear(6, 4).double()
    ref.load_state_dict(lin.state_dict())
    x = torch.randn(8, 6, dtype=torch.float64)
    reg = ContributionEntropy({"l": lin}).attach_gradient(0.3)
    lin(x).pow(2).sum().backward()
    reg_ref = ContributionEntropy({"l": ref})
    (ref(x).pow(2).sum() + 0.3 * reg_ref.penalty()).backward()
    torch.testing.assert_close(lin.weight.grad, ref.weight.grad)
    assert reg.penalty_value() > 0
    # hooks do not travel with the module, and the regulariser pickles
    pickle.loads(pickle.dumps(lin))
    pickle.loads(pickle.dumps(reg))
    reg.remove()
    lin.weight.grad = None
    lin(x).pow(2).sum().backward()  # no penalty after remove()
    ref.weight.grad = None
    ref(x).pow(2).sum().backward()
    torch.testing.assert_close(lin.weight.grad, ref.weight.grad)


def test_batchnorm_l1_gradient_side():
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    bn, plain = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
        plain.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
    reg = BatchNormL1({"bn": bn}).attach_gradient(0.1)
    (bn(x) * torch.arange(3.0)).sum().backward()
    ((plain(x) * torch.arange(3.0)).sum() + 0.1 * plain.weight.abs().sum()).backward()
    torch.testing.assert_close(bn.weight.grad, plain.weight.grad)
    assert reg.penalty_value() == pytest.approx(3.5)


# ----------------------------------------------------- contribution entropy (known truth)
def _direct_entropy(weights, inputs):
    """Mean over output units of the entropy of c_ji = |w_ji| E|a_i|, summed over layers."""
    total = 0.0
    for w, x in zip(weights, inputs):
        a = np.abs(x).mean(axis=0)
        c = np.abs(w) * a[None, :] + 1e-12
        p = c / c.sum(axis=1, keepdims=True)
        total += float((-(p * np.log(p)).sum(axis=1)).mean())
    return total


def test_contribution_entropy_equals_direct_computation_and_a_step_lowers_it():
    torch.manual_seed(0)
    model = make_mlp(8, (6,), 3).double()
    lins = {"1": model[1], "3": model[3]}
    seen = {}
    for name, m in lins.items():
        m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, i[0].detach()))
    reg = ContributionEntropy(lins)
    x = torch.randn(32, 8, dtype=torch.float64)
    model.train()
    model(x)
    pen = reg.penalty()
    ref = _direct_entropy(
        [lins[n].weight.detach().numpy() for n in lins], [seen[n].numpy() for n in lins]
    )
    assert pen.item() == pytest.approx(ref, rel=1e-10)
    assert 0 < pen.item() <= np.log(8) + np.log(6)  # entropies are non-negative, bounded
    # one gradient step on the penalty lowers it (same batch statistics)
    pen.backward()
    with torch.no_grad():
        for m in lins.values():
            m.weight -= 0.05 * m.weight.grad
    model(x)
    after = reg.penalty().item()
    assert after < pen.item()
    ref_after = _direct_entropy(
        [lins[n].weight.detach().numpy() for n in lins], [seen[n].numpy() for n in lins]
    )
    assert after == pytest.approx(ref_after, rel=1e-10)
    reg.remove()


def test_reg_lambda_training_lowers_the_contribution_entropy():
    # the estimator adds +reg_lambda * H to the loss: training with it must end with lower
    # contribution entropy than the same training without it (a flipped sign raises it)
    pytest.importorskip("skorch")
    from sklearn.datasets import load_digits

    from skscreen import ScreeningPrunedNet

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)[:600]
    y = y[:600]

    def entropy_after(reg_lambda):
        torch.manual_seed(0)
        net = ScreeningPrunedNet(
            make_mlp,
            module__n_inputs=64,
            module__hidden=(32,),
            module__n_classes=10,
            alpha=0.0,
            sparsity=0.0,
            reg_lambda=reg_lambda,
            max_epochs=6,
            lr=0.1,
            batch_size=64,
            train_split=None,
            verbose=0,
        ).fit(X, y)
        module = net.module_.eval()
        lins = [m for m in module if isinstance(m, nn.Linear)]
        with torch.no_grad():
            hidden = module[2](lins[0](torch.as_tensor(X)))
        weights = [lins[0].weight.detach().numpy(), lins[1].weight.detach().numpy()]
        return _direct_entropy(weights, [X, hidden.numpy()])

    base, regd = entropy_after(0.0), entropy_after(0.5)
    assert regd < base - 0.05


def test_contribution_entropy_sees_masks_and_skips_layers_without_a_batch():
    torch.manual_seed(1)
    unused, lin = nn.Linear(5, 4).double(), nn.Linear(6, 3).double()
    keep = torch.rand(3, 6) > 0.4
    keep[:, 0] = True
    update_mask(lin, keep)  # pruned weights contribute nothing
    reg = ContributionEntropy({"unused": unused, "lin": lin})  # "unused" sees no batch
    assert reg.penalty().item() == 0.0  # nothing recorded yet: an exact zero
    x = torch.randn(16, 6, dtype=torch.float64)
    lin.train()
    lin(x)
    w = lin.weight.detach().numpy() * keep.numpy()
    assert reg.penalty().item() == pytest.approx(_direct_entropy([w], [x.numpy()]), rel=1e-10)
    reg.remove()
    # torch.nn.utils.prune storage: weight_orig keeps its values under a zero mask
    from torch.nn.utils import prune

    lin2 = nn.Linear(6, 3).double()
    prune.custom_from_mask(lin2, "weight", keep.double())
    reg2 = ContributionEntropy({"lin2": lin2})
    lin2(x)
    w2 = lin2.weight_orig.detach().numpy() * keep.numpy()
    assert reg2.penalty().item() == pytest.approx(_direct_entropy([w2], [x.numpy()]), rel=1e-10)
    reg2.remove()


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_gradient_side_strength_zero_and_one(strength):
    torch.manual_seed(2)
    lin, ref = nn.Linear(6, 4).double(), nn.Linear(6, 4).double()
    ref.load_state_dict(lin.state_dict())
    frozen = nn.Linear(3, 3)
    frozen.weight.requires_grad_(False)  # skipped: no hook on a frozen weight
    mods = {"l": lin, "frozen": frozen, "act": nn.ReLU()}  # and none on a weightless module
    reg = ContributionEntropy(mods).attach_gradient(strength)
    x = torch.randn(8, 6, dtype=torch.float64)
    lin(x).pow(2).sum().backward()
    reg_ref = ContributionEntropy({"l": ref})
    ref_loss = ref(x).pow(2).sum()
    pen = reg_ref.penalty()
    (ref_loss + strength * pen).backward()
    torch.testing.assert_close(lin.weight.grad, ref.weight.grad)
    expected_value = 0.0 if strength == 0 else pen.item()
    assert reg.penalty_value() == pytest.approx(expected_value, rel=1e-10)
    reg.detach_gradient()  # no hook left: a second backward adds the plain gradient only
    lin.weight.grad = None
    lin(x).pow(2).sum().backward()
    ref.weight.grad = None
    ref(x).pow(2).sum().backward()
    torch.testing.assert_close(lin.weight.grad, ref.weight.grad)
    reg.remove()


def test_batchnorm_l1_penalty_and_pickling():
    import pickle

    from skscreen.pruning.regularizers import BatchNormL1

    bn, fixed = nn.BatchNorm2d(3), nn.BatchNorm2d(2, affine=False)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, -1.5, 2.0]))
    assert BatchNormL1({}).penalty().item() == 0.0
    reg = BatchNormL1({"bn": bn, "fixed": fixed})  # a BatchNorm without scales is skipped
    assert reg.penalty().item() == pytest.approx(4.0)
    reg.attach_gradient(0.1)
    back = pickle.loads(pickle.dumps(reg))  # gradient hooks are not pickled
    assert back._grad_handles == [] and set(back.modules) == {"bn", "fixed"}
    assert back.penalty().item() == pytest.approx(4.0)
    ce = ContributionEntropy({"l": nn.Linear(3, 2)}).attach_gradient(0.1)
    ce.modules["l"](torch.randn(4, 3))
    back = pickle.loads(pickle.dumps(ce))
    assert back._handles == [] and back._grad_handles == [] and back._abs_mean == {}
    reg.remove()
    ce.remove()


def test_contribution_entropy_on_a_conv1d_and_before_any_backward():
    torch.manual_seed(3)
    conv = nn.Conv1d(3, 4, 5).double()  # weight (out, in, k): 3-D
    reg = ContributionEntropy({"c": conv})
    assert reg.penalty_value() == 0.0  # no backward yet
    x = torch.randn(6, 3, 20, dtype=torch.float64)
    conv(x)
    w = conv.weight.detach().abs().sum(-1).numpy()  # a channel's weight: its kernel's |w| sum
    a = x.abs().mean(dim=(0, 2)).numpy()
    direct = _direct_entropy([w], [np.broadcast_to(a, (2, 3))])
    assert reg.penalty().item() == pytest.approx(direct, rel=1e-10)
    reg.remove()
