"""The pruner skeleton: what every pruner of this package does the same way.

A *pruner* owns, for one model, the **statistics hooks** (an
:class:`~skscreen.pruning.hooks.InputStatsRecorder` with the statistics its criterion needs),
the **validation** of the pruning parameters, and the end-of-epoch template::

    step(epoch) = budget -> score -> select -> apply      (then reset the statistics)

* *budget*: ``target_keep(epoch)``, the schedule's keep-count for this epoch;
* *score*: ``scorer(views, scope)`` on the pruner's :meth:`~BasePruner.views` (one per
  prunable unit: a weight tensor, a channel unit...); the pruner, not the scorer, makes
  already-pruned entries rank last (``-inf``), once;
* *select*: keep-masks under the budget (:mod:`skscreen.pruning.selection`);
* *apply*: masks or physical removal, the optimizer's state kept consistent.

Under a ``torch.distributed`` process group of several ranks, ``step`` first reduces the
statistics across ranks (every rank scores the global batches), seeds random decisions from
rank 0 and applies rank 0's masks on every rank (:mod:`skscreen.pruning.distributed`).

A **mask policy** replaces budget, score and select by its own decision (extreme-value
pruning decides each weight from a fitted law and sets its own sparsity): it has
``applies_at(epoch, prune_epochs) -> bool`` and ``decide(views, epoch, keep_each_row,
random_state=None) -> list of keep-masks`` (``random_state``, the pruner's, is passed when
``decide`` accepts it), and marks itself with ``decides_masks = True``.
A policy has its own slot (``policy=``); one passed in the scorer slot is used as the policy
too.

Scorer protocol
---------------
A scorer is a callable ``scorer(views, scope) -> list of score tensors`` (higher = keep),
one per view, shaped like its weight. It declares the statistics it needs with
``requires``, a subset of ``{"class_moments", "abs_moments"}`` (see
:func:`required_statistics`): ``"class_moments"`` are the per-class moments of each
layer's input units (screening), ``"abs_moments"`` the pooled moments of ``|input|``
(activation statistics); an empty set (magnitude, LAMP) means no hooks at all. Every
in-tree criterion declares it; a scorer without ``requires`` gets ``{"class_moments"}``.

Subclasses implement ``bind(model)`` (find the units; sets ``model``), ``_hook_modules()``,
``_reductions()`` (and optionally ``_recorder_options()``), ``views()``, ``n_kept()``,
``kept_fractions()``, ``_select(scores, n_keep)`` and ``_apply(keep, optimizer)``;
:class:`~skscreen.pruning.WeightPruner` is the reference implementation.
"""

from __future__ import annotations

import inspect
import numbers

import torch

from skscreen.pruning import distributed
from skscreen.pruning.hooks import InputStatsRecorder

__all__ = ["BasePruner", "required_statistics", "CLASS_MOMENTS", "ABS_MOMENTS"]

CLASS_MOMENTS = "class_moments"
ABS_MOMENTS = "abs_moments"
_STATISTICS = frozenset({CLASS_MOMENTS, ABS_MOMENTS})


def required_statistics(scorer):
    """The statistics ``scorer`` needs, as a frozenset of ``"class_moments"``/``"abs_moments"``.

    Read from ``scorer.requires``; a scorer without it gets ``{"class_moments"}``.

    >>> from skscreen.pruning.scorers import ActivationStatsScorer, MagnitudeScorer
    >>> sorted(required_statistics(ActivationStatsScorer()))
    ['abs_moments']
    >>> required_statistics(MagnitudeScorer())
    frozenset()
    """
    requires = getattr(scorer, "requires", None)
    requires = frozenset({CLASS_MOMENTS} if requires is None else requires)
    unknown = requires - _STATISTICS
    if unknown:
        raise ValueError(
            f"{type(scorer).__name__}.requires names unknown statistics {sorted(unknown)}; "
            f"use a subset of {sorted(_STATISTICS)}."
        )
    return requires


def _is_whole(value):
    return (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and float(value).is_integer()
    )


