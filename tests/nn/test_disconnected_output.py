"""A pruned module whose every input-output path is gone is warned in the first epoch after the
schedule, from the outputs the net computes anyway (no extra forward pass).

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
from skorch.dataset import ValidSplit  # noqa: E402
from torch import nn  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402


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


def _fit(digits, scorer, sparsity=0.9, **kw):
    net = ScreeningPrunedNet(
        make_mlp,
        module__n_inputs=64,
        module__hidden=(16, 16),
        module__n_classes=10,
        scorer=scorer,
        sparsity=sparsity,
        prune_epochs=2,
        lr=0.1,
        verbose=0,
        **{"max_epochs": 3, "train_split": None, **kw},
    )
    calls = []
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.initialize()
        net.module_.register_forward_pre_hook(lambda m, i: calls.append(i[0].shape[0]))
        net.partial_fit(digits.X_train, digits.y_train)
    linears = [m for m in net.module_.modules() if isinstance(m, nn.Linear)]
    net.forward_rows_ = sum(calls)
    return net, linears, [str(w.message) for w in caught if "same output" in str(w.message)]


def test_a_module_pruned_to_no_path_is_warned_once(digits):
    net, linears, warned = _fit(digits, _Positional())  # keeps 144 of 1440, head first
    # the known truth: one weight left in each hidden layer, and they do not line up
    assert torch.nonzero(linears[0].weight).tolist() == [[0, 20]]
    assert torch.nonzero(linears[1].weight).tolist() == [[0, 1]]
    proba = net.predict_proba(digits.X_test)
    assert np.ptp(proba, axis=0).max() < 1e-6  # the same scores for every sample
    assert len(warned) == 1, warned
    kept = sum(int((m.weight != 0).sum()) for m in linears)
    n = len(digits.y_train)
    assert warned[0].startswith(
        f"In epoch 3, after pruning to sparsity {1 - kept / 1440:.4f} ({kept} of 1440 kept), "
        f"the module gave the same output to every sample of each training batch ({n} samples)"
    )
    assert "scope='layer'" in warned[0]
    # found from the outputs training computed: no forward pass of its own
    assert net.forward_rows_ == 3 * n
    # once per pruned state: a further epoch with the same masks does not warn again
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.partial_fit(digits.X_train, digits.y_train, epochs=1)
    assert not [w for w in caught if "same output" in str(w.message)]


def test_validation_outputs_are_used_when_there_is_a_split(digits):
    net, _, warned = _fit(digits, _Positional(), max_epochs=3, train_split=ValidSplit(5))
    assert len(warned) == 1 and "validation samples" in warned[0]
    n_valid = sum(
        len(b[1])
        for b in net.get_iterator(net.get_split_datasets(digits.X_train, digits.y_train)[1])
    )  # skorch's stratified split
    assert f"the same output to all {n_valid} validation samples" in warned[0]


def test_no_epoch_after_the_schedule_means_no_claim(digits):
    _, _, warned = _fit(digits, _Positional(), max_epochs=2)
    assert warned == []


def test_a_module_that_keeps_its_paths_is_not_warned(digits):
    net, linears, warned = _fit(digits, "magnitude", sparsity=0.5)
    assert int((linears[0].weight != 0).sum()) > 100
    assert np.ptp(net.predict_proba(digits.X_test), axis=0).max() > 1e-3
    assert warned == []


def test_batches_of_one_row_make_no_claim(digits):
    # each training batch of one row is trivially "the same" within itself: no warning
    _, _, warned = _fit(digits, "magnitude", sparsity=0.5, batch_size=1)
    assert warned == []
