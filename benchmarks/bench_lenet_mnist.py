"""Reproduction of the paper's Table 1: LeNet-300-100 on MNIST, pruned while training.

Rows (each over the same seeds, same epochs, same optimizer, same pruning budget):

* dense baseline (plain skorch ``NeuralNetClassifier``, no pruning);
* magnitude pruning (Han-style criterion, ``alpha=0``) under the logistic schedule;
* FSA annealing schedule + magnitude (Guo, She & Barbu 2021a);
* screening hybrid (WLS) over the alpha grid, logistic schedule (``alpha=0`` is the
  magnitude row);
* optional extra criteria (``--extra``, see ``skscreen.pruning``).

Protocol (method notes section 5): 50k/10k/10k split, SGD + Nesterov momentum 0.9,
weight decay 1e-4, lr 0.1 halved every 15 epochs, batch 64, 60 epochs, pruning over the
first 30. Each run appends one JSON line to ``results/lenet_mnist_runs.jsonl`` (runs
already there are skipped, so an interrupted benchmark resumes); the summary table
(mean +- std and best test error, weights kept, per-layer kept) goes to
``results/lenet_mnist.json``. The paper's numbers are printed beside ours.

    python benchmarks/bench_lenet_mnist.py --data-home DIR [--seeds 0 1 2] [--jobs 2]
    python benchmarks/bench_lenet_mnist.py --quick        # smoke run on digits (~1 min)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS, save, table  # noqa: E402

PAPER = {
    "dense": "1.64 % (267k)",
    "magnitude": "1.59 % (8.2 %)",
    "fsa+magnitude": "1.57 % (6.5 %)",
    "screening": "1.51 % (4.3 %: 4.1/5.3/22.4)",
}


def configs(args):
    out = [{"method": "dense", "sparsity": 0.0, "alpha": None, "schedule": None}]
    for s in args.sparsity:
        out.append({"method": "fsa+magnitude", "sparsity": s, "alpha": 0.0, "schedule": "fsa"})
        for a in args.alphas:
            name = "magnitude" if a == 0 else "screening"
            out.append({"method": name, "sparsity": s, "alpha": a, "schedule": "logistic"})
        for extra in args.extra:
            out.append({"method": extra, "sparsity": s, "alpha": None, "schedule": "logistic"})
    return out


def load_runs(log):
    """Runs already recorded in a ``*_runs.jsonl`` log, by key."""
    done = {}
    if os.path.exists(log):
        with open(log) as fh:
            for line in fh:
                r = json.loads(line)
                done[r.pop("_key")] = r
    return done


def key(cfg, seed):
    return json.dumps({**cfg, "seed": seed}, sort_keys=True)


def run_one(cfg, seed, args):
    import torch
    from skorch import NeuralNetClassifier
    from skorch.callbacks import LRScheduler
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    from skscreen import ScreeningPrunedNet
    from skscreen.datasets import load_dataset
    from skscreen.models import make_mlp

    torch.set_num_threads(args.threads)
    d = load_dataset(args.dataset, args.data_home)
    hidden = (300, 100)
    common = dict(
        max_epochs=args.epochs,
        lr=0.1,
        batch_size=64,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        optimizer__weight_decay=1e-4,
        iterator_train__shuffle=True,
        callbacks=[
            (
                "lr",
                LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=args.halve_every, gamma=0.5),
            )
        ],
        train_split=predefined_split(Dataset(d.X_val, d.y_val)),
        device=args.device,
        verbose=0,
    )
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    module = make_mlp(d.n_features, hidden, d.n_classes)
    if cfg["method"] == "dense":
        net = NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, **common)
    else:
        extra = {"reg_lambda": cfg.get("reg_lambda", 0.0)}
        if cfg["alpha"] is None:
            from skscreen.pruning import make_scorer

            params = dict(cfg.get("scorer_params", {}))
            if cfg.get("scorer", cfg["method"]) == "extreme-value":
                params.setdefault("random_state", seed)
            extra["scorer"] = make_scorer(cfg.get("scorer", cfg["method"]), **params)
        else:
            extra["alpha"] = cfg["alpha"]
        net = ScreeningPrunedNet(
            module,
            sparsity=cfg["sparsity"],
            schedule=cfg["schedule"],
            prune_epochs=args.prune_epochs,
            random_state=seed,
            **extra,
            **common,
        )
    net.fit(d.X_train, d.y_train)
    test_err = 100 * (1 - float(net.score(d.X_test, d.y_test)))
    val_err = 100 * (1 - float(net.history[-1, "valid_acc"]))
    res = {
        **cfg,
        "seed": seed,
        "test_error": test_err,
        "val_error": val_err,
        "seconds": time.perf_counter() - t0,
    }
    if cfg["method"] == "dense":
        res["weights_kept"] = sum(
            m.weight.numel() for m in net.module_.modules() if isinstance(m, torch.nn.Linear)
        )
        res["kept_fraction"] = {}
    else:
        res["weights_kept"] = net.pruner_.n_kept()
        res["kept_fraction"] = net.kept_fraction_
        res["sparsity_achieved"] = net.sparsity_
        small = net.compact()
        res["compact_units"] = [m.out_features for m in small if isinstance(m, torch.nn.Linear)]
    return res


def _worker(payload):
    cfg, seed, args = payload
    return key(cfg, seed), run_one(cfg, seed, args)


def summarize(runs):
    groups = {}
    for r in runs:
        g = (r["method"], r["sparsity"], r["alpha"], r["schedule"])
        if r.get("sparsity_achieved") is not None and r["method"] == "extreme-value":
            g = (r["method"], "auto", r["alpha"], r["schedule"])
        groups.setdefault(g, []).append(r)
    rows = []
    order = lambda kv: (str(kv[0][1]), kv[0][0], kv[0][2] or 0)  # noqa: E731
    for (method, s, a, sch), rs in sorted(groups.items(), key=order):
        errs = np.array([r["test_error"] for r in rs])
        kept = np.mean([r["weights_kept"] for r in rs])
        layers = rs[0]["kept_fraction"]
        per_layer = "/".join(
            f"{100 * np.mean([r['kept_fraction'][k] for r in rs]):.1f}" for k in layers
        )
        rows.append(
            {
                "method": method,
                "alpha": "" if a is None else a,
                "schedule": sch or "",
                "sparsity": s
                if s != "auto"
                else f"auto {np.mean([r['sparsity_achieved'] for r in rs]):.3f}",
                "seeds": len(rs),
                "test err % mean": float(errs.mean()),
                "std": float(errs.std(ddof=1)) if len(errs) > 1 else 0.0,
                "best": float(errs.min()),
                "val err % mean": float(np.mean([r["val_error"] for r in rs])),
                "weights kept": int(round(kept)),
                "kept % per layer": per_layer,
                "paper": PAPER.get(method, "") if s in (0.0, 0.957) else "",
                "sec/run": float(np.mean([r["seconds"] for r in rs])),
            }
        )
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.957, 0.98])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--extra", nargs="*", default=[], help="extra criteria, e.g. activation")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--prune-epochs", type=int, default=30)
    ap.add_argument("--halve-every", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tag", default="lenet_mnist")
    ap.add_argument("--quick", action="store_true", help="digits, 8 epochs, 1 seed: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.dataset, args.epochs, args.prune_epochs, args.halve_every = "digits", 8, 4, 4
        args.seeds, args.sparsity, args.tag = [0], [0.9], args.tag + "_quick"
    os.makedirs(RESULTS, exist_ok=True)
    log = os.path.join(RESULTS, f"{args.tag}_runs.jsonl")
    done = load_runs(log)
    todo = [
        (c, s, args)
        for c, s in itertools.product(configs(args), args.seeds)
        if key(c, s) not in done
    ]
    print(f"{len(todo)} runs to do, {len(done)} already in {log}")
    from tqdm.auto import tqdm

    with ProcessPoolExecutor(max_workers=args.jobs) as pool, open(log, "a") as fh:
        for k, res in tqdm(pool.map(_worker, todo), total=len(todo), unit="run"):
            done[k] = res
            fh.write(json.dumps({"_key": k, **res}) + "\n")
            fh.flush()
    runs = list(done.values())  # every run of this tag, also from earlier invocations
    rows = summarize(runs)
    print(
        f"\n{args.dataset}: LeNet-300-100, {args.epochs} epochs "
        f"({args.prune_epochs} pruning), seeds {args.seeds}"
    )
    table(rows, list(rows[0]))
    save(args.tag, {"protocol": vars(args) | {"data_home": None}, "summary": rows, "runs": runs})


if __name__ == "__main__":
    main()
