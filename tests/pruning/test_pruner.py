"""WeightPruner (skscreen/pruning/pruner.py) against known truths: magnitude pruning equals an
independent numpy top-k (global and per layer), and every output unit keeps an input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning import MagnitudeScorer, WeightPruner  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402


def _fixed_mlp(seed=0):
    torch.manual_seed(seed)
    return make_mlp(20, (16, 12), 4)


def _numpy_global_top_k(weights, n_keep):
    """Magnitude pruning (Han et al. 2015) in five lines of numpy: keep the largest |w|."""
    flat = np.concatenate([np.abs(w).ravel() for w in weights])
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:n_keep]] = True
    cuts = np.cumsum([w.size for w in weights])[:-1]
    return [k.reshape(w.shape) for k, w in zip(np.split(keep, cuts), weights)]


def _magnitude_pruner(model, sparsity, scope="global"):
    return WeightPruner(
        model,
        MagnitudeScorer(),
        OneShotSchedule(),
        sparsity=sparsity,
        prune_epochs=1,
        n_classes=4,
        scope=scope,
    )


@pytest.mark.parametrize("sparsity", [0.5, 0.8, 0.9])
def test_magnitude_pruner_equals_independent_numpy_top_k(sparsity):
    model = _fixed_mlp()
    weights = [m.weight.detach().numpy().copy() for m in model if isinstance(m, nn.Linear)]
    pruner = _magnitude_pruner(model, sparsity)
    pruner.step(1)
    n_total = sum(w.size for w in weights)
    n_keep = int(round(n_total * (1 - sparsity)))
    assert pruner.n_kept() == n_keep
    expected = _numpy_global_top_k(weights, n_keep)
    # the pruner's constraints (a weight per layer, an input per output unit) do not bind
    assert all(e.any() for e in expected) and expected[-1].any(axis=1).all()
    got = [get_mask(m).bool().numpy() for m in model if isinstance(m, nn.Linear)]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_magnitude_pruner_layer_scope_equals_per_layer_numpy_top_k():
    model = _fixed_mlp(1)
    weights = [m.weight.detach().numpy().copy() for m in model if isinstance(m, nn.Linear)]
    pruner = _magnitude_pruner(model, 0.75, scope="layer")
    pruner.step(1)
    for m, w in zip([m for m in model if isinstance(m, nn.Linear)], weights):
        expected = _numpy_global_top_k([w], int(round(w.size * 0.25)))[0]
        np.testing.assert_array_equal(get_mask(m).bool().numpy(), expected)


def test_weight_pruner_keeps_an_input_for_every_output_unit():
    # the output layer's weights are tiny: plain global top-k would empty all its rows
    torch.manual_seed(0)
    model = make_mlp(20, (16,), 5)
    with torch.no_grad():
        model[-1].weight.mul_(1e-4)
        model[-1].weight[2].zero_()  # one unit whose inputs all tie at zero
    pruner = _magnitude_pruner(model, 0.9)
    pruner.step(1)
    out_mask = get_mask(model[-1]).bool()
    assert (out_mask.sum(1) >= 1).all()
    # and only that: one input per unit (the largest), everything else from the hidden layer
    np.testing.assert_array_equal(out_mask.sum(1).numpy(), np.ones(5))
    w = model[-1].weight.detach().abs()
    for j in (0, 1, 3, 4):
        assert out_mask[j, w[j].argmax()]
    assert pruner.n_kept() == int(round((20 * 16 + 16 * 5) * 0.1))
