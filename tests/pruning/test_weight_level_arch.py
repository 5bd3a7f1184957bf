"""Weight-level pruning on real-architecture patterns (plain torch loop, no skorch).

Convolutions (grouped, depthwise), ``Linear`` on N-D input (channels-last, sequences), tied
weights, ignored layers, layers a hook never sees, the pruner skeleton and its scorer
protocol, the extreme-value mask policy's seeding, and ``compact_module`` (masked ==
physical, state dict loadable into the original architecture).
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")
from _archs import ARCHS, ResidualBNCNN, make  # noqa: E402
from sklearn.feature_selection import f_classif  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.pruning import WeightPruner  # noqa: E402
from skscreen.pruning._base import BasePruner, required_statistics  # noqa: E402
from skscreen.pruning.compaction import (  # noqa: E402
    compact_module,
    count_parameters,
    fold_masks,
)
from skscreen.pruning.extreme_value import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.masks import MaskEnforcer, get_mask, update_mask  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule, make_schedule  # noqa: E402
from skscreen.pruning.scorers import (  # noqa: E402
    ActivationStatsScorer,
    HybridScreeningScorer,
    MagnitudeScorer,
)
from skscreen.stats import anova_f  # noqa: E402


def _pruner(model, sparsity=0.8, alpha=0.5, prune_epochs=2, **kw):
    scorer = kw.pop("scorer", None) or HybridScreeningScorer(alpha=alpha)
    return WeightPruner(
        model,
        scorer,
        kw.pop("schedule", make_schedule("logistic")),
        sparsity=sparsity,
        prune_epochs=prune_epochs,
        n_classes=kw.pop("n_classes", 3),
        **kw,
    )


def _record(pruner, model, x, y):
    """One training forward pass with labels: what the hooks see in a training loop."""
    pruner.attach_hooks()
    model.train()
    pruner.set_targets(y)
    with torch.no_grad():
        model(x)
    pruner.set_targets(None)


def _f(pruner, name):
    f, _ = anova_f(pruner.recorder.moments_of(name), warn_constant=False)
    return np.asarray(f)


# --------------------------------------------------------------------------- statistics
def test_conv_statistic_is_the_f_of_the_input_channel_spatial_mean():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.Flatten())
    y = torch.arange(60) % 3
    x = (
        torch.randn(60, 3, 7, 7)
        + y[:, None, None, None] * torch.tensor([0.0, 1.0, 0.3])[None, :, None, None]
    )
    pruner = _pruner(model, layer_types=(nn.Conv2d,))
    seen = {}
    model[2].register_forward_hook(lambda m, i, o: seen.setdefault("in", i[0].detach()))
    _record(pruner, model, x, y)
    np.testing.assert_allclose(_f(pruner, "0"), f_classif(x.mean((2, 3)).numpy(), y)[0], rtol=1e-4)
    ref = f_classif(seen["in"].mean((2, 3)).double().numpy(), y.numpy())[0]
    np.testing.assert_allclose(_f(pruner, "2"), ref, rtol=1e-4)


@pytest.mark.parametrize("layout", ["channels_last", "sequence_first"])
def test_linear_on_nd_input_screens_the_last_dimension_every_position_a_sample(layout):
    torch.manual_seed(0)
    lin = nn.Linear(4, 2)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    x = torch.randn(9, 3, 5, 4) + y[:, None, None, None] * torch.tensor([0, 1.0, 0, 0.2])
    pruner = _pruner(lin, layer_types=(nn.Linear,))
    fed = x if layout == "channels_last" else x[:, :, 0].transpose(0, 1)  # (L=3, N=9, E=4)
    _record(pruner, lin, fed, y)
    if layout == "channels_last":
        samples, labels = x.reshape(-1, 4), y.repeat_interleave(15)
    else:
        samples, labels = x[:, :, 0].reshape(-1, 4), y.repeat_interleave(3)
    assert pruner.recorder.moments_of("").n_samples == len(labels)
    np.testing.assert_allclose(_f(pruner, ""), f_classif(samples.numpy(), labels)[0], rtol=1e-4)


def test_grouped_conv_weight_reads_the_f_of_its_own_group_input_channel():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 4, 1, groups=2)  # weight (4, 3, 1, 1): rows 0-1 read 0-2, rows 2-3 read 3-5
    y = torch.arange(90) % 3
    shift = torch.tensor([0.0, 0.1, 0.4, 0.9, 1.6, 2.5])  # F strictly increasing per channel
    x = torch.randn(90, 6, 2, 2) + y[:, None, None, None] * shift[None, :, None, None]
    pruner = _pruner(conv, alpha=1.0, layer_types=(nn.Conv2d,))
    _record(pruner, conv, x, y)
    f = f_classif(x.mean((2, 3)).numpy(), y)[0]
    fn = (f - f.min()) / (f.max() - f.min())
    scores = pruner._score(pruner.views())[0][:, :, 0, 0].numpy()
    np.testing.assert_allclose(scores[:2], np.tile(fn[:3], (2, 1)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores[2:], np.tile(fn[3:], (2, 1)), rtol=1e-5, atol=1e-7)


def test_depthwise_conv_is_prunable_and_reads_its_own_channel():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, 3, groups=4, padding=1)
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(100, 2))  # the head is not pruned here
    y = torch.arange(40) % 2
    x = (
        torch.randn(40, 4, 5, 5)
        + y[:, None, None, None] * torch.tensor([0, 2.0, 0, 0.5])[None, :, None, None]
    )
    pruner = _pruner(
        model,
        alpha=1.0,
        sparsity=0.5,
        n_classes=2,
        schedule=OneShotSchedule(),
        prune_epochs=1,
        layer_types=(nn.Conv2d,),
    )
    _record(pruner, model, x, y)
    pruner.step(1)
    kept = get_mask(conv)[:, 0].sum((1, 2))
    # the two channels with the class signal keep their filters, the two others go
    assert kept.tolist() == [0.0, 9.0, 0.0, 9.0]


# --------------------------------------------------------------------------- the pruner
def _train(model, pruner, x, y, optimizer="sgd", epochs=3, batches=2, enforcer=True):
    """A plain torch loop: labels to the hooks, optimizer steps, prune at each epoch end."""
    params = list(model.parameters())
    opt = (
        torch.optim.SGD(params, lr=0.05, momentum=0.9)
        if optimizer == "sgd"
        else torch.optim.Adam(params, lr=0.01)
    )
    guard = MaskEnforcer().attach(list(pruner.layers.values()), opt) if enforcer else None
    pruner.attach_hooks()
    for epoch in range(1, epochs + 1):
        model.train()
        for _ in range(batches):
            pruner.set_targets(y)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            pruner.set_targets(None)
            if guard is None:
                pruner.enforce()
        pruner.step(epoch, opt)
    pruner.remove_hooks()
    if guard is not None:
        guard.remove()
    return model.eval()


def test_resnet_like_net_prunes_conv_weights_and_sparsity_counts_every_layer():
    model, x = make("residual_bn_cnn")
    y = torch.arange(16) % 10
    convs_and_fc = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    pruner = _pruner(model, sparsity=0.9, n_classes=10)
    assert pruner.n_total == sum(m.weight.numel() for m in convs_and_fc)
    _train(model, pruner, x, y)
    n_masked = sum(int(get_mask(m).sum()) for m in convs_and_fc)
    assert n_masked == pruner.n_kept() == pruner.target_keep(3)  # exact, over all layers
    assert abs(1 - n_masked / pruner.n_total - 0.9) < 1e-4
    fractions = pruner.kept_fractions()
    assert set(fractions) == {"stem.0", "conv", "conv2", "head.fc"}
    assert all(fractions[n] < 0.5 for n in ("conv", "conv2"))
    for m in convs_and_fc:  # the zeros are real
        assert int((m.weight != 0).sum()) == int(get_mask(m).sum())
    assert (get_mask(model.head.fc).sum(1) >= 1).all()  # every class keeps an input
    # Linear only, as before: the convolutions stay dense
    linear_only = _pruner(ResidualBNCNN(), n_classes=10, layer_types=(nn.Linear,))
    assert list(linear_only.layers) == ["head.fc"] and linear_only.n_total == 640


def test_ignored_layers_by_name_and_module_and_validation():
    model = ResidualBNCNN()
    pruner = _pruner(model, ignored_layers=["stem", model.head.fc])
    assert list(pruner.layers) == ["conv", "conv2"]
    assert pruner.n_total == model.conv.weight.numel() + model.conv2.weight.numel()
    assert get_mask(model.stem[0]) is None  # an ignored layer gets no mask
    with pytest.raises(ValueError, match="no submodule named 'nope'"):
        _pruner(ResidualBNCNN(), ignored_layers=["nope"])
    with pytest.raises(ValueError, match="not part of the model"):
        _pruner(ResidualBNCNN(), ignored_layers=[nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="no prunable layer"):
        _pruner(nn.Sequential(nn.ReLU()))


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.b.weight = self.a.weight  # tied
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.relu(self.b(torch.relu(self.a(x)))))


def test_tied_weights_are_one_unit_with_one_mask_counted_once():
    model = _Tied()
    x, y = torch.randn(30, 6), torch.arange(30) % 3
    pruner = _pruner(model, sparsity=0.5)
    assert pruner.n_total == 36 + 18
    assert get_mask(model.a) is get_mask(model.b)
    assert list(pruner.kept_fractions()) == ["a", "head"]
    _train(model, pruner, x, y)
    assert pruner.n_kept() == pruner.target_keep(3) == 27
    assert torch.equal(get_mask(model.a), get_mask(model.b))
    assert int((model.a.weight != 0).sum()) == int(get_mask(model.a).sum())
    # the state dict holds the mask under both names and loads back
    clone = _Tied()
    WeightPruner(
        clone, MagnitudeScorer(), OneShotSchedule(), sparsity=0.5, prune_epochs=1, n_classes=3
    )
    clone.load_state_dict(model.state_dict())
    assert get_mask(clone.a) is get_mask(clone.b)


class _Functional(nn.Module):
    """Uses ``inner``'s weight through ``F.linear``: its forward hook never fires."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(5, 5)
        self.head = nn.Linear(5, 30)

    def forward(self, x):
        return self.head(nn.functional.linear(x, self.inner.weight, self.inner.bias))


