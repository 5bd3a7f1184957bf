"""skscreen._cli_common on its own: positive_int, check_destination, write_atomic,
rescue_file, echo and silence_stdout against hand-made files, streams and failures.

Each truth is written out by hand (the messages, the bytes of a file, its mode).
"""

import argparse
import errno
import io
import os
import stat
import sys
import tempfile

import pytest

from skscreen._cli_common import (
    CommandError,
    UsageError,
    check_destination,
    echo,
    positive_int,
    rescue_file,
    silence_stdout,
    write_atomic,
)


# ---------------------------------------------------------------- errors, positive_int
def test_command_error_code_defaults_to_one():
    assert CommandError("x").code == 1
    err = CommandError("disk full", code=74)
    assert err.code == 74 and str(err) == "disk full"


@pytest.mark.parametrize("text,value", [("1", 1), ("7", 7), (" 12 ", 12)])
def test_positive_int_accepts_integers_from_one(text, value):
    assert positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5", ""])
def test_positive_int_refuses_the_rest_with_one_message(text):
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        positive_int(text)
    assert str(exc.value) == f"expected a positive integer, got {text!r}"
    assert exc.value.__cause__ is None


# ---------------------------------------------------------------- check_destination
def _leftovers(folder):
    return [p for p in os.listdir(folder) if p.startswith(".skscreen-check-")]


def test_a_new_or_existing_regular_file_is_accepted(tmp_path):
    check_destination(tmp_path / "new.csv", option="--out")
    existing = tmp_path / "old.csv"
    existing.write_text("keep")
    check_destination(str(existing), option="--out", inputs=[tmp_path / "other.csv"])
    assert existing.read_text() == "keep" and _leftovers(tmp_path) == []


def test_the_input_file_is_refused_as_destination(tmp_path):
    src = tmp_path / "data.csv"
    src.write_text("a,b\n")
    other = tmp_path / "other.csv"
    other.write_text("c\n")
    with pytest.raises(UsageError) as exc:
        check_destination(str(src), option="--out", inputs=[other, src])
    assert str(exc.value) == f"--out {src} is the input file; choose another name."
    # a missing input is no conflict, nor is a destination that does not exist yet
    check_destination(str(src), option="--out", inputs=[tmp_path / "missing.csv"])
    check_destination(str(tmp_path / "new.csv"), option="--out", inputs=[src])


def test_the_same_file_under_another_name_is_the_input(tmp_path):
    src = tmp_path / "data.csv"
    src.write_text("a\n")
    link = tmp_path / "link.csv"
    os.link(src, link)
    with pytest.raises(UsageError, match="is the input file"):
        check_destination(link, option="-o", inputs=[src])


def test_a_missing_folder_is_refused(tmp_path):
    dest = tmp_path / "nope" / "out.csv"
    with pytest.raises(UsageError) as exc:
        check_destination(dest, option="--out")
    assert str(exc.value) == (
        f"--out {dest}: folder {tmp_path / 'nope'} does not exist; "
        "create it or choose another path."
    )


def test_a_folder_or_a_device_is_refused(tmp_path):
    with pytest.raises(UsageError) as exc:
        check_destination(tmp_path, option="--out")
    assert str(exc.value) == (
        f"--out {tmp_path} exists and is not a regular file; choose a file name."
    )
    if os.path.exists(os.devnull):
        with pytest.raises(UsageError, match="is not a regular file"):
            check_destination(os.devnull, option="-o")


