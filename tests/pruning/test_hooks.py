"""What the statistics hooks record, against numpy on the tensors the layers actually see.

* ``|x|`` of a convolution input is taken *before* the per-sample spatial mean (the mean
  magnitude of a channel, not the magnitude of its mean);
* ``post_relu=True`` records ``relu`` of the tensor, again before the spatial mean, and the
  channel pruner passes the setting to its recorder;
* tied weights (one ``Parameter`` used by several modules) are one unit whose statistics
  pool every module's inputs.

The inputs are built so that each wrong order gives another number: channels with
positive and negative values at each sample (``mean |x| != |mean x|``, ``mean relu(x) !=
relu(mean x)``).
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.feature_selection import f_classif  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning import WeightPruner  # noqa: E402
from skscreen.pruning.hooks import InputStatsRecorder, as_samples  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402
from skscreen.stats import anova_f  # noqa: E402


def _mixed_sign_images(n=24, c=3, side=4, seed=0):
    """(n, c, side, side) images: per sample and channel, a level plus a +-spread pattern."""
    g = torch.Generator().manual_seed(seed)
    level = torch.randn(n, c, 1, 1, generator=g, dtype=torch.float64)
    spread = 1.0 + torch.rand(n, c, 1, 1, generator=g, dtype=torch.float64)
    sign = torch.ones(side, side, dtype=torch.float64)
    sign[::2] = -1.0
    return level + spread * sign * torch.rand(n, c, side, side, generator=g, dtype=torch.float64)


def _pooled(m):
    """(mean, population variance) per feature of a one-class moments state."""
    m = m.numpy()
    n = m.count_.sum()
    return m.mean_[0] + m.shift_, m.m2_[0] / n


def _record(rec, module, x, y):
    module.train()
    rec.set_targets(y)
    with torch.no_grad():
        module(x)
    rec.set_targets(None)


# --------------------------------------------------------------------------- |x| of conv inputs
def test_abs_statistics_of_a_conv_input_take_abs_before_the_spatial_mean():
    conv = nn.Conv2d(3, 2, 3).double()
    x, y = _mixed_sign_images(), torch.arange(24) % 3
    rec = InputStatsRecorder({"conv": conv}, n_classes=3, reduce="channels", track_abs=True)
    for part in (slice(0, 10), slice(10, 24)):
        _record(rec, conv, x[part], y[part])
    per_sample = x.abs().mean((2, 3)).numpy()  # (n, channels): the mean magnitude
    assert not np.allclose(per_sample, x.mean((2, 3)).abs().numpy(), rtol=0.1)
    mean, var = _pooled(rec.abs_moments_of("conv"))
    np.testing.assert_allclose(mean, per_sample.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, per_sample.var(0), rtol=1e-10)
    assert rec.abs_moments_of("conv").n_samples == 24
    # the per-class statistics stay those of the signed spatial means
    f = anova_f(rec.moments_of("conv"))[0]
    np.testing.assert_allclose(f, f_classif(x.mean((2, 3)).numpy(), y.numpy())[0], rtol=1e-9)


class _AnyStats:
    """A scorer that asks for both statistics (and scores by magnitude)."""

    requires = frozenset({"class_moments", "abs_moments"})

    def __call__(self, views, scope="global"):
        return [v.weight.abs().double() for v in views]


def test_weight_pruner_records_abs_of_conv_inputs_per_channel():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(16, 3)).double()
    x, y = _mixed_sign_images(), torch.arange(24) % 3
    pruner = WeightPruner(
        model, _AnyStats(), OneShotSchedule(), sparsity=0.5, prune_epochs=1, n_classes=3
    )
    pruner.attach_hooks()
    _record(pruner, model, x, y)
    conv_view = pruner.views()[0]
    mean, var = _pooled(conv_view.abs_moments)
    per_sample = x.abs().mean((2, 3)).numpy()
    np.testing.assert_allclose(mean, per_sample.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, per_sample.var(0), rtol=1e-10)
    pruner.remove_hooks()


# --------------------------------------------------------------------------- post_relu
@pytest.mark.parametrize("reduce", ["channels", "flat"])
def test_post_relu_records_relu_of_the_output_before_the_spatial_mean(reduce):
    bn = nn.BatchNorm2d(3).double()
    x, y = _mixed_sign_images(seed=1), torch.arange(24) % 3
    rec = InputStatsRecorder(
        {"bn": bn}, n_classes=3, source="output", reduce=reduce, post_relu=True, track_abs=True
    )
    plain = InputStatsRecorder({"bn": bn}, n_classes=3, source="output", reduce=reduce)
    plain.set_targets(y)  # both hook the same module: one forward pass feeds both
    _record(rec, bn, x, y)
    bn.eval()
    with torch.no_grad():
        out = nn.functional.batch_norm(x, None, None, bn.weight, bn.bias, training=True)
    relu = out.clamp_min(0)
    feats = relu.mean((2, 3)) if reduce == "channels" else relu.reshape(24, -1)
    want = f_classif(feats.numpy(), y.numpy())[0]
    np.testing.assert_allclose(anova_f(rec.moments_of("bn"))[0], want, rtol=1e-9)
    mean, _ = _pooled(rec.abs_moments_of("bn"))
    np.testing.assert_allclose(mean, feats.numpy().mean(0), rtol=1e-12)  # |relu| = relu
    # without post_relu: the signed output, a different statistic
    signed = out.mean((2, 3)) if reduce == "channels" else out.reshape(24, -1)
    f_plain = anova_f(plain.moments_of("bn"))[0]
    np.testing.assert_allclose(f_plain, f_classif(signed.numpy(), y.numpy())[0], rtol=1e-9)
    assert not np.allclose(f_plain, want, rtol=1e-3)
    if reduce == "channels":  # relu after the mean would give yet another value
        late = out.mean((2, 3)).clamp_min(0).numpy()
        assert not np.allclose(feats.numpy().mean(0), late.mean(0), rtol=1e-3)


def test_channel_pruner_passes_post_relu_to_its_recorder():
    pytest.importorskip("torch_pruning")
    from skscreen.pruning.channels import ChannelPruner, ChannelScreeningScorer

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).double()
    x, y = _mixed_sign_images(seed=2), torch.arange(24) % 3

    def statistics(post_relu):
        pr = ChannelPruner(
            model,
            ChannelScreeningScorer(1.0),
            OneShotSchedule(),
            sparsity=0.5,
            prune_epochs=1,
            n_classes=3,
            example_inputs=x,
            post_relu=post_relu,
        )
        pr.attach_hooks()
        _record(pr, model, x, y)
        pr.remove_hooks()
        return anova_f(pr.recorder.moments_of("1"))[0]

    with torch.no_grad():
        model.train()
        out = model[1](model[0](x))  # what the first BatchNorm outputs (batch statistics)
    f_relu = f_classif(out.clamp_min(0).mean((2, 3)).numpy(), y.numpy())[0]
    f_signed = f_classif(out.mean((2, 3)).numpy(), y.numpy())[0]
    np.testing.assert_allclose(statistics(True), f_relu, rtol=1e-8)
    np.testing.assert_allclose(statistics(False), f_signed, rtol=1e-8)
    assert not np.allclose(f_relu, f_signed, rtol=1e-3)


# --------------------------------------------------------------------------- tied weights
class _Tied(nn.Module):
    """``b`` reuses ``a``'s weight: its inputs are ``relu(a(x))``, not ``x``."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 5)
        self.b = nn.Linear(5, 5)
        self.b.weight = self.a.weight
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(torch.relu(self.b(torch.relu(self.a(x)))))


