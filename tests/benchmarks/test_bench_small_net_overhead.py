"""benchmarks/bench_small_net_overhead.py: the interval of the median behind its "target"."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

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


def test_25_rounds_give_the_8th_and_18th_of_the_sorted_ratios(bench):
    values = np.random.default_rng(0).permutation(np.arange(1.0, 26.0))
    lo, hi, cover = bench.median_interval(values)
    assert (lo, hi) == (8.0, 18.0)
    assert cover == pytest.approx(1 - 2 * binom.cdf(7, 25, 0.5))  # 0.957
    assert cover >= 0.95 > 1 - 2 * binom.cdf(8, 25, 0.5)  # the 9th would fall short


def test_too_few_rounds_give_the_range_and_say_its_lower_coverage(bench):
    assert bench.median_interval([1.2, 1.0, 1.1]) == (1.0, 1.2, 0.75)
    assert bench.median_interval([1.0, 1.1, 1.2, 1.3, 1.4, 1.5])[2] == pytest.approx(1 - 2 / 64)


def test_the_coverage_is_what_it_says_on_skewed_samples(bench):
    rng = np.random.default_rng(1)
    true_median = np.log(2)  # of the exponential distribution
    held = [lo <= true_median <= hi for lo, hi, _ in
            (bench.median_interval(rng.exponential(size=15)) for _ in range(4000))]
    want = bench.median_interval(np.arange(15.0))[2]
    assert abs(np.mean(held) - want) < 0.015
