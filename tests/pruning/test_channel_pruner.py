"""skscreen.pruning.channels._pruner: ChannelPruner's construction, budgets, validation of a
removal, the removal itself (history, units found again, optimizer) and its undo; on small
nets whose channels are counted by hand."""

import pickle

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from torch import nn  # noqa: E402

from skscreen.pruning.channels import ChannelPruner, ChannelScreeningScorer  # noqa: E402
from skscreen.pruning.extreme_value import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.schedules import make_schedule  # noqa: E402


class _Net(nn.Module):
    """b0 (4 channels), b1 (3 channels, pooled into the head): both prunable."""

    def __init__(self, c0=4, c1=3):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(1, c0, 3, padding=1), nn.BatchNorm2d(c0)
        self.c1, self.b1 = nn.Conv2d(c0, c1, 3, padding=1), nn.BatchNorm2d(c1)
        self.fc = nn.Linear(c1, 2)

    def forward(self, x):
        h = torch.relu(self.b0(self.c0(x)))
        h = torch.relu(self.b1(self.c1(h)))
        return self.fc(h.mean((2, 3)))


class _FlatHead(nn.Module):
    """b1's channels are the output: removing one changes it (the head)."""

    def __init__(self):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c1, self.b1 = nn.Conv2d(4, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        return self.b1(self.c1(torch.relu(self.b0(self.c0(x))))).mean((2, 3))


class _Grouped(nn.Module):
    """b0 (c channels) feeds a conv of 2 groups: positions p and p + c/2 are tied."""

    def __init__(self, c=6):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(1, c, 1), nn.BatchNorm2d(c)
        self.g = nn.Conv2d(c, 4, 1, groups=2)
        self.b1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.b0(self.c0(x)))
        return self.fc(torch.relu(self.b1(self.g(h))).mean((2, 3)))


def _x():
    return torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(1))


def _pruner(model=None, scope="global", scorer=None, **kw):
    torch.manual_seed(0)
    return ChannelPruner(
        _Net() if model is None else model,
        ChannelScreeningScorer(alpha=0.0) if scorer is None else scorer,
        make_schedule("one-shot"),
        sparsity=0.5,
        prune_epochs=1,
        n_classes=2,
        example_inputs=_x(),
        scope=scope,
        **kw,
    )


# ------------------------------------------------------------------ construction
def test_construction_counts_and_options():
    x = _x().requires_grad_()
    pr = ChannelPruner(
        _Net(),
        ChannelScreeningScorer(alpha=0.5),
        make_schedule("one-shot"),
        sparsity=0.5,
        prune_epochs=1,
        n_classes=2,
        example_inputs=x,
        post_relu=True,
    )
    assert [u.name for u in pr.units] == ["b0", "b1"]
    assert pr.n_total == 7 and pr.n_kept() == 7
    assert pr.initial_channels == {"b0": 4, "b1": 3}
    assert pr.initial_units == {"b0": 4, "b1": 3}
    assert pr.excluded_units == {} and pr.history == [] and pr.ignored_layers == ()
    assert pr.post_relu is True and pr.recorder.post_relu is True
    assert pr.example_inputs.shape == (1, 1, 5, 5) and not pr.example_inputs.requires_grad
    assert torch.equal(pr.example_inputs, x[:1].detach())
    assert pr.bn_modules() == {"b0": pr.model.b0, "b1": pr.model.b1}
    assert pr.physical is True and pr.enforce() is None
    assert pr.kept_fractions() == {"b0": 1.0, "b1": 1.0}


def test_the_head_unit_is_left_whole():
    pr = _pruner(_FlatHead())
    assert [u.name for u in pr.units] == ["b0"] and pr.n_total == 4
    assert pr.excluded_units == {"b1": "changes the network's output (classifier head)"}
    assert pr.initial_units == {"b0": 4}
    assert pr.initial_channels == {"b0": 4, "b1": 3}


