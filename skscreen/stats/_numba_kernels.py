"""The compiled per-class pivot kernel (numba; imported on first use by ``_kernels``).

Serial and ``nogil`` (callers may run chunks on their own threads, e.g. Dask), ``fastmath``
off (the sums must be the IEEE ones: the numpy path gives the same results to about 1e-15),
no ``prange`` (OpenMP threads spin on a loaded machine), compiled once per input dtype and
cached on disk.
"""

from __future__ import annotations

import numba

__all__ = ["class_sums"]


@numba.njit(cache=True, nogil=True, fastmath=False)
def class_sums(X, yidx, pivot, inv_scale, S, Q):  # pragma: no cover - compiled
    """Add ``d = (x_i - K_{y_i}) * inv_scale`` and ``d^2`` of every row into ``S``/``Q``."""
    n, p = X.shape
    for i in range(n):
        c = yidx[i]
        xi = X[i]
        kc = pivot[c]
        sc = S[c]
        qc = Q[c]
        for j in range(p):
            d = (xi[j] - kc[j]) * inv_scale[j]
            sc[j] += d
            qc[j] += d * d
