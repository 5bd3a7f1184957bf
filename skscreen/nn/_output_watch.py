"""Whether a pruned module still tells samples apart, from the outputs the net computes anyway.

At the end of the schedule every input-output path of a module may be gone (a small network
pruned hard, with the keep-at-least rules satisfied): it then gives every sample the same
output. :class:`OutputWatch` watches the first epoch with the final masks through the
``y_pred`` skorch hands to ``on_batch_end`` (no forward pass of its own) and words the warning;
the callback decides when to watch (:class:`~skscreen.nn.ScreeningPruning`).
"""

from __future__ import annotations

import torch

__all__ = ["OutputWatch", "SameOutputs"]


class SameOutputs:
    """Whether a module gave the same output to every sample, from the outputs (``y_pred``) the
    net computed anyway: within each batch, and across batches when ``across_batches`` (the
    validation batches of an epoch; training batches are compared within each batch only,
    as the weights move between them)."""

    def __init__(self, across_batches):
        self.across_batches = across_batches
        self.first = None
        self.n = 0
        self.same = True

    def add(self, y_pred):
        if isinstance(y_pred, tuple | list) and y_pred:
            y_pred = y_pred[0]
        if not torch.is_tensor(y_pred) or y_pred.ndim < 1 or y_pred.shape[0] == 0:
            self.same = False  # cannot be told: no claim
            return
        y_pred = y_pred.detach()
        if not self.across_batches and y_pred.shape[0] < 2:
            return  # a batch of one row says nothing about samples within it
        if self.first is None or not self.across_batches:
            self.first = y_pred[:1]
        if self.same:
            self.same = y_pred.shape[1:] == self.first.shape[1:] and bool(
                (y_pred == self.first).all()
            )
        if self.across_batches and self.n == 0:
            self.first = self.first.clone()  # kept past this batch
        self.n += int(y_pred.shape[0])


class OutputWatch:
    """One epoch's outputs: validation batches compared across the epoch (the weights are
    fixed then), training batches within each batch (the weights move between them).

    Parameters
    ----------
    kept : int
        Units kept when the watch starts (the pruned state it is about).
    """

    def __init__(self, kept):
        self.kept = kept
        self.train = SameOutputs(across_batches=False)
        self.valid = SameOutputs(across_batches=True)

    def add(self, training, y_pred):
        """A batch's outputs (``on_batch_end``'s ``y_pred``)."""
        (self.train if training else self.valid).add(y_pred)

    def warning(self, epoch, kept, total):
        """The warning for epoch ``epoch`` when every sample got the same output, else None
        (no claim without two compared samples)."""
        validation = self.valid.n > 0
        seen = self.valid if validation else self.train
        if seen.n < 2 or not seen.same:
            return None
        samples = (
            f"all {seen.n} validation samples"
            if validation
            else f"every sample of each training batch ({seen.n} samples)"
        )
        return (
            f"In epoch {epoch}, after pruning to sparsity {1.0 - kept / total:.4f} "
            f"({kept} of {total} kept), the module gave the same output to {samples}: no "
            "input-output path is left (or none is active), so it cannot tell samples apart. "
            "Lower sparsity, use scope='layer' (every layer keeps its share), or a larger "
            "module."
        )
