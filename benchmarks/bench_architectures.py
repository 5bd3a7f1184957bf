"""Audit: channel- and weight-level pruning on torchvision architectures (CPU, synthetic data).

For every model (``weights=None``, 10 classes) and both granularities, in one run: build the
pruner (channel level traces the network and dry-runs one removal per unit before any
training), train a few epochs with a plain torch loop (SGD momentum 0.9, so the optimizer
state has to follow each structural step), prune at the end of the first epoch, fine-tune;
then parameters and MACs of the dense and the compact network, and CPU latency of a batch
of 64, dense vs compact, best of ``--repeat``. A model whose pruner refuses it says why
(``error``), before training where that is where it is found.

Data: ``--n-train`` synthetic 3x32x32 images, 10 classes, class-dependent channel means
plus noise (the screening statistic has something to find; accuracy is not the point).

torchvision is needed; the CPU torch of the development environment cannot import the
torchvision wheel pip finds (``torchvision::nms``), so run it from a separate virtual
environment with a matching torch/torchvision pair (see ``docs/benchmarks.rst``)::

    python3 -m venv /work/tvenv
    /work/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/tvenv/bin/pip install scipy scikit-learn tqdm skorch torch-pruning
    # skscreen from this working tree, without installing it there:
    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 19 /work/tvenv/bin/python \
        benchmarks/bench_architectures.py

Without torchvision the script says so and exits (status 0).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import traceback

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import best_of, provenance, save, table  # noqa: E402

from skscreen.pruning.channels import (  # noqa: E402
    ChannelPruner,
    ChannelScreeningScorer,
    count_macs,
)
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402

MODELS = [
    "resnet18",
    "mobilenet_v2",
    "densenet121",
    "vgg11_bn",
    "regnet_x_400mf",
    "resnext50_32x4d",
    "shufflenet_v2_x1_0",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "convnext_tiny",
]


def synthetic(n, n_classes=10, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % n_classes
    means = torch.randn(n_classes, 3, 1, 1, generator=g) * 0.5
    x = means[y] + torch.randn(n, 3, size, size, generator=g)
    return x, y


def latency(model, batch, repeat):
    model.eval()
    with torch.no_grad():
        model(batch)  # warm-up
        return best_of(lambda: model(batch), repeat)[0]


def channel_pruner(model, x, args):
    return ChannelPruner(
        model,
        ChannelScreeningScorer(alpha=0.5, normalize_scope="global"),  # as published
        OneShotSchedule(),
        sparsity=args.channel_sparsity,
        prune_epochs=1,
        n_classes=10,
        example_inputs=x[:1],
    )


def weight_pruner(model, x, args):
    from skscreen.pruning import HybridScreeningScorer, WeightPruner

    return WeightPruner(
        model,
        HybridScreeningScorer(alpha=0.5),
        OneShotSchedule(),
        sparsity=args.weight_sparsity,
        prune_epochs=1,
        n_classes=10,
    )


def train(model, pruner, x, y, args, masks):
    """Plain torch loop: labels to the hooks, prune at the end of epoch 1, fine-tune."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    guard = None
    if masks:
        from skscreen.pruning.masks import MaskEnforcer

        guard = MaskEnforcer().attach(list(pruner.layers.values()), opt)
    pruner.attach_hooks()
    losses = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        for start in range(0, len(x), args.batch):
            xb, yb = x[start : start + args.batch], y[start : start + args.batch]
            pruner.set_targets(yb)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        pruner.set_targets(None)
        pruner.step(epoch, opt)
    pruner.remove_hooks()
    if guard is not None:
        guard.remove()
    if not all(map(lambda v: v == v and abs(v) < float("inf"), losses)):
        raise FloatingPointError(f"non-finite training loss: {losses}")
    return losses