def test_units_that_cannot_lose_a_channel_are_excluded():
    pr = _pruner(_Net(c0=1))
    assert pr.excluded_units == {"b0": "one channel"}
    assert [u.name for u in pr.units] == ["b1"]
    pr = _pruner(_Grouped(c=4))  # 4 channels tied into 2 classes, both kept
    assert pr.excluded_units["b0"] == "grouped convolutions need 2 tied classes and it has 2"
    pr = _pruner(_Grouped(c=2))  # 2 channels tied into 1 class (read "keep 2 of its 1" before)
    assert pr.excluded_units["b0"] == "grouped convolutions need 2 tied classes and it has 1"


def test_ignored_layers_by_module_or_name():
    model = _Net()
    pr = _pruner(model, ignored_layers=[model.c1])
    assert pr.ignored_layers == ("c1",)
    assert pr.excluded_units == {"b1": "ignored layer 'c1'"}


def test_a_mask_policy_is_refused():
    with pytest.raises(ValueError) as err:
        _pruner(scorer=ExtremeValuePruning())
    assert str(err.value) == (
        "ExtremeValuePruning decides weight masks; channel pruning needs a channel scorer "
        "(e.g. ChannelScreeningScorer)."
    )


def test_no_batchnorm_is_refused():
    with pytest.raises(ValueError) as err:
        _pruner(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 2)))
    assert str(err.value) == (
        "Channel-level pruning needs BatchNorm layers (it ranks channels by the BatchNorm "
        "scale gamma); this model has none. Use granularity='weight'."
    )


# ------------------------------------------------------------------ budgets and selection
def test_global_budget():
    pr = _pruner()
    assert pr._needs_pruning(6) and not pr._needs_pruning(7)
    keep = pr._select([torch.tensor([0.1, 0.9, 0.5, 0.4]), torch.tensor([0.3, 0.8, 0.2])], 4)
    # forced 0.9 and 0.8; then 0.5, 0.4
    assert [k.tolist() for k in keep] == [[False, True, True, True], [False, True, False]]


def test_layer_budget_is_a_share_of_the_original_count():
    pr = _pruner(scope="layer")
    # 3.5 of 7 kept: b0 keeps round(4 * 3.5 / 7) = 2, b1 round(3 * 3.5 / 7) = round(1.5) = 2
    assert pr._unit_budgets(3.5) == {"b0": 2, "b1": 2}
    assert pr._unit_budgets(0) == {"b0": 1, "b1": 1}  # at least one each
    keep = pr._select([torch.tensor([0.1, 0.9, 0.5, 0.4]), torch.tensor([0.3, 0.8, 0.2])], 3.5)
    assert [k.tolist() for k in keep] == [[False, True, True, False], [True, True, False]]
    assert pr._needs_pruning(3.5)
    assert not pr._needs_pruning(7)
    # the budget above what a unit holds: it keeps what it has
    keep = pr._select([torch.tensor([0.1, 0.9, 0.5, 0.4]), torch.tensor([0.3, 0.8, 0.2])], 14)
    assert [k.tolist() for k in keep] == [[True] * 4, [True] * 3]


def test_layer_budget_after_a_removal_does_not_compound():
    pr = _pruner(scope="layer")
    pr.prune_channels({"b0": [0, 1]})
    assert pr.n_kept() == 5
    # b0 keeps 2 of its original 4 at n_keep = 3.5: nothing more to remove there
    assert pr._unit_budgets(3.5) == {"b0": 2, "b1": 2}
    assert pr._needs_pruning(3.5)  # b1 still has 3
    assert pr._needs_pruning(5)  # b0 round(20 / 7) = 3 > 2 kept, b1 round(15 / 7) = 2 < 3
    assert not pr._needs_pruning(7)  # b0 4 > 2, b1 3 = 3


