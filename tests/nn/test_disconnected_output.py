"""A pruned module whose every input-output path is gone is warned at the end of the schedule.

Known truth: a positional scorer on a 64-16-16-10 MLP keeps, of the two hidden layers, only
the one weight per layer that the selection never removes (each layer keeps its best entry),
and the two do not line up: hidden unit 0 reads input pixel 20, but the second layer's only
weight reads hidden unit 1, which has no input left. The output is then the same for every
sample. Magnitude pruning to 50 % of the same MLP keeps paths: no warning.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn._pruning import output_ignores_input  # noqa: E402


class _Positional:
    """Hidden layers: -1 everywhere but one entry (-0.5); the head: 1 + |w| (kept first).
    Layer 0 keeps (0, 20) and layer 1 keeps (0, 1), which reads a hidden unit with no
    input."""

    requires = frozenset()

    def __call__(self, views, scope="global"):
        out = []
        for i, v in enumerate(views):
            s = torch.full(v.weight.shape, -1.0, dtype=torch.float64)
            if i == 0:
                s[0, 20] = -0.5
            elif i == 1:
                s[0, 1] = -0.5
            else:
                s = 1.0 + v.weight.abs().double()
            out.append(s.masked_fill(v.mask == 0, -torch.inf))
        return out


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def _fit(digits, scorer, sparsity=0.9):
    net = ScreeningPrunedNet(
        make_mlp,
        module__n_inputs=64,
        module__hidden=(16, 16),
        module__n_classes=10,
        scorer=scorer,
        sparsity=sparsity,
        prune_epochs=2,
        max_epochs=3,
        lr=0.1,
        train_split=None,
        verbose=0,
    )
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(digits.X_train, digits.y_train)
    linears = [m for m in net.module_.modules() if isinstance(m, nn.Linear)]
    return net, linears, [str(w.message) for w in caught if "no longer depends" in str(w.message)]


def test_a_module_pruned_to_no_path_is_warned_once(digits):
    net, linears, warned = _fit(digits, _Positional())  # keeps 144 of 1440, head first
    # the known truth: one weight left in each hidden layer, and they do not line up
    assert torch.nonzero(linears[0].weight).tolist() == [[0, 20]]
    assert torch.nonzero(linears[1].weight).tolist() == [[0, 1]]
    proba = net.predict_proba(digits.X_test)
    assert np.ptp(proba, axis=0).max() < 1e-6  # the same scores for every sample
    assert len(warned) == 1, warned
    kept = sum(int((m.weight != 0).sum()) for m in linears)
    assert f"sparsity {1 - kept / 1440:.4f} ({kept} of 1440 kept)" in warned[0]
    assert "scope='layer'" in warned[0]


def test_a_module_that_keeps_its_paths_is_not_warned(digits):
    net, linears, warned = _fit(digits, "magnitude", sparsity=0.5)
    assert int((linears[0].weight != 0).sum()) > 100
    assert np.ptp(net.predict_proba(digits.X_test), axis=0).max() > 1e-3
    assert warned == []


class _Detaching(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x.detach())


class _DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return {"scores": self.lin(x)}


def _initialized(module, **kw):
    return NeuralNetClassifier(module, criterion=nn.CrossEntropyLoss, **kw).initialize()


def test_output_ignores_input_known_cases():
    x = torch.randn(8, 4)
    dense = _initialized(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)))
    assert output_ignores_input(dense, x) is False
    with torch.no_grad():
        dense.module_[0].weight.zero_()
    assert output_ignores_input(dense, x) is True
    # a connected softmax module (its outputs sum to one: the check projects them unequally)
    soft = _initialized(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=-1)))
    assert output_ignores_input(soft, x) is False
    assert output_ignores_input(_initialized(_Detaching), x) is True
    # cannot be told: integer input, an output that is not a tensor of scores
    assert output_ignores_input(dense, torch.ones(8, 4, dtype=torch.long)) is None
    assert output_ignores_input(_initialized(_DictOut), x) is None


def test_output_ignores_input_leaves_the_module_as_it_was():
    net = _initialized(nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.5), nn.Linear(5, 3)))
    net.module_.train()
    output_ignores_input(net, torch.randn(8, 4))
    assert net.module_.training
    assert all(p.grad is None for p in net.module_.parameters())
    net.module_.eval()
    output_ignores_input(net, torch.randn(8, 4))
    assert not net.module_.training
