"""Tied channels: positions a grouped convolution removes together, and selection that keeps
tied classes whole."""

from __future__ import annotations

import torch

__all__ = ["select_tied"]


class _Ties:
    """Union-find over a unit's channel positions: positions that must be removed together."""

    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i, j):
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def labels(self):
        """Class id of each position, classes numbered by their first position."""
        roots = [self.find(i) for i in range(len(self.parent))]
        number = {r: k for k, r in enumerate(dict.fromkeys(roots))}
        return torch.as_tensor([number[r] for r in roots], dtype=torch.long)


def select_tied(scores, ties, n_keep, min_classes=None):
    """Keep whole tied classes of channels: the best class (``min_classes[u]`` best classes)
    of every unit, then classes in decreasing mean score while fewer than ``n_keep`` channels
    are kept.

    ``scores`` and ``ties`` are per-unit tensors over channel positions (``ties[u][p]``: the
    class of position ``p``). A class's score is the mean of its channels' scores (as
    Torch-Pruning averages importance over channel groups). With one channel per class this is
    :func:`~skscreen.pruning.selection.select_global`; with larger classes the kept count can
    exceed ``n_keep`` by less than one class. Returns per-unit boolean keep masks.
    """
    min_classes = min_classes or [1] * len(scores)
    class_scores, class_sizes, forced = [], [], []
    for s, t, m in zip(scores, ties, min_classes):
        n_classes = int(t.max()) + 1
        size = torch.bincount(t, minlength=n_classes)
        total = torch.zeros(n_classes, dtype=torch.float64).index_add_(0, t, s.double())
        mean = total / size
        f = torch.zeros(n_classes, dtype=torch.bool)
        if m == 1:
            f[mean.argmax()] = True  # first of equal maxima, as select_global
        else:
            f[torch.argsort(mean, descending=True, stable=True)[:m]] = True
        class_scores.append(mean)
        class_sizes.append(size)
        forced.append(f)
    flat, sizes = torch.cat(class_scores), torch.cat(class_sizes)
    forced_flat = torch.cat(forced)
    rest = int(n_keep) - int(sizes[forced_flat].sum())
    keep_flat = forced_flat.clone()
    if rest > 0:
        order = torch.argsort(
            flat.masked_fill(forced_flat, -torch.inf), descending=True, stable=True
        )
        order = order[~forced_flat[order]]
        before = torch.cumsum(sizes[order], 0) - sizes[order]  # channels kept before each
        keep_flat[order[before < rest]] = True
    masks, start = [], 0
    for t, s in zip(ties, class_scores):
        masks.append(keep_flat[start : start + len(s)][t])
        start += len(s)
    return masks
