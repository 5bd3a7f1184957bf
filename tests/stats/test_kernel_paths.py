"""skscreen/stats/_kernels.py in-process: the choice of path, the lazy numba import, the
split of a large chunk over two threads, the helpers, and the sparse kernel's scaling.

tests/stats/test_kernels.py checks the "auto" rule in fresh interpreters (the true start
of a process); here the module's globals are set directly (monkeypatch), so that each rule
is seen in the process that runs the tests. The compiled kernel is replaced by a Python
one with the same signature where only the plumbing around it is under test.
"""

import sys
import threading
import types

import numpy as np
import pytest
import scipy.sparse as sp

from skscreen.stats import _kernels


@pytest.fixture
def fake_numba(monkeypatch):
    """A stand-in compiled kernel (numpy_class_sums with the numba kernel's signature),
    loaded by a stand-in _load_numba that counts its calls."""
    calls = {"loads": 0, "kernel": []}

    def kernel(X, yidx, pivot, inv, S, Q, block):
        calls["kernel"].append((X.shape[0], block, None if inv is None else inv.copy()))
        _kernels.numpy_class_sums(X, yidx, pivot, inv, S, Q)

    def load():
        calls["loads"] += 1
        _kernels._numba_sums = kernel
        return kernel

    monkeypatch.setattr(_kernels, "_numba_sums", None)
    monkeypatch.setattr(_kernels, "_numpy_values", 0)
    monkeypatch.setattr(_kernels, "_load_numba", load)
    calls["fn"] = kernel
    return calls


# ------------------------------------------------------------------ the choice of path
def test_auto_counts_the_numpy_work_and_loads_numba_at_the_budget(fake_numba, monkeypatch):
    monkeypatch.setattr(_kernels, "NUMBA_AFTER_VALUES", 100)
    monkeypatch.setattr(_kernels, "USE_NUMBA", "auto")
    assert _kernels._use_numba("auto", 60) is False
    assert _kernels._numpy_values == 60
    # count=False (active_path) asks without adding
    assert _kernels._use_numba("auto", 39, count=False) is False
    assert _kernels.active_path(39) == "numpy"
    assert _kernels._numpy_values == 60
    assert _kernels._use_numba("auto", 39) is False  # 99 < 100
    assert _kernels._numpy_values == 99 and fake_numba["loads"] == 0
    assert _kernels._use_numba("auto", 1) is True  # 100: numba from now on
    assert fake_numba["loads"] == 1 and _kernels._numpy_values == 99
    assert _kernels._use_numba("auto", 0) is True  # loaded: every chunk, whatever its size
    assert _kernels.active_path() == "numba"


def test_active_path_answers_numba_at_the_budget_without_loading_it(fake_numba, monkeypatch):
    monkeypatch.setattr(_kernels, "NUMBA_AFTER_VALUES", 100)
    monkeypatch.setattr(_kernels, "USE_NUMBA", "auto")
    monkeypatch.setattr(_kernels, "_numba_installed", lambda: True)
    assert _kernels.active_path(100) == "numba"
    assert fake_numba["loads"] == 0
    monkeypatch.setattr(_kernels, "_numba_installed", lambda: False)
    assert _kernels.active_path(100) == "numpy"  # not installed: the numpy path will run
    assert fake_numba["loads"] == 0


def test_auto_without_numba_never_tries_again(fake_numba, monkeypatch):
    monkeypatch.setattr(_kernels, "_numba_sums", False)
    assert _kernels._use_numba("auto", 10**12) is False
    assert fake_numba["loads"] == 0 and _kernels._numpy_values == 0


def test_true_and_false_flags(fake_numba):
    assert _kernels._use_numba(False, 10**12) is False
    assert _kernels._use_numba(0, 5) is False
    assert fake_numba["loads"] == 0 and _kernels._numpy_values == 0
    assert _kernels._use_numba(True, 0) is True
    assert _kernels._use_numba(1, 0) is True
    assert _kernels._numpy_values == 0


def test_true_flag_without_numba_takes_the_numpy_path(monkeypatch):
    monkeypatch.setattr(_kernels, "_numba_sums", False)
    assert _kernels._use_numba(True, 10) is False
    monkeypatch.setattr(_kernels, "USE_NUMBA", True)
    assert _kernels.active_path(10) == "numpy"


@pytest.mark.parametrize("flag", ["AUTO", "numba", ""])
def test_other_strings_are_refused(flag):
    with pytest.raises(ValueError) as err:
        _kernels._use_numba(flag, 1)
    assert str(err.value) == f"USE_NUMBA must be True, False or 'auto', got {flag!r}."


def test_load_numba_imports_the_kernel_once_and_remembers_a_failure(monkeypatch):
    monkeypatch.setattr(_kernels, "_numba_sums", None)

    def class_sums(*args):
        return None

    fake = types.ModuleType("skscreen.stats._numba_kernels")
    fake.class_sums = class_sums
    monkeypatch.setitem(sys.modules, "skscreen.stats._numba_kernels", fake)
    assert _kernels._load_numba() is class_sums
    assert _kernels._numba_sums is class_sums and _kernels.numba_available() is True
    # not installed: False, remembered (no import at every chunk)
    monkeypatch.setattr(_kernels, "_numba_sums", None)
    monkeypatch.setitem(sys.modules, "skscreen.stats._numba_kernels", None)  # ImportError
    assert _kernels._load_numba() is False
    assert _kernels.numba_available() is False
    monkeypatch.setitem(sys.modules, "skscreen.stats._numba_kernels", fake)
    assert _kernels._load_numba() is False


