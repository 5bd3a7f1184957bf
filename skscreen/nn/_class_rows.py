"""How many class rows the pruning statistics need, and the module's output width.

The per-class moments have one row per label index a training batch may carry. Labels are
output indices, so the rows are the largest of: the classes the net knows, its largest
integer class + 1, the batch's largest index + 1 and the module's output width
(:func:`statistics_rows`). The width comes from the net when it measured it
(:meth:`ScreeningPruning.output_width_seen <skscreen.nn.ScreeningPruning.output_width_seen>`),
else from a forward pass of a few rows (:func:`probe_output_width`), unless the net fixes its
labels at its first call (:class:`~skscreen.ScreeningPrunedNet`).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["probe_output_width"]


def first_tensor(x):
    """The first tensor of a batch's X (tensor, array, dict or list of them)."""
    if isinstance(x, dict):
        x = next(iter(x.values()))
    elif isinstance(x, list | tuple):
        x = x[0]
    return torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x


def probe_output_width(net, Xi):
    """Scores per sample of ``net.module_``: the last dimension of its (first) output.

    From a forward pass of ``Xi`` in eval mode without gradients (the module's mode is
    restored); None for an output without a class dimension.
    """
    module = net.module_
    was = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = net.infer(Xi)
    finally:
        module.train(was)
    if isinstance(out, tuple | list):
        out = out[0]
    return int(out.shape[-1]) if out.ndim >= 2 else None


def statistics_rows(net, Xi, yi, width_seen=None):
    """Rows of the statistics: every label index the batches of ``net`` may carry.

    The larger of the number of classes the net knows, its largest integer class + 1 (a
    classifier trained on labels {0, 2} carries index 2), this batch's largest index + 1
    (``yi``), and the module's output width: ``width_seen`` (measured by the net), else, for a
    net whose later calls may bring any label below the width (skorch's own classifiers), a
    forward pass of a few rows of ``Xi``; a net whose labels are fixed by its first call
    (``_labels_fixed_by_first_call``) refuses others, so its classes suffice.
    """
    n = 2
    try:
        classes = np.asarray(net.classes_)
        n = max(n, len(classes))
        if classes.dtype.kind in "iu" and classes.size:
            n = max(n, int(classes.max()) + 1)
    except (AttributeError, TypeError, ValueError):
        pass
    if yi is not None:
        y = yi if torch.is_tensor(yi) else torch.as_tensor(np.asarray(yi))
        if y.numel() and not y.is_floating_point() and y.dtype != torch.bool:
            n = max(n, int(y.max()) + 1)
    if width_seen is not None:
        return max(n, width_seen)
    if getattr(net, "_labels_fixed_by_first_call", False):
        return n
    head = Xi[:8] if hasattr(Xi, "__getitem__") and torch.is_tensor(Xi) else Xi
    return max(n, probe_output_width(net, head) or 2)
