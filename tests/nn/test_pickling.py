"""Pickling ScreeningPrunedNet: the pruning callback travels with the module.

skorch pickles the attributes named in ``cuda_dependent_attributes_`` (``module_``,
``optimizer_``, ...) in one stream that it loads with ``map_location``, so a net trained on
CUDA unpickles on a CPU machine. The pruning callback (``pruning_``) holds tensors on the
module's device (statistics, masks' layers, the regulariser's layers): it goes in that same
stream, so that it maps as the module does and its layer references are the module's own.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402


class BNNet(torch.nn.Module):  # module level: pickled by reference
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, X):
        return self.out(torch.relu(self.bn(self.fc(X))))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


def test_the_pruning_callback_is_pickled_with_the_module(data):
    X, y = data
    net = ScreeningPrunedNet(
        make_mlp,
        module__n_inputs=6,
        module__hidden=(8,),
        module__n_classes=3,
        max_epochs=2,
        train_split=None,
        verbose=0,
        sparsity=0.5,
        random_state=0,
    ).fit(X, y)
    assert "pruning_" in net.cuda_dependent_attributes_
    state = net.__getstate__()
    assert "pruning_" not in state and "module_" not in state  # both in skorch's stream
    net.initialize()  # re-initialising does not list it twice
    assert net.cuda_dependent_attributes_.count("pruning_") == 1


def test_a_channel_pruned_net_unpickles_with_the_module_s_own_layers(data):
    X, y = data
    net = ScreeningPrunedNet(
        BNNet,
        granularity="channel",
        gamma_l1=1e-4,
        sparsity=0.25,
        prune_epochs=1,
        max_epochs=2,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, y)
    back = pickle.loads(pickle.dumps(net))
    pruning = back.pruning_
    bns = {id(m) for m in back.module_.modules() if isinstance(m, torch.nn.BatchNorm1d)}
    assert {id(m) for m in pruning.pruner_.bn_names} == bns
    assert {id(m) for m in pruning.regularizer_.modules.values()} <= bns
    assert pruning.pruner_.model is back.module_
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    back.partial_fit(X, y)  # goes on training (and pruning) the unpickled module
    assert back.history[-1, "sparsity"] == pytest.approx(net.history[-1, "sparsity"])
