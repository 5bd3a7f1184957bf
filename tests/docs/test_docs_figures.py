"""The figures quoted in docs/benchmarks.rst are those of the committed result JSON files.

Each check formats a number from ``benchmarks/results/<name>.json`` the way the docs print
it and looks for it in the docs' section about that benchmark (in the table row of the same
method), so a re-run benchmark whose docs were not updated fails here. And (issue 20) every
``benchmarks/results/*.json`` carries a provenance block from a commit at or after the
redesign and is cited in docs/, README.md or a benchmark script.
"""

import csv
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.rst"
RESULTS = ROOT / "benchmarks" / "results"


def _load(name):
    path = RESULTS / f"{name}.json"
    if not path.exists():  # pragma: no cover - results are committed
        pytest.skip(f"{path} missing")
    return json.loads(path.read_text())


def _section(title):
    """Text of the docs section whose title line is ``title`` (up to the next section)."""
    lines = DOC.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == title and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            end = len(lines)
            for j in range(i + 2, len(lines) - 1):
                if lines[j + 1].strip() and set(lines[j + 1].strip()) == {"-"} and lines[j]:
                    if len(lines[j + 1].strip()) >= len(lines[j].strip()):
                        end = j
                        break
            return "\n".join(lines[i:end])
    raise AssertionError(f"no section {title!r} in {DOC}")


