"""ClassMoments: merging into and from empty states, scaled with unscaled states, copies,
label rules and the input it must leave alone (torch-free; the torch backend is skipped
without torch).

Each truth is a single state updated with all the data (merges must equal it) or numpy.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.feature_selection import f_classif

from skscreen.stats import ClassMoments, anova_f
from skscreen.stats._moments import combined_classes, unique_labels

_FITTED = ("count_", "mean_", "m2_", "shift_", "scale_")


def _data(n=90, p=4, seed=0, classes=(0, 1, 2)):
    rng = np.random.default_rng(seed)
    y = np.asarray(classes)[np.arange(n) % len(classes)]
    return rng.normal(size=(n, p)) + 0.7 * np.arange(n)[:, None] % 3 * (y[:, None] > 0), y


def _assert_same_state(got, want):
    np.testing.assert_array_equal(got.classes_, want.classes_)
    for name in _FITTED:
        a, b = getattr(got, name), getattr(want, name)
        if b is None:
            assert a is None, name
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


# --------------------------------------------------------------------------- merge
def test_merge_into_an_empty_state_copies_the_other():
    X, y = _data()
    other = ClassMoments().update(X, y)
    merged = ClassMoments().merge(other)
    _assert_same_state(merged, other)
    for name in ("count_", "mean_", "m2_", "shift_", "classes_"):
        assert not np.shares_memory(getattr(merged, name), getattr(other, name)), name
    other.count_[0] = 99.0  # the merged state is a copy, not a view
    assert merged.count_[0] == 30.0


def test_merge_into_an_empty_state_expands_to_its_given_classes():
    X, y = _data(classes=(0, 2))
    merged = ClassMoments(classes=[0, 1, 2]).merge(ClassMoments().update(X, y))
    np.testing.assert_array_equal(merged.classes_, [0, 1, 2])
    assert merged.count_.tolist() == [45.0, 0.0, 45.0]
    _assert_same_state(merged, ClassMoments(classes=[0, 1, 2]).update(X, y))


def test_merge_of_an_empty_state_adds_only_its_classes():
    X, y = _data(classes=(0, 1))
    m = ClassMoments().update(X, y)
    before = m.copy()
    m.merge(ClassMoments())  # nothing known: nothing changes
    _assert_same_state(m, before)
    m.merge(ClassMoments(classes=[0, 1, 5]))  # known classes, no data: rows added
    np.testing.assert_array_equal(m.classes_, [0, 1, 5])
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)
    empty = ClassMoments().merge(ClassMoments(classes=[3, 4]))
    np.testing.assert_array_equal(empty.classes_, [3, 4])
    assert empty.count_ is None


@pytest.mark.parametrize("scaled_first", [True, False])
def test_merge_of_a_scaled_and_an_unscaled_state(scaled_first):
    # feature 0 reaches 1e200 in one part only: that part is kept in units of a power of two
    X, y = _data(n=120)
    X[:60, 0] *= 1e200
    big = ClassMoments().update(X[:60], y[:60])
    small = ClassMoments().update(X[60:], y[60:])
    assert big.scale_ is not None and small.scale_ is None
    a, b = (big, small) if scaled_first else (small, big)
    merged = a.copy().merge(b)
    whole = ClassMoments().update(X, y)
    np.testing.assert_array_equal(merged.scale_, whole.scale_)
    np.testing.assert_allclose(anova_f(merged)[0], anova_f(whole)[0], rtol=1e-9)
    np.testing.assert_allclose(merged.count_, whole.count_)
    means = merged.mean_ * merged.scale_ + merged.shift_
    np.testing.assert_allclose(means, whole.mean_ * whole.scale_ + whole.shift_, rtol=1e-9)


def test_merge_of_a_scaled_state_into_an_empty_one_keeps_its_scale():
    X, y = _data()
    big = ClassMoments().update(X * 1e200, y)
    merged = ClassMoments().merge(big)
    np.testing.assert_array_equal(merged.scale_, big.scale_)
    assert not np.shares_memory(merged.scale_, big.scale_)
    np.testing.assert_allclose(anova_f(merged)[0], f_classif(X, y)[0], rtol=1e-9)


def test_operators_merge_without_touching_the_left_operand():
    X, y = _data()
    a, b = ClassMoments().update(X[:40], y[:40]), ClassMoments().update(X[40:], y[40:])
    before = a.copy()
    c = a + b
    _assert_same_state(a, before)
    np.testing.assert_allclose(anova_f(c)[0], f_classif(X, y)[0], rtol=1e-10)
    a += b
    _assert_same_state(a, c)
    with pytest.raises(TypeError, match="Can only merge a ClassMoments, got int"):
        a.merge(3)


def test_copy_is_deep():
    X, y = _data()
    a = ClassMoments().update(X, y)
    c = a.copy()
    c.count_[0] = 0.0
    c.mean_[0, 0] = 1e9
    assert a.count_[0] == 30.0 and a.mean_[0, 0] != 1e9


def test_copy_is_deep_for_every_array_of_numpy_and_torch_states():
    torch = pytest.importorskip("torch")

    X, y = _data()
    states = [
        ClassMoments(classes=[0, 1, 2]).update(X * 1e200, y),  # scale_ set, classes given
        ClassMoments().update(torch.as_tensor(X), torch.as_tensor(y), n_classes=3),
    ]
    for a in states:
        c = a.copy()
        _assert_same_state(c, a)
        assert c.strict_classes == a.strict_classes
        for name, value in vars(a).items():
            if hasattr(value, "shape"):
                mine = getattr(c, name)
                assert type(mine) is type(value) and mine is not value, name
                shared = np.shares_memory if isinstance(value, np.ndarray) else (
                    lambda u, v: u.untyped_storage().data_ptr() == v.untyped_storage().data_ptr()
                )
                assert not shared(mine, value), name
        # attributes holding one array share one copy, as deepcopy's memo does
        assert (c._given_classes is c.classes_) == (a._given_classes is a.classes_)
        c.reset()
        assert a.n_samples == 90.0


def test_copy_is_deep_for_an_attribute_of_another_type():
    # copy() copies arrays itself; anything else that is not an immutable scalar (a
    # subclass's or a user's attribute) is deep-copied, as copy.deepcopy did
    X, y = _data()
    a = ClassMoments().update(X, y)
    a.notes = {"runs": [1, 2]}
    c = a.copy()
    assert c.notes == {"runs": [1, 2]} and c.notes["runs"] is not a.notes["runs"]
    c.notes["runs"].append(3)
    assert a.notes == {"runs": [1, 2]}


def test_numpy_copy_of_a_numpy_state():
    X, y = _data()
    a = ClassMoments().update(X * 1e200, y)
    c = a.numpy()
    _assert_same_state(c, a)
    assert not np.shares_memory(c.scale_, a.scale_)
    assert not np.shares_memory(c.mean_, a.mean_)
    assert ClassMoments(classes=[1, 2]).numpy().classes_.tolist() == [1, 2]


def test_torch_state_merges_and_converts_to_numpy():
    torch = pytest.importorskip("torch")
    X, y = _data()
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    a = ClassMoments().update(Xt[:40], yt[:40], n_classes=3)
    b = ClassMoments().update(Xt[40:], yt[40:], n_classes=3)
    assert a.is_torch and a.count_.dtype == torch.float64
    merged = ClassMoments().merge(a).merge(b)
    assert merged.is_torch
    host = merged.numpy()
    assert not host.is_torch and host.mean_.dtype == np.float64
    np.testing.assert_allclose(anova_f(host)[0], f_classif(X, y)[0], rtol=1e-10)
    with pytest.raises(TypeError, match="torch state with a numpy state"):
        ClassMoments().update(X, y).merge(a)
    with pytest.raises(TypeError, match="feed torch tensors"):
        a.update(X, y)


# --------------------------------------------------------------------------- input left alone
def test_sparse_input_with_duplicates_is_left_untouched():
    X = sp.random(60, 5, density=0.3, format="csr", random_state=1)
    data, indices = np.r_[1.5, X.data], np.r_[X.indices[0], X.indices]
    X = sp.csr_matrix((data, indices, np.r_[0, X.indptr[1:] + 1]), shape=X.shape)
    stored = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    y = np.arange(60) % 2
    m = ClassMoments().update(X, y)
    assert not X.has_canonical_format  # the caller's matrix: still as given
    for a, b in zip((X.data, X.indices, X.indptr), stored):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X.toarray(), y)[0], rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- labels
def test_string_and_number_labels_are_never_mixed():
    X, y = _data()
    strings = np.array(["a", "b", "c"])[y]
    m = ClassMoments().update(X, strings)
    with pytest.raises(ValueError, match=r"y has number labels \(\[0, 1\].*string labels"):
        m.update(X[:2], np.array([0, 1]))
    objects = np.array(["a", "b"], dtype=object)
    np.testing.assert_array_equal(
        combined_classes(np.array(["a", "z"]), objects, strict=False), ["a", "b", "z"]
    )
    with pytest.raises(ValueError, match="the other state has string labels"):
        ClassMoments().update(X, y).merge(ClassMoments().update(X, strings))
    # object arrays of numbers stay numbers
    combined_classes(np.array([0, 1]), np.array([1, 2], dtype=object), strict=False)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, -2, 3, 7], dtype=np.int8),  # negative, small dtype (no wrap-around)
        np.array([0, 5000, 5000, 2], dtype=np.int64),  # range too wide for the bincount path
        np.array([2**40, 2**40 + 3, 2**40], dtype=np.uint64),
        np.array([1.5, -1.0, 1.5]),
        np.array([4]),
    ],
)
def test_labels_are_coded_like_np_unique(labels):
    np.testing.assert_array_equal(unique_labels(labels), np.unique(labels))
    X = np.arange(2 * len(labels), dtype=np.float64).reshape(len(labels), 2) ** 2
    m = ClassMoments().update(X, labels)
    np.testing.assert_array_equal(m.classes_, np.unique(labels))
    for c, label in enumerate(m.classes_):
        rows = X[labels == label]
        assert m.count_[c] == len(rows)
        np.testing.assert_allclose(m.mean_[c] + m.shift_, rows.mean(0), rtol=1e-12)


def test_bad_shapes_are_refused_and_empty_chunks_ignored():
    X, y = _data()
    with pytest.raises(ValueError, match="y must be 1-dimensional"):
        ClassMoments().update(X, y.reshape(-1, 1))
    m = ClassMoments().update(X[:0], y[:0])
    assert m.count_ is None and m.n_samples == 0


# --------------------------------------------------------------------------- more of the contract
def test_repr_and_state_checks():
    X, y = _data()
    assert repr(ClassMoments()) == "ClassMoments(n_classes=0, n_features=None, n_samples=0)"
    m = ClassMoments().update(X, y)
    assert repr(m) == "ClassMoments(n_classes=3, n_features=4, n_samples=90)"
    with pytest.raises(ValueError, match=r"^X must be 2-dimensional, got shape \(90,\)"):
        m.update(X[:, 0], y)
    with pytest.raises(ValueError, match=r"^X has 90 rows but y has 89 labels"):
        m.update(X, y[:-1])
    with pytest.raises(ValueError, match=r"^X has 3 features, but the state was built with 4"):
        m.update(X[:, :3], y)


def test_strict_classes_are_enforced_by_merge():
    X, y = _data()
    strict = ClassMoments(classes=[0, 1])
    with pytest.raises(ValueError, match=r"the other state contains labels \[2\]"):
        strict.merge(ClassMoments().update(X, y))
    assert strict.count_ is None  # refused before any change
    m = ClassMoments().update(X, y)
    with pytest.raises(ValueError, match=r"^Cannot merge states with 3 and 4 features"):
        m.merge(ClassMoments().update(X[:, :3], y))
    assert ClassMoments().merge(ClassMoments()).classes_ is None


def test_numpy_copies_keep_strictness_and_absent_fields():
    empty = ClassMoments().numpy()
    assert empty.classes_ is None and empty.reset().classes_ is None
    X, y = _data()
    m = ClassMoments().update(X, y).numpy()
    assert m.scale_ is None and m.strict_classes is False
    strict = ClassMoments(classes=[0, 1, 2]).update(X, y).numpy()
    assert strict.strict_classes is True
    with pytest.raises(ValueError, match="not in classes"):
        strict.update(X[:1], np.array([7]))


def test_a_sparse_chunk_after_a_dense_one_uses_the_dense_shift():
    X, y = _data(n=120)
    X[:, 1] += 50.0  # a non-zero shift from the dense rows
    m = ClassMoments().update(X[:60], y[:60])
    m.update(sp.csr_matrix(X[60:]), y[60:])
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-9)


def test_integer_and_float32_input():
    X, y = _data()
    Xi = np.round(X * 10).astype(np.int64)
    np.testing.assert_allclose(
        anova_f(ClassMoments().update(Xi, y))[0], f_classif(Xi.astype(float), y)[0], rtol=1e-10
    )
    m = ClassMoments().update(X.astype(np.float32), y)
    assert m.shift_.dtype == np.float64


def test_a_scaled_state_rescaled_by_larger_values():
    # feature 0 reaches 1e200 first, then 1e300: the state is re-expressed in the new scale
    X, y = _data(n=120)
    X[:60, 0] *= 1e200
    X[60:, 0] *= 1e300
    m = ClassMoments().update(X[:60], y[:60])
    first = m.scale_[0]
    m.update(X[60:], y[60:])
    assert m.scale_[0] > first
    whole = ClassMoments().update(X, y)
    np.testing.assert_array_equal(m.scale_, whole.scale_)
    np.testing.assert_allclose(m.mean_ * m.scale_, whole.mean_ * whole.scale_, rtol=1e-9)
    np.testing.assert_allclose(anova_f(m)[0], anova_f(whole)[0], rtol=1e-9)


def test_torch_input_needs_class_counts_and_two_dimensions():
    torch = pytest.importorskip("torch")
    X, y = _data()
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    with pytest.raises(ValueError, match=r"^n_classes \(or classes\) is required for torch"):
        ClassMoments().update(Xt, yt)
    with pytest.raises(ValueError, match=r"^X must be 2-dimensional, got shape \(90,\)"):
        ClassMoments().update(Xt[:, 0], yt, n_classes=3)
    m = ClassMoments().update(Xt[:40], yt[:40], n_classes=3)
    torch.testing.assert_close(m.shift_, Xt[0])
    m.update(Xt[40:], yt[40:])  # the class count is known now
    np.testing.assert_allclose(anova_f(m.numpy())[0], f_classif(X, y)[0], rtol=1e-10)
    with pytest.raises(TypeError, match=r"^Cannot merge a torch state with a numpy state"):
        ClassMoments().update(X, y).merge(m)
    with pytest.raises(TypeError, match=r"^This state lives on a torch device"):
        m.update(X, y)


def test_torch_states_with_different_class_counts_merge():
    torch = pytest.importorskip("torch")
    X, y = _data()
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    two = yt < 2
    a = ClassMoments().update(Xt[two], yt[two], n_classes=2)
    b = ClassMoments().update(Xt[~two], yt[~two], n_classes=3)
    merged = a.merge(b)
    assert merged.is_torch and merged.count_.dtype == torch.float64
    np.testing.assert_array_equal(merged.classes_, [0, 1, 2])
    np.testing.assert_allclose(anova_f(merged.numpy())[0], f_classif(X, y)[0], rtol=1e-10)


def test_in_data_units_folds_the_power_of_two_scale_into_a_copy():
    X, y = _data()
    X = X.copy()
    X[:, 0] *= 1e160  # kept in units of a power of two
    m = ClassMoments().update(X, y)
    assert m.scale_ is not None and m.scale_[0] > 1
    plain = m.in_data_units()
    assert plain.scale_ is None and m.scale_ is not None  # the state itself unchanged
    np.testing.assert_allclose(plain.mean_[:, 0], m.mean_[:, 0] * m.scale_[0], rtol=0)
    np.testing.assert_allclose(plain.mean_[:, 1:], m.mean_[:, 1:] * m.scale_[1:], rtol=0)
    np.testing.assert_allclose(plain.m2_[:, 1:], m.m2_[:, 1:] * m.scale_[1:] ** 2, rtol=0)
    with np.errstate(over="ignore", invalid="ignore"):  # feature 0 overflows in data units
        f_plain = anova_f(plain)[0]
    np.testing.assert_allclose(f_plain[1:], anova_f(m)[0][1:], rtol=1e-12)
    unscaled = ClassMoments().update(X[:, 1:], y)
    assert unscaled.in_data_units().scale_ is None


# ---------------------------------------- merges and labels of screener states (issue 11)
def _screener_data():
    """test_screener.py's data: 500 samples, 20 features, the first 5 informative, 3 classes."""
    return make_classification(
        n_samples=500,
        n_features=20,
        n_informative=5,
        n_redundant=0,
        n_classes=3,
        shuffle=False,
        random_state=0,
    )


