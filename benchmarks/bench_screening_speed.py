"""Speed and accuracy of the streaming F-test against scikit-learn, in the same run.

Speed: ``OnlineFClassifScreener.partial_fit`` over chunks, end to end (validation, labels,
kernel, merge, F), on the numba path and on the pure-numpy path, against ``f_classif`` on
the whole array and a one-pass column sum ``X.sum(0, dtype=float64)`` (the memory-bandwidth
floor), on the same data (default 200k x 500, 10 classes, float32 and float64). The four
items run in interleaved rounds (each round runs each item once, in a rotating order), and
the ratios are taken within a round, so that machine noise hits all of them; the table gives
the minimum and the median over rounds. Targets (issue 12): numba >= 6x ``f_classif`` and
<= 1.5x the floor; numpy >= 2.5x ``f_classif`` and <= 4x the floor.

Also the numba compile time on the first call (fresh cache directory, in a child process)
and the load time from the on-disk cache; and, in the same run, the cold start of issue 19
(:mod:`bench_cold_start`): the first fit on iris in fresh processes against ``SelectKBest``,
median of ``--cold-runs`` processes, with the default kernel choice (numba ``"auto"``: the
numpy kernel until numba pays) and with numba forced from the first chunk (as before).

The speed table forces each path (``USE_NUMBA = True`` / ``False``) and warms both up first,
so it measures the kernels on large chunks; the default ``"auto"`` takes the numba path in
such a stream once ``NUMBA_AFTER_VALUES`` values have gone through the numpy path.

Accuracy: maximum relative error of the F-scores of both paths, ``f_classif`` and
``scipy.stats.f_oneway`` against an exact rational-arithmetic reference on adversarial data.
Target: <= 1e-9 for skscreen.

Run single-threaded and niced on a shared machine (BLAS threads are pinned to 1 here)::

    nice -n 19 python benchmarks/bench_screening_speed.py [--rows 200000] [--cols 500]
        [--chunk 20000] [--rounds 7] [--dtypes float32 float64] [--cold-runs 9]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from scipy.stats import f_oneway
from sklearn.feature_selection import f_classif

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import provenance, save, table
from bench_cold_start import cold_start, print_table

from skscreen import OnlineFClassifScreener
from skscreen.stats import _kernels
from skscreen.stats._reference import exact_f_oneway as exact_f

COMPILE = r"""
import time, numpy as np
from skscreen.stats import _kernels
X = np.ones((4, 3), dtype=np.{dtype}); y = np.array([0, 1, 0, 1])
t = time.perf_counter()
_kernels.dense_moments(X, y, 2, X[0].astype(float), np.zeros((2, 3)), np.zeros(2, bool), None,
                       use_numba=True)
