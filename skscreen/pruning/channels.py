"""Channel-level screening pruning (CLS): scores for BatchNorm channels and physical removal.

Deciding: :class:`ChannelScreeningScorer` ranks each channel ``k`` of a BatchNorm layer by
``alpha * norm(F_k) + (1 - alpha) * norm(|gamma_k|)``, ``F_k`` the ANOVA F-score of the
channel's spatially averaged BatchNorm output (per sample) and ``gamma`` the BatchNorm scale;
``alpha = 0`` is network slimming's ``|gamma|`` (Liu et al. 2017).

Applying: :class:`ChannelPruner` removes channels physically with Torch-Pruning's dependency
graph (``torch-pruning`` from PyPI), so that convolutions, BatchNorms, residual additions and
concatenations stay consistent; BatchNorms coupled by a residual addition or a
concatenation form one *unit* whose channels are scored by the mean of their members' scores
(channel indices in each member from the group's ``root_idxs``); grouped convolutions tie the
channels at one position of every channel group into a class removed whole. The classifier
head is never pruned. Pruning in the middle of training keeps any ``torch.optim`` optimizer
valid: every live parameter stays in its parameter group (replaced in place, so an
``LRScheduler`` keeps working) and per-parameter state (momentum, Adam's moments, ...) is
sliced exactly as Torch-Pruning sliced the parameter (:func:`remap_optimizer`).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from skscreen.pruning._atomic import deferred_interrupt
from skscreen.pruning._base import BasePruner
from skscreen.pruning.distributed import check_channel_pruning
from skscreen.pruning.scorers import MixScorer, input_f_scores, mix

__all__ = [
    "ChannelScreeningScorer",
    "ChannelPruner",
    "ChannelUnit",
    "count_macs",
    "save_pruned",
    "load_pruned",
    "replay_pruning",
    "channel_report",
    "remap_optimizer",
    "select_tied",
]


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


class ChannelScreeningScorer(MixScorer):
    """``alpha * norm(F) + (1 - alpha) * norm(|gamma|)`` for every channel of every unit.

    Parameters
    ----------
    alpha : float in [0, 1], default=0.5
        0 is network slimming (``|gamma|`` only), 1 pure screening.
    normalize : {"minmax", "max", "rank"}, default="minmax"
    normalize_scope : {"global", "layer"} or None, default=None
        Normalise each component over all units (``"global"``) or within each unit
        (``"layer"``) before ranking over the budget scope; ``None`` is ``"layer"``, the
        choice made on validation splits for both CLS and slimming (``docs/benchmarks.rst``,
        "Default settings": a global scale starves the layers whose ``|gamma|`` run small).
    """

    def normalization_scope(self, scope):
        """Within each unit unless ``normalize_scope="global"`` is asked for."""
        return "layer" if self.normalize_scope is None else self.normalize_scope

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
        weights = [self.alpha, 1.0 - self.alpha]
        return mix([fs, gammas], alive, weights, self.normalization_scope(scope), self.normalize)


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


_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


class _Ties:
    """Union-find over a unit's channel positions: positions that must be removed together."""

    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i, j):
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def labels(self):
        """Class id of each position, classes numbered by their first position."""
        roots = [self.find(i) for i in range(len(self.parent))]
        number = {r: k for k, r in enumerate(dict.fromkeys(roots))}
        return torch.as_tensor([number[r] for r in roots], dtype=torch.long)


