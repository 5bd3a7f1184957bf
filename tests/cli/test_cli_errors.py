"""``skscreen screen`` never loses a result or an input file; its errors are one line (issue 11).

Usage errors exit 2, data errors exit 1; the message names the problem (file, column, data
row) and the fix, and no traceback is printed.
"""

import csv
import io as _io
import json
import os

import numpy as np
import pytest
from sklearn.feature_selection import f_classif

from skscreen.cli import main

pd = pytest.importorskip("pandas")


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a,b", 'say "hi"', "c"])
    df["y"] = rng.integers(0, 2, n)
    df.loc[df["y"] == 1, "c"] += 1.0
    return df


@pytest.fixture
def data_csv(tmp_path):
    path = tmp_path / "d.csv"
    _frame().to_csv(path, index=False)
    return path


def _run(capsys, *argv):
    rc = main(["screen", *map(str, argv), "--quiet"])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err, *words):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("skscreen screen: error: ")
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


# ---------------------------------------------------------------- destination first
@pytest.mark.parametrize("where", ["missing_dir", "dir_is_a_file", "device", "input"])
def test_bad_destination_is_refused_before_the_scan(tmp_path, data_csv, capsys, monkeypatch, where):
    scanned = []
    import skscreen.io

    def scan(*args, **kwargs):
        scanned.append(args)
        raise AssertionError("the scan must not start")

    monkeypatch.setattr(skscreen.io, "screen_file", scan)
    before = data_csv.read_bytes()
    out = {
        "missing_dir": tmp_path / "nodir" / "s.csv",
        "dir_is_a_file": data_csv / "s.csv",
        "device": "/dev/full",
        "input": data_csv,
    }[where]
    rc, _, err = _run(capsys, data_csv, "--target", "y", "--output", out)
    assert rc == 2 and not scanned
    _one_line_error(err, "--output", str(out))
    assert data_csv.read_bytes() == before  # the input is never overwritten


def test_unwritable_folder_is_refused_before_the_scan(tmp_path, data_csv, capsys, monkeypatch):
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    rc, _, err = _run(capsys, data_csv, "--target", "y", "--output", tmp_path / "s.csv")
    assert rc == 2
    _one_line_error(err, "cannot write", "Permission denied")


def test_failed_write_after_the_scan_keeps_the_scores(tmp_path, data_csv, capsys, monkeypatch):
    out = tmp_path / "s.csv"
    out.write_text("earlier result\n")

    def disk_full(src, dst):
        if os.fspath(dst) == os.fspath(out):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    real_replace = os.replace
    monkeypatch.setattr(os, "replace", disk_full)
    rc, _, err = _run(capsys, data_csv, "--target", "y", "--output", out)
    assert rc == 1
    _one_line_error(err, "No space left", "saved to")
    rescue = err.split("saved to ")[1].split(" instead")[0]
    res = pd.read_csv(rescue)
    os.unlink(rescue)
    assert len(res) == 3
    assert out.read_text() == "earlier result\n"  # not half-overwritten
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------- what is written
def test_csv_output_round_trips_names_with_commas_and_quotes(tmp_path, data_csv, capsys):
    out = tmp_path / "s.csv"
    assert _run(capsys, data_csv, "--target", "y", "--output", out)[0] == 0
    df = _frame()
    f = dict(zip(df.columns[:3], f_classif(df.iloc[:, :3].to_numpy(), df["y"])[0]))
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["feature"] for r in rows} == set(f)
    for r in rows:
        assert float(r["F"]) == pytest.approx(f[r["feature"]], rel=1e-10)


def test_json_output_is_strict_json_with_null_for_non_finite(tmp_path, capsys):
    df = _frame()
    df["const"] = 3.0  # F undefined: null, and ranked last
    df["sep"] = df["y"] * 2.0  # separates the classes: F = inf, p = 0: null F, ranked first
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "s.json"
    rc, _, err = _run(capsys, path, "--target", "y", "--output", out)
    assert rc == 0 and "warning: feature 'const' is constant" in err  # one line, no UserWarning
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"invalid JSON {c}"))
    by = {r["feature"]: r for r in doc["scores"]}
    assert by["sep"]["rank"] == 1 and by["sep"]["F"] is None and by["sep"]["p"] == 0.0
    assert by["const"]["rank"] == len(by) and by["const"]["F"] is None and by["const"]["p"] is None


