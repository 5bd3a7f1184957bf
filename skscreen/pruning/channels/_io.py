"""Saving and loading a channel-pruned module: its state dict and the pruning history that
rebuilds its architecture from the dense one (Torch-Pruning's approach)."""

from __future__ import annotations

import torch

from skscreen.pruning._atomic import deferred_interrupt
from skscreen.pruning._layers import torch_pruning
from skscreen.pruning.channels._optimizer import remap_optimizer
from skscreen.pruning.channels._slices import chain_slices, recording_slices
from skscreen.pruning.channels._snapshot import restore, snapshot

__all__ = ["save_pruned", "load_pruned", "replay_pruning"]


def save_pruned(module, history, path):
    """Save a channel-pruned module as ``{"pruning_history", "state_dict"}``.

    Both are plain data and tensors, so :func:`load_pruned` reads them with
    ``torch.load(weights_only=True)``; the architecture is rebuilt by replaying the pruning
    history on a dense template (Torch-Pruning's approach).
    """
    torch.save(
        {
            "pruning_history": [[n, bool(o), [int(i) for i in idx]] for n, o, idx in history],
            "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        },
        path,
    )


def load_pruned(template, path, example_inputs, map_location="cpu"):
    """Rebuild a module saved by :func:`save_pruned` from its dense ``template`` (modified)."""
    blob = torch.load(path, map_location=map_location, weights_only=True)
    template.eval()
    replay_pruning(template, blob["pruning_history"], example_inputs)
    template.load_state_dict(blob["state_dict"])
    return template


def replay_pruning(module, history, example_inputs, optimizers=(), expected_shapes=None):
    """Remove from ``module`` the channels a Torch-Pruning pruning history records.

    ``module`` must have the architecture the history starts from (the dense one, for the
    history of a whole run); ``history`` is a list of ``[module name, out?, indices]`` as
    :attr:`ChannelPruner.history` and :func:`save_pruned` keep them. The parameters are
    replaced by their sliced values (load a state dict afterwards for the saved ones); every
    optimizer in ``optimizers`` follows the new parameters (:func:`remap_optimizer`). On an
    error, or when ``expected_shapes`` (``{state dict key: shape}``) is given and the result
    does not match it, the module is left as it was and the error raised (``ValueError`` for a
    mismatch). Returns ``module``.
    """
    tp = torch_pruning()
    with deferred_interrupt():
        saved = snapshot(module)
        was_training = module.training
        try:
            module.eval()
            with torch.enable_grad():  # tracing relies on autograd
                graph = tp.DependencyGraph().build_dependency(module, example_inputs=example_inputs)
            with recording_slices() as records:
                graph.load_pruning_history([[n, bool(o), list(i)] for n, o, i in history])
            if expected_shapes is not None:
                state = module.state_dict()
                wrong = [
                    f"{k}: {tuple(v.shape)} rebuilt, {tuple(expected_shapes[k])} expected"
                    for k, v in state.items()
                    if k in expected_shapes and tuple(v.shape) != tuple(expected_shapes[k])
                ]
                if wrong:
                    raise ValueError("; ".join(wrong[:3]))
        except Exception:
            restore(saved)
            raise
        module.train(was_training)
        slices = chain_slices(records)
        for optimizer in optimizers:
            remap_optimizer(optimizer, slices)
    return module
