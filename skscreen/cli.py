"""Command line: ``skscreen screen`` (streaming feature screening) and ``skscreen prune``.

Each command is a thin layer over a library call. Errors take one path (:func:`main`):
one line on stderr naming the problem and the fix, exit status 2 for a usage error (a bad
option, a missing input, an unwritable destination), 1 for a data error (a file whose
content cannot be used), 130 when interrupted; no traceback (set ``SKSCREEN_DEBUG=1`` to
get one).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
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


# ---------------------------------------------------------------- screen
def _finite_or_none(v):
    return float(v) if math.isfinite(v) else None


def _score_rows(names, f, p):
    from skscreen.feature_selection._selection_rules import ranking_order

    return [
        {"rank": r, "feature": names[j], "F": float(f[j]), "p": float(p[j])}
        for r, j in enumerate(ranking_order(f), 1)
    ]


def _write_scores(out, rows, screener):
    if out.lower().endswith(".json"):

        def write(fh):
            doc = {
                "n_samples": screener.n_samples_seen_,
                "classes": [str(c) for c in screener.classes_],
                # JSON has no nan/inf: a non-finite F or p is written as null (see docs)
                "scores": [
                    {**r, "F": _finite_or_none(r["F"]), "p": _finite_or_none(r["p"])} for r in rows
                ],
            }
            json.dump(doc, fh, indent=1, allow_nan=False)
            fh.write("\n")

    else:

        def write(fh):
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["rank", "feature", "F", "p"])
            for r in rows:
                w.writerow([r["rank"], r["feature"], repr(r["F"]), repr(r["p"])])

    write_atomic(out, write)


def _screen(args):
    from skscreen.io import DataError, _target_index, columns, screen_file

    out = args.output or os.path.splitext(os.path.basename(args.file))[0] + "_scores.csv"
    try:  # the input and the target, before any work
        _target_index(columns(args.file), args.target)
    except DataError:
        raise
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    check_destination(out, option="--output", inputs=[args.file])
    screener, names = screen_file(
        args.file, args.target, chunksize=args.chunksize, progress=not args.quiet
    )
    f, p = screener.scores_, screener.pvalues_
    rows = _score_rows(names, f, p)
    k = len(f) if args.k == "all" else min(args.k, len(f))
    print(f"{screener.n_samples_seen_} rows, {len(f)} features, {len(screener.classes_)} classes")
    print(f"{'rank':>4}  {'feature':<24} {'F':>14} {'p':>12}")
    for r in rows[:k]:
        print(f"{r['rank']:>4}  {r['feature']:<24} {r['F']:>14.6g} {r['p']:>12.3g}")
    try:
        _write_scores(out, rows, screener)
    except OSError as exc:
        # the scan is done: never lose it; save the scores where a write is possible
        fd, rescue = tempfile.mkstemp(prefix="skscreen_scores_", suffix=".csv")
        os.close(fd)
        _write_scores(rescue, rows, screener)
        raise CommandError(
            f"could not write {out} ({exc.strerror or exc}); the scores were saved to "
            f"{rescue} instead."
        ) from None
    print(f"all scores written to {out}")
    return 0


# ---------------------------------------------------------------- argument types
def positive_int(value):
    """argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def _k(value):
    if value == "all":
        return value
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 'all' or an integer >= 0, got {value!r}")
    return n


def build_parser():
    parser = argparse.ArgumentParser(prog="skscreen", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "screen",
        help="ANOVA F screening of a CSV/Parquet/.npy file, in chunks",
        description="Score every feature of a file against its label column (ANOVA F), "
        "reading it in chunks; print the top ones and write all scores.",
    )
    s.add_argument("file")
    s.add_argument("--target", required=True, help="label column (name, or index for .npy)")
    s.add_argument("--k", type=_k, default=20, help="how many top features to print")
    s.add_argument("--chunksize", type=positive_int, default=100_000)
    s.add_argument(
        "--output",
        help="where to write all scores (.json, else CSV); default: FILE's name + "
        "_scores.csv in the current folder. JSON writes null for a non-finite F or p.",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_screen)

    from skscreen._prune_cli import add_prune_parser

    add_prune_parser(sub)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (errors: one line on stderr)."""
    args = build_parser().parse_args(argv)  # argparse's own errors: usage + exit 2
    prefix = f"skscreen {args.command}: error:"
    try:
        return args.func(args)
    except UsageError as exc:
        code, message = 2, str(exc)
    except CommandError as exc:
        code, message = exc.code, str(exc)
    except KeyboardInterrupt:
        code, message = 130, "interrupted; nothing was written."
    except (ValueError, OSError) as exc:  # data errors: the message names file, column, row
        code, message = 1, str(exc)
    except Exception as exc:
        if os.environ.get("SKSCREEN_DEBUG"):
            raise
        code = 1
        message = (
            f"unexpected {type(exc).__name__}: {exc} (a bug: please report it; "
            "SKSCREEN_DEBUG=1 shows the traceback)"
        )
    print(f"{prefix} {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
