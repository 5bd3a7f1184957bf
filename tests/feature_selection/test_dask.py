"""Dask: per-block states tree-merged on any scheduler, and dask-ml's Incremental."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.feature_selection import f_classif

from skscreen import OnlineFClassifScreener

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
    with pytest.raises(ValueError, match="Unknown label type"):
        s.fit(da.from_array(X, chunks=(500, 15)), da.from_array(y + 0.5, chunks=500))
    np.testing.assert_array_equal(s.scores_, before[0])
    assert s.n_samples_seen_ == before[1]
    # one commit path: the Dask fit keeps the screener's own parameters and continues
    s.fit(da.from_array(X, chunks=(500, 15)), da.from_array(y, chunks=500))
    s.partial_fit(X[:10], y[:10])
    assert s.k == 4 and s.n_samples_seen_ == 3010
