"""Mergeable sufficient statistics and the ANOVA F-test computed from them."""

from skscreen.stats._anova import anova_f, ranking_scores
from skscreen.stats._moments import ClassMoments

__all__ = ["ClassMoments", "anova_f", "ranking_scores"]
