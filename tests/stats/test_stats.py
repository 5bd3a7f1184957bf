"""The statistics core against f_classif / scipy, exactness on adversarial data, merges."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import f_oneway
from sklearn.datasets import make_classification
from sklearn.feature_selection import f_classif

from skscreen.stats import ClassMoments, anova_f, ranking_scores
from skscreen.stats._reference import exact_f_oneway as exact_f


def _data(n=600, p=12, classes=4, seed=0):
    return make_classification(
        n_samples=n,
        n_features=p,
        n_informative=4,
        n_redundant=0,
        n_classes=classes,
        n_clusters_per_class=1,
        shuffle=False,
        random_state=seed,
    )


def test_matches_f_classif_one_chunk():
    X, y = _data()
    f, p = anova_f(ClassMoments().update(X, y))
    f0, p0 = f_classif(X, y)
    np.testing.assert_allclose(f, f0, rtol=1e-10)
    np.testing.assert_allclose(p, p0, rtol=1e-8, atol=1e-300)


def test_informative_features_rank_first():
    # make_classification(shuffle=False): the first 4 features are the informative ones
    X, y = _data(n=2000)
    f, _ = anova_f(ClassMoments().update(X, y))
    assert set(np.argsort(f)[-4:]) == {0, 1, 2, 3}


@settings(max_examples=30, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 599), max_size=8, unique=True),
    seed=st.integers(0, 10_000),
)
def test_any_chunking_and_order_equals_one_fit(cuts, seed):
    X, y = _data()
    bounds = [0, *sorted(cuts), len(y)]
    chunks = [(X[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    rng = np.random.default_rng(seed)
    rng.shuffle(chunks)
    m = ClassMoments()
    for Xc, yc in chunks:
        m.update(Xc, yc)
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(n_parts=st.integers(2, 9), seed=st.integers(0, 10_000))
def test_any_merge_tree_equals_one_fit(n_parts, seed):
    X, y = _data()
    rng = np.random.default_rng(seed)
    parts = np.array_split(rng.permutation(len(y)), n_parts)
    states = [ClassMoments().update(X[i], y[i]) for i in parts]
    while len(states) > 1:  # random binary merge tree
        i, j = sorted(rng.choice(len(states), 2, replace=False))
        b = states.pop(j)
        states[i] = states[i] + b
    np.testing.assert_allclose(anova_f(states[0])[0], f_classif(X, y)[0], rtol=1e-10)


def test_merge_with_disjoint_classes_and_different_shifts():
    X, y = _data()
    a = ClassMoments().update(X[y < 2], y[y < 2])
    b = ClassMoments().update(X[y >= 2] + 0.0, y[y >= 2])
    np.testing.assert_array_equal(a.merge(b).classes_, [0, 1, 2, 3])
    np.testing.assert_allclose(anova_f(a)[0], f_classif(X, y)[0], rtol=1e-10)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_equals_dense(fmt):
    X = sp.random(400, 30, density=0.15, format=fmt, random_state=0)
    y = np.random.default_rng(0).integers(0, 3, 400)
    ms = ClassMoments()
    for a in range(0, 400, 90):
        ms.update(X[a : a + 90], y[a : a + 90])
    md = ClassMoments().update(X.toarray(), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fs, fd, f0 = anova_f(ms)[0], anova_f(md)[0], f_classif(X, y)[0]
    np.testing.assert_allclose(fs, fd, rtol=1e-10)
    np.testing.assert_allclose(fs, f0, rtol=1e-10)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_chunk_does_not_densify(monkeypatch, fmt):
    # two sparse chunks (the second merged into the state) of 4 classes, with a duplicate
    # entry; the reference is numpy on the dense matrix, built before densifying is banned
    X = sp.random(120, 10, density=0.2, format=fmt, random_state=0)
    # store the first entry twice (its value is then the sum): not canonical any more
    data, indices = np.r_[2.5, X.data], np.r_[X.indices[0], X.indices]
    X = type(X)((data, indices, np.r_[0, X.indptr[1:] + 1]), shape=X.shape)
    assert not X.has_canonical_format
    y = np.arange(120) % 4
    dense = X.toarray()
    f_ref = f_classif(dense, y)[0]

    def boom(*a, **k):
        raise AssertionError("densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)
    m = ClassMoments().update(X[:70], y[:70]).update(X[70:], y[70:])
    monkeypatch.undo()
    assert m.scale_ is None
    np.testing.assert_array_equal(m.shift_, np.zeros(10))  # sparse data: shift 0
    np.testing.assert_array_equal(m.count_, np.bincount(y))
    for c in range(4):
        rows = dense[y == c]
        np.testing.assert_allclose(m.mean_[c], rows.mean(0), rtol=1e-12, atol=1e-15)
        dev = rows - rows.mean(0)
        np.testing.assert_allclose(m.m2_[c], (dev * dev).sum(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(anova_f(m)[0], f_ref, rtol=1e-10)


def _offset_columns(n=400, seed=3):
    """Columns stored with no zeros and a large offset, beside a sparse one."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = np.column_stack([
        1.7e9 + 3600.0 * rng.integers(0, 48, n) + 60.0 * y,  # timestamps
        1e12 + rng.normal(size=n) + 0.05 * y,
        1e15 + 2.0 * y,  # constant within each class: it separates them (F = inf)
        np.where(rng.random(n) < 0.8, 0.0, rng.normal(size=n)),  # mostly zeros
    ])
    return X, y


