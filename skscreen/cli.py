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
import io
import json
import math
import os
import sys
import warnings

from skscreen._cli_common import (
    CommandError,
    HelpFormatter,
    UsageError,
    check_destination,
    echo,
    positive_int,
    rescue_file,
    silence_stdout,
    write_atomic,
)
from skscreen._prune_cli import add_prune_parser

__all__ = ["CommandError", "UsageError", "build_parser", "main"]


# ---------------------------------------------------------------- screen
def _finite_or_none(v):
    return float(v) if math.isfinite(v) else None


def _score_rows(names, f, p):
    from skscreen.feature_selection._selection_rules import ranking_order

    return [
        {"rank": r, "feature": names[j], "F": float(f[j]), "p": float(p[j])}
        for r, j in enumerate(ranking_order(f), 1)
    ]


def _score_writer(json_format, rows, screener):
    """``write(file)`` writing every score: JSON, or CSV."""
    if json_format:

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

        return write

    def write(fh):
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["rank", "feature", "F", "p"])
        for r in rows:
            w.writerow([r["rank"], r["feature"], repr(r["F"]), repr(r["p"])])

    return write


def _write_stdout(write):
    """Write the scores on stdout, as UTF-8 whatever the console's encoding."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # stdout replaced by a text-only object
        write(sys.stdout)
        sys.stdout.flush()
        return
    sys.stdout.flush()
    fh = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        write(fh)
        fh.flush()
    finally:
        fh.detach()


def _default_output(file):
    if file == "-":
        return "stdin_scores.csv"
    base = os.path.basename(file)
    for suffix in (".gz", ".bz2", ".xz", ".zst", ".zip"):
        base = base[: -len(suffix)] if base.lower().endswith(suffix) else base
    return os.path.splitext(base)[0] + "_scores.csv"


def _identity(path):
    """``(device, inode)`` of ``path``, or None if there is none: a rename over it changes it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _screen(args):
    from skscreen.io import DataError, _open, _target_index, screen_file

    to_stdout = args.output == "-"
    out = args.output or _default_output(args.file)
    if args.file != "-" and os.path.isdir(args.file):
        raise UsageError(
            f"{args.file} is a folder; give a CSV, Parquet or .npy file (or - for stdin)."
        )
    try:  # the input and the target, before any work
        src = _open(args.file)
    except DataError:
        raise
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    # warnings (constant features...) are printed after the write, one line each, in the
    # command's terms (_warning_lines); a run that ends in an error prints its error only
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with src:
            try:
                _target_index(src.names, args.target)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            if not to_stdout:
                inputs = [] if src.stdin else [args.file]
                check_destination(out, option="--output", inputs=inputs)
            screener, names = screen_file(
                src, args.target, chunksize=args.chunksize, progress=not args.quiet
            )
        # the scan is finished: from here an interrupt (Ctrl-C) must not lose it
        before = None if to_stdout else _identity(out)
        done = {"written": False}
        try:
            return _save_and_print(args, screener, names, out, to_stdout, done, caught)
        except KeyboardInterrupt:
            written = done["written"] or (
                not to_stdout and _identity(out) not in (None, before)  # renamed into place
            )
            raise _interrupted(screener, names, out, to_stdout, written, before) from None


def _warning_lines(caught, names, screener):
    """The warnings ``caught`` during a screen, one line each, without repeats; the
    screener's own (constant features, every F nan) in the command's words."""
    lines = []
    for w in caught:
        text = " ".join(str(w.message).split())
        if text.startswith("Features [") and text.endswith(" are constant."):
            f = screener.scores_
            constant = [repr(names[j]) for j in range(len(f)) if f[j] != f[j]]
            if len(constant) == 1:
                text = f"feature {constant[0]} is constant: its F and p are nan (ranked last)."
            else:
                more = f" and {len(constant) - 10} more" if len(constant) > 10 else ""
                text = (
                    f"{len(constant)} features are constant: their F and p are nan (ranked "
                    f"last): {', '.join(constant[:10])}{more}."
                )
        elif text.startswith("All F-scores are nan"):
            text = (
                f"every F and p is nan: {screener.n_samples_seen_} rows of "
                f"{len(screener.classes_)} classes; the F-test needs more rows than classes."
            )
        if text not in lines:
            lines.append(text)
    return lines


