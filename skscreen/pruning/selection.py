"""From scores to keep-masks under a budget (deciding; masks are applied elsewhere)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["select_global", "select_per_layer", "BudgetShortfallWarning"]


class BudgetShortfallWarning(UserWarning):
    """A selection kept more than its budget: the keep-at-least rules need more weights.

    Every layer keeps at least one weight and the classifier head one input per output unit
    (so that no layer and no class output is cut off); on a small module these can outnumber
    the budget, and the sparsity reached is then below the target.
    """


def best_per_row(scores):
    """The keep-one-per-row rule: the best finite score of each output row (dim 0 is the
    output unit of a ``Linear`` or convolution weight; its weights are everything after it).
    Boolean mask shaped like ``scores``; a row without a finite score has none."""
    f = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    s2, f2 = scores.reshape(scores.shape[0], -1), f.view(scores.shape[0], -1)
    best = s2.argmax(dim=1)
    finite = torch.isfinite(s2.gather(1, best[:, None]))[:, 0]  # only the chosen entries
    f2[torch.arange(scores.shape[0], device=scores.device)[finite], best[finite]] = True
    return f


def _forced(scores, keep_each_row):
    """Weights that must survive: the best of each layer, and of each output row where asked."""
    forced = []
    for s, rows in zip(scores, keep_each_row):
        if rows:
            forced.append(best_per_row(s))
            continue
        f = torch.zeros(s.shape, dtype=torch.bool, device=s.device)
        best = s.argmax()
        if bool(torch.isfinite(s.reshape(-1)[best])):
            f.view(-1)[best] = True
        forced.append(f)
    return forced


def _select(scores, n_keep, keep_each_row):
    """``(masks, forced)``: :func:`select_global` without the warning; ``forced`` the number of
    weights the keep-at-least rules keep in each layer."""
    forced = _forced(scores, keep_each_row)
    per_layer = [int(f.sum()) for f in forced]
    n_forced = sum(per_layer)
    # finite: |s| < inf (NaN compares false), one pass fewer than torch.isfinite
    n_alive = int(sum(torch.count_nonzero(s.abs() < torch.inf) for s in scores))
    n_keep = max(min(int(n_keep), n_alive), n_forced)
    # the forced weights set aside in place, in the concatenation (a new tensor): a masked
    # copy of each layer first cost ten times as much (fresh memory to fault in)
    flat = torch.cat([s.reshape(-1) for s in scores])
    flat.masked_fill_(torch.cat([f.reshape(-1) for f in forced]), -torch.inf)
    rest = n_keep - n_forced
    keep_flat = _top(flat, rest)
    masks, start = [], 0
    for s, f in zip(scores, forced):
        n = s.numel()
        masks.append(keep_flat[start : start + n].reshape(s.shape) | f)
        start += n
    return masks, per_layer


def _top(flat, k):
    """Boolean mask of the ``k`` highest entries of a 1-D tensor, ties broken by position
    (the first of equal scores kept), so results are deterministic.

    The same mask as the first ``k`` of a stable descending argsort, in linear time: the
    ``k``-th largest value is the threshold, every entry above it is kept, then the first
    entries equal to it. Scores with NaN take the argsort (where NaN sorts first).
    """
    keep = torch.zeros_like(flat, dtype=torch.bool)
    if k <= 0:
        return keep
    if k >= flat.numel():
        return keep.fill_(True)
    # a sum without NaN proves there is none (one reduction instead of a mask and any())
    if bool(flat.sum().isnan()) and bool(torch.isnan(flat).any()):
        keep[torch.argsort(flat, descending=True, stable=True)[:k]] = True
        return keep
    threshold = _kth_largest(flat, k)
    keep = flat > threshold
    need = k - int(keep.sum())
    if need > 0:
        keep[torch.nonzero(flat == threshold).flatten()[:need]] = True
    return keep


_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)


def _kth_largest(flat, k):
    """The ``k``-th largest value of a 1-D tensor without NaN (``1 <= k < numel``), a 0-d
    tensor.

    On the CPU, numpy's introselect over the whole tensor: half the time of
    ``torch.kthvalue`` (1.9 ms against 3.2 for LeNet-300-100's 266,200 weights). Elsewhere
    ``torch.kthvalue``, with the entries at ``-inf`` (pruned, or forced and set aside) left
    out first when at least ``k`` others remain: fewer values to order. Either way the same
    order statistic (the ``-inf`` entries rank below every other)."""
    if flat.device.type == "cpu" and flat.dtype in _NUMPY_FLOATS:
        # no boolean selection first: it cost more than it saves the partition (2.5 ms)
        i = flat.numel() - k  # the 0-based rank in ascending order
        return torch.as_tensor(np.partition(flat.detach().numpy(), i)[i], device=flat.device)
    candidates = flat > -torch.inf
    n = int(candidates.sum())
    if k <= n < flat.numel():
        flat = flat[candidates]
    return torch.kthvalue(flat, flat.numel() - k + 1).values


def _warn_shortfall(budget, masks, forced, keep_each_row, short_layers=None):
    total = sum(m.numel() for m in masks)
    kept = int(sum(int(m.sum()) for m in masks))
    rows = sum(n for n, r in zip(forced, keep_each_row) if r)
    rules = [f"every layer keeps at least one weight ({len(masks)} layers)"]
    if rows:
        rules.append(f"each output unit of the classifier head keeps an input ({rows} units)")
    rules = " and ".join(rules)
    if short_layers is None:
        cause = f"the budget is below the {sum(forced)} weights the selection always keeps"
    else:
        cause = (
            f"in {short_layers} of {len(masks)} layers the layer's share of the budget is below "
            "the weights that layer always keeps"
        )
    warnings.warn(
        f"Kept {kept} of {total} weights (sparsity {1 - kept / total:.4f}) for a budget of "
        f"{budget} (sparsity {1 - budget / total:.4f}): {cause} ({rules}).",
        BudgetShortfallWarning,
        # its frame is tested outside mutmut, whose trampolines add frames
        stacklevel=3,  # pragma: no mutate
    )


def select_global(scores, n_keep, keep_each_row=None):
    """Keep exactly ``n_keep`` weights with the highest scores across all layers.

    Scores may have any shape (``Linear`` or convolution weights); dimension 0 is the output
    unit.

    Constraints: every layer keeps at least one weight, and layers flagged in
    ``keep_each_row`` keep at least one input per output unit; forced weights count toward
    ``n_keep``. Weights with score ``-inf`` (already pruned) are never kept. When the forced
    weights outnumber ``n_keep``, they are all kept and a :class:`BudgetShortfallWarning`
    states the cause and the sparsity reached.
    """
    keep_each_row = keep_each_row or [False] * len(scores)
    masks, forced = _select(scores, n_keep, keep_each_row)
    if sum(forced) > int(n_keep):
        _warn_shortfall(int(n_keep), masks, forced, keep_each_row)
    return masks


def select_per_layer(scores, fraction_keep, keep_each_row=None):
    """Keep the top ``fraction_keep`` of each layer's prunable weights separately.

    A layer whose forced weights (see :func:`select_global`) outnumber its share keeps them;
    one :class:`BudgetShortfallWarning` then covers all layers.
    """
    keep_each_row = keep_each_row or [False] * len(scores)
    out, forced, budget, short = [], [], 0, 0
    for s, rows in zip(scores, keep_each_row):
        n = int(round(s.numel() * fraction_keep))
        masks, f = _select([s], n, [rows])
        out.extend(masks)
        forced.extend(f)
        budget += n
        short += f[0] > n
    if short:
        _warn_shortfall(budget, out, forced, keep_each_row, short_layers=short)
    return out
