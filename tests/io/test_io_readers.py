"""The chunked readers of ``skscreen.io``: chunk boundaries, compression, stdin, headers, labels.

Each reader is checked against the data it was written from (every chunk, concatenated).
"""

import bz2
import gzip
import io
import lzma
import sys

import numpy as np
import pytest

from skscreen.io import DataError, columns, iter_chunks

pd = pytest.importorskip("pandas")


def _table(n=301, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).round(6)
    y = rng.integers(0, 3, n)
    return X, y


def _frame(X, y):
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    df["y"] = y
    return df


def _gather(chunks):
    chunks = list(chunks)
    X = np.concatenate([c[0] for c in chunks])
    y = np.concatenate([c[1] for c in chunks])
    return X, y, [len(c[1]) for c in chunks], chunks[0][2]


# ---------------------------------------------------------------- chunk boundaries (issue 20)
@pytest.mark.parametrize("fmt", ["csv", "npy", "parquet"])
def test_last_chunk_of_a_single_row(tmp_path, fmt):
    X, y = _table(n=301)
    path = tmp_path / f"d.{fmt}"
    if fmt == "npy":
        np.save(path, np.c_[X, y])
        target = "4"
    else:
        pytest.importorskip("pyarrow")
        df = _frame(X, y)
        df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path, row_group_size=100)
        target = "y"
    Xc, yc, sizes, names = _gather(iter_chunks(path, target, chunksize=100))
    assert sizes == [100, 100, 100, 1]
    np.testing.assert_array_equal(Xc, X)
    assert [str(v) if fmt == "csv" else v for v in yc] == [str(v) if fmt == "csv" else v for v in y]
    assert len(names) == 4


def test_a_file_of_one_row_is_one_chunk(tmp_path):
    X, y = _table(n=1)
    np.save(tmp_path / "one.npy", np.c_[X, y])
    _frame(X, y).to_csv(tmp_path / "one.csv", index=False)
    for name, target in (("one.npy", "-1"), ("one.csv", "y")):
        Xc, _, sizes, _ = _gather(iter_chunks(tmp_path / name, target, chunksize=100))
        assert sizes == [1]
        np.testing.assert_array_equal(Xc, X)


# ---------------------------------------------------------------- labels
def test_csv_labels_are_read_as_text(tmp_path):
    # 01 and 1 are two labels, in every chunk (a chunk of numbers-only labels included)
    path = tmp_path / "d.csv"
    path.write_text("a,label\n0.5,01\n1.5,1\n2.5,02\n3.5,2\n4.5,1.0\n5.5,x\n")
    chunks = list(iter_chunks(path, "label", chunksize=2))
    assert [c[1].tolist() for c in chunks] == [["01", "1"], ["02", "2"], ["1.0", "x"]]


def test_npy_labels_keep_their_numbers(tmp_path):
    X, y = _table(n=20)
    np.save(tmp_path / "d.npy", np.c_[X, y])
    (_, yc, _), *_ = iter_chunks(tmp_path / "d.npy", "-1", chunksize=50)
    assert yc.dtype == np.float64 and yc.tolist() == y.astype(float).tolist()


# ---------------------------------------------------------------- headers
def test_columns_are_pandas_names(tmp_path):
    # duplicates, an empty name, a quoted comma and newline, a BOM: as pandas names them
    path = tmp_path / "h.csv"
    path.write_bytes('\ufeffa,a,,"x,\ny",a.1,a,label\n1,2,3,4,5,6,u\n7,8,9,10,11,12,v\n'.encode())
    expected = [str(c) for c in pd.read_csv(path).columns]
    assert columns(path) == expected
    (_, y, names), *_ = iter_chunks(path, "label")
    assert names == expected[:-1] and y.tolist() == ["u", "v"]


