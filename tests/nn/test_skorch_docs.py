"""skorch's own documentation code, run with pruning: issue 18 item 9.

The code of skorch 1.4.0's README quickstart, its Basic_Usage and MNIST notebooks and its
save_load and callbacks pages, copied as written, in two variants:

* ``"substitute"``: ``ScreeningPrunedNet`` (default settings: 90 % of the weights pruned)
  where the docs write ``NeuralNetClassifier`` (or ``NeuralNet``);
* ``"callback"``: skorch's own class, with ``skscreen.nn.ScreeningPruning()`` appended last
  to the net's ``callbacks`` (default settings).

The only other edits, each marked ``# port:`` in the code: small data (sklearn's
``make_classification`` as in the docs but with fewer rows where a grid search fits many
nets; sklearn's digits for MNIST, upscaled to 28x28 for the notebook's CNN, whose layer
sizes assume MNIST), fewer epochs, files in a scratch folder, definitions the docs leave
out (``get_features()``, ``MyCallback``), a criterion where the docs' ``NeuralNet`` has none
(NeuralNet requires one), and no ``print``/``verbose``. The regression cells of Basic_Usage
(``NeuralNetRegressor``) are left out: pruning by screening ranks by per-class statistics,
and the callback refuses a regressor by design.

Each test checks what the docs show (the net learns, predictions and probabilities are
well formed, a loaded net predicts as the saved one, a checkpoint resumes at the epoch the
docs say) and that the net is pruned as asked. Expected failures: the ``XFAIL`` table
(strict, applied by tests/nn/conftest.py), grouped by cause.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
import torch.nn.functional as F  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from skorch import NeuralNet, NeuralNetClassifier  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402
from torch import nn  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.nn import ScreeningPruning  # noqa: E402

VARIANTS = ("substitute", "callback")
SPARSITY = 0.9  # the default of ScreeningPrunedNet and of ScreeningPruning

# ---------------------------------------------------------------- expected failures
# cause -> (reason, [keys]); a key is "<test name>[<variant>]" or "<test name>" (both).
XFAIL = {}  # none today: every documentation example runs with both variants


def _keys(table):
    out = {}
    for reason, keys in table.values():
        for key in keys:
            assert key not in out, f"{key} listed twice in XFAIL"
            out[key] = reason
    return out


_XFAIL_BY_KEY = _keys(XFAIL)


def port_marks(item):
    """Marks for one collected test (applied by tests/nn/conftest.py)."""
    reason = _XFAIL_BY_KEY.get(item.name) or _XFAIL_BY_KEY.get(
        getattr(item, "originalname", item.name)
    )
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


# ---------------------------------------------------------------- the two variants
@pytest.fixture(params=VARIANTS)
def variant(request):
    return request.param


def _with_callback(cls):
    """skorch's ``cls`` as the docs call it, with ScreeningPruning() appended last."""

    def make(*args, callbacks=None, **kwargs):
        if callbacks == "disable":
            pytest.skip("callbacks='disable' leaves no place for the pruning callback")
        return cls(*args, callbacks=[*(callbacks or []), ScreeningPruning()], **kwargs)

    return make


@pytest.fixture
def NeuralNetClassifier_(variant):  # noqa: N802 - the docs' name for the class
    return ScreeningPrunedNet if variant == "substitute" else _with_callback(NeuralNetClassifier)


@pytest.fixture
def NeuralNet_(variant):  # noqa: N802
    return ScreeningPrunedNet if variant == "substitute" else _with_callback(NeuralNet)


@pytest.fixture(autouse=True)
def _scratch_folder(tmp_path, monkeypatch):
    # port: the docs write files ('exp1/', 'some-file.pkl', '/tmp/mymodel.pkl') where they run
    monkeypatch.chdir(tmp_path)


def _sparsity(net):
    """Fraction of exactly-zero weights in the prunable layers (Linear, Conv) of the module.

    Pruned weights are exact zeros whatever holds the masks (so this reads a loaded plain
    module too); an unpruned weight that is exactly zero is not expected.
    """
    zeros = total = 0
    for m in net.module_.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            w = m.weight.detach()
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / total if total else 0.0


