"""Scorers, selection, hooks and compaction (plain torch, no skorch); masks: test_masks.py."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.feature_selection import f_classif  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning.compaction import (  # noqa: E402
    compact_sequential,
    count_parameters,
    export_onnx,
    load_compact,
    save_compact,
)
from skscreen.pruning.hooks import InputStatsRecorder  # noqa: E402
from skscreen.pruning.masks import update_mask  # noqa: E402
from skscreen.pruning.scorers import HybridScreeningScorer, LayerView, normalize  # noqa: E402
from skscreen.pruning.selection import select_global  # noqa: E402
from skscreen.stats import ClassMoments  # noqa: E402


def _view(w, X=None, y=None, name="l"):
    mask = torch.ones_like(w)
    m = None
    if X is not None:
        m = ClassMoments(range(int(y.max()) + 1)).update(
            torch.as_tensor(X), torch.as_tensor(y), n_classes=int(y.max()) + 1
        )
    return LayerView(name, w, mask, m)


def test_alpha_zero_is_pure_magnitude_ranking():
    w = torch.randn(5, 7, dtype=torch.float64)
    X, y = np.random.default_rng(0).normal(size=(50, 7)), np.arange(50) % 3
    s = HybridScreeningScorer(alpha=0.0)([_view(w, X, y)])[0]
    assert torch.equal(torch.argsort(s.ravel()), torch.argsort(w.abs().ravel()))


def test_alpha_one_ranks_inputs_by_f_score():
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    X = rng.normal(size=(300, 6)) + np.outer(y, [0, 2, 0.5, 0, 1, 0.1])
    w = torch.randn(4, 6, dtype=torch.float64)
    s = HybridScreeningScorer(alpha=1.0)([_view(w, X, y)])[0]
    f = f_classif(X, y)[0]
    # every row carries its input's (normalised) F: column order = F order
    np.testing.assert_allclose(s[0].numpy(), (f - f.min()) / (f.max() - f.min()), rtol=1e-9)
    assert torch.all(s == s[0])


def test_pruned_weights_rank_below_everything():
    w = torch.randn(3, 4, dtype=torch.float64)
    v = _view(w)
    v.mask[0, 0] = 0
    s = HybridScreeningScorer(alpha=0.0)([v])[0]
    assert s[0, 0] == -torch.inf and torch.isfinite(s.ravel()[1:]).all()


def test_normalizers():
    x = torch.tensor([3.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(normalize(x, "minmax"), [1, 0, 0.5, 0.5])
    np.testing.assert_allclose(normalize(x, "max"), [1, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(normalize(x, "rank"), [1, 0, 0.5, 0.5])
    with pytest.raises(ValueError, match="normalize"):
        normalize(x, "zscore")


def test_select_global_exact_count_and_constraints():
    torch.manual_seed(0)
    scores = [
        torch.randn(30, 20, dtype=torch.float64),
        torch.randn(10, 30, dtype=torch.float64) - 100,
    ]
    masks = select_global(scores, 57, keep_each_row=[False, True])
    assert sum(int(m.sum()) for m in masks) == 57
    assert (masks[1].sum(1) >= 1).all()  # each output unit keeps an input
    # which ones: layer 2 (scores ~ -100) keeps only its forced weights, the best input of
    # each of its 10 units; the other 47 are layer 1's 47 highest scores
    expected_2 = torch.zeros(10, 30, dtype=torch.bool)
    expected_2[torch.arange(10), scores[1].argmax(dim=1)] = True
    assert torch.equal(masks[1], expected_2)
    top = torch.zeros(600, dtype=torch.bool)
    top[torch.argsort(scores[0].reshape(-1), descending=True)[:47]] = True
    assert torch.equal(masks[0], top.reshape(30, 20))
    # pruned weights (-inf) are never kept, even when the budget exceeds the live ones
    dead = [s.clone() for s in scores]
    dead[0][:, :10] = -torch.inf
    masks = select_global(dead, 10_000)
    assert not masks[0][:, :10].any() and masks[0][:, 10:].all() and masks[1].all()


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


def _random_pruned_mlp(seed=0):
    torch.manual_seed(seed)
    model = make_mlp(12, (10, 8), 3)
    lins = [m for m in model if isinstance(m, nn.Linear)]
    for lin in lins:
        update_mask(lin, torch.rand_like(lin.weight) > 0.6)
    # force dead neurons: hidden unit 0 of layer 1 without inputs, unit 1 without outputs
    update_mask(lins[0], torch.ones_like(lins[0].weight).index_fill(0, torch.tensor([0]), 0).bool())
    update_mask(lins[1], torch.ones_like(lins[1].weight).index_fill(1, torch.tensor([1]), 0).bool())
    with torch.no_grad():
        lins[0].bias[0] = 0.7  # a constant ReLU output that must be folded
    return model


def test_compact_same_outputs_and_fewer_parameters():
    model = _random_pruned_mlp().eval()
    small = compact_sequential(model)
    X = torch.randn(64, 12)
    with torch.no_grad():
        torch.testing.assert_close(small(X), model(X), rtol=1e-5, atol=1e-6)
    assert count_parameters(small) < count_parameters(model)
    assert small[1].out_features < 10
    assert not any(prune.is_pruned(m) for m in small.modules())


def test_compact_save_load_weights_only_and_onnx(tmp_path):
    model = _random_pruned_mlp().eval()
    small = compact_sequential(model)
    path = tmp_path / "small.pt"
    save_compact(small, path)
    back = load_compact(path)
    X = torch.randn(5, 12)
    with torch.no_grad():
        torch.testing.assert_close(back(X), small(X))
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    export_onnx(small, tmp_path / "small.onnx", n_features=12)
    sess = ort.InferenceSession(str(tmp_path / "small.onnx"))
    out = sess.run(None, {"x": X.numpy()})[0]
    np.testing.assert_allclose(out, small(X).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_compact_rejects_unsupported_models():
    with pytest.raises(TypeError, match="supports Sequential MLPs"):
        compact_sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2)))