def test_empty_csv_is_named(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("\n")
    with pytest.raises(DataError, match=r"e\.csv is empty"):
        columns(path)


def test_non_utf8_csv_names_the_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,y\n1,caf\u00e9\n2,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: not UTF-8 text"):
        list(iter_chunks(path, "y"))


# ---------------------------------------------------------------- compression
_COMPRESS = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}
_SUFFIX = {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz"}


@pytest.mark.parametrize("how", ["gzip", "bz2", "xz"])
@pytest.mark.parametrize("named", ["suffix", "plain"])
def test_compressed_csv_and_npy_read_as_plain(tmp_path, how, named):
    X, y = _table(n=250)
    plain_csv, plain_npy = tmp_path / "p.csv", tmp_path / "p.npy"
    _frame(X, y).to_csv(plain_csv, index=False)
    np.save(plain_npy, np.c_[X, y])
    for plain, target in ((plain_csv, "y"), (plain_npy, "4")):
        # "plain": a compressed file under the plain name (a gzip file named d.csv)
        suffix = plain.suffix + (_SUFFIX[how] if named == "suffix" else "")
        path = tmp_path / f"c_{plain.stem}{suffix}"
        path.write_bytes(_COMPRESS[how](plain.read_bytes()))
        assert columns(path) == columns(plain)
        got = _gather(iter_chunks(path, target, chunksize=64))
        want = _gather(iter_chunks(plain, target, chunksize=64))
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1].tolist() == want[1].tolist() and got[2] == want[2]


def test_compressed_parquet_is_read(tmp_path):
    pytest.importorskip("pyarrow")
    X, y = _table(n=120)
    plain = tmp_path / "p.parquet"
    _frame(X, y).to_parquet(plain)
    path = tmp_path / "p.parquet.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    np.testing.assert_array_equal(_gather(iter_chunks(path, "y", chunksize=50))[0], X)


def test_truncated_gzip_names_the_file(tmp_path):
    X, y = _table(n=2000)
    path = tmp_path / "cut.csv"
    path.write_bytes(gzip.compress(_frame(X, y).to_csv(index=False).encode())[:-200])
    with pytest.raises(DataError, match=r"cut\.csv: cannot read its gzip data"):
        list(iter_chunks(path, "y", chunksize=500))


def test_zip_and_zstd_are_read_or_refused_naming_the_file(tmp_path):
    import zipfile

    path = tmp_path / "d.csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("d.csv", "a,y\n1,0\n2,1\n")
    with pytest.raises(DataError, match=r"d\.csv\.zip is a zip archive; extract"):
        columns(path)
    zpath = tmp_path / "d.csv.zst"
    try:
        import zstandard
    except ImportError:
        # a zstd frame's magic bytes, then anything: refused before reading further
        zpath.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 16)
        with pytest.raises(DataError, match=r"d\.csv\.zst is zstd-compressed.*zstandard"):
            columns(zpath)
    else:
        zpath.write_bytes(zstandard.ZstdCompressor().compress(b"a,y\n1,0\n2,1\n"))
        assert columns(zpath) == ["a", "y"]
        assert _gather(iter_chunks(zpath, "y"))[0].ravel().tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- standard input
def _stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "npy", "npy.xz", "parquet"])
def test_stdin_format_found_from_the_content(tmp_path, monkeypatch, fmt):
    X, y = _table(n=230)
    path = tmp_path / "d"
    if fmt.startswith("csv"):
        _frame(X, y).to_csv(path, index=False)
        target = "y"
    elif fmt.startswith("npy"):
        with open(path, "wb") as fh:
            np.save(fh, np.c_[X, y])
        target = "-1"
    else:
        pytest.importorskip("pyarrow")
        _frame(X, y).to_parquet(path)
        target = "y"
    data = path.read_bytes()
    data = {"gz": gzip.compress, "xz": lzma.compress}.get(fmt.rsplit(".")[-1], bytes)(data)
    _stdin(monkeypatch, data)
    Xc, yc, sizes, names = _gather(iter_chunks("-", target, chunksize=100))
    np.testing.assert_array_equal(Xc, X)
    assert sizes == [100, 100, 30] and len(names) == 4


def test_stdin_fortran_npy_is_refused(monkeypatch):
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(np.zeros((3, 2))))
    _stdin(monkeypatch, buf.getvalue())
    with pytest.raises(DataError, match=r"<stdin>: a Fortran-ordered \.npy"):
        columns("-")


def test_stdin_truncated_npy_names_the_row(monkeypatch):
    buf = io.BytesIO()
    np.save(buf, np.ones((100, 3)))
    _stdin(monkeypatch, buf.getvalue()[: -30 * 8])  # the last 10 rows missing
    with pytest.raises(DataError, match=r"<stdin> is truncated.*ends after row 90\."):
        list(iter_chunks("-", "0", chunksize=40))


# ------------------------------------------------ mutation survivors (issue 20, item 2)
from skscreen import io as skio  # noqa: E402


