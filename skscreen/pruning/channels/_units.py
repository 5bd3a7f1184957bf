"""Channel units: which BatchNorm channels are pruned together, found with Torch-Pruning's
dependency graph, and a dry run on a copy that finds the units it cannot prune (or whose
removal would change the network's output) before any training."""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn

from skscreen.pruning._layers import CHANNEL_NORMS, is_depthwise, torch_pruning
from skscreen.pruning.channels._snapshot import restore, snapshot
from skscreen.pruning.channels._ties import _Ties

__all__ = ["ChannelUnit", "build_graph", "find_units", "check_units"]


@dataclass
class ChannelUnit:
    """A set of channels pruned as one: channels of a *root* BatchNorm, and where the same
    channels reappear in other BatchNorms (residual additions, concatenations).

    ``channels`` are indices in the root BatchNorm; ``members`` lists, for every BatchNorm
    that carries them (root included), ``(bn, member_index, position)`` tensors: channel
    ``channels[position]`` is channel ``member_index`` of ``bn``. ``ties[position]`` is the
    position's tied class: a grouped convolution needs the same positions removed in each of
    its channel groups, so the channels at one place of every group form one class.
    """

    name: str
    root: nn.Module
    channels: list
    members: list = field(default_factory=list)  # (bn, LongTensor member idx, LongTensor pos)
    moments: dict = field(default_factory=dict)  # bn -> ClassMoments (or None)
    ties: torch.Tensor = None  # class of each position; a class is removed whole
    min_classes: int = 1  # classes always kept (2 where a grouped convolution ties them)

    def __post_init__(self):
        if self.ties is None:
            self.ties = torch.arange(len(self.channels))

    @property
    def n_channels(self):
        return len(self.channels)

    @property
    def n_classes(self):
        """Number of tied classes (channels that grouped convolutions tie count as one)."""
        return int(self.ties.max()) + 1 if len(self.ties) else 0


def _as_int(i):
    return int(getattr(i, "idx", i))


def build_graph(model, example_inputs):
    """Torch-Pruning's dependency graph of ``model``, traced with ``example_inputs``; a
    ValueError saying what to do when it cannot be traced."""
    tp = torch_pruning()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():  # tracing relies on autograd (step runs under no_grad)
            graph = tp.DependencyGraph().build_dependency(
                model, example_inputs=example_inputs.to(device)
            )
    except Exception as exc:
        raise ValueError(
            f"Torch-Pruning could not trace this model ({type(exc).__name__}: {exc}). "
            "Its dependency graph does not follow every tensor operation; channel shuffles "
            "(ShuffleNet) are a known case. Channel-level pruning needs that graph for the "
            "whole model, so ignored_layers cannot help here: use granularity='weight', "
            "which needs no graph."
        ) from exc
    finally:
        model.train(was_training)
    return graph


def _ignored_modules(model, ignored_layers):
    modules = dict(model.named_modules())
    ignored = set()
    for name in ignored_layers:
        if name not in modules:
            raise ValueError(f"ignored_layers: the model has no module named {name!r}.")
        ignored.update(modules[name].modules())
    return ignored