# ---------------------------------------------------------------- data errors (exit 1)
def test_one_class_target_is_an_error(tmp_path, capsys):
    df = _frame()
    df["y"] = 7
    path = tmp_path / "one.csv"
    df.to_csv(path, index=False)
    rc, _, err = _run(capsys, path, "--target", "y", "--output", tmp_path / "s.csv")
    assert rc == 1
    _one_line_error(err, "'y'", "only one class", "['7']")  # labels are text
    assert not (tmp_path / "s.csv").exists()


def test_header_only_csv_is_an_error(tmp_path, capsys):
    path = tmp_path / "h.csv"
    path.write_text("a,b,y\n")
    rc, _, err = _run(capsys, path, "--target", "y", "--output", tmp_path / "s.csv")
    assert rc == 1
    _one_line_error(err, "no data rows")


def test_non_numeric_cell_names_column_and_row(tmp_path, capsys):
    df = _frame().astype(object)
    df.iloc[150, 1] = "abc"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    rc, _, err = _run(capsys, path, "--target", "y", "--chunksize", "64")
    assert rc == 1
    _one_line_error(err, "column 'say \"hi\"'", "data row 151", "'abc'")


def test_empty_cell_names_column_and_row(tmp_path, capsys):
    df = _frame()
    df.iloc[42, 2] = np.nan
    path = tmp_path / "gap.csv"
    df.to_csv(path, index=False)
    rc, _, err = _run(capsys, path, "--target", "y")
    assert rc == 1
    _one_line_error(err, "column 'c'", "data row 43", "empty")


def test_csv_labels_are_text_in_every_chunk(tmp_path, capsys):
    # 01 and 1 are two classes; a label that is not a number later on is one more class,
    # not a change of type between chunks (issue 19)
    df = _frame(n=400)
    labels = np.array(["01", "1", "02", "2"])[np.arange(400) % 4]
    labels[350] = "x"
    df["y"] = labels
    path = tmp_path / "lab.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "s.json"
    rc, printed, _ = _run(capsys, path, "--target", "y", "--chunksize", "100", "--output", out)
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["classes"] == ["01", "02", "1", "2", "x"]
    assert "400 rows, 3 features, 5 classes" in printed
    f = f_classif(df.iloc[:, :3].to_numpy(), labels)[0]
    by = {r["feature"]: r["F"] for r in doc["scores"]}
    np.testing.assert_allclose([by[c] for c in df.columns[:3]], f, rtol=1e-10)


@pytest.mark.parametrize("bad", ["0d", "truncated", "3d"])
def test_bad_npy_is_a_clear_error(tmp_path, capsys, bad):
    path = tmp_path / "a.npy"
    if bad == "0d":
        np.save(path, np.float64(3.0))
    elif bad == "3d":
        np.save(path, np.zeros((4, 3, 2)))
    else:
        np.save(path, np.random.default_rng(0).normal(size=(100, 4)))
        path.write_bytes(path.read_bytes()[:-100])
    rc, _, err = _run(capsys, path, "--target", "0")
    assert rc == 1
    words = {"0d": ["0-D", "2-D"], "3d": ["3-D", "2-D"], "truncated": ["truncated"]}[bad]
    _one_line_error(err, str(path), *words)


# ---------------------------------------------------------------- usage errors (exit 2)
@pytest.mark.parametrize(
    "argv,words",
    [
        (["missing.csv", "--target", "y"], ["No such file"]),
        (["{csv}", "--target", "nope"], ["'nope' not found", "'a,b'"]),
        (["{dir}/x.txt", "--target", "y"], ["Unsupported file type"]),
    ],
)
def test_usage_errors_exit_2(tmp_path, data_csv, capsys, argv, words):
    (tmp_path / "x.txt").write_text("a\n")
    argv = [a.format(csv=data_csv, dir=tmp_path) for a in argv]
    rc, _, err = _run(capsys, *argv)
    assert rc == 2
    _one_line_error(err, *words)


