"""Persistence with the pruning callback (issue 18, item 2): skorch's save/load idioms, on a
plain ``NeuralNetClassifier`` with ``ScreeningPruning`` anywhere in its callbacks and on
``ScreeningPrunedNet``, at weight and channel level.

Weight level: masks are not in the state dict (the pruned weights are its zeros), so a pruned
checkpoint loads into the plain module, and masks are re-derived from the zeros on load.
Channel level: the history records which channels went; loading a channel-pruned state dict
into a dense module replays that record first. What cannot work fails with the fix named.
"""

import pickle
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("torch_pruning")
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import Callback, Checkpoint, LoadInitState, TrainEndCheckpoint  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn import ScreeningPruning  # noqa: E402
from skscreen.nn._pruning import find_pruning_callback  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
import _archs  # noqa: E402
from _nets import make_net, make_plain_net  # noqa: E402

# a load that brings the module's state together with its history is no "restore": no
# warning about replaced weights anywhere in these idioms
pytestmark = pytest.mark.filterwarnings("error:The module's weights were replaced:UserWarning")

KINDS = ["plain", "subclass"]
GRANULARITIES = ["weight", "channel"]


@pytest.fixture(scope="module")
def digits():
    d = load_digits_split()
    return d.X_train[:300].astype(np.float32), d.y_train[:300].astype(np.int64)


def _data(digits, granularity):
    X, y = digits
    return (X.reshape(-1, 1, 8, 8) if granularity == "channel" else X), y


def _module(granularity):
    torch.manual_seed(0)
    if granularity == "channel":
        return _archs.ResidualBNCNN(width=8)
    return make_mlp(64, (32,), 10)


def _make(
    kind, granularity, callbacks=(), first=True, max_epochs=3, prune_epochs=2, sparsity=0.5, **kw
):
    """A net of ``kind``; on a plain net the pruning callback goes first or last."""
    common = dict(
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=max_epochs,
        lr=0.05,
        batch_size=64,
        train_split=None,
        verbose=0,
    )
    common.update(kw)
    callbacks = list(callbacks)
    if kind == "subclass":
        return ScreeningPrunedNet(
            _module(granularity),
            granularity=granularity,
            sparsity=sparsity,
            prune_epochs=prune_epochs,
            random_state=0,
            callbacks=callbacks or None,
            **common,
        )
    cb = ScreeningPruning(granularity=granularity, sparsity=sparsity, prune_epochs=prune_epochs)
    cb = ("prune", cb)
    callbacks = [cb] + callbacks if first else callbacks + [cb]
    return NeuralNetClassifier(_module(granularity), callbacks=callbacks, **common)


def _pruning(net):
    return find_pruning_callback(net)  # ScreeningPrunedNet's pruning_ or a plain net's entry


def _sparsity(net):
    """Weight level: the zeros of the module's weights, counted here; channel level: the
    callback's count (kept channels of the prunable units over the dense ones)."""
    if isinstance(net.module_, torch.nn.Sequential):
        weights = [m.weight for m in net.module_.modules() if isinstance(m, torch.nn.Linear)]
        return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    kept, total = _pruning(net).counts(net)
    return 1 - kept / total


def _zeros_are_pruned(net):
    """Every pruned weight is zero (weight level), the module matches its mask count."""
    for m in net.module_.modules():
        mask = get_mask(m)
        if mask is not None and bool((m.weight.detach()[mask == 0] != 0).any()):
            return False
    return True


class _StayZero(Callback):
    def __init__(self, zeros):
        self.zeros = zeros

    def on_epoch_end(self, net, **kwargs):
        state = net.module_.state_dict()
        for key, zero in self.zeros.items():
            assert bool((state[key][zero] == 0).all()), f"pruned weights of {key} revived"


def _proba(net, X):
    return net.predict_proba(X[:64])


