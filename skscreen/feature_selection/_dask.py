"""Fitting the screener on Dask collections: per-block states, tree-merged in parallel."""

from __future__ import annotations

import sys
import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning

from skscreen.stats import ClassMoments


def _block_state(X, y):
    """Moments of one block (runs on a worker); validates the block first."""
    import scipy.sparse as sp

    from skscreen.feature_selection._online_f import check_labels

    X = X if sp.issparse(X) else np.asarray(X)
    y = np.asarray(y).ravel()
    if X.ndim != 2:
        raise ValueError(f"Each block of X must be 2-dimensional, got shape {X.shape}.")
    if X.shape[0] != y.shape[0]:
        # only where the row counts were unknown and X and y were paired block by block
        raise ValueError(
            f"X has {X.shape[0]} samples but y has {y.shape[0]} in a pair of blocks (X and y "
            "had unknown chunk sizes and were paired block by block: give them the same "
            "row blocks, e.g. the same boolean mask, or call compute_chunk_sizes() on both)."
        )
    check_labels(y)
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


def _known(rows):
    """Whether every block size along the rows is known (Dask writes ``nan`` otherwise)."""
    return not any(np.isnan(c) for c in rows)


def _sized(a):
    """``a`` with known block sizes: computed (one pass over ``a``'s graph) when unknown.

    On a copy: ``compute_chunk_sizes`` changes the array it is called on, the caller's.
    """
    return a if _known(a.chunks[0]) else a.copy().compute_chunk_sizes()


def _check_lengths(n_x, n_y):
    if n_x != n_y:
        raise ValueError(f"X has {n_x} samples but y has {n_y}.")


def _package(frame):
    return frame.f_globals.get("__name__", "").partition(".")[0]  # pragma: no mutate


def _outside_the_libraries():
    """The ``stacklevel`` that points a warning raised by the caller at the first frame
    outside skscreen and scikit-learn (the user's ``fit``, whatever wraps it).

    Not mutated: its frame test runs in the normal suite and skips under mutmut, whose
    trampolines add frames of their own (see docs/testing.rst).
    """
    frame, level = sys._getframe(1), 1  # pragma: no mutate
    libraries = ("skscreen", "sklearn")  # pragma: no mutate
    while frame is not None and _package(frame) in libraries:  # pragma: no mutate
        frame, level = frame.f_back, level + 1  # pragma: no mutate
    return level  # pragma: no mutate


def _check_y_shape(y):
    """scikit-learn's rule for ``y`` (``column_or_1d(y, warn=True)``) on its shape alone: a
    column vector is used raveled, with its warning; any other 2-D shape is refused."""
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=_outside_the_libraries(),
        )
    elif y.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")


def _as_dask_arrays(X, y):
    """``(X, y, names)`` as Dask arrays with the same row blocks (whole rows per block).

    Lengths are checked before anything is split. Unknown block sizes (a boolean mask, a
    DataFrame's ``to_dask_array()`` without lengths) are fine: X and y with the same number
    of row blocks are paired block by block (each pair is checked on its worker), anything
    else has its sizes computed first (``compute_chunk_sizes``: one extra pass over that
    input).
    """
    import dask.array as da
    import dask.dataframe as dd

    names = None
    if isinstance(X, dd.DataFrame):
        names = np.asarray(X.columns, dtype=object)
        X = X.to_dask_array()  # row counts unknown: paired or computed below
    if isinstance(y, (dd.Series, dd.DataFrame)):
        y = y.to_dask_array()
    if not isinstance(y, da.Array):
        y = np.asarray(y)
    _check_y_shape(y)
    if not isinstance(y, da.Array):  # a local y: its length is known, check it first
        X = _sized(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got {X.ndim} dimensions.")
        _check_lengths(X.shape[0], y.shape[0])
        y = da.from_array(y, chunks=(X.chunks[0],) + tuple((d,) for d in y.shape[1:]))
    elif not isinstance(X, da.Array):  # a local X, a Dask y
        X = np.asarray(X)
        y = _sized(y)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got {X.ndim} dimensions.")
        _check_lengths(X.shape[0], y.shape[0])
        X = da.from_array(X, chunks=(y.chunks[0], -1))
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got {X.ndim} dimensions.")
    X = X.rechunk({1: -1})  # whole rows per block (fine with unknown row sizes)
    if _known(X.chunks[0]) and _known(y.chunks[0]):
        _check_lengths(X.shape[0], y.shape[0])
        y = y.rechunk((X.chunks[0],) + y.chunks[1:])
    elif X.numblocks[0] != y.numblocks[0]:
        X, y = _sized(X), _sized(y)
        _check_lengths(X.shape[0], y.shape[0])
        y = y.rechunk((X.chunks[0],) + y.chunks[1:])
    # else: the same number of row blocks of unknown sizes, paired block by block
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
