"""Command line: ``skscreen screen`` (streaming feature screening) and ``skscreen prune``."""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def _screen(args):
    from tqdm.auto import tqdm

    from skscreen import OnlineFClassifScreener
    from skscreen.io import count_rows, iter_chunks

    screener = OnlineFClassifScreener(k=args.k)
    names = None
    total = count_rows(args.file)
    with tqdm(total=total, unit="rows", disable=args.quiet, desc="screening") as bar:
        for X, y, names in iter_chunks(args.file, args.target, args.chunksize):  # noqa: B007
            screener.partial_fit(X, y)
            bar.update(len(y))
    if names is None:
        raise SystemExit(f"{args.file} has no data rows.")
    f, p = screener.scores_, screener.pvalues_
    order = np.argsort(np.where(np.isnan(f), -np.inf, f), kind="stable")[::-1]
    k = len(f) if args.k == "all" else min(int(args.k), len(f))
    print(f"{screener.n_samples_seen_} rows, {len(f)} features, {len(screener.classes_)} classes")
    print(f"{'rank':>4}  {'feature':<24} {'F':>14} {'p':>12}")
    for r, j in enumerate(order[:k], 1):
        print(f"{r:>4}  {names[j]:<24} {f[j]:>14.6g} {p[j]:>12.3g}")
    out = args.output or os.path.splitext(os.path.basename(args.file))[0] + "_scores.csv"
    rows = [
        {"feature": names[j], "F": float(f[j]), "p": float(p[j]), "rank": int(r)}
        for r, j in enumerate(order, 1)
    ]
    if out.endswith(".json"):
        with open(out, "w") as fh:
            json.dump(
                {
                    "n_samples": screener.n_samples_seen_,
                    "classes": [str(c) for c in screener.classes_],
                    "scores": rows,
                },
                fh,
                indent=1,
                allow_nan=True,
            )
    else:
        with open(out, "w") as fh:
            fh.write("rank,feature,F,p\n")
            for row in rows:
                fh.write(f"{row['rank']},{row['feature']},{row['F']!r},{row['p']!r}\n")
    print(f"all scores written to {out}")
    return 0


def _k(value):
    return value if value == "all" else int(value)


def build_parser():
    parser = argparse.ArgumentParser(prog="skscreen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("screen", help="ANOVA F screening of a CSV/Parquet/.npy file, in chunks")
    s.add_argument("file")
    s.add_argument("--target", required=True, help="label column (name, or index for .npy)")
    s.add_argument("--k", type=_k, default=20, help="how many top features to print")
    s.add_argument("--chunksize", type=int, default=100_000)
    s.add_argument("--output", help="where to write all scores (.csv or .json)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_screen)

    from skscreen._prune_cli import add_prune_parser

    add_prune_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
