"""skscreen.pruning.factory: the settings -> criterion, pruner and regulariser map.

Each test builds from settings and reads back what it got (class, parameters, slots), with
the expected values written out by hand from the documented mapping.
"""

import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from skscreen.pruning.channels import ChannelPruner, ChannelScreeningScorer  # noqa: E402
from skscreen.pruning.extreme_value import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.factory import (  # noqa: E402
    attach_prunable_masks,
    make_criterion,
    make_pruner,
    make_regularizer,
)
from skscreen.pruning.masks import get_mask  # noqa: E402
from skscreen.pruning.pruner import WeightPruner  # noqa: E402
from skscreen.pruning.regularizers import BatchNormL1, ContributionEntropy  # noqa: E402
from skscreen.pruning.schedules import CubicSchedule, FSASchedule, OneShotSchedule  # noqa: E402
from skscreen.pruning.scorers import (  # noqa: E402
    ActivationStatsScorer,
    HybridScreeningScorer,
    LAMPScorer,
    MagnitudeScorer,
)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def _cnn(width=4):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, width, 3),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(width * 4, 2),
    )


def _mix(c):
    return (type(c), c.alpha, c.normalize, c.normalize_scope)


# ------------------------------------------------------------------ make_criterion
def test_criterion_defaults_are_the_hybrid_screening_scorer():
    c = make_criterion()
    assert _mix(c) == (HybridScreeningScorer, 0.25, "minmax", None)


@pytest.mark.parametrize("scorer", [None, "screening"])
def test_weight_screening_criterion_takes_the_settings(scorer):
    c = make_criterion(scorer, alpha=1, normalize="rank", normalize_scope="global")
    assert _mix(c) == (HybridScreeningScorer, 1.0, "rank", "global")
    assert type(c.alpha) is float


@pytest.mark.parametrize("scorer", [None, "screening"])
def test_channel_screening_criterion_takes_the_settings(scorer):
    c = make_criterion(
        scorer, granularity="channel", alpha=0.7, normalize="max", normalize_scope="global"
    )
    assert _mix(c) == (ChannelScreeningScorer, 0.7, "max", "global")


def test_channel_criterion_defaults():
    c = make_criterion(granularity="channel")
    assert _mix(c) == (ChannelScreeningScorer, 0.25, "minmax", None)


def test_slimming_is_the_channel_scorer_without_screening():
    c = make_criterion("slimming", granularity="channel", alpha=0.7, normalize="rank")
    assert _mix(c) == (ChannelScreeningScorer, 0.0, "rank", None)
    assert type(c.alpha) is float


def test_slimming_needs_channels():
    with pytest.raises(ValueError, match=r"^scorer='slimming' needs granularity='channel'\.$"):
        make_criterion("slimming")


@pytest.mark.parametrize("name", ["magnitude", "lamp", "extreme-value", "nonsense"])
def test_other_names_are_refused_for_channels(name):
    msg = (
        f"scorer='{name}' is not available for channels; use 'screening', 'slimming' or a "
        "ChannelScreeningScorer."
    )
    with pytest.raises(ValueError) as err:
        make_criterion(name, granularity="channel")
    assert str(err.value) == msg


def test_magnitude_gets_the_normalisation_settings():
    c = make_criterion("magnitude", alpha=0.9, normalize="rank", normalize_scope="layer")
    assert type(c) is MagnitudeScorer
    assert (c.alpha, c.normalize, c.normalize_scope) == (0.0, "rank", "layer")


def test_magnitude_defaults():
    c = make_criterion("magnitude")
    assert (type(c), c.normalize, c.normalize_scope) == (MagnitudeScorer, "minmax", None)


def test_lamp_and_activation_by_name():
    assert type(make_criterion("lamp", normalize="rank", random_state=3)) is LAMPScorer
    act = make_criterion("activation", normalize="rank", random_state=3)
    assert type(act) is ActivationStatsScorer and act.z == 0.0


@pytest.mark.parametrize("name", ["extreme-value", "extreme_value", "dpp"])
def test_seeded_scorers_get_the_random_state(name):
    c = make_criterion(name, random_state=7, normalize="rank")
    assert type(c) is ExtremeValuePruning
    assert c.random_state == 7
    assert make_criterion(name).random_state is None


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="Unknown scorer 'nonsense'"):
        make_criterion("nonsense")


