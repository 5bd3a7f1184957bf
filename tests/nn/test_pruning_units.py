"""Every method and event of the ScreeningPruning callback (skscreen/nn/_pruning.py) on tiny
nets, with known truths.

Fast unit tests (the 300 digits of ``digits_300``, the 64-32-10 MLP of ``tests/_nets.py``, one
to four epochs, no validation split unless it is the point) written for the mutation run of
``nn/_pruning.py`` (issue 20). The known truths are counted here from the module itself: the
history row of every pruning epoch against the nonzero weights; the warnings word for word
and when they fire (a schedule left unfinished by EarlyStopping, by max_epochs or by
``partial_fit``; a shortfall once per run; a module that gives every sample the same output);
the batch bookkeeping (labels cleared after each forward pass, regulariser penalties of
training batches only); pickling mid-fit (no hooks, no labels handle, no output width) and
training on after it; ``set_params`` between ``partial_fit`` calls; refusals.
"""

from __future__ import annotations

import copy
import linecache
import os
import pickle
import types
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from _nets import DIGITS_MLP, PRUNING_DEFAULTS, make_net, make_plain_net  # noqa: E402
from skorch import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402
from skorch.dataset import ValidSplit  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.nn import ScreeningPruning, _pruning  # noqa: E402
from skscreen.nn._pruning import _ClearTargets, find_pruning_callback  # noqa: E402
from skscreen.pruning.hooks import _noop_hook_factory  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402
from skscreen.pruning.selection import BudgetShortfallWarning  # noqa: E402

UNDER_MUTMUT = bool(os.environ.get("MUTANT_UNDER_TEST")) or "mutants" in _pruning.__file__
N_PRUNABLE = 64 * 32 + 32 * 10  # the two Linear layers of the digits MLP


def _linears(net):
    return [m for m in net.module_.modules() if isinstance(m, nn.Linear)]


def _nonzero(net):
    """``(kept, total)`` counted from the Linear weights themselves."""
    lin = _linears(net)
    return sum(int((m.weight != 0).sum()) for m in lin), sum(m.weight.numel() for m in lin)