def test_class_moments_merge_into_empty_keeps_strict_classes():
    X, y = _screener_data()
    empty = ClassMoments(classes=[0, 1, 2, 3])
    empty.merge(ClassMoments().update(X, y))
    assert empty.strict_classes
    np.testing.assert_array_equal(empty.classes_, [0, 1, 2, 3])
    np.testing.assert_array_equal(empty.count_, np.r_[np.bincount(y), 0])
    with pytest.raises(ValueError, match="not in classes"):
        ClassMoments(classes=[0, 1]).merge(ClassMoments().update(X, y))


def test_merging_string_and_integer_label_states_is_refused():
    X, y = _screener_data()
    a = ClassMoments().update(X[:100], y[:100].astype(str))
    b = ClassMoments().update(X[100:], y[100:])
    before = pickle.dumps(a)
    with pytest.raises(ValueError, match="number labels.*string labels"):
        a.merge(b)
    assert pickle.dumps(a) == before


# ------------------------------------------------ mutation survivors (issue 20, item 2)
def test_in_data_units_of_scaled_values_equals_the_direct_sums():
    # |x| ~ 1e100: squares beyond 2^600, so the state keeps them in units of a power of two,
    # but the M2 in data units (~1e200) is finite: it must equal the direct two-pass sums
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 2)) * 1e100
    X[:, 1] += 3e100
    y = np.array([0, 0, 0, 1, 1, 1, 2])
    m = ClassMoments().update(X, y)
    assert m.scale_ is not None and (m.scale_ > 1).all()
    plain = m.in_data_units()
    means = np.array([X[y == c].mean(0) for c in range(3)])
    m2 = np.array([((X[y == c] - means[c]) ** 2).sum(0) for c in range(3)])
    np.testing.assert_allclose(plain.mean_ + plain.shift_, means, rtol=1e-12)
    np.testing.assert_allclose(plain.m2_, m2, rtol=1e-12)
    assert plain.m2_[2].tolist() == [0.0, 0.0]  # one sample: no spread