def check_pruning_params(sparsity, prune_epochs, scope, n_classes):
    """Validate the parameters shared by every pruner; returns them normalised."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}.")
    if not 0.0 <= float(sparsity) < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}.")
    if not _is_whole(prune_epochs) or prune_epochs < 1:
        raise ValueError(f"prune_epochs must be an integer >= 1, got {prune_epochs!r}.")
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}.")
    if not _is_whole(n_classes) or n_classes < 1:
        raise ValueError(f"n_classes must be an integer >= 1, got {n_classes!r}.")
    return float(sparsity), int(prune_epochs), scope, int(n_classes)


class BasePruner:
    """Skeleton of a pruner: parameters, statistics-hook lifecycle and the ``step`` template.

    Parameters
    ----------
    scorer : callable or mask policy
        The criterion (see the module docstring); a mask policy (``decides_masks = True``)
        is accepted here too and then used as ``policy``.
    schedule : Schedule
        Gives the keep-count of each epoch (:mod:`skscreen.pruning.schedules`).
    sparsity : float in [0, 1)
        Target fraction of the prunable units removed.
    prune_epochs : int >= 1
        Epochs over which the schedule reaches the target.
    n_classes : int
    scope : {"global", "layer"}, default="global"
        One budget over all units, or the same fraction in every layer.
    policy : mask policy, default=None
        Decides the masks itself (budget, score and select are skipped).
    random_state : int, numpy.random.Generator or None, default=None
        Source of every random decision of the pruner (passed to the policy). With an int,
        two pruners with the same settings make the same decisions.
    """

    #: the pruner removes structure physically (no masks to enforce)
    physical = False

    def __init__(
        self,
        scorer,
        schedule,
        *,
        sparsity,
        prune_epochs,
        n_classes,
        scope="global",
        policy=None,
        random_state=None,
    ):
        self.sparsity, self.prune_epochs, self.scope, self.n_classes = check_pruning_params(
            sparsity, prune_epochs, scope, n_classes
        )
        if policy is None and getattr(scorer, "decides_masks", False):
            policy = scorer
        if policy is not None and not (hasattr(policy, "decide") and hasattr(policy, "applies_at")):
            raise TypeError(
                f"policy {policy!r} must have decide(views, epoch, keep_each_row) and "
                "applies_at(epoch, prune_epochs)."
            )
        self.scorer = scorer
        self.schedule = schedule
        self.policy = policy
        self._policy_in_scorer_slot = policy is scorer
        self.random_state = random_state
        self.requires = required_statistics(policy if policy is not None else scorer)
        self.recorder = None
        self._hooked = True  # a new pruner records (its recorder hooks its modules at once)

    def set_scorer(self, scorer):
        """Swap the criterion (e.g. new settings between ``partial_fit`` calls).

        The statistics hooks follow what the new criterion needs (re-attached if they were
        attached; statistics gathered so far in the epoch are dropped). A mask policy given
        in the scorer slot replaces the policy; one given as ``policy=`` stays.
        """
        policy = self.policy
        if getattr(scorer, "decides_masks", False):
            policy, self._policy_in_scorer_slot = scorer, True
        elif self._policy_in_scorer_slot:
            policy, self._policy_in_scorer_slot = None, False
        return self._use(scorer, policy)

    def retarget(self, *, sparsity, prune_epochs, scope, schedule, criterion):
        """New targets for the epochs to come (settings changed between ``partial_fit``
        calls), validated as at construction. ``criterion`` replaces the scorer and the
        policy: a mask policy (``decides_masks``) goes to the policy slot, a scorer to the
        scorer slot. What is already pruned stays pruned."""
        sparsity, prune_epochs, scope, _ = check_pruning_params(
            sparsity, prune_epochs, scope, self.n_classes
        )
        self.sparsity, self.prune_epochs, self.scope = sparsity, prune_epochs, scope
        self.schedule = schedule
        self._policy_in_scorer_slot = False
        if getattr(criterion, "decides_masks", False):
            return self._use(None, criterion)
        return self._use(criterion, None)

    def _use(self, scorer, policy):
        """Set the criterion slots; the statistics hooks follow what it needs (re-attached
        if they were attached; statistics gathered so far in the epoch are dropped)."""
        hooked = self._hooked
        self.remove_hooks()
        self.scorer, self.policy = scorer, policy
        self.requires = required_statistics(policy if policy is not None else scorer)
        self._make_recorder()  # a new recorder hooks its modules at once
        if hooked:
            self.attach_hooks()
        else:
            self.remove_hooks()
        return self

    # ------------------------------------------------------------------ statistics hooks
    def _make_recorder(self):
        """Build the recorder for the statistics the criterion needs (call after ``bind``)."""
        if not self.requires:
            self.recorder = None
            return
        self.recorder = InputStatsRecorder(
            self._hook_modules(),
            self.n_classes,
            track_class=CLASS_MOMENTS in self.requires,
            track_abs=ABS_MOMENTS in self.requires,
            reduce=self._reductions(),
            **self._recorder_options(),
        )

    def _recorder_options(self):
        """Further :class:`InputStatsRecorder` options, e.g. ``{"source": "output",
        "post_relu": True}`` for a pruner that screens BatchNorm outputs."""
        return {}

    def _hook_modules(self):
        """``{name: module}`` whose inputs are recorded."""
        raise NotImplementedError

    def _reductions(self):
        """``{name: "last" | "channels" | "flat"}`` (see :class:`InputStatsRecorder`)."""
        raise NotImplementedError

    def attach_hooks(self):
        """Start recording statistics (idempotent)."""
        self._hooked = True
        if self.recorder is not None and not self.recorder.attached:
            self.recorder.attach(self._hook_modules())

    def remove_hooks(self):
        """Stop recording (hooks live only while training)."""
        self._hooked = False
        if self.recorder is not None:
            self.recorder.remove()

    def set_targets(self, y):
        """Labels (class indices) of the batch about to go through the model; None: stop."""
        if self.recorder is not None:
            self.recorder.set_targets(y)

    # ------------------------------------------------------------------ the template
    @property
    def decides_masks(self):
        """True when a mask policy sets the sparsity (``target_keep`` is then None)."""
        return self.policy is not None

    def target_keep(self, epoch):
        """Budget: units to keep after ``epoch`` (1-based), or None under a mask policy."""
        if self.decides_masks:
            return None
        return self.schedule.n_keep(epoch, self.n_total, self.sparsity, self.prune_epochs)

    def _needs_pruning(self, n_keep):
        return n_keep < self.n_kept()

    def prunes_at(self, epoch):
        """Whether :meth:`step` at the end of ``epoch`` (1-based) will decide masks, and so
        needs that epoch's statistics: the policy applies at ``epoch``, or the budget is below
        what is kept. A training loop records statistics only in such epochs (after the
        schedule, a pruned network trains without the hooks)."""
        if self.policy is not None:
            return bool(self.policy.applies_at(epoch, self.prune_epochs))
        return self._needs_pruning(self.target_keep(epoch))

    def _constraints(self):
        """Per view: whether every output unit must keep an input (the classifier head)."""
        return None

    def _score(self, views):
        """Scores of the alive entries; pruned entries ``-inf`` (handled here, once)."""
        scores = self.scorer(views, self.scope)
        return [s.masked_fill(~v.mask.bool(), -torch.inf) for s, v in zip(scores, views)]

    @staticmethod
    def _agreed(keep, shared):
        """Rank 0's decision on every rank under a process group (else ``keep`` itself)."""
        return distributed.agree_masks(keep) if shared else keep

    @torch.no_grad()
    def step(self, epoch, optimizer=None):
        """End of ``epoch`` (1-based): budget -> score -> select -> apply; reset statistics.

        Under a ``torch.distributed`` process group of several ranks this is a collective:
        the statistics are reduced across ranks before scoring, random decisions are seeded
        from rank 0 and rank 0's masks are applied on every rank
        (:mod:`skscreen.pruning.distributed`); every rank must call it at the same epoch.

        Returns the number of units kept.
        """
        shared = distributed.is_distributed()
        try:
            if self.prunes_at(epoch):  # the same on every rank: masks and schedule agree
                if shared and self.recorder is not None:
                    # every rank scores the statistics of the global batches
                    self.recorder.reduce_across_ranks()
                if self.policy is not None:
                    extra = {}
                    if "random_state" in inspect.signature(self.policy.decide).parameters:
                        extra["random_state"] = (
                            distributed.agreed_seed(self.random_state)
                            if shared
                            else self.random_state
                        )
                    keep = self.policy.decide(self.views(), epoch, self._constraints(), **extra)
                else:
                    views = self.views()
                    keep = self._select(self._score(views), self.target_keep(epoch))
                self._apply(self._agreed(keep, shared), optimizer)
        finally:
            if self.recorder is not None:
                self.recorder.reset()
        return self.n_kept()
