"""WeightPruner: weight-level pruning of the ``Linear`` and convolution weights of any model.

Framework-free (plain torch): the skorch estimator drives it epoch by epoch, but it can be
used from any training loop::

    pruner = WeightPruner(model, scorer, schedule, sparsity=0.9, prune_epochs=10, n_classes=10)
    pruner.attach_hooks()
    for epoch in range(1, n_epochs + 1):
        for xb, yb in loader:
            pruner.set_targets(yb)        # labels for the statistics hooks
            loss = ...; loss.backward(); optimizer.step()
            pruner.enforce()              # pruned weights back to exactly zero
        pruner.step(epoch, optimizer)     # budget, score, select, apply; resets the statistics
    pruner.remove_hooks()

What is prunable: every module of ``layer_types`` (default ``Linear``, ``Conv1d``,
``Conv2d``; grouped and depthwise convolutions included) that is not in ``ignored_layers``;
``sparsity`` is the fraction of *all* their weights removed (biases are not pruned). The
screening statistic of a weight is that of the input unit it reads: a feature of the last
dimension for a ``Linear`` (on ``(N, ..., C)`` input every leading position is a sample), the
per-sample spatial mean of an input channel for a convolution (``weight[o, i, ...]`` of group
``g`` reads channel ``g * in_per_group + i``). Layers sharing one weight ``Parameter`` (tied
weights) are one unit: one mask, counted once. ``Linear`` layers inside
``nn.MultiheadAttention`` are skipped (it calls ``out_proj`` functionally, so no hook can
see its input; its ``in_proj_weight`` is not a ``Linear``).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from skscreen.pruning._base import CLASS_MOMENTS, BasePruner
from skscreen.pruning._layers import resolve_ignored, under
from skscreen.pruning.masks import (
    attach_mask,
    effective_weight,
    enforce_masks,
    get_mask,
    n_alive,
    share_mask,
    update_mask,
)
from skscreen.pruning.scorers import LayerView
from skscreen.pruning.selection import select_global, select_per_layer

__all__ = ["WeightPruner", "WeightUnit", "DEFAULT_LAYER_TYPES"]

#: layer types pruned at weight level unless ``layer_types`` says otherwise
DEFAULT_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)

# the classifier head is the last of these (or of layer_types) in definition order
_HEAD_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

# huge but finite: a layer that cannot be screened is kept whole (select_* count finite scores)
_KEEP = torch.finfo(torch.float64).max


class WeightUnit:
    """One prunable weight tensor: the modules that use it (several when tied) and its mask."""

    def __init__(self, name, modules):
        self.name = name
        self.modules = modules  # {qualified name: module}, first is the owner of the mask

    @property
    def module(self):
        return next(iter(self.modules.values()))

    @property
    def mask(self):
        return get_mask(self.module)

    @property
    def groups(self):
        return int(getattr(self.module, "groups", 1))

    @property
    def numel(self):
        return self.module.weight.numel()

    def __repr__(self):
        return f"WeightUnit({self.name!r}, modules={list(self.modules)})"


def check_layer_types(layer_types):
    """``layer_types`` as a tuple of module classes (a TypeError otherwise)."""
    if isinstance(layer_types, type):
        layer_types = (layer_types,)
    layer_types = tuple(layer_types)
    if not layer_types or not all(
        isinstance(t, type) and issubclass(t, nn.Module) for t in layer_types
    ):
        raise TypeError(f"layer_types must be module classes, got {layer_types!r}.")
    return layer_types


def find_weight_units(model, layer_types, ignored_layers):
    """``(units, head)``: the prunable weights of ``model`` (:class:`WeightUnit`, each the
    modules sharing one weight parameter, in definition order) and the classifier head's name.

    ``layer_types`` are module classes, ``ignored_layers`` qualified
    names (:func:`~skscreen.pruning._layers.resolve_ignored`). The head is the last module of
    ``layer_types`` (or a head type) in definition order. A ValueError when nothing is
    prunable.
    """
    units, head = {}, None
    attention = [n for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    head_types = (*_HEAD_TYPES, *layer_types)
    for name, m in model.named_modules():
        if isinstance(m, head_types):
            head = name
        if not isinstance(m, layer_types):
            continue
        # the parameter itself (``weight_orig`` under torch.nn.utils.prune's storage)
        param = m._parameters.get("weight", m._parameters.get("weight_orig"))
        if param is None or under(name, ignored_layers):
            continue
        if under(name, attention):
            continue  # called functionally by MultiheadAttention: no hook sees its input
        units.setdefault(id(param), {})[name] = m
    if not units:
        types = [t.__name__ for t in layer_types]
        raise ValueError(
            f"The model has no prunable layer (layer_types={types}, "
            f"ignored_layers={ignored_layers})."
        )
    return [WeightUnit(next(iter(mods)), mods) for mods in units.values()], head


def attach_unit_masks(units):
    """A ``weight_mask`` buffer on every unit's module (kept if there); tied modules share
    one buffer."""
    for u in units:
        mask = attach_mask(u.module)
        for other in list(u.modules.values())[1:]:
            # tied weights share one mask buffer (a state dict holds it under each name)
            own = get_mask(other)
            if own is not None and own is not mask:
                mask.mul_(own)
                del other._buffers["weight_mask"]
            if get_mask(other) is None:
                share_mask(other, mask)


class WeightPruner(BasePruner):
    """Prunes the weights of the ``Linear``/convolution layers of ``model`` to a sparsity target.

    Parameters
    ----------
    model : torch.nn.Module
    scorer : callable or mask policy
        ``scorer(views, scope) -> list of score tensors`` (see
        :mod:`skscreen.pruning.scorers`); a mask policy such as
        :class:`~skscreen.pruning.ExtremeValuePruning` is accepted here too.
    schedule : Schedule
    sparsity : float in [0, 1)
        Target fraction of all prunable weights removed (every layer of ``layer_types``
        not ignored, counted once per tied weight).
    prune_epochs : int
        Epochs over which the schedule reaches the target.
    n_classes : int
    scope : {"global", "layer"}, default="global"
    layer_types : tuple of type, default=(nn.Linear, nn.Conv1d, nn.Conv2d)
        Module types whose ``weight`` is prunable.
    ignored_layers : list of modules or qualified names, default=None
        Left dense (a name also covers the modules inside it), e.g. the stem and the
        classifier: ``["conv1", "fc"]``.
    policy : mask policy, default=None
        Decides the masks itself instead of budget -> score -> select.
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the policy's random decisions when the policy has none of its own.

    Attributes
    ----------
    units : list of WeightUnit
        The prunable weights, in definition order.
    layers : dict of str to torch.nn.Module
        Every prunable module by qualified name (tied modules all listed).
    n_total : int
        Prunable weights (each tied weight once).

    Notes
    -----
    The last ``Linear``/convolution (or module of ``layer_types``) in definition order is
    taken as the classifier head: when prunable it keeps at least one input per output unit.
    Every unit keeps at least one weight. A layer whose forward hook never fires while
    others' do (a module called functionally) cannot be screened: its weights rank above
    every screened weight (kept dense unless the budget is smaller than the layer), with a
    warning.
    """

    def __init__(
        self,
        model,
        scorer,
        schedule,
        *,
        sparsity,
        prune_epochs,
        n_classes,
        scope="global",
        layer_types=DEFAULT_LAYER_TYPES,
        ignored_layers=None,
        policy=None,
        random_state=None,
    ):
        super().__init__(
            scorer,
            schedule,
            sparsity=sparsity,
            prune_epochs=prune_epochs,
            n_classes=n_classes,
            scope=scope,
            policy=policy,
            random_state=random_state,
        )
        self.layer_types = check_layer_types(layer_types)
        # names survive pickling (module objects would not be the unpickled model's)
        self.ignored_layers = resolve_ignored(model, ignored_layers)
        self._unscreened = set()
        self.bind(model)
        self.n_total = sum(u.numel for u in self.units)
        self._make_recorder()

    # ------------------------------------------------------------------ binding
    def bind(self, model):
        """(Re)attach to ``model``: find its prunable weights and give them masks."""
        units, head = find_weight_units(model, self.layer_types, self.ignored_layers)
        self.model = model
        self.units = units
        self.layers = {n: m for u in self.units for n, m in u.modules.items()}
        self.names = [u.name for u in self.units]
        self.head_ = head if head in self.layers else None
        attach_unit_masks(self.units)
        return self

    def __getstate__(self):
        # the model is pickled by its owner; ``bind`` re-links after unpickling
        state = dict(self.__dict__)
        state["model"] = None
        state["layers"] = {}
        state["units"] = []
        state["_hooked"] = False  # a restored recorder is detached
        return state

    # ------------------------------------------------------------------ statistics
    def _hook_modules(self):
        return dict(self.layers)

    def _reductions(self):
        # a 2-D weight reads the last dimension (Linear); a conv weight reads channels (dim 1)
        return {n: "last" if m.weight.ndim == 2 else "channels" for n, m in self.layers.items()}

    def _unit_moments(self, unit, get):
        out = None
        for name in unit.modules:
            m = get(name)
            if m is not None:
                out = m if out is None else out + m
        return out

    def views(self):
        """One :class:`~skscreen.pruning.scorers.LayerView` per unit (statistics of the epoch)."""
        rec = self.recorder
        out = []
        for u in self.units:
            moments = abs_moments = None
            if rec is not None:
                moments = self._unit_moments(
                    u, lambda n: rec.moments_of(n) if rec.has_stats(n) else None
                )
                abs_moments = self._unit_moments(u, rec.abs_moments_of)
            out.append(
                LayerView(
                    u.name, effective_weight(u.module), u.mask, moments, abs_moments, u.groups
                )
            )
        return out

    def _has_required(self, view):
        if CLASS_MOMENTS in self.requires and view.moments is None:
            return False
        if "abs_moments" in self.requires and view.abs_moments is None:
            return False
        return True

    def _score(self, views):
        ok = [self._has_required(v) for v in views]
        if self.requires and not any(ok):
            raise RuntimeError(
                "No input statistics were recorded this epoch: call set_targets(y) before "
                "each training forward pass (the model must be in train mode)."
            )
        missing = [v.name for v, good in zip(views, ok) if not good]
        new = sorted(set(missing) - self._unscreened)
        if new:
            warnings.warn(
                f"No input statistics reached {new} (a module called functionally, or not "
                "on the training path): kept dense. Exclude them with ignored_layers to "
                "silence this.",
                UserWarning,
                # _score <- step <- torch.no_grad wrapper <- caller; the frame is tested
                # outside mutmut, whose trampolines add frames
                stacklevel=4,  # pragma: no mutate
            )
            self._unscreened.update(new)
        screened = [v for v, good in zip(views, ok) if good]
        scores = iter(super()._score(screened))
        return [
            next(scores)
            if good
            else torch.full(
                v.weight.shape, _KEEP, dtype=torch.float64, device=v.weight.device
            ).masked_fill(~v.mask.bool(), -torch.inf)
            for v, good in zip(views, ok)
        ]

    # ------------------------------------------------------------------ select and apply
    def _constraints(self):
        return [self.head_ in u.modules for u in self.units]

    def _select(self, scores, n_keep):
        rows = self._constraints()
        if self.scope == "global":
            return select_global(scores, n_keep, rows)
        return select_per_layer(scores, n_keep / self.n_total, rows)

    def _apply(self, keep, optimizer=None):
        for u, k in zip(self.units, keep):
            update_mask(u.module, k, optimizer)

    def enforce(self):
        """Re-zero pruned weights; call after every optimizer step."""
        enforce_masks([u.module for u in self.units])

    def n_kept(self):
        """Prunable weights still alive (each tied weight once)."""
        return sum(n_alive(u.mask) for u in self.units)

    def kept_fractions(self):
        """Fraction of each unit's weights still alive, by the unit's (first) module name."""
        return {u.name: n_alive(u.mask) / u.mask.numel() for u in self.units}