def test_views_without_statistics_are_none():
    pr = _pruner(scorer=ChannelScreeningScorer(alpha=0.5))
    units = pr.views()
    assert units is pr.units
    assert [list(u.moments.values()) for u in units] == [[None], [None]]
    assert [list(u.moments) for u in units] == [[pr.model.b0], [pr.model.b1]]
    pr.set_targets(torch.tensor([0, 1, 0, 1]))
    pr.model.train()(_x())
    pr.set_targets(None)
    units = pr.views()
    assert all(m is not None and m.n_samples == 4 for u in units for m in u.moments.values())


def test_views_without_a_recorder():
    pr = _pruner()  # slimming records nothing
    assert pr.recorder is None
    assert [list(u.moments.values()) for u in pr.views()] == [[None], [None]]


# ------------------------------------------------------------------ prune_channels
def test_removal_records_history_and_finds_units_again():
    pr = _pruner()
    pr.prune_channels({"b0": [3, 1], "b1": [2]})
    m = pr.model
    assert (m.b0.num_features, m.b1.num_features, m.c1.in_channels) == (2, 2, 2)
    assert pr.n_kept() == 4 and [u.channels for u in pr.units] == [[0, 1], [0, 1]]
    assert pr.kept_fractions() == {"b0": 0.5, "b1": 2 / 3}
    assert [h[:2] for h in pr.history] == [["b1", True], ["b0", True]]  # later roots first
    assert [sorted(h[2]) for h in pr.history] == [[2], [1, 3]]
    assert all(type(i) is int for h in pr.history for i in h[2])
    m(_x())  # still runs


def test_nothing_to_remove_changes_nothing():
    pr = _pruner()
    w = pr.model.c0.weight
    pr.prune_channels({"b0": [], "nope": [1]})
    pr.prune_channels({})
    assert pr.model.c0.weight is w and pr.history == []


def test_removal_moves_the_optimizer():
    pr = _pruner()
    opt = torch.optim.SGD(pr.model.parameters(), lr=0.1, momentum=0.9)
    old = pr.model.c0.weight
    opt.state[old]["momentum_buffer"] = torch.arange(36.0).reshape(4, 1, 3, 3)
    pr.prune_channels({"b0": [0, 2]}, optimizer=opt)
    new = pr.model.c0.weight
    assert any(p is new for p in opt.param_groups[0]["params"])
    torch.testing.assert_close(
        opt.state[new]["momentum_buffer"], torch.arange(36.0).reshape(4, 1, 3, 3)[[1, 3]]
    )


@pytest.mark.parametrize(
    "remove, message",
    [
        ({"b0": [1, 7, 9]}, "b0 has no prunable channels [7, 9]."),
        ({"b0": [0, 1, 2, 3]}, "Cannot remove every channel of b0."),
        ({"b1": [2, 1, 0, 2]}, "Cannot remove every channel of b1."),
    ],
)
def test_removal_is_validated(remove, message):
    pr = _pruner()
    with pytest.raises(ValueError) as err:
        pr.prune_channels(remove)
    assert str(err.value) == message
    assert pr.model.b0.num_features == 4 and pr.history == []


def test_tied_classes_go_whole_and_two_stay():
    pr = _pruner(_Grouped(c=6))  # ties [0, 1, 2, 0, 1, 2]: classes of two channels
    (unit,) = [u for u in pr.units if u.name == "b0"]
    assert unit.ties.tolist() == [0, 1, 2, 0, 1, 2] and unit.min_classes == 2
    with pytest.raises(ValueError) as err:
        pr.prune_channels({"b0": [0]})
    assert str(err.value) == (
        "b0: a grouped convolution needs the same positions removed in every channel group; "
        "remove whole tied classes (ChannelUnit.ties)."
    )
    with pytest.raises(ValueError) as err:
        pr.prune_channels({"b0": [0, 3, 1, 4]})
    assert str(err.value) == "b0: a grouped convolution keeps at least 2 channels per group."
    pr.prune_channels({"b0": [1, 4]})  # one whole class: allowed
    assert pr.model.b0.num_features == 4 and pr.model.g.in_channels == 4


