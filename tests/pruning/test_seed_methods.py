"""Activation-statistics pruning, the pruning-aware regulariser, extreme-value pruning."""

from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from _nets import SGD_MOMENTUM, make_net  # noqa: E402
from scipy import stats  # noqa: E402

from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.pruning import ActivationStatsScorer, ExtremeValuePruning  # noqa: E402
from skscreen.pruning.extreme_value import fit_block_maxima  # noqa: E402
from skscreen.pruning.hooks import InputStatsRecorder  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402
from skscreen.pruning.regularizers import ContributionEntropy  # noqa: E402
from skscreen.pruning.scorers import LayerView  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


_net = partial(make_net, sparsity=0.8, max_epochs=6, batch_size=64, **SGD_MOMENTUM)


def test_contribution_statistics_equal_direct_computation():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3)
    rec = InputStatsRecorder({"l": lin}, n_classes=2, track_class=False, track_abs=True)
    xs = [torch.randn(16, 5) * torch.tensor([1.0, 2, 0.1, 5, 0]) for _ in range(4)]
    for x in xs:
        rec.set_targets(torch.zeros(16, dtype=torch.long))
        lin(x)
    a = torch.cat(xs).abs().double()
    scorer = ActivationStatsScorer(z=1.5)
    w = lin.weight.detach().double()
    view = LayerView("l", w, torch.ones_like(w), None, rec.abs_moments_of("l"))
    got = scorer([view])[0]
    contrib = w.abs()[None, :, :] * a[:, None, :]  # (samples, out, in) = |w_ji a_i|
    want = contrib.mean(0) + 1.5 * contrib.std(0, unbiased=False)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_activation_criterion_prunes_dead_inputs_first(digits):
    net = _net(scorer="activation").fit(digits.X_train, digits.y_train)
    first = get_mask(net.pruner_.layers["1"])
    dead = np.flatnonzero(digits.X_train.max(0) == 0)  # always-black pixels: |a_i| = 0
    assert dead.size and float(first[:, dead].sum()) == 0
    assert net.sparsity_ == pytest.approx(0.8, abs=1e-3)


def test_regulariser_gradient_is_finite_and_changes_training(digits):
    lin = torch.nn.Linear(6, 4)
    reg = ContributionEntropy({"l": lin})
    lin(torch.randn(10, 6))
    reg.penalty().backward()
    assert torch.isfinite(lin.weight.grad).all() and lin.weight.grad.abs().sum() > 0
    reg.remove()
    a = _net(scorer="activation").fit(digits.X_train, digits.y_train)
    b = _net(scorer="activation", reg_lambda=0.5).fit(digits.X_train, digits.y_train)
    assert not np.allclose(a.history[:, "train_loss"], b.history[:, "train_loss"])
    assert not torch.equal(get_mask(a.pruner_.layers["1"]), get_mask(b.pruner_.layers["1"]))


def test_gumbel_fit_recovers_known_parameters():
    # maxima of blocks of exponentials are Gumbel(log b, 1) in the limit
    rng = np.random.default_rng(0)
    law = fit_block_maxima(rng.exponential(size=400_000), 200, "gumbel", rng)
    loc, scale = law.args
    assert loc == pytest.approx(np.log(200), abs=0.05) and scale == pytest.approx(1.0, abs=0.05)
    # GEV on Gumbel(3, 2) maxima: shape ~ 0 (the Gumbel case), location 3, scale 2
    sample = stats.gumbel_r(loc=3, scale=2).rvs(size=20_000, random_state=1)
    c, loc, scale = fit_block_maxima(sample, 1, "gev", rng).args
    assert (
        abs(c) < 0.03 and loc == pytest.approx(3, abs=0.06) and scale == pytest.approx(2, abs=0.06)
    )


def _views(seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(40, 50, generator=g, dtype=torch.float64)
    return [
        LayerView("a", w, torch.ones_like(w)),
        LayerView("b", w[:10, :40].clone(), torch.ones(10, 40, dtype=torch.float64)),
    ]


def test_extreme_value_same_seed_same_masks_and_deterministic_regions():
    views = _views()
    m1 = ExtremeValuePruning(block_size=8, random_state=3).decide(views, 1, [False, True])
    m2 = ExtremeValuePruning(block_size=8, random_state=3).decide(views, 1, [False, True])
    assert all(torch.equal(a, b) for a, b in zip(m1, m2))
    # over many seeds, the deterministic regions never change
    evp = ExtremeValuePruning(block_size=8, random_state=0)
    w = views[0].weight.abs().numpy()
    law = fit_block_maxima(w.ravel(), 8, "gumbel", np.random.default_rng((0, 1)))
    p = evp.retention(law, w)
    for seed in range(10):
        keep = ExtremeValuePruning(block_size=8, random_state=0).decide([views[0]], 1)[0].numpy()
        keep_s = (
            ExtremeValuePruning(block_size=8, random_state=seed).decide([views[0]], 1)[0].numpy()
        )
        if seed == 0:
            assert keep[p >= 0.9].all() and not keep[p <= 0.1].any()
        assert keep_s.mean() < 0.5  # sparsity comes out of the fit, about 1 - 1/8


def test_extreme_value_in_the_net_sets_its_own_sparsity(digits):
    net = _net(scorer=ExtremeValuePruning(block_size=10, random_state=0), prune_epochs=3)
    net.fit(digits.X_train, digits.y_train)
    assert 0.6 < net.sparsity_ < 0.97
    hist = net.history[:, "sparsity"]
    assert hist[1] == 0.0 and hist[2] == pytest.approx(net.sparsity_)  # one-shot at epoch 3
    assert net.score(digits.X_test, digits.y_test) > 0.8
    assert net.scorer.report_ == []  # the constructor argument is not mutated


def test_bad_seed_method_params():
    with pytest.raises(ValueError, match="low < high"):
        ExtremeValuePruning(low=0.9, high=0.1)
    with pytest.raises(ValueError, match="Unknown scorer"):
        _net(scorer="taylor").fit(np.zeros((20, 64), np.float32), np.arange(20) % 10)