def _assert_pruned(net, sparsity=SPARSITY):
    assert net.history[-1, "sparsity"] == pytest.approx(sparsity, abs=0.01)
    assert _sparsity(net) == pytest.approx(sparsity, abs=0.01)


def _assert_probabilities(proba, n, n_classes=2):
    assert proba.shape == (n, n_classes)
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


# ---------------------------------------------------------------- README quickstart
class QuickstartModule(nn.Module):
    # README: MyModule
    def __init__(self, num_units=10, nonlin=nn.ReLU()):  # noqa: B008
        super().__init__()

        self.dense0 = nn.Linear(20, num_units)
        self.nonlin = nonlin
        self.dropout = nn.Dropout(0.5)
        self.dense1 = nn.Linear(num_units, num_units)
        self.output = nn.Linear(num_units, 2)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, X, **kwargs):
        X = self.nonlin(self.dense0(X))
        X = self.dropout(X)
        X = self.nonlin(self.dense1(X))
        X = self.softmax(self.output(X))
        return X


def test_readme_quickstart(NeuralNetClassifier_):  # noqa: N803
    NeuralNetClassifier = NeuralNetClassifier_  # noqa: N806
    MyModule = QuickstartModule  # noqa: N806

    X, y = make_classification(1000, 20, n_informative=10, random_state=0)
    X = X.astype(np.float32)
    y = y.astype(np.int64)

    net = NeuralNetClassifier(
        MyModule,
        max_epochs=10,
        lr=0.1,
        # Shuffle training data on each epoch
        iterator_train__shuffle=True,
        verbose=0,  # port
    )

    net.fit(X, y)
    y_proba = net.predict_proba(X)
    _assert_probabilities(y_proba, len(X))
    _assert_pruned(net)
    assert accuracy_score(y, net.predict(X)) > 0.6

    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("net", net),
        ]
    )

    pipe.fit(X, y)
    y_proba = pipe.predict_proba(X)
    _assert_probabilities(y_proba, len(X))
    _assert_pruned(pipe.named_steps["net"])

    # deactivate skorch-internal train-valid split and verbose logging
    net.set_params(train_split=False, verbose=0)
    params = {
        "lr": [0.01, 0.02],
        "max_epochs": [2, 4],  # port: [10, 20]
        "module__num_units": [10, 20],
    }
    gs = GridSearchCV(net, params, refit=False, cv=3, scoring="accuracy", verbose=0)

    gs.fit(X[:150], y[:150])  # port: 150 rows
    assert 0.0 <= gs.best_score_ <= 1.0 and set(gs.best_params_) == set(params)


# ---------------------------------------------------------------- Basic_Usage notebook
class ClassifierModule(nn.Module):
    # Basic_Usage.ipynb: ClassifierModule
    def __init__(
        self,
        num_units=10,
        nonlin=F.relu,
        dropout=0.5,
    ):
        super(ClassifierModule, self).__init__()  # noqa: UP008
        self.num_units = num_units
        self.nonlin = nonlin
        self.dropout = dropout

        self.dense0 = nn.Linear(20, num_units)
        self.nonlin = nonlin
        self.dropout = nn.Dropout(dropout)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 2)

    def forward(self, X, **kwargs):
        X = self.nonlin(self.dense0(X))
        X = self.dropout(X)
        X = F.relu(self.dense1(X))
        X = F.softmax(self.output(X), dim=-1)
        return X


