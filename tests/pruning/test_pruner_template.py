"""The pruner template (skscreen/pruning/_base.py) and the weight pruner (pruner.py): the
contracts each test pins down have a known answer (the documented rule), not a recorded one.

Mutation testing (tools/run_mutation.py) found these rules unchecked; each test below fails
on the one-token change of the code named in its docstring.
"""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skscreen.pruning import distributed  # noqa: E402
from skscreen.pruning import hooks as hooks_module  # noqa: E402
from skscreen.pruning._base import (  # noqa: E402
    ABS_MOMENTS,
    CLASS_MOMENTS,
    BasePruner,
    check_pruning_params,
    required_statistics,
)
from skscreen.pruning.pruner import WeightPruner  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402
from skscreen.pruning.scorers import (  # noqa: E402
    ActivationStatsScorer,
    HybridScreeningScorer,
    LAMPScorer,
)


class RecordingScorer:
    """|w|, and a note of the scope each call was given."""

    requires = frozenset()

    def __init__(self):
        self.scopes = []

    def __call__(self, views, scope="global"):
        self.scopes.append(scope)
        return [v.weight.abs().to(torch.float64) for v in views]


class DropFirstColumn:
    """A mask policy: at ``prune_epochs``, drop input 0 of every unit."""

    decides_masks = True

    def __init__(self, requires=frozenset()):
        self.requires = requires
        self.seeds = []

    def applies_at(self, epoch, prune_epochs):
        return epoch == prune_epochs

    def decide(self, views, epoch, keep_each_row, random_state=None):
        self.seeds.append(random_state)
        out = []
        for v in views:
            keep = v.mask.bool().clone()
            keep[:, 0] = False
            out.append(keep)
        return out


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def _pruner(scorer=None, **kw):
    kw = {"sparsity": 0.5, "prune_epochs": 1, "n_classes": 3, **kw}
    return WeightPruner(_model(), scorer or RecordingScorer(), OneShotSchedule(), **kw)


def _forward(pruner, n=12):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g)
    y = torch.arange(n) % pruner.n_classes
    pruner.model.train()
    pruner.set_targets(y)
    pruner.model(x)
    pruner.set_targets(None)


# ------------------------------------------------------------------ parameters
def test_layer_scope_and_a_single_class_are_valid_parameters():
    """The rule is scope in {'global', 'layer'} and n_classes >= 1 (one class is allowed:
    magnitude and activation criteria need no labels). Kills 'layer' misspelled and
    ``n_classes <= 1`` / ``< 2``."""
    assert check_pruning_params(0.5, 2, "layer", 1) == (0.5, 2, "layer", 1)
    assert check_pruning_params(0, 1, "global", 2) == (0.0, 1, "global", 2)
    with pytest.raises(ValueError, match="n_classes"):
        check_pruning_params(0.5, 2, "layer", 0)
    p = _pruner(scope="layer", n_classes=1)
    assert (p.scope, p.n_classes) == ("layer", 1)


def test_base_pruner_defaults_to_global_scope_and_has_no_recorder_until_built():
    """BasePruner's own defaults: scope 'global'; no recorder before ``_make_recorder`` (the
    hook methods are then no-ops)."""
    p = BasePruner(RecordingScorer(), OneShotSchedule(), sparsity=0.5, prune_epochs=2, n_classes=2)
    assert p.scope == "global"
    assert p.recorder is None
    p.attach_hooks()
    p.remove_hooks()
    p.set_targets(torch.tensor([0, 1]))
    assert p.recorder is None


def test_a_scorer_without_requires_needs_class_moments():
    """Documented default: no ``requires`` attribute -> {"class_moments"}."""

    def bare(views, scope):
        return [v.weight for v in views]

    assert required_statistics(bare) == frozenset({CLASS_MOMENTS})


def test_unknown_statistics_are_named_with_the_scorer_class():
    class Odd:
        requires = {"class_moments", "gradients"}

    with pytest.raises(
        ValueError, match=r"^Odd\.requires names unknown statistics \['gradients'\]"
    ):
        required_statistics(Odd())


