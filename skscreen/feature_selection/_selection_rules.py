"""The selection rules of scikit-learn's univariate selectors, as plain functions.

Deciding which features to keep from ``(scores, pvalues)`` is kept apart from computing
them. The rules and their tie-breaking follow :class:`~sklearn.feature_selection.SelectKBest`,
``SelectPercentile``, ``SelectFpr``, ``SelectFdr`` and ``SelectFwe`` exactly (the tests use
those as the reference).
"""

from __future__ import annotations

import numpy as np

MODES = ("k_best", "percentile", "fpr", "fdr", "fwe")


def k_best_mask(scores, k):
    """Keep the ``k`` highest scores (``"all"`` keeps every feature); nan ranks last."""
    n = len(scores)
    if k == "all" or k >= n:  # scikit-learn warns at fit time and keeps every feature
        return np.ones(n, dtype=bool)
    mask = np.zeros(n, dtype=bool)
    if k == 0:
        return mask
    clean = np.where(np.isnan(scores), np.finfo(np.float64).min, scores)
    mask[np.argsort(clean, kind="mergesort")[-k:]] = True
    return mask


def percentile_mask(scores, percentile):
    """Keep the features in the top ``percentile`` percent of scores."""
    n = len(scores)
    if percentile == 100:
        return np.ones(n, dtype=bool)
    if percentile == 0:
        return np.zeros(n, dtype=bool)
    clean = np.where(np.isnan(scores), np.finfo(np.float64).min, scores)
    threshold = np.percentile(clean, 100 - percentile)
    mask = clean > threshold
    ties = np.flatnonzero(clean == threshold)
    if len(ties):
        max_feats = int(n * percentile / 100)
        mask[ties[: max_feats - mask.sum()]] = True
    return mask


def fpr_mask(pvalues, alpha):
    """Keep features whose p-value is below ``alpha`` (false positive rate)."""
    return pvalues < alpha


def fdr_mask(pvalues, alpha):
    """Benjamini-Hochberg: keep features at estimated false discovery rate ``alpha``."""
    n = len(pvalues)
    sv = np.sort(pvalues)
    selected = sv[sv <= float(alpha) / n * np.arange(1, n + 1)]
    if selected.size == 0:
        return np.zeros(n, dtype=bool)
    return pvalues <= selected.max()


def fwe_mask(pvalues, alpha):
    """Bonferroni: keep features whose p-value is below ``alpha / n_features``."""
    return pvalues < alpha / len(pvalues)


def support_mask(scores, pvalues, *, mode, k, percentile, alpha):
    """Dispatch to the rule named by ``mode``."""
    if mode == "k_best":
        return k_best_mask(scores, k)
    if mode == "percentile":
        return percentile_mask(scores, percentile)
    rule = {"fpr": fpr_mask, "fdr": fdr_mask, "fwe": fwe_mask}[mode]
    return rule(np.where(np.isnan(pvalues), 1.0, pvalues), alpha)
