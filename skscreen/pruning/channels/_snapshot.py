"""Snapshot and restore of what pruning changes in a module, so a failed step leaves nothing
half done."""

from __future__ import annotations

__all__ = ["snapshot", "restore"]


def snapshot(model):
    """What pruning changes in each module: attributes, parameter and buffer slots."""
    return [(m, dict(m.__dict__), dict(m._parameters), dict(m._buffers)) for m in model.modules()]


def restore(snapshot):
    for m, attrs, params, buffers in snapshot:
        m.__dict__.clear()
        m.__dict__.update(attrs)
        m._parameters.clear()
        m._parameters.update(params)
        m._buffers.clear()
        m._buffers.update(buffers)
