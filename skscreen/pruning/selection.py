"""From scores to keep-masks under a budget (deciding; masks are applied elsewhere)."""

from __future__ import annotations

import torch

__all__ = ["select_global", "select_per_layer"]


def _forced(scores, keep_each_row):
    """Weights that must survive: the best of each layer, and of each output row where asked."""
    forced = []
    for s, rows in zip(scores, keep_each_row):
        f = torch.zeros(s.shape, dtype=torch.bool, device=s.device)
        if rows:  # a row is an output unit: its weights are everything after dim 0
            s2, f2 = s.reshape(s.shape[0], -1), f.view(s.shape[0], -1)
            f2[torch.arange(s.shape[0], device=s.device), s2.argmax(dim=1)] = True
        else:
            f.view(-1)[s.argmax()] = True
        forced.append(f & torch.isfinite(s))
    return forced


def select_global(scores, n_keep, keep_each_row=None):
    """Keep exactly ``n_keep`` weights with the highest scores across all layers.

    Scores may have any shape (``Linear`` or convolution weights); dimension 0 is the output
    unit.

    Constraints: every layer keeps at least one weight, and layers flagged in
    ``keep_each_row`` keep at least one input per output unit; forced weights count toward
    ``n_keep``. Weights with score ``-inf`` (already pruned) are never kept.
    """
    keep_each_row = keep_each_row or [False] * len(scores)
    forced = _forced(scores, keep_each_row)
    n_forced = int(sum(f.sum() for f in forced))
    n_alive = int(sum(torch.isfinite(s).sum() for s in scores))
    n_keep = max(min(int(n_keep), n_alive), n_forced)
    flat = torch.cat([s.masked_fill(f, -torch.inf).reshape(-1) for s, f in zip(scores, forced)])
    rest = n_keep - n_forced
    keep_flat = torch.zeros_like(flat, dtype=torch.bool)
    if rest > 0:
        # stable: ties broken by position, so results are deterministic
        order = torch.argsort(flat, descending=True, stable=True)[:rest]
        keep_flat[order] = True
    masks, start = [], 0
    for s, f in zip(scores, forced):
        n = s.numel()
        masks.append(keep_flat[start : start + n].reshape(s.shape) | f)
        start += n
    return masks


def select_per_layer(scores, fraction_keep, keep_each_row=None):
    """Keep the top ``fraction_keep`` of each layer's prunable weights separately."""
    keep_each_row = keep_each_row or [False] * len(scores)
    out = []
    for s, rows in zip(scores, keep_each_row):
        n = int(round(s.numel() * fraction_keep))
        out.extend(select_global([s], n, [rows]))
    return out
