"""Speed and accuracy of the streaming F-test against scikit-learn, in the same run.

Speed: skscreen ``partial_fit`` over chunks vs ``f_classif`` on the whole array vs a one-pass
numpy column sum (the memory-bandwidth floor), on the same data (default 200k x 500 float32,
10 classes). Targets: >= 3x faster than ``f_classif``, within 4x of the floor.

Accuracy: relative error of the F-scores of skscreen, ``f_classif`` and ``scipy.stats.f_oneway``
against an exact rational-arithmetic reference on adversarial data.

    python benchmarks/bench_screening_speed.py [--rows 200000] [--cols 500] [--chunk 20000]
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
from scipy.stats import f_oneway
from sklearn.feature_selection import f_classif

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import best_of, save, table  # noqa: E402

from skscreen import OnlineFClassifScreener  # noqa: E402
from skscreen.stats._reference import exact_f_oneway as exact_f  # noqa: E402


def speed(rows, cols, chunk, repeat):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, rows)
    X = rng.standard_normal((rows, cols), dtype=np.float32)
    X += (0.05 * y[:, None]).astype(np.float32)

    def ours():
        s = OnlineFClassifScreener(k=10)
        for a in range(0, rows, chunk):
            s.partial_fit(X[a : a + chunk], y[a : a + chunk])
        return s.scores_

    def sk():
        return f_classif(X, y)[0]

    def floor():
        return X.sum(axis=0, dtype=np.float64)

    t_ours, f_ours = best_of(ours, repeat)
    t_sk, f_sk = best_of(sk, repeat)
    t_floor, _ = best_of(floor, repeat)
    rel = float(np.max(np.abs(f_ours - f_sk) / f_sk))
    rows_out = [
        {
            "method": "skscreen partial_fit",
            "seconds": t_ours,
            "vs f_classif": t_sk / t_ours,
            "vs floor": t_ours / t_floor,
        },
        {
            "method": "sklearn f_classif",
            "seconds": t_sk,
            "vs f_classif": 1.0,
            "vs floor": t_sk / t_floor,
        },
        {
            "method": "numpy column sum (floor)",
            "seconds": t_floor,
            "vs f_classif": t_sk / t_floor,
            "vs floor": 1.0,
        },
    ]
    print(f"\nSpeed: {rows} x {cols} float32, 10 classes, chunks of {chunk} rows, best of {repeat}")
    table(rows_out, ["method", "seconds", "vs f_classif", "vs floor"])
    print(f"max relative difference skscreen vs f_classif: {rel:.2e}")
    return {"rows": rows, "cols": cols, "chunk": chunk, "table": rows_out, "max_rel_diff": rel}


def accuracy():
    rng = np.random.default_rng(1)
    n, p = 2000, 5
    y = rng.integers(0, 3, n)
    cases = {
        "ordinary float64": rng.normal(size=(n, p)) + 0.1 * y[:, None],
        "float32, mean 1e3, std 0.1": (
            1e3 + 0.1 * rng.normal(size=(n, p)) + 0.01 * y[:, None]
        ).astype(np.float32),
        "float64, offset 1e8, std 1e-3": 1e8 + 1e-3 * rng.normal(size=(n, p)) + 1e-4 * y[:, None],
    }
    rows = []
    for name, X in cases.items():
        ref = exact_f(X, y)
        s = OnlineFClassifScreener(k="all")
        for a in range(0, n, 300):
            s.partial_fit(X[a : a + 300], y[a : a + 300])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f_sk = f_classif(X, y)[0]
            f_sp = np.array(
                [f_oneway(*[X[y == c, j] for c in range(3)]).statistic for j in range(p)]
            )
        err = lambda f, ref=ref: float(np.max(np.abs(f - ref) / ref))  # noqa: E731
        rows.append(
            {
                "case": name,
                "skscreen": err(s.scores_),
                "f_classif": err(f_sk),
                "scipy f_oneway": err(f_sp),
                "f_classif min F": float(np.min(f_sk)),
            }
        )
    print("\nAccuracy: max relative error of F against exact rational arithmetic")
    table(rows, ["case", "skscreen", "f_classif", "scipy f_oneway", "f_classif min F"])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    res = {"speed": speed(args.rows, args.cols, args.chunk, args.repeat), "accuracy": accuracy()}
    save("screening_speed", res)


if __name__ == "__main__":
    main()
