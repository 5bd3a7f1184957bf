"""An exact reference for the F-test: rational arithmetic on the float values (slow; tests)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["exact_f_oneway"]


def exact_f_oneway(X, y):
    """F-score of every column of ``X`` computed exactly on the given float values.

    Every value is converted to a :class:`fractions.Fraction` (exactly), so the only rounding
    is the final conversion to float: the ground truth against which ``f_classif``, scipy and
    skscreen are measured on adversarial data. Quadratic in nothing, but slow: keep it to a
    few thousand values.

    >>> import numpy as np
    >>> exact_f_oneway(np.array([[1.0], [2.0], [4.0], [5.0]]), np.array([0, 0, 1, 1]))
    array([18.])
    """
    X = np.asarray(X)
    y = np.asarray(y)
    classes = np.unique(y)
    out = []
    for j in range(X.shape[1]):
        groups = [[Fraction(float(v)) for v in X[y == c, j]] for c in classes]
        n = sum(len(g) for g in groups)
        grand = sum(sum(g) for g in groups) / n
        means = [sum(g) / len(g) for g in groups]
        ssb = sum(len(g) * (m - grand) ** 2 for g, m in zip(groups, means))
        ssw = sum(sum((v - m) ** 2 for v in g) for g, m in zip(groups, means))
        out.append(float((ssb / (len(classes) - 1)) / (ssw / (n - len(classes)))))
    return np.array(out)