def test_target_index_by_name_index_and_negative_index():
    names = ["a", "b", "c"]
    assert skio._target_index(names, "b") == 1
    assert skio._target_index(names, "0") == 0 and skio._target_index(names, 2) == 2
    assert skio._target_index(names, "-1") == 2 and skio._target_index(names, -3) == 0
    assert skio._target_index(["1", "0"], "0") == 1  # a column named "0" before index 0
    for bad in (3, -4):
        with pytest.raises(ValueError) as exc:
            skio._target_index(names, bad)
        assert str(exc.value) == f"Target column index {bad} out of range for 3 columns."
    with pytest.raises(ValueError) as exc:
        skio._target_index(names, "z")
    assert str(exc.value) == "Target column 'z' not found; columns are 'a', 'b', 'c'."
    many = [f"c{i}" for i in range(21)]
    with pytest.raises(ValueError) as exc:
        skio._target_index(many, None)
    shown = ", ".join(repr(n) for n in many[:20])
    assert str(exc.value) == f"Target column None not found; columns are {shown}, ...."
    with pytest.raises(ValueError) as exc:
        skio._target_index(many[:20], "zz")
    assert str(exc.value) == f"Target column 'zz' not found; columns are {shown}."


@pytest.mark.parametrize(
    "header",
    [["a", "a", "a"], ["a", "a", "a.1"], ["a", "", "b", ""], ["x.1", "x", "x"], ["b", "b.1", "b"]],
)
def test_unique_names_are_pandas_names(header):
    text = ",".join(header) + "\n" + ",".join("1" * len(header)) + "\n"
    want = list(pd.read_csv(io.StringIO(text)).columns)
    assert skio._unique_names(header) == want


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("d.csv", "csv"),
        ("D.CSV.GZ", "csv"),
        ("d.parquet.zst", "parquet"),
        ("d.pq", "parquet"),
        ("x/d.npy.bz2", "npy"),
        ("d.npy.xz", "npy"),
        ("d.csv.zip", "csv"),
    ],
)
def test_format_of_reads_the_name_past_a_compression_suffix(name, fmt):
    assert skio._format_of(name) == fmt


def test_unsupported_type_message():
    with pytest.raises(ValueError) as exc:
        skio._format_of("d.txt.gz")
    assert str(exc.value) == (
        "Unsupported file type '.txt' (d.txt.gz); use one of ['.csv', '.npy', '.parquet', "
        "'.pq'], compressed or not."
    )


def test_byte_streams_count_and_prepend():
    counted = skio._Counted(io.BytesIO(b"0123456789"))
    assert counted.readable() and counted.read(4) == b"0123" and counted.n == 4
    assert counted.read() == b"456789" and counted.n == 10
    assert counted.read(3) == b"" and counted.n == 10
    joined = skio._Prepended(b"abc", io.BytesIO(b"defgh"))
    assert joined.readable()
    assert joined.read(2) == b"ab" and joined.read(2) == b"c" and joined.read(10) == b"defgh"
    assert joined.read(1) == b""
    arr = np.zeros(3, dtype=np.int32)
    assert skio._read_into(io.BytesIO(np.arange(3, dtype=np.int32).tobytes() + b"x"), arr) == 12
    assert arr.tolist() == [0, 1, 2]
    short = np.zeros(4, dtype=np.int16)
    assert skio._read_into(io.BytesIO(b"\x01\x00\x02"), short) == 3


def test_non_finite_cells_are_named_and_huge_finite_ones_accepted():
    X = np.array([[1e308, 1e308], [1e308, 1.0]])
    with np.errstate(over="ignore"):  # the sum overflows; every cell is finite
        skio._check_finite(X, ["a", "b"], "f.csv", 0)
    X = np.array([[1.0, 2.0], [3.0, np.inf], [np.nan, 1.0]])
    with pytest.raises(skio.DataError) as exc:
        skio._check_finite(X, ["a", "b"], "f.csv", 10)
    msg = str(exc.value)
    assert msg.startswith("f.csv: column 'b', data row 12 is ") and "inf" in msg
    assert msg.endswith(
        "; the F-test needs a finite number in every cell (impute or drop such rows first)."
    )
    with pytest.raises(skio.DataError) as exc:
        skio._check_finite(X[[0, 2]], ["a", "b"], "f.csv", 0)
    assert str(exc.value).startswith("f.csv: column 'a', data row 2 is empty (missing); ")


