"""Streaming univariate feature screening."""

from skscreen.feature_selection._online_f import OnlineFClassifScreener

__all__ = ["OnlineFClassifScreener"]
