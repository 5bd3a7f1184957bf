"""Every function of ``skscreen.io`` called directly on small files, with known truths.

The unit file of ``skscreen/io.py``'s mutation run (issue 20): the scores against sklearn's
``f_classif`` on the same rows, chunk boundaries and progress, headers, the label column by
name and by (negative) index, compression found from the content, standard input, the
Parquet, ``.npy`` and CSV readers, and every message word for word (file, column, row).
"""

import bz2
import gzip
import io
import lzma
import os
import random
import signal
import sys
import threading
import time
import zlib

import numpy as np
import pytest
from sklearn.feature_selection import f_classif

from skscreen import OnlineFClassifScreener
from skscreen import io as skio
from skscreen.io import DataError, columns, count_rows, iter_chunks, screen_file

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

_EXPECT_2D = "expected 2-D (rows x columns, the label being one column)."


def _data(n=57, p=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, p)).round(6)
    X[:, 1] += y
    return X, y


def _frame(X, y, label="y"):
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    df[label] = y
    return df


def _write(path, X, y, fmt):
    """The table ``X, y`` (label last) as ``fmt``: csv, npy, parquet, optionally
    ``.gz``/``.bz2``/``.xz`` compressed; the target to pass."""
    base, _, comp = fmt.partition(".")
    buf = io.BytesIO()
    if base == "npy":
        np.save(buf, np.c_[X, y])
        target = "-1"
    elif base == "csv":
        buf.write(_frame(X, y).to_csv(index=False).encode())
        target = "y"
    else:
        _frame(X, y).to_parquet(buf, row_group_size=16)
        target = "y"
    data = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}.get(comp, bytes)
    path.write_bytes(data(buf.getvalue()))
    return target


def _stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def _chunks(path, target, chunksize):
    with skio._Source(path) as src:
        t = skio._target_index(src.names, target)
        return list(src.chunks(t, chunksize))


def _message(exc_info):
    return str(exc_info.value)


class _Recorder(OnlineFClassifScreener):
    """A screener that records the rows of every ``partial_fit`` (and may refuse one)."""

    def partial_fit(self, X, y, **kw):
        self.sizes_ = [*getattr(self, "sizes_", []), len(y)]
        if len(self.sizes_) == getattr(self, "refuse_at", 0):
            raise ValueError("refused here")
        return super().partial_fit(X, y, **kw)


# ---------------------------------------------------------------- the scores: f_classif's
@pytest.mark.parametrize("fmt", ["csv", "npy", "parquet", "csv.gz", "npy.bz2", "parquet.xz"])
@pytest.mark.parametrize("chunksize", [1, 7, 57, 1000])
def test_screen_file_scores_are_f_classif(tmp_path, fmt, chunksize):
    X, y = _data()
    path = tmp_path / f"d.{fmt}"
    target = _write(path, X, y, fmt)
    screener, names = screen_file(path, target, chunksize=chunksize)
    assert names == (["x0", "x1", "x2"] if fmt.startswith("npy") else ["f0", "f1", "f2"])
    assert screener.n_samples_seen_ == 57 and screener.k == "all"
    np.testing.assert_allclose(screener.scores_, f_classif(X, y)[0], rtol=1e-10)
    np.testing.assert_allclose(screener.pvalues_, f_classif(X, y)[1], rtol=1e-8)


def test_screen_file_label_by_name_in_the_middle_and_by_negative_index(tmp_path):
    X, y = _data()
    df = _frame(X, np.where(y == 1, "yes", "no"), label="label")
    df.insert(1, "label", df.pop("label"))
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    want = f_classif(X, np.where(y == 1, "yes", "no"))[0]
    for target in ("label", "1", 1, "-3", -3):
        screener, names = screen_file(path, target, chunksize=10)
        assert names == ["f0", "f1", "f2"]
        np.testing.assert_allclose(screener.scores_, want, rtol=1e-10)
        assert screener.classes_.tolist() == ["no", "yes"]


def test_screen_file_continues_a_screener(tmp_path):
    X, y = _data(n=40)
    path = tmp_path / "d.npy"
    np.save(path, np.c_[X[20:], y[20:]])
    s = OnlineFClassifScreener(k="all").partial_fit(X[:20], y[:20].astype(float))
    got, _ = screen_file(path, 3, chunksize=6, screener=s)
    assert got is s and s.n_samples_seen_ == 40
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-10)


def test_default_chunksize_is_100_000_rows(tmp_path):
    n = 100_001
    y = np.arange(n) % 2
    path = tmp_path / "big.npy"
    np.save(path, np.c_[np.arange(n, dtype=float) % 7, y])
    assert [len(c[1]) for c in iter_chunks(path, "x1")] == [100_000, 1]
    rec = _Recorder(k="all")
    screener, _ = screen_file(path, "x1", screener=rec)
    assert screener is rec and rec.sizes_ == [100_000, 1] and rec.n_samples_seen_ == n


def test_one_row_chunks_are_screened(tmp_path):
    X, y = _data(n=9)
    path = tmp_path / "d.npy"
    np.save(path, np.c_[X, y])
    rec = _Recorder(k="all")
    screen_file(path, -1, chunksize=4, screener=rec)
    assert rec.sizes_ == [4, 4, 1] and rec.n_samples_seen_ == 9
    rec = _Recorder(k="all")
    screen_file(path, "-1", chunksize="1", screener=rec)  # a string of digits is taken
    assert rec.sizes_ == [1] * 9


