"""The per-class pivot kernel: numba and numpy paths agree, exact on adversarial data,
values near float64's limits, non-finite input refused before any state change."""

import ast
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_selection import f_classif

from skscreen.stats import ClassMoments, _kernels, anova_f
from skscreen.stats._reference import exact_f_oneway as exact_f

try:
    import numba  # noqa: F401

    HAS_NUMBA = True
except ImportError:  # pragma: no cover - numba is an optional extra
    HAS_NUMBA = False

PATHS = [
    pytest.param(True, id="numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="no numba")),
    pytest.param(False, id="numpy"),
]


@pytest.fixture(params=PATHS)
def use_numba(request, monkeypatch):
    """Run a test on one kernel path (the module flag every update reads)."""
    monkeypatch.setattr(_kernels, "USE_NUMBA", request.param)
    return request.param


def _fit(X, y, chunk):
    m = ClassMoments()
    for a in range(0, len(y), chunk):
        m.update(X[a : a + chunk], y[a : a + chunk])
    return m


def _rel(a, b):
    return float(np.max(np.abs(a - b) / np.abs(b)))


# ---------------------------------------------------------------- the two paths agree
@pytest.mark.skipif(not HAS_NUMBA, reason="no numba")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_and_numpy_paths_agree_to_1e_12(dtype):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 3000)
    X = (rng.normal(size=(3000, 40)) * rng.uniform(0.1, 10, 40) + 3 * y[:, None]).astype(dtype)
    shift = X[0].astype(np.float64)
    pivot = rng.normal(size=(5, 40))
    known = np.array([True, False, True, False, True])
    out = [
        _kernels.dense_moments(X, y, 5, shift, pivot, known, None, use_numba=u)
        for u in (True, False)
    ]
    (cnt_a, mean_a, m2_a), (cnt_b, mean_b, m2_b) = out[0][:3], out[1][:3]
    assert np.array_equal(cnt_a, cnt_b)
    np.testing.assert_allclose(mean_a, mean_b, rtol=1e-12, atol=0)
    np.testing.assert_allclose(m2_a, m2_b, rtol=1e-12, atol=0)
    # and the states built through ClassMoments on each path
    states = []
    flag = _kernels.USE_NUMBA
    for u in (True, False):
        _kernels.USE_NUMBA = u
        try:
            states.append(_fit(X, y, 700))
        finally:
            _kernels.USE_NUMBA = flag
    np.testing.assert_allclose(anova_f(states[0])[0], anova_f(states[1])[0], rtol=1e-12)


def test_no_numba_environment_variable_selects_the_numpy_path():
    code = "from skscreen.stats._kernels import active_path; print(active_path())"
    env = {**os.environ, "SKSCREEN_NO_NUMBA": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "numpy", out.stderr


def test_active_path_follows_the_flag(monkeypatch):
    monkeypatch.setattr(_kernels, "USE_NUMBA", False)
    assert _kernels.active_path() == "numpy"
    monkeypatch.setattr(_kernels, "USE_NUMBA", True)
    assert _kernels.active_path() == ("numba" if HAS_NUMBA else "numpy")
    monkeypatch.setattr(_kernels, "USE_NUMBA", "no")
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        _kernels.active_path()


# ---------------------------------------------------------------- "auto": numba where it pays
_AUTO = """
import sys, numpy as np
from skscreen.stats import _kernels, ClassMoments
assert _kernels.USE_NUMBA == "auto"
_kernels.NUMBA_AFTER_VALUES = {budget}
rng = np.random.default_rng(0)
paths = []
for n in {rows}:
    X, y = rng.normal(size=(n, 50)), rng.integers(0, 3, n)
    paths.append(_kernels.active_path(X.size))
    ClassMoments().update(X, y)
    paths.append("numba" in sys.modules)
print(paths)
"""


def _auto_paths(budget, rows):
    code = _AUTO.format(budget=budget, rows=list(rows))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip())  # a list of str and bool, printed above


def test_auto_never_loads_numba_for_small_work():
    # 300 chunks of 1000 x 50 = 1.5e7 values, far below the default budget (2^27)
    paths = _auto_paths(2**27, [1000] * 300)
    assert set(paths[0::2]) == {"numpy"} and not any(paths[1::2])


