"""The net's X as a scikit-learn classifier takes it, given to skorch in a form it trains on.

Two jobs, both plain functions: :func:`prepare_X` turns what a user passes (arrays of any
numeric dtype and strides, DataFrames, sparse matrices, tensors, lists of rows) into what
skorch's ``Dataset`` and the module take (the module's floating dtype, integer ids left
alone for an embedding, no NaN); :func:`check_features` records and checks
``n_features_in_``/``feature_names_in_`` with scikit-learn's own ``validate_data``.
Everything else (dicts of inputs, lists of arrays, Datasets) is skorch's and passes through.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch

__all__ = ["check_features", "head", "is_pandas", "module_dtype", "prepare_X", "takes_indices"]

_NOT_FINITE = "Input X contains NaN or infinity; clean or impute it first."


def is_pandas(X):
    """A pandas DataFrame or Series (without importing pandas)."""
    return type(X).__module__.startswith("pandas") and hasattr(X, "to_numpy")


def rows_to_array(X):
    """A list of rows of numbers (``X.tolist()``) as an array; other lists unchanged.

    A list of arrays or tensors stays a list (skorch's several inputs).
    """
    if isinstance(X, list) and X and all(isinstance(r, list | tuple) for r in X):
        try:
            arr = np.asarray(X)
        except ValueError:
            return X
        if arr.dtype.kind in "biuf":
            return arr
    return X


def module_dtype(module):
    """The dtype of the module's first floating parameter (float32 without one)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def takes_indices(module):
    """Whether the module embeds integer ids (its integer X must not be cast)."""
    return any(isinstance(m, torch.nn.Embedding | torch.nn.EmbeddingBag) for m in module.modules())


def _numpy_dtype(dtype):
    """numpy's twin of a torch dtype, or None (bfloat16 has none)."""
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except TypeError:
        return None


def _casts(kind, keep_integers):
    return kind in "biuf" and not (keep_integers and kind in "biu")


def _all_finite(a):
    """Whether a float array (numpy, or a torch tensor) holds no NaN or infinity.

    One reduction first, with no temporary array: NaN and infinity reach the sum, so a
    finite sum proves every value finite (about 1.4 ms for 10,000 MNIST rows, where
    ``np.isfinite(a).all()`` took 4 ms in a fit: it allocates a mask as large as the data,
    fresh memory to fault in); a sum that is not finite (bad values, or finite ones whose
    sum overflows) is settled value by value.

    >>> _all_finite(np.array([1.0, 2.0])), _all_finite(np.array([3e38, 3e38], np.float32))
    (True, True)
    >>> _all_finite(np.array([1.0, np.nan]))
    False
    """
    if torch.is_tensor(a):
        return bool(torch.isfinite(a.sum())) or bool(torch.isfinite(a).all())
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(a.sum()):
            return True
    return bool(np.isfinite(a).all())


def prepare_X(X, dtype=torch.float32, keep_integers=False):
    """``X`` as the module takes it: numbers of ``dtype``, finite, indexable by skorch.

    pandas becomes numpy (writable); a list of rows becomes an array; numeric arrays,
    sparse matrices and tensors are cast to ``dtype`` (bool and integers too, unless
    ``keep_integers``: ids for an embedding); negative strides are made contiguous (torch
    takes none); sparse matrices other than CSR and CSC become CSR (rows skorch can index:
    LIL, DOK, COO and the others), and scipy's sparse arrays (``csr_array``, ...) CSR
    matrices. ``dtype`` without a numpy twin (bfloat16): arrays become
    tensors of it; sparse matrices are refused naming the fix where scipy lacks the dtype
    (half precisions). Anything else (dicts, lists of arrays, Datasets) is returned as it is.
    Raises ValueError for NaN or infinity, and for an object array that is not numeric.
    """
    if is_pandas(X):
        X = X.to_numpy()
        if not X.flags.writeable:  # pandas copy-on-write views; torch wants writable
            X = X.copy()
    X = rows_to_array(X)
    np_dtype = _numpy_dtype(dtype)
    np_target = np.float64 if np_dtype is None else np_dtype
    if isinstance(X, np.ndarray):
        if X.dtype == object:
            try:
                X = X.astype(np_target)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"X must be numeric; converting it to {np.dtype(np_target)} failed: {exc}"
                ) from None
        cast = _casts(X.dtype.kind, keep_integers)
        if cast and np_dtype is not None and X.dtype != np_dtype:
            X = X.astype(np_dtype)
        if X.dtype.kind == "f" and not _all_finite(X):
            raise ValueError(_NOT_FINITE)
        if any(st < 0 for st in X.strides):  # X[:, ::-1]
            X = np.ascontiguousarray(X)
        if cast and np_dtype is None:
            X = torch.from_numpy(X).to(dtype)
    elif scipy.sparse.issparse(X):
        if not isinstance(X, scipy.sparse.spmatrix):
            # scipy's sparse arrays (csr_array, ...): a row of one is 1-D, which skorch's
            # batches cannot stack; the matrix twin keeps rows 2-D
            X = scipy.sparse.csr_matrix(X)
        if X.format not in ("csr", "csc"):
            # LIL, DOK, COO, ...: rows as skorch indexes them, and one array of stored values
            X = X.tocsr()
        if _casts(X.dtype.kind, keep_integers) and (np_dtype is None or X.dtype != np_dtype):
            if np_dtype not in (np.float32, np.float64):
                raise ValueError(
                    f"A module of {dtype} takes dense X: scipy.sparse has no {dtype}. Pass "
                    "X.toarray() (or a tensor), or cast the module to float32."
                )
            X = X.astype(np_dtype)
        if X.dtype.kind == "f" and not _all_finite(X.data):
            raise ValueError(_NOT_FINITE)
    elif torch.is_tensor(X):
        kind = "f" if X.is_floating_point() else ("b" if X.dtype == torch.bool else "i")
        if X.dtype != dtype and not X.is_complex() and _casts(kind, keep_integers):
            X = X.to(dtype)
        if X.is_floating_point() and not _all_finite(X):
            raise ValueError(_NOT_FINITE)
    return X