def test_empty_chunks_are_skipped_and_all_empty_is_no_rows(tmp_path):
    X, y = _data(n=12)
    path = tmp_path / "d.csv"
    _frame(X, y).to_csv(path, index=False)

    def empty(src):
        return skio._Chunk(np.empty((0, 3)), np.empty(0, dtype=object), ["f0", "f1", "f2"], 0, 0)

    src = skio._Source(path)
    real = src.chunks
    src.chunks = lambda t, cs: iter([empty(src), *real(t, cs), empty(src), empty(src)])
    rec = _Recorder(k="all")
    screener, names = screen_file(src, "y", chunksize=5, screener=rec)
    assert rec.sizes_ == [5, 5, 2] and names == ["f0", "f1", "f2"]
    np.testing.assert_allclose(screener.scores_, f_classif(X, y.astype(str))[0], rtol=1e-10)
    src = skio._Source(path)
    src.chunks = lambda t, cs: iter([empty(src), empty(src)])
    with pytest.raises(DataError) as exc:
        screen_file(src, "y")
    assert _message(exc) == f"{path} has a header but no data rows; nothing to screen."


def test_a_refused_chunk_names_its_rows_and_the_label(tmp_path):
    X, y = _data(n=10)
    path = tmp_path / "d.csv"
    _frame(X, y, label="lab").to_csv(path, index=False)
    rec = _Recorder(k="all")
    rec.refuse_at = 2
    with pytest.raises(DataError) as exc:
        screen_file(path, "lab", chunksize=4, screener=rec)
    assert _message(exc) == f"{path}, data rows 5-8 (label column 'lab'): refused here"
    rec = _Recorder(k="all")
    rec.refuse_at = 3
    with pytest.raises(DataError) as exc:
        screen_file(path, -1, chunksize=4, screener=rec)
    assert _message(exc) == f"{path}, data rows 9-10 (label column 'lab'): refused here"


def test_one_class_and_no_rows_are_named(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.c_[np.ones((5, 2)), np.full(5, 3.0)])
    with pytest.raises(DataError) as exc:
        screen_file(path, "x2", chunksize=2)
    assert _message(exc) == (
        f"{path}: label column 'x2' (5 rows): The ANOVA F-test needs samples of at least 2 "
        "classes; y has only one class: [3.0]."
    )
    path = tmp_path / "none.npy"
    np.save(path, np.zeros((0, 3)))
    with pytest.raises(DataError) as exc:
        screen_file(path, "0")
    assert _message(exc) == f"{path} has a header but no data rows; nothing to screen."
    path = tmp_path / "none.parquet"
    pd.DataFrame({"a": np.zeros(0), "y": np.zeros(0, dtype=int)}).to_parquet(path)
    with pytest.raises(DataError) as exc:
        screen_file(path, "y")
    assert _message(exc) == f"{path} has a header but no data rows; nothing to screen."


# ---------------------------------------------------------------- progress
@pytest.fixture
def bars(monkeypatch):
    from tqdm import auto

    made = []
    real = auto.tqdm

    def spy(*args, **kwargs):
        bar = real(*args, **{**kwargs, "file": io.StringIO()})
        made.append((kwargs, bar))
        return bar

    monkeypatch.setattr(auto, "tqdm", spy)
    return made


def test_progress_of_a_csv_is_in_bytes(tmp_path, bars):
    X, y = _data(n=300)
    path = tmp_path / "d.csv"
    _frame(X, y).to_csv(path, index=False)
    screen_file(path, "y", chunksize=50, progress=True)
    ((kwargs, bar),) = bars
    size = os.path.getsize(path)
    assert kwargs == {
        "total": size,
        "unit": "B",
        "unit_scale": True,
        "unit_divisor": 1024,
        "disable": False,
        "desc": "screening",
    }
    assert bar.n == size


@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_progress_of_npy_and_parquet_is_in_rows(tmp_path, bars, fmt):
    X, y = _data(n=300)
    path = tmp_path / f"d.{fmt}"
    target = _write(path, X, y, fmt)
    screen_file(path, target, chunksize=64, progress=True)
    ((kwargs, bar),) = bars
    assert kwargs == {
        "total": 300,
        "unit": "rows",
        "unit_scale": False,
        "unit_divisor": 1000,
        "disable": False,
        "desc": "screening",
    }
    assert bar.n == 300


def test_no_progress_by_default(tmp_path, bars):
    X, y = _data()
    path = tmp_path / "d.npy"
    np.save(path, np.c_[X, y])
    screen_file(path, "3")
    ((kwargs, _),) = bars
    assert kwargs["disable"] is True