def test_basic_usage_notebook(NeuralNetClassifier_):  # noqa: N803
    NeuralNetClassifier = NeuralNetClassifier_  # noqa: N806
    from skorch.callbacks import EpochScoring

    torch.manual_seed(0)
    X, y = make_classification(1000, 20, n_informative=10, random_state=0)
    X, y = X.astype(np.float32), y.astype(np.int64)

    net = NeuralNetClassifier(
        ClassifierModule,
        max_epochs=10,  # port: 20
        lr=0.1,
        #     device='cuda',  # uncomment this to train with CUDA
        verbose=0,  # port
    )
    # Training the network
    net.fit(X, y)
    _assert_pruned(net)
    assert net.history[-1, "valid_acc"] > 0.6

    # Making prediction for first 5 data points of X
    y_pred = net.predict(X[:5])
    assert y_pred.shape == (5,) and set(y_pred) <= {0, 1}
    # Checking probarbility of each class for first 5 data points of X
    y_proba = net.predict_proba(X[:5])
    _assert_probabilities(y_proba, 5)
    np.testing.assert_array_equal(y_proba.argmax(axis=1), y_pred)

    # saving and loading: pickle
    file_name = "mymodel.pkl"  # port: '/tmp/mymodel.pkl'
    with open(file_name, "wb") as f:
        pickle.dump(net, f)
    with open(file_name, "rb") as f:
        new_net = pickle.load(f)
    np.testing.assert_allclose(new_net.predict_proba(X), net.predict_proba(X), rtol=1e-5)
    _assert_pruned(new_net)

    # saving and loading: parameters
    net.save_params(f_params=file_name)  # a file handler also works
    # first initialize the model
    new_net = NeuralNetClassifier(
        ClassifierModule,
        max_epochs=20,
        lr=0.1,
    ).initialize()
    new_net.load_params(file_name)
    np.testing.assert_allclose(new_net.predict_proba(X), net.predict_proba(X), rtol=1e-5)
    assert _sparsity(new_net) == pytest.approx(SPARSITY, abs=0.01)

    # usage with an sklearn Pipeline
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("net", net),
        ]
    )
    pipe.fit(X, y)
    _assert_probabilities(pipe.predict_proba(X[:5]), 5)

    # callbacks
    auc = EpochScoring(scoring="roc_auc", lower_is_better=False)
    net = NeuralNetClassifier(
        ClassifierModule,
        max_epochs=10,  # port: 20
        lr=0.1,
        callbacks=[auc],
        verbose=0,  # port
    )
    net.fit(X, y)
    assert net.history[-1, "roc_auc"] > 0.6
    _assert_pruned(net)
    assert set(net.prefixes_) >= {"module", "iterator_train", "iterator_valid", "optimizer"}

    # usage with GridSearchCV
    net = NeuralNetClassifier(
        ClassifierModule,
        max_epochs=2,  # port: 20
        lr=0.1,
        optimizer__momentum=0.9,
        verbose=0,
        train_split=False,
    )
    params = {
        "lr": [0.05, 0.1],
        "module__num_units": [10, 20],
        "module__dropout": [0, 0.5],
        "optimizer__nesterov": [False, True],
    }
    gs = GridSearchCV(net, params, refit=False, cv=3, scoring="accuracy", verbose=0)
    gs.fit(X[:150], y[:150])  # port: 150 rows
    assert 0.0 <= gs.best_score_ <= 1.0 and set(gs.best_params_) == set(params)


# ---------------------------------------------------------------- MNIST notebook
@pytest.fixture(scope="module")
def digits():
    # port: sklearn's digits (8x8) instead of fetch_openml('mnist_784')
    d = load_digits()
    X = d.data.astype("float32")
    y = d.target.astype("int64")
    X /= 16.0
    return X, y


def test_mnist_notebook_mlp(NeuralNetClassifier_, digits):  # noqa: N803
    NeuralNetClassifier = NeuralNetClassifier_  # noqa: N806
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    mnist_dim = X.shape[1]
    hidden_dim = int(mnist_dim / 8)
    output_dim = len(np.unique(y))

    class ClassifierModule(nn.Module):
        def __init__(
            self,
            input_dim=mnist_dim,
            hidden_dim=hidden_dim,
            output_dim=output_dim,
            dropout=0.5,
        ):
            super(ClassifierModule, self).__init__()  # noqa: UP008
            self.dropout = nn.Dropout(dropout)

            self.hidden = nn.Linear(input_dim, hidden_dim)
            self.output = nn.Linear(hidden_dim, output_dim)

        def forward(self, X, **kwargs):
            X = F.relu(self.hidden(X))
            X = self.dropout(X)
            X = F.softmax(self.output(X), dim=-1)
            return X

    torch.manual_seed(0)

    net = NeuralNetClassifier(
        ClassifierModule,
        max_epochs=20,
        lr=0.1,
        device=device,
        verbose=0,  # port
    )
    net.fit(X_train, y_train)
    y_pred = net.predict(X_test)
    assert y_pred.shape == y_test.shape and set(y_pred) <= set(range(10))
    # 90 % of a 64-8-10 MLP (59 weights left): far from the dense net, far above chance
    assert accuracy_score(y_test, y_pred) > 0.3
    _assert_pruned(net)
    _assert_probabilities(net.predict_proba(X_test), len(X_test), 10)


