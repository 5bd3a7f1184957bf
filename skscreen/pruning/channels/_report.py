"""Counts of a channel-pruned network: MACs and parameters, dense against pruned."""

from __future__ import annotations

from skscreen.pruning._layers import torch_pruning

__all__ = ["count_macs", "channel_report"]


def count_macs(model, example_inputs):
    """``(MACs, parameters)`` of ``model`` for one forward pass of ``example_inputs``."""
    tp = torch_pruning()
    was_training = model.training
    model.eval()
    macs, params = tp.utils.count_ops_and_params(model, example_inputs)
    model.train(was_training)
    return int(macs), int(params)


def channel_report(dense, pruned, example_inputs, kept_fraction=None):
    """Parameters, MACs and channels of a dense and a channel-pruned network, side by side."""
    d_macs, d_params = count_macs(dense, example_inputs)
    p_macs, p_params = count_macs(pruned, example_inputs)
    report = {
        "dense": {"parameters": d_params, "macs": d_macs},
        "pruned": {"parameters": p_params, "macs": p_macs},
        "parameter_reduction": d_params / max(p_params, 1),
        "mac_reduction": d_macs / max(p_macs, 1),
    }
    if kept_fraction is not None:
        report["channels_kept"] = dict(kept_fraction)
    return report
