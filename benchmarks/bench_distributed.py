"""Cost of reducing the pruning statistics across ranks, per epoch, against the epoch time.

Two processes (gloo, CPU) train LeNet-300-100 with ``DistributedDataParallel`` and the
plain-loop :class:`~skscreen.pruning.WeightPruner` (hybrid screening, alpha 0.5, sparsity 0.9
over the pruning epochs); each rank takes half of every global batch. At the end of each
epoch ``pruner.step`` reduces the per-class moments of the three ``Linear`` inputs
(784 + 300 + 100 features x 10 classes) across the ranks, scores, agrees on rank 0's masks
and applies them. Timed per epoch, on rank 0 (the collectives make the ranks wait for each
other, so rank 1's figures are alike):

* ``train_s``: the training loop over the epoch's batches (forward, backward with DDP's
  gradient all-reduce, optimizer step, mask enforcement);
* ``flush_s``: the local fold of the epoch's last pending batches (paid without a process
  group too);
* ``reduce_s``: the reduction itself (``reduce_moments``: names check, shapes, one
  all-gather of the moments, merge in rank order), including any wait for the slower rank
  to reach it; the reduction alone, ranks lined up by a barrier, is timed after training
  (best of 5 on the last epoch's statistics);
* ``agree_s``: the broadcast of rank 0's keep-masks (266,200 bytes);
* ``step_s``: the whole ``pruner.step`` (flush, reduction, scoring, selection, agreement,
  applying).

    nice -n 10 python benchmarks/bench_distributed.py [--dataset mnist] [--epochs 4]

MNIST comes from ``mnist.pkl.gz`` (see the README's Data section); without it the script
says so and uses Fashion-MNIST when installed, else digits (tiled to ``--n-train`` rows), and
records which one ran.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save, table  # noqa: E402


def _load(name, n_train):
    from skscreen.datasets import load_dataset

    for candidate in dict.fromkeys([name, "fashion-mnist", "digits"]):
        try:
            d = load_dataset(candidate)
            break
        except FileNotFoundError as exc:
            print(f"{candidate}: {exc}".splitlines()[0], file=sys.stderr)
    X, y = d.X_train, d.y_train
    if len(y) < n_train:  # tile a small data set to a meaningful epoch length
        reps = int(np.ceil(n_train / len(y)))
        X, y = np.tile(X, (reps, 1)), np.tile(y, reps)
    X, y = X[:n_train], y[:n_train]
    return d.name, torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)


def _timed(holder, key, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            holder[key] = holder.get(key, 0.0) + time.perf_counter() - t

    return wrapper


def _worker(rank, port, args, out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from skscreen.models import lenet_300_100
    from skscreen.pruning import HybridScreeningScorer, WeightPruner, distributed, make_schedule

    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        name, X, y = _load(args.dataset, args.n_train)
        torch.manual_seed(0)
        model = lenet_300_100(X.shape[1], int(y.max()) + 1)
        pruner = WeightPruner(
            model,
            HybridScreeningScorer(alpha=0.5),
            make_schedule("logistic"),
            sparsity=0.9,
            prune_epochs=args.epochs,
            n_classes=int(y.max()) + 1,
        )
        net = DistributedDataParallel(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        times = {}
        # time the pieces of step (the benchmark's own instrumentation)
        distributed.agree_masks = _timed(times, "agree_s", distributed.agree_masks)
        rec = pruner.recorder
        reduce = rec.reduce_across_ranks

        last = {}

        def flush_then_reduce(*a, **kw):
            t = time.perf_counter()
            for n in rec.names:  # waits for the background fold: the local part
                last[n] = rec.accumulators[n].to_moments() if n in rec.accumulators else None
            times["flush_s"] = time.perf_counter() - t
            return _timed(times, "reduce_s", reduce)(*a, **kw)

        rec.reduce_across_ranks = flush_then_reduce
        pruner.attach_hooks()
        half = args.batch // 2
        rows = []
        for epoch in range(1, args.epochs + 1):
            times.clear()
            model.train()
            dist.barrier()
            t0 = time.perf_counter()
            for a in range(0, len(y) - args.batch + 1, args.batch):
                lo = a + rank * half
                xb, yb = X[lo : lo + half], y[lo : lo + half]
                pruner.set_targets(yb)
                loss = torch.nn.functional.cross_entropy(net(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                pruner.enforce()
            t1 = time.perf_counter()
            n_kept = pruner.step(epoch, optimizer)
            t2 = time.perf_counter()
            rows.append(
                {
                    "epoch": epoch,
                    "train_s": t1 - t0,
                    "flush_s": times.get("flush_s", 0.0),
                    "reduce_s": times.get("reduce_s", 0.0),
                    "agree_s": times.get("agree_s", 0.0),
                    "step_s": t2 - t1,
                    "sparsity": 1.0 - n_kept / pruner.n_total,
                }
            )
        # the reduction alone, the ranks lined up by a barrier (the per-epoch figure also
        # holds the wait for the slower rank): best of 5 on the last epoch's statistics
        best = float("inf")
        for _ in range(5):
            dist.barrier()
            t = time.perf_counter()
            distributed.reduce_moments(last)
            best = min(best, time.perf_counter() - t)
        masks = torch.cat([u.mask.reshape(-1) for u in pruner.units])
        n_floats = sum(
            m.count_.numel() + 2 * m.mean_.numel() + m.shift_.numel() for m in last.values()
        )
        torch.save(
            {
                "dataset": name,
                "rows": rows,
                "masks": masks,
                "n_train": len(y),
                "reduce_alone_s": best,
                "bytes_per_rank": 8 * n_floats,
            },
            os.path.join(out, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


def main():
    import tempfile

    import torch.multiprocessing as mp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=128, help="global batch (both ranks)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    load_before = os.getloadavg()  # a shared machine: say how busy it was
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_worker, args=(port, args, out), nprocs=2, join=True)
        ranks = [torch.load(os.path.join(out, f"rank{r}.pt")) for r in range(2)]
    same_masks = bool(torch.equal(ranks[0]["masks"], ranks[1]["masks"]))
    rows = ranks[0]["rows"]
    for r in rows:
        r["reduce_pct_of_epoch"] = 100.0 * r["reduce_s"] / (r["train_s"] + r["step_s"])
        r["step_pct_of_epoch"] = 100.0 * r["step_s"] / (r["train_s"] + r["step_s"])
    print(
        f"2 gloo ranks (CPU), LeNet-300-100 on {ranks[0]['dataset']} "
        f"({ranks[0]['n_train']} rows, global batch {args.batch}, {args.threads} thread(s) "
        f"per rank); rank 0's timings"
    )
    cols = [
        "epoch",
        "train_s",
        "flush_s",
        "reduce_s",
        "agree_s",
        "step_s",
        "reduce_pct_of_epoch",
        "step_pct_of_epoch",
        "sparsity",
    ]
    table(rows, cols)
    summary = {
        "median_reduce_s": float(np.median([r["reduce_s"] for r in rows])),
        "median_epoch_s": float(np.median([r["train_s"] + r["step_s"] for r in rows])),
        "median_reduce_pct": float(np.median([r["reduce_pct_of_epoch"] for r in rows])),
        "reduce_alone_best_s": ranks[0]["reduce_alone_s"],
        "bytes_gathered_per_rank": ranks[0]["bytes_per_rank"],
        "masks_identical_on_both_ranks": same_masks,
    }
    print(
        f"\nreduction: median {summary['median_reduce_s'] * 1e3:.1f} ms per epoch = "
        f"{summary['median_reduce_pct']:.3f} % of a {summary['median_epoch_s']:.1f} s epoch; "
        f"masks identical on both ranks: {same_masks}\n"
        f"reduction alone (ranks lined up, best of 5): "
        f"{summary['reduce_alone_best_s'] * 1e3:.1f} ms for "
        f"{summary['bytes_gathered_per_rank'] / 1e3:.0f} kB per rank"
    )
    save(
        "distributed",
        {
            "dataset": ranks[0]["dataset"],
            "n_train": ranks[0]["n_train"],
            "world_size": 2,
            "backend": "gloo",
            "settings": vars(args),
            "rows": rows,
            "rank1_rows": ranks[1]["rows"],
            "summary": summary,
            "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
        },
    )


if __name__ == "__main__":
    main()