@pytest.mark.parametrize("missing", ["decide", "applies_at"])
def test_a_policy_needs_both_decide_and_applies_at(missing):
    policy = DropFirstColumn()
    attrs = {"decide": policy.decide, "applies_at": policy.applies_at}
    del attrs[missing]
    half = type("Half", (), attrs)()
    with pytest.raises(
        TypeError,
        match=r"must have decide\(views, epoch, keep_each_row\) and "
        r"applies_at\(epoch, prune_epochs\)\.$",
    ):
        BasePruner(
            RecordingScorer(),
            OneShotSchedule(),
            sparsity=0.5,
            prune_epochs=1,
            n_classes=2,
            policy=half,
        )


# ------------------------------------------------------------------ criterion slots
def test_requires_come_from_the_policy_when_there_is_one():
    """The statistics follow the policy (which decides the masks), not the scorer slot."""
    policy = DropFirstColumn(requires=frozenset({ABS_MOMENTS}))
    p = _pruner(LAMPScorer(), policy=policy)
    assert p.requires == frozenset({ABS_MOMENTS})
    # a new scorer leaves a policy given as policy= in charge
    p.set_scorer(RecordingScorer())
    assert p.policy is policy and p.requires == frozenset({ABS_MOMENTS})
    assert p.recorder is not None and p.recorder.track_abs and not p.recorder.track_class


def test_set_scorer_without_a_policy_takes_the_scorer_and_its_requires():
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    assert p.requires == frozenset({CLASS_MOMENTS})
    new = LAMPScorer()
    p.set_scorer(new)
    assert p.scorer is new and p.policy is None
    assert p.requires == frozenset() and p.recorder is None


def test_a_policy_in_the_scorer_slot_is_dropped_by_a_plain_scorer():
    """A policy passed as the scorer is the policy; a plain scorer set afterwards replaces
    it (kills the scorer-slot flag set to None at construction)."""
    policy = DropFirstColumn()
    p = _pruner(policy)
    assert p.policy is policy and p.decides_masks
    scorer = RecordingScorer()
    p.set_scorer(scorer)
    assert p.policy is None and not p.decides_masks and p.scorer is scorer
    assert p.target_keep(1) == p.n_total // 2


def test_set_scorer_keeps_attached_hooks_attached_and_recording():
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    assert p.recorder.attached
    p.set_scorer(ActivationStatsScorer())
    assert p.recorder.attached
    _forward(p)
    assert all(p.recorder.abs_moments_of(n) is not None for n in p.names)


@pytest.mark.parametrize("change", ["set_scorer", "retarget"])
def test_removed_hooks_stay_removed_across_a_change_of_criterion(change):
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    p.remove_hooks()
    if change == "set_scorer":
        p.set_scorer(ActivationStatsScorer())
    else:
        p.retarget(
            sparsity=0.5,
            prune_epochs=1,
            scope="global",
            schedule=p.schedule,
            criterion=ActivationStatsScorer(),
        )
    assert not p.recorder.attached


def test_attach_hooks_reattaches_removed_hooks():
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    p.remove_hooks()
    assert not p.recorder.attached
    _forward(p)
    assert not any(p.recorder.has_stats(n) for n in p.names)
    p.attach_hooks()
    assert p.recorder.attached
    _forward(p, n=9)
    assert [p.recorder.moments_of(n).n_samples for n in p.names] == [9.0, 9.0]


def test_an_abs_only_criterion_records_no_class_moments():
    p = _pruner(ActivationStatsScorer())
    assert p.recorder.track_abs and not p.recorder.track_class
    _forward(p)
    assert not any(p.recorder.has_stats(n) for n in p.names)
    assert all(p.recorder.abs_moments_of(n) is not None for n in p.names)


def test_the_scorer_is_called_with_the_pruners_scope():
    for scope in ("global", "layer"):
        scorer = RecordingScorer()
        p = _pruner(scorer, scope=scope)
        p.step(1)
        assert scorer.scopes == [scope]


