"""The compiled per-class pivot kernel (numba; imported on first use by ``_kernels``).

Serial and ``nogil`` (callers may run chunks on their own threads, e.g. Dask), ``fastmath``
off (the sums must be the IEEE ones: the numpy path gives the same results to about 1e-15),
no ``prange`` (OpenMP threads spin on a loaded machine), compiled once per input dtype and
cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["class_sums"]


@numba.njit(cache=True, nogil=True, fastmath=False)
def class_sums(X, yidx, pivot, inv_scale, S, Q, block):  # pragma: no cover - compiled
    """Add ``d = (x_i - K_{y_i}) * inv_scale`` and ``d^2`` of every row into ``S``/``Q``.

    Each class's rows are summed in blocks of ``block`` rows (in row order) and the block
    sums added to ``S``/``Q``: the same order of operations as the numpy path, and a
    two-level summation (error about ``(block + n / block) eps`` instead of ``n eps``).
    """
    n, p = X.shape
    k = S.shape[0]
    sb = np.zeros((k, p))
    qb = np.zeros((k, p))
    rows = np.zeros(k, dtype=np.int64)
    for i in range(n):
        c = yidx[i]
        xi = X[i]
        kc = pivot[c]
        sc = sb[c]
        qc = qb[c]
        for j in range(p):
            d = (xi[j] - kc[j]) * inv_scale[j]
            sc[j] += d
            qc[j] += d * d
        rows[c] += 1
        if rows[c] == block:
            for j in range(p):
                S[c, j] += sc[j]
                Q[c, j] += qc[j]
                sc[j] = 0.0
                qc[j] = 0.0
            rows[c] = 0
    for c in range(k):
        if rows[c] > 0:
            for j in range(p):
                S[c, j] += sb[c, j]
                Q[c, j] += qb[c, j]
