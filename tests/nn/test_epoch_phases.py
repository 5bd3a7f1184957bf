"""The pruning step between an epoch's training and its validation (issue 18, item 3): what
the history and the module say when something fails in between, and which granularity the
module is at when a change of it is refused.
"""

import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from skorch.callbacks import Callback  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
import _archs  # noqa: E402


class _FailFirstValidationBatch(Callback):
    """Raises once, at the first validation batch of epoch ``at``."""

    def __init__(self, at=2):
        self.at = at

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training and len(net.history) == self.at and not getattr(self, "done_", False):
            self.done_ = True
            raise RuntimeError("boom")


def _alive(net):
    kept, total = net.pruning_.counts(net)
    return kept / total


@pytest.mark.parametrize("granularity", ["weight", "channel"])
def test_an_error_in_validation_keeps_the_row_of_the_step_already_made(digits_300, granularity):
    # the step runs before validation; the net's clean-up after an error dropped the row
    # (no train_loss yet), leaving a pruned module whose history said it was not: the next
    # partial_fit repeated that schedule epoch, and a channel-pruned state saved then could
    # not be loaded
    X, y = digits_300
    if granularity == "channel":
        torch.manual_seed(0)
        module, X = _archs.ResidualBNCNN(width=8), X.reshape(-1, 1, 8, 8)
    else:
        module = make_mlp(64, (32,), 10)
    net = ScreeningPrunedNet(
        module, granularity=granularity, sparsity=0.8, prune_epochs=4, max_epochs=4, lr=0.1,
        verbose=0, random_state=0, callbacks=[("boom", _FailFirstValidationBatch())],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(RuntimeError, match="boom"):
            net.fit(X, y)
    assert [row["pruning_epoch"] for row in net.history] == [1, 2]
    assert net.history[-1, "sparsity"] == pytest.approx(1 - _alive(net))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net.partial_fit(X, y)  # the schedule goes on from epoch 3
    assert [row["pruning_epoch"] for row in net.history] == [1, 2, 3, 4, 5, 6]
    assert net.history[-1, "sparsity"] == pytest.approx(1 - _alive(net))
    assert net.history[-1, "sparsity"] == pytest.approx(0.8, abs=0.05)


def test_a_refused_granularity_stays_refused_when_the_callbacks_are_rebuilt(digits_300):
    # set_params of any callback re-initialises them and pushed the refused granularity to
    # the pruning callback again: compact() then returned the masked module as it was
    X, y = digits_300
    net = ScreeningPrunedNet(
        make_mlp(64, (32,), 10), sparsity=0.8, prune_epochs=2, max_epochs=2, lr=0.1,
        train_split=None, verbose=0, random_state=0,
    )
    net.fit(X, y)
    small = net.compact()
    net.set_params(granularity="channel")
    with pytest.raises(ValueError, match=r"^granularity cannot change"):
        net.partial_fit(X, y)
    net.set_params(callbacks__print_log__keys_ignored="dur")
    again = net.compact()
    assert [b for b, _ in again.named_buffers()] == []
    assert [p.shape for p in again.parameters()] == [p.shape for p in small.parameters()]