def select_tied(scores, ties, n_keep, min_classes=None):
    """Keep whole tied classes of channels: the best class (``min_classes[u]`` best classes)
    of every unit, then classes in decreasing mean score while fewer than ``n_keep`` channels
    are kept.

    ``scores`` and ``ties`` are per-unit tensors over channel positions (``ties[u][p]``: the
    class of position ``p``). A class's score is the mean of its channels' scores (as
    Torch-Pruning averages importance over channel groups). With one channel per class this is
    :func:`~skscreen.pruning.selection.select_global`; with larger classes the kept count can
    exceed ``n_keep`` by less than one class. Returns per-unit boolean keep masks.
    """
    min_classes = min_classes or [1] * len(scores)
    class_scores, class_sizes, forced = [], [], []
    for s, t, m in zip(scores, ties, min_classes):
        n_classes = int(t.max()) + 1
        size = torch.bincount(t, minlength=n_classes)
        total = torch.zeros(n_classes, dtype=torch.float64).index_add_(0, t, s.double())
        mean = total / size
        f = torch.zeros(n_classes, dtype=torch.bool)
        if m == 1:
            f[mean.argmax()] = True  # first of equal maxima, as select_global
        else:
            f[torch.argsort(mean, descending=True, stable=True)[:m]] = True
        class_scores.append(mean)
        class_sizes.append(size)
        forced.append(f)
    flat, sizes = torch.cat(class_scores), torch.cat(class_sizes)
    forced_flat = torch.cat(forced)
    rest = int(n_keep) - int(sizes[forced_flat].sum())
    keep_flat = forced_flat.clone()
    if rest > 0:
        order = torch.argsort(
            flat.masked_fill(forced_flat, -torch.inf), descending=True, stable=True
        )
        order = order[~forced_flat[order]]
        before = torch.cumsum(sizes[order], 0) - sizes[order]  # channels kept before each
        keep_flat[order[before < rest]] = True
    masks, start = [], 0
    for t, s in zip(ties, class_scores):
        masks.append(keep_flat[start : start + len(s)][t])
        start += len(s)
    return masks


@contextmanager
def _recording_slices():
    """Record every parameter slice Torch-Pruning takes while pruning.

    All of Torch-Pruning's layer pruners (convolutions, grouped and transposed included,
    norms, Linear, attention, LSTM, bare parameters) build the pruned parameter with
    ``BasePruningFunc._prune_parameter_and_grad(weight, keep_idxs, dim)``; wrapping it gives
    the exact ``(old parameter, new parameter, dim, kept indices)`` of every change, which is
    what optimizer state has to follow. Yields the list the records are appended to.
    """
    from torch_pruning.pruner import function as tp_function

    cls = tp_function.BasePruningFunc
    original = cls._prune_parameter_and_grad
    records = []

    def recording(self, weight, keep_idxs, pruning_dim):
        new = original(self, weight, keep_idxs, pruning_dim)
        records.append((weight, new, int(pruning_dim), [int(i) for i in keep_idxs]))
        return new

    cls._prune_parameter_and_grad = recording
    try:
        yield records
    finally:
        cls._prune_parameter_and_grad = original


def _chain_slices(records):
    """``{id(final parameter): (final, original, [(dim, kept indices), ...])}`` from records
    of successive slices (a parameter sliced on its output and then its input channels)."""
    chains = {}
    for old, new, dim, keep in records:
        _, origin, cuts = chains.pop(id(old), (None, old, []))
        chains[id(new)] = (new, origin, cuts + [(dim, keep)])
    return chains


def _snapshot(model):
    """What pruning changes in each module: attributes, parameter and buffer slots."""
    return [(m, dict(m.__dict__), dict(m._parameters), dict(m._buffers)) for m in model.modules()]