# ------------------------------------------------------------------ the class sums
def _direct(X, yidx, pivot, inv, k):
    X = X.astype(np.float64)
    S, Q = np.zeros((k, X.shape[1])), np.zeros((k, X.shape[1]))
    for c in range(k):
        d = X[yidx == c] - pivot[c]
        if inv is not None:
            d = d * inv
        S[c], Q[c] = d.sum(axis=0), (d * d).sum(axis=0)
    return S, Q


def _chunk(n=(600, 3, 0, 257), p=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    yidx = rng.permutation(np.repeat(np.arange(len(n)), n)).astype(np.int64)
    X = (rng.normal(size=(len(yidx), p)) * [1, 10, 100, 0.1] + 5.0).astype(dtype)
    pivot = rng.normal(size=(len(n), p)) + 5.0
    return X, yidx, pivot


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scaled", [False, True])
def test_numpy_class_sums_over_several_blocks_equal_the_direct_sums(dtype, scaled):
    """600 rows of one class (blocks of 256, 256, 88), 3 of another, an absent class, 257
    (one full block and one row) of the last."""
    X, yidx, pivot = _chunk(dtype=dtype)
    inv = np.array([1.0, 0.5, 0.25, 8.0]) if scaled else None
    S, Q = np.zeros((4, 4)), np.zeros((4, 4))
    S += 1.0  # sums are added into S and Q
    Q += 2.0
    _kernels.numpy_class_sums(X, yidx, pivot, inv, S, Q)
    S0, Q0 = _direct(X, yidx, pivot, inv, 4)
    np.testing.assert_allclose(S - 1.0, S0, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(Q - 2.0, Q0, rtol=1e-12)
    assert np.all(S[2] == 1.0) and np.all(Q[2] == 2.0)


def test_numpy_class_sums_of_a_chunk_smaller_than_a_block():
    X, yidx, pivot = _chunk(n=(2, 0, 1))
    X = X[:, :3].copy()
    pivot = pivot[:, :3].copy()
    S, Q = np.zeros((3, 3)), np.zeros((3, 3))
    _kernels.numpy_class_sums(X, yidx, pivot, None, S, Q)
    S0, Q0 = _direct(X, yidx, pivot, None, 3)
    np.testing.assert_allclose(S, S0, rtol=1e-13)
    np.testing.assert_allclose(Q, Q0, rtol=1e-13)


def test_class_sums_on_the_numpy_path_start_from_zero():
    X, yidx, pivot = _chunk()
    S, Q = _kernels._class_sums(X, yidx, pivot, None, False)
    S0, Q0 = _direct(X, yidx, pivot, None, 4)
    np.testing.assert_allclose(S, S0, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(Q, Q0, rtol=1e-12)


@pytest.mark.parametrize("scaled", [False, True])
def test_a_large_chunk_is_split_in_two_halves_on_two_threads(fake_numba, monkeypatch, scaled):
    monkeypatch.setattr(_kernels, "KERNEL_THREADS", 2)
    monkeypatch.setattr(_kernels, "_SPLIT_ROWS", 100)
    X, yidx, pivot = _chunk(n=(150, 3, 0, 48))  # 201 rows >= 2 * 100
    inv = np.array([1.0, 0.5, 0.25, 8.0]) if scaled else None
    S, Q = _kernels._class_sums(X, yidx, pivot, inv, True)
    assert sorted(c[0] for c in fake_numba["kernel"]) == [100, 101]  # h = 201 // 2
    assert {c[1] for c in fake_numba["kernel"]} == {256}
    for c in fake_numba["kernel"]:  # the compiled kernel always gets the inverse scales
        np.testing.assert_array_equal(c[2], np.ones(4) if inv is None else inv)
    S0, Q0 = _direct(X, yidx, pivot, inv, 4)
    np.testing.assert_allclose(S, S0, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(Q, Q0, rtol=1e-12)


@pytest.mark.parametrize("threads, rows", [(1, 201), (2, 199)])
def test_one_thread_or_a_small_chunk_is_one_call(fake_numba, monkeypatch, threads, rows):
    monkeypatch.setattr(_kernels, "KERNEL_THREADS", threads)
    monkeypatch.setattr(_kernels, "_SPLIT_ROWS", 100)
    X, yidx, pivot = _chunk(n=(rows - 51, 3, 0, 48))
    S, Q = _kernels._class_sums(X, yidx, pivot, None, True)
    assert [c[0] for c in fake_numba["kernel"]] == [rows]
    assert fake_numba["kernel"][0][1] == 256
    S0, Q0 = _direct(X, yidx, pivot, None, 4)
    np.testing.assert_allclose(S, S0, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(Q, Q0, rtol=1e-12)


def test_dense_moments_on_the_compiled_path_uses_the_kernel(fake_numba):
    X, yidx, pivot = _chunk()
    known = np.array([True, False, False, True])
    out_numba = _kernels.dense_moments(X, yidx, 4, X[0].copy(), pivot, known, None, use_numba=True)
    assert fake_numba["kernel"]  # every pass of the chunk went through the compiled kernel
    out_numpy = _kernels.dense_moments(X, yidx, 4, X[0].copy(), pivot, known, None, use_numba=False)
    for a, b in zip(out_numba[:3], out_numpy[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ helpers
def test_first_rows_of_each_class():
    first = _kernels._first_rows(np.array([2, 0, 2, 1, 0], dtype=np.int64), 5)
    assert first.dtype == np.int64
    assert first.tolist() == [1, 3, 0, -1, -1]
    assert _kernels._first_rows(np.array([], dtype=np.int64), 2).tolist() == [-1, -1]
    assert _kernels._first_rows(np.array([1, 1, 1], dtype=np.int64), 2).tolist() == [-1, 0]


def test_power_of_two_at_least():
    m = np.array([3.0, 0.3, 1e300, 1e-300, 5e-324, 1.0, 0.0, np.inf, np.nan, -2.0])
    out = _kernels._power_of_two_at_least(m)
    mant, _ = np.frexp(out)
    assert np.all(mant == 0.5)  # powers of two
    pos = slice(0, 6)
    assert np.all(out[pos] >= m[pos]) and np.all(out[pos] <= 2 * m[pos])
    assert out[:2].tolist() == [4.0, 0.5]
    # 0, inf, nan, negative: a fixed power of two (2.0 today; the docstring says 1, see below)
    assert len(set(out[6:].tolist())) == 1 and np.frexp(out[6])[0] == 0.5


def test_power_of_two_at_least_is_one_where_m_is_zero_or_not_finite():
    out = _kernels._power_of_two_at_least(np.array([0.0, np.inf, np.nan]))
    assert out.tolist() == [1.0, 1.0, 1.0]


def test_new_scale_sets_only_the_given_columns_and_a_locked_one_only_grows():
    out = _kernels._new_scale(None, None, np.array([1, 3]), np.array([4.0, 0.25]), 4)
    assert out.tolist() == [1.0, 4.0, 1.0, 0.25]
    scale = np.array([2.0, 8.0, 2.0, 8.0])
    locked = np.array([False, True, False, True])
    out = _kernels._new_scale(scale, locked, np.array([1, 2, 3]), np.array([4.0, 0.5, 16.0]), 4)
    assert out.tolist() == [2.0, 8.0, 0.5, 16.0]
    assert scale.tolist() == [2.0, 8.0, 2.0, 8.0]  # a new array: the state's is not changed
    out = _kernels._new_scale(scale, None, np.array([1]), np.array([0.5]), 4)
    assert out.tolist() == [2.0, 0.5, 2.0, 8.0]


def test_lazy_worker_starts_one_thread_on_first_use_and_again_after_a_fork():
    w = _kernels.LazyWorker("skscreen-test-worker")
    assert w._executor is None
    e1 = w.get()
    assert w.get() is e1
    assert (
        e1.submit(lambda: threading.current_thread().name)
        .result()
        .startswith("skscreen-test-worker")
    )
    lock = w._lock
    w._forget()  # what a forked child runs
    assert w._executor is None and w._lock is not lock
    e2 = w.get()
    assert e2 is not e1 and w.get() is e2
    e1.shutdown()
    e2.shutdown()


# ------------------------------------------------------------------ the sparse kernel
def _class_stats(D, yidx, k):
    mean = np.array(
        [D[yidx == c].mean(axis=0) if (yidx == c).any() else np.zeros(D.shape[1]) for c in range(k)]
    )
    m2 = np.array(
        [
            ((D[yidx == c] - mean[c]) ** 2).sum(axis=0)
            if (yidx == c).any()
            else np.zeros(D.shape[1])
            for c in range(k)
        ]
    )
    return mean, m2


def _sparse_chunk(seed=0):
    rng = np.random.default_rng(seed)
    n = 40
    D = rng.normal(size=(n, 4)) * (rng.random((n, 4)) < 0.5)
    D[:, 0] = 0.0
    D[::3, 0] = 2.0  # a feature with many implicit zeros
    yidx = (np.arange(n) % 3).astype(np.int64)
    yidx[yidx == 1] = 3  # class 1 absent
    return D, yidx


def test_sparse_moments_equal_the_dense_class_statistics():
    D, yidx = _sparse_chunk()
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 4, None)
    assert scale is None
    assert count.tolist() == np.bincount(yidx, minlength=4).astype(float).tolist()
    mean0, m20 = _class_stats(D, yidx, 4)
    np.testing.assert_allclose(mean, mean0, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m2, m20, rtol=1e-12, atol=1e-15)
    assert np.all(mean[1] == 0) and np.all(m2[1] == 0)


def test_sparse_moments_with_a_given_scale_divide_by_it():
    D, yidx = _sparse_chunk(1)
    scale = np.array([2.0, 0.5, 4.0, 1.0])
    count, mean, m2, out = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 4, scale)
    assert out is scale or np.array_equal(out, scale)
    mean0, m20 = _class_stats(D, yidx, 4)
    np.testing.assert_allclose(mean * scale, mean0, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m2 * scale**2, m20, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("size", [1e200, 1e-200])
def test_sparse_moments_scale_features_whose_squares_leave_float64(size):
    """Squares of 1e200 overflow, of 1e-200 underflow: the feature gets a power-of-two scale
    just above its largest value, the others keep scale 1."""
    D, yidx = _sparse_chunk(2)
    D[:, 2] *= size
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 4, None)
    assert scale is not None
    assert scale[[0, 1, 3]].tolist() == [1.0, 1.0, 1.0]
    big = np.abs(D[:, 2]).max()
    assert big <= scale[2] <= 2 * big and np.frexp(scale[2])[0] == 0.5
    mean0, m20 = _class_stats(D / scale, yidx, 4)
    np.testing.assert_allclose(mean, mean0, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m2, m20, rtol=1e-12, atol=1e-15)
    assert np.all(np.isfinite(m2)) and m2[:, 2].max() > 1e-3


def test_sparse_moments_a_huge_mean_with_no_spread_is_scaled():
    """A constant 1e200 feature: its M2 is 0 but its squared mean overflows."""
    D, yidx = _sparse_chunk(3)
    D[:, 1] = 1e200
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 4, None)
    assert scale[1] > 1e199 and scale[[0, 2, 3]].tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(mean[[0, 2], 1] * scale[1], 1e200, rtol=1e-14)
    assert np.all(m2[:, 1] < 1e-25)  # rounding of 1e200 / scale only


def test_sparse_moments_leave_a_locked_feature_unscaled_when_tiny():
    """A tiny chunk for a locked feature (the state already holds larger values): no scale
    down; a tiny unlocked one is scaled up."""
    D, yidx = _sparse_chunk(4)
    D[:, 2] *= 1e-200
    D[:, 3] *= 1e-200
    locked = np.array([False, False, True, False])
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 4, np.ones(4), locked)
    assert scale[2] == 1.0 and scale[3] < 1e-199
    assert scale[[0, 1]].tolist() == [1.0, 1.0]


def test_sparse_moments_refuse_non_finite_values():
    D, yidx = _sparse_chunk(5)
    D[4, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _kernels.sparse_moments(sp.csr_matrix(D), yidx, 4, None)


# ------------------------------------------------------------------ second round: known truths
import warnings  # noqa: E402


def _truth(X, yidx, k):
    """Class means and within-class sums of squares, in float64, two-pass."""
    X = np.asarray(X, dtype=np.float64)
    mean = np.zeros((k, X.shape[1]))
    m2 = np.zeros((k, X.shape[1]))
    for c in range(k):
        rows = X[yidx == c]
        if len(rows):
            mean[c] = rows.mean(axis=0)
            m2[c] = ((rows - mean[c]) ** 2).sum(axis=0)
    return mean, m2


def test_numpy_path_is_never_the_kernel_and_a_chunk_of_exactly_two_halves_splits(
    fake_numba, monkeypatch
):
    monkeypatch.setattr(_kernels, "KERNEL_THREADS", 2)
    monkeypatch.setattr(_kernels, "_SPLIT_ROWS", 100)
    X, yidx, pivot = _chunk(n=(150, 3, 0, 47))  # 200 rows = 2 * _SPLIT_ROWS: split
    _kernels._class_sums(X, yidx, pivot, None, False)
    assert fake_numba["kernel"] == [] and fake_numba["loads"] == 0
    _kernels._class_sums(X, yidx, pivot, None, True)
    assert sorted(c[0] for c in fake_numba["kernel"]) == [100, 100]


def test_active_path_by_default_asks_for_an_empty_chunk(fake_numba, monkeypatch):
    monkeypatch.setattr(_kernels, "NUMBA_AFTER_VALUES", 100)
    monkeypatch.setattr(_kernels, "USE_NUMBA", "auto")
    monkeypatch.setattr(_kernels, "_numpy_values", 99)
    assert _kernels.active_path() == "numpy"  # 99 + 0 < 100
    assert fake_numba["loads"] == 0


def test_dense_moments_follow_the_module_flag_and_count_the_chunk(fake_numba, monkeypatch):
    monkeypatch.setattr(_kernels, "USE_NUMBA", "auto")
    monkeypatch.setattr(_kernels, "NUMBA_AFTER_VALUES", 10**9)
    X, yidx, pivot = _chunk()
    known = np.zeros(4, dtype=bool)
    _kernels.dense_moments(X, yidx, 4, np.zeros(4), pivot, known, None)  # use_numba=None
    assert _kernels._numpy_values == X.size and fake_numba["kernel"] == []
    monkeypatch.setattr(_kernels, "USE_NUMBA", True)
    _kernels.dense_moments(X, yidx, 4, np.zeros(4), pivot, known, None)
    assert fake_numba["kernel"] and _kernels._numpy_values == X.size


@pytest.mark.parametrize("case", ["plain", "rescale", "guard"])
def test_every_pass_over_a_chunk_takes_the_chosen_path(fake_numba, case):
    """The first pass, the rescaling pass and the guard's pass: all on the compiled kernel."""
    rng = np.random.default_rng(0)
    yidx = np.repeat([0, 1], 50).astype(np.int64)
    X = rng.normal(size=(100, 2)) + 3.0
    shift, pivot, known = np.zeros(2), np.full((2, 2), 3.0), np.array([True, True])
    if case == "rescale":
        X[:, 1] *= 1e200  # squares overflow: the chunk is summed again, scaled
        pivot[:, 1] = 3e200
    if case == "guard":
        pivot[0] = 1e6  # the state's class mean far from this chunk's: re-pivot
    *_, fired = _kernels.dense_moments(X, yidx, 2, shift, pivot, known, None, use_numba=True)
    assert fired == (case == "guard")
    assert len(fake_numba["kernel"]) == (1 if case == "plain" else 2)


def _dense(X, yidx, k, shift=None, pivot=None, known=None, scale=None, locked=None):
    p = X.shape[1]
    shift = np.zeros(p) if shift is None else shift
    pivot = np.zeros((k, p)) if pivot is None else pivot
    known = np.zeros(k, dtype=bool) if known is None else known
    return _kernels.dense_moments(X, yidx, k, shift, pivot, known, scale, locked, use_numba=False)


def test_dense_moments_against_two_pass_truth_with_known_pivots_and_an_absent_class():
    """Known classes start from the state's pivot ((K - shift) / scale), new ones from their
    first sample (class 1's is row 0); an absent class has mean and M2 zero, whatever its pivot."""
    rng = np.random.default_rng(1)
    yidx = np.array([1, 0, 0, 1, 3, 0, 1, 3, 1, 0] * 20, dtype=np.int64)
    X = rng.normal(size=(200, 3)) * [1.0, 5.0, 0.1] + [10.0, -4.0, 2.0]
    shift = np.array([9.0, -3.0, 2.5])
    scale = np.array([1.0, 4.0, 0.5])
    mean0, m20 = _truth(X, yidx, 4)
    pivot = (mean0 + 0.3 - shift) / scale  # near the truth, as a state's running mean
    pivot[2] = 7.0  # the absent class's pivot is never used
    known = np.array([True, False, True, False])
    count, mean, m2, out_scale, fired = _dense(X, yidx, 4, shift, pivot, known, scale)
    assert not fired and np.array_equal(out_scale, scale)
    assert count.tolist() == [80.0, 80.0, 0.0, 40.0] and count.dtype == np.float64
    np.testing.assert_allclose(
        mean * scale + shift * (count[:, None] > 0), mean0, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(m2 * scale**2, m20, rtol=1e-12)
    assert np.all(mean[2] == 0.0) and np.all(m2[2] == 0.0)
    # without a scale: means relative to the shift, data units
    count, mean, m2, out_scale, _ = _dense(X, yidx, 4, shift, (mean0 - shift) * 1.0, known)
    assert out_scale is None
    np.testing.assert_allclose(mean[[0, 1, 3]] + shift, mean0[[0, 1, 3]], rtol=1e-12)
    np.testing.assert_allclose(m2, m20, rtol=1e-12)


def test_a_new_class_starting_at_row_zero_takes_that_row_as_pivot():
    """Class 0 is new and its first sample is row 0: with a garbage pivot in the state the
    guard would fire; the first sample is close, so it does not."""
    rng = np.random.default_rng(2)
    yidx = np.array([0, 1] * 100, dtype=np.int64)
    X = rng.normal(size=(200, 2)) + 1e4
    pivot = np.full((2, 2), -1e7)  # what a state holds for classes it never saw
    count, mean, m2, _, fired = _dense(X, yidx, 2, pivot=pivot)
    assert not fired
    mean0, m20 = _truth(X, yidx, 2)
    np.testing.assert_allclose(mean, mean0, rtol=1e-13)
    np.testing.assert_allclose(m2, m20, rtol=1e-9)


def test_a_constant_feature_neither_fires_the_guard_nor_gets_a_scale():
    rng = np.random.default_rng(3)
    yidx = np.repeat([0, 1, 2], 30).astype(np.int64)
    X = np.c_[rng.normal(size=90), np.full(90, 7.0), rng.normal(size=90) * 1e-3]
    count, mean, m2, scale, fired = _dense(X, yidx, 3)
    assert not fired and scale is None
    assert np.all(mean[:, 1] == 7.0) and np.all(m2[:, 1] == 0.0)


@pytest.mark.parametrize("scaled", [False, True])
def test_the_guard_re_pivots_on_the_chunk_means(scaled):
    """A state whose class means are far from this chunk (drift): Q - S^2/n would cancel
    about 16 digits; after the guard the within-class M2 is exact to 1e-9."""
    rng = np.random.default_rng(4)
    yidx = np.repeat([0, 1], 500).astype(np.int64)
    X = rng.normal(size=(1000, 2)) + 1e8
    scale = np.array([4.0, 0.5]) if scaled else None
    s = 1.0 if scale is None else scale
    known = np.array([True, True])
    count, mean, m2, _, fired = _dense(X, yidx, 2, np.zeros(2), np.zeros((2, 2)), known, scale)
    assert fired
    mean0, m20 = _truth(X, yidx, 2)
    np.testing.assert_allclose(mean * s, mean0, rtol=1e-14)
    np.testing.assert_allclose(m2 * s**2, m20, rtol=1e-9)


def test_class_means_far_from_the_shift_are_rescaled_and_near_it_are_not():
    """Rescaled when a class mean lies more than 2^300 units (in the current scale) from
    the shift, even with no spread to speak of; data near 1e100 but near the shift: not."""
    rng = np.random.default_rng(5)
    yidx = np.repeat([0, 1], 20).astype(np.int64)
    base = 1.5 * 2.0**300
    X = base * (1 + 1e-6 * rng.normal(size=(40, 2)))
    count, mean, m2, scale, _ = _dense(X, yidx, 2)
    assert scale is not None and np.all(scale > base)
    # the same data in a scale of 4: 2^300 scaled units are 2^302 data units -> not rescaled
    count, mean, m2, out, _ = _dense(X, yidx, 2, scale=np.array([4.0, 4.0]))
    assert out.tolist() == [4.0, 4.0]
    # near 1e100 but the shift is there: nothing to rescale
    Y = 1e100 * (1 + 1e-12 * rng.normal(size=(40, 2)))
    count, mean, m2, scale, _ = _dense(Y, yidx, 2, shift=Y[0].copy())
    assert scale is None


def test_tiny_deviations_get_the_power_of_two_above_the_largest_deviation_from_the_pivot():
    """Deviations of 1e-100 around a pivot of 1e-95 (squares underflow 2^-600): the scale is
    the power of two just above the largest |x - pivot|, not |x| (and symmetric deviations,
    whose sum S is 0, count as deviations too)."""
    d = 1e-100
    yidx = np.zeros(5, dtype=np.int64)
    X = np.array(
        [
            [1e-95, 0.0],
            [1e-95 + d, d],
            [1e-95 - d, -d],
            [1e-95 + 2 * d, 2 * d],
            [1e-95 - 2 * d, -2 * d],
        ]
    )
    dev = np.abs(X - X[0]).max(axis=0)
    count, mean, m2, scale, _ = _dense(X, yidx, 1)
    assert scale is not None
    assert np.all(dev <= scale) and np.all(scale <= 2 * dev)
    _, m20 = _truth(X, yidx, 1)
    np.testing.assert_allclose(m2 * scale**2, m20, rtol=1e-9)


def test_locked_features_keep_their_scale_when_tiny_and_others_keep_theirs():
    rng = np.random.default_rng(6)
    yidx = np.repeat([0, 1], 10).astype(np.int64)
    X = np.c_[rng.normal(size=20) * 1e-200, rng.normal(size=20) * 1e-200, rng.normal(size=20)]
    scale = np.array([1.0, 1.0, 8.0])
    locked = np.array([True, False, False])
    count, mean, m2, out, _ = _dense(X, yidx, 2, scale=scale, locked=locked)
    assert out[0] == 1.0  # locked: the state holds larger values
    assert out[1] < 1e-199  # unlocked and tiny: scaled up
    assert out[2] == 8.0  # untouched column keeps its scale
    assert scale.tolist() == [1.0, 1.0, 8.0]


def test_huge_dense_chunks_are_handled_without_floating_point_warnings():
    rng = np.random.default_rng(7)
    yidx = np.repeat([0, 1], 10).astype(np.int64)
    X = rng.normal(size=(20, 2)) * 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        count, mean, m2, scale, _ = _dense(X, yidx, 2)
    assert scale is not None and np.all(np.isfinite(m2))


# ------------------------------------------------------------------ sparse, second round
def test_sparse_moments_with_the_last_class_absent_and_a_single_sample_class():
    rng = np.random.default_rng(8)
    D = rng.normal(size=(21, 3)) * (rng.random((21, 3)) < 0.6)
    D[:, 2] = 0.0  # the last feature has no stored entry at all
    yidx = np.r_[np.zeros(20), [1]].astype(np.int64)  # class 1: one sample; class 2 absent
    D[20, 0] = 3.0
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 3, None)
    assert count.tolist() == [20.0, 1.0, 0.0]
    mean0, m20 = _truth(D, yidx, 3)
    np.testing.assert_allclose(mean, mean0, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m2, m20, rtol=1e-12, atol=1e-15)
    assert mean[1, 0] == 3.0


def test_sparse_moments_rescale_a_single_huge_sample():
    D = np.zeros((6, 2))
    D[:, 0] = [1.0, 2.0, 0.0, 1.0, 0.0, 3.0]
    D[5, 1] = 2.0**700  # class 1 has this one sample
    yidx = np.array([0, 0, 0, 0, 0, 1], dtype=np.int64)
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 2, None)
    assert scale is not None and scale[0] == 1.0 and scale[1] > 2.0**700
    assert mean[1, 1] * scale[1] == 2.0**700


def test_sparse_moments_rescale_an_exact_huge_mean_with_no_spread():
    """2^700 in every row (exact sums, M2 exactly 0): only the squared mean overflows."""
    D = np.c_[np.arange(8.0), np.full(8, 2.0**700)]
    yidx = np.repeat([0, 1], 4).astype(np.int64)
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 2, None)
    assert scale[0] == 1.0 and scale[1] > 2.0**700
    assert np.all(mean[:, 1] * scale[1] == 2.0**700) and np.all(m2[:, 1] == 0)


def test_sparse_moments_rescale_a_finite_spread_above_two_to_the_600():
    """+-2^350 in each class (means 0, squares 2^700 finite but above the 2^600 limit)."""
    D = np.c_[np.arange(8.0), np.tile([2.0**350, -(2.0**350)], 4)]
    yidx = np.repeat([0, 1], 4).astype(np.int64)
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 2, None)
    assert scale[0] == 1.0 and 2.0**350 <= scale[1] <= 2.0**351
    np.testing.assert_allclose(m2[:, 1] * scale[1] ** 2, 4 * 2.0**700, rtol=1e-14)


def test_sparse_moments_keep_the_scales_of_the_other_features():
    D = np.c_[np.arange(8.0), np.tile([2.0**350, -(2.0**350)], 4)]
    yidx = np.repeat([0, 1], 4).astype(np.int64)
    count, mean, m2, scale = _kernels.sparse_moments(
        sp.csr_matrix(D), yidx, 2, np.array([4.0, 1.0])
    )
    assert scale[0] == 4.0 and scale[1] >= 2.0**350
    np.testing.assert_allclose(mean[:, 0] * 4.0, [1.5, 5.5], rtol=1e-15)


def test_huge_sparse_chunks_are_handled_without_floating_point_warnings():
    rng = np.random.default_rng(9)
    D = rng.normal(size=(20, 2)) * 1e300
    D[::3, 1] = 0.0
    yidx = np.repeat([0, 1], 10).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 2, None)
    assert scale is not None and np.all(np.isfinite(m2))


