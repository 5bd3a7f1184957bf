"""Chunked readers for tables larger than memory (CSV, Parquet, ``.npy``), and screening them.

Each reader yields ``(X, y, feature_names)`` chunks with ``X`` a float array and ``y`` the
target column, reading at most ``chunksize`` rows at a time. :func:`screen_file` folds the
chunks into an :class:`~skscreen.OnlineFClassifScreener`; it is what ``skscreen screen``
runs. Problems with a file's content raise :class:`DataError` (a ``ValueError``) naming the
file, the column and the data row (1-based, header excluded).

An input is opened once and its header read once. ``"-"`` reads standard input (the format
found from its first bytes). gzip, bz2, xz and zstd (with the ``zstandard`` package)
compression is found from the first bytes too, whatever the file's name (``d.csv.gz``, or a
gzip file named ``d.csv``). A CSV's label column is read as text: ``01`` and ``1`` are two
classes; the labels of ``.npy`` and Parquet files keep the type the file stores.
"""

from __future__ import annotations

import csv
import io
import os
import sys
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


def _frame_chunk(Xf, y, label, path, first_row):
    """``(X, y, feature_names)`` of a pandas chunk of features ``Xf`` and labels ``y``, with
    errors that name the cell."""
    import pandas as pd

    feats = [str(c) for c in Xf.columns]
    missing = pd.isna(y)
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{path}: label column {label!r} is empty (or a missing-value marker such as "
            f"NA) at data row {first_row + r + 1}; every row needs a label."
        )
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
    return X, y, feats


def _check_finite(X, feats, path, first_row):
    if np.isfinite(X.sum()):  # one reduction, no n x p temporary, in the usual case
        return
    finite = np.isfinite(X)
    if finite.all():  # the sum overflowed: huge but finite values
        return
    rows = np.flatnonzero(~finite.all(axis=1))
    r = rows[0]
    c = np.flatnonzero(~finite[r])[0]
    # a Python float: 'inf', not numpy 2's 'np.float64(inf)'
    what = "empty (missing)" if np.isnan(X[r, c]) else repr(float(X[r, c]))
    raise DataError(
        f"{path}: column {feats[c]!r}, data row {first_row + r + 1} is {what}; the F-test "
        "needs a finite number in every cell (impute or drop such rows first)."
    )


# ---------------------------------------------------------------- byte streams
class _Counted(io.RawIOBase):
    """A readable byte stream that counts the bytes read from it (progress of a scan)."""

    def __init__(self, fh):
        self._fh = fh
        self.n = 0

    def readable(self):
        return True

    def readinto(self, b):
        k = self._fh.readinto(b)
        self.n += k or 0
        return k


class _Prepended(io.RawIOBase):
    """``head`` (bytes already read) followed by the rest of ``fh``.

    ``interrupted``: a Ctrl-C came while it read (pandas' C parser turns an exception raised
    in its read callback, a KeyboardInterrupt in a pipe's wait included, into a ParserError:
    the reader re-raises the interrupt from this).
    """

    def __init__(self, head, fh):
        self._head = memoryview(head)
        self._fh = fh
        self.interrupted = False

    def readable(self):
        return True

    def readinto(self, b):
        if len(self._head):
            k = min(len(b), len(self._head))
            b[:k] = self._head[:k]
            self._head = self._head[k:]
            return k
        try:
            data = self._fh.read(len(b))
        except KeyboardInterrupt:
            self.interrupted = True
            raise
        b[: len(data)] = data
        return len(data)


# magic bytes -> compression; what pandas infers from a name, found from the content instead
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npy": "npy"}


def _decompressed(buf, compression, name):
    if compression == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=buf)
    if compression == "bz2":
        import bz2

        return bz2.BZ2File(buf)
    if compression == "xz":
        import lzma

        return lzma.LZMAFile(buf)
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise DataError(
                f"{name} is zstd-compressed and the zstandard package is not installed; "
                "pip install zstandard, or decompress it first (zstd -d)."
            ) from None
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(buf))
    raise DataError(f"{name} is a {compression} archive; extract the file and pass it instead.")


def _format_of(path):
    """``"csv"``, ``"parquet"`` or ``"npy"`` from a file's name (a compression suffix aside)."""
    base = os.path.basename(str(path)).lower()
    for suffix in _COMPRESSED_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    ext = os.path.splitext(base)[1]
    if ext not in _FORMATS:
        raise ValueError(
            f"Unsupported file type {ext!r} ({path}); use one of {sorted(_FORMATS)}, "
            "compressed or not."
        )
    return _FORMATS[ext]


