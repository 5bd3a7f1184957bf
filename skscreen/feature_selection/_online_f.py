"""OnlineFClassifScreener: streaming, exact and mergeable ANOVA F feature screening."""

from __future__ import annotations

import threading
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
from skscreen.stats._moments import combined_classes, unique_labels

__all__ = ["OnlineFClassifScreener"]

# Guards the lazy creation of each screener's own lock (__init__ only stores parameters).
_LOCK_GUARD = threading.Lock()


def _is_dask(X):
    return type(X).__module__.split(".")[0] == "dask"


def _same_names(a, b):
    return (a is None) == (b is None) and (a is None or np.array_equal(a, b))


def _check_two_classes(moments, *, fitting):
    """The two-class rule: the F-test needs samples of at least two classes."""
    present = np.asarray(moments.count_) > 0 if moments.count_ is not None else []
    if np.count_nonzero(present) >= 2:
        return
    seen = np.asarray(moments.classes_)[present].tolist() if len(present) else []
    if fitting:
        raise ValueError(
            f"The ANOVA F-test needs samples of at least 2 classes; y has only one class: {seen!r}."
        )
    raise ValueError(
        f"Only one class ({seen!r}) has been seen so far; the F-test needs at least two. "
        "Call partial_fit with samples of another class first."
    )


