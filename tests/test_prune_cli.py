"""The README's main job (``skscreen prune``), shortened."""

import json
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("matplotlib")

from skscreen.cli import main  # noqa: E402


def test_prune_cli_digits(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "prune",
            "--epochs",
            "6",
            "--sparsity",
            "0.8",
            "--hidden",
            "32",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert re.search(r"sparsity: 0\.(79|80)\d+ \(target 0\.8\)", text), text
    assert "test accuracy" in text and "same predictions: True" in text
    res = json.loads((out / "results.json").read_text())
    assert res["sparsity"] == pytest.approx(0.8, abs=1e-3)
    for name in ("schedule.png", "first_layer_mask.png", "kept_per_layer.png", "weights_hist.png"):
        assert (out / name).stat().st_size > 1000
