"""Channel-level screening pruning (CLS) with physical removal by Torch-Pruning."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")
from skorch.callbacks import LRScheduler  # noqa: E402
from torch import nn  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.models import DenseNetCIFAR, PreResNet, SmallResNetBN, small_vgg_bn  # noqa: E402
from skscreen.pruning.channels import (  # noqa: E402
    ChannelPruner,
    ChannelScreeningScorer,
    count_macs,
    load_pruned,
    save_pruned,
)
from skscreen.pruning.regularizers import BatchNormL1  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402


class TinyDense(nn.Module):
    """A DenseNet-style block: concatenations feed later BatchNorms."""

    def __init__(self):
        super().__init__()
        self.unflat = nn.Unflatten(1, (1, 28, 28))
        self.conv0 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 6, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(14)
        self.conv2 = nn.Conv2d(14, 6, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(20)
        self.head = nn.Linear(20, 10)

    def forward(self, x):
        x = self.conv0(self.unflat(x))
        x = torch.cat([x, self.conv1(torch.relu(self.bn1(x)))], 1)
        x = torch.cat([x, self.conv2(torch.relu(self.bn2(x)))], 1)
        x = torch.relu(self.bn3(x))
        return self.head(x.mean((2, 3)))


MODELS = {
    "vgg": lambda: small_vgg_bn(widths=(8, 16, 32)),
    "resnet": lambda: SmallResNetBN(widths=(8, 16, 32)),
    "densenet": TinyDense,
    "preresnet": lambda: PreResNet(depth=20),  # ResNet-164's architecture, shallower
    "densenet-cifar": lambda: DenseNetCIFAR(depth=10, growth=4),  # DenseNet-40's, shallower
}
INPUT = {"preresnet": (3, 32, 32), "densenet-cifar": (3, 32, 32)}


def _randomize_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=g) + 0.1
            m.bias.data = torch.randn(m.num_features, generator=g) * 0.1
            m.running_mean = torch.randn(m.num_features, generator=g) * 0.1
            m.running_var = torch.rand(m.num_features, generator=g) + 0.5


def _pruner(model, x, alpha=0.0, sparsity=0.5, normalize_scope=None):
    return ChannelPruner(
        model,
        ChannelScreeningScorer(alpha, normalize_scope=normalize_scope),
        OneShotSchedule(),
        sparsity=sparsity,
        prune_epochs=1,
        n_classes=10,
        example_inputs=x,
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_physical_removal_equals_masked_channels(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    _randomize_bn(model)
    model.eval()
    x = torch.randn(16, *INPUT.get(name, (784,)))
    masked, small = copy.deepcopy(model), copy.deepcopy(model)
    pr = _pruner(small, x)
    rng = np.random.default_rng(0)
    remove = {
        u.name: sorted(rng.choice(u.channels, u.n_channels // 2, replace=False).tolist())
        for u in pr.units
    }
    # masking: zero, in the copy, every slice that removing those channels deletes (the
    # BatchNorm scales and shifts, the producing convs' filters, the consumers' inputs)
    import torch_pruning as tp

    masked_pr = _pruner(masked, x)
    for u in masked_pr.units:
        if not remove[u.name]:
            continue
        group = masked_pr.graph_.get_pruning_group(
            u.root, tp.prune_batchnorm_out_channels, remove[u.name]
        )
        for dep, idxs in group:
            mod, ix = dep.target.module, [int(getattr(i, "idx", i)) for i in idxs]
            out = masked_pr.graph_.is_out_channel_pruning_fn(dep.handler)
            with torch.no_grad():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.weight[ix] = 0
                    mod.bias[ix] = 0
                elif isinstance(mod, nn.Conv2d | nn.Linear):
                    if out:
                        mod.weight[ix] = 0
                        if mod.bias is not None:
                            mod.bias[ix] = 0
                    else:
                        mod.weight[:, ix] = 0
    pr.prune_channels(remove)
    with torch.no_grad():
        torch.testing.assert_close(small(x), masked(x), rtol=1e-4, atol=1e-5)
    assert count_macs(small, x[:1])[1] < count_macs(model, x[:1])[1]
    head = [m for m in small.modules() if isinstance(m, nn.Linear)][-1]
    assert head.out_features == 10  # the classifier head is never pruned


def test_channel_count_matches_ratio_and_gamma_only_is_slimming_order():
    torch.manual_seed(0)
    model = small_vgg_bn(widths=(8, 16, 32))
    _randomize_bn(model)
    x = torch.randn(8, 784)
    # Liu et al.'s network slimming: one |gamma| threshold over all layers (the global
    # scale; the library's default normalises within each layer)
    pr = _pruner(model, x, alpha=0.0, sparsity=0.7, normalize_scope="global")
    for i, u in enumerate(pr.units):  # one clear winner per layer: no forced keeps needed
        u.root.weight.data[0] = 5.0 + i
    gammas = torch.cat([u.root.weight.detach().abs() for u in pr.units])
    n_keep = round(pr.n_total * 0.3)
    pr.step(1)
    assert pr.n_kept() == n_keep
    kept = sorted(torch.cat([u.root.weight.detach().abs() for u in pr.units]).tolist())
    # network slimming: the n_keep largest |gamma| over all layers survive
    assert kept == sorted(torch.sort(gammas, descending=True).values[:n_keep].tolist())


def test_every_parameter_keeps_training_after_a_structural_step():
    torch.manual_seed(0)
    model = SmallResNetBN(widths=(8, 16, 32))
    x, y = torch.randn(32, 784), torch.randint(0, 10, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    pr = _pruner(model, x, alpha=0.5, sparsity=0.5)
    pr.attach_hooks()
    pr.set_targets(y)
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    opt.zero_grad()
    pr.step(1, opt)
    params = list(model.parameters())
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert all(id(p) in in_opt for p in params) and len(in_opt) == len(params)
    for p in params:  # momentum was sliced, not dropped or left at the old shape
        st = opt.state.get(p)
        assert st is not None and st["momentum_buffer"].shape == p.shape
    before = [p.detach().clone() for p in params]
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    sched.step()
    assert all(not torch.equal(a, p) for a, p in zip(before, params))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)


def test_save_load_weights_only_and_onnx(tmp_path):
    torch.manual_seed(0)
    model = SmallResNetBN(widths=(8, 16, 32))
    _randomize_bn(model)
    x = torch.randn(4, 784)
    pr = _pruner(model, x, sparsity=0.5)
    pr.step(1)
    model.eval()
    save_pruned(model, pr.history, tmp_path / "m.pt")
    back = load_pruned(SmallResNetBN(widths=(8, 16, 32)), tmp_path / "m.pt", x[:1]).eval()
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x))
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(tmp_path / "m.onnx"), input_names=["x"], dynamo=False)
    out = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_bad_configurations():
    x = torch.randn(4, 784)
    with pytest.raises(ValueError, match="needs BatchNorm"):
        _pruner(nn.Sequential(nn.Linear(784, 10)), x)
    with pytest.raises(ValueError, match="sparsity"):
        _pruner(small_vgg_bn(widths=(4, 8, 8)), x, sparsity=1.0)


def test_net_channel_granularity_fits_and_compacts():
    d = load_digits_split()
    net = ScreeningPrunedNet(
        small_vgg_bn,
        module__widths=(8, 16),
        module__image_size=8,
        granularity="channel",
        alpha=0.5,
        sparsity=0.5,
        prune_epochs=5,
        max_epochs=12,
        lr=0.1,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        train_split=None,
        verbose=0,
        random_state=0,
        callbacks=[("lr", LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=4, gamma=0.5))],
    )
    net.fit(d.X_train, d.y_train)
    assert net.sparsity_ == pytest.approx(0.5, abs=1 / 48)
    # skorch's LRScheduler still drives the (same, remapped) optimizer after pruning
    assert net.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    assert net.history[-1, "sparsity"] == pytest.approx(net.sparsity_)
    assert net.score(d.X_test, d.y_test) > 0.8
    small = net.compact()
    X = torch.as_tensor(d.X_test)
    with torch.no_grad():
        torch.testing.assert_close(small(X), net.module_.eval()(X))
    assert sum(p.numel() for p in small.parameters()) < sum(
        p.numel() for p in small_vgg_bn(widths=(8, 16), image_size=8).parameters()
    )
    import pickle

    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(back.predict(d.X_test), net.predict(d.X_test))
    back.partial_fit(d.X_train, d.y_train, epochs=1)


def test_global_step_on_densenet_keeps_every_layer_alive():
    # DenseNet units own only their new channels (positions != indices): a regression test
    torch.manual_seed(0)
    model = DenseNetCIFAR(depth=16, growth=4)
    _randomize_bn(model)
    x = torch.randn(2, 3, 32, 32)
    pr = _pruner(model, x, alpha=0.0, sparsity=0.7)
    pr.step(1)
    assert pr.n_kept() == round(pr.n_total * 0.3)
    assert all(m.weight.shape[0] > 0 for m in model.modules() if isinstance(m, nn.Conv2d))
    assert model.eval()(x).shape == (2, 10)


def test_layer_scope_keeps_a_share_of_the_original_channels_and_does_not_compound():
    torch.manual_seed(0)
    model = small_vgg_bn(widths=(16, 32, 64))  # shares round up: 68 kept > 67 = 30 % of 224
    _randomize_bn(model)
    x = torch.randn(4, 784)
    pr = ChannelPruner(
        model,
        ChannelScreeningScorer(0.0),
        OneShotSchedule(),
        sparsity=0.7,
        prune_epochs=1,
        n_classes=10,
        example_inputs=x,
        scope="layer",
    )
    for epoch in (1, 2, 3, 4):  # the schedule stays at its target: later steps change nothing
        pr.step(epoch)
    kept = {u.name: u.n_channels for u in pr.units}
    assert sorted(kept.values()) == [5, 5, 10, 10, 19, 19]


def _slimming_net(**kw):
    params = dict(
        module__widths=(8, 16),
        module__image_size=8,
        granularity="channel",
        alpha=0.0,
        sparsity=0.0,
        schedule="one-shot",
        prune_epochs=1,
        max_epochs=3,
        lr=0.05,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    return ScreeningPrunedNet(small_vgg_bn, **(params | kw))


def test_gamma_l1_is_network_slimmings_sparsity_penalty():
    d = load_digits_split()
    X, y = d.X_train[:256], d.y_train[:256]
    net = _slimming_net(gamma_l1=1e-3).initialize()
    net.partial_fit(X, y, epochs=1)  # sets up the regulariser
    # the penalty acts on the gradient side: criterion's gradient + gamma_l1 * d sum|gamma|
    reg = net.regularizer_
    assert isinstance(reg, BatchNormL1)
    assert net.history[-1, "penalty"] > 0
    Xt, yt = torch.as_tensor(X[:32]), torch.as_tensor(y[:32])
    bns = [m for m in net.module_.modules() if isinstance(m, nn.BatchNorm2d)]
    net.module_.train()
    reg.attach_gradient(1e-3)
    net.module_.zero_grad()
    y_pred = net.infer(Xt)
    plain = net.criterion_(y_pred, yt)
    torch.testing.assert_close(net.get_loss(y_pred, yt, training=True), plain)  # loss as is
    plain.backward()
    got = [m.weight.grad.clone() for m in bns]
    reg.detach_gradient()
    net.module_.zero_grad()
    l1 = sum(m.weight.abs().sum() for m in bns)
    (net.criterion_(net.infer(Xt), yt) + 1e-3 * l1).backward()
    for g, m in zip(got, bns):
        torch.testing.assert_close(g, m.weight.grad)
    # with a strong penalty the scales shrink compared with the same training without it
    strong = _slimming_net(gamma_l1=0.5, max_epochs=4, batch_size=32).fit(X, y)
    free = _slimming_net(max_epochs=4, batch_size=32).fit(X, y)

    def total_gamma(n):
        return sum(
            float(m.weight.detach().abs().sum())
            for m in n.module_.modules()
            if isinstance(m, nn.BatchNorm2d)
        )

    assert total_gamma(strong) < 0.5 * total_gamma(free)
    assert strong.sparsity_ == 0.0  # sparsity=0 trains a dense net (slimming's first phase)
    # after a pickle round trip the penalty follows the unpickled module's BatchNorms
    import pickle

    back = pickle.loads(pickle.dumps(strong))
    bns = [m for m in back.module_.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {id(m) for m in back.regularizer_.modules.values()} == {id(m) for m in bns}
    back.partial_fit(X, y, epochs=1)
    assert total_gamma(back) < total_gamma(strong)
    # switched on between partial_fit calls, the penalty applies from the next epoch
    free.set_params(gamma_l1=0.5)
    before = total_gamma(free)
    free.partial_fit(X, y, epochs=2)
    assert isinstance(free.regularizer_, BatchNormL1)
    assert total_gamma(free) < 0.8 * before
    with pytest.raises(ValueError, match="gamma_l1 applies to granularity='channel'"):
        ScreeningPrunedNet(small_vgg_bn, gamma_l1=1e-4).fit(X, y)
    with pytest.raises(ValueError, match="gamma_l1 must be a finite number >= 0"):
        _slimming_net(gamma_l1=-1.0).fit(X, y)


# --------------------------------------------------------------- CLS scores (known truth)
class _Residual(nn.Module):
    """stem conv-bn1; branch conv-bn2 added to it (bn1 and bn2 coupled); side conv-bn3."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(x + self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.conv3(x)))
        return self.head(x.mean((2, 3)))


