"""Small skorch callbacks used by the command line and the benchmarks."""

from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["EpochProgressBar"]


class EpochProgressBar(Callback):
    """A tqdm bar over epochs showing loss, validation accuracy and sparsity.

    Parameters
    ----------
    total : int, default=None
        Number of epochs (defaults to the net's ``max_epochs``).
    disable : bool, default=False
    """

    def __init__(self, total=None, disable=False):
        self.total = total
        self.disable = disable

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=self.total or net.max_epochs, unit="epoch", disable=self.disable)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        shown = {}
        for key in ("train_loss", "valid_acc", "sparsity"):
            if key in row:
                shown[key] = f"{row[key]:.4f}"
        self.bar_.set_postfix(shown, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("bar_", None)
        return state
