"""Dataset loaders on files the tests write, where every image names its own label."""

import gzip
import struct

import numpy as np
import pytest

from skscreen.datasets import load_fashion_mnist, read_idx


def _write_idx(path, arr, compress):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(header + arr.tobytes())


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
