"""The pruning factory: criterion, pruner and regulariser from the pruning settings.

The one place that maps settings (``granularity``, ``scorer``, ``alpha``, ...) to classes;
:class:`~skscreen.nn.ScreeningPruning` builds its one pruner per fit here and keeps what it
gets as derived state.
"""

from __future__ import annotations

import copy

from skscreen.pruning._layers import resolve_ignored
from skscreen.pruning.channels import ChannelPruner, ChannelScreeningScorer
from skscreen.pruning.pruner import (
    DEFAULT_LAYER_TYPES,
    WeightPruner,
    attach_unit_masks,
    check_layer_types,
    find_weight_units,
)
from skscreen.pruning.regularizers import BatchNormL1, ContributionEntropy
from skscreen.pruning.schedules import make_schedule
from skscreen.pruning.scorers import HybridScreeningScorer, make_scorer

__all__ = ["make_criterion", "make_pruner", "make_regularizer", "attach_prunable_masks"]

#: Scorer names that take a ``random_state``.
_SEEDED = ("extreme-value", "extreme_value", "dpp")


def make_criterion(
    scorer=None,
    *,
    granularity="weight",
    alpha=0.25,
    normalize="minmax",
    normalize_scope=None,
    random_state=None,
):
    """A fresh criterion from the settings; a criterion object is deep-copied (never the
    caller's object) with its ``report_`` emptied.

    ``None``/``"screening"``: the hybrid screening scorer (channels:
    :class:`~skscreen.pruning.channels.ChannelScreeningScorer`); ``"slimming"``: the channel
    scorer with ``alpha=0``; other names go to :func:`~skscreen.pruning.make_scorer`.
    """
    if granularity == "channel" and (scorer is None or isinstance(scorer, str)):
        if scorer not in (None, "screening", "slimming"):
            raise ValueError(
                f"scorer={scorer!r} is not available for channels; use "
                "'screening', 'slimming' or a ChannelScreeningScorer."
            )
        alpha = 0.0 if scorer == "slimming" else float(alpha)
        return ChannelScreeningScorer(
            alpha=alpha, normalize=normalize, normalize_scope=normalize_scope
        )
    if scorer is None or scorer == "screening":
        return HybridScreeningScorer(
            alpha=float(alpha), normalize=normalize, normalize_scope=normalize_scope
        )
    if isinstance(scorer, str):
        if scorer == "slimming":
            raise ValueError("scorer='slimming' needs granularity='channel'.")
        kw = {}
        if scorer == "magnitude":  # the baseline gets the same normalisation options
            kw = {"normalize": normalize, "normalize_scope": normalize_scope}
        if scorer in _SEEDED:
            kw["random_state"] = random_state
        return make_scorer(scorer, **kw)
    scorer = copy.deepcopy(scorer)  # never mutate the caller's object
    if hasattr(scorer, "report_"):
        scorer.report_ = []
    return scorer


def make_pruner(
    model,
    criterion,
    schedule,
    *,
    granularity="weight",
    sparsity,
    prune_epochs,
    n_classes,
    scope="global",
    example_inputs=None,
    layer_types=None,
    ignored_layers=None,
    post_relu=False,
    random_state=None,
):
    """A :class:`~skscreen.pruning.WeightPruner` (``granularity="weight"``) or
    :class:`~skscreen.pruning.channels.ChannelPruner` (``"channel"``, traced with
    ``example_inputs``) on ``model``; ``schedule`` is a name or a Schedule.

    Raises ValueError, with what to do, when nothing in ``model`` is prunable.
    """
    common = dict(sparsity=float(sparsity), prune_epochs=prune_epochs, n_classes=n_classes)
    if ignored_layers is not None:
        common["ignored_layers"] = ignored_layers
    if granularity == "channel":
        pruner = ChannelPruner(
            model,
            criterion,
            make_schedule(schedule),
            scope=scope,
            example_inputs=example_inputs,
            post_relu=post_relu,
            **common,
        )
    else:
        if layer_types is not None:
            common["layer_types"] = layer_types
        # a mask policy (extreme-value) goes to its own slot; a scorer to the scorer slot
        policy = criterion if getattr(criterion, "decides_masks", False) else None
        pruner = WeightPruner(
            model,
            None if policy is not None else criterion,
            make_schedule(schedule),
            scope=scope,
            policy=policy,
            random_state=random_state,
            **common,
        )
    if pruner.n_total == 0:
        pruner.remove_hooks()
        excluded = getattr(pruner, "excluded_units", None)
        if granularity == "channel":
            raise ValueError(
                "The module has no prunable channels"
                + (f"; excluded units and why: {excluded}" if excluded else "")
                + ". Check ignored_layers, or use granularity='weight'."
            )
        raise ValueError(
            "The module has no prunable weights: every prunable layer is empty (a layer of "
            "width 0?). Give each layer at least one unit."
        )
    return pruner