def test_sparse_columns_with_a_large_offset_keep_their_digits():
    # the sparse path measured means from zero: 1e12 + N(0, 1) was 4 % off, and 1e15 + 2 y
    # (perfectly separating) came out nan; dense input is exact there
    X, y = _offset_columns()
    ref = exact_f(X[:, [0, 1, 3]], y)  # column 2's exact F is infinite
    for chunks in ([slice(None)], [slice(0, 150), slice(150, None)]):
        m = ClassMoments()
        for rows in chunks:
            m.update(sp.csr_matrix(X[rows]), y[rows])
        F = anova_f(m)[0]
        assert np.isinf(F[2])
        np.testing.assert_allclose(F[[0, 1, 3]], ref, rtol=1e-11)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_a_column_stored_in_every_row_far_from_zero_stays_finite(split):
    # a first sparse chunk in which a column beyond 1e154 is stored in every row (its shift)
    # and does not vary: its implicit-zero term was 0 * inf = nan, for good
    X = np.array([[1e200], [1e200], [1e200], [2e200], [3e200], [5e200]])
    y = np.array([0, 1, 0, 1, 0, 1])
    m = ClassMoments().update(sp.csr_matrix(X[:split]), y[:split])
    assert np.isfinite(m.m2_).all()
    m.update(sp.csr_matrix(X[split:]), y[split:])
    np.testing.assert_allclose(anova_f(m)[0], exact_f(X, y), rtol=1e-12)


@pytest.mark.parametrize(
    "column",
    [
        5e307 * np.array([-1, -0.9, -0.8, -0.7, 1, 0.9, 0.8, 0.5]),
        # a small first value, a huge one of the other sign later in the chunk
        np.array([1e301, -8.988465e307, 1.0, 3.0, 2.0, -1.0, 4.0, 5.0]),
    ],
    ids=["both signs near 1e308", "small first value"],
)
def test_a_full_sparse_column_near_the_float64_maximum_is_measured_from_zero(column):
    # values of both signs near 1e308 stored in every row: a first-row shift made x - shift
    # overflow (nan, "constant"); from zero they are kept in units of a power of two
    X, y = column[:, None], np.arange(8) % 2
    m = ClassMoments().update(sp.csr_matrix(X), y)
    assert m.shift_[0] == 0.0
    np.testing.assert_allclose(anova_f(m)[0], exact_f(X, y), rtol=1e-12)