def head(X, n=8):
    """The first ``n`` rows of an array-like X (pandas, list of rows, array, tensor), or
    None for anything else and for an empty X (what a probe pass can run on). A dict of
    such inputs (skorch's several module inputs) gives the dict of their heads, or None
    where one of them has none.

    >>> import numpy as np
    >>> {k: v.shape for k, v in head({"a": np.zeros((20, 3)), "b": np.ones((20, 2))}).items()}
    {'a': (8, 3), 'b': (8, 2)}
    """
    if isinstance(X, dict):
        heads = {k: head(v, n) for k, v in X.items()}
        return heads if heads and all(v is not None for v in heads.values()) else None
    if is_pandas(X):
        X = X.to_numpy()
    X = rows_to_array(X)
    if not (isinstance(X, np.ndarray) or torch.is_tensor(X)) or len(X) == 0:
        return None
    return X[:n]


def check_features(estimator, X, reset):
    """Record (``reset``) or check ``n_features_in_``/``feature_names_in_`` of a 2-D X.

    scikit-learn's ``validate_data`` does both, without converting X. Before it: an X of
    zero samples is refused with scikit-learn's message, and after a fit a 1-D X (one
    sample as a vector) is refused naming ``reshape(1, -1)``. Datasets and X of other
    dimensions (images, sequences) are skorch's and are not checked.
    """
    from sklearn.utils.validation import validate_data
    from skorch.utils import is_dataset

    if reset:  # a fit forgets the previous fit's features, whatever X is
        for name in ("n_features_in_", "feature_names_in_"):
            estimator.__dict__.pop(name, None)
    if is_dataset(X):
        return
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1 and shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={tuple(shape)}) while a minimum of 1 is "
            f"required by {type(estimator).__name__}."
        )
    if not reset and len(shape or ()) == 1 and hasattr(estimator, "n_features_in_"):
        raise ValueError(
            f"Expected a 2-D X (samples x {estimator.n_features_in_} features), got a 1-D "
            "array; reshape a single sample with X.reshape(1, -1)."
        )
    if len(shape or ()) == 2:
        validate_data(estimator, X, reset=reset, skip_check_array=True)