def test_tied_weights_pool_the_statistics_of_every_module_using_them():
    torch.manual_seed(0)
    model = _Tied().double()
    g = torch.Generator().manual_seed(3)
    y = torch.arange(30) % 3
    x = torch.randn(30, 5, generator=g, dtype=torch.float64) + y[:, None].double()
    pruner = WeightPruner(
        model, _AnyStats(), OneShotSchedule(), sparsity=0.5, prune_epochs=1, n_classes=3
    )
    pruner.attach_hooks()
    for part in (slice(0, 12), slice(12, 30)):
        _record(pruner, model, x[part], y[part])
    pruner.remove_hooks()
    with torch.no_grad():
        h = torch.relu(model.a(x))  # what ``b`` reads
    both = torch.cat([x, h]).numpy()
    labels = torch.cat([y, y]).numpy()
    views = {v.name: v for v in pruner.views()}
    assert list(views) == ["a", "head"]
    tied = views["a"]
    assert tied.moments.n_samples == 60  # 30 rows through a, 30 through b
    f = anova_f(tied.moments)[0]
    np.testing.assert_allclose(f, f_classif(both, labels)[0], rtol=1e-9)
    mean, var = _pooled(tied.abs_moments)
    np.testing.assert_allclose(mean, np.abs(both).mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, np.abs(both).var(0), rtol=1e-10)
    # the untied head sees only its own input
    assert views["head"].moments.n_samples == 30


