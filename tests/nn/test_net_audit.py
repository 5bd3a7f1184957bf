"""Hostile-user audit of the skorch layer (issue 9): each test is a bug found by trying
what a careless skorch / scikit-learn user does, kept as a regression test."""

import pickle
from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from _nets import make_net  # noqa: E402
from sklearn.base import clone  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import Callback, Checkpoint, LoadInitState  # noqa: E402

from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn import ScreeningPruning  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    d = load_digits_split()
    return d.X_train[:300].astype(np.float32), d.y_train[:300].astype(np.int64)


_net = partial(make_net, sparsity=0.5, prune_epochs=2, max_epochs=3)


def _plain(**kw):
    torch.manual_seed(0)
    return NeuralNetClassifier(
        make_mlp(64, (32,), 10),
        criterion=torch.nn.CrossEntropyLoss,
        lr=0.1,
        train_split=None,
        verbose=0,
        **kw,
    )


def _n_pruned_nonzero(module):
    bad = 0
    for m in module.modules():
        mask = get_mask(m)
        if mask is not None:
            bad += int((m.weight.detach()[mask == 0] != 0).sum())
    return bad


def test_pruned_state_dict_loads_into_a_plain_net_with_the_callback(digits, tmp_path):
    # docs/pruning.rst's recipe: a plain net fitted for zero epochs, then load_params
    X, y = digits
    src = _net().fit(X, y)
    assert 0.45 < src.sparsity_ < 0.55
    src.save_params(f_params=tmp_path / "p.pt")
    dst = _plain(max_epochs=0, callbacks=[("prune", ScreeningPruning(sparsity=0.5))]).fit(X, y)
    dst.load_params(f_params=tmp_path / "p.pt")
    np.testing.assert_array_equal(dst.predict_proba(X), src.predict_proba(X))


def test_checkpoint_and_load_init_state_on_a_plain_net(digits, tmp_path):
    X, y = digits

    def callbacks():
        return [
            ("prune", ScreeningPruning(sparsity=0.5, prune_epochs=2)),
            Checkpoint(dirname=tmp_path, monitor=None),
        ]

    _plain(max_epochs=3, callbacks=callbacks()).fit(X, y)
    load = LoadInitState(Checkpoint(dirname=tmp_path, monitor=None))
    net = _plain(max_epochs=2, callbacks=callbacks() + [load]).fit(X, y)
    # the restored history continues: the schedule is finished, sparsity stays at 0.5
    assert len(net.history) == 5
    assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert _n_pruned_nonzero(net.module_) == 0


def test_clone_of_a_fitted_plain_net_with_the_callback(digits):
    X, y = digits
    cb = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = _plain(max_epochs=2, callbacks=[("prune", cb)]).fit(X, y)
    assert sorted(cb.get_params()) == sorted(ScreeningPruning().get_params())
    assert "callbacks__prune___enforcer" not in net.get_params(deep=True)
    again = clone(net).fit(X, y)
    assert again.history[-1, "sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_a_second_pruning_callback_on_the_net_is_refused(digits):
    # it would silently prune the module twice, overriding the net's sparsity
    X, y = digits
    net = _net(callbacks=[("mine", ScreeningPruning(sparsity=0.8))])
    with pytest.raises(ValueError, match="second time"):
        net.fit(X, y)


def test_set_params_on_the_callback_path_sets_the_nets_parameter(digits):
    X, y = digits
    net = _net(max_epochs=2, prune_epochs=1)
    net.set_params(callbacks__screening_pruning__sparsity=0.8)
    assert net.sparsity == 0.8
    net.fit(X, y)
    assert net.sparsity_ == pytest.approx(0.8, abs=1e-3)
    assert net.get_params(deep=True)["callbacks__screening_pruning__sparsity"] == 0.8


def test_numpy_scalar_settings_from_a_grid_are_accepted(digits):
    # np.float32 is not a Python float: a grid built with float32 values was refused
    X, y = digits
    net = _net(alpha=np.float32(0.5), sparsity=np.float32(0.5), max_epochs=2, prune_epochs=1)
    assert net.fit(X, y).sparsity_ == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError, match="sparsity"):
        _net(sparsity=np.bool_(True)).fit(X, y)


