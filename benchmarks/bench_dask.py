"""Dask scaling: fitting the screener on a Dask array with 1 vs 2 worker processes.

The data (default 4M x 200 float64, 10 classes, 40 blocks) is generated lazily by
``dask.array.random`` inside the workers, so each run reads nothing from the client; one
per-block state is computed per block and the states are tree-merged. Same data, same
graph, same run; the single-process numpy ``partial_fit`` over the same blocks is the
reference for time. Scores are checked against scikit-learn's ``f_classif`` (an independent
implementation) on the first ``--ref-cols`` columns, materialised ``--ref-group`` columns at
a time, and against the single-process ``partial_fit`` on all columns.

    python benchmarks/bench_dask.py [--rows 4000000] [--cols 200] [--blocks 40] [--ref-cols 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save, table  # noqa: E402

from skscreen import OnlineFClassifScreener  # noqa: E402


def make(rows, cols, blocks):
    import dask.array as da

    rs = da.random.RandomState(0)
    chunk = rows // blocks
    y = rs.randint(0, 10, size=rows, chunks=chunk)
    X = rs.standard_normal(size=(rows, cols), chunks=(chunk, cols)) + 0.05 * y[:, None]
    return X, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--cols", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--ref-cols", type=int, default=20, help="columns checked with f_classif")
    ap.add_argument("--ref-group", type=int, default=10, help="columns materialised at once")
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    X, y = make(args.rows, args.cols, args.blocks)
    rows, scores = [], {}
    for n_workers in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with (
                LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                ) as cluster,
                Client(cluster),
            ):
                OnlineFClassifScreener().fit(*make(200_000, args.cols, 2))  # warm-up
                t = time.perf_counter()
                s = OnlineFClassifScreener(k=10).fit(X, y)
                secs = time.perf_counter() - t
        scores[n_workers] = s.scores_
        rows.append({"workers": n_workers, "seconds": secs, "rows/s": args.rows / secs})
    # reference: the same blocks through partial_fit in this process
    t = time.perf_counter()
    ref = OnlineFClassifScreener(k=10)
    for xb, yb in zip(X.blocks, y.blocks):
        ref.partial_fit(np.asarray(xb), np.asarray(yb))
    secs = time.perf_counter() - t
    rows.append(
        {
            "workers": "numpy partial_fit (same blocks, incl. generation)",
            "seconds": secs,
            "rows/s": args.rows / secs,
        }
    )
    for r in rows[:2]:
        r["speedup vs 1 worker"] = rows[0]["seconds"] / r["seconds"]
    agree = max(float(np.max(np.abs(scores[w] - ref.scores_) / ref.scores_)) for w in (1, 2))
    # independent reference: scikit-learn's f_classif on the materialised columns
    from sklearn.feature_selection import f_classif

    y_np = np.asarray(y)
    n_ref = min(args.ref_cols, args.cols)
    vs_sklearn = 0.0
    for a in range(0, n_ref, args.ref_group):
        cols = slice(a, min(a + args.ref_group, n_ref))
        f0 = f_classif(np.asarray(X[:, cols]), y_np)[0]
        for w in (1, 2):
            rel = np.max(np.abs(scores[w][cols] - f0) / f0)
            vs_sklearn = max(vs_sklearn, float(rel))
    print(
        f"\nDask: {args.rows} x {args.cols} float64, {args.blocks} blocks, LocalCluster processes"
    )
    table(rows, ["workers", "seconds", "rows/s", "speedup vs 1 worker"])
    print(f"max relative difference of F, Dask vs f_classif ({n_ref} columns): {vs_sklearn:.1e}")
    print(f"max relative difference of F, Dask vs one-process partial_fit: {agree:.1e}")
    save(
        "dask",
        {
            "rows": rows,
            "max_rel_diff_vs_f_classif": vs_sklearn,
            "f_classif_columns": n_ref,
            "max_rel_diff_vs_partial_fit": agree,
            "args": vars(args),
        },
    )


if __name__ == "__main__":
    main()
