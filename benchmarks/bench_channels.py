"""Channel-level screening pruning (CLS) vs network slimming on a small BN CNN (CPU).

Protocol (the paper's one-shot protocol, shrunk to CPU): per seed, train a dense VGG-style
BN CNN; then, for every alpha of the grid and every pruning ratio, copy the trained net,
train one more epoch while collecting channel statistics, prune once globally (alpha=0 is
network slimming's |gamma|), and fine-tune. The dense baseline gets the same extra epochs
without pruning. In the same run: parameters, MACs and CPU latency (batch 256) of each
compact network vs the dense one. Targets (issue): error increase <= 0.3 pp at 70 %
pruned; compact >= 2.5x faster and >= 4x fewer parameters.

``--normalize-scopes global layer`` runs every method twice: each component (``|gamma|``,
F) normalised over all BatchNorm units together, or within each unit, before the ranking
over the budget scope (``--scope``); without it the normalisation follows the budget scope.

``--gamma-l1 S`` trains the shared dense net with network slimming's sparsity penalty
``S * sum |gamma|`` (Liu et al. 2017; the paper's CLS protocol uses none). Slimming and CLS
then prune the same sparsity-trained net, and every fine-tuning (dense row included) runs
without the penalty.

    python benchmarks/bench_channels.py [--dataset fashion-mnist] [--n-train 10000] [--seeds 0 1 2]
        [--normalize-scopes global layer]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import sys
import time

import numpy as np
import torch
from skorch import NeuralNetClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS, best_of, dense_net, save, table  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_dataset  # noqa: E402
from skscreen.models import small_vgg_bn  # noqa: E402
from skscreen.pruning.channels import ChannelScreeningScorer, channel_report  # noqa: E402


def common(args, epochs):
    return dict(
        max_epochs=epochs,
        lr=args.lr,
        batch_size=128,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__weight_decay=1e-4,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
        device=args.device,
    )


def latency(module, X):
    module = module.eval().cpu()
    with torch.no_grad():
        module(X)
        t, _ = best_of(lambda: [module(X) for _ in range(5)], 3)
    return 1000 * t / 5


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--epochs", type=int, default=8, help="dense training epochs")
    ap.add_argument("--finetune", type=int, default=2, help="epochs after the pruning epoch")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.7])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--scope", default="global", choices=["global", "layer"])
    ap.add_argument(
        "--normalize-scopes",
        nargs="+",
        default=[None],
        choices=["global", "layer"],
        help="normalisation scope(s) of the scores (default: the budget scope, the reading of "
        "the published tables run without this option; the library's channel default is "
        "layer)",
    )
    ap.add_argument("--gamma-l1", type=float, default=0.0, help="sparsity training strength")
    ap.add_argument("--tag", default="channels")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    d = load_dataset(args.dataset, args.data_home)
    Xtr, ytr = d.X_train[: args.n_train], d.y_train[: args.n_train]
    Xb = torch.as_tensor(d.X_test[:256])
    runs = []
    from tqdm.auto import tqdm

    total = len(args.seeds) * (1 + len(args.alphas) * len(args.ratios) * len(args.normalize_scopes))
    bar = tqdm(total=total, unit="run")
    t_start = time.perf_counter()
    for seed in args.seeds:
        t_dense = time.perf_counter()
        torch.manual_seed(seed)
        dense = dense_net(  # gamma_l1 > 0: network slimming's sparsity training
            small_vgg_bn(widths=tuple(args.widths)),
            args.gamma_l1,
            **common(args, args.epochs),
        ).fit(Xtr, ytr)
        trained = copy.deepcopy(dense.module_)
        # dense baseline: the same extra epochs, no pruning
        torch.manual_seed(seed)
        base = NeuralNetClassifier(
            copy.deepcopy(trained),
            criterion=torch.nn.CrossEntropyLoss,
            **common(args, 1 + args.finetune),
        ).fit(Xtr, ytr)
        dense_err = 100 * (1 - base.score(d.X_test, d.y_test))
        dense_ms = latency(copy.deepcopy(base.module_), Xb)
        runs.append(
            {
                "method": "dense",
                "seed": seed,
                "ratio": 0.0,
                "alpha": None,
                "test_error": dense_err,
                "ms_256": dense_ms,
                "param_reduction": 1.0,
                "mac_reduction": 1.0,
                # dense training + the dense reference's extra epochs
                "seconds": time.perf_counter() - t_dense,
            }
        )
        bar.update(1)
        for ratio, alpha, nscope in itertools.product(
            args.ratios, args.alphas, args.normalize_scopes
        ):
            t = time.perf_counter()
            net = ScreeningPrunedNet(
                copy.deepcopy(trained),
                granularity="channel",
                # None: the budget scope, as when the published tables ran
                scorer=ChannelScreeningScorer(
                    alpha=alpha, normalize_scope=nscope or args.scope
                ),
                sparsity=ratio,
                schedule="one-shot",
                prune_epochs=1,
                scope=args.scope,
                random_state=None,
                **common(args, 1 + args.finetune),
            )
            torch.manual_seed(seed)
            net.fit(Xtr, ytr)
            err = 100 * (1 - net.score(d.X_test, d.y_test))
            small = net.compact().cpu()
            rep = channel_report(copy.deepcopy(trained).cpu(), small, Xb[:1])
            runs.append(
                {
                    "method": ("slimming" if alpha == 0 else "CLS")
                    + (f" [{nscope}]" if nscope else ""),
                    "normalize_scope": nscope,
                    "seed": seed,
                    "ratio": ratio,
                    "alpha": alpha,
                    "test_error": err,
                    "ms_256": latency(small, Xb),
                    "dense_ms_256": dense_ms,
                    "param_reduction": rep["parameter_reduction"],
                    "mac_reduction": rep["mac_reduction"],
                    "kept_fraction": net.kept_fraction_,
                    "seconds": time.perf_counter() - t,
                }
            )
            bar.update(1)
    bar.close()
    rows = []
    keys = sorted(
        {(r["method"], r["ratio"], r["alpha"] if r["alpha"] is not None else -1) for r in runs},
        key=lambda k: (k[1], k[2]),
    )
    dense_mean = np.mean([r["test_error"] for r in runs if r["method"] == "dense"])
    for method, ratio, alpha in keys:
        rs = [
            r
            for r in runs
            if r["method"] == method
            and r["ratio"] == ratio
            and (r["alpha"] if r["alpha"] is not None else -1) == alpha
        ]
        errs = np.array([r["test_error"] for r in rs])
        rows.append(
            {
                "method": method,
                "ratio": ratio,
                "alpha": "" if alpha == -1 else alpha,
                "seeds": len(rs),
                "test err %": float(errs.mean()),
                "std": float(errs.std(ddof=1)) if len(errs) > 1 else 0.0,
                "best": float(errs.min()),
                "vs dense pp": float(errs.mean() - dense_mean),
                "params /": float(np.mean([r["param_reduction"] for r in rs])),
                "MACs /": float(np.mean([r["mac_reduction"] for r in rs])),
                "speedup b256": float(
                    np.mean([r.get("dense_ms_256", r["ms_256"]) / r["ms_256"] for r in rs])
                ),
            }
        )
    print(
        f"\n{d.name}: small VGG-BN {args.widths}, {len(Xtr)} train images, "
        f"{args.epochs} dense epochs + 1 + {args.finetune}, scope {args.scope}, "
        f"gamma_l1 {args.gamma_l1}"
    )
    table(rows, list(rows[0]))
    best = min(
        (r for r in runs if r["ratio"] == max(args.ratios) and r["method"] != "dense"),
        key=lambda r: r["test_error"],
    )
    try:
        from skscreen.plotting import plot_kept_per_layer

        os.makedirs(RESULTS, exist_ok=True)
        plot_kept_per_layer(
            best["kept_fraction"],
            os.path.join(RESULTS, f"{args.tag}_kept.png"),
            title=f"Channels kept ({best['method']}, alpha={best['alpha']}, "
            f"{max(args.ratios):.0%} pruned)",
            ylabel="fraction of channels kept",
        )
    except ImportError:
        pass
    save(
        args.tag,
        {
            "args": vars(args) | {"data_home": None},
            "wall_seconds": time.perf_counter() - t_start,
            "summary": rows,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