# --------------------------------------------------------------------------- as_samples
def test_last_mode_makes_every_leading_position_a_sample():
    y = torch.tensor([0, 1, 2])
    x = torch.arange(3 * 4 * 5, dtype=torch.float64).reshape(3, 4, 5)  # (batch, seq, C)
    s, labels = as_samples(x, y, "last")
    assert torch.equal(s, x.reshape(12, 5))
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    xt = x.transpose(0, 1).contiguous()  # (seq, batch, C): the batch is the second dimension
    s, labels = as_samples(xt, y, "last")
    assert torch.equal(s, xt.reshape(12, 5))
    assert labels.tolist() == [0, 1, 2] * 4
    x4 = torch.randn(3, 2, 2, 6)  # channels-last images (batch, h, w, C)
    s, labels = as_samples(x4, y, "last")
    assert s.shape == (12, 6) and labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # 2-D input is the plain case; a tensor without the batch size is not this batch's
    assert torch.equal(as_samples(x[:, 0], y, "last")[0], x[:, 0])
    assert as_samples(torch.randn(4, 5, 6), y, "last") == (None, None)
    assert as_samples(torch.randn(4, 5), y, "last") == (None, None)
    assert as_samples(torch.tensor(1.0), y, "flat") == (None, None)


def test_channels_and_flat_modes():
    y = torch.tensor([0, 1])
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    s, labels = as_samples(x, y, "channels")
    assert torch.equal(s, x.mean((2, 3))) and torch.equal(labels, y)
    s, _ = as_samples(x, y, "flat")
    assert torch.equal(s, x.reshape(2, -1))
    x3 = torch.randn(2, 3, 7, dtype=torch.float64)  # Conv1d input: mean over length
    assert torch.equal(as_samples(x3, y, "channels")[0], x3.mean(2))
    x2 = torch.randn(2, 3, dtype=torch.float64)  # already (samples, features)
    assert torch.equal(as_samples(x2, y, "channels")[0], x2)


# --------------------------------------------------------------------------- recorder bookkeeping
def test_recorder_settings_are_validated_and_channel_mean_is_a_shorthand():
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="source must be 'input' or 'output', got 'middle'"):
        InputStatsRecorder({"l": lin}, 2, source="middle")
    with pytest.raises(ValueError, match=r"reduce must be one of .*got 'mean'"):
        InputStatsRecorder({"l": lin}, 2, reduce={"l": "mean"})
    assert InputStatsRecorder({"l": lin}, 2, channel_mean=True).mode_of("l") == "channels"
    assert InputStatsRecorder({"l": lin}, 2).mode_of("l") == "last"
    per_module = InputStatsRecorder({"l": lin}, 2, reduce={"l": "flat"})
    assert per_module.mode_of("l") == "flat" and per_module.mode_of("other") == "last"


