"""skscreen.pruning.channels._io: a pruned module saved as plain data, rebuilt from its dense
template by replaying the history; a failed replay leaves the module as it was."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from torch import nn  # noqa: E402

from skscreen.pruning.channels import (  # noqa: E402
    ChannelPruner,
    ChannelScreeningScorer,
    load_pruned,
    replay_pruning,
    save_pruned,
)
from skscreen.pruning.schedules import make_schedule  # noqa: E402


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c1, self.b1 = nn.Conv2d(4, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.b0(self.c0(x)))
        h = torch.relu(self.b1(self.c1(h)))
        return self.fc(h.mean((2, 3)))


def _x():
    return torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(1))


def _pruned():
    torch.manual_seed(0)
    model = _Net()
    pr = ChannelPruner(
        model,
        ChannelScreeningScorer(alpha=0.0),
        make_schedule("one-shot"),
        sparsity=0.5,
        prune_epochs=1,
        n_classes=2,
        example_inputs=_x(),
    )
    pr.prune_channels({"b0": [1, 3], "b1": [0]})
    pr.remove_hooks()
    return model.eval(), pr.history


def test_save_writes_plain_data(tmp_path):
    model, history = _pruned()
    save_pruned(model, history, tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    assert set(blob) == {"pruning_history", "state_dict"}
    hist = blob["pruning_history"]
    assert hist == [[n, bool(o), [int(i) for i in idx]] for n, o, idx in history]
    assert all(type(o) is bool and all(type(i) is int for i in idx) for _, o, idx in hist)
    assert blob["state_dict"].keys() == model.state_dict().keys()
    assert blob["state_dict"]["c0.weight"].shape == (2, 1, 3, 3)
    assert not blob["state_dict"]["c0.weight"].requires_grad


def test_load_rebuilds_the_pruned_module(tmp_path):
    model, history = _pruned()
    save_pruned(model, history, tmp_path / "m.pt")
    template = _Net().train()
    back = load_pruned(template, tmp_path / "m.pt", _x()[:1])
    assert back is template and not back.training  # loaded for inference
    assert back.b0.num_features == 2 and back.b1.num_features == 2
    with torch.no_grad():
        torch.testing.assert_close(back(_x()), model(_x()))


def test_replay_keeps_the_mode_and_moves_the_optimizer():
    _, history = _pruned()
    dense = _Net().train()
    opt = torch.optim.SGD(dense.parameters(), lr=0.1, momentum=0.9)
    old = dense.c0.weight
    opt.state[old]["momentum_buffer"] = torch.arange(36.0).reshape(4, 1, 3, 3)
    out = replay_pruning(dense, history, _x(), optimizers=[opt])
    assert out is dense and dense.training
    assert dense.c0.weight.shape == (2, 1, 3, 3)
    params = opt.param_groups[0]["params"]
    assert any(p is dense.c0.weight for p in params) and not any(p is old for p in params)
    torch.testing.assert_close(
        opt.state[dense.c0.weight]["momentum_buffer"],
        torch.arange(36.0).reshape(4, 1, 3, 3)[[0, 2]],
    )


def test_replay_checks_the_expected_shapes_and_undoes():
    model, history = _pruned()
    dense = _Net().train()
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    weight = dense.c0.weight
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shapes["c0.weight"] = (3, 1, 3, 3)
    shapes["c1.weight"] = (1, 2, 3, 3)
    with pytest.raises(ValueError) as err:
        replay_pruning(dense, history, _x(), expected_shapes=shapes)
    assert str(err.value) == (
        "c0.weight: (2, 1, 3, 3) rebuilt, (3, 1, 3, 3) expected; "
        "c1.weight: (2, 2, 3, 3) rebuilt, (1, 2, 3, 3) expected"
    )
    assert dense.c0.weight is weight and dense.training
    for k, v in dense.state_dict().items():
        assert torch.equal(v, before[k]), k
    # the right shapes, or a key it does not check: no error
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    replay_pruning(_Net(), history, _x(), expected_shapes={**shapes, "nothing": (1,)})


def test_only_the_first_three_mismatches_are_listed():
    model, history = _pruned()
    shapes = {k: (99,) for k in model.state_dict()}
    with pytest.raises(ValueError) as err:
        replay_pruning(_Net(), history, _x(), expected_shapes=shapes)
    assert str(err.value).count("rebuilt") == 3


def test_a_history_that_does_not_fit_leaves_the_module_whole():
    dense = _Net()
    weight = dense.c0.weight
    with pytest.raises(Exception):  # noqa: B017 - whatever Torch-Pruning raises
        replay_pruning(dense, [["no_such_module", True, [0]]], _x())
    assert dense.c0.weight is weight and dense.b0.num_features == 4


def test_load_uses_the_map_location(tmp_path):
    model, history = _pruned()
    save_pruned(model, history, tmp_path / "m.pt")
    seen = []

    def where(storage, location):
        seen.append(location)
        return storage

    load_pruned(_Net(), tmp_path / "m.pt", _x()[:1], map_location=where)
    assert seen and set(seen) == {"cpu"}


class _NotWeights:
    pass


def test_load_reads_weights_only(tmp_path):
    torch.save({"pruning_history": [], "state_dict": {}, "extra": _NotWeights()}, tmp_path / "m.pt")
    with pytest.raises(Exception, match="weights_only"):
        load_pruned(_Net(), tmp_path / "m.pt", _x()[:1])


def test_replay_follows_the_direction_of_each_entry():
    # out-channel 0 of c1 (and its BatchNorm); an input-channel entry would shrink c0 instead
    model = replay_pruning(_Net(), [["c1", True, [0]]], _x())
    assert (model.c1.out_channels, model.b1.num_features, model.fc.in_features) == (2, 2, 2)
    assert (model.c0.out_channels, model.c1.in_channels) == (4, 4)
