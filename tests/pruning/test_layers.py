"""The layer facts shared by the pruners and compaction (``skscreen.pruning._layers``)."""

import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skscreen.pruning._layers import (  # noqa: E402
    is_depthwise,
    resolve_ignored,
    torch_pruning,
    under,
)


@pytest.mark.parametrize(
    "module, depthwise",
    [
        (nn.Conv2d(4, 4, 3, groups=4), True),
        (nn.Conv2d(2, 2, 3, groups=2), True),
        (nn.Conv1d(3, 3, 3, groups=3), True),
        (nn.Conv2d(4, 8, 3, groups=4), False),  # a channel multiplier: out != in
        (nn.Conv2d(8, 4, 3, groups=4), False),
        (nn.Conv2d(4, 4, 3, groups=2), False),  # grouped, not depthwise
        (nn.Conv2d(1, 1, 3), False),  # groups == in == out == 1: an ordinary convolution
        (nn.Linear(4, 4), False),
    ],
)
def test_is_depthwise(module, depthwise):
    assert is_depthwise(module) is depthwise


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        self.fc = nn.Linear(2, 2)


def test_resolve_ignored_accepts_modules_and_names():
    net = _Net()
    assert resolve_ignored(net, None) == []
    assert resolve_ignored(net, net.fc) == ["fc"]
    assert resolve_ignored(net, "stem.0") == ["stem.0"]
    assert resolve_ignored(net, [net.stem, "fc"]) == ["stem", "fc"]


def test_resolve_ignored_refuses_what_is_not_in_the_model():
    net = _Net()
    with pytest.raises(ValueError) as info:
        resolve_ignored(net, [nn.Linear(2, 2)])
    assert str(info.value) == (
        "ignored_layers: Linear is not part of the model (not in the model's named_modules())."
    )
    with pytest.raises(ValueError, match=r"^ignored_layers: the model has no submodule named 'x'"):
        resolve_ignored(net, ["x"])
    with pytest.raises(TypeError, match=r"^ignored_layers must hold modules or .*, got int\.$"):
        resolve_ignored(net, [3])


def test_under_a_prefix():
    assert under("stem.0", ["stem"]) and under("stem", ["stem"]) and under("a.b", [""])
    assert not under("stems", ["stem"]) and not under("fc", ["stem", "head"])
    assert not under("fc", [])


def test_torch_pruning_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_pruning", None)  # import fails
    with pytest.raises(ImportError) as info:
        torch_pruning()
    assert str(info.value) == (
        "Channel pruning needs Torch-Pruning: pip install torch-pruning "
        "(or pip install 'skscreen[channels]')."
    )
