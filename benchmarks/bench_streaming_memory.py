"""Peak memory while screening ``.npy`` files much larger than the chunk size.

For each size, the benchmark writes a float32 ``.npy`` file (features + label column) in
pieces, then runs ``skscreen screen`` on it in a *fresh process* and reads that process's
peak RSS (``VmHWM``), minus the RSS of the same process right after its imports.
Target: flat in the file size; under 300 MB above the import baseline for a 5 GB file.
The files are deleted afterwards.

    python benchmarks/bench_streaming_memory.py [--sizes-gb 0.25 1 5] [--chunksize 50000]
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

# VmHWM (peak RSS of this process image, in kB); ru_maxrss would carry the parent's peak
CHILD = r"""
import sys, time
import numpy as np
from skscreen.io import iter_chunks
from skscreen import OnlineFClassifScreener

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

base = hwm()
t = time.perf_counter()
s = OnlineFClassifScreener(k=10)
for X, y, _ in iter_chunks(sys.argv[1], sys.argv[2], int(sys.argv[3])):
    s.partial_fit(X, y)
print(base, hwm(), time.perf_counter() - t, s.n_samples_seen_)
"""


def write_file(path, gb, n_features=250, seed=0):
    row_bytes = 4 * (n_features + 1)
    n_rows = int(gb * 1e9 / row_bytes)
    arr = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(n_rows, n_features + 1)
    )
    rng = np.random.default_rng(seed)
    step = 200_000
    for a in range(0, n_rows, step):
        b = min(n_rows, a + step)
        y = rng.integers(0, 10, b - a)
        block = rng.standard_normal((b - a, n_features), dtype=np.float32)
        block[:, :5] += y[:, None].astype(np.float32) * 0.1
        arr[a:b, :n_features] = block
        arr[a:b, n_features] = y
    arr.flush()
    del arr
    return n_rows, n_features


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes-gb", type=float, nargs="+", default=[0.25, 1.0, 5.0])
    ap.add_argument("--chunksize", type=int, default=50_000)
    ap.add_argument("--dir", default=None, help="where to write the temporary files")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for gb in args.sizes_gb:
            path = os.path.join(tmp, f"data_{gb}.npy")
            n_rows, n_features = write_file(path, gb)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, path, str(n_features), str(args.chunksize)],
                capture_output=True,
                text=True,
                check=True,
            )
            base, peak, secs, seen = out.stdout.split()
            rows.append(
                {
                    "file GB": gb,
                    "rows": n_rows,
                    "chunk rows": args.chunksize,
                    "baseline MB": int(base) / 1024,
                    "peak MB": int(peak) / 1024,
                    "above baseline MB": (int(peak) - int(base)) / 1024,
                    "seconds": float(secs),
                    "MB/s": gb * 1000 / float(secs),
                }
            )
            os.remove(path)
    print("\nPeak RSS while screening a memory-mapped .npy file chunk by chunk")
    table(rows, list(rows[0]))
    save("streaming_memory", {"rows": rows})


if __name__ == "__main__":
    main()
