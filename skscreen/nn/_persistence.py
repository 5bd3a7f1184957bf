"""What a loaded state dict means for the pruning state (the callback's persistence).

The pruning state lives in the module and in ``net.history`` (see :mod:`skscreen.nn._pruning`):

* ``_RebuildChannels``, a load pre-hook at channel level: a channel-pruned state dict loads
  into a dense module by first replaying the channel removals the history records;
* ``_FoldTorchPrune``, a load pre-hook at weight level: a state dict saved after
  ``to_torch_prune()`` loads into plain weights;
* ``_ReportLoad``, a load post-hook: the callback is told that the module's state was
  replaced (``EarlyStopping(load_best=True)``), so that history and warnings stay true;
* the history readers both use (``_pruning_rows``, ``_channel_records``, ``_bn_sizes``).

The hooks hold the net weakly and are inert when pickled or copied; ``ScreeningPruning.prepare``
(re-)arms them.
"""

from __future__ import annotations

import weakref

import torch

from skscreen.pruning._layers import CHANNEL_NORMS

__all__ = []


def _pruning_of(net):
    """The net's pruning callback (``find_pruning_callback``; imported here because the
    callback's module imports this one)."""
    from skscreen.nn._pruning import find_pruning_callback

    return find_pruning_callback(net)


def _pruning_rows(history):
    return [row for row in history if "pruning_epoch" in row]


def _bn_sizes(module):
    modules = module.named_modules()
    return {n: int(m.num_features) for n, m in modules if isinstance(m, CHANNEL_NORMS)}


def _channel_records(history):
    """``(removals, structure)`` of a channel-level history: every recorded removal in order
    (Torch-Pruning's ``[name, out?, indices]``) and the structure of the dense module."""
    removals, structure = [], None
    for row in _pruning_rows(history):
        removals.extend(row.get("event_pruned_channels", ()))
        if structure is None:
            structure = row.get("event_channel_structure")
    return removals, structure


def _shape_mismatches(module, state_dict, prefix):
    out = []
    for key, value in module.state_dict().items():
        saved = state_dict.get(prefix + key)
        if torch.is_tensor(saved) and tuple(saved.shape) != tuple(value.shape):
            out.append((key, tuple(saved.shape), tuple(value.shape)))
    return out


class _NetHook:
    """A module hook acting for a skorch net, held weakly (the module does not keep the net
    alive). A pickled or deep-copied module carries it inert; ``prepare`` re-arms it."""

    def __init__(self, net=None):
        self.arm(net)

    def arm(self, net):
        self._net = None if net is None else weakref.ref(net)
        return self

    @property
    def net(self):
        return None if self._net is None else self._net()

    def __reduce__(self):
        return (type(self), ())


class _RebuildChannels(_NetHook):
    """Load pre-hook (channel level): a state dict of a channel-pruned module is loaded into
    a dense one by first removing the same channels, replayed from ``net.history``."""

    def __call__(self, module, state_dict, prefix, *args):
        net = self.net
        if net is None:
            return
        mismatches = _shape_mismatches(module, state_dict, prefix)
        if not mismatches:
            return
        key, saved, here = mismatches[0]
        where = f"({key}: {saved} saved, {here} in the module)"
        removals, structure = _channel_records(net.history)
        if not removals or structure is None:
            raise ValueError(
                f"The state dict comes from a channel-pruned module {where}, but the net's "
                "history records no channel removal to rebuild its structure from. Load the "
                "history with it: net.load_params(f_params=..., f_history=...) (Checkpoint and "
                "LoadInitState save and load the history by default)."
            )
        from skscreen.pruning.channels import replay_pruning

        device = next(iter(module.state_dict().values())).device
        example = torch.zeros(
            [1, *structure["input_shape"]],
            dtype=getattr(torch, structure["input_dtype"]),
            device=device,
        )
        expected = {
            k[len(prefix) :]: v.shape
            for k, v in state_dict.items()
            if k.startswith(prefix) and torch.is_tensor(v)
        }
        optimizer = getattr(net, "optimizer_", None)
        try:
            replay_pruning(
                module,
                removals,
                example,
                [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else [],
                expected_shapes=expected,
            )
        except Exception as exc:
            raise ValueError(
                f"Cannot load a channel-pruned state dict into this module {where}: replaying "
                f"the history's channel removals on it failed ({type(exc).__name__}: {exc}). "
                "The record starts from the dense module, and this one has had channels "
                "removed already (EarlyStopping(load_best=True) or Checkpoint(load_best=True) "
                "restoring an epoch from before the last removal?). Load into a freshly "
                "initialised net (net.initialize(), then load_params), or early-stop with "
                "skscreen.nn.EarlyStoppingAfterPruning, which restores only epochs after the "
                "pruning schedule."
            ) from exc
        cb = _pruning_of(net)
        if cb is not None and cb.pruner_ is not None and cb.pruner_.model is module:
            cb._drop_pruner()  # rebuilt on the new structure at the next training batch


class _FoldTorchPrune(_NetHook):
    """Load pre-hook (weight level): a state dict saved after ``to_torch_prune()``
    (``weight_orig`` and ``weight_mask``, :mod:`torch.nn.utils.prune`'s storage) loads into
    a module with plain weights as ``weight = weight_orig * weight_mask``, what
    ``prune.remove`` makes permanent. The mask goes with it where the module's state dict
    holds masks; elsewhere (the net's, whose masks follow the loaded zeros) it is dropped."""

    def __call__(self, module, state_dict, prefix, *args):
        suffix = ".weight_orig"
        keys = [k for k in state_dict if k.startswith(prefix) and k.endswith(suffix)]
        if not keys:
            return
        own = set(module.state_dict())
        for key in keys:
            path = key[len(prefix) : -len(suffix)]
            try:
                target = module.get_submodule(path)
            except AttributeError:
                continue  # no such layer here: torch reports the key as unexpected
            plain = prefix + path + ".weight"
            if "weight" not in target._parameters or plain in state_dict:
                continue  # torch-pruned here too, or the plain weight given as well
            orig = state_dict.pop(key)
            mask_key = prefix + path + ".weight_mask"
            mask = state_dict.get(mask_key)
            if mask is not None and path + ".weight_mask" not in own:
                del state_dict[mask_key]
            state_dict[plain] = orig if mask is None else orig * mask


class _ReportLoad(_NetHook):
    """Load post-hook: tell the pruning callback that the module's state was replaced."""

    def __call__(self, module, incompatible_keys):
        net = self.net
        cb = _pruning_of(net) if net is not None else None
        if cb is not None and getattr(net, "module_", None) is module:
            cb._state_loaded(net)


def _hook_once(hooks, cls, register, net):
    for hook in hooks.values():
        hook = getattr(hook, "hook", hook)  # torch wraps load pre-hooks
        if isinstance(hook, cls):
            return hook.arm(net)
    hook = cls(net)
    register(hook)
    return hook