def _restore(snapshot):
    for m, attrs, params, buffers in snapshot:
        m.__dict__.clear()
        m.__dict__.update(attrs)
        m._parameters.clear()
        m._parameters.update(params)
        m._buffers.clear()
        m._buffers.update(buffers)


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
        self.ignored_layers = _layer_names(model, ignored_layers)
        self.history = []  # Torch-Pruning pruning history: (module name, out?, indices)
        self.excluded_units = {}
        self.bind(model)
        for u in self.units:  # units that can never lose a channel are not prunable
            if u.n_classes <= u.min_classes:
                self.excluded_units[u.name] = (
                    "one channel"
                    if u.n_channels == 1
                    else f"grouped convolutions keep {u.min_classes} of its {u.n_classes} "
                    "tied classes"
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
        tp = _tp()
        model = self.model if model is None else model
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():  # tracing relies on autograd (step runs under no_grad)
                graph = tp.DependencyGraph().build_dependency(
                    model, example_inputs=self.example_inputs.to(device)
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

    def bind(self, model):
        """(Re)attach to ``model``: trace it and find the prunable channel units."""
        self.model = model
        self.bn_names = {m: n for n, m in model.named_modules() if isinstance(m, _NORMS)}
        if not self.bn_names:
            raise ValueError(
                "Channel-level pruning needs BatchNorm layers (it ranks channels by the "
                "BatchNorm scale gamma); this model has none. Use granularity='weight'."
            )
        self.graph_ = self._build_graph()
        self.units, self.excluded_units = self._keep_exclusions(*self._find_units())
        return self

    def _ignored_modules(self, model):
        modules = dict(model.named_modules())
        ignored = set()
        for name in self.ignored_layers:
            if name not in modules:
                raise ValueError(f"ignored_layers: the model has no module named {name!r}.")
            ignored.update(modules[name].modules())
        return ignored

    def _find_units(self, graph=None):
        """Walk the BatchNorms in order; each gets the channels no earlier one carried.

        Returns ``(units, excluded)``: the prunable units and ``{root name: reason}`` for the
        units left whole. Raises ValueError for a unit a grouped convolution makes unprunable.
        """
        tp = _tp()
        graph = self.graph_ if graph is None else graph
        bn_names = {m: n for n, m in graph.model.named_modules() if isinstance(m, _NORMS)}
        names = {m: n for n, m in graph.model.named_modules()}
        ignored = self._ignored_modules(graph.model)
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
                problem = self._tie_grouped(graph, module, out, idxs, roots, pos_of, ties)
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

    @staticmethod
    def _tie_grouped(graph, module, out, idxs, roots, pos_of, ties):
        """Tie the positions a grouped convolution (or norm) sees in the same place of each
        of its channel groups. Returns None (not grouped), True (tied) or what is wrong."""
        pruner = graph.get_pruner_of_module(module)
        if pruner is None or _is_depthwise(module):
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

    def _check_prunable(self):
        """Dry run on a copy: remove one tied class of every unit, then run the copy.

        Catches, before any training, the units Torch-Pruning cannot prune consistently and
        units whose removal would change the network's output (left whole). A first pass runs
        the copy once at the end; only when that finds a problem is every unit tried on its
        own, to name the culprits.
        """
        if not self.units:
            return
        result = self._dry_run(each=False)
        failures, head = result if result is not None else self._dry_run(each=True)
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
        for name in head:
            self.excluded_units[name] = "changes the network's output (classifier head)"
        self.units = [u for u in self.units if u.name not in head]

    def _dry_run(self, each):
        """``(failures, head units)`` of removing one class per unit from a bare copy; with
        ``each=False`` the copy runs once at the end and None means "something failed there"."""
        tp = _tp()
        copy_ = _copy_without_hooks(self.model).eval()
        graph = self._build_graph(copy_)
        units = {u.name: u for u in self._find_units(graph)[0]}
        x = self.example_inputs.to(next(copy_.parameters()).device)

        def output_shape():
            with torch.no_grad():
                return _output_shape(copy_(x))

        shape = output_shape()
        failures, head = {}, []
        # later roots first, as in prune_channels: an earlier root's indices do not shift
        for name in reversed([u.name for u in self.units]):
            unit = units[name]
            last = unit.ties[-1]  # remove one tied class
            removed = [unit.channels[p] for p in (unit.ties == last).nonzero().flatten()]
            shrink = {bn: int((unit.ties[pos] == last).sum()) for bn, _, pos in unit.members}
            sizes = {bn: bn.num_features for bn in shrink}
            snap = _snapshot(copy_)
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
            _restore(snap)
            graph = self._build_graph(copy_)
            units = {u.name: u for u in self._find_units(graph)[0]}
        if not each:
            try:
                if output_shape() != shape:
                    return None
            except Exception:  # noqa: BLE001 - placed by the unit-by-unit pass
                return None
        return failures, head

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

    _views = views  # older name

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
        tp = _tp()
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
            snapshot = _snapshot(self.model)
            n_history = len(self.graph_.pruning_history())
            try:
                with _recording_slices() as records:
                    # later roots first: their channels only appear at or after them, so removing
                    # them never shifts the channel indices of an earlier root
                    for root, idxs in reversed(requests):
                        group = self.graph_.get_pruning_group(
                            root, tp.prune_batchnorm_out_channels, idxs
                        )
                        group.prune()
            except Exception:
                _restore(snapshot)
                self.graph_ = self._build_graph()
                self.units, self.excluded_units = self._keep_exclusions(*self._find_units())
                raise
            for name, out, idx in self.graph_.pruning_history()[n_history:]:
                self.history.append([name, bool(out), [_as_int(i) for i in idx]])
            if optimizer is not None:
                remap_optimizer(optimizer, _chain_slices(records))
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
        return state


class _Skip(Exception):
    pass


def _is_depthwise(module):
    """A depthwise convolution (``groups == in_channels == out_channels``): its groups shrink
    with its channels. A grouped convolution left with one output channel per group is not
    one, although Torch-Pruning's type test (``groups == out_channels``) says so."""
    tp = _tp()
    return (
        tp.ops.module2type(module) == tp.ops.OPTYPE.DEPTHWISE_CONV
        and module.in_channels == module.out_channels
    )


def _copy_without_hooks(model):
    """A deep copy of ``model`` whose modules carry none of the original's hooks (a user's or
    a callback's hook may hold objects that cannot be copied, or record what it sees)."""
    from collections import OrderedDict

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


def _layer_names(model, layers):
    """Qualified names of ``layers`` (modules of ``model`` or names), validated."""
    if layers is None:
        return ()
    if isinstance(layers, str | nn.Module):
        layers = [layers]
    names = {m: n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    out = []
    for layer in layers:
        if isinstance(layer, nn.Module):
            if layer not in names:
                raise ValueError(f"ignored_layers: {type(layer).__name__} is not in the model.")
            out.append(names[layer])
        elif isinstance(layer, str):
            if layer not in modules:
                raise ValueError(f"ignored_layers: the model has no module named {layer!r}.")
            out.append(layer)
        else:
            raise TypeError(
                f"ignored_layers takes modules or their names, got {type(layer).__name__}."
            )
    return tuple(out)


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
    tp = _tp()
    with deferred_interrupt():
        snapshot = _snapshot(module)
        was_training = module.training
        try:
            module.eval()
            with torch.enable_grad():  # tracing relies on autograd
                graph = tp.DependencyGraph().build_dependency(module, example_inputs=example_inputs)
            with _recording_slices() as records:
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
            _restore(snapshot)
            raise
        module.train(was_training)
        slices = _chain_slices(records)
        for optimizer in optimizers:
            remap_optimizer(optimizer, slices)
    return module


def _slice_state(state, shape, cuts):
    """Slice every state tensor shaped like the parameter (``shape``) as the parameter was;
    None when some state tensor cannot be mapped (then the state is reset)."""
    out = {}
    for key, value in state.items():
        if not torch.is_tensor(value) or value.ndim == 0:
            out[key] = value
            continue
        if value.ndim != len(shape) or any(v not in (s, 1) for v, s in zip(value.shape, shape)):
            return None
        reduced = {d for d in range(value.ndim) if value.shape[d] != shape[d]}
        for dim, keep in cuts:
            if dim not in reduced:
                keep = torch.as_tensor(keep, dtype=torch.long, device=value.device)
                value = value.index_select(dim, keep)
        out[key] = value.clone()
    return out


def remap_optimizer(optimizer, slices):
    """Follow a structural change in ``optimizer``: replace parameters and slice their state.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    slices : dict
        ``{id(new parameter): (new, old, [(dim, kept indices), ...])}``: ``new`` is ``old``
        with the kept indices taken on each dim in turn.

    Every parameter group keeps its list object (optimizers such as LBFGS hold a reference to
    it); per-parameter state tensors shaped like the old parameter are sliced on the same
    dimensions (a dimension of size 1 in the state is kept), scalar state is kept, and state
    that cannot be mapped is dropped so the optimizer starts it afresh for that parameter.
    LBFGS's flat history over all parameters is reset.
    """
    replace = {id(old): new for new, old, _ in slices.values()}
    flat_state = isinstance(optimizer, torch.optim.LBFGS)
    for new, old, cuts in slices.values():
        state = optimizer.state.pop(old, None)
        if state and not flat_state:
            sliced = _slice_state(state, tuple(old.shape), cuts)
            if sliced is not None:
                optimizer.state[new] = sliced
    for group in optimizer.param_groups:
        group["params"][:] = [replace.get(id(p), p) for p in group["params"]]
    if flat_state and replace:
        optimizer.state.clear()
        optimizer._numel_cache = None


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
