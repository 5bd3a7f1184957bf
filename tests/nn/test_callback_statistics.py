"""The statistics the pruning callback hands to the criterion, against known truths.

A recording scorer keeps what it is shown at every pruning step: the number of samples and
the F statistic of each layer's input. The first layer's inputs are the training data
themselves, so its F must equal ``f_classif`` on ``X`` and its sample count ``len(X)`` per
epoch, however many times the optimizer evaluates its closure (LBFGS). At channel level
with ``post_relu=True`` (and ``lr=0``, so that the module does not move during the epoch) the
statistics must be those of ``relu`` of the BatchNorm output, computed here on a copy.
"""

import copy
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from sklearn.feature_selection import f_classif  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402
from torch import nn  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn import ScreeningPruning  # noqa: E402
from skscreen.stats import anova_f  # noqa: E402


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


@pytest.fixture(scope="module")
def digits(split):
    # constant pixels (always 0 in the digits) have no F: leave them out of the comparison
    keep = split.X_train.std(0) > 0
    return split.X_train[:, keep], split.y_train


class _RecordingScorer:
    """Magnitude scores; keeps ``{layer: (n_samples, F)}`` of each call."""

    requires = frozenset({"class_moments"})

    def __init__(self):
        self.seen = []

    def __call__(self, views, scope="global"):
        self.seen.append(
            {
                v.name: (
                    v.moments.n_samples,
                    np.asarray(anova_f(v.moments, warn_constant=False)[0]),
                )
                for v in views
            }
        )
        return [v.weight.abs().double() for v in views]


class _CountTrainingForwards(Callback):
    def initialize(self):
        self.n = 0
        return self

    def on_train_begin(self, net, **kwargs):
        net.module_.register_forward_pre_hook(self._count)

    def _count(self, module, inputs):
        if module.training:
            self.n += 1


