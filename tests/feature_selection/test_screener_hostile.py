"""OnlineFClassifScreener used as a careless or hostile user would (issue 11).

Every test here names the failure it guards against: a constant feature selected, a merge
that takes the other screener's parameters, a rejected fit that destroys the earlier one,
labels of two types merged as strings, CSR duplicates counted once, batches lost to threads.
"""

import pickle
import sys
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.feature_selection import (
    SelectFdr,
    SelectFpr,
    SelectFwe,
    SelectKBest,
    SelectPercentile,
    f_classif,
)

from skscreen import OnlineFClassifScreener
from skscreen.stats import ClassMoments


def _data(n=500, p=20):
    return make_classification(
        n_samples=n,
        n_features=p,
        n_informative=5,
        n_redundant=0,
        n_classes=3,
        shuffle=False,
        random_state=0,
    )


def _fitted_state(s):
    return (
        pickle.dumps(s.moments_),
        s.scores_.copy(),
        s.n_samples_seen_,
        s.n_features_in_,
        s.classes_.copy(),
    )


def _assert_same_state(s, before):
    after = _fitted_state(s)
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])
    assert after[2:4] == before[2:4]
    np.testing.assert_array_equal(after[4], before[4])


# ---------------------------------------------------------------- NaN (constant) features
def test_fdr_alpha_one_drops_the_constant_feature_like_select_fdr():
    X = np.array([[0, 1, 0], [0, -1, -1], [0, 0.5, 0.5]])
    y = np.array([1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SelectFdr(f_classif, alpha=1).fit(X, y).get_support()
        ours = OnlineFClassifScreener(mode="fdr", alpha=1).fit(X, y).get_support()
    np.testing.assert_array_equal(ref, [False, True, True])
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize(
    "kw,ref",
    [
        ({"mode": "k_best", "k": "all"}, SelectKBest(f_classif, k="all")),
        ({"mode": "k_best", "k": 4}, SelectKBest(f_classif, k=4)),
        ({"mode": "percentile", "percentile": 100}, SelectPercentile(f_classif, percentile=100)),
        ({"mode": "percentile", "percentile": 80}, SelectPercentile(f_classif, percentile=80)),
        ({"mode": "fpr", "alpha": 1}, SelectFpr(f_classif, alpha=1)),
        ({"mode": "fdr", "alpha": 1}, SelectFdr(f_classif, alpha=1)),
        ({"mode": "fwe", "alpha": 1}, SelectFwe(f_classif, alpha=1)),
    ],
)
def test_constant_features_are_selected_exactly_where_scikit_learn_selects_them(kw, ref):
    # issue 11 dropped nan-score features in every mode; issue 19: scikit-learn's rule in
    # every mode (k="all" and percentile=100 keep everything; k_best and percentile rank nan
    # lowest, so they take a constant feature only to fill their count, k_best the last of
    # the tied ones and percentile the first; p-value rules never)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    X[:, [1, 3]] = 7.0  # constant: F is nan
    y = np.repeat([0, 1], 30)
    X[y == 1, 0] += 2.0
    with pytest.warns(UserWarning, match="constant"):
        s = OnlineFClassifScreener(**kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ref.fit(X, y).get_support()
    assert np.isnan(s.scores_[[1, 3]]).all()
    np.testing.assert_array_equal(s.get_support(), expected)
    kept_constant = {"all": [1, 3], 100: [1, 3], 4: [3], 80: [1]}.get(
        kw.get("k", kw.get("percentile")), []
    )
    np.testing.assert_array_equal(
        np.flatnonzero(s.get_support() & np.isnan(s.scores_)), kept_constant
    )


def test_all_scores_nan_warns_and_selects_as_select_k_best():
    X, y = _data()
    with pytest.warns(UserWarning, match="All F-scores are nan.*more samples than classes"):
        s = OnlineFClassifScreener(k=3).fit(X[:2], [0, 1])
    assert np.isnan(s.scores_).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SelectKBest(f_classif, k=3).fit(X[:2], [0, 1])
    assert np.isnan(ref.scores_).all()
    # every score ties at the bottom: the stable sort keeps the last three (scikit-learn's)
    np.testing.assert_array_equal(s.get_support(), ref.get_support())
    np.testing.assert_array_equal(s.get_support(indices=True), [17, 18, 19])


# ---------------------------------------------------------------- merge
def test_merge_keeps_its_own_parameters():
    X, y = _data()
    other = OnlineFClassifScreener(mode="fdr", alpha=0.5).fit(X, y)
    s = OnlineFClassifScreener(k=3).merge(other)
    assert s.get_params() == OnlineFClassifScreener(k=3).get_params()
    assert s.get_support().sum() == 3
    np.testing.assert_array_equal(s.scores_, other.scores_)
    # the copy shares nothing with other: growing one leaves the other alone
    s.partial_fit(X[:50], y[:50])
    assert other.n_samples_seen_ == 500 and s.n_samples_seen_ == 550


def test_merge_into_fitted_keeps_parameters_and_strict_classes():
    X, y = _data()
    a = OnlineFClassifScreener(k=2).partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    b = OnlineFClassifScreener(k=7).fit(X[100:], y[100:])
    a.merge(b)
    assert a.k == 2 and a.n_samples_seen_ == 500
    np.testing.assert_allclose(a.scores_, f_classif(X, y)[0], rtol=1e-10)
    with pytest.raises(ValueError, match="not in classes"):
        a.partial_fit(X[:5], np.full(5, 9))


def test_class_moments_merge_into_empty_keeps_strict_classes():
    X, y = _data()
    empty = ClassMoments(classes=[0, 1, 2, 3])
    empty.merge(ClassMoments().update(X, y))
    assert empty.strict_classes
    np.testing.assert_array_equal(empty.classes_, [0, 1, 2, 3])
    np.testing.assert_array_equal(empty.count_, np.r_[np.bincount(y), 0])
    with pytest.raises(ValueError, match="not in classes"):
        ClassMoments(classes=[0, 1]).merge(ClassMoments().update(X, y))


def test_rejected_merge_leaves_self_unchanged():
    X, y = _data()
    a = OnlineFClassifScreener().fit(X, y)
    before = _fitted_state(a)
    with pytest.raises(ValueError, match="features"):
        a.merge(OnlineFClassifScreener().fit(X[:, :5], y))
    with pytest.raises(ValueError, match="string labels.*number labels"):
        a.merge(OnlineFClassifScreener().fit(X, y.astype(str)))
    _assert_same_state(a, before)


# ---------------------------------------------------------------- validate, then commit
@pytest.mark.parametrize("bad", ["nan", "one_class", "width", "continuous"])
def test_rejected_fit_leaves_the_earlier_fit_intact(bad):
    X, y = _data()
    s = OnlineFClassifScreener().fit(X, y)
    before = _fitted_state(s)
    Xb, yb = X[:100].copy(), y[:100].copy()
    if bad == "nan":
        Xb[5, 5] = np.nan
    elif bad == "one_class":
        yb[:] = 1
    elif bad == "width":
        Xb = Xb[:, :4]  # a fit may change the width; make it fail on the labels too
        yb = yb + 0.5
    elif bad == "continuous":
        yb = yb + 0.25
    with pytest.raises(ValueError):
        s.fit(Xb, yb)
    _assert_same_state(s, before)
    np.testing.assert_allclose(s.transform(X), X[:, s.get_support()])


def test_rejected_one_class_fit_leaves_no_rows_behind():
    X, y = _data()
    s = OnlineFClassifScreener()
    with pytest.raises(ValueError, match="at least 2 classes"):
        s.fit(X[:5], np.zeros(5))
    assert not hasattr(s, "moments_") and not hasattr(s, "n_features_in_")
    s.partial_fit(X[:50], y[:50])
    assert s.n_samples_seen_ == 50


def test_partial_fit_after_fit_continues_the_state():
    X, y = _data()
    s = OnlineFClassifScreener().fit(X[:200], y[:200])
    s.partial_fit(X[200:], y[200:])
    assert s.n_samples_seen_ == 500
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-10)
    assert "continue" in OnlineFClassifScreener.partial_fit.__doc__


# ---------------------------------------------------------------- label types
def test_string_then_integer_labels_are_refused():
    X, y = _data()
    s = OnlineFClassifScreener().partial_fit(X[:100], y[:100].astype(str))
    before = _fitted_state(s)
    with pytest.raises(ValueError, match=r"number labels.*string labels.*one label type"):
        s.partial_fit(X[100:200], y[100:200])
    _assert_same_state(s, before)
    np.testing.assert_array_equal(s.classes_, ["0", "1", "2"])


def test_merging_string_and_integer_label_states_is_refused():
    X, y = _data()
    a = ClassMoments().update(X[:100], y[:100].astype(str))
    b = ClassMoments().update(X[100:], y[100:])
    before = pickle.dumps(a)
    with pytest.raises(ValueError, match="number labels.*string labels"):
        a.merge(b)
    assert pickle.dumps(a) == before


# ---------------------------------------------------------------- sparse duplicates
def test_csr_duplicate_entries_are_summed():
    rng = np.random.default_rng(1)
    n, p = 40, 6
    rows = np.repeat(np.arange(n), 4)
    cols = rng.integers(0, p, size=rows.size)  # several entries per cell
    vals = rng.normal(size=rows.size)
    X = sp.csr_matrix((vals, cols, np.arange(0, rows.size + 1, 4)), shape=(n, p))
    assert not X.has_canonical_format
    y = np.arange(n) % 2
    dense = X.toarray()  # sums duplicates
    s = OnlineFClassifScreener(k="all").fit(X, y)
    np.testing.assert_allclose(s.scores_, f_classif(dense, y)[0], rtol=1e-10)
    assert X.nnz == rows.size  # the caller's matrix is not modified
    csc = OnlineFClassifScreener(k="all").fit(sp.csc_matrix(X), y)
    np.testing.assert_allclose(csc.scores_, s.scores_, rtol=1e-12)


# ---------------------------------------------------------------- threads
def test_two_threads_partial_fit_lose_no_batch():
    # wide batches: the old unguarded update lost ~5-50 % of them in this setting
    X, y = _data(n=2000, p=200)
    s = OnlineFClassifScreener()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    errors = []

    def feed(lo, hi):
        try:
            for a in range(lo, hi, 25):
                s.partial_fit(X[a : a + 25], y[a : a + 25], classes=[0, 1, 2])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=feed, args=(i * 500, (i + 1) * 500)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors
    assert s.n_samples_seen_ == 2000
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-9)


def test_lock_is_not_pickled_or_cloned():
    X, y = _data()
    s = OnlineFClassifScreener(k=4).partial_fit(X, y)
    assert "_state_lock" in s.__dict__
    s2 = pickle.loads(pickle.dumps(s))
    assert "_state_lock" not in s2.__dict__
    s2.partial_fit(X[:10], y[:10])  # a fresh lock is made on use
    assert s2.n_samples_seen_ == 510
    assert "_state_lock" not in clone(s).__dict__


def test_csr_duplicates_documented_example():
    # docs/screening.rst: scikit-learn's f_classif gets this one wrong (F = -2)
    X = sp.csr_matrix(
        (np.array([1.0, 1.0, 2.0, 3.0, 1.0]), np.zeros(5, dtype=int), np.array([0, 2, 3, 4, 5])),
        shape=(4, 1),
    )
    y = [0, 1, 0, 1]
    assert f_classif(X.toarray(), y)[0][0] == pytest.approx(2.0)
    s = OnlineFClassifScreener(k="all").fit(X, y)
    assert s.scores_[0] == pytest.approx(2.0, rel=1e-12)
