"""benchmarks/merge_channels.py: per-seed channel results merged with paired comparisons."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location(
        "merge_channels", ROOT / "benchmarks" / "merge_channels.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _payload(seed, dense, errors):
    runs = [{"method": "dense", "seed": seed, "ratio": 0.0, "alpha": None, "test_error": dense}]
    for (method, ratio), err in errors.items():
        runs.append(
            {
                "method": method,
                "seed": seed,
                "ratio": ratio,
                "alpha": 0.0 if method.startswith("slimming") else 0.5,
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
    assert per_seed[0] == {"method": "dense", "ratio": 0.0, "seed 0": 10.0, "seed 1": 12.0}


def test_a_seed_in_two_files_is_refused():
    merge = _module().merge
    p = _payload(0, 10.0, {("slimming", 0.5): 11.0, ("CLS", 0.5): 10.0})
    with pytest.raises(ValueError, match="exactly one input file"):
        merge([p, json.loads(json.dumps(p))])


def test_budget_scope_rows_without_a_normalisation_suffix():
    merge = _module().merge
    p = _payload(3, 9.0, {("slimming", 0.7): 12.0, ("CLS", 0.7): 11.0})
    _, paired, _ = merge([p])
    assert paired == [
        {
            "ratio": 0.7,
            "scope": "(budget scope)",
            "pairs": 1,
            "CLS - slimming pp": pytest.approx(-1.0),
            "std": 0.0,
            "CLS lower": "1/1",
        }
    ]