def test_a_criterion_object_is_copied_with_its_report_emptied():
    mine = ExtremeValuePruning(block_size=4, random_state=1)
    mine.report_ = [{"layer": "0"}]
    got = make_criterion(mine, alpha=0.9, random_state=5)
    assert got is not mine and type(got) is ExtremeValuePruning
    assert (got.block_size, got.random_state) == (4, 1)
    assert got.report_ == []
    assert mine.report_ == [{"layer": "0"}]  # the caller's object is untouched


def test_a_channel_criterion_object_is_copied_not_rebuilt():
    mine = ChannelScreeningScorer(alpha=0.6, normalize="rank")
    mine.report_ = ["x"]
    got = make_criterion(mine, granularity="channel", alpha=0.1)
    assert got is not mine
    assert _mix(got) == (ChannelScreeningScorer, 0.6, "rank", None)
    assert got.report_ == [] and mine.report_ == ["x"]


def test_a_criterion_object_without_report_gets_none():
    mine = HybridScreeningScorer(alpha=0.3)
    got = make_criterion(mine)
    assert got is not mine and _mix(got) == (HybridScreeningScorer, 0.3, "minmax", None)
    assert not hasattr(got, "report_")


# ------------------------------------------------------------------ make_pruner
def test_weight_pruner_from_the_settings():
    model = _mlp()
    crit = make_criterion()
    p = make_pruner(
        model,
        crit,
        "fsa",
        sparsity=1 / 2,
        prune_epochs=3,
        n_classes=3,
        scope="layer",
        layer_types=[nn.Linear],
        ignored_layers=["0"],
        random_state=11,
    )
    assert type(p) is WeightPruner
    assert p.model is model and p.scorer is crit and p.policy is None
    assert type(p.schedule) is FSASchedule
    assert (p.sparsity, p.prune_epochs, p.n_classes, p.scope) == (0.5, 3, 3, "layer")
    assert type(p.sparsity) is float
    assert p.layer_types == (nn.Linear,)
    assert p.ignored_layers == ["0"]
    assert p.random_state == 11
    assert p.names == ["2"] and p.n_total == 15
    assert get_mask(model[0]) is None and get_mask(model[2]) is not None


def test_weight_pruner_defaults():
    model = _mlp()
    sched = OneShotSchedule()
    p = make_pruner(model, make_criterion(), sched, sparsity=0.5, prune_epochs=2, n_classes=3)
    assert p.schedule is sched
    assert (p.scope, p.ignored_layers, p.random_state) == ("global", [], None)
    assert nn.Linear in p.layer_types and nn.Conv2d in p.layer_types
    assert p.names == ["0", "2"] and p.n_total == 4 * 5 + 5 * 3


def test_a_mask_policy_goes_to_the_policy_slot():
    policy = make_criterion("extreme-value", random_state=0)
    p = make_pruner(_mlp(), policy, "cubic", sparsity=0.5, prune_epochs=2, n_classes=3)
    assert p.policy is policy
    assert p.scorer is None  # not in the scorer slot too
    assert type(p.schedule) is CubicSchedule


def test_channel_pruner_from_the_settings():
    model = _cnn()
    crit = make_criterion(granularity="channel")
    x = torch.randn(5, 1, 4, 4)
    p = make_pruner(
        model,
        crit,
        "fsa",
        granularity="channel",
        sparsity=1 / 4,
        prune_epochs=2,
        n_classes=2,
        scope="layer",
        example_inputs=x,
        post_relu=True,
    )
    assert type(p) is ChannelPruner
    assert p.scorer is crit and type(p.schedule) is FSASchedule
    assert (p.sparsity, p.prune_epochs, p.n_classes, p.scope) == (0.25, 2, 2, "layer")
    assert p.post_relu is True
    assert torch.equal(p.example_inputs, x[:1])
    assert p.ignored_layers == () and p.n_total == 4


def test_channel_pruner_defaults():
    p = make_pruner(
        _cnn(),
        make_criterion(granularity="channel"),
        "fsa",
        granularity="channel",
        sparsity=0.5,
        prune_epochs=2,
        n_classes=2,
        example_inputs=torch.zeros(1, 1, 4, 4),
    )
    assert (p.scope, p.post_relu) == ("global", False)


