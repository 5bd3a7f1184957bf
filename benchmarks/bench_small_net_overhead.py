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
plain net's fit of the same round (the two fits seconds apart, so that a slow phase of the
machine hits both); ``ratio of medians`` is given beside it. The statistics kernel follows
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
    for name, makers, X, y, source in settings(args):
        times = {k: [] for k in makers}
        on_numba = 0
        for _ in range(args.rounds):
            on_numba += _kernels.active_path() == "numba"
            for k, make in makers.items():
                torch.manual_seed(0)
                t = time.perf_counter()
                make().fit(X, y)
                times[k].append(time.perf_counter() - t)
        plain = np.array(times["plain skorch"])
        for k, ts in times.items():
            rows.append({"setting": name, "data": source, "n": len(y), "net": k,
                         "median s": float(np.median(ts)), "min s": float(np.min(ts)),
                         "ratio": float(np.median(np.array(ts) / plain)),
                         "ratio of medians": float(np.median(ts) / np.median(plain)),
                         "rounds on numba": int(on_numba)})
    table(rows, ["setting", "data", "n", "net", "median s", "min s", "ratio",
                 "ratio of medians", "rounds on numba"])
    save("small_net_overhead", {"settings": vars(args), "rows": rows,
                                "targets": {"quickstart": 1.25, "lenet": 1.10}})


if __name__ == "__main__":
    main()