# ------------------------------------------------------------------ retarget
def test_retarget_validates_and_sets_the_new_targets():
    p = _pruner(LAMPScorer(), sparsity=0.25, prune_epochs=2)
    with pytest.raises(ValueError, match="sparsity"):
        p.retarget(
            sparsity=1.5,
            prune_epochs=2,
            scope="global",
            schedule=p.schedule,
            criterion=LAMPScorer(),
        )
    with pytest.raises(ValueError, match="prune_epochs"):
        p.retarget(
            sparsity=0.5,
            prune_epochs=0,
            scope="global",
            schedule=p.schedule,
            criterion=LAMPScorer(),
        )
    with pytest.raises(ValueError, match="scope"):
        p.retarget(
            sparsity=0.5, prune_epochs=2, scope="row", schedule=p.schedule, criterion=LAMPScorer()
        )
    schedule, scorer = OneShotSchedule(), RecordingScorer()
    out = p.retarget(
        sparsity=0.5, prune_epochs=3, scope="layer", schedule=schedule, criterion=scorer
    )
    assert out is p
    assert (p.sparsity, p.prune_epochs, p.scope) == (0.5, 3, "layer")
    assert isinstance(p.sparsity, float) and isinstance(p.prune_epochs, int)
    assert p.schedule is schedule and p.scorer is scorer and p.policy is None
    # the one-shot schedule prunes at the new prune_epochs, to the new sparsity
    assert p.target_keep(2) == p.n_total and p.target_keep(3) == p.n_total // 2


def test_retarget_puts_a_policy_in_the_policy_slot_and_a_scorer_in_the_scorer_slot():
    p = _pruner(LAMPScorer())
    policy = DropFirstColumn()
    p.retarget(sparsity=0.5, prune_epochs=1, scope="global", schedule=p.schedule, criterion=policy)
    assert p.policy is policy and p.scorer is None and p.decides_masks
    # in the policy slot: a scorer set afterwards leaves it in charge
    scorer = RecordingScorer()
    p.set_scorer(scorer)
    assert p.policy is policy and p.scorer is scorer

    def bare(views, scope):  # a scorer with neither decides_masks nor requires
        return [v.weight.abs() for v in views]

    p.retarget(sparsity=0.5, prune_epochs=1, scope="global", schedule=p.schedule, criterion=bare)
    assert p.scorer is bare and p.policy is None and not p.decides_masks
    assert p.requires == frozenset({CLASS_MOMENTS})
    p2 = _pruner(policy)  # a policy in the scorer slot: retarget moves it to the policy slot
    p2.retarget(
        sparsity=0.5, prune_epochs=1, scope="global", schedule=p2.schedule, criterion=policy
    )
    p2.set_scorer(scorer)
    assert p2.policy is policy


# ------------------------------------------------------------------ prunes_at / step
def test_no_pruning_once_the_budget_is_reached():
    """prunes_at is true only while the budget is *below* what is kept: after the one-shot
    epoch a training loop records no statistics, and step must not ask for them."""
    p = _pruner(HybridScreeningScorer(alpha=0.5), sparsity=0.5, prune_epochs=2)
    assert not p.prunes_at(1)  # one-shot: dense until prune_epochs
    assert p.prunes_at(2)
    _forward(p)
    assert p.step(2) == p.n_total // 2
    assert not p.prunes_at(3)
    before = [u.mask.clone() for u in p.units]
    assert p.step(3) == p.n_total // 2  # no statistics this epoch: nothing to decide
    assert all(torch.equal(b, u.mask) for b, u in zip(before, p.units))


@pytest.fixture
def two_ranks(monkeypatch):
    """An in-process stand-in for a process group of two ranks holding identical batches:
    the collectives are replaced by their single-process meaning plus a record of calls."""
    calls = {"reduce": 0, "agree": [], "seed": []}

    def reduce_moments(named, group=None):
        calls["reduce"] += 1
        return {n: None if m is None else m + m for n, m in named.items()}

    def agree_masks(keep, group=None):
        calls["agree"].append([k.clone() for k in keep])
        # rank 0 decided otherwise: keep only the first input column of every unit
        out = []
        for k in keep:
            rank0 = torch.zeros_like(k)
            rank0[:, 0] = True
            out.append(rank0)
        return out

    def agreed_seed(source, group=None):
        calls["seed"].append(source)
        return 12345

    monkeypatch.setattr(distributed, "is_distributed", lambda group=None: True)
    monkeypatch.setattr(distributed, "agree_masks", agree_masks)
    monkeypatch.setattr(distributed, "agreed_seed", agreed_seed)
    monkeypatch.setattr(hooks_module, "reduce_moments", reduce_moments)
    return calls


