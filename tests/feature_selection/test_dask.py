"""Dask: per-block states tree-merged on any scheduler, and dask-ml's Incremental."""

import os
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import DataConversionWarning
from sklearn.feature_selection import f_classif

from skscreen import OnlineFClassifScreener
from skscreen.feature_selection import _dask

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")


def _data():
    return make_classification(
        n_samples=3000,
        n_features=15,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        shuffle=False,
        random_state=0,
    )


@pytest.mark.parametrize("scheduler", ["threads", "processes", "synchronous"])
def test_dask_array_equals_f_classif(scheduler):
    import dask

    X, y = _data()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    Xd = da.from_array(X, chunks=(170, 15))
    yd = da.from_array(y, chunks=170)
    with dask.config.set(scheduler=scheduler):
        s = OnlineFClassifScreener(k=4).fit(Xd, yd)
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-10)
    np.testing.assert_array_equal(np.flatnonzero(s.get_support()), [0, 1, 2, 3])
    assert s.n_samples_seen_ == 3000


def test_dask_dataframe_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(15)])
    ddf = dd.from_pandas(df, npartitions=5)
    ys = dd.from_pandas(pd.Series(y), npartitions=5)
    s = OnlineFClassifScreener(k=2).fit(ddf, ys)
    np.testing.assert_array_equal(s.feature_names_in_, df.columns)
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-10)


def test_dask_nan_block_is_reported():
    X, y = _data()
    X[2500, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        OnlineFClassifScreener().fit(
            da.from_array(X, chunks=(500, 15)), da.from_array(y, chunks=500)
        )


def test_local_cluster_two_worker_processes():
    distributed = pytest.importorskip("dask.distributed")
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster),
        ):
            s = OnlineFClassifScreener(k=4).fit(
                da.from_array(X, chunks=(250, 15)), da.from_array(y, chunks=250)
            )
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-10)


def test_dask_ml_incremental():
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = _data()
    # a selector has no score(): Incremental then needs a scoring callable of its own
    inc = wrappers.Incremental(OnlineFClassifScreener(k=4), scoring=lambda est, X, y: 0.0)
    inc.fit(da.from_array(X, chunks=(300, 15)), da.from_array(y, chunks=300), classes=[0, 1, 2])
    np.testing.assert_allclose(inc.estimator_.scores_, f_classif(X, y)[0], rtol=1e-10)
    assert inc.transform(da.from_array(X, chunks=(300, 15))).compute().shape == (3000, 4)


