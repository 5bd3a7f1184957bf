"""One-pass per-class moments of a chunk, with per-class pivots (numpy and numba paths).

For every class ``c`` present in a chunk and every feature ``j`` the kernel forms, in float64,

    S_cj = sum_{i in c} (x_ij - K_cj) / s_j        Q_cj = sum_{i in c} ((x_ij - K_cj) / s_j)^2

with a per-class *pivot* ``K_cj`` (the running class mean of the state, or, for a class new
to the state, the chunk's first sample of that class: a data value) and a per-feature power
of two ``s_j`` (1 unless the feature's values would overflow or underflow when squared).
Then ``mean = K + s S / n`` and ``M2 = s^2 (Q - S^2 / n)``. Because the pivot is close to the
class mean, ``Q - S^2/n`` cancels little; a **guard** sums again, with the chunk's class
means as pivots, every feature ``j`` with some ``Q_cj > 2^10 * sum_c M2_cj`` (an outlier
first sample, drift, a feature constant in the chunk whose running mean is not: sparse
pixels, dead ReLU units), so that at most about three digits of the within-class sum of
squares can be lost. Only those features' columns are read again (the whole chunk when
they are most of them).

Two implementations of the same kernel: a compiled one (numba, serial, ``nogil``, no
``fastmath``, imported on first use, ``cache=True``; large chunks are split in two halves,
the second summed on one persistent worker thread, see :data:`KERNEL_THREADS`) and a
pure-numpy one (class rows gathered in blocks of 256, one subtraction into a float64 buffer,
sum and ``einsum``). They add in the same order (bit-identical sums), except that numba
splits a large chunk in two halves.

Which one runs is :data:`USE_NUMBA`'s choice. By default (``"auto"``) numba is used only
where it pays: importing numba and loading the compiled kernel from its disk cache costs
about 0.2-0.5 s (seconds on a busy machine, more to compile into an empty cache) and about
100 MB of memory, while the numpy path is only about 3x slower per value. So the numpy path
runs until this process has put :data:`NUMBA_AFTER_VALUES` values through it (about what
the numpy path does in the time numba takes to load), and numba from then on: the rule of
rent or buy, so that whatever the length of the stream, the time lost against the best
choice made in hindsight is at most about one load of numba. A first fit on small data
never loads numba, and ``import skscreen`` never imports it. ``True`` uses numba for every
chunk (where it is installed), ``False`` never. The environment variable
``SKSCREEN_NO_NUMBA`` set to a non-empty value other than ``0`` starts the process with
``False``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = [
    "NUMBA_AFTER_VALUES",
    "USE_NUMBA",
    "active_path",
    "dense_moments",
    "numba_available",
    "sparse_moments",
]

#: ``"auto"`` (numba once it pays, see :data:`NUMBA_AFTER_VALUES`), ``True`` (numba for every
#: chunk, where installed) or ``False`` (the numpy path only).
USE_NUMBA = "auto" if os.environ.get("SKSCREEN_NO_NUMBA", "") in ("", "0") else False

#: Under ``USE_NUMBA="auto"``: values (rows x features) the numpy path handles in this process
#: before numba is loaded (2^27, about 0.3 s of the numpy path on a 2020s core, about the
#: cost of loading numba and its cached kernel).
NUMBA_AFTER_VALUES = 2**27

_numpy_values = 0  # values through the numpy path under "auto" (approximate under threads)

# Rows of one class processed at once by the numpy path: the float64 working block
# (256 x n_features) stays in cache between the subtraction, the sum and the squares.
_BLOCK_ROWS = 256
# Guard: redo a chunk when some Q_cj exceeds 2^10 times the chunk's within-class sum of
# squares of feature j (more than ~3 of the 16 digits would cancel).
_GUARD = 2.0**10
# Squares of scaled values stay within [2^-600, 2^600]: far from float64's limits, so that
# merges and the F-test's sums of squares neither overflow nor underflow.
_BIG = 2.0**600
_SMALL = 2.0**-600

_numba_sums = None  # the compiled kernel, once loaded (False: numba is not available)

#: Threads of the compiled path for large chunks (the row range is split in two, each half
#: summed by the serial kernel, the halves added). ``SKSCREEN_KERNEL_THREADS=1`` turns it off.
KERNEL_THREADS = max(1, min(2, int(os.environ.get("SKSCREEN_KERNEL_THREADS", os.cpu_count() or 1))))
_SPLIT_ROWS = 8192  # rows per half below which one thread does it all


class LazyWorker:
    """One persistent worker thread, started on first use; no thread start per task.

    A forked child has the executor object but not its thread, so the worker is forgotten
    there and started again on use.
    """

    def __init__(self, name):
        self.name = name
        self._lock = threading.Lock()
        self._executor = None
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self):
        self._executor, self._lock = None, threading.Lock()

    def get(self):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
            return self._executor


# the second half of a split chunk
_SPLIT_WORKER = LazyWorker("skscreen-kernel")


def _load_numba():
    global _numba_sums
    if _numba_sums is None:
        try:
            from skscreen.stats._numba_kernels import class_sums
        except ImportError:
            _numba_sums = False
        else:
            _numba_sums = class_sums
    return _numba_sums


def numba_available():
    """Whether the compiled kernel can be used (imports numba and loads the kernel)."""
    return bool(_load_numba())


def active_path(n_values=0):
    """``"numba"`` or ``"numpy"``: the implementation :func:`dense_moments` uses now for a
    chunk of ``n_values`` values (rows x features), following :data:`USE_NUMBA`.

    Under ``"auto"`` this does not load numba: it answers ``"numba"`` once numba is loaded
    or once the chunk would bring the numpy path's total to :data:`NUMBA_AFTER_VALUES`.
    """
    return "numba" if _use_numba(USE_NUMBA, n_values, count=False) else "numpy"


def _use_numba(flag, n_values, *, count=True):
    """Whether a chunk of ``n_values`` values takes the compiled path under ``flag``.

    ``count``: add the chunk to the numpy path's total when it takes that path.
    """
    global _numpy_values
    if not isinstance(flag, str):
        return bool(flag) and bool(_load_numba())
    if flag != "auto":
        raise ValueError(f"USE_NUMBA must be True, False or 'auto', got {flag!r}.")
    if _numba_sums is False:  # numba is not installed: decided once
        return False
    if _numba_sums is None and _numpy_values + n_values < NUMBA_AFTER_VALUES:
        if count:
            _numpy_values += n_values
        return False
    if not count and _numba_sums is None:  # a question (active_path): do not load numba
        return _numba_installed()
    return bool(_load_numba())


def _numba_installed():
    """Whether numba can be imported (found, not imported)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def numpy_class_sums(X, yidx, pivot, inv_scale, S, Q):
    """Add ``sum (x - K_c) * inv_scale`` and its squares of each class into ``S`` and ``Q``.

    The pure-numpy kernel: rows of each class gathered in blocks of :data:`_BLOCK_ROWS`.
    ``inv_scale`` is None when every scale is 1.
    """
    n_features = X.shape[1]
    order = np.argsort(yidx, kind="stable")
    counts = np.bincount(yidx, minlength=S.shape[0])
    bounds = np.concatenate([[0], np.cumsum(counts)])
    size = min(_BLOCK_ROWS, max(1, int(counts.max(initial=1))))
    gathered = np.empty((size, n_features), dtype=X.dtype)
    buf = np.empty((size, n_features))
    for c in np.flatnonzero(counts):
        rows = order[bounds[c] : bounds[c + 1]]
        for b in range(0, len(rows), _BLOCK_ROWS):
            idx = rows[b : b + _BLOCK_ROWS]
            m = len(idx)
            blk = buf[:m]
            np.subtract(np.take(X, idx, axis=0, out=gathered[:m]), pivot[c], out=blk)
            if inv_scale is not None:
                blk *= inv_scale
            if n_features == 1:  # a contiguous column, which sum and einsum add pairwise:
                col = blk[:, 0]  # cumsum adds in row order, as the compiled kernel does
                S[c] += np.cumsum(col)[-1]
                Q[c] += np.cumsum(col * col)[-1]
            else:
                S[c] += blk.sum(axis=0)
                Q[c] += np.einsum("ij,ij->j", blk, blk)


