"""EarlyStoppingAfterPruning: skorch's EarlyStopping that starts watching once pruning is done."""

from __future__ import annotations

from skorch.callbacks import EarlyStopping

from skscreen.nn._pruning import find_pruning_callback

__all__ = ["EarlyStoppingAfterPruning"]


class EarlyStoppingAfterPruning(EarlyStopping):
    """skorch's :class:`~skorch.callbacks.EarlyStopping`, blind to the epochs of the pruning
    schedule: a pruned run always reaches its target before it may stop.

    While the net's :class:`~skscreen.nn.ScreeningPruning` callback is still pruning, the
    validation loss usually rises (each epoch removes more weights), so plain
    ``EarlyStopping`` stops mid-schedule, and with ``load_best=True`` restores an epoch
    pruned less than the target. This callback ignores every epoch up to the end of the
    schedule (``prune_epochs``): no miss is counted and no best is kept; from the first epoch
    after it, it is ``EarlyStopping`` with the same parameters. Every epoch it can restore
    (``load_best=True``) has the final masks (channels), so the delivered module is at the
    target sparsity. Works in any position in the callbacks list, with
    :class:`~skscreen.ScreeningPrunedNet` or any skorch net with the callback; the schedule
    must end within ``max_epochs`` for it to act.

    Parameters
    ----------
    Those of :class:`skorch.callbacks.EarlyStopping` (``monitor``, ``patience``,
    ``threshold``, ``threshold_mode``, ``lower_is_better``, ``sink``, ``load_best``).

    Examples
    --------
    >>> from skscreen import ScreeningPrunedNet
    >>> from skscreen.models import make_mlp
    >>> from skscreen.nn import EarlyStoppingAfterPruning
    >>> net = ScreeningPrunedNet(
    ...     make_mlp(64, (32,), 10), sparsity=0.9, prune_epochs=20, max_epochs=100,
    ...     callbacks=[EarlyStoppingAfterPruning(patience=5, load_best=True)])
    """

    #: read by ScreeningPruning: restoring a best epoch is safe (all are after pruning)
    waits_for_pruning = True

    def on_train_begin(self, net, **kwargs):
        if find_pruning_callback(net) is None:
            raise ValueError(
                "EarlyStoppingAfterPruning waits for the pruning schedule of a ScreeningPruning "
                "callback, and this net has none: add ScreeningPruning(...) to its callbacks "
                "(or use skscreen.ScreeningPrunedNet), or use skorch's EarlyStopping."
            )
        return super().on_train_begin(net, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        # the pruning callback's own count: right whether it runs before or after this one
        # (listed after, this epoch's pruning step is still to come, but once the schedule
        # has run all its epochs a step changes nothing)
        if not find_pruning_callback(net).schedule_done(net):
            return
        super().on_epoch_end(net, **kwargs)