def _channel_pruner(model, alpha, sparsity, x, n_classes=3):
    pytest.importorskip("torch_pruning")
    from skscreen.pruning.channels import ChannelPruner, ChannelScreeningScorer

    return ChannelPruner(
        model,
        ChannelScreeningScorer(alpha),
        OneShotSchedule(),
        sparsity=sparsity,
        prune_epochs=1,
        n_classes=n_classes,
        example_inputs=x,
    )


def test_cls_coupled_unit_is_scored_by_the_mean_of_its_batchnorms():
    # unit {bn1, bn2}: |gamma| means [0.1, 0.4, 0.9, 1.0] (sums [0.2, 0.8, 1.8, 2.0]);
    # bn3: [0.3, 0.5, 0.6, 0.7]. Keeping 4 of 8 channels by the mean keeps unit channels
    # 2, 3 and bn3 channels 2, 3; by the sum it would keep unit 1, 2, 3 and bn3 3.
    model = _Residual()
    with torch.no_grad():
        model.bn1.weight.copy_(torch.tensor([0.05, 0.6, 1.2, 0.5]))
        model.bn2.weight.copy_(torch.tensor([-0.15, 0.2, 0.6, 1.5]))  # unequal members
        model.bn3.weight.copy_(torch.tensor([0.3, 0.5, 0.6, 0.7]))
    x = torch.randn(2, 1, 6, 6)
    pruner = _channel_pruner(model, alpha=0.0, sparsity=0.5, x=x)
    assert sorted(u.n_channels for u in pruner.units) == [4, 4]  # two units, bn2 coupled
    pruner.step(1)
    np.testing.assert_allclose(model.bn1.weight.detach().numpy(), [1.2, 0.5], rtol=1e-6)
    np.testing.assert_allclose(model.bn2.weight.detach().numpy(), [0.6, 1.5], rtol=1e-6)
    np.testing.assert_allclose(model.bn3.weight.detach().numpy(), [0.6, 0.7], rtol=1e-6)
    model.eval()
    assert model(torch.randn(2, 1, 6, 6)).shape == (2, 3)