def test_rejected_dask_fit_leaves_the_earlier_fit_intact():
    X, y = _data()
    s = OnlineFClassifScreener(k=4).fit(X[:1000], y[:1000])
    before = (s.scores_.copy(), s.n_samples_seen_)
    Xbad = X.copy()
    Xbad[2500, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        s.fit(da.from_array(Xbad, chunks=(500, 15)), da.from_array(y, chunks=500))
    with pytest.raises(ValueError, match="at least 2 classes"):
        s.fit(da.from_array(X, chunks=(500, 15)), da.zeros(3000, chunks=500))
    y_nan = np.where(np.arange(len(y)) == 1700, np.nan, y + 0.5)  # float classes, one NaN
    with pytest.raises(ValueError, match="Input y contains NaN"):
        s.fit(da.from_array(X, chunks=(500, 15)), da.from_array(y_nan, chunks=500))
    np.testing.assert_array_equal(s.scores_, before[0])
    assert s.n_samples_seen_ == before[1]
    # one commit path: the Dask fit keeps the screener's own parameters and continues
    s.fit(da.from_array(X, chunks=(500, 15)), da.from_array(y, chunks=500))
    s.partial_fit(X[:10], y[:10])
    assert s.k == 4 and s.n_samples_seen_ == 3010


# ---------------------------------------------------------------- issue 19: unknown sizes
def _masked():
    X, y = _data()
    Xd, yd = da.from_array(X, chunks=(400, 5)), da.from_array(y, chunks=400)
    keep = yd != 1  # a boolean mask: row counts per block unknown
    return X, y, Xd[keep], yd[keep]


def test_boolean_mask_with_unknown_chunk_sizes():
    # main: "X has nan samples but y has nan"
    X, y, Xm, ym = _masked()
    assert np.isnan(Xm.shape[0]) and np.isnan(ym.shape[0])
    rows = y != 1
    ref = f_classif(X[rows], y[rows])[0]
    for yy in (ym, y[rows], da.from_array(y[rows], chunks=500)):
        s = OnlineFClassifScreener(k=4).fit(Xm, yy)
        np.testing.assert_allclose(s.scores_, ref, rtol=1e-10)
        assert s.n_samples_seen_ == rows.sum()
    # a numpy X with a masked Dask y
    s = OnlineFClassifScreener(k=4).fit(X[rows], ym)
    np.testing.assert_allclose(s.scores_, ref, rtol=1e-10)
    # the caller's arrays are left as they were (sizes computed on copies)
    assert np.isnan(Xm.shape[0]) and np.isnan(ym.shape[0])


def test_dataframe_to_dask_array_without_lengths():
    # main: "slice indices must be integers or None or have an __index__ method"
    pd = pytest.importorskip("pandas")
    X, y = _data()
    ddf = dd.from_pandas(pd.DataFrame(X), npartitions=4)
    Xa = ddf.to_dask_array()  # no lengths: unknown row counts
    assert np.isnan(Xa.shape[0])
    ref = f_classif(X, y)[0]
    ys = dd.from_pandas(pd.Series(y), npartitions=4)
    for yy in (y, ys.to_dask_array(), ys, dd.from_pandas(pd.Series(y), npartitions=3)):
        s = OnlineFClassifScreener(k=4).fit(Xa, yy)
        np.testing.assert_allclose(s.scores_, ref, rtol=1e-10)


def test_pairs_of_blocks_that_disagree_say_what_to_do():
    X, y, Xm, ym = _masked()
    yd = da.from_array(y, chunks=400)
    with pytest.raises(ValueError, match="paired block by block.*compute_chunk_sizes"):
        OnlineFClassifScreener().fit(Xm, yd[yd != 2])


@pytest.mark.parametrize("length", [2999, 3001])
def test_wrong_length_of_a_local_y_is_reported_first(length):
    # main: Dask's "Chunks do not add up to shape" before the library's own check
    X, y = _data()
    yy = np.resize(y, length)
    with pytest.raises(ValueError, match=f"X has 3000 samples but y has {length}"):
        OnlineFClassifScreener().fit(da.from_array(X, chunks=(500, 15)), yy)
    _, _, Xm, _ = _masked()
    n = int((y != 1).sum())
    with pytest.raises(ValueError, match=f"X has {n} samples but y has {n + 1}"):
        OnlineFClassifScreener().fit(Xm, np.resize(y, n + 1))
    with pytest.raises(ValueError, match=f"X has {n + 1} samples but y has {n}"):
        OnlineFClassifScreener().fit(np.resize(X, (n + 1, 15)), _masked()[3])


# ------------------------------------------------ mutation survivors (issue 20, item 2)
def test_block_state_checks_its_block_word_for_word():
    from skscreen.feature_selection._dask import _block_state

    with pytest.raises(ValueError) as exc:
        _block_state(np.zeros(4), np.zeros(4))
    assert str(exc.value) == "Each block of X must be 2-dimensional, got shape (4,)."
    with pytest.raises(ValueError) as exc:
        _block_state(np.zeros((4, 2)), np.zeros(3))
    assert str(exc.value) == (
        "X has 4 samples but y has 3 in a pair of blocks (X and y had unknown chunk sizes and "
        "were paired block by block: give them the same row blocks, e.g. the same boolean "
        "mask, or call compute_chunk_sizes() on both)."
    )
    # a block that is not an array yet (a list of rows) is read as one
    m = _block_state([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [0, 1, 1])
    np.testing.assert_array_equal(m.count_, [1, 2])
    # non-integer float labels are classes, as for SelectKBest(f_classif); NaN is not
    m = _block_state(np.zeros((3, 2)), np.array([0.5, 1.5, 0.5]))
    np.testing.assert_array_equal(m.classes_, [0.5, 1.5])
    np.testing.assert_array_equal(m.count_, [2, 1])
    with pytest.raises(ValueError, match="Input y contains NaN"):
        _block_state(np.zeros((2, 2)), np.array([0.5, np.nan]))
    # a column vector of labels is raveled; a sparse block stays sparse
    import scipy.sparse as sp

    X = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0]])
    m = _block_state(sp.csr_matrix(X), np.array([[0], [1], [1]]))
    np.testing.assert_array_equal(m.count_, [1, 2])
    np.testing.assert_allclose(m.in_data_units().mean_ + m.shift_, [[1, 0], [1.5, 3]])


