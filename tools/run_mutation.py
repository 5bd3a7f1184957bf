"""Mutation testing of the modules of skscreen/ with mutmut.

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
    nice -n 19 python tools/run_mutation.py --all                 # every module (hours)
    nice -n 19 python tools/run_mutation.py skscreen/pruning/hooks.py \\
        --merge-into benchmarks/results/mutation.json             # record the result
    python tools/run_mutation.py --list                           # modules and their tests
    python tools/run_mutation.py --check                          # every module mapped?
    python tools/run_mutation.py --argue skscreen/pruning/hooks.py 7 "equivalent: ..."
    python tools/run_mutation.py --sync-docs                      # docs/testing.rst's table

A mutant whose tests time out in mutmut's forked child is run again in a fresh process: a
fork can hang where a fresh process does not (a dask or tqdm thread's lock inherited from
mutmut's process), so it counts as killed only if its tests fail there or hang there too,
and as a survivor if they pass (``timeouts_rechecked`` in the result).

Runs single-threaded (``max_children=1``, ``OMP_NUM_THREADS=1``). Writes
``<out>/mutation.json`` (scores per module) and ``<out>/mutation_survivors.txt`` (diffs);
``--out`` defaults to ``mutation_out/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import ast
import difflib
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

# module -> the test files that exercise it (mutmut runs only the tests covering a mutant);
# every module of skscreen/ is listed (``--all``), files that do not exist are skipped
_STATS = [
    "tests/stats/test_stats.py",
    "tests/stats/test_kernels.py",
    "tests/stats/test_anova.py",
]
_SCREENER = [
    "tests/feature_selection/test_screener.py",
    "tests/feature_selection/test_selection_rules.py",
    "tests/feature_selection/test_sklearn_parity.py",
]
_CLI = [
    "tests/cli/test_cli_screen.py",
    "tests/cli/test_cli_errors.py",
    "tests/cli/test_prune_cli.py",
    "tests/cli/test_cli_output.py",
    "tests/cli/test_cli_modules.py",
    "tests/cli/test_cli_interrupt.py",
    "tests/cli/test_cli_warnings.py",
    "tests/cli/test_prune_options.py",
]
_CHANNELS = [
    "tests/pruning/test_channels.py",
    "tests/pruning/test_architectures_channel.py",
    "tests/pruning/test_hooks.py",
]
_NET = [
    "tests/nn/test_net.py",
    "tests/nn/test_pickling.py",
    "tests/nn/test_net_inputs.py",
    "tests/nn/test_persistence.py",
    "tests/nn/test_callback_statistics.py",
    "tests/nn/test_skorch_substitute.py",
]
MODULES = {
    # --- the five modules run by default (least churned by other work)
    "skscreen/stats/_anova.py": [
        "tests/stats/test_stats.py",
        "tests/stats/test_kernels.py",
        "tests/stats/test_anova.py",
        "tests/stats/test_anova_array_types.py",
        "tests/feature_selection/test_selection_rules.py",
    ],
    "skscreen/feature_selection/_selection_rules.py": [
        "tests/feature_selection/test_selection_rules.py",
        "tests/feature_selection/test_screener.py",
        "tests/feature_selection/test_sklearn_parity.py",
    ],
    "skscreen/pruning/schedules.py": [
        "tests/pruning/test_schedules.py",
    ],
    "skscreen/pruning/selection.py": [
        "tests/pruning/test_selection.py",
        "tests/pruning/test_selection_top.py",
    ],
    "skscreen/pruning/regularizers.py": [
        "tests/pruning/test_regularizers.py",
        "tests/pruning/test_seed_methods.py",
    ],
    # --- statistics core
    "skscreen/stats/_moments.py": [
        "tests/stats/test_moments.py",
        *_STATS,
        "tests/feature_selection/test_selection_rules.py",
        "tests/feature_selection/test_screener.py",
    ],
    "skscreen/stats/_kernels.py": [
        *_STATS,
        "tests/stats/test_moments.py",
        "tests/stats/test_kernel_paths.py",
    ],
    "skscreen/stats/_numba_kernels.py": [  # mutated without its @numba.njit (UNDECORATE)
        "tests/stats/test_kernels.py",
        "tests/stats/test_kernel_paths.py",  # the two kernels' bit-identical order
        "tests/stats/test_stats.py",
    ],
    "skscreen/stats/_deferred.py": [
        "tests/stats/test_deferred.py",
        "tests/stats/test_stats.py",
        "tests/pruning/test_hooks.py",
    ],
    "skscreen/stats/_reference.py": _STATS,
    "skscreen/stats/__init__.py": ["tests/stats/test_stats.py"],
    # --- feature selection
    "skscreen/feature_selection/_online_f.py": _SCREENER,
    "skscreen/feature_selection/_dask.py": ["tests/feature_selection/test_dask.py"],
    "skscreen/feature_selection/__init__.py": ["tests/feature_selection/test_screener.py"],
    # --- pruning
    "skscreen/pruning/extreme_value.py": [
        "tests/pruning/test_extreme_value.py",
        "tests/pruning/test_seed_methods.py",
        "tests/pruning/test_pruner.py",
    ],
    "skscreen/pruning/compaction.py": [
        "tests/pruning/test_compaction.py",
        "tests/pruning/test_pruner.py",
    ],
    "skscreen/pruning/hooks.py": [
        "tests/pruning/test_recorder.py",
        "tests/pruning/test_hooks.py",
        "tests/pruning/test_seed_methods.py",
        "tests/pruning/test_pruner.py",
        "tests/pruning/test_distributed.py",
    ],
    "skscreen/pruning/masks.py": [
        "tests/pruning/test_masks.py",
        "tests/pruning/test_compaction.py",
        "tests/pruning/test_pruner.py",
    ],
    "skscreen/pruning/_atomic.py": [
        "tests/pruning/test_masks.py",
        "tests/nn/test_skorch_substitute.py",
    ],
    "skscreen/pruning/_base.py": [
        "tests/pruning/test_pruner_template.py",
        "tests/pruning/test_pruner.py",
        "tests/pruning/test_hooks.py",
    ],
    "skscreen/pruning/pruner.py": [
        "tests/pruning/test_pruner_template.py",
        "tests/pruning/test_hooks.py",
        "tests/pruning/test_pruner.py",
    ],
    "skscreen/pruning/scorers.py": [
        "tests/pruning/test_scorers.py",
        "tests/pruning/test_factory.py",
        "tests/pruning/test_pruner.py",
        "tests/benchmarks/test_benchmark_runs.py",
        "tests/pruning/test_seed_methods.py",
    ],
    **{  # each module's unit file (tests/pruning/test_channel_<module>.py) first
        f"skscreen/pruning/channels/{m}.py": [f"tests/pruning/test_channel{m}.py", *_CHANNELS]
        for m in (
            "__init__",
            "_io",
            "_optimizer",
            "_pruner",
            "_report",
            "_scorer",
            "_slices",
            "_snapshot",
            "_ties",
            "_units",
        )
    },
    "skscreen/pruning/_layers.py": [
        "tests/pruning/test_layers.py",
        "tests/pruning/test_pruner.py",
        "tests/pruning/test_compaction.py",
        "tests/pruning/test_channels.py",
    ],
    # its unit file covers every setting; the nets' tests (tests/nn) only reach it through fits
    "skscreen/pruning/factory.py": ["tests/pruning/test_factory.py"],
    "skscreen/pruning/distributed.py": ["tests/pruning/test_distributed.py"],
    "skscreen/pruning/__init__.py": [
        "tests/pruning/test_pruning_init.py",
    ],
    # --- skorch estimator and callbacks
    # its unit file (every method and event on tiny nets, about 18 s) alone: with the _NET files
    # (test_callback_statistics.py among them) a surviving mutant ran about 150 s of nets' tests
    # and the run did not end in 30 minutes; their tests of this module are in the unit file
    "skscreen/nn/_pruning.py": ["tests/nn/test_pruning_units.py"],
    # its unit file (every method on tiny nets, a few seconds a test) first; the _NET files
    # and test_criterion.py (about 200 s together on the shared 2-core machine, all run for
    # every surviving mutant of fit/notify) test nothing of this module that it does not
    "skscreen/nn/_net.py": [
        "tests/nn/test_net_units.py",
        "tests/nn/test_inputs.py",  # bfloat16 modules, zero samples, refits on datasets
        "tests/nn/test_labels.py",  # classes on some outputs (issue 18)
        "tests/nn/test_net_inputs.py",  # validation Datasets, dict X (session 9's audit)
    ],
    # the callback's parts (split out of nn/_pruning.py): their unit files, then the fits
    # _settings, _module_state, _class_rows: unit file + one net file (with every _NET file
    # a run was estimated at well over 15 minutes on the shared 2-core machine: the nets'
    # tests cover every function here, and a surviving mutant runs all of them)
    # (not test_net.py: with it a surviving mutant's run stalled for minutes, likely in its
    # GridSearchCV(n_jobs=2)'s worker processes started from mutmut's forked child)
    "skscreen/nn/_settings.py": ["tests/nn/test_settings.py", "tests/nn/test_net_inputs.py"],
    "skscreen/nn/_module_state.py": [
        "tests/nn/test_module_state.py",
        "tests/nn/test_persistence.py",
    ],
    "skscreen/nn/_class_rows.py": [
        "tests/nn/test_class_rows.py",
        "tests/nn/test_callback_statistics.py",
    ],
    "skscreen/nn/_callback_checks.py": [
        "tests/nn/test_callback_checks.py",
        "tests/nn/test_persistence.py",
        "tests/nn/test_early_stopping.py",
    ],
    "skscreen/nn/_reports.py": [  # not test_net.py: see _settings above
        "tests/nn/test_reports.py",
        "tests/pruning/test_selection.py",  # the net-level shortfall tests (moved there)
        "tests/nn/test_callback_statistics.py",
    ],
    "skscreen/nn/_inputs.py": ["tests/nn/test_inputs.py", "tests/nn/test_net_inputs.py"],
    "skscreen/nn/_persistence.py": [
        "tests/nn/test_persistence.py",
        "tests/nn/test_early_stopping.py",
    ],
    "skscreen/nn/_output_watch.py": [
        "tests/nn/test_output_watch.py",
        "tests/nn/test_disconnected_output.py",
    ],
    "skscreen/nn/_labels.py": ["tests/nn/test_labels.py", "tests/nn/test_net_inputs.py"],
    "skscreen/nn/_callbacks.py": ["tests/nn/test_callbacks.py"],  # the CLI tests run it too
    "skscreen/nn/_criterion.py": ["tests/nn/test_criterion.py"],
    "skscreen/nn/_early_stopping.py": ["tests/nn/test_early_stopping.py"],
    "skscreen/nn/__init__.py": ["tests/nn/test_net.py"],
    # --- faces: command lines, data, models, plots
    # the parsers' help: docs/cli.rst shows it (tests/docs/test_cli_reference.py)
    "skscreen/cli.py": ["tests/cli/test_cli_main.py", "tests/docs/test_cli_reference.py", *_CLI],
    "skscreen/_prune_cli.py": [
        "tests/cli/test_prune_cli.py",
        "tests/cli/test_cli_errors.py",
        "tests/docs/test_cli_reference.py",
        "tests/cli/test_prune_options.py",
        "tests/cli/test_cli_interrupt.py",
    ],
    "skscreen/_cli_common.py": [
        "tests/cli/test_cli_common.py",
        "tests/docs/test_cli_reference.py",
        *_CLI,
    ],
    # its unit file (every function on small files, about 10 s) first, no CLI file: they
    # reach io.py only through main (test_prune_cli.py never, and it failed its baseline in
    # the scratch copy), and their bars take tqdm's multiprocessing lock, which a killed
    # child leaves held (tests/conftest.py gives every test a lock of its own)
    "skscreen/io.py": ["tests/io/test_io_units.py", "tests/io/test_io_readers.py"],
    "skscreen/datasets.py": [
        "tests/data/test_datasets.py",
    ],
    "skscreen/models.py": [
        "tests/models/test_models.py",
        "tests/nn/test_net.py",
        "tests/pruning/test_channels.py",
        "tests/pruning/test_pruner.py",
    ],
    "skscreen/plotting.py": ["tests/plotting/test_plotting.py", "tests/cli/test_prune_cli.py"],
    "skscreen/__init__.py": ["tests/test_package.py"],
    "skscreen/_version.py": ["tests/docs/test_examples.py"],
}
# the modules churned least by other work first; the others on request (or --all)
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


# mutmut stops a mutant's tests after (their time + 1 s) x timeout_multiplier (15 by default)
# of wall time; where mutants loop forever (dask's tree reduction with a broken stop test),
# a smaller multiplier keeps each such mutant to minutes (still far above the tests' time)
TIMEOUT_MULTIPLIER = {"skscreen/feature_selection/_dask.py": 4.0}


def _write_config(dest, module, tests):
    tests = [t for t in tests if (dest / t).exists()]
    lines = [
        "[mutmut]",
        f"source_paths={module}",
        f"timeout_multiplier={TIMEOUT_MULTIPLIER.get(module, 15.0)}",
        "also_copy=",
        "    skscreen",
        "    benchmarks",  # tests that load a benchmark script (test_benchmark_runs.py)
        "    docs",  # tests that read the docs (test_cli_reference.py, test_docs_figures.py)
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


# mutmut leaves decorated functions alone; a numba kernel is mutated as the plain Python
# function under its @numba.njit line (removed in the scratch copy only), which is what numba
# compiles: the tests run it through the "numba" path of tests/stats/test_kernels.py
UNDECORATE = {"skscreen/stats/_numba_kernels.py": r"^@numba\.njit\(.*\)\n"}


def run_module(module, tests, workdir, timeout):
    dest = workdir / re.sub(r"[^A-Za-z0-9]+", "_", module)
    _scratch_copy(dest)
    if module in UNDECORATE:
        source = dest / module
        plain = re.sub(UNDECORATE[module], "", source.read_text(), flags=re.M)
        source.write_text(plain.replace("  # pragma: no cover - compiled", ""))
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
    rechecked = _recheck_timeouts(dest, tests, status, env)
    counts = {s: sum(v == s for v in status.values()) for s in STATUSES}
    counts["other"] = len(status) - sum(counts.values())
    survivors = []
    sources = _function_sources(dest / "mutants" / module)
    for name, st in sorted(status.items(), key=lambda kv: _mutant_key(kv[0])):
        if st in ("survived", "no tests"):
            body = _mutant_diff(sources, name.rsplit(".", 1)[-1])
            if body is None:  # not found in the mutants file: ask mutmut (slower)
                diff = _mutmut(["show", name], dest, env).stdout
                body = [ln for ln in diff.splitlines() if ln.startswith(("-", "+"))]
                body = [ln for ln in body if not ln.startswith(("---", "+++"))]
            survivors.append({"mutant": name, "status": st, "diff": body})
    tested = counts["killed"] + counts["survived"] + counts["timeout"] + counts["no tests"]
    # a mutant that hangs the tests in a fresh process too is caught (see _recheck_timeouts)
    killed = counts["killed"] + counts["timeout"]
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
        "timeouts_rechecked": rechecked,
    }
    return summary, survivors


def _pytest_in_mutants(dest, tests, env, mutant, timeout):
    """Exit status of the tests with ``mutant`` active, in a fresh process (None: still running
    after ``timeout`` seconds)."""
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                *tests,
            ],
            cwd=dest / "mutants",
            env=dict(env, MUTANT_UNDER_TEST=mutant),
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    return run.returncode


def _recheck_timeouts(dest, tests, status, env):
    """Run each mutant mutmut timed out again, in a fresh process instead of mutmut's forked
    child, and reclassify it: ``killed`` if its tests fail there, ``survived`` if they pass
    (the timeout came from the fork: a worker pool or lock inherited from mutmut's process,
    as with dask or tqdm), ``timeout`` only if they hang there too (a real infinite loop).
    Returns ``{mutant: new status}``."""
    timed_out = [name for name, st in status.items() if st == "timeout"]
    if not timed_out:
        return {}
    start = time.perf_counter()
    base = _pytest_in_mutants(dest, tests, env, "", timeout=1800)
    limit = max(60.0, 10 * (time.perf_counter() - start))
    out = {}
    for name in timed_out:
        if base != 0:  # the unmutated tests do not pass here: nothing can be concluded
            out[name] = "timeout (not rechecked: the tests fail without a mutant)"
            continue
        code = _pytest_in_mutants(dest, tests, env, name, timeout=limit)
        status[name] = "timeout" if code is None else "survived" if code == 0 else "killed"
        out[name] = status[name]
    return out


def _function_sources(path):
    """``{function name: body lines}`` of every function in mutmut's mutated copy of a module."""
    try:
        text = path.read_text()
        tree = ast.parse(text)
    except (OSError, SyntaxError):
        return {}
    lines = text.splitlines()
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # from the ``def`` line (a mutated default is in the signature), name left out
            body = lines[node.lineno - 1 : node.end_lineno]
            out[node.name] = [body[0].replace(node.name, "<function>", 1), *body[1:]]
    return out


