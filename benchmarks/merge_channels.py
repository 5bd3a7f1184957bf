"""Merge per-seed ``bench_channels.py`` results into one table with paired comparisons.

``bench_channels.py`` runs one process per seed when a seed takes long (``--seeds 0 --tag
X_s0``, ``--seeds 1 --tag X_s1``, ...): the processes can run in parallel and a stopped one
loses only its own seed. This script reads those JSON files and writes one summary:

* per method (slimming / CLS, with its normalisation scope) and channel ratio: mean and
  standard deviation of the test error over the seeds, the difference to the dense row;
* paired per seed, **CLS (each alpha) minus slimming under the same normalisation scope**
  (both start from the same trained dense net of that seed and see the same fine-tuning
  batches): mean, standard deviation, and on how many seeds CLS is lower ("wins").

Usage::

    python benchmarks/merge_channels.py benchmarks/results/cls_full_fashion_s*.json \\
        --tag cls_full_fashion

Nothing is chosen here: alpha and the schedule are fixed before the runs, and the test error
is only reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save, table  # noqa: E402


def _scope_of(run):
    method = run["method"]
    return method[method.index("[") + 1 : -1] if "[" in method else None


def merge(payloads):
    """Summary rows, paired rows and per-seed rows of several ``bench_channels`` payloads."""
    runs = []
    for p in payloads:
        runs.extend(p["runs"])
    seeds = sorted({r["seed"] for r in runs})
    dense_seeds = [r["seed"] for r in runs if r["method"] == "dense"]
    if sorted(dense_seeds) != seeds:
        raise ValueError(
            "each seed must appear in exactly one input file (one dense row per seed); "
            f"dense rows for seeds {sorted(dense_seeds)}, runs for seeds {seeds}"
        )
    settings = {
        json.dumps({k: v for k, v in p.get("args", {}).items() if k not in ("seeds", "tag")})
        for p in payloads
    }
    if len(settings) > 1:
        raise ValueError("the input files ran with different settings (besides seeds and tag)")
    dense = {r["seed"]: r["test_error"] for r in runs if r["method"] == "dense"}
    dense_mean = float(np.mean(list(dense.values())))

    groups = defaultdict(list)
    for r in runs:
        if r["method"] != "dense":
            groups[(r["ratio"], r["method"], r["alpha"])].append(r)
    rows = [
        {
            "method": "dense",
            "ratio": 0.0,
            "alpha": "",
            "seeds": len(dense),
            "test err %": dense_mean,
            "std": float(np.std(list(dense.values()), ddof=1)) if len(dense) > 1 else 0.0,
            "vs dense pp": 0.0,
            "params /": 1.0,
            "MACs /": 1.0,
        }
    ]
    for (ratio, method, alpha), rs in sorted(groups.items()):
        errs = np.array([r["test_error"] for r in rs])
        rows.append(
            {
                "method": method,
                "ratio": ratio,
                "alpha": alpha,
                "seeds": len(rs),
                "test err %": float(errs.mean()),
                "std": float(errs.std(ddof=1)) if len(errs) > 1 else 0.0,
                "vs dense pp": float(np.mean([r["test_error"] - dense[r["seed"]] for r in rs])),
                "params /": float(np.mean([r["param_reduction"] for r in rs])),
                "MACs /": float(np.mean([r["mac_reduction"] for r in rs])),
            }
        )

    # every CLS alpha is paired with slimming (alpha 0) of the same seed, ratio and scope
    by_key = {
        (r["seed"], r["ratio"], r["method"], r["alpha"]): r for r in runs if r["method"] != "dense"
    }
    cls_alphas = sorted({r["alpha"] for r in runs if r["method"].startswith("CLS")})
    paired = []
    for ratio in sorted({k[1] for k in by_key}):
        for scope in sorted({_scope_of(r) or "" for r in runs if r["method"] != "dense"}):
            suffix = f" [{scope}]" if scope else ""
            for alpha in cls_alphas:
                diffs = []
                for seed in seeds:
                    cls = by_key.get((seed, ratio, "CLS" + suffix, alpha))
                    slim = by_key.get((seed, ratio, "slimming" + suffix, 0.0))
                    if cls is not None and slim is not None:
                        diffs.append(cls["test_error"] - slim["test_error"])
                if not diffs:
                    continue
                d = np.array(diffs)
                paired.append(
                    {
                        "ratio": ratio,
                        "scope": scope or "(budget scope)",
                        "CLS alpha": alpha,
                        "pairs": len(d),
                        "CLS - slimming pp": float(d.mean()),
                        "std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                        "CLS lower": f"{int((d < 0).sum())}/{len(d)}",
                    }
                )

    per_seed = []
    for (ratio, method, alpha), rs in sorted(groups.items()):
        errs = {r["seed"]: r["test_error"] for r in rs}
        per_seed.append(
            {"method": method, "ratio": ratio, "alpha": alpha}
            | {f"seed {s}": errs.get(s, float("nan")) for s in seeds}
        )
    per_seed.insert(
        0, {"method": "dense", "ratio": 0.0, "alpha": ""} | {f"seed {s}": dense[s] for s in seeds}
    )
    return rows, paired, per_seed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="bench_channels.py JSON results, one per seed")
    ap.add_argument("--tag", required=True, help="name of the merged results file")
    args = ap.parse_args(argv)
    payloads = []
    for path in args.files:
        with open(path) as fh:
            payloads.append(json.load(fh))
    rows, paired, per_seed = merge(payloads)
    first = payloads[0]["args"]
    print(
        f"{first['dataset']}: small VGG-BN {first['widths']}, {first['n_train']} train images "
        f"(requested), {first['epochs']} dense epochs + 1 + {first['finetune']}, budget scope "
        f"{first['scope']}; {rows[0]['seeds']} seeds from {len(payloads)} files"
    )
    table(rows, list(rows[0]))
    print("\npaired per seed (same dense net, same batches): CLS minus slimming, same scope")
    table(paired, list(paired[0]))
    print("\ntest error % per seed")
    table(per_seed, list(per_seed[0]))
    save(
        args.tag,
        {
            "sources": [os.path.basename(p) for p in args.files],
            "source_provenance": [p.get("provenance") for p in payloads],
            "args": first,
            "summary": rows,
            "paired": paired,
            "per_seed": per_seed,
        },
    )


if __name__ == "__main__":
    main()