def test_tree_reduce_merges_with_the_given_fan_in():
    import dask

    from skscreen.feature_selection._dask import _merge_states, tree_reduce
    from skscreen.stats import ClassMoments

    X, y = _data()
    parts = [ClassMoments().update(X[i : i + 100], y[i : i + 100]) for i in range(0, 3000, 100)]
    whole = ClassMoments().update(X, y)
    for split_every in (2, 8, 30):
        reduced = tree_reduce([dask.delayed(p) for p in parts], split_every)
        graph = dict(reduced.__dask_graph__())
        merges = [v for k, v in graph.items() if str(k).startswith("_merge_states")]
        # 30 states: 15+8+4+2+1 merges of two; 4+1 merges of at most eight; one of thirty
        assert len(merges) == {2: 30, 8: 5, 30: 1}[split_every]
        (state,) = dask.compute(reduced)
        np.testing.assert_array_equal(state.count_, whole.count_)
        np.testing.assert_allclose(state.m2_, whole.m2_, rtol=1e-12)
    single = ClassMoments().update(X, y)
    assert tree_reduce([single]) is single  # nothing to merge
    assert _merge_states().count_ is None


def test_known_and_sized():
    from skscreen.feature_selection._dask import _known, _sized

    assert _known((3, 4)) and not _known((3, np.nan)) and _known(())
    a = da.arange(10, chunks=5)
    assert _sized(a) is a
    masked = a[a > 3]
    sized = _sized(masked)
    assert sized.chunks == ((1, 5),) and np.isnan(masked.shape[0])


def test_one_dimensional_x_is_refused_word_for_word():
    from skscreen.feature_selection._dask import dask_state

    x1 = np.arange(6.0)
    y = np.array([0, 1] * 3)
    message = "X must be 2-dimensional, got 1 dimensions."
    for X, yy in ((da.from_array(x1, chunks=3), y), (x1, da.from_array(y, chunks=3))):
        with pytest.raises(ValueError) as exc:
            dask_state(X, yy)
        assert str(exc.value) == message
    with pytest.raises(ValueError) as exc:
        dask_state(da.from_array(x1, chunks=3), da.from_array(y, chunks=3))
    assert str(exc.value) == message


def test_a_local_x_is_split_as_the_dask_y():
    X, y = _data()
    yd = da.from_array(y, chunks=700)
    s = OnlineFClassifScreener(k=4).fit(X, yd)
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-10)
    with pytest.raises(ValueError) as exc:
        OnlineFClassifScreener().fit(X[:2999], yd)
    assert str(exc.value) == "X has 2999 samples but y has 3000."


def test_known_sizes_of_other_lengths_are_refused():
    X, y = _data()
    with pytest.raises(ValueError) as exc:
        OnlineFClassifScreener().fit(
            da.from_array(X, chunks=(500, 15)), da.from_array(y[:2900], chunks=300)
        )
    assert str(exc.value) == "X has 3000 samples but y has 2900."