def test_bad_cells_and_labels_of_a_frame_are_named():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["1", "2", "x"]})
    with pytest.raises(skio.DataError) as exc:
        skio._frame_chunk(frame, np.array(["0", "1", "0"], dtype=object), "y", "f.csv", 4)
    assert str(exc.value) == (
        "f.csv: column 'b', data row 7: 'x' is not a number; fix the cell or drop the column."
    )
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["1", None, "x"]})  # a gap, then a word
    with pytest.raises(skio.DataError, match="column 'b', data row 3: 'x'"):
        skio._frame_chunk(frame, np.array(["0", "1", "0"], dtype=object), "y", "f.csv", 0)
    ok = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    with pytest.raises(skio.DataError) as exc:
        skio._frame_chunk(ok, np.array(["0", None], dtype=object), "y", "f.csv", 0)
    assert str(exc.value) == (
        "f.csv: label column 'y' is empty (or a missing-value marker such as NA) at data row "
        "2; every row needs a label."
    )
    X, y, feats = skio._frame_chunk(ok, np.array(["0", "1"]), "y", "f.csv", 0)
    assert X.dtype == np.float64 and X.tolist() == [[1, 3], [2, 4]] and feats == ["a", "b"]


def test_count_rows_and_columns(tmp_path):
    X, y = _table(n=23)
    df = _frame(X, y)
    df.to_csv(tmp_path / "d.csv", index=False)
    np.save(tmp_path / "d.npy", np.c_[X, y])
    df.to_parquet(tmp_path / "d.parquet")
    assert skio.count_rows(tmp_path / "d.csv") is None  # CSV: not counted ahead
    assert skio.count_rows(tmp_path / "d.npy") == 23
    assert skio.count_rows(str(tmp_path / "d.parquet")) == 23
    with pytest.raises(FileNotFoundError) as exc:
        skio.count_rows(tmp_path / "missing.csv")
    assert str(exc.value) == f"No such file: {tmp_path / 'missing.csv'}; check the path."
    assert columns(tmp_path / "d.npy") == ["x0", "x1", "x2", "x3", "x4"]
    assert columns(tmp_path / "d.parquet") == ["f0", "f1", "f2", "f3", "y"]


@pytest.mark.parametrize("chunksize", [0, -1, "0"])
def test_chunksize_must_be_positive(tmp_path, chunksize):
    X, y = _table(n=5)
    np.save(tmp_path / "d.npy", np.c_[X, y])
    with pytest.raises(ValueError) as exc:
        list(iter_chunks(tmp_path / "d.npy", 4, chunksize=chunksize))
    assert str(exc.value) == f"chunksize must be positive, got {chunksize}."
    with pytest.raises(ValueError) as exc:
        skio.screen_file(tmp_path / "d.npy", 4, chunksize=chunksize)
    assert str(exc.value) == f"chunksize must be positive, got {chunksize}."


def test_screen_file_messages_name_the_rows(tmp_path):
    X, y = _table(n=10)
    path = tmp_path / "d.csv"
    _frame(X, np.zeros(10, dtype=int)).to_csv(path, index=False)
    with pytest.raises(skio.DataError) as exc:
        skio.screen_file(path, "y", chunksize=4)
    assert str(exc.value) == (
        f"{path}: label column 'y' (10 rows): The ANOVA F-test needs samples of at least 2 "
        "classes; y has only one class: ['0']."
    )
    path.write_text("a,b,y\n")
    with pytest.raises(skio.DataError) as exc:
        skio.screen_file(path, "y")
    assert str(exc.value) == f"{path} has a header but no data rows; nothing to screen."
    # a chunk the screener refuses: the rows of that chunk are named
    path.write_text("a,y\n1,0\n2,1\n3,0\n4,1\n5,2.5\n")
    from skscreen import OnlineFClassifScreener

    s = OnlineFClassifScreener(k="all").partial_fit(np.ones((2, 2)), [0, 1])
    with pytest.raises(skio.DataError) as exc:
        skio.screen_file(path, "y", chunksize=2, screener=s)
    assert str(exc.value).startswith(f"{path}, data rows 1-2 (label column 'y'): X has 1 ")


def test_an_infinite_cell_is_quoted_as_a_number():
    X = np.array([[1.0, -np.inf]])
    with pytest.raises(skio.DataError) as exc:
        skio._check_finite(X, ["a", "b"], "f.csv", 0)
    assert "data row 1 is -inf;" in str(exc.value)
