"""The pruning state as the module and the history hold it, read and written for the callback.

:class:`~skscreen.nn.ScreeningPruning` derives everything else (pruner, statistics, hooks)
from two places (see :mod:`skscreen.nn._pruning`): the module (the weights' zeros at weight
level, the physical shapes at channel level) and ``net.history`` (the rows each pruning epoch
records). This module holds what reads and writes them:

* :func:`prepare_module`: arm the module to load a pruned state dict (masks or the channel
  replay of :mod:`skscreen.nn._persistence`, and the load report);
* :func:`alive_counts` and :func:`alive_fractions`: what is alive in the module now;
* :func:`report_replaced_state`: the history row and warning when a callback replaced the
  module's weights after an epoch was recorded;
* :func:`resume_budget`: a pruner built on a module that continues a recorded history takes
  its budget from the dense module the history started from;
* :func:`epoch_row`: the history row of one pruning epoch.
"""

from __future__ import annotations

import warnings

import numpy as np

from skscreen.nn._persistence import (
    _bn_sizes,
    _channel_records,
    _FoldTorchPrune,
    _hook_once,
    _pruning_rows,
    _RebuildChannels,
    _ReportLoad,
)
from skscreen.pruning.factory import attach_prunable_masks, prunable_weights
from skscreen.pruning.masks import get_mask, n_alive

__all__ = []


def _bound(pruner, module):
    """The pruner works on this module instance (its counts are the module's)."""
    return pruner is not None and pruner.model is module


def prepare_module(net, granularity, pruner, layer_types, ignored_layers):
    """Make ``net.module_`` ready to load a pruned state dict (idempotent); see
    :meth:`ScreeningPruning.prepare <skscreen.nn.ScreeningPruning.prepare>`."""
    module = net.module_
    if granularity == "weight":
        if not _bound(pruner, module):  # else the pruner's masks are there
            attach_prunable_masks(module, layer_types, ignored_layers)
        _hook_once(
            module._load_state_dict_pre_hooks,
            _FoldTorchPrune,
            module.register_load_state_dict_pre_hook,
            net,
        )
    else:
        _hook_once(
            module._load_state_dict_pre_hooks,
            _RebuildChannels,
            module.register_load_state_dict_pre_hook,
            net,
        )
    _hook_once(
        module._load_state_dict_post_hooks,
        _ReportLoad,
        module.register_load_state_dict_post_hook,
        net,
    )
    return net


def _recorded_structure_matches(history, sizes):
    """The last pruning row recorded these BatchNorm sizes (the module is that epoch's)."""
    rows = _pruning_rows(history)
    return bool(rows) and rows[-1].get("event_channels") == sizes, rows


def alive_counts(net, granularity, pruner, layer_types=None, ignored_layers=None):
    """``(kept, total)``: prunable weights (channels) alive in ``net.module_`` now, and in the
    dense module. At weight level without masks (``remove_masks``) the non-zero weights of
    the layers a pruner would mask (``layer_types``, ``ignored_layers``)."""
    module = net.module_
    if _bound(pruner, module):
        return pruner.n_kept(), pruner.n_total
    if granularity == "channel":
        sizes = _bn_sizes(module)
        matches, rows = _recorded_structure_matches(net.history, sizes)
        if matches:
            return int(rows[-1]["n_kept"]), int(rows[-1]["n_prunable"])
        n = sum(sizes.values())
        return n, n
    masks = {id(get_mask(m)): get_mask(m) for m in module.modules() if get_mask(m) is not None}
    if not masks:  # the pruning made permanent: the zeros are the pruned weights
        masks = {id(w): w for w in prunable_weights(module, layer_types, ignored_layers).values()}
    kept = sum(n_alive(m) for m in masks.values())
    return kept, int(sum(m.numel() for m in masks.values()))


def alive_fractions(net, granularity, pruner, layer_types=None, ignored_layers=None):
    """Fraction of the weights (channels) of each prunable layer alive in ``net.module_``
    (without masks, its non-zero weights, as :func:`alive_counts`)."""
    module = net.module_
    if _bound(pruner, module):
        return pruner.kept_fractions()
    if granularity == "channel":
        sizes = _bn_sizes(module)
        matches, _ = _recorded_structure_matches(net.history, sizes)
        _, structure = _channel_records(net.history)
        if matches and structure:
            initial = structure["initial_channels"]
            return {n: sizes[n] / initial[n] for n in sizes if n in initial}
        return {n: 1.0 for n in sizes}
    fractions = {
        n: n_alive(mask) / mask.numel()
        for n, mask in ((n, get_mask(m)) for n, m in module.named_modules())
        if mask is not None
    }
    if not fractions:
        weights = prunable_weights(module, layer_types, ignored_layers)
        fractions = {n: n_alive(w) / w.numel() for n, w in weights.items()}
    return fractions


