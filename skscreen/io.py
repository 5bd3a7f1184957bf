"""Chunked readers for tables larger than memory (CSV, Parquet, ``.npy``), and screening them.

Each reader yields ``(X, y, feature_names)`` chunks with ``X`` a float array and ``y`` the
target column, reading at most ``chunksize`` rows at a time. :func:`screen_file` folds the
chunks into an :class:`~skscreen.OnlineFClassifScreener`; it is what ``skscreen screen``
runs. Problems with a file's content raise :class:`DataError` (a ``ValueError``) naming the
file, the column and the data row (1-based, header excluded).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

__all__ = ["DataError", "columns", "count_rows", "iter_chunks", "screen_file"]


class DataError(ValueError):
    """The content of a file cannot be screened (a bad cell, one class, no rows...)."""


class _Chunk(NamedTuple):
    X: np.ndarray
    y: np.ndarray
    names: list
    first_row: int  # 0-based index of the chunk's first data row in the file
    done: int  # progress after this chunk: bytes read (CSV) or rows read


def _target_index(names, target):
    if target in names:
        return names.index(target)
    try:
        idx = int(target)
    except (TypeError, ValueError):
        shown = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
        raise ValueError(f"Target column {target!r} not found; columns are {shown}.") from None
    if not -len(names) <= idx < len(names):
        raise ValueError(f"Target column index {idx} out of range for {len(names)} columns.")
    return idx % len(names)


def _first_bad_cell(frame, valid):
    """``(row, column)`` of the first ``False`` in the boolean frame ``valid``."""
    bad = ~valid.to_numpy()
    rows = np.flatnonzero(bad.any(axis=1))
    r = rows[0]
    c = np.flatnonzero(bad[r])[0]
    return r, c


def _frame_chunk(frame, t, path, first_row):
    """``(X, y, feature_names)`` of a pandas chunk, with errors that name the cell."""
    import pandas as pd

    names = [str(c) for c in frame.columns]
    feats = [n for i, n in enumerate(names) if i != t]
    y_col = frame.iloc[:, t]
    if y_col.isna().any():
        r = int(np.flatnonzero(y_col.isna().to_numpy())[0])
        raise DataError(
            f"{path}: label column {names[t]!r} is empty at data row {first_row + r + 1}; "
            "every row needs a label."
        )
    Xf = frame.drop(columns=frame.columns[t])
    try:
        X = Xf.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        numeric = Xf.apply(pd.to_numeric, errors="coerce")
        r, c = _first_bad_cell(Xf, numeric.notna() | Xf.isna())
        raise DataError(
            f"{path}: column {feats[c]!r}, data row {first_row + r + 1}: "
            f"{Xf.iat[r, c]!r} is not a number; fix the cell or drop the column."
        ) from None
    _check_finite(X, feats, path, first_row)
    return X, y_col.to_numpy(), feats


def _check_finite(X, feats, path, first_row):
    if np.isfinite(X.sum()):  # one reduction, no n x p temporary, in the usual case
        return
    finite = np.isfinite(X)
    if finite.all():  # the sum overflowed: huge but finite values
        return
    rows = np.flatnonzero(~finite.all(axis=1))
    r = rows[0]
    c = np.flatnonzero(~finite[r])[0]
    what = "empty (missing)" if np.isnan(X[r, c]) else f"{X[r, c]!r}"
    raise DataError(
        f"{path}: column {feats[c]!r}, data row {first_row + r + 1} is {what}; the F-test "
        "needs a finite number in every cell (impute or drop such rows first)."
    )


def _iter_csv(path, t, chunksize):
    import pandas as pd

    first = 0
    with open(path, "rb") as fh:
        for frame in pd.read_csv(fh, chunksize=chunksize):
            X, y, feats = _frame_chunk(frame, t, path, first)
            yield _Chunk(X, y, feats, first, fh.tell())
            first += len(frame)


def _iter_parquet(path, t, chunksize):
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    first = 0
    for batch in pf.iter_batches(batch_size=chunksize):
        X, y, feats = _frame_chunk(batch.to_pandas(), t, path, first)
        first += len(y)
        yield _Chunk(X, y, feats, first - len(y), first)


def _npy_header(path):
    """``(shape, fortran, dtype, data_offset)`` of a 2-D numeric ``.npy``; checks its size."""
    try:
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    except ValueError as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc}).") from None
    if len(shape) != 2:
        raise DataError(
            f"{path} holds a {len(shape)}-D array of shape {shape}; expected 2-D "
            "(rows x columns, the label being one column)."
        )
    if dtype.kind not in "biuf":
        raise DataError(f"{path} holds {dtype} values; expected numbers.")
    need = offset + shape[0] * shape[1] * dtype.itemsize
    size = os.path.getsize(path)
    if size < need:
        raise DataError(
            f"{path} is truncated: its header announces {shape[0]} x {shape[1]} {dtype} "
            f"({need} bytes) but the file has {size} bytes; write it again."
        )
    return shape, fortran, dtype, offset


def _iter_npy(path, t, chunksize):
    """Chunks of a 2-D ``.npy`` file, read at their offsets without loading the file.

    Plain reads rather than a memory map: mapped pages stay resident (and count toward the
    process's memory) once touched, while reads keep it at one chunk however large the file.
    Fortran-ordered files fall back to a read-only memory map.
    """
    shape, fortran, dtype, offset = _npy_header(path)
    n_rows, n_cols = shape
    feats = [f"x{i}" for i in range(n_cols) if i != t]
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
            if X.dtype.kind == "f":
                _check_finite(X, feats, path, start)
            yield _Chunk(X, y, feats, start, stop)


_READERS = {".csv": _iter_csv, ".parquet": _iter_parquet, ".pq": _iter_parquet, ".npy": _iter_npy}


def _ext(path):
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _READERS:
        raise ValueError(f"Unsupported file type {ext!r}; use one of {sorted(_READERS)}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path}; check the path.")
    return ext


def columns(path):
    """Column names of a CSV, Parquet or ``.npy`` file (``.npy``: ``x0, x1, ...``).

    Reads only the header. Raises ``ValueError`` for an unsupported type,
    ``FileNotFoundError`` for a missing file and :class:`DataError` for an unreadable one.
    """
    ext = _ext(path)
    if ext == ".npy":
        shape = _npy_header(path)[0]
        return [f"x{i}" for i in range(shape[1])]
    if ext == ".csv":
        import pandas as pd

        try:
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        except pd.errors.EmptyDataError:
            raise DataError(f"{path} is empty: no header, no rows.") from None
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(path).schema_arrow.names)


def _chunks(path, target, chunksize):
    if int(chunksize) < 1:
        raise ValueError(f"chunksize must be positive, got {chunksize}.")
    t = _target_index(columns(path), target)
    return _READERS[_ext(path)](path, t, int(chunksize))


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
    for chunk in _chunks(path, target, chunksize):
        yield chunk.X, chunk.y, chunk.names


def count_rows(path):
    """Number of data rows of a file, cheaply where the format allows (else ``None``)."""
    ext = _ext(path)
    if ext == ".npy":
        return _npy_header(path)[0][0]
    if ext in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None


def _label_change(y, kind, name, path, first_row):
    """Error for a label column that holds numbers in one chunk and text in another."""
    import pandas as pd

    from skscreen.stats._moments import _label_kind

    new = _label_kind(y)
    if kind is None or new == kind:
        return new
    # the first row whose label is not a number (or the chunk's first row)
    text = pd.isna(pd.to_numeric(pd.Series(y), errors="coerce")).to_numpy()
    r = int(np.flatnonzero(text)[0]) if new == "string" and text.any() else 0
    raise DataError(
        f"{path}: label column {name!r} holds {kind} labels before data row "
        f"{first_row + r + 1} and {new} labels from there ({y[r]!r}); use one label type "
        "in the whole column (fix the cell, or make every label text)."
    )


def screen_file(path, target, *, chunksize=100_000, screener=None, progress=False):
    """Screen every feature of a CSV, Parquet or ``.npy`` file against its label column.

    The file is read in chunks of ``chunksize`` rows and folded into ``screener``
    (a fresh :class:`~skscreen.OnlineFClassifScreener` by default), so memory stays at
    one chunk.

    Parameters
    ----------
    path : str or path-like
    target : str or int
        Name or index of the label column.
    chunksize : int, default=100_000
        Rows per chunk.
    screener : OnlineFClassifScreener, default=None
        Screener to fold the chunks into (unfitted, or continued).
    progress : bool, default=False
        Show a progress bar on stderr (bytes for CSV, rows otherwise; with ETA).

    Returns
    -------
    screener : OnlineFClassifScreener
    feature_names : list of str

    Raises
    ------
    DataError
        The content cannot be screened: a cell that is not a finite number (named by
        column and data row), an empty label, a label column that changes type, no data
        rows, or a single class.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skscreen.io import screen_file
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> X = rng.normal(size=(200, 3))
    >>> X[:, 1] += y
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npy")
    >>> np.save(path, np.c_[X, y])
    >>> screener, names = screen_file(path, "3", chunksize=64)
    >>> names, screener.n_samples_seen_
    (['x0', 'x1', 'x2'], 200)
    >>> names[int(np.argmax(screener.scores_))]
    'x1'
    """
    from tqdm.auto import tqdm

    from skscreen import OnlineFClassifScreener
    from skscreen.feature_selection._online_f import _check_two_classes

    names_all = columns(path)
    t = _target_index(names_all, target)
    label = names_all[t]
    screener = OnlineFClassifScreener(k="all") if screener is None else screener
    ext = _ext(path)
    if ext == ".csv":
        total, unit = os.path.getsize(path), "B"
    else:
        total, unit = count_rows(path), "rows"
    names, kind = None, None
    bar = tqdm(
        total=total,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024 if unit == "B" else 1000,
        disable=not progress,
        desc="screening",
    )
    with bar:
        for chunk in _chunks(path, target, chunksize):
            names = chunk.names
            if len(chunk.y) == 0:
                continue
            kind = _label_change(chunk.y, kind, label, path, chunk.first_row)
            try:
                screener.partial_fit(chunk.X, chunk.y)
            except ValueError as exc:
                last = chunk.first_row + len(chunk.y)
                raise DataError(
                    f"{path}, data rows {chunk.first_row + 1}-{last} (label column "
                    f"{label!r}): {exc}"
                ) from None
            bar.update(chunk.done - bar.n)
    if names is None or not hasattr(screener, "moments_"):
        raise DataError(f"{path} has a header but no data rows; nothing to screen.")
    try:
        _check_two_classes(screener.moments_, fitting=True)
    except ValueError as exc:
        raise DataError(
            f"{path}: label column {label!r} ({screener.n_samples_seen_} rows): {exc}"
        ) from None
    return screener, names
