"""Weight-level pruning of a small residual BatchNorm CNN (convolutions included), on digits.

Issue 9's residual CNN (stem Conv-BN-ReLU 32, ``relu(x + bn(conv(x)))``, Conv-BN 64, pool,
Linear) on 8x8 digits, trained and pruned at once with a plain torch loop (SGD, Nesterov
momentum, logistic schedule over the first half of the epochs). Per seed and method, in one
run: test accuracy, the achieved sparsity over *all* prunable weights (convolutions and the
classifier), and what :func:`skscreen.pruning.compact_module` makes of the masked network
(parameters and CPU latency, batch 256, dense vs compact; outputs checked equal). Methods:
magnitude (``alpha=0``, the peer), screening ``alpha`` in the grid, and the old behaviour
(``Linear`` layers only).

    python benchmarks/bench_weight_level_cnn.py [--seeds 0 1 2] [--sparsity 0.9] [--epochs 12]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from _archs import ResidualBNCNN  # noqa: E402
from _common import best_of, save, table  # noqa: E402

from skscreen.pruning import HybridScreeningScorer, WeightPruner, compact_module  # noqa: E402
from skscreen.pruning.compaction import count_parameters  # noqa: E402
from skscreen.pruning.masks import MaskEnforcer  # noqa: E402
from skscreen.pruning.schedules import LogisticSchedule  # noqa: E402


def data(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = torch.as_tensor(X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.as_tensor(y)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=0.3, random_state=seed, stratify=y.numpy())
    return X[tr], y[tr], X[te], y[te]


def run(method, seed, args):
    Xtr, ytr, Xte, yte = data(seed)
    torch.manual_seed(seed)
    model = ResidualBNCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    pruner = None
    if method["sparsity"] > 0:
        pruner = WeightPruner(
            model,
            HybridScreeningScorer(alpha=method["alpha"]),
            LogisticSchedule(),
            sparsity=method["sparsity"],
            prune_epochs=args.epochs // 2,
            n_classes=10,
            layer_types=method.get("layer_types", (nn.Linear, nn.Conv1d, nn.Conv2d)),
        )
        guard = MaskEnforcer().attach(list(pruner.layers.values()), opt)
        pruner.attach_hooks()
    gen = torch.Generator().manual_seed(seed)
    t = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(ytr), generator=gen)
        for start in range(0, len(order), 64):
            b = order[start : start + 64]
            if pruner is not None:
                pruner.set_targets(ytr[b])
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xtr[b]), ytr[b]).backward()
            opt.step()
        if pruner is not None:
            pruner.set_targets(None)
            pruner.step(epoch, opt)
    train_s = time.perf_counter() - t
    if pruner is not None:
        pruner.remove_hooks()
        guard.remove()
    model.eval()
    with torch.no_grad():
        acc = float((model(Xte).argmax(1) == yte).float().mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small = compact_module(model, Xte[:2])
    batch = Xte[:256]
    with torch.no_grad():
        diff = float((small(batch) - model(batch)).abs().max())
        dense_s, _ = best_of(lambda: model(batch), args.repeat)
        small_s, _ = best_of(lambda: small(batch), args.repeat)
    return {
        "method": method["name"],
        "seed": seed,
        "test_acc": acc,
        "sparsity": 0.0 if pruner is None else 1 - pruner.n_kept() / pruner.n_total,
        "prunable": sum(p.numel() for p in model.parameters())
        if pruner is None
        else pruner.n_total,
        "params": count_parameters(model),
        "params_compact": count_parameters(small),
        "max_abs_diff": diff,
        "latency_dense_ms": dense_s * 1e3,
        "latency_compact_ms": small_s * 1e3,
        "train_s": train_s,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="weight_level_cnn")
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = [
        {"name": "dense", "sparsity": 0.0, "alpha": 0.0},
        {"name": "magnitude", "sparsity": args.sparsity, "alpha": 0.0},
        *(
            {"name": f"screening a={a:g}", "sparsity": args.sparsity, "alpha": a}
            for a in args.alphas
        ),
        {
            "name": "screening a=0.5, Linear only",
            "sparsity": args.sparsity,
            "alpha": 0.5,
            "layer_types": (nn.Linear,),
        },
    ]
    rows = []
    for method in methods:
        for seed in args.seeds:
            rows.append(run(copy.deepcopy(method), seed, args))
            print(rows[-1], flush=True)
    summary = []
    peer = np.mean([r["test_acc"] for r in rows if r["method"] == "magnitude"])
    for method in methods:
        rs = [r for r in rows if r["method"] == method["name"]]
        acc = [r["test_acc"] for r in rs]
        summary.append(
            {
                "method": method["name"],
                "test_acc": float(np.mean(acc)),
                "acc_std": float(np.std(acc)),
                "acc_vs_magnitude_pp": 100 * (float(np.mean(acc)) - peer),
                "sparsity": float(np.mean([r["sparsity"] for r in rs])),
                "param_ratio": float(np.mean([r["params"] / r["params_compact"] for r in rs])),
                "speedup": float(
                    np.mean([r["latency_dense_ms"] / r["latency_compact_ms"] for r in rs])
                ),
                "max_abs_diff": float(max(r["max_abs_diff"] for r in rs)),
            }
        )
    print()
    table(summary, list(summary[0]))
    save(args.out, {"args": vars(args), "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