def test_chunks_know_their_first_row_and_progress(tmp_path):
    X, y = _data(n=7)
    for fmt, done in (("npy", [3, 6, 7]), ("parquet", [3, 6, 7])):
        path = tmp_path / f"d.{fmt}"
        target = _write(path, X, y, fmt)
        chunks = _chunks(path, target, 3)
        assert [(c.first_row, c.done) for c in chunks] == list(zip([0, 3, 6], done))
        np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), X)
    # a CSV's progress is the bytes read from the file: growing, the file's size at the end
    X, y = _data(n=20_000, p=4)
    path = tmp_path / "big.csv"
    _frame(X, y).to_csv(path, index=False)
    chunks = _chunks(path, "y", 2000)
    assert [c.first_row for c in chunks] == list(range(0, 20_000, 2000))
    done = [c.done for c in chunks]
    assert done[0] < done[-1] == os.path.getsize(path) and done == sorted(done)


# ---------------------------------------------------------------- an opened input
def test_source_attributes(tmp_path, monkeypatch):
    X, y = _data(n=30)
    cases = {
        "d.csv": ("csv", None, "B", True),
        "d.csv.gz": ("csv", "gzip", "B", False),
        "d.npy": ("npy", None, "rows", True),
        "d.npy.xz": ("npy", "xz", "rows", False),
        "d.parquet": ("parquet", None, "rows", True),
        "d.parquet.bz2": ("parquet", "bz2", "rows", False),
    }
    for name, (fmt, comp, unit, plain) in cases.items():
        path = tmp_path / name
        _write(path, X, y, name[2:])
        with skio._Source(path) as src:
            got = (src.format, src.compression, src.unit, src.plain_file, src.stdin, src.name)
            assert got == (fmt, comp, unit, plain, False, str(path))
            assert src.total == (os.path.getsize(path) if fmt == "csv" else 30)
            # a plain Parquet file is read in place; a compressed one is copied out first
            assert (src._spool is None) == (plain or fmt != "parquet")
        data = path.read_bytes()
        _stdin(monkeypatch, data)
        with skio._Source("-") as src:
            got = (src.format, src.compression, src.unit, src.plain_file, src.stdin, src.name)
            assert got == (fmt, comp, unit, False, True, "<stdin>")
            assert src.total == (None if fmt == "csv" else 30)


def test_a_source_closes_what_it_opened_and_not_stdin(tmp_path, monkeypatch):
    X, y = _data(n=30)
    path = tmp_path / "d.csv"
    _write(path, X, y, "csv")
    src = skio._Source(path)
    with src as entered:
        assert entered is src and not src._file.closed
    assert src._file.closed
    _write(path, X, y, "parquet")
    _stdin(monkeypatch, path.read_bytes())
    with skio._Source("-") as src:
        spool = src._spool
        assert not spool.closed
        assert len(list(src.chunks(3, 7))) == 5
    assert spool.closed and not sys.stdin.buffer.closed
    _stdin(monkeypatch, b"a,y\n1,0\n")
    assert columns("-") == ["a", "y"] and not sys.stdin.buffer.closed


def test_a_source_that_fails_to_open_closes_its_file(tmp_path, monkeypatch):
    opened = []

    def spy_open(*args, **kwargs):
        fh = open(*args, **kwargs)
        opened.append(fh)
        return fh

    monkeypatch.setattr(skio, "open", spy_open, raising=False)
    path = tmp_path / "d.csv"
    path.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(DataError) as exc:
        skio._Source(path)
    assert _message(exc) == f"{path} is a zip archive; extract the file and pass it instead."
    (fh,) = opened
    assert fh.closed


def test_an_opened_source_is_passed_through(tmp_path):
    X, y = _data(n=30)
    path = tmp_path / "d.npy"
    np.save(path, np.c_[X, y])
    with skio._Source(path) as src:
        assert skio._open(src) is src
        screener, names = screen_file(src, "x3", chunksize=8)
        assert names == ["x0", "x1", "x2"] and screener.n_samples_seen_ == 30
    src = skio._Source(path)
    assert columns(src) == ["x0", "x1", "x2", "x3"]
    assert src._file.closed


def test_a_terminal_on_stdin_is_refused(tmp_path, monkeypatch):
    class Tty(io.TextIOWrapper):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Tty(io.BytesIO(b"a,y\n1,0\n")))
    for path in ("-", __import__("pathlib").Path("-")):
        with pytest.raises(ValueError) as exc:
            columns(path)
        assert _message(exc) == "- reads standard input, which is a terminal; pipe a file in."
    path = tmp_path / "d.csv"  # a file is read whatever stdin is
    path.write_text("a,y\n1,0\n")
    assert columns(path) == ["a", "y"]


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        skio._Source(tmp_path / "no.parquet")
    assert _message(exc) == f"No such file: {tmp_path / 'no.parquet'}; check the path."
    with pytest.raises(ValueError) as exc:  # the type is checked first
        skio._Source(tmp_path / "no.txt")
    assert _message(exc).startswith("Unsupported file type '.txt' (")
    with pytest.raises(FileNotFoundError) as exc:
        count_rows(tmp_path / "no.npy")
    assert _message(exc) == f"No such file: {tmp_path / 'no.npy'}; check the path."


def test_count_rows_of_compressed_files(tmp_path):
    X, y = _data(n=23)
    for fmt, rows in (("npy.gz", 23), ("parquet.xz", 23), ("csv.bz2", None), ("csv", None)):
        path = tmp_path / f"d.{fmt}"
        _write(path, X, y, fmt)
        assert count_rows(path) == rows
        assert count_rows(str(path)) == rows