def _rows(text):
    """csv-table rows of ``text`` as lists of cleaned fields."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith((":", "..")) or "," not in stripped:
            continue
        fields = next(csv.reader([stripped], skipinitialspace=True))
        out.append([f.strip().strip("*").strip() for f in fields])
    return out


def _row_with(text, *values):
    """The first table row that holds every one of ``values`` (formatted strings).

    A value that is a whole number (``"1.00"``) also matches the docs' ``"1"``.
    """

    def found(v, row):
        if v in row:
            return True
        try:
            return float(v) == int(float(v)) and str(int(float(v))) in row
        except ValueError:
            return False

    for row in _rows(text):
        if all(found(v, row) for v in values):
            return row
    raise AssertionError(f"no table row with {values} in:\n{text[:2000]}")


def test_training_overhead_and_compaction_figures():
    res = _load("training_overhead")
    text = _section("Training overhead and compaction (ScreeningPrunedNet)")
    for r in res["epoch_times"]:
        _row_with(text, f"{r['median epoch s']:.3f}", f"{r['ratio vs plain']:.2f}")
    masked, compact = res["compaction"]
    flat = " ".join(text.split())
    assert f"{masked['parameters']:,} -> {compact['parameters']:,} parameters" in flat
    assert f"{masked['ms / batch 256']:.2f} -> {compact['ms / batch 256']:.2f} ms" in flat


def test_streaming_memory_figures():
    text = _section("Streaming memory")
    for r in _load("streaming_memory")["rows"]:
        _row_with(text, f"{r['rows']:,}", f"{r['above baseline MB']:.1f}", f"{r['MB/s']:.0f}")


def test_dask_figures():
    res = _load("dask_loaded_machine")
    text = _section("Dask")
    for r in res["rows"][:2]:
        _row_with(text, f"{r['seconds']:.1f}", f"{r['speedup vs 1 worker']:.2f}")
    flat = " ".join(text.split())
    assert f"{res['max_rel_diff_vs_partial_fit']:.1e}" in flat
    assert f"{res['max_rel_diff_vs_f_classif']:.1e} relative in a re-run" in flat
    assert f"{res['rows'][1]['speedup vs 1 worker']:.2f}x with two workers" in flat


def test_seed_methods_table():
    text = _section("The further seed methods on MNIST")
    for r in _load("seed_methods")["summary"]:
        _row_with(
            text,
            f"{r['test err % mean']:.2f}",
            f"{r['std']:.2f}",
            f"{r['val err % mean']:.2f}",
            f"{r['weights kept']:,}",
        )
    # its magnitude reference at 95.7 % comes from the reduced Table 1 run (same protocol)
    t1 = _load("table1_reduced")
    ref = next(
        r for r in t1["summary"] if r["method"] == "magnitude [global]" and r["sparsity"] == 0.957
    )
    seeds = _load("seed_methods")["protocol"]["seeds"]
    per_seed = [
        f"{r['test_error']:.2f}"
        for seed in seeds
        for r in t1["runs"]
        if r["method"] == "magnitude"
        and r.get("normalize_scope") == "global"
        and r["sparsity"] == 0.957
        and r["seed"] == seed
        and r.get("reading") in (None, "input")
    ]
    flat = " ".join(text.split())
    assert f"{ref['test err % mean']:.2f} ± {ref['std']:.2f} %" in flat
    assert f"{' and '.join(per_seed)} % on seeds {' and '.join(map(str, seeds))}" in flat


def test_mutation_scores_in_docs_testing():
    text = (ROOT / "docs" / "testing.rst").read_text()
    for m in _load("mutation")["modules"]:
        short = m["module"].removeprefix("skscreen/")
        row = _row_with(
            text,
            f"``{short}``",
            str(m["mutants"]),
            str(m["killed"]),
            str(m["survived"]),
            str(m["equivalent_survivors"]),
            f"{100 * m['score_non_equivalent']:.1f} %",
        )
        assert row


def test_table1_reduced_table():
    text = _section("Table 1 with normalisation scopes and LAMP (reduced protocol)")
    for r in _load("table1_reduced")["summary"]:
        _row_with(
            text,
            r["method"],
            str(r["sparsity"]),
            f"{r['test err % mean']:.2f}",
            f"{r['std']:.2f}",
            f"{r['val err % mean']:.2f}",
        )


@pytest.mark.parametrize("name", ["cls_full_fashion", "cls_full_mnist"])
def test_full_data_channel_tables(name):
    text = _section("Channel-level screening (CLS) vs network slimming, CPU")
    res = _load(name)
    for r in res["summary"]:
        _row_with(text, r["method"], f"{r['test err %']:.2f}", f"{r['std']:.2f}")
    for p in res["paired"]:
        _row_with(text, p["scope"], f"{p['CLS - slimming pp']:+.2f}", p["CLS lower"])


def test_default_settings_table():
    text = _section("Default settings (issue 18)")
    names = {"resnet-bn": "residual BN CNN", "vgg-bn": "VGG-BN"}
    res = _load("defaults_channels")
    for r in res["summary"]:
        _row_with(
            text,
            names[r["arch"]],
            f"{r['alpha']:g}",
            r["normalize_scope"],
            f"{r['val_acc']:.3f}",
            f"{r['val_min']:.3f}",
            f"{r['test_acc']:.3f}",
        )
    assert set(res["chosen_on_validation"].values()) == {"layer"}


def test_small_net_overhead_table():
    text = _section("Training overhead and compaction (ScreeningPrunedNet)")
    for r in _load("small_net_overhead")["rows"]:
        _row_with(
            text,
            r["setting"],
            r["net"],
            f"{r['median s']:.3f}",
            f"{r['ratio']:.2f}",
            f"{r['ratio of medians']:.2f}",
            str(r["rounds on numba"]),
        )


def test_cold_start_table():
    text = _section("Cold start (issue 19)")
    for r in _load("cold_start")["table"]:
        _row_with(
            text,
            r["data"],
            f"{r['first fit ms (median)']:.1f}",
            f"{r['peak memory growth MB (median)']:.1f}",
        )


def test_channel_speed_and_size_ranges():
    text = _section("Channel-level screening (CLS) vs network slimming, CPU")
    runs = [
        r
        for ds in ("fashion", "mnist")
        for seed in range(3)
        for r in _load(f"cls_full_{ds}_s{seed}")["summary"]
        if r["method"] != "dense"
    ]
    for scope in ("layer", "global"):
        for ratio in (0.5, 0.7):
            rows = [r for r in runs if r["ratio"] == ratio and r["method"].endswith(f"[{scope}]")]
            speed = [r["speedup b256"] for r in rows]
            size = [r["params /"] for r in rows]
            _row_with(
                text,
                scope,
                str(ratio),
                f"{min(speed):.1f}-{max(speed):.1f}",
                f"{sum(s >= 2.5 for s in speed)} of {len(rows)}",
                f"{min(size):.1f}-{max(size):.1f}",
                f"{sum(s >= 4 for s in size)} of {len(rows)}",
            )


# Issue 20: every result file carries its provenance, from a commit at or after the redesign
# (pruning as a skorch callback: the first commit with skscreen/nn/_pruning.py), and is cited.
REDESIGN = "9e00238"
RESULT_FILES = sorted(p.stem for p in RESULTS.glob("*.json"))


def _provenances(name, data):
    if name == "mutation":  # one block per module: each module ran at its own commit
        return [m.get("provenance") for m in data["modules"]]
    return [data.get("provenance")]


def _git(*args):
    import subprocess

    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    except OSError:  # pragma: no cover - no git
        return None


@pytest.mark.parametrize("name", RESULT_FILES)
def test_result_file_has_provenance_after_the_redesign(name):
    data = _load(name)
    blocks = _provenances(name, data)
    assert blocks and all(isinstance(b, dict) and b.get("git_commit") for b in blocks), (
        f"results/{name}.json has no provenance block (benchmarks/_common.py: provenance()): "
        "rerun it or retire it"
    )
    # mutation.json's per-module blocks (tools/run_mutation.py) name mutmut, not the libraries
    needed = {"git_dirty", "command"} | ({"mutmut"} if name == "mutation" else {"versions"})
    for b in blocks:
        assert needed <= set(b), f"{name}: incomplete provenance {sorted(b)}"
    known = _git("cat-file", "-e", f"{REDESIGN}^{{commit}}")
    if known is None or known.returncode != 0:
        pytest.skip("no git history here to date the provenance commits")
    for b in blocks:
        if _git("cat-file", "-e", f"{b['git_commit']}^{{commit}}").returncode != 0:
            pytest.skip(f"commit {b['git_commit']} not in this clone")
        res = _git("merge-base", "--is-ancestor", REDESIGN, b["git_commit"])
        assert res.returncode == 0, (
            f"results/{name}.json: commit {b['git_commit']} predates the redesign"
        )


def _citing_text():
    files = [*sorted((ROOT / "docs").rglob("*.rst")), ROOT / "README.md"]
    files += sorted((ROOT / "benchmarks").glob("*.py"))
    return "\n".join(p.read_text() for p in files)


def _cited(filename, text):
    if filename in text:
        return True
    import fnmatch
    import re

    # a glob the docs name, such as cls_full_fashion_s*.json (at least 3 literal characters first)
    patterns = set(re.findall(r"[\w.-]{3,}\*[\w.*-]*\.json", text))
    return any(fnmatch.fnmatchcase(filename, pat) for pat in patterns)


def test_every_result_file_is_cited():
    text = _citing_text()
    uncited = [f"{n}.json" for n in RESULT_FILES if not _cited(f"{n}.json", text)]
    assert not uncited, f"cited nowhere in docs/, README.md or benchmarks/*.py: {uncited}"


def test_every_other_result_file_belongs_to_a_json():
    # companions (<name>.txt, <name>_kept.png, <name>_runs.jsonl, ...) go with their JSON
    orphans = [
        p.name
        for p in sorted(RESULTS.iterdir())
        if p.suffix != ".json" and not any(p.name.startswith(n) for n in RESULT_FILES)
    ]
    assert not orphans, f"result files without their JSON: {orphans}"