def test_under_a_process_group_rank_zeros_masks_are_applied(two_ranks):
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    _forward(p, n=12)
    local = p.step(1)
    assert two_ranks["reduce"] == 1
    assert len(two_ranks["agree"]) == 1
    # what was applied is rank 0's decision, not this rank's
    for u in p.units:
        expect = torch.zeros_like(u.mask)
        expect[:, 0] = 1
        assert torch.equal(u.mask, expect)
    assert local == sum(u.module.weight.shape[0] for u in p.units)
    # this rank's own decision (handed to the broadcast) met the budget
    assert sum(int(k.sum()) for k in two_ranks["agree"][0]) == p.n_total // 2


def test_under_a_process_group_the_policy_gets_the_agreed_seed(two_ranks):
    policy = DropFirstColumn()
    p = _pruner(policy, random_state=7)
    p.step(1)
    assert two_ranks["seed"] == [7] and policy.seeds == [12345]


def test_without_a_process_group_the_policy_gets_the_pruners_seed():
    policy = DropFirstColumn()
    p = _pruner(policy, random_state=7)
    p.step(1)
    assert policy.seeds == [7]
    assert all(not u.mask[:, 0].any() and u.mask[:, 1:].all() for u in p.units)


# ------------------------------------------------------------------ WeightPruner (pruner.py)
import pickle  # noqa: E402
import warnings  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from skscreen.pruning.masks import attach_mask, get_mask, update_mask  # noqa: E402
from skscreen.pruning.pruner import WeightUnit, check_layer_types  # noqa: E402