# ---------------------------------------------------------------- decoding failures
def test_guard_names_the_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n1,0\n")
    gz = tmp_path / "g.csv"
    gz.write_bytes(gzip.compress(b"a,y\n1,0\n"))
    with skio._Source(path) as src, skio._Source(gz) as zsrc:
        assert src._guard(lambda: 5) == 5

        def fail(exc):
            def read():
                raise exc

            return read

        for exc in (OSError("disk"), zlib.error("z"), lzma.LZMAError("l")):  # not a file's fault
            with pytest.raises(type(exc)) as got:
                src._guard(fail(exc))
            assert got.value is exc
        with pytest.raises(DataError) as got:
            src._guard(fail(EOFError("ended")))
        assert _message(got) == (
            f"{path}: cannot read it (ended); the file is truncated or corrupt: write it again."
        )
        for exc in (OSError("bad"), EOFError("bad"), zlib.error("bad"), lzma.LZMAError("bad")):
            with pytest.raises(DataError) as got:
                zsrc._guard(fail(exc))
            assert _message(got) == (
                f"{gz}: cannot read its gzip data (bad); the file is truncated or corrupt: "
                "write it again."
            )
        with pytest.raises(DataError) as got:
            src._guard(lambda: b"ab\xe9cd".decode("utf-8"))
        assert _message(got) == (
            f"{path}: not UTF-8 text (byte b'\\xe9': invalid continuation byte); save it as UTF-8."
        )
        with pytest.raises(KeyError):  # anything else goes through
            src._guard(fail(KeyError("k")))


@pytest.mark.parametrize("where", ["header", "data"])
def test_non_utf8_text_names_the_byte(tmp_path, where):
    path = tmp_path / "latin.csv"
    text = "a,caf\u00e9x\n1,0\n2,1\n" if where == "header" else "a,y\n1,caf\u00e9x\n2,b\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "a"))
    assert _message(exc) == (
        f"{path}: not UTF-8 text (byte b'\\xe9': invalid continuation byte); save it as UTF-8."
    )


@pytest.mark.parametrize("how", ["gzip", "xz", "bz2"])
def test_corrupt_compressed_data_names_the_file(tmp_path, how):
    X, y = _data(n=3000, p=4)
    data = _frame(X, y).to_csv(index=False).encode()
    comp = {"gzip": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress}[how](data)
    path = tmp_path / "c.csv"
    path.write_bytes(comp[: len(comp) // 2])  # truncated
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "y", chunksize=100))
    msg = _message(exc)
    assert msg.startswith(f"{path}: cannot read its {how} data (")
    assert msg.endswith("); the file is truncated or corrupt: write it again.")


def test_truncated_compressed_parquet_on_stdin_names_stdin(monkeypatch, tmp_path):
    X, y = _data(n=300)
    path = tmp_path / "d.parquet"
    _write(path, X, y, "parquet")
    _stdin(monkeypatch, gzip.compress(path.read_bytes())[:-30])
    with pytest.raises(DataError) as exc:
        columns("-")
    assert _message(exc).startswith("<stdin>: cannot read its gzip data (")


# ---------------------------------------------------------------- compression
def test_zstd_is_read_through_zstandard(tmp_path, monkeypatch):
    magic = b"\x28\xb5\x2f\xfd"

    class Reader(io.RawIOBase):  # a stand-in: the frame is the magic, then plain bytes
        def __init__(self, buf):
            assert buf.read(4) == magic
            self._buf = buf

        def readable(self):
            return True

        def readinto(self, b):
            data = self._buf.read(len(b))
            b[: len(data)] = data
            return len(data)

    class ZstdDecompressor:
        def stream_reader(self, buf):
            return Reader(buf)

    fake = type(sys)("zstandard")
    fake.ZstdDecompressor = ZstdDecompressor
    monkeypatch.setitem(sys.modules, "zstandard", fake)
    path = tmp_path / "d.csv"
    path.write_bytes(magic + b"a,y\n1.5,0\n2.5,1\n3.5,1\n")
    with skio._Source(path) as src:
        assert src.compression == "zstd" and src.names == ["a", "y"]
    (X, y, names), (X2, y2, _) = iter_chunks(path, "y", chunksize=2)
    assert X.ravel().tolist() == [1.5, 2.5] and X2.ravel().tolist() == [3.5]
    assert y.tolist() == ["0", "1"] and names == ["a"]
    monkeypatch.setitem(sys.modules, "zstandard", None)  # not installed
    with pytest.raises(DataError) as exc:
        columns(path)
    assert _message(exc) == (
        f"{path} is zstd-compressed and the zstandard package is not installed; pip install "
        "zstandard, or decompress it first (zstd -d)."
    )


@pytest.mark.parametrize("how", ["gzip", "bz2", "xz"])
def test_decompressed_streams(how):
    data = b"a,y\n" * 1000
    comp = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[how](data)
    assert skio._decompressed(io.BytesIO(comp), how, "n").read() == data
    with pytest.raises(DataError) as exc:
        skio._decompressed(io.BytesIO(comp), "zip", "the/name")
    assert _message(exc) == "the/name is a zip archive; extract the file and pass it instead."


