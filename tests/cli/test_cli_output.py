"""``skscreen screen``'s inputs and outputs: the scores are written before anything is printed
(a closed pipe or a console that cannot encode a name loses nothing), ``--output -``, stdin,
compressed files, a negative ``--target`` (issues 19 and 20)."""

import gzip
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.feature_selection import f_classif

from skscreen.cli import main

pd = pytest.importorskip("pandas")


def _frame(n=300):
    X, y = make_classification(
        n_samples=n, n_features=5, n_informative=2, n_redundant=0, shuffle=False, random_state=0
    )
    df = pd.DataFrame(X, columns=["température", "b", "c", "d", "e"])
    df["y"] = y
    return df


@pytest.fixture
def data_csv(tmp_path):
    path = tmp_path / "d.csv"
    _frame().to_csv(path, index=False)
    return path


def _check_scores(table, df=None):
    """The scores written (a CSV) are f_classif's, for every feature."""
    df = _frame() if df is None else df
    want = dict(zip(df.columns[:-1], f_classif(df.iloc[:, :-1].to_numpy(), df["y"])[0]))
    got = table.set_index("feature")["F"]
    assert sorted(got.index) == sorted(want)
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-10)


class _Pipe(io.BytesIO):
    def __init__(self, broken):
        super().__init__()
        self.broken = broken

    def write(self, b):
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(b)


def _failing_stdout(broken):
    """A stdout whose writes fail: ``BrokenPipeError`` (a closed pipe), or the console's
    encoding (``ascii``: no ``é``)."""
    return io.TextIOWrapper(_Pipe(broken), encoding="ascii", write_through=True)


