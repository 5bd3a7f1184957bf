"""Every method of ScreeningPrunedNet (skscreen/nn/_net.py) on tiny nets, with known truths.

Fast unit tests (a few dozen rows, one or two epochs, no validation split) written for the
mutation run of ``nn/_net.py`` (issue 20): the criterion chosen for logits, softmax and
tuple outputs and its refusals word for word; predictions on 2-D and 3-D outputs and on
classes present in only some outputs; deciding the output kind once; notify's label
decoding and dispatch order; fit/partial_fit and their labels, datasets and fit params
(the metadata-routing name included); the state (pickling), the counts and compaction.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

import sklearn  # noqa: E402
from _nets import DIGITS_MLP, PRUNING_DEFAULTS, make_net  # noqa: E402
from skorch.callbacks import Callback, EpochScoring  # noqa: E402
from skorch.dataset import Dataset, ValidSplit  # noqa: E402
from skorch.helper import predefined_split  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.nn import AutoLoss, ScreeningPruning  # noqa: E402
from skscreen.nn._labels import LabelledDataset  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402

N_IN, N_OUT = 6, 3
MAKE_NET = dict(lr=0.1, train_split=None, verbose=0, random_state=0)  # as make_net
TINY = dict(
    module__n_inputs=N_IN,
    module__hidden=(8,),
    module__n_classes=N_OUT,
    max_epochs=1,
    batch_size=16,
    sparsity=0.5,
    prune_epochs=1,
)


def _net(cls=None, **kw):
    """make_net's settings on a 6-8-3 MLP: one epoch of three batches, half pruned."""
    if cls is None:
        return make_net(**{**TINY, **kw})
    return cls(**{**DIGITS_MLP, **MAKE_NET, **TINY, **kw})


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, N_IN)).astype(np.float32)
    y = np.arange(48) % N_OUT
    X[:, 0] += y  # learnable
    return X, y


NAMES = np.array(["a", "b", "c"])


# ------------------------------------------------------------------ small modules
class _Softmax(nn.Module):
    """The tiny MLP ending in a softmax (skorch's NeuralNetClassifier convention)."""

    def __init__(self, n_out=N_OUT):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(N_IN, 8), nn.Linear(8, n_out)

    def forward(self, X):
        return torch.softmax(self.fc2(torch.relu(self.fc1(X))), dim=-1)


class _Logits(nn.Module):
    """The tiny MLP as a plain Module (not a Sequential): compacted by tracing."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(N_IN, 8), nn.Linear(8, N_OUT)

    def forward(self, X):
        return self.fc2(torch.relu(self.fc1(X)))


class _Tuple(nn.Module):
    """``(scores, aux)``: the first output is the class scores, aux is negative."""

    def __init__(self, softmax=False):
        super().__init__()
        self.fc, self.softmax = nn.Linear(N_IN, N_OUT), softmax

    def forward(self, X):
        out = self.fc(X)
        aux = -1.0 - out.abs()
        return (torch.softmax(out, dim=-1) if self.softmax else out), aux


class _Seq(nn.Module):
    """Per-position scores ``(N, 2, 3)`` (a 3-D output, the class scores last)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(N_IN, 2 * N_OUT)

    def forward(self, X):
        return self.fc(X).reshape(len(X), 2, N_OUT)


