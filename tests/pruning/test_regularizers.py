"""Training penalties: known values on convolutions, gradient-side application, pickling."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
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
