"""Cold start: the first fit in a fresh process (issue 19), against scikit-learn's SelectKBest.

Selectors are often fitted on small data in many fresh processes (GridSearchCV's workers,
scripts, tests). Each measurement here is its own ``python -c`` process: the imports (timed
apart), then the first ``fit`` (or the ``partial_fit`` loop), timed alone; the methods are
interleaved process by process and the table gives the median, minimum and maximum over
``--runs`` processes. Also the growth of the peak memory (``VmHWM``) over the first fit and
whether numba was imported.

Methods:

* ``skscreen`` — ``OnlineFClassifScreener`` as installed (numba ``"auto"``: the numpy
  kernel until this process has put ``NUMBA_AFTER_VALUES`` values through it);
* ``skscreen, numba forced`` — ``USE_NUMBA = True``: numba from the first chunk, as before
  issue 19 (numba imported and its kernel loaded from the on-disk cache on the first fit);
* ``sklearn SelectKBest`` — ``SelectKBest(f_classif, k=...)``;
* with ``--compare-tree PATH``, ``skscreen @ PATH`` — the screener of another source tree
  (e.g. an export of an earlier commit), in the same run.

Data: iris (150 x 4, the target: first fit <= 50 ms), digits (1797 x 64) and, with
``--large``, a first pass over a 200,000 x 500 float32 array in chunks of 20,000 rows (where
numba's load is weighed against its speed; ``SelectKBest`` fits it whole).

Run niced and single-threaded on a shared machine::

    nice -n 19 python benchmarks/bench_cold_start.py [--runs 9] [--large]
        [--compare-tree /tmp/main_export]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save, table

CHILD = r"""
import sys, time, json
{path}
t0 = time.perf_counter()
import numpy as np
{imports}
t1 = time.perf_counter()
{data}

def hwm():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")

before = hwm()
t2 = time.perf_counter()
{fit}
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "fit_s": t3 - t2, "peak_growth_mb": hwm() - before,
                  "numba": "numba" in sys.modules}}))
"""

DATA = {
    "iris": "from sklearn.datasets import load_iris\nX, y = load_iris(return_X_y=True)",
    "digits": "from sklearn.datasets import load_digits\nX, y = load_digits(return_X_y=True)",
    "200000 x 500 float32": (
        "rng = np.random.default_rng(0)\n"
        "y = rng.integers(0, 10, 200_000)\n"
        "X = rng.standard_normal((200_000, 500), dtype=np.float32)\n"
        "X += (0.05 * y[:, None]).astype(np.float32)"
    ),
}

SCREEN_IMPORT = "from skscreen import OnlineFClassifScreener"
SCREEN_FIT = "OnlineFClassifScreener(k=2).fit(X, y)"
SCREEN_STREAM = (
    "s = OnlineFClassifScreener(k=10)\n"
    "for a in range(0, len(y), 20_000):\n"
    "    s.partial_fit(X[a:a + 20_000], y[a:a + 20_000])\n"
    "s.scores_"
)


def methods(compare_tree=None):
    out = {
        "skscreen": {"imports": SCREEN_IMPORT},
        "skscreen, numba forced": {
            "imports": SCREEN_IMPORT
            + "\nfrom skscreen.stats import _kernels\n_kernels.USE_NUMBA = True"
        },
        "sklearn SelectKBest": {
            "imports": "from sklearn.feature_selection import SelectKBest, f_classif",
            "fit": "SelectKBest(f_classif, k=2).fit(X, y)",
        },
    }
    if compare_tree:
        out[f"skscreen @ {compare_tree}"] = {
            "imports": SCREEN_IMPORT,
            "path": f"sys.path.insert(0, {os.path.abspath(compare_tree)!r})",
        }
    return out


def _child(method, data):
    fit = method.get("fit", SCREEN_FIT)
    if data.startswith("200000"):
        fit = fit if "SelectKBest" in fit else SCREEN_STREAM
    code = CHILD.format(
        path=method.get("path", ""), imports=method["imports"], data=DATA[data], fit=fit
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.abspath(__file__)),  # not a source tree
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def cold_start(runs=9, datasets=("iris", "digits"), compare_tree=None):
    """Rows of the cold-start table (one fresh process per measurement)."""
    ms = methods(compare_tree)
    rows = []
    for data in datasets:
        got = {name: [] for name in ms}
        for r in range(runs):
            names = list(ms)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                got[name].append(_child(ms[name], data))
        ref = np.median([g["fit_s"] for g in got["sklearn SelectKBest"]])
        for name, results in got.items():
            fit = np.array([g["fit_s"] for g in results])
            rows.append(
                {
                    "data": data,
                    "method": name,
                    "first fit ms (median)": 1e3 * float(np.median(fit)),
                    "min ms": 1e3 * float(fit.min()),
                    "max ms": 1e3 * float(fit.max()),
                    "x SelectKBest (median)": float(np.median(fit) / ref),
                    "imports s (median)": float(np.median([g["import_s"] for g in results])),
                    "peak memory growth MB (median)": float(
                        np.median([g["peak_growth_mb"] for g in results])
                    ),
                    "numba imported": sorted({g["numba"] for g in results}),
                    "fit_s": fit.tolist(),
                }
            )
    return rows


def print_table(rows, runs):
    print(f"\nCold start: first fit in a fresh process, {runs} processes per method (median)")
    cols = ["data", "method", "first fit ms (median)", "min ms", "max ms"]
    cols += ["x SelectKBest (median)", "imports s (median)", "peak memory growth MB (median)"]
    table(rows, cols + ["numba imported"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--large", action="store_true", help="also a first pass over 200k x 500")
    ap.add_argument("--compare-tree", default=None, help="a source tree to run beside")
    args = ap.parse_args()
    datasets = ["iris", "digits"] + (["200000 x 500 float32"] if args.large else [])
    rows = cold_start(args.runs, datasets, args.compare_tree)
    print_table(rows, args.runs)
    iris = next(r for r in rows if r["data"] == "iris" and r["method"] == "skscreen")
    ms = iris["first fit ms (median)"]
    print(f"\ntarget: first fit on iris <= 50 ms: {'met' if ms <= 50 else 'NOT met'} ({ms:.1f} ms)")
    save("cold_start", {"runs": args.runs, "table": rows})


if __name__ == "__main__":
    main()