@pytest.mark.parametrize(
    "name,fmt",
    [("d.PQ", "parquet"), ("d.Npy.ZST", "npy"), ("a.b.csv", "csv"), ("d.parquet.bz2", "parquet")],
)
def test_format_of_more_names(name, fmt):
    assert skio._format_of(name) == fmt


@pytest.mark.parametrize("name,ext", [("d", ""), ("d.gz", ""), ("d.tar.gz", ".tar"), ("d.zst", "")])
def test_format_of_refusals(name, ext):
    with pytest.raises(ValueError) as exc:
        skio._format_of(name)
    assert _message(exc).startswith(f"Unsupported file type {ext!r} ({name}); use one of ")


# ---------------------------------------------------------------- byte streams
class _Trickle(io.RawIOBase):
    """At most ``step`` bytes per read (a pipe), ``None`` once (no data yet) if asked."""

    def __init__(self, data, step=3):
        self._buf, self._step = io.BytesIO(data), step

    def readable(self):
        return True

    def readinto(self, b):
        return self._buf.readinto(memoryview(b)[: self._step])


def test_read_into_fills_from_short_reads():
    arr = np.zeros(4, dtype=np.int32)
    src = np.array([7, -1, 2**30, 5], dtype=np.int32)
    assert skio._read_into(_Trickle(src.tobytes() + b"more", step=3), arr) == 16
    assert arr.tolist() == src.tolist()
    arr = np.zeros((2, 3))
    assert skio._read_into(_Trickle(np.arange(5.0).tobytes(), step=5), arr) == 40
    assert arr.ravel()[:5].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert skio._read_into(_Trickle(b""), np.zeros(2)) == 0


def test_counted_and_prepended_through_a_buffer():
    counted = skio._Counted(_Trickle(b"x" * 100, step=7))
    buf = io.BufferedReader(counted, 16)
    assert buf.read(10) == b"x" * 10 and counted.n == 14
    assert buf.read() == b"x" * 90 and counted.n == 100
    joined = io.BufferedReader(skio._Prepended(b"head\n", _Trickle(b"tail\nend", 2)), 4)
    assert joined.readline() == b"head\n" and joined.read() == b"tail\nend"
    empty = skio._Prepended(b"", io.BytesIO(b"abc"))
    assert empty.read(5) == b"abc" and empty.read(5) == b""


# ---------------------------------------------------------------- headers and cells
def test_unique_names_as_pandas_on_random_headers():
    # named columns are made unique first, the empty ones after (as pandas' C parser)
    rng = random.Random(0)
    tokens = [
        "a",
        "a.1",
        "a.2",
        "a.1.1",
        "b",
        "b.1",
        "",
        "Unnamed: 1",
        "Unnamed: 2",
        "Unnamed: 0.1",
    ]
    for _ in range(300):
        header = [rng.choice(tokens) for _ in range(rng.randint(2, 8))]
        text = ",".join(header) + "\n" + ",".join("1" * len(header)) + "\n"
        want = list(pd.read_csv(io.StringIO(text)).columns)
        assert skio._unique_names(header) == want, header


def test_a_literal_unnamed_name_keeps_it(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("a,,Unnamed: 1,y\n1,2,3,0\n4,5,6,1\n")
    assert columns(path) == ["a", "Unnamed: 1.1", "Unnamed: 1", "y"]
    (X, y, names), *_ = iter_chunks(path, "Unnamed: 1")
    assert names == ["a", "Unnamed: 1.1", "y"] and y.tolist() == ["3", "6"]
    assert X.tolist() == [[1, 2, 0], [4, 5, 1]]


@pytest.mark.parametrize(
    "text,header,names",
    [
        ("a,y\n1,0\n", b"a,y\n", ["a", "y"]),
        ("\n\r\n  \na,y\n1,0\n", b"\n\r\n  \na,y\n", ["a", "y"]),
        ('"a\nb",y\n1,0\n', b'"a\nb",y\n', ["a\nb", "y"]),
        ('"a","b\n\n""c""",y\n1,2,0\n', b'"a","b\n\n""c""",y\n', ["a", 'b\n\n"c"', "y"]),
        ('"a",y\r\n1,0\r\n', b'"a",y\r\n', ["a", "y"]),
        ("a,y", b"a,y", ["a", "y"]),
        ("\ufeffXa,y\n1,0\n", "\ufeffXa,y\n".encode(), ["Xa", "y"]),
    ],
)
def test_csv_header_is_read_to_its_end_only(tmp_path, text, header, names):
    path = tmp_path / "h.csv"
    path.write_bytes(text.encode())
    with skio._Source(path) as src:
        assert src._header == header and src.names == names
    assert [str(c) for c in pd.read_csv(path).columns] == names


def test_csv_after_a_quoted_header_is_read_in_chunks(tmp_path):
    X, y = _data(n=20_000, p=2)
    df = _frame(X, y).rename(columns={"f0": "the, first"})
    path = tmp_path / "q.csv"
    df.to_csv(path, index=False, quoting=1)  # every field quoted
    chunks = _chunks(path, "y", 5000)
    assert chunks[0].done < os.path.getsize(path) and chunks[0].names == ["the, first", "f1"]
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), X)