def test_mnist_notebook_cnn(NeuralNetClassifier_, digits):  # noqa: N803
    NeuralNetClassifier = NeuralNetClassifier_  # noqa: N806
    X, y = digits
    # port: digits upscaled 3x (24x24) and padded to MNIST's 28x28, for the CNN's layer sizes
    X28 = np.pad(
        np.kron(X.reshape(-1, 8, 8), np.ones((3, 3), np.float32)), ((0, 0), (2, 2), (2, 2))
    )
    X28, y = X28[:500], y[:500]  # port: 500 images

    device = "cuda" if torch.cuda.is_available() else "cpu"
    XCnn = X28.reshape(-1, 1, 28, 28)  # noqa: N806
    XCnn_train, XCnn_test, y_train, y_test = train_test_split(  # noqa: N806
        XCnn, y, test_size=0.25, random_state=42
    )

    class Cnn(nn.Module):
        def __init__(self, dropout=0.5):
            super(Cnn, self).__init__()  # noqa: UP008
            self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
            self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
            self.conv2_drop = nn.Dropout2d(p=dropout)
            self.fc1 = nn.Linear(1600, 100)  # 1600 = number channels * width * height
            self.fc2 = nn.Linear(100, 10)
            self.fc1_drop = nn.Dropout(p=dropout)

        def forward(self, x):
            x = torch.relu(F.max_pool2d(self.conv1(x), 2))
            x = torch.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))

            # flatten over channel, height and width = 1600
            x = x.view(-1, x.size(1) * x.size(2) * x.size(3))

            x = torch.relu(self.fc1_drop(self.fc1(x)))
            x = torch.softmax(self.fc2(x), dim=-1)
            return x

    torch.manual_seed(0)

    cnn = NeuralNetClassifier(
        Cnn,
        max_epochs=8,  # port: 10
        lr=0.002,
        optimizer=torch.optim.Adam,
        device=device,
        verbose=0,  # port
    )
    cnn.fit(XCnn_train, y_train)
    y_pred_cnn = cnn.predict(XCnn_test)
    # the dense CNN reaches 0.89 here; 90 % pruned over 4 of the 8 epochs: 0.77
    assert accuracy_score(y_test, y_pred_cnn) > 0.6
    _assert_pruned(cnn)


# ---------------------------------------------------------------- save_load page
class SaveLoadModule(nn.Sequential):
    # save_load.rst, "Using callbacks": MyModule
    def __init__(self, num_units=10):
        super().__init__(
            nn.Linear(10, num_units),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(num_units, 10),
            nn.Linear(10, 2),
            nn.Softmax(dim=-1),
        )


@pytest.fixture(scope="module")
def save_load_data():
    X, y = make_classification(1000, 10, n_informative=5, random_state=0)
    X = X.astype(np.float32)
    y = y.astype(np.int64)
    return X, y