def test_an_unwritable_folder_is_refused(tmp_path, monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(kwargs)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    dest = tmp_path / "out.csv"
    with pytest.raises(UsageError) as exc:
        check_destination(dest, option="--out")
    assert str(exc.value) == (
        f"--out {dest}: cannot write in {tmp_path} (Permission denied); choose another path."
    )
    assert exc.value.__suppress_context__
    assert calls == [{"dir": str(tmp_path), "prefix": ".skscreen-check-"}]


# ---------------------------------------------------------------- write_atomic
def test_write_atomic_writes_utf8_verbatim_with_the_usual_mode(tmp_path):
    dest = tmp_path / "r.csv"
    dest.write_text("earlier")
    old = os.umask(0o027)
    try:
        write_atomic(dest, lambda fh: fh.write("é,x\r\nb\n"))
    finally:
        os.umask(old)
    assert dest.read_bytes() == "é,x\r\nb\n".encode()  # newline="" : no translation
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640  # 0o666 & ~umask, not mkstemp's 0o600
    old = os.umask(0o022)
    try:
        write_atomic(dest, lambda fh: fh.write("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644  # never executable
    assert os.listdir(tmp_path) == ["r.csv"]  # the temporary file was renamed


def test_write_atomic_writes_utf8_under_a_c_locale(tmp_path, c_locale):
    dest = tmp_path / "r.csv"
    write_atomic(dest, lambda fh: fh.write("température\n"))
    assert dest.read_bytes() == "température\n".encode()


def test_write_atomic_failure_keeps_the_earlier_file(tmp_path):
    dest = tmp_path / "r.csv"
    dest.write_text("earlier")

    def fail(fh):
        fh.write("half")
        raise KeyboardInterrupt  # any exception, even an interrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(dest), fail)
    assert dest.read_text() == "earlier"
    assert os.listdir(tmp_path) == ["r.csv"]


def test_write_atomic_temporary_file_is_hidden_beside_the_destination(tmp_path):
    seen = []
    write_atomic(tmp_path / "r.csv", lambda fh: seen.append(os.listdir(tmp_path)))
    ((base,),) = seen  # while writing: only the temporary file, in the same folder
    assert base.startswith(".r.csv.") and base.endswith(".tmp")
    assert (tmp_path / "r.csv").read_bytes() == b""


# ---------------------------------------------------------------- rescue_file
def test_rescue_file_saves_in_the_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = rescue_file(lambda fh: fh.write("é\r\n"), prefix="skscreen-", suffix=".json")
    assert os.path.dirname(path) == str(tmp_path)
    base = os.path.basename(path)
    assert base.startswith("skscreen-") and base.endswith(".json")
    with open(path, "rb") as fh:
        assert fh.read() == "é\r\n".encode()


def test_rescue_file_writes_utf8_under_a_c_locale(tmp_path, monkeypatch, c_locale):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = rescue_file(lambda fh: fh.write("température\n"), prefix="a", suffix=".csv")
    with open(path, "rb") as fh:
        assert fh.read() == "température\n".encode()


def test_rescue_file_gives_none_when_it_cannot_save(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def disk_full(fh):
        fh.write("x")
        raise OSError(errno.ENOSPC, "No space left on device")

    assert rescue_file(disk_full, prefix="a", suffix=".b") is None
    assert os.listdir(tmp_path) == []  # nothing left behind

    def no_temp(*a, **k):
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(tempfile, "mkstemp", no_temp)
    assert rescue_file(lambda fh: fh.write("x"), prefix="a", suffix=".b") is None


@pytest.mark.parametrize("exc", [TypeError("not an OSError"), KeyboardInterrupt()])
def test_rescue_file_lets_other_errors_through_leaving_nothing(tmp_path, monkeypatch, exc):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def half(fh):
        fh.write("half a result")
        raise exc

    with pytest.raises(type(exc)):
        rescue_file(half, prefix="a", suffix=".b")
    assert os.listdir(tmp_path) == []  # the half-written file is removed


# ---------------------------------------------------------------- console output
def test_echo_prints_one_line_to_stdout_by_default(capsys):
    echo("hello")
    echo()
    assert capsys.readouterr().out == "hello\n\n"


def test_echo_escapes_what_the_console_cannot_encode():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", newline="\n")
    echo("café ✓", stream)
    stream.flush()
    assert raw.getvalue() == b"caf\\xe9 \\u2713\n"
    latin = io.BytesIO()
    stream = io.TextIOWrapper(latin, encoding="latin-1", newline="\n")
    echo("café ✓", stream)
    stream.flush()
    assert latin.getvalue() == "café \\u2713\n".encode("latin-1")


def test_echo_on_a_stream_without_encoding_falls_back_to_ascii():
    class Strict(io.StringIO):
        encoding = None

        def write(self, s):
            s.encode("ascii")  # a console that only takes ASCII
            return super().write(s)

    stream = Strict()
    echo("née", stream)
    assert stream.getvalue() == "n\\xe9e\n"


def test_silence_stdout_sends_the_rest_to_devnull(tmp_path, monkeypatch):
    path = tmp_path / "stdout.txt"
    with open(path, "w") as fh:
        fh.write("before\n")
        fh.flush()
        monkeypatch.setattr(sys, "stdout", fh)
        silence_stdout()
        fh.write("after\n")
        fh.flush()
        monkeypatch.undo()
    assert path.read_text() == "before\n"


def test_silence_stdout_ignores_a_capture_without_a_file(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    silence_stdout()  # io.UnsupportedOperation (an OSError and a ValueError): ignored

    class NoFileno:
        pass

    monkeypatch.setattr(sys, "stdout", NoFileno())
    silence_stdout()  # AttributeError: ignored


def test_echo_to_stdout_escapes_with_the_console_encoding(monkeypatch):
    raw = io.BytesIO()
    console = io.TextIOWrapper(raw, encoding="latin-1", newline="\n")
    monkeypatch.setattr(sys, "stdout", console)
    echo("café ✓")  # no stream given: sys.stdout, and its encoding for the escapes
    console.flush()
    assert raw.getvalue() == "café \\u2713\n".encode("latin-1")


def test_echo_on_a_stream_with_no_encoding_attribute():
    class Bare:
        def __init__(self):
            self.parts = []

        def write(self, s):
            s.encode("ascii")
            self.parts.append(s)

    stream = Bare()
    assert not hasattr(stream, "encoding")
    echo("née", stream)
    assert "".join(stream.parts) == "n\\xe9e\n"