def make_regularizer(pruner, *, reg_lambda=0.0, gamma_l1=0.0, current=None):
    """The training penalty the settings ask for, attached to ``pruner``'s layers, or None.

    ``reg_lambda > 0``: :class:`~skscreen.pruning.regularizers.ContributionEntropy` on the
    prunable layers; ``gamma_l1 > 0``: :class:`~skscreen.pruning.regularizers.BatchNormL1` on
    the BatchNorms. ``current`` (the regulariser of the previous epoch) is reused when it is
    of the right kind, relinked to the layers of now (pruning replaces parameters), and
    removed when no penalty is asked for.
    """
    if float(reg_lambda) > 0:
        reg = current
        if not isinstance(reg, ContributionEntropy):
            reg = ContributionEntropy(dict(pruner.layers))
        reg.modules = dict(pruner.layers)
        reg.attach()
        reg.attach_gradient(float(reg_lambda))
        return reg
    if float(gamma_l1) > 0:
        reg = current
        if not isinstance(reg, BatchNormL1):
            reg = BatchNormL1(pruner.bn_modules())
        reg.modules = pruner.bn_modules()  # parameters are replaced when pruned
        reg.attach_gradient(float(gamma_l1))
        return reg
    if current is not None:
        current.remove()
    return None


def _prunable_units(module, layer_types, ignored_layers):
    """The weight units a weight-level pruner would mask, or None where it would refuse the
    module or its lazy layers have no shape yet."""
    from torch.nn.parameter import is_lazy

    if any(is_lazy(p) for p in module.parameters()):
        return None
    try:
        types = check_layer_types(DEFAULT_LAYER_TYPES if layer_types is None else layer_types)
        units, _ = find_weight_units(module, types, resolve_ignored(module, ignored_layers))
    except (TypeError, ValueError):
        return None
    return units


def prunable_weights(module, layer_types=None, ignored_layers=None):
    """``{name: weight}`` of the layers a weight-level pruner would mask (each name of tied
    modules), in definition order; empty where a pruner would refuse the module.

    What a module without masks (``remove_masks``: the pruning made permanent as zeros)
    is counted on.
    """
    units = _prunable_units(module, layer_types, ignored_layers)
    out = {}
    for u in units or ():
        for name, m in u.modules.items():
            out[name] = m._parameters.get("weight", m._parameters.get("weight_orig"))
    return out


def attach_prunable_masks(module, layer_types=None, ignored_layers=None):
    """All-ones ``weight_mask`` buffers on the layers a weight-level pruner would mask,
    without building one.

    So that the module reports its pruning (the zeros a state dict brings) before its first
    training batch. A module a pruner would refuse is left as it is (building the pruner
    reports it with a clear message). A module with lazy layers not yet run is left as it is
    too: their weights have no shape (the pruner, built at the first batch, masks them).
    """
    units = _prunable_units(module, layer_types, ignored_layers)
    if units is not None:
        attach_unit_masks(units)