def _class_sums(X, yidx, pivot, inv_scale, use_numba):
    k, p = pivot.shape
    S = np.zeros((k, p))
    Q = np.zeros((k, p))
    kernel = _load_numba() if use_numba else False
    if not kernel:
        numpy_class_sums(X, yidx, pivot, inv_scale, S, Q)
        return S, Q
    inv = np.ones(p) if inv_scale is None else inv_scale
    n = X.shape[0]
    if KERNEL_THREADS < 2 or n < 2 * _SPLIT_ROWS:
        kernel(X, yidx, pivot, inv, S, Q, _BLOCK_ROWS)
        return S, Q
    # two halves at once: the kernel releases the GIL (no OpenMP: nothing spins when the
    # machine is busy, a half just waits for its core)
    h = n // 2
    S2, Q2 = np.zeros((k, p)), np.zeros((k, p))
    second = _SPLIT_WORKER.get().submit(kernel, X[h:], yidx[h:], pivot, inv, S2, Q2, _BLOCK_ROWS)
    kernel(X[:h], yidx[:h], pivot, inv, S, Q, _BLOCK_ROWS)
    second.result()
    S += S2
    Q += Q2
    return S, Q


def _first_rows(yidx, n_classes):
    """Index of the first row of each class in the chunk (-1 for absent classes)."""
    first = np.full(n_classes, -1, dtype=np.int64)
    # reversed assignment: the last write (the first occurrence) wins
    rev = yidx[::-1]
    first[rev] = len(yidx) - 1 - np.arange(len(yidx), dtype=np.int64)
    return first