@pytest.mark.parametrize("text", ["", "\n", " \n\r\n", "\ufeff\n"])
def test_an_empty_csv_is_named(tmp_path, text):
    path = tmp_path / "e.csv"
    path.write_bytes(text.encode())
    with pytest.raises(DataError) as exc:
        columns(path)
    assert _message(exc) == f"{path} is empty: no header, no rows."


def test_csv_rows_of_a_wrong_width_are_named(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("a,b,y\n1,2,0\n1,2,3,4\n")
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "y"))
    assert _message(exc) == (
        f"{path}: Error tokenizing data. C error: Expected 3 fields in line 3, saw 4; fix the row."
    )


def test_csv_cells_are_named_by_column_and_data_row(tmp_path):
    X, y = _data(n=12)
    df = _frame(X, y).astype(object)
    df.iloc[9, 2] = "abc"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "y", chunksize=4))
    assert _message(exc) == (
        f"{path}: column 'f2', data row 10: 'abc' is not a number; fix the cell or drop the column."
    )
    df = _frame(X, y)
    df.iloc[6, 0] = np.inf
    df.to_csv(path, index=False)
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "y", chunksize=4))
    assert _message(exc).startswith(f"{path}: column 'f0', data row 7 is inf; the F-test")
    df = _frame(X, y).astype(object)
    df.iloc[10, 3] = None
    df.to_csv(path, index=False)
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "y", chunksize=4))
    assert _message(exc).startswith(f"{path}: label column 'y' is empty (or a missing-value ")
    assert "at data row 11;" in _message(exc)


def test_first_bad_cell_is_the_first_row_then_the_first_column():
    valid = pd.DataFrame([[True, True, True], [True, False, False], [False, True, True]])
    assert skio._first_bad_cell(None, valid) == (1, 1)
    valid = pd.DataFrame([[True, True, False], [False, False, True]])
    assert skio._first_bad_cell(None, valid) == (0, 2)


def test_frame_chunk_names_the_first_bad_cell():
    frame = pd.DataFrame({"a": ["1", "2", "q", "r"], "b": ["1", "z", "3", "w"]})
    with pytest.raises(DataError) as exc:
        skio._frame_chunk(frame, np.array(list("0101"), dtype=object), "y", "f", 100)
    assert str(exc.value).startswith("f: column 'b', data row 102: 'z' is not a number")
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    with pytest.raises(DataError) as exc:
        skio._frame_chunk(frame, np.array([None, None], dtype=object), "lab", "f", 5)
    assert "label column 'lab' is empty" in str(exc.value) and "at data row 6;" in str(exc.value)
    frame = pd.DataFrame({"a": [1.0, np.nan]})
    with pytest.raises(DataError) as exc:
        skio._frame_chunk(frame, np.array(["0", "1"]), "y", "f", 3)
    assert str(exc.value).startswith("f: column 'a', data row 5 is empty (missing); the F-test")


def test_check_finite_first_row_then_first_column():
    X = np.array([[1.0, 2.0, 3.0], [1.0, np.nan, np.inf], [np.inf, 1.0, 1.0]])
    with pytest.raises(DataError) as exc:
        skio._check_finite(X, ["a", "b", "c"], "f", 20)
    assert _message(exc).startswith("f: column 'b', data row 22 is empty (missing); ")
    X = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, -np.inf]])
    with pytest.raises(DataError) as exc:
        skio._check_finite(X, ["a", "b", "c"], "f", 0)
    assert _message(exc).startswith("f: column 'c', data row 2 is -inf; ")
    skio._check_finite(np.ones((3, 2)), ["a", "b"], "f", 0)
    skio._check_finite(np.ones((0, 2)), ["a", "b"], "f", 0)


# ---------------------------------------------------------------- Parquet
def test_parquet_labels_keep_their_type_and_rows_are_named(tmp_path):
    X, y = _data(n=10)
    df = _frame(X, np.array(["no", "yes"])[y % 2])
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    chunks = list(iter_chunks(path, "y", chunksize=4))
    assert [c[1].tolist() for c in chunks] == [df["y"].tolist()[i : i + 4] for i in (0, 4, 8)]
    df.iloc[6, 1] = np.nan
    df.to_parquet(path)
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "y", chunksize=4))
    assert _message(exc).startswith(f"{path}: column 'f1', data row 7 is empty (missing); ")
    df = _frame(X, y.astype(float))
    df.iloc[9, 3] = np.nan
    df.to_parquet(path)
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, 3, chunksize=4))
    assert "label column 'y' is empty" in _message(exc) and "at data row 10;" in _message(exc)


def test_parquet_label_in_the_middle(tmp_path):
    X, y = _data(n=10)
    df = _frame(X, y)
    df.insert(1, "y", df.pop("y"))
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    (Xc, yc, names), *_ = iter_chunks(path, "-3", chunksize=100)
    assert names == ["f0", "f1", "f2"] and yc.tolist() == y.tolist()
    np.testing.assert_array_equal(Xc, X)


