"""Normalisation scope of the hybrid scorers, LAMP, and seeded reproducibility of a run.

Known truths: LAMP computed by hand on tiny tensors; the layer-normalised hybrid against a
numpy reference (min-max of each component within each layer, then the weighted sum);
already-pruned weights stay ``-inf`` and do not move the normalisation; a layer scaled by
100 takes the whole global magnitude budget but only its share once normalised per layer.
"""

import importlib.util
import os
import types

import numpy as np
import pytest
import torch
from sklearn.feature_selection import f_classif

from skscreen.pruning import HybridScreeningScorer, LAMPScorer, MagnitudeScorer, make_scorer
from skscreen.pruning.channels import ChannelScreeningScorer, ChannelUnit
from skscreen.pruning.scorers import LayerView, lamp_scores
from skscreen.pruning.selection import select_global
from skscreen.stats import ClassMoments


def _view(w, mask=None, moments=None, name="fc"):
    w = torch.as_tensor(w, dtype=torch.float32)
    mask = torch.ones_like(w) if mask is None else torch.as_tensor(mask, dtype=torch.float32)
    return LayerView(name, w * mask, mask, moments)


# ---------------------------------------------------------------------------- LAMP
def test_lamp_by_hand():
    # w^2 = 9, 1, 4, 0.25; sorted 9 > 4 > 1 > 0.25, suffix sums 9, 13, 14, 14.25
    got = lamp_scores(torch.tensor([[3.0, -1.0], [2.0, 0.5]]))
    expected = torch.tensor([[9 / 9, 1 / 14], [4 / 13, 0.25 / 14.25]], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-15)


def test_lamp_ties_count_each_other_and_zero_weight_scores_zero():
    # |2| twice: each sees 4 + 4 in its denominator, whatever the order
    got = lamp_scores(torch.tensor([2.0, 1.0, -2.0, 0.0]))
    expected = torch.tensor([4 / 8, 1 / 9, 4 / 8, 0.0], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-15)


def test_lamp_scorer_dead_weights_stay_minus_inf_and_leave_the_sums():
    # the pruned 10 (left in the raw weight here) would dominate the denominators if counted
    view = LayerView("fc", torch.tensor([[3.0, 10.0, 1.0]]), torch.tensor([[1.0, 0.0, 1.0]]))
    (s,) = LAMPScorer()([view], "global")
    assert s[0, 1] == -torch.inf
    torch.testing.assert_close(s[0, [0, 2]], torch.tensor([1.0, 1 / 10], dtype=torch.float64))


def test_lamp_is_layer_adaptive_under_a_global_budget():
    # layer b is 100x larger: magnitude keeps only b, LAMP keeps each layer's best
    a = _view([[1.0, 2.0, 3.0, 4.0]], name="a")
    b = _view([[100.0, 200.0, 300.0, 400.0]], name="b")
    mag = select_global(MagnitudeScorer()([a, b], "global"), 4)
    lamp = select_global(LAMPScorer()([a, b], "global"), 4)
    assert [int(m.sum()) for m in mag] == [1, 3]  # 1 = the forced survivor of a
    assert [int(m.sum()) for m in lamp] == [2, 2]
    assert lamp[0][0, 3] and lamp[1][0, 3]  # within a layer LAMP ranks like |w|


def test_make_scorer_lamp_and_validation():
    assert isinstance(make_scorer("lamp"), LAMPScorer)
    assert make_scorer("magnitude", normalize_scope="layer").normalize_scope == "layer"
    with pytest.raises(ValueError, match="normalize_scope"):
        HybridScreeningScorer(normalize_scope="unit")
    with pytest.raises(ValueError, match="lamp"):
        make_scorer("lampp")


# ---------------------------------------------------------------- normalisation scope
def _moments(X, y):
    m = ClassMoments()
    m.update(X, y)
    return m


def _minmax(v):
    return (v - v.min()) / (v.max() - v.min())


def _problem():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X1 = rng.normal(size=(60, 4)) + np.outer(y, [0.0, 0.5, 2.0, 0.1])
    X2 = rng.normal(size=(60, 3)) * 5 + np.outer(y, [4.0, 0.0, 1.0])
    w1 = rng.normal(size=(3, 4)).astype(np.float32).astype(np.float64)  # what the view holds
    w2 = (rng.normal(size=(2, 3)) * 10).astype(np.float32).astype(np.float64)
    mask1 = np.ones((3, 4))
    mask1[0, 2] = mask1[2, 0] = 0  # already pruned
    views = [
        _view(w1, mask1, _moments(X1, y), "a"),
        _view(w2, None, _moments(X2, y), "b"),
    ]
    return views, [(X1, w1 * mask1, mask1), (X2, w2, np.ones((2, 3)))], y


def test_layer_normalisation_matches_a_numpy_reference():
    views, data, y = _problem()
    alpha = 0.3
    scores = HybridScreeningScorer(alpha=alpha, normalize_scope="layer")(views, "global")
    for s, (X, w, mask) in zip(scores, data):
        alive = mask.astype(bool)
        f = np.broadcast_to(f_classif(X, y)[0], w.shape)
        ref = alpha * _minmax(f[alive]) + (1 - alpha) * _minmax(np.abs(w[alive]))
        np.testing.assert_allclose(s.numpy()[alive], ref, rtol=1e-9, atol=1e-12)
        assert torch.isinf(s[~torch.as_tensor(alive)]).all()  # dead weights stay -inf
        assert (s[~torch.as_tensor(alive)] < 0).all()