def test_channel_statistics_are_spatial_means_of_the_batchnorm_output():
    from sklearn.feature_selection import f_classif

    from skscreen.stats import anova_f

    torch.manual_seed(0)
    model = _Residual()
    x = torch.randn(60, 1, 6, 6)
    y = torch.arange(60) % 3
    x[y == 1, :, :3] += 1.0  # class-dependent spatial structure: mean and max differ
    pruner = _channel_pruner(model, alpha=1.0, sparsity=0.5, x=x)
    outputs = {}
    model.bn3.register_forward_hook(lambda m, i, o: outputs.__setitem__("bn3", o.detach()))
    pruner.attach_hooks()
    model.train()
    pruner.set_targets(y)
    model(x)
    pruner.set_targets(None)
    name = pruner.bn_names[model.bn3]
    f, _ = anova_f(pruner.recorder.moments_of(name), warn_constant=False)
    out = outputs["bn3"].double()
    f_mean = f_classif(out.mean((2, 3)).numpy(), y.numpy())[0]
    f_max = f_classif(out.amax((2, 3)).numpy(), y.numpy())[0]
    assert not np.allclose(f_mean, f_max, rtol=1e-3)  # the data tells the two apart
    np.testing.assert_allclose(f, f_mean, rtol=1e-6)
    pruner.remove_hooks()


