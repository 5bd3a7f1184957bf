"""skscreen.pruning.channels._units: channel units found with Torch-Pruning's dependency
graph and the dry run, on small nets whose units are written out by hand."""

from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from torch import nn  # noqa: E402

from skscreen.pruning.channels._units import (  # noqa: E402
    ChannelUnit,
    _as_int,
    _bn_size,
    _copy_without_hooks,
    _ignored_modules,
    _output_shape,
    build_graph,
    check_units,
    find_units,
)


class _Residual(nn.Module):
    """stem conv+bn (4), a block conv+bn (4) added to the stem, a second conv+bn (3), head."""

    def __init__(self):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c1, self.b1 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c2, self.b2 = nn.Conv2d(4, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.b0(self.c0(x)))
        h = torch.relu(h + self.b1(self.c1(h)))
        h = torch.relu(self.b2(self.c2(h)))
        return self.fc(h.mean((2, 3)))


def _x():
    return torch.zeros(2, 1, 5, 5)


# ------------------------------------------------------------------ ChannelUnit
def test_unit_defaults_untied():
    u = ChannelUnit("b", nn.BatchNorm2d(3), [0, 2, 5])
    assert u.ties.tolist() == [0, 1, 2] and u.n_channels == 3 and u.n_classes == 3
    assert u.members == [] and u.moments == {} and u.min_classes == 1


def test_unit_with_ties_counts_classes():
    u = ChannelUnit("b", nn.BatchNorm2d(4), [0, 1, 2, 3], ties=torch.tensor([0, 1, 0, 1]))
    assert u.n_channels == 4 and u.n_classes == 2


def test_empty_unit_has_no_classes():
    u = ChannelUnit("b", nn.BatchNorm2d(1), [])
    assert u.n_channels == 0 and u.n_classes == 0


def test_units_do_not_share_their_lists():
    a, b = ChannelUnit("a", None, [0]), ChannelUnit("b", None, [0])
    assert a.members is not b.members and a.moments is not b.moments


# ------------------------------------------------------------------ small helpers
def test_as_int_reads_an_index_object_or_an_int():
    class Idx:
        idx = 7

    assert _as_int(Idx()) == 7 and _as_int(3) == 3 and _as_int(torch.tensor(4)) == 4
    assert type(_as_int(torch.tensor(4))) is int


def test_bn_size_agrees_or_is_minus_one():
    bn = nn.BatchNorm2d(3)
    assert _bn_size(bn) == 3
    assert _bn_size(nn.BatchNorm2d(3, affine=False)) == 3
    bn.running_var = torch.ones(2)
    assert _bn_size(bn) == -1


def test_output_shape_of_nested_outputs():
    out = {"a": torch.zeros(2, 3), "b": [torch.zeros(1), (torch.zeros(4, 1), 5)]}
    assert _output_shape(out) == {"a": (2, 3), "b": ((1,), ((4, 1), None))}
    assert _output_shape("text") is None


def test_copy_without_hooks_keeps_weights_and_drops_hooks():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    seen = []
    model[0].register_forward_hook(lambda *a: seen.append(1))
    model.register_forward_pre_hook(lambda *a: seen.append(2))
    copy_ = _copy_without_hooks(model)
    assert copy_[0] is not model[0]
    assert torch.equal(copy_[0].weight, model[0].weight)
    copy_(torch.zeros(3, 2))
    assert seen == []
    assert all(isinstance(m._forward_hooks, OrderedDict) for m in copy_.modules())
    assert not copy_[0]._forward_hooks and not copy_._forward_pre_hooks
    model(torch.zeros(3, 2))
    assert seen == [2, 1]  # the original keeps its hooks


def test_ignored_modules_take_submodules():
    model = _Residual()
    got = _ignored_modules(model, ["c1", "b2"])
    assert got == {model.c1, model.b2}
    whole = _ignored_modules(nn.Sequential(model), ["0"])
    assert model.fc in whole and model.b0 in whole
    with pytest.raises(ValueError, match=r"^ignored_layers: the model has no module named 'x'\.$"):
        _ignored_modules(model, ["x"])


# ------------------------------------------------------------------ build_graph
def test_build_graph_keeps_the_mode():
    model = _Residual().train()
    graph = build_graph(model, _x())
    assert model.training and graph.model is model
    model.eval()
    build_graph(model, _x())
    assert not model.training


