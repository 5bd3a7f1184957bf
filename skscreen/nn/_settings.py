"""The pruning callback's settings: their names, their constraints, what is derived from them.

:class:`PruningSettings` is the part of :class:`~skscreen.nn.ScreeningPruning` that knows its
parameters (:data:`PRUNING_PARAMS`, surfaced at top level by
:class:`~skscreen.ScreeningPrunedNet`), validates them against the constraints declared once
in :data:`_PARAMETER_CONSTRAINTS` (``check_params``, at every fit, as scikit-learn's
``_parameter_constraints``), and derives the criterion and the number of pruning epochs.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from skscreen.pruning.factory import make_criterion
from skscreen.pruning.schedules import make_schedule
from skscreen.pruning.scorers import NORMALIZERS

__all__ = ["PRUNING_PARAMS"]

#: The callback's parameters (surfaced at top level by :class:`ScreeningPrunedNet`).
PRUNING_PARAMS = (
    "alpha",
    "sparsity",
    "schedule",
    "prune_epochs",
    "scope",
    "normalize",
    "normalize_scope",
    "scorer",
    "granularity",
    "layer_types",
    "ignored_layers",
    "post_relu",
    "reg_lambda",
    "gamma_l1",
    "random_state",
)
# settings that decide *what* is prunable: fixed once pruning has started
_STRUCTURAL = ("granularity", "layer_types", "ignored_layers", "post_relu")


def _is_real(x):
    """A real number, numpy scalars included (np.float32 from a grid), booleans not."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)


def _is_prune_epochs(value):
    return value is None or (not isinstance(value, bool) and isinstance(value, int | np.integer))


def _hybrid(cb):
    return cb.scorer is None or cb.scorer == "screening"


#: Every setting's constraint, declared once and checked in order at every fit
#: (:meth:`ScreeningPruning.check_params`): ``(setting, test(callback, value), message)``.
_PARAMETER_CONSTRAINTS = (
    (
        "sparsity",
        lambda cb, v: _is_real(v) and 0.0 <= v < 1.0,
        "sparsity must be a number in [0, 1), got {value!r}.",
    ),
    (
        "alpha",
        lambda cb, v: not _hybrid(cb) or (_is_real(v) and 0.0 <= v <= 1.0),
        "alpha must be in [0, 1], got {value!r}.",
    ),
    (
        "scope",
        lambda cb, v: v in ("global", "layer"),
        "scope must be 'global' or 'layer', got {value!r}.",
    ),
    (
        "normalize",
        lambda cb, v: v in NORMALIZERS,
        f"normalize must be one of {NORMALIZERS}, got {{value!r}}.",
    ),
    (
        "normalize_scope",
        lambda cb, v: v in (None, "global", "layer"),
        "normalize_scope must be None, 'global' or 'layer', got {value!r}.",
    ),
    (
        "prune_epochs",
        lambda cb, v: _is_prune_epochs(v),
        "prune_epochs must be None or an int >= 1, got {value!r}.",
    ),
    (
        "prune_epochs",
        lambda cb, v: v is None or int(v) >= 1,
        "prune_epochs must be >= 1, got {value!r}.",
    ),
    (
        "granularity",
        lambda cb, v: v in ("weight", "channel"),
        "granularity must be 'weight' or 'channel', got {value!r}.",
    ),
    (
        "reg_lambda",
        lambda cb, v: _is_real(v) and 0.0 <= v < math.inf,
        "reg_lambda must be a finite number >= 0, got {value!r}.",
    ),
    (
        "gamma_l1",
        lambda cb, v: _is_real(v) and 0.0 <= v < math.inf,
        "gamma_l1 must be a finite number >= 0, got {value!r}.",
    ),
    (
        "reg_lambda",
        lambda cb, v: not float(v) > 0 or cb.granularity == "weight",
        "reg_lambda applies to granularity='weight' only.",
    ),
    (
        "gamma_l1",
        lambda cb, v: not float(v) > 0 or cb.granularity == "channel",
        "gamma_l1 applies to granularity='channel' only.",
    ),
    (
        "layer_types",
        lambda cb, v: v is None or cb.granularity == "weight",
        "layer_types applies to granularity='weight' only (channel level prunes the "
        "channels of BatchNorm layers; exclude some with ignored_layers).",
    ),
)


class PruningSettings:
    """The settings half of :class:`~skscreen.nn.ScreeningPruning` (a mixin)."""

    def _get_param_names(self):
        # skorch's Callback takes every public-looking attribute as a parameter, private
        # state included (then clone(net) fails on ScreeningPruning(_enforcer=...))
        return list(PRUNING_PARAMS)

    def settings(self):
        """The current value of every pruning parameter (a dict)."""
        return {k: getattr(self, k) for k in PRUNING_PARAMS}

    def check_params(self):
        """Validate every setting against :data:`_PARAMETER_CONSTRAINTS`, then the schedule and
        the criterion (built once, and dropped); raises ``ValueError`` naming the bad one."""
        for name, test, message in _PARAMETER_CONSTRAINTS:
            value = getattr(self, name)
            if not test(self, value):
                raise ValueError(message.format(value=value))
        make_schedule(self.schedule)
        self.make_scorer()
        return self

    def make_scorer(self):
        """A fresh criterion from the settings (:func:`~skscreen.pruning.factory.make_criterion`;
        a scorer object is deep-copied)."""
        return make_criterion(
            self.scorer,
            granularity=self.granularity,
            alpha=self.alpha,
            normalize=self.normalize,
            normalize_scope=self.normalize_scope,
            random_state=self.random_state,
        )

    def _n_prune_epochs(self, net):
        if self.prune_epochs is not None:
            return int(self.prune_epochs)
        return max(1, int(net.max_epochs) // 2)

    def _structure(self):
        return {k: getattr(self, k) for k in _STRUCTURAL}
