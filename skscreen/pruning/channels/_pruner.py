"""The channel pruner: physical removal of BatchNorm channels (and everything coupled to
them) with Torch-Pruning, keeping the optimizer valid."""

from __future__ import annotations

import torch

from skscreen.pruning._atomic import deferred_interrupt
from skscreen.pruning._base import BasePruner
from skscreen.pruning._layers import CHANNEL_NORMS, resolve_ignored, torch_pruning
from skscreen.pruning.channels._optimizer import remap_optimizer
from skscreen.pruning.channels._slices import chain_slices, recording_slices
from skscreen.pruning.channels._snapshot import restore, snapshot
from skscreen.pruning.channels._ties import select_tied
from skscreen.pruning.channels._units import _as_int, build_graph, check_units, find_units
from skscreen.pruning.distributed import check_channel_pruning

__all__ = ["ChannelPruner"]


class ChannelPruner(BasePruner):
    """Prunes BatchNorm channels of ``model`` (and everything coupled to them) physically.

    Built on the pruner skeleton (:class:`~skscreen.pruning.BasePruner`: validation,
    statistics hooks, ``step`` = budget -> score -> select -> apply), with the same
    interface as :class:`~skscreen.pruning.WeightPruner` (``step``, ``n_kept``, ``n_total``,
    ``kept_fractions``, ``set_targets``, ``set_scorer``), counting channels instead of
    weights. Its views are the channel units, its selection keeps tied classes whole, and
    applying removes channels physically.

    Channels are grouped into *units* with Torch-Pruning's dependency graph: a unit is the
    set of channels first seen at one BatchNorm (its *root*), with every other BatchNorm that
    carries them (residual additions, concatenations in any order: the index of a channel in
    each BatchNorm comes from the group's ``root_idxs``). Grouped (non-depthwise)
    convolutions tie channels: the same positions are removed in every channel group, and a
    tied class is scored by the mean of its channels' scores. Depthwise convolutions shrink
    with their channels.

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
    ignored_layers : list of torch.nn.Module or str, default=None
        Modules (or their qualified names in ``model``) whose output channels are not pruned,
        submodules included, as Torch-Pruning's ``ignored_layers``: every unit whose channels
        pass through the output of an ignored module is left whole (a stem, say, or a whole
        stage). Units that would change the network's output (the classifier head) are always
        left whole. The units left whole and why are in ``excluded_units``.

    Attributes
    ----------
    units : list of ChannelUnit
        The prunable units.
    excluded_units : dict
        Root BatchNorm name -> why its unit is not pruned.
    n_total : int
        Prunable channels at construction.

    Raises
    ------
    ValueError
        At construction, before any training, when Torch-Pruning cannot trace the model or
        cannot prune one of its units consistently (e.g. a channel shuffle), or when a grouped
        convolution's channel groups mix channels of several units; the message names the
        units and the ``ignored_layers`` or ``granularity="weight"`` workarounds.

    Notes
    -----
    Pruning in the middle of training keeps the optimizer valid for any ``torch.optim``
    optimizer: each pruned parameter is replaced in its parameter group, in place (an
    ``LRScheduler`` keeps working), and every per-parameter state tensor shaped like it
    (momentum, ``exp_avg``, ``exp_avg_sq``, ``square_avg``, ``sum``, ...) is sliced on the same
    dimensions and indices as the parameter, output and input channels alike; a state tensor
    with a reduced dimension (size 1) keeps it; scalar state (``step``) is kept. LBFGS keeps
    one flat history over all parameters, which no slicing can follow: its state is reset
    (it restarts from a gradient step). A pruning step either completes or, on an error,
    leaves the model and optimizer as they were.
    """

    physical = True

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
        ignored_layers=None,
    ):
        check_channel_pruning()  # physical removal under DDP: refused before training
        super().__init__(
            scorer,
            schedule,
            sparsity=sparsity,
            prune_epochs=prune_epochs,
            n_classes=n_classes,
            scope=scope,
        )
        if self.policy is not None:
            raise ValueError(
                f"{type(scorer).__name__} decides weight masks; channel pruning needs a channel "
                "scorer (e.g. ChannelScreeningScorer)."
            )
        self.post_relu = post_relu
        self.example_inputs = example_inputs.detach()[:1].cpu()
        self.ignored_layers = tuple(resolve_ignored(model, ignored_layers))
        self.history = []  # Torch-Pruning pruning history: (module name, out?, indices)
        self.excluded_units = {}
        self.bind(model)
        for u in self.units:  # units that can never lose a channel are not prunable
            if u.n_classes <= u.min_classes:
                self.excluded_units[u.name] = (
                    "one channel"
                    if u.n_channels == 1
                    else f"grouped convolutions need {u.min_classes} tied classes and it has "
                    f"{u.n_classes}"
                )
        self.units = [u for u in self.units if u.name not in self.excluded_units]
        self._check_prunable()
        self.n_total = sum(u.n_channels for u in self.units)
        self.initial_channels = {n: bn.num_features for bn, n in self.bn_names.items()}
        self.initial_units = {u.name: u.n_channels for u in self.units}
        self._make_recorder()

    # ------------------------------------------------------------------ statistics hooks
    def _hook_modules(self):
        return self.bn_modules()

    def _reductions(self):
        # the per-sample spatial mean of each channel of the BatchNorm output
        return {name: "channels" for name in self.bn_modules()}

    def _recorder_options(self):
        return {"source": "output", "post_relu": self.post_relu}

    # ------------------------------------------------------------------ graph
    def _build_graph(self, model=None):
        return build_graph(self.model if model is None else model, self.example_inputs)

    def bind(self, model):
        """(Re)attach to ``model``: trace it and find the prunable channel units."""
        self.model = model
        self.bn_names = {m: n for n, m in model.named_modules() if isinstance(m, CHANNEL_NORMS)}
        if not self.bn_names:
            raise ValueError(
                "Channel-level pruning needs BatchNorm layers (it ranks channels by the "
                "BatchNorm scale gamma); this model has none. Use granularity='weight'."
            )
        self.graph_ = self._build_graph()
        self.units, self.excluded_units = self._keep_exclusions(*self._find_units())
        return self

    def _find_units(self):
        """``(units, excluded)`` of the current graph (:func:`find_units`)."""
        return find_units(self.graph_, self.ignored_layers)

    def _check_prunable(self):
        """Leave whole the units whose removal changes the network's output; raise for those
        Torch-Pruning cannot prune consistently (:func:`check_units`, a dry run on a copy)."""
        head = check_units(self.model, self.units, self.example_inputs, self.ignored_layers)
        for name in head:
            self.excluded_units[name] = "changes the network's output (classifier head)"
        self.units = [u for u in self.units if u.name not in head]

    def bn_modules(self):
        return {name: bn for bn, name in self.bn_names.items()}

    # ------------------------------------------------------------------ interface
    def enforce(self):
        """Nothing to re-zero: removed channels are gone."""

    def n_kept(self):
        return sum(u.n_channels for u in self.units)

    def kept_fractions(self):
        """Fraction of channels kept in each BatchNorm layer (the paper's fig. 3)."""
        return {n: bn.num_features / self.initial_channels[n] for bn, n in self.bn_names.items()}

    def views(self):
        """The channel units, each with the moments of its BatchNorms over the last epoch."""
        for u in self.units:
            u.moments = {}
            for bn, _, _ in u.members:
                name = self.bn_names[bn]
                has = self.recorder is not None and self.recorder.has_stats(name)
                u.moments[bn] = self.recorder.moments_of(name) if has else None
        return self.units

    def _unit_budgets(self, n_keep):
        # layer scope: each unit keeps its share of its *original* channel count (channels
        # are physically gone, so a fraction of the current count would compound)
        return {
            u.name: max(1, int(round(self.initial_units[u.name] * n_keep / self.n_total)))
            for u in self.units
        }

    def _needs_pruning(self, n_keep):
        if self.scope == "global":
            return n_keep < self.n_kept()
        per_unit = self._unit_budgets(n_keep)
        return any(per_unit[u.name] < u.n_channels for u in self.units)

    def _score(self, units):
        # removed channels are gone: nothing to rank last
        return self.scorer(units, self.scope)

    def _select(self, scores, n_keep):
        units = self.units
        if self.scope == "global":
            return select_tied(
                scores, [u.ties for u in units], n_keep, [u.min_classes for u in units]
            )
        per_unit = self._unit_budgets(n_keep)
        return [
            select_tied([s], [u.ties], min(per_unit[u.name], u.n_channels), [u.min_classes])[0]
            for s, u in zip(scores, units)
        ]

    def _apply(self, keep, optimizer=None):
        remove = {
            u.name: [u.channels[i] for i in (~k).nonzero().flatten().tolist()]
            for u, k in zip(self.units, keep)
        }
        self.prune_channels(remove, optimizer)

    # ------------------------------------------------------------------ applying
    def prune_channels(self, remove, optimizer=None):
        """Physically remove channels: ``remove`` maps unit name -> root BatchNorm indices.

        Every tied class must be removed whole (or not at all). Validates, then prunes; on
        an error inside Torch-Pruning the model, the optimizer and the pruner are left as they
        were. Units are found again afterwards (indices shift when channels go).
        """
        tp = torch_pruning()
        requests = []
        for unit in self.units:
            idxs = sorted(set(remove.get(unit.name, [])))
            if not idxs:
                continue
            pos_of = {c: k for k, c in enumerate(unit.channels)}
            unknown = [c for c in idxs if c not in pos_of]
            if unknown:
                raise ValueError(f"{unit.name} has no prunable channels {unknown}.")
            if len(idxs) >= unit.n_channels:
                raise ValueError(f"Cannot remove every channel of {unit.name}.")
            pos = torch.as_tensor([pos_of[c] for c in idxs], dtype=torch.long)
            classes = unit.ties[pos].unique()
            if int(torch.isin(unit.ties, classes).sum()) != len(idxs):
                raise ValueError(
                    f"{unit.name}: a grouped convolution needs the same positions removed in "
                    "every channel group; remove whole tied classes (ChannelUnit.ties)."
                )
            if unit.n_classes - len(classes) < unit.min_classes:
                raise ValueError(
                    f"{unit.name}: a grouped convolution keeps at least {unit.min_classes} "
                    "channels per group."
                )
            requests.append((unit.root, idxs))
        if not requests:
            return
        # model, optimizer and units change together: a Ctrl-C meanwhile is deferred to the
        # end (an error inside Torch-Pruning restores the snapshot)
        with deferred_interrupt():
            saved = snapshot(self.model)
            n_history = len(self.graph_.pruning_history())
            try:
                with recording_slices() as records:
                    # later roots first: their channels only appear at or after them, so removing
                    # them never shifts the channel indices of an earlier root
                    for root, idxs in reversed(requests):
                        group = self.graph_.get_pruning_group(
                            root, tp.prune_batchnorm_out_channels, idxs
                        )
                        group.prune()
            except Exception:
                restore(saved)
                self.graph_ = self._build_graph()
                self.units, self.excluded_units = self._keep_exclusions(*self._find_units())
                raise
            for name, out, idx in self.graph_.pruning_history()[n_history:]:
                self.history.append([name, bool(out), [_as_int(i) for i in idx]])
            if optimizer is not None:
                remap_optimizer(optimizer, chain_slices(records))
            self.units, self.excluded_units = self._keep_exclusions(*self._find_units())

    def _keep_exclusions(self, units, excluded):
        """Units found again (after pruning, or on another copy of the model): those left whole
        at construction stay whole."""
        kept = dict(getattr(self, "excluded_units", {}))
        kept.update(excluded)
        return [u for u in units if u.name not in kept], kept

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("graph_", None)
        state["model"] = None
        state["units"] = []
        state["_hooked"] = False  # a restored recorder is detached
        return state