def _read_into(fh, arr):
    """Fill ``arr`` from the stream ``fh`` (reads straight into it); the bytes read."""
    view, done = memoryview(arr).cast("B"), 0
    while done < len(view):
        k = fh.readinto(view[done:])
        if not k:
            break
        done += k
    return done


def _unique_names(names):
    """Column names made unique as pandas' C parser makes them (``a, a.1``, skipping a name
    the header holds further on; ``Unnamed: 2`` for an empty one, made unique after the
    named ones)."""
    out = [n if n != "" else f"Unnamed: {i}" for i, n in enumerate(names)]
    in_header, counts = set(out), {}
    order = [i for i, n in enumerate(names) if n != ""] + [
        i for i, n in enumerate(names) if n == ""
    ]
    for i in order:
        old = col = out[i]
        k = counts.get(old, 0)
        while k > 0:
            counts[old] = k + 1
            col = f"{old}.{k}"
            k = k + 1 if col in in_header else counts.get(col, 0)
        counts[col] = counts.get(col, 0) + 1
        out[i] = col
    return out


# ---------------------------------------------------------------- an opened input
class _Source:
    """An input opened once, header read: a file or standard input (``"-"``), decompressed
    if its first bytes say so. ``names`` are its columns; :meth:`chunks` reads it once."""

    def __init__(self, path):
        self.stdin = os.fspath(path) == "-"
        self.name = "<stdin>" if self.stdin else os.fspath(path)
        if self.stdin and sys.stdin.isatty():
            raise ValueError("- reads standard input, which is a terminal; pipe a file in.")
        if not self.stdin:
            self.format = _format_of(path)
            if not os.path.exists(path):
                raise FileNotFoundError(f"No such file: {path}; check the path.")
        self._spool = None  # a seekable copy of a stream, if one is needed
        self._file = sys.stdin.buffer if self.stdin else open(path, "rb", buffering=0)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self):
        self._raw = _Counted(self._file)
        buf = io.BufferedReader(self._raw, 1 << 16)
        head = buf.peek(8)[:8]
        self.compression = next((c for m, c in _MAGIC.items() if head.startswith(m)), None)
        self._fh = (
            buf if self.compression is None else _decompressed(buf, self.compression, self.name)
        )
        if self.stdin:
            head = self._guard(lambda: self._fh.peek(6)[:6])
            self.format = (
                "npy" if head.startswith(b"\x93NUMPY") else
                "parquet" if head.startswith(b"PAR1") else "csv"
            )  # fmt: skip
        self.plain_file = not self.stdin and self.compression is None
        self.total, self.unit = None, "rows"
        getattr(self, f"_open_{self.format}")()

    def close(self):
        for fh in (self._spool, None if self.stdin else self._file):
            if fh is not None:
                fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _guard(self, read):
        """``read()``, with a decompression or decoding failure named by file."""
        import lzma
        import zlib

        try:
            return read()
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start : exc.start + 1]
            raise DataError(
                f"{self.name}: not UTF-8 text (byte {bad!r}: {exc.reason}); save it as UTF-8."
            ) from None
        except (EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            if self.compression is None and not isinstance(exc, EOFError):
                raise
            what = f"its {self.compression} data" if self.compression else "it"
            raise DataError(
                f"{self.name}: cannot read {what} ({exc}); the file is truncated or corrupt: "
                "write it again."
            ) from None

    def _spooled(self):
        """A seekable copy of a stream (Parquet needs one): a temporary file."""
        import shutil
        import tempfile

        self._spool = tempfile.TemporaryFile()
        self._guard(lambda: shutil.copyfileobj(self._fh, self._spool, 1 << 20))
        self._spool.seek(0)
        return self._spool

    # -- CSV: the header read here (the csv module: cheap however wide), data by pandas
    def _open_csv(self):
        self.unit = "B"
        if not self.stdin:
            self.total = os.path.getsize(self.name)
        lines = []
        while not lines or lines[-1].strip() == b"" or b"".join(lines).count(b'"') % 2:
            line = self._guard(self._fh.readline)
            if not line:
                break
            lines.append(line)
        self._header = b"".join(lines)
        blank = 0  # whitespace-only lines before the header: pandas skips them
        while blank < len(lines) and not lines[blank].strip():
            blank += 1
        text = self._guard(lambda: b"".join(lines[blank:]).decode("utf-8")).lstrip("\ufeff")
        if not text.strip():
            raise DataError(f"{self.name} is empty: no header, no rows.")
        self.names = _unique_names(next(csv.reader(io.StringIO(text))))

    def _chunks_csv(self, t, chunksize):
        import pandas as pd

        stream = _Prepended(self._header, self._fh)
        # the label column as the index, read as text (a converter: unlike a dtype, it costs
        # no Series per column, and an index leaves the features to one to_numpy)
        reader = self._parsed(
            stream,
            lambda: pd.read_csv(stream, chunksize=chunksize, index_col=t, converters={t: str}),
        )
        first = 0
        while True:
            frame = self._parsed(stream, lambda: next(reader, None))
            if frame is None:
                return
            y = frame.index.to_numpy(dtype=object)
            X, y, feats = _frame_chunk(frame, y, self.names[t], self.name, first)
            yield _Chunk(X, y, feats, first, self._raw.n)
            first += len(frame)

    def _parsed(self, stream, parse):
        """``parse()`` of the CSV ``stream``: a row pandas cannot parse is a DataError; a
        Ctrl-C in one of its reads (pandas' C parser wraps it into a ParserError) an
        interrupt again."""
        import pandas as pd

        try:
            return self._guard(parse)
        except pd.errors.ParserError as exc:
            if stream.interrupted:
                raise KeyboardInterrupt from None
            raise DataError(f"{self.name}: {str(exc).strip()}; fix the row.") from None

    # -- Parquet: record batches (a stream is first copied to a temporary file)
    def _open_parquet(self):
        import pyarrow.parquet as pq

        self._pf = pq.ParquetFile(self.name if self.plain_file else self._spooled())
        self.names = list(self._pf.schema_arrow.names)
        self.total = self._pf.metadata.num_rows

    def _chunks_parquet(self, t, chunksize):
        first = 0
        for batch in self._pf.iter_batches(batch_size=chunksize):
            y = batch.column(t).to_numpy(zero_copy_only=False)
            Xf = batch.remove_column(t).to_pandas()
            X, y, feats = _frame_chunk(Xf, y, self.names[t], self.name, first)
            first += len(y)
            yield _Chunk(X, y, feats, first - len(y), first)

    # -- .npy: the header, then rows read in order (a plain Fortran-ordered file: mapped)
    def _open_npy(self):
        fh = self._fh
        try:
            major, _ = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, self._fortran, dtype = self._guard(lambda: read(fh))
        except ValueError as exc:
            raise DataError(f"{self.name}: not a readable .npy file ({exc}).") from None
        if len(shape) != 2:
            raise DataError(
                f"{self.name} holds a {len(shape)}-D array of shape {shape}; expected 2-D "
                "(rows x columns, the label being one column)."
            )
        if dtype.kind not in "biuf":
            raise DataError(f"{self.name} holds {dtype} values; expected numbers.")
        self._shape, self._dtype = shape, dtype
        if self.plain_file:
            with open(self.name, "rb") as plain:  # where the data starts
                np.lib.format.read_magic(plain)
                read(plain)
                need = plain.tell() + shape[0] * shape[1] * dtype.itemsize
            size = os.path.getsize(self.name)
            if size < need:
                raise DataError(
                    f"{self._truncated()} but the file has {size} bytes; write it again."
                )
        elif self._fortran:
            raise DataError(
                f"{self.name}: a Fortran-ordered .npy can only be read from a plain file; save "
                "it in C order (np.ascontiguousarray) or decompress it first."
            )
        self.names = [f"x{i}" for i in range(shape[1])]
        self.total = shape[0]

    def _truncated(self):
        (n_rows, n_cols), dtype = self._shape, self._dtype
        return (
            f"{self.name} is truncated: its header announces {n_rows} x {n_cols} {dtype} "
            f"({n_rows * n_cols * dtype.itemsize} bytes of data)"
        )

    def _chunks_npy(self, t, chunksize):
        (n_rows, n_cols), dtype = self._shape, self._dtype
        feats = self.names[:t] + self.names[t + 1 :]
        mapped = np.load(self.name, mmap_mode="r") if self._fortran else None
        for start in range(0, n_rows, chunksize):
            stop = min(n_rows, start + chunksize)
            if mapped is not None:
                block = np.ascontiguousarray(mapped[start:stop])
            else:
                block = np.empty((stop - start, n_cols), dtype=dtype)
                done = self._guard(lambda b=block: _read_into(self._fh, b))
                if done < block.nbytes:
                    rows = start + done // (n_cols * dtype.itemsize)
                    raise DataError(f"{self._truncated()}; its data ends after row {rows}.")
            y = block[:, t].copy()
            X = np.delete(block, t, axis=1) if t != n_cols - 1 else block[:, :t]
            if X.dtype.kind == "f":
                _check_finite(X, feats, self.name, start)
            yield _Chunk(X, y, feats, start, stop)

    def chunks(self, t, chunksize):
        """``_Chunk``s of at most ``chunksize`` rows, the label being column ``t``."""
        return getattr(self, f"_chunks_{self.format}")(t, chunksize)


def _open(path):
    """The input ``path`` (``"-"``: standard input) opened and its header read.

    Raises ``ValueError`` for an unsupported type, ``FileNotFoundError`` for a missing file
    and :class:`DataError` for an unreadable one.
    """
    return path if isinstance(path, _Source) else _Source(path)


def columns(path):
    """Column names of a CSV, Parquet or ``.npy`` file (``.npy``: ``x0, x1, ...``).

    Reads only the header. Raises ``ValueError`` for an unsupported type,
    ``FileNotFoundError`` for a missing file and :class:`DataError` for an unreadable one.
    """
    with _open(path) as src:
        return list(src.names)


def _chunks(path, target, chunksize):
    if int(chunksize) < 1:
        raise ValueError(f"chunksize must be positive, got {chunksize}.")
    with _open(path) as src:
        yield from src.chunks(_target_index(src.names, target), int(chunksize))


def iter_chunks(path, target, chunksize=100_000) -> Iterator[tuple[np.ndarray, np.ndarray, list]]:
    """Yield ``(X, y, feature_names)`` chunks of a CSV, Parquet or ``.npy`` file.

    Parameters
    ----------
    path : str or path-like
        The file (compressed or not), or ``"-"`` for standard input.
    target : str or int
        Name (CSV/Parquet) or index of the label column (``.npy`` columns are ``x0, x1, ...``).
    chunksize : int, default=100_000
        Rows per chunk.
    """
    for chunk in _chunks(path, target, chunksize):
        yield chunk.X, chunk.y, chunk.names


def count_rows(path):
    """Number of data rows of a file, cheaply where the format allows (else ``None``)."""
    if _format_of(path) == "csv":
        if not os.path.exists(path):
            raise FileNotFoundError(f"No such file: {path}; check the path.")
        return None
    with _open(path) as src:
        return src.total


def screen_file(path, target, *, chunksize=100_000, screener=None, progress=False):
    """Screen every feature of a CSV, Parquet or ``.npy`` file against its label column.

    The file is read in chunks of ``chunksize`` rows and folded into ``screener``
    (a fresh :class:`~skscreen.OnlineFClassifScreener` by default), so memory stays at
    one chunk.

    Parameters
    ----------
    path : str or path-like
        The file (compressed or not), or ``"-"`` for standard input.
    target : str or int
        Name or index of the label column. A CSV's labels are read as text.
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
        column and data row), an empty label, no data rows, or a single class.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skscreen.io import screen_file
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> X = rng.normal(size=(200, 3))
    >>> X[:, 1] += y
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "d.npy")
    >>> np.save(path, np.c_[X, y])
    >>> screener, names = screen_file(path, "3", chunksize=64)
    >>> names, screener.n_samples_seen_
    (['x0', 'x1', 'x2'], 200)
    >>> names[int(np.argmax(screener.scores_))]
    'x1'
    >>> folder.cleanup()
    """
    from tqdm.auto import tqdm

    from skscreen import OnlineFClassifScreener
    from skscreen.feature_selection._online_f import _check_two_classes

    if int(chunksize) < 1:
        raise ValueError(f"chunksize must be positive, got {chunksize}.")
    with _open(path) as src:
        t = _target_index(src.names, target)
        label = src.names[t]
        screener = OnlineFClassifScreener(k="all") if screener is None else screener
        names = None
        bar = tqdm(
            total=src.total,
            unit=src.unit,
            unit_scale=src.unit == "B",
            unit_divisor=1024 if src.unit == "B" else 1000,
            disable=not progress,
            desc="screening",
        )
        with bar:
            for chunk in src.chunks(t, int(chunksize)):
                names = chunk.names
                if len(chunk.y) == 0:
                    continue
                try:
                    screener.partial_fit(chunk.X, chunk.y)
                except ValueError as exc:
                    last = chunk.first_row + len(chunk.y)
                    raise DataError(
                        f"{src.name}, data rows {chunk.first_row + 1}-{last} (label column "
                        f"{label!r}): {exc}"
                    ) from None
                bar.update(chunk.done - bar.n)
        if names is None or not hasattr(screener, "moments_"):
            raise DataError(f"{src.name} has a header but no data rows; nothing to screen.")
        try:
            _check_two_classes(screener.moments_, fitting=True)
        except ValueError as exc:
            raise DataError(
                f"{src.name}: label column {label!r} ({screener.n_samples_seen_} rows): {exc}"
            ) from None
    return screener, names
