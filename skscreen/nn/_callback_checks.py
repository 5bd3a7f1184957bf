"""Which of a net's other callbacks can work with the pruning callback: refused up front.

At channel level a pruned module has fewer channels than the dense one, and no state dict
saved before a removal loads back into it. Callbacks that would do that at the end of
training are refused before the first epoch, each with its fix
(:func:`check_channel_callbacks`, called by :meth:`ScreeningPruning.on_train_begin
<skscreen.nn.ScreeningPruning.on_train_begin>`).
"""

from __future__ import annotations

from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState

from skscreen.nn._persistence import _RebuildChannels

__all__ = []


def _position(pruning, net):
    """Where the pruning callback is notified among ``net.callbacks_``: its index, -1 when
    the net holds it (``ScreeningPrunedNet.pruning_``, notified before ``callbacks_``), or
    after all of them."""
    callbacks = [cb for _, cb in net.callbacks_]
    if pruning in callbacks:
        return callbacks.index(pruning)
    return -1 if net.__dict__.get("pruning_") is pruning else len(callbacks)


def check_single_pruning(pruning, net):
    """Raise ``ValueError`` when ``net`` holds another pruning callback besides ``pruning``:
    both would prune the same module, each counting the other's epochs."""
    from skscreen.nn._pruning import ScreeningPruning as kind  # it imports this module

    others = [
        name for name, cb in net.callbacks_ if isinstance(cb, kind) and cb is not pruning
    ]
    held = net.__dict__.get("pruning_")
    if isinstance(held, kind) and held is not pruning:
        others.append("pruning_")
    if others:
        raise ValueError(
            f"The net holds more than one ScreeningPruning callback ({others!r} besides this "
            "one): each would prune the same module and count the other's pruning epochs. "
            "Keep one, with the settings you want."
        )


def check_channel_callbacks(pruning, net):
    """Raise ``ValueError`` for a callback of ``net`` that cannot work with channel-level
    ``pruning``: ``EarlyStopping(load_best=True)`` (unless it waits for the pruning schedule),
    ``Checkpoint(load_best=True)``, and ``LoadInitState`` notified before the module is
    prepared to load a channel-pruned checkpoint."""
    if pruning.granularity != "channel":
        return
    here = _position(pruning, net)
    for i, (_, cb) in enumerate(net.callbacks_):
        if (
            isinstance(cb, EarlyStopping)
            and getattr(cb, "load_best", False)
            and not getattr(cb, "waits_for_pruning", False)
        ):
            raise ValueError(
                "EarlyStopping(load_best=True) would restore the weights of its best epoch, "
                "usually one before the last channels were removed, which a channel-pruned "
                "module cannot take back. Use skscreen.nn.EarlyStoppingAfterPruning("
                "load_best=True), which only watches the epochs after the pruning schedule."
            )
        if isinstance(cb, Checkpoint) and getattr(cb, "load_best", False):
            raise ValueError(
                "Checkpoint(load_best=True) would load its best epoch's parameters at the "
                "end of training, usually saved before the last channels were removed, "
                "which a channel-pruned module cannot take back. Use load_best=False, or "
                "a monitor that saves only after the pruning schedule, such as "
                "EarlyStoppingAfterPruning's (skscreen.nn.EarlyStoppingAfterPruning("
                "load_best=True) restores the best epoch after the schedule)."
            )
        restoring = isinstance(cb, LoadInitState)
        hooked = any(
            isinstance(getattr(h, "hook", h), _RebuildChannels)
            for h in net.module_._load_state_dict_pre_hooks.values()
        )
        if restoring and i < here and not hooked:
            raise ValueError(
                "At channel level, list ScreeningPruning before LoadInitState in callbacks: "
                "LoadInitState loads the checkpoint at the start of training, and a "
                "channel-pruned checkpoint only loads once ScreeningPruning has prepared the "
                "module (or use skscreen.ScreeningPrunedNet, which prepares it at "
                "initialize())."
            )
