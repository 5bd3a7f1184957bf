"""What kind of layer a module is, and which layers the user asked to leave alone.

One home for the layer facts that the pruners, compaction and the callback share: the
BatchNorm classes, depthwise convolutions, ``ignored_layers`` resolution, and the optional
Torch-Pruning import.
"""

from __future__ import annotations

from torch import nn

__all__ = [
    "BATCH_NORMS",
    "CHANNEL_NORMS",
    "CONVS",
    "is_depthwise",
    "resolve_ignored",
    "under",
    "torch_pruning",
]

#: Convolutions (not transposed) whose weights and channels the pruners handle.
CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: Per-channel BatchNorms: they carry a channel along and read no other.
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
#: The BatchNorms whose channels channel-level pruning ranks (by their scale gamma).
CHANNEL_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def is_depthwise(module):
    """A depthwise convolution (``groups == in_channels == out_channels > 1``): its groups
    shrink with its channels. A grouped convolution left with one output channel per group
    is not one, although Torch-Pruning's type test (``groups == out_channels``) says so."""
    return (
        isinstance(module, nn.modules.conv._ConvNd)
        and module.groups > 1
        and module.groups == module.in_channels == module.out_channels
    )


def resolve_ignored(model, ignored_layers):
    """Qualified names of ``ignored_layers`` (modules of ``model`` or names), validated."""
    if ignored_layers is None:
        return []
    if isinstance(ignored_layers, str | nn.Module):
        ignored_layers = [ignored_layers]
    names_of = {id(m): n for n, m in model.named_modules()}
    all_names = set(names_of.values())
    out = []
    for item in ignored_layers:
        if isinstance(item, nn.Module):
            if id(item) not in names_of:
                raise ValueError(
                    f"ignored_layers: {type(item).__name__} is not part of the model (not in "
                    "the model's named_modules())."
                )
            out.append(names_of[id(item)])
        elif isinstance(item, str):
            if item not in all_names:
                raise ValueError(
                    f"ignored_layers: the model has no submodule named {item!r} (no module "
                    f"named {item!r} in its named_modules())."
                )
            out.append(item)
        else:
            raise TypeError(
                f"ignored_layers must hold modules or qualified names, got {type(item).__name__}."
            )
    return out


def under(name, prefixes):
    """Whether module ``name`` is one of ``prefixes`` or inside one of them."""
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


def torch_pruning():
    """The ``torch_pruning`` module, or an ImportError saying how to install it."""
    try:
        import torch_pruning as tp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Channel pruning needs Torch-Pruning: pip install torch-pruning "
            "(or pip install 'skscreen[channels]')."
        ) from exc
    return tp
