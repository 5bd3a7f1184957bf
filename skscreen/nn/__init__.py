"""skorch estimators (the only part of skscreen that imports skorch)."""

from skscreen.nn._net import ScreeningPrunedNet

__all__ = ["ScreeningPrunedNet"]
