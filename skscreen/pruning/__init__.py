"""Pruning machinery in plain torch: statistics hooks, scorers, schedules, masks, compaction.

Deciding (``scorers``, ``schedules``, ``selection``) is kept apart from applying
(``masks``, ``compaction``); :class:`WeightPruner` glues them for one model.
"""

from skscreen.pruning._base import BasePruner, required_statistics
from skscreen.pruning.compaction import (
    compact_module,
    compact_sequential,
    fold_masks,
    load_compact,
    save_compact,
)
from skscreen.pruning.extreme_value import ExtremeValuePruning
from skscreen.pruning.pruner import WeightPruner
from skscreen.pruning.schedules import (
    CubicSchedule,
    FSASchedule,
    LogisticSchedule,
    OneShotSchedule,
    make_schedule,
)
from skscreen.pruning.scorers import (
    ActivationStatsScorer,
    HybridScreeningScorer,
    LAMPScorer,
    MagnitudeScorer,
    make_scorer,
)

__all__ = [
    "BasePruner",
    "required_statistics",
    "WeightPruner",
    "HybridScreeningScorer",
    "MagnitudeScorer",
    "LAMPScorer",
    "ActivationStatsScorer",
    "ExtremeValuePruning",
    "make_scorer",
    "LogisticSchedule",
    "FSASchedule",
    "CubicSchedule",
    "OneShotSchedule",
    "make_schedule",
    "compact_module",
    "fold_masks",
    "compact_sequential",
    "save_compact",
    "load_compact",
]