# ------------------------------------------------------------------ numba vs numpy, worker
@pytest.mark.parametrize("p", [5, 1])
def test_the_numpy_path_adds_in_the_compiled_kernels_order(p):
    """The module's promise: the two kernels add in the same order (bit-identical sums),
    which needs a stable gathering of each class's rows, and, for one column (a single
    feature, or the one feature under the guard), no pairwise sum."""
    pytest.importorskip("numba")
    kernel = _kernels._load_numba()
    if not kernel:
        pytest.skip("no compiled kernel")
    rng = np.random.default_rng(10)
    yidx = rng.integers(0, 3, 3000).astype(np.int64)
    X = rng.normal(size=(3000, p)) * rng.uniform(0.1, 1e3, p) + 17.3
    pivot = rng.normal(size=(3, p)) + 17.3
    S1, Q1 = np.zeros((3, p)), np.zeros((3, p))
    kernel(X, yidx, pivot, np.ones(p), S1, Q1, _kernels._BLOCK_ROWS)
    S2, Q2 = np.zeros((3, p)), np.zeros((3, p))
    _kernels.numpy_class_sums(X, yidx, pivot, None, S2, Q2)
    assert np.array_equal(S1, S2) and np.array_equal(Q1, Q2)


def test_one_column_is_summed_in_row_order_by_the_numpy_path():
    """The compiled kernel's order written out: each class's rows in order, in blocks of
    _BLOCK_ROWS, each block summed from its first row and added to the total."""
    rng = np.random.default_rng(13)
    yidx = rng.integers(0, 2, 1500).astype(np.int64)
    x = rng.normal(size=1500) * 1e3 + 0.1
    pivot = np.array([[0.3], [-0.2]])
    S, Q = np.zeros((2, 1)), np.zeros((2, 1))
    _kernels.numpy_class_sums(x[:, None], yidx, pivot, None, S, Q)
    for c in (0, 1):
        d = [float(v) - float(pivot[c, 0]) for v in x[yidx == c]]
        s = q = 0.0
        for b in range(0, len(d), _kernels._BLOCK_ROWS):
            bs = bq = 0.0
            for v in d[b : b + _kernels._BLOCK_ROWS]:
                bs += v
                bq += v * v
            s += bs
            q += bq
        assert S[c, 0] == s and Q[c, 0] == q