def test_save_load_general_approach(NeuralNet_, save_load_data):  # noqa: N803
    NeuralNet = NeuralNet_  # noqa: N806
    MyModule = SaveLoadModule  # noqa: N806
    X, y = save_load_data

    def get_features():  # port: the docs leave it to the reader
        return StandardScaler()

    # pickling the whole net
    net = NeuralNet(
        module=MyModule,
        criterion=torch.nn.NLLLoss,
        verbose=0,  # port
    )
    model = Pipeline(
        [
            ("my-features", get_features()),
            ("net", net),
        ]
    )
    model.fit(X, y)
    # saving
    with open("some-file.pkl", "wb") as f:
        pickle.dump(model, f)
    # loading
    with open("some-file.pkl", "rb") as f:
        model = pickle.load(f)
    _assert_pruned(model.named_steps["net"])
    np.testing.assert_allclose(
        model.named_steps["net"].forward(X).numpy(), net.forward(X).numpy(), rtol=1e-5
    )

    # pickling specific parts of the net
    net = NeuralNet(
        module=MyModule,
        criterion=torch.nn.NLLLoss,
        verbose=0,  # port
    )
    model = Pipeline(
        [
            ("my-features", get_features()),
            ("net", net),
        ]
    )
    model.fit(X, y)
    net.save_params(f_params="some-file.pkl")
    new_net = NeuralNet(
        module=MyModule,
        criterion=torch.nn.NLLLoss,
    )
    new_net.initialize()  # This is important!
    new_net.load_params(f_params="some-file.pkl")
    np.testing.assert_allclose(new_net.forward(X).numpy(), net.forward(X).numpy(), rtol=1e-5)
    assert _sparsity(new_net) == pytest.approx(SPARSITY, abs=0.01)

    # with history and optimizer, to continue training
    net = NeuralNet(
        module=MyModule,
        criterion=torch.nn.NLLLoss,
        verbose=0,  # port
    )
    net.fit(X, y, epochs=2)  # Train for 2 epochs
    net.save_params(f_params="model.pkl", f_optimizer="opt.pkl", f_history="history.json")
    new_net = NeuralNet(
        module=MyModule,
        criterion=torch.nn.NLLLoss,
        verbose=0,  # port
    )
    new_net.initialize()  # This is important!
    new_net.load_params(f_params="model.pkl", f_optimizer="opt.pkl", f_history="history.json")
    np.testing.assert_allclose(new_net.forward(X).numpy(), net.forward(X).numpy(), rtol=1e-5)
    assert len(new_net.history) == 2
    new_net.fit(X, y, epochs=2)  # Train for another 2 epochs
    assert np.isfinite(new_net.history[:, "train_loss"]).all()


def test_save_load_with_callbacks(NeuralNetClassifier_, save_load_data):  # noqa: N803
    NeuralNetClassifier = NeuralNetClassifier_  # noqa: N806
    MyModule = SaveLoadModule  # noqa: N806
    from skorch.callbacks import Checkpoint, LoadInitState, TrainEndCheckpoint

    X, y = save_load_data

    # First run
    cp = Checkpoint(dirname="exp1")
    train_end_cp = TrainEndCheckpoint(dirname="exp1")
    net = NeuralNetClassifier(
        MyModule,
        lr=0.5,
        callbacks=[cp, train_end_cp],
        verbose=0,  # port
    )
    _ = net.fit(X, y)
    _assert_pruned(net)
    assert len(net.history) == 10
    last_cp = max(i for i, row in enumerate(net.history, 1) if row["event_cp"])

    # continue from the best checkpoint with a lower learning rate
    cp = Checkpoint(dirname="exp1")
    load_state = LoadInitState(cp)
    net = NeuralNetClassifier(
        MyModule,
        lr=0.1,
        callbacks=[cp, load_state],
        verbose=0,  # port
    )
    _ = net.fit(X, y)
    # "the second run resumes from" the epoch after the checkpoint (loaded history + 10)
    assert len(net.history) == last_cp + 10 and net.history[last_cp, "epoch"] == last_cp + 1
    _assert_pruned(net)

    # continue from the end of the first run
    cp_from_final = Checkpoint(dirname="exp1", fn_prefix="from_train_end_")
    load_state = LoadInitState(train_end_cp)
    net = NeuralNetClassifier(
        MyModule,
        lr=0.1,
        callbacks=[cp_from_final, load_state],
        verbose=0,  # port
    )
    _ = net.fit(X, y)
    assert len(net.history) == 20 and net.history[10, "epoch"] == 11
    _assert_pruned(net)

    # a new experiment
    cp = Checkpoint(dirname="exp2")
    load_state = LoadInitState(cp)
    net = NeuralNetClassifier(
        MyModule,
        lr=0.5,
        callbacks=[cp, load_state],
        module__num_units=20,
        verbose=0,  # port
    )
    _ = net.fit(X, y)
    assert len(net.history) == 10  # nothing to load yet
    _assert_pruned(net)

    # predict with the last checkpoint
    net = NeuralNetClassifier(
        MyModule,
        lr=0.5,
        module__num_units=20,
    )
    net.initialize()
    net.load_params(checkpoint=cp)

    y_pred = net.predict(X)
    assert y_pred.shape == y.shape and accuracy_score(y, y_pred) > 0.6
    # the loaded history states the loaded module's sparsity (with the callback after
    # Checkpoint, the checkpoint is taken before that epoch's pruning step: the last
    # "sparsity" it holds is the previous epoch's, as is the module it saved)
    recorded = [row["sparsity"] for row in net.history if "sparsity" in row]
    assert _sparsity(net) == pytest.approx(recorded[-1], abs=0.01)