class _Scaled(nn.Module):
    """Logits times ``scale`` (a fit parameter forward takes); records what it got."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(N_IN, N_OUT)
        self.seen = []

    def forward(self, X, scale=None):
        self.seen.append(scale)
        return self.fc(X) * (1.0 if scale is None else scale)


class _Built(ScreeningPrunedNet):
    """A subclass whose initialize_criterion builds an AutoLoss instance itself."""

    def initialize_criterion(self):
        self.module_output_ = None
        self.criterion_ = AutoLoss(**self.get_params_for("criterion"))
        return self


class _Renamed(ScreeningPrunedNet):
    """A subclass whose initialize_criterion registers its loss under another name."""

    def initialize_criterion(self):
        self.module_output_ = None
        self.loss_ = AutoLoss()
        return self


class _BareBuilt(ScreeningPrunedNet):
    """A subclass whose initialize_criterion sets criterion_ only (no module_output_)."""

    def initialize_criterion(self):
        self.criterion_ = AutoLoss()
        return self


class _CountingNet(ScreeningPrunedNet):
    """Counts the calls of _decide_output."""

    def _decide_output(self, out):
        self.decisions_ = getattr(self, "decisions_", 0) + 1
        return super()._decide_output(out)


def _tiny(module, cls=ScreeningPrunedNet, **kw):
    """A net (``cls``) of ``module`` on three batches of one epoch, without pruning."""
    params = dict(
        module=module,
        max_epochs=1,
        batch_size=16,
        lr=0.1,
        train_split=None,
        verbose=0,
        random_state=0,
        sparsity=0.0,
    )
    params.update(kw)
    return cls(**params)


# ------------------------------------------------------------------ __init__, set_params
def test_defaults_and_settings_reach_the_net_and_its_callback():
    params = ScreeningPrunedNet(nn.Linear(4, 2)).get_params(deep=False)
    documented = dict(PRUNING_DEFAULTS, criterion=AutoLoss)
    assert {k: params[k] for k in documented} == documented
    assert isinstance(params["module"], nn.Linear)
    given = dict(
        alpha=0.5,
        sparsity=0.3,
        schedule="cubic",
        prune_epochs=3,
        scope="layer",
        normalize="rank",
        normalize_scope="layer",
        scorer="magnitude",
        granularity="weight",
        layer_types=(nn.Linear,),
        ignored_layers=["0"],
        post_relu=False,
        reg_lambda=0.1,
        gamma_l1=0.0,
        random_state=7,
    )
    net = ScreeningPrunedNet(nn.Linear(4, 2), lr=0.5, **given)
    assert {k: net.get_params()[k] for k in given} == given and net.lr == 0.5
    net.initialize()
    assert {k: getattr(net.pruning_, k) for k in given if k != "random_state"} == {
        k: v for k, v in given.items() if k != "random_state"
    }
    # skorch's positional parameters after module are its criterion: given here as well
    with pytest.raises(TypeError):
        ScreeningPrunedNet(nn.Linear(4, 2), torch.nn.NLLLoss)
    with pytest.raises(ValueError):
        ScreeningPrunedNet(nn.Linear(4, 2), sparsity=1.5).initialize()


def test_set_params_refuses_the_callbacks_route_word_for_word():
    net = _net()
    with pytest.raises(ValueError) as info:
        net.set_params(callbacks__screening_pruning__sparsity=0.8)
    assert str(info.value) == (
        "'callbacks__screening_pruning__sparsity': ScreeningPrunedNet's pruning is not an "
        "entry of callbacks (it is held in pruning_, whatever callbacks holds); its settings "
        "are the net's own parameters: set_params(sparsity=0.8, alpha=...), sparsity=0 for no "
        "pruning."
    )
    net.set_params(sparsity=0.8, callbacks__print_log__sink=print)
    assert net.sparsity == 0.8


# ------------------------------------------------------------------ callbacks, initialize
def test_a_second_pruning_callback_is_refused_word_for_word(data):
    net = _net(callbacks=[("mine", ScreeningPruning(sparsity=0.8))])
    with pytest.raises(ValueError) as info:
        net.fit(*data)
    assert str(info.value) == (
        "ScreeningPrunedNet prunes with its own ScreeningPruning callback; the callbacks "
        "['mine'] would prune the same module a second time. Pass the pruning settings as "
        "parameters of the net (sparsity=..., alpha=...), or use skorch's NeuralNetClassifier "
        "with the ScreeningPruning callback."
    )


def test_the_callback_is_kept_across_initialisations_and_pickled_with_the_module():
    net = _net(sparsity=0.5).initialize()
    pruning = net.pruning_
    assert isinstance(pruning, ScreeningPruning) and pruning.sparsity == 0.5
    net.set_params(sparsity=0.7)
    net.initialize()
    assert net.pruning_ is pruning and pruning.sparsity == 0.7
    assert list(net.cuda_dependent_attributes_).count("pruning_") == 1
    assert "pruning_" not in type(net).cuda_dependent_attributes_


def test_initialize_module_seeds_copies_and_prepares(data):
    torch.manual_seed(1)
    a = _net(random_state=3).initialize()
    torch.manual_seed(2)
    b = _net(random_state=3).initialize()
    c = _net(random_state=4).initialize()
    wa, wb, wc = (n.module_[1].weight for n in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    # ready to load a pruned state dict: masks on every prunable layer before training
    assert all(get_mask(m) is not None for m in a.module_.modules() if isinstance(m, nn.Linear))
    # a module instance is deep-copied: the object passed in never changes
    module = _Logits()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    net = _tiny(module, sparsity=0.5).fit(*data)
    assert net.module_ is not module and isinstance(net.module_, _Logits)
    assert net.module_.fc1.weight is not module.fc1.weight
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())
    assert not any(k.endswith("_mask") for k in dict(module.named_buffers()))


# ------------------------------------------------------------------ inputs and labels
def test_prepare_x_casts_to_the_module_dtype_and_keeps_ids(data):
    X, _ = data
    net = _net()
    assert net._prepare_X(X.astype(np.float64)).dtype == np.float32  # before initialize
    net = _tiny(_Logits().double()).initialize()
    assert net._prepare_X(X).dtype == np.float64
    assert net.get_dataset(X).X.dtype == np.float64
    emb = _tiny(nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(8, 3))).initialize()
    ids = np.array([[1, 2], [3, 4]], dtype=np.int64)
    out = emb._prepare_X(ids)
    assert out.dtype == np.int64 and np.array_equal(out, ids)


def test_labels_0_and_2_on_three_outputs_are_output_indices(data):
    X, y = data
    y02 = np.where(y == 1, 2, y)
    net = _net().fit(X, y02)
    assert list(net.classes_) == [0, 2] and not net.label_encoding_.names
    ref, width = net.pruning_._output_width
    assert ref() is net.module_ and width == 3
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    with torch.no_grad():
        full = torch.softmax(net.module_.eval()(torch.as_tensor(X)), dim=-1).numpy()
    np.testing.assert_allclose(
        proba, full[:, [0, 2]] / full[:, [0, 2]].sum(1, keepdims=True), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_array_equal(net.predict(X), np.array([0, 2])[proba.argmax(1)])


def test_a_module_the_probe_cannot_run_leaves_the_labels_to_the_first_batch(data):
    X, y = data

    class _NoEval(_Logits):
        def forward(self, X):
            if not self.training:
                raise RuntimeError("train mode only")
            return super().forward(X)

    y02 = np.where(y == 1, 2, y)
    net = _tiny(_NoEval(), sparsity=0.5).fit(X, y02)  # no width measured: nothing to tell
    assert list(net.classes_) == [0, 2] and "_output_width" not in net.pruning_.__dict__
    assert net.sparsity_ > 0.4


def test_a_module_without_a_class_dimension_fails_training_with_torchs_error(data):
    # names need the module's width; an output (N,) has none: nothing is passed on
    X, y = data
    flat = nn.Sequential(nn.Linear(N_IN, 1), nn.Flatten(0))
    with pytest.raises(RuntimeError, match="Expected floating point type for target"):
        _tiny(flat, sparsity=0.5).fit(X, NAMES[y])


def test_get_dataset_labels_names_and_a_users_dataset_class(data):
    X, y = data
    names = NAMES[y]
    X64 = X.astype(np.float64)
    net = _net()
    ds = net.get_dataset(X64, y)  # no labels known yet: skorch's Dataset
    assert type(ds) is Dataset and np.array_equal(ds.y, y)
    net.fit(X, names)
    ds = net.get_dataset(X64, names)
    assert isinstance(ds, LabelledDataset) and ds.X.dtype == np.float32
    assert np.array_equal(ds.y, names) and len(ds) == len(X)
    assert int(ds[1][1]) == 1 and torch.equal(torch.as_tensor(ds[1][0]), torch.as_tensor(X[1]))
    assert type(net.get_dataset(X64)) is Dataset  # no y: no labels to encode
    mine = Dataset(X, names)
    assert net.get_dataset(mine) is mine and net.get_dataset(mine, names) is mine

    class _Mine(Dataset):
        pass

    net = _net(dataset=_Mine).fit(X, names)
    ds = net.get_dataset(X64, names)
    assert type(ds) is _Mine and np.array_equal(ds.y, y) and ds.X.dtype == np.float32
    net = _net().fit(X, y)  # output indices: skorch's Dataset of the prepared X
    ds = net.get_dataset(X64, y)
    assert type(ds) is Dataset and ds.X.dtype == np.float32 and np.array_equal(ds.y, y)


def test_get_dataset_length_parameter_reaches_the_labelled_dataset(data):
    X, y = data
    net = _net().fit(X, NAMES[y])
    net.dataset__length = 5  # skorch's dataset__* parameters (set_params re-initialises)
    ds = net.get_dataset(X, NAMES[y])
    assert isinstance(ds, LabelledDataset) and len(ds) == 5


def test_get_split_datasets_encodes_a_validation_dataset_of_names(data):
    X, y = data
    names = NAMES[y]
    net = _net().initialize()
    train, valid = net.get_split_datasets(X, y)  # no labels known yet
    assert valid is None and type(train) is Dataset
    net = _net().fit(X, names)
    user = Dataset(X[:12].astype(np.float64), names[:12])
    net.set_params(train_split=predefined_split(user))
    train, valid = net.get_split_datasets(X, names)
    assert isinstance(train, LabelledDataset) and isinstance(valid, LabelledDataset)
    assert np.array_equal(valid.y, names[:12]) and valid.X.dtype == np.float32
    assert [int(valid[i][1]) for i in range(3)] == list(y[:3])
    bad = names[:12].astype("<U2")
    bad[0] = "zz"
    net.set_params(train_split=predefined_split(Dataset(X[:12], bad)))
    with pytest.raises(ValueError, match="'zz'"):
        net.get_split_datasets(X, names)
    unlabelled = Dataset(X[:12], None)
    net.set_params(train_split=predefined_split(unlabelled))
    assert net.get_split_datasets(X, names)[1] is unlabelled
    net.set_params(train_split=ValidSplit(3))  # skorch's subsets: as skorch makes them
    train, valid = net.get_split_datasets(X, names)
    assert len(train) + len(valid) == len(X)
    net = _net().fit(X, y)  # output indices: checked, X cast, the labels as they are
    user = Dataset(X[:12].astype(np.float64), y[:12].astype(np.uint8))
    net.set_params(train_split=predefined_split(user))
    valid = net.get_split_datasets(X, y)[1]
    assert type(valid) is Dataset and valid.X.dtype == np.float32
    assert valid.y.dtype == np.int64 and np.array_equal(valid.y, y[:12])
    user = Dataset(X[:12], y[:12])  # nothing to cast: the user's Dataset itself (as skorch)
    net.set_params(train_split=predefined_split(user))
    assert net.get_split_datasets(X, y)[1] is user


def test_a_validation_label_the_net_does_not_know_fails_before_training(data):
    X, y = data
    names = NAMES[y]
    bad = names[:12].astype("<U2")
    bad[0] = "zz"
    net = _net(train_split=predefined_split(Dataset(X[:12], bad)), max_epochs=2)
    with pytest.raises(ValueError, match="'zz'"):
        net.fit(X, names)
    assert len(net.history) == 0


# ------------------------------------------------------------------ fit, partial_fit
def test_fit_is_a_fresh_start_and_warm_start_continues(data):
    X, y = data
    net = _net().fit(X, NAMES[y])
    net.fit(X, np.array(["x", "y", "z"])[y])  # a new fit may bring other labels
    assert list(net.classes_) == ["x", "y", "z"] and len(net.history) == 1
    net = _net(warm_start=True).fit(X, y)
    first = net.module_
    net.fit(X, y)
    assert len(net.history) == 2 and net.module_ is first


def test_fit_passes_its_fit_params_to_forward(data):
    X, y = data
    net = _tiny(_Scaled, max_epochs=3).fit(X, y, epochs=1, scale=2.0)
    assert len(net.history) == 1 and set(net.module_.seen) == {2.0}


def test_fit_params_reach_the_train_split(data):
    X, y = data
    got = []

    def split(dataset, y=None, **kwargs):
        got.append(kwargs)
        return dataset, None

    _tiny(_Scaled, train_split=split).fit(X, NAMES[y], scale=2.0)
    assert got == [{"scale": 2.0}]


def test_classes_empty_keeps_skorchs_handling(data):
    X, y = data
    net = _net(classes=[]).fit(X, y)  # skorch: no classes_ attribute
    assert net.__dict__["label_encoding_"] is None
    with pytest.raises(AttributeError):
        net.classes_  # noqa: B018
    assert net.predict(X).shape == (len(X),)


def test_fit_routes_metadata_as_fit_not_as_partial_fit(data):
    X, y = data
    with sklearn.config_context(enable_metadata_routing=True):
        net = _tiny(_Scaled)
        net.set_fit_request(scale=True)
        net.fit(X, y, scale=3.0)
        assert set(net.module_.seen) == {3.0}
        with pytest.raises(TypeError, match="partial_fit got unexpected"):
            net.partial_fit(X, y, scale=3.0)


def test_partial_fit_continues_and_checks_labels_and_features(data):
    X, y = data
    names = NAMES[y]
    net = _net(max_epochs=2)
    net.partial_fit(X, names)  # initialises itself
    assert net.initialized_ and len(net.history) == 2 and net.n_features_in_ == N_IN
    module = net.module_
    net.partial_fit(X, names)
    assert len(net.history) == 4 and net.module_ is module
    assert list(net.classes_) == list(NAMES) and set(net.predict(X)) <= set(NAMES)
    with pytest.raises(ValueError, match=r"\['zz'\] not seen in the first fit"):
        net.partial_fit(X[:3], np.array(["a", "zz", "b"]))
    with pytest.raises(ValueError, match="features"):
        net.partial_fit(X[:, :4], names)
    assert len(net.history) == 4
    # labels are those of the first call even when it trained no epoch
    net = _net(max_epochs=0).fit(X, names[:48])
    with pytest.raises(ValueError, match="not seen in the first fit"):
        net.partial_fit(X, np.array(["x", "y", "z"])[y])


def test_partial_fit_classes_and_the_classes_parameter(data):
    X, y = data
    sub = y < 2
    net = _net().partial_fit(X[sub], y[sub], classes=np.array([0, 1, 2]))
    assert list(net.classes_) == [0, 1, 2]
    net = _net().partial_fit(X[sub], y[sub], classes=torch.tensor([0, 1, 2]))
    assert list(net.classes_) == [0, 1, 2]
    net = _net().partial_fit(X[sub], NAMES[y[sub]], classes=NAMES)
    assert list(net.classes_) == list(NAMES) and net.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="scores per sample"):  # labels on some outputs only
        _net().partial_fit(X, np.where(y == 1, 2, y), classes=[0, 2])
    net = _net(classes=list(NAMES)).fit(X[sub], NAMES[y[sub]])
    assert list(net.classes_) == list(NAMES) and net.predict_proba(X).shape == (len(X), 3)


def test_float_labels_train_as_output_indices(data):
    X, y = data
    net = _net().fit(X, y.astype(np.float64))
    assert list(net.classes_) == [0.0, 1.0, 2.0] and not net.label_encoding_.names
    assert set(net.predict(X)) <= {0, 1, 2}


def test_fit_on_skorch_datasets(data):
    X, y = data
    net = _net().fit(Dataset(X, NAMES[y]))
    assert list(net.classes_) == list(NAMES) and set(net.predict(X)) <= set(NAMES)
    seen = []

    class _Train(Callback):
        def on_epoch_begin(self, net, dataset_train=None, **kwargs):
            seen.append(dataset_train)

    user = Dataset(X, y)
    net = _net(callbacks=[("train", _Train())]).fit(user)  # output indices: as it is
    assert seen == [user] and list(net.classes_) == [0, 1, 2]


class _Pairs(torch.utils.data.Dataset):
    """Not a skorch Dataset: (x, y) items, no ``y`` for the net to read."""

    def __init__(self, X, y):
        self.X, self.y_ = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y_[i]


def test_fit_on_a_dataset_without_labels(data):
    X, y = data
    net = _net(classes=[0, 1, 2]).fit(_Pairs(X, y), None)
    assert net.__dict__["label_encoding_"] is None and len(net.history) == 1
    assert net.sparsity_ == pytest.approx(0.5, abs=0.02)


def test_a_failure_before_any_epoch_is_the_callers_error(data):
    X, y = data
    net = _net()
    with pytest.raises(ValueError):
        net.fit(X, y[:-1])  # skorch: inconsistent lengths, before any history row
    assert len(net.history) == 0


class _Failing(_Logits):
    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail

    def forward(self, X):
        if self.fail:
            raise RuntimeError("rejected")
        return super().forward(X)


def test_a_rejected_batch_leaves_no_history_row(data):
    X, y = data
    net = _tiny(_Failing, module__fail=True, sparsity=0.5)
    with pytest.raises(RuntimeError, match="rejected"):
        net.fit(X, y)
    assert len(net.history) == 0 and net.pruning_._targets_handle is None
    pickle.dumps(net)
    net = _tiny(_Failing, sparsity=0.5).fit(X, y)
    net.module_.fail = True
    with pytest.raises(RuntimeError, match="rejected"):
        net.partial_fit(X, y)
    assert len(net.history) == 1


def test_a_failure_after_the_epoch_keeps_its_row(data):
    X, y = data

    class _Boom(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyError("boom")

    net = _net(max_epochs=3, callbacks=[("boom", _Boom())])
    with pytest.raises(KeyError, match="boom"):
        net.fit(X, y)
    assert len(net.history) == 2 and "train_loss" in net.history[-1]


# ------------------------------------------------------------------ notify
class _Recorder(Callback):
    def __init__(self, log):
        self.log = log

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.log.append(("cb", "on_train_begin", net.pruning_.sparsity))

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        self.log.append(("cb", "batch", batch[0], batch[1], training))

    def on_epoch_end(self, net, **kwargs):
        self.log.append(("cb", "on_epoch_end", type(net).__name__, sorted(kwargs)))


def _recording_net(log, extra=(), **kw):
    class _Net(ScreeningPrunedNet):
        def on_epoch_end(self, net, **kwargs):
            log.append(("net", "on_epoch_end", net is self, sorted(kwargs)))
            super().on_epoch_end(net, **kwargs)

    return _net(cls=_Net, callbacks=[("rec", _Recorder(log)), *extra], **kw)


def test_notify_order_net_then_pruning_then_callbacks(data):
    X, y = data
    log = []
    net = _recording_net(log).initialize()
    pruning = net.pruning_
    original = pruning.on_epoch_end

    def on_epoch_end(net_, **kwargs):
        log.append(("pruning", "on_epoch_end", net_ is net, sorted(kwargs)))
        original(net_, **kwargs)

    pruning.on_epoch_end = on_epoch_end
    net.partial_fit(X, NAMES[y])
    ends = [e for e in log if e[1] == "on_epoch_end"]
    keys = ["dataset_train", "dataset_valid"]
    assert ends == [
        ("net", "on_epoch_end", True, keys),
        ("pruning", "on_epoch_end", True, keys),
        ("cb", "on_epoch_end", "_Net", keys),
    ]
    assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=0.02)


class _ScoringRecorder(EpochScoring):
    def __init__(self, log):
        super().__init__("accuracy", name="rec_acc", on_train=True)
        self.log = log

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        self.log.append(("scoring", "batch", batch[0], batch[1], training))
        super().on_batch_end(net, batch=batch, training=training, **kwargs)


def test_notify_gives_scoring_callbacks_the_labels_and_others_the_indices(data):
    # audit (session 9): every callback got the decoded labels in on_batch_end, so a batch
    # accuracy from y_pred.argmax(1) == batch[1] compared output indices with labels
    X, y = data
    names = NAMES[y]
    log = []
    net = _recording_net(log, extra=[("scoring", _ScoringRecorder(log))]).fit(X, names)
    batches = [e for e in log if e[1] == "batch" and e[0] == "scoring"]
    assert len(batches) == 3 and all(e[4] is True for e in batches)
    assert np.array_equal(np.concatenate([e[3] for e in batches]), names)  # no shuffle
    assert np.array_equal(torch.cat([e[2] for e in batches]).numpy(), X)
    plain = [e for e in log if e[1] == "batch" and e[0] == "cb"]
    assert len(plain) == 3 and all(torch.is_tensor(e[3]) for e in plain)
    assert np.array_equal(torch.cat([e[3] for e in plain]).numpy(), y)  # output indices
    assert 0.0 < net.history[-1, "rec_acc"] <= 1.0  # scored against the labels
    # settings set since the last call reach the callback when training begins
    net.set_params(sparsity=0.25)
    log.clear()
    net.partial_fit(X, names)
    assert log[0] == ("cb", "on_train_begin", 0.25)
    log.clear()
    _recording_net(log).fit(X, y)  # output indices: as they are
    batches = [e for e in log if e[1] == "batch"]
    assert np.array_equal(np.concatenate([np.asarray(e[3]) for e in batches]), y)


# ------------------------------------------------------------------ the criterion
def test_initialize_criterion_auto_and_explicit():
    net = _net().initialize()
    assert type(net.criterion_) is nn.CrossEntropyLoss and net.module_output_ is None
    net = _net(criterion="auto", criterion__label_smoothing=0.1).initialize()
    assert type(net.criterion_) is nn.CrossEntropyLoss
    assert net.criterion_.label_smoothing == 0.1
    net = _net(criterion=AutoLoss(label_smoothing=0.2)).initialize()
    assert net.criterion_.label_smoothing == 0.2
    net = _net(criterion=nn.NLLLoss).initialize()
    assert type(net.criterion_) is nn.NLLLoss and net.module_output_ is None
    with pytest.raises(ValueError) as info:
        _net(criterion="cross_entropy").initialize()
    assert str(info.value) == (
        "criterion must be 'auto' or a torch criterion (class or instance), got 'cross_entropy'."
    )


def test_auto_criterion_on_logits_and_on_probabilities(data):
    X, y = data
    net = _tiny(_Logits, cls=_CountingNet).initialize()
    crit = net.criterion_
    net.partial_fit(X, y)
    assert net.decisions_ == 1 and net.module_output_ == "logits" and net.criterion_ is crit
    net.predict_proba(X)
    assert net.decisions_ == 1
    weight = torch.tensor([1.0, 2.0, 3.0])
    net = _tiny(_Softmax, criterion__weight=weight).fit(X, y)
    assert net.module_output_ == "probabilities" and isinstance(net.criterion_, nn.NLLLoss)
    assert torch.equal(net.criterion_.weight, weight)
    with torch.no_grad():
        out = net.module_.eval()(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(net.predict_proba(X), out, rtol=1e-6)


def test_explicit_criteria_are_checked_once_and_recorded(data):
    X, y = data
    net = _tiny(_Logits, cls=_CountingNet, criterion=nn.CrossEntropyLoss)
    net.fit(X, y)
    assert net.module_output_ == "logits" and net.decisions_ == 1
    net = _tiny(_Softmax, criterion=nn.NLLLoss).fit(X, y)
    assert net.module_output_ == "probabilities" and type(net.criterion_) is nn.NLLLoss
    # at prediction an explicit criterion is not checked again
    net = _tiny(_Softmax, criterion=nn.CrossEntropyLoss).initialize()
    assert net.predict_proba(X).shape == (len(X), 3) and net.module_output_ is None


def test_the_refusals_word_for_word(data):
    X, y = data
    with pytest.raises(ValueError) as info:
        _tiny(_Softmax, criterion=nn.CrossEntropyLoss).fit(X, y)
    assert str(info.value) == (
        "The module's outputs are probabilities (non-negative, rows sum to 1: a final "
        "softmax?), but criterion=CrossEntropyLoss expects logits and predict_proba applies "
        "a softmax. Remove the final softmax, or leave criterion='auto' (NLLLoss on the "
        "probabilities, skorch's convention)."
    )
    with pytest.raises(ValueError) as info:
        _tiny(_Logits, criterion=nn.NLLLoss).fit(X, y)
    assert str(info.value) == (
        "criterion=NLLLoss takes the log of the module's outputs (skorch's convention for a "
        "module ending in softmax), but the module outputs negative values (logits or "
        "log-probabilities). Leave criterion='auto' (CrossEntropyLoss on logits), or end the "
        "module in a softmax."
    )


def test_decide_output_directly():
    net = _tiny(_Logits, criterion=nn.NLLLoss).initialize()
    # non-negative scores that are not probabilities, zeros and values below one included
    net._decide_output(torch.tensor([[0.0, 0.5, 3.0], [2.0, 0.0, 0.2]]))
    assert net.module_output_ == "logits"
    net = _net().initialize()
    assert net._decide_output(()) is None and net.module_output_ is None
    assert net._decide_output("not a tensor") is None and net.module_output_ is None
    probs = torch.softmax(torch.randn(4, 3), dim=-1)
    net._decide_output((probs, -torch.ones(4, 3)))  # the first of a tuple of outputs
    assert net.module_output_ == "probabilities" and isinstance(net.criterion_, nn.NLLLoss)
    net = _net().initialize()
    net._decide_output([torch.randn(4, 3), probs])
    assert net.module_output_ == "logits" and type(net.criterion_) is nn.CrossEntropyLoss
    net = _Renamed(nn.Linear(N_IN, 3)).initialize()  # no criterion_ of the net's to replace
    net._decide_output(probs)
    assert net.module_output_ == "probabilities" and "criterion_" not in net.__dict__


def test_get_loss_decides_once_at_the_first_batch(data):
    X, y = data
    net = _tiny(_Softmax, cls=_CountingNet).initialize()
    out = net.module_(torch.as_tensor(X[:8]))
    loss = net.get_loss(out, torch.as_tensor(y[:8]))
    expected = nn.functional.nll_loss(
        torch.log(out + torch.finfo(out.dtype).eps), torch.as_tensor(y[:8])
    )
    torch.testing.assert_close(loss, expected)
    net.get_loss(out, torch.as_tensor(y[:8]))
    assert net.decisions_ == 1 and net.module_output_ == "probabilities"


# ------------------------------------------------------------------ predictions
def test_predict_proba_and_predict_with_names(data):
    X, y = data
    net = _net(max_epochs=2).fit(X, NAMES[y])
    proba = net.predict_proba(X)
    with torch.no_grad():
        expected = torch.softmax(net.module_.eval()(torch.as_tensor(X)), dim=1).numpy()
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-7)
    pred = net.predict(X)
    assert pred.shape == (len(X),)
    np.testing.assert_array_equal(pred, NAMES[expected.argmax(1)])
    with pytest.raises(ValueError, match="features"):
        net.predict_proba(X[:, :5])
    assert net.n_features_in_ == N_IN
    net.set_params(batch_size=len(X))  # one batch or several: the same probabilities
    np.testing.assert_allclose(net.predict_proba(X), proba, rtol=1e-6)


def test_predict_proba_in_eval_mode(data):
    X, y = data
    module = nn.Sequential(nn.Linear(N_IN, 16), nn.Dropout(0.9), nn.Linear(16, 3))
    net = _tiny(module).fit(X, y)
    with torch.no_grad():
        expected = torch.softmax(net.module_.eval()(torch.as_tensor(X)), dim=1).numpy()
    np.testing.assert_allclose(net.predict_proba(X), expected, rtol=1e-5, atol=1e-7)


def test_predictions_before_training_decide_from_the_first_batch(data):
    X, _ = data
    net = _tiny(_Softmax, cls=_CountingNet).initialize()
    with torch.no_grad():
        out = net.module_(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(net.predict_proba(X), out, rtol=1e-6)  # as they are
    assert net.decisions_ == 1 and net.module_output_ == "probabilities"
    np.testing.assert_array_equal(net.predict(X), out.argmax(1))
    net = _tiny(_Logits).initialize()
    with torch.no_grad():
        out = net.module_(torch.as_tensor(X))
    np.testing.assert_allclose(net.predict_proba(X), torch.softmax(out, 1).numpy(), rtol=1e-5)


def test_tuple_outputs_predict_from_their_first_element(data):
    X, y = data
    for softmax in (False, True):
        net = _tiny(_Tuple, module__softmax=softmax).initialize()
        with torch.no_grad():
            scores, _ = net.module_(torch.as_tensor(X))
        expected = scores if softmax else torch.softmax(scores, dim=-1)
        np.testing.assert_allclose(net.predict_proba(X), expected.numpy(), rtol=1e-5)
        assert net.module_output_ == ("probabilities" if softmax else "logits")


def test_three_d_outputs_keep_their_shape(data):
    X, _ = data
    net = _tiny(_Seq).initialize()
    with torch.no_grad():
        out = net.module_(torch.as_tensor(X))
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 2, 3)
    np.testing.assert_allclose(proba, torch.softmax(out, dim=-1).numpy(), rtol=1e-5)
    np.testing.assert_array_equal(net.predict(X), proba.argmax(1))
    built = _Built(_Seq, batch_size=16, verbose=0).initialize()
    with torch.no_grad():
        out = built.module_(torch.as_tensor(X))
    np.testing.assert_allclose(built.predict_proba(X), torch.softmax(out, -1).numpy(), rtol=1e-5)


def test_nonlinearity_of_a_subclass_built_autoloss(data):
    X, y = data
    net = _Built(_Logits, batch_size=16, verbose=0).initialize()
    with torch.no_grad():
        out = net.module_(torch.as_tensor(X))
    np.testing.assert_allclose(net.predict_proba(X), torch.softmax(out, -1).numpy(), rtol=1e-5)
    assert net.module_output_ == "logits"
    net.module_output_ = None  # the AutoLoss's own decision when the net has none
    net.criterion_.output_ = "logits"
    assert net._nonlinearity()(out).sum(1).allclose(torch.ones(len(X)))
    net.criterion_.output_ = "probabilities"
    assert net._nonlinearity()(out) is out
    raw = _Built(_Logits, batch_size=16, verbose=0, predict_nonlinearity=None).initialize()
    with torch.no_grad():
        out = raw.module_(torch.as_tensor(X))
    np.testing.assert_allclose(raw.predict_proba(X), out.numpy(), rtol=1e-6)
    sm = _Built(
        _Softmax, batch_size=16, verbose=0, max_epochs=1, lr=0.1, train_split=None, sparsity=0.0
    ).fit(X, y)
    with torch.no_grad():
        out = sm.module_.eval()(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(sm.predict_proba(X), out, rtol=1e-6)


def test_a_subclass_criterion_without_module_output(data):
    X, y = data
    net = _tiny(_Softmax, cls=_BareBuilt).initialize()
    with torch.no_grad():
        out = net.module_(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(net.predict_proba(X), out, rtol=1e-6)
    net = _tiny(_Softmax, cls=_BareBuilt).fit(X, y)
    assert net.module_output_ == "probabilities" and isinstance(net.criterion_, nn.NLLLoss)


def test_bfloat16_outputs_become_float32(data):
    X, _ = data
    net = _tiny(_Logits().to(torch.bfloat16)).initialize()
    proba = net.predict_proba(X)
    assert proba.dtype == np.float32 and proba.shape == (len(X), 3)


# ------------------------------------------------------------------ state and results
def test_pickle_rebinds_the_pruner_to_the_unpickled_module(data):
    X, y = data
    net = _net().fit(X, y)
    back = pickle.loads(pickle.dumps(net))
    assert back.pruner_.model is back.module_
    assert set(back.pruner_.layers) == {"1", "3"} and back.sparsity_ == net.sparsity_
    back.partial_fit(X, y)
    # a net whose module failed to initialise still pickles
    bad = _net(module__hidden=(-1,))
    with pytest.raises(RuntimeError):
        bad.initialize()
    again = pickle.loads(pickle.dumps(bad))
    assert isinstance(again.pruning_, ScreeningPruning) and "module_" not in again.__dict__


def test_counts_and_results_of_a_fitted_net(data):
    X, y = data
    net = _net(reg_lambda=0.01).initialize()
    with pytest.raises(AttributeError) as info:
        net.pruner_  # noqa: B018
    assert str(info.value) == (
        "pruner_ exists after the first training batch (the net has not trained yet)."
    )
    assert net.regularizer_ is None and net.sparsity_ == 0.0
    net.fit(X, y)
    assert net.regularizer_ is not None
    n = N_IN * 8 + 8 * N_OUT
    assert net.n_weights_ == n
    kept = sum(int(get_mask(m).sum()) for m in net.pruner_.layers.values())
    assert net.sparsity_ == pytest.approx(1 - kept / n) and net.sparsity_ > 0.4
    assert net.kept_fraction_ == {
        name: pytest.approx(float(get_mask(m).mean())) for name, m in net.pruner_.layers.items()
    }
    total = sum(p.numel() for p in net.module_.parameters())
    nonzero = sum(int((p != 0).sum()) for p in net.module_.parameters())
    assert net.n_parameters(nonzero=False) == total
    assert net.n_parameters() == nonzero < total
    proba = net.predict_proba(X)
    reported = (net.sparsity_, net.n_weights_, net.kept_fraction_)
    net.remove_masks()
    assert not any(get_mask(m) is not None for m in net.module_.modules())
    with pytest.raises(AttributeError):
        net.pruner_  # noqa: B018
    np.testing.assert_array_equal(net.predict_proba(X), proba)
    # audit (session 9): the permanent pruning is still reported (0.0, 0, {} before)
    assert (net.sparsity_, net.n_weights_, net.kept_fraction_) == reported
    for method in ("compact", "to_torch_prune", "remove_masks"):
        with pytest.raises(Exception, match="not initialized"):
            getattr(_net(), method)()


def test_to_torch_prune(data):
    X, y = data
    net = _net().fit(X, y)
    proba = net.predict_proba(X)
    assert net.to_torch_prune() is net and prune.is_pruned(net.module_)
    names = {n for group in net.optimizer_.param_groups for n in group.get("param_names", [])}
    params = {id(p) for group in net.optimizer_.param_groups for p in group["params"]}
    assert {id(p) for p in net.module_.parameters()} == params, names
    np.testing.assert_allclose(net.predict_proba(X), proba, rtol=1e-6)


def test_compact_at_weight_level_is_physically_smaller(data):
    X, y = data
    net = _quiet(_tiny(_Logits, sparsity=0.8).fit, X, y)
    assert net.pruning_.example_inputs_ is not None
    net.module_.train()
    small = _quiet(net.compact)
    assert not small.training and not any(get_mask(m) is not None for m in small.modules())
    dense = sum(p.numel() for p in net.module_.parameters())
    assert sum(p.numel() for p in small.parameters()) < dense
    net.module_.eval()
    with torch.no_grad():
        x = torch.as_tensor(X)
        torch.testing.assert_close(small(x), net.module_(x), rtol=1e-4, atol=1e-5)
    # untrained: no example inputs kept, the masks folded all the same
    fresh = _tiny(_Logits).initialize()
    folded = _quiet(fresh.compact)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), fresh.module_.eval()(x))


def test_compact_at_channel_level_is_an_independent_copy():
    import _archs

    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 1, 8, 8)).astype(np.float32)
    y = np.arange(32) % 3
    torch.manual_seed(0)
    net = ScreeningPrunedNet(
        _archs.ResidualBNCNN(width=4, n_classes=3),
        granularity="channel",
        sparsity=0.25,
        prune_epochs=1,
        max_epochs=1,
        batch_size=16,
        lr=0.05,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    _quiet(net.fit, X, y)
    assert net.sparsity_ > 0
    net.module_.train()
    small = _quiet(net.compact)
    assert type(small) is type(net.module_) and not small.training and net.module_.training
    mine = {id(p) for p in net.module_.parameters()}
    assert not any(id(p) in mine for p in small.parameters())
    assert [tuple(p.shape) for p in small.parameters()] == [
        tuple(p.shape) for p in net.module_.parameters()
    ]
    with torch.no_grad():
        next(small.parameters()).zero_()
    assert next(net.module_.parameters()).abs().sum() > 0
    assert copy.deepcopy(small) is not small


# ------------------------------------------------------------------ labels in the history
def test_the_label_encoding_travels_with_the_history_through_save_and_load(data, tmp_path):
    X, y = data
    net = _quiet(_net().fit, X, NAMES[y])
    record = {"classes": ["a", "b", "c"], "names": True, "given": False}
    assert net.history[0, "event_label_encoding"] == record
    f_params, f_history = tmp_path / "params.pt", tmp_path / "history.json"
    net.save_params(f_params=f_params, f_history=f_history)
    new = _net().initialize()
    new.load_params(f_params, f_history=f_history)  # f_params by position, as skorch allows
    np.testing.assert_array_equal(new.predict(X), net.predict(X))  # the names
    assert set(new.predict(X)) <= set(NAMES)
    _quiet(new.partial_fit, X, NAMES[y])  # and takes them
    assert new.history[0, "event_label_encoding"] == record
    assert "event_label_encoding" not in new.history[-1]  # the first row only
    empty = tmp_path / "empty.json"
    _net().initialize().save_params(f_history=empty)  # no epoch: no row, no record
    new.load_params(f_history=empty)
    assert len(new.history) == 0
    assert set(new.predict(X)) <= set(NAMES)  # the labels the net knows stay


def test_a_history_without_the_labels_takes_output_indices_only(data, tmp_path):
    import json

    X, y = data
    net = _quiet(_net().fit, X, NAMES[y])
    f_history = tmp_path / "history.json"
    net.save_params(f_history=f_history)
    rows = json.loads(f_history.read_text())
    del rows[0]["event_label_encoding"]  # as plain skorch saves it
    f_history.write_text(json.dumps(rows))
    new = _net().initialize()
    new.load_params(f_history=f_history)
    seven = np.array(list("abcdefg"))[np.arange(len(y)) % 7]  # the first five shown
    for bad, shown in ((seven, "['a', 'b', 'c', 'd', 'e']"), (y - 1, "[-1, 0, 1]")):
        with pytest.raises(ValueError) as info:
            new.partial_fit(X, bad)
        assert str(info.value) == (
            f"y holds labels {shown}, but this net does not know which module output each "
            "label trained (its history was loaded without them: saved by plain skorch, or "
            "labels with no JSON form). Pass y as output indices 0..n-1, load the history "
            "saved with the params (save_params(f_history=...)), or pickle the net."
        )
    _quiet(new.partial_fit, X, y)  # output indices are taken
    assert set(new.predict(X)) <= {0, 1, 2}


class _FailAt(Callback):
    """Raises once, at the first validation batch (or the end) of epoch ``at``."""

    def __init__(self, at, where="on_batch_begin"):
        self.at, self.where = at, where

    def _maybe(self, net, training):
        if not training and len(net.history) == self.at and not getattr(self, "done_", False):
            self.done_ = True
            raise RuntimeError("boom")

    def on_batch_begin(self, net, training=False, **kwargs):
        if self.where == "on_batch_begin":
            self._maybe(net, training)

    def on_epoch_end(self, net, **kwargs):
        if self.where == "on_epoch_end":
            self._maybe(net, False)


@pytest.mark.parametrize("where", ["on_batch_begin", "on_epoch_end"])
def test_an_error_after_the_step_or_after_the_scores_keeps_the_epochs_row(data, where):
    # an error in validation comes after the pruning step (its row says the module is
    # pruned), one at the epoch's end after the scores: both rows stay; the schedule goes on
    X, y = data
    net = _net(train_split=ValidSplit(4), max_epochs=2, prune_epochs=1, callbacks=[
        ("fail", _FailAt(1 if where == "on_batch_begin" else 2, where)),
    ])
    with pytest.raises(RuntimeError, match="boom"):
        _quiet(net.fit, X, y)
    rows = len(net.history)
    assert rows == (1 if where == "on_batch_begin" else 2)
    assert "pruning_epoch" in net.history[0]
    assert where == "on_batch_begin" or "train_loss" in net.history[-1]
    _quiet(net.partial_fit, X, y)
    assert len(net.history) == rows + 2


def test_compact_reads_the_modules_pruner_after_a_refused_granularity(data):
    X, y = data
    net = _quiet(_tiny(_Logits, sparsity=0.8).fit, X, y)
    small = _quiet(net.compact)
    net.set_params(granularity="channel")
    with pytest.raises(ValueError, match=r"^granularity cannot change"):
        _quiet(net.partial_fit, X, y)
    assert net.pruning_.granularity == "weight"  # the refused setting left it as it was
    net.set_params(callbacks__print_log__keys_ignored="dur")  # rebuilds the callbacks
    again = _quiet(net.compact)
    assert [b for b, _ in again.named_buffers()] == []
    assert [p.shape for p in again.parameters()] == [p.shape for p in small.parameters()]
    fresh = _tiny(_Logits).initialize()  # no pruner yet: the setting's level, weight
    assert [b for b, _ in _quiet(fresh.compact).named_buffers()] == []
