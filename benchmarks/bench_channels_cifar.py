"""The paper's CIFAR-10 CLS protocol (network slimming's): for a GPU and the CIFAR-10 files.

ResNet-164 (pre-activation bottleneck) with 60 % of channels pruned, DenseNet-40 (growth 12)
with 70 %: train 160 epochs (batch 64, SGD momentum 0.9, lr 0.1 divided by 10 at 50 % and
75 %, weight decay 1e-4, random crop + flip), one-shot global pruning (alpha=0 is network
slimming), fine-tune. Paper: ResNet-164 60 %: 5.18 % (slimming 5.27 %, baseline 5.42 %);
DenseNet-40 70 %: 5.63 % (slimming 5.65 %, baseline 6.11 %).

    python benchmarks/bench_channels_cifar.py --data-home CIFAR_DIR --model resnet164 --device cuda
    python benchmarks/bench_channels_cifar.py --smoke      # CPU: tiny models, synthetic data

``--gamma-l1 1e-5`` trains the dense net with network slimming's sparsity penalty (Liu et al.
use 1e-5 for ResNet-164 and DenseNet-40); the default 0 is the CLS paper's protocol.

Not run in this repository's CI (needs a GPU and CIFAR-10, which is not downloaded here).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

import numpy as np
import torch
from skorch.callbacks import LRScheduler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import dense_net, save, table  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.models import DenseNetCIFAR, PreResNet  # noqa: E402
from skscreen.pruning.channels import channel_report  # noqa: E402


class CropFlip(torch.utils.data.Dataset):
    """CIFAR augmentation: 4-pixel padded random crop and horizontal flip.

    Only with labels (training); without (prediction) the images pass unchanged.
    """

    def __init__(self, X, y=None, seed=0):
        self.X, self.y = X, y
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        if self.y is None:
            return self.X[i], 0
        x = np.pad(self.X[i], ((0, 0), (4, 4), (4, 4)))
        a, b = self.rng.integers(0, 9, 2)
        x = x[:, a : a + 32, b : b + 32]
        if self.rng.random() < 0.5:
            x = x[:, :, ::-1]
        return np.ascontiguousarray(x), self.y[i]


def schedule(epochs):
    return LRScheduler(
        torch.optim.lr_scheduler.MultiStepLR,
        milestones=[epochs // 2, (3 * epochs) // 4],
        gamma=0.1,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["resnet164", "densenet40"], default="resnet164")
    ap.add_argument("--ratio", type=float, default=None, help="default 0.6 / 0.7 by model")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.5])
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--epochs", type=int, default=160)
    ap.add_argument("--finetune", type=int, default=160)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--gamma-l1", type=float, default=0.0, help="sparsity training strength")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    ratio = args.ratio or (0.6 if args.model == "resnet164" else 0.7)
    if args.smoke:
        make = (
            (lambda: PreResNet(20)) if args.model == "resnet164" else (lambda: DenseNetCIFAR(10, 4))
        )
        rng = np.random.default_rng(0)
        X = rng.random((512, 3, 32, 32), dtype=np.float32)
        y = rng.integers(0, 10, 512)
        Xtr, ytr, Xte, yte = X[:384], y[:384], X[384:], y[384:]
        args.epochs, args.finetune, args.device = 1, 1, "cpu"
        small = "PreResNet-20" if args.model == "resnet164" else "DenseNet-10 (k=4)"
        label = f"SMOKE {small}, random images and labels"  # not the named network
    else:
        from skscreen.datasets import load_cifar10

        label = args.model
        if args.data_home is None:
            sys.exit("--data-home (the CIFAR-10 python batches) is required; or use --smoke.")
        make = (
            (lambda: PreResNet(164))
            if args.model == "resnet164"
            else (lambda: DenseNetCIFAR(40, 12))
        )
        d = load_cifar10(args.data_home)
        Xtr, ytr, Xte, yte = d.X_train, d.y_train, d.X_test, d.y_test
    common = dict(
        lr=0.1,
        batch_size=args.batch_size,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__weight_decay=1e-4,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=1,
        device=args.device,
        dataset=CropFlip,
        dataset__seed=args.seed,
    )
    torch.manual_seed(args.seed)
    dense = dense_net(  # gamma_l1 > 0: network slimming's sparsity training
        make(),
        args.gamma_l1,
        max_epochs=args.epochs,
        callbacks=[("lr", schedule(args.epochs))],
        **common,
    ).fit(Xtr, ytr)
    rows = [
        {
            "model": label,
            "method": "baseline",
            "ratio": 0.0,
            "test err %": 100 * (1 - dense.score(Xte, yte)),
        }
    ]
    example = torch.as_tensor(Xte[:1])
    for alpha in args.alphas:
        net = ScreeningPrunedNet(
            copy.deepcopy(dense.module_),
            granularity="channel",
            alpha=alpha,
            sparsity=ratio,
            schedule="one-shot",
            prune_epochs=1,
            max_epochs=1 + args.finetune,
            callbacks=[("lr", schedule(1 + args.finetune))],
            **common,
        ).fit(Xtr, ytr)
        rep = channel_report(copy.deepcopy(dense.module_).cpu(), net.compact().cpu(), example)
        rows.append(
            {
                "model": label,
                "method": "slimming" if alpha == 0 else f"CLS alpha={alpha}",
                "ratio": ratio,
                "test err %": 100 * (1 - net.score(Xte, yte)),
                "params /": rep["parameter_reduction"],
                "MACs /": rep["mac_reduction"],
            }
        )
    table(rows, ["model", "method", "ratio", "test err %", "params /", "MACs /"])
    save(
        f"channels_cifar_{args.model}{'_smoke' if args.smoke else ''}",
        {"smoke": args.smoke, "network": label, "args": vars(args), "rows": rows},
    )


if __name__ == "__main__":
    main()