def test_module_reinitialised_between_partial_fit_calls(digits):
    # set_params(module__...) re-initialises the module but keeps the history: the budget
    # was taken from the old module (2368 weights for 1184), so sparsity_ read 0.5 with
    # nothing pruned
    X, y = digits
    net = _net(max_epochs=2, prune_epochs=1).fit(X, y)
    net.set_params(module__hidden=(16,))
    with pytest.raises(ValueError, match="re-initialised"):
        net.partial_fit(X, y)
    assert net.fit(X, y).n_weights_ == 64 * 16 + 16 * 10
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)


def test_classes_with_y_holding_the_class_names(digits):
    # the error said "labels ['neg', 'pos'] that are not in classes ['neg', 'pos']"
    X, y = digits
    names = np.array(["neg", "pos"])[(y >= 5).astype(int)]
    net = _net(module__n_classes=2, classes=["pos", "neg"], max_epochs=2)
    net.fit(X, names)
    assert set(net.predict(X)) <= {"neg", "pos"}
    assert net.score(X, names) > 0.6
    # positional: column 0 of predict_proba is "pos"
    np.testing.assert_array_equal(
        net.predict(X), np.array(["pos", "neg"])[net.predict_proba(X).argmax(1)]
    )
    net.partial_fit(X[:40], names[:40])  # later calls: names again
    with pytest.raises(ValueError, match="not in classes"):
        net.partial_fit(X[:40], (y[:40] >= 5).astype(int))  # indices after names
    with pytest.raises(ValueError, match="not in classes"):
        _net(module__n_classes=2, classes=["pos", "neg"]).fit(X, np.array(["a", "b"])[y % 2])


class _Bag(torch.nn.Module):
    """Token ids -> embedding -> mean -> Linear (takes integer inputs)."""

    def __init__(self, n_inputs=64, hidden=(8,), n_classes=10):
        super().__init__()
        self.emb = torch.nn.Embedding(17, hidden[0])
        self.out = torch.nn.Linear(hidden[0], n_classes)

    def forward(self, x):
        return self.out(self.emb(x).mean(1))


def test_integer_ids_for_an_embedding_module_are_not_cast(digits):
    # int X was cast to float32 for every module: an embedding refused its indices
    X, y = digits
    ids = np.rint(X * 16).astype(np.int64)
    for Xin in (ids, torch.as_tensor(ids)):
        net = _net(module=_Bag, max_epochs=2, prune_epochs=1).fit(Xin, y)
        assert net.sparsity_ == pytest.approx(0.5, abs=0.01)
        assert net.predict(Xin[:5]).shape == (5,)


def test_bool_tensor_and_list_of_rows_like_their_arrays(digits):
    X, y = digits
    ref = _net(max_epochs=1, prune_epochs=1).fit(X > 0.5, y).predict_proba(X > 0.5)
    got = _net(max_epochs=1, prune_epochs=1).fit(torch.as_tensor(X > 0.5), y).predict_proba(X > 0.5)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    ref = _net(max_epochs=1, prune_epochs=1).fit(X, y).predict_proba(X)
    got = _net(max_epochs=1, prune_epochs=1).fit(X.tolist(), y.tolist()).predict_proba(X.tolist())
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


class _TwoInputs(torch.nn.Module):
    def __init__(self, n_inputs=64, hidden=(32,), n_classes=10):
        super().__init__()
        self.a = torch.nn.Linear(32, hidden[0])
        self.b = torch.nn.Linear(32, hidden[0])
        self.out = torch.nn.Linear(hidden[0], n_classes)

    def forward(self, left, right):
        return self.out(torch.relu(self.a(left) + self.b(right)))


def test_dict_input_for_a_module_with_named_inputs(digits):
    # skorch passes a dict X as keyword arguments; the logits check sliced the dict
    X, y = digits
    Xd = {"left": X[:, :32], "right": X[:, 32:]}
    net = _net(module=_TwoInputs, max_epochs=2, prune_epochs=1).fit(Xd, y)
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)
    assert net.predict_proba(Xd).shape == (len(X), 10)


