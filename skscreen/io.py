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


def _npy_header(path):
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(fh)
        return shape, fortran, dtype, fh.tell()


def _iter_npy(path, target, chunksize):
    """Chunks of a 2-D ``.npy`` file, read at their offsets without loading the file.

    Plain reads rather than a memory map: mapped pages stay resident (and count toward the
    process's memory) once touched, while reads keep it at one chunk however large the file.
    Fortran-ordered files fall back to a read-only memory map.
    """
    shape, fortran, dtype, offset = _npy_header(path)
    if len(shape) != 2:
        raise ValueError(f"{path} holds a {len(shape)}-D array; expected 2-D (rows x columns).")
    n_rows, n_cols = shape
    names = [f"x{i}" for i in range(n_cols)]
    t = _target_index(names, target)
    feats = [n for i, n in enumerate(names) if i != t]
    mapped = np.load(path, mmap_mode="r") if fortran else None
    with open(path, "rb") as fh:
        for start in range(0, n_rows, chunksize):
            stop = min(n_rows, start + chunksize)
            if mapped is not None:
                block = np.ascontiguousarray(mapped[start:stop])
            else:
                fh.seek(offset + start * n_cols * dtype.itemsize)
                block = np.fromfile(fh, dtype=dtype, count=(stop - start) * n_cols)
                block = block.reshape(stop - start, n_cols)
            y = block[:, t].copy()
            X = np.delete(block, t, axis=1) if t != n_cols - 1 else block[:, :t]
            yield X, y, feats


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
