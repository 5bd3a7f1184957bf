"""The net's class labels: which labels it knows and which module output each one trains.

A scikit-learn classifier takes any labels and returns them from ``predict``, with one
``predict_proba`` column per entry of ``classes_``; skorch's classifiers train on output
indices. A :class:`LabelEncoding` is the bridge, decided once by the first call of a fit
(:func:`first_encoding`) and then applied to every later batch of labels: either ``y``
holds the labels themselves (``names``: each is trained as the output at its position in
``classes``), or ``y`` holds output indices already (skorch's convention, kept as it is).
:class:`LabelledDataset` is skorch's own ``Dataset`` whose items carry the output indices
while its ``.y`` keeps the labels (what skorch's scoring callbacks compare ``predict``
with).
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.dataset import Dataset

__all__ = [
    "RECORD_KEY",
    "LabelEncoding",
    "encoding_from_record",
    "encoding_record",
    "LabelledDataset",
    "check_labels",
    "first_encoding",
    "require_two_classes",
]


def _as_numpy(y):
    if torch.is_tensor(y):
        return y.detach().cpu().numpy()
    if type(y).__module__.startswith("pandas") and hasattr(y, "to_numpy"):
        return y.to_numpy()
    return np.asarray(y)


def check_labels(y):
    """``y`` as a 1-D numpy array of class labels (binary or multiclass), or ValueError.

    Tensors, pandas objects and lists are converted; a column vector is flattened.
    """
    from sklearn.utils.multiclass import type_of_target

    y = _as_numpy(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample), got shape {y.shape}.")
    try:
        kind = type_of_target(y)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must hold class labels of one type: {exc}") from None
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"y must hold class labels (binary or multiclass), got {kind!r} targets.")
    return y


def require_two_classes(found):
    """The two-class rule of a first call: a classifier needs at least two labels."""
    if found.size < 2:
        raise ValueError(
            f"y has {found.size} class{'es' if found.size != 1 else ''} ({found.tolist()!r}); "
            "a classifier needs at least two. A first partial_fit whose batch holds only some "
            "of the labels names them all: partial_fit(X, y, classes=all_labels)."
        )


def _integral(values):
    return values.dtype.kind in "iu" or (
        values.dtype.kind == "f" and bool(np.all(np.mod(values, 1) == 0))
    )


class LabelEncoding:
    """Which labels a net knows (``classes``, in column order) and the output of each.

    Parameters
    ----------
    classes : array-like
        The labels, as ``classes_`` reports them.
    names : bool
        True: ``y`` holds the labels themselves, each trained as the output at its position
        in ``classes``. False: ``y`` holds output indices (skorch's convention).
    given : bool, default=False
        ``classes`` is the net's ``classes`` parameter (skorch's meaning: names for the
        outputs); with ``names=False`` the outputs are then ``0..len(classes)-1``, otherwise
        the index labels themselves (e.g. ``{0, 2}``).
    """

    def __init__(self, classes, names, given=False):
        self.classes = np.asarray(classes)
        self.names = bool(names)
        self.given = bool(given)
        if names or given:
            self.outputs = np.arange(len(self.classes), dtype=np.int64)
        else:
            self.outputs = self.classes.astype(np.int64)
        self._position = {c: i for i, c in enumerate(self.classes.tolist())} if names else None

    def __repr__(self):
        kind = "names" if self.names else "output indices"
        return f"LabelEncoding({self.classes.tolist()!r}, y holds {kind})"

    def _unknown(self, unknown):
        shown = np.asarray(self.classes).tolist()  # Python scalars: 'neg', not np.str_('neg')
        if not self.given:
            return (
                f"y contains labels {unknown!r} not seen in the first fit (classes "
                f"{shown!r}); call fit() to start again with new labels, or, for classes that "
                "come in later batches, give them all to the first call (partial_fit(X, y, "
                "classes=all_labels), or the net's classes=...)."
            )
        if self.names:
            return (
                f"y contains labels {unknown!r} not in classes {shown!r}: the first call gave "
                "the class names, give them again (not output indices)."
            )
        n = len(shown)
        return (
            f"y contains labels {unknown!r} not in classes {shown!r}: with classes=..., y must "
            f"hold output indices 0..{n - 1} or the class names themselves (the same kind in "
            "every call)."
        )

    def encode(self, y):
        """The output index of every label of ``y`` (int64), ValueError naming the labels
        this encoding does not know. ``y`` as :func:`check_labels` returns it."""
        y = np.asarray(y)
        if self.names:
            uniques, inverse = np.unique(y, return_inverse=True)
            try:
                at = [self._position.get(u) for u in uniques.tolist()]
            except TypeError:  # an unhashable label
                at = [None] * len(uniques)
            unknown = [u for u, a in zip(uniques.tolist(), at, strict=True) if a is None]
            if unknown:
                raise ValueError(self._unknown(unknown))
            return np.asarray(at, dtype=np.int64)[inverse.ravel()]
        if self.given:
            n = len(self.classes)
            if y.size and (y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= n):
                raise ValueError(self._unknown(np.setdiff1d(np.unique(y), np.arange(n)).tolist()))
            return y.astype(np.int64)
        unknown = np.setdiff1d(np.unique(y), self.classes)
        if unknown.size:
            raise ValueError(self._unknown(unknown.tolist()))
        return y.astype(np.int64)

    def index(self, label):
        """The output index of one label (an item of :class:`LabelledDataset`)."""
        if not self.names:
            return label
        try:
            return self._position[label.item() if hasattr(label, "item") else label]
        except (KeyError, TypeError):
            raise ValueError(self._unknown([label])) from None

    def decode(self, indices):
        """The labels of output indices (a batch's targets): the names, or the indices as
        they are."""
        indices = _as_numpy(indices)
        return self.classes[indices] if self.names else indices

    def label_of_column(self, columns):
        """The labels of ``predict_proba`` columns (its argmax): the names, or the output
        indices (skorch's ``predict``)."""
        return self.decode(self.outputs[np.asarray(columns)])

    def columns(self, width):
        """The module outputs that have a class, in ``classes`` order, or None when they are
        all ``width`` of them in order (``predict_proba`` keeps every column).

        A module with more outputs than classes (labels ``{0, 2}`` on three outputs) gives
        the outputs of the classes only; ValueError if a class has no output.
        """
        if self.outputs.size == width and np.array_equal(self.outputs, np.arange(width)):
            return None
        if self.outputs.size and self.outputs.max() >= width:
            raise ValueError(
                f"The module outputs {width} scores per sample but the net has "
                f"{self.classes.size} classes {self.classes.tolist()!r}: make the module "
                f"output {self.classes.size} scores (e.g. module__n_classes="
                f"{self.classes.size})."
            )
        return self.outputs


#: the history key (first row) that carries a fit's :class:`LabelEncoding` through
#: ``save_params(f_history=...)``/``load_params`` (``event_``: not printed by ``PrintLog``)
RECORD_KEY = "event_label_encoding"


def encoding_record(encoding):
    """A JSON-ready record of ``encoding`` (for the history), or None where its labels have
    no JSON form (they are then restored by pickling only)."""
    if encoding is None:
        return None
    classes = encoding.classes.tolist()
    if encoding.classes.dtype.kind == "O":
        # pandas strings and categoricals arrive as object arrays: JSON takes them when
        # they are all strings or all numbers
        if all(isinstance(c, str) for c in classes):
            classes = [str(c) for c in classes]
        elif all(isinstance(c, (bool, int, float, np.bool_, np.number)) for c in classes):
            classes = [c.item() if isinstance(c, (np.bool_, np.number)) else c for c in classes]
        else:
            return None
    elif encoding.classes.dtype.kind not in "biufU":
        return None
    return {"classes": classes, "names": encoding.names, "given": encoding.given}


def encoding_from_record(record):
    """The :class:`LabelEncoding` of an :func:`encoding_record` (as JSON gives it back)."""
    try:
        return LabelEncoding(
            np.asarray(record["classes"]), bool(record["names"]), bool(record["given"])
        )
    except (KeyError, TypeError, ValueError):
        return None  # not a record of ours: the labels stay unknown


def _from_classes_param(classes, y):
    """The net's ``classes=[...]`` (skorch: names of the outputs): ``y`` holds output
    indices ``0..n-1`` or the names themselves."""
    n = len(classes)
    if y.dtype.kind in "iu" and y.size and y.min() >= 0 and y.max() < n:
        return LabelEncoding(classes, names=False, given=True)
    try:
        encoding = LabelEncoding(classes, names=True, given=True)
        encoding.encode(y)
    except (TypeError, ValueError):  # unhashable names, or y holds other labels
        encoding = LabelEncoding(classes, names=False, given=True)
        encoding.encode(y)  # the message for indices
    return encoding


def _from_classes_arg(classes, y, width):
    """``partial_fit(X, y, classes=...)`` on a fresh net: every label of the fit, up front."""
    found = np.unique(np.asarray(classes))
    if width is not None and width != found.size:
        raise ValueError(
            f"The module outputs {width} scores per sample but classes has {found.size} "
            f"labels {found.tolist()!r}: make the module output {found.size} scores (e.g. "
            f"module__n_classes={found.size})."
        )
    unknown = np.setdiff1d(np.unique(y), found)
    if unknown.size:
        raise ValueError(
            f"y contains labels {unknown.tolist()!r} not in classes {found.tolist()!r}."
        )
    return LabelEncoding(found, names=True)


def _inferred(y, output_width):
    """Labels ``0..k-1`` are output indices as they are (no probe pass); other integer
    labels below the module's width too; any other labels are encoded, one per output."""
    found = np.unique(y)
    require_two_classes(found)
    integers = _integral(found)
    if integers and np.array_equal(found, np.arange(found.size)):
        return LabelEncoding(found, names=False)
    width = output_width()
    if integers and found.min() >= 0 and (width is None or found.max() < width):
        return LabelEncoding(found, names=False)
    if width is not None and width != found.size:
        raise ValueError(
            f"The module outputs {width} scores per sample but y has {found.size} classes "
            f"{found.tolist()!r}: make the module output {found.size} scores (e.g. "
            f"module__n_classes={found.size}), or pass labels 0..{width - 1}"
            + (
                f"; if the other classes come in later batches, give all {width} to the net "
                "(classes=[...]) or to the first partial_fit (partial_fit(X, y, classes=[...]))."
                if found.size < width
                else "."
            )
        )
    return LabelEncoding(found, names=True)


def first_encoding(y, classes_param=None, classes_arg=None, output_width=lambda: None):
    """The :class:`LabelEncoding` of a fit, from its first labels (as :func:`check_labels`
    returns them); None where skorch's own handling stays (no labels, or ``classes=[]``).
    Raises ValueError naming the fix; changes nothing.

    ``classes_param`` is the net's ``classes``, ``classes_arg`` the ``classes`` given to a
    first ``partial_fit``; ``output_width()`` gives the module's number of outputs (or None),
    called only when the labels need it.
    """
    if y is None:
        return None
    y = np.asarray(y)
    if classes_param is not None:
        return _from_classes_param(classes_param, y) if len(classes_param) else None
    if classes_arg is not None:
        return _from_classes_arg(classes_arg, y, output_width())
    return _inferred(y, output_width)


class LabelledDataset(Dataset):
    """skorch's ``Dataset`` whose items carry output indices while ``.y`` keeps the labels.

    skorch's ``data_from_dataset`` (scoring callbacks without caching) reads ``.y`` to
    compare with ``predict``, which returns labels; the DataLoader's items, through
    ``transform`` (skorch's documented hook), give the module its targets.
    """

    def __init__(self, X, y, encoding, length=None):
        super().__init__(X, y, length=length)
        self.encoding = encoding

    def transform(self, X, y):
        return super().transform(X, self.encoding.index(y))
