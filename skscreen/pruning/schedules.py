"""Sparsity schedules: how far along the way to the target each pruning epoch is.

A schedule only decides numbers; it never touches a model. Every schedule maps the epoch
``e`` (1-based: pruning happens at the end of an epoch) and the number of pruning epochs
``E`` to the *remaining* fraction ``r(e) in [0, 1]`` of the prunable weights that are still
to be removed: ``r(0) = 1`` (dense) and ``r(E) = 0`` (target reached). With ``M`` prunable
weights and ``k`` to keep at the end, the keep-count after epoch ``e`` is
``M_e = k + (M - k) r(e)`` and the sparsity is ``s_e = s (1 - r(e))``.

Examples
--------
>>> from skscreen.pruning.schedules import LogisticSchedule
>>> s = LogisticSchedule().simulate(n_epochs=6, sparsity=0.9, prune_epochs=4)
>>> s.round(3).tolist()
[0.0, 0.063, 0.45, 0.837, 0.9, 0.9, 0.9]
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "Schedule",
    "LogisticSchedule",
    "FSASchedule",
    "CubicSchedule",
    "OneShotSchedule",
    "make_schedule",
]


class Schedule:
    """Base class: subclasses implement :meth:`remaining`."""

    def remaining(self, epoch, prune_epochs):  # pragma: no cover - abstract
        raise NotImplementedError

    def sparsity_at(self, epoch, sparsity, prune_epochs):
        """Target sparsity after ``epoch`` epochs (0 before the first, ``sparsity`` from E on)."""
        if epoch <= 0:
            return 0.0
        if epoch >= prune_epochs:
            return float(sparsity)
        r = float(np.clip(self.remaining(epoch, prune_epochs), 0.0, 1.0))
        return float(sparsity) * (1.0 - r)

    def n_keep(self, epoch, n_total, sparsity, prune_epochs):
        """Number of prunable weights to keep after ``epoch`` (rounded to the nearest)."""
        return int(round(n_total * (1.0 - self.sparsity_at(epoch, sparsity, prune_epochs))))

    def simulate(self, n_epochs, sparsity=1.0, prune_epochs=None):
        """Sparsity after epochs ``0..n_epochs``, without training (for plots and tests)."""
        prune_epochs = n_epochs if prune_epochs is None else prune_epochs
        return np.array([self.sparsity_at(e, sparsity, prune_epochs) for e in range(n_epochs + 1)])

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class LogisticSchedule(Schedule):
    """Logistic annealing: slow start, fast middle, slow end.

    ``g(u) = 1 / (1 + exp(a (u - c)))``, ``r(e) = (g(u) - g(1)) / (g(0) - g(1))`` with
    ``u = e / E``. The paper describes this shape; its exact formula was not recoverable, so
    ``a`` (steepness) and ``c`` (centre) are parameters.

    Parameters
    ----------
    a : float, default=10
    c : float, default=0.5
    """

    def __init__(self, a=10.0, c=0.5):
        if a <= 0:
            raise ValueError(f"a must be positive, got {a}.")
        self.a = float(a)
        self.c = float(c)

    def _g(self, u):
        return 1.0 / (1.0 + math.exp(self.a * (u - self.c)))

    def remaining(self, epoch, prune_epochs):
        g0, g1 = self._g(0.0), self._g(1.0)
        return (self._g(epoch / prune_epochs) - g1) / (g0 - g1)


class FSASchedule(Schedule):
    """Inverse annealing of Feature Selection with Annealing (Barbu et al. 2017).

    ``r(e) = max(0, (N - 2e) / (2 e mu + N))`` with ``N = 2E``, so that the target is reached
    at ``e = E``; ``mu = 0`` is linear, larger ``mu`` removes more early.

    Parameters
    ----------
    mu : float, default=100
    """

    def __init__(self, mu=100.0):
        if mu < 0:
            raise ValueError(f"mu must be non-negative, got {mu}.")
        self.mu = float(mu)

    def remaining(self, epoch, prune_epochs):
        n = 2.0 * prune_epochs
        return max(0.0, (n - 2.0 * epoch) / (2.0 * epoch * self.mu + n))


class CubicSchedule(Schedule):
    """Polynomial decay of Zhu & Gupta (2017): ``s_e = s (1 - (1 - e/E)^power)``.

    Parameters
    ----------
    power : float, default=3
    """

    def __init__(self, power=3.0):
        if power <= 0:
            raise ValueError(f"power must be positive, got {power}.")
        self.power = float(power)

    def remaining(self, epoch, prune_epochs):
        return (1.0 - epoch / prune_epochs) ** self.power


class OneShotSchedule(Schedule):
    """Dense until ``prune_epochs``, then the target at once: train, prune once, fine-tune."""

    def remaining(self, epoch, prune_epochs):
        return 1.0


_NAMES = {
    "logistic": LogisticSchedule,
    "fsa": FSASchedule,
    "cubic": CubicSchedule,
    "one-shot": OneShotSchedule,
}


def make_schedule(schedule):
    """A schedule object from a name (``"logistic"``, ``"fsa"``, ``"cubic"``, ``"one-shot"``)."""
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule in _NAMES:
        return _NAMES[schedule]()
    raise ValueError(
        f"Unknown schedule {schedule!r}; use one of {sorted(_NAMES)} or a Schedule object."
    )
