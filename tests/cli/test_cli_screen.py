"""``skscreen screen`` on CSV, Parquet and .npy files, read in chunks."""

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.feature_selection import f_classif

from skscreen.cli import main
from skscreen.io import iter_chunks


def _data():
    X, y = make_classification(
        n_samples=700, n_features=8, n_informative=3, n_redundant=0, shuffle=False, random_state=0
    )
    return X, y


def test_npy_in_chunks(tmp_path, capsys):
    X, y = _data()
    path = tmp_path / "d.npy"
    np.save(path, np.c_[X, y])
    out = tmp_path / "scores.json"
    assert (
        main(
            [
                "screen",
                str(path),
                "--target",
                "8",
                "--chunksize",
                "64",
                "--k",
                "3",
                "--output",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "700 rows, 8 features, 2 classes" in printed
    rows = json.loads(out.read_text())["scores"]
    f0 = f_classif(X, y)[0]
    got = {r["feature"]: r["F"] for r in rows}
    np.testing.assert_allclose([got[f"x{i}"] for i in range(8)], f0, rtol=1e-10)
    assert [r["feature"] for r in rows[:3]] == [f"x{i}" for i in np.argsort(f0)[::-1][:3]]


def test_npy_fortran_order_and_middle_target(tmp_path):
    X, y = _data()
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(np.c_[X[:, :3], y, X[:, 3:]]))
    chunks = list(iter_chunks(path, "3", chunksize=100))
    Xc = np.concatenate([c[0] for c in chunks])
    np.testing.assert_array_equal(Xc, X)
    assert chunks[0][2] == ["x0", "x1", "x2", "x4", "x5", "x6", "x7", "x8"]


def test_csv_by_column_name(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X, columns=[f"g{i}" for i in range(8)])
    df.insert(3, "label", np.where(y == 1, "yes", "no"))
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "s.csv"
    main(
        [
            "screen",
            str(path),
            "--target",
            "label",
            "--chunksize",
            "100",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    res = pd.read_csv(out).set_index("feature")
    np.testing.assert_allclose(
        res.loc[[f"g{i}" for i in range(8)], "F"], f_classif(X, y)[0], rtol=1e-10
    )


def test_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X, y = _data()
    df = pd.DataFrame(X, columns=[f"g{i}" for i in range(8)])
    df["y"] = y
    path = tmp_path / "d.parquet"
    df.to_parquet(path, row_group_size=128)
    chunks = list(iter_chunks(path, "y", chunksize=100))
    assert max(len(c[1]) for c in chunks) <= 100
    out = tmp_path / "s.csv"
    main(
        [
            "screen",
            str(path),
            "--target",
            "y",
            "--chunksize",
            "100",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    res = pd.read_csv(out).set_index("feature")
    np.testing.assert_allclose(
        res.loc[[f"g{i}" for i in range(8)], "F"], f_classif(X, y)[0], rtol=1e-10
    )


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="Unsupported file type"):
        list(iter_chunks(tmp_path / "x.txt", "y"))
    with pytest.raises(FileNotFoundError):
        list(iter_chunks(tmp_path / "missing.csv", "y"))
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    with pytest.raises(ValueError, match="out of range"):
        list(iter_chunks(tmp_path / "a.npy", "5"))