def _save_and_print(args, screener, names, out, to_stdout, done, caught=()):
    """Write every score to ``out`` (or stdout), then print the warnings ``caught`` and the
    table; ``done["written"]`` is set once the scores are all written."""
    f, p = screener.scores_, screener.pvalues_
    rows = _score_rows(names, f, p)
    # the scores are written before anything is printed: a failed print loses nothing
    as_json = not to_stdout and out.lower().endswith(".json")
    write = _score_writer(as_json, rows, screener)
    try:
        if to_stdout:
            _write_stdout(write)
        else:
            write_atomic(out, write)
    except OSError as exc:
        if to_stdout and isinstance(exc, BrokenPipeError):
            silence_stdout()  # the reader of stdout stopped (| head): its choice, not an error
            return 0
        # the scan is done: never lose it; save the scores where a write is possible
        rescue = rescue_file(
            write, prefix="skscreen_scores_", suffix=".json" if as_json else ".csv"
        )
        where = f"the scores were saved to {rescue} instead" if rescue else "no copy was saved"
        raise CommandError(
            f"could not write {'stdout' if to_stdout else out} ({exc.strerror or exc}); {where}."
        ) from None
    done["written"] = True
    k = len(f) if args.k == "all" else min(args.k, len(f))
    stream = sys.stderr if to_stdout else sys.stdout
    try:
        for line in _warning_lines(caught, names, screener):
            echo(f"skscreen screen: warning: {line}", sys.stderr)
        echo(
            f"{screener.n_samples_seen_} rows, {len(f)} features, {len(screener.classes_)} classes",
            stream,
        )
        echo(f"{'rank':>4}  {'feature':<24} {'F':>14} {'p':>12}", stream)
        for r in rows[:k]:
            echo(f"{r['rank']:>4}  {r['feature']:<24} {r['F']:>14.6g} {r['p']:>12.3g}", stream)
        echo(f"all scores written to {'stdout' if to_stdout else out}", stream)
        stream.flush()
    except BrokenPipeError:
        silence_stdout()  # the scores are written; a reader that stopped early loses nothing
    return 0


def _interrupted(screener, names, out, to_stdout, written, before):
    """The error (exit status 130) for a Ctrl-C after the scan: where the scores are.

    Scores not (all) written yet are saved to a rescue file, as after a failed write; a
    second Ctrl-C during that save leaves no half file and says so.
    """
    dest = "stdout" if to_stdout else out
    if written:
        return CommandError(f"interrupted; the scores were already written to {dest}.", code=130)
    doing = (
        "writing the scores to stdout (what went there is incomplete)"
        if to_stdout
        else f"writing {out}"
    )
    as_json = not to_stdout and out.lower().endswith(".json")
    try:
        rows = _score_rows(names, screener.scores_, screener.pvalues_)
        rescue = rescue_file(
            _score_writer(as_json, rows, screener),
            prefix="skscreen_scores_",
            suffix=".json" if as_json else ".csv",
        )
    except KeyboardInterrupt:
        return CommandError(
            f"interrupted while {doing}; interrupted again while saving a copy: the scores "
            "were not saved.",
            code=130,
        )
    if rescue is None:
        return CommandError(f"interrupted while {doing}; no copy was saved.", code=130)
    untouched = f" ({out} is untouched)" if before is not None else ""
    return CommandError(
        f"interrupted while {doing}; the scores were saved to {rescue} instead{untouched}.",
        code=130,
    )


# ---------------------------------------------------------------- argument types
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


DESCRIPTION = (
    "Streaming feature screening (skscreen screen) and network pruning by screening "
    "(skscreen prune)."
)
EPILOG = (
    "Exit status: 0 on success, 1 for a data error (a file whose content cannot be used), 2 "
    "for a usage error (a bad option, a missing input, an unwritable destination), 130 when "
    "interrupted. Errors are one line on stderr; SKSCREEN_DEBUG=1 shows the traceback."
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skscreen", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{screen,prune}")

    s = sub.add_parser(
        "screen",
        help="ANOVA F screening of a CSV/Parquet/.npy file, in chunks",
        description="Score every feature of a file against its label column (ANOVA F), "
        "reading it in chunks; write all scores, then print the top ones. gzip, bz2, xz "
        "and zstd files are read as they are (found from their first bytes).",
        formatter_class=HelpFormatter,
    )
    s.add_argument("file", help="CSV, Parquet or .npy file (compressed or not); - for stdin")
    s.add_argument(
        "--target",
        required=True,
        help="label column: a name, or an index (negative counts from the end; .npy columns "
        "are x0, x1, ...). A CSV's labels are read as text.",
    )
    s.add_argument(
        "--k", type=_k, default=20, help="how many top features to print ('all': every one)"
    )
    s.add_argument("--chunksize", type=positive_int, default=100_000, help="rows per chunk")
    s.add_argument(
        "--output",
        help="where to write all scores (.json, else CSV; - for CSV on stdout, the table "
        "then going to stderr); default: FILE's name + _scores.csv in the current folder "
        "(stdin_scores.csv for stdin). JSON writes null for a non-finite F or p.",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_screen)

    add_prune_parser(sub)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (errors: one line on stderr)."""
    args = build_parser().parse_args(argv)  # argparse's own errors: usage + exit 2
    validate = getattr(args, "validate", None)
    if validate is not None:  # checks across options, argparse errors too
        validate(args)
    prefix = f"skscreen {args.command}: error:"
    try:
        return args.func(args)
    except UsageError as exc:
        code, message = 2, str(exc)
    except CommandError as exc:
        if os.environ.get("SKSCREEN_DEBUG") and exc.__cause__ is not None:
            raise  # a bug met after the work was saved: the traceback was asked for
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
