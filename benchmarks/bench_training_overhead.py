"""Training overhead of ScreeningPrunedNet vs plain skorch, and what compaction buys.

Same net (LeNet-300-100), data, optimizer and batch size, in the same process, runs
alternated (plain, statistics only, screening, screening without statistics, plain, ...) so
that machine noise hits all of them. "statistics only" is a plain ``NeuralNetClassifier``
with a small callback that records the per-class moments of every ``Linear`` input
(:class:`~skscreen.pruning.hooks.InputStatsRecorder`) and computes the F-scores at the end of
each epoch, nothing else: the cost of the statistics path alone. Target (issue 12): an epoch
with screening statistics <= 1.10x the plain ``NeuralNetClassifier``'s.
Then parameters and CPU inference latency of the compact module vs the masked one.

    python benchmarks/bench_training_overhead.py [--dataset mnist] [--n-train 20000] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from skorch import NeuralNetClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import best_of, save, table  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_dataset  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn import ScreeningPruning  # noqa: E402
from skscreen.pruning.compaction import count_parameters  # noqa: E402
from skscreen.pruning.hooks import InputStatsRecorder  # noqa: E402
from skscreen.stats import anova_f  # noqa: E402


def load(name, data_home, n_train):
    try:
        d = load_dataset(name, data_home)
    except FileNotFoundError as exc:
        print(f"{exc}\nfalling back to digits")
        d = load_dataset("digits")
    X, y = d.X_train, d.y_train
    if len(y) < n_train:  # tile small data sets to a meaningful epoch length
        reps = int(np.ceil(n_train / len(y)))
        X, y = np.tile(X, (reps, 1)), np.tile(y, reps)
    return d, X[:n_train], y[:n_train]


class EpochCpuTime(Callback):
    """CPU time of the process per epoch, all threads (history key ``cpu_dur``).

    The work done, much less sensitive than wall time to other processes on a shared
    machine; it counts the statistics' background fold thread too, so it shows what the
    statistics cost, where the wall time shows what they cost the training loop.
    """

    def on_epoch_begin(self, net, **kwargs):
        self.t0_ = time.process_time()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("cpu_dur", time.process_time() - self.t0_)


class StatisticsOnly(Callback):
    """Record per-class moments of every Linear input while training; F at each epoch end."""

    def on_train_begin(self, net, **kwargs):
        self.layers_ = {
            n: m for n, m in net.module_.named_modules() if isinstance(m, torch.nn.Linear)
        }
        self.recorder_ = InputStatsRecorder(self.layers_, n_classes=10)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.recorder_.set_targets(torch.as_tensor(batch[1]).to(net.device))

    def on_epoch_end(self, net, **kwargs):
        self.scores_ = {
            n: anova_f(self.recorder_.moments_of(n), warn_constant=False)[0] for n in self.layers_
        }
        self.recorder_.reset()

    def on_train_end(self, net, **kwargs):
        self.recorder_.remove()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's own)"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train_threads = torch.get_num_threads()
    d, X, y = load(args.dataset, args.data_home, args.n_train)
    n_in = X.shape[1]
    common = dict(
        max_epochs=args.epochs,
        lr=0.1,
        batch_size=64,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        optimizer__weight_decay=1e-4,
        train_split=None,
        verbose=0,
        device=args.device,
        iterator_train__shuffle=True,
    )
    cpu = {}
    times = {
        "plain NeuralNetClassifier": [],
        "NeuralNetClassifier + statistics only": [],
        "ScreeningPrunedNet (alpha=0.25)": [],
        "ScreeningPrunedNet (alpha=0, no stats)": [],
        "NeuralNetClassifier + ScreeningPruning (alpha=0.25)": [],
    }
    net = None
    for _ in range(args.rounds):
        for name in times:
            torch.manual_seed(0)
            module = make_mlp(n_in, (300, 100), 10)
            clock = [("cpu_time", EpochCpuTime())]
            if name.startswith("plain"):
                net = NeuralNetClassifier(
                    module, criterion=torch.nn.CrossEntropyLoss, callbacks=clock, **common
                )
            elif "ScreeningPruning (" in name:
                net = NeuralNetClassifier(
                    module,
                    criterion=torch.nn.CrossEntropyLoss,
                    callbacks=[
                        (
                            "prune",
                            ScreeningPruning(alpha=0.25, sparsity=0.9, prune_epochs=args.epochs),
                        ),
                        *clock,
                    ],
                    **common,
                )
            elif "statistics only" in name:
                net = NeuralNetClassifier(
                    module,
                    criterion=torch.nn.CrossEntropyLoss,
                    callbacks=[("stats", StatisticsOnly()), *clock],
                    **common,
                )
            else:
                alpha = 0.25 if "0.25" in name else 0.0
                net = ScreeningPrunedNet(
                    module,
                    alpha=alpha,
                    sparsity=0.9,
                    prune_epochs=args.epochs,
                    callbacks=clock,
                    **common,
                )
            net.fit(X, y)
            times[name].extend(net.history[:, "dur"])
            cpu.setdefault(name, []).extend(net.history[:, "cpu_dur"])
            if name.startswith("ScreeningPrunedNet (alpha=0.25"):
                pruned = net
    plain = np.median(times["plain NeuralNetClassifier"])
    rows = [
        {
            "model": k,
            "median epoch s": float(np.median(v)),
            "min epoch s": float(np.min(v)),
            "ratio vs plain": float(np.median(v) / plain),
            "ratio of minima": float(np.min(v) / np.min(times["plain NeuralNetClassifier"])),
            "median CPU s": float(np.median(cpu[k])),
            "CPU ratio vs plain": float(
                np.median(cpu[k]) / np.median(cpu["plain NeuralNetClassifier"])
            ),
        }
        for k, v in times.items()
    ]
    print(
        f"\nEpoch time, LeNet-300-100, {len(y)} samples of {d.name}, batch 64, {args.device}, "
        f"{args.rounds} rounds x {args.epochs} epochs, alternated"
    )
    cols = ["model", "median epoch s", "min epoch s", "ratio vs plain", "ratio of minima"]
    table(rows, cols + ["median CPU s", "CPU ratio vs plain"])

    # compaction: parameters and CPU latency, masked vs compact
    masked = pruned.module_.eval().cpu()
    small = pruned.compact().cpu()
    Xb = torch.as_tensor(
        d.X_test[:256]
        if len(d.X_test) >= 256
        else np.tile(d.X_test, (256 // len(d.X_test) + 1, 1))[:256]
    )
    x1 = Xb[:1]
    torch.set_num_threads(1)
    out = []
    with torch.no_grad():
        same = bool(torch.equal(small(Xb).argmax(1), masked(Xb).argmax(1)))
        for name, m in (("masked (dense + mask)", masked), ("compact", small)):
            t256, _ = best_of(lambda m=m: [m(Xb) for _ in range(50)], 5)
            t1, _ = best_of(lambda m=m: [m(x1) for _ in range(200)], 5)
            out.append(
                {
                    "module": name,
                    "parameters": count_parameters(m),
                    "nonzero": count_parameters(m, nonzero=True),
                    "ms / batch 256": 1000 * t256 / 50,
                    "us / sample (batch 1)": 1e6 * t1 / 200,
                }
            )
    torch.set_num_threads(train_threads)
    print(
        f"\nCompaction of the alpha=0.25 net at sparsity {pruned.sparsity_:.3f} "
        f"(1 CPU thread); same predictions: {same}"
    )
    table(out, ["module", "parameters", "nonzero", "ms / batch 256", "us / sample (batch 1)"])
    save(
        "training_overhead",
        {
            "epoch_times": rows,
            "compaction": out,
            "n_train": len(y),
            "torch_threads": train_threads,
            "dataset": d.name,
            "device": args.device,
        },
    )


if __name__ == "__main__":
    main()