def test_a_sparse_chunk_after_a_dense_one_stays_sparse(monkeypatch):
    # the state's shift (the dense first row) is no reason to densify: a 4000 x 4000 chunk
    # with 1,600 entries took 146 MiB instead of 0.9
    X, y = _offset_columns()
    Xs = sp.csr_matrix(X[100:])
    m = ClassMoments().update(X[:100], y[:100])

    def boom(*a, **k):
        raise AssertionError("densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)
    m.update(Xs, y[100:])
    monkeypatch.undo()
    F = anova_f(m)[0]
    assert np.isinf(F[2])
    np.testing.assert_allclose(F[[0, 1, 3]], exact_f(X[:, [0, 1, 3]], y), rtol=1e-11)


def test_a_sparse_chunk_needing_a_scale_after_a_shifted_state():
    # the scale of a feature whose stored values reach 1e200 is taken from its deviations
    # from the state's shift, implicit zeros included (|0 - shift|)
    dense = np.array([[5.0, 1.0], [6.0, 2.0], [7.0, 3.0], [8.0, 5.0]])
    extreme = np.array([[1e200, 0.0], [0.0, 2.0], [-1e200, 0.0], [0.0, 4.0], [3e199, 1.0],
                        [0.0, 0.0]])
    X, y = np.vstack([dense, extreme]), np.r_[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    m = ClassMoments().update(dense, y[:4]).update(sp.csr_matrix(extreme), y[4:])
    assert m.scale_ is not None and m.scale_[0] > 1e200 and m.scale_[1] == 1.0
    np.testing.assert_allclose(anova_f(m)[0], exact_f(X, y), rtol=1e-12)


def test_adversarial_float32_large_mean():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    X = (1e3 + 0.1 * rng.normal(size=(300, 4)) + 0.02 * y[:, None]).astype(np.float32)
    m = ClassMoments()
    for a in range(0, 300, 70):
        m.update(X[a : a + 70], y[a : a + 70])
    ref = exact_f(X, y)
    np.testing.assert_allclose(anova_f(m)[0], ref, rtol=1e-9)
    # ... where f_classif itself is far off (what this core is for)
    assert np.max(np.abs(f_classif(X, y)[0] - ref) / ref) > 1e-3


def test_adversarial_float64_large_offset():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    X = 1e8 + 1e-3 * rng.normal(size=(300, 4)) + 2e-4 * y[:, None]
    m = ClassMoments()
    for a in range(0, 300, 64):
        m.update(X[a : a + 64], y[a : a + 64])
    f = anova_f(m)[0]
    np.testing.assert_allclose(f, exact_f(X, y), rtol=1e-9)
    assert (f >= 0).all()
    # scipy's f_oneway on data centred exactly (x - 1e8 is exact here) agrees too
    ref = np.array([f_oneway(*[X[y == c, j] - 1e8 for c in range(3)]).statistic for j in range(4)])
    np.testing.assert_allclose(f, ref, rtol=1e-9)


def test_constant_feature_nan_with_warning_and_ranked_last():
    X = np.c_[np.ones(20) * 3.7, np.arange(20.0)]
    y = np.arange(20) % 2
    with pytest.warns(UserWarning, match="constant"):
        f, p = anova_f(ClassMoments().update(X, y))
    assert np.isnan(f[0]) and np.isnan(p[0])
    assert ranking_scores(f)[0] == 0.0


def test_within_class_constant_separating_feature_is_inf():
    y = np.arange(30) % 3
    X = np.c_[y * 0.1 + 5.0, np.random.default_rng(0).normal(size=30)]
    m = ClassMoments()
    for a in range(0, 30, 7):  # chunked: rounding must not turn inf into a huge number
        m.update(X[a : a + 7], y[a : a + 7])
    f, p = anova_f(m)
    assert np.isinf(f[0]) and p[0] == 0.0
    assert np.argmax(ranking_scores(f)) == 0


def test_unknown_label_with_strict_classes_leaves_state_unchanged():
    X, y = _data()
    m = ClassMoments(classes=[0, 1, 2, 3]).update(X[:100], y[:100])
    before = pickle.dumps(m)
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes"):
        m.update(X[100:110], np.full(10, 7))
    assert pickle.dumps(m) == before


def test_new_labels_extend_state():
    X, y = _data()
    m = ClassMoments().update(X[y == 0], y[y == 0]).update(X[y != 0], y[y != 0])
    np.testing.assert_array_equal(m.classes_, [0, 1, 2, 3])
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


def test_one_class_and_too_few_samples_are_errors():
    with pytest.raises(ValueError, match="at least 2 classes"):
        anova_f(ClassMoments().update(np.ones((5, 2)), np.zeros(5)))
    with pytest.raises(ValueError, match="more samples"):
        anova_f(ClassMoments().update(np.eye(2), [0, 1]))


def test_width_mismatch_is_an_error():
    m = ClassMoments().update(np.ones((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="2 features, but the state was built with 3"):
        m.update(np.ones((4, 2)), [0, 1, 0, 1])


# --- torch backend: skipped without torch (everything above is numpy only and always runs)
try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


@needs_torch
def test_torch_backend_matches_numpy_and_stays_on_device():
    X, y = _data()
    m = ClassMoments(classes=range(4))
    for a in range(0, 600, 128):
        m.update(
            torch.tensor(X[a : a + 128], dtype=torch.float32),
            torch.tensor(y[a : a + 128]),
            n_classes=4,
        )
    assert torch.is_tensor(m.mean_) and m.mean_.device.type == "cpu"
    ref = ClassMoments().update(X.astype(np.float32), y)
    np.testing.assert_allclose(anova_f(m)[0], anova_f(ref)[0], rtol=1e-10)


@pytest.mark.skipif(torch is None or not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_backend_cuda():  # pragma: no cover - GPU only
    X, y = _data()
    m = ClassMoments(classes=range(4)).update(
        torch.tensor(X, device="cuda"), torch.tensor(y, device="cuda"), n_classes=4
    )
    assert m.mean_.is_cuda
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


@needs_torch
def test_deferred_moments_match_class_moments_on_offset_data():
    from skscreen.stats import DeferredMoments

    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 1000)
    X = 50.0 + rng.normal(size=(1000, 6)) + 8.0 * y[:, None] * (np.arange(6) < 2)
    acc = DeferredMoments(4, block_rows=200)  # blocks end mid-batch, and a batch > block
    for a, b in [(0, 64), (64, 128), (128, 500), (500, 1000)]:
        yb = torch.as_tensor(y[a:b])
        acc.update(torch.as_tensor(X[a:b], dtype=torch.float32), yb)
    ref = ClassMoments().update(X.astype(np.float32), y)
    np.testing.assert_allclose(anova_f(acc.to_moments())[0], anova_f(ref)[0], rtol=1e-10)


def _deferred_data(seed=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 900)
    # offset 1e4 times the spread, and classes 1e4 spreads apart
    X = 1e4 + rng.normal(size=(900, 5)) + 1e4 * y[:, None] * (np.arange(5) == 0)
    return X, y


@needs_torch
@pytest.mark.parametrize("path", ["cpu kernel", "device code"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_deferred_moments_both_fold_paths_exact_and_leave_batches_untouched(path, dtype):
    from skscreen.stats import DeferredMoments

    X, y = _deferred_data()
    X = X.astype(dtype)
    acc = DeferredMoments(3, block_rows=256)
    if path == "device code":  # the GPU code (ClassMoments' torch update), on CPU tensors
        acc._by_torch = True
    cuts = [0, 300, 400, 500, 600, 700, 800, 900]  # a batch > block_rows is folded alone
    batches = [torch.as_tensor(X[a:b]) for a, b in zip(cuts, cuts[1:])]
    copies = [b.clone() for b in batches]
    for a, xb in zip(cuts, batches):
        acc.update(xb, torch.as_tensor(y[a : a + len(xb)]))
    m = acc.to_moments()
    # a float64 model's recorded layer inputs must not be overwritten by the fold
    assert all(torch.equal(b, c) for b, c in zip(batches, copies))
    assert isinstance(m.mean_, np.ndarray) and acc.n_samples == 900  # CPU batches: numpy
    np.testing.assert_allclose(anova_f(m)[0], exact_f(X, y), rtol=1e-10)


@needs_torch
def test_deferred_moments_nan_activations_poison_only_their_features():
    from skscreen.stats import DeferredMoments

    X, y = _deferred_data()
    Xt = torch.as_tensor(X, dtype=torch.float32)
    Xt[10, 2] = float("nan")
    acc = DeferredMoments(3, block_rows=256)
    for a in range(0, 900, 100):
        acc.update(Xt[a : a + 100], torch.as_tensor(y[a : a + 100]))
    f = anova_f(acc.to_moments(), warn_constant=False)[0]
    assert np.isnan(f[2])
    keep = [0, 1, 3, 4]
    ref = exact_f(X.astype(np.float32)[:, keep], y)
    np.testing.assert_allclose(f[keep], ref, rtol=1e-10)


@needs_torch
def test_deferred_moments_background_fold_errors_surface_and_pickle_waits():
    from skscreen.stats import DeferredMoments

    X, y = _deferred_data()
    acc = DeferredMoments(3, block_rows=100)
    for a in range(0, 900, 100):
        acc.update(torch.as_tensor(X[a : a + 100]), torch.as_tensor(y[a : a + 100]))
    clone = pickle.loads(pickle.dumps(acc))  # waits for the folds in flight
    assert clone.n_samples == 900 and clone._future is None
    np.testing.assert_allclose(anova_f(clone.to_moments())[0], exact_f(X, y), rtol=1e-10)
    bad = DeferredMoments(2, block_rows=10)  # label 5 is not a class index in [0, 2)
    bad.update(torch.zeros(10, 3), torch.full((10,), 5))
    with pytest.raises(ValueError, match="not in classes"):
        bad.to_moments()
