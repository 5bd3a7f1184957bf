"""skscreen.pruning.scorers: each function against values worked out by hand (or sklearn's
f_classif) on tiny inputs: broadcasting, validation, normalisation, the F vector's nan/inf
handling, LAMP, the activation criterion, the no-F-test fallback and the name map."""

import os
import pathlib
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.feature_selection import f_classif  # noqa: E402

from skscreen.pruning import scorers  # noqa: E402
from skscreen.pruning.extreme_value import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.scorers import (  # noqa: E402
    ActivationStatsScorer,
    HybridScreeningScorer,
    LAMPScorer,
    LayerView,
    MagnitudeScorer,
    broadcast_to_weight,
    check_mix,
    input_f_scores,
    lamp_scores,
    make_scorer,
    normalize,
)
from skscreen.pruning.selection import select_global  # noqa: E402
from skscreen.stats import ClassMoments  # noqa: E402

F64 = torch.float64


def _moments(X, y):
    return ClassMoments().update(np.asarray(X, dtype=float), np.asarray(y))


# ------------------------------------------------------------------ broadcast_to_weight
def test_broadcast_default_is_one_group():
    got = broadcast_to_weight(torch.tensor([1.0, 2.0]), (3, 2))
    assert got.tolist() == [[1.0, 2.0]] * 3


def test_broadcast_groups_read_their_own_inputs():
    got = broadcast_to_weight(torch.tensor([1.0, 2.0, 3.0, 4.0]), (4, 1, 2, 2), groups=4)
    assert got.shape == (4, 1, 2, 2)
    assert got[:, 0, 0, 0].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_broadcast_of_one_group_is_a_view_of_the_statistics():
    per_input = torch.tensor([1.0, 2.0, 3.0])
    got = broadcast_to_weight(per_input, (2, 3, 1, 1))
    assert got[:, :, 0, 0].tolist() == [[1.0, 2.0, 3.0]] * 2
    assert got.untyped_storage().data_ptr() == per_input.untyped_storage().data_ptr()


def test_broadcast_refuses_statistics_of_another_input():
    with pytest.raises(ValueError) as err:
        broadcast_to_weight(torch.ones(3), (2, 4))
    assert str(err.value) == (
        "3 input statistics for a weight of shape (2, 4) with groups=1: the layer's input "
        "is not what its statistics were taken on."
    )


# ------------------------------------------------------------------ validation
def test_check_mix_bounds_and_messages():
    assert check_mix(1, "rank") == (1.0, "rank") and type(check_mix(1, "rank")[0]) is float
    assert check_mix(0.0, "max") == (0.0, "max")
    for bad in (1.5, -0.1):
        with pytest.raises(ValueError) as err:
            check_mix(bad, "minmax")
        assert str(err.value) == f"alpha must be in [0, 1], got {bad}."
    with pytest.raises(ValueError) as err:
        check_mix(0.5, "zscore")
    assert str(err.value) == ("Unknown normalize='zscore'; use one of ('minmax', 'max', 'rank').")


# ------------------------------------------------------------------ normalize
def test_normalize_default_is_minmax_in_float64():
    got = normalize(torch.tensor([1.0, 3.0, 2.0], dtype=torch.float32))
    assert got.dtype == F64 and got.tolist() == [0.0, 1.0, 0.5]


@pytest.mark.parametrize("method", ["minmax", "max", "rank"])
def test_normalize_empty_and_single(method):
    empty = normalize(torch.zeros(0), method)
    assert empty.numel() == 0 and empty.dtype == F64
    # one value: minmax has no span, rank no order: 0; max divides by itself: 1
    one = normalize(torch.tensor([5.0]), method)
    assert one.tolist() == ([1.0] if method == "max" else [0.0])


@pytest.mark.parametrize("method", ["minmax", "max"])
def test_normalize_without_spread_is_zero(method):
    values = torch.full((3,), 2.0) if method == "minmax" else torch.zeros(3)
    got = normalize(values, method)
    assert got.tolist() == [0.0, 0.0, 0.0] and got.dtype == F64


