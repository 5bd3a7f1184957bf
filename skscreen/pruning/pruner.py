"""WeightPruner: glues statistics, scorer, schedule, selection and masks for one model.

Framework-free (plain torch): the skorch estimator drives it epoch by epoch, but it can be
used from any training loop::

    pruner = WeightPruner(model, scorer, schedule, sparsity=0.9, prune_epochs=10, n_classes=10)
    for epoch in range(1, n_epochs + 1):
        for xb, yb in loader:
            pruner.set_targets(yb)        # labels for the statistics hooks
            loss = ...; loss.backward(); optimizer.step()
            pruner.enforce()              # pruned weights back to exactly zero
        pruner.step(epoch, optimizer)     # score, decide, apply; resets the statistics
"""

from __future__ import annotations

import torch
from torch import nn

from skscreen.pruning.hooks import InputStatsRecorder
from skscreen.pruning.masks import (
    attach_mask,
    effective_weight,
    enforce_masks,
    get_mask,
    update_mask,
)
from skscreen.pruning.scorers import LayerView
from skscreen.pruning.selection import select_global, select_per_layer

__all__ = ["WeightPruner", "prunable_linear_layers"]


def prunable_linear_layers(model):
    """Named ``nn.Linear`` modules of ``model`` in forward-definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}


class WeightPruner:
    """Prunes the ``Linear`` weights of ``model`` to an annealed sparsity target.

    Parameters
    ----------
    model : torch.nn.Module
    scorer : callable
        ``scorer(layers, scope) -> list of score tensors`` (see :mod:`skscreen.pruning.scorers`).
    schedule : Schedule
    sparsity : float in [0, 1)
        Target fraction of prunable weights removed.
    prune_epochs : int
        Epochs over which the schedule reaches the target.
    n_classes : int
    scope : {"global", "layer"}, default="global"
    """

    def __init__(
        self, model, scorer, schedule, *, sparsity, prune_epochs, n_classes, scope="global"
    ):
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}.")
        if scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}.")
        self.scorer = scorer
        self.schedule = schedule
        self.sparsity = float(sparsity)
        self.prune_epochs = int(prune_epochs)
        self.scope = scope
        self.bind(model)
        self.n_total = sum(m.weight.numel() for m in self.layers.values())
        needs = getattr(scorer, "needs_input_stats", True)
        track_abs = getattr(scorer, "needs_abs_stats", False)
        self.recorder = (
            InputStatsRecorder(self.layers, n_classes, track_class=needs, track_abs=track_abs)
            if needs or track_abs
            else None
        )

    def bind(self, model):
        """(Re)attach to ``model``: find its Linear layers and give them masks."""
        self.model = model
        self.layers = prunable_linear_layers(model)
        if not self.layers:
            raise ValueError("The model has no nn.Linear layer to prune.")
        for m in self.layers.values():
            attach_mask(m)
        self.names = list(self.layers)
        return self

    def enforce(self):
        """Re-zero pruned weights; call after every optimizer step."""
        enforce_masks(self.layers.values())

    def attach_hooks(self):
        """Start recording input statistics (idempotent)."""
        if self.recorder is not None and not self.recorder.attached:
            self.recorder.attach(self.layers)

    def __getstate__(self):
        # the model is pickled by its owner; ``bind`` re-links after unpickling
        state = dict(self.__dict__)
        state["model"] = None
        state["layers"] = {}
        return state

    # ------------------------------------------------------------------ training-loop hooks
    def set_targets(self, y):
        if self.recorder is not None:
            self.recorder.set_targets(y)

    def views(self):
        out = []
        for name, m in self.layers.items():
            moments = abs_moments = None
            if self.recorder is not None:
                if self.recorder.has_stats(name):
                    moments = self.recorder.moments_of(name)
                abs_moments = self.recorder.abs_moments_of(name)
            out.append(LayerView(name, effective_weight(m), get_mask(m), moments, abs_moments))
        return out

    def n_kept(self):
        return int(sum(int(get_mask(m).sum()) for m in self.layers.values()))

    def kept_fractions(self):
        """Fraction of each layer's weights still alive."""
        return {n: float(get_mask(m).mean()) for n, m in self.layers.items()}

    @property
    def decides_masks(self):
        """True when the criterion sets its own sparsity (e.g. extreme-value pruning)."""
        return getattr(self.scorer, "decides_masks", False)

    def target_keep(self, epoch):
        if self.decides_masks:
            return None
        return self.schedule.n_keep(epoch, self.n_total, self.sparsity, self.prune_epochs)

    @torch.no_grad()
    def step(self, epoch, optimizer=None):
        """End of ``epoch`` (1-based): prune to the schedule's keep-count; reset statistics.

        Returns the number of weights kept.
        """
        keep_rows = [i == len(self.layers) - 1 for i in range(len(self.layers))]  # output layer
        if self.decides_masks:
            if self.scorer.applies_at(epoch, self.prune_epochs):
                masks = self.scorer.decide(self.views(), epoch, keep_rows)
                for m, keep in zip(self.layers.values(), masks):
                    update_mask(m, keep, optimizer)
            if self.recorder is not None:
                self.recorder.reset()
            return self.n_kept()
        n_keep = self.target_keep(epoch)
        if n_keep < self.n_kept():
            views = self.views()
            if getattr(self.scorer, "needs_input_stats", False) and any(
                v.moments is None for v in views
            ):
                raise RuntimeError(
                    "No input statistics were recorded this epoch: call set_targets(y) before "
                    "each training forward pass (the model must be in train mode)."
                )
            scores = self.scorer(views, self.scope)
            if self.scope == "global":
                masks = select_global(scores, n_keep, keep_rows)
            else:
                masks = select_per_layer(scores, n_keep / self.n_total, keep_rows)
            for m, keep in zip(self.layers.values(), masks):
                update_mask(m, keep, optimizer)
        if self.recorder is not None:
            self.recorder.reset()
        return self.n_kept()

    def remove_hooks(self):
        if self.recorder is not None:
            self.recorder.remove()