def _quiet(fn, *args, **kwargs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


# ---------------------------------------------------------------- save_params / load_params
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_save_params_then_initialize_and_load_params(digits, tmp_path, kind, granularity):
    X, y = _data(digits, granularity)
    src = _make(kind, granularity).fit(X, y)
    assert src.history[-1, "sparsity"] == pytest.approx(0.5, abs=0.05)
    files = dict(
        f_params=tmp_path / "p.pt", f_optimizer=tmp_path / "o.pt", f_history=tmp_path / "h.json"
    )
    src.save_params(**files)
    dst = _make(kind, granularity).initialize()
    if kind == "plain" and granularity == "channel":
        # a plain net's module only learns about pruning from the callback: before any fit,
        # it prepares the module explicitly (docs/pruning.rst)
        _pruning(dst).prepare(dst)
    dst.load_params(**files)
    np.testing.assert_allclose(_proba(dst, X), _proba(src, X), rtol=1e-5, atol=1e-6)
    assert _sparsity(dst) == pytest.approx(_sparsity(src))
    if kind == "subclass":
        assert dst.sparsity_ == pytest.approx(src.sparsity_)
        assert dst.kept_fraction_ == pytest.approx(src.kept_fraction_)
    # training continues from the loaded state: the schedule is over, the pruning stays
    dst.partial_fit(X, y, epochs=1)
    assert dst.history[-1, "pruning_epoch"] == 4
    assert dst.history[-1, "sparsity"] == pytest.approx(src.history[-1, "sparsity"])
    assert _sparsity(dst) == pytest.approx(_sparsity(src)) and _zeros_are_pruned(dst)


@pytest.mark.parametrize("kind", KINDS)
def test_a_state_saved_after_to_torch_prune_loads_into_a_fresh_net(digits, tmp_path, kind):
    # audit (session 9): weight_orig/weight_mask keys (torch.nn.utils.prune's storage) did
    # not load into a fresh net ("Unexpected key(s) ... weight_mask", missing weights)
    X, y = _data(digits, "weight")
    net = _quiet(_make(kind, "weight").fit, X, y)
    if kind == "subclass":
        net.to_torch_prune()
    else:
        from skscreen.pruning.masks import to_torch_prune

        to_torch_prune(net.module_)
    assert any(k.endswith("weight_orig") for k in net.module_.state_dict())
    f = tmp_path / "params.pt"
    net.save_params(f_params=f)
    fresh = _make(kind, "weight").initialize()
    if kind == "plain":  # a plain net learns of the pruning at fit, or here (docs)
        _pruning(fresh).prepare(fresh)
    fresh.load_params(f_params=f)
    np.testing.assert_array_equal(_proba(fresh, X), _proba(net, X))
    assert _sparsity(fresh) == pytest.approx(0.5, abs=0.01)
    assert _pruning(fresh).counts(fresh) == _pruning(net).counts(net)
    _quiet(fresh.partial_fit, X, y)  # training keeps the pruned weights at zero
    assert _zeros_are_pruned(fresh) and _sparsity(fresh) >= 0.49


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_load_params_from_a_checkpoint_without_initialize(digits, tmp_path, granularity):
    # skorch's load_params(checkpoint=...) initialises the net itself
    X, y = _data(digits, granularity)
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    src = _make("subclass", granularity, callbacks=[cp]).fit(X, y)
    dst = _make("subclass", granularity)
    dst.load_params(checkpoint=Checkpoint(dirname=str(tmp_path), monitor=None))
    np.testing.assert_allclose(_proba(dst, X), _proba(src, X), rtol=1e-5, atol=1e-6)
    assert dst.sparsity_ == pytest.approx(src.sparsity_)


def test_weight_level_plain_net_loads_without_initialize_first(digits, tmp_path):
    X, y = _data(digits, "weight")
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    src = _make("plain", "weight", callbacks=[cp]).fit(X, y)
    dst = _make("plain", "weight")
    dst.load_params(checkpoint=Checkpoint(dirname=str(tmp_path), monitor=None))
    np.testing.assert_allclose(_proba(dst, X), _proba(src, X), rtol=1e-5, atol=1e-6)


def test_a_weight_level_checkpoint_loads_into_the_users_plain_module(digits, tmp_path):
    # masks are not in the state dict: the pruned weights are its zeros
    X, y = _data(digits, "weight")
    src = _make("subclass", "weight").fit(X, y)
    src.save_params(f_params=tmp_path / "p.pt")
    plain = make_mlp(64, (32,), 10)
    plain.load_state_dict(torch.load(tmp_path / "p.pt", weights_only=True))  # strict
    Xt = torch.as_tensor(X[:64])
    torch.testing.assert_close(plain.eval()(Xt), src.module_.eval()(Xt))
    weights = [m.weight for m in plain.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros / sum(w.numel() for w in weights) == pytest.approx(src.sparsity_)


def test_masks_follow_the_zeros_of_a_loaded_state(digits, tmp_path):
    # load_params into a net that has pruned already: the masks are the loaded state's
    X, y = _data(digits, "weight")
    dense = _make("subclass", "weight", max_epochs=1, prune_epochs=1, sparsity=0.0).fit(X, y)
    dense.save_params(f_params=tmp_path / "dense.pt", f_history=tmp_path / "dense.json")
    pruned = _make("subclass", "weight").fit(X, y)
    assert pruned.sparsity_ == pytest.approx(0.5, abs=1e-3)
    pruned.load_params(f_params=tmp_path / "dense.pt", f_history=tmp_path / "dense.json")
    assert pruned.sparsity_ == 0.0
    np.testing.assert_allclose(_proba(pruned, X), _proba(dense, X), rtol=1e-6)


# ---------------------------------------------------------------- Checkpoint / LoadInitState
@pytest.mark.parametrize("first", [True, False], ids=["callback-first", "callback-last"])
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_and_load_init_state_resume(digits, tmp_path, kind, granularity, first):
    X, y = _data(digits, granularity)

    def callbacks():
        cp = Checkpoint(dirname=str(tmp_path), monitor=None)
        return [cp, LoadInitState(Checkpoint(dirname=str(tmp_path), monitor=None))]

    def make(max_epochs):
        return _make(kind, granularity, callbacks(), first, max_epochs=max_epochs, prune_epochs=3)

    if kind == "plain" and granularity == "channel" and not first:
        # LoadInitState would load a channel-pruned checkpoint into the dense module before
        # the callback could prepare it: refused on the first run, with the fix
        with pytest.raises(ValueError, match="before LoadInitState"):
            make(2).fit(X, y)
        return
    first_run = _quiet(make(2).fit, X, y)  # stops mid-schedule (warned)
    assert first_run.history[-1, "pruning_epoch"] == 2
    resumed = make(2)
    if granularity == "weight":
        # the checkpoint's pruned weights stay zero through the resumed epochs (checked at
        # each epoch's end before any pruning step, whatever the callback's position)
        saved = torch.load(tmp_path / "params.pt", weights_only=True)
        resumed.callbacks.insert(0, _StayZero({k: v == 0 for k, v in saved.items()}))
    resumed.fit(X, y)
    assert len(resumed.history) == 4
    if first or kind == "subclass":  # ScreeningPrunedNet's callback precedes the user's
        assert resumed.history[:, "pruning_epoch"] == [1, 2, 3, 4]
    else:
        # listed after Checkpoint, the callback prunes after the checkpoint of the epoch is
        # taken: the checkpoint holds the module before epoch 2's pruning and a history row
        # without it, so the resumed run prunes that step at epoch 3
        assert resumed.history[:, "pruning_epoch"] == [1, 2, 3]
        assert "pruning_epoch" not in resumed.history[1]
    assert resumed.history[-1, "sparsity"] == pytest.approx(0.5, abs=0.05)
    assert _sparsity(resumed) == pytest.approx(resumed.history[-1, "sparsity"])
    assert _zeros_are_pruned(resumed)


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_train_end_checkpoint_resume(digits, tmp_path, kind, granularity):
    X, y = _data(digits, granularity)

    def make():
        end = TrainEndCheckpoint(dirname=str(tmp_path))
        return _make(kind, granularity, [end, LoadInitState(end)], max_epochs=2, prune_epochs=3)

    _quiet(make().fit, X, y)
    resumed = make().fit(X, y)
    assert resumed.history[:, "pruning_epoch"] == [1, 2, 3, 4]
    assert _sparsity(resumed) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_load_best_at_weight_level(digits, tmp_path, kind):
    # Checkpoint(load_best=True) loads the best epoch's params and history at train end: the
    # masks, the history and the attributes are that epoch's
    X, y = _data(digits, "weight")
    cp = Checkpoint(
        dirname=str(tmp_path), monitor=lambda net: len(net.history) == 1, load_best=True
    )
    net = _quiet(_make(kind, "weight", [cp], max_epochs=3, prune_epochs=3).fit, X, y)
    assert len(net.history) == 1  # the checkpoint's history
    delivered = _sparsity(net)
    assert 0 < delivered < 0.4
    assert net.history[-1, "sparsity"] == pytest.approx(delivered)
    assert "restored_sparsity" not in net.history[-1]  # the loaded history is the module's
    kept, total = _pruning(net).counts(net)
    assert 1 - kept / total == pytest.approx(delivered)
    assert _zeros_are_pruned(net)


# ---------------------------------------------------------------- pickle
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip_and_continue(digits, kind, granularity):
    X, y = _data(digits, granularity)
    net = _quiet(_make(kind, granularity, prune_epochs=3, max_epochs=2).fit, X, y)
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(_proba(back, X), _proba(net, X))
    back.partial_fit(X, y, epochs=2)
    assert back.history[:, "pruning_epoch"] == [1, 2, 3, 4]
    assert _sparsity(back) == pytest.approx(0.5, abs=0.05) and _zeros_are_pruned(back)


# ---------------------------------------------------------------- what cannot work
def test_channel_state_dict_without_its_history_names_the_fix(digits, tmp_path):
    X, y = _data(digits, "channel")
    _make("subclass", "channel").fit(X, y).save_params(f_params=tmp_path / "p.pt")
    dst = _make("subclass", "channel").initialize()
    with pytest.raises(ValueError, match="f_history"):
        dst.load_params(f_params=tmp_path / "p.pt")


def test_channel_state_from_before_a_removal_into_a_pruned_module_names_the_fix(digits, tmp_path):
    # Checkpoint's files of epoch 1 (before the last removal) into the finished net
    X, y = _data(digits, "channel")
    net = _make("subclass", "channel", max_epochs=1, prune_epochs=3)
    _quiet(net.fit, X, y)
    net.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    _quiet(net.partial_fit, X, y, epochs=2)
    before = _proba(net, X)
    with pytest.raises(ValueError, match="freshly initialised net"):
        net.load_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    np.testing.assert_array_equal(_proba(net, X), before)  # the module is as it was
    # the fix the message names works
    fresh = _make("subclass", "channel").initialize()
    fresh.load_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    assert len(fresh.history) == 1


def test_channel_checkpoint_load_best_of_an_earlier_epoch_names_the_fix(digits, tmp_path):
    # restoring an epoch from before the last channel removal into the smaller module
    X, y = _data(digits, "channel")
    cp = Checkpoint(
        dirname=str(tmp_path), monitor=lambda net: len(net.history) == 1, load_best=True
    )
    net = _make("subclass", "channel", [cp], max_epochs=3, prune_epochs=3)
    with pytest.raises(ValueError, match=r"Checkpoint\(load_best=True\).*EarlyStoppingAfter"):
        _quiet(net.fit, X, y)  # refused before training
    assert len(net.history) == 0
    # without load_best, the checkpoint of that epoch loads into a fresh net
    cp = Checkpoint(dirname=str(tmp_path), monitor=lambda net: len(net.history) == 1)
    _quiet(_make("subclass", "channel", [cp], max_epochs=3, prune_epochs=3).fit, X, y)
    fresh = _make("subclass", "channel")
    fresh.load_params(checkpoint=cp)
    assert fresh.history[:, "pruning_epoch"] == [1]
    assert fresh.sparsity_ == pytest.approx(fresh.history[-1, "sparsity"])


# ------------------------ a plain net with the callback, and mid-epoch pickling (issue 9)
# the issue 9 audit's net: half the weights pruned over the first two of three epochs,
# skorch's plain SGD and batch size
_half_net = partial(make_net, sparsity=0.5, prune_epochs=2, max_epochs=3)


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
    src = _half_net().fit(X, y)
    assert 0.45 < src.sparsity_ < 0.55
    src.save_params(f_params=tmp_path / "p.pt")
    callback = ("prune", ScreeningPruning(sparsity=0.5))
    dst = make_plain_net(max_epochs=0, callbacks=[callback]).fit(X, y)
    dst.load_params(f_params=tmp_path / "p.pt")
    np.testing.assert_array_equal(dst.predict_proba(X), src.predict_proba(X))


def test_checkpoint_and_load_init_state_on_a_plain_net(digits, tmp_path):
    X, y = digits

    def callbacks():
        return [
            ("prune", ScreeningPruning(sparsity=0.5, prune_epochs=2)),
            Checkpoint(dirname=tmp_path, monitor=None),
        ]

    make_plain_net(max_epochs=3, callbacks=callbacks()).fit(X, y)
    load = LoadInitState(Checkpoint(dirname=tmp_path, monitor=None))
    net = make_plain_net(max_epochs=2, callbacks=callbacks() + [load]).fit(X, y)
    # the restored history continues: the schedule is finished, sparsity stays at 0.5
    assert len(net.history) == 5
    assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert _n_pruned_nonzero(net.module_) == 0


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
    _half_net(max_epochs=3, reg_lambda=1e-3, callbacks=[("grab", grab)]).fit(X, y)
    restored = pickle.loads(grab.blobs[0])
    assert len(restored.history) == 2  # pickled during the second epoch
    assert restored.history[0, "pruning_epoch"] == 1
    restored.partial_fit(X, y)
    assert restored.sparsity_ == pytest.approx(0.5, abs=1e-3)
    assert _n_pruned_nonzero(restored.module_) == 0


# ---------------------------------------------------------------- the load hooks as units
# skscreen/nn/_persistence.py's hooks called as torch calls them, with a stand-in for the net
# (its history, optimizer and pruning callback); the known truth is the trained net's own
# state dict (shapes and values) and torch's optimizer and hook registries.
from skscreen.nn._persistence import (  # noqa: E402
    _channel_records,
    _FoldTorchPrune,
    _hook_once,
    _RebuildChannels,
    _ReportLoad,
)


class _Stand:
    """What the hooks read of a skorch net (weakly referenced, as a net is)."""

    def __init__(self, history=(), **attrs):
        self.history = list(history)
        self.__dict__.update(attrs)


@pytest.fixture(scope="module")
def channel_run(digits):
    """A channel-pruned state dict and the history that records its removals."""
    X, y = _data(digits, "channel")
    net = _make("subclass", "channel", max_epochs=2, prune_epochs=2)
    _quiet(net.fit, X, y)
    state = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
    return state, list(net.history)


def _dense():
    torch.manual_seed(1)
    return _archs.ResidualBNCNN(width=8)


def _call(hook, module, state, prefix=""):
    hook(module, state, prefix, {}, True, [], [], [])


def _rebuild(net, module, state):
    """The pre-hook of ``net`` (held here: the hook holds it weakly) called on ``module``."""
    _call(_RebuildChannels(net), module, state)


def _shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


def test_rebuild_hook_replays_the_removals_and_the_optimizer_follows(channel_run):
    state, history = channel_run
    module = _dense()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    net = _Stand(history, optimizer_=optimizer)
    # an entry that is no tensor (a module's extra state) is no shape to rebuild
    _rebuild(net, module, {**state, "extra": "v1"})
    assert _shapes(module.state_dict()) == _shapes(state)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(params) == len(list(module.parameters()))
    assert all(any(p is q for q in module.parameters()) for p in params)
    module.load_state_dict(state)
    # a net without an optimizer (yet): the removals alone
    module = _dense()
    _rebuild(_Stand(history), module, state)
    assert _shapes(module.state_dict()) == _shapes(state)


def test_rebuild_hook_example_on_the_modules_device_and_dtype(channel_run):
    state, history = channel_run
    # torch's default device elsewhere: the traced example follows the module's device
    module = _dense()
    with torch.device("meta"):
        _rebuild(_Stand(history), module, state)
    assert _shapes(module.state_dict()) == _shapes(state)
    assert next(module.parameters()).device.type == "cpu"
    # a float64 run: the example has the recorded dtype
    removals, structure = _channel_records(history)
    history64 = [dict(r) for r in history]
    for row in history64:
        if row.get("event_channel_structure") is not None:
            row["event_channel_structure"] = {**structure, "input_dtype": "float64"}
    module = _dense().double()
    _rebuild(_Stand(history64), module, {k: v.double() for k, v in state.items()})
    assert _shapes(module.state_dict()) == _shapes(state)


def test_rebuild_hook_without_removals_names_the_first_mismatch_and_the_fix(channel_run):
    state, history = channel_run
    first = next(
        (k, tuple(state[k].shape), tuple(v.shape))
        for k, v in _dense().state_dict().items()
        if tuple(state[k].shape) != tuple(v.shape)
    )
    where = f"({first[0]}: {first[1]} saved, {first[2]} in the module)"
    msg = (
        f"The state dict comes from a channel-pruned module {where}, but the net's history "
        "records no channel removal to rebuild its structure from. Load the history with it: "
        "net.load_params(f_params=..., f_history=...) (Checkpoint and LoadInitState save and "
        "load the history by default)."
    )
    # no history; a structure but no removal; removals but no structure
    no_removals = [{k: v for k, v in r.items() if k != "event_pruned_channels"} for r in history]
    no_structure = [
        {k: v for k, v in r.items() if k != "event_channel_structure"} for r in history
    ]
    for hist in ([], no_removals, no_structure):
        module = _dense()
        with pytest.raises(ValueError) as info:
            _rebuild(_Stand(hist), module, state)
        assert str(info.value) == msg
    # a dense state dict, or a dead net: nothing to do
    module = _dense()
    _rebuild(_Stand([]), module, _dense().state_dict())
    _rebuild(None, module, state)
    assert _shapes(module.state_dict()) == _shapes(_dense().state_dict())


def test_rebuild_hook_replay_failure_names_the_cause_and_the_fix(channel_run):
    state, history = channel_run
    removals, _ = _channel_records(history)
    assert len(removals) > 1
    # the record of the first removal only: the rebuilt shapes are not those saved
    short = []
    for row in history:
        row = dict(row)
        if "event_pruned_channels" in row:
            row["event_pruned_channels"] = row["event_pruned_channels"][:1] if not short else []
        short.append(row)
    module = _dense()
    before = _shapes(module.state_dict())
    with pytest.raises(ValueError) as info:
        _rebuild(_Stand(short), module, state)
    text = str(info.value)
    assert text.startswith("Cannot load a channel-pruned state dict into this module (")
    assert ": replaying the history's channel removals on it failed (ValueError: " in text
    assert text.endswith(
        "). The record starts from the dense module, and this one has had channels removed "
        "already (EarlyStopping(load_best=True) or Checkpoint(load_best=True) restoring an "
        "epoch from before the last removal?). Load into a freshly initialised net "
        "(net.initialize(), then load_params), or early-stop with "
        "skscreen.nn.EarlyStoppingAfterPruning, which restores only epochs after the pruning "
        "schedule."
    )
    assert isinstance(info.value.__cause__, ValueError)
    assert _shapes(module.state_dict()) == before  # left as it was


class _Recording(ScreeningPruning):
    """The pruning callback, recording what the hooks tell it."""

    def _state_loaded(self, net):
        self.loaded = [*getattr(self, "loaded", []), net]


class _Pruner:
    def __init__(self, model):
        self.model = model
        self.removed = False

    def remove_hooks(self):
        self.removed = True


def test_rebuild_hook_drops_the_pruner_of_this_module_only(channel_run):
    state, history = channel_run
    for whose, dropped in (("this", True), ("another", False)):
        module = _dense()
        cb = _Recording(granularity="channel").initialize()
        cb.pruner_ = pruner = _Pruner(module if whose == "this" else _dense())
        _rebuild(_Stand(history, pruning_=cb), module, state)
        assert (cb.pruner_ is None) is dropped and pruner.removed is dropped
    module = _dense()  # a callback without a pruner yet, and a net without a callback
    cb = _Recording(granularity="channel").initialize()
    _rebuild(_Stand(history, pruning_=cb), module, state)
    assert cb.pruner_ is None
    _rebuild(_Stand(history), _dense(), state)


def test_report_hook_tells_the_callback_of_the_nets_module_only():
    module = _dense()
    cb = _Recording()
    net = _Stand(pruning_=cb, module_=module)
    _ReportLoad(net)(module, None)
    assert cb.loaded == [net]
    _ReportLoad(net)(_dense(), None)  # another module (an earlier module_)
    bare = _Stand(pruning_=cb)  # held here: the hook holds its net weakly
    _ReportLoad(bare)(module, None)  # a net without module_
    assert cb.loaded == [net]
    alone = _Stand(module_=module)
    _ReportLoad(alone)(module, None)  # a net without the callback
    _ReportLoad(None)(module, None)  # no net: inert


def test_hooks_registered_once_and_rearmed():
    module = _dense()
    first, second = _Stand(), _Stand()
    for hooks, cls, register in (
        (module._load_state_dict_pre_hooks, _RebuildChannels,
         module.register_load_state_dict_pre_hook),
        (module._load_state_dict_post_hooks, _ReportLoad,
         module.register_load_state_dict_post_hook),
    ):
        hook = _hook_once(hooks, cls, register, first)
        assert isinstance(hook, cls) and hook.net is first
        assert _hook_once(hooks, cls, register, second) is hook and hook.net is second
        assert len(hooks) == 1


def test_hooks_pickle_and_copy_inert():
    net = _Stand()
    for cls in (_RebuildChannels, _ReportLoad):
        for back in (pickle.loads(pickle.dumps(cls(net))), __import__("copy").deepcopy(cls(net))):
            assert type(back) is cls and back.net is None


# ---------------------------------------------------------------- labels travel with the history
_LABELS = {
    "1..10": lambda y: y + 1,
    "strings": lambda y: np.array(list("abcdefghij"))[y],
    "classes=names": lambda y: np.array(list("abcdefghij"))[y],
}


def _labelled_net(labels, **kw):
    if labels == "classes=names":
        kw["classes"] = list("abcdefghij")
    params = dict(
        sparsity=0.5, prune_epochs=2, max_epochs=3, lr=0.1, train_split=None, verbose=0,
        random_state=0,
    )
    return ScreeningPrunedNet(make_mlp(64, (32,), 10), **{**params, **kw})


@pytest.mark.parametrize("labels", list(_LABELS))
def test_save_params_then_load_params_keeps_the_labels(digits, tmp_path, labels):
    # predict returned output indices after load_params (score silently 0.08 for 0.37), and
    # partial_fit failed with torch's "Target 10 is out of bounds" or a numpy str TypeError
    X, y = digits
    y = _LABELS[labels](y)
    net = _quiet(_labelled_net(labels).fit, X, y)
    files = dict(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    net.save_params(**files)
    new = _labelled_net(labels)
    new.initialize()
    new.load_params(**files)
    assert np.array_equal(new.classes_, net.classes_)
    assert np.array_equal(new.predict(X), net.predict(X))
    assert new.score(X, y) == net.score(X, y)
    _quiet(new.partial_fit, X, y)  # the labels of the fit are taken again
    assert len(new.history) == 6


def test_a_checkpoint_restores_the_labels_into_a_fresh_net(digits, tmp_path):
    X, y = digits
    names = np.array(list("abcdefghij"))[y]
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
    net = _quiet(_labelled_net("strings", callbacks=[checkpoint]).fit, X, names)
    new = _labelled_net("strings", callbacks=[LoadInitState(checkpoint)])
    _quiet(new.partial_fit, X, names)  # resumes from the checkpoint, labels known
    assert np.array_equal(new.classes_, net.classes_)
    assert set(new.predict(X)) <= set(names.tolist())


def test_a_history_without_the_labels_refuses_labels_naming_the_fix(digits, tmp_path):
    # a history saved without them (plain skorch, or an older file): output indices only,
    # as skorch's predict returns; other labels are refused before anything changes
    import json

    X, y = digits
    names = np.array(list("abcdefghij"))[y]
    net = _quiet(_labelled_net("strings").fit, X, names)
    net.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    rows = json.loads((tmp_path / "h.json").read_text())
    assert rows[0].pop("event_label_encoding") == {
        "classes": list("abcdefghij"), "names": True, "given": False,
    }
    (tmp_path / "h.json").write_text(json.dumps(rows))
    new = _labelled_net("strings")
    new.initialize()
    new.load_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    assert np.array_equal(new.predict(X[:5]), np.argmax(net.predict_proba(X[:5]), 1))
    before = [dict(row) for row in new.history]
    with pytest.raises(ValueError, match="output indices 0..n-1"):
        new.partial_fit(X, names)
    assert [dict(row) for row in new.history] == before
    _quiet(new.partial_fit, X, y)  # output indices are taken


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_state_records_are_not_printed(digits, capsys, granularity):
    # skorch's PrintLog shows event_* keys: the label record and the channel records (dicts)
    # filled the epoch table
    X, y = _data(digits, granularity)
    net = _make("subclass", granularity, verbose=1)
    _quiet(net.fit, X, np.array(list("abcdefghij"))[y])
    out = capsys.readouterr().out
    assert "sparsity" in out and "{" not in out
    assert "label" not in out and "channel" not in out


# ---------------------------------------------------------------- the torch-prune fold hook
def _two_linears():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))


def test_fold_hook_makes_weight_orig_times_mask_the_weight():
    module = _two_linears()
    orig, mask = torch.randn(2, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    state = {"0.weight_orig": orig, "0.weight_mask": mask, "1.weight_orig": orig[:, :2]}
    _FoldTorchPrune()(module, state, "")
    # the mask folded and dropped (the module's state dict holds none); without a mask the
    # weight is weight_orig itself
    assert set(state) == {"0.weight", "1.weight"}
    assert torch.equal(state["0.weight"], orig * mask)
    assert torch.equal(state["1.weight"], orig[:, :2])
    # a module whose state dict holds its mask keeps the mask key
    module[0].register_buffer("weight_mask", torch.ones(2, 3))
    state = {"0.weight_orig": orig, "0.weight_mask": mask}
    _FoldTorchPrune()(module, state, "")
    assert set(state) == {"0.weight", "0.weight_mask"} and state["0.weight_mask"] is mask


def test_fold_hook_leaves_what_is_not_its_own():
    module = _two_linears()
    orig = torch.randn(2, 3)
    # another prefix's key, a layer this module lacks, the plain weight given as well, and
    # a layer pruned with torch's storage here too: each left as it is, the next still folded
    state = {"xy.0.weight_orig": orig}
    _FoldTorchPrune()(module, state, "ab.")
    assert set(state) == {"xy.0.weight_orig"}
    state = {"9.weight_orig": orig, "0.weight_orig": orig}
    _FoldTorchPrune()(module, state, "")
    assert set(state) == {"9.weight_orig", "0.weight"}
    given = torch.zeros(2, 3)
    state = {"0.weight_orig": orig, "0.weight": given}
    _FoldTorchPrune()(module, state, "")
    assert set(state) == {"0.weight_orig", "0.weight"} and state["0.weight"] is given
    torch.nn.utils.prune.identity(module[0], "weight")
    state = {"0.weight_orig": orig, "1.weight_orig": orig[:, :2]}
    _FoldTorchPrune()(module, state, "")
    assert set(state) == {"0.weight_orig", "1.weight"}
    state = {"a.0.weight_orig": orig}  # under a prefix
    _FoldTorchPrune()(_two_linears(), state, "a.")
    assert set(state) == {"a.0.weight"}