@pytest.mark.parametrize("opt,val", [("--chunksize", "0"), ("--k", "-3"), ("--k", "abc")])
def test_bad_option_values_are_argparse_errors(data_csv, capsys, opt, val):
    with pytest.raises(SystemExit) as exc:
        main(["screen", str(data_csv), "--target", "y", opt, val])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {opt}" in err and "Traceback" not in err


def test_csv_progress_bar_is_byte_based_with_eta(data_csv, tmp_path, monkeypatch, capsys):
    from tqdm import auto

    bars = []
    real = auto.tqdm

    def spy(*a, **k):
        bar = real(*a, **{**k, "file": _io.StringIO()})
        bars.append(bar)
        return bar

    monkeypatch.setattr(auto, "tqdm", spy)
    rc = main(["screen", str(data_csv), "--target", "y", "--chunksize", "50",
               "--output", str(tmp_path / "s.csv")])  # fmt: skip
    assert rc == 0
    (bar,) = bars
    assert bar.unit == "B" and bar.total == os.path.getsize(data_csv)
    assert bar.n == bar.total


# ---------------------------------------------------------------- messages word for word (issue 20)
def test_a_missing_folder_is_named_word_for_word(tmp_path, data_csv, capsys):
    out = tmp_path / "nodir" / "s.csv"
    rc, _, err = _run(capsys, data_csv, "--target", "y", "--output", out)
    assert (rc, err) == (
        2,
        f"skscreen screen: error: --output {out}: folder {tmp_path / 'nodir'} does not exist; "
        "create it or choose another path.\n",
    )


def _full_disk_at(monkeypatch, out):
    real_replace = os.replace

    def disk_full(src, dst):
        if os.fspath(dst) == os.fspath(out):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", disk_full)


@pytest.mark.parametrize("name", ["s.csv", "s.json"])
def test_a_failed_write_names_the_file_and_the_rescue(
    tmp_path, data_csv, capsys, monkeypatch, name
):
    import tempfile

    rescues = tmp_path / "tmp"
    rescues.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(rescues))
    out = tmp_path / name
    _full_disk_at(monkeypatch, out)
    rc, _, err = _run(capsys, data_csv, "--target", "y", "--output", out)
    (rescue,) = rescues.iterdir()  # skscreen_scores_<random>.csv, or .json for a .json output
    assert rescue.name.startswith("skscreen_scores_") and rescue.suffix == out.suffix
    assert (rc, err) == (
        1,
        f"skscreen screen: error: could not write {out} (No space left on device); "
        f"the scores were saved to {rescue} instead.\n",
    )
    if name.endswith(".json"):
        rows = json.loads(rescue.read_text())["scores"]
    else:
        rows = list(csv.DictReader(rescue.open(newline="")))
    assert sorted(r["feature"] for r in rows) == sorted(_frame().columns[:3])


def test_a_failed_write_without_a_rescue_says_so(tmp_path, data_csv, capsys, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no_such_folder"))
    out = tmp_path / "s.csv"
    _full_disk_at(monkeypatch, out)
    rc, _, err = _run(capsys, data_csv, "--target", "y", "--output", out)
    assert (rc, err) == (
        1,
        f"skscreen screen: error: could not write {out} (No space left on device); "
        "no copy was saved.\n",
    )


@pytest.mark.parametrize("name", [".", "data.csv"])
def test_a_folder_as_input_is_named_a_folder(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).mkdir(exist_ok=True)
    rc, _, err = _run(capsys, name, "--target", "y")
    assert (rc, err) == (
        2,
        f"skscreen screen: error: {name} is a folder; give a CSV, Parquet or .npy file "
        "(or - for stdin).\n",
    )
