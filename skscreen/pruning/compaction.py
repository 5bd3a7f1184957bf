"""Physical compaction of a masked MLP: remove neurons left without connections.

A hidden neuron with no outgoing connection is dropped. A hidden neuron with no incoming
connection outputs the constant ``act(b)``: it is dropped too and its constant contribution
folded into the next layer's bias, so predictions are unchanged. The result is a plain
``nn.Sequential`` (no masks, smaller ``Linear`` layers) that can be described by
:func:`architecture` and rebuilt by :func:`build_from_architecture`, which is what
:func:`save_compact` / :func:`load_compact` use to save with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from skscreen.pruning.masks import effective_weight

__all__ = [
    "compact_sequential",
    "architecture",
    "build_from_architecture",
    "save_compact",
    "load_compact",
    "count_parameters",
    "export_onnx",
]

# elementwise modules that may sit between Linear layers, by architecture name
_ELEMENTWISE = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "identity": nn.Identity,
    "dropout": nn.Dropout,
    "softmax": nn.Softmax,
    "log_softmax": nn.LogSoftmax,
}


def _flatten_sequential(module):
    """The leaf modules of (nested) Sequentials, in order."""
    if isinstance(module, nn.Sequential):
        out = []
        for child in module:
            out.extend(_flatten_sequential(child))
        return out
    return [module]


def _check_supported(layers):
    for m in layers:
        if not isinstance(m, (nn.Linear, nn.Flatten, *_ELEMENTWISE.values())):
            raise TypeError(
                f"compact() supports Sequential MLPs of Linear, Flatten and elementwise "
                f"activations; found {type(m).__name__}."
            )


@torch.no_grad()
def compact_sequential(module):
    """A smaller ``nn.Sequential`` computing the same function as the masked MLP ``module``.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (possibly nested, or a module whose only child is one) of
        ``Flatten``, ``Linear`` and elementwise activation/dropout modules, with or without
        pruning masks.

    Returns
    -------
    torch.nn.Sequential
        In eval mode, with plain parameters on the module's device.
    """
    seq = module
    if not isinstance(seq, nn.Sequential):
        children = list(module.children())
        if len(children) == 1 and isinstance(children[0], nn.Sequential):
            seq = children[0]
        else:
            raise TypeError("compact() needs an nn.Sequential MLP (or a module wrapping one).")
    layers = _flatten_sequential(seq)
    _check_supported(layers)
    lin_idx = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
    weights = [effective_weight(layers[i]).clone() for i in lin_idx]
    biases = [None if layers[i].bias is None else layers[i].bias.detach().clone() for i in lin_idx]
    keep_in = [torch.ones(w.shape[1], dtype=torch.bool, device=w.device) for w in weights]
    # iterate to a fixed point: removing a neuron can leave others without connections
    changed = True
    while changed:
        changed = False
        for li in range(len(weights) - 1):
            w, w_next = weights[li], weights[li + 1]
            alive_out = keep_in[li + 1]
            no_out = (w_next[:, :] != 0).sum(0) == 0
            no_in = (w[:, keep_in[li]] != 0).sum(1) == 0
            dead = alive_out & (no_out | no_in)
            if not dead.any():
                continue
            # fold constant outputs act(b) of neurons without inputs into the next bias
            fold = alive_out & no_in & ~no_out
            if fold.any():
                between = [
                    m
                    for m in layers[lin_idx[li] + 1 : lin_idx[li + 1]]
                    if not isinstance(m, nn.Dropout)
                ]
                b = (
                    biases[li]
                    if biases[li] is not None
                    else torch.zeros(w.shape[0], device=w.device)
                )
                const = b.clone().unsqueeze(0)
                for m in between:
                    const = m.eval()(const)
                const = const.squeeze(0) * fold
                contrib = w_next @ const
                if biases[li + 1] is None:
                    biases[li + 1] = torch.zeros(w_next.shape[0], device=w.device)
                biases[li + 1] = biases[li + 1] + contrib
            w_next[:, dead] = 0
            w[dead, :] = 0
            keep_in[li + 1] = alive_out & ~dead
            changed = True
    # build the smaller network
    new_layers = []
    lin_pos = {i: k for k, i in enumerate(lin_idx)}
    for i, m in enumerate(layers):
        if i not in lin_pos:
            new_layers.append(copy.deepcopy(m))
            continue
        k = lin_pos[i]
        rows = (
            keep_in[k + 1]
            if k + 1 < len(weights)
            else torch.ones(weights[k].shape[0], dtype=torch.bool, device=weights[k].device)
        )
        cols = keep_in[k]
        w = weights[k][rows][:, cols]
        lin = nn.Linear(w.shape[1], w.shape[0], bias=biases[k] is not None).to(w.device, w.dtype)
        lin.weight.copy_(w)
        if biases[k] is not None:
            lin.bias.copy_(biases[k][rows])
        new_layers.append(lin)
    return nn.Sequential(*new_layers).eval()


def architecture(seq):
    """A JSON-able description of a compact ``nn.Sequential`` (for saving)."""
    arch = []
    for m in _flatten_sequential(seq):
        if isinstance(m, nn.Linear):
            arch.append(["linear", m.in_features, m.out_features, m.bias is not None])
        elif isinstance(m, nn.Flatten):
            arch.append(["flatten", m.start_dim, m.end_dim])
        elif isinstance(m, nn.Dropout):
            arch.append(["dropout", float(m.p)])
        elif isinstance(m, nn.Softmax | nn.LogSoftmax):
            name = "softmax" if isinstance(m, nn.Softmax) else "log_softmax"
            arch.append([name, m.dim])
        else:
            for name, cls in _ELEMENTWISE.items():
                if type(m) is cls:
                    arch.append([name])
                    break
            else:
                raise TypeError(f"Cannot describe {type(m).__name__}.")
    return arch


def build_from_architecture(arch):
    """Rebuild an (untrained) ``nn.Sequential`` from :func:`architecture`'s description."""
    mods = []
    for entry in arch:
        kind, args = entry[0], entry[1:]
        if kind == "linear":
            mods.append(nn.Linear(args[0], args[1], bias=bool(args[2])))
        elif kind == "flatten":
            mods.append(nn.Flatten(*args))
        elif kind in _ELEMENTWISE:
            mods.append(_ELEMENTWISE[kind](*args))
        else:
            raise ValueError(f"Unknown layer kind {kind!r} in architecture.")
    return nn.Sequential(*mods)


