"""Fitting the screener on Dask collections: per-block states, tree-merged in parallel."""

from __future__ import annotations

import numpy as np

from skscreen.stats import ClassMoments


def _block_state(X, y):
    """Moments of one block (runs on a worker); validates the block first."""
    import scipy.sparse as sp
    from sklearn.utils.multiclass import check_classification_targets

    X = X if sp.issparse(X) else np.asarray(X)
    y = np.asarray(y).ravel()
    check_classification_targets(y)
    if X.ndim != 2:
        raise ValueError(f"Each block of X must be 2-dimensional, got shape {X.shape}.")
    # NaN/inf: the kernel raises scikit-learn's message (it re-reads X only when its sums
    # are not finite), so finite blocks are read once
    return ClassMoments().update(X, y)


def _merge_states(*states):
    out = ClassMoments()
    for s in states:
        out.merge(s)
    return out


def tree_reduce(states, split_every=8):
    """Merge a list of delayed states pairwise-ish in a tree of fan-in ``split_every``."""
    import dask

    merge = dask.delayed(_merge_states, pure=True)
    while len(states) > 1:
        states = [merge(*states[i : i + split_every]) for i in range(0, len(states), split_every)]
    return states[0]


def _as_dask_arrays(X, y):
    import dask.array as da
    import dask.dataframe as dd

    names = None
    if isinstance(X, dd.DataFrame):
        names = np.asarray(X.columns, dtype=object)
        X = X.to_dask_array(lengths=True)
    elif not isinstance(X, da.Array):
        X = da.from_array(np.asarray(X), chunks=(max(1, len(X) // 4), -1))
    if isinstance(y, (dd.Series, dd.DataFrame)):
        y = y.to_dask_array(lengths=True)
    elif not isinstance(y, da.Array):
        y = da.from_array(np.asarray(y), chunks=X.chunks[0])
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got {X.ndim} dimensions.")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}.")
    X = X.rechunk({1: -1})  # whole rows per block
    y = y.rechunk((X.chunks[0],))
    return X, y, names


def dask_state(X, y, split_every=8):
    """The moments of Dask input: one state per row block, merged by a tree reduction.

    Runs on whatever Dask scheduler is active (threads, processes, ``distributed``).
    Returns ``(state, n_features, feature_names)`` and modifies nothing: the screener
    commits the result (``OnlineFClassifScreener.fit``), so a failing block leaves an
    earlier fit intact.
    """
    import dask

    X, y, names = _as_dask_arrays(X, y)
    xb = X.to_delayed().ravel()
    yb = y.to_delayed().ravel()
    block = dask.delayed(_block_state, pure=True)
    states = [block(a, b) for a, b in zip(xb, yb)]
    (state,) = dask.compute(tree_reduce(states, split_every))
    if state.count_ is None:
        raise ValueError("X has no samples.")
    if names is not None and not all(isinstance(n, str) for n in names):
        names = None
    return state, int(X.shape[1]), names
