"""OnlineFClassifScreener: streaming, exact and mergeable ANOVA F feature screening."""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from skscreen.feature_selection._selection_rules import MODES, support_mask
from skscreen.stats import ClassMoments, anova_f

__all__ = ["OnlineFClassifScreener"]


def _is_dask(X):
    return type(X).__module__.split(".")[0] == "dask"


class OnlineFClassifScreener(SelectorMixin, BaseEstimator):
    """Select features by the ANOVA F-test, fitted batch by batch and mergeable.

    Keeps per-class sufficient statistics (count, mean, centred sum of squares per
    feature, float64) instead of the data, so it can be fitted with :meth:`partial_fit`
    on data larger than memory, on the blocks of a Dask collection in parallel, or on
    separate machines whose screeners are then combined with :meth:`merge`. The scores
    equal :func:`sklearn.feature_selection.f_classif` on all the data seen, whatever the
    chunking, and stay exact where ``f_classif`` loses precision (features with a large
    offset relative to their spread).

    Parameters
    ----------
    mode : {"k_best", "percentile", "fpr", "fdr", "fwe"}, default="k_best"
        Selection rule, as in :class:`~sklearn.feature_selection.GenericUnivariateSelect`.
    k : int or "all", default=10
        Number of top features kept in ``"k_best"`` mode (as ``SelectKBest``).
    percentile : float, default=10
        Percent of features kept in ``"percentile"`` mode.
    alpha : float, default=0.05
        Threshold of the ``"fpr"``, ``"fdr"`` and ``"fwe"`` modes.

    Attributes
    ----------
    scores_ : ndarray of shape (n_features,)
        F-scores. A constant feature scores ``nan`` (with scikit-learn's warning) and is
        ranked last; a feature constant within every class but separating them scores
        ``inf`` and is ranked first.
    pvalues_ : ndarray of shape (n_features,)
        p-values of the F-scores.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen (or given to the first :meth:`partial_fit`).
    n_samples_seen_ : int
        Number of samples accumulated.
    moments_ : ClassMoments
        The sufficient statistics.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.feature_selection.SelectKBest : the in-memory selector with ``f_classif``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.feature_selection import f_classif
    >>> from skscreen import OnlineFClassifScreener
    >>> X, y = load_digits(return_X_y=True)
    >>> screener = OnlineFClassifScreener(k=20)
    >>> for start in range(0, len(X), 500):
    ...     _ = screener.partial_fit(X[start:start + 500], y[start:start + 500])
    >>> screener.transform(X).shape
    (1797, 20)
    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     f_ref, _ = f_classif(X, y)
    >>> bool(np.allclose(screener.scores_, f_ref, rtol=1e-10, equal_nan=True))
    True
    """

    _parameter_constraints: dict = {
        "mode": [StrOptions(set(MODES))],
        "k": [StrOptions({"all"}), Interval(Integral, 0, None, closed="left")],
        "percentile": [Interval(Real, 0, 100, closed="both")],
        "alpha": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, *, mode="k_best", k=10, percentile=10, alpha=0.05):
        self.mode = mode
        self.k = k
        self.percentile = percentile
        self.alpha = alpha

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Reset, then accumulate all of ``(X, y)``.

        ``X`` may be a numpy array, a scipy.sparse matrix, a pandas DataFrame, or a Dask
        array / DataFrame (blocks are reduced in parallel on the active Dask scheduler).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels; at least two distinct classes.

        Returns
        -------
        self : OnlineFClassifScreener
        """
        self._reset()
        if _is_dask(X) or _is_dask(y):
            from skscreen.feature_selection._dask import fit_dask

            fit_dask(self, X, y)
        else:
            self._partial_fit(X, y, classes=None, first=True)
        if np.count_nonzero(self.moments_.count_) < 2:
            present = self.classes_[self.moments_.count_ > 0].tolist()
            raise ValueError(
                "The ANOVA F-test needs samples of at least 2 classes; "
                f"y has only one class: {present!r}."
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Fold a batch into the statistics.

        The first call (or the first after :meth:`fit`) starts a new state. When
        ``classes`` is given on that call, later labels outside it are an error; otherwise
        new labels extend the state. A batch that is rejected (NaN/inf, wrong number of
        features, bad labels) raises ``ValueError`` and leaves the state exactly as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All the labels that will ever appear.

        Returns
        -------
        self : OnlineFClassifScreener
        """
        first = not hasattr(self, "moments_")
        if first:
            self._reset()
        elif classes is not None:
            given = np.unique(np.asarray(classes))
            strict = self.moments_.strict_classes
            first_classes = self.classes_.tolist() if strict else None
            if not strict or not np.array_equal(given, self.classes_):
                raise ValueError(
                    f"classes={given.tolist()!r} is not the same as on the first call to "
                    f"partial_fit ({first_classes!r})."
                )
        self._partial_fit(X, y, classes=classes, first=first)
        return self

    def _reset(self):
        for attr in (
            "moments_",
            "scores_",
            "pvalues_",
            "classes_",
            "n_samples_seen_",
            "n_features_in_",
            "feature_names_in_",
        ):
            if hasattr(self, attr):
                delattr(self, attr)

    def _check_batch(self, X, y, first):
        """Validate one batch without touching the state."""
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            reset=first,
        )
        y = column_or_1d(y, warn=True)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}.")
        check_classification_targets(y)
        return X, y

    def _partial_fit(self, X, y, *, classes, first):
        if first:
            # validate_data(reset=True) overwrites n_features_in_: on failure, undo it
            try:
                X, y = self._check_batch(X, y, first=True)
            except Exception:
                self._reset()
                raise
            moments = ClassMoments(classes)
            if classes is not None:
                unknown = np.setdiff1d(np.unique(y), moments.classes_)
                if unknown.size:
                    self._reset()
                    raise ValueError(
                        f"y contains labels {unknown.tolist()!r} that are not in classes "
                        f"{moments.classes_.tolist()!r}."
                    )
        else:
            X, y = self._check_batch(X, y, first=False)
            moments = self.moments_
        moments.update(X, y)  # raises before modifying the state on bad labels
        self.moments_ = moments
        self._refresh()
        if first:
            self._warn_k()

    def _warn_k(self):
        if self.mode == "k_best" and self.k != "all" and self.k > self.n_features_in_:
            warnings.warn(
                f"k={self.k} is greater than n_features={self.n_features_in_}. "
                "All the features will be returned."
            )

    def _refresh(self):
        """Derive the fitted attributes from the moments."""
        m = self.moments_
        self.classes_ = m.classes_
        self.n_samples_seen_ = int(round(m.n_samples))
        present = 0 if m.count_ is None else int(np.count_nonzero(m.count_))
        if present >= 2 and m.n_samples > present:
            self.scores_, self.pvalues_ = anova_f(m)
        else:
            nan = np.full(self.n_features_in_, np.nan)
            self.scores_, self.pvalues_ = nan, nan.copy()

    # ------------------------------------------------------------------ merging
    def merge(self, other):
        """Combine with a screener fitted on other data (in place); returns ``self``.

        The result is identical to a single fit on both parts of the data.

        Parameters
        ----------
        other : OnlineFClassifScreener
            A fitted screener with the same features.

        Returns
        -------
        self : OnlineFClassifScreener

        Examples
        --------
        >>> import numpy as np
        >>> from skscreen import OnlineFClassifScreener
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(200, 5)), rng.integers(0, 3, 200)
        >>> a = OnlineFClassifScreener(k=2).fit(X[:80], y[:80])
        >>> b = OnlineFClassifScreener(k=2).fit(X[80:], y[80:])
        >>> whole = OnlineFClassifScreener(k=2).fit(X, y)
        >>> bool(np.allclose(a.merge(b).scores_, whole.scores_, rtol=1e-12))
        True
        """
        if not isinstance(other, OnlineFClassifScreener):
            raise TypeError(f"Can only merge an OnlineFClassifScreener, got {type(other)}.")
        check_is_fitted(other, "moments_")
        if not hasattr(self, "moments_"):
            self.__dict__.update(copy.deepcopy(other.__dict__))
            return self
        if other.n_features_in_ != self.n_features_in_:
            raise ValueError(
                f"Cannot merge: {other.n_features_in_} features vs {self.n_features_in_}."
            )
        names_a = getattr(self, "feature_names_in_", None)
        names_b = getattr(other, "feature_names_in_", None)
        if (names_a is None) != (names_b is None) or (
            names_a is not None and not np.array_equal(names_a, names_b)
        ):
            raise ValueError("Cannot merge screeners fitted on different feature names.")
        merged = self.moments_.copy().merge(other.moments_)
        self.moments_ = merged
        self._refresh()
        return self

    # ------------------------------------------------------------------ selection
    def _get_support_mask(self):
        check_is_fitted(self, "moments_")
        if np.all(np.isnan(self.scores_)) and np.count_nonzero(self.moments_.count_) < 2:
            raise ValueError(
                "Only one class has been seen so far; the F-test needs at least two. "
                "Call partial_fit with samples of another class first."
            )
        return support_mask(
            self.scores_,
            self.pvalues_,
            mode=self.mode,
            k=self.k,
            percentile=self.percentile,
            alpha=self.alpha,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
