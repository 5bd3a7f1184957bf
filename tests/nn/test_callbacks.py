"""skscreen/nn/_callbacks.py: EpochProgressBar, the command line's bar over epochs.

Known truth: tqdm's own bar (``total``, ``n``, ``unit``, the ``k=v`` postfix it shows) and
skorch's callback protocol (``on_train_begin``/``on_epoch_end``/``on_train_end``), driven by
hand with a stand-in net (its ``max_epochs`` and ``history``), then through a real net.
"""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("tqdm")

from skorch import NeuralNetClassifier  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn._callbacks import EpochProgressBar  # noqa: E402


def _net(max_epochs=5, rows=()):
    return SimpleNamespace(max_epochs=max_epochs, history=list(rows))


def test_defaults():
    cb = EpochProgressBar()
    assert cb.total is None and cb.disable is False
    assert cb.get_params() == {"total": None, "disable": False}


def test_bar_counts_epochs_and_shows_loss_accuracy_sparsity(capsys):
    net = _net(max_epochs=4)
    cb = EpochProgressBar()
    cb.on_train_begin(net)
    bar = cb.bar_
    assert bar.total == 4 and bar.n == 0 and bar.unit == "epoch" and not bar.disable
    net.history.append({"epoch": 1, "train_loss": 0.5, "valid_acc": 0.25, "sparsity": 0.125,
                        "dur": 3.0})
    cb.on_epoch_end(net)
    assert bar.n == 1
    # the figures are drawn with the epoch's count, never beside the previous count
    frames = capsys.readouterr().err.split("\r")
    assert not [f for f in frames if "0/4" in f and "train_loss" in f]
    # the three figures with 4 decimals, in this order, nothing else of the row
    assert bar.postfix == "train_loss=0.5000, valid_acc=0.2500, sparsity=0.1250"
    net.history.append({"epoch": 2, "train_loss": 1 / 3})  # no validation, no pruning
    cb.on_epoch_end(net)
    assert bar.n == 2 and bar.postfix == "train_loss=0.3333"
    cb.on_train_end(net)
    assert bar.disable  # tqdm's mark of a closed bar
    shown = capsys.readouterr().err.split("\r")[-1]  # the closed bar's last line
    assert "2/4" in shown and "epoch/s" in shown and shown.endswith("train_loss=0.3333]\n")


def test_total_given_wins_over_max_epochs_and_disable_is_passed():
    net = _net(max_epochs=4)
    cb = EpochProgressBar(total=10)
    cb.on_train_begin(net)
    assert cb.bar_.total == 10
    cb.on_train_end(net)
    cb = EpochProgressBar(disable=True)
    cb.on_train_begin(net)
    assert cb.bar_.disable and cb.bar_.total == 4
    net.history.append({"train_loss": 0.5})
    cb.on_epoch_end(net)  # a disabled bar takes the calls and shows nothing
    cb.on_train_end(net)


def test_pickled_without_its_bar():
    fresh = pickle.loads(pickle.dumps(EpochProgressBar(total=3)))  # before any training
    assert fresh.total == 3 and not hasattr(fresh, "bar_")
    net = _net()
    cb = EpochProgressBar(total=3, disable=True)
    cb.on_train_begin(net)
    state = cb.__getstate__()
    assert "bar_" not in state and state == {"total": 3, "disable": True}
    assert "bar_" in cb.__dict__  # the callback itself keeps it
    back = pickle.loads(pickle.dumps(cb))
    assert not hasattr(back, "bar_") and back.total == 3 and back.disable is True


def test_on_a_net_one_update_per_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cb = EpochProgressBar(disable=True)
    net = NeuralNetClassifier(
        make_mlp(4, (6,), 2),
        max_epochs=3,
        train_split=None,
        verbose=0,
        callbacks=[("progress", cb)],
    ).fit(X, y)
    assert cb.bar_.total == 3 and len(net.history) == 3
    pickle.loads(pickle.dumps(net))  # the net pickles with its callback