def report_replaced_state(net, counts):
    """A state dict was loaded into the module: if it changed the pruning the history's last
    row states (a callback restored another epoch's weights), record
    ``restored_n_kept``/``restored_sparsity`` in that row and warn. ``counts()`` gives
    ``(kept, total)`` of the module now (called only when a row was recorded)."""
    history = net.history
    recorded = [row for row in history if "n_kept" in row]
    if not recorded:
        return
    last = recorded[-1]
    kept, total = counts()
    if kept == int(last.get("restored_n_kept", last["n_kept"])):
        return
    sparsity = 1.0 - kept / total if total else 0.0
    history.record("restored_n_kept", int(kept))
    history.record("restored_sparsity", float(sparsity))
    warnings.warn(
        f"The module's weights were replaced after epoch {history[-1, 'epoch']} (a "
        "callback such as EarlyStopping(load_best=True) restored an earlier epoch, or "
        f"load_params loaded another state): the module now has sparsity {sparsity:.4f} "
        f"({kept} of {total} kept), not the {last['sparsity']:.4f} recorded for epoch "
        f"{last.get('epoch', '?')}; recorded as history[-1, 'restored_sparsity']. To "
        "early-stop a pruned run at its target, use skscreen.nn.EarlyStoppingAfterPruning.",
        UserWarning,
        stacklevel=3,
    )


def resume_budget(pruner, history, granularity):
    """A pruner built on a module that continues a recorded history (``load_params``,
    ``Checkpoint``, a re-made callback) takes its budget from the dense module the history
    started from, not from what is left; a module that cannot be that one is refused
    (the pruner's hooks are removed first)."""
    rows = _pruning_rows(history)
    if not rows or "n_prunable" not in rows[-1]:
        return pruner
    recorded = int(rows[-1]["n_prunable"])
    found = pruner.n_total  # dense count (weight level); what is left (channels)
    if found > recorded or (granularity == "weight" and found != recorded):
        pruner.remove_hooks()
        unit = "weights" if granularity == "weight" else "channels"
        raise ValueError(
            f"The module has {found} prunable {unit} "
            f"but the history was recorded on one with {recorded}: the module was "
            "re-initialised with other parameters (set_params(module__...)) or is not "
            "the one the history belongs to. Call fit() to start again."
        )
    pruner.n_total = recorded
    _, structure = _channel_records(history)
    if granularity == "channel" and structure is not None:
        # fractions and per-unit budgets are of the dense module, not what is left
        pruner.initial_channels = {
            n: int(structure["initial_channels"].get(n, c))
            for n, c in pruner.initial_channels.items()
        }
        pruner.initial_units = {
            n: int(structure["initial_units"].get(n, c)) for n, c in pruner.initial_units.items()
        }
    return pruner


def epoch_row(net, pruner, epoch, target_keep, n_kept, penalties, removed, example_inputs):
    """The history row of pruning epoch ``epoch``.

    ``pruning_epoch``, ``target_sparsity``, ``sparsity``, ``n_kept``, ``n_prunable``, the mean
    regulariser ``penalty`` of the epoch's batches (if any); at channel level (``removed``
    not None: Torch-Pruning's removals of this epoch) what a dense module needs to take this
    one's state dict: ``event_channel_structure`` in the first row, ``event_pruned_channels``
    and ``event_channels`` (``event_*``: not printed).
    """
    total = pruner.n_total
    row = {
        "pruning_epoch": epoch,
        "target_sparsity": 1.0 - target_keep / total,
        "sparsity": 1.0 - n_kept / total,
        "n_kept": int(n_kept),
        "n_prunable": int(total),
    }
    if penalties:
        row["penalty"] = float(np.mean(penalties))
    if removed is not None:
        if _channel_records(net.history)[1] is None:
            row["event_channel_structure"] = {
                "input_shape": [int(d) for d in example_inputs.shape[1:]],
                "input_dtype": str(example_inputs.dtype).replace("torch.", ""),
                "initial_channels": dict(pruner.initial_channels),
                "initial_units": dict(pruner.initial_units),
            }
        if removed:
            row["event_pruned_channels"] = [
                [str(n), bool(o), [int(i) for i in idx]] for n, o, idx in removed
            ]
        row["event_channels"] = _bn_sizes(net.module_)
    return row