def _scores(moments, n_features):
    """F-scores and p-values of a state; ``nan`` while they are undefined (with a warning)."""
    present = 0 if moments.count_ is None else int(np.count_nonzero(moments.count_))
    if present >= 2 and moments.n_samples > present:
        return anova_f(moments)
    if present >= 2:
        warnings.warn(
            f"All F-scores are nan: {moments.n_samples:g} samples of {present} classes; the "
            "F-test needs more samples than classes. No feature will be selected until more "
            "samples are seen.",
            UserWarning,
        )
    nan = np.full(n_features, np.nan)
    return nan, nan.copy()


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
        Number of top features kept in ``"k_best"`` mode (as ``SelectKBest``, except
        that a constant feature, whose score is ``nan``, is never kept: ``"all"`` keeps
        every feature with a score).
    percentile : float, default=10
        Percent of features kept in ``"percentile"`` mode.
    alpha : float, default=0.05
        Threshold of the ``"fpr"``, ``"fdr"`` and ``"fwe"`` modes.

    Attributes
    ----------
    scores_ : ndarray of shape (n_features,)
        F-scores. A constant feature scores ``nan`` (with scikit-learn's warning) and is
        never selected, whatever the mode (``k="all"`` included); a feature constant
        within every class but separating them scores ``inf`` and is ranked first. All
        scores are ``nan`` (with a warning) until more samples than classes are seen.
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
        """Accumulate all of ``(X, y)`` into a fresh state that replaces the current one.

        ``X`` may be a numpy array, a scipy.sparse matrix, a pandas DataFrame, or a Dask
        array / DataFrame (blocks are reduced in parallel on the active Dask scheduler).
        Everything is validated and the new state built before anything is replaced: a
        rejected ``fit`` (bad values, one class) leaves an earlier fit exactly as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels; at least two distinct classes.

        Returns
        -------
        self : OnlineFClassifScreener
        """
        if _is_dask(X) or _is_dask(y):
            from skscreen.feature_selection._dask import dask_state

            state, n_features, names = dask_state(X, y)
        else:
            state, n_features, names = self._batch_state(X, y, None, classes=None)
        _check_two_classes(state, fitting=True)
        self._commit(state, n_features, names, replace=True)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Fold a batch into the statistics.

        The first call on an unfitted screener starts the state; later calls, including
        the first one after :meth:`fit`, continue it (as scikit-learn's ``partial_fit``:
        call :meth:`fit` or make a new screener to start again). When ``classes`` is given
        on the first call, later labels outside it are an error; otherwise new labels
        extend the state. A batch that is rejected (NaN/inf, wrong number of features,
        bad labels, labels of another type than before) raises ``ValueError`` and leaves
        the state exactly as it was.

        Several threads may call ``partial_fit`` (and :meth:`merge`) on one screener at
        the same time: each batch's statistics are computed without a lock and folded in
        under one, so no batch is lost.

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
        snapshot = self._snapshot()
        if snapshot is not None and classes is not None:
            moments = snapshot[0]
            given = np.unique(np.asarray(classes))
            strict = moments.strict_classes
            first_classes = moments.classes_.tolist() if strict else None
            if not strict or not np.array_equal(given, moments.classes_):
                raise ValueError(
                    f"classes={given.tolist()!r} is not the same as on the first call to "
                    f"partial_fit ({first_classes!r})."
                )
        state, n_features, names = self._batch_state(X, y, snapshot, classes=classes)
        self._commit(state, n_features, names, replace=False)
        return self

    # ------------------------------------------------------------------ one commit path
    def _lock(self):
        """The lock guarding the fitted state (made on first use; not pickled)."""
        lock = self.__dict__.get("_state_lock")
        if lock is None:
            with _LOCK_GUARD:
                lock = self.__dict__.setdefault("_state_lock", threading.Lock())
        return lock

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_state_lock", None)
        return state

    def _snapshot(self):
        """``(moments, n_features_in, feature_names_in)`` of the current fit, or ``None``."""
        with self._lock():
            if not hasattr(self, "moments_"):
                return None
            return self.moments_, self.n_features_in_, getattr(self, "feature_names_in_", None)

    def _validate(self, X, y, snapshot):
        """Validate one batch against ``snapshot`` (``None``: a first batch); touches nothing.

        Returns ``(X, y, n_features, feature_names)``.
        """
        # validate_data records n_features_in_/names on its estimator: give it a bare one
        # (no parameters needed; its class names it in the messages)
        probe = type(self).__new__(type(self))
        if snapshot is not None:
            probe.n_features_in_ = snapshot[1]
            if snapshot[2] is not None:
                probe.feature_names_in_ = snapshot[2]
        X = validate_data(
            probe,
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            reset=snapshot is None,
            # NaN/inf: checked by the kernel (a second read of X only when its sums are not
            # finite), with scikit-learn's message, before anything is committed
            ensure_all_finite=False,
        )
        y = column_or_1d(y, warn=True)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}.")
        if y.dtype.kind not in "iu":  # integer labels are always valid classes
            check_classification_targets(y)
        return X, y, probe.n_features_in_, getattr(probe, "feature_names_in_", None)

    def _batch_state(self, X, y, snapshot, *, classes):
        """Validate a batch and compute its statistics on the side (nothing is modified).

        On a continued state the batch uses the state's per-feature shift, so that folding
        it in is the same arithmetic as a direct update.
        """
        X, y, n_features, names = self._validate(X, y, snapshot)
        if snapshot is None:
            known = None if classes is None else np.unique(np.asarray(classes))
            strict = classes is not None
        else:
            known, strict = snapshot[0].classes_, snapshot[0].strict_classes
        # the unknown-label and label-type rule, before any work
        combined_classes(known, unique_labels(y), strict=strict)
        state = ClassMoments(known if strict else None)
        if snapshot is not None and snapshot[0].shift_ is not None:
            state.shift_ = np.array(snapshot[0].shift_, dtype=np.float64)
        state.update(X, y)
        return state, n_features, names

    def _commit(self, state, n_features, names, *, replace):
        """Make ``state`` (``replace``) or the current state merged with it the fitted state.

        Every check runs and every fitted attribute is computed before the first one is
        set; under the lock, so concurrent callers never lose each other's batches.
        """
        with self._lock():
            first = replace or not hasattr(self, "moments_")
            if not first:
                if n_features != self.n_features_in_:
                    raise ValueError(
                        f"X has {n_features} features, but {type(self).__name__} is "
                        f"expecting {self.n_features_in_} features as input."
                    )
                if not _same_names(names, getattr(self, "feature_names_in_", None)):
                    raise ValueError(
                        "The feature names should match those that were passed during fit."
                    )
                state = self.moments_.copy().merge(state)
            scores, pvalues = _scores(state, n_features)
            self.moments_ = state
            self.classes_ = state.classes_
            self.n_samples_seen_ = int(round(state.n_samples))
            self.scores_, self.pvalues_ = scores, pvalues
            self.n_features_in_ = n_features
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        if first:
            self._warn_k()

    def _warn_k(self):
        if self.mode == "k_best" and self.k != "all" and self.k > self.n_features_in_:
            warnings.warn(
                f"k={self.k} is greater than n_features={self.n_features_in_}. "
                "All the features will be returned."
            )

    # ------------------------------------------------------------------ merging
    def merge(self, other):
        """Combine with a screener fitted on other data (in place); returns ``self``.

        The result is identical to a single fit on both parts of the data. Only the fitted
        state is taken from ``other``; this screener's parameters (``k``, ``mode``,
        ``alpha``, ...) are kept. A rejected merge leaves ``self`` unchanged.

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
        theirs, n_features, names = other._snapshot()
        mine = self._snapshot()
        if mine is not None:
            if n_features != mine[1]:
                raise ValueError(f"Cannot merge: {n_features} features vs {mine[1]}.")
            if not _same_names(names, mine[2]):
                raise ValueError("Cannot merge screeners fitted on different feature names.")
        state = theirs.copy()  # the two screeners never share arrays
        self._commit(state, n_features, None if names is None else names.copy(), replace=False)
        return self

    # ------------------------------------------------------------------ selection
    def _get_support_mask(self):
        check_is_fitted(self, "moments_")
        _check_two_classes(self.moments_, fitting=False)
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
