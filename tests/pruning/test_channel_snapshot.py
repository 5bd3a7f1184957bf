"""skscreen.pruning.channels._snapshot: a restored module is the one snapshotted (the same
objects in every attribute, parameter and buffer slot)."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from skscreen.pruning.channels._snapshot import restore, snapshot  # noqa: E402


def test_restore_undoes_what_pruning_changes():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    conv, bn = model[0], model[1]
    weight, bias, mean = conv.weight, conv.bias, bn.running_mean
    snap = snapshot(model)
    assert [s[0] for s in snap] == list(model.modules())
    # what Torch-Pruning does: new parameters and buffers, new sizes, and a stray attribute
    conv.weight = nn.Parameter(weight[:2].detach().clone())
    conv.out_channels = 2
    conv.extra = "added"
    del conv._parameters["bias"]
    bn.running_mean = torch.zeros(2)
    bn.register_buffer("added", torch.ones(1))
    bn.num_features = 2
    restore(snap)
    assert conv.weight is weight and conv.bias is bias and conv.out_channels == 3
    assert not hasattr(conv, "extra")
    assert list(conv._parameters) == ["weight", "bias"]
    assert bn.running_mean is mean and bn.num_features == 3
    assert "added" not in bn._buffers
    assert model(torch.zeros(2, 1, 3, 3)).shape == (2, 3, 1, 1)


def test_a_snapshot_is_not_changed_by_later_edits():
    lin = nn.Linear(2, 2)
    snap = snapshot(lin)
    ((m, attrs, params, buffers),) = snap
    assert m is lin and params["weight"] is lin.weight and buffers == {}
    lin.weight = nn.Parameter(torch.zeros(1, 2))
    lin.out_features = 1
    assert attrs["out_features"] == 2 and params["weight"] is not lin.weight
    restore(snap)
    assert lin.out_features == 2 and lin.weight.shape == (2, 2)
