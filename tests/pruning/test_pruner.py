"""WeightPruner (skscreen/pruning/pruner.py) against known truths: magnitude pruning equals an
independent numpy top-k (global and per layer), and every output unit keeps an input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning import MagnitudeScorer, WeightPruner  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402


def _fixed_mlp(seed=0):
    torch.manual_seed(seed)
    return make_mlp(20, (16, 12), 4)


def _numpy_global_top_k(weights, n_keep):
    """Magnitude pruning (Han et al. 2015) in five lines of numpy: keep the largest |w|."""
    flat = np.concatenate([np.abs(w).ravel() for w in weights])
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:n_keep]] = True
    cuts = np.cumsum([w.size for w in weights])[:-1]
    return [k.reshape(w.shape) for k, w in zip(np.split(keep, cuts), weights)]


def _magnitude_pruner(model, sparsity, scope="global"):
    return WeightPruner(
        model,
        MagnitudeScorer(),
        OneShotSchedule(),
        sparsity=sparsity,
        prune_epochs=1,
        n_classes=4,
        scope=scope,
    )


@pytest.mark.parametrize("sparsity", [0.5, 0.8, 0.9])
def test_magnitude_pruner_equals_independent_numpy_top_k(sparsity):
    model = _fixed_mlp()
    weights = [m.weight.detach().numpy().copy() for m in model if isinstance(m, nn.Linear)]
    pruner = _magnitude_pruner(model, sparsity)
    pruner.step(1)
    n_total = sum(w.size for w in weights)
    n_keep = int(round(n_total * (1 - sparsity)))
    assert pruner.n_kept() == n_keep
    expected = _numpy_global_top_k(weights, n_keep)
    # the pruner's constraints (a weight per layer, an input per output unit) do not bind
    assert all(e.any() for e in expected) and expected[-1].any(axis=1).all()
    got = [get_mask(m).bool().numpy() for m in model if isinstance(m, nn.Linear)]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_magnitude_pruner_layer_scope_equals_per_layer_numpy_top_k():
    model = _fixed_mlp(1)
    weights = [m.weight.detach().numpy().copy() for m in model if isinstance(m, nn.Linear)]
    pruner = _magnitude_pruner(model, 0.75, scope="layer")
    pruner.step(1)
    for m, w in zip([m for m in model if isinstance(m, nn.Linear)], weights):
        expected = _numpy_global_top_k([w], int(round(w.size * 0.25)))[0]
        np.testing.assert_array_equal(get_mask(m).bool().numpy(), expected)


def test_weight_pruner_keeps_an_input_for_every_output_unit():
    # the output layer's weights are tiny: plain global top-k would empty all its rows
    torch.manual_seed(0)
    model = make_mlp(20, (16,), 5)
    with torch.no_grad():
        model[-1].weight.mul_(1e-4)
        model[-1].weight[2].zero_()  # one unit whose inputs all tie at zero
    pruner = _magnitude_pruner(model, 0.9)
    pruner.step(1)
    out_mask = get_mask(model[-1]).bool()
    assert (out_mask.sum(1) >= 1).all()
    # and only that: one input per unit (the largest), everything else from the hidden layer
    np.testing.assert_array_equal(out_mask.sum(1).numpy(), np.ones(5))
    w = model[-1].weight.detach().abs()
    for j in (0, 1, 3, 4):
        assert out_mask[j, w[j].argmax()]
    assert pruner.n_kept() == int(round((20 * 16 + 16 * 5) * 0.1))


# (from the former test_weight_level_arch.py: real-architecture patterns, plain torch)
import warnings  # noqa: E402

from _archs import ResidualBNCNN, make  # noqa: E402
from _weight_pruning import _f, _pruner, _record, _train  # noqa: E402
from sklearn.feature_selection import f_classif  # noqa: E402

from skscreen.pruning.extreme_value import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.scorers import HybridScreeningScorer  # noqa: E402


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.b.weight = self.a.weight  # tied
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.relu(self.b(torch.relu(self.a(x)))))


class _Functional(nn.Module):
    """Uses ``inner``'s weight through ``F.linear``: its forward hook never fires."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(5, 5)
        self.head = nn.Linear(5, 30)

    def forward(self, x):
        return self.head(nn.functional.linear(x, self.inner.weight, self.inner.bias))


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


def test_layer_whose_hook_never_fires_is_kept_dense_with_a_warning():
    model = _Functional()
    pruner = _pruner(model, sparsity=0.5, schedule=OneShotSchedule(), prune_epochs=1)
    _record(pruner, model, torch.randn(30, 5), torch.arange(30) % 3)
    with pytest.warns(UserWarning, match=r"No input statistics reached \['inner'\]"):
        pruner.step(1)
    assert pruner.kept_fractions()["inner"] == 1.0
    assert pruner.n_kept() == pruner.target_keep(1) == 88  # the budget falls on the others


