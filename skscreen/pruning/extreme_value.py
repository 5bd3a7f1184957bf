"""Deterministic-probabilistic pruning by extreme values, *inspired by* Banerjee & Paik (2025).

Per layer, the block maxima of ``|w|`` (alive weights, randomly split into blocks of
``block_size``) are fitted with a Gumbel or GEV law (:mod:`scipy.stats`). Each weight's
retention probability is that law's CDF at its magnitude — how likely a block maximum is
to be below it. Weights with probability ``>= high`` are kept deterministically, those with
probability ``<= low`` dropped deterministically, and the ones in between kept at random
with that probability (seeded generator). The per-layer sparsity is an *outcome* of the fit
(roughly ``1 - 1/block_size``), not a user target; it is reported in ``report_``.

Only the paper's abstract was available; this reading (block maxima of ``|w|``, CDF as
retention probability, thresholds on that probability) is ours, with its choices exposed as
parameters.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from skscreen.pruning.selection import best_per_row

__all__ = ["ExtremeValuePruning", "fit_block_maxima"]

_LAWS = {"gumbel": stats.gumbel_r, "gev": stats.genextreme}


def fit_block_maxima(values, block_size, distribution="gumbel", rng=None):
    """Fit ``distribution`` to the maxima of random blocks of ``values``; returns the frozen law.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> law = fit_block_maxima(np.abs(rng.normal(size=20000)), 50, rng=rng)
    >>> bool(2.0 < law.median() < 2.6)
    True
    """
    rng = np.random.default_rng(rng)
    values = np.asarray(values, dtype=np.float64)
    n_blocks = len(values) // int(block_size)
    if n_blocks < 2:
        raise ValueError(
            f"Need at least 2 blocks of {block_size} values, got {len(values)} values."
        )
    perm = rng.permutation(values)[: n_blocks * int(block_size)]
    maxima = perm.reshape(n_blocks, int(block_size)).max(axis=1)
    law = _LAWS[distribution]
    return law(*law.fit(maxima))


class ExtremeValuePruning:
    """Mask *policy* for deterministic-probabilistic pruning (no sparsity target).

    A policy replaces the pruner's budget -> score -> select by its own decision (see
    :mod:`skscreen.pruning._base`): pass it as ``WeightPruner(..., policy=...)`` (or, as
    before, in the scorer slot; ``make_scorer("extreme-value")`` still builds it).

    Parameters
    ----------
    block_size : int, default=16
        Weights per block whose maximum is modelled; the kept fraction is about
        ``1 / block_size`` per application.
    distribution : {"gumbel", "gev"}, default="gumbel"
    low, high : float, default=0.1, 0.9
        Retention probabilities below/above which the decision is deterministic.
    n_steps : int, default=1
        Applications: ``1`` is one-shot at the end of the pruning epochs (prune a trained
        net, then fine-tune); ``n > 1`` applies at ``n`` evenly spaced epochs with block size
        ``block_size ** (1 / n)`` (rounded, at least 2) so that the fractions compound.
    random_state : int, numpy.random.Generator or None, default=None
        Source of the block split and of the sampling. An int gives the same masks on two
        identical fits (the generator of each application is seeded by ``(random_state,
        epoch)``); a Generator is drawn from (reproducible when freshly seeded the same way);
        None defers to the pruner's ``random_state`` and, when that is None too, to fresh
        entropy.

    Attributes
    ----------
    report_ : list of dict
        Per application and layer: fitted law parameters, counts kept deterministically,
        sampled and dropped, and the layer's kept fraction.
    """

    decides_masks = True
    requires = frozenset()  # no statistics hooks: the decision reads |w| only

    def __init__(
        self, block_size=16, distribution="gumbel", low=0.1, high=0.9, n_steps=1, random_state=None
    ):
        if distribution not in _LAWS:
            raise ValueError(f"distribution must be one of {sorted(_LAWS)}, got {distribution!r}.")
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"Need 0 <= low < high <= 1, got low={low}, high={high}.")
        if int(block_size) < 2 or int(n_steps) < 1:
            raise ValueError("block_size must be >= 2 and n_steps >= 1.")
        self.block_size = int(block_size)
        self.distribution = distribution
        self.low = float(low)
        self.high = float(high)
        self.n_steps = int(n_steps)
        self.random_state = random_state
        self.report_ = []

    def __repr__(self):
        params = ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in ("block_size", "distribution", "low", "high", "n_steps", "random_state")
        )
        return f"ExtremeValuePruning({params})"

    def applies_at(self, epoch, prune_epochs):
        """Whether a decision is made at the end of ``epoch`` (1-based)."""
        points = {
            max(1, round(k * prune_epochs / self.n_steps)) for k in range(1, self.n_steps + 1)
        }
        return epoch in points

    def step_block_size(self):
        return max(2, int(round(self.block_size ** (1.0 / self.n_steps))))

    def retention(self, law, magnitudes):
        """Retention probability of each magnitude: the fitted law's CDF."""
        return law.cdf(np.asarray(magnitudes, dtype=np.float64))

    def rng_for(self, epoch, random_state=None):
        """The generator of the application at ``epoch``: from ``self.random_state``, else
        from ``random_state`` (the pruner's), else fresh entropy."""
        source = self.random_state if self.random_state is not None else random_state
        if isinstance(source, np.random.Generator):
            return source
        if source is None:
            return np.random.default_rng()
        if isinstance(source, np.random.RandomState):
            source = int(source.randint(2**31 - 1))
        return np.random.default_rng((int(source), int(epoch)))

    def decide(self, layers, epoch=1, keep_each_row=None, random_state=None):
        """Keep-masks for ``layers`` (list of LayerView); records ``report_``.

        ``random_state`` is used only when the policy has no ``random_state`` of its own.
        """
        keep_each_row = keep_each_row or [False] * len(layers)
        rng = self.rng_for(epoch, random_state)
        b = self.step_block_size()
        masks = []
        for lv, rows in zip(layers, keep_each_row):
            alive = lv.mask.bool().cpu().numpy()
            w = lv.weight.detach().abs().cpu().numpy().astype(np.float64)
            keep = alive.copy()
            entry = {"epoch": int(epoch), "layer": lv.name, "block_size": b}
            if alive.sum() >= 2 * b:
                law = fit_block_maxima(w[alive], b, self.distribution, rng)
                p = self.retention(law, w)
                det_keep = p >= self.high
                det_drop = p <= self.low
                between = ~det_keep & ~det_drop
                sampled = rng.random(p.shape) < p
                keep = alive & (det_keep | (between & sampled))
                entry.update(
                    params=[float(v) for v in law.args],
                    kept_deterministic=int((alive & det_keep).sum()),
                    dropped_deterministic=int((alive & det_drop).sum()),
                    sampled=int((alive & between).sum()),
                )
            # constraints shared with the budgeted pruners: no empty layer / output unit
            if rows:  # an empty output row keeps its best alive weight (none if none alive)
                keep2 = keep.reshape(keep.shape[0], -1)
                empty = ~keep2.any(axis=1)
                if empty.any():
                    best = best_per_row(torch.as_tensor(np.where(alive, w, -np.inf))).numpy()
                    keep2[empty] |= best.reshape(keep.shape[0], -1)[empty]
            if not keep.any() and alive.any():
                keep.flat[np.where(alive, w, -np.inf).argmax()] = True
            entry["kept_fraction"] = float(keep.mean())
            self.report_.append(entry)
            masks.append(torch.as_tensor(keep, device=lv.mask.device))
        return masks