def save_compact(seq, path):
    """Save a compact MLP as ``{"architecture", "state_dict"}`` (loadable with weights_only)."""
    torch.save(
        {
            "architecture": architecture(seq),
            "state_dict": {k: v.cpu() for k, v in seq.state_dict().items()},
        },
        path,
    )


def load_compact(path, map_location="cpu"):
    """Load what :func:`save_compact` wrote, with ``torch.load(weights_only=True)``."""
    blob = torch.load(path, map_location=map_location, weights_only=True)
    seq = build_from_architecture(blob["architecture"])
    seq.load_state_dict(blob["state_dict"])
    return seq.eval()


def export_onnx(seq, path, n_features, opset_version=17):
    """Export a compact MLP to ONNX with a dynamic batch dimension (input ``x``, output ``logits``).

    Uses the TorchScript-based exporter, which needs only the ``onnx`` package.
    """
    import warnings

    example = torch.zeros(1, int(n_features), dtype=next(seq.parameters()).dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            seq.eval().cpu(),
            (example,),
            str(path),
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset_version,
            dynamo=False,
        )
    return path


def count_parameters(module, nonzero=False):
    """Number of parameters (or of non-zero effective weights and biases) of a module."""
    total = 0
    for mod in module.modules():
        for name, p in list(mod.named_parameters(recurse=False)):
            base = name[: -len("_orig")] if name.endswith("_orig") else name
            mask = getattr(mod, base + "_mask", None)
            t = p if mask is None else p * mask
            total += int((t != 0).sum()) if nonzero else t.numel()
    return total
