"""benchmarks/merge_channels.py: per-seed channel results merged with paired comparisons."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location(
        "merge_channels", ROOT / "benchmarks" / "merge_channels.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _payload(seed, dense, errors, alpha=0.5):
    runs = [{"method": "dense", "seed": seed, "ratio": 0.0, "alpha": None, "test_error": dense}]
    for key, err in errors.items():
        method, ratio = key[:2]
        runs.append(
            {
                "method": method,
                "seed": seed,
                "ratio": ratio,
                "alpha": 0.0
                if method.startswith("slimming")
                else (key[2] if len(key) > 2 else alpha),
                "test_error": err,
                "param_reduction": 2.0 + seed,
                "mac_reduction": 3.0,
            }
        )
    return {"args": {}, "runs": runs}


def test_paired_difference_is_per_seed_and_per_scope():
    merge = _module().merge
    p0 = _payload(
        0,
        10.0,
        {
            ("slimming [layer]", 0.5): 11.0,
            ("CLS [layer]", 0.5): 10.5,
            ("slimming [global]", 0.5): 13.0,
            ("CLS [global]", 0.5): 14.0,
        },
    )
    p1 = _payload(
        1,
        12.0,
        {
            ("slimming [layer]", 0.5): 12.0,
            ("CLS [layer]", 0.5): 12.5,
            ("slimming [global]", 0.5): 13.0,
            ("CLS [global]", 0.5): 15.0,
            ("CLS [layer]", 0.7): 14.0,  # seed 1 only
        },
    )
    rows, paired, per_seed = merge([p0, p1])
    by = {(r["method"], r["ratio"]): r for r in rows}
    assert by[("dense", 0.0)]["test err %"] == pytest.approx(11.0)
    assert by[("CLS [layer]", 0.5)]["test err %"] == pytest.approx(11.5)
    # vs dense is paired too: (10.5 - 10 + 12.5 - 12) / 2
    assert by[("CLS [layer]", 0.5)]["vs dense pp"] == pytest.approx(0.5)
    assert by[("CLS [layer]", 0.5)]["params /"] == pytest.approx(2.5)
    # a row missing a seed is compared with the dense net of its own seeds (14 - 12)
    assert by[("CLS [layer]", 0.7)]["vs dense pp"] == pytest.approx(2.0)
    assert by[("CLS [layer]", 0.7)]["seeds"] == 1
    pr = {p["scope"]: p for p in paired if p["ratio"] == 0.5}
    assert [p["ratio"] for p in paired] == [0.5, 0.5]  # no slimming at 0.7: no pair
    # layer: -0.5 on seed 0, +0.5 on seed 1 -> mean 0, CLS lower on one seed
    assert pr["layer"]["CLS - slimming pp"] == pytest.approx(0.0)
    assert pr["layer"]["CLS lower"] == "1/2"
    # global: +1, +2 -> never lower; never compares CLS [global] with slimming [layer]
    assert pr["global"]["CLS - slimming pp"] == pytest.approx(1.5)
    assert pr["global"]["std"] == pytest.approx(0.7071, abs=1e-4)
    assert pr["global"]["CLS lower"] == "0/2"
    assert per_seed[0] == {
        "method": "dense",
        "ratio": 0.0,
        "alpha": "",
        "seed 0": 10.0,
        "seed 1": 12.0,
    }


def test_a_seed_in_two_files_is_refused():
    merge = _module().merge
    p = _payload(0, 10.0, {("slimming", 0.5): 11.0, ("CLS", 0.5): 10.0})
    with pytest.raises(ValueError, match="exactly one input file"):
        merge([p, json.loads(json.dumps(p))])
    # two dense rows of seed 0 and none of seed 1 (same counts) is refused too
    q = _payload(1, 10.0, {("slimming", 0.5): 11.0})
    q["runs"] = q["runs"][1:]
    with pytest.raises(ValueError, match="exactly one input file"):
        merge([p, json.loads(json.dumps(p)), q])


def test_files_with_different_settings_are_refused():
    merge = _module().merge
    p0 = _payload(0, 10.0, {("slimming", 0.5): 11.0})
    p1 = _payload(1, 10.0, {("slimming", 0.5): 11.0})
    p0["args"], p1["args"] = {"epochs": 12, "seeds": [0]}, {"epochs": 8, "seeds": [1]}
    with pytest.raises(ValueError, match="different settings"):
        merge([p0, p1])
    p1["args"]["epochs"] = 12  # only the seeds differ: fine
    merge([p0, p1])


def test_each_cls_alpha_is_paired_with_slimming_on_its_own():
    merge = _module().merge
    p = _payload(
        0,
        10.0,
        {
            ("slimming [layer]", 0.5): 11.0,
            ("CLS [layer]", 0.5, 0.25): 12.0,
            ("CLS [layer]", 0.5, 0.5): 10.0,
        },
    )
    rows, paired, per_seed = merge([p])
    assert [(r["CLS alpha"], r["CLS - slimming pp"]) for r in paired] == [(0.25, 1.0), (0.5, -1.0)]
    cls_rows = [(r["alpha"], r["test err %"]) for r in rows if r["method"] == "CLS [layer]"]
    assert cls_rows == [(0.25, 12.0), (0.5, 10.0)]
    assert [(r["alpha"], r["seed 0"]) for r in per_seed if r["method"] == "CLS [layer]"] == [
        (0.25, 12.0),
        (0.5, 10.0),
    ]


def test_budget_scope_rows_without_a_normalisation_suffix():
    merge = _module().merge
    p = _payload(3, 9.0, {("slimming", 0.7): 12.0, ("CLS", 0.7): 11.0})
    _, paired, _ = merge([p])
    assert paired == [
        {
            "ratio": 0.7,
            "scope": "(budget scope)",
            "CLS alpha": 0.5,
            "pairs": 1,
            "CLS - slimming pp": pytest.approx(-1.0),
            "std": 0.0,
            "CLS lower": "1/1",
        }
    ]