def _mutant_diff(sources, name):
    """The changed lines of mutant ``name`` against the original function (``-``/``+``), or None.

    Computed from the mutants file (one ``mutmut show`` per survivor takes a second or more).
    """
    orig = sources.get(re.sub(r"__mutmut_\d+$", "__mutmut_orig", name))
    mutant = sources.get(name)
    if orig is None or mutant is None:
        return None
    diff = difflib.unified_diff(orig, mutant, lineterm="", n=0)
    return [ln for ln in diff if ln.startswith(("-", "+")) and not ln.startswith(("---", "+++"))]


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


def check_modules():
    """Modules of skscreen/ missing from MODULES, and mapped modules without any test file."""
    present = {p.relative_to(ROOT).as_posix() for p in (ROOT / "skscreen").rglob("*.py")}
    problems = [f"not mapped: {m}" for m in sorted(present - set(MODULES))]
    problems += [f"no such module: {m}" for m in sorted(set(MODULES) - present)]
    for m, tests in MODULES.items():
        if not any((ROOT / t).exists() for t in tests):
            problems.append(f"no existing test file for {m}")
    return problems


def merge_result(path, entry):
    """Replace (or add) ``entry["module"]``'s entry in the results file ``path``.

    The arguments about survivors (``survivors_argued`` and the counts derived from them)
    belong to one run: a new run drops them, to be argued again.
    """
    data = json.loads(path.read_text()) if path.exists() else {"modules": []}
    modules = [m for m in data.get("modules", []) if m.get("module") != entry["module"]]
    modules.append(entry)
    order = {m: i for i, m in enumerate(MODULES)}
    modules.sort(key=lambda m: order.get(m["module"], len(order)))
    data["modules"] = modules
    path.write_text(json.dumps(data, indent=1) + "\n")


