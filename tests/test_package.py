"""The top-level package: its public names, and the net imported only on first use (``import
skscreen`` must not import torch)."""

import subprocess
import sys

import pytest

import skscreen


def test_public_names():
    assert skscreen.__all__ == ["OnlineFClassifScreener", "ScreeningPrunedNet", "__version__"]
    from skscreen.feature_selection import OnlineFClassifScreener

    assert skscreen.OnlineFClassifScreener is OnlineFClassifScreener
    assert isinstance(skscreen.__version__, str) and skscreen.__version__


def test_the_net_is_the_nn_modules_class_reached_through_the_package():
    pytest.importorskip("torch")
    pytest.importorskip("skorch")
    from skscreen.nn import ScreeningPrunedNet

    assert skscreen.ScreeningPrunedNet is ScreeningPrunedNet
    assert getattr(skscreen, "ScreeningPrunedNet") is ScreeningPrunedNet  # noqa: B009


@pytest.mark.parametrize("name", ["ScreeningPrunedNets", "screeningprunednet", "nn_"])
def test_an_unknown_attribute_is_an_attribute_error_naming_it(name):
    with pytest.raises(AttributeError) as err:
        getattr(skscreen, name)
    assert str(err.value) == f"module 'skscreen' has no attribute {name!r}"
    assert not hasattr(skscreen, name)


def test_import_skscreen_does_not_import_torch():
    code = (
        "import sys, skscreen\n"
        "assert 'torch' not in sys.modules and 'skorch' not in sys.modules\n"
        "skscreen.OnlineFClassifScreener\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
