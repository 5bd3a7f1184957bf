"""skorch estimators and callbacks (the only part of skscreen that imports skorch)."""

from skscreen.nn._criterion import AutoLoss
from skscreen.nn._early_stopping import EarlyStoppingAfterPruning
from skscreen.nn._net import ScreeningPrunedNet
from skscreen.nn._pruning import ScreeningPruning

__all__ = ["AutoLoss", "EarlyStoppingAfterPruning", "ScreeningPrunedNet", "ScreeningPruning"]