def _power_of_two_at_least(m):
    """Per element, the power of two ``2^e >= m`` (1 where ``m`` is 0 or not finite)."""
    with np.errstate(all="ignore"):
        _, e = np.frexp(np.where(np.isfinite(m) & (m > 0), m, 0.5))  # 0.5 = 0.5 * 2^0: 1
    return np.ldexp(1.0, e)


def _assert_finite(X):
    from sklearn.utils.validation import _assert_all_finite

    _assert_all_finite(X.data if hasattr(X, "indptr") else X, input_name="X")


def dense_moments(X, yidx, n_classes, shift, pivot, known, scale, locked=None, *, use_numba=None):
    """Counts, class means and M2 of one dense chunk, relative to ``shift`` and ``scale``.

    Parameters
    ----------
    X : ndarray of shape (n, p), float32 or float64, C-contiguous
    yidx : ndarray of shape (n,), int64
        Class index of each row, in ``[0, n_classes)``.
    shift : ndarray of shape (p,), float64
        Origin of the returned means (data units).
    pivot : ndarray of shape (n_classes, p), float64
        Pivot of each class as ``(K - shift) / scale`` (the state's class means); used for
        the classes where ``known`` is True.
    known : ndarray of shape (n_classes,), bool
        Classes with a pivot; the others take their first sample of the chunk.
    scale : ndarray of shape (p,) or None
        Current per-feature scales (powers of two); None means all 1.
    locked : ndarray of shape (p,), bool, default=None
        Features whose scale may only grow (the state already holds values in it).
    use_numba : bool or "auto", default=None
        The path: True (numba), False (numpy), ``"auto"`` (see :data:`USE_NUMBA`); None
        follows :data:`USE_NUMBA`. Decided once for the chunk (every pass over it, the
        guard's and the rescaling's included, takes the same path).

    Returns
    -------
    count : ndarray (n_classes,)
    mean : ndarray (n_classes, p)
        ``(class mean - shift) / scale`` (0 for absent classes).
    m2 : ndarray (n_classes, p)
        Within-class centred sums of squares divided by ``scale**2``.
    scale : ndarray (p,) or None
        The scales of ``mean`` and ``m2`` (set or enlarged for extreme features).
    guard_fired : bool
        Whether some features were summed again with chunk-mean pivots (the guard).

    Raises
    ------
    ValueError
        ``X`` contains NaN or infinity (scikit-learn's message); checked only when the sums
        are not finite, so finite data is read once.
    """
    use_numba = _use_numba(USE_NUMBA if use_numba is None else use_numba, X.size)
    count = np.bincount(yidx, minlength=n_classes).astype(np.float64)
    s = 1.0 if scale is None else scale
    K = shift + np.asarray(pivot, dtype=np.float64) * s  # data units
    first = _first_rows(yidx, n_classes)
    new = (~np.asarray(known, dtype=bool)) & (first >= 0)
    if new.any():
        K[new] = X[first[new]]  # a data value: x - K is exact near it
    inv = None if scale is None else 1.0 / scale
    with np.errstate(over="ignore", invalid="ignore"):
        S, Q = _class_sums(X, yidx, K, inv, use_numba)

    # --- non-finite sums: bad input, or squares beyond float64 (rescale and redo)
    present = count > 0
    if not (np.isfinite(S).all() and np.isfinite(Q).all()):
        _assert_finite(X)
    new_scale = _rescaled(X, yidx, K, shift, scale, locked, S, Q, present)
    if new_scale is not None:
        scale, inv = new_scale, 1.0 / new_scale
        S, Q = _class_sums(X, yidx, K, inv, use_numba)

    # --- guard: too much cancellation in some features -> their chunk class means as
    # pivots, for those features only (each feature's sums depend on its column alone):
    # on sparse data (pixels, ReLU outputs) it fires on the few features constant in the
    # chunk whose state mean is not, and a whole second pass cost as much as the first
    n = np.maximum(count, 1.0)[:, None]
    s = 1.0 if scale is None else scale
    m2 = np.maximum(Q - S * S / n, 0.0)
    over = np.any(Q > _GUARD * m2.sum(axis=0), axis=0)
    fired = bool(over.any())
    if fired:
        cols = np.flatnonzero(over)
        K[:, cols] += (S[:, cols] / n) * (s if np.ndim(s) == 0 else s[cols])
        if 2 * len(cols) > X.shape[1]:  # most features: one pass over the whole chunk
            S, Q = _class_sums(X, yidx, K, inv, use_numba)  # the others' sums come out equal
        else:
            S[:, cols], Q[:, cols] = _class_sums(
                np.ascontiguousarray(X[:, cols]), yidx, np.ascontiguousarray(K[:, cols]),
                None if inv is None else inv[cols], use_numba,
            )
        m2 = np.maximum(Q - S * S / n, 0.0)
    # K - shift is exact when the pivot is near the shift (the usual case), so the mean
    # keeps all the digits of its distance from the shift
    mean = (K - shift) / s + S / n
    mean[~present] = 0.0
    m2[~present] = 0.0
    return count, mean, m2, scale, fired


