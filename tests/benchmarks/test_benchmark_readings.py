"""benchmarks/_readings.py: the experimental per-connection readings of issue 13.

Known truths: the F of every connection equals scikit-learn's ``f_classif`` of that
connection's per-sample feature, built explicitly here (weight times input; the per-sample
gradient from one backward pass per sample).
"""

import importlib.util
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from sklearn.feature_selection import f_classif  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def readings():
    spec = importlib.util.spec_from_file_location("_readings", ROOT / "benchmarks" / "_readings.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_readings"] = mod
    spec.loader.exec_module(mod)
    return mod


def _reference_f(features, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the constant feature of one test
        f, _ = f_classif(features.reshape(features.shape[0], -1), y)
    return np.nan_to_num(f, nan=0.0)


def _batches(rng, n_batches, n, d_in, k, last=None):
    out = []
    for b in range(n_batches):
        if last is not None and b == n_batches - 1:
            n = last  # a smaller last batch, as a DataLoader gives
        x = rng.normal(size=(n, d_in))
        y = rng.integers(0, k, size=n)
        y[:k] = np.arange(k)  # every class in every batch
        x[:, 0] += y  # one informative input
        out.append((torch.tensor(x, dtype=torch.float32), torch.tensor(y)))
    return out


def _feed(stats, model, batches, step=None):
    net = SimpleNamespace(module_=model)
    stats.initialize()
    stats.on_train_begin(net)
    stats.on_epoch_begin(net)
    model.train()
    for xb, yb in batches:
        stats.on_batch_begin(net, batch=(xb, yb), training=True)
        out = model(xb)
        if step is not None:
            step(out, yb)
        stats.on_batch_end(net)
    stats.on_train_end(net)


def test_connection_f_matches_f_classif(readings):
    rng = np.random.default_rng(0)
    n, k = 60, 3
    y = np.repeat(np.arange(k), n // k)
    feats = rng.normal(size=(n, 2, 4)) + y[:, None, None] * rng.normal(size=(1, 2, 4))
    feats[:, 1, 3] = 5.0  # constant: no F, ranks lowest
    counts = np.bincount(y, minlength=k).astype(float)
    s = np.stack([feats[y == c].sum(0) for c in range(k)])
    q = np.stack([(feats[y == c] ** 2).sum(0) for c in range(k)])
    got = readings.connection_f(counts, s, q)
    want = _reference_f(feats, y).reshape(2, 4)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert got[1, 3] == 0.0
    # a class with no sample does not count (f_classif sees only the classes present)
    pad = lambda a: np.concatenate([a, np.zeros((1, *a.shape[1:]))])
    got = readings.connection_f(np.append(counts, 0.0), pad(s), pad(q))
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_moving_weight_with_fixed_weights_is_the_input_f(readings):
    """With the weight fixed over the epoch, F(w_ji a_i) = F(a_i): the library's reading."""
    rng = np.random.default_rng(1)
    lin = torch.nn.Linear(5, 3)
    with torch.no_grad():
        lin.weight[0, 2] = 0.0  # a pruned connection: constant zero feature
    batches = _batches(rng, 3, 40, 5, 4)
    stats = readings.ConnectionStats("moving-weight", 4)
    _feed(stats, lin, batches)
    x = torch.cat([b[0] for b in batches]).double().numpy()
    y = torch.cat([b[1] for b in batches]).numpy()
    want = np.broadcast_to(_reference_f(x, y), (3, 5)).copy()
    want[0, 2] = 0.0
    np.testing.assert_allclose(stats.f_scores(""), want, rtol=1e-6)


def test_moving_weight_uses_the_weight_of_each_batch(readings):
    rng = np.random.default_rng(2)
    lin = torch.nn.Linear(4, 2, bias=False)
    batches = _batches(rng, 4, 30, 4, 3)
    seen = []

    def step(out, yb):
        seen.append(lin.weight.detach().double().clone())
        with torch.no_grad():
            lin.weight.mul_(-1.5).add_(0.3)  # the weight moves between batches

    stats = readings.ConnectionStats("moving-weight", 3)
    _feed(stats, lin, batches, step)
    feats = np.concatenate(
        [(w[None] * xb.double()[:, None, :]).numpy() for w, (xb, _) in zip(seen, batches)]
    )
    y = torch.cat([b[1] for b in batches]).numpy()
    np.testing.assert_allclose(stats.f_scores(""), _reference_f(feats, y).reshape(2, 4), rtol=1e-6)
    # and it is not the input unit's F any more
    x = torch.cat([b[0] for b in batches]).double().numpy()
    assert not np.allclose(stats.f_scores(""), np.broadcast_to(_reference_f(x, y), (2, 4)))


def test_gradient_reading_is_the_per_sample_weight_gradient(readings):
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    batches = _batches(rng, 3, 20, 6, 3, last=5)
    loss_fn = torch.nn.CrossEntropyLoss()  # mean over the batch

    def step(out, yb):
        model.zero_grad()
        loss_fn(out, yb).backward()

    stats = readings.ConnectionStats("gradient", 3)
    _feed(stats, model, batches, step)
    for name, layer in (("0", model[0]), ("2", model[2])):
        grads, labels = [], []
        for xb, yb in batches:
            for i in range(len(yb)):
                model.zero_grad()
                loss_fn(model(xb[i : i + 1]), yb[i : i + 1]).backward()
                grads.append(layer.weight.grad.detach().double().numpy().copy())
                labels.append(int(yb[i]))
        want = _reference_f(np.stack(grads), np.array(labels)).reshape(layer.weight.shape)
        np.testing.assert_allclose(stats.f_scores(name), want, rtol=1e-5, atol=1e-9)


def test_scorer_mixes_like_the_hybrid(readings):
    from skscreen.pruning.scorers import LayerView

    rng = np.random.default_rng(4)
    lin = torch.nn.Linear(5, 3)
    stats = readings.ConnectionStats("moving-weight", 4)
    _feed(stats, lin, _batches(rng, 2, 40, 5, 4))
    scorer = readings.ConnectionFScorer(stats.token, alpha=0.25)
    view = LayerView("", lin.weight.detach(), torch.ones(3, 5))
    f = torch.as_tensor(stats.f_scores(""), dtype=torch.float64)
    mixed = scorer([view])[0]
    mag = view.weight.abs().double()
    norm = lambda t: (t - t.min()) / (t.max() - t.min())  # noqa: E731
    torch.testing.assert_close(mixed, 0.25 * norm(f) + 0.75 * norm(mag))