def test_no_prunable_channels_names_the_excluded_units_and_drops_the_hooks():
    model = _cnn()
    with pytest.raises(ValueError) as err:
        make_pruner(
            model,
            make_criterion(granularity="channel"),
            "fsa",
            granularity="channel",
            sparsity=0.5,
            prune_epochs=2,
            n_classes=2,
            example_inputs=torch.zeros(1, 1, 4, 4),
            ignored_layers=["0"],
        )
    assert str(err.value) == (
        "The module has no prunable channels; excluded units and why: "
        "{'1': \"ignored layer '0'\"}. Check ignored_layers, or use granularity='weight'."
    )
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_one_channel_units_are_not_prunable():
    with pytest.raises(ValueError) as err:
        make_pruner(
            _cnn(width=1),
            make_criterion(granularity="channel"),
            "fsa",
            granularity="channel",
            sparsity=0.5,
            prune_epochs=2,
            n_classes=2,
            example_inputs=torch.zeros(1, 1, 4, 4),
        )
    assert "; excluded units and why: {'1': 'one channel'}." in str(err.value)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors:UserWarning")
def test_no_prunable_weights_says_why_and_drops_the_hooks():
    model = nn.Sequential(nn.Linear(4, 0), nn.ReLU(), nn.Linear(0, 3))
    with pytest.raises(ValueError) as err:
        make_pruner(model, make_criterion(), "fsa", sparsity=0.5, prune_epochs=2, n_classes=3)
    assert str(err.value) == (
        "The module has no prunable weights: every prunable layer is empty (a layer of "
        "width 0?). Give each layer at least one unit."
    )
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# ------------------------------------------------------------------ make_regularizer
def _fake_pruner():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    bn = nn.BatchNorm1d(2)
    return types.SimpleNamespace(layers={"lin": lin}, bn_modules=lambda: {"bn": bn}), lin, bn


def test_no_penalty_gives_none():
    pruner, _, _ = _fake_pruner()
    assert make_regularizer(pruner) is None
    assert make_regularizer(pruner, reg_lambda=0, gamma_l1=0.0) is None


def test_no_penalty_removes_the_current_one():
    pruner, lin, _ = _fake_pruner()
    reg = make_regularizer(pruner, reg_lambda=0.5)
    assert reg._handles and reg._grad_handles
    assert make_regularizer(pruner, current=reg) is None
    assert reg._handles == [] and reg._grad_handles == []
    assert not lin._forward_hooks


def test_contribution_entropy_on_the_pruner_layers():
    pruner, lin, _ = _fake_pruner()
    reg = make_regularizer(pruner, reg_lambda=0.5, gamma_l1=0.25)  # entropy first
    assert type(reg) is ContributionEntropy
    assert reg.modules == {"lin": lin} and reg.modules is not pruner.layers
    assert reg.strength == 0.5
    assert len(reg._handles) == 1 and len(reg._grad_handles) == 1
    lin(torch.ones(2, 3)).sum().backward()  # the gradient side records the penalty
    assert set(reg.last_penalty) == {"lin"}


def test_contribution_entropy_is_reused_and_relinked():
    pruner, lin, _ = _fake_pruner()
    old = ContributionEntropy({"gone": nn.Linear(2, 2)})
    reg = make_regularizer(pruner, reg_lambda=0.125, current=old)
    assert reg is old
    assert reg.modules == {"lin": lin} and reg.strength == 0.125
    assert len(reg._handles) == 1 and len(reg._grad_handles) == 1


def test_contribution_entropy_replaces_a_batchnorm_penalty():
    pruner, lin, _ = _fake_pruner()
    old = BatchNormL1({"bn": nn.BatchNorm1d(2)})
    reg = make_regularizer(pruner, reg_lambda=0.5, current=old)
    assert type(reg) is ContributionEntropy and reg.modules == {"lin": lin}


def test_batchnorm_l1_on_the_pruner_batchnorms():
    pruner, _, bn = _fake_pruner()
    reg = make_regularizer(pruner, gamma_l1=0.5)
    assert type(reg) is BatchNormL1
    assert reg.modules == {"bn": bn} and reg.strength == 0.5
    assert len(reg._grad_handles) == 1


def test_batchnorm_l1_is_reused_and_relinked():
    pruner, _, bn = _fake_pruner()
    old = BatchNormL1({"gone": nn.BatchNorm1d(2)})
    reg = make_regularizer(pruner, gamma_l1=0.25, current=old)
    assert reg is old and reg.modules == {"bn": bn} and reg.strength == 0.25
    assert len(reg._grad_handles) == 1