def test_in_data_units_overflow_is_silent():
    # |x| ~ 1e160: M2 overflows in data units (documented: inf, no floating-point warning)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 2)) * 1e160
    y = np.array([0, 0, 0, 1, 1, 1, 2])
    m = ClassMoments().update(X, y)
    with np.errstate(all="raise"):
        plain = m.in_data_units()
    assert np.isinf(plain.m2_[:2]).all()


def test_in_data_units_keeps_a_zero_m2_zero():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 2)) * 1e160
    y = np.array([0, 0, 0, 1, 1, 1, 2])
    plain = ClassMoments().update(X, y).in_data_units()
    assert plain.m2_[2].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "y",
    [
        np.array([[3, 1], [1, 2]]),  # 2-D: np.unique flattens
        np.array([], dtype=np.int64),  # empty
        np.array([-(2**50), 0, 2**50]),  # a range far too large for a bincount
        np.array([7], dtype=np.uint8),
    ],
    ids=["2d", "empty", "huge-range", "one"],
)
def test_unique_labels_equals_np_unique_off_the_fast_path(y):
    got = unique_labels(y)
    want = np.unique(y)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_no_labels_never_conflict_in_type():
    # an empty label set has no type: adding none to string classes (or strings to none)
    # is not a mix of label types
    known = np.array(["a", "b"])
    np.testing.assert_array_equal(combined_classes(known, np.array([]), strict=True), known)
    np.testing.assert_array_equal(
        combined_classes(np.array([]), np.array(["b", "a"]), strict=False), known
    )


