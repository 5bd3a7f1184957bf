"""Unit tests of skscreen/nn/_callback_checks.py: which callbacks channel-level pruning
refuses up front, with stand-in nets (a real torch module, skorch's own callbacks) and the
exact messages."""

import re
from types import SimpleNamespace

import pytest
import torch
from skorch.callbacks import Checkpoint, EarlyStopping, EpochScoring, LoadInitState

from skscreen.nn import EarlyStoppingAfterPruning
from skscreen.nn._callback_checks import _position, check_channel_callbacks
from skscreen.nn._persistence import _hook_once, _RebuildChannels

EARLY = (
    "EarlyStopping(load_best=True) would restore the weights of its best epoch, usually one "
    "before the last channels were removed, which a channel-pruned module cannot take back. "
    "Use skscreen.nn.EarlyStoppingAfterPruning(load_best=True), which only watches the "
    "epochs after the pruning schedule."
)
CHECKPOINT = (
    "Checkpoint(load_best=True) would load its best epoch's parameters at the end of "
    "training, usually saved before the last channels were removed, which a channel-pruned "
    "module cannot take back. Use load_best=False, or a monitor that saves only after the "
    "pruning schedule, such as EarlyStoppingAfterPruning's "
    "(skscreen.nn.EarlyStoppingAfterPruning(load_best=True) restores the best epoch after "
    "the schedule)."
)
ORDER = (
    "At channel level, list ScreeningPruning before LoadInitState in callbacks: "
    "LoadInitState loads the checkpoint at the start of training, and a channel-pruned "
    "checkpoint only loads once ScreeningPruning has prepared the module (or use "
    "skscreen.ScreeningPrunedNet, which prepares it at initialize())."
)


class _Net:
    """What the check reads of a net: callbacks_, module_ and (maybe) pruning_."""

    def __init__(self, callbacks, pruning_=None):
        self.callbacks_ = [(f"cb{i}", cb) for i, cb in enumerate(callbacks)]
        self.module_ = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        if pruning_ is not None:
            self.pruning_ = pruning_


def _pruning(granularity="channel"):
    return SimpleNamespace(granularity=granularity)


def _raises(message, pruning, net):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_channel_callbacks(pruning, net)


def _load_init():
    return LoadInitState(Checkpoint(dirname="/nonexistent/never-written"))


def test_position_in_callbacks_held_by_the_net_or_after_all():
    p = _pruning()
    other = EpochScoring("accuracy")
    assert _position(p, _Net([other, p, other])) == 1
    assert _position(p, _Net([p])) == 0
    assert _position(p, _Net([other, other], pruning_=p)) == -1
    assert _position(p, _Net([other, other, other])) == 3
    assert _position(p, _Net([])) == 0
    # another callback held as pruning_ is not this one
    assert _position(p, _Net([other], pruning_=_pruning())) == 1


def test_weight_level_refuses_nothing():
    p = _pruning("weight")
    net = _Net([_load_init(), EarlyStopping(load_best=True), Checkpoint(load_best=True), p])
    assert check_channel_callbacks(p, net) is None


def test_early_stopping_load_best_is_refused():
    p = _pruning()
    _raises(EARLY, p, _Net([p, EarlyStopping(load_best=True)]))
    _raises(EARLY, p, _Net([EarlyStopping(load_best=True), p]))
    # not loading the best weights, or waiting for the schedule: accepted
    assert check_channel_callbacks(p, _Net([p, EarlyStopping(load_best=False)])) is None
    assert check_channel_callbacks(p, _Net([p, EarlyStoppingAfterPruning(load_best=True)])) is None
    # a subclass that says it waits for the schedule is accepted too
    waiting = EarlyStopping(load_best=True)
    waiting.waits_for_pruning = True
    assert check_channel_callbacks(p, _Net([p, waiting])) is None
    # the attribute is read, not the class: one that says it does not wait is refused
    stopper = EarlyStoppingAfterPruning(load_best=True)
    stopper.waits_for_pruning = False
    _raises(EARLY, p, _Net([p, stopper]))


def test_early_stopping_without_load_best_attribute_is_accepted():
    p = _pruning()
    stopper = EarlyStopping()
    del stopper.load_best  # an old pickle, or a subclass without it
    assert check_channel_callbacks(p, _Net([p, stopper])) is None
    checkpoint = Checkpoint()
    del checkpoint.load_best
    assert check_channel_callbacks(p, _Net([p, checkpoint])) is None


def test_checkpoint_load_best_is_refused():
    p = _pruning()
    _raises(CHECKPOINT, p, _Net([p, Checkpoint(load_best=True)]))
    _raises(CHECKPOINT, p, _Net([Checkpoint(load_best=True), p]))
    assert check_channel_callbacks(p, _Net([p, Checkpoint(load_best=False)])) is None


