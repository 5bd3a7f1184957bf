"""Optimizer state that follows a structural change (parameters replaced, state sliced)."""

from __future__ import annotations

import torch

__all__ = ["remap_optimizer"]


def _slice_state(state, shape, cuts):
    """Slice every state tensor shaped like the parameter (``shape``) as the parameter was;
    None when some state tensor cannot be mapped (then the state is reset)."""
    out = {}
    for key, value in state.items():
        if not torch.is_tensor(value) or value.ndim == 0:
            out[key] = value
            continue
        if value.ndim != len(shape) or any(v not in (s, 1) for v, s in zip(value.shape, shape)):
            return None
        reduced = {d for d in range(value.ndim) if value.shape[d] != shape[d]}
        for dim, keep in cuts:
            if dim not in reduced:
                keep = torch.as_tensor(keep, dtype=torch.long, device=value.device)
                value = value.index_select(dim, keep)
        out[key] = value.clone()
    return out


def remap_optimizer(optimizer, slices):
    """Follow a structural change in ``optimizer``: replace parameters and slice their state.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    slices : dict
        ``{id(new parameter): (new, old, [(dim, kept indices), ...])}``: ``new`` is ``old``
        with the kept indices taken on each dim in turn.

    Every parameter group keeps its list object (optimizers such as LBFGS hold a reference to
    it); per-parameter state tensors shaped like the old parameter are sliced on the same
    dimensions (a dimension of size 1 in the state is kept), scalar state is kept, and state
    that cannot be mapped is dropped so the optimizer starts it afresh for that parameter.
    LBFGS's flat history over all parameters is reset.
    """
    replace = {id(old): new for new, old, _ in slices.values()}
    flat_state = isinstance(optimizer, torch.optim.LBFGS)
    for new, old, cuts in slices.values():
        state = optimizer.state.pop(old, None)
        if state and not flat_state:
            sliced = _slice_state(state, tuple(old.shape), cuts)
            if sliced is not None:
                optimizer.state[new] = sliced
    for group in optimizer.param_groups:
        group["params"][:] = [replace.get(id(p), p) for p in group["params"]]
    if flat_state and replace:
        optimizer.state.clear()
        optimizer._numel_cache = None