@pytest.mark.parametrize("batch_size", [None, 400])
def test_lbfgs_closure_records_each_batch_once(digits, batch_size):
    X, y = digits
    n_batches = 1 if batch_size is None else -(-len(X) // batch_size)
    counter = _CountTrainingForwards()
    pruning = ScreeningPruning(scorer=_RecordingScorer(), sparsity=0.5, prune_epochs=2)
    net = NeuralNetClassifier(
        make_mlp,
        module__n_inputs=X.shape[1],
        module__hidden=(16,),
        module__n_classes=10,
        optimizer=torch.optim.LBFGS,
        optimizer__max_iter=4,
        lr=1.0,
        batch_size=len(X) if batch_size is None else batch_size,
        max_epochs=2,
        train_split=None,
        verbose=0,
        callbacks=[pruning, counter],
    )
    torch.manual_seed(0)
    net.fit(X, y)
    assert counter.n > 2 * n_batches  # the closure ran more than once per batch
    seen = pruning.pruner_.scorer.seen
    assert len(seen) == 2  # one pruning step per epoch
    first = next(iter(seen[0]))  # the first Linear reads X itself
    f_ref = f_classif(X.astype(np.float64), y)[0]
    for step in seen:
        for n_samples, _ in step.values():
            assert n_samples == len(X)
        np.testing.assert_allclose(step[first][1], f_ref, rtol=1e-8)


class _SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(6)
        self.head = nn.Linear(6, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.head(x.mean((2, 3)))


def _recording_channel_scorer():
    from skscreen.pruning.channels import ChannelScreeningScorer

    class Recording(ChannelScreeningScorer):
        def __call__(self, units, scope="global"):
            self.seen = getattr(self, "seen", [])
            self.seen.append(
                {u.name: anova_f(u.moments[u.root], warn_constant=False)[0] for u in units}
            )
            return super().__call__(units, scope)

    return Recording(alpha=1.0)


@pytest.mark.parametrize("post_relu", [True, False])
def test_post_relu_statistics_reach_the_channel_criterion(split, post_relu):
    pytest.importorskip("torch_pruning")
    X, y = split.X_train.reshape(-1, 1, 8, 8)[:256], split.y_train[:256]
    net = ScreeningPrunedNet(
        _SmallCNN,
        granularity="channel",
        post_relu=post_relu,
        scorer=_recording_channel_scorer(),
        sparsity=0.5,
        schedule="one-shot",
        prune_epochs=1,
        max_epochs=1,
        lr=0.0,  # the module stays as initialised while the statistics are recorded
        optimizer=torch.optim.SGD,
        batch_size=len(X),
        train_split=None,
        verbose=0,
        random_state=0,
    )
    net.initialize()
    start = copy.deepcopy(net.module_).train()
    net.partial_fit(X, y)
    assert net.pruner_.post_relu is post_relu
    (seen,) = net.pruner_.scorer.seen
    with torch.no_grad():
        out = start.bn1(start.conv1(torch.as_tensor(X)))  # batch statistics: train mode
    relu_means = out.clamp_min(0).mean((2, 3)).numpy()
    signed_means = out.mean((2, 3)).numpy()
    want = relu_means if post_relu else signed_means
    other = signed_means if post_relu else relu_means
    got = np.asarray(seen["bn1"])
    np.testing.assert_allclose(got, f_classif(want.astype(np.float64), y)[0], rtol=1e-5)
    assert not np.allclose(got, f_classif(other.astype(np.float64), y)[0], rtol=1e-2)


# --------------------------------------------------------------------------- when recorded
# Statistics cost a hook call per layer and batch; they are recorded only in epochs whose
# end decides masks. After the schedule the network trains without hooks, unless a later
# call asks for more pruning.


class _HooksPerEpoch(Callback):
    """``{epoch: number of training batches that ran with forward hooks on the layers}``."""

    def initialize(self):
        self.hooked = {}
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            epoch = len(net.history)
            hooked = any(m._forward_hooks for m in net.module_.modules() if m is not net.module_)
            self.hooked[epoch] = self.hooked.get(epoch, 0) + int(hooked)


def test_statistics_are_recorded_only_in_epochs_that_prune(digits):
    X, y = digits
    counter = _HooksPerEpoch()
    pruning = ScreeningPruning(scorer=_RecordingScorer(), sparsity=0.5, prune_epochs=2)
    net = NeuralNetClassifier(
        make_mlp,
        module__n_inputs=X.shape[1],
        module__hidden=(16,),
        module__n_classes=10,
        criterion=nn.CrossEntropyLoss,
        lr=0.1,
        batch_size=256,
        max_epochs=5,
        train_split=None,
        verbose=0,
        callbacks=[("prune", pruning), counter],
    )
    torch.manual_seed(0)
    net.fit(X, y)
    n_batches = -(-len(X) // 256)
    assert counter.hooked == {1: n_batches, 2: n_batches, 3: 0, 4: 0, 5: 0}
    assert len(pruning.pruner_.scorer.seen) == 2  # the fit's copy of the scorer
    assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=1e-3)
    # a later call that raises the target records again, and prunes with fresh statistics
    net.set_params(callbacks__prune__sparsity=0.7)
    counter.hooked.clear()
    net.partial_fit(X, y, epochs=1)
    assert counter.hooked == {6: n_batches}
    assert len(pruning.pruner_.scorer.seen) == 1  # a fresh copy of the scorer
    seen = pruning.pruner_.scorer.seen[0]
    assert all(n == len(X) for n, _ in seen.values())
    assert net.history[-1, "sparsity"] == pytest.approx(0.7, abs=1e-3)
    # a further call at the reached target: no hooks (the pruner is retargeted, not hooked)
    counter.hooked.clear()
    net.partial_fit(X, y, epochs=1)
    assert counter.hooked == {7: 0}


def test_channel_statistics_only_in_pruning_epochs(split):
    pytest.importorskip("torch_pruning")
    X = split.X_train.reshape(-1, 1, 8, 8)
    counter = _HooksPerEpoch()
    net = ScreeningPrunedNet(
        _SmallCNN,
        granularity="channel",
        sparsity=0.5,
        prune_epochs=1,
        max_epochs=3,
        lr=0.05,
        batch_size=512,
        train_split=None,
        verbose=0,
        callbacks=[counter],
    )
    torch.manual_seed(0)
    net.fit(X, split.y_train)
    n_batches = -(-len(X) // 512)
    assert counter.hooked == {1: n_batches, 2: 0, 3: 0}
    assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
@pytest.mark.parametrize("chunk", ["one class", "two rows of two classes"])
def test_an_epoch_without_an_f_test_prunes_by_magnitude_with_a_warning(digits, alpha, chunk):
    # partial_fit on a stream that brings one class per call (classes given up front), or a
    # handful of rows: the F-test needs two classes and more rows than classes; the step is
    # decided by magnitude alone (alpha=1 included: no ranking by position), and said so
    X, y = digits
    if chunk == "one class":
        Xc, yc = X[y == 3], y[y == 3]
    else:
        first = [int(np.flatnonzero(y == 0)[0]), int(np.flatnonzero(y == 1)[0])]
        Xc, yc = X[first], y[first]

    def make(**kw):
        torch.manual_seed(0)
        return ScreeningPrunedNet(
            make_mlp,
            module__n_inputs=X.shape[1],
            module__hidden=(16,),
            module__n_classes=10,
            sparsity=0.5,
            prune_epochs=2,
            max_epochs=1,
            lr=0.1,
            train_split=None,
            verbose=0,
            **kw,
        )

    net = make(alpha=alpha)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.partial_fit(Xc, yc, classes=np.arange(10))
    said = [w for w in caught if "cannot give an ANOVA F-test" in str(w.message)]
    assert len(said) == 1  # once per step, not once per layer
    assert 0 < net.history[-1, "sparsity"] < 0.5  # the first step of the schedule was taken
    # known truth: the same masks as magnitude pruning of the same training
    ref = make(scorer="magnitude").partial_fit(Xc, yc, classes=np.arange(10))
    for a, b in zip(net.module_.modules(), ref.module_.modules()):
        if isinstance(a, nn.Linear):
            assert torch.equal(a.weight_mask, b.weight_mask)
    net.partial_fit(X, y)  # an epoch of every class: screened, no warning needed
    assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=1e-3)
