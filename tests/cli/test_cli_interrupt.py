"""Ctrl-C (``KeyboardInterrupt``) never loses a finished scan, and what is said about it is
true: once ``skscreen screen`` has scored every row, an interrupt while the scores are being
written saves them to a rescue file (named in the one error line); an interrupt after they
were written says where they are. The exit status is 130 either way."""

import csv
import io
import json
import os
import sys

import numpy as np
import pytest

import skscreen._cli_common as common
import skscreen.cli as cli
from skscreen.cli import main

pd = pytest.importorskip("pandas")

FEATURES = ["a", "b", "c"]


@pytest.fixture
def data_csv(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(200, 3)), columns=FEATURES)
    df["y"] = rng.integers(0, 2, 200)
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    return path


def _screen(capsys, *argv):
    rc = main(["screen", *map(str, argv), "--quiet"])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("skscreen screen: error: "), err
    return rc, lines[0]


def _features(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return sorted(r["feature"] for r in csv.DictReader(fh))


def _rescued(rescues):
    (path,) = rescues.iterdir()
    assert path.name.startswith("skscreen_scores_") and path.suffix == ".csv"
    assert _features(path) == FEATURES
    return path


def _interrupt(*a, **k):
    raise KeyboardInterrupt


# ---------------------------------------------------------------- after the write
def test_interrupt_while_printing_the_table_says_the_scores_were_written(
    tmp_path, data_csv, rescues, capsys, monkeypatch
):
    calls = []

    def echo(line="", stream=None):  # Ctrl-C on the table's second line
        calls.append(line)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "echo", echo)
    out = tmp_path / "s.csv"
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    assert (rc, line) == (
        130,
        f"skscreen screen: error: interrupted; the scores were already written to {out}.",
    )
    assert _features(out) == FEATURES
    assert list(rescues.iterdir()) == []  # nothing to rescue


def test_interrupt_after_the_scores_went_to_stdout(data_csv, rescues, capsys, monkeypatch):
    monkeypatch.setattr(cli, "echo", _interrupt)  # the table, on stderr
    rc = main(["screen", str(data_csv), "--target", "y", "--output", "-", "--quiet"])
    out, err = capsys.readouterr()
    assert (rc, err) == (
        130,
        "skscreen screen: error: interrupted; the scores were already written to stdout.\n",
    )
    assert sorted(r["feature"] for r in csv.DictReader(io.StringIO(out))) == FEATURES
    assert list(rescues.iterdir()) == []