@pytest.mark.skipif(not HAS_NUMBA, reason="no numba")
def test_auto_loads_numba_once_the_numpy_path_has_done_its_share():
    # budget 120,000 values: chunks of 1000 x 50 -> the third chunk reaches it
    paths = _auto_paths(120_000, [1000] * 5)
    assert paths[0::2] == ["numpy", "numpy", "numba", "numba", "numba"]
    assert paths[1::2] == [False, False, True, True, True]
    # one chunk larger than the whole budget goes to numba at once
    assert _auto_paths(40_000, [1000])[0::2] == ["numba"]


def test_auto_without_numba_stays_on_numpy(monkeypatch):
    monkeypatch.setattr(_kernels, "USE_NUMBA", "auto")
    monkeypatch.setattr(_kernels, "NUMBA_AFTER_VALUES", 0)
    monkeypatch.setattr(_kernels, "_numba_sums", False)  # as after a failed import
    assert _kernels.active_path(10**9) == "numpy"
    X, y = _base()
    ClassMoments().update(X, y)  # the numpy path, no error


# ---------------------------------------------------------------- adversarial cases
def _adversarial(name, rng):
    n = 360
    y = rng.integers(0, 3, n)
    e = rng.normal(size=(n, 3))
    if name == "float32 mean 1e3 std 0.1":
        return (1e3 + 0.1 * e + 0.02 * y[:, None]).astype(np.float32), y
    if name == "float64 offset 1e8 std 1e-3":
        return 1e8 + 1e-3 * e + 2e-4 * y[:, None], y
    if name == "classes 1e4 sd apart":
        return 1e4 * y[:, None] + e + 0.1 * (y[:, None] == 1), y
    if name == "outlier first sample":
        X = 5.0 + 1e-3 * e + 1e-4 * y[:, None]
        X[0] = 5.0 + 1e3  # the pivot of its class in the first chunk
        return X, y
    raise AssertionError(name)


CASES = [
    "float32 mean 1e3 std 0.1",
    "float64 offset 1e8 std 1e-3",
    "classes 1e4 sd apart",
    "outlier first sample",
]


@pytest.mark.parametrize("case", CASES)
def test_adversarial_cases_exact_to_1e_9(case, use_numba):
    X, y = _adversarial(case, np.random.default_rng(3))
    ref = exact_f(X, y)
    for chunk in (len(y), 97):  # one chunk; many (pivots from the running means)
        assert _rel(anova_f(_fit(X, y, chunk))[0], ref) <= 1e-9


def _drift(rng):
    """Two halves: the second's class means 1e5 sds away from the first's (the pivots)."""
    y = rng.integers(0, 3, 240)
    X = rng.normal(size=(240, 3)) + 0.3 * y[:, None]
    X[120:] += 1e5
    return X, y


def test_guard_fires_on_drift_only(use_numba):
    X, y = _drift(np.random.default_rng(6))
    m = ClassMoments().update(X[:120], y[:120])
    args = (3, m.shift_, m.mean_, m.count_ > 0, None)
    assert _kernels.dense_moments(X[120:], y[120:], *args)[4]
    assert not _kernels.dense_moments(X[:120] + 1.0, y[:120], *args)[4]
    # and the result is exact where the pivots were 1e5 sds off
    ref = exact_f(X, y)
    assert _rel(anova_f(m.update(X[120:], y[120:]))[0], ref) <= 1e-9


def test_guard_fires_on_an_outlier_first_sample_of_a_large_class(use_numba):
    # the outlier is its class's pivot: Q / M2 is about the class size, > 2^10 here
    rng = np.random.default_rng(7)
    y = np.repeat([0, 1], 1500)
    X = 5.0 + 1e-3 * rng.normal(size=(3000, 2)) + 1e-4 * y[:, None]
    X[0] = 5.0 + 1e3
    shift = X[0].astype(np.float64)
    none = np.zeros(2, dtype=bool)
    assert _kernels.dense_moments(X, y, 2, shift, np.zeros((2, 2)), none, None)[4]
    assert not _kernels.dense_moments(X[1:], y[1:], 2, X[1], np.zeros((2, 2)), none, None)[4]
    assert _rel(anova_f(_fit(X, y, 3000))[0], exact_f(X, y)) <= 1e-12


# ---------------------------------------------------------------- float64's limits
def _base():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], 20)
    return rng.normal(size=(60, 3)) + 0.5 * y[:, None], y