def _caught(fn, *args, **kwargs):
    """Every warning of ``fn(*args, **kwargs)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return caught


def _said(caught, text):
    return [str(w.message) for w in caught if text in str(w.message)]


def _plain(prune, before=(), after=(), **kw):
    """make_plain_net's NeuralNetClassifier (its module built at each fit, from seed 0), with
    ``prune`` as "prune" between the ``before`` and ``after`` callbacks; ``kw`` overrides."""
    torch.manual_seed(0)
    params = dict(DIGITS_MLP, criterion=nn.CrossEntropyLoss, lr=0.1, train_split=None, verbose=0)
    return NeuralNetClassifier(callbacks=[*before, ("prune", prune), *after], **{**params, **kw})


class _Masks(Callback):
    """``(kept, total)`` of nonzero Linear weights at the end of each epoch (list it after
    the pruning callback)."""

    def initialize(self):
        self.rows = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.rows.append(_nonzero(net))


class _StopAt(Callback):
    """Stops training at the end of epoch ``epoch``, as EarlyStopping does (list it before the
    pruning callback: the epoch then ends before it is pruned)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class _RestoreFirst(Callback):
    """Saves the module's state at the end of epoch 1 (before it is pruned, when listed before
    the pruning callback) and loads it back at the end of training (EarlyStopping(load_best))."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 1:
            self.state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        net.module_.load_state_dict(self.state_)


def _unfinished(done, planned, target, kept, total):
    return (
        f"Training stopped after {done} pruning epochs, before the schedule reached "
        f"sparsity={target} (prune_epochs={planned}); the module has sparsity "
        f"{1 - kept / total:.4f} ({kept} of {total} kept). Continue with partial_fit or raise "
        "max_epochs; to early-stop a pruned run, use skscreen.nn.EarlyStoppingAfterPruning."
    )


# ------------------------------------------------------------------ find_pruning_callback
def test_find_pruning_callback_finds_the_nets_own_or_its_entry_or_none():
    assert find_pruning_callback(3) is None  # no __dict__, no callbacks_
    assert find_pruning_callback(object()) is None
    prune = ScreeningPruning()
    net = _plain(prune, before=[("other", Callback())])
    assert find_pruning_callback(net) is None  # not initialised: no callbacks_ yet
    net.initialize()
    assert find_pruning_callback(net) is prune
    assert find_pruning_callback(make_plain_net().initialize()) is None
    own = make_net().initialize()
    assert isinstance(own.pruning_, ScreeningPruning)
    assert find_pruning_callback(own) is own.pruning_
    holder = types.SimpleNamespace(pruning_="not a callback", callbacks_=[("x", 1), ("p", prune)])
    assert find_pruning_callback(holder) is prune
    holder.pruning_ = other = ScreeningPruning()
    assert find_pruning_callback(holder) is other
    holder.callbacks_ = None
    holder.pruning_ = None
    assert find_pruning_callback(holder) is None


# ------------------------------------------------------------------ the history rows (_step)
def test_each_pruning_epoch_records_what_the_masks_are(digits_300):
    X, y = digits_300
    masks = _Masks()
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    net = _plain(prune, after=[masks], max_epochs=3).fit(X, y)
    assert len(masks.rows) == 3
    for epoch, (row, (kept, total)) in enumerate(zip(net.history, masks.rows), 1):
        assert total == N_PRUNABLE
        assert row["pruning_epoch"] == epoch
        assert row["n_kept"] == kept and type(row["n_kept"]) is int
        assert row["n_prunable"] == total and type(row["n_prunable"]) is int
        assert row["sparsity"] == pytest.approx(1 - kept / total, abs=1e-12)
        target = prune.pruner_.target_keep(epoch)
        assert row["target_sparsity"] == pytest.approx(1 - target / total, abs=1e-12)
        assert kept == target  # reachable: the target is met exactly
        assert "penalty" not in row and "restored_sparsity" not in row
    assert N_PRUNABLE // 2 < masks.rows[0][0] < N_PRUNABLE
    assert masks.rows[1][0] == masks.rows[2][0] == N_PRUNABLE // 2
    assert prune.counts(net) == (N_PRUNABLE // 2, N_PRUNABLE)
    fractions = prune.kept_fractions(net)
    assert list(fractions) == ["1", "3"]
    for frac, m in zip(fractions.values(), _linears(net)):
        assert frac == pytest.approx(float((m.weight != 0).float().mean()))


def _shortfalls(caught):
    return [str(w.message) for w in caught if w.category is BudgetShortfallWarning]


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_a_shortfall_is_warned_once_per_run_with_the_callbacks_settings(digits_300, scope):
    X, y = digits_300
    masks = _Masks()
    prune = ScreeningPruning(sparsity=0.999, prune_epochs=2, scope=scope)
    net = _plain(prune, after=[masks], max_epochs=3)
    caught = _caught(net.fit, X, y)
    (message,) = _shortfalls(caught)  # once, although every later epoch falls short again
    epoch = 2  # the first step (logistic) reaches about half
    kept, total = masks.rows[epoch - 1]
    fixes = "leave the classifier head dense with ignored_layers=['3']"
    fixes += ", use scope='global' or " if scope == "layer" else " or "
    assert message.startswith("sparsity=0.999 cannot be reached on this module: ")
    assert message.endswith(
        f"After epoch {epoch} the module has sparsity {1 - kept / total:.4f} ({kept} of "
        f"{total} kept). To prune further, {fixes}use a larger module."
    )
    assert caught[[str(w.message) for w in caught].index(message)].filename.endswith(".py")
    last = net.history[-1]
    # the row states the target the schedule asked for, and what was reached
    assert last["target_sparsity"] == pytest.approx(1 - round(0.001 * N_PRUNABLE) / N_PRUNABLE)
    assert last["sparsity"] == pytest.approx(1 - masks.rows[-1][0] / N_PRUNABLE)
    assert last["sparsity"] < last["target_sparsity"] - 0.003
    # a fresh fit is a fresh run: warned again, once
    assert len(_shortfalls(_caught(net.fit, X, y))) == 1
    # a callback made anew on the recorded history (set_params) warns on its first shortfall
    net.set_params(callbacks__prune=ScreeningPruning(sparsity=0.999, prune_epochs=2, scope=scope))
    assert len(_shortfalls(_caught(net.partial_fit, X, y, epochs=2))) == 1


def test_no_shortfall_no_warning_and_other_warnings_pass(digits_300):
    X, y = digits_300
    net = _plain(ScreeningPruning(sparsity=0.5, prune_epochs=1), max_epochs=2)
    assert _shortfalls(_caught(net.fit, X, y)) == []


# ------------------------------------------------------------------ batches (on_batch_*)
class _Penalties(Callback):
    """What the pruning callback holds after each batch (list it after the pruning)."""

    def __init__(self, prune):
        self.prune = prune

    def initialize(self):
        self.train = {}
        self.targets_after = []
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        p = self.prune
        if training:
            epoch = len(net.history)
            self.train.setdefault(epoch, []).append(p.regularizer_.penalty_value())
            self.targets_after.append(p.pruner_.recorder._targets)


def test_the_penalty_is_the_mean_over_the_training_batches(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2, reg_lambda=1e-2)
    seen = _Penalties(prune)
    net = _plain(prune, after=[seen], max_epochs=2, train_split=ValidSplit(5))
    net.fit(X, y)
    n_train = -(-240 // 128)  # 240 training rows, 60 validation rows, batches of 128
    assert {e: len(v) for e, v in seen.train.items()} == {1: n_train, 2: n_train}
    assert len(prune._penalties) == n_train  # training batches only, of the last epoch
    for epoch in (1, 2):
        values = seen.train[epoch]
        assert all(v > 0 for v in values) and len(set(values)) > 1
        assert net.history[epoch - 1, "penalty"] == pytest.approx(np.mean(values), rel=1e-12)
    # the labels of a training batch are cleared once it went through
    assert len(seen.targets_after) == 2 * n_train
    assert all(t is None for t in seen.targets_after)


class _TargetsDuringForward(Callback):
    """The labels the recorder holds at each training forward pass, and what holds them."""

    def __init__(self, prune):
        self.prune = prune

    def initialize(self):
        self.during = []
        self.handles = []
        return self

    def on_train_begin(self, net, **kwargs):
        net.module_.register_forward_pre_hook(self._pre)

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.handles.append(self.prune._targets_handle)

    def _pre(self, module, inputs):
        if module.training and self.prune.pruner_ is not None:
            rec = self.prune.pruner_.recorder
            t = None if rec is None or rec._targets is None else rec._targets.clone()
            self.during.append(t)


def test_labels_reach_the_first_forward_pass_of_each_training_batch_only(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    watch = _TargetsDuringForward(prune)
    # LBFGS evaluates its closure several times per step: only the first pass has labels
    net = _plain(
        prune,
        after=[watch],
        max_epochs=2,
        optimizer=torch.optim.LBFGS,
        optimizer__max_iter=3,
        lr=0.5,
        batch_size=100,
    )
    net.fit(X, y)
    epoch1 = watch.during[: len(watch.during) // 2]  # roughly the first epoch's passes
    labelled = [t for t in watch.during if t is not None]
    assert len(labelled) == 3  # epoch 1 only (the schedule is done after it), once a batch
    for i, t in enumerate(labelled):
        np.testing.assert_array_equal(t.numpy(), y[100 * i : 100 * (i + 1)])
    assert any(t is None for t in epoch1)  # the closure's later passes
    handles = [h for h in watch.handles if h is not None]
    assert len(handles) == 3 and len({id(h) for h in handles}) == 1  # registered once
    assert prune._targets_handle is None  # removed at the epoch's end
    assert not net.module_._forward_hooks  # no hook left on the module


def test_clear_targets_acts_in_training_only_and_pickles_as_a_noop():
    class _Rec:
        targets = "y"
        recorder = None

        def set_targets(self, y):
            self.targets = y

    rec = _Rec()
    hook = _ClearTargets(rec)
    module = nn.Linear(2, 2).eval()
    hook(module, None, None)
    assert rec.targets == "y"
    hook(module.train(), None, None)
    assert rec.targets is None
    # a forward pass that recorded nothing (another batch size) leaves the labels
    rec.targets, rec.recorder = "y", types.SimpleNamespace(recorded=False)
    hook(module, None, None)
    assert rec.targets == "y"
    rec.recorder.recorded = True
    hook(module, None, None)
    assert rec.targets is None
    assert hook.__reduce__() == (_noop_hook_factory, ())
    assert callable(pickle.loads(pickle.dumps(hook)))


def test_validation_batches_do_not_touch_the_labels(digits_300):
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    net = _plain(prune, max_epochs=1)
    net.fit(*digits_300)
    prune.pruner_.attach_hooks()
    prune.pruner_.set_targets(torch.zeros(3, dtype=torch.long))
    prune.on_batch_begin(net, batch=(torch.zeros(3, 64), torch.ones(3)), training=False)
    prune.on_batch_end(net, batch=None, training=False, y_pred=torch.zeros(3, 10))
    assert prune.pruner_.recorder._targets.tolist() == [0, 0, 0]
    assert prune._targets_handle is None
    prune.on_batch_end(net, batch=None, training=True, y_pred=torch.zeros(3, 10))
    assert prune.pruner_.recorder._targets is None
    prune._remove_epoch_hooks()


class _Hooked(Callback):
    """Counts, per epoch, the training batches in which a submodule had a forward hook."""

    def initialize(self):
        self.hooked = {}
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            e = len(net.history)
            inner = [m for m in net.module_.modules() if m is not net.module_]
            self.hooked[e] = self.hooked.get(e, 0) + any(m._forward_hooks for m in inner)


def test_statistics_are_recorded_in_pruning_epochs_only(digits_300):
    X, y = digits_300
    hooked = _Hooked()
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    net = _plain(prune, after=[hooked], max_epochs=4).fit(X, y)
    assert hooked.hooked == {1: 3, 2: 3, 3: 0, 4: 0}
    net.set_params(callbacks__prune__sparsity=0.7)
    hooked.hooked.clear()
    net.partial_fit(X, y, epochs=1)  # asks for more: records again, and prunes
    assert hooked.hooked == {5: 3}
    assert net.history[-1, "n_kept"] == _nonzero(net)[0] == round(0.3 * N_PRUNABLE)


# ------------------------------------------------------------------ the same-outputs warning
class _Blind(nn.Module):
    """The digits MLP that reads nothing of its input: every sample gets the same output."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, X):
        return self.fc2(torch.relu(self.fc1(X * 0)))


def _blind_net(**kw):
    torch.manual_seed(0)
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2, scorer="magnitude")
    return NeuralNetClassifier(
        _Blind,
        criterion=nn.CrossEntropyLoss,
        lr=0.1,
        verbose=0,
        callbacks=[("prune", prune)],
        **{"train_split": None, "max_epochs": 4, **kw},
    )