def find_units(graph, ignored_layers):
    """Walk the BatchNorms in order; each gets the channels no earlier one carried.

    Returns ``(units, excluded)``: the prunable units and ``{root name: reason}`` for the
    units left whole. Raises ValueError for a unit a grouped convolution makes unprunable.
    """
    tp = torch_pruning()
    bn_names = {m: n for n, m in graph.model.named_modules() if isinstance(m, CHANNEL_NORMS)}
    names = {m: n for n, m in graph.model.named_modules()}
    ignored = _ignored_modules(graph.model, ignored_layers)
    covered = {bn: set() for bn in bn_names}
    units, excluded, refused = [], {}, {}
    for root, name in bn_names.items():
        new = [c for c in range(root.num_features) if c not in covered[root]]
        if not new:
            continue
        group = graph.get_pruning_group(root, tp.prune_batchnorm_out_channels, new)
        pos_of = {c: k for k, c in enumerate(new)}
        ties = _Ties(len(new))
        members, reason, grouped = {}, None, False
        for item in group.items:
            module, handler = item.dep.target.module, item.dep.handler
            idxs = [_as_int(i) for i in item.idxs]
            roots = item.root_idxs
            if roots is None or any(r is None for r in roots):
                reason = reason or "Torch-Pruning gives no channel mapping for it"
                continue
            roots = [int(r) for r in roots]
            if module in bn_names:
                for m, r in zip(idxs, roots):
                    members.setdefault(module, {})[m] = r
            if not isinstance(module, nn.Module):
                continue
            out = graph.is_out_channel_pruning_fn(handler)
            if out and module in ignored:
                reason = reason or f"ignored layer {names.get(module, module)!r}"
            problem = _tie_grouped(graph, module, out, idxs, roots, pos_of, ties)
            if problem is True:
                grouped = True
            elif problem:
                refused[name] = f"{names.get(module, type(module).__name__)}: {problem}"
        member_list = []
        for bn, mapping in members.items():
            pairs = sorted((m, pos_of[r]) for m, r in mapping.items() if r in pos_of)
            if not pairs:
                continue
            covered[bn].update(m for m, _ in pairs)
            idx = torch.as_tensor([m for m, _ in pairs], dtype=torch.long)
            pos = torch.as_tensor([p for _, p in pairs], dtype=torch.long)
            member_list.append((bn, idx, pos))
        if reason is not None:  # left whole: nothing to refuse
            excluded[name] = reason
            refused.pop(name, None)
        elif name not in refused:
            # a grouped convolution keeps two channels per group: with one, Torch-Pruning
            # would take it for a depthwise convolution (groups == out_channels)
            unit = ChannelUnit(name, root, new, member_list, ties=ties.labels())
            unit.min_classes = 2 if grouped else 1
            units.append(unit)
    if refused:
        raise ValueError(
            "Channel-level pruning cannot remove channels of these units consistently: "
            + "; ".join(f"{k} ({v})" for k, v in refused.items())
            + ". A grouped convolution must lose the same positions in every channel "
            "group, which is impossible when one group holds channels of several units. "
            f"Leave them whole with ignored_layers={list(refused)!r}, or use "
            "granularity='weight'."
        )
    return units, excluded


def _tie_grouped(graph, module, out, idxs, roots, pos_of, ties):
    """Tie the positions a grouped convolution (or norm) sees in the same place of each
    of its channel groups. Returns None (not grouped), True (tied) or what is wrong."""
    pruner = graph.get_pruner_of_module(module)
    if pruner is None or is_depthwise(module):
        return None
    n_groups = (pruner.get_out_channel_groups if out else pruner.get_in_channel_groups)(module)
    if n_groups is None or n_groups <= 1:
        return None
    size = (pruner.get_out_channels if out else pruner.get_in_channels)(module)
    width = size // n_groups
    columns = {}
    for i, r in zip(idxs, roots):
        columns.setdefault(i % width, set()).add((i, r))
    for j, col in columns.items():
        if len({i for i, _ in col}) != n_groups:
            return (
                f"its {n_groups} channel groups of {width} hold channels of other units "
                f"(position {j} is in {len(col)} of them from this unit)"
            )
        first, *rest = [pos_of[r] for _, r in sorted(col)]
        for p in rest:
            ties.union(first, p)
    return True


