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
    assert e1.submit(lambda: threading.current_thread().name).result().startswith(
        "skscreen-test-worker"
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
    mean = np.array([D[yidx == c].mean(axis=0) if (yidx == c).any() else np.zeros(D.shape[1]) for c in range(k)])
    m2 = np.array(
        [((D[yidx == c] - mean[c]) ** 2).sum(axis=0) if (yidx == c).any() else np.zeros(D.shape[1]) for c in range(k)]
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
