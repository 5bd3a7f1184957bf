"""Shared helpers of the benchmark scripts: timing, tables, result files."""

from __future__ import annotations

import json
import os
import platform
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def best_of(fn, repeat=3):
    """Best wall time of ``repeat`` calls (and the last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def table(rows, cols):
    """Print a list of dicts as an aligned text table."""
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in cols))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def machine():
    import numpy as np

    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "numpy": np.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def provenance():
    """Where a result comes from: git commit (and whether the tree was dirty), command line,
    library versions, thread settings."""
    import subprocess
    import sys
    from importlib import metadata

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        try:
            res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
            return res.stdout.strip() if res.returncode == 0 else None
        except OSError:
            return None

    versions = {}
    for pkg in (
        "numpy",
        "scipy",
        "scikit-learn",
        "numba",
        "torch",
        "skorch",
        "torch-pruning",
        "dask",
        "skscreen",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    threads = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
    return {
        "git_commit": git("rev-parse", "HEAD"),
        # code changes only: results a benchmark appends to (benchmarks/results) do not count
        "git_dirty": bool(
            git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
        ),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "versions": versions,
        "env": {k: os.environ.get(k) for k in threads},
        "nice": os.nice(0),
    }


def save(name, payload):
    """Write ``results/<name>.json`` and return its path.

    Every result file records the machine and its :func:`provenance` (git commit and dirty
    flag, command line, library versions), unless the payload brings its own.
    """
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name + ".json")
    payload = {"machine": machine(), "provenance": provenance(), **payload}
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=1, default=float)
    print(f"\nresults written to {path}")
    return path


def dense_net(module, gamma_l1=0.0, **params):
    """An unfitted classifier that trains ``module`` densely.

    ``gamma_l1 > 0``: network slimming's sparsity training (``ScreeningPrunedNet`` with
    ``sparsity=0``, so nothing is pruned, and the L1 penalty on the BatchNorm scales);
    otherwise a plain skorch ``NeuralNetClassifier``.
    """
    import torch

    if gamma_l1 > 0:
        from skscreen import ScreeningPrunedNet

        return ScreeningPrunedNet(
            module,
            granularity="channel",
            alpha=0.0,
            sparsity=0.0,
            schedule="one-shot",
            prune_epochs=1,
            gamma_l1=gamma_l1,
            **params,
        )
    from skorch import NeuralNetClassifier

    return NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, **params)