@pytest.mark.parametrize("factor", [2.0**510, 2.0**664, 2.0**-664, 2.0**-990])
def test_values_near_float64_limits_give_the_f_of_the_rescaled_data(factor, use_numba):
    # multiplying by a power of two changes no digit, and F not at all: the truth is
    # f_classif on the unscaled data (~1e154, ~1e200, ~1e-200, ~1e-298 here)
    X0, y = _base()
    ref = f_classif(X0, y)[0]
    X = X0 * factor
    assert np.array_equal(X / factor, X0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no false "constant" warning, no overflow warning
        for chunk in (60, 13):
            f, p = anova_f(_fit(X, y, chunk))
            np.testing.assert_allclose(f, ref, rtol=1e-12)
            assert np.isfinite(p).all()
        fs = anova_f(ClassMoments().update(sp.csr_matrix(X), y))[0]
    np.testing.assert_allclose(fs, ref, rtol=1e-12)


def test_huge_and_ordinary_features_side_by_side_and_merged(use_numba):
    X0, y = _base()
    X = X0 * np.array([1.0, 2.0**600, 2.0**-700])
    a = _fit(X[:25], y[:25], 25)
    b = _fit(X[25:], y[25:], 10)
    assert a.scale_ is not None and a.scale_[0] == 1.0
    np.testing.assert_allclose(anova_f(a.copy().merge(b))[0], f_classif(X0, y)[0], rtol=1e-12)
    # an unscaled state (ordinary values) merged with a scaled one, and a later chunk of
    # huge values re-scaling a state built on ordinary ones: both equal the one fit
    mixed = np.vstack([X0[:25], X[25:]])
    ref = exact_f(mixed, y)
    small = ClassMoments().update(X0[:25], y[:25])
    assert small.scale_ is None
    for m in (small.copy().merge(b), small.copy().update(X[25:], y[25:])):
        np.testing.assert_allclose(anova_f(m)[0], ref, rtol=1e-12)


@pytest.mark.parametrize(
    "gap, spread", [(1e150, 1e10), (1e20, 1e-20), (1e300, 1e295), (1e160, 1.0)]
)
def test_classes_far_apart_relative_to_their_spread(gap, spread, use_numba):
    # class means `gap` apart, within-class spread `spread`; F up to ~1e282, or beyond
    # float64 (gap 1e160, spread 1: the exact F overflows, so inf, never nan)
    rng = np.random.default_rng(8)
    y = np.repeat([0, 1, 2], 20)
    X = (gap * y + spread * rng.normal(size=60))[:, None]
    try:
        ref = exact_f(X, y)
    except OverflowError:
        ref = np.array([np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = anova_f(_fit(X, y, 60))[0]
    np.testing.assert_allclose(f, ref, rtol=1e-12)


def test_twenty_ulp_class_shift_at_1e6_is_resolved(use_numba):
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1], 30)
    ulp = np.spacing(1e6)
    X = (1e6 + ulp * (rng.integers(0, 6, 60) + 20 * y))[:, None]
    ref = exact_f(X, y)
    assert ref[0] > 100  # a clear signal, 20 ulps wide
    for chunk in (60, 7):
        np.testing.assert_allclose(anova_f(_fit(X, y, chunk))[0], ref, rtol=1e-12)


def test_constant_and_within_class_constant_still_recognised_across_chunks(use_numba):
    y = np.tile([0, 1, 2], 40)
    X = np.column_stack([np.full(120, 0.1), 0.1 * y + 1e6, np.sin(np.arange(120))])
    with pytest.warns(UserWarning, match="constant"):
        f = anova_f(_fit(X, y, 17))[0]
    assert np.isnan(f[0]) and f[1] == np.inf and np.isfinite(f[2])


# ---------------------------------------------------------------- non-finite input
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_refused_before_any_state_change(bad, use_numba):
    X, y = _base()
    m = _fit(X[:30], y[:30], 30)
    before = (m.count_.copy(), m.mean_.copy(), m.m2_.copy())
    Xb = X[30:].copy()
    Xb[5, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        m.update(Xb, y[30:])
    for a, b in zip(before, (m.count_, m.mean_, m.m2_)):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="Input X contains"):
        ClassMoments().update(sp.csr_matrix(Xb), y[30:])


# ---------------------------------------------------------------- label fast path
@pytest.mark.parametrize(
    "y",
    [
        np.array([3, 1, 3, 7, 1]),
        np.array([-100, 100, -100, 5], dtype=np.int8),
        np.array([200, 3, 200], dtype=np.uint8),
        np.array([0, 10**9, 0]),  # wide range: the sorting path
        np.array(["b", "a", "b"]),
    ],
)
def test_label_encoding_equals_unique_and_searchsorted(y):
    from skscreen.stats._moments import unique_labels

    np.testing.assert_array_equal(unique_labels(y), np.unique(y))
    idx, classes = ClassMoments()._encode(y)
    np.testing.assert_array_equal(classes, np.unique(y))
    np.testing.assert_array_equal(idx, np.searchsorted(np.unique(y), y))
    # a state that already knows more classes
    if y.dtype.kind in "iu":
        known = ClassMoments().update(np.zeros((2, 1)), np.array([y.min(), 42], dtype=y.dtype))
        idx, classes = known._encode(y)
        np.testing.assert_array_equal(idx, np.searchsorted(classes, y))


def test_screener_refuses_nan_with_the_usual_message_and_keeps_its_state(use_numba):
    from skscreen import OnlineFClassifScreener

    X, y = _base()
    s = OnlineFClassifScreener(k=2).partial_fit(X[:30], y[:30])
    scores = s.scores_.copy()
    Xb = X[30:].copy()
    Xb[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        s.partial_fit(Xb, y[30:])
    assert s.n_samples_seen_ == 30 and np.array_equal(s.scores_, scores)


@pytest.mark.skipif(not HAS_NUMBA, reason="no numba")
def test_split_chunk_on_two_threads_agrees_with_one_and_with_numpy(monkeypatch):
    rng = np.random.default_rng(9)
    y = rng.integers(0, 4, 40_000)
    X = (rng.normal(size=(40_000, 6)) + 1e3 + 0.1 * y[:, None]).astype(np.float32)
    out = {}
    for threads, numba_on in [(2, True), (1, True), (1, False)]:
        monkeypatch.setattr(_kernels, "KERNEL_THREADS", threads)
        monkeypatch.setattr(_kernels, "USE_NUMBA", numba_on)
        out[threads, numba_on] = anova_f(_fit(X, y, 40_000))[0]
    np.testing.assert_allclose(out[2, True], out[1, True], rtol=1e-12)
    np.testing.assert_allclose(out[2, True], out[1, False], rtol=1e-12)
    np.testing.assert_allclose(out[1, True], out[1, False], rtol=0)  # same order: identical


@pytest.mark.skipif(not HAS_NUMBA or not hasattr(os, "fork"), reason="needs numba and fork")
def test_split_chunks_work_in_a_forked_child(monkeypatch):
    # the persistent worker thread does not survive fork: the child must start its own
    monkeypatch.setattr(_kernels, "KERNEL_THREADS", 2)
    rng = np.random.default_rng(10)
    y = rng.integers(0, 3, 40_000)
    X = rng.normal(size=(40_000, 3)) + 0.1 * y[:, None]
    ref = anova_f(_fit(X, y, 40_000))[0]  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        ok = np.allclose(anova_f(_fit(X, y, 40_000))[0], ref, rtol=1e-12)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung on the kernel's worker pool")


def test_implicit_zeros_of_a_sparse_chunk_count_from_a_dense_states_shift():
    # the dense state's first row (all ones here) is the shift; each implicit zero of a
    # later sparse chunk deviates from it by -1, and no scale is needed
    rng = np.random.default_rng(11)
    y = np.arange(60) % 3
    X = np.where(rng.random((60, 3)) < 0.5, 0.0, rng.normal(size=(60, 3)) + 0.3 * y[:, None])
    X[0] = 1.0
    m = ClassMoments().update(X[:20], y[:20]).update(sp.csr_matrix(X[20:]), y[20:])
    assert m.scale_ is None
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


def test_a_sparse_chunk_far_from_a_dense_states_shift_is_scaled_by_its_deviations():
    # the dense rows hold 1e200 in every feature (the shift; no scale yet); the sparse chunk
    # deviates from it by 1e200 or 2e200, which square past float64: the scale is measured
    # from |x - shift| of the stored values (feature 1: -1e200 in every row, 2e200 away)
    # and |0 - shift| of the implicit zeros (feature 0: 1e200 in half its rows, the zeros
    # 1e200 away; feature 2: no stored entry at all)
    dense = np.full((3, 3), 1e200)
    sparse = np.zeros((6, 3))
    sparse[:3, 0] = 1e200
    sparse[:, 1] = -1e200
    X, y = np.vstack([dense, sparse]), np.r_[0, 1, 0, 0, 1, 0, 1, 0, 1]
    m = ClassMoments().update(dense, y[:3])
    assert m.scale_ is None
    m.update(sp.csr_matrix(sparse), y[3:])
    F = anova_f(m)[0]
    assert np.isfinite(F).all()
    np.testing.assert_allclose(F, exact_f(X, y), rtol=1e-12)