def test_label_mix_message_quotes_the_first_five_labels_of_each_side():
    known = np.arange(7)
    labels = np.array(list("abcdefg"))
    with pytest.raises(ValueError) as exc:
        combined_classes(known, labels, strict=False)
    msg = str(exc.value)
    assert "['a', 'b', 'c', 'd', 'e']," in msg and "'f'" not in msg
    assert "([0, 1, 2, 3, 4], dtype" in msg and " 5," not in msg


def test_torch_state_is_float64_whatever_the_input_dtype():
    torch = pytest.importorskip("torch")
    X, y = _data()
    Xt = torch.as_tensor(X, dtype=torch.float32)
    m = ClassMoments().update(Xt, torch.as_tensor(y), n_classes=3)
    for name in ("count_", "mean_", "m2_", "shift_"):
        assert getattr(m, name).dtype == torch.float64, name
    torch.testing.assert_close(m.shift_, Xt[0].to(torch.float64), rtol=0, atol=0)


def test_torch_state_stays_on_the_device_of_the_data():
    # the "meta" device (shapes only) stands for a GPU: every tensor of the state is made
    # on the data's device, never on the default one (CPU)
    torch = pytest.importorskip("torch")
    X = torch.empty(6, 3, device="meta")
    y = torch.empty(6, dtype=torch.int64, device="meta")
    a = ClassMoments().update(X[:4], y[:4], n_classes=2)
    b = ClassMoments().update(X, y, n_classes=3)
    merged = a.merge(b)  # a's two class rows are expanded to three on the device
    for state in (a, b, merged):
        for name in ("count_", "mean_", "m2_", "shift_"):
            assert getattr(state, name).device.type == "meta", name
    assert tuple(merged.mean_.shape) == (3, 3)


