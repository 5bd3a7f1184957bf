"""OnlineFClassifScreener: streaming, exact and mergeable ANOVA F feature screening."""

from __future__ import annotations

import threading
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin, f_classif
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from skscreen.feature_selection._selection_rules import MODES, support_mask
from skscreen.stats import ClassMoments, anova_f
from skscreen.stats._moments import _label_kind, combined_classes, unique_labels

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


def check_labels(y):
    """scikit-learn's ``SelectKBest(f_classif)`` rule for 1-D labels ``y``.

    Each distinct value is a class, non-integer floats included (``f_classif`` groups the
    samples by ``np.unique(y)``); NaN and inf are refused with scikit-learn's message
    ("Input y contains NaN."); labels that are not classes at all (multilabel, mixed
    objects) with ``check_classification_targets``' message.
    """
    if y.dtype.kind in "iu":  # integer labels are always valid classes
        return
    with np.errstate(invalid="ignore"):  # NaN cast to int while testing integrality
        kind = type_of_target(y, input_name="y")  # NaN/inf: ValueError here
    if kind != "continuous":
        check_classification_targets(y)


def _numeric_objects(y):
    """An object array of numbers (a pandas object column of ints) as a numeric array, as
    ``np.unique`` groups them for ``f_classif``; anything else unchanged."""
    if y.dtype != object or not y.size:
        return y
    numeric = np.asarray(y.tolist())
    return numeric if numeric.dtype.kind in "biuf" else y


def _check_classes_arg(classes):
    """``partial_fit``'s ``classes``: NaN or infinity is no class (refused up front)."""
    if classes is None:
        return
    values = _numeric_objects(np.asarray(classes).ravel())
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(
            f"classes contains NaN or infinity ({values.tolist()!r}): every class must be "
            "a label that can appear in y."
        )


def _later_classes(moments, classes):
    """The classes a later ``partial_fit`` call gives, checked against the state.

    A state whose classes were given keeps them: ``classes`` must be the same set (as
    scikit-learn's ``partial_fit``). A state without given classes takes ``classes`` if they
    contain every class seen so far (returned, to be adopted); otherwise ``ValueError``.
    Returns ``None`` when there is nothing to adopt.
    """
    given = np.unique(np.asarray(classes))
    seen = np.asarray([] if moments.classes_ is None else moments.classes_)
    if moments.strict_classes:
        if not np.array_equal(given, seen):
            raise ValueError(
                f"classes={given.tolist()!r} is not the same as on an earlier call to "
                f"partial_fit ({seen.tolist()!r})."
            )
        return None
    if seen.size and (_label_kind(given) != _label_kind(seen) or np.setdiff1d(seen, given).size):
        raise ValueError(
            f"classes={given.tolist()!r} does not contain every class seen so far "
            f"({seen.tolist()!r}); classes must list every label that will ever appear."
        )
    return given


def _scores(moments, n_features):
    """``(scores, pvalues, warning)`` of a state; the warning is a message or None.

    Nothing is emitted here: the caller caches the scores, then warns (so that a warnings
    filter set to "error" cannot leave the cache half made).
    """
    present = 0 if moments.count_ is None else int(np.count_nonzero(moments.count_))
    if present >= 2 and moments.n_samples > present:
        f, p = anova_f(moments, warn_constant=False)
        constant = np.flatnonzero(np.isnan(f))
        # scikit-learn's message (f_classif), about all the data seen so far
        return f, p, (f"Features {constant} are constant." if constant.size else None)
    nan = np.full(n_features, np.nan)
    message = None
    if present >= 2:
        message = (
            f"All F-scores are nan: {moments.n_samples:g} samples of {present} classes; the "
            "F-test needs more samples than classes (scikit-learn's selectors rank nan "
            "scores last, and so does this one)."
        )
    return nan, nan.copy(), message