def test_interrupt_after_the_file_was_renamed_into_place(
    tmp_path, data_csv, rescues, capsys, monkeypatch
):
    real = os.replace

    def replace_then_interrupt(src, dst):  # Ctrl-C right after the rename
        real(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    out = tmp_path / "s.csv"
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    assert (rc, line) == (
        130,
        f"skscreen screen: error: interrupted; the scores were already written to {out}.",
    )
    assert _features(out) == FEATURES
    assert list(rescues.iterdir()) == []


# ---------------------------------------------------------------- during the write: rescued
def test_interrupt_while_writing_the_file_rescues_the_scores(
    tmp_path, data_csv, rescues, capsys, monkeypatch
):
    monkeypatch.setattr(os, "fsync", _interrupt)  # inside write_atomic, before the rename
    out = tmp_path / "s.csv"
    out.write_text("earlier scores\n")
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    rescue = _rescued(rescues)
    assert (rc, line) == (
        130,
        f"skscreen screen: error: interrupted while writing {out}; the scores were saved to "
        f"{rescue} instead ({out} is untouched).",
    )
    assert out.read_text() == "earlier scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "rescues", "s.csv"]


def test_interrupt_while_writing_a_json_file_rescues_the_scores_as_json(
    tmp_path, data_csv, rescues, capsys, monkeypatch
):
    monkeypatch.setattr(os, "fsync", _interrupt)
    out = tmp_path / "S.JSON"  # the format follows the name, whatever its case
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    (rescue,) = rescues.iterdir()
    assert (rc, line) == (
        130,
        f"skscreen screen: error: interrupted while writing {out}; the scores were saved to "
        f"{rescue} instead.",
    )
    assert rescue.name.startswith("skscreen_scores_") and rescue.suffix == ".json"
    doc = json.loads(rescue.read_text(encoding="utf-8"))
    assert doc["n_samples"] == 200 and doc["classes"] == ["0", "1"]
    assert sorted(r["feature"] for r in doc["scores"]) == FEATURES
    assert not out.exists()


def test_interrupt_while_writing_with_nowhere_to_rescue_says_so(
    tmp_path, data_csv, capsys, monkeypatch
):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no_such_folder"))
    monkeypatch.setattr(os, "fsync", _interrupt)
    out = tmp_path / "s.csv"
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    assert (rc, line) == (
        130,
        f"skscreen screen: error: interrupted while writing {out}; no copy was saved.",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


class _SlowReader(io.BytesIO):
    """stdout into a pipe: Ctrl-C after ``after`` bytes went through."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def write(self, b):
        if self.tell() + len(b) > self.after:
            raise KeyboardInterrupt
        return super().write(b)


def test_interrupt_while_writing_stdout_rescues_the_scores(data_csv, rescues, capsys, monkeypatch):
    stdout = io.TextIOWrapper(_SlowReader(after=30), encoding="utf-8", write_through=True)
    monkeypatch.setattr(sys, "stdout", stdout)
    rc = main(["screen", str(data_csv), "--target", "y", "--output", "-", "--quiet"])
    err = capsys.readouterr().err
    rescue = _rescued(rescues)
    assert (rc, err) == (
        130,
        "skscreen screen: error: interrupted while writing the scores to stdout (what went "
        f"there is incomplete); the scores were saved to {rescue} instead.\n",
    )


def test_interrupt_between_the_scan_and_the_write_rescues_the_scores(
    tmp_path, data_csv, rescues, capsys, monkeypatch
):
    real = cli._score_rows
    calls = []

    def rows(*a):  # Ctrl-C while the finished scores are ranked
        calls.append(a)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(cli, "_score_rows", rows)
    out = tmp_path / "s.csv"
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    rescue = _rescued(rescues)
    assert (rc, line) == (
        130,
        f"skscreen screen: error: interrupted while writing {out}; the scores were saved to "
        f"{rescue} instead.",
    )
    assert not out.exists()


def test_interrupt_during_the_scan_writes_nothing(tmp_path, data_csv, rescues, capsys, monkeypatch):
    import skscreen.io

    monkeypatch.setattr(skscreen.io, "screen_file", _interrupt)
    out = tmp_path / "s.csv"
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    assert (rc, line) == (130, "skscreen screen: error: interrupted; nothing was written.")
    assert not out.exists() and list(rescues.iterdir()) == []


def test_a_second_interrupt_during_the_rescue_says_nothing_was_saved(
    tmp_path, data_csv, rescues, capsys, monkeypatch
):
    monkeypatch.setattr(os, "fsync", _interrupt)
    real = common.rescue_file

    def rescue_interrupted(write, **k):  # Ctrl-C again, halfway through the rescue file
        def half(fh):
            fh.write("rank,feature")
            raise KeyboardInterrupt

        return real(half, **k)

    monkeypatch.setattr(cli, "rescue_file", rescue_interrupted)
    out = tmp_path / "s.csv"
    rc, line = _screen(capsys, data_csv, "--target", "y", "--output", out)
    assert (rc, line) == (
        130,
        f"skscreen screen: error: interrupted while writing {out}; interrupted again while "
        "saving a copy: the scores were not saved.",
    )
    assert list(rescues.iterdir()) == [] and not out.exists()


def test_rescue_file_leaves_no_partial_file_when_interrupted(rescues):
    def half(fh):
        fh.write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        common.rescue_file(half, prefix="skscreen_scores_", suffix=".csv")
    assert list(rescues.iterdir()) == []


# ---------------------------------------------------------------- skscreen prune
def test_prune_interrupted_while_printing_the_report_says_the_outputs_were_written(
    tmp_path, capsys, monkeypatch
):
    pytest.importorskip("torch")
    pytest.importorskip("skorch")
    import skscreen._prune_cli as prune_cli

    calls = []

    def echo(line="", stream=None):  # Ctrl-C on the report's third line
        calls.append(line)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(prune_cli, "echo", echo)
    out = tmp_path / "out"
    argv = ["--epochs", "1", "--hidden", "4", "--no-plots", "--quiet", "--out", str(out)]
    rc = main(["prune", *argv])
    err = capsys.readouterr().err
    assert (rc, err) == (
        130,
        f"skscreen prune: error: interrupted; results.json was already written to {out}/.\n",
    )
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]


def test_prune_interrupted_while_testing_the_network_writes_nothing(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("skorch")
    import skscreen._prune_cli as prune_cli

    monkeypatch.setattr(prune_cli, "_evaluate", _interrupt)
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("{}\n")  # an earlier run's
    argv = ["--epochs", "1", "--hidden", "4", "--no-plots", "--quiet", "--out", str(out)]
    rc = main(["prune", *argv])
    err = capsys.readouterr().err
    assert (rc, err) == (
        130,
        "skscreen prune: error: interrupted after training, while testing the network; "
        f"nothing was written (earlier outputs in {out} are untouched).\n",
    )
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]
    assert (out / "results.json").read_text() == "{}\n"


def test_prune_interrupted_while_printing_after_the_plots_says_both_were_written(
    tmp_path, capsys, monkeypatch
):
    pytest.importorskip("torch")
    pytest.importorskip("skorch")
    pytest.importorskip("matplotlib")
    import skscreen._prune_cli as prune_cli

    monkeypatch.setattr(prune_cli, "echo", _interrupt)
    out = tmp_path / "out"
    rc = main(["prune", "--epochs", "1", "--hidden", "4", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert (rc, err) == (
        130,
        "skscreen prune: error: interrupted; the plots and results.json were already "
        f"written to {out}/.\n",
    )
    assert "results.json" in {p.name for p in out.iterdir()}