def test_no_rows_and_names_that_are_not_strings():
    pd = pytest.importorskip("pandas")
    from skscreen.feature_selection._dask import dask_state

    with pytest.raises(ValueError) as exc:
        dask_state(da.zeros((0, 3), chunks=(1, 3)), np.zeros(0, dtype=int))
    assert str(exc.value) == "X has no samples."
    X, y = _data()
    state, n_features, names = dask_state(dd.from_pandas(pd.DataFrame(X), npartitions=3), y)
    assert n_features == 15 and names is None  # integer column names: no feature names
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(15)])
    state, n_features, names = dask_state(dd.from_pandas(df, npartitions=3), y)
    assert list(names) == list(df.columns)


UNDER_MUTMUT = bool(os.environ.get("MUTANT_UNDER_TEST")) or "mutants" in _dask.__file__


def test_feature_names_only_from_a_dataframe_and_as_object_arrays():
    pd = pytest.importorskip("pandas")
    from skscreen.feature_selection._dask import dask_state

    X, y = _data()
    # a Dask array has no column names: no feature_names_in_, as SelectKBest on an array
    assert dask_state(da.from_array(X, chunks=(500, 15)), y)[2] is None
    s = OnlineFClassifScreener(k=2).fit(da.from_array(X, chunks=(500, 15)), y)
    assert not hasattr(s, "feature_names_in_")
    # from a DataFrame: an object array, as scikit-learn records them
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(15)])
    s = OnlineFClassifScreener(k=2).fit(dd.from_pandas(df, npartitions=5), y)
    assert s.feature_names_in_.dtype == object
    np.testing.assert_array_equal(
        s.feature_names_in_, OnlineFClassifScreener(k=2).fit(df, y).feature_names_in_
    )


@pytest.mark.parametrize("y_kind", ["numpy", "dask-known", "dask-unknown"])
def test_a_column_vector_of_labels_is_raveled_whatever_its_container(y_kind):
    X, y = _data()
    Xd = da.from_array(X, chunks=(500, 15))
    y2 = y.reshape(-1, 1)
    if y_kind == "numpy":
        yd = y2
    elif y_kind == "dask-known":
        yd = da.from_array(y2, chunks=(700, 1))  # other row blocks than X's: rechunked
    else:
        keep = da.from_array(np.ones(3000, dtype=bool), chunks=700)
        Xd, yd = Xd[keep], da.from_array(y2, chunks=(600, 1))[keep]  # unknown sizes
    with pytest.warns(DataConversionWarning) as dask_warning:
        s = OnlineFClassifScreener(k=3).fit(Xd, yd)
    np.testing.assert_allclose(s.scores_, f_classif(X, y)[0], rtol=1e-10)
    with pytest.warns(DataConversionWarning) as local_warning:
        OnlineFClassifScreener(k=3).fit(X, y2)  # the in-memory path: sklearn's column_or_1d
    assert [str(w.message) for w in dask_warning] == [str(w.message) for w in local_warning]
    if not UNDER_MUTMUT:  # mutmut's trampolines add frames
        assert dask_warning[0].filename == __file__  # the user's fit call, whatever wraps it


@pytest.mark.parametrize("shape", [(3000, 2), (3000, 3)])
def test_labels_of_any_other_shape_are_refused_before_any_work(shape):
    X, y = _data()
    ybad = np.repeat(y, int(np.prod(shape[1:]))).reshape(shape)
    with pytest.raises(ValueError) as local:
        OnlineFClassifScreener().fit(X, ybad)
    for yd in (ybad, da.from_array(ybad, chunks=(700,) + shape[1:])):
        with pytest.raises(ValueError) as dask_error:
            OnlineFClassifScreener().fit(da.from_array(X, chunks=(500, 15)), yd)
        assert str(dask_error.value) == str(local.value)
