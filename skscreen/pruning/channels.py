"""Channel-level screening pruning (CLS): scores for BatchNorm channels and physical removal.

Deciding: :class:`ChannelScreeningScorer` ranks each channel ``k`` of a BatchNorm layer by
``alpha * norm(F_k) + (1 - alpha) * norm(|gamma_k|)``, ``F_k`` the ANOVA F-score of the
channel's spatially averaged BatchNorm output (per sample) and ``gamma`` the BatchNorm scale;
``alpha = 0`` is network slimming's ``|gamma|`` (Liu et al. 2017).

Applying: :class:`ChannelPruner` removes channels physically with Torch-Pruning's dependency
graph (``torch-pruning`` from PyPI), so that convolutions, BatchNorms, residual additions and
concatenations stay consistent; BatchNorms coupled by a residual addition form one *unit*
whose channels are scored by the mean of their members' scores. The classifier head is never
pruned. Pruning in the middle of training keeps the optimizer valid: every live parameter
stays in its parameter group (replaced in place, so an ``LRScheduler`` keeps working) and
per-parameter state such as momentum is sliced to the kept channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from skscreen.pruning.hooks import InputStatsRecorder
from skscreen.pruning.scorers import MixScorer, input_f_scores, mix
from skscreen.pruning.selection import select_global

__all__ = [
    "ChannelScreeningScorer",
    "ChannelPruner",
    "ChannelUnit",
    "count_macs",
    "save_pruned",
    "load_pruned",
    "channel_report",
]


@dataclass
class ChannelUnit:
    """A set of channels pruned as one: channels of a *root* BatchNorm, and where the same
    channels reappear in other BatchNorms (residual additions, concatenations).

    ``channels`` are indices in the root BatchNorm; ``members`` lists, for every BatchNorm
    that carries them (root included), ``(bn, member_index, position)`` tensors: channel
    ``channels[position]`` is channel ``member_index`` of ``bn``.
    """

    name: str
    root: nn.Module
    channels: list
    members: list = field(default_factory=list)  # (bn, LongTensor member idx, LongTensor pos)
    moments: dict = field(default_factory=dict)  # bn -> ClassMoments (or None)

    @property
    def n_channels(self):
        return len(self.channels)


class ChannelScreeningScorer(MixScorer):
    """``alpha * norm(F) + (1 - alpha) * norm(|gamma|)`` for every channel of every unit.

    Parameters
    ----------
    alpha : float in [0, 1], default=0.5
        0 is network slimming (``|gamma|`` only), 1 pure screening.
    normalize : {"minmax", "max", "rank"}, default="minmax"
    """

    def _unit_mean(self, unit, per_bn):
        """Average a per-BatchNorm channel quantity over the members carrying each channel."""
        total = torch.zeros(unit.n_channels, dtype=torch.float64)
        count = torch.zeros(unit.n_channels, dtype=torch.float64)
        for bn, idx, pos in unit.members:
            values = per_bn(bn).detach().to("cpu", torch.float64)
            total.index_add_(0, pos, values[idx])
            count.index_add_(0, pos, torch.ones(len(pos), dtype=torch.float64))
        return total / count.clamp_min(1.0)

    def _components(self, units):
        gammas = [self._unit_mean(u, lambda bn: bn.weight.abs()) for u in units]
        fs = []
        if self.alpha > 0:
            for u in units:
                if any(u.moments.get(bn) is None for bn, _, _ in u.members):
                    raise RuntimeError("Channel screening needs statistics from a training epoch.")
                fs.append(self._unit_mean(u, lambda bn, u=u: input_f_scores(u.moments[bn], "cpu")))
        return gammas, fs

    def __call__(self, units, scope="global"):
        gammas, fs = self._components(units)
        alive = [torch.ones(g.shape, dtype=torch.bool) for g in gammas]
        return mix([fs, gammas], alive, [self.alpha, 1.0 - self.alpha], scope, self.normalize)


def _tp():
    try:
        import torch_pruning as tp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Channel pruning needs Torch-Pruning: pip install torch-pruning "
            "(or pip install 'skscreen[channels]')."
        ) from exc
    return tp


def count_macs(model, example_inputs):
    """``(MACs, parameters)`` of ``model`` for one forward pass of ``example_inputs``."""
    tp = _tp()
    was_training = model.training
    model.eval()
    macs, params = tp.utils.count_ops_and_params(model, example_inputs)
    model.train(was_training)
    return int(macs), int(params)


def _as_int(i):
    return int(getattr(i, "idx", i))


class ChannelPruner:
    """Prunes BatchNorm channels of ``model`` (and everything coupled to them) physically.

    Same interface as :class:`~skscreen.pruning.WeightPruner` (``step``, ``n_kept``,
    ``n_total``, ``kept_fractions``, ``set_targets``), counting channels instead of weights.

    Parameters
    ----------
    model : torch.nn.Module
        A network with ``BatchNorm2d`` (or ``BatchNorm1d``) layers.
    scorer : ChannelScreeningScorer
    schedule : Schedule
    sparsity : float in [0, 1)
        Target fraction of prunable channels removed.
    prune_epochs : int
    n_classes : int
    example_inputs : torch.Tensor
        One input batch (any size >= 1) to trace the dependency graph.
    scope : {"global", "layer"}, default="global"
    post_relu : bool, default=False
        Statistics of the post-ReLU channel means instead of the BatchNorm output.
    """

    decides_masks = False

    def __init__(
        self,
        model,
        scorer,
        schedule,
        *,
        sparsity,
        prune_epochs,
        n_classes,
        example_inputs,
        scope="global",
        post_relu=False,
    ):
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}.")
        self.scorer = scorer
        self.schedule = schedule
        self.sparsity = float(sparsity)
        self.prune_epochs = int(prune_epochs)
        self.scope = scope
        self.n_classes = int(n_classes)
        self.post_relu = post_relu
        self.example_inputs = example_inputs.detach()[:1].cpu()
        self.history = []  # Torch-Pruning pruning history: (module name, out?, indices)
        self.bind(model)
        self.n_total = sum(u.n_channels for u in self.units)
        self.initial_channels = {n: bn.num_features for bn, n in self.bn_names.items()}
        self.initial_units = {u.name: u.n_channels for u in self.units}
        self.recorder = None
        if getattr(scorer, "needs_input_stats", True):
            self.recorder = InputStatsRecorder(
                self.bn_modules(),
                n_classes,
                source="output",
                channel_mean=True,
                post_relu=post_relu,
            )

    # ------------------------------------------------------------------ graph
    def _build_graph(self):
        tp = _tp()
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        self.graph_ = tp.DependencyGraph().build_dependency(
            self.model, example_inputs=self.example_inputs.to(device)
        )
        self.model.train(was_training)

    def bind(self, model):
        """(Re)attach to ``model``: trace it and find the prunable channel units."""
        self.model = model
        self.bn_names = {
            m: n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d)
        }
        if not self.bn_names:
            raise ValueError(
                "Channel-level pruning needs BatchNorm layers (it ranks channels by the "
                "BatchNorm scale gamma); this model has none. Use granularity='weight'."
            )
        self._build_graph()
        self.units = self._find_units()
        return self

    def _find_units(self):
        """Walk the BatchNorms in order; each gets the channels no earlier one carried."""
        tp = _tp()
        covered = {bn: set() for bn in self.bn_names}
        units = []
        for root, name in self.bn_names.items():
            new = [c for c in range(root.num_features) if c not in covered[root]]
            if not new:
                continue
            group = self.graph_.get_pruning_group(root, tp.prune_batchnorm_out_channels, new)
            members = {}
            for dep, dep_idxs in group:
                bn = dep.target.module
                if bn not in self.bn_names:
                    continue
                for i in dep_idxs:
                    member_idx, root_idx = _as_int(i), int(getattr(i, "root_idx", i))
                    members.setdefault(bn, {})[member_idx] = root_idx
            pos_of = {c: k for k, c in enumerate(new)}
            member_list = []
            for bn, mapping in members.items():
                pairs = [(m, pos_of[r]) for m, r in mapping.items() if r in pos_of]
                if not pairs:
                    continue
                covered[bn].update(m for m, _ in pairs)
                idx = torch.as_tensor([m for m, _ in pairs], dtype=torch.long)
                pos = torch.as_tensor([p for _, p in pairs], dtype=torch.long)
                member_list.append((bn, idx, pos))
            units.append(ChannelUnit(name, root, new, member_list))
        return units

    def bn_modules(self):
        return {name: bn for bn, name in self.bn_names.items()}

    # ------------------------------------------------------------------ interface
    def set_targets(self, y):
        if self.recorder is not None:
            self.recorder.set_targets(y)

    def attach_hooks(self):
        if self.recorder is not None and not self.recorder.attached:
            self.recorder.attach(self.bn_modules())

    def remove_hooks(self):
        if self.recorder is not None:
            self.recorder.remove()

    def enforce(self):
        """Nothing to re-zero: removed channels are gone."""

    def n_kept(self):
        return sum(u.n_channels for u in self.units)

    def kept_fractions(self):
        """Fraction of channels kept in each BatchNorm layer (the paper's fig. 3)."""
        return {n: bn.num_features / self.initial_channels[n] for bn, n in self.bn_names.items()}

    def target_keep(self, epoch):
        return self.schedule.n_keep(epoch, self.n_total, self.sparsity, self.prune_epochs)

    def _views(self):
        for u in self.units:
            u.moments = {}
            for bn, _, _ in u.members:
                name = self.bn_names[bn]
                has = self.recorder is not None and self.recorder.has_stats(name)
                u.moments[bn] = self.recorder.moments_of(name) if has else None
        return self.units

    @torch.no_grad()
    def step(self, epoch, optimizer=None):
        """End of ``epoch``: remove channels down to the schedule's count; reset statistics."""
        n_keep = self.target_keep(epoch)
        # layer scope: each unit keeps its share of its *original* channel count (channels
        # are physically gone, so a fraction of the current count would compound)
        per_unit = {
            u.name: max(1, int(round(self.initial_units[u.name] * n_keep / self.n_total)))
            for u in self.units
        }
        if self.scope == "global":
            needed = n_keep < self.n_kept()
        else:
            needed = any(per_unit[u.name] < u.n_channels for u in self.units)
        if needed:
            units = self._views()
            scores = self.scorer(units, self.scope)
            if self.scope == "global":
                keep = select_global(scores, n_keep)
            else:
                keep = [
                    select_global([s], min(per_unit[u.name], u.n_channels))[0]
                    for s, u in zip(scores, units)
                ]
            remove = {
                u.name: [u.channels[i] for i in (~k).nonzero().flatten().tolist()]
                for u, k in zip(units, keep)
            }
            self.prune_channels(remove, optimizer)
        if self.recorder is not None:
            self.recorder.reset()
        return self.n_kept()

    # ------------------------------------------------------------------ applying
    def prune_channels(self, remove, optimizer=None):
        """Physically remove channels: ``remove`` maps unit name -> root BatchNorm indices.

        Units are found again afterwards (indices shift when channels go).
        """
        tp = _tp()
        requests = []
        for unit in self.units:
            idxs = sorted(set(remove.get(unit.name, [])))
            if len(idxs) >= unit.root.num_features:
                raise ValueError(f"Cannot remove every channel of {unit.name}.")
            if idxs:
                requests.append((unit.root, idxs))
        # later roots first: their channels only appear at or after them, so removing them
        # never shifts the channel indices of an earlier root
        for root, idxs in reversed(requests):
            group = self.graph_.get_pruning_group(root, tp.prune_batchnorm_out_channels, idxs)
            plan = []  # (module, param name, dim, removed indices, old parameter)
            for dep, dep_idxs in group:
                module = dep.target.module
                if not isinstance(module, nn.Module):
                    continue
                out = self.graph_.is_out_channel_pruning_fn(dep.handler)
                removed = sorted({_as_int(i) for i in dep_idxs})
                for pname, param in module.named_parameters(recurse=False):
                    dim = 0 if (out or isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d)) else 1
                    if param.ndim <= dim:
                        continue
                    plan.append((module, pname, dim, removed, param))
            n_before = len(self.graph_.pruning_history())
            group.prune()
            for name, out, idx in self.graph_.pruning_history()[n_before:]:
                self.history.append([name, bool(out), [_as_int(i) for i in idx]])
            if optimizer is not None:
                _remap_optimizer(optimizer, plan)
        self.units = self._find_units()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("graph_", None)
        state["model"] = None
        state["units"] = []
        return state


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
    tp = _tp()
    blob = torch.load(path, map_location=map_location, weights_only=True)
    template.eval()
    graph = tp.DependencyGraph().build_dependency(template, example_inputs=example_inputs)
    graph.load_pruning_history(blob["pruning_history"])
    template.load_state_dict(blob["state_dict"])
    return template


def _remap_optimizer(optimizer, plan):
    """Replace pruned parameters in ``optimizer`` in place and slice their state."""
    replace = {}
    for module, pname, dim, removed, old in plan:
        new = getattr(module, pname)
        if new is old:
            continue
        state = optimizer.state.pop(old, None)
        if state:
            keep = [i for i in range(old.shape[dim]) if i not in set(removed)]
            idx = torch.as_tensor(keep, device=old.device)
            sliced = {}
            for k, v in state.items():
                if torch.is_tensor(v) and v.shape == old.shape:
                    sliced[k] = v.index_select(dim, idx).clone()
                else:
                    sliced[k] = v
            optimizer.state[new] = sliced
        replace[old] = new
    for group in optimizer.param_groups:
        group["params"] = [replace.get(p, p) for p in group["params"]]


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