def test_layer_whose_hook_never_fires_is_kept_dense_with_a_warning():
    model = _Functional()
    pruner = _pruner(model, sparsity=0.5, schedule=OneShotSchedule(), prune_epochs=1)
    _record(pruner, model, torch.randn(30, 5), torch.arange(30) % 3)
    with pytest.warns(UserWarning, match=r"No input statistics reached \['inner'\]"):
        pruner.step(1)
    assert pruner.kept_fractions()["inner"] == 1.0
    assert pruner.n_kept() == pruner.target_keep(1) == 88  # the budget falls on the others


def test_transformer_layer_skips_attention_out_proj_and_prunes_the_rest():
    model, x = make("transformer")
    y = torch.arange(16) % 10
    pruner = _pruner(model, sparsity=0.7, n_classes=10)
    assert list(pruner.layers) == ["encoder.linear1", "encoder.linear2", "head"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # every listed layer is screened
        _train(model, pruner, x, y)
    assert pruner.n_kept() == pruner.target_keep(3)


# --------------------------------------------------------------------------- every pattern
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_every_pattern_trains_pruned_and_compacts_to_the_same_function(name, optimizer):
    model, x = make(name)
    y = torch.arange(x.shape[0]) % 10
    pruner = _pruner(model, sparsity=0.8, alpha=1.0, n_classes=10)
    _train(model, pruner, x, y, optimizer, enforcer=optimizer == "adam")
    assert pruner.n_kept() == pruner.target_keep(3)
    for m in pruner.layers.values():  # pruned weights are still exactly zero
        assert torch.all(m.weight[get_mask(m) == 0] == 0)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tracing notes, channel-shuffle fallback
        expected = model(x)
        small = compact_module(model, x)
        torch.testing.assert_close(small(x), expected, rtol=1e-4, atol=1e-5)
        # masks folded into plain parameters: loads into a fresh copy of the architecture
        folded = fold_masks(model)
        fresh = ARCHS[name][0]().eval()
        fresh.load_state_dict(folded.state_dict())
        torch.testing.assert_close(fresh(x), expected, rtol=1e-5, atol=1e-6)
    assert not any(b.endswith("_mask") for b, _ in folded.named_buffers())
    assert count_parameters(small) <= count_parameters(model)


def test_compact_removes_exactly_the_channels_nothing_reads():
    model = ResidualBNCNN().eval()
    x = torch.randn(4, 1, 8, 8)
    n_params = count_parameters(model)
    # stem/block channels 0 and 1 (coupled by the residual addition): read by conv and conv2
    update_mask(model.conv, torch.ones_like(model.conv.weight).index_fill(1, torch.arange(2), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small = compact_module(model, x)
    assert small.stem[0].out_channels == 32  # conv2 still reads them: nothing removed
    update_mask(model.conv2, torch.ones_like(model.conv2.weight).index_fill(1, torch.arange(2), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small = compact_module(model, x)
    assert small.stem[0].out_channels == small.conv.out_channels == small.bn.num_features == 30
    assert small.conv.in_channels == small.conv2.in_channels == 30
    # removed: 2 stem filters, 2 x 2 BatchNorm entries, conv 32x32 -> 30x30, 2 conv2 inputs
    removed = 2 * 9 + 2 * 2 * 2 + (32 * 32 - 30 * 30) * 9 + 64 * 2 * 9
    assert count_parameters(small) == n_params - removed
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-5, atol=1e-6)
    assert get_mask(model.conv) is not None  # the masked model is left as it was


def test_compact_module_on_a_sequential_mlp_removes_dead_neurons():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    update_mask(mlp[2], torch.ones(3, 8).index_fill(1, torch.arange(3), 0))  # 3 unread neurons
    small = compact_module(mlp)
    assert isinstance(small, nn.Sequential) and small[0].out_features == 5
    x = torch.randn(10, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(x), mlp(x))


def test_compact_without_example_inputs_folds_masks_only():
    model, x = make("se_block")
    model.eval()
    update_mask(model.conv, torch.rand_like(model.conv.weight) > 0.5)
    out = compact_module(model)
    assert count_parameters(out) == count_parameters(model)
    assert "conv.weight_mask" not in out.state_dict()
    with torch.no_grad():
        torch.testing.assert_close(out(x), model(x))


# --------------------------------------------------------------------------- skeleton
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
    assert _pruner(nn.Linear(3, 2), scorer=MagnitudeScorer()).recorder is None


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


# --------------------------------------------------------------------------- extreme value
def _ev_fit(random_state=None, policy_state=None, as_policy=True):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
    x, y = torch.randn(48, 20), torch.arange(48) % 3
    policy = ExtremeValuePruning(block_size=4, random_state=policy_state)
    kw = {"policy": policy} if as_policy else {"scorer": policy}
    pruner = WeightPruner(
        model,
        kw.pop("scorer", MagnitudeScorer()),
        OneShotSchedule(),
        sparsity=0.0,
        prune_epochs=2,
        n_classes=3,
        random_state=random_state,
        **kw,
    )
    assert pruner.decides_masks and pruner.target_keep(1) is None
    _train(model, pruner, x, y, epochs=2, enforcer=False)
    return torch.cat([get_mask(m).reshape(-1) for m in pruner.layers.values()])


def test_extreme_value_masks_derive_from_random_state():
    a = _ev_fit(random_state=0)
    assert 0 < int((a == 0).sum()) < a.numel()  # it did prune, and sampled
    assert torch.equal(a, _ev_fit(random_state=0))
    assert torch.equal(a, _ev_fit(random_state=0, as_policy=False))  # the scorer slot too
    assert not torch.equal(a, _ev_fit(random_state=1))
    # the policy's own seed wins over the pruner's
    assert torch.equal(_ev_fit(random_state=5, policy_state=0), _ev_fit(policy_state=0))
    # freshly seeded generators give the same masks
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert torch.equal(_ev_fit(random_state=g1), _ev_fit(random_state=g2))


def test_set_scorer_makes_the_hooks_follow_the_new_criterion():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    pruner = _pruner(model, scorer=MagnitudeScorer())
    pruner.attach_hooks()
    assert pruner.recorder is None
    pruner.set_scorer(HybridScreeningScorer(alpha=0.5))
    assert pruner.recorder is not None and pruner.recorder.attached  # was attached: re-attached
    _record(pruner, model, torch.randn(12, 4), torch.arange(12) % 3)
    assert pruner.recorder.has_stats("0") and pruner.recorder.has_stats("2")
    pruner.set_scorer(ExtremeValuePruning())
    assert pruner.decides_masks and pruner.recorder is None
    pruner.set_scorer(MagnitudeScorer())
    assert not pruner.decides_masks
    # a policy given as ``policy=`` stays when the scorer changes
    kept = _pruner(model, scorer=MagnitudeScorer(), policy=ExtremeValuePruning())
    kept.set_scorer(HybridScreeningScorer(alpha=0.5))
    assert kept.decides_masks


def test_pickled_pruner_rebinds_by_name_and_keeps_tied_masks_shared():
    import pickle

    model = _Tied()
    pruner = _pruner(model, sparsity=0.5, ignored_layers=[model.head])
    _train(model, pruner, torch.randn(30, 6), torch.arange(30) % 3)
    model2, pruner2 = pickle.loads(pickle.dumps((model, pruner)))
    pruner2.bind(model2)
    assert pruner2.ignored_layers == ["head"] and list(pruner2.layers) == ["a", "b"]
    assert get_mask(model2.a) is get_mask(model2.b)
    assert pruner2.n_kept() == pruner.n_kept() == pruner.target_keep(3)


def test_rebinding_after_conversion_to_torch_prune_storage_keeps_every_layer():
    from skscreen.pruning.masks import to_torch_prune

    model, x = make("se_block")
    pruner = _pruner(model, sparsity=0.5, n_classes=10)
    _train(model, pruner, x, torch.arange(16) % 10, epochs=2)
    n_kept, names = pruner.n_kept(), list(pruner.layers)
    to_torch_prune(model)
    pruner.bind(model)
    assert list(pruner.layers) == names and pruner.n_kept() == n_kept


class _TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 4, 1)
        self.aux = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        return {"main": self.conv2(h).mean((2, 3)), "aux": self.aux(h.mean((2, 3)))}


def test_compact_module_on_a_dict_output_and_a_protected_layer():
    model = _TwoOutputs().eval()
    x = torch.randn(2, 3, 6, 6)
    # conv1 channels 0-2: conv2 and aux read none of them
    update_mask(model.conv2, torch.ones(4, 8, 1, 1).index_fill(1, torch.arange(3), 0))
    update_mask(model.aux, torch.ones(2, 8).index_fill(1, torch.arange(3), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small = compact_module(model, x)
        kept = compact_module(model, x, protected=[model.conv1])
    assert small.conv1.out_channels == 5 and small.aux.in_features == 5
    assert kept.conv1.out_channels == 8  # its outputs stay whole
    with torch.no_grad():
        for out in (small(x), kept(x)):
            torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-6)


def test_compact_folds_channels_without_inputs_into_the_next_linear_bias():
    # SE block: fc1 neurons 0 and 1 lose every input and emit relu(b): fc2 absorbs them
    model, x = make("se_block")
    model.eval()
    with torch.no_grad():
        model.fc1.bias.copy_(torch.tensor([0.7, -0.3, 0.2, 0.1]))
    update_mask(model.fc1, torch.ones(4, 16).index_fill(0, torch.arange(2), 0))
    # conv -> BatchNorm -> ReLU -> flatten -> Linear: channels 2 and 3 have no filter left
    torch.manual_seed(0)
    flat = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(96, 5)
    )
    with torch.no_grad():
        flat[1].running_mean.uniform_(-1, 1)
        flat[1].running_var.uniform_(0.5, 2)
        flat[1].bias.uniform_(0, 1)  # the constant channels are non-zero after the ReLU
    update_mask(flat[0], torch.ones(6, 3, 3, 3).index_fill(0, torch.tensor([2, 3]), 0))
    flat.eval()
    xf = torch.randn(4, 3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small_se, small_flat = compact_module(model, x), compact_module(flat, xf)
    assert small_se.fc1.out_features == 2 and small_se.fc2.in_features == 2
    assert small_flat[0].out_channels == 4 and small_flat[4].in_features == 64
    with torch.no_grad():
        torch.testing.assert_close(small_se(x), model(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(small_flat(xf), flat(xf), rtol=1e-5, atol=1e-6)
    # one example makes every input look constant: only the structure may decide
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from_one = compact_module(flat, xf[:1])
    assert from_one[0].out_channels == 4
    with torch.no_grad():
        torch.testing.assert_close(from_one(xf), flat(xf), rtol=1e-5, atol=1e-6)


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
