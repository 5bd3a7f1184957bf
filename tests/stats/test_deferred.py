"""DeferredMoments against ClassMoments / f_classif on the same rows: half precisions, values
that need a power-of-two scale, non-finite values in different blocks, the class set."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.feature_selection import f_classif  # noqa: E402

from skscreen.stats import ClassMoments, DeferredMoments, anova_f  # noqa: E402


def _data(n=300, p=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.normal(size=(n, p)) + 0.4 * y[:, None], y


def _feed(acc, X, y, size=50):
    for a in range(0, len(y), size):
        acc.update(torch.as_tensor(X[a : a + size]), torch.as_tensor(y[a : a + size]))
    return acc.to_moments()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_batches_are_folded_as_their_float32_values(dtype):
    X, y = _data()
    Xh = torch.as_tensor(X).to(dtype)
    acc = DeferredMoments(3, block_rows=64)
    for a in range(0, 300, 50):
        acc.update(Xh[a : a + 50], torch.as_tensor(y[a : a + 50]))
    m = acc.to_moments()
    exact = Xh.float().double().numpy()
    np.testing.assert_allclose(anova_f(m)[0], f_classif(exact, y)[0], rtol=1e-10)


def test_the_state_has_every_class_index_and_data_units():
    X, y = _data()
    X[:, 2] *= 1e200  # squares overflow: folded in units of a power of two
    m = _feed(DeferredMoments(4, block_rows=64), X, y)
    np.testing.assert_array_equal(m.classes_, [0, 1, 2, 3])
    ref = ClassMoments(classes=[0, 1, 2, 3]).update(X, y)
    unit = ref.scale_
    np.testing.assert_allclose(np.asarray(m.mean_), ref.mean_ * unit, rtol=1e-12)
    keep = [0, 1, 3]  # M2 of the scaled feature overflows in data units, as it must
    assert np.isinf(np.asarray(m.m2_)[:3, 2]).all()
    want = (ref.m2_ * unit * unit)[:, keep]
    np.testing.assert_allclose(np.asarray(m.m2_)[:, keep], want, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(m.count_), [100, 100, 100, 0])


def test_non_finite_values_in_different_blocks_poison_each_feature():
    X, y = _data()
    X[10, 0] = np.nan  # first block
    X[250, 1] = np.inf  # a later block
    m = _feed(DeferredMoments(3, block_rows=64), X, y)
    mean, m2 = np.asarray(m.mean_), np.asarray(m.m2_)
    assert np.isnan(mean[:, :2]).all() and np.isnan(m2[:, :2]).all()
    np.testing.assert_allclose(
        anova_f(m)[0][2:], f_classif(X[:, 2:], y)[0], rtol=1e-10
    )  # the others exact


def test_the_device_code_with_an_absent_class_and_a_single_row_class():
    # the GPU fold, run on CPU tensors (as tests/stats/test_stats.py does): a class with no
    # row in a block and a class with a single row
    X, y = _data(n=120)
    y = np.where(np.arange(120) % 40 == 0, 3, y % 2)  # class 3: one row per block of 40
    acc = DeferredMoments(5, block_rows=40)  # class 4 never seen
    acc._by_torch = True
    m = _feed(acc, X, y, size=40)
    ref = ClassMoments(classes=[0, 1, 2, 3, 4]).update(X, y)
    np.testing.assert_allclose(np.asarray(m.count_), ref.count_)
    means = np.asarray(m.mean_) + np.asarray(m.shift_)
    seen = ref.count_ > 0
    np.testing.assert_allclose(means[seen], (ref.mean_ + ref.shift_)[seen], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(m.m2_)[seen], ref.m2_[seen], rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- fold paths
# A block read at once and small (a small net's epoch, block_rows never reached) is folded
# by two numpy passes in the reading thread; a larger one by the kernel (in the background
# while training goes on). Both give the same moments, and later blocks go to the kernel.


@pytest.mark.parametrize(
    "block_rows", [64, 10_000, "device"], ids=["kernel", "small-read-at-once", "device"]
)
def test_both_fold_paths_match_f_classif_with_non_finite_features(block_rows):
    # "device": the GPU fold (ClassMoments' torch update), run on CPU tensors
    acc = DeferredMoments(3, block_rows=64 if block_rows == "device" else block_rows)
    acc._by_torch = True if block_rows == "device" else None
    X, y = _data(p=5)
    centred = X.copy()
    X += 1e4  # an offset 1e4 times the spread: one-pass sums (f_classif's) lose 7 digits
    X[10, 0] = np.nan
    X[250, 1] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floating-point warning from either path
        m = _feed(acc, X, y)
    assert np.isnan(np.asarray(m.mean_)[:, :2]).all() and np.isnan(np.asarray(m.m2_)[:, :2]).all()
    np.testing.assert_allclose(anova_f(m)[0][2:], f_classif(centred[:, 2:], y)[0], rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(m.count_), [100, 100, 100])


def _in_data_units(m):
    m = m.in_data_units()
    return m.count_, m.mean_ + m.shift_, m.m2_


def _record_kernel_folds(monkeypatch):
    used = []
    original = DeferredMoments._fold_cpu
    monkeypatch.setattr(
        DeferredMoments, "_fold_cpu", lambda self, X, y: used.append(len(y)) or original(self, X, y)
    )
    return used


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_small_path_reads_half_precisions_as_float32(dtype, monkeypatch):
    kernel = _record_kernel_folds(monkeypatch)
    rng = np.random.default_rng(9)
    # labels 0..3 with class 0 present, class 4 absent (the last: counts need the minlength)
    # and class 3 a single sample (its mean is its value)
    y = np.r_[rng.integers(0, 3, 199), 3]
    Xt = torch.as_tensor(rng.normal(size=(200, 3)) * 3 + 40 + y[:, None]).to(dtype)
    m = _feed(DeferredMoments(5, block_rows=10_000), Xt.float().numpy(), y, size=64)
    acc = DeferredMoments(5, block_rows=10_000)
    for a in range(0, 200, 64):
        acc.update(Xt[a : a + 64], torch.as_tensor(y[a : a + 64]))
    got = acc.to_moments()
    assert not kernel and not got.is_torch  # the small path, without the kernel
    ref = ClassMoments(np.arange(5)).update(Xt.float().numpy(), y)
    for a, b, want in zip(_in_data_units(got), _in_data_units(m), _in_data_units(ref), strict=True):
        np.testing.assert_allclose(a, want, rtol=1e-12, atol=1e-9)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.count_, [*np.bincount(y[:199], minlength=3), 1, 0])
    np.testing.assert_allclose(got.mean_[3] + got.shift_, Xt[-1].float().numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_small_path_gives_the_kernels_moments(dtype, monkeypatch):
    import skscreen.stats._deferred as deferred

    kernel = []
    original = DeferredMoments._fold_cpu
    monkeypatch.setattr(
        DeferredMoments, "_fold_cpu", lambda self, X, y: kernel.append(1) or original(self, X, y)
    )
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 700)
    y[:3] = [3, 1, 3]  # class 2 absent from the first rows, present later; class 0 absent
    y[y == 0] = 2
    X = (rng.normal(size=(700, 6)) * [1, 1e-3, 1e3, 1, 1, 1] + 1e4 + 5.0 * y[:, None]).astype(
        np.float32 if dtype == torch.float32 else np.float64
    )
    X[:, 4] = 3.0  # a constant feature: M2 exactly 0
    acc = DeferredMoments(4, block_rows=10_000)
    m = _feed(acc, X, y, size=128)
    assert not kernel and not m.is_torch and m.scale_ is None  # the small path, numpy
    ref = ClassMoments(np.arange(4)).update(X, y)
    for got, want in zip(_in_data_units(m), _in_data_units(ref), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert np.all(m.m2_[:, 4] == 0) and np.all(m.count_ == [0, *np.bincount(y)[1:]])
    # a later block goes to the kernel and merges into the same state
    acc.update(torch.as_tensor(X[:100]), torch.as_tensor(y[:100]))
    acc.flush(wait=True)
    assert kernel == [1]
    both = ClassMoments(np.arange(4)).update(np.vstack([X, X[:100]]), np.r_[y, y[:100]])
    for got, want in zip(_in_data_units(acc.to_moments()), _in_data_units(both), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert deferred._small_cpu_state(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 2)


@pytest.mark.parametrize(
    "spread, offset",
    [(1e200, 0.0), (1.0, 1e250), (1.0, 1e100), (1e100, None), (1e-200, 0.0), (1e-200, 1.0)],
    ids=[
        "huge-deviations",
        "huge-offset-of-a-class",
        "large-finite-offset-of-a-class",
        "large-deviations-around-a-zero-mean",
        "tiny-deviations",
        "tiny-around-one",
    ],
)
def test_the_small_path_hands_extreme_blocks_to_the_kernel(spread, offset):
    import skscreen.stats._deferred as deferred

    rng = np.random.default_rng(8)
    y = np.arange(300) % 3
    if offset is None:  # +-spread in every class, every class mean exactly 0
        X = np.where((np.arange(300) // 3 % 2 == 0)[:, None], spread, -spread) * np.ones((1, 3))
        X[:, 1] *= 1 + y  # classes told apart by their spread
        offset = 0.0
    else:
        X = rng.normal(size=(300, 3)) * spread + offset * (y[:, None] == 2)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    assert deferred._small_cpu_state(Xt, yt, 3) is None
    acc = DeferredMoments(3, block_rows=10_000)
    m = _feed(acc, X, y)
    ref = ClassMoments(np.arange(3)).update(X, y)
    assert ref.scale_ is not None  # the kernel keeps these in units of a power of two
    np.testing.assert_array_equal(acc._state.scale_, ref.scale_)
    state = acc._state  # (to_moments is in data units: M2 may overflow there, as squares do)
    np.testing.assert_allclose(anova_f(state)[0], anova_f(ref)[0], rtol=1e-10)
    if offset == 0:  # F is scale-free: the same as on data of unit spread
        np.testing.assert_allclose(anova_f(state)[0], f_classif(X / spread, y)[0], rtol=1e-6)
    assert m.n_samples == 300


def test_the_small_path_refers_labels_outside_the_classes_to_the_kernels_message():
    X, y = _data()
    y = y.copy()
    y[5] = 3  # four classes' labels for a three-class accumulator
    with pytest.raises(ValueError, match="3"):
        _feed(DeferredMoments(3, block_rows=10_000), X, y)


def test_a_small_block_read_at_once_does_not_use_the_worker(monkeypatch):
    import skscreen.stats._deferred as deferred

    def refuse():
        raise AssertionError("the background worker was used for a block read at once")

    monkeypatch.setattr(deferred._FOLD_WORKER, "get", refuse)
    X, y = _data()
    m = _feed(DeferredMoments(3, block_rows=10_000), X, y)
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


def test_a_state_keeps_its_path_when_large_blocks_follow_a_small_read():
    X, y = _data(n=3000, p=50, seed=3)
    acc = DeferredMoments(3, block_rows=1000)
    for a in range(0, 300, 50):  # small: folded by torch when read
        acc.update(torch.as_tensor(X[a : a + 50]), torch.as_tensor(y[a : a + 50]))
    first = acc.to_moments()
    np.testing.assert_allclose(anova_f(first)[0], f_classif(X[:300], y[:300])[0], rtol=1e-10)
    for a in range(300, 3000, 100):  # 2700 rows: full blocks, flushed while updating
        acc.update(torch.as_tensor(X[a : a + 100]), torch.as_tensor(y[a : a + 100]))
    assert acc.n_samples == 3000
    np.testing.assert_allclose(anova_f(acc.to_moments())[0], f_classif(X, y)[0], rtol=1e-10)


def test_large_blocks_read_at_once_are_folded_by_the_kernel(monkeypatch):
    import skscreen.stats._deferred as deferred

    used = []
    original = DeferredMoments._fold_cpu
    monkeypatch.setattr(
        DeferredMoments, "_fold_cpu", lambda self, X, y: used.append(len(y)) or original(self, X, y)
    )
    X, y = _data(n=3000, p=50, seed=4)  # 150,000 values: above the small-fold threshold
    assert X.size >= deferred._SMALL_FOLD
    m = _feed(DeferredMoments(3, block_rows=10_000), X, y, size=500)
    assert used == [3000]
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-10)


def test_the_fold_path_is_chosen_once_by_device_size_and_when_read():
    X, y = _data(n=3000, p=64, seed=5)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    small = DeferredMoments(3, block_rows=10_000)
    assert small._by_torch is None and small.n_samples == 0
    small.update(Xt[:10], yt[:10])
    assert small.n_samples == 10  # pending rows count before any fold
    small.to_moments()
    # small, read at once: two numpy passes (a numpy state, as on the kernel path)
    assert small._by_torch is False and not small._state.is_torch
    # exactly the threshold is not small: 2**17 values
    from skscreen.stats._deferred import _SMALL_FOLD

    rows = _SMALL_FOLD // 64
    at = DeferredMoments(3, block_rows=10_000)
    at.update(Xt[:rows], yt[:rows])
    assert Xt[:rows].numel() == _SMALL_FOLD
    kernel = []
    original = DeferredMoments._fold_cpu
    DeferredMoments._fold_cpu = lambda self, X, y: kernel.append(len(y)) or original(self, X, y)
    try:
        at.to_moments()
    finally:
        DeferredMoments._fold_cpu = original
    assert kernel == [rows] and at._by_torch is False and not at._state.is_torch
    flushed = DeferredMoments(3, block_rows=100)  # a full block in update: the kernel
    flushed.update(Xt[:100], yt[:100])
    assert flushed._by_torch is False
    flushed.update(Xt[100:110], yt[100:110])
    flushed.to_moments()  # the small remainder, read at once, keeps the state's path
    assert flushed._by_torch is False and not flushed._state.is_torch


def test_an_empty_accumulator_has_its_classes_and_no_samples():
    m = DeferredMoments(4).to_moments()
    np.testing.assert_array_equal(m.classes_, [0, 1, 2, 3])
    assert m.n_samples == 0 and m.count_ is None


def test_an_error_in_an_earlier_background_fold_surfaces(monkeypatch):
    # blocks fold in the background, each after the previous one: the first block's error
    # (a label outside the classes) is raised when the state is read, though later blocks
    # were fine
    X, y = _data(n=300)
    acc = DeferredMoments(3, block_rows=100)
    bad = torch.as_tensor(y[:100]).clone()
    bad[5] = 7
    acc.update(torch.as_tensor(X[:100]), bad)
    for a in range(100, 300, 100):
        acc.update(torch.as_tensor(X[a : a + 100]), torch.as_tensor(y[a : a + 100]))
    with pytest.raises(ValueError, match="not in classes"):
        acc.to_moments()


def test_folds_never_overlap_when_the_state_is_read_mid_fold(monkeypatch):
    # one writer: a fold read at once waits for the background fold in flight
    import threading
    import time

    active, overlaps = [0], []
    lock = threading.Lock()
    original = DeferredMoments._fold_cpu

    def slow(self, X, y):
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        time.sleep(0.05)
        original(self, X, y)
        with lock:
            active[0] -= 1

    monkeypatch.setattr(DeferredMoments, "_fold_cpu", slow)
    X, y = _data(n=300, p=600)  # 300 x 600 values: the kernel path
    acc = DeferredMoments(3, block_rows=200)
    acc.update(torch.as_tensor(X[:200]), torch.as_tensor(y[:200]))  # in the background
    acc.update(torch.as_tensor(X[200:]), torch.as_tensor(y[200:]))
    m = acc.to_moments()  # the remainder, folded here
    assert max(overlaps) == 1
    np.testing.assert_allclose(anova_f(m)[0], f_classif(X, y)[0], rtol=1e-9)


@pytest.mark.parametrize("wait", [True, False])
@pytest.mark.parametrize("block_rows", [1, 4096])
def test_empty_batches_add_nothing(wait, block_rows):
    # a recorder can see a batch of zero rows (an empty DataLoader slice, a masked batch);
    # only-empty batches used to reach the torch fold, which indexes the first row
    acc = DeferredMoments(3, block_rows=block_rows)
    for _ in range(3):
        acc.update(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    acc.flush(wait=wait)
    assert acc.n_samples == 0
    assert acc.to_moments().n_samples == 0
    X, y = torch.randn(30, 4, dtype=torch.float64), torch.arange(30) % 3
    acc.update(X, y).update(torch.zeros(0, 4, dtype=torch.float64), y[:0])
    ref = f_classif(X.numpy(), y.numpy())[0]
    np.testing.assert_allclose(anova_f(acc.to_moments())[0], ref, rtol=1e-10)


# --- rows_left: the epoch's last rows are folded in the background before the read


def _fed_with_hint(acc, X, y, size=64, hint=True):
    """Feed ``X`` in batches announcing the rows still to come; the rows pending at the
    read and the number of folds handed to the worker."""
    n = len(y)
    for a in range(0, n, size):
        b = min(a + size, n)
        acc.update(
            torch.as_tensor(X[a:b]), torch.as_tensor(y[a:b]), rows_left=n - b if hint else None
        )
    return acc._pending_rows


def test_the_fold_left_to_the_read_shrinks_with_the_rows_left_hint():
    rng = np.random.default_rng(1)
    n, p = 3000, 200  # one block of 1024 rows, then 1976 rows of tail
    X = rng.normal(size=(n, p)).astype(np.float32) + np.arange(p, dtype=np.float32)
    y = rng.integers(0, 4, n)
    with_hint, without = DeferredMoments(4, block_rows=1024), DeferredMoments(4, block_rows=1024)
    left_hinted = _fed_with_hint(with_hint, X, y)
    left_plain = _fed_with_hint(without, X, y, hint=False)
    assert left_plain == 3000 - 2 * 1024  # the tail waits for the read
    # halved while at least 2^16 values remain: 952 -> 448 -> ... -> under 328 rows
    assert 0 < left_hinted <= 2**16 // p
    ref = ClassMoments(classes=[0, 1, 2, 3]).update(X.astype(np.float64), y)
    for acc in (with_hint, without):
        m = acc.to_moments()
        np.testing.assert_array_equal(m.count_, ref.count_)
        np.testing.assert_allclose(m.mean_, ref.mean_, rtol=1e-12)
        np.testing.assert_allclose(m.m2_, ref.m2_, rtol=1e-10)


def test_a_hint_never_folds_before_the_pending_rows_reach_the_rows_still_to_come():
    X, y = _data(n=2000, p=100)
    acc = DeferredMoments(3, block_rows=10_000)
    for a in range(0, 1000, 50):
        acc.update(
            torch.as_tensor(X[a : a + 50]), torch.as_tensor(y[a : a + 50]), rows_left=1950 - a
        )
        if a + 50 < 1000:  # fewer rows pending than still to come: not yet
            assert acc._pending_rows == a + 50
    assert acc._pending_rows == 0  # 1000 pending, 1000 to come, 100,000 values: folded


def test_an_epoch_too_small_for_an_early_fold_keeps_the_one_pass_read():
    # 1000 x 20 values (a quickstart epoch): under 2^16 values pending whenever they reach
    # the rows to come, so nothing is folded before the read (which takes the small path)
    X, y = _data(n=1000, p=20)
    acc = DeferredMoments(3)
    assert _fed_with_hint(acc, X, y, size=100) == 1000
    assert acc._by_torch is None and acc._future is None
    np.testing.assert_allclose(anova_f(acc.to_moments())[0], f_classif(X, y)[0], rtol=1e-10)


def test_a_batch_on_another_device_ignores_the_hint(monkeypatch):
    X, y = _data(n=2000, p=100)
    acc = DeferredMoments(3, block_rows=10_000)
    xt = torch.as_tensor(X)
    monkeypatch.setattr(type(xt), "device", property(lambda self: torch.device("meta")))
    acc.update(xt, torch.as_tensor(y), rows_left=0)
    assert acc._pending_rows == 2000


def test_an_early_fold_starts_at_exactly_2_to_the_16_values_pending():
    X, y = _data(n=1024, p=64)  # 1024 x 64 = 2^16 values
    just_under = DeferredMoments(3, block_rows=10_000)
    exactly = DeferredMoments(3, block_rows=10_000)
    just_under.update(torch.as_tensor(X[:1023]), torch.as_tensor(y[:1023]), rows_left=0)
    exactly.update(torch.as_tensor(X), torch.as_tensor(y), rows_left=0)
    assert just_under._pending_rows == 1023
    assert exactly._pending_rows == 0 and exactly._future is not None
    np.testing.assert_allclose(anova_f(exactly.to_moments())[0], f_classif(X, y)[0], rtol=1e-10)


def test_a_state_on_another_device_stays_there_as_torch_tensors():
    # meta stands for CUDA on CPU-only CI: a device state is given as torch tensors on that
    # device (a copy), never moved to the host as numpy
    acc = DeferredMoments(3, block_rows=64)
    y = torch.zeros(50, dtype=torch.long, device="meta")
    for _ in range(3):
        acc.update(torch.randn(50, 4, device="meta"), y)
    m = acc.to_moments()
    for t in (m.count_, m.mean_, m.m2_, m.shift_):
        assert torch.is_tensor(t) and t.device.type == "meta"
    assert m.mean_.shape == m.m2_.shape == (3, 4) and m.count_.shape == (3,)
    assert m.mean_ is not acc._state.mean_ and m.count_ is not acc._state.count_