def test_same_outputs_are_warned_once_in_the_first_epoch_after_the_schedule(digits_300):
    X, y = digits_300
    net = _blind_net()
    caught = _caught(net.fit, X, y)
    same = [w for w in caught if "same output" in str(w.message)]
    assert len(same) == 1  # epoch 3; not again in epoch 4 (the same pruned state)
    kept, total = _nonzero(net)
    assert (kept, total) == (N_PRUNABLE // 2, N_PRUNABLE)
    assert str(same[0].message) == (
        f"In epoch 3, after pruning to sparsity {1 - kept / total:.4f} ({kept} of {total} "
        "kept), the module gave the same output to every sample of each training batch (300 "
        "samples): no input-output path is left (or none is active), so it cannot tell "
        "samples apart. Lower sparsity, use scope='layer' (every layer keeps its share), or a "
        "larger module."
    )
    assert same[0].category is UserWarning
    # attributed to the caller of the check (stacklevel=2): on_epoch_end, or under mutmut the
    # trampoline that calls every function of the mutated module
    where = linecache.getline(same[0].filename, same[0].lineno)
    if UNDER_MUTMUT:  # the trampoline's call of the method, not its wrapper's call
        assert same[0].filename.endswith(os.path.join("mutation", "trampoline.py"))
        assert "_func(*call_args" in where
    else:
        assert same[0].filename.endswith("_pruning.py")
        assert where.strip() == "self._warn_if_same_outputs(net)"
    pruning = find_pruning_callback(net)
    assert pruning._paths_checked_at == kept and pruning._watch is None
    # a later call with the same masks says nothing more
    assert _said(_caught(net.partial_fit, X, y, epochs=1), "same output") == []


def test_same_outputs_of_the_validation_batches(digits_300):
    X, y = digits_300
    net = _blind_net(max_epochs=3, train_split=ValidSplit(5))
    (message,) = _said(_caught(net.fit, X, y), "same output")
    assert "the same output to all 60 validation samples:" in message
    assert message.startswith("In epoch 3, after pruning to sparsity 0.5000 (1184 of 2368 kept)")


def test_no_same_outputs_claim_before_the_schedule_is_done_or_when_outputs_differ(digits_300):
    X, y = digits_300
    assert _said(_caught(_blind_net(max_epochs=2).fit, X, y), "same output") == []
    net = _plain(ScreeningPruning(sparsity=0.5, prune_epochs=1), max_epochs=2)
    assert _said(_caught(net.fit, X, y), "same output") == []


# ------------------------------------------------------------------ on_train_end
def test_an_unfinished_schedule_is_warned_with_the_modules_figures(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=3)
    net = _plain(prune, max_epochs=1)
    caught = _caught(net.fit, X, y)
    kept, total = _nonzero(net)
    assert 0 < 1 - kept / total < 0.5
    assert _said(caught, "Training stopped") == [_unfinished(1, 3, 0.5, kept, total)]
    assert not prune.schedule_done(net)
    # partial_fit continuing: still short after one more epoch, then done
    caught = _caught(net.partial_fit, X, y, epochs=1)
    kept, total = _nonzero(net)
    assert _said(caught, "Training stopped") == [_unfinished(2, 3, 0.5, kept, total)]
    assert not prune.schedule_done(net)
    assert _said(_caught(net.partial_fit, X, y, epochs=1), "Training stopped") == []
    assert prune.schedule_done(net)  # done == planned
    assert _nonzero(net)[0] == N_PRUNABLE // 2
    # a call that runs no epoch says nothing, records nothing
    n_rows = len(net.history)
    net.set_params(callbacks__prune__prune_epochs=6)
    assert _said(_caught(net.partial_fit, X, y, epochs=0), "Training stopped") == []
    assert len(net.history) == n_rows
    assert not prune.schedule_done(net)


def test_schedule_done_counts_pruning_epochs_against_prune_epochs(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5)  # prune_epochs=None: half of max_epochs
    net = _plain(prune, max_epochs=4)
    net.initialize()
    assert not prune.schedule_done(net)
    net.fit(X, y)
    assert prune.schedule_done(net)
    net.history = net.history[:2]
    assert prune.schedule_done(net)  # 2 of 2
    net.history = net.history[:1]
    assert not prune.schedule_done(net)


def test_early_stopping_before_the_pruning_records_the_modules_state(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=3)
    net = _plain(prune, before=[("stop", _StopAt(2))], max_epochs=5)
    caught = _caught(net.fit, X, y)
    assert len(net.history) == 2
    kept, total = _nonzero(net)
    last = net.history[-1]
    assert "pruning_epoch" not in last  # not a pruning epoch
    assert last["n_kept"] == kept and type(last["n_kept"]) is int
    assert last["n_prunable"] == total == N_PRUNABLE and type(last["n_prunable"]) is int
    assert last["sparsity"] == pytest.approx(1 - kept / total, abs=1e-12) and 0 < kept < total
    assert type(last["sparsity"]) is float
    assert net.history[0, "n_kept"] == kept  # what epoch 1 left
    assert _said(caught, "Training stopped") == [_unfinished(1, 3, 0.5, kept, total)]


def test_a_restored_state_keeps_the_recorded_row(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = _plain(prune, before=[("restore", _RestoreFirst())], max_epochs=2)
    caught = _caught(net.fit, X, y)
    last = net.history[-1]
    assert _nonzero(net) == (N_PRUNABLE, N_PRUNABLE)  # epoch 1's weights, before pruning
    assert last["sparsity"] == pytest.approx(0.5) and last["n_kept"] == N_PRUNABLE // 2
    assert last["restored_sparsity"] == 0.0 and last["restored_n_kept"] == N_PRUNABLE
    assert len(_said(caught, "weights were replaced")) == 1
    assert _said(caught, "Training stopped") == []


def test_a_mask_policy_has_no_schedule_to_finish(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(scorer="extreme-value", prune_epochs=3, random_state=0)
    net = _plain(prune, max_epochs=1)
    caught = _caught(net.fit, X, y)
    assert prune.pruner_.decides_masks
    assert _said(caught, "Training stopped") == []
    row = net.history[-1]
    assert row["target_sparsity"] == row["sparsity"]  # it sets its own sparsity


def test_nothing_happens_without_a_training_epoch(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=3)
    net = _plain(prune, max_epochs=0)
    assert _said(_caught(net.fit, X, y), "Training stopped") == []
    assert prune.pruner_ is None and len(net.history) == 0
    prune.on_train_end(net)  # no pruner: nothing to say
    # a pruner from an earlier call, and a call that runs no epoch
    net.partial_fit(X, y, epochs=1)
    n_kept = net.history[-1, "n_kept"]
    del net.history[-1]["sparsity"]
    assert _said(_caught(net.partial_fit, X, y, epochs=0), "Training stopped") == []
    assert "sparsity" not in net.history[-1] and net.history[-1, "n_kept"] == n_kept


# ------------------------------------------------------------------ settings between calls
@pytest.mark.parametrize("prune_epochs", [None, 2])
def test_set_params_between_partial_fit_calls_retargets_the_pruner(digits_300, prune_epochs):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=prune_epochs)
    net = _plain(prune, max_epochs=4)
    net.fit(X, y)
    assert _nonzero(net)[0] == N_PRUNABLE // 2
    pruner = prune.pruner_
    net.set_params(callbacks__prune__sparsity=0.75, callbacks__prune__scope="layer")
    net.partial_fit(X, y, epochs=1)
    assert prune.pruner_ is pruner  # the same pruner, retargeted
    assert pruner.sparsity == 0.75 and pruner.scope == "layer"
    assert pruner.prune_epochs == 2
    assert _nonzero(net)[0] == N_PRUNABLE // 4
    for m in _linears(net):  # the same share in every layer
        assert float((m.weight != 0).float().mean()) == pytest.approx(0.25, abs=0.01)
    net.set_params(max_epochs=8, callbacks__prune__scorer="magnitude")
    net.partial_fit(X, y, epochs=1)
    assert pruner.prune_epochs == (4 if prune_epochs is None else 2)
    assert type(pruner.scorer).__name__ == "MagnitudeScorer"


def test_a_structural_setting_cannot_change_after_pruning_started(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    net = _plain(prune, max_epochs=1)
    net.fit(X, y)
    net.set_params(callbacks__prune__ignored_layers=["3"])
    with pytest.raises(ValueError, match=r"^ignored_layers cannot change once pruning"):
        net.partial_fit(X, y)
    net.fit(X, y)  # a fresh start takes it
    assert get_mask(_linears(net)[1]) is None


def test_a_refused_granularity_change_leaves_the_callback_describing_the_module(digits_300):
    # the refused partial_fit had pushed granularity="channel" to the callback, and compact()
    # then returned the masked module as it was (no smaller network, masks attached)
    X, y = digits_300
    net = make_net(sparsity=0.8, prune_epochs=2, max_epochs=2)
    net.fit(X, y)
    small = net.compact()
    net.set_params(granularity="channel")
    with pytest.raises(ValueError, match=r"^granularity cannot change once pruning"):
        net.partial_fit(X, y)
    assert net.pruning_.granularity == "weight" and len(net.history) == 2
    again = net.compact()
    assert [b for b, _ in again.named_buffers()] == []  # masks folded, as before
    assert [p.shape for p in again.parameters()] == [p.shape for p in small.parameters()]
    X_t = torch.as_tensor(X[:32])
    assert torch.equal(again(X_t), small(X_t))
    net.set_params(granularity="weight")
    net.partial_fit(X, y)  # the schedule goes on
    assert len(net.history) == 4


def test_a_regression_net_is_refused():
    X = np.zeros((8, 64), dtype=np.float32)
    torch.manual_seed(0)
    net = NeuralNetRegressor(
        nn.Linear(64, 1),
        train_split=None,
        verbose=0,
        max_epochs=1,
        callbacks=[("prune", ScreeningPruning())],
    )
    with pytest.raises(ValueError) as info:
        net.fit(X, np.zeros((8, 1), dtype=np.float32))
    assert str(info.value) == (
        "ScreeningPruning ranks by per-class statistics and needs class-index targets (a "
        "classifier); NeuralNetRegressor with criterion=MSELoss is a regression net."
    )
    with pytest.raises(ValueError, match="criterion=L1Loss is a regression net"):
        _plain(ScreeningPruning(), criterion=nn.L1Loss, max_epochs=1).fit(
            X, np.zeros(8, dtype=np.int64)
        )


def test_a_fresh_fit_starts_from_a_dense_module_and_drops_the_old_pruner(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1, reg_lambda=1e-3)
    net = _plain(prune, max_epochs=1)
    net.fit(X, y)
    old, old_reg = prune.pruner_, prune.regularizer_
    module = net.module_
    assert _nonzero(net)[0] == N_PRUNABLE // 2
    prune.on_train_begin(net)  # an empty history is a fresh pruning state
    net.history.clear()
    prune.on_train_begin(net)
    assert prune.pruner_ is None and prune.regularizer_ is None
    assert all(float(get_mask(m).mean()) == 1.0 for m in _linears(net))
    assert not prune._enforcer.attached
    assert old.recorder is None or not old.recorder.attached
    assert old_reg is not None
    assert net.module_ is module


def test_a_module_pruned_elsewhere_is_taken_up_from_its_zeros(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    net = _plain(prune, max_epochs=1)
    net.fit(X, y)
    kept = _nonzero(net)[0]
    # the same history and weights on a new module instance (load_params into a fresh net)
    state = copy.deepcopy(net.module_.state_dict())
    net.initialize_module()
    net.module_.load_state_dict(state, strict=False)
    net.initialize_optimizer()
    net.partial_fit(X, y, epochs=1)
    assert prune.pruner_.model is net.module_
    assert _nonzero(net)[0] == N_PRUNABLE // 2 < kept


# ------------------------------------------------------------------ enforcement
def test_pruned_weights_stay_zero_under_momentum(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = _plain(prune, max_epochs=3, optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    net.fit(X, y)
    for m in _linears(net):
        assert torch.equal(m.weight != 0, get_mask(m).bool())
    assert prune._enforcer.attached


class _OwnSGD(torch.optim.SGD):
    """An optimizer from outside torch.optim: the enforcer adds its step post-hook."""


def test_an_accelerate_wrapped_optimizer_is_hooked_through_its_inner_one(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = _plain(prune, max_epochs=2, optimizer=_OwnSGD, optimizer__momentum=0.9)
    net.fit(X, y)
    for m in _linears(net):
        assert torch.equal(m.weight != 0, get_mask(m).bool())
    inner = net.optimizer_
    assert len(inner._optimizer_step_post_hooks) == 1

    class _Wrapped:  # no hook registry of its own (accelerate's AcceleratedOptimizer)
        optimizer = inner

    prune._enforcer.remove()
    assert len(inner._optimizer_step_post_hooks) == 0 and not prune._enforcer.attached
    prune._attach_enforcement(types.SimpleNamespace(optimizer_=_Wrapped()))
    assert len(inner._optimizer_step_post_hooks) == 1
    prune._attach_enforcement(types.SimpleNamespace())  # no optimizer: gradient hooks only
    assert len(inner._optimizer_step_post_hooks) == 0 and prune._enforcer.attached


# ------------------------------------------------------------------ kept_fractions
class _Tied(nn.Module):
    """Two Linear modules sharing one weight: one unit for the pruner, two modules."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 16)
        self.b = nn.Linear(64, 16)
        self.b.weight = self.a.weight
        self.head = nn.Linear(16, 10)

    def forward(self, X):
        return self.head(torch.relu(self.a(X) + self.b(X)))


def test_kept_fractions_are_the_pruners_units(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        _Tied,
        criterion=nn.CrossEntropyLoss,
        train_split=None,
        verbose=0,
        max_epochs=1,
        callbacks=[("prune", prune)],
    ).fit(X, y)
    fractions = prune.kept_fractions(net)
    assert list(fractions) == ["a", "head"]  # the tied pair counted once
    assert fractions["a"] == pytest.approx(float((net.module_.a.weight != 0).float().mean()))
    kept = int((net.module_.a.weight != 0).sum()) + int((net.module_.head.weight != 0).sum())
    assert prune.counts(net) == (kept, 64 * 16 + 160) and kept == (64 * 16 + 160) // 2


# ------------------------------------------------------------------ pickling (__getstate__)
class _PickleMidEpoch(Callback):
    """Pickles the net at its first training batch (the labels handle then exists)."""

    def initialize(self):
        self.blob = None
        self.state = None
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and self.blob is None:
            prune = find_pruning_callback(net)
            self.handle = prune._targets_handle
            prune.output_width_seen(net.module_, 10)  # a weak reference: not picklable
            self.state = prune.__getstate__()
            self.blob = pickle.dumps(net)


@pytest.mark.parametrize("own", [True, False])
def test_a_net_pickled_mid_fit_has_no_hooks_and_trains_on(digits_300, own):
    X, y = digits_300
    snap = _PickleMidEpoch()
    if own:
        net = make_net(sparsity=0.5, prune_epochs=2, max_epochs=2, callbacks=[snap])
    else:
        net = _plain(ScreeningPruning(sparsity=0.5, prune_epochs=2), after=[snap], max_epochs=2)
    net.fit(X, y)
    prune = find_pruning_callback(net)
    assert snap.handle is not None  # the live callback had one
    state = snap.state
    assert state["_targets_handle"] is None and "_output_width" not in state
    assert set(state) == set(prune.__dict__) - {"_output_width"}
    assert prune._output_width[1] == 10 and prune._output_width[0]() is net.module_
    back = pickle.loads(snap.blob)
    bp = find_pruning_callback(back)
    assert bp._targets_handle is None and not hasattr(bp, "_output_width")
    if own:  # ScreeningPrunedNet rebinds its callback; a plain net's rebuilds at its first batch
        assert bp.pruner_.model is back.module_
    hooks = list(back.module_._forward_hooks.values())  # _ClearTargets pickled as a no-op
    assert len(hooks) == 1 and not isinstance(hooks[0], _ClearTargets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back.partial_fit(X, y, epochs=2)
    assert back.history[-1, "n_kept"] == _nonzero(back)[0] == N_PRUNABLE // 2
    assert bp.pruner_.model is back.module_


def test_a_pickled_callback_after_fit_rebinds_and_trains_on(digits_300):
    X, y = digits_300
    net = make_net(sparsity=0.5, prune_epochs=2, reg_lambda=1e-3, max_epochs=1).fit(X, y)
    back = pickle.loads(pickle.dumps(net))
    bp = find_pruning_callback(back)
    assert bp is back.pruning_
    assert bp.pruner_.model is back.module_
    layers = dict(bp.pruner_.layers)
    assert {id(m) for m in bp.regularizer_.modules.values()} == {id(m) for m in layers.values()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back.partial_fit(X, y, epochs=1)
    assert back.history[-1, "sparsity"] == pytest.approx(0.5)
    assert bp.schedule_done(back)


# ------------------------------------------------------------------ the output width
def test_an_output_width_seen_spares_the_probe_pass(digits_300):
    X, y = digits_300
    y = y % 3  # three classes of ten outputs

    def fit(seen):
        prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
        net = _plain(prune, max_epochs=1).initialize()
        calls = []
        net.module_.register_forward_pre_hook(lambda m, i: calls.append(m.training))
        if seen is not None:
            prune.output_width_seen(net.module_ if seen else nn.Linear(1, 1), 10)
        net.partial_fit(X, y)
        return prune, calls

    prune, calls = fit(seen=True)
    assert prune._output_width[1] == 10
    assert prune.pruner_.n_classes == 10
    assert calls.count(False) == 0  # no probe pass
    for seen in (None, False):  # nothing seen, or another module's width: probed
        prune, calls = fit(seen)
        assert prune.pruner_.n_classes == 10
        assert calls.count(False) == 1
    assert prune.example_inputs_.shape == (8, 64)


def test_a_plain_net_trains_and_prunes_with_the_callback(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.8, prune_epochs=2)
    net = _plain(prune, max_epochs=3).fit(X, y)
    assert net.history[-1, "sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert prune.initialize() is prune and prune.pruner_ is not None  # kept on initialize
    assert net.predict(X).shape == y.shape


# ------------------------------------------------------------------ channel level
class _BN(nn.Module):
    """64 -> 16 (BatchNorm, 16 prunable channels) -> 10."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 16)
        self.bn = nn.BatchNorm1d(16)
        self.out = nn.Linear(16, 10)

    def forward(self, X):
        return self.out(torch.relu(self.bn(self.fc(X))))


def test_channel_level_rows_name_what_went_and_the_net_pickles(digits_300):
    pytest.importorskip("torch_pruning")
    from skscreen import ScreeningPrunedNet

    X, y = digits_300
    torch.manual_seed(0)
    net = ScreeningPrunedNet(
        _BN,
        granularity="channel",
        post_relu=True,
        gamma_l1=1e-3,
        sparsity=0.25,
        prune_epochs=1,
        max_epochs=2,
        lr=0.1,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, y)
    prune = net.pruning_
    assert prune.pruner_.post_relu is True
    assert net.module_.bn.num_features == 12 and net.module_.fc.out_features == 12
    first, second = net.history
    assert (first["n_kept"], first["n_prunable"], second["n_kept"]) == (12, 16, 12)
    assert first["sparsity"] == second["sparsity"] == 0.25
    assert first["event_channels"] == second["event_channels"] == {"bn": 12}
    structure = first["event_channel_structure"]
    assert structure["input_shape"] == [64] and structure["input_dtype"] == "float32"
    assert structure["initial_channels"] == {"bn": 16}
    ((name, _, removed),) = first["event_pruned_channels"]
    assert name == "bn" and len(removed) == 4 and len(set(removed)) == 4 and max(removed) < 16
    assert "event_pruned_channels" not in second and "event_channel_structure" not in second
    assert first["penalty"] > 0 and second["penalty"] > 0
    assert prune.kept_fractions(net) == {"bn": 0.75}
    assert prune.counts(net) == (12, 16)
    back = pickle.loads(pickle.dumps(net))
    bp = back.pruning_
    assert bp.pruner_.model is back.module_
    assert list(bp.regularizer_.modules.values()) == [back.module_.bn]
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    back.partial_fit(X, y)
    assert back.history[-1, "n_kept"] == 12
    # a dense module in place of the pruned one (the pruner no longer bound): read from it
    net.initialize_module()
    assert prune.counts(net) == (16, 16) and prune.kept_fractions(net) == {"bn": 1.0}


def test_channel_level_refuses_early_stopping_that_restores_its_best_epoch(digits_300):
    pytest.importorskip("torch_pruning")
    from skorch.callbacks import EarlyStopping

    prune = ScreeningPruning(granularity="channel", sparsity=0.25, prune_epochs=1)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        _BN,
        criterion=nn.CrossEntropyLoss,
        train_split=None,
        verbose=0,
        max_epochs=1,
        callbacks=[("stop", EarlyStopping(monitor="train_loss", load_best=True)), prune],
    )
    with pytest.raises(ValueError, match=r"^EarlyStopping\(load_best=True\) would restore"):
        net.fit(*digits_300)


def test_a_net_without_an_optimizer_steps_with_none(digits_300):
    # the callback asks getattr(net, "optimizer_", None): a net-like object without one (a
    # custom loop) is pruned, its step given no optimizer
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    net = _plain(prune, max_epochs=1).fit(X, y)
    stub = types.SimpleNamespace(module_=net.module_, history=net.history, device="cpu")
    net.history.new_epoch()
    prune.on_epoch_begin(stub)
    Xb, yb = torch.as_tensor(X), torch.as_tensor(y)
    prune.on_batch_begin(stub, batch=(Xb, yb), training=True)
    net.module_.train()(Xb)  # the custom loop's training forward pass
    prune.on_batch_end(stub, batch=(Xb, yb), training=True, y_pred=None)
    prune.on_epoch_end(stub)
    assert net.history[-1, "pruning_epoch"] == 2
    assert net.history[-1, "n_kept"] == _nonzero(net)[0] == N_PRUNABLE // 2
    assert prune._enforcer.attached


# ------------------------------------------------------------------ settings and set-up


def test_the_documented_defaults_and_every_setting_kept():
    assert ScreeningPruning().get_params() == PRUNING_DEFAULTS
    ScreeningPruning().check_params()
    given = dict(
        alpha=0.5,
        sparsity=0.7,
        schedule="cubic",
        prune_epochs=3,
        scope="layer",
        normalize="rank",
        normalize_scope="global",
        scorer="magnitude",
        granularity="channel",
        layer_types=(nn.Linear,),
        ignored_layers=["fc"],
        post_relu=True,
        reg_lambda=0.5,
        gamma_l1=0.25,
        random_state=7,
    )
    assert ScreeningPruning(**given).get_params() == given


def test_on_train_begin_of_a_callback_never_initialised(digits_300):
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = make_plain_net(max_epochs=1).initialize()  # no other pruning callback: refused
    assert not hasattr(prune, "_enforcer")
    prune.on_train_begin(net)
    assert prune.pruner_ is None and prune._targets_handle is None
    enforcer = prune._enforcer
    assert prune.initialize() is prune and prune._enforcer is enforcer  # kept


def test_a_regressor_is_refused_whatever_its_criterion():
    X = np.zeros((8, 64), dtype=np.float32)
    net = NeuralNetRegressor(
        nn.Linear(64, 3),
        criterion=nn.CrossEntropyLoss,
        train_split=None,
        verbose=0,
        max_epochs=1,
        callbacks=[ScreeningPruning()],
    )
    with pytest.raises(ValueError, match="NeuralNetRegressor with criterion=CrossEntropyLoss is"):
        net.fit(X, np.zeros(8, dtype=np.int64))


def test_the_structural_change_is_refused_word_for_word(digits_300):
    X, y = digits_300
    net = _plain(ScreeningPruning(sparsity=0.5, prune_epochs=2), max_epochs=1).fit(X, y)
    net.set_params(callbacks__prune__layer_types=(nn.Linear,))
    with pytest.raises(ValueError) as info:
        net.partial_fit(X, y)
    assert str(info.value) == (
        "layer_types cannot change once pruning has started (the pruner was built with "
        "layer_types=None); call fit() to start again."
    )


class _MasksAtStart(Callback):
    """The masks of the Linear layers when training starts (list it after the pruning)."""

    def on_train_begin(self, net, **kwargs):
        self.masks = [None if get_mask(m) is None else get_mask(m).clone() for m in _linears(net)]


def test_a_pruned_state_loaded_without_masks_takes_its_zeros_as_masks(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    start = _MasksAtStart()
    net = _plain(prune, after=[start], max_epochs=1).fit(X, y)
    zeros = [(m.weight == 0).clone() for m in _linears(net)]
    state = {k: v for k, v in net.module_.state_dict().items() if "mask" not in k}
    net.initialize_module()  # a plain net: a new module, no masks yet
    assert all(get_mask(m) is None for m in _linears(net))
    net.module_.load_state_dict(state)
    net.initialize_optimizer()
    net.partial_fit(X, y, epochs=1)
    for mask, zero in zip(start.masks, zeros):
        assert torch.equal(mask == 0, zero)


def test_a_bound_pruner_keeps_its_masks_when_an_alive_weight_is_zero(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    start = _MasksAtStart()
    net = _plain(prune, after=[start], max_epochs=1).fit(X, y)
    fc = _linears(net)[0]
    alive = torch.nonzero(get_mask(fc))[0].tolist()
    with torch.no_grad():
        fc.weight[tuple(alive)] = 0.0  # exactly zero, but not pruned
    before = [get_mask(m).clone() for m in _linears(net)]
    net.partial_fit(X, y, epochs=1)
    for mask, was in zip(start.masks, before):
        assert torch.equal(mask, was)
    assert float(start.masks[0][tuple(alive)]) == 1.0


class _StepHooks(Callback):
    """Step post-hooks on the optimizer at each training batch (list it after the pruning)."""

    def initialize(self):
        self.counts = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.counts.append(len(net.optimizer_._optimizer_step_post_hooks))


def test_the_step_hook_is_there_from_the_first_batch_of_every_call(digits_300):
    X, y = digits_300
    hooks = _StepHooks()
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2)
    net = _plain(prune, after=[hooks], max_epochs=1, optimizer=_OwnSGD)
    net.fit(X, y)
    net.partial_fit(X, y, epochs=1)
    assert hooks.counts == [1] * 6


def test_an_optimizer_with_its_own_hooks_is_hooked_itself():
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = _plain(prune, max_epochs=1).initialize()
    prune.pruner_ = types.SimpleNamespace(layers={"1": _linears(net)[0]})
    from skscreen.pruning.factory import attach_prunable_masks

    attach_prunable_masks(net.module_, None, None)
    params = list(net.module_.parameters())
    inner = _OwnSGD(params, lr=0.1)
    outer = _OwnSGD(params, lr=0.1)
    outer.optimizer = inner  # wraps another, but has a hook registry of its own
    prune._attach_enforcement(types.SimpleNamespace(optimizer_=outer))
    assert len(outer._optimizer_step_post_hooks) == 1
    assert len(inner._optimizer_step_post_hooks) == 0

    class _Duck:  # no registry attribute, no inner optimizer, but it takes a step hook
        def __init__(self):
            self.hooks = []

        def register_step_post_hook(self, hook):
            self.hooks.append(hook)
            return types.SimpleNamespace(remove=lambda: None)

    duck = _Duck()
    prune._attach_enforcement(types.SimpleNamespace(optimizer_=duck))
    assert len(duck.hooks) == 1
    prune._enforcer.remove()


def _numpy_labels(batch):
    """A collate function that hands the labels over as a numpy array."""
    X = torch.as_tensor(np.stack([np.asarray(b[0]) for b in batch]))
    return X, np.array([int(b[1]) for b in batch])


def test_numpy_labels_reach_the_statistics(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    watch = _TargetsDuringForward(prune)
    net = _plain(
        prune, after=[watch], max_epochs=1, batch_size=100, iterator_train__collate_fn=_numpy_labels
    )
    net.fit(X, y)
    labelled = [t for t in watch.during if t is not None]
    assert len(labelled) == 3
    for i, t in enumerate(labelled):
        np.testing.assert_array_equal(t.numpy(), y[100 * i : 100 * (i + 1)])


def test_labels_reach_the_statistics_on_the_nets_device(digits_300):
    # a net.device other than the batches' (meta here, CUDA for a user; the weights stay on
    # the CPU) stands for a CUDA net on CPU-only CI: skorch hands on_batch_begin the batch as
    # the loader made it, so the labels must be moved to the net's device; labels already on
    # it (a dataset of device tensors) are taken as they are, never through numpy
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = _plain(prune, max_epochs=1).initialize()
    prune.on_train_begin(net, X=X, y=y)
    prune.on_epoch_begin(net)
    prune.output_width_seen(net.module_, 10)  # no probe pass on the meta device
    net.device = "meta"
    Xb, yb = torch.as_tensor(X[:100]), torch.as_tensor(y[:100])
    for labels in (yb, y[:100], yb.to("meta")):  # CPU tensor, numpy, on the net's device
        prune.on_batch_begin(net, batch=(Xb, labels), training=True)
        targets = prune.pruner_.recorder._targets
        assert targets.device.type == "meta" and targets.shape == (100,)
        assert targets.dtype == torch.long
        prune.on_batch_end(net, batch=None, training=True)
    prune._remove_epoch_hooks()


class _Conv(nn.Module):
    """A convolution and a Linear head on the 8x8 digits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4 * 6 * 6, 10)

    def forward(self, X):
        return self.head(torch.relu(self.conv(X.reshape(-1, 1, 8, 8))).flatten(1))


def test_layer_types_decide_what_is_prunable(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1, layer_types=(nn.Linear,))
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        _Conv,
        criterion=nn.CrossEntropyLoss,
        train_split=None,
        verbose=0,
        max_epochs=1,
        callbacks=[("prune", prune)],
    ).fit(X, y)
    assert get_mask(net.module_.conv) is None
    assert list(prune.pruner_.layers) == ["head"]
    assert net.history[-1, "n_prunable"] == 4 * 6 * 6 * 10
    assert bool((net.module_.conv.weight != 0).all())


def test_same_outputs_need_something_pruned(digits_300):
    X, y = digits_300
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        _Blind,
        criterion=nn.CrossEntropyLoss,
        train_split=None,
        verbose=0,
        max_epochs=2,
        callbacks=[("prune", ScreeningPruning(sparsity=0.0, prune_epochs=1))],
    )
    assert _said(_caught(net.fit, X, y), "same output") == []
    assert _nonzero(net) == (N_PRUNABLE, N_PRUNABLE)


# ------------------------------------------------------------------ survivors of the first run
def test_a_net_like_object_without_a_criterion_is_not_refused():
    from sklearn.base import BaseEstimator

    from skscreen.nn._pruning import _check_classification

    class _Bare(BaseEstimator):  # an estimator with no criterion_ (not a regressor)
        pass

    assert _check_classification(_Bare()) is None


class _PrunedStayZero(Callback):
    """Pruned weights that are nonzero after a training batch (list it after the pruning)."""

    def initialize(self):
        self.revived = 0
        self.batches = 0
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.batches += 1
            for m in _linears(net):
                mask = get_mask(m)
                if mask is not None:
                    self.revived += int(((m.weight != 0) & (mask == 0)).sum())


def test_pruning_clears_the_optimizers_state_of_what_it_removed(digits_300):
    # momentum of a weight pruned at an epoch's end would move it again in the next epoch:
    # the step is given the optimizer, whose state of the pruned entries it clears
    X, y = digits_300
    watch = _PrunedStayZero()
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = _plain(
        prune, after=[watch], max_epochs=3, optimizer=torch.optim.SGD, optimizer__momentum=0.9
    )
    net.fit(X, y)
    assert watch.batches == 9 and watch.revived == 0
    assert not net.optimizer_._optimizer_step_post_hooks  # torch.optim: no backstop needed


def test_scope_layer_from_the_first_step(digits_300):
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1, scope="layer")
    net = _plain(prune, max_epochs=1).fit(X, y)
    assert prune.pruner_.scope == "layer"
    for m in _linears(net):
        assert float((m.weight != 0).float().mean()) == pytest.approx(0.5, abs=0.01)


def test_one_shot_records_statistics_in_its_pruning_epoch_only(digits_300):
    X, y = digits_300
    hooked = _Hooked()
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=2, schedule="one-shot")
    net = _plain(prune, after=[hooked], max_epochs=3).fit(X, y)
    assert hooked.hooked == {1: 0, 2: 3, 3: 0}
    assert [row["n_kept"] for row in net.history] == [N_PRUNABLE] + [N_PRUNABLE // 2] * 2


def test_the_seed_reaches_the_mask_policy(digits_300):
    X, y = digits_300

    from skscreen.pruning.extreme_value import ExtremeValuePruning

    def masks(seed, scorer="extreme-value"):
        prune = ScreeningPruning(scorer=scorer, prune_epochs=1, random_state=seed)
        net = _plain(prune, max_epochs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(X, y)
        return torch.cat([get_mask(m).flatten() for m in _linears(net)])

    assert torch.equal(masks(1), masks(1))
    assert not torch.equal(masks(1), masks(2))
    # a policy object without a seed of its own: the callback's seed reaches it (the pruner's)
    policy = ExtremeValuePruning()
    assert policy.random_state is None
    assert torch.equal(masks(1, policy), masks(1, policy))
    assert not torch.equal(masks(1, policy), masks(2, policy))


def test_a_module_with_fewer_weights_than_the_history_is_refused(digits_300):
    X, y = digits_300
    net = _plain(ScreeningPruning(sparsity=0.5, prune_epochs=2), max_epochs=1).fit(X, y)
    net.set_params(module__hidden=(16,))  # a new, smaller module; the history stays
    with pytest.raises(ValueError) as info:
        net.partial_fit(X, y)
    assert str(info.value).startswith(
        f"The module has {64 * 16 + 16 * 10} prunable weights but the history was recorded on "
        f"one with {N_PRUNABLE}: "
    )


def test_weights_edited_behind_the_masks_are_pruned_again_at_the_next_fit_call(digits_300):
    # the history's sparsity is what the module is: a pruned weight set through .data between
    # two partial_fit calls is zeroed again before training goes on
    X, y = digits_300
    net = make_net(sparsity=0.5, prune_epochs=1, max_epochs=1).fit(X, y)
    first = _linears(net)[0]
    pruned = get_mask(first) == 0
    assert pruned.any()
    first.weight.data[pruned] = 1.0
    net.partial_fit(X, y)
    assert torch.all(first.weight[pruned] == 0)
    kept = sum(int((m.weight != 0).sum()) for m in _linears(net))
    assert net.history[-1, "n_kept"] == kept


@pytest.fixture
def hints(monkeypatch):
    """``(rows, rows_left)`` of every batch the statistics receive, in order."""
    from skscreen.pruning import hooks as hooks_module

    seen = []

    class Spy(hooks_module.DeferredMoments):
        def update(self, X, y, rows_left=None):
            seen.append((X.shape[0], rows_left))
            return super().update(X, y, rows_left=rows_left)

    monkeypatch.setattr(hooks_module, "DeferredMoments", Spy)
    return seen


def test_each_epoch_announces_its_training_rows_to_the_statistics(digits_300, hints):
    X, y = digits_300
    net = make_net(max_epochs=1, batch_size=128, sparsity=0.5)
    net.fit(X, y)
    # two Linear layers per batch of 128, 128, 44 rows: the rows after each batch
    assert hints == [(128, 172)] * 2 + [(128, 44)] * 2 + [(44, 0)] * 2
    assert _nonzero(net)[0] < N_PRUNABLE  # the epoch pruned


def test_an_epoch_of_unknown_length_gives_no_hint():
    class NoLen:
        pass

    class BadLen:
        def __len__(self):
            raise TypeError("unsized")

    assert _pruning._length(list(range(7))) == 7
    assert _pruning._length(NoLen()) is None
    assert _pruning._length(BadLen()) is None
    assert _pruning._length(None) is None


def test_an_epoch_is_announced_as_its_samplers_length(digits_300, hints):
    # a sampler decides the rows of an epoch (a DistributedSampler's share of the rank, a
    # WeightedRandomSampler's num_samples): its length is announced, not the dataset's
    from torch.utils.data import WeightedRandomSampler

    X, y = digits_300
    sampler = WeightedRandomSampler(np.ones(300), num_samples=200)
    net = make_net(
        max_epochs=1, batch_size=128, sparsity=0.5, iterator_train__sampler=sampler,
        iterator_train__shuffle=False,
    )
    net.fit(X, y)
    assert hints == [(128, 72)] * 2 + [(72, 0)] * 2


def test_a_sampler_without_length_falls_back_to_the_dataset():
    class Endless:
        def __iter__(self):
            return iter(())

    class Net:
        def __init__(self, sampler):
            self.sampler = sampler

        def get_params_for(self, prefix):
            return {} if self.sampler is None else {"sampler": self.sampler}

    assert _pruning._epoch_rows(Net(Endless()), list(range(7))) == 7
    assert _pruning._epoch_rows(Net(None), list(range(7))) == 7
    assert _pruning._epoch_rows(Net(range(4)), list(range(7))) == 4
    assert _pruning._epoch_rows(object(), list(range(7))) == 7  # no skorch parameters


# ------------------------------------------------------------------ lazy layers, PrintLog
class _LazyMLP(nn.Module):
    """LazyLinear(32) -> 10, recording whether each forward pass ran in training mode."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.LazyLinear(32)
        self.out = nn.Linear(32, 10)
        self.modes = []

    def forward(self, X):
        self.modes.append(self.training)
        return self.out(torch.relu(self.hidden(X)))


def test_a_lazy_layer_is_materialised_in_eval_mode_and_pruned_as_it_trains(digits_300):
    X, y = digits_300
    torch.manual_seed(0)
    prune = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = NeuralNetClassifier(
        _LazyMLP, criterion=nn.CrossEntropyLoss, lr=0.1, train_split=None, verbose=0,
        max_epochs=2, batch_size=100, callbacks=[("prune", prune)],
    ).initialize()
    prune.output_width_seen(net.module_, 10)  # no probe pass: it would give the shape too
    _caught(net.partial_fit, X, y)
    # one eval-mode pass of the first batch gives the layer its shape; every batch trains
    assert net.module_.modes == [False] + [True] * 6
    w = net.module_.hidden.weight
    assert w.shape == (32, 64)
    assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=0.02)
    assert bool((w[get_mask(net.module_.hidden) == 0] == 0).all())


class _Record(Callback):
    """Records a dict as an ``event_channels`` state record at each epoch's end, and keeps
    ignored keys of its own (as a logger callback would)."""

    def initialize(self):
        self.keys_ignored_ = {"mine"}
        return self

    def on_epoch_end(self, net, **kwargs):
        net.history.record("event_channels", {"fc": [1, 2]})


def test_state_records_stay_out_of_the_epoch_table(digits_300, capsys):
    X, y = digits_300
    record = _Record()
    net = _plain(ScreeningPruning(sparsity=0.5, prune_epochs=1), after=[("record", record)])
    net.set_params(verbose=1, max_epochs=2)
    _caught(net.fit, X, y)
    out = capsys.readouterr().out
    assert "sparsity" in out and "event_channels" not in out and "{" not in out
    assert net.history[-1, "event_channels"] == {"fc": [1, 2]}  # recorded all the same
    assert record.keys_ignored_ == {"mine"}  # another callback's ignored keys are its own


def test_an_epoch_without_a_training_batch_neither_prunes_nor_fails(digits_300):
    # drop_last with batches larger than the data: the epoch has no training batch, so
    # nothing was recorded and its step does not come (at its end, as with validation)
    X, y = digits_300
    prune = ScreeningPruning(sparsity=0.6, prune_epochs=3)
    net = _plain(prune, max_epochs=1, batch_size=100, iterator_train__drop_last=True)
    net.fit(X, y)
    first, kept = net.history[-1, "sparsity"], _nonzero(net)
    for split in (None, ValidSplit(5)):
        net.set_params(batch_size=1000, train_split=split)
        net.partial_fit(X, y)
        assert net.history[-1, "sparsity"] == first and _nonzero(net) == kept


def test_a_pruned_lazy_module_loaded_into_a_fresh_net_keeps_its_counts(digits_300, tmp_path):
    # the lazy layers of a fresh module get their shapes from the loaded state: their masks
    # come from its zeros (they were missing: 0 of 0 kept, with a false replaced-weights
    # warning)
    from skscreen import ScreeningPrunedNet

    X, y = digits_300
    common = dict(
        sparsity=0.5, prune_epochs=1, max_epochs=1, lr=0.1, verbose=0, train_split=None,
        random_state=0,
    )
    net = ScreeningPrunedNet(_LazyMLP, **common)
    _caught(net.fit, X, y)
    net.save_params(f_params=tmp_path / "params.pt")
    new = ScreeningPrunedNet(_LazyMLP, **common).initialize()
    caught = _caught(new.load_params, f_params=tmp_path / "params.pt")
    assert not _said(caught, "replaced")
    assert new.pruning_.counts(new) == net.pruning_.counts(net)
    assert new.sparsity_ == pytest.approx(0.5, abs=0.02)
    np.testing.assert_array_equal(new.predict(X), net.predict(X))
    # the masks themselves (counts read the zeros without masks since session 9): every
    # prunable layer masked where its loaded weights are zero, so training keeps them zero
    _masks_are_the_zeros(new.module_)


def _masks_are_the_zeros(module):
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.LazyLinear))]
    assert layers
    for layer in layers:
        mask = get_mask(layer)
        assert mask is not None, layer
        assert torch.equal(mask == 0, layer.weight.detach() == 0)


def test_a_state_loaded_after_initialize_of_the_fitted_net_keeps_its_counts(digits_300, tmp_path):
    # initialize() gives the net a new module (the old pruner still bound to the old one):
    # the loaded state's zeros are its masks, at weight level and at channel level
    from skscreen import ScreeningPrunedNet

    X, y = digits_300
    for module, granularity in ((_LazyMLP, "weight"), (_BN, "channel")):
        if granularity == "channel":
            pytest.importorskip("torch_pruning")
        net = ScreeningPrunedNet(
            module, sparsity=0.5, prune_epochs=1, max_epochs=1, lr=0.1, verbose=0,
            train_split=None, random_state=0, granularity=granularity,
        )
        _caught(net.fit, X, y)
        counts, predicted = net.pruning_.counts(net), net.predict(X)
        files = dict(f_params=tmp_path / "params.pt", f_history=tmp_path / "history.json")
        net.save_params(**files)
        net.initialize()
        caught = _caught(net.load_params, **files)
        assert not _said(caught, "replaced"), granularity
        assert net.pruning_.counts(net) == counts, granularity
        np.testing.assert_array_equal(net.predict(X), predicted)
        if granularity == "weight":
            _masks_are_the_zeros(net.module_)


def test_class_probability_targets_are_screened_as_their_classes(digits_300):
    # audit (session 9): a plain NeuralNet with CrossEntropyLoss on one-hot (or smoothed)
    # float targets recorded nothing (b x k "labels") and failed after the first epoch
    from skorch import NeuralNet

    X, y = digits_300
    onehot = np.eye(10, dtype=np.float32)[y]
    hard = _screened_fit(NeuralNet, X, y)
    for targets in (onehot, 0.9 * onehot + 0.01):
        net = _screened_fit(NeuralNet, X, targets.astype(np.float32))
        assert net.history[-1, "sparsity"] == pytest.approx(0.5, abs=0.01)
        _assert_same_masks(net, hard)
    binary = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # two classes: two columns
    assert _pruning._class_targets(binary).tolist() == [1, 0]
    assert _pruning._class_targets(torch.tensor([1, 0])).tolist() == [1, 0]  # indices kept
    column = torch.tensor([[0.2], [0.9]])  # one column: not class probabilities
    assert _pruning._class_targets(column) is column


def _screened_fit(cls, X, y):
    """``cls`` (a skorch net class) on the digits MLP from seed 0, with the pruning callback
    (half the weights after one epoch, pure screening), fitted on ``X, y`` in order."""
    from skscreen.models import make_mlp

    torch.manual_seed(0)
    net = cls(
        make_mlp(64, (32,), 10), criterion=torch.nn.CrossEntropyLoss, max_epochs=2, lr=0.1,
        verbose=0, train_split=None, iterator_train__shuffle=False,
        callbacks=[("p", ScreeningPruning(sparsity=0.5, prune_epochs=1, alpha=1.0))],
    )
    return net.fit(X, y)


def _assert_same_masks(net, other):
    for a, b in zip(net.module_.modules(), other.module_.modules()):
        if get_mask(a) is not None:
            assert torch.equal(get_mask(a), get_mask(b))


def test_an_extra_forward_of_another_size_before_the_labelled_one_changes_nothing(digits_300):
    # audit (session 9): a train_step running the module on unlabelled rows first (semi-
    # supervised) took the labels' turn: nothing recorded, and the epoch's step failed
    X, y = digits_300
    extra = torch.as_tensor(X[::-1][:50].copy())

    class _SemiSupervised(NeuralNetClassifier):
        def train_step_single(self, batch, **fit_params):
            self._set_training(True)
            Xi, yi = batch
            unlabelled = self.infer(extra)
            y_pred = self.infer(Xi)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True) + 0.0 * unlabelled.sum()
            loss.backward()
            return {"loss": loss, "y_pred": y_pred}

    semi = _screened_fit(_SemiSupervised, X, y)
    plain = _screened_fit(NeuralNetClassifier, X, y)
    assert semi.history[-1, "sparsity"] == pytest.approx(0.5, abs=0.01)
    _assert_same_masks(semi, plain)


def test_counts_without_masks_follow_the_callbacks_layer_types_and_ignored_layers(digits_300):
    # after remove_masks the counts read the zeros of the layers the callback would mask
    # (session 9): its layer_types and ignored_layers decide which
    from skscreen import ScreeningPrunedNet

    X, y = digits_300
    for kw, layers in (({}, ["hidden", "out"]), ({"ignored_layers": ["out"]}, ["hidden"])):
        net = ScreeningPrunedNet(
            _LazyMLP, sparsity=0.5, prune_epochs=1, max_epochs=1, lr=0.1, verbose=0,
            train_split=None, random_state=0, **kw,
        )
        _caught(net.fit, X, y)
        before = net.pruning_.counts(net), net.pruning_.kept_fractions(net)
        net.remove_masks()
        assert (net.pruning_.counts(net), net.pruning_.kept_fractions(net)) == before
        assert sorted(before[1]) == layers
    net.pruning_.set_params(layer_types=[nn.Conv2d])  # no such layer: nothing to count
    assert net.pruning_.counts(net) == (0, 0) and net.pruning_.kept_fractions(net) == {}