def test_one_feature_under_the_guard_gives_the_same_bits_on_both_paths(monkeypatch):
    """An outlier first sample in one feature: the guard sums that column alone."""
    pytest.importorskip("numba")
    if not _kernels.numba_available():
        pytest.skip("no compiled kernel")
    from skscreen.stats import ClassMoments

    rng = np.random.default_rng(1)
    X = rng.normal(size=(9000, 8)) + 3.0  # under 2 * _SPLIT_ROWS: one thread
    y = rng.integers(0, 3, 9000)
    X[0, 2] += 200.0
    states = {}
    for use in (False, True):
        monkeypatch.setattr(_kernels, "USE_NUMBA", use)
        states[use] = ClassMoments().update(X, y)
    np.testing.assert_array_equal(states[False].mean_, states[True].mean_)
    np.testing.assert_array_equal(states[False].m2_, states[True].m2_)


def test_the_lazy_worker_has_one_thread():
    w = _kernels.LazyWorker("skscreen-one-thread")
    ex = w.get()
    started = threading.Event()
    # with one thread the second task starts only after the first gave up waiting for it
    first = ex.submit(lambda: started.wait(0.3))
    second = ex.submit(started.set)
    assert first.result() is False
    second.result()
    assert ex._max_workers == 1
    ex.shutdown()