def test_normalize_max_divides_by_the_largest_magnitude():
    got = normalize(torch.tensor([1.0, -4.0, 2.0]), "max")
    assert got.tolist() == [0.25, -1.0, 0.5]


@pytest.mark.parametrize("method", ["minmax", "max"])
def test_normalize_leaves_a_float64_input_unchanged(method):
    values = torch.tensor([1.0, -4.0, 2.0], dtype=F64)  # no copy made by the float64 cast
    normalize(values, method)
    assert values.tolist() == [1.0, -4.0, 2.0]


@pytest.mark.parametrize("alpha", [0.0, 0.25])
def test_max_normalised_mix_of_magnitude_alone_is_not_changed_in_place(alpha):
    # alpha=0 and the no-F-test fallback pass the magnitude list as both components: a scaling
    # done in place on the first would reach the second
    w = torch.tensor([[1.0, -4.0], [2.0, 0.5]])
    lv = LayerView("a", w, torch.ones(2, 2))
    got = MagnitudeScorer(normalize="max")([lv])[0]
    assert got.tolist() == [[0.25, 1.0], [0.5, 0.125]]


def test_normalize_rank_of_two_and_of_ties():
    assert normalize(torch.tensor([7.0, 3.0]), "rank").tolist() == [1.0, 0.0]
    got = normalize(torch.tensor([1.0, 2.0, 2.0, 5.0, 0.0]), "rank")
    # ranks 1, 2.5, 2.5, 4, 0 (ties averaged) over 4
    assert got.tolist() == [0.25, 0.625, 0.625, 1.0, 0.0] and got.dtype == F64


def test_normalize_unknown_method():
    with pytest.raises(ValueError, match=r"^Unknown normalize='z'; use one of"):
        normalize(torch.ones(2), "z")


# ------------------------------------------------------------------ input_f_scores
def test_f_scores_constant_is_zero_separating_twice_the_largest():
    # columns: constant (nan F), separating (inf F), F = 5 by hand (means 1.5 and 4,
    # SSB = 6.25, SSW = 2.5 on 2 degrees of freedom)
    X = [[1.0, 0, 1], [1, 0, 2], [1, 1, 3], [1, 1, 5]]
    y = [0, 0, 1, 1]
    got = input_f_scores(_moments(X, y), "cpu")
    assert got.dtype == F64
    torch.testing.assert_close(got, torch.tensor([0.0, 10.0, 5.0], dtype=F64))


def test_f_scores_separating_at_least_two():
    # the finite F are below 1: a separating input scores 2 (twice the floor of 1)
    X = [[0.0, 1.0], [0, 3.0], [1, 2.0], [1, 3.0]]  # F = 0.25 / 1.25 = 0.2
    y = [0, 0, 1, 1]
    f = f_classif(np.array(X)[:, 1:], y)[0]
    assert 0 < f[0] < 1
    got = input_f_scores(_moments(X, y), "cpu")
    torch.testing.assert_close(got, torch.tensor([2.0, f[0]], dtype=F64))


def test_f_scores_floor_is_one_not_more():
    # finite F = 1.5 (by sklearn): the separating input gets 3, not 4
    X = [[0.0, 1.0], [0, 2.0], [0, 3.0], [1, 2.0], [1, 3.0], [1, 4.5]]
    y = [0, 0, 0, 1, 1, 1]
    f = f_classif(np.array(X)[:, 1:], y)[0][0]
    assert 1 < f < 2
    got = input_f_scores(_moments(X, y), "cpu")
    torch.testing.assert_close(got, torch.tensor([2 * f, f], dtype=F64))


def test_f_scores_all_separating_and_none():
    got = input_f_scores(_moments([[0.0], [0.0], [1.0], [1.0]], [0, 0, 1, 1]), "cpu")
    assert got.tolist() == [2.0]
    got = input_f_scores(_moments(np.zeros((4, 0)), [0, 0, 1, 1]), "cpu")
    assert got.shape == (0,) and got.dtype == F64


