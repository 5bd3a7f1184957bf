"""Applying masks to ``Linear`` weights (the *applying* half; scores decide elsewhere).

Masks are stored the way :mod:`torch.nn.utils.prune` stores them (``weight_orig``
parameter, ``weight_mask`` buffer, a forward pre-hook), so ``prune.is_pruned(module)``
recognises a pruned network and ``prune.remove`` makes the pruning permanent. On top of
that, pruned entries of ``weight_orig`` and of the optimizer's state (momentum, Adam
moments) are zeroed whenever a mask changes, so that pruned weights stay exactly zero
through optimizer steps with momentum and weight decay, and never come back.
"""

from __future__ import annotations

import torch
from torch.nn.utils import prune

__all__ = ["attach_mask", "get_mask", "effective_weight", "update_mask", "remove_masks"]


def attach_mask(module, name="weight"):
    """Give ``module.<name>`` an all-ones mask (no-op if it already has one)."""
    if not hasattr(module, name + "_mask"):
        prune.identity(module, name)
    return getattr(module, name + "_mask")


def get_mask(module, name="weight"):
    """The module's mask (a float 0/1 buffer), or ``None`` when it has none."""
    return getattr(module, name + "_mask", None)


def effective_weight(module, name="weight"):
    """The weight as used in the forward pass (masked), detached."""
    mask = get_mask(module, name)
    if mask is None:
        return getattr(module, name).detach()
    return (getattr(module, name + "_orig") * mask).detach()


def _zero_optimizer_state(optimizer, param, keep):
    if optimizer is None:
        return
    state = optimizer.state.get(param, {})
    for value in state.values():
        if torch.is_tensor(value) and value.shape == param.shape:
            value.mul_(keep.to(value.dtype))


@torch.no_grad()
def update_mask(module, keep, optimizer=None, name="weight"):
    """Set the mask of ``module.<name>`` to ``keep`` (bool or 0/1), never reviving a weight.

    The new mask is ``old_mask & keep``; the pruned entries of the parameter and of the
    optimizer's per-parameter state are zeroed.
    """
    mask = attach_mask(module, name)
    keep = keep.to(device=mask.device, dtype=mask.dtype) * mask
    mask.copy_(keep)
    orig = getattr(module, name + "_orig")
    orig.mul_(keep.to(orig.dtype))
    _zero_optimizer_state(optimizer, orig, keep)
    # keep module.<name> (recomputed by the pre-hook at the next forward) consistent now
    setattr(module, name, orig * keep)
    return mask


def remove_masks(model, name="weight"):
    """Make pruning permanent: plain parameters with the zeros baked in."""
    for module in model.modules():
        if prune.is_pruned(module) and hasattr(module, name + "_mask"):
            prune.remove(module, name)
    return model