def _rescaled(X, yidx, K, shift, scale, locked, S, Q, present):
    """New per-feature scales when some scaled squares leave ``[2^-600, 2^600]``, else None.

    Features whose ``Q`` overflows (or is above ``2^600``), or whose class means lie more
    than ``2^300`` units from the shift (their squared differences would), get the power of
    two just above their largest deviation from the pivots or from the shift; features whose
    ``Q`` underflows (non-zero deviations but ``Q`` below ``2^-600``) likewise, scaled up,
    unless ``locked`` (a state holding larger values: the chunk's tiny variation is then
    negligible anyway). Only those columns are read again.
    """
    Qp, Sp = Q[present], S[present]
    qmax = Qp.max(axis=0)
    offset = np.abs(K[present] - shift).max(axis=0)  # data units
    unit = 1.0 if scale is None else scale
    big = ~np.isfinite(qmax) | (qmax > _BIG) | (offset / unit > np.sqrt(_BIG))
    small = (qmax < _SMALL) & ((qmax > 0) | (Sp != 0).any(axis=0))
    if locked is not None:
        small &= ~locked
    cols = np.flatnonzero(big | small)
    if not cols.size:
        return None
    dev = np.abs(X[:, cols].astype(np.float64) - K[yidx][:, cols]).max(axis=0)
    dev = np.maximum(dev, np.where(big[cols], offset[cols], 0.0))
    return _new_scale(scale, locked, cols, _power_of_two_at_least(dev), X.shape[1])


