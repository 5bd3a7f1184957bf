"""The selection rules of scikit-learn's univariate selectors, as plain functions.

Deciding which features to keep from ``(scores, pvalues)`` is kept apart from computing
them. Each rule is scikit-learn's own, statement for statement
(:class:`~sklearn.feature_selection.SelectKBest`, ``SelectPercentile``, ``SelectFpr``,
``SelectFdr``, ``SelectFwe``, and so ``GenericUnivariateSelect``), so that the screener
selects exactly what they select on the same scores, edges included:

* ``k="all"`` and ``percentile=100`` keep every feature, constant (``nan``-score) ones
  included; ``k=0`` and ``percentile=0`` keep none; ``k`` larger than the number of
  features keeps every feature (the screener warns at fit time, as ``SelectKBest``);
* otherwise ``k_best`` and ``percentile`` rank a ``nan`` score as the smallest float64
  (scikit-learn's ``_clean_nans``), so a constant feature is kept only when fewer than
  ``k`` (or the percentile's count of) features have a score, and ``inf`` ranks first;
* ties: ``k_best`` keeps the *last* features of a tie (stable ascending sort, the top
  ``k`` taken from the end); ``percentile`` keeps the *first* tied features at the
  threshold, up to ``int(n_features * percentile / 100)``;
* ``percentile`` whose threshold falls between two ``inf`` scores: numpy's interpolation
  gives ``nan`` there and ``SelectPercentile`` keeps no feature at all; so does the
  screener, with a warning that says so and names the ``k`` to use instead;
* ``fpr``, ``fdr`` and ``fwe`` compare p-values, and a ``nan`` p-value (constant feature)
  is never below a threshold.

:func:`ranking_order` (used by ``skscreen screen`` to rank its output table) is separate:
it puts ``nan`` last, whatever the scores.
"""

from __future__ import annotations

import warnings

import numpy as np

MODES = ("k_best", "percentile", "fpr", "fdr", "fwe")


def rankable(scores):
    """Scores with ``nan`` replaced by ``-inf``, for :func:`ranking_order`.

    ``inf`` (a feature that separates the classes perfectly) ranks first, ``nan`` (a
    constant feature) last.
    """
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(scores), -np.inf, scores)


def ranking_order(scores):
    """Feature indices from best to worst score (``inf`` first, ``nan`` last, ties by index)."""
    return np.argsort(-rankable(scores), kind="stable")


def _clean_nans(scores):
    """scikit-learn's ``_clean_nans``: ``nan`` becomes the smallest float64 (a copy)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    scores[np.isnan(scores)] = np.finfo(scores.dtype).min
    return scores


def k_best_mask(scores, k):
    """``SelectKBest``: the ``k`` highest scores (``"all"``: every feature, ``nan`` included).

    A stable ascending sort, the last ``k`` kept: ties are broken towards the higher
    index, ``nan`` ranks lowest, ``k`` beyond the number of features keeps them all.
    """
    n = len(scores)
    if k == "all":
        return np.ones(n, dtype=bool)
    if k == 0:
        return np.zeros(n, dtype=bool)
    mask = np.zeros(n, dtype=bool)
    mask[np.argsort(_clean_nans(scores), kind="mergesort")[-k:]] = True
    return mask


def percentile_mask(scores, percentile):
    """``SelectPercentile``: the features in the top ``percentile`` percent of scores."""
    n = len(scores)
    if percentile == 100:
        return np.ones(n, dtype=bool)
    if percentile == 0:
        return np.zeros(n, dtype=bool)
    clean = _clean_nans(scores)
    with np.errstate(invalid="ignore"):  # inf - inf in the interpolation: said below
        threshold = np.percentile(clean, 100 - percentile)
    if np.isnan(threshold) and int(n * percentile / 100) > 0:
        warnings.warn(
            f"percentile={percentile}: the score threshold falls between two inf scores, "
            "where numpy's interpolation gives nan, so scikit-learn's SelectPercentile rule "
            "(followed here) keeps no feature. To keep the best features, give k instead "
            f"(k={int(n * percentile / 100)} is this percentile's count).",
            UserWarning,
        )
    mask = clean > threshold
    ties = np.where(clean == threshold)[0]
    if len(ties):
        max_feats = int(n * percentile / 100)
        mask[ties[: max_feats - mask.sum()]] = True
    return mask


def fpr_mask(pvalues, alpha):
    """``SelectFpr``: p-value below ``alpha`` (false positive rate)."""
    return pvalues < alpha


def fdr_mask(pvalues, alpha):
    """``SelectFdr`` (Benjamini-Hochberg): estimated false discovery rate ``alpha``.

    ``nan`` p-values count in ``n`` and are never kept.
    """
    n = len(pvalues)
    sv = np.sort(pvalues)
    selected = sv[sv <= float(alpha) / n * np.arange(1, n + 1)]
    if selected.size == 0:
        return np.zeros_like(pvalues, dtype=bool)
    return pvalues <= selected.max()


def fwe_mask(pvalues, alpha):
    """``SelectFwe`` (Bonferroni): p-value below ``alpha / n_features``."""
    return pvalues < alpha / len(pvalues)


def support_mask(scores, pvalues, *, mode, k, percentile, alpha):
    """The support of ``GenericUnivariateSelect(mode=mode)`` with the named parameter."""
    if mode == "k_best":
        return k_best_mask(np.asarray(scores, dtype=np.float64), k)
    if mode == "percentile":
        return percentile_mask(np.asarray(scores, dtype=np.float64), percentile)
    rule = {"fpr": fpr_mask, "fdr": fdr_mask, "fwe": fwe_mask}[mode]
    return rule(np.asarray(pvalues, dtype=np.float64), alpha)