class _Functional(nn.Module):
    """``b`` is called functionally: its forward hook never fires."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(4, 5)
        self.b = nn.Linear(5, 3)

    def forward(self, x):
        return F.linear(torch.relu(self.a(x)), self.b.weight, self.b.bias)


def _functional_pruner(scorer):
    model = _Functional()
    return WeightPruner(model, scorer, OneShotSchedule(), sparsity=0.5, prune_epochs=1, n_classes=3)


def test_layer_types_are_module_classes():
    assert check_layer_types(nn.Linear) == (nn.Linear,)
    assert check_layer_types([nn.Linear, nn.Conv2d]) == (nn.Linear, nn.Conv2d)
    for bad in ([], [int], [nn.Linear, "Conv2d"], [nn.Linear(2, 2)]):
        with pytest.raises(TypeError, match=r"^layer_types must be module classes, got \("):
            check_layer_types(bad)
    p = _pruner(layer_types=nn.Linear)
    assert p.layer_types == (nn.Linear,) and p.names == ["0", "2"]
    with pytest.raises(TypeError, match="layer_types"):
        _pruner(layer_types=[int])


def test_no_statistics_at_all_is_an_error_naming_the_fix():
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    with pytest.raises(RuntimeError) as err:
        p.step(1)
    assert str(err.value) == (
        "No input statistics were recorded this epoch: call set_targets(y) before each "
        "training forward pass (the model must be in train mode)."
    )


@pytest.mark.parametrize(
    "scorer", [HybridScreeningScorer(alpha=0.5), ActivationStatsScorer()], ids=["class", "abs"]
)
def test_an_unscreened_layer_is_kept_dense_with_one_warning_and_the_budget_is_met(scorer):
    """A layer whose hook never fires ranks above every screened weight; its already
    pruned entries stay pruned and do not use the budget (they score -inf, not +max)."""
    p = _functional_pruner(scorer)
    keep = torch.ones(3, 5, dtype=torch.bool)
    keep[1, 2] = False
    update_mask(p.model.b, keep)
    _forward(p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = p.step(1)
    messages = [str(w.message) for w in caught]
    assert messages == [
        "No input statistics reached ['b'] (a module called functionally, or not on the "
        "training path): kept dense. Exclude them with ignored_layers to silence this."
    ]
    assert caught[0].category is UserWarning
    assert kept == p.target_keep(1) == 18  # ceil(35 / 2)
    b = p.model.b.weight_mask
    assert int(b.sum()) == 14 and b[1, 2] == 0  # dense but for the entry pruned before
    # warned once per layer: a later decision is silent
    p.retarget(
        sparsity=0.8, prune_epochs=2, scope="global", schedule=OneShotSchedule(), criterion=scorer
    )
    _forward(p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p.step(2)
    assert caught == []


def test_the_kept_dense_warning_points_at_the_caller_of_step():
    import os
    import pathlib

    import skscreen.pruning.pruner as pruner_module

    if "MUTANT_UNDER_TEST" in os.environ or "mutants" in pathlib.Path(pruner_module.__file__).parts:
        pytest.skip("under mutmut, its trampolines add frames between step and its caller")
    p = _functional_pruner(HybridScreeningScorer(alpha=0.5))
    _forward(p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p.step(1)
    assert caught[0].filename == __file__


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_the_head_keeps_an_input_for_every_output_unit_in_either_scope(scope):
    """Scores that would empty head rows: |w| with rows 0 and 1 of the head near zero."""
    p = _pruner(RecordingScorer(), sparsity=0.9, scope=scope)
    with torch.no_grad():
        p.model[2].weight[:2] = 1e-6
    assert p.head_ == "2"
    p.step(1)
    head = p.model[2].weight_mask
    assert (head.sum(1) >= 1).all()
    # the first layer is not the head: rows may empty
    assert p._constraints() == [False, True]


def test_tied_modules_with_their_own_masks_get_one_merged_mask():
    torch.manual_seed(0)
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    m1, m2 = attach_mask(first), attach_mask(second)
    assert m1 is not m2
    m1[0, 0] = 0
    m2[1, 1] = 0
    model = nn.Sequential(first, nn.ReLU(), second, nn.ReLU(), nn.Linear(4, 2))
    p = WeightPruner(
        model, RecordingScorer(), OneShotSchedule(), sparsity=0.5, prune_epochs=1, n_classes=2
    )
    assert [u.name for u in p.units] == ["0", "4"]
    unit = p.units[0]
    assert list(unit.modules) == ["0", "2"]
    assert get_mask(first) is get_mask(second)
    assert unit.mask[0, 0] == 0 and unit.mask[1, 1] == 0 and int(unit.mask.sum()) == 14
    assert p.n_total == 16 + 8 and p.n_kept() == 14 + 8
    assert repr(unit) == "WeightUnit('0', modules=['0', '2'])"
    assert repr(WeightUnit("x", {"x": first})) == "WeightUnit('x', modules=['x'])"


def test_bind_links_the_model_and_names_and_a_pickled_pruner_rebinds():
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    assert p.model is not None and p.names == ["0", "2"] and list(p.layers) == ["0", "2"]
    back = pickle.loads(pickle.dumps(p))
    assert back.model is None and back.units == [] and back.layers == {}
    model = _model()
    assert back.bind(model) is back
    assert back.model is model and back.names == ["0", "2"]
    assert back.layers["2"] is model[2] and back.head_ == "2"


def test_a_model_with_nothing_prunable_names_the_settings():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ValueError) as err:
        WeightPruner(
            model,
            LAMPScorer(),
            OneShotSchedule(),
            sparsity=0.5,
            prune_epochs=1,
            n_classes=2,
            ignored_layers=["0", "2"],
        )
    assert str(err.value) == (
        "The model has no prunable layer (layer_types=['Linear', 'Conv1d', 'Conv2d'], "
        "ignored_layers=['0', '2'])."
    )


def test_views_without_a_recorder_carry_no_statistics():
    p = _pruner(LAMPScorer())
    assert p.recorder is None
    views = p.views()
    assert [v.name for v in views] == ["0", "2"]
    assert all(v.moments is None and v.abs_moments is None for v in views)


def test_an_ignored_head_is_no_head():
    p = _pruner(LAMPScorer(), ignored_layers=["2"])
    assert p.names == ["0"] and p.head_ is None and p._constraints() == [False]


def test_a_restored_pruner_is_detached_and_a_change_of_criterion_keeps_it_so():
    """Pickled while recording: it comes back without hooks (its recorder is detached), and
    set_scorer does not hook the new model behind the training loop's back."""
    p = _pruner(HybridScreeningScorer(alpha=0.5))
    assert p.recorder.attached
    back = pickle.loads(pickle.dumps(p))
    back.bind(_model())
    assert not back.recorder.attached
    back.set_scorer(ActivationStatsScorer())
    assert not back.recorder.attached
    back.attach_hooks()
    assert back.recorder.attached