print(time.perf_counter() - t)
"""


def compile_times(dtype):
    """Seconds of the first kernel call in a fresh process (imports excluded): compiling into
    an empty cache directory, then loading from that cache."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for what in ("compile (empty cache)", "load from cache"):
            res = subprocess.run(
                [sys.executable, "-c", COMPILE.format(dtype=dtype)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out[what] = float(res.stdout.strip().splitlines()[-1])
    return out


def speed(rows, cols, chunk, rounds, dtype):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, rows)
    X = rng.standard_normal((rows, cols)).astype(dtype)
    X += (0.05 * y[:, None]).astype(dtype)

    def screener(use_numba):
        def run():
            flag, _kernels.USE_NUMBA = _kernels.USE_NUMBA, use_numba
            try:
                s = OnlineFClassifScreener(k=10)
                for a in range(0, rows, chunk):
                    s.partial_fit(X[a : a + chunk], y[a : a + chunk])
                return s.scores_
            finally:
                _kernels.USE_NUMBA = flag

        return run

    items = {
        "skscreen numba": screener(True),
        "skscreen numpy": screener(False),
        "sklearn f_classif": lambda: f_classif(X, y)[0],
        "floor X.sum(0, float64)": lambda: X.sum(axis=0, dtype=np.float64),
    }
    if not _kernels.numba_available():
        del items["skscreen numba"]
    out = {name: fn() for name, fn in items.items()}  # warm-up (and numba compile/load)
    times = {name: [] for name in items}
    names = list(items)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            items[name]()
            times[name].append(time.perf_counter() - t)
    t = {k: np.array(v) for k, v in times.items()}
    sk, floor = t["sklearn f_classif"], t["floor X.sum(0, float64)"]
    rows_out = []
    for name in names:
        speedup, vs_floor = sk / t[name], t[name] / floor
        rows_out.append(
            {
                "method": name,
                "min s": float(t[name].min()),
                "median s": float(np.median(t[name])),
                "x faster than f_classif (min/median)": (
                    f"{speedup.min():.2f} / {np.median(speedup):.2f}"
                ),
                "x floor (min/median)": f"{vs_floor.min():.2f} / {np.median(vs_floor):.2f}",
                "speedup_min": float(speedup.min()),
                "speedup_median": float(np.median(speedup)),
                "vs_floor_min": float(vs_floor.min()),
                "vs_floor_median": float(np.median(vs_floor)),
                "seconds": t[name].tolist(),
            }
        )
    ref = out["sklearn f_classif"]
    rel = {k: float(np.max(np.abs(out[k] - ref) / ref)) for k in names if k.startswith("skscreen")}
    print(
        f"\nSpeed: {rows} x {cols} {np.dtype(dtype).name}, 10 classes, chunks of {chunk} rows, "
        f"{rounds} interleaved rounds (ratios within a round)"
    )
    cols_shown = ["method", "min s", "median s", "x faster than f_classif (min/median)"]
    table(rows_out, cols_shown + ["x floor (min/median)"])
    print("max relative difference vs f_classif:", {k: f"{v:.1e}" for k, v in rel.items()})
    return {
        "rows": rows,
        "cols": cols,
        "chunk": chunk,
        "dtype": np.dtype(dtype).name,
        "rounds": rounds,
        "table": rows_out,
        "max_rel_diff_vs_f_classif": rel,
    }


def _adversarial_cases(rng):
    n, p = 2000, 4
    y = rng.integers(0, 3, n)
    e = rng.normal(size=(n, p))
    outlier = 5.0 + 1e-3 * e + 1e-4 * y[:, None]
    outlier[0] = 5.0 + 1e3
    ulp = np.spacing(1e6)
    return y, {
        "ordinary float64": e + 0.1 * y[:, None],
        "float32, mean 1e3, std 0.1": (1e3 + 0.1 * e + 0.01 * y[:, None]).astype(np.float32),
        "float64, offset 1e8, std 1e-3": 1e8 + 1e-3 * e + 1e-4 * y[:, None],
        "classes 1e4 sd apart": 1e4 * y[:, None] + e + 0.05 * (y[:, None] == 1),
        "outlier first sample": outlier,
        "values ~1e154": (e + 0.1 * y[:, None]) * 2.0**512,
        "values ~1e-200": (e + 0.1 * y[:, None]) * 2.0**-664,
        "1e6 + 20-ulp class shift": 1e6 + ulp * (rng.integers(0, 6, (n, p)) + 20 * y[:, None]),
    }


def accuracy(chunk=300):
    y, cases = _adversarial_cases(np.random.default_rng(1))
    paths = [True, False] if _kernels.numba_available() else [False]
    rows = []
    for name, X in cases.items():
        ref = exact_f(X, y)
        row = {"case": name}
        for use in paths:
            flag, _kernels.USE_NUMBA = _kernels.USE_NUMBA, use
            s = OnlineFClassifScreener(k="all")
            for a in range(0, len(y), chunk):
                s.partial_fit(X[a : a + chunk], y[a : a + chunk])
            _kernels.USE_NUMBA = flag
            row["skscreen numba" if use else "skscreen numpy"] = _err(s.scores_, ref)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            f_sk = f_classif(X, y)[0]
            f_sp = np.array(
                [f_oneway(*[X[y == c, j] for c in range(3)]).statistic for j in range(X.shape[1])]
            )
        row["f_classif"] = _err(f_sk, ref)
        row["scipy f_oneway"] = _err(f_sp, ref)
        rows.append(row)
    print(f"\nAccuracy: max relative error of F against exact rational arithmetic (chunks {chunk})")
    table(rows, ["case", "skscreen numba", "skscreen numpy", "f_classif", "scipy f_oneway"])
    return rows


def _err(f, ref):
    with np.errstate(all="ignore"):
        e = np.abs(f - ref) / ref
    return float(np.max(np.where(np.isnan(e), np.inf, e)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--cold-runs", type=int, default=9, help="fresh processes per method")
    args = ap.parse_args()
    res = {
        "provenance": provenance(),
        "use_numba": _kernels.USE_NUMBA,
        "numba_after_values": _kernels.NUMBA_AFTER_VALUES,
        "numba_available": _kernels.numba_available(),
    }
    if args.cold_runs:
        res["cold_start"] = cold_start(args.cold_runs, datasets=("iris",))
        print_table(res["cold_start"], args.cold_runs)
    if res["numba_available"]:
        res["numba_first_call_s"] = {d: compile_times(d) for d in args.dtypes}
        print("numba first call (s):", res["numba_first_call_s"])
    res["speed"] = [
        speed(args.rows, args.cols, args.chunk, args.rounds, np.dtype(d)) for d in args.dtypes
    ]
    res["accuracy"] = accuracy()
    save("screening_speed", res)


if __name__ == "__main__":
    main()
