"""skscreen.cli's own units: main's one error path (exit status and one line per kind of
error), the --k type, the default output name, the score rows and writers.

Each truth is written out by hand.
"""

import argparse
import io
import json
import math
import sys

import numpy as np
import pytest

import skscreen.cli as cli
from skscreen._cli_common import CommandError, UsageError


def _run_raising(monkeypatch, capsys, exc):
    def boom(args):
        raise exc

    real = cli.build_parser

    def parser():
        p = real()
        p.set_defaults(func=boom)
        for action in p._subparsers._group_actions:
            for sub in action.choices.values():
                sub.set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    code = cli.main(["screen", "f.csv", "--target", "y"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "exc,code,line",
    [
        (UsageError("bad  option\n  here"), 2, "skscreen screen: error: bad option here\n"),
        (CommandError("disk full", code=74), 74, "skscreen screen: error: disk full\n"),
        (CommandError("oops"), 1, "skscreen screen: error: oops\n"),
        (KeyboardInterrupt(), 130, "skscreen screen: error: interrupted; nothing was written.\n"),
        (ValueError("f.csv: row 3"), 1, "skscreen screen: error: f.csv: row 3\n"),
        (OSError("no disk"), 1, "skscreen screen: error: no disk\n"),
        (
            ZeroDivisionError("x"),
            1,
            "skscreen screen: error: unexpected ZeroDivisionError: x (a bug: please report it; "
            "SKSCREEN_DEBUG=1 shows the traceback)\n",
        ),
    ],
)
def test_main_maps_each_error_to_a_status_and_one_line(monkeypatch, capsys, exc, code, line):
    monkeypatch.delenv("SKSCREEN_DEBUG", raising=False)
    assert _run_raising(monkeypatch, capsys, exc) == (code, line)


def test_debug_shows_the_traceback_of_bugs_only(monkeypatch, capsys):
    monkeypatch.setenv("SKSCREEN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        _run_raising(monkeypatch, capsys, ZeroDivisionError("x"))
    # a CommandError raised from a bug: re-raised; a plain CommandError: one line
    try:
        try:
            raise KeyError("k")
        except KeyError as inner:
            raise CommandError("saved, then failed") from inner
    except CommandError as exc:
        chained = exc
    with pytest.raises(CommandError):
        _run_raising(monkeypatch, capsys, chained)
    assert _run_raising(monkeypatch, capsys, CommandError("plain")) == (
        1,
        "skscreen screen: error: plain\n",
    )
    assert _run_raising(monkeypatch, capsys, UsageError("u"))[0] == 2
    monkeypatch.setenv("SKSCREEN_DEBUG", "")  # empty: off
    assert _run_raising(monkeypatch, capsys, ZeroDivisionError("x"))[0] == 1
    assert _run_raising(monkeypatch, capsys, chained)[0] == 1


@pytest.mark.parametrize("text,value", [("all", "all"), ("0", 0), ("20", 20)])
def test_k_type_accepts_all_and_integers_from_zero(text, value):
    assert cli._k(text) == value


@pytest.mark.parametrize("text", ["-1", "x", "1.5", "ALL"])
def test_k_type_message(text):
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        cli._k(text)
    assert str(exc.value) == f"expected 'all' or an integer >= 0, got {text!r}"


@pytest.mark.parametrize(
    "file,name",
    [
        ("-", "stdin_scores.csv"),
        ("data/d.csv", "d_scores.csv"),
        ("d.CSV.GZ", "d_scores.csv"),
        ("/x/d.npy.xz", "d_scores.csv"),
        ("d.parquet.zst", "d_scores.csv"),
        ("d.csv.bz2", "d_scores.csv"),
        ("d.zip", "d_scores.csv"),
        ("d.csv.zip", "d_scores.csv"),
        ("D.CSV.ZIP", "D_scores.csv"),
        ("archive.tar.gz", "archive_scores.csv"),
    ],
)
def test_default_output_name(file, name):
    assert cli._default_output(file) == name


def test_finite_or_none():
    assert cli._finite_or_none(np.float64(2.5)) == 2.5
    assert type(cli._finite_or_none(np.float32(1.0))) is float
    for v in (math.inf, -math.inf, math.nan):
        assert cli._finite_or_none(v) is None


class _Screener:
    n_samples_seen_ = 12
    classes_ = np.array([0, 1])


def _rows():
    f = np.array([1.0, np.nan, 7.0, np.inf])
    p = np.array([0.5, np.nan, 0.01, 0.0])
    return cli._score_rows(["a", "b", "c", "d"], f, p)


def test_score_rows_rank_inf_first_and_nan_last():
    rows = _rows()
    assert [r["feature"] for r in rows] == ["d", "c", "a", "b"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert rows[1] == {"rank": 2, "feature": "c", "F": 7.0, "p": 0.01}
    assert all(type(r["F"]) is float and type(r["p"]) is float for r in rows)


def test_score_writers_json_and_csv():
    rows = _rows()
    fh = io.StringIO()
    cli._score_writer(True, rows, _Screener())(fh)
    text = fh.getvalue()
    assert text.endswith("}\n") and text.startswith('{\n "n_samples": 12,')
    doc = json.loads(text)
    assert doc["n_samples"] == 12 and doc["classes"] == ["0", "1"]
    assert doc["scores"][0] == {"rank": 1, "feature": "d", "F": None, "p": 0.0}
    assert doc["scores"][3] == {"rank": 4, "feature": "b", "F": None, "p": None}
    fh = io.StringIO()
    cli._score_writer(False, rows, _Screener())(fh)
    assert fh.getvalue() == (
        "rank,feature,F,p\n1,d,inf,0.0\n2,c,7.0,0.01\n3,a,1.0,0.5\n4,b,nan,nan\n"
    )


def test_write_stdout_is_utf8_whatever_the_console(monkeypatch):
    raw = io.BytesIO()
    console = io.TextIOWrapper(raw, encoding="ascii")
    console.write("before ")  # pending text is flushed first, in order
    monkeypatch.setattr(sys, "stdout", console)
    cli._write_stdout(lambda fh: fh.write("é\r\n"))
    assert raw.getvalue() == "before é\r\n".encode()
    assert not console.closed  # the console itself is left open (detached wrapper)
    text_only = io.StringIO()
    monkeypatch.setattr(sys, "stdout", text_only)
    cli._write_stdout(lambda fh: fh.write("é\n"))
    assert text_only.getvalue() == "é\n"


def test_write_stdout_is_utf8_under_a_c_locale(monkeypatch, c_locale):
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    cli._write_stdout(lambda fh: fh.write("température\n"))
    assert raw.getvalue() == "température\n".encode()
