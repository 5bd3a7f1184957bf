"""skscreen: statistical screening for scikit-learn and PyTorch.

``OnlineFClassifScreener`` (streaming ANOVA F feature screening) needs only numpy, scipy
and scikit-learn. ``ScreeningPrunedNet`` (network pruning by screening) needs torch and
skorch, and is imported on first use so that ``import skscreen`` never imports torch.
"""

from skscreen._version import __version__
from skscreen.feature_selection import OnlineFClassifScreener

__all__ = ["OnlineFClassifScreener", "ScreeningPrunedNet", "__version__"]


def __getattr__(name):
    if name == "ScreeningPrunedNet":
        from skscreen.nn import ScreeningPrunedNet

        return ScreeningPrunedNet
    raise AttributeError(f"module 'skscreen' has no attribute {name!r}")
