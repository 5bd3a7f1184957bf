"""The channel criterion: ``alpha * norm(F) + (1 - alpha) * norm(|gamma|)`` per channel."""

from __future__ import annotations

import torch

from skscreen.pruning.scorers import MixScorer, input_f_scores, mix, warn_no_f_test
from skscreen.stats import f_test_possible

__all__ = ["ChannelScreeningScorer"]


class ChannelScreeningScorer(MixScorer):
    """``alpha * norm(F) + (1 - alpha) * norm(|gamma|)`` for every channel of every unit.

    Parameters
    ----------
    alpha : float in [0, 1], default=0.5
        0 is network slimming (``|gamma|`` only), 1 pure screening.
    normalize : {"minmax", "max", "rank"}, default="minmax"
    normalize_scope : {"global", "layer"} or None, default=None
        Normalise each component over all units (``"global"``) or within each unit
        (``"layer"``) before ranking over the budget scope; ``None`` is ``"layer"``, the
        choice made on validation splits for both CLS and slimming (``docs/benchmarks.rst``,
        "Default settings": a global scale starves the layers whose ``|gamma|`` run small).
    """

    def normalization_scope(self, scope):
        """Within each unit unless ``normalize_scope="global"`` is asked for."""
        return "layer" if self.normalize_scope is None else self.normalize_scope

    def _unit_mean(self, unit, per_bn):
        """Average a per-BatchNorm channel quantity over the members carrying each channel."""
        total = torch.zeros(unit.n_channels, dtype=torch.float64)
        count = torch.zeros(unit.n_channels, dtype=torch.float64)
        for bn, idx, pos in unit.members:
            values = per_bn(bn).detach().to("cpu", torch.float64)
            total.index_add_(0, pos, values[idx])
            count.index_add_(0, pos, torch.ones(len(pos), dtype=torch.float64))
        return total / count.clamp_min(1.0)

    def _components(self, units, alpha):
        gammas = [self._unit_mean(u, lambda bn: bn.weight.abs()) for u in units]
        fs = []
        if alpha > 0:
            for u in units:
                if any(u.moments.get(bn) is None for bn, _, _ in u.members):
                    raise RuntimeError("Channel screening needs statistics from a training epoch.")
                fs.append(self._unit_mean(u, lambda bn, u=u: input_f_scores(u.moments[bn], "cpu")))
        return gammas, fs

    def __call__(self, units, scope="global"):
        alpha = self.alpha
        if alpha > 0 and not all(
            f_test_possible(m) for u in units for m in u.moments.values() if m is not None
        ):
            warn_no_f_test()
            alpha = 0.0  # said so: |gamma| decides this step, whatever alpha
        gammas, fs = self._components(units, alpha)
        alive = [torch.ones(g.shape, dtype=torch.bool) for g in gammas]
        weights = [alpha, 1.0 - alpha]
        return mix([fs, gammas], alive, weights, self.normalization_scope(scope), self.normalize)