def test_cls_alpha_one_keeps_the_channels_with_the_highest_f():
    torch.manual_seed(0)
    model = _Residual()
    x = torch.randn(90, 1, 6, 6)
    y = torch.arange(90) % 3
    x[y == 2] *= 2.0
    pruner = _channel_pruner(model, alpha=1.0, sparsity=0.5, x=x)
    before = copy.deepcopy(model)
    outputs = {}
    for n in ("bn1", "bn2", "bn3"):
        getattr(before, n).register_forward_hook(
            lambda m, i, o, n=n: outputs.__setitem__(n, o.detach().double().mean((2, 3)))
        )
    before.train()
    before(x)
    from sklearn.feature_selection import f_classif

    f = {n: np.nan_to_num(f_classif(outputs[n].numpy(), y.numpy())[0]) for n in outputs}
    pruner.attach_hooks()
    model.train()
    pruner.set_targets(y)
    model(x)
    pruner.set_targets(None)
    pruner.step(1)
    # bn3 is its own unit: its kept channels are among the top of the min-max normalised
    # F-scores pooled over units, unit {bn1, bn2} scored by the mean of its members' F
    unit = (f["bn1"] + f["bn2"]) / 2
    pooled = np.concatenate([unit, f["bn3"]])
    norm = (pooled - pooled.min()) / (pooled.max() - pooled.min())
    top = np.sort(np.argsort(-norm, kind="stable")[:4])
    kept_unit = [i for i in top if i < 4]
    kept_bn3 = [i - 4 for i in top if i >= 4]
    assert model.bn1.num_features == len(kept_unit)
    assert model.bn3.num_features == len(kept_bn3)
    np.testing.assert_allclose(
        model.bn3.weight.detach().numpy(), before.bn3.weight.detach().numpy()[kept_bn3]
    )
    pruner.remove_hooks()
