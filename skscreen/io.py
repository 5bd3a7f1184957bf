"""Chunked readers for tables larger than memory (CSV, Parquet, memory-mapped ``.npy``).

Each reader yields ``(X, y, feature_names)`` chunks with ``X`` a float array and ``y`` the
target column, reading at most ``chunksize`` rows at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

__all__ = ["iter_chunks", "count_rows"]


def _target_index(names, target):
    if target in names:
        return names.index(target)
    try:
        idx = int(target)
    except (TypeError, ValueError):
        raise ValueError(
            f"Target column {target!r} not found; columns are {names[:20]!r}..."
        ) from None
    if not -len(names) <= idx < len(names):
        raise ValueError(f"Target column index {idx} out of range for {len(names)} columns.")
    return idx % len(names)


def _iter_csv(path, target, chunksize):
    import pandas as pd

    for frame in pd.read_csv(path, chunksize=chunksize):
        names = [str(c) for c in frame.columns]
        t = _target_index(names, target)
        y = frame.iloc[:, t].to_numpy()
        X = frame.drop(columns=frame.columns[t]).to_numpy(dtype=np.float64)
        yield X, y, [n for i, n in enumerate(names) if i != t]


def _iter_parquet(path, target, chunksize):
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = list(pf.schema_arrow.names)
    t = _target_index(names, target)
    feats = [n for i, n in enumerate(names) if i != t]
    for batch in pf.iter_batches(batch_size=chunksize):
        y = batch.column(t).to_numpy(zero_copy_only=False)
        X = np.column_stack([batch.column(n).to_numpy(zero_copy_only=False) for n in feats])
        yield X.astype(np.float64, copy=False), y, feats


def _iter_npy(path, target, chunksize):
    arr = np.load(path, mmap_mode="r")
    if arr.ndim != 2:
        raise ValueError(f"{path} holds a {arr.ndim}-D array; expected 2-D (rows x columns).")
    names = [f"x{i}" for i in range(arr.shape[1])]
    t = _target_index(names, target)
    keep = np.array([i for i in range(arr.shape[1]) if i != t])
    feats = [names[i] for i in keep]
    for start in range(0, arr.shape[0], chunksize):
        block = np.asarray(arr[start : start + chunksize])
        yield block[:, keep], block[:, t], feats


_READERS = {".csv": _iter_csv, ".parquet": _iter_parquet, ".pq": _iter_parquet, ".npy": _iter_npy}


def _reader(path):
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _READERS:
        raise ValueError(f"Unsupported file type {ext!r}; use one of {sorted(_READERS)}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path}")
    return _READERS[ext]


def iter_chunks(path, target, chunksize=100_000) -> Iterator[tuple[np.ndarray, np.ndarray, list]]:
    """Yield ``(X, y, feature_names)`` chunks of a CSV, Parquet or ``.npy`` file.

    Parameters
    ----------
    path : str or path-like
    target : str or int
        Name (CSV/Parquet) or index of the label column (``.npy`` columns are ``x0, x1, ...``).
    chunksize : int, default=100_000
        Rows per chunk.
    """
    if chunksize < 1:
        raise ValueError(f"chunksize must be positive, got {chunksize}.")
    yield from _reader(path)(path, target, chunksize)


def count_rows(path):
    """Number of data rows of a file, cheaply where the format allows (for progress bars)."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext == ".npy":
        return np.load(path, mmap_mode="r").shape[0]
    if ext in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None
