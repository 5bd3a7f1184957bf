"""Selection rules on data built so that plausible bugs show.

The digits data of ``test_screener.py`` has no p-value between ``alpha / n`` and ``alpha``, so
fpr, fdr and fwe select the same features there. The data below is built so that the three
rules disagree (each test first asserts that the data still has that property, so it cannot
silently become vacuous) and the percentile threshold falls on tied scores. Constant
features (NaN scores) are selected exactly where scikit-learn selects them.
"""

import warnings

import numpy as np
import pytest
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

ALPHA = 0.05


def _graded_data():
    """40 features whose class-0 shift grows linearly: p-values from 1e-10 to ~1."""
    rng = np.random.default_rng(0)
    n = 300
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 40)) + np.outer(y == 0, np.linspace(0.0, 0.6, 40))
    return X, y


def _chunked(screener, X, y, size=70):
    for a in range(0, len(y), size):
        screener.partial_fit(X[a : a + size], y[a : a + size], classes=np.unique(y))
    return screener


def _bh_count(p, alpha):
    """Benjamini-Hochberg, written out: the largest i with p_(i) <= alpha * i / n."""
    n = len(p)
    sv = np.sort(p)
    ok = np.flatnonzero(sv <= alpha * np.arange(1, n + 1) / n)
    return 0 if ok.size == 0 else int(ok[-1] + 1)


def test_graded_data_separates_the_three_p_value_rules():
    X, y = _graded_data()
    p = f_classif(X, y)[1]
    n = len(p)
    n_fwe, n_fdr, n_fpr = (p < ALPHA / n).sum(), _bh_count(p, ALPHA), (p < ALPHA).sum()
    # the property the rule tests rely on: strictly nested, distinct selections
    assert 0 < n_fwe < n_fdr < n_fpr < n
    assert ((p > ALPHA / n) & (p < ALPHA)).sum() >= 5


@pytest.mark.parametrize(
    "mode,ref",
    [
        ("fwe", SelectFwe(f_classif, alpha=ALPHA)),
        ("fdr", SelectFdr(f_classif, alpha=ALPHA)),
        ("fpr", SelectFpr(f_classif, alpha=ALPHA)),
    ],
)
def test_p_value_rules_match_sklearn_where_they_differ(mode, ref):
    X, y = _graded_data()
    ours = _chunked(OnlineFClassifScreener(mode=mode, alpha=ALPHA), X, y)
    expected = ref.fit(X, y).get_support()
    np.testing.assert_array_equal(ours.get_support(), expected)


def test_p_value_rules_exact_counts():
    # known truth written out independently of scikit-learn: Bonferroni and BH by hand
    X, y = _graded_data()
    p = f_classif(X, y)[1]
    n = len(p)
    for mode, count in [
        ("fwe", (p < ALPHA / n).sum()),
        ("fdr", _bh_count(p, ALPHA)),
        ("fpr", (p < ALPHA).sum()),
    ]:
        ours = OnlineFClassifScreener(mode=mode, alpha=ALPHA).fit(X, y)
        assert ours.get_support().sum() == count, mode
        # every kept feature has a smaller p-value than every dropped one
        kept, dropped = p[ours.get_support()], p[~ours.get_support()]
        assert kept.max() < dropped.min()


def _tied_data():
    """10 features: 2 strong, 4 identical copies of a medium one, 4 weak (distinct).

    With ``percentile=40`` scikit-learn keeps ``int(10 * 0.4) = 4`` features: the 2 strong
    ones and the first 2 of the 4 tied copies, which sit exactly at the threshold.
    """
    rng = np.random.default_rng(1)
    n = 240
    y = np.arange(n) % 2
    noise = rng.normal(size=(n, 7))
    strong = noise[:, :2] + np.outer(y, [3.0, 2.5])
    medium = noise[:, 2] + 1.0 * y
    weak = noise[:, 3:] + np.outer(y, [0.05, 0.1, 0.15, 0.2])
    X = np.column_stack([weak[:, 0], strong[:, 0], medium, weak[:, 1], medium, medium])
    X = np.column_stack([X, strong[:, 1], medium, weak[:, 2], weak[:, 3]])
    return X, y