def check_units(model, units, example_inputs, ignored_layers):
    """Dry run on a copy: remove one tied class of every unit, then run the copy.

    Catches, before any training, the units Torch-Pruning cannot prune consistently and
    units whose removal would change the network's output (left whole). A first pass runs
    the copy once at the end; only when that finds a problem is every unit tried on its
    own, to name the culprits.
    """
    if not units:
        return []
    args = (model, [u.name for u in units], example_inputs, ignored_layers)
    result = _dry_run(*args, each=False)
    failures, head = result if result is not None else _dry_run(*args, each=True)
    if failures:
        raise ValueError(
            "Torch-Pruning cannot prune these channel units consistently (tried on a copy "
            "before training): "
            + "; ".join(f"{k} ({v})" for k, v in failures.items())
            + ". Its dependency graph does not follow every tensor operation (a channel "
            "shuffle, say). Leave them whole with ignored_layers="
            f"{sorted(failures)!r} (or the modules around the operation), or use "
            "granularity='weight'."
        )
    return head


class _Skip(Exception):
    pass


def _dry_run(model, names, example_inputs, ignored_layers, each):
    """``(failures, head units)`` of removing one class per unit from a bare copy; with
    ``each=False`` the copy runs once at the end and None means "something failed there"."""
    tp = torch_pruning()
    copy_ = _copy_without_hooks(model).eval()
    graph = build_graph(copy_, example_inputs)
    units = {u.name: u for u in find_units(graph, ignored_layers)[0]}
    x = example_inputs.to(next(copy_.parameters()).device)

    def output_shape():
        with torch.no_grad():
            return _output_shape(copy_(x))

    shape = output_shape()
    failures, head = {}, []
    # later roots first, as in prune_channels: an earlier root's indices do not shift
    for name in reversed(names):
        unit = units[name]
        last = unit.ties[-1]  # remove one tied class
        removed = [unit.channels[p] for p in (unit.ties == last).nonzero().flatten()]
        shrink = {bn: int((unit.ties[pos] == last).sum()) for bn, _, pos in unit.members}
        sizes = {bn: bn.num_features for bn in shrink}
        snap = snapshot(copy_)
        try:
            graph.get_pruning_group(unit.root, tp.prune_batchnorm_out_channels, removed).prune()
            # Torch-Pruning decrements num_features even for an index it cannot map:
            # the tensors must agree with it and with the expected count
            wrong = [
                graph._module2name.get(bn, "?")
                for bn in shrink
                if not bn.num_features == sizes[bn] - shrink[bn] == _bn_size(bn)
            ]
            if wrong:
                raise RuntimeError(f"BatchNorm sizes inconsistent after pruning: {wrong}")
            if each and output_shape() != shape:
                head.append(name)
                raise _Skip
        except _Skip:
            pass
        except Exception as exc:  # noqa: BLE001 - reported with the unit's name
            failures[name] = f"{type(exc).__name__}: {exc}"
        else:
            continue
        # undo this unit's removal and carry on with the others
        restore(snap)
        graph = build_graph(copy_, example_inputs)
        units = {u.name: u for u in find_units(graph, ignored_layers)[0]}
    if not each:
        try:
            if output_shape() != shape:
                return None
        except Exception:  # noqa: BLE001 - placed by the unit-by-unit pass
            return None
    return failures, head


def _copy_without_hooks(model):
    """A deep copy of ``model`` whose modules carry none of the original's hooks (a user's or
    a callback's hook may hold objects that cannot be copied, or record what it sees)."""
    memo = {}
    for m in model.modules():
        for attr, value in vars(m).items():
            if attr.endswith("hooks") and isinstance(value, dict):
                memo[id(value)] = OrderedDict()
    return copy.deepcopy(model, memo)


def _bn_size(bn):
    """Channels of a BatchNorm's tensors (``-1`` when they disagree)."""
    sizes = {len(t) for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var) if t is not None}
    return sizes.pop() if len(sizes) == 1 else -1


def _output_shape(out):
    if torch.is_tensor(out):
        return tuple(out.shape)
    if isinstance(out, dict):
        return {k: _output_shape(v) for k, v in out.items()}
    if isinstance(out, list | tuple):
        return tuple(_output_shape(o) for o in out)
    return None