# ---------------------------------------------------------------- callbacks page
class MyCallback(Callback):  # port: the docs leave it to the reader
    def on_epoch_end(self, net, **kwargs):
        net.history.record("my_callback", True)


def test_callbacks_page(NeuralNetClassifier_, NeuralNet_, save_load_data):  # noqa: N803
    NeuralNetClassifier = NeuralNetClassifier_  # noqa: N806
    NeuralNet = NeuralNet_  # noqa: N806
    MyModule = SaveLoadModule  # noqa: N806
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import CyclicLR

    X, y = save_load_data

    # setting callback parameters
    net = NeuralNetClassifier(MyModule, max_epochs=4, verbose=0)  # port: (...)
    net.set_params(callbacks__valid_acc__name="accuracy of valid set")
    net.fit(X, y)
    assert "accuracy of valid set" in net.history[-1]
    _assert_pruned(net)

    # deactivating callbacks
    net = NeuralNet(
        module=MyModule,
        criterion=torch.nn.NLLLoss,  # port: NeuralNet requires a criterion
        callbacks=[("my_callback", MyCallback())],
        max_epochs=4,  # port
        verbose=0,  # port
    )
    # now deactivate 'my_callback':
    net.set_params(callbacks__my_callback=None)
    net.fit(X, y)
    assert "my_callback" not in net.history[-1]
    _assert_pruned(net)

    # learning rate schedulers
    net = NeuralNetClassifier(  # port: NeuralNet(module=MyModule, ...) has no criterion
        module=MyModule,
        callbacks=[
            ("lr_scheduler", LRScheduler(policy=CyclicLR, base_lr=0.001, max_lr=0.01)),
        ],
        max_epochs=4,  # port
        verbose=0,  # port
    )
    net.fit(X, y)
    _assert_pruned(net)
    search = GridSearchCV(
        net,
        param_grid={"callbacks__lr_scheduler__max_lr": [0.01, 0.1, 1.0]},
        cv=3,  # port: 5
    )
    search.fit(X[:150], y[:150])  # port: 150 rows
    assert set(search.best_params_) == {"callbacks__lr_scheduler__max_lr"}


def test_callbacks_disable(NeuralNetClassifier_, save_load_data):  # noqa: N803
    # callbacks.rst: "To completely disable all callbacks, including default callbacks,
    # set callbacks="disable"." (no pruning callback left to append: substitute only)
    NeuralNetClassifier = NeuralNetClassifier_  # noqa: N806
    X, y = save_load_data
    net = NeuralNetClassifier(SaveLoadModule, max_epochs=2, callbacks="disable")
    net.fit(X, y)
    assert net.callbacks_ == []
    if NeuralNetClassifier is ScreeningPrunedNet:  # its pruning is not an entry of callbacks_
        assert net.history[-1, "sparsity"] > 0
