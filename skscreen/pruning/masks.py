"""Applying masks to ``Linear`` weights (the *applying* half; scores decide elsewhere).

During training a mask is a ``weight_mask`` buffer beside a plain ``weight`` parameter:
the zeros are real zeros in the weight, so the forward pass costs nothing extra. After every
optimizer step :func:`enforce_masks` re-zeroes the pruned entries (one in-place multiply
per layer), so pruned weights are exactly zero whenever the network is used, whatever the
optimizer does with momentum or weight decay; whenever a mask changes, the pruned entries
of the optimizer's state (momentum, Adam moments) are zeroed too, and a mask never revives
a weight.

:func:`to_torch_prune` converts to :mod:`torch.nn.utils.prune`'s storage (``weight_orig``
parameter, ``weight_mask`` buffer, forward pre-hook) on request, so that
``prune.is_pruned`` recognises the network and ``prune.remove`` works; the functions here
accept both storages.
"""

from __future__ import annotations

import torch
from torch.nn.utils import prune

__all__ = [
    "attach_mask",
    "get_mask",
    "effective_weight",
    "update_mask",
    "enforce_masks",
    "remove_masks",
    "to_torch_prune",
]


def _uses_torch_prune(module, name):
    return hasattr(module, name + "_orig")


def _param(module, name):
    return (
        getattr(module, name + "_orig")
        if _uses_torch_prune(module, name)
        else getattr(module, name)
    )


def attach_mask(module, name="weight"):
    """Give ``module.<name>`` an all-ones mask buffer (no-op if it already has a mask)."""
    if not hasattr(module, name + "_mask"):
        w = getattr(module, name)
        module.register_buffer(name + "_mask", torch.ones_like(w, dtype=w.dtype))
    return getattr(module, name + "_mask")


def get_mask(module, name="weight"):
    """The module's mask (a float 0/1 buffer), or ``None`` when it has none."""
    return getattr(module, name + "_mask", None)


def effective_weight(module, name="weight"):
    """The weight as used in the forward pass (masked), detached."""
    mask = get_mask(module, name)
    w = _param(module, name).detach()
    return w if mask is None else w * mask


@torch.no_grad()
def enforce_masks(modules, name="weight"):
    """Re-zero the pruned entries of every masked module (call after each optimizer step)."""
    for module in modules:
        mask = get_mask(module, name)
        if mask is not None:
            _param(module, name).mul_(mask)


def _zero_optimizer_state(optimizer, param, keep):
    if optimizer is None:
        return
    state = optimizer.state.get(param, {})
    for value in state.values():
        if torch.is_tensor(value) and value.shape == param.shape:
            value.mul_(keep.to(value.dtype))


@torch.no_grad()
def update_mask(module, keep, optimizer=None, name="weight"):
    """Set the mask of ``module.<name>`` to ``old_mask & keep``, never reviving a weight.

    The pruned entries of the parameter and of the optimizer's per-parameter state are
    zeroed.
    """
    mask = attach_mask(module, name)
    keep = keep.to(device=mask.device, dtype=mask.dtype) * mask
    mask.copy_(keep)
    param = _param(module, name)
    param.mul_(keep.to(param.dtype))
    _zero_optimizer_state(optimizer, param, keep)
    if _uses_torch_prune(module, name):
        setattr(module, name, param * keep)  # what the pre-hook computes at the next forward
    return mask


def to_torch_prune(model, name="weight"):
    """Convert every mask buffer to :mod:`torch.nn.utils.prune`'s reparametrisation.

    Afterwards ``prune.is_pruned(model)`` is true and ``prune.remove`` makes it permanent.
    Note that this renames the parameter to ``weight_orig``: build optimizers afterwards.
    """
    for module in model.modules():
        mask = get_mask(module, name)
        if mask is not None and not _uses_torch_prune(module, name):
            del module._buffers[name + "_mask"]
            prune.custom_from_mask(module, name, mask.clone())
    return model


def remove_masks(model, name="weight"):
    """Make pruning permanent: plain parameters with the zeros baked in, no mask left."""
    for module in model.modules():
        if _uses_torch_prune(module, name) and prune.is_pruned(module):
            prune.remove(module, name)
        elif name + "_mask" in getattr(module, "_buffers", {}):
            with torch.no_grad():
                getattr(module, name).mul_(module._buffers[name + "_mask"])
            del module._buffers[name + "_mask"]
    return model