def test_only_labelled_training_passes_of_an_enabled_recorder_are_recorded():
    lin = nn.Linear(3, 2).double()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    rec = InputStatsRecorder({"l": lin}, 2, track_abs=True)
    lin.train()
    lin(x)  # no labels
    rec.set_targets(y)
    lin.eval()
    lin(x)  # not training
    lin.train()
    rec.enabled = False
    lin(x)
    assert not rec.seen("l") and not rec.has_stats("l") and rec.abs_moments_of("l") is None
    rec.enabled = True
    lin(x)
    assert rec.seen("l") and rec.moments_of("l").n_samples == 4
    only_abs = InputStatsRecorder({"l": lin}, 2, track_class=False, track_abs=True)
    only_abs.set_targets(y)
    lin(x)
    assert only_abs.seen("l") and not only_abs.has_stats("l")
    assert only_abs.abs_moments_of("l").count_.tolist() == [4.0]  # one pooled class
    rec.reset()
    assert not rec.seen("l")
    rec.remove()
    assert not rec.attached


def test_a_pickled_recorder_comes_back_detached_without_labels():
    lin = nn.Linear(3, 2).double()
    rec = InputStatsRecorder({"l": lin}, 2)
    rec.set_targets(torch.tensor([0, 1]))
    lin.train()
    lin(torch.randn(2, 3, dtype=torch.float64))
    back = pickle.loads(pickle.dumps(rec))
    assert back._targets is None and not back.attached
    assert back.moments_of("l").n_samples == 2
    back.attach({"l": lin})  # re-attaches (after removing the none it has)
    assert back.attached
    back.remove()
    assert rec.attached  # the original keeps its hooks
    rec.remove()


def test_a_recorded_output_changed_in_place_later_keeps_its_recorded_values():
    # BatchNorm1d -> ReLU(inplace=True): the BN output is not saved by autograd, and the
    # recorder keeps a reference until the deferred fold; the statistics must be those of
    # the BN output as it was (f_classif on a copy), not of the ReLU's overwrite
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(6)
    model = nn.Sequential(nn.Linear(4, 6), bn, nn.ReLU(inplace=True), nn.Linear(6, 2)).train()
    rec = InputStatsRecorder({"bn": bn}, n_classes=2, source="output")
    seen = []
    bn.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    x, y = torch.randn(40, 4), torch.arange(40) % 2
    rec.set_targets(y)
    model(x).sum().backward()
    rec.remove()
    want = f_classif(seen[0].double().numpy(), y.numpy())[0]
    assert (seen[0] < 0).any()  # the ReLU would have changed these values
    np.testing.assert_allclose(anova_f(rec.moments_of("bn"))[0], want, rtol=1e-9)


def test_hook_statistics_equal_screener_on_recorded_inputs():
    torch.manual_seed(0)
    model = make_mlp(8, (6,), 3)
    rec = InputStatsRecorder({"1": model[1], "3": model[3]}, n_classes=3)
    inputs = {"1": [], "3": []}
    model[1].register_forward_hook(lambda m, i, o: inputs["1"].append(i[0].detach().clone()))
    model[3].register_forward_hook(lambda m, i, o: inputs["3"].append(i[0].detach().clone()))
    ys = []
    for _ in range(5):
        xb, yb = torch.randn(16, 8), torch.randint(0, 3, (16,))
        rec.set_targets(yb)
        model(xb)
        ys.append(yb)
    rec.set_targets(None)
    model.eval()
    model(torch.randn(4, 8))  # eval passes are not recorded
    y = torch.cat(ys).numpy()
    for name in ("1", "3"):
        X = torch.cat(inputs[name][:5]).numpy().astype(np.float64)
        from skscreen import OnlineFClassifScreener

        ref = OnlineFClassifScreener(k="all").fit(X, y)
        from skscreen.stats import anova_f

        f, _ = anova_f(rec.moments_of(name), warn_constant=False)
        np.testing.assert_allclose(f, ref.scores_, rtol=1e-10, equal_nan=True)
        assert rec.moments_of(name).n_samples == 80