# ---------------------------------------------------------------- .npy
@pytest.mark.parametrize("t", [0, 1, 2, 3])
@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_label_at_every_position(tmp_path, t, order):
    rng = np.random.default_rng(t)
    table = rng.normal(size=(11, 4))
    path = tmp_path / "d.npy"
    np.save(path, np.asarray(table, order=order))
    chunks = _chunks(path, str(t), 4)
    assert [len(c.y) for c in chunks] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), np.delete(table, t, 1))
    np.testing.assert_array_equal(np.concatenate([c.y for c in chunks]), table[:, t])
    assert chunks[0].names == [f"x{i}" for i in range(4) if i != t]


def test_npy_version_2_and_integer_and_bool_values(tmp_path):
    table = np.arange(12, dtype=np.int16).reshape(4, 3)
    path = tmp_path / "v2.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, table, version=(2, 0))
    (X, y, names), *_ = iter_chunks(path, "x1", chunksize=10)
    assert X.tolist() == [[0, 2], [3, 5], [6, 8], [9, 11]] and y.tolist() == [1, 4, 7, 10]
    assert names == ["x0", "x2"]
    table = np.array([[True, False], [False, True], [True, True]])
    np.save(tmp_path / "b.npy", table)
    (X, y, _), *_ = iter_chunks(tmp_path / "b.npy", "0")
    assert X.ravel().tolist() == [False, True, True] and y.tolist() == [True, False, True]
    np.save(tmp_path / "u.npy", np.array([[1, 2], [3, 4]], dtype=np.uint8))
    assert count_rows(tmp_path / "u.npy") == 2


def test_npy_missing_cells_are_named_by_row(tmp_path):
    table = np.ones((10, 4))
    table[:, 1] = np.arange(10) % 2
    table[6, 2] = np.nan
    path = tmp_path / "d.npy"
    np.save(path, table)
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "1", chunksize=4))
    assert _message(exc) == (
        f"{path}: column 'x2', data row 7 is empty (missing); the F-test needs a finite number "
        "in every cell (impute or drop such rows first)."
    )


@pytest.mark.parametrize(
    "array,words",
    [
        (np.float64(3.0), "holds a 0-D array of shape (); " + _EXPECT_2D),
        (np.zeros(4), "holds a 1-D array of shape (4,); " + _EXPECT_2D),
        (np.zeros((4, 3, 2)), "holds a 3-D array of shape (4, 3, 2); " + _EXPECT_2D),
        (np.array([["a", "b"]]), "holds <U1 values; expected numbers."),
        (np.zeros((2, 2), dtype=complex), "holds complex128 values; expected numbers."),
        (np.array([[1, None]], dtype=object), None),
    ],
)
def test_npy_that_is_not_a_table_of_numbers(tmp_path, array, words):
    path = tmp_path / "a.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(DataError) as exc:
        columns(path)
    if words is None:
        assert _message(exc) == f"{path} holds object values; expected numbers."
    else:
        assert _message(exc) == f"{path} {words}"


def test_a_file_that_is_not_npy(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(b"a,y\n1,0\n2,1\n")
    with pytest.raises(DataError) as exc:
        columns(path)
    msg = _message(exc)
    assert msg.startswith(f"{path}: not a readable .npy file (") and msg.endswith(").")
    assert "magic string" in msg


def test_a_truncated_npy_file_is_refused_when_opened(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.ones((100, 4)))
    whole = path.read_bytes()
    for cut in (1, 8, 32, 3199):
        path.write_bytes(whole[:-cut])
        with pytest.raises(DataError) as exc:
            columns(path)
        assert _message(exc) == (
            f"{path} is truncated: its header announces 100 x 4 float64 (3200 bytes of data) "
            f"but the file has {len(whole) - cut} bytes; write it again."
        )
    path.write_bytes(whole + b"\0" * 8)  # more bytes than needed: read
    assert columns(path) == ["x0", "x1", "x2", "x3"]


def test_a_truncated_compressed_npy_names_the_last_row(tmp_path):
    buf = io.BytesIO()
    table = np.ones((50, 3), dtype=np.float32)
    np.save(buf, table)
    path = tmp_path / "t.npy.gz"
    path.write_bytes(gzip.compress(buf.getvalue()[: -(7 * 12 + 5)]))  # 7 rows and 5 bytes cut
    assert columns(path) == ["x0", "x1", "x2"]
    with pytest.raises(DataError) as exc:
        list(iter_chunks(path, "0", chunksize=20))
    assert _message(exc) == (
        f"{path} is truncated: its header announces 50 x 3 float32 (600 bytes of data); its "
        "data ends after row 42."
    )


def test_a_fortran_ordered_npy_needs_a_plain_file(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(np.arange(12.0).reshape(4, 3)))
    path = tmp_path / "f.npy.bz2"
    path.write_bytes(bz2.compress(buf.getvalue()))
    with pytest.raises(DataError) as exc:
        columns(path)
    assert _message(exc) == (
        f"{path}: a Fortran-ordered .npy can only be read from a plain file; save it in C order "
        "(np.ascontiguousarray) or decompress it first."
    )
    plain = tmp_path / "f.npy"
    plain.write_bytes(buf.getvalue())
    (X, y, _), (X2, y2, _) = iter_chunks(plain, "2", chunksize=3)
    assert X.tolist() == [[0, 1], [3, 4], [6, 7]] and y.tolist() == [2, 5, 8]
    assert X2.tolist() == [[9, 10]] and y2.tolist() == [11]


# ---------------------------------------------------------------- chunk sizes
@pytest.mark.parametrize("chunksize", [1, "2", 2.0])
def test_small_chunk_sizes(tmp_path, chunksize):
    X, y = _data(n=3)
    path = tmp_path / "d.csv"
    _frame(X, y).to_csv(path, index=False)
    sizes = [len(c[1]) for c in iter_chunks(path, "y", chunksize=chunksize)]
    assert sizes == ([1, 1, 1] if chunksize == 1 else [2, 1])


def test_a_csv_is_parsed_by_pandas_once_with_the_label_as_text_index(tmp_path, monkeypatch):
    # one read_csv per file, no dtype dict (a Series per column per chunk: issue 19)
    X, y = _data(n=30)
    path = tmp_path / "d.csv"
    _frame(X, y).to_csv(path, index=False)
    calls = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(k) or real(*a, **k))
    chunks = list(iter_chunks(path, "y", chunksize=7))
    assert calls == [{"chunksize": 7, "index_col": 3, "converters": {3: str}}]
    assert np.concatenate([c[1] for c in chunks]).tolist() == [str(v) for v in y]
    assert all(c[1].dtype == object for c in chunks)