def test_build_graph_says_what_to_do_when_it_cannot_trace():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 2, 1)

        def forward(self, x):
            raise RuntimeError("no trace")

    model = Bad().train()
    with pytest.raises(ValueError) as err:
        build_graph(model, _x())
    assert str(err.value) == (
        "Torch-Pruning could not trace this model (RuntimeError: no trace). Its dependency "
        "graph does not follow every tensor operation; channel shuffles (ShuffleNet) are a "
        "known case. Channel-level pruning needs that graph for the whole model, so "
        "ignored_layers cannot help here: use granularity='weight', which needs no graph."
    )
    assert isinstance(err.value.__cause__, RuntimeError)
    assert model.training  # mode restored on the error too


# ------------------------------------------------------------------ find_units
def test_residual_batchnorms_form_one_unit():
    model = _Residual()
    units, excluded = find_units(build_graph(model, _x()), [])
    assert excluded == {}
    assert [u.name for u in units] == ["b0", "b2"]
    res, last = units
    assert res.root is model.b0 and res.channels == [0, 1, 2, 3]
    members = {bn: (idx.tolist(), pos.tolist()) for bn, idx, pos in res.members}
    assert members == {
        model.b0: ([0, 1, 2, 3], [0, 1, 2, 3]),
        model.b1: ([0, 1, 2, 3], [0, 1, 2, 3]),
    }
    assert res.ties.tolist() == [0, 1, 2, 3] and res.min_classes == 1
    assert last.channels == [0, 1, 2]
    assert [(bn, idx.tolist(), pos.tolist()) for bn, idx, pos in last.members] == [
        (model.b2, [0, 1, 2], [0, 1, 2])
    ]


def test_an_ignored_layer_leaves_its_unit_whole():
    model = _Residual()
    units, excluded = find_units(build_graph(model, _x()), ["c2"])
    assert [u.name for u in units] == ["b0"]
    assert excluded == {"b2": "ignored layer 'c2'"}


class _Grouped(nn.Module):
    """conv+bn (4 channels) into a conv of 2 groups: positions p and p + 2 are tied."""

    def __init__(self, c=4):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(1, c, 1), nn.BatchNorm2d(c)
        self.g = nn.Conv2d(c, 4, 1, groups=2)
        self.b1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.b0(self.c0(x)))
        h = torch.relu(self.b1(self.g(h)))
        return self.fc(h.mean((2, 3)))


def test_grouped_convolution_ties_positions_of_each_group():
    model = _Grouped()
    units, excluded = find_units(build_graph(model, _x()), [])
    by_name = {u.name: u for u in units}
    assert by_name["b0"].ties.tolist() == [0, 1, 0, 1]
    assert by_name["b0"].min_classes == 2
    assert by_name["b0"].n_classes == 2


# ------------------------------------------------------------------ check_units
def test_check_units_of_nothing_is_nothing():
    assert check_units(_Residual(), [], _x(), []) == []


def test_check_units_finds_no_head_in_a_pooled_net():
    model = _Residual()
    units, _ = find_units(build_graph(model, _x()), [])
    assert check_units(model, units, _x(), []) == []
    assert [p.shape for p in model.parameters()][0] == (4, 1, 3, 3)  # the model untouched


class _FlatHead(nn.Module):
    """The last BatchNorm's channels are the network's output: removing one changes it."""

    def __init__(self):
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c1, self.b1 = nn.Conv2d(4, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        h = torch.relu(self.b0(self.c0(x)))
        return self.b1(self.c1(h)).mean((2, 3))


def test_check_units_names_the_unit_that_changes_the_output():
    model = _FlatHead()
    units, _ = find_units(build_graph(model, _x()), [])
    assert [u.name for u in units] == ["b0", "b1"]
    assert check_units(model, units, _x(), []) == ["b1"]


class _Mixed(nn.Module):
    """Two units (ba, bb: 2 channels each) concatenated into a conv of 2 groups: group 0
    reads ba's channels, group 1 bb's, so no position can go from every group at once."""

    def __init__(self):
        super().__init__()
        self.ca, self.ba = nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)
        self.cb, self.bb = nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)
        self.g, self.bg = nn.Conv2d(4, 4, 1, groups=2), nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.cat([self.ba(self.ca(x)), self.bb(self.cb(x))], 1)
        return self.fc(torch.relu(self.bg(self.g(h))).mean((2, 3)))