def _new_scale(scale, locked, cols, needed, n_features):
    out = np.ones(n_features) if scale is None else np.array(scale, dtype=np.float64)
    if locked is not None:
        needed = np.where(locked[cols], np.maximum(needed, out[cols]), needed)
    out[cols] = needed
    return out


def _sparse_deviations(X, cols, shift):
    """Per column of ``cols``, the largest ``|x - shift_j|`` over its values, implicit zeros
    included (``|shift_j|`` when the column has one)."""
    sub = X[:, cols].tocsc()
    out = np.zeros(len(cols))
    for i, j in enumerate(cols):
        values = sub.data[sub.indptr[i] : sub.indptr[i + 1]].astype(np.float64)
        out[i] = np.abs(values - shift[j]).max(initial=0.0)
        if values.size < X.shape[0]:
            out[i] = max(out[i], abs(shift[j]))
    return out


def sparse_moments(X, yidx, n_classes, scale, locked=None, shift=None):
    """Counts, class means and M2 of a canonical CSR chunk, relative to ``shift``; stored
    entries only.

    Two passes over the stored values (sums, then deviations from the class means), plus
    the implicit zeros in closed form: each is ``0 - shift_j`` from the shift, so a column
    stored with a large offset (timestamps, ``1e12 + noise``) keeps its digits when the
    shift is near its values, as the dense path's first-row shift does. Returns ``(count,
    mean, m2, scale)`` like :func:`dense_moments` (``mean`` is ``(class mean - shift) /
    scale``, ``m2`` divided by ``scale**2``); ``shift`` None is zero (bit for bit the sums
    of the stored values).
    """
    n_features = X.shape[1]
    count = np.bincount(yidx, minlength=n_classes).astype(np.float64)
    if not np.isfinite(X.data).all():
        _assert_finite(X)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    cols = X.indices
    flat = yidx[rows] * n_features + cols
    size = n_classes * n_features
    nnz = np.bincount(flat, minlength=size).reshape(n_classes, n_features)
    implicit = count[:, None] - nnz  # the implicit zeros of each class and feature
    shift = np.zeros(n_features) if shift is None else np.asarray(shift, dtype=np.float64)
    shifted = bool(np.any(shift != 0))

    def weighted(weights):
        # float64 even without a stored entry (np.bincount of nothing is an integer array)
        out = np.bincount(flat, weights=weights, minlength=size).astype(np.float64, copy=False)
        return out.reshape(n_classes, n_features)

    def moments(inv):
        data = X.data.astype(np.float64)
        if shifted:
            data = data - shift[cols]
        zero = -shift if inv is None else -shift * inv  # an implicit zero, from the shift
        if inv is not None:
            data = data * inv[cols]
        sums = weighted(data)
        if shifted:
            sums += implicit * zero
        mean = sums / np.maximum(count, 1.0)[:, None]
        dev = data - mean.ravel()[flat]
        m2 = weighted(dev * dev)
        if shifted:
            # only where a class has implicit zeros: elsewhere (zero - mean)^2 may overflow
            # (a column stored in every row, beyond 1e154 from the shift) and 0 * inf is nan
            m2 += np.where(implicit > 0, implicit * (zero - mean) ** 2, 0.0)
        else:
            m2 += implicit * mean * mean  # the implicit zeros
        return mean, m2

    inv = None if scale is None else 1.0 / scale
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        mean, m2 = moments(inv)
        present = count > 0
        qmax = m2[present].max(axis=0, initial=0.0)
        mmax = np.abs(mean[present]).max(axis=0, initial=0.0)
        big = ~np.isfinite(qmax) | (qmax > _BIG) | (mmax * mmax > _BIG)
        small = (qmax < _SMALL) & (mmax * mmax < _SMALL) & (mmax > 0)
        if locked is not None:
            small &= ~locked
        cols_bad = np.flatnonzero(big | small)
        if cols_bad.size:
            needed = _power_of_two_at_least(_sparse_deviations(X, cols_bad, shift))
            scale = _new_scale(scale, locked, cols_bad, needed, n_features)
            mean, m2 = moments(1.0 / scale)
    return count, mean, m2, scale
