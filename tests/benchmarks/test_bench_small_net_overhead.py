"""benchmarks/bench_small_net_overhead.py: the bootstrap interval behind its "target" column."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_small_net_overhead", ROOT / "benchmarks" / "bench_small_net_overhead.py"
        )
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return mod


def test_the_interval_holds_the_median_and_narrows_with_more_rounds(bench):
    rng = np.random.default_rng(3)
    few, many = rng.normal(1.1, 0.05, 9), rng.normal(1.1, 0.05, 400)
    lo, hi = bench.median_interval(few)
    assert lo <= np.median(few) <= hi
    lo2, hi2 = bench.median_interval(many)
    assert lo2 <= np.median(many) <= hi2
    assert hi2 - lo2 < (hi - lo) / 3
    assert lo2 < 1.1 < hi2  # the true median, with 400 rounds


def test_the_interval_of_a_constant_is_that_constant(bench):
    assert bench.median_interval([1.07] * 5) == (1.07, 1.07)


def test_the_interval_is_the_bootstrap_percentiles_of_the_median(bench):
    values = np.array([1.0, 1.5, 1.1, 1.3, 1.2, 1.25, 1.05])
    rng = np.random.default_rng(0)
    boot = np.median(rng.choice(values, size=(10_000, 7)), axis=1)
    want = np.quantile(boot, [0.025, 0.975])
    np.testing.assert_allclose(bench.median_interval(values), want)