def test_percentile_ties_at_the_threshold_are_capped():
    X, y = _tied_data()
    f = f_classif(X, y)[0]
    threshold = np.percentile(f, 60)
    tied = np.flatnonzero(f == threshold)
    assert len(tied) == 4 and (f > threshold).sum() == 2  # the data's property
    ours = _chunked(OnlineFClassifScreener(mode="percentile", percentile=40), X, y, size=50)
    ref = SelectPercentile(f_classif, percentile=40).fit(X, y)
    np.testing.assert_array_equal(ours.get_support(), ref.get_support())
    assert ours.get_support().sum() == 4
    # the two strong features and the first two tied copies (index order)
    np.testing.assert_array_equal(ours.get_support(indices=True), [1, 2, 4, 6])


def test_k_best_ties_follow_sklearn():
    X, y = _tied_data()
    for k in (3, 4, 5):
        ours = OnlineFClassifScreener(k=k).fit(X, y)
        ref = SelectKBest(f_classif, k=k).fit(X, y)
        np.testing.assert_array_equal(ours.get_support(), ref.get_support())


# ---------------------------------------------------------------- boundaries, crafted values
def _sklearn_support(selector_cls, scores, pvalues, **params):
    """scikit-learn's selector on given (scores, p-values), through a fixed score_func."""
    sel = selector_cls(lambda X, y: (scores, pvalues), **params)
    return sel.fit(np.zeros((2, len(scores))), [0, 1]).get_support()


def _ours(scores, pvalues, **params):
    # the rules the screener dispatches to (exact numbers cannot be forced through data)
    from skscreen.feature_selection._selection_rules import support_mask

    kw = {"mode": "k_best", "k": 10, "percentile": 10, "alpha": 0.05, **params}
    return support_mask(scores, pvalues, **kw)


def test_p_value_rules_at_their_exact_thresholds():
    n, alpha = 10, 0.05
    bh = float(alpha) / n * np.arange(1, n + 1)  # scikit-learn's BH line, the same floats
    cases = {
        # p_(i) exactly on the BH line is kept (<=), just above it is not
        "fdr": np.r_[bh[:4], np.nextafter(bh[4], 1), [0.5] * 5],
        # Bonferroni: p = alpha / n exactly is not kept (<)
        "fwe": np.r_[alpha / n, np.nextafter(alpha / n, 0), [0.3] * 8],
        # fpr: p = alpha exactly is not kept (<)
        "fpr": np.r_[alpha, np.nextafter(alpha, 0), [0.3] * 8],
    }
    ref = {"fdr": SelectFdr, "fwe": SelectFwe, "fpr": SelectFpr}
    expected_counts = {"fdr": 4, "fwe": 1, "fpr": 1}
    for mode, p in cases.items():
        scores = 1.0 - p
        got = _ours(scores, p, mode=mode, alpha=alpha)
        np.testing.assert_array_equal(got, _sklearn_support(ref[mode], scores, p, alpha=alpha))
        assert got.sum() == expected_counts[mode], mode


@pytest.mark.parametrize("percentile", [0, 1, 50, 99, 100])
def test_percentile_extremes_and_distinct_scores_match_sklearn(percentile):
    rng = np.random.default_rng(2)
    scores = rng.permutation(200).astype(float) + 0.5  # distinct
    p = rng.random(200)
    got = _ours(scores, p, mode="percentile", percentile=percentile)
    ref = _sklearn_support(SelectPercentile, scores, p, percentile=percentile)
    np.testing.assert_array_equal(got, ref)
    assert got.dtype == bool and got.sum() == int(200 * percentile / 100)


def test_percentile_with_five_ties_at_the_threshold():
    # 2 above, 5 tied at the threshold, 3 below; 40 % of 10 = 4: the first two ties join
    scores = np.array([0.1, 5.0, 2.0, 2.0, 0.2, 2.0, 4.0, 2.0, 0.3, 2.0])
    got = _ours(scores, np.full(10, 0.5), mode="percentile", percentile=40)
    np.testing.assert_array_equal(np.flatnonzero(got), [1, 2, 3, 6])
    ref = _sklearn_support(SelectPercentile, scores, np.full(10, 0.5), percentile=40)
    np.testing.assert_array_equal(got, ref)


def test_ranking_order_inf_first_nan_last_ties_by_index():
    from skscreen.feature_selection._selection_rules import ranking_order

    order = ranking_order([1.0, np.nan, np.inf, 1.0, 3.0, -2.0])
    np.testing.assert_array_equal(order, [2, 4, 0, 3, 5, 1])


# ---------------------------------- NaN (constant) features, as scikit-learn selects them
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
    X, _ = make_classification(  # test_screener.py's data
        n_samples=500,
        n_features=20,
        n_informative=5,
        n_redundant=0,
        n_classes=3,
        shuffle=False,
        random_state=0,
    )
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