# (from the former test_weight_level_arch.py: real-architecture patterns, plain torch)

from _weight_pruning import _pruner as _weight_pruner  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.pruning.schedules import make_schedule  # noqa: E402
from skscreen.pruning.scorers import (  # noqa: E402
    ActivationStatsScorer,
    HybridScreeningScorer,
    MagnitudeScorer,
)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"sparsity": 1.0}, "sparsity"),
        ({"sparsity": "0.5"}, "sparsity"),
        ({"prune_epochs": 0}, "prune_epochs"),
        ({"prune_epochs": None}, "prune_epochs"),
        ({"prune_epochs": 2.5}, "prune_epochs"),
        ({"scope": "layers"}, "scope"),
        ({"n_classes": 0}, "n_classes"),
    ],
)
def test_base_pruner_validates_its_parameters(kw, match):
    params = {"sparsity": 0.5, "prune_epochs": 2, "n_classes": 3, "scope": "global"} | kw
    with pytest.raises(ValueError, match=match):
        BasePruner(MagnitudeScorer(), OneShotSchedule(), **params)


def test_scorer_protocol_declares_statistics():
    class Needs:
        requires = {"abs_moments", "class_moments"}

    class Bad:
        requires = {"gradients"}

    assert required_statistics(Needs()) == {"abs_moments", "class_moments"}
    assert required_statistics(ActivationStatsScorer()) == {"abs_moments"}
    assert required_statistics(HybridScreeningScorer(alpha=0.3)) == {"class_moments"}
    assert required_statistics(HybridScreeningScorer(alpha=0.0)) == frozenset()
    with pytest.raises(ValueError, match="unknown statistics"):
        required_statistics(Bad())
    # no statistics needed: no hooks at all
    assert _weight_pruner(nn.Linear(3, 2), scorer=MagnitudeScorer()).recorder is None


def test_the_pruner_ranks_pruned_weights_last_whatever_the_scorer_returns():
    class Random:  # forgets about already-pruned weights: the pruner handles them
        requires = ()

        def __init__(self):
            self.gen = torch.Generator().manual_seed(0)

        def __call__(self, views, scope):
            return [torch.rand(v.weight.shape, generator=self.gen).double() for v in views]

    lin = nn.Linear(10, 10)
    pruner = WeightPruner(
        lin, Random(), make_schedule("logistic"), sparsity=0.9, prune_epochs=3, n_classes=2
    )
    before = None
    for epoch in (1, 2, 3):
        pruner.step(epoch)
        mask = get_mask(lin).bool()
        if before is not None:
            assert not (mask & ~before).any()  # nothing revived
        assert int(mask.sum()) == pruner.target_keep(epoch)
        before = mask.clone()


def test_a_policy_with_the_older_decide_signature_still_works():
    class KeepFirstColumn:  # decide(views, epoch, keep_each_row): no random_state
        decides_masks = True
        requires = ()

        def applies_at(self, epoch, prune_epochs):
            return epoch == prune_epochs

        def decide(self, views, epoch, keep_each_row):
            masks = []
            for v in views:
                keep = torch.zeros(v.weight.shape, dtype=torch.bool)
                keep[:, 0] = True
                masks.append(keep)
            return masks

    lin = nn.Linear(4, 3)
    pruner = WeightPruner(
        lin, KeepFirstColumn(), OneShotSchedule(), sparsity=0.0, prune_epochs=2, n_classes=2
    )
    assert pruner.step(1) == 12 and pruner.step(2) == 3
