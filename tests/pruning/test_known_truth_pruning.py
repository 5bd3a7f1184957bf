"""Pruning machinery against known truths that plausible one-line bugs break.

Each test states the truth it checks: an independent few-line implementation (magnitude
pruning as a numpy top-k), a closed form (the fitted extreme-value law, the contribution
entropy), or an invariant chosen so that a wrong variant gives a different answer (a
negative bias, where ``relu(b) != b``; BatchNorms with unequal scales, where the sum and
the mean of a coupled unit rank channels differently).
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from scipy import stats  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning import MagnitudeScorer, WeightPruner  # noqa: E402
from skscreen.pruning.compaction import compact_sequential  # noqa: E402
from skscreen.pruning.extreme_value import ExtremeValuePruning  # noqa: E402
from skscreen.pruning.masks import get_mask, update_mask  # noqa: E402
from skscreen.pruning.regularizers import ContributionEntropy  # noqa: E402
from skscreen.pruning.schedules import OneShotSchedule  # noqa: E402
from skscreen.pruning.scorers import LayerView  # noqa: E402


# --------------------------------------------------------------------------- magnitude
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


# --------------------------------------------------------------------------- selection
def test_select_global_every_layer_keeps_its_best_weight():
    from skscreen.pruning.selection import select_global

    hi = torch.arange(20.0, dtype=torch.float64).reshape(4, 5) + 100
    lo = torch.tensor([[0.3, 0.9], [0.1, 0.2]], dtype=torch.float64)
    masks = select_global([hi, lo], 3)  # no keep_each_row: only the one-per-layer rule
    assert masks[1].sum() == 1 and masks[1][0, 1]  # the low layer's best, forced
    assert masks[0].sum() == 2 and masks[0].reshape(-1)[[18, 19]].all()  # then the top 2
    # n_keep one above the forced count: the single best unforced weight is added
    masks = select_global([hi, lo], 3, keep_each_row=[False, True])
    assert masks[1].sum() == 2 and masks[1][0, 1] and masks[1][1, 1]
    assert masks[0].sum() == 1 and masks[0].reshape(-1)[19]


def test_select_global_breaks_ties_by_position():
    from skscreen.pruning.selection import select_global

    tied = torch.zeros(50, 100, dtype=torch.float64)
    mask = select_global([tied], 10)[0].reshape(-1)
    np.testing.assert_array_equal(np.flatnonzero(mask.numpy()), np.arange(10))


def test_select_per_layer_budgets_and_row_constraint():
    from skscreen.pruning.selection import select_per_layer

    torch.manual_seed(0)
    a = torch.randn(6, 10, dtype=torch.float64)
    b = torch.randn(3, 8, dtype=torch.float64)
    b[:, 0] += 10  # column 0 dominates the last layer
    b[2, 0] = -10  # ... except in unit 2
    masks = select_per_layer([a, b], 0.25)
    assert [int(m.sum()) for m in masks] == [15, 6]
    top = torch.zeros(60, dtype=torch.bool)
    top[torch.argsort(a.reshape(-1), descending=True)[:15]] = True
    assert torch.equal(masks[0], top.reshape(6, 10))
    # without the row rule unit 2 may end empty; with it, it keeps its best input
    free = select_per_layer([a, b], 1 / 12)
    assert int(free[1].sum()) == 2 and not free[1][2].any()
    rows = select_per_layer([a, b], 1 / 12, keep_each_row=[False, True])
    assert rows[1].sum(1).tolist() == [1, 1, 1] and rows[1][2, b[2].argmax()]


# --------------------------------------------------------------------------- compaction
def test_compaction_folds_the_activation_of_a_negative_bias():
    # a hidden unit without inputs outputs relu(b): with b < 0 that is 0, not b
    torch.manual_seed(0)
    model = make_mlp(6, (5, 4), 3)
    lins = [m for m in model if isinstance(m, nn.Linear)]
    keep = torch.ones_like(lins[0].weight, dtype=torch.bool)
    keep[[0, 3]] = False  # units 0 and 3 of the first hidden layer lose every input
    update_mask(lins[0], keep)
    with torch.no_grad():
        lins[0].bias[0] = -0.7  # relu(-0.7) = 0: nothing to fold
        lins[0].bias[3] = 0.4  # relu(0.4) = 0.4: folded into the next bias
    model.eval()
    small = compact_sequential(model)
    assert small[1].out_features == 3
    X = torch.randn(32, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(X), model(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("act", [nn.Tanh, nn.Sigmoid])
def test_compaction_folds_through_other_activations(act):
    torch.manual_seed(1)
    model = make_mlp(6, (5,), 3, activation=act)
    keep = torch.ones(5, 6, dtype=torch.bool)
    keep[1] = False
    update_mask(model[1], keep)
    with torch.no_grad():
        model[1].bias[1] = -0.9
    model.eval()
    small = compact_sequential(model)
    X = torch.randn(16, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(X), model(X), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- extreme value
def test_extreme_value_kept_fraction_follows_the_fitted_law():
    torch.manual_seed(0)
    w = torch.randn(200, 200, dtype=torch.float64)
    view = LayerView("l", w, torch.ones_like(w), None)
    ev = ExtremeValuePruning(block_size=8, low=0.05, high=0.95, random_state=3)
    keep = ev.decide([view])[0].numpy()
    entry = ev.report_[-1]
    law = stats.gumbel_r(*entry["params"])
    # the law is the one fitted to block maxima of |w|: its median is about the median of the
    # maximum of 8 half-normals, P(max <= m) = 0.5 <=> P(|x| <= m) = 0.5 ** (1 / 8)
    assert law.median() == pytest.approx(stats.halfnorm.ppf(0.5 ** (1 / 8)), rel=0.05)
    p = law.cdf(np.abs(w.numpy()))
    det_keep, det_drop = p >= 0.95, p <= 0.05
    between = ~det_keep & ~det_drop
    assert keep[det_keep].all() and not keep[det_drop].any()
    assert entry["kept_deterministic"] == det_keep.sum()
    assert entry["dropped_deterministic"] == det_drop.sum()
    assert entry["sampled"] == between.sum()
    # in-between weights are kept with probability p: kept count ~ Binomial sums
    mean = p[between].sum()
    sd = np.sqrt((p[between] * (1 - p[between])).sum())
    assert abs(keep[between].sum() - mean) < 4 * sd
    # the alternative (kept with probability 1 - p) is far outside that band here
    assert abs((1 - p[between]).sum() - mean) > 20 * sd
    expected_fraction = (det_keep.sum() + mean) / w.numel()
    assert entry["kept_fraction"] == pytest.approx(expected_fraction, abs=4 * sd / w.numel())
    # the weights kept at random are the larger ones: mean p of kept > mean p of dropped
    assert p[between & keep].mean() > p[between & ~keep].mean()


# --------------------------------------------------------------------------- entropy
def _direct_entropy(weights, inputs):
    """Mean over output units of the entropy of c_ji = |w_ji| E|a_i|, summed over layers."""
    total = 0.0
    for w, x in zip(weights, inputs):
        a = np.abs(x).mean(axis=0)
        c = np.abs(w) * a[None, :] + 1e-12
        p = c / c.sum(axis=1, keepdims=True)
        total += float((-(p * np.log(p)).sum(axis=1)).mean())
    return total


def test_contribution_entropy_equals_direct_computation_and_a_step_lowers_it():
    torch.manual_seed(0)
    model = make_mlp(8, (6,), 3).double()
    lins = {"1": model[1], "3": model[3]}
    seen = {}
    for name, m in lins.items():
        m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, i[0].detach()))
    reg = ContributionEntropy(lins)
    x = torch.randn(32, 8, dtype=torch.float64)
    model.train()
    model(x)
    pen = reg.penalty()
    ref = _direct_entropy(
        [lins[n].weight.detach().numpy() for n in lins], [seen[n].numpy() for n in lins]
    )
    assert pen.item() == pytest.approx(ref, rel=1e-10)
    assert 0 < pen.item() <= np.log(8) + np.log(6)  # entropies are non-negative, bounded
    # one gradient step on the penalty lowers it (same batch statistics)
    pen.backward()
    with torch.no_grad():
        for m in lins.values():
            m.weight -= 0.05 * m.weight.grad
    model(x)
    after = reg.penalty().item()
    assert after < pen.item()
    ref_after = _direct_entropy(
        [lins[n].weight.detach().numpy() for n in lins], [seen[n].numpy() for n in lins]
    )
    assert after == pytest.approx(ref_after, rel=1e-10)
    reg.remove()


def test_reg_lambda_training_lowers_the_contribution_entropy():
    # the estimator adds +reg_lambda * H to the loss: training with it must end with lower
    # contribution entropy than the same training without it (a flipped sign raises it)
    pytest.importorskip("skorch")
    from sklearn.datasets import load_digits

    from skscreen import ScreeningPrunedNet

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)[:600]
    y = y[:600]

    def entropy_after(reg_lambda):
        torch.manual_seed(0)
        net = ScreeningPrunedNet(
            make_mlp,
            module__n_inputs=64,
            module__hidden=(32,),
            module__n_classes=10,
            alpha=0.0,
            sparsity=0.0,
            reg_lambda=reg_lambda,
            max_epochs=6,
            lr=0.1,
            batch_size=64,
            train_split=None,
            verbose=0,
        ).fit(X, y)
        module = net.module_.eval()
        lins = [m for m in module if isinstance(m, nn.Linear)]
        with torch.no_grad():
            hidden = module[2](lins[0](torch.as_tensor(X)))
        weights = [lins[0].weight.detach().numpy(), lins[1].weight.detach().numpy()]
        return _direct_entropy(weights, [X, hidden.numpy()])

    base, regd = entropy_after(0.0), entropy_after(0.5)
    assert regd < base - 0.05


# --------------------------------------------------------------------------- channels (CLS)
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


# --------------------------------------------------------------------------- regularisers
def test_contribution_entropy_sees_masks_and_skips_layers_without_a_batch():
    torch.manual_seed(1)
    unused, lin = nn.Linear(5, 4).double(), nn.Linear(6, 3).double()
    keep = torch.rand(3, 6) > 0.4
    keep[:, 0] = True
    update_mask(lin, keep)  # pruned weights contribute nothing
    reg = ContributionEntropy({"unused": unused, "lin": lin})  # "unused" sees no batch
    assert reg.penalty().item() == 0.0  # nothing recorded yet: an exact zero
    x = torch.randn(16, 6, dtype=torch.float64)
    lin.train()
    lin(x)
    w = lin.weight.detach().numpy() * keep.numpy()
    assert reg.penalty().item() == pytest.approx(_direct_entropy([w], [x.numpy()]), rel=1e-10)
    reg.remove()
    # torch.nn.utils.prune storage: weight_orig keeps its values under a zero mask
    from torch.nn.utils import prune

    lin2 = nn.Linear(6, 3).double()
    prune.custom_from_mask(lin2, "weight", keep.double())
    reg2 = ContributionEntropy({"lin2": lin2})
    lin2(x)
    w2 = lin2.weight_orig.detach().numpy() * keep.numpy()
    assert reg2.penalty().item() == pytest.approx(_direct_entropy([w2], [x.numpy()]), rel=1e-10)
    reg2.remove()


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_gradient_side_strength_zero_and_one(strength):
    torch.manual_seed(2)
    lin, ref = nn.Linear(6, 4).double(), nn.Linear(6, 4).double()
    ref.load_state_dict(lin.state_dict())
    frozen = nn.Linear(3, 3)
    frozen.weight.requires_grad_(False)  # skipped: no hook on a frozen weight
    mods = {"l": lin, "frozen": frozen, "act": nn.ReLU()}  # and none on a weightless module
    reg = ContributionEntropy(mods).attach_gradient(strength)
    x = torch.randn(8, 6, dtype=torch.float64)
    lin(x).pow(2).sum().backward()
    reg_ref = ContributionEntropy({"l": ref})
    ref_loss = ref(x).pow(2).sum()
    pen = reg_ref.penalty()
    (ref_loss + strength * pen).backward()
    torch.testing.assert_close(lin.weight.grad, ref.weight.grad)
    expected_value = 0.0 if strength == 0 else pen.item()
    assert reg.penalty_value() == pytest.approx(expected_value, rel=1e-10)
    reg.detach_gradient()  # no hook left: a second backward adds the plain gradient only
    lin.weight.grad = None
    lin(x).pow(2).sum().backward()
    ref.weight.grad = None
    ref(x).pow(2).sum().backward()
    torch.testing.assert_close(lin.weight.grad, ref.weight.grad)
    reg.remove()


def test_batchnorm_l1_penalty_and_pickling():
    import pickle

    from skscreen.pruning.regularizers import BatchNormL1

    bn, fixed = nn.BatchNorm2d(3), nn.BatchNorm2d(2, affine=False)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, -1.5, 2.0]))
    assert BatchNormL1({}).penalty().item() == 0.0
    reg = BatchNormL1({"bn": bn, "fixed": fixed})  # a BatchNorm without scales is skipped
    assert reg.penalty().item() == pytest.approx(4.0)
    reg.attach_gradient(0.1)
    back = pickle.loads(pickle.dumps(reg))  # gradient hooks are not pickled
    assert back._grad_handles == [] and set(back.modules) == {"bn", "fixed"}
    assert back.penalty().item() == pytest.approx(4.0)
    ce = ContributionEntropy({"l": nn.Linear(3, 2)}).attach_gradient(0.1)
    ce.modules["l"](torch.randn(4, 3))
    back = pickle.loads(pickle.dumps(ce))
    assert back._handles == [] and back._grad_handles == [] and back._abs_mean == {}
    reg.remove()
    ce.remove()


def test_contribution_entropy_on_a_conv1d_and_before_any_backward():
    torch.manual_seed(3)
    conv = nn.Conv1d(3, 4, 5).double()  # weight (out, in, k): 3-D
    reg = ContributionEntropy({"c": conv})
    assert reg.penalty_value() == 0.0  # no backward yet
    x = torch.randn(6, 3, 20, dtype=torch.float64)
    conv(x)
    w = conv.weight.detach().abs().sum(-1).numpy()  # a channel's weight: its kernel's |w| sum
    a = x.abs().mean(dim=(0, 2)).numpy()
    direct = _direct_entropy([w], [np.broadcast_to(a, (2, 3))])
    assert reg.penalty().item() == pytest.approx(direct, rel=1e-10)
    reg.remove()
