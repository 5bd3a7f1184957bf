"""Schedules against their formulas (method notes section 4)."""

import math

import numpy as np
import pytest

from skscreen.pruning.schedules import (
    CubicSchedule,
    FSASchedule,
    LogisticSchedule,
    OneShotSchedule,
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
