"""``ClassMoments.reset()``: back to the state as constructed (torch-free).

The truth is a fresh ``ClassMoments`` built with the same arguments and fed the same data:
after ``reset`` every fitted attribute (classes, counts, means, M2, shift, scale) must equal
that fresh state's, and the F statistic that of ``f_classif`` on the new data alone.
"""

import numpy as np
import pytest
from sklearn.feature_selection import f_classif

from skscreen.stats import ClassMoments, anova_f

_FITTED = ("count_", "mean_", "m2_", "shift_", "scale_")


def _assert_same_state(got, want):
    if want.classes_ is None:
        assert got.classes_ is None
    else:
        np.testing.assert_array_equal(got.classes_, want.classes_)
    for name in _FITTED:
        a, b = getattr(got, name), getattr(want, name)
        if b is None:
            assert a is None, name
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


def _chunk(seed, n=80, p=3, offset=0.0, classes=(0, 1, 2)):
    rng = np.random.default_rng(seed)
    y = np.asarray(classes)[np.arange(n) % len(classes)]
    X = offset + rng.normal(size=(n, p)) + 0.5 * y[:, None]
    return X, y


def test_reset_forgets_everything_seen():
    old_X, old_y = _chunk(0, p=5, offset=1e3, classes=(3, 7, 9))
    m = ClassMoments().update(old_X, old_y)
    assert m.reset() is m
    assert m.n_samples == 0 and m.n_features is None
    _assert_same_state(m, ClassMoments())
    # new data of another width and other labels: accepted, and nothing of the old leaks in
    X, y = _chunk(1, p=3, classes=(0, 1))
    m.update(X, y)
    _assert_same_state(m, ClassMoments().update(X, y))
    np.testing.assert_array_equal(m.shift_, X[0])  # the shift is taken from the new data
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


def test_reset_drops_the_per_feature_scale():
    # values whose squares overflow float64 get a power-of-two scale; after reset, ordinary
    # data must be accumulated in units of 1 again
    X_big, y = _chunk(2, offset=0.0)
    m = ClassMoments().update(X_big * 1e200, y)
    assert m.scale_ is not None
    m.reset()
    assert m.scale_ is None
    X, y = _chunk(3)
    m.update(X, y)
    _assert_same_state(m, ClassMoments().update(X, y))
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


def test_reset_keeps_given_classes_and_their_strictness():
    X, y = _chunk(4)
    m = ClassMoments(classes=[0, 1, 2]).update(X, y)
    m.reset()
    np.testing.assert_array_equal(m.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match=r"labels \[5\] that are not in classes"):
        m.update(X[:3], np.array([0, 1, 5]))
    # a chunk without class 2 still gives a three-row state, like a fresh one
    X2, y2 = _chunk(5, classes=(0, 1))
    m.update(X2, y2)
    _assert_same_state(m, ClassMoments(classes=[0, 1, 2]).update(X2, y2))
    assert m.count_.tolist() == [40.0, 40.0, 0.0]
    # a numpy() copy remembers the given classes too
    copy = ClassMoments(classes=[0, 1, 2]).update(X2, y2).numpy()
    np.testing.assert_array_equal(copy.reset().classes_, [0, 1, 2])


def test_reset_keeps_given_classes_when_not_strict():
    # classes given but new labels allowed: reset returns to the given classes (not to none)
    X, y = _chunk(6, classes=(0, 1, 2, 4))
    m = ClassMoments(classes=[0, 1, 2], strict_classes=False).update(X, y)
    np.testing.assert_array_equal(m.classes_, [0, 1, 2, 4])
    m.reset()
    np.testing.assert_array_equal(m.classes_, [0, 1, 2])
    X2, y2 = _chunk(7, classes=(0, 1))
    m.update(X2, y2)
    _assert_same_state(m, ClassMoments(classes=[0, 1, 2], strict_classes=False).update(X2, y2))


def test_reset_forgets_classes_learned_under_strict_classes():
    # strict without classes: the first data fixes the class set; after reset, new data does
    X, y = _chunk(8, classes=(0, 1))
    m = ClassMoments(strict_classes=True).update(X, y)
    m.reset()
    assert m.classes_ is None
    X2, y2 = _chunk(9, classes=(5, 6, 7))
    m.update(X2, y2)
    _assert_same_state(m, ClassMoments(strict_classes=True).update(X2, y2))
    with pytest.raises(ValueError, match="not in classes"):
        m.update(X[:2], np.array([0, 5]))


def test_reset_of_a_merged_state_and_of_a_copy():
    X, y = _chunk(10)
    a = ClassMoments().update(X[:40], y[:40])
    b = ClassMoments().update(X[40:], y[40:])
    a.merge(b)
    snapshot = a.copy()
    a.reset()
    # the copy is untouched; the other part of the merge too
    np.testing.assert_allclose(anova_f(snapshot)[0], f_classif(X, y)[0], rtol=1e-10)
    assert b.n_samples == 40
    X2, y2 = _chunk(11)
    a.update(X2, y2)
    np.testing.assert_allclose(anova_f(a)[0], f_classif(X2, y2)[0], rtol=1e-10)
