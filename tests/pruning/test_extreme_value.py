"""ExtremeValuePruning's head-row repair: every output unit of the head keeps an input.

The fitted law drops whole rows of small weights; with ``keep_each_row`` the policy must give
each emptied row back exactly one input, its largest alive ``|w|`` (the rule of the budgeted
pruners, :func:`skscreen.pruning.selection.select_global`), and change nothing else. The
truth is the same decision without the repair (same seed: the repair draws no random
number) and a numpy argmax over the alive weights of each row.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy import stats  # noqa: E402

from skscreen.pruning import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.extreme_value import fit_block_maxima  # noqa: E402
from skscreen.pruning.scorers import LayerView  # noqa: E402


def _head_view(mask=None):
    """A (12, 40) head whose first 4 rows are 1000 times smaller: the fit drops them.

    The weight is left unmasked, so that a pruned entry still has the largest ``|w|`` of its
    row: only the mask tells it is pruned.
    """
    g = torch.Generator().manual_seed(0)
    w = torch.randn(12, 40, generator=g, dtype=torch.float64)
    w[:4] *= 1e-3
    mask = torch.ones_like(w) if mask is None else mask
    return LayerView("head", w, mask)


def _decide(view, rows):
    policy = ExtremeValuePruning(block_size=8, random_state=0)
    return policy.decide([view], 1, [rows])[0].numpy(), policy.report_[-1]


def _largest_alive(view):
    w = view.weight.abs().numpy()
    return np.where(view.mask.numpy().astype(bool), w, -np.inf).argmax(axis=1)


def test_head_rows_emptied_by_the_law_get_their_largest_weight_back():
    view = _head_view()
    plain, _ = _decide(view, False)
    empty = ~plain.any(axis=1)
    assert empty[:4].all()  # the small rows: dropped deterministically, the case at hand
    repaired, entry = _decide(view, True)
    best = _largest_alive(view)
    # exactly one input per emptied row, the largest one; the other rows untouched
    np.testing.assert_array_equal(repaired.sum(axis=1)[empty], 1)
    for r in np.flatnonzero(empty):
        assert repaired[r, best[r]]
    np.testing.assert_array_equal(repaired[~empty], plain[~empty])
    assert repaired.any(axis=1).all()
    assert entry["kept_fraction"] == pytest.approx(repaired.mean())


def test_head_row_repair_picks_among_alive_weights_only():
    view = _head_view()
    mask = torch.ones_like(view.weight)
    top = view.weight.abs().argmax(dim=1)
    mask[torch.arange(12), top] = 0.0  # each row's largest weight is already pruned
    mask[1] = 0.0  # and row 1 entirely
    view = _head_view(mask)
    alive = mask.numpy().astype(bool)
    repaired, _ = _decide(view, True)
    assert not (repaired & ~alive).any()  # nothing pruned comes back
    best = _largest_alive(view)
    for r in (0, 2, 3):
        assert repaired[r].sum() == 1 and repaired[r, best[r]]
    assert not repaired[1].any()  # a row with no alive input stays empty


def test_head_row_repair_on_a_convolution_head():
    # a conv head (out, in, kh, kw): an output channel's inputs are all of in x kh x kw
    g = torch.Generator().manual_seed(1)
    w = torch.randn(6, 5, 3, 3, generator=g, dtype=torch.float64)
    w[:2] *= 1e-3
    view = LayerView("head", w, torch.ones_like(w))
    plain, _ = _decide(view, False)
    repaired, _ = _decide(view, True)
    flat_plain, flat = plain.reshape(6, -1), repaired.reshape(6, -1)
    empty = ~flat_plain.any(axis=1)
    assert empty[:2].all()
    best = w.abs().reshape(6, -1).argmax(dim=1).numpy()
    for r in range(6):
        if empty[r]:
            assert flat[r].sum() == 1 and flat[r, best[r]]
        else:
            np.testing.assert_array_equal(flat[r], flat_plain[r])


def test_a_fully_pruned_layer_stays_pruned():
    mask = torch.zeros(12, 40, dtype=torch.float64)
    keep, entry = _decide(_head_view(mask), True)
    assert not keep.any() and entry["kept_fraction"] == 0.0


# --------------------------------------------------------------------------- the rest of the policy
def test_defaults_and_repr():
    assert repr(ExtremeValuePruning()) == (
        "ExtremeValuePruning(block_size=16, distribution='gumbel', low=0.1, high=0.9, "
        "n_steps=1, random_state=None)"
    )
    assert "random_state=3" in repr(ExtremeValuePruning(random_state=3))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"distribution": "weibull"}, r"^distribution must be one of \['gev', 'gumbel'\]"),
        ({"low": 0.5, "high": 0.5}, "^Need 0 <= low < high <= 1, got low=0.5, high=0.5"),
        ({"low": -0.1}, "^Need 0 <= low < high <= 1"),
        ({"high": 1.5}, "^Need 0 <= low < high <= 1"),
        ({"block_size": 1}, "^block_size must be >= 2 and n_steps >= 1"),
        ({"n_steps": 0}, "^block_size must be >= 2 and n_steps >= 1"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        ExtremeValuePruning(**params)


def test_boundary_parameters_are_accepted():
    ExtremeValuePruning(low=0.0, high=1.0, block_size=2, n_steps=1)


@pytest.mark.parametrize(
    "n_steps, prune_epochs, epochs",
    [(1, 5, {5}), (3, 6, {2, 4, 6}), (3, 3, {1, 2, 3}), (2, 1, {1})],
)
def test_applications_are_evenly_spaced(n_steps, prune_epochs, epochs):
    policy = ExtremeValuePruning(n_steps=n_steps)
    got = {e for e in range(0, prune_epochs + 2) if policy.applies_at(e, prune_epochs)}
    assert got == epochs


@pytest.mark.parametrize("block_size, n_steps, b", [(16, 1, 16), (64, 3, 4), (16, 2, 4), (5, 3, 2)])
def test_step_block_sizes_compound_to_the_block_size(block_size, n_steps, b):
    assert ExtremeValuePruning(block_size=block_size, n_steps=n_steps).step_block_size() == b


def test_fit_block_maxima_needs_two_blocks_and_fits_a_gumbel_law_by_default():
    values = np.abs(np.random.default_rng(0).normal(size=8))
    law = fit_block_maxima(values, 4, rng=0)  # exactly two blocks
    assert law.dist.name == "gumbel_r"
    assert fit_block_maxima(values, 4, "gev", rng=0).dist.name == "genextreme"
    with pytest.raises(ValueError, match="^Need at least 2 blocks of 4 values, got 7 values"):
        fit_block_maxima(values[:7], 4)


def test_a_law_is_fitted_from_two_blocks_of_alive_weights_on_and_reported():
    w = torch.randn(4, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask = torch.ones_like(w)
    mask.view(-1)[16:] = 0.0  # 16 alive = 2 blocks of 8
    policy = ExtremeValuePruning(block_size=8, random_state=0)
    policy.decide([LayerView("l", w, mask)], 2)
    entry = policy.report_[-1]
    assert (entry["epoch"], entry["layer"], entry["block_size"]) == (2, "l", 8)
    assert "params" in entry
    mask.view(-1)[15] = 0.0  # 15 alive: no fit, the alive weights are kept
    keep = policy.decide([LayerView("l", w, mask)], 2)[0]
    assert "params" not in policy.report_[-1]
    assert torch.equal(keep, mask.bool())


def test_defaults_of_decide_are_epoch_1_and_no_row_constraint():
    view = _head_view()
    policy = ExtremeValuePruning(block_size=8, random_state=0)
    default = policy.decide([view])[0]
    explicit = ExtremeValuePruning(block_size=8, random_state=0).decide([view], 1, [False])[0]
    assert torch.equal(default, explicit)
    assert not default.numpy().any(axis=1).all()  # the small rows stay empty


class _DropEverything(ExtremeValuePruning):
    """Retention probability 0 for every weight: all dropped deterministically."""

    def retention(self, law, magnitudes):
        return np.zeros(np.shape(magnitudes))


def test_a_layer_emptied_by_the_law_keeps_its_largest_alive_weight():
    view = _head_view()
    mask = view.mask.clone()
    top = int(view.weight.abs().argmax())
    mask.view(-1)[top] = 0.0  # the largest weight is already pruned
    view = LayerView("head", view.weight, mask)
    keep = _DropEverything(block_size=8, random_state=0).decide([view], 1, [False])[0]
    w = np.where(mask.numpy().astype(bool), view.weight.abs().numpy(), -np.inf)
    assert int(keep.sum()) == 1 and bool(keep.view(-1)[int(w.argmax())])


def test_a_numpy_random_state_seeds_each_application():
    policy = ExtremeValuePruning()
    got = policy.rng_for(3, np.random.RandomState(0)).random(4)
    seed = np.random.RandomState(0).randint(2**31 - 1)
    np.testing.assert_array_equal(got, np.random.default_rng((seed, 3)).random(4))
    np.testing.assert_array_equal(
        ExtremeValuePruning(random_state=5).rng_for(2, 7).random(3),
        np.random.default_rng((5, 2)).random(3),
    )
    gen = np.random.default_rng(0)
    assert policy.rng_for(1, gen) is gen


# ----------------------------------------------------------- the fitted law (known truth)
def test_extreme_value_kept_fraction_follows_the_fitted_law():
    torch.manual_seed(0)
    w = torch.randn(200, 200, dtype=torch.float64)
    view = LayerView("l", w, torch.ones_like(w), None)
    ev = ExtremeValuePruning(block_size=8, low=0.05, high=0.95, random_state=3)
    keep = ev.decide([view])[0].numpy()
    entry = ev.report_[-1]
    law = stats.gumbel_r(*entry["params"])
    # the law is the one fitted to block maxima of |w|: its median is about the median of the
    # maximum of 8 half-normals, P(max <= m) = 0.5 <=> P(|x| <= m) = 0.5 ** (1 / 8)
    assert law.median() == pytest.approx(stats.halfnorm.ppf(0.5 ** (1 / 8)), rel=0.05)
    p = law.cdf(np.abs(w.numpy()))
    det_keep, det_drop = p >= 0.95, p <= 0.05
    between = ~det_keep & ~det_drop
    assert keep[det_keep].all() and not keep[det_drop].any()
    assert entry["kept_deterministic"] == det_keep.sum()
    assert entry["dropped_deterministic"] == det_drop.sum()
    assert entry["sampled"] == between.sum()
    # in-between weights are kept with probability p: kept count ~ Binomial sums
    mean = p[between].sum()
    sd = np.sqrt((p[between] * (1 - p[between])).sum())
    assert abs(keep[between].sum() - mean) < 4 * sd
    # the alternative (kept with probability 1 - p) is far outside that band here
    assert abs((1 - p[between]).sum() - mean) > 20 * sd
    expected_fraction = (det_keep.sum() + mean) / w.numel()
    assert entry["kept_fraction"] == pytest.approx(expected_fraction, abs=4 * sd / w.numel())
    # the weights kept at random are the larger ones: mean p of kept > mean p of dropped
    assert p[between & keep].mean() > p[between & ~keep].mean()


# (from the former test_weight_level_arch.py: real-architecture patterns, plain torch)

from _weight_pruning import _train  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.pruning import WeightPruner  # noqa: E402
from skscreen.pruning.extreme_value import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402
from skscreen.pruning.scorers import (  # noqa: E402
    MagnitudeScorer,
)


def _ev_fit(random_state=None, policy_state=None, as_policy=True):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
    x, y = torch.randn(48, 20), torch.arange(48) % 3
    policy = ExtremeValuePruning(block_size=4, random_state=policy_state)
    kw = {"policy": policy} if as_policy else {"scorer": policy}
    pruner = WeightPruner(
        model,
        kw.pop("scorer", MagnitudeScorer()),
        OneShotSchedule(),
        sparsity=0.0,
        prune_epochs=2,
        n_classes=3,
        random_state=random_state,
        **kw,
    )
    assert pruner.decides_masks and pruner.target_keep(1) is None
    _train(model, pruner, x, y, epochs=2, enforcer=False)
    return torch.cat([get_mask(m).reshape(-1) for m in pruner.layers.values()])


def test_extreme_value_masks_derive_from_random_state():
    a = _ev_fit(random_state=0)
    assert 0 < int((a == 0).sum()) < a.numel()  # it did prune, and sampled
    assert torch.equal(a, _ev_fit(random_state=0))
    assert torch.equal(a, _ev_fit(random_state=0, as_policy=False))  # the scorer slot too
    assert not torch.equal(a, _ev_fit(random_state=1))
    # the policy's own seed wins over the pruner's
    assert torch.equal(_ev_fit(random_state=5, policy_state=0), _ev_fit(policy_state=0))
    # freshly seeded generators give the same masks
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert torch.equal(_ev_fit(random_state=g1), _ev_fit(random_state=g2))