def test_groups_mixing_units_are_refused_naming_them():
    model = _Mixed()
    with pytest.raises(ValueError) as err:
        find_units(build_graph(model, _x()), [])
    # ba's channels are inputs 0, 1 of g: position 0 (input 0 % 2) is in 1 of its 2 groups
    why = (
        "g: its 2 channel groups of 2 hold channels of other units (position 0 is in 1 of "
        "them from this unit)"
    )
    assert str(err.value) == (
        f"Channel-level pruning cannot remove channels of these units consistently: ba ({why}); "
        f"bb ({why}). A grouped convolution must lose the same positions in every channel "
        "group, which is impossible when one group holds channels of several units. Leave them "
        "whole with ignored_layers=['ba', 'bb'], or use granularity='weight'."
    )


def test_ignoring_the_mixed_units_leaves_them_whole_without_error():
    model = _Mixed()
    units, excluded = find_units(build_graph(model, _x()), ["ca", "cb"])
    assert excluded == {"ba": "ignored layer 'ca'", "bb": "ignored layer 'cb'"}
    assert [u.name for u in units] == ["bg"]
    # bg is g's output: its positions p and p + 2 are g's two output groups, tied
    assert units[0].ties.tolist() == [0, 1, 0, 1] and units[0].min_classes == 2


def test_a_unit_the_graph_cannot_follow_is_named_with_what_to_do():
    import _archs

    model, x = _archs.make("channel_shuffle")  # stem.1's channels are shuffled into branches
    units, excluded = find_units(build_graph(model, x), [])
    assert [u.name for u in units] == ["stem.1"] and excluded == {}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as err:
        check_units(model, units, x, [])
    # the dry run's own check: the BatchNorms past the shuffle lost other counts than asked
    assert str(err.value) == (
        "Torch-Pruning cannot prune these channel units consistently (tried on a copy before "
        "training): stem.1 (RuntimeError: BatchNorm sizes inconsistent after pruning: "
        "['branch.1.1', 'branch.0.1']). Its dependency graph does not follow every tensor "
        "operation (a channel shuffle, say). Leave them whole with ignored_layers=['stem.1'] "
        "(or the modules around the operation), or use granularity='weight'."
    )
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # only the copy was cut


def test_every_unit_is_tried_after_one_that_prunes_cleanly():
    import _archs

    class ShuffleThenMore(_archs.ChannelShuffleNet):
        """The shuffle net with one more conv + BatchNorm unit after the shuffle."""

        def __init__(self):
            super().__init__()
            self.more = _archs._cbr(16, 16)

        def forward(self, x):
            x = self.stem(x)
            a, b = x.chunk(2, dim=1)
            x = _archs.channel_shuffle(torch.cat([a, self.branch(b)], 1), 2)
            return self.head(self.more(x))

    torch.manual_seed(0)
    model, x = ShuffleThenMore(), torch.randn(4, 3, 8, 8)
    units, _ = find_units(build_graph(model, x), [])
    assert [u.name for u in units] == ["stem.1", "more.1"]
    # more.1 (tried first, later roots first) prunes cleanly; stem.1 is still tried
    with pytest.raises(ValueError) as err:
        check_units(model, units, x, [])
    assert ": stem.1 (RuntimeError: BatchNorm sizes inconsistent after pruning:" in str(err.value)
    assert "ignored_layers=['stem.1']" in str(err.value)


def test_every_unit_that_fails_is_named_in_order():
    import _archs

    class Twice(nn.Module):
        """Two shuffle nets in a row: each stem's unit fails on its own."""

        def __init__(self):
            super().__init__()
            self.s1 = _archs.ChannelShuffleNet()
            self.s1.head = nn.Identity()
            self.s2 = _archs.ChannelShuffleNet(in_channels=16)

        def forward(self, x):
            return self.s2(self.s1(x))

    torch.manual_seed(0)
    model, x = Twice(), torch.randn(4, 3, 8, 8)
    units, _ = find_units(build_graph(model, x), [])
    with pytest.raises(ValueError) as err:
        check_units(model, units, x, [])
    # tried later roots first; the ignored_layers advice sorted
    assert str(err.value) == (
        "Torch-Pruning cannot prune these channel units consistently (tried on a copy before "
        "training): s2.stem.1 (RuntimeError: BatchNorm sizes inconsistent after pruning: "
        "['s2.branch.1.1', 's2.branch.0.1']); s1.stem.1 (RuntimeError: BatchNorm sizes "
        "inconsistent after pruning: ['s1.branch.1.1', 's1.branch.0.1']). Its dependency graph "
        "does not follow every tensor operation (a channel shuffle, say). Leave them whole with "
        "ignored_layers=['s1.stem.1', 's2.stem.1'] (or the modules around the operation), or "
        "use granularity='weight'."
    )