# the parameter each mode reads, and its default (SelectKBest, SelectPercentile, SelectFpr...)
_PARAM_OF_MODE = {
    "k_best": "k",
    "percentile": "percentile",
    "fpr": "alpha",
    "fdr": "alpha",
    "fwe": "alpha",
}
_DEFAULTS = {"k": 10, "percentile": 10, "alpha": 0.05}
_MODES_OF_PARAM = {"k": "'k_best'", "percentile": "'percentile'", "alpha": "'fpr', 'fdr' or 'fwe'"}


def _settings(given):
    return " and ".join(f"{name}={value!r}" for name, value in given.items())


class OnlineFClassifScreener(SelectorMixin, BaseEstimator):
    """Select features by the ANOVA F-test, fitted batch by batch and mergeable.

    Keeps per-class sufficient statistics (count, mean, centred sum of squares per
    feature, float64) instead of the data, so it can be fitted with :meth:`partial_fit`
    on data larger than memory, on the blocks of a Dask collection in parallel, or on
    separate machines whose screeners are then combined with :meth:`merge`. The scores
    equal :func:`sklearn.feature_selection.f_classif` on all the data seen, whatever the
    chunking, and stay exact where ``f_classif`` loses precision (features with a large
    offset relative to their spread).

    The selection is scikit-learn's, rule for rule and edge for edge (``k="all"``,
    ``k`` above the number of features, ``percentile`` 0 and 100, ``nan`` and ``inf``
    scores, ties): a screener with ``k=5`` selects what ``SelectKBest(f_classif, k=5)``
    selects, one with ``percentile=10`` what ``SelectPercentile(f_classif,
    percentile=10)`` selects, and so on for ``GenericUnivariateSelect``'s modes.

    Parameters
    ----------
    score_func : callable, default=f_classif
        Accepted so that scikit-learn code runs unchanged
        (``OnlineFClassifScreener(f_classif, k=4)``, as ``SelectKBest(f_classif, k=4)``);
        it must be :func:`sklearn.feature_selection.f_classif`, the only score the
        streaming statistics give. Any other function is refused at fit time with a
        ``ValueError`` (use scikit-learn's selector with that function instead).
    mode : {"k_best", "percentile", "fpr", "fdr", "fwe"}, default=None
        Selection rule, as in :class:`~sklearn.feature_selection.GenericUnivariateSelect`.
        ``None`` follows the parameter given: ``percentile`` set means ``"percentile"``
        (``SelectPercentile``), otherwise ``"k_best"`` (``SelectKBest``; ``k=10`` when
        nothing is set). ``alpha`` alone is refused (which of fpr, fdr, fwe is meant is not
        known: name the mode), and so are ``k`` and ``percentile`` together. With a mode
        given, setting another mode's parameter is refused (it would be ignored).
        ``GenericUnivariateSelect(mode=m, param=v)`` is ``OnlineFClassifScreener(mode=m,
        k=v)`` (or ``percentile=v``, ``alpha=v``).
    k : int or "all", default=None
        Number of top features kept in ``"k_best"`` mode (10 when not set), as
        ``SelectKBest``: ``"all"`` keeps every feature, constant ones included; a ``k``
        larger than the number of features warns at fit time and keeps every feature.
    percentile : float, default=None
        Percent of features kept in ``"percentile"`` mode (10 when not set).
    alpha : float, default=None
        Threshold of the ``"fpr"``, ``"fdr"`` and ``"fwe"`` modes (0.05 when not set).

    Attributes
    ----------
    scores_ : ndarray of shape (n_features,)
        F-scores of all the data seen. A constant feature scores ``nan`` and ranks last
        (as in scikit-learn); a feature constant within every class but separating them
        scores ``inf`` and ranks first. All scores are ``nan`` until more samples than
        classes are seen. Computed when first needed after a change of the statistics
        (reading ``scores_`` or ``pvalues_``, ``get_support``, ``transform``; at once by
        :meth:`fit`), and then the warnings are given, once, about all the data seen so
        far: scikit-learn's "Features [...] are constant." (not repeated while the same
        features stay constant over further :meth:`partial_fit` calls), or that all
        scores are ``nan``.
    pvalues_ : ndarray of shape (n_features,)
        p-values of the F-scores.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen (or given to :meth:`partial_fit`).
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
    sklearn.feature_selection.GenericUnivariateSelect : the same modes, in memory.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.feature_selection import f_classif
    >>> from skscreen import OnlineFClassifScreener
    >>> X, y = load_digits(return_X_y=True)
    >>> screener = OnlineFClassifScreener(k=20)
    >>> for start in range(0, len(X), 500):
    ...     _ = screener.partial_fit(X[start:start + 500], y[start:start + 500])
    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     X_small = screener.transform(X)  # the scores are computed here: one warning
    >>> X_small.shape, [str(w.message) for w in caught]
    ((1797, 20), ['Features [ 0 32 39] are constant.'])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     f_ref, _ = f_classif(X, y)
    >>> bool(np.allclose(screener.scores_, f_ref, rtol=1e-10, equal_nan=True))
    True

    scikit-learn's parameters mean what they mean there (here ``SelectPercentile``'s):

    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the constant pixels, warned about by fit
    ...     int(OnlineFClassifScreener(f_classif, percentile=25).fit(X, y).get_support().sum())
    16
    """

    _parameter_constraints: dict = {
        "score_func": [callable],
        "mode": [StrOptions(set(MODES)), None],
        "k": [StrOptions({"all"}), Interval(Integral, 0, None, closed="left"), None],
        "percentile": [Interval(Real, 0, 100, closed="both"), None],
        "alpha": [Interval(Real, 0, 1, closed="both"), None],
    }

    def __init__(self, score_func=f_classif, *, mode=None, k=None, percentile=None, alpha=None):
        self.score_func = score_func
        self.mode = mode
        self.k = k
        self.percentile = percentile
        self.alpha = alpha

    # ------------------------------------------------------------------ parameters
    def _selection(self):
        """``(mode, value of its parameter)``: the mode given, or the one implied.

        Raises ``ValueError`` where the parameters are ambiguous or one would be ignored.
        """
        given = {}
        for name in ("k", "percentile", "alpha"):
            value = getattr(self, name)
            if value is not None:
                given[name] = value
        mode = self.mode
        if mode is None:
            if "alpha" in given:
                raise ValueError(
                    f"{_settings(given)} without a mode: alpha is the threshold of "
                    "mode='fpr', 'fdr' or 'fwe' (as SelectFpr, SelectFdr, SelectFwe); "
                    "name one, e.g. OnlineFClassifScreener(mode='fdr', "
                    f"alpha={given['alpha']!r})."
                )
            if len(given) > 1:
                raise ValueError(
                    f"{_settings(given)}: set one of them (k: the k best features, as "
                    "SelectKBest; percentile: as SelectPercentile), or name the mode."
                )
            mode = "percentile" if "percentile" in given else "k_best"
        name = _PARAM_OF_MODE[mode]
        ignored = {n: v for n, v in given.items() if n != name}
        if ignored:
            hint = " or ".join(_MODES_OF_PARAM[n] for n in ignored)
            raise ValueError(
                f"mode={mode!r} selects by {name}, but {_settings(ignored)} is also set and "
                f"would be ignored: remove it, or use mode={hint}."
            )
        return mode, given.get(name, _DEFAULTS[name])

    def _check_params(self):
        """The checks a fit runs before any work: score_func and the mode's parameters.

        Each parameter's type and range first (scikit-learn's ``InvalidParameterError``):
        ``fit`` has them checked by ``_fit_context``, which skips ``partial_fit`` on a fitted
        estimator; here ``partial_fit`` is the refit after ``set_params``, and
        ``get_support``/``transform`` select with the parameters of the moment, so every
        one of them checks (``_fit_context`` sets ``skip_parameter_validation`` inside the
        methods it wraps, so the check cannot follow that setting).
        """
        self._validate_params()
        if self.score_func is not f_classif:
            name = getattr(self.score_func, "__name__", repr(self.score_func))
            raise ValueError(
                f"score_func={name} is not supported: OnlineFClassifScreener computes the "
                "ANOVA F-test of sklearn.feature_selection.f_classif from streaming "
                "statistics, and no other score. Leave score_func out (or pass f_classif), "
                f"or use scikit-learn's selector, e.g. SelectKBest({name}, k=...)."
            )
        return self._selection()

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Accumulate all of ``(X, y)`` into a fresh state that replaces the current one.

        ``X`` may be a numpy array, a scipy.sparse matrix, a pandas DataFrame, or a Dask
        array / DataFrame (blocks are reduced in parallel on the active Dask scheduler).
        Everything is validated and the new state built before anything is replaced: a
        rejected ``fit`` (bad values, one class, parameters that contradict each other)
        leaves an earlier fit exactly as it was. The scores are computed at once, with
        ``SelectKBest.fit``'s warnings (constant features; ``k`` greater than the number of
        features).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels; at least two distinct classes.

        Returns
        -------
        self : OnlineFClassifScreener
        """
        self._check_params()
        if _is_dask(X) or _is_dask(y):
            from skscreen.feature_selection._dask import dask_state

            state, n_features, names = dask_state(X, y)
        else:
            state, n_features, names = self._batch_state(X, y, None, classes=None)
        _check_two_classes(state, fitting=True)
        self._commit(state, n_features, names, replace=True)
        # all the data at once: score now, so that fit warns as SelectKBest.fit does
        self._scored()
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Fold a batch into the statistics.

        The first call on an unfitted screener starts the state; later calls, including
        the first one after :meth:`fit`, continue it (as scikit-learn's ``partial_fit``:
        call :meth:`fit` or make a new screener to start again). Once ``classes`` is given,
        later labels outside it are an error; until then new labels extend the state. A
        batch that is rejected (NaN/inf, wrong number of features,
        bad labels, labels of another type than before) raises ``ValueError`` and leaves
        the state exactly as it was.

        Several threads may call ``partial_fit`` (and :meth:`merge`) on one screener at
        the same time: each batch's statistics are computed without a lock and folded in
        under one, so no batch is lost.

        The scores are not computed here but when next needed (``scores_``,
        ``get_support``, ``transform``), once for all the batches folded in by then; the
        warnings about them (constant features) come then and are about all the data seen,
        not about one batch. The "k is greater than n_features" warning comes once, on the
        first call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All the labels that will ever appear. It may be passed on every call (as
            scikit-learn's ``partial_fit`` idiom does) but not changed. A stream started
            without it (or by :meth:`fit`) takes it on a later call if it contains every
            class seen so far; otherwise that call is refused, naming those classes.

        Returns
        -------
        self : OnlineFClassifScreener
        """
        self._check_params()
        _check_classes_arg(classes)
        snapshot = self._snapshot()
        adopt = None  # classes given for the first time on a continued state
        if snapshot is not None and classes is not None:
            adopt = _later_classes(snapshot[0], classes)
        state, n_features, names = self._batch_state(X, y, snapshot, classes=classes, adopt=adopt)
        self._commit(state, n_features, names, replace=False, adopt=adopt)
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
        y = _numeric_objects(column_or_1d(y, warn=True))
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}.")
        check_labels(y)
        return X, y, probe.n_features_in_, getattr(probe, "feature_names_in_", None)

    def _batch_state(self, X, y, snapshot, *, classes, adopt=None):
        """Validate a batch and compute its statistics on the side (nothing is modified).

        On a continued state the batch uses the state's per-feature shift, so that folding
        it in is the same arithmetic as a direct update. ``adopt``: the classes a later
        call gives to a state that had none (the batch's labels must be among them).
        """
        X, y, n_features, names = self._validate(X, y, snapshot)
        labels = unique_labels(y)
        if adopt is not None:
            known, strict = adopt, True
            unknown = (
                np.setdiff1d(labels, adopt) if _label_kind(labels) == _label_kind(adopt) else labels
            )
            if unknown.size:
                raise ValueError(
                    f"y contains labels {unknown.tolist()!r} that are not in classes "
                    f"{adopt.tolist()!r}."
                )
        elif snapshot is None:
            known = None if classes is None else np.unique(np.asarray(classes))
            strict = classes is not None
        else:
            known, strict = snapshot[0].classes_, snapshot[0].strict_classes
        # the unknown-label and label-type rule, before any work
        combined_classes(known, labels, strict=strict)
        state = ClassMoments(known if strict else None)
        if snapshot is not None and snapshot[0].shift_ is not None:
            state.shift_ = np.array(snapshot[0].shift_, dtype=np.float64)
        state.update(X, y)
        return state, n_features, names

    def _commit(self, state, n_features, names, *, replace, adopt=None):
        """Make ``state`` (``replace``) or the current state merged with it the fitted state.

        Every check runs and every fitted attribute is computed before the first one is
        set; under the lock, so concurrent callers never lose each other's batches.
        ``adopt``: classes that a state without given classes takes from now on (a later
        ``partial_fit(..., classes=...)``); its own labels must be among them.
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
                current = self.moments_
                if adopt is not None and not current.strict_classes:
                    # a copy on the classes given, strict from now on; refused (nothing set)
                    # if another thread's batch brought a label outside them meanwhile
                    current = ClassMoments(adopt).merge(current)
                else:
                    current = current.copy()
                state = current.merge(state)
            self.moments_ = state
            self.classes_ = state.classes_
            self.n_samples_seen_ = int(round(state.n_samples))
            self.n_features_in_ = n_features
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            if replace:  # a new fit: its warnings are new
                self.__dict__.pop("_warned", None)
        if first:
            self._warn_k()

    def _warn_k(self):
        mode, k = self._selection()
        if mode == "k_best" and k != "all" and k > self.n_features_in_:
            # SelectKBest's warning, word for word
            warnings.warn(
                f"k={k} is greater than n_features={self.n_features_in_}. "
                "All the features will be returned."
            )

    # ------------------------------------------------------------------ scores
    def _scored(self):
        """``(scores, pvalues)`` of the current state, computed once per state.

        The warnings about the scores (constant features, all scores ``nan``) are given
        here, about all the data seen so far, and a warning already given by this screener
        since its last :meth:`fit` is not repeated.
        """
        check_is_fitted(self, "moments_")
        with self._lock():
            state = self.moments_
            cache = self.__dict__.get("_score_cache")
            if cache is not None and cache[0] is state:
                return cache[1], cache[2]
            scores, pvalues, message = _scores(state, self.n_features_in_)
            self._score_cache = (state, scores, pvalues)
            if message is not None and self.__dict__.get("_warned") == message:
                message = None
            elif message is not None:
                self._warned = message
        if message is not None:
            warnings.warn(message, UserWarning, stacklevel=3)
        return scores, pvalues

    @property
    def scores_(self):
        return self._scored()[0]

    @property
    def pvalues_(self):
        return self._scored()[1]

    # ------------------------------------------------------------------ merging
    def merge(self, other):
        """Combine with a screener fitted on other data (in place); returns ``self``.

        The result is identical to a single fit on both parts of the data. Only the fitted
        state is taken from ``other``; this screener's parameters (``k``, ``mode``,
        ``alpha``, ...) are kept. A rejected merge leaves ``self`` unchanged.

        Merging a screener with itself (or with a shallow copy sharing its statistics) is
        refused with a ``ValueError``: its data would be counted twice. In a loop that
        merges parts into an accumulator, leave the accumulator out of the parts.

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
        self._check_params()
        theirs, n_features, names = other._snapshot()
        mine = self._snapshot()
        if other is self or (mine is not None and mine[0] is theirs):
            raise ValueError(
                "Cannot merge a screener with itself (or with a copy that shares its "
                "statistics): that data would be counted twice. Merge only screeners fitted "
                "on other data; in a loop over parts, skip the accumulator."
            )
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
        mode, value = self._check_params()  # parameters may have changed since fit
        _check_two_classes(self.moments_, fitting=False)
        scores, pvalues = self._scored()
        params = {"k": None, "percentile": None, "alpha": None, _PARAM_OF_MODE[mode]: value}
        return support_mask(scores, pvalues, mode=mode, **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