# ------------------------------------------------------------------ third round
def test_numba_installed_is_found_without_importing_it():
    import importlib.util

    found = importlib.util.find_spec("numba") is not None
    assert _kernels._numba_installed() is found
    try:
        import numba  # noqa: F401
    except ImportError:
        return
    assert _kernels._numba_installed() is True


def test_a_known_pivot_without_scale_is_the_class_mean_in_data_units():
    """pivot = (K - shift) / 1: near the chunk's class means, so the guard has nothing to do."""
    rng = np.random.default_rng(11)
    yidx = np.repeat([0, 1], 100).astype(np.int64)
    X = rng.normal(size=(200, 2)) + 1e6
    mean0, m20 = _truth(X, yidx, 2)
    shift = np.zeros(2)
    count, mean, m2, scale, fired = _dense(X, yidx, 2, shift, mean0 - shift, np.array([True, True]))
    assert not fired and scale is None
    np.testing.assert_allclose(mean, mean0, rtol=1e-14)
    np.testing.assert_allclose(m2, m20, rtol=1e-9)


def test_the_guards_second_pass_subtracts_the_residual_mean():
    """x = 2^40 + k 2^-12 with k in {0, 1}: the class mean (2^40 + 2^-13) is not a float, so
    the re-pivoted sums keep a residual S; M2 = Q - S^2/n is exact (n/4 2^-24)."""
    n = 1000
    k = np.tile([0.0, 1.0], n // 2)
    X = (2.0**40 + k * 2.0**-12)[:, None]
    yidx = np.zeros(n, dtype=np.int64)
    count, mean, m2, scale, fired = _dense(
        X, yidx, 1, np.zeros(1), np.zeros((1, 1)), np.array([True])
    )
    assert fired and scale is None
    np.testing.assert_allclose(m2[0, 0], n / 4 * 2.0**-24, rtol=1e-9)


def test_overflowing_sums_of_the_first_pass_raise_no_warning():
    """Deviations of 5e307 summed four times overflow the first pass (then rescaled)."""
    X = np.array([[0.0, 1.0], [5e307, 2.0], [5e307, 3.0], [5e307, 4.0], [5e307, 5.0]])
    yidx = np.zeros(5, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        count, mean, m2, scale, _ = _dense(X, yidx, 1)
    assert scale[0] >= 5e307 and np.all(np.isfinite(m2))
    np.testing.assert_allclose(mean[0, 0] * scale[0], 4e307, rtol=1e-14)


@pytest.mark.parametrize("sparse", [False, True])
def test_infinite_input_is_refused_with_sklearns_message_and_no_warning(sparse):
    X = np.array([[np.inf, 1.0], [np.inf, 2.0], [1.0, 3.0]])
    yidx = np.zeros(3, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="Input X contains infinity"):
            if sparse:
                _kernels.sparse_moments(sp.csr_matrix(X), yidx, 1, None)
            else:
                _dense(X, yidx, 1)


def test_sparse_overflowing_class_sums_raise_no_warning():
    D = np.c_[np.full(6, 5e307), np.arange(6.0)]
    yidx = np.zeros(6, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 1, None)
    assert scale[0] >= 5e307 and scale[1] == 1.0
    np.testing.assert_allclose(mean[0, 0] * scale[0], 5e307, rtol=1e-14)
    assert m2[0, 0] < 1e-20


def test_sparse_features_without_any_stored_value_need_no_scale():
    D = np.c_[np.arange(6.0), np.zeros(6)]
    yidx = np.repeat([0, 1], 3).astype(np.int64)
    count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 2, None)
    assert scale is None and np.all(mean[:, 1] == 0) and np.all(m2[:, 1] == 0)


@pytest.mark.xfail(
    strict=True,
    reason="bug: a finite value above 2^1023 gets the scale 2^1024 = inf "
    "(_power_of_two_at_least overflows), so its mean comes back as 0 (and mean * scale nan)",
)
@pytest.mark.parametrize("sparse", [False, True])
def test_values_above_two_to_the_1023_keep_a_finite_scale(sparse):
    D = np.c_[np.full(6, 1.5e308), np.arange(6.0)]
    yidx = np.zeros(6, dtype=np.int64)
    if sparse:
        count, mean, m2, scale = _kernels.sparse_moments(sp.csr_matrix(D), yidx, 1, None)
    else:
        count, mean, m2, scale, _ = _dense(D, yidx, 1)
    assert np.isfinite(scale[0])
    np.testing.assert_allclose(mean[0, 0] * scale[0], 1.5e308, rtol=1e-14)


@pytest.mark.xfail(
    strict=True,
    reason="bug: where x - pivot overflows (+-1.7e308 in one class), _rescaled's deviation is "
    "inf, _power_of_two_at_least(inf) is 1, the column keeps scale 1 and the second pass "
    "overflows again: mean -inf/inf and M2 nan for finite input (and an 'overflow "
    "encountered in subtract' RuntimeWarning escapes)",
)
def test_deviations_beyond_the_float64_range_are_rescaled():
    X = np.array([[1.7e308], [-1.7e308], [1.0], [0.0], [1.7e308], [1.7e308]])
    yidx = np.array([0, 0, 0, 1, 1, 1], dtype=np.int64)
    count, mean, m2, scale, _ = _dense(X, yidx, 2)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(m2))