# ---------------------------------------------------------------- result first, then print
@pytest.mark.parametrize("broken", [True, False], ids=["closed_pipe", "ascii_console"])
def test_scores_are_written_before_printing(tmp_path, data_csv, monkeypatch, capsys, broken):
    stdout = _failing_stdout(broken)
    monkeypatch.setattr(sys, "stdout", stdout)
    out = tmp_path / "s.csv"
    rc = main(["screen", str(data_csv), "--target", "y", "--output", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    _check_scores(pd.read_csv(out))
    if not broken:  # the table was printed, the name escaped
        printed = stdout.buffer.getvalue().decode("ascii")
        assert "temp\\xe9rature" in printed and f"all scores written to {out}" in printed


def test_a_closed_pipe_loses_nothing_in_a_real_process(tmp_path, data_csv):
    # `skscreen screen ... | head -1`, made certain: the reading end is closed before it starts
    r, w = os.pipe()
    os.close(r)
    out = tmp_path / "s.csv"
    cmd = "from skscreen.cli import main; raise SystemExit(main())"
    args = [sys.executable, "-c", cmd, "screen", str(data_csv), "--target", "y", "--k", "all"]
    res = subprocess.run([*args, "--output", str(out), "--quiet"], stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    assert res.returncode == 0 and res.stderr == b"", res.stderr.decode()
    _check_scores(pd.read_csv(out))


# ---------------------------------------------------------------- stdout and stdin
def test_output_dash_writes_the_scores_on_stdout(tmp_path, data_csv, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["screen", str(data_csv), "--target", "y", "--output", "-", "--k", "2", "--quiet"])
    assert rc == 0
    out, err = capsys.readouterr()
    _check_scores(pd.read_csv(io.StringIO(out)))  # stdout holds the scores, nothing else
    assert "300 rows, 5 features, 2 classes" in err and "all scores written to stdout" in err
    assert not (tmp_path / "-").exists()


def test_output_dash_into_a_closed_pipe_is_quiet(data_csv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _failing_stdout(broken=True))
    assert main(["screen", str(data_csv), "--target", "y", "--output", "-", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_output_dash_on_a_full_disk_rescues_the_scores(data_csv, monkeypatch, capsys):
    import errno

    class Full(io.BytesIO):  # `> file` on a full disk
        def write(self, b):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(Full(), write_through=True))
    assert main(["screen", str(data_csv), "--target", "y", "--output", "-", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not write stdout (No space left on device)" in err
    rescue = err.split("saved to ")[1].split(" instead")[0]
    _check_scores(pd.read_csv(rescue))
    os.unlink(rescue)


def test_dash_reads_stdin(tmp_path, data_csv, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = gzip.compress(data_csv.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["screen", "-", "--target", "y", "--chunksize", "64", "--quiet"]) == 0
    assert "all scores written to stdin_scores.csv" in capsys.readouterr().out
    _check_scores(pd.read_csv(tmp_path / "stdin_scores.csv"))


# ---------------------------------------------------------------- compressed files
@pytest.mark.parametrize("name", ["g.csv", "g.csv.gz"])
def test_gzip_csv_by_content(tmp_path, data_csv, capsys, monkeypatch, name):
    # a gzip file named .csv used to fail with "'utf-8' codec can't decode byte 0x8b"
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data_csv.read_bytes()))
    assert main(["screen", str(path), "--target", "y", "--quiet"]) == 0
    capsys.readouterr()
    _check_scores(pd.read_csv(tmp_path / "g_scores.csv"))  # named after g, not g.csv


def test_corrupt_gzip_is_one_line_naming_the_file(tmp_path, data_csv, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(gzip.compress(data_csv.read_bytes())[:-40])
    rc = main(["screen", str(path), "--target", "y", "--quiet", "--output", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: cannot read its gzip data" in err
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- a negative --target (issue 20)
@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_negative_target_counts_from_the_end(tmp_path, capsys, fmt):
    df = _frame()
    df.insert(2, "last_but_one", df.pop("y"))  # the label in the middle...
    df["y"] = df["last_but_one"]  # ...and last
    df = df.drop(columns="last_but_one")
    path = tmp_path / f"d.{fmt}"
    if fmt == "npy":
        np.save(path, df.to_numpy())
    else:
        df.to_csv(path, index=False)
    out = {t: tmp_path / f"s{t}.csv" for t in ("-1", "5")}
    for t, o in out.items():
        assert main(["screen", str(path), "--target", t, "--output", str(o), "--quiet"]) == 0
    capsys.readouterr()
    neg, pos = pd.read_csv(out["-1"]), pd.read_csv(out["5"])
    pd.testing.assert_frame_equal(neg, pos)
    if fmt == "csv":
        _check_scores(neg, df)
    else:
        assert sorted(neg["feature"]) == [f"x{i}" for i in range(5)]
        f = f_classif(df.iloc[:, :5].to_numpy(), df["y"])[0]
        np.testing.assert_allclose(
            neg.set_index("feature").loc[[f"x{i}" for i in range(5)], "F"], f
        )


# ---------------------------------------------------------------- wide files
def test_a_csv_is_parsed_by_pandas_once_without_a_dtype_dict(data_csv, tmp_path, monkeypatch):
    # a 50,000-column CSV cost 10x one pandas read: its header was parsed three more times
    # (pandas builds an empty Series per column for it), and a dtype dict makes pandas build
    # a Series per column for every chunk (issue 19; benchmarks/bench_cli_wide.py)
    calls = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(k) or real(*a, **k))
    argv = ["screen", str(data_csv), "--target", "y", "--chunksize", "64", "--quiet"]
    assert main([*argv, "--output", str(tmp_path / "s.csv")]) == 0
    assert len(calls) == 1 and not isinstance(calls[0].get("dtype"), dict)
    _check_scores(pd.read_csv(tmp_path / "s.csv"))


# ---------------------------------------------------------------- the table printed (issue 20)
@pytest.mark.parametrize("k,shown", [("2", 2), ("all", 5), ("9", 5), ("0", 0)])
def test_the_table_lists_the_top_k_features(tmp_path, data_csv, capsys, k, shown):
    out = tmp_path / "s.csv"
    argv = ["screen", str(data_csv), "--target", "y", "--k", k, "--quiet"]
    assert main([*argv, "--output", str(out)]) == 0
    df = _frame()
    F, p = f_classif(df.iloc[:, :-1].to_numpy(), df["y"])
    top = np.argsort(-F, kind="stable")[:shown]
    rows = [
        f"{r:>4}  {df.columns[j]:<24} {F[j]:>14.6g} {p[j]:>12.3g}" for r, j in enumerate(top, 1)
    ]
    assert capsys.readouterr().out.splitlines() == [
        "300 rows, 5 features, 2 classes",
        "rank  feature                               F            p",
        *rows,
        f"all scores written to {out}",
    ]


def test_the_progress_bar_advances_one_chunk_at_a_time(tmp_path, monkeypatch, capsys):
    from tqdm import auto

    path = tmp_path / "d.npy"
    np.save(path, _frame().to_numpy())
    seen = []
    real = auto.tqdm

    def spy(*a, **k):
        bar = real(*a, **{**k, "file": io.StringIO()})
        update = bar.update
        bar.update = lambda n=1: (update(n), seen.append(bar.n))[0]
        return bar

    monkeypatch.setattr(auto, "tqdm", spy)
    argv = ["screen", str(path), "--target", "x5", "--chunksize", "64"]
    assert main([*argv, "--output", str(tmp_path / "s.csv")]) == 0
    assert seen == [64, 128, 192, 256, 300]  # rows read, after each chunk of --chunksize


def test_a_file_named_dash_is_not_stdin(tmp_path, data_csv, monkeypatch, capsys):
    # reading stdin, `--output ./-` writes the file named - (it is not the input)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_text("an earlier result\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data_csv.read_bytes())))
    assert main(["screen", "-", "--target", "y", "--output", "./-", "--quiet"]) == 0
    assert "all scores written to ./-" in capsys.readouterr().out
    _check_scores(pd.read_csv(tmp_path / "-"))


def test_dash_is_stdin_even_beside_a_folder_named_dash(tmp_path, data_csv, monkeypatch, capsys):
    # `-` is stdin whatever the current folder holds: a folder named - is not the input
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").mkdir()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data_csv.read_bytes())))
    assert main(["screen", "-", "--target", "y", "--quiet"]) == 0
    assert "all scores written to stdin_scores.csv" in capsys.readouterr().out
    _check_scores(pd.read_csv(tmp_path / "stdin_scores.csv"))