def test_kept_dense_layer_is_scored_on_its_weights_device_not_the_default_device():
    # a default device other than the weights' (meta here, CUDA for a user) stands for a CUDA
    # model on CPU-only CI: the dense layer's scores must follow the weight, not the default
    model = _Functional()
    pruner = _pruner(model, sparsity=0.5, schedule=OneShotSchedule(), prune_epochs=1)
    _record(pruner, model, torch.randn(30, 5), torch.arange(30) % 3)
    with pytest.warns(UserWarning, match="kept dense"), torch.device("meta"):
        pruner.step(1)
    assert get_mask(model.inner).device.type == "cpu"
    assert pruner.kept_fractions()["inner"] == 1.0
    assert pruner.n_kept() == pruner.target_keep(1) == 88


def test_transformer_layer_skips_attention_out_proj_and_prunes_the_rest():
    model, x = make("transformer")
    y = torch.arange(16) % 10
    pruner = _pruner(model, sparsity=0.7, n_classes=10)
    assert list(pruner.layers) == ["encoder.linear1", "encoder.linear2", "head"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # every listed layer is screened
        _train(model, pruner, x, y)
    assert pruner.n_kept() == pruner.target_keep(3)


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


def test_enforce_re_zeroes_the_pruned_weights_only():
    model = _fixed_mlp()
    pruner = _magnitude_pruner(model, 0.5)
    pruner.step(1)
    with torch.no_grad():
        for u in pruner.units:
            u.module.weight.fill_(2.0)  # what an optimizer from elsewhere may do
    pruner.enforce()
    for u in pruner.units:
        assert torch.equal(u.module.weight.detach(), 2.0 * get_mask(u.module))


def test_n_kept_counts_again_when_every_mask_buffer_is_replaced():
    # new buffers at the old ones' version numbers: only their identity tells them apart
    model = _fixed_mlp()
    pruner = _magnitude_pruner(model, 0.5)
    pruner.step(1)
    assert pruner.n_kept() == pruner.n_total // 2
    for u in pruner.units:
        fresh = torch.ones_like(u.module.weight)
        while fresh._version < get_mask(u.module)._version:
            fresh.mul_(1.0)
        assert fresh._version == get_mask(u.module)._version
        u.module.register_buffer("weight_mask", fresh, persistent=False)
    assert pruner.n_kept() == pruner.n_total


def test_n_kept_follows_every_change_of_the_masks():
    # each way a mask changes (a step, reset, a loaded state, a new buffer, an edit by hand
    # that no version counter sees, a pickled pruner) is counted
    import pickle

    from skscreen.pruning.masks import masks_from_zeros, reset_masks, update_mask

    model = _fixed_mlp()
    pruner = _magnitude_pruner(model, 0.5)
    total = pruner.n_total
    assert pruner.n_kept() == total
    pruner.step(1)
    assert pruner.n_kept() == total // 2
    first = pruner.units[0].module
    update_mask(first, torch.zeros_like(first.weight))
    want = sum(int(get_mask(u.module).sum()) for u in pruner.units)
    assert pruner.n_kept() == want
    reset_masks(model.modules())
    assert pruner.n_kept() == total
    with torch.no_grad():
        for u in pruner.units:
            u.module.weight.fill_(1.0)
        first.weight[0] = 0.0
    masks_from_zeros(model.modules())  # what loading a state dict runs
    assert pruner.n_kept() == total - first.weight.shape[1]
    fresh = torch.ones_like(first.weight)  # a new buffer at the old one's version number
    for _ in range(get_mask(first)._version):
        fresh.mul_(1.0)
    assert fresh._version == get_mask(first)._version
    first.register_buffer("weight_mask", fresh, persistent=False)
    assert pruner.n_kept() == total
    get_mask(first).data[1] = 0.0  # through .data: the mask's version does not move
    assert pruner.n_kept() == total - first.weight.shape[1]
    back = pickle.loads(pickle.dumps(pruner))
    back.bind(model)
    assert back.n_kept() == total - first.weight.shape[1]


def test_counts_of_a_half_precision_layer_past_float16_range():
    # 300 x 256 = 76,800 weights: a float16 mask's sum overflows (65,504 is its largest value)
    model = nn.Sequential(nn.Linear(300, 256), nn.ReLU(), nn.Linear(256, 4)).half()
    pruner = _magnitude_pruner(model, 0.5)
    assert pruner.n_kept() == pruner.n_total == 300 * 256 + 256 * 4
    pruner.step(1)
    kept = sum(int((get_mask(m) != 0).sum(dtype=torch.int64)) for m in (model[0], model[2]))
    assert pruner.n_kept() == kept
    first = get_mask(model[0])
    want = int((first != 0).sum(dtype=torch.int64)) / first.numel()
    assert pruner.kept_fractions()["0"] == want  # exact, not a float16 mean