def test_an_error_inside_torch_pruning_leaves_everything_as_it_was(monkeypatch):
    pr = _pruner()
    model = pr.model
    params = {n: p for n, p in model.named_parameters()}
    graph = pr.graph_
    real = graph.get_pruning_group
    calls = []

    def flaky(root, fn, idxs):
        calls.append(root)
        if len(calls) == 2:  # the second request (b0), after b1 was pruned
            raise RuntimeError("inside Torch-Pruning")
        return real(root, fn, idxs)

    monkeypatch.setattr(graph, "get_pruning_group", flaky)
    with pytest.raises(RuntimeError, match="inside Torch-Pruning"):
        pr.prune_channels({"b0": [0], "b1": [1]})
    assert calls == [model.b1, model.b0]
    assert {n: p for n, p in model.named_parameters()} == params
    assert model.b1.num_features == 3 and model.c1.out_channels == 3
    assert pr.graph_ is not graph  # traced again from the restored model
    assert [u.n_channels for u in pr.units] == [4, 3] and pr.history == []
    pr.prune_channels({"b1": [1]})  # and it works after
    assert model.b1.num_features == 2


def test_exclusions_survive_finding_units_again():
    pr = _pruner(_FlatHead())
    pr.prune_channels({"b0": [0]})
    assert [u.name for u in pr.units] == ["b0"]
    assert pr.excluded_units == {"b1": "changes the network's output (classifier head)"}


def test_pickled_without_graph_model_or_units():
    pr = _pruner(scorer=ChannelScreeningScorer(alpha=0.5))
    state = pr.__getstate__()
    assert "graph_" not in state and state["model"] is None and state["units"] == []
    assert state["_hooked"] is False
    assert pr.model is not None and pr.units and hasattr(pr, "graph_")  # the pruner itself
    back = pickle.loads(pickle.dumps(pr))
    assert back.model is None and back.n_total == 7


def test_global_budget_after_an_uneven_removal():
    pr = _pruner()
    pr.prune_channels({"b0": [0, 1]})  # b0 keeps 2 of 4, b1 3 of 3: 5 kept
    assert not pr._needs_pruning(5)  # globally met (per unit, b1 would be over round(15/7))
    assert pr._needs_pruning(4)


def test_history_grows_by_each_step_only():
    pr = _pruner()
    pr.prune_channels({"b0": [1]})
    assert len(pr.history) == 1
    pr.prune_channels({"b1": [0]})
    assert [h[0] for h in pr.history] == ["b0", "b1"]


def test_the_scorer_gets_the_budget_scope():
    class Recording(ChannelScreeningScorer):
        def __call__(self, units, scope="global"):
            self.seen = scope
            return super().__call__(units, scope)

    for scope in ("layer", "global"):
        scorer = Recording(alpha=0.0)
        pr = _pruner(scope=scope, scorer=scorer)
        pr._score(pr.views())
        assert scorer.seen == scope


def test_layer_scope_keeps_the_tied_minimum():
    pr = _pruner(_Grouped(c=6), scope="layer")  # b0 the only unit: ties of 2, min 2 classes
    assert [u.name for u in pr.units] == ["b0"] and pr.n_total == 6
    (keep,) = pr._select([torch.tensor([0.9, 0.1, 0.5, 0.8, 0.2, 0.6])], 1)
    # class means: {0, 3} 0.85, {1, 4} 0.15, {2, 5} 0.55: the best two classes stay
    assert keep.tolist() == [True, False, True, True, False, True]


def test_graph_of_another_copy_of_the_model():
    pr = _pruner()
    other = _Net()
    graph = pr._build_graph(other)
    assert graph.model is other and pr._build_graph().model is pr.model


def test_a_restored_pruner_pickles_again():
    pr = _pruner()
    back = pickle.loads(pickle.dumps(pr))
    again = pickle.loads(pickle.dumps(back))  # no graph to drop this time
    assert again.n_total == 7 and again.model is None