def masked_vs_physical(build, x, args):
    """Largest output difference between a physically pruned copy and the dense network with
    the same channels silenced (their BatchNorm scale and shift zeroed), about half of each
    unit's tied classes chosen at random; relative to the largest output."""
    torch.manual_seed(1)
    model = build().eval()
    g = torch.Generator().manual_seed(0)
    for m in model.modules():  # distinct BatchNorm values (their init values are all equal)
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
            m.bias.data = torch.randn(m.num_features, generator=g) * 0.1
    pruner = channel_pruner(model, x, args)
    masked = copy.deepcopy(model)
    names = dict(masked.named_modules())
    remove = {}
    for u in pruner.units:
        classes = torch.randperm(u.n_classes, generator=g)[: u.n_classes // 2]
        gone = torch.isin(u.ties, classes)
        remove[u.name] = [u.channels[p] for p in gone.nonzero().flatten().tolist()]
        for bn, idx, pos in u.members:
            twin = names[pruner.bn_names[bn]]
            twin.weight.data[idx[gone[pos]]] = 0.0
            twin.bias.data[idx[gone[pos]]] = 0.0
    pruner.prune_channels(remove)
    with torch.no_grad():
        want, got = masked(x[:4]), model(x[:4])
    return float((want - got).abs().max() / want.abs().max())


def reload_check(build, model, history, x):
    """Save with the pruning history, rebuild from a dense template, compare outputs."""
    import tempfile

    from skscreen.pruning.channels import load_pruned, save_pruned

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.pt")
        save_pruned(model, history, path)
        back = load_pruned(build(), path, x[:1]).eval()
    with torch.no_grad():
        return float((back(x[:4]) - model.eval()(x[:4])).abs().max())


def run(name, granularity, x, y, args):
    import torchvision

    def build():
        return getattr(torchvision.models, name)(weights=None, num_classes=10)

    torch.manual_seed(0)
    model = build()
    one = x[:1]
    row = {"model": name, "granularity": granularity}
    macs, params = count_macs(model, one)
    row |= {"params_dense": params, "macs_dense": macs}
    dense = copy.deepcopy(model).eval()
    t = time.perf_counter()
    stage = "setup"
    try:
        if granularity == "channel":
            pruner = channel_pruner(model, x, args)
            row["units"] = len(pruner.units)
            row["excluded"] = len(pruner.excluded_units)
        else:
            pruner = weight_pruner(model, x, args)
        row["setup_s"] = time.perf_counter() - t
        stage = "training"
        t = time.perf_counter()
        losses = train(model, pruner, x, y, args, masks=granularity == "weight")
        row["train_s"] = time.perf_counter() - t
        row["loss_first"], row["loss_last"] = losses[0], losses[-1]
        row["removed"] = 1.0 - pruner.n_kept() / pruner.n_total
        stage = "compaction"
        if granularity == "channel":
            small = model.eval()
            row["reload_max_abs_diff"] = reload_check(build, model, pruner.history, x)
            stage = "masked-vs-physical check"
            row["masked_vs_physical"] = masked_vs_physical(build, x, args)
        else:
            from skscreen.pruning import compact_module

            small = compact_module(model, one)
        with torch.no_grad():
            torch.testing.assert_close(small(x[:8]), model.eval()(x[:8]), rtol=1e-3, atol=1e-4)
        macs_c, params_c = count_macs(small, one)
        nonzero = sum(int((p != 0).sum()) for p in small.parameters())
        row |= {
            "fit": "ok",
            "params_compact": params_c,
            "nonzero_compact": nonzero,
            "macs_compact": macs_c,
            "param_ratio": params / max(params_c, 1),
            "mac_ratio": macs / max(macs_c, 1),
        }
        batch = x[: args.latency_batch]
        row["latency_dense_ms"] = latency(dense, batch, args.repeat) * 1e3
        row["latency_compact_ms"] = latency(small, batch, args.repeat) * 1e3
        row["speedup"] = row["latency_dense_ms"] / row["latency_compact_ms"]
    except Exception as exc:  # noqa: BLE001 - a row per failure is the point of the audit
        row["fit"] = f"error at {stage}"
        row["error"] = f"{type(exc).__name__}: {exc}"
        if args.verbose:
            traceback.print_exc()
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--granularities", nargs="+", default=["channel", "weight"])
    parser.add_argument("--n-train", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channel-sparsity", type=float, default=0.5)
    parser.add_argument("--weight-sparsity", type=float, default=0.9)
    parser.add_argument("--latency-batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="architectures")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    try:
        import torchvision
    except Exception as exc:  # noqa: BLE001 - ImportError or the torchvision::nms RuntimeError
        print(
            f"torchvision cannot be imported here ({type(exc).__name__}: {exc}); nothing to "
            "audit. Run this script from a virtual environment with a matching torch and "
            "torchvision (see the module docstring)."
        )
        return
    torch.set_num_threads(args.threads)
    x, y = synthetic(max(args.n_train, args.latency_batch))
    rows = []
    for name in args.models:
        for granularity in args.granularities:
            t = time.perf_counter()
            row = run(name, granularity, x[: args.n_train], y[: args.n_train], args)
            row["wall_s"] = time.perf_counter() - t
            rows.append(row)
            print(
                f"{name:>20} {granularity:>7}: {row['fit']}"
                + (f" ({row['error'][:160]})" if "error" in row else "")
                + f"  [{row['wall_s']:.0f} s]",
                flush=True,
            )
    print()
    table(
        rows,
        [
            "model",
            "granularity",
            "fit",
            "removed",
            "params_dense",
            "params_compact",
            "nonzero_compact",
            "mac_ratio",
            "latency_dense_ms",
            "latency_compact_ms",
            "speedup",
            "setup_s",
            "masked_vs_physical",
        ],
    )
    save(
        args.out,
        {
            "provenance": provenance(),
            "torchvision": torchvision.__version__,
            "args": vars(args),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
