"""EarlyStopping and callbacks that restore weights (issue 18, item 3): the history, the
attributes and the warnings state what the delivered module is, and
``EarlyStoppingAfterPruning`` early-stops a pruned run that still reaches its target.

A ``Rising`` metric that worsens every epoch makes skorch's ``EarlyStopping`` stop at a known
epoch (its best is epoch 1), with no dependence on the data.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import Callback, EarlyStopping  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn import EarlyStoppingAfterPruning, ScreeningPruning  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
import _archs  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    d = load_digits_split()
    return d.X_train[:300].astype(np.float32), d.y_train[:300].astype(np.int64)


class Rising(Callback):
    """Records ``rising`` = the epoch number: lower is better, so only epoch 1 is a best."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("rising", float(len(net.history)))


def _stopper(cls=EarlyStopping, **kw):
    return cls(monitor="rising", patience=2, **kw)


def _zero_fraction(module):
    """What the delivered module is, counted here: zeros of its Linear weights."""
    weights = [m.weight for m in module.modules() if isinstance(m, torch.nn.Linear)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def _subclass(callbacks, **kw):
    params = dict(
        sparsity=0.8,
        prune_epochs=6,
        max_epochs=10,
        lr=0.1,
        train_split=None,
        verbose=0,
        random_state=0,
        callbacks=callbacks,
    )
    params.update(kw)
    return ScreeningPrunedNet(make_mlp(64, (32,), 10), **params)


def _plain(callbacks, **kw):
    torch.manual_seed(0)
    params = dict(max_epochs=10, lr=0.1, train_split=None, verbose=0, callbacks=callbacks)
    params.update(kw)
    return NeuralNetClassifier(
        make_mlp(64, (32,), 10), criterion=torch.nn.CrossEntropyLoss, **params
    )


def _prune(**kw):
    return ("prune", ScreeningPruning(sparsity=0.8, prune_epochs=kw.pop("prune_epochs", 6), **kw))


def _fit(net, X, y):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y)
    return [str(w.message) for w in caught]


def _figures(messages):
    """Every 4-decimal figure the warnings state about the module."""
    import re

    return [float(f) for m in messages for f in re.findall(r"sparsity (\d\.\d{4})", m)]


# ---------------------------------------------------------------- skorch's EarlyStopping
def test_load_best_restore_is_reported_in_history_attributes_and_warnings(digits):
    X, y = digits
    net = _subclass([Rising(), _stopper(load_best=True)])
    messages = _fit(net, X, y)
    assert len(net.history) == 3  # stopped mid-schedule; epoch 1's weights restored
    delivered = _zero_fraction(net.module_)
    assert delivered < net.history[-1, "sparsity"] - 0.05  # epoch 1 was pruned less
    assert net.sparsity_ == pytest.approx(delivered)
    assert net.history[-1, "restored_sparsity"] == pytest.approx(delivered)
    assert net.history[-1, "restored_n_kept"] == net.history[0, "n_kept"]
    kept = sum(net.kept_fraction_[n] * m.weight.numel() for n, m in net.pruner_.layers.items())
    assert kept == pytest.approx(net.history[0, "n_kept"])
    restored = [m for m in messages if "replaced" in m]
    assert len(restored) == 1 and f"sparsity {delivered:.4f}" in restored[0]
    assert "EarlyStoppingAfterPruning" in restored[0]
    # the last figure any warning states is the delivered module's
    assert _figures(messages)[-1] == pytest.approx(delivered, abs=1e-4)


@pytest.mark.parametrize("load_best", [False, True])
def test_early_stopping_listed_before_the_callback(digits, load_best):
    # EarlyStopping stops in its on_epoch_end, before the pruning callback's: the last epoch
    # is not pruned, and the warning once said "achieved 0.0000"
    X, y = digits
    net = _plain([Rising(), _stopper(load_best=load_best), _prune()])
    messages = _fit(net, X, y)
    delivered = _zero_fraction(net.module_)
    # load_best restores epoch 1's weights as EarlyStopping saw them: before that epoch's
    # pruning (dense); without it, the module of the last pruning step
    assert delivered == 0.0 if load_best else delivered > 0.1
    assert net.history[-1, "sparsity"] == pytest.approx(delivered)  # the last row is true
    assert "pruning_epoch" not in net.history[-1]  # ... and says it was not pruned
    assert net.history[:, "pruning_epoch"] == [1, 2]
    stopped = [m for m in messages if "before the schedule" in m]
    assert len(stopped) == 1 and f"sparsity {delivered:.4f}" in stopped[0]
    assert _figures(messages)[-1] == pytest.approx(delivered, abs=1e-4)