def test_global_normalisation_matches_a_numpy_reference():
    views, data, y = _problem()
    alpha = 0.3
    scores = HybridScreeningScorer(alpha=alpha, normalize_scope="global")(views, "layer")
    f_all = np.concatenate(
        [np.broadcast_to(f_classif(X, y)[0], w.shape)[m.astype(bool)] for X, w, m in data]
    )
    w_all = np.concatenate([np.abs(w[m.astype(bool)]) for _, w, m in data])
    ref = alpha * _minmax(f_all) + (1 - alpha) * _minmax(w_all)
    got = np.concatenate([s.numpy()[m.astype(bool)] for s, (_, _, m) in zip(scores, data)])
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_layer_scope_each_layer_spans_zero_to_one():
    views, data, _ = _problem()
    for scorer in (MagnitudeScorer(normalize_scope="layer"), HybridScreeningScorer(alpha=1.0)):
        scope = "global" if scorer.normalize_scope else "layer"  # None follows the budget
        for s in scorer(views, scope):
            alive = torch.isfinite(s)
            assert s[alive].min() == 0 and s[alive].max() == 1
    # global normalisation: only the larger layer reaches 1
    mags = MagnitudeScorer(normalize_scope="global")(views, "layer")
    assert [float(s[torch.isfinite(s)].max()) for s in mags][1] == 1.0
    assert float(mags[0][torch.isfinite(mags[0])].max()) < 0.5


def test_channel_scorer_normalize_scope():
    bns = [torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(2)]
    with torch.no_grad():
        bns[0].weight.copy_(torch.tensor([0.1, 0.2, 0.3]))
        bns[1].weight.copy_(torch.tensor([-2.0, 4.0]))
    units = [
        ChannelUnit(
            f"u{i}", bn, list(range(len(bn.weight))), [(bn, torch.arange(n), torch.arange(n))]
        )
        for i, (bn, n) in enumerate((bn, len(bn.weight)) for bn in bns)
    ]
    # gammas are float32: compare within float32 rounding
    layer = ChannelScreeningScorer(alpha=0.0, normalize="max", normalize_scope="layer")
    got = torch.cat(layer(units, "global")).tolist()
    assert got == pytest.approx([1 / 3, 2 / 3, 1.0, 0.5, 1.0], rel=1e-6)
    glob = ChannelScreeningScorer(alpha=0.0, normalize="max", normalize_scope="global")
    got = torch.cat(glob(units, "global")).tolist()
    assert got == pytest.approx([0.025, 0.05, 0.075, 0.5, 1.0], rel=1e-6)
    # None: within each layer whatever the budget scope (the validated channel default)
    default = ChannelScreeningScorer(alpha=0.0, normalize="max")
    for budget in ("global", "layer"):
        assert torch.cat(default(units, budget)).tolist() == pytest.approx(
            [1 / 3, 2 / 3, 1.0, 0.5, 1.0], rel=1e-6
        )


# ------------------------------------------------------------------- reproducibility
def _bench():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "bench_lenet_mnist.py")
    spec = importlib.util.spec_from_file_location("bench_lenet_mnist", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_run_reproduces_exactly_and_data_order_is_its_own():
    """Two identical runs give identical results, also when torch's global generator was
    drawn from in between (the data order has its own seeded generator)."""
    bench = _bench()
    args = types.SimpleNamespace(
        dataset="digits",
        data_home=None,
        epochs=3,
        prune_epochs=2,
        halve_every=2,
        threads=1,
        device="cpu",
    )
    cfg = {
        "method": "screening",
        "sparsity": 0.8,
        "alpha": 0.25,
        "schedule": "logistic",
        "normalize": "minmax",
        "normalize_scope": "layer",
    }
    first = bench.run_one(cfg, 3, args)
    torch.rand(1000)  # a stray draw from the global generator
    second = bench.run_one(cfg, 3, args)
    for k in ("test_error", "val_error", "kept_fraction", "compact_units"):
        assert first[k] == second[k], k
    other = bench.run_one(cfg, 4, args)  # and the seed matters
    assert (other["val_error"], other["kept_fraction"]) != (
        first["val_error"],
        first["kept_fraction"],
    )


def test_benchmark_methods_of_a_seed_share_initialisation_and_batches():
    """A pruning run that prunes nothing equals the dense run of the same seed exactly: the
    pairing of methods per seed (same initial weights, same batches in the same order)."""
    bench = _bench()
    args = types.SimpleNamespace(
        dataset="digits",
        data_home=None,
        epochs=2,
        prune_epochs=1,
        halve_every=2,
        threads=1,
        device="cpu",
    )
    dense = bench.run_one(
        {"method": "dense", "sparsity": 0.0, "alpha": None, "schedule": None}, 5, args
    )
    cfg = {
        "method": "magnitude",
        "sparsity": 0.0,
        "alpha": 0.0,
        "schedule": "logistic",
        "normalize": "minmax",
        "normalize_scope": "global",
    }
    unpruned = bench.run_one(cfg, 5, args)
    assert (unpruned["test_error"], unpruned["val_error"]) == (
        dense["test_error"],
        dense["val_error"],
    )