def test_first_refused_callback_in_order_is_named():
    p = _pruning()
    _raises(CHECKPOINT, p, _Net([p, Checkpoint(load_best=True), EarlyStopping(load_best=True)]))
    _raises(EARLY, p, _Net([p, EarlyStopping(load_best=True), Checkpoint(load_best=True)]))
    _raises(ORDER, p, _Net([_load_init(), Checkpoint(load_best=True), p]))


def test_load_init_state_must_come_after_the_pruning_callback():
    p = _pruning()
    _raises(ORDER, p, _Net([_load_init(), p]))
    _raises(ORDER, p, _Net([EpochScoring("accuracy"), _load_init(), p]))
    # notified after the pruning callback: accepted
    assert check_channel_callbacks(p, _Net([p, _load_init()])) is None
    assert check_channel_callbacks(p, _Net([EpochScoring("accuracy"), p, _load_init()])) is None
    # the net holds the pruning callback (notified before every one of callbacks_)
    assert check_channel_callbacks(p, _Net([_load_init()], pruning_=p)) is None
    # the pruning callback is not among them at all: notified after every one
    _raises(ORDER, p, _Net([_load_init()]))
    _raises(ORDER, p, _Net([EpochScoring("accuracy"), _load_init()]))


def test_other_callbacks_before_the_pruning_callback_are_accepted():
    p = _pruning()
    net = _Net([EpochScoring("accuracy"), EarlyStopping(), Checkpoint(), p])
    assert check_channel_callbacks(p, net) is None


def test_a_module_prepared_to_rebuild_channels_takes_load_init_state_first():
    p = _pruning()
    net = _Net([_load_init(), p])
    module = net.module_
    # an unrelated load pre-hook does not count
    module.register_load_state_dict_pre_hook(lambda *args: None)
    _raises(ORDER, p, net)
    # the channel replay hook, registered as ScreeningPruning.prepare does (torch wraps it)
    _hook_once(
        module._load_state_dict_pre_hooks,
        _RebuildChannels,
        module.register_load_state_dict_pre_hook,
        net,
    )
    assert len(module._load_state_dict_pre_hooks) == 2
    assert check_channel_callbacks(p, net) is None


def test_a_bare_rebuild_hook_in_the_pre_hooks_counts_too():
    # a hook stored as is (not wrapped by torch) is recognised as well
    p = _pruning()
    net = _Net([_load_init(), p])
    net.module_._load_state_dict_pre_hooks[12345] = _RebuildChannels(net)
    assert check_channel_callbacks(p, net) is None


def test_a_second_pruning_callback_is_refused_naming_it():
    # audit (session 9): two ScreeningPruning callbacks on a plain net both pruned the
    # module, each counting the other's epochs (history target 0.5, module at 0.8)
    from skscreen.nn import ScreeningPruning
    from skscreen.nn._callback_checks import check_single_pruning

    class _Sub(ScreeningPruning):
        pass

    p, q = ScreeningPruning(), _Sub()
    check_single_pruning(p, _Net([EpochScoring("accuracy"), p]))  # alone: accepted
    check_single_pruning(p, _Net([], pruning_=p))
    for net, named in (
        (_Net([p, q]), "['cb1']"),  # a subclass is a second one too
        (_Net([q, p]), "['cb0']"),
        (_Net([q], pruning_=p), "['cb0']"),
        (_Net([], pruning_=q), "['pruning_']"),
    ):
        expected = (
            f"The net holds more than one ScreeningPruning callback ({named} besides this "
            "one): each would prune the same module and count the other's pruning epochs. "
            "Keep one, with the settings you want."
        )
        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            check_single_pruning(p, net)


def test_a_plain_net_with_two_pruning_callbacks_fails_before_training():
    import numpy as np
    from skorch import NeuralNetClassifier

    from skscreen.models import make_mlp
    from skscreen.nn import ScreeningPruning

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.arange(40) % 2
    net = NeuralNetClassifier(
        make_mlp(4, (8,), 2), criterion=torch.nn.CrossEntropyLoss, max_epochs=2,
        train_split=None, verbose=0,
        callbacks=[("p1", ScreeningPruning(sparsity=0.8)), ("p2", ScreeningPruning(sparsity=0.5))],
    ).initialize()
    before = {k: v.clone() for k, v in net.module_.state_dict().items()}
    with pytest.raises(ValueError, match=r"more than one ScreeningPruning callback \(\['p2'\]"):
        net.fit(X, y)
    for k, v in net.module_.state_dict().items():
        assert torch.equal(v, before[k])