def test_a_plain_fortran_npy_is_mapped_not_loaded(tmp_path, monkeypatch):
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(np.arange(12.0).reshape(4, 3)))
    loads = []
    real = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: loads.append(k) or real(*a, **k))
    assert len(list(iter_chunks(path, "0", chunksize=3))) == 2
    assert loads == [{"mmap_mode": "r"}]


def test_a_continued_screener_and_a_file_without_rows(tmp_path):
    s = OnlineFClassifScreener(k="all").partial_fit(np.eye(3)[:, :2], [0, 1, 1])
    path = tmp_path / "none.npy"
    np.save(path, np.zeros((0, 3)))
    with pytest.raises(DataError) as exc:
        screen_file(path, "2", screener=s)
    assert _message(exc) == f"{path} has a header but no data rows; nothing to screen."
    assert s.n_samples_seen_ == 3


def test_a_plain_c_ordered_npy_is_read_not_mapped(tmp_path, monkeypatch):
    path = tmp_path / "c.npy"
    np.save(path, np.arange(12.0).reshape(4, 3))
    loads = []
    real = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: loads.append(k) or real(*a, **k))
    (X, y, _), (X2, _, _) = iter_chunks(path, "1", chunksize=3)
    assert loads == [] and X.tolist() == [[0, 2], [3, 5], [6, 8]] and X2.tolist() == [[9, 11]]


def test_read_into_a_stream_that_assigns_bytes():
    # a Python stream writes bytes into the view it is given: the view is of unsigned bytes
    arr = np.zeros(3, dtype=np.int16)
    stream = skio._Prepended(b"\x01\x00\x02", io.BytesIO(b"\x00\x03\x00"))
    assert skio._read_into(stream, arr) == 6 and arr.tolist() == [1, 2, 3]


@pytest.mark.parametrize("fmt", ["csv", "npy", "parquet", "csv.gz"])
def test_reading_warns_nothing(tmp_path, fmt):
    import warnings

    X, y = _data(n=20)
    path = tmp_path / f"d.{fmt}"
    target = _write(path, X, y, fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(iter_chunks(path, target, chunksize=8))) == 3


def test_integer_cells_are_read_as_floats(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,1\n")
    ((X, y, names),) = iter_chunks(path, "y")
    assert X.dtype == np.float64 and X.tolist() == [[1.0, 2.0], [3.0, 4.0]]


class _WaitingPipe(io.RawIOBase):
    """``data``, then a Ctrl-C while it waits for more (the writer still open)."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        k = self._buf.readinto(b)
        if k:
            return k
        raise KeyboardInterrupt


@pytest.mark.skipif(not hasattr(signal, "raise_signal"), reason="needs signal.raise_signal")
def test_ctrl_c_while_a_csv_pipe_waits_is_an_interrupt_not_a_data_error(monkeypatch):
    # audit (session 9): a Ctrl-C while standard input waits for more rows is raised in the
    # read that pandas' C parser called, which wraps it into a ParserError: reported as a bad
    # row (exit 1, "fix the row") instead of an interrupt (130). A real pipe and a real SIGINT
    r, w = os.pipe()
    rows = b"a,b,y\n" + b"".join(b"%d,%d,%d\n" % (i, i % 7, i % 2) for i in range(20000))

    def writer():
        os.write(w, rows)
        time.sleep(1.0)  # the reader has parsed what came and waits for more
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.5)
        os.close(w)

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.FileIO(r, "rb"))))
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in skio.iter_chunks("-", "y", chunksize=1000):
                pass
    finally:
        thread.join()
        sys.stdin.close()
    joined = skio._Prepended(b"h", _WaitingPipe(b""))
    assert joined.read(1) == b"h" and joined.interrupted is False
    with pytest.raises(KeyboardInterrupt):
        joined.read(1)
    assert joined.interrupted
