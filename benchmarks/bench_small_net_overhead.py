"""Fixed per-fit cost of pruning on small nets: ScreeningPrunedNet vs plain skorch, same run.

Two settings (issue 18, item 8), each timed as whole ``fit`` calls, the candidates
alternated round by round so that machine noise hits all of them, median over the rounds:

* ``quickstart``: skorch's README quickstart network (20 inputs, 10 hidden units, softmax
  output) on ``make_classification(1000, 20)``, 10 epochs: plain ``NeuralNetClassifier``
  (its default ``NLLLoss``), ``ScreeningPrunedNet`` with the same module and default
  settings (``criterion="auto"``, ``sparsity=0.9``), and with ``sparsity=0``.
  Target: <= 1.25x plain.
* ``lenet``: LeNet-300-100 on ``--n-train`` MNIST training images (digits tiled to that
  size when MNIST is not under ``--data-home``), 3 epochs, logits with
  ``CrossEntropyLoss`` for both. Target: <= 1.10x plain.

    python benchmarks/bench_small_net_overhead.py [--rounds 5] [--data-home DIR]
        [--kernel {auto,numpy,numba}]

One torch thread. ``x plain`` is the median over the rounds of each round's ratio to the
plain net's fit of the same round (the fits seconds apart, so that a slow phase of the
machine hits all of them; the order of the candidates rotates from round to round, so that
none always runs first, and a first round of each setting is run and not counted);
``interval`` is a distribution-free interval of that median (two order statistics of the
rounds' ratios, holding the true median with probability ``coverage``, at least 0.95 from 6
rounds on; with fewer it is the range of the rounds), and ``target`` says "met" when the
whole interval is at or under the target, "not met" when it is above, and "within noise"
otherwise; ``ratio of medians`` is given beside it. The statistics kernel follows
``--kernel``: ``auto`` (the library's default: numpy until numba pays, so a process's first
fits take the numpy path and later ones numba; the rounds run on each path are recorded),
``numpy`` or ``numba`` (loaded before the first round). Prints a table and writes
``results/small_net_overhead.json``.
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


def quickstart_module():
    from torch import nn

    class MyModule(nn.Module):  # skorch's README quickstart
        def __init__(self, num_units=10, nonlin=nn.ReLU()):  # noqa: B008 - skorch's code
            super().__init__()
            self.dense0 = nn.Linear(20, num_units)
            self.nonlin = nonlin
            self.dropout = nn.Dropout(0.5)
            self.dense1 = nn.Linear(num_units, num_units)
            self.output = nn.Linear(num_units, 2)
            self.softmax = nn.Softmax(dim=-1)

        def forward(self, X, **kwargs):
            X = self.nonlin(self.dense0(X))
            X = self.dropout(X)
            X = self.nonlin(self.dense1(X))
            return self.softmax(self.output(X))

    return MyModule


def settings(args):
    import torch
    from sklearn.datasets import make_classification
    from skorch import NeuralNetClassifier

    from skscreen import ScreeningPrunedNet
    from skscreen.datasets import load_dataset
    from skscreen.models import lenet_300_100

    X, y = make_classification(1000, 20, n_informative=10, random_state=0)
    X = X.astype(np.float32)
    M = quickstart_module()
    quick = {
        "plain skorch": lambda: NeuralNetClassifier(M, max_epochs=10, lr=0.1, verbose=0),
        "ScreeningPrunedNet": lambda: ScreeningPrunedNet(M, max_epochs=10, lr=0.1, verbose=0),
        "ScreeningPrunedNet sparsity=0": lambda: ScreeningPrunedNet(
            M, max_epochs=10, lr=0.1, verbose=0, sparsity=0.0),
    }
    try:
        d = load_dataset("mnist", args.data_home)
        source = "mnist"
    except (FileNotFoundError, ValueError):
        d = load_dataset("digits")
        source = "digits (tiled)"
    Xl, yl = d.X_train, d.y_train
    if len(Xl) < args.n_train:
        reps = int(np.ceil(args.n_train / len(Xl)))
        Xl, yl = np.tile(Xl, (reps, 1)), np.tile(yl, reps)
    Xl, yl = Xl[: args.n_train], yl[: args.n_train]
    n_in = Xl.shape[1]
    common = dict(max_epochs=3, lr=0.05, batch_size=64, verbose=0, train_split=None,
                  optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    lenet = {
        "plain skorch": lambda: NeuralNetClassifier(
            lenet_300_100, module__n_inputs=n_in, criterion=torch.nn.CrossEntropyLoss,
            **common),
        "ScreeningPrunedNet": lambda: ScreeningPrunedNet(
            lenet_300_100, module__n_inputs=n_in, **common),
        "ScreeningPrunedNet sparsity=0": lambda: ScreeningPrunedNet(
            lenet_300_100, module__n_inputs=n_in, sparsity=0.0, **common),
    }
    return [("quickstart", quick, X, y, "make_classification"),
            ("lenet", lenet, Xl, yl, source)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--kernel", choices=["auto", "numpy", "numba"], default="auto")
    args = ap.parse_args()
    import torch

    from skscreen.stats import _kernels

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    if args.kernel == "numpy":
        _kernels.USE_NUMBA = False
    elif args.kernel == "numba":
        if not _kernels.numba_available():
            raise SystemExit("--kernel numba: numba is not installed")
        _kernels.USE_NUMBA = True
    rows = []
    targets = {"quickstart": 1.25, "lenet": 1.10}
    for name, makers, X, y, source in settings(args):
        times = {k: [] for k in makers}
        names = list(makers)
        on_numba = 0
        for r in range(-1, args.rounds):  # round -1: run, not counted
            if r >= 0:
                on_numba += _kernels.active_path() == "numba"
            for k in names[r % len(names):] + names[: r % len(names)]:
                torch.manual_seed(0)
                t = time.perf_counter()
                makers[k]().fit(X, y)
                if r >= 0:
                    times[k].append(time.perf_counter() - t)
        plain = np.array(times["plain skorch"])
        for k, ts in times.items():
            paired = np.array(ts) / plain
            lo, hi, cover = median_interval(paired)
            verdict = ("" if k != "ScreeningPrunedNet" else
                       "met" if hi <= targets[name] else
                       "not met" if lo > targets[name] else "within noise")
            rows.append({"setting": name, "data": source, "n": len(y), "net": k,
                         "median s": float(np.median(ts)), "min s": float(np.min(ts)),
                         "ratio": float(np.median(paired)),
                         "interval": f"{lo:.3f}-{hi:.3f}", "interval low": lo,
                         "interval high": hi, "coverage": round(cover, 3),
                         "target": verdict,
                         "ratio of medians": float(np.median(ts) / np.median(plain)),
                         "rounds on numba": int(on_numba)})
    table(rows, ["setting", "data", "n", "net", "median s", "min s", "ratio", "interval",
                 "coverage", "target", "ratio of medians", "rounds on numba"])
    save("small_net_overhead", {"settings": vars(args), "rows": rows, "targets": targets})


def median_interval(values, level=0.95):
    """Distribution-free interval of the median: order statistics ``x_(j) <= x_(n+1-j)``.

    ``j`` is the largest for which the interval holds the true median with probability at
    least ``level`` (``1 - 2 P(Binomial(n, 1/2) < j)``, whatever the distribution); with
    too few rounds for ``level`` (under 6 for 95 %) it is ``[min, max]`` and the coverage
    returned is lower. Returns ``(lo, hi, coverage)``.

    >>> lo, hi, cov = median_interval([1.3, 1.0, 1.2, 1.1, 1.4])
    >>> float(lo), float(hi), cov
    (1.0, 1.4, 0.9375)
    """
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)

    def coverage(j):
        return float(1 - 2 * binom.cdf(j - 1, n, 0.5))

    j = 1
    while j < n // 2 and coverage(j + 1) >= level:
        j += 1
    return float(x[j - 1]), float(x[n - j]), coverage(j)


if __name__ == "__main__":
    main()
