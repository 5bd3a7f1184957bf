"""ANOVA F-statistic and p-values from per-class moments."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

__all__ = ["anova_f", "anova_f_scores", "f_test_possible", "ranking_scores"]


def anova_f(moments, *, warn_constant=True):
    """One-way ANOVA F-scores and p-values of every feature from a :class:`ClassMoments`.

    Equal to :func:`sklearn.feature_selection.f_classif` on the same data, but computed
    from centred moments, so it stays exact where sums of squares cancel.

    Degenerate features follow scikit-learn's rule, made explicit:

    * constant feature (between- and within-class variation both zero): ``F = nan``,
      ``p = nan`` and a ``UserWarning`` naming the features (as scikit-learn); for
      ranking, use :func:`ranking_scores`, which puts them last;
    * constant within every class but separating the classes (within-class variation
      zero, between-class positive): ``F = inf``, ``p = 0``, ranked first.

    Classes with no samples are ignored, as if absent.

    Parameters
    ----------
    moments : ClassMoments
        A state with at least two non-empty classes and more samples than classes.
    warn_constant : bool, default=True
        Emit the constant-feature warning.

    Returns
    -------
    f : ndarray of shape (n_features,)
    p : ndarray of shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.feature_selection import f_classif
    >>> from skscreen.stats import ClassMoments, anova_f
    >>> X = np.array([[1.0, 5.0], [2.0, 5.5], [3.0, 4.0], [4.0, 4.5]])
    >>> y = np.array([0, 0, 1, 1])
    >>> f, p = anova_f(ClassMoments().update(X, y))
    >>> np.allclose(f, f_classif(X, y)[0])
    True
    """
    m = moments.numpy() if moments.is_torch else moments
    f, dfb, dfw, constant, separating = _f_statistic(m)
    p = special.fdtrc(dfb, dfw, f)
    p[separating] = 0.0
    if warn_constant and constant.any():
        warnings.warn(f"Features {np.flatnonzero(constant)} are constant.", UserWarning)
    return f, p


def anova_f_scores(moments):
    """The F-scores of :func:`anova_f` (no p-values, no warning), in the state's own array
    type: a numpy array for a numpy state, a float64 tensor on the state's device for a torch
    state (no copy to the host). Constant features are ``nan``, within-class-constant
    separating ones ``inf``.

    >>> import torch
    >>> from skscreen.stats import ClassMoments, anova_f_scores
    >>> X = torch.tensor([[1.0, 5.0], [2.0, 5.5], [3.0, 4.0], [4.0, 4.5]])
    >>> m = ClassMoments().update(X, torch.tensor([0, 0, 1, 1]), n_classes=2)
    >>> anova_f_scores(m)
    tensor([8., 8.], dtype=torch.float64)
    """
    return _f_statistic(moments)[0]


def _classes_present(m):
    """``(present, n_classes, n)``: the classes with samples (a mask of the state's type),
    their number and the samples in them; the rule of :func:`f_test_possible`."""
    present = m.count_ > 0
    return present, int(present.sum()), float(m.count_[present].sum())


def f_test_possible(moments):
    """Whether :func:`anova_f` can be computed from ``moments``: samples of at least two
    classes, and more samples than such classes (an epoch of one class, or of a handful of
    rows, has no between-class evidence).

    >>> import numpy as np
    >>> from skscreen.stats import ClassMoments, f_test_possible
    >>> f_test_possible(ClassMoments().update(np.ones((3, 1)), np.zeros(3, dtype=int)))
    False
    """
    if moments is None or moments.count_ is None:
        return False
    _, n_classes, n = _classes_present(moments)
    return n_classes >= 2 and n > n_classes


def _f_statistic(m):
    """``(F, dfb, dfw, constant, separating)`` of a state, in its array type (numpy/torch)."""
    if m.count_ is None:
        raise ValueError("No samples have been seen yet.")
    torch_state = m.is_torch
    present, n_classes, n = _classes_present(m)
    if n_classes < 2:
        raise ValueError(
            f"The ANOVA F-test needs samples of at least 2 classes; got {n_classes} "
            f"(classes seen: {np.asarray(m.classes_)[np.asarray(_host(present))].tolist()!r})."
        )
    count = m.count_[present]
    mean = m.mean_[present]
    m2 = m.m2_[present]
    if n <= n_classes:
        raise ValueError(f"The ANOVA F-test needs more samples ({n:g}) than classes ({n_classes}).")
    grand = (count[:, None] * mean).sum(0) / n
    ssb = (count[:, None] * (mean - grand) ** 2).sum(0)
    dfb, dfw = n_classes - 1, n - n_classes
    # Variation below the resolution of the class means (a few ulps of their distance from
    # the shift, a data value) is rounding noise of the merges, not signal: it is treated as
    # exactly zero so that constant and within-class-constant features are recognised
    # whatever the chunking. Relative to the shift, not to |x|: a class difference of a few
    # ulps of |x| (1e6 + 20 ulps) is still resolved; and per class for the within-class part
    # (a class near the shift keeps its small spread beside classes 1e20 away). Everything is
    # in units of the state's per-feature scale (F does not depend on it), so nothing
    # overflows near 1e154.
    resolution = (16 * _EPS * abs(mean)) ** 2
    ssw = _where(m2 <= count[:, None] * resolution, 0.0, m2).sum(0)
    floor = n * (resolution.max(0).values if torch_state else resolution.max(axis=0))
    ssb = _where(ssb <= floor, 0.0, ssb)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # F > 1.8e308: inf
        f = (ssb / dfb) / (ssw / dfw)
    constant = (ssw == 0) & (ssb == 0)
    separating = (ssw == 0) & (ssb > 0)
    f[constant] = float("nan")
    f[separating] = float("inf")
    return f, dfb, dfw, constant, separating


_EPS = float(np.finfo(np.float64).eps)


def _where(condition, a, b):
    if isinstance(b, np.ndarray):
        return np.where(condition, a, b)
    import torch

    return torch.where(condition, a, b)


def _host(a):
    return a.cpu().numpy() if hasattr(a, "cpu") else a


def ranking_scores(f):
    """Scores for ranking: ``nan`` (constant feature) becomes 0, ``inf`` stays first.

    >>> import numpy as np
    >>> ranking_scores(np.array([2.0, np.nan, np.inf]))
    array([ 2.,  0., inf])
    """
    return np.where(np.isnan(f), 0.0, f)
