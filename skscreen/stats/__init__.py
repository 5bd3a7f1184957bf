"""Mergeable sufficient statistics and the ANOVA F-test computed from them."""

from skscreen.stats._anova import anova_f, anova_f_scores, f_test_possible, ranking_scores
from skscreen.stats._deferred import DeferredMoments
from skscreen.stats._moments import ClassMoments

__all__ = [
    "ClassMoments",
    "DeferredMoments",
    "anova_f",
    "anova_f_scores",
    "f_test_possible",
    "ranking_scores",
]
