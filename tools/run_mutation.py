"""Mutation testing of the statistics, selection-rule and pruning modules with mutmut.

For each module, a scratch copy of the working tree (tracked and untracked, not ignored
files) gets a ``[mutmut]`` section in ``setup.cfg`` naming that module and the test files that
exercise it; ``mutmut run`` then makes one-token changes to the module (operators,
comparisons, constants, arguments) and runs the tests covering each changed function. A
mutant the tests do not notice *survives*: either it is equivalent (no observable change)
or a test is missing. The score per module and every survivor's diff are written out, for
the survivors to be argued equivalent or killed with a new test.

Usage (from the repository root, in the test virtualenv; ``mutmut>=3`` is needed)::

    nice -n 19 python tools/run_mutation.py                       # the default modules
    nice -n 19 python tools/run_mutation.py skscreen/pruning/schedules.py
    python tools/run_mutation.py --list                           # modules and their tests

Runs single-threaded (``max_children=1``, ``OMP_NUM_THREADS=1``). Writes
``<out>/mutation.json`` (scores per module) and ``<out>/mutation_survivors.txt`` (diffs);
``--out`` defaults to ``mutation_out/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> the test files that exercise it (mutmut runs only the tests covering a mutant)
MODULES = {
    "skscreen/stats/_anova.py": [
        "tests/stats/test_stats.py",
        "tests/stats/test_kernels.py",
        "tests/stats/test_known_truth_stats.py",
        "tests/feature_selection/test_known_truth_rules.py",
    ],
    "skscreen/feature_selection/_selection_rules.py": [
        "tests/feature_selection/test_known_truth_rules.py",
        "tests/feature_selection/test_screener.py",
    ],
    "skscreen/pruning/schedules.py": [
        "tests/pruning/test_schedules.py",
        "tests/pruning/test_known_truth_schedules.py",
    ],
    "skscreen/pruning/selection.py": [
        "tests/pruning/test_pruning_core.py",
        "tests/pruning/test_known_truth_pruning.py",
    ],
    "skscreen/pruning/regularizers.py": [
        "tests/pruning/test_regularizers.py",
        "tests/pruning/test_known_truth_pruning.py",
        "tests/pruning/test_seed_methods.py",
    ],
    "skscreen/stats/_moments.py": [
        "tests/stats/test_stats.py",
        "tests/stats/test_kernels.py",
        "tests/feature_selection/test_known_truth_rules.py",
    ],
    "skscreen/pruning/extreme_value.py": [
        "tests/pruning/test_known_truth_pruning.py",
        "tests/pruning/test_seed_methods.py",
    ],
    "skscreen/pruning/compaction.py": [
        "tests/pruning/test_pruning_core.py",
        "tests/pruning/test_known_truth_pruning.py",
    ],
}
# the modules churned least by other work first; the others on request
DEFAULT = list(MODULES)[:5]

STATUSES = ("killed", "survived", "timeout", "suspicious", "no tests", "skipped", "segfault")


def _working_tree_files():
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def _scratch_copy(dest):
    for rel in _working_tree_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)


def _write_config(dest, module, tests):
    tests = [t for t in tests if (dest / t).exists()]
    lines = [
        "[mutmut]",
        f"source_paths={module}",
        "also_copy=",
        "    skscreen",
        "pytest_add_cli_args_test_selection=",
        *(f"    {t}" for t in tests),
        "pytest_add_cli_args=-p no:cacheprovider -o addopts= -q",
        "max_children=1",
    ]
    (dest / "setup.cfg").write_text("\n".join(lines) + "\n")
    return tests


def _mutmut(args, cwd, env, timeout=None):
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_module(module, tests, workdir, timeout):
    dest = workdir / re.sub(r"[^A-Za-z0-9]+", "_", module)
    _scratch_copy(dest)
    tests = _write_config(dest, module, tests)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    start = time.perf_counter()
    try:
        run = _mutmut(["run"], dest, env, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        run, timed_out = None, True
    seconds = time.perf_counter() - start
    res = _mutmut(["results", "--all", "true"], dest, env)
    status = {}
    for line in res.stdout.splitlines():
        m = re.match(r"\s*(\S+__mutmut_\d+): (.+)$", line)
        if m:
            status[m.group(1)] = m.group(2).strip()
    counts = {s: sum(v == s for v in status.values()) for s in STATUSES}
    counts["other"] = len(status) - sum(counts.values())
    survivors = []
    for name, st in sorted(status.items(), key=lambda kv: _mutant_key(kv[0])):
        if st in ("survived", "no tests"):
            diff = _mutmut(["show", name], dest, env).stdout
            body = [ln for ln in diff.splitlines() if ln.startswith(("-", "+"))]
            body = [ln for ln in body if not ln.startswith(("---", "+++"))]
            survivors.append({"mutant": name, "status": st, "diff": body})
    tested = counts["killed"] + counts["survived"] + counts["timeout"] + counts["no tests"]
    killed = counts["killed"] + counts["timeout"]  # a mutant that hangs the tests is caught
    summary = {
        "module": module,
        "tests": tests,
        "mutants": len(status),
        "killed": killed,
        "survived": counts["survived"],
        "no_tests": counts["no tests"],
        "other": {k: v for k, v in counts.items() if k not in ("killed", "survived") and v},
        "score": killed / tested if tested else None,
        "seconds": round(seconds, 1),
        "timed_out": timed_out,
        "mutmut_tail": "" if run is None else run.stdout[-300:].replace("\r", "\n"),
    }
    return summary, survivors


def _mutant_key(name):
    m = re.search(r"^(.*)__mutmut_(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, 0)


def _provenance():
    def git(*a):
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()

    from importlib.metadata import version

    return {
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "mutmut": version("mutmut"),
        "python": sys.version.split()[0],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="*", help="module paths (default: the five least churned)")
    ap.add_argument("--out", default="mutation_out", help="output folder")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per module")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies")
    ap.add_argument("--list", action="store_true", help="list the modules and their tests")
    args = ap.parse_args(argv)
    if args.list:
        for m, t in MODULES.items():
            print(f"{m}{' (default)' if m in DEFAULT else ''}: {' '.join(t)}")
        return 0
    modules = args.modules or DEFAULT
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        ap.error(f"unknown modules {unknown}; see --list")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="skscreen_mutation_"))
    results, text = [], []
    try:
        for module in modules:
            summary, survivors = run_module(module, MODULES[module], workdir, args.timeout)
            results.append(summary)
            score = "n/a" if summary["score"] is None else f"{100 * summary['score']:.1f} %"
            print(
                f"{module}: {summary['killed']}/{summary['mutants']} killed, "
                f"{summary['survived']} survived ({score}) in {summary['seconds']:.0f} s",
                flush=True,
            )
            text.append(f"## {module}: {summary['survived']} survived\n")
            for s in survivors:
                text.append(f"{s['mutant']} ({s['status']})")
                text.extend(f"    {ln}" for ln in s["diff"])
            text.append("")
            (out / "mutation.json").write_text(
                json.dumps({"provenance": _provenance(), "modules": results}, indent=2) + "\n"
            )
            (out / "mutation_survivors.txt").write_text("\n".join(text) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"scratch copies kept in {workdir}")
    print(f"wrote {out / 'mutation.json'} and {out / 'mutation_survivors.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
