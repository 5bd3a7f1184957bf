"""``skscreen screen`` on very wide CSV files, against one ``pandas.read_csv`` of each file.

For each shape the benchmark writes a CSV (random features rounded to 3 decimals, an integer
label column last), then times, in fresh processes and alternating, one
``pandas.read_csv(path)`` and one ``skscreen screen path --target label`` (the whole
command: read, screen, write the scores, print the table), each after its imports (the
command's own lazy imports included: the cold start is measured elsewhere), and
reads each process's peak RSS above its RSS after the imports. Target (issue 19): the
command costs at most 2x one pandas read of the file. The files are deleted afterwards.

    python benchmarks/bench_cli_wide.py [--shapes 100x50000 25x100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save, table  # noqa: E402

# VmHWM: peak RSS of this process image (kB); ru_maxrss would carry the parent's peak
CHILD = r"""
import contextlib, io, sys, time
import pandas as pd
import tqdm.auto
import skscreen.io
from skscreen import OnlineFClassifScreener
from skscreen.cli import main

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

what, path, out = sys.argv[1:4]
base = hwm()
t = time.perf_counter()
if what == "pandas":
    pd.read_csv(path)
else:
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["screen", path, "--target", "label", "--quiet", "--output", out])
    assert rc == 0, rc
print(time.perf_counter() - t, (hwm() - base) / 1024)
"""


def write_csv(path, n_rows, n_cols, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n_rows)
    header = ",".join([*(f"feature_{j}" for j in range(n_cols)), "label"])
    with open(path, "w") as fh:
        fh.write(header + "\n")
        for i in range(n_rows):
            row = rng.normal(size=n_cols).round(3)
            row[:5] += y[i]
            fh.write(",".join(map(str, row.tolist())) + f",{y[i]}\n")


def run(what, path, out):
    res = subprocess.run(
        [sys.executable, "-c", CHILD, what, path, out], capture_output=True, text=True, check=True
    )
    seconds, mb = map(float, res.stdout.split())
    return seconds, mb


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["100x50000", "25x100000"], help="ROWSxCOLS")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            n_rows, n_cols = map(int, shape.split("x"))
            path = os.path.join(tmp, f"wide_{shape}.csv")
            write_csv(path, n_rows, n_cols)
            out = os.path.join(tmp, "scores.csv")
            times = {"pandas": [], "skscreen": []}
            mem = {"pandas": 0.0, "skscreen": 0.0}
            for _ in range(args.repeat):  # alternate, so a busy moment hits both
                for what in times:
                    s, mb = run(what, path, out)
                    times[what].append(s)
                    mem[what] = max(mem[what], mb)
            pd_s, sk_s = min(times["pandas"]), min(times["skscreen"])
            rows.append(
                {
                    "rows": n_rows,
                    "columns": n_cols,
                    "file_mb": os.path.getsize(path) / 1e6,
                    "pandas_read_s": pd_s,
                    "skscreen_s": sk_s,
                    "ratio": sk_s / pd_s,
                    "pandas_peak_mb": mem["pandas"],
                    "skscreen_peak_mb": mem["skscreen"],
                    "pandas_all_s": times["pandas"],
                    "skscreen_all_s": times["skscreen"],
                }
            )
            os.unlink(path)
    cols = ["rows", "columns", "file_mb", "pandas_read_s", "skscreen_s", "ratio"]
    table(rows, [*cols, "pandas_peak_mb", "skscreen_peak_mb"])
    save(
        "cli_wide",
        {
            "what": "skscreen screen on a wide CSV vs one pandas.read_csv of the same file; "
            f"best of {args.repeat} fresh processes each (time after imports), peak RSS above "
            "the post-import RSS",
            "target": "ratio <= 2 (issue 19)",
            "results": rows,
        },
    )


if __name__ == "__main__":
    main()