# ------------------------------------------------------------------ the guard, per feature
def _drifted(p=6, under=(1, 4), n=400, seed=12):
    """A chunk whose state means are right for every feature but those in ``under``, which
    drifted by 1e8 (their Q - S^2/n would cancel 16 digits)."""
    rng = np.random.default_rng(seed)
    yidx = np.repeat([0, 1], n // 2).astype(np.int64)
    X = rng.normal(size=(n, p)) + 3.0
    mean0, _ = _truth(X, yidx, 2)
    pivot = mean0.copy()
    X[:, list(under)] += 1e8
    return X, yidx, pivot


def test_the_guard_sums_again_only_the_features_under_it(fake_numba):
    X, yidx, pivot = _drifted()
    known = np.array([True, True])
    count, mean, m2, _, fired = _kernels.dense_moments(
        X, yidx, 2, np.zeros(6), pivot, known, None, use_numba=True
    )
    assert fired
    rows = [shape for shape, *_ in fake_numba["kernel"]]
    assert rows == [400, 400]
    mean0, m20 = _truth(X, yidx, 2)
    np.testing.assert_allclose(mean, mean0, rtol=1e-14)
    np.testing.assert_allclose(m2, m20, rtol=1e-9)


@pytest.fixture
def passes(monkeypatch):
    """The shape of the chunk each pass of ``_class_sums`` reads, in order."""
    seen = []
    real = _kernels._class_sums

    def spy(X_, *args):
        seen.append(X_.shape)
        return real(X_, *args)

    monkeypatch.setattr(_kernels, "_class_sums", spy)
    return seen


def test_the_guards_pass_reads_the_two_features_and_keeps_the_others_first_sums(
    passes, monkeypatch
):
    X, yidx, pivot = _drifted()
    known = np.array([True, True])
    got = _dense(X, yidx, 2, np.zeros(6), pivot, known)
    assert got[4] and passes == [(400, 6), (400, 2)]
    # the features under the guard as if alone in the chunk; the others as without a guard
    two = np.ascontiguousarray(X[:, [1, 4]])
    alone = _dense(two, yidx, 2, np.zeros(2), pivot[:, [1, 4]], known)
    monkeypatch.setattr(_kernels, "_GUARD", np.inf)
    unguarded = _dense(X, yidx, 2, np.zeros(6), pivot, known)
    for i in (1, 2):  # mean, m2
        np.testing.assert_array_equal(got[i][:, [1, 4]], alone[i])
        np.testing.assert_array_equal(got[i][:, [0, 2, 3, 5]], unguarded[i][:, [0, 2, 3, 5]])


def test_the_guard_with_scaled_features_takes_their_scales(monkeypatch):
    X, yidx, pivot = _drifted()
    scale = np.array([1.0, 4.0, 0.5, 2.0, 8.0, 1.0])
    known = np.array([True, True])
    count, mean, m2, out, fired = _dense(X, yidx, 2, np.zeros(6), pivot / scale, known, scale)
    assert fired and np.array_equal(out, scale)
    mean0, m20 = _truth(X, yidx, 2)
    np.testing.assert_allclose(mean * scale, mean0, rtol=1e-14)
    np.testing.assert_allclose(m2 * scale**2, m20, rtol=1e-9)


@pytest.mark.parametrize(
    "under, second_pass",
    [
        ((0, 1, 2, 4), (400, 6)),  # most features: the whole chunk again
        ((0, 2, 4), (400, 3)),  # "most" is strictly more than half: 3 of 6 read alone
    ],
)
def test_the_guard_reads_the_whole_chunk_only_when_most_features_are_under_it(
    passes, under, second_pass
):
    X, yidx, pivot = _drifted(under=under)
    got = _dense(X, yidx, 2, np.zeros(6), pivot, np.array([True, True]))
    assert got[4] and passes == [(400, 6), second_pass]
    mean0, m20 = _truth(X, yidx, 2)
    np.testing.assert_allclose(got[1], mean0, rtol=1e-14)
    np.testing.assert_allclose(got[2], m20, rtol=1e-9)
