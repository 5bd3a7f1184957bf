"""A patch on Torch-Pruning that records every parameter slice it takes while pruning."""

from __future__ import annotations

from contextlib import contextmanager

__all__ = ["recording_slices", "chain_slices"]


@contextmanager
def recording_slices():
    """Record every parameter slice Torch-Pruning takes while pruning.

    All of Torch-Pruning's layer pruners (convolutions, grouped and transposed included,
    norms, Linear, attention, LSTM, bare parameters) build the pruned parameter with
    ``BasePruningFunc._prune_parameter_and_grad(weight, keep_idxs, dim)``; wrapping it gives
    the exact ``(old parameter, new parameter, dim, kept indices)`` of every change, which is
    what optimizer state has to follow. Yields the list the records are appended to.
    """
    from torch_pruning.pruner import function as tp_function

    cls = tp_function.BasePruningFunc
    original = cls._prune_parameter_and_grad
    records = []

    def recording(self, weight, keep_idxs, pruning_dim):
        new = original(self, weight, keep_idxs, pruning_dim)
        records.append((weight, new, int(pruning_dim), [int(i) for i in keep_idxs]))
        return new

    cls._prune_parameter_and_grad = recording
    try:
        yield records
    finally:
        cls._prune_parameter_and_grad = original


def chain_slices(records):
    """``{id(final parameter): (final, original, [(dim, kept indices), ...])}`` from records
    of successive slices (a parameter sliced on its output and then its input channels)."""
    chains = {}
    for old, new, dim, keep in records:
        _, origin, cuts = chains.pop(id(old), (None, old, []))
        chains[id(new)] = (new, origin, cuts + [(dim, keep)])
    return chains