def argue(path, module, equivalent, argument):
    """Record the argument about ``module``'s survivors in the results file ``path``.

    ``equivalent`` of the survivors are argued equivalent (``argument`` says why, and what the
    others are); the score over the non-equivalent mutants follows from it.
    """
    data = json.loads(path.read_text())
    (entry,) = [m for m in data["modules"] if m["module"] == module] or [None]
    if entry is None:
        raise SystemExit(f"{module} has no entry in {path}: run it with --merge-into first")
    not_killed = entry["mutants"] - entry["killed"]
    if not 0 <= equivalent <= not_killed:
        raise SystemExit(f"--equivalent must be in [0, {not_killed}] (the mutants not killed)")
    non_equivalent = entry["mutants"] - equivalent
    entry.update(
        equivalent_survivors=equivalent,
        non_equivalent=non_equivalent,
        score_non_equivalent=entry["killed"] / non_equivalent if non_equivalent else 1.0,
        survivors_argued=argument,
    )
    path.write_text(json.dumps(data, indent=1) + "\n")
    return entry


def sync_docs(results, page):
    """Rewrite the score table of ``page`` (docs/testing.rst) from the results file."""
    data = json.loads(results.read_text())
    rows = []
    for m in data["modules"]:
        if "score_non_equivalent" not in m:
            continue  # run but not argued yet: no figure to cite
        rows.append(
            f"   ``{m['module'].removeprefix('skscreen/')}``, {m['mutants']}, {m['killed']}, "
            f"{m['survived']}, {m['no_tests']}, {m['equivalent_survivors']}, "
            f"{100 * m['score_non_equivalent']:.1f} %"
        )
    lines = page.read_text().split("\n")
    head = next(
        i for i, ln in enumerate(lines) if ln.startswith("   :header: module, mutants, killed")
    )
    start = head + 2  # the header line, then one blank line
    end = start
    while end < len(lines) and lines[end].startswith("   ``"):
        end += 1
    lines[start:end] = rows
    page.write_text("\n".join(lines))
    return len(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="*", help="module paths (default: the five least churned)")
    ap.add_argument("--out", default="mutation_out", help="output folder")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per module")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies")
    ap.add_argument("--list", action="store_true", help="list the modules and their tests")
    ap.add_argument("--all", action="store_true", help="every module of skscreen/")
    ap.add_argument(
        "--check",
        action="store_true",
        help="check that MODULES lists every module of skscreen/ with existing test files",
    )
    ap.add_argument(
        "--merge-into",
        metavar="JSON",
        help="also merge each module's result into this file (replacing that module's entry)",
    )
    ap.add_argument(
        "--argue",
        nargs=3,
        metavar=("MODULE", "N_EQUIVALENT", "ARGUMENT"),
        help="record in --merge-into (default benchmarks/results/mutation.json) that "
        "N_EQUIVALENT of MODULE's survivors are equivalent, and the argument for each survivor",
    )
    ap.add_argument(
        "--sync-docs",
        action="store_true",
        help="rewrite docs/testing.rst's score table from --merge-into "
        "(default benchmarks/results/mutation.json)",
    )
    args = ap.parse_args(argv)
    results = Path(args.merge_into or ROOT / "benchmarks" / "results" / "mutation.json")
    if args.argue:
        module, n, argument = args.argue
        entry = argue(results, module, int(n), argument)
        print(f"{module}: {100 * entry['score_non_equivalent']:.1f} % of non-equivalent killed")
        return 0
    if args.sync_docs:
        print(f"{sync_docs(results, ROOT / 'docs' / 'testing.rst')} rows written")
        return 0
    if args.list:
        for m, t in MODULES.items():
            tests = " ".join(f"{x}{'' if (ROOT / x).exists() else ' (missing)'}" for x in t)
            print(f"{m}{' (default)' if m in DEFAULT else ''}: {tests}")
        return 0
    if args.check:
        problems = check_modules()
        print("\n".join(problems) or f"all {len(MODULES)} modules of skscreen/ mapped")
        return 1 if problems else 0
    modules = list(MODULES) if args.all else (args.modules or DEFAULT)
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
            if args.merge_into:
                merge_result(Path(args.merge_into), dict(summary, provenance=_provenance()))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"scratch copies kept in {workdir}")
    print(f"wrote {out / 'mutation.json'} and {out / 'mutation_survivors.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
