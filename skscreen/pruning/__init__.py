"""Pruning machinery in plain torch: statistics hooks, scorers, schedules, masks, compaction.

Deciding (``scorers``, ``schedules``, ``selection``) is kept apart from applying
(``masks``, ``compaction``); :class:`WeightPruner` glues them for one model.
"""

from skscreen.pruning.schedules import (  # numpy only: importable without torch
    CubicSchedule,
    FSASchedule,
    LogisticSchedule,
    OneShotSchedule,
    make_schedule,
)

# The torch parts load on first use, so that ``skscreen.pruning.schedules`` (and the
# schedule tests) work without torch installed.
_LAZY = {
    "BasePruner": "_base",
    "required_statistics": "_base",
    "compact_module": "compaction",
    "compact_sequential": "compaction",
    "fold_masks": "compaction",
    "load_compact": "compaction",
    "save_compact": "compaction",
    "ExtremeValuePruning": "extreme_value",
    "WeightPruner": "pruner",
    "ActivationStatsScorer": "scorers",
    "HybridScreeningScorer": "scorers",
    "LAMPScorer": "scorers",
    "MagnitudeScorer": "scorers",
    "make_scorer": "scorers",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"skscreen.pruning.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skscreen.pruning' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
