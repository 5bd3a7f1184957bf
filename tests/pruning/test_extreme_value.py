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
from skscreen.pruning import ExtremeValuePruning  # noqa: E402
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