def test_batchnorm_l1_replaces_an_entropy_penalty():
    pruner, _, bn = _fake_pruner()
    old = ContributionEntropy({"lin": nn.Linear(2, 2)})
    reg = make_regularizer(pruner, gamma_l1=0.5, current=old)
    assert type(reg) is BatchNormL1 and reg.modules == {"bn": bn}


# ------------------------------------------------------------------ attach_prunable_masks
def test_masks_on_the_default_layer_types():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    attach_prunable_masks(model)
    for layer in (model[0], model[2]):
        mask = get_mask(layer)
        assert mask is not None and mask.shape == layer.weight.shape
        assert bool((mask == 1).all())


def test_masks_follow_layer_types_and_ignored_layers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), nn.Linear(3, 2))
    attach_prunable_masks(model, layer_types=nn.Linear, ignored_layers=["3"])
    assert get_mask(model[0]) is None and get_mask(model[3]) is None
    assert get_mask(model[2]) is not None


@pytest.mark.parametrize(
    "kw",
    [{"layer_types": [int]}, {"ignored_layers": ["nope"]}, {"layer_types": nn.BatchNorm1d}],
)
def test_a_module_a_pruner_would_refuse_is_left_alone(kw):
    model = _mlp()
    attach_prunable_masks(model, **kw)  # no error: building the pruner reports it
    assert all(get_mask(m) is None for m in model.modules())


def test_a_criterion_object_is_deep_copied():
    """The copy's generator is its own: drawing from it leaves the caller's where it was."""
    mine = ExtremeValuePruning(random_state=np.random.default_rng(0))
    got = make_criterion(mine)
    assert got.random_state is not mine.random_state
    got.random_state.random(5)
    assert mine.random_state.random() == np.random.default_rng(0).random()


def test_no_prunable_channels_without_exclusions_says_only_what_to_do(monkeypatch):
    """The wording when no unit was excluded (a stand-in pruner with no channels)."""
    from skscreen.pruning import factory

    removed = []

    class Empty:
        def __init__(self, *args, **kwargs):
            self.n_total, self.excluded_units = 0, {}

        def remove_hooks(self):
            removed.append(True)

    monkeypatch.setattr(factory, "ChannelPruner", Empty)
    with pytest.raises(ValueError) as err:
        make_pruner(
            _cnn(),
            make_criterion(granularity="channel"),
            "fsa",
            granularity="channel",
            sparsity=0.5,
            prune_epochs=2,
            n_classes=2,
            example_inputs=torch.zeros(1, 1, 4, 4),
        )
    assert str(err.value) == (
        "The module has no prunable channels. Check ignored_layers, or use granularity='weight'."
    )
    assert removed == [True]


# ------------------------------------------------------------------ prunable_weights
def test_prunable_weights_are_those_a_pruner_would_mask():
    from skscreen.pruning.factory import prunable_weights

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), nn.Linear(3, 2))
    got = prunable_weights(model)
    assert list(got) == ["0", "2", "3"]
    assert all(got[n] is model[int(n)].weight for n in got)
    got = prunable_weights(model, layer_types=nn.Linear, ignored_layers=["3"])
    assert list(got) == ["2"] and got["2"] is model[2].weight
    # tied modules: each name, one parameter; torch.nn.utils.prune's storage: weight_orig
    model.add_module("tied", nn.Linear(3, 2))
    model.tied.weight = model[3].weight
    got = prunable_weights(model, layer_types=nn.Linear)
    assert list(got) == ["2", "3", "tied"] and got["tied"] is got["3"]
    torch.nn.utils.prune.identity(model[2], "weight")
    assert prunable_weights(model, layer_types=nn.Linear)["2"] is model[2].weight_orig
    # a module a pruner would refuse, or one with lazy layers not yet run: none
    assert prunable_weights(model, layer_types=[int]) == {}
    assert prunable_weights(model, ignored_layers=["nope"]) == {}
    assert prunable_weights(nn.ReLU()) == {}
    lazy = nn.Sequential(nn.LazyLinear(3), nn.Linear(3, 2))
    assert prunable_weights(lazy) == {}
    attach_prunable_masks(lazy)
    assert get_mask(lazy[1]) is None  # left as it is too
