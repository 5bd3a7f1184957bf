"""anova_f_scores: F in the state's own array type (numpy, or torch where the state lives), the
same values as anova_f, degenerate features included (constant: nan; constant within classes
but separating: inf); and input_f_scores' mapping of both for ranking."""

import numpy as np
import pytest
from sklearn.feature_selection import f_classif

from skscreen.stats import ClassMoments, anova_f, anova_f_scores

torch = pytest.importorskip("torch")


def _degenerate_data(seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(90) % 3
    X = rng.normal(size=(90, 5)) + 1e4  # an offset: centred moments keep the digits
    X[:, 1] = 7.0  # constant: nan
    X[:, 2] = y * 2.0  # constant within each class, separating: inf
    X[:, 3] += 0.5 * y
    return X, y


def test_torch_and_numpy_states_give_the_same_f_in_their_own_type():
    X, y = _degenerate_data()
    ref = ClassMoments().update(X, y)
    tm = ClassMoments().update(torch.as_tensor(X), torch.as_tensor(y), n_classes=3)
    f_np = anova_f_scores(ref)
    f_t = anova_f_scores(tm)
    assert isinstance(f_np, np.ndarray)
    assert torch.is_tensor(f_t) and f_t.dtype == torch.float64 and f_t.device == tm.count_.device
    np.testing.assert_allclose(f_t.numpy(), f_np, rtol=1e-10)
    assert np.isnan(f_np[1]) and np.isinf(f_np[2])
    np.testing.assert_allclose(f_np, anova_f(ref, warn_constant=False)[0], rtol=0)
    centred = X - X.mean(0)  # f_classif's one-pass sums lose 7 digits at this offset
    keep = [0, 3, 4]
    np.testing.assert_allclose(f_np[keep], f_classif(centred, y)[0][keep], rtol=1e-10)


def test_anova_f_of_a_torch_state_is_numpy_with_p_values():
    X, y = _degenerate_data(1)
    tm = ClassMoments().update(torch.as_tensor(X), torch.as_tensor(y), n_classes=3)
    with pytest.warns(UserWarning, match=r"Features \[1\] are constant"):
        f, p = anova_f(tm)
    assert isinstance(f, np.ndarray) and isinstance(p, np.ndarray)
    ref_f, ref_p = f_classif(X - X.mean(0), y)
    np.testing.assert_allclose(f[[0, 3, 4]], ref_f[[0, 3, 4]], rtol=1e-10)
    np.testing.assert_allclose(p[[0, 3, 4]], ref_p[[0, 3, 4]], rtol=1e-8)
    assert p[2] == 0.0 and np.isnan(p[1])


@pytest.mark.parametrize("make", ["numpy", "torch"])
def test_too_few_classes_or_samples_are_refused_on_both_types(make):
    def state(X, y):
        if make == "numpy":
            return ClassMoments().update(X, y)
        return ClassMoments().update(torch.as_tensor(X), torch.as_tensor(y), n_classes=2)

    with pytest.raises(ValueError, match="at least 2 classes; got 1"):
        anova_f_scores(state(np.ones((3, 2)), np.zeros(3, dtype=int)))
    with pytest.raises(ValueError, match=r"more samples \(2\) than classes \(2\)"):
        anova_f_scores(state(np.array([[0.0], [1.0]]), np.array([0, 1])))
    with pytest.raises(ValueError, match="No samples"):
        anova_f_scores(ClassMoments())


def test_input_f_scores_rank_constant_last_and_separating_first():
    from skscreen.pruning.scorers import input_f_scores

    X, y = _degenerate_data(2)
    for m in (
        ClassMoments().update(X, y),
        ClassMoments().update(torch.as_tensor(X), torch.as_tensor(y), n_classes=3),
    ):
        s = input_f_scores(m, "cpu")
        f = anova_f_scores(ClassMoments().update(X, y))
        assert s.dtype == torch.float64
        assert s[1] == 0.0  # constant: no evidence
        top = max(np.nanmax(np.where(np.isinf(f), np.nan, f)), 1.0)
        assert s[2] == pytest.approx(2.0 * top)  # separating: above every finite F
        np.testing.assert_allclose(s[[0, 3, 4]].numpy(), f[[0, 3, 4]], rtol=1e-10)
