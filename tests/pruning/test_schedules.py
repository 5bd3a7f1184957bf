"""Schedules: their formulas (method notes section 4), documented defaults, parameter checks
and value semantics (numpy only)."""

import math

import numpy as np
import pytest

from skscreen.pruning.schedules import (
    CubicSchedule,
    FSASchedule,
    LogisticSchedule,
    OneShotSchedule,
    Schedule,
    make_schedule,
)


def test_logistic_formula():
    a, c, E, s = 10.0, 0.5, 8, 0.9
    g = lambda u: 1 / (1 + math.exp(a * (u - c)))  # noqa: E731
    sim = LogisticSchedule(a, c).simulate(12, sparsity=s, prune_epochs=E)
    for e in range(1, E):
        gh = (g(e / E) - g(1)) / (g(0) - g(1))
        assert sim[e] == pytest.approx(s * (1 - gh), rel=1e-12)
    assert sim[0] == 0 and np.all(sim[E:] == s)


def test_fsa_formula_and_mu_zero_is_linear():
    mu, E, s = 50.0, 10, 0.8
    sim = FSASchedule(mu).simulate(E, sparsity=s, prune_epochs=E)
    N = 2 * E
    for e in range(1, E):
        r = max(0.0, (N - 2 * e) / (2 * e * mu + N))
        assert sim[e] == pytest.approx(s * (1 - r), rel=1e-12)
    lin = FSASchedule(0).simulate(E, sparsity=1.0, prune_epochs=E)
    np.testing.assert_allclose(lin, np.arange(E + 1) / E)


def test_cubic_formula():
    E, s = 6, 0.95
    sim = CubicSchedule().simulate(E, sparsity=s, prune_epochs=E)
    np.testing.assert_allclose(sim, [s + (0 - s) * (1 - e / E) ** 3 for e in range(E + 1)])


def test_one_shot_prunes_at_the_end_of_the_pruning_epochs():
    np.testing.assert_array_equal(OneShotSchedule().simulate(5, 0.7, 3), [0, 0, 0, 0.7, 0.7, 0.7])
    np.testing.assert_array_equal(OneShotSchedule().simulate(2, 0.7, 1), [0, 0.7, 0.7])


@pytest.mark.parametrize("name", ["logistic", "fsa", "cubic", "one-shot"])
def test_monotone_and_reaches_target(name):
    sim = make_schedule(name).simulate(20, sparsity=0.9, prune_epochs=15)
    assert np.all(np.diff(sim) >= -1e-15) and sim[15] == 0.9


def test_keep_counts_and_errors():
    sch = LogisticSchedule()
    assert sch.n_keep(0, 1000, 0.9, 5) == 1000
    assert sch.n_keep(5, 1000, 0.9, 5) == 100
    with pytest.raises(ValueError, match="Unknown schedule"):
        make_schedule("exponential")
    with pytest.raises(ValueError, match="mu"):
        FSASchedule(-1)


# ---------------------------------------------------------------- defaults, checks, values
def test_documented_defaults():
    assert vars(LogisticSchedule()) == {"a": 10.0, "c": 0.5}
    assert vars(FSASchedule()) == {"mu": 100.0}
    assert vars(CubicSchedule()) == {"power": 3.0}
    # the module docstring's example, from the formula with a = 10, c = 0.5
    g = lambda u: 1 / (1 + math.exp(10 * (u - 0.5)))  # noqa: E731
    expected = [0.9 * (1 - (g(e / 4) - g(1)) / (g(0) - g(1))) for e in range(4)] + [0.9] * 3
    np.testing.assert_allclose(LogisticSchedule().simulate(6, 0.9, 4), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "factory,bad,good,match",
    [
        (LogisticSchedule, {"a": 0.0}, {"a": 0.5}, "a must be positive, got 0.0"),
        (CubicSchedule, {"power": 0.0}, {"power": 0.5}, "power must be positive, got 0.0"),
        (FSASchedule, {"mu": -0.5}, {"mu": 0.0}, "mu must be non-negative, got -0.5"),
    ],
)
def test_parameter_bounds(factory, bad, good, match):
    with pytest.raises(ValueError, match=match):
        factory(**bad)
    sim = factory(**good).simulate(8, sparsity=0.5, prune_epochs=8)  # allowed, and monotone
    assert sim[0] == 0.0 and sim[-1] == 0.5 and np.all(np.diff(sim) >= 0)


def test_cubic_power_one_half_is_the_formula():
    sim = CubicSchedule(0.5).simulate(4, sparsity=0.8, prune_epochs=4)
    np.testing.assert_allclose(sim, [0.8 * (1 - (1 - e / 4) ** 0.5) for e in range(5)])


def test_value_semantics_repr_eq_hash():
    a, b = LogisticSchedule(5, 0.3), LogisticSchedule(5.0, 0.3)
    assert a == b and hash(a) == hash(b)
    assert a != LogisticSchedule(5, 0.4) and a != FSASchedule() and a != "logistic"
    assert FSASchedule(0) != CubicSchedule(3.0)  # different types never equal
    assert repr(a) == "LogisticSchedule(a=5.0, c=0.3)"
    assert repr(OneShotSchedule()) == "OneShotSchedule()"
    assert len({LogisticSchedule(), LogisticSchedule(), FSASchedule()}) == 2
    assert hash(FSASchedule(1.0)) != hash(FSASchedule(2.0))


def test_make_schedule_passes_objects_through_and_rejects_the_rest():
    s = FSASchedule(3.0)
    assert make_schedule(s) is s
    assert make_schedule("one-shot") == OneShotSchedule()
    with pytest.raises(ValueError, match="Unknown schedule 3"):
        make_schedule(3)


class _Constant(Schedule):
    """A schedule whose remaining fraction is a fixed number (possibly out of range)."""

    def __init__(self, r):
        self.r = r

    def remaining(self, epoch, prune_epochs):
        return self.r


def test_sparsity_at_bounds_any_schedule():
    # epoch 0 is dense and epoch >= E the target, whatever remaining() says; in between
    # remaining() is clipped to [0, 1]
    for r in (-0.5, 0.25, 1.7):
        s = _Constant(r)
        assert s.sparsity_at(0, 0.8, 4) == 0.0
        assert s.sparsity_at(4, 0.8, 4) == 0.8 and s.sparsity_at(9, 0.8, 4) == 0.8
        assert s.sparsity_at(2, 0.8, 4) == pytest.approx(0.8 * (1 - min(max(r, 0.0), 1.0)))


def test_simulate_defaults_full_sparsity_over_all_epochs():
    np.testing.assert_allclose(CubicSchedule(1.0).simulate(4), [0, 0.25, 0.5, 0.75, 1.0])


def test_schedules_import_without_torch():
    # skscreen.pruning loads its torch parts on first use: the schedules stay numpy-only
    import subprocess
    import sys

    code = "import sys, skscreen.pruning.schedules; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