def test_a_regression_net_is_refused_with_a_clear_error(digits):
    # the error was "labels [2, ..., 9] not in classes [0, 1]" after the first batch
    from skorch import NeuralNet, NeuralNetRegressor

    X, y = digits
    yr = y[:, None].astype(np.float32)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    for cls, kw in ((NeuralNetRegressor, {}), (NeuralNet, {"criterion": torch.nn.MSELoss})):
        net = cls(mlp, max_epochs=1, train_split=None, verbose=0, **kw)
        net.set_params(callbacks=[("prune", ScreeningPruning(sparsity=0.5))])
        with pytest.raises(ValueError, match="regression"):
            net.fit(X, yr)


@pytest.mark.parametrize("kw", [{"callbacks": "disable"}, {"callbacks__screening_pruning": None}])
def test_removing_the_pruning_callback_is_refused_clearly(digits, kw):
    # skorch's ways of switching callbacks off gave KeyError: 'screening_pruning'
    X, y = digits
    with pytest.raises(ValueError, match="sparsity=0"):
        _net().set_params(**kw).fit(X, y)
    # the other callbacks can go
    net = _net(verbose=1, max_epochs=1, prune_epochs=1)
    net.set_params(callbacks__print_log=None).fit(X, y)
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)


class _PickleAtBatch(Callback):
    """Pickles the net after the first training batch of the second epoch."""

    def __init__(self):
        self.blobs = []

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == 2 and len(net.history[-1]["batches"]) == 1:
            self.blobs.append(pickle.dumps(net))


def test_pickling_mid_epoch_from_a_batch_callback(digits):
    # the statistics hooks were local closures: "Can't pickle local object ... hook"
    X, y = digits
    grab = _PickleAtBatch()
    _net(max_epochs=3, reg_lambda=1e-3, callbacks=[("grab", grab)]).fit(X, y)
    restored = pickle.loads(grab.blobs[0])
    assert len(restored.history) == 2  # pickled during the second epoch
    assert restored.history[0, "pruning_epoch"] == 1
    restored.partial_fit(X, y)
    assert restored.sparsity_ == pytest.approx(0.5, abs=1e-3)
    assert _n_pruned_nonzero(restored.module_) == 0


def test_partial_fit_classes_must_match_the_module_width(digits):
    # 4 classes for a 3-output module trained silently; "d" could never be predicted
    X, y = digits
    names = np.array(["a", "b", "c"])[y % 3]
    with pytest.raises(ValueError, match="module__n_classes=4"):
        _net(module__n_classes=3).partial_fit(X, names, classes=["a", "b", "c", "d"])
    net = _net(module__n_classes=4, max_epochs=1, prune_epochs=1)
    net.partial_fit(X, names, classes=["a", "b", "c", "d"])
    assert net.predict_proba(X[:5]).shape == (5, len(net.classes_)) == (5, 4)


@pytest.mark.parametrize("kind", ["strings", "gaps"])
def test_skorch_scoring_callbacks_see_the_original_labels(digits, kind):
    # valid_acc (skorch's default) compared net.predict (original labels) with the encoded
    # ones: a crash for strings, a silently wrong accuracy for labels {0, 2}
    from skorch.callbacks import EpochScoring
    from skorch.dataset import Dataset, ValidSplit

    X, y = digits
    labels = np.array(["neg", "pos"] if kind == "strings" else [0, 2])[(y >= 5).astype(int)]
    train_acc = EpochScoring("accuracy", on_train=True, use_caching=False, name="train_acc")
    net = _net(
        module__n_classes=2,
        train_split=ValidSplit(5),
        max_epochs=3,
        prune_epochs=1,
        callbacks=[train_acc],
    ).fit(X, labels)
    _, in_valid = ValidSplit(5)(Dataset(X, labels), labels)  # the net's split (same strata)
    valid = np.asarray(in_valid.indices)
    assert net.history[-1, "valid_acc"] == pytest.approx(net.score(X[valid], labels[valid]))
    assert net.history[-1, "valid_acc"] > 0.6
    train = np.setdiff1d(np.arange(len(X)), valid)
    assert net.history[-1, "train_acc"] == pytest.approx(net.score(X[train], labels[train]))