# ------------------------------------ reset() (was tests/stats/test_moments_reset.py)
# back to the state as constructed: after ``reset`` every fitted attribute (classes, counts,
# means, M2, shift, scale) must equal that of a fresh ``ClassMoments`` built with the same
# arguments and fed the same data, and the F statistic that of ``f_classif`` on it alone


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


def test_an_empty_torch_chunk_changes_nothing_as_an_empty_numpy_chunk():
    torch = pytest.importorskip("torch")
    empty_t, none_t = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
    first = ClassMoments(np.arange(3)).update(empty_t, none_t, n_classes=3)  # no first row
    ref = ClassMoments(np.arange(3)).update(np.zeros((0, 4)), np.zeros(0, dtype=int))
    assert first.count_ is None and ref.count_ is None and first.n_samples == ref.n_samples == 0
    X = torch.randn(5, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    after = ClassMoments(np.arange(3)).update(X, y, n_classes=3).update(empty_t.double(), none_t)
    want = ClassMoments(np.arange(3)).update(X, y, n_classes=3)
    for a, b in ((after.count_, want.count_), (after.mean_, want.mean_), (after.m2_, want.m2_)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_torch_state_does_not_follow_its_first_batch_changed_in_place(dtype):
    torch = pytest.importorskip("torch")

    X = torch.tensor([[1.0, 2.0], [2.0, 2.0], [3.0, 5.0]], dtype=getattr(torch, dtype))
    y = torch.tensor([0, 0, 1])
    m = ClassMoments().update(X, y, n_classes=2)
    before = m.in_data_units()
    assert m.shift_.untyped_storage().data_ptr() != X.untyped_storage().data_ptr()
    X.zero_()  # the caller reuses its buffer
    _assert_same_state(m.in_data_units(), before)
    means = (m.shift_ + m.mean_).numpy()  # the means are kept relative to the shift
    np.testing.assert_allclose(means, [[1.5, 2.0], [3.0, 5.0]])


def test_a_zero_feature_rescaled_below_2_to_the_minus_512_keeps_a_finite_m2():
    # the state holds zeros for feature 0 (one row per class: not locked); the next chunk
    # varies by ~1e-170, so its scale shrinks past 2^-512, where ratio**2 overflows: the
    # zeros must stay zeros (0 * inf was a nan that no later chunk cleared)
    X1, y1 = np.array([[0.0, 1.0], [0.0, 2.0]]), np.array([0, 1])
    X2 = np.array([[1e-170, 1.5], [3e-170, 2.5], [2e-170, 0.5], [5e-170, 3.0]])
    y2 = np.array([0, 0, 1, 1])
    rng = np.random.default_rng(0)
    X3, y3 = rng.normal(size=(50, 2)), np.repeat([0, 1], 25)
    X3[25:, 0] += 1.0
    state = ClassMoments()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for X, y in ((X1, y1), (X2, y2), (X3, y3)):
            state.update(X, y)
    assert np.isfinite(state.m2_).all()
    X, y = np.vstack([X1, X2, X3]), np.r_[y1, y2, y3]
    np.testing.assert_allclose(anova_f(state)[0], f_classif(X, y)[0], rtol=1e-12)


# --------------------------------------------------------------------------- locked features
def test_a_zero_feature_beside_locked_ones_is_scaled_up_for_tiny_variation():
    # feature 1 holds non-zero means and M2 (locked), feature 0 only zeros (not locked):
    # a chunk varying by ~1e-200 in feature 0 must scale it up, its M2 not underflow to 0
    X1, y1 = np.array([[0.0, 1.0], [0.0, 3.0], [0.0, 2.0], [0.0, 6.0]]), np.array([0, 0, 1, 1])
    X2 = np.array([[1e-200, 1.5], [3e-200, 2.5], [2e-200, 2.0], [7e-200, 5.0]])
    y2 = np.array([0, 0, 1, 1])
    state = ClassMoments().update(X1, y1).update(X2, y2)
    assert state.scale_[0] < 2.0**-500
    assert state.scale_[1] == 1.0
    big = 2.0**600  # the same data times a power of two, in range: the same M2 exactly scaled
    ref = ClassMoments().update(X1, y1).update(X2 * [big, 1.0], y2)
    np.testing.assert_allclose(
        state.m2_[:, 0] * (state.scale_[0] * big) ** 2, ref.m2_[:, 0], rtol=1e-12
    )
    assert (ref.m2_[:, 0] > 0).all()


def test_a_feature_constant_in_each_class_is_locked_and_re_expressed_when_rescaled():
    # feature 0's class means differ but each class is constant (M2 0): the state holds
    # values there, so a rescale by a large value must re-express its means too
    X1, y1 = np.array([[0.0], [0.0], [1.0], [1.0]]), np.array([0, 0, 1, 1])
    X2, y2 = np.array([[0.0], [1e200], [1.0], [1.0]]), np.array([0, 0, 1, 1])
    state = ClassMoments().update(X1, y1).update(X2, y2)
    assert state.scale_[0] > 1e200
    means = state.shift_ + state.mean_ * state.scale_
    np.testing.assert_allclose(means[:, 0], [2.5e199, 1.0], rtol=1e-12)
    np.testing.assert_array_equal(state.m2_[1], [0.0])


@pytest.mark.parametrize("sparse", [False, True])
def test_a_locked_feature_keeps_its_scale_under_tiny_variation(sparse):
    # the state holds M2 8 in feature 0: a chunk varying by ~1e-200 there is negligible, and
    # must not shrink the scale (the state re-expressed in 2^-660 would overflow to inf)
    fmt = sp.csr_matrix if sparse else np.asarray
    X1, y1 = np.array([[0.0, 1.0], [2.0, 1.0], [-2.0, 1.0]]), np.array([0, 0, 0])
    X2, y2 = np.array([[1e-200, 1.0], [3e-200, 1.0]]), np.array([0, 0])
    state = ClassMoments().update(fmt(X1), y1).update(fmt(X2), y2)
    assert state.scale_ is None or (state.scale_ == 1.0).all()
    np.testing.assert_allclose(state.m2_[:, 0], [8.0], rtol=1e-12)
    np.testing.assert_allclose(state.mean_[:, 0], [0.0], atol=1e-190)


def test_a_sparse_chunk_after_a_scaled_sparse_state_is_summed_in_its_scale():
    X1, y1 = np.array([[1e200, 1.0], [-1e200, 2.0], [0.0, 3.0], [5e199, 4.0]]), np.r_[0, 0, 1, 1]
    X2, y2 = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 0.0], [4.0, 5.0]]), np.r_[0, 0, 1, 1]
    state = ClassMoments().update(sp.csr_matrix(X1), y1)
    assert state.scale_[0] > 1e200
    state.update(sp.csr_matrix(X2), y2)
    X, y = np.vstack([X1, X2]), np.r_[y1, y2]
    means = state.shift_ + state.mean_ * state.scale_
    np.testing.assert_allclose(means, [X[y == 0].mean(axis=0), X[y == 1].mean(axis=0)])
    Xs = X / state.scale_  # powers of two: exact, and in range
    m2 = [((Xs[y == c] - Xs[y == c].mean(axis=0)) ** 2).sum(axis=0) for c in (0, 1)]
    np.testing.assert_allclose(state.m2_, m2, rtol=1e-12)


