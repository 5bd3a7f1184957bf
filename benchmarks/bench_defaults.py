"""Evidence for the channel-level default ``normalize_scope``: BN CNNs on digits, validation split.

A user's setting (issue 18): a residual BN CNN or a VGG-BN on scikit-learn's digits, 50 % of
the channels removed, SGD with momentum, 15 epochs, every other setting the library's
default (logistic schedule over half the epochs, global budget, ``alpha=0.25``). Each
normalisation scope of the score components (``global``: one scale over all layers;
``layer``: each layer on its own scale) is run with the default ``alpha=0.25`` and with
``alpha=0`` (network slimming), on the same seeds; the choice is made on the validation
split (digits: 60 / 15 / 25 % train / validation / test, stratified, seeded), the test
accuracy is reported beside it. Weight level's evidence is Table 1's validation split
(``docs/benchmarks.rst``).

    python benchmarks/bench_defaults.py [--seeds 0 1 2] [--epochs 15] [--threads 1]

Prints a table and writes ``results/defaults_channels.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save, table  # noqa: E402


def make_resnet(n_classes=10):
    from torch import nn

    from skscreen.models import SmallResNetBN

    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), SmallResNetBN(1, n_classes, (16, 32, 64)))


def make_vgg(n_classes=10):
    from skscreen.models import small_vgg_bn

    return small_vgg_bn(1, n_classes, widths=(16, 32), image_size=8)


ARCHS = {"resnet-bn": make_resnet, "vgg-bn": make_vgg}


def run(arch, normalize_scope, alpha, seed, epochs, sparsity):
    import torch

    from skscreen import ScreeningPrunedNet
    from skscreen.datasets import load_digits_split

    d = load_digits_split(random_state=seed)
    net = ScreeningPrunedNet(
        ARCHS[arch], granularity="channel", sparsity=sparsity, alpha=alpha,
        normalize_scope=normalize_scope, max_epochs=epochs, lr=0.05,
        optimizer=torch.optim.SGD, optimizer__momentum=0.9, batch_size=64,
        train_split=None, verbose=0, random_state=seed,
    )
    t = time.perf_counter()
    net.fit(d.X_train, d.y_train)
    return {
        "arch": arch, "normalize_scope": normalize_scope, "alpha": alpha, "seed": seed,
        "sparsity": round(net.sparsity_, 4),
        "val_acc": float(net.score(d.X_val, d.y_val)),
        "test_acc": float(net.score(d.X_test, d.y_test)),
        "seconds": round(time.perf_counter() - t, 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="defaults_channels")
    args = ap.parse_args()
    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(args.threads)
    grid = [(a, s, al) for a in ARCHS for s in ("global", "layer") for al in (0.25, 0.0)]
    runs = []
    for arch, scope, alpha in tqdm(grid, unit="setting"):
        for seed in args.seeds:
            runs.append(run(arch, scope, alpha, seed, args.epochs, args.sparsity))
    summary = []
    for arch, scope, alpha in grid:
        rs = [r for r in runs
              if (r["arch"], r["normalize_scope"], r["alpha"]) == (arch, scope, alpha)]
        summary.append({
            "arch": arch, "alpha": alpha, "normalize_scope": scope, "seeds": len(rs),
            "val_acc": float(np.mean([r["val_acc"] for r in rs])),
            "val_min": float(np.min([r["val_acc"] for r in rs])),
            "test_acc": float(np.mean([r["test_acc"] for r in rs])),
            "sparsity": float(np.mean([r["sparsity"] for r in rs])),
        })
    table(summary, ["arch", "alpha", "normalize_scope", "seeds", "val_acc", "val_min",
                    "test_acc", "sparsity"])
    choice = {}
    for arch in ARCHS:
        for alpha in (0.25, 0.0):
            rows = [r for r in summary if r["arch"] == arch and r["alpha"] == alpha]
            best = max(rows, key=lambda r: r["val_acc"])
            choice[f"{arch} alpha={alpha}"] = best["normalize_scope"]
    print("\nchosen on validation:", choice)
    save(args.tag, {"settings": vars(args), "runs": runs, "summary": summary,
                    "chosen_on_validation": choice})


if __name__ == "__main__":
    main()