# ------------------------------------------------------------------ lamp_scores
def test_lamp_single_zero_and_small_weights():
    assert lamp_scores(torch.tensor([3.0])).tolist() == [1.0]
    assert lamp_scores(torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    # squares 0.25 and 0.01: denominators 0.25 and 0.26, below 1
    got = lamp_scores(torch.tensor([[0.5], [0.1]]))
    torch.testing.assert_close(got, torch.tensor([[1.0], [0.01 / 0.26]], dtype=F64))
    empty = lamp_scores(torch.zeros(0, 3))
    assert empty.shape == (0, 3) and empty.dtype == F64


def test_lamp_scorer_ranks_pruned_weights_last():
    view = LayerView("fc", torch.tensor([[3.0, 0.0], [2.0, 1.0]]), torch.tensor([[1.0, 0], [1, 1]]))
    (got,) = LAMPScorer()([view])
    # alive squares 9, 4, 1: 9/9, 4/13, 1/14
    assert got.tolist() == [[1.0, -float("inf")], [4 / 13, 1 / 14]]
    assert repr(LAMPScorer()) == "LAMPScorer()"


# ------------------------------------------------------------------ activation scorer
def test_activation_scores_by_hand():
    # |a| of 3 inputs over 4 rows: means 1, 2, 0.5; stds (population) 0, 1, 0.5
    A = np.array([[1.0, 1, 0], [1, 3, 1], [1, 1, 0], [1, 3, 1]])
    m = ClassMoments().update(A, np.zeros(4, dtype=int))
    w = torch.tensor([[1.0, -2.0, 4.0], [0.5, 1.0, -1.0]])
    mask = torch.tensor([[1.0, 1, 1], [1, 0, 1]])
    view = LayerView("fc", w * mask, mask, abs_moments=m)
    (got,) = ActivationStatsScorer(z=2.0)([view])
    unit = torch.tensor([1.0 + 0, 2 + 2 * 1, 0.5 + 2 * 0.5], dtype=F64)
    want = w.abs().double() * unit
    want[1, 1] = -torch.inf
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert ActivationStatsScorer().z == 0.0
    assert repr(ActivationStatsScorer(z=2)) == "ActivationStatsScorer(z=2.0)"


def test_activation_needs_statistics():
    view = LayerView("fc", torch.ones(1, 2), torch.ones(1, 2))
    with pytest.raises(RuntimeError) as err:
        ActivationStatsScorer()([view])
    assert str(err.value) == "Activation statistics need a training epoch with recorded inputs."


# ------------------------------------------------------------------ hybrid scorer
def _two_layers():
    return [
        LayerView("a", torch.tensor([[1.0, 2.0]]), torch.ones(1, 2)),
        LayerView("b", torch.tensor([[4.0, 8.0]]), torch.ones(1, 2)),
    ]


def test_hybrid_default_scope_is_global():
    got = HybridScreeningScorer(alpha=0.0, normalize="max")(_two_layers())
    assert [s.tolist() for s in got] == [[[0.125, 0.25]], [[0.5, 1.0]]]


def test_hybrid_needs_statistics():
    with pytest.raises(RuntimeError) as err:
        HybridScreeningScorer(alpha=0.5)(_two_layers())
    assert str(err.value) == "Screening scores need input statistics from a training epoch."


def _one_class_views():
    m = _moments([[0.0, 1.0], [1.0, 3.0]], [0, 0])  # one class: no F-test
    return [LayerView("a", torch.tensor([[1.0, -3.0], [2.0, 0.5]]), torch.ones(2, 2), m)]


NO_F_TEST = (
    "The statistics of this epoch cannot give an ANOVA F-test (it needs samples of two "
    "classes, more samples than classes): this step ranks by magnitude alone. Give each "
    "partial_fit call (epoch) samples of at least two classes for screening to count."
)


def test_without_an_f_test_magnitude_decides_with_a_warning():
    views = _one_class_views()
    with pytest.warns(UserWarning) as rec:
        got = HybridScreeningScorer(alpha=0.7)(views, "global")
    assert [str(w.message) for w in rec] == [NO_F_TEST]
    assert rec[0].category is UserWarning
    # magnitude alone, min-max over |w| = 1, 3, 2, 0.5
    want = torch.tensor([[0.2, 1.0], [0.6, 0.0]], dtype=F64)
    torch.testing.assert_close(got[0], want, rtol=0, atol=1e-12)
    under_mutmut = (
        "MUTANT_UNDER_TEST" in os.environ or "mutants" in pathlib.Path(scorers.__file__).parts
    )
    if not under_mutmut:  # mutmut's trampolines add frames
        assert rec[0].filename == __file__  # the frame of the scorer's caller


# ------------------------------------------------------------------ repr and names
def test_reprs():
    assert repr(HybridScreeningScorer(alpha=1, normalize="rank", normalize_scope="layer")) == (
        "HybridScreeningScorer(alpha=1.0, normalize='rank', normalize_scope='layer')"
    )
    assert repr(MagnitudeScorer()) == (
        "MagnitudeScorer(alpha=0.0, normalize='minmax', normalize_scope=None)"
    )


def test_make_scorer_by_name():
    s = make_scorer("screening", alpha=0.3, normalize="rank")
    assert type(s) is HybridScreeningScorer and (s.alpha, s.normalize) == (0.3, "rank")
    m = make_scorer("magnitude", normalize="max")
    assert type(m) is MagnitudeScorer and m.normalize == "max"
    assert type(make_scorer("lamp")) is LAMPScorer
    assert make_scorer("activation", z=1.5).z == 1.5
    for name in ("extreme-value", "extreme_value", "dpp"):
        ev = make_scorer(name, block_size=4)
        assert type(ev) is ExtremeValuePruning and ev.block_size == 4


def test_make_scorer_unknown_name():
    with pytest.raises(ValueError) as err:
        make_scorer("lampp")
    assert str(err.value) == (
        "Unknown scorer 'lampp'; use 'screening', 'magnitude', 'lamp', 'activation' or "
        "'extreme-value'."
    )


def test_layer_view_defaults():
    view = LayerView("fc", torch.ones(2, 2), torch.ones(2, 2))
    assert (view.moments, view.abs_moments, view.groups) == (None, None, 1)
    assert isinstance(view, object) and not isinstance(view, types.SimpleNamespace)


# (from the former test_normalize_scope.py) LAMP by hand; the normalisation scope of the
# hybrid scorers against a numpy reference (min-max of each component within each layer, or
# over all layers, then the weighted sum); a layer scaled by 100 takes the whole global
# magnitude budget but only its share once normalised per layer.
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


# (from the former test_pruning_core.py) the hybrid scorer at its two ends, pruned weights
# last, the normalisers on ties
def _view_xy(w, X=None, y=None, name="l"):
    mask = torch.ones_like(w)
    m = None
    if X is not None:
        m = ClassMoments(range(int(y.max()) + 1)).update(
            torch.as_tensor(X), torch.as_tensor(y), n_classes=int(y.max()) + 1
        )
    return LayerView(name, w, mask, m)


def test_alpha_zero_is_pure_magnitude_ranking():
    w = torch.randn(5, 7, dtype=torch.float64)
    X, y = np.random.default_rng(0).normal(size=(50, 7)), np.arange(50) % 3
    s = HybridScreeningScorer(alpha=0.0)([_view_xy(w, X, y)])[0]
    assert torch.equal(torch.argsort(s.ravel()), torch.argsort(w.abs().ravel()))


def test_alpha_one_ranks_inputs_by_f_score():
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    X = rng.normal(size=(300, 6)) + np.outer(y, [0, 2, 0.5, 0, 1, 0.1])
    w = torch.randn(4, 6, dtype=torch.float64)
    s = HybridScreeningScorer(alpha=1.0)([_view_xy(w, X, y)])[0]
    f = f_classif(X, y)[0]
    # every row carries its input's (normalised) F: column order = F order
    np.testing.assert_allclose(s[0].numpy(), (f - f.min()) / (f.max() - f.min()), rtol=1e-9)
    assert torch.all(s == s[0])


def test_pruned_weights_rank_below_everything():
    w = torch.randn(3, 4, dtype=torch.float64)
    v = _view_xy(w)
    v.mask[0, 0] = 0
    s = HybridScreeningScorer(alpha=0.0)([v])[0]
    assert s[0, 0] == -torch.inf and torch.isfinite(s.ravel()[1:]).all()


def test_normalizers():
    x = torch.tensor([3.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(normalize(x, "minmax"), [1, 0, 0.5, 0.5])
    np.testing.assert_allclose(normalize(x, "max"), [1, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(normalize(x, "rank"), [1, 0, 0.5, 0.5])
    with pytest.raises(ValueError, match="normalize"):
        normalize(x, "zscore")


def _normalized_by_definition(flat, method):
    """minmax/max written out here (not scorers' shared scale), rank through scorers."""
    if flat.numel() == 0 or method == "rank":
        return scorers.normalize(flat, method)
    if method == "minmax":
        lo, hi = flat.min(), flat.max()
        return (flat - lo) / (hi - lo) if hi - lo > 0 else torch.zeros_like(flat)
    hi = flat.abs().max()
    return flat / hi if hi > 0 else torch.zeros_like(flat)


def _mix_by_gathering(components, alive, weights, scope, method):
    """Reference: normalise the gathered alive values (the definition), scatter them back."""
    out = [torch.zeros(a.shape, dtype=torch.float64) for a in alive]
    groups = [list(range(len(alive)))] if scope == "global" else [[i] for i in range(len(alive))]
    for comp, w in zip(components, weights):
        if w == 0:
            continue
        for group in groups:
            flat = torch.cat([comp[i][alive[i]] for i in group]).to(torch.float64)
            normed = _normalized_by_definition(flat, method)
            start = 0
            for i in group:
                n = int(alive[i].sum())
                out[i][alive[i]] += w * normed[start : start + n]
                start += n
    for o, a in zip(out, alive):
        o[~a] = -torch.inf
    return out


@pytest.mark.parametrize("method", ["minmax", "max", "rank"])
@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize(
    "case", ["dense", "pruned", "layer-dead", "nan", "inf", "constant", "zeros"]
)
def test_mix_equals_normalising_the_gathered_alive_values(method, scope, case):
    # mix computes minmax/max on whole tensors (no gather/scatter): bit for bit the same
    g = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (3, 7), (0, 3), (2, 3)]
    comps = [[torch.randn(s, generator=g) * 3 for s in shapes] for _ in range(2)]
    comps[1] = [c.abs().to(torch.float32) for c in comps[1]]  # a float32 component
    alive = [torch.ones(s, dtype=torch.bool) for s in shapes]
    if case != "dense":
        alive = [torch.rand(s, generator=g) > 0.4 for s in shapes]
    if case == "layer-dead":
        alive[1][:] = False
    if case == "nan":
        comps[0][0][0, 0] = float("nan")
        alive[0][0, 0] = True
    if case == "inf":
        comps[0][3][1, 1] = float("inf")
        comps[0][0][0, 0] = float("-inf")
        alive[3][1, 1] = alive[0][0, 0] = True
    if case in ("constant", "zeros"):  # no spread (and, for max, nothing to divide by)
        comps[0] = [torch.full(s, 2.5 if case == "constant" else 0.0) for s in shapes]
    for c, a in zip(comps[0], alive):  # dead entries hold anything (they are overwritten)
        c[~a] = float("nan")
    got = scorers.mix(comps, alive, [0.25, 0.75], scope, method)
    want = _mix_by_gathering(comps, alive, [0.25, 0.75], scope, method)
    for o, r in zip(got, want):
        assert torch.equal(o.isnan(), r.isnan())
        assert torch.equal(o.nan_to_num(0.5), r.nan_to_num(0.5))