def test_update_passes_the_state_means_as_pivots_and_first_samples_for_new_classes(
    monkeypatch,
):
    # pivots of the dense kernel: a known class's running mean (one row is enough), a class
    # new to the state its first sample in the chunk
    from skscreen.stats import _kernels

    pivots = []
    class_sums = _kernels._class_sums

    def spy(X, yidx, K, *args):
        pivots.append(np.array(K))
        return class_sums(X, yidx, K, *args)

    X1, y1 = np.array([[0.0], [2.0], [4.0]]), np.array([0, 0, 1])
    state = ClassMoments().update(X1, y1)
    monkeypatch.setattr(_kernels, "_class_sums", spy)
    state.update(np.array([[10.0], [11.0], [12.0], [20.0]]), np.array([0, 1, 2, 2]))
    np.testing.assert_array_equal(pivots[0][:, 0], [1.0, 4.0, 12.0])


@pytest.mark.parametrize("n_rows", [1, 2, 6])
def test_a_state_begun_by_a_sparse_chunk_shifts_a_full_column_by_its_first_value(n_rows):
    # column 0 (a timestamp) and 2 are stored in every row: shifted by their first row's
    # value, as a dense first chunk would be; column 1 has a zero and the last column
    # stores nothing: shift 0 (the last one is beyond the largest stored column index)
    X = np.zeros((n_rows, 4))
    X[:, 0] = 1e12 + 3.0 * np.arange(n_rows) + 1.0
    X[:, 2] = -7.0 - np.arange(n_rows) ** 2
    X[:-1, 1] = 5.0 + np.arange(n_rows - 1)
    y = np.arange(n_rows) % 2
    m = ClassMoments().update(sp.csr_matrix(X), y)
    np.testing.assert_array_equal(m.shift_, [X[0, 0], 0.0, X[0, 2], 0.0])
    dense = ClassMoments().update(X, y).in_data_units()
    got = m.in_data_units()
    np.testing.assert_array_equal(got.count_, dense.count_)
    np.testing.assert_allclose(got.mean_ + got.shift_, dense.mean_ + dense.shift_, rtol=1e-15)
    np.testing.assert_allclose(got.m2_, dense.m2_, rtol=1e-12, atol=1e-9)
