"""Warnings met by ``skscreen screen`` are one line each on stderr, in the command's terms
(the features named as the file names them), not Python's ``file:line: UserWarning`` and
source line; a run that ends in an error prints its one error line only."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from skscreen.cli import main

pd = pytest.importorskip("pandas")


def _run(capsys, *argv):
    rc = main(["screen", *map(str, argv), "--quiet"])
    return (rc, *capsys.readouterr())


def _degenerate(tmp_path, n_constant=1):
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    df = pd.DataFrame({"sep": y * 5.0, "noise": rng.normal(size=40)})
    for i in range(n_constant):
        df[f"const{i}"] = 1.0
    df["label"] = np.where(y == 1, "b", "a")
    path = tmp_path / "degen.csv"
    df.to_csv(path, index=False)
    return path


def test_a_constant_column_is_named_in_one_line(tmp_path, capsys):
    out = tmp_path / "s.csv"
    rc, stdout, err = _run(capsys, _degenerate(tmp_path), "--target", "label", "--output", out)
    assert rc == 0
    assert err == (
        "skscreen screen: warning: feature 'const0' is constant: its F and p are nan "
        "(ranked last).\n"
    )
    assert set(pd.read_csv(out)["feature"]) == {"sep", "noise", "const0"}
    assert "all scores written to" in stdout


def test_many_constant_columns_are_counted_and_the_first_named(tmp_path, capsys):
    out = tmp_path / "s.csv"
    rc, _, err = _run(
        capsys, _degenerate(tmp_path, 12), "--target", "label", "--output", out, "--k", "0"
    )
    names = ", ".join(f"'const{i}'" for i in range(10))
    assert (rc, err) == (
        0,
        f"skscreen screen: warning: 12 features are constant: their F and p are nan (ranked "
        f"last): {names} and 2 more.\n",
    )


@pytest.mark.parametrize("n_constant", [10, 11])
def test_ten_constant_columns_are_all_named_and_eleven_counted(tmp_path, capsys, n_constant):
    out = tmp_path / "s.csv"
    rc, _, err = _run(
        capsys, _degenerate(tmp_path, n_constant), "--target", "label", "--output", out
    )
    names = ", ".join(f"'const{i}'" for i in range(10))
    more = " and 1 more" if n_constant == 11 else ""
    assert (rc, err) == (
        0,
        f"skscreen screen: warning: {n_constant} features are constant: their F and p are nan "
        f"(ranked last): {names}{more}.\n",
    )


def test_as_many_rows_as_classes_is_one_line_in_the_commands_terms(tmp_path, capsys):
    path = tmp_path / "two.csv"
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 5.0], "label": ["x", "y"]}).to_csv(path, index=False)
    rc, _, err = _run(capsys, path, "--target", "label", "--output", tmp_path / "s.csv")
    assert (rc, err) == (
        0,
        "skscreen screen: warning: every F and p is nan: 2 rows of 2 classes; the F-test "
        "needs more rows than classes.\n",
    )


def test_with_output_dash_the_warning_goes_to_stderr(tmp_path, capsys):
    rc, stdout, err = _run(capsys, _degenerate(tmp_path), "--target", "label", "--output", "-")
    assert rc == 0 and stdout.startswith("rank,feature,F,p\n") and "warning" not in stdout
    assert err.splitlines()[0] == (
        "skscreen screen: warning: feature 'const0' is constant: its F and p are nan (ranked last)."
    )


def test_other_warnings_are_one_line_each_without_repeats(tmp_path, capsys, monkeypatch):
    import skscreen.io

    real = skscreen.io.screen_file

    def noisy(*a, **k):
        for _ in range(3):
            warnings.warn("a library\n   said this", RuntimeWarning)
            warnings.warn("its inputs are constant.", RuntimeWarning)  # not the screener's
        return real(*a, **k)

    monkeypatch.setattr(skscreen.io, "screen_file", noisy)
    out = tmp_path / "s.csv"
    rc, _, err = _run(capsys, _degenerate(tmp_path, 0), "--target", "label", "--output", out)
    assert (rc, err) == (
        0,
        "skscreen screen: warning: a library said this\n"
        "skscreen screen: warning: its inputs are constant.\n",
    )


def test_an_error_is_the_only_line_in_a_real_process(tmp_path):
    # a NaN label in a .npy: numpy warns about the cast before the error (in a real process,
    # where no test runner catches warnings)
    path = tmp_path / "nanlab.npy"
    np.save(path, np.array([[1.0, 0], [2, 1], [3, np.nan], [5, 1]]))
    cmd = "from skscreen.cli import main; raise SystemExit(main())"
    argv = ["screen", str(path), "--target", "-1", "--output", str(tmp_path / "s.csv"), "--quiet"]
    res = subprocess.run([sys.executable, "-c", cmd, *argv], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"skscreen screen: error: {path}, "), res.stderr
