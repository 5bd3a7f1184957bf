"""What both commands of the command line share: their errors, output files, console output.

``skscreen.cli`` (the entry point and ``screen``) and ``skscreen._prune_cli`` (``prune``)
both import from here, and neither imports the other's helpers.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


class CommandError(Exception):
    """A problem met while running a command (exit status ``code``, default 1)."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with every option's default appended, except where there is none to
    show (``None``, an on/off flag) or the help already states it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or not action.option_strings:
            return action.help
        return super()._get_help_string(action)


def positive_int(value):
    """argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


# ---------------------------------------------------------------- output files
def check_destination(path, *, option, inputs=()):
    """Refuse, before any work, a destination file that cannot be written.

    A missing or unwritable folder, a destination that is a folder or a device, or one
    of the ``inputs`` raise :class:`UsageError` naming ``option``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    for src in inputs:
        if os.path.exists(path) and os.path.exists(src) and os.path.samefile(path, src):
            raise UsageError(f"{option} {path} is the input file; choose another name.")
    if not os.path.isdir(folder):
        raise UsageError(
            f"{option} {path}: folder {folder} does not exist; create it or choose another path."
        )
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise UsageError(f"{option} {path} exists and is not a regular file; choose a file name.")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".skscreen-check-"):
            pass
    except OSError as exc:
        raise UsageError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror}); choose another path."
        ) from None


def write_atomic(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``.

    A reader never sees a half-written file, and a failure leaves any earlier ``path``
    untouched (the temporary file is removed).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def rescue_file(write, *, prefix, suffix):
    """Save a finished result that could not go where it was asked: call ``write(file)`` on
    a new file in the system's temporary folder and return its path (``None`` if that
    fails too; nothing is left behind then). Any other exception, an interrupt included,
    removes the half-written file and goes through."""
    try:
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            write(fh)
    except BaseException as exc:
        try:
            os.unlink(path)
        except OSError:  # pragma: no cover - the file was just made there
            pass
        if isinstance(exc, OSError):
            return None
        raise
    return path


# ---------------------------------------------------------------- console output
def echo(line="", stream=None):
    """Print ``line``; characters the console cannot encode are written as escapes.

    Called only once every result is written (so a failure here loses nothing); a closed
    pipe (``| head``) raises ``BrokenPipeError``, which :func:`silence_stdout` handles.
    """
    stream = sys.stdout if stream is None else stream
    try:
        print(line, file=stream)
    except UnicodeEncodeError:
        enc = getattr(stream, "encoding", None) or "ascii"
        print(line.encode(enc, "backslashreplace").decode(enc), file=stream)


def silence_stdout():
    """After a ``BrokenPipeError`` on stdout: send whatever is left to ``/dev/null``, so the
    interpreter's final flush does not fail again (Python's documented recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        pass
