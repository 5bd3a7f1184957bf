"""Physical compaction of a masked network: remove neurons/channels left without connections.

:func:`compact_module` works on any module: a ``Sequential`` MLP goes through
:func:`compact_sequential` (below); other networks get their masks folded into plain
parameters (:func:`fold_masks`) and, given example inputs and Torch-Pruning, lose the
channels and neurons that nothing reads any more (:func:`remove_unread_channels`).


A hidden neuron with no outgoing connection is dropped. A hidden neuron with no incoming
connection outputs the constant ``act(b)``: it is dropped too and its constant contribution
folded into the next layer's bias, so predictions are unchanged. The result is a plain
``nn.Sequential`` (no masks, smaller ``Linear`` layers) that can be described by
:func:`architecture` and rebuilt by :func:`build_from_architecture`, which is what
:func:`save_compact` / :func:`load_compact` use to save with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from torch.nn.utils import prune

from skscreen.pruning._layers import BATCH_NORMS, CONVS, is_depthwise, torch_pruning
from skscreen.pruning.masks import effective_weight

__all__ = [
    "compact_module",
    "fold_masks",
    "remove_unread_channels",
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


# ---------------------------------------------------------------------------- any module
def fold_masks(module):
    """A deep copy of ``module`` with every mask folded into its plain parameter.

    Handles both storages (``weight_mask`` buffer beside ``weight``, and
    :mod:`torch.nn.utils.prune`'s ``weight_orig``): the result has the original
    architecture's parameter names and no mask buffer, so its state dict loads into a fresh
    instance of the original class.
    """
    # torch.nn.utils.prune keeps ``weight = weight_orig * mask`` as a plain attribute, a
    # non-leaf tensor that deepcopy refuses: copy it detached (it is recomputed anyway)
    memo = {
        id(t): t.detach().clone()
        for mod in module.modules()
        for t in vars(mod).values()
        if torch.is_tensor(t) and not t.is_leaf
    }
    out = copy.deepcopy(module, memo)
    with torch.no_grad():
        for mod in out.modules():
            for bname in [b for b in mod._buffers if b.endswith("_mask")]:
                base = bname[: -len("_mask")]
                if hasattr(mod, base + "_orig"):
                    prune.remove(mod, base)
                    continue
                param = mod._parameters.get(base)
                if param is None:
                    continue
                param.mul_(mod._buffers[bname].to(param.dtype))
                del mod._buffers[bname]
    return out


def _is_sequential_mlp(module):
    seq = module
    if not isinstance(seq, nn.Sequential):
        children = list(module.children())
        if not (len(children) == 1 and isinstance(children[0], nn.Sequential)):
            return False
        seq = children[0]
    layers = _flatten_sequential(seq)
    return all(isinstance(m, (nn.Linear, nn.Flatten, *_ELEMENTWISE.values())) for m in layers)


def _read_inputs(m):
    """Boolean per input index of ``m`` (Linear or ungrouped conv): read by a non-zero weight."""
    w = m.weight.detach()
    return w.transpose(0, 1).reshape(w.shape[1], -1).ne(0).any(1)


def _unread_roots(graph, group, n_out, protected):
    """Root channels of ``group`` that no weight outside the group reads (removable)."""
    unread = torch.ones(n_out, dtype=torch.bool)
    for item in group.items:
        dep, idxs = item.dep, [int(i) for i in item.idxs]
        target = dep.target.module
        roots = list(getattr(item, "root_idxs", None) or [None] * len(idxs))
        if any(r is None for r in roots):
            return torch.zeros(n_out, dtype=torch.bool)  # a mapping we cannot follow
        if not isinstance(target, nn.Module) or not any(True for _ in target.parameters(False)):
            continue  # parameter-free ops (add, cat, pooling, activations) pass channels on
        out = graph.is_out_channel_pruning_fn(dep.handler)
        blocked = []
        if isinstance(target, BATCH_NORMS) or is_depthwise(target):
            continue  # per-channel: carries the channel, reads no other
        if out and target in protected:
            blocked = roots  # the network's outputs (head) or a layer the user protects
        elif isinstance(target, CONVS) and target.groups > 1:
            blocked = roots  # grouped (not depthwise): Torch-Pruning's low-level path fails
        elif isinstance(target, (nn.Linear, *CONVS)):
            if not out:  # a consumer: the channel is read unless its input weights are zero
                read = _read_inputs(target)
                blocked = [r for i, r in zip(idxs, roots) if bool(read[i])]
        else:
            blocked = roots  # LayerNorm, GroupNorm, attention...: mixes channels, keep them
        for r in blocked:
            unread[int(r)] = False
    return unread


@torch.no_grad()
def _fold_constant_inputs(model, graph, example_inputs, tp):
    """Fold into its bias every input of a ``Linear`` that is constant by construction.

    An input is constant when every ``Linear``/convolution producing it (through the
    dependency group: BatchNorms, activations, pooling, additions, flattening pass it on)
    has an all-zero row for it, so that it only carries a bias through elementwise maps;
    it must also be constant over ``example_inputs`` (which rules out the network's own
    input). Its contribution ``W[:, i] * c_i`` goes into the bias and ``W[:, i]`` to zero, so
    the removal pass can take the channel away. Returns whether anything was folded.
    """
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m in graph.module2node]
    seen = {}
    handles = [
        m.register_forward_hook(lambda mod, i, o: seen.__setitem__(mod, i[0].detach()))
        for m in linears
    ]
    try:
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    folded = False
    for lin in linears:
        x = seen.get(lin)
        if x is None or x.shape[-1] != lin.in_features:
            continue
        x = x.reshape(-1, lin.in_features)
        const = (x.amax(0) - x.amin(0)) <= 1e-6 * (1.0 + x.abs().amax(0))
        candidates = (lin.weight.ne(0).any(0) & const).nonzero().flatten().tolist()
        if not candidates:
            continue
        group = graph.get_pruning_group(lin, tp.prune_linear_in_channels, candidates)
        produced, bad = set(), set()
        for item in group.items:
            target, roots = item.dep.target.module, list(item.root_idxs or [])
            if len(roots) != len(item.idxs) or any(r is None for r in roots):
                bad.update(candidates)  # a mapping we cannot follow
                break
            if not isinstance(target, nn.Module) or not any(True for _ in target.parameters(False)):
                continue
            if isinstance(target, BATCH_NORMS):
                continue  # constant in, constant out (eval mode)
            if isinstance(target, (nn.Linear, *CONVS)):
                if graph.is_out_channel_pruning_fn(item.dep.handler):
                    w = target.weight.detach()
                    zero_row = w.reshape(w.shape[0], -1).eq(0).all(1)
                    for i, r in zip(item.idxs, roots):
                        produced.add(int(r))
                        if not bool(zero_row[int(i)]):
                            bad.add(int(r))
                continue
            bad.update(int(r) for r in roots)  # LayerNorm, attention...: not elementwise
        fold = [r for r in candidates if r in produced and r not in bad]
        if not fold:
            continue
        idx = torch.as_tensor(fold, device=lin.weight.device)
        value = x[:, idx].mean(0).to(lin.weight.dtype)
        if lin.bias is None:
            lin.bias = nn.Parameter(lin.weight.new_zeros(lin.out_features))
        lin.bias.add_(lin.weight[:, idx] @ value)
        lin.weight[:, idx] = 0
        folded = True
    return folded


@torch.no_grad()
def _reaches_output(model, module, example_inputs):
    """Whether perturbing ``module``'s output changes the network's output."""
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    gen = torch.Generator().manual_seed(0)
    before = model(*inputs)
    handle = module.register_forward_hook(
        lambda mod, i, o: o + torch.randn(o.shape, generator=gen).to(o.device, o.dtype)
    )
    try:
        after = model(*inputs)
    finally:
        handle.remove()
    return not _outputs_close(after, before, 0.0, 0.0)


def remove_unread_channels(model, example_inputs, *, protected=()):
    """Physically remove the channels/neurons that nothing reads, in place; returns the history.

    An output channel of a ``Linear``/convolution is removable when every weight that reads
    it, through Torch-Pruning's dependency group (residual additions, concatenations,
    BatchNorms, depthwise convolutions carry it along), is zero: the channel then has no
    effect on the output and goes with everything coupled to it. Groups that pass through a
    layer mixing channels (LayerNorm, GroupNorm, attention) or a grouped convolution are left
    alone, and so are the outputs of ``protected`` modules (give the classifier head).

    A channel without *inputs* (its producers' rows all zero) carries a constant; where a
    ``Linear`` reads it, the constant's contribution is folded into that layer's bias first,
    so that the channel becomes unread and goes too. Convolutions reading such a channel keep
    it (with zero padding its contribution is not constant near the borders).
    """
    tp = torch_pruning()
    protected = set(protected)
    was_training = model.training
    model.eval()
    with torch.enable_grad():  # the dependency graph is traced through autograd
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs)
    changed = True
    while changed:  # removing a channel can leave the layers before it unread
        changed = _fold_constant_inputs(model, graph, example_inputs, tp)
        for m in list(model.modules()):
            if not isinstance(m, (nn.Linear, *CONVS)) or m in protected or is_depthwise(m):
                continue
            if m not in graph.module2node:
                continue  # not traced (e.g. MultiheadAttention's out_proj, called functionally)
            if isinstance(m, nn.Linear):
                fn, n_out = tp.prune_linear_out_channels, m.out_features
            else:
                fn, n_out = tp.prune_conv_out_channels, m.out_channels
            if n_out <= 1:
                continue
            group = graph.get_pruning_group(m, fn, list(range(n_out)))
            removable = _unread_roots(graph, group, n_out, protected).nonzero().flatten().tolist()
            if len(removable) == n_out:
                # nothing inside the network reads it: dead, unless it is a network output
                if _reaches_output(model, m, example_inputs):
                    continue
                removable = removable[1:]  # a layer keeps one channel
            if removable:
                graph.get_pruning_group(m, fn, removable).prune()
                changed = True
    model.train(was_training)
    return [[n, bool(o), [int(i) for i in idx]] for n, o, idx in graph.pruning_history()]


def _outputs_close(a, b, atol, rtol):
    """Whether two module outputs (tensors, or tuples/lists/dicts of them) agree."""
    if torch.is_tensor(a) and torch.is_tensor(b):
        return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=rtol)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_outputs_close(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_outputs_close(a[k], b[k], atol, rtol) for k in a)
    return a == b


def _shapes(out):
    """The shapes of a module output's tensors (nested like the output)."""
    if torch.is_tensor(out):
        return tuple(out.shape)
    if isinstance(out, tuple | list):
        return [_shapes(x) for x in out]
    if isinstance(out, dict):
        return {k: _shapes(v) for k, v in out.items()}
    return None


def _prunable_head(model):
    head = None
    for m in model.modules():
        if isinstance(m, (nn.Linear, *CONVS)):
            head = m
    return head


def compact_module(model, example_inputs=None, *, protected=None, atol=1e-5, rtol=1e-4):
    """A plain module computing what the masked ``model`` computes, smaller where possible.

    * A ``Sequential`` MLP: :func:`compact_sequential` (neurons without inputs or outputs
      removed, constant outputs folded into the next bias).
    * Any other module: a deep copy with the masks folded into plain parameters
      (:func:`fold_masks`; its state dict loads into the original architecture); with
      ``example_inputs`` and Torch-Pruning installed, channels and neurons that nothing reads
      are then removed physically (:func:`remove_unread_channels`) and the outputs on
      ``example_inputs`` are checked against the masked model (on a mismatch the folded
      copy is returned instead, with a warning; so is an architecture Torch-Pruning cannot
      trace).

    Parameters
    ----------
    model : torch.nn.Module
        Masked (or plain) network; not modified.
    example_inputs : torch.Tensor or tuple, default=None
        A batch to trace the network (and check the result on).
    protected : list of modules, default=None
        Modules of ``model`` whose outputs stay whole; the last ``Linear``/convolution in
        definition order (the classifier head) always does.
    atol, rtol : float
        Tolerances of the output check.

    Returns
    -------
    torch.nn.Module
        In eval mode, on the model's device.
    """
    if _is_sequential_mlp(model):
        return compact_sequential(model)
    folded = fold_masks(model).eval()
    if example_inputs is None:
        return folded
    try:
        torch_pruning()
    except ImportError:
        return folded
    # protected modules of ``model`` -> the same modules in the copy, by name
    names = {m: n for n, m in model.named_modules()}
    keep_names = {names[m] for m in (protected or []) if m in names}
    candidate = copy.deepcopy(folded)
    keep = {m for n, m in candidate.named_modules() if n in keep_names}
    head = _prunable_head(candidate)
    if head is not None:
        keep.add(head)
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(*inputs)
        remove_unread_channels(candidate, example_inputs, protected=keep)
        with torch.no_grad():
            got = candidate.eval()(*inputs)
    except Exception as exc:  # noqa: BLE001 - any tracing failure falls back to the folded copy
        warnings.warn(
            f"compact: channels could not be removed ({type(exc).__name__}: {exc}); returning "
            "the network with its masks folded into plain parameters.",
            UserWarning,
            stacklevel=2,
        )
        return folded
    finally:
        model.train(was_training)
    if not _outputs_close(got, expected, atol, rtol):
        cause = (
            "an output of the module changed shape: it returns an inner activation (such as "
            "a tuple (logits, hidden)) whose channels were removed"
            if _shapes(got) != _shapes(expected)
            else "a layer mixing channels that the dependency graph does not show"
        )
        warnings.warn(
            f"compact: removing unread channels changed the outputs ({cause}); returning the "
            "network with its masks folded into plain parameters.",
            UserWarning,
            stacklevel=2,
        )
        return folded
    return candidate.eval()
