"""Fast accumulation of many small torch batches (training loops), convertible to ClassMoments.

Merging every mini-batch into :class:`ClassMoments` with Chan's update costs about twenty
tiny tensor operations per layer and batch, which is a measurable share of a small
network's training step. :class:`DeferredMoments` instead keeps, per class and feature,

* ``count``, ``sums`` = sum of ``x - shift`` (one matrix product with the batch's one-hot),
* ``within`` = sum over batches of the batch's centred M2 (two-pass *within* the batch),
* ``between`` = sum over batches of ``n_b * mean_b^2``,

and forms ``M2 = within + between - n * mean^2`` once, in :meth:`to_moments`. Only the
between-batch part is a difference of sums; with ``shift`` = the first batch's mean, its
terms are of the size of the batch-mean fluctuations, so the cancellation is harmless
(relative error ~1e-13 in tests). Everything stays on the batch's device.
"""

from __future__ import annotations

import numpy as np

from skscreen.stats._moments import ClassMoments

__all__ = ["DeferredMoments", "one_hot"]


def one_hot(y, n_classes):
    """Float64 one-hot matrix of integer labels, on their device."""
    import torch

    out = torch.zeros(y.shape[0], n_classes, dtype=torch.float64, device=y.device)
    out[torch.arange(y.shape[0], device=y.device), y] = 1.0
    return out


class DeferredMoments:
    """Per-class moments of torch batches, accumulated with one fused update per batch.

    Parameters
    ----------
    n_classes : int

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skscreen.stats import DeferredMoments, ClassMoments, anova_f
    >>> from skscreen.stats._deferred import one_hot
    >>> X, y = torch.randn(200, 3), torch.randint(0, 2, (200,))
    >>> acc = DeferredMoments(2)
    >>> for a in range(0, 200, 32):
    ...     _ = acc.update(X[a:a + 32], y[a:a + 32], one_hot(y[a:a + 32], 2))
    >>> ref = ClassMoments().update(X.numpy(), y.numpy())
    >>> bool(np.allclose(anova_f(acc.to_moments())[0], anova_f(ref)[0], rtol=1e-10))
    True
    """

    def __init__(self, n_classes):
        self.n_classes = int(n_classes)
        self.count = self.sums = self.within = self.between = self.shift = None

    @property
    def n_samples(self):
        return 0.0 if self.count is None else float(self.count.sum())

    def update(self, X, y, onehot):
        """Fold a batch: ``X`` (b, p) tensor, ``y`` (b,) class indices, ``onehot`` (b, C) float64."""
        import torch

        with torch.no_grad():
            Xd = X.detach().to(torch.float64)
            if self.shift is None:
                self.shift = Xd.mean(0)
                k, p = self.n_classes, Xd.shape[1]
                zeros = lambda *s: torch.zeros(*s, dtype=torch.float64, device=Xd.device)  # noqa: E731
                self.count, self.sums = zeros(k), zeros(k, p)
                self.within, self.between = zeros(k, p), zeros(k, p)
            Xd -= self.shift
            cnt = onehot.sum(0)
            sums = onehot.T @ Xd
            mean = sums / cnt.clamp_min(1.0)[:, None]
            Xd -= mean[y]
            self.within += onehot.T @ (Xd * Xd)
            self.between += sums * mean
            self.sums += sums
            self.count += cnt
        return self

    def to_moments(self):
        """The equivalent :class:`ClassMoments` (on the same device)."""
        out = ClassMoments(np.arange(self.n_classes))
        if self.count is None:
            return out
        mean = self.sums / self.count.clamp_min(1.0)[:, None]
        m2 = self.within + self.between - self.count[:, None] * mean * mean
        out.count_, out.mean_, out.m2_ = self.count.clone(), mean, m2.clamp_min(0.0)
        out.shift_ = self.shift.clone()
        return out
