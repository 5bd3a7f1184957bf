"""The selection rules of scikit-learn's univariate selectors, as plain functions.

Deciding which features to keep from ``(scores, pvalues)`` is kept apart from computing
them. The rules and their tie-breaking follow :class:`~sklearn.feature_selection.SelectKBest`,
``SelectPercentile``, ``SelectFpr``, ``SelectFdr`` and ``SelectFwe`` (the tests use those as
the reference), with one rule made explicit and applied by every mode: a feature whose score
is ``nan`` (constant: the F-test is undefined) is never selected. ``SelectKBest(k="all")``,
``SelectPercentile(percentile=100)`` and, when fewer than ``k`` features have a score,
``SelectKBest`` keep such features; here they are dropped. ``inf`` (constant within every
class, separating them) ranks first.
"""

from __future__ import annotations

import numpy as np

MODES = ("k_best", "percentile", "fpr", "fdr", "fwe")


def rankable(scores):
    """Scores with ``nan`` replaced by ``-inf``: the one place NaN/inf ranking is decided.

    ``inf`` (a feature that separates the classes perfectly) ranks first, ``nan`` (a
    constant feature) last; sort these values, never the raw scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(scores), -np.inf, scores)


def ranking_order(scores):
    """Feature indices from best to worst score (``inf`` first, ``nan`` last, ties by index)."""
    return np.argsort(-rankable(scores), kind="stable")


def k_best_mask(scores, k):
    """Keep the ``k`` highest scores (``"all"``: every feature); ``nan`` is never kept."""
    n = len(scores)
    if k == "all" or k >= n:  # scikit-learn warns at fit time and keeps every feature
        return ~np.isnan(scores)
    mask = np.zeros(n, dtype=bool)
    if k == 0:
        return mask
    mask[np.argsort(rankable(scores), kind="mergesort")[-k:]] = True
    return mask & ~np.isnan(scores)


def percentile_mask(scores, percentile):
    """Keep the features in the top ``percentile`` percent of scores."""
    n = len(scores)
    if percentile == 100:
        return ~np.isnan(scores)
    if percentile == 0:
        return np.zeros(n, dtype=bool)
    # scikit-learn's threshold puts nan at the bottom of the range (its _clean_nans)
    clean = np.where(np.isnan(scores), np.finfo(np.float64).min, scores)
    threshold = np.percentile(clean, 100 - percentile)
    mask = clean > threshold
    ties = np.flatnonzero(clean == threshold)
    if len(ties):
        max_feats = int(n * percentile / 100)
        mask[ties[: max_feats - mask.sum()]] = True
    return mask & ~np.isnan(scores)


def fpr_mask(pvalues, alpha):
    """Keep features whose p-value is below ``alpha`` (false positive rate)."""
    return pvalues < alpha


def fdr_mask(pvalues, alpha):
    """Benjamini-Hochberg: keep features at estimated false discovery rate ``alpha``.

    ``nan`` p-values count in ``n`` and are never kept (as ``SelectFdr``).
    """
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
    """Dispatch to the rule named by ``mode``; a ``nan`` score is never selected."""
    scores = np.asarray(scores, dtype=np.float64)
    if mode == "k_best":
        mask = k_best_mask(scores, k)
    elif mode == "percentile":
        mask = percentile_mask(scores, percentile)
    else:
        rule = {"fpr": fpr_mask, "fdr": fdr_mask, "fwe": fwe_mask}[mode]
        mask = rule(np.asarray(pvalues, dtype=np.float64), alpha)
    return mask & ~np.isnan(scores)
