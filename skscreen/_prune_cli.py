"""``skscreen prune``: train and prune an MLP by screening, print a report, write plots."""

from __future__ import annotations

import json
import os
import time


def add_prune_parser(sub):
    p = sub.add_parser(
        "prune",
        help="train + prune an MLP by screening (default: digits, bundled, < 2 min on CPU)",
    )
    p.add_argument("--dataset", default="digits", choices=["digits", "mnist", "fashion-mnist"])
    p.add_argument("--data-home", default=None, help="folder of mnist.pkl.gz / Fashion IDX files")
    p.add_argument("--hidden", default="300,100", help="hidden layer sizes (LeNet-300-100)")
    p.add_argument("--alpha", type=float, default=0.25, help="weight on the screening score")
    p.add_argument("--sparsity", type=float, default=0.9, help="fraction of weights to remove")
    p.add_argument(
        "--schedule", default="logistic", choices=["logistic", "fsa", "cubic", "one-shot"]
    )
    p.add_argument("--scope", default="global", choices=["global", "layer"])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--prune-epochs", type=int, default=None, help="default: half of --epochs")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--lr-halve-every", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="skscreen_out", help="folder for plots and results.json")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_prune)
    return p


def make_net(args, n_features, n_classes, X_val=None, y_val=None, callbacks=()):
    """The ScreeningPrunedNet of the paper's protocol (SGD + Nesterov, wd, lr halving)."""
    import torch
    from skorch.callbacks import LRScheduler
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    from skscreen.models import make_mlp
    from skscreen.nn import ScreeningPrunedNet

    hidden = tuple(int(h) for h in str(args.hidden).split(",") if h)
    split = predefined_split(Dataset(X_val, y_val)) if X_val is not None else None
    return ScreeningPrunedNet(
        make_mlp,
        module__n_inputs=n_features,
        module__hidden=hidden,
        module__n_classes=n_classes,
        alpha=args.alpha,
        sparsity=args.sparsity,
        schedule=args.schedule,
        scope=args.scope,
        prune_epochs=args.prune_epochs,
        max_epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        optimizer__weight_decay=args.weight_decay,
        iterator_train__shuffle=True,
        callbacks=[
            (
                "lr_halving",
                LRScheduler(
                    torch.optim.lr_scheduler.StepLR, step_size=args.lr_halve_every, gamma=0.5
                ),
            ),
            *callbacks,
        ],
        train_split=split,
        device=args.device,
        random_state=args.seed,
        verbose=0,
    )


def run_prune(args):
    import numpy as np
    import torch

    from skscreen.datasets import load_dataset
    from skscreen.nn._callbacks import EpochProgressBar
    from skscreen.pruning.compaction import count_parameters

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = load_dataset(args.dataset, args.data_home)
    print(
        f"{data.name}: {len(data.y_train)} train / {len(data.y_val)} val / "
        f"{len(data.y_test)} test, "
        f"{data.n_features} features, {data.n_classes} classes"
    )
    net = make_net(
        args,
        data.n_features,
        data.n_classes,
        data.X_val,
        data.y_val,
        callbacks=[("progress", EpochProgressBar(disable=args.quiet))],
    )
    net.fit(data.X_train, data.y_train)
    train_s = time.perf_counter() - t0
    test_acc = float(net.score(data.X_test, data.y_test))
    small = net.compact()
    with torch.no_grad():
        Xt = torch.as_tensor(data.X_test, device=args.device)
        same = bool(torch.equal(small(Xt).argmax(1), net.module_.eval()(Xt).argmax(1)))
    kept = net.kept_fraction_
    print(f"\nper-layer kept fraction ({net.n_weights_} prunable weights):")
    for name, frac in kept.items():
        print(f"  layer {name:<6} {frac:7.2%}")
    print(f"sparsity: {net.sparsity_:.4f} (target {args.sparsity})")
    print(f"weights kept: {net.pruner_.n_kept()}")
    print(f"test accuracy: {test_acc:.4f} (error {100 * (1 - test_acc):.2f} %)")
    dense_params = count_parameters(net.module_)
    units = [m.out_features for m in small if isinstance(m, torch.nn.Linear)]
    compact_params = count_parameters(small)
    print(
        f"compact network: {units} units, "
        f"{compact_params} parameters (masked dense: {dense_params}), same predictions: {same}"
    )
    os.makedirs(args.out, exist_ok=True)
    result = {
        "dataset": data.name,
        "alpha": args.alpha,
        "sparsity_target": args.sparsity,
        "sparsity": net.sparsity_,
        "weights_kept": net.pruner_.n_kept(),
        "kept_fraction": kept,
        "test_accuracy": test_acc,
        "compact_parameters": compact_params,
        "dense_parameters": dense_params,
        "schedule": {
            "target": list(net.history[:, "target_sparsity"]),
            "achieved": list(net.history[:, "sparsity"]),
        },
        "seconds": train_s,
    }
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    if not args.no_plots:
        from skscreen.plotting import (
            plot_first_layer_mask,
            plot_kept_per_layer,
            plot_schedule,
            plot_weight_histogram,
        )
        from skscreen.pruning.masks import effective_weight, get_mask

        layers = list(net.pruner_.layers.values())
        side = int(round(np.sqrt(data.n_features)))
        plot_schedule(net.history, os.path.join(args.out, "schedule.png"))
        if side * side == data.n_features:
            plot_first_layer_mask(
                get_mask(layers[0]).cpu().numpy(),
                (side, side),
                os.path.join(args.out, "first_layer_mask.png"),
            )
        plot_kept_per_layer(kept, os.path.join(args.out, "kept_per_layer.png"))
        plot_weight_histogram(
            [effective_weight(m).cpu().numpy() for m in layers],
            os.path.join(args.out, "weights_hist.png"),
        )
        print(f"plots and results.json written to {args.out}/")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