def test_a_callback_restoring_another_epochs_weights_is_reported(digits):
    # any callback that restores weights, here one of the user's own at train end
    X, y = digits

    class RestoreFirstEpoch(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 1:
                self.state_ = {k: v.clone() for k, v in net.module_.state_dict().items()}

        def on_train_end(self, net, **kwargs):
            net.module_.load_state_dict(self.state_)

    net = _plain([_prune(prune_epochs=3), RestoreFirstEpoch()], max_epochs=4)
    messages = _fit(net, X, y)
    delivered = _zero_fraction(net.module_)
    assert net.history[-1, "sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert net.history[-1, "restored_sparsity"] == pytest.approx(delivered)
    assert delivered == pytest.approx(net.history[0, "sparsity"])
    assert any(f"sparsity {delivered:.4f}" in m for m in messages)


# ---------------------------------------------------------------- EarlyStoppingAfterPruning
def test_early_stopping_after_pruning_reaches_the_target(digits):
    X, y = digits
    net = _subclass(
        [Rising(), _stopper(EarlyStoppingAfterPruning, load_best=True)],
        prune_epochs=4,
        max_epochs=12,
    )
    messages = _fit(net, X, y)
    # epochs 1-4 prune (ignored); epoch 4 is the first watched, 5 and 6 miss: stop
    assert len(net.history) == 6
    assert net.history[-1, "sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert net.sparsity_ == pytest.approx(0.8, abs=1e-3)
    assert _zero_fraction(net.module_) == pytest.approx(net.sparsity_)
    assert "restored_sparsity" not in net.history[-1]  # the best epoch has the final masks
    assert not [m for m in messages if "before the schedule" in m or "replaced" in m]


def test_early_stopping_after_pruning_listed_before_the_callback(digits):
    X, y = digits
    stopper = _stopper(EarlyStoppingAfterPruning, load_best=True)
    net = _plain([Rising(), stopper, _prune(prune_epochs=4)], max_epochs=12)
    messages = _fit(net, X, y)
    # at epoch 4 it runs before that epoch's pruning step: it starts watching at epoch 5
    assert stopper.best_epoch_ == 5 and len(net.history) == 7
    assert net.history[-1, "sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert _zero_fraction(net.module_) == pytest.approx(0.8, abs=1e-3)
    assert not [m for m in messages if "before the schedule" in m or "replaced" in m]


def _valid_loss(net, X, y):
    """The validation loss of ``net.module_`` now, on the net's own validation split."""
    _, valid = net.get_split_datasets(X, y)
    with torch.no_grad():
        return float(net.get_loss(net.forward(valid), torch.as_tensor(y[valid.indices])))


@pytest.mark.parametrize("cls", [EarlyStopping, EarlyStoppingAfterPruning])
def test_early_stopping_on_the_real_validation_loss(digits, cls):
    # the docs' recipe: the default monitor (valid_loss) with a validation split. The loss
    # rises while pruning: skorch's EarlyStopping stops in the schedule and restores an epoch
    # pruned less (reported); EarlyStoppingAfterPruning delivers the target
    X, y = digits
    net = ScreeningPrunedNet(
        make_mlp(64, (32,), 10),
        sparsity=0.97,
        prune_epochs=8,
        max_epochs=20,
        lr=0.1,
        verbose=0,
        random_state=0,
        callbacks=[cls(patience=3, load_best=True)],
    )
    messages = _fit(net, X, y)
    delivered = _zero_fraction(net.module_)
    assert net.sparsity_ == pytest.approx(delivered)
    # each epoch is validated after its pruning step: the module restored is the one whose
    # validation loss is the recorded best
    best = net.history[net.callbacks[0].best_epoch_ - 1, "valid_loss"]
    assert _valid_loss(net, X, y) == pytest.approx(best, rel=1e-5)
    if cls is EarlyStopping:
        assert len(net.history) < 20 and delivered < 0.85
        assert net.history[-1, "restored_sparsity"] == pytest.approx(delivered)
        assert _figures(messages)[-1] == pytest.approx(delivered, abs=1e-4)
    else:
        assert delivered == pytest.approx(0.97, abs=1e-3)
        assert not [m for m in messages if "before the schedule" in m or "replaced" in m]


@pytest.mark.parametrize("subclass", [True, False], ids=["ScreeningPrunedNet", "callback first"])
def test_checkpoint_load_best_restores_the_validated_module(digits, tmp_path, subclass):
    # Checkpoint(load_best=True) keeps the module of the best valid_loss row: that row's
    # validation ran after the epoch's pruning step, so the restored module has that loss
    # (and the row's sparsity)
    from skorch.callbacks import Checkpoint

    X, y = digits
    checkpoint = Checkpoint(monitor="valid_loss_best", load_best=True, dirname=str(tmp_path))
    kw = dict(max_epochs=8, lr=0.1, train_split=_five_fold(), verbose=0)
    if subclass:
        net = ScreeningPrunedNet(
            make_mlp(64, (32,), 10), sparsity=0.97, prune_epochs=6, random_state=0,
            callbacks=[checkpoint], **kw,
        )
    else:
        net = _plain([("prune", ScreeningPruning(sparsity=0.97, prune_epochs=6)), checkpoint], **kw)
    _fit(net, X, y)
    rows = net.history  # the checkpoint's: up to the best epoch
    best = [i for i, row in enumerate(rows) if row["valid_loss_best"]][-1]
    assert best == len(rows) - 1 < 7  # the loss rose after it: an earlier epoch restored
    assert _valid_loss(net, X, y) == pytest.approx(rows[best, "valid_loss"], rel=1e-5)
    assert _zero_fraction(net.module_) == pytest.approx(rows[best, "sparsity"], abs=1e-6)


def _five_fold():
    from skorch.dataset import ValidSplit

    return ValidSplit(5)


def test_early_stopping_after_pruning_needs_the_pruning_callback(digits):
    X, y = digits
    with pytest.raises(ValueError, match="ScreeningPruning"):
        _plain([EarlyStoppingAfterPruning()]).fit(X, y)


def test_early_stopping_after_pruning_without_the_callback_message_exactly(digits):
    X, y = digits
    net = _plain([EarlyStoppingAfterPruning()])
    with pytest.raises(ValueError) as info:
        net.fit(X, y)
    assert str(info.value) == (
        "EarlyStoppingAfterPruning waits for the pruning schedule of a ScreeningPruning "
        "callback, and this net has none: add ScreeningPruning(...) to its callbacks "
        "(or use skscreen.ScreeningPrunedNet), or use skorch's EarlyStopping."
    )
    assert len(net.history) == 0  # refused before the first epoch


# ---------------------------------------------------------------- channel level
def _channel_net(callbacks):
    return ScreeningPrunedNet(
        _archs.ResidualBNCNN,
        module__width=8,
        granularity="channel",
        sparsity=0.5,
        prune_epochs=3,
        max_epochs=10,
        lr=0.01,
        batch_size=128,
        train_split=None,
        verbose=0,
        random_state=0,
        callbacks=callbacks,
    )


def test_channel_level_load_best_is_refused_before_training_with_the_fix(digits):
    # restoring an epoch from before the last removal cannot work on a smaller module
    X, y = digits
    net = _channel_net([Rising(), _stopper(load_best=True)])
    with pytest.raises(ValueError, match="EarlyStoppingAfterPruning"):
        net.fit(X.reshape(-1, 1, 8, 8), y)
    assert len(net.history) == 0


def test_channel_level_checkpoint_load_best_is_refused_before_training(digits, tmp_path):
    # skorch's Checkpoint(load_best=True) restores its best epoch at train end, as
    # EarlyStopping(load_best=True) does: refused before any training, not after it
    from skorch.callbacks import Checkpoint

    X, y = digits
    net = _channel_net([Checkpoint(load_best=True, dirname=str(tmp_path))])
    with pytest.raises(ValueError, match=r"Checkpoint\(load_best=True\).*load_best=False"):
        net.fit(X.reshape(-1, 1, 8, 8), y)
    assert len(net.history) == 0
    net = _channel_net([Checkpoint(monitor=None, dirname=str(tmp_path))])  # trains
    net.set_params(max_epochs=4).fit(X.reshape(-1, 1, 8, 8), y)
    assert net.sparsity_ > 0


def test_channel_level_early_stopping_after_pruning(digits):
    X, y = digits
    net = _channel_net([Rising(), _stopper(EarlyStoppingAfterPruning, load_best=True)])
    messages = _fit(net, X.reshape(-1, 1, 8, 8), y)
    assert len(net.history) == 5  # watched from epoch 3, best 3, misses at 4 and 5
    assert net.sparsity_ == pytest.approx(0.5, abs=0.05)
    assert net.sparsity_ == pytest.approx(net.history[-1, "sparsity"])
    assert not [m for m in messages if "before the schedule" in m or "replaced" in m]
