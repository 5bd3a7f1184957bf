"""ScreeningPruning: pruning by screening as a skorch callback, for any skorch net.

The callback owns everything about pruning; the net it is attached to is left as skorch
made it (no ``train_step`` override), so a user's own ``NeuralNet``,
``NeuralNetClassifier`` or ``NeuralNetBinaryClassifier`` — with a ``train_step`` override,
gradient accumulation, LBFGS, ``Checkpoint`` or ``LoadInitState`` — prunes as it trains.

State model
-----------
* The **settings** are the callback's parameters (for :class:`ScreeningPrunedNet` the net's
  own parameters, pushed to the callback at the start of every ``fit``/``partial_fit``).
  They may change between ``partial_fit`` calls: the schedule then continues towards the
  new target. Settings that change *what* is prunable (``granularity``, ``layer_types``,
  ``ignored_layers``) are refused after the first epoch with an error saying to call
  ``fit``.
* The **pruning state** lives in the module and in ``net.history`` (``pruning_epoch``,
  ``sparsity``, ...). At weight level it is the weights' zeros: the ``weight_mask`` buffers
  are not in the state dict and are re-derived from the zeros whenever a state dict loads
  (so a pruned checkpoint loads into the plain module). At channel level it is the physical
  shapes, and the history records which channels went (``event_pruned_channels``): loading
  a channel-pruned state dict into a dense module first replays that record. Everything
  else (the pruner, its statistics, hooks) is derived, so ``save_params``/``load_params``,
  ``Checkpoint``/``LoadInitState`` and pickling round-trip, and an empty history (``fit``,
  skorch's usual fresh start) means a fresh pruning state.
* **Reports are about the delivered module.** When a state dict is loaded into the module
  after an epoch was recorded (``EarlyStopping(load_best=True)`` restoring its best epoch)
  and the module's pruning differs from the last row, the last row gets
  ``restored_sparsity``/``restored_n_kept`` and a warning says so; ``sparsity_`` and
  ``kept_fraction_`` always read the module.
* **Pruned stays pruned** whatever the loop does: gradient hooks zero the gradient of
  pruned weights, an optimizer step post-hook re-zeroes them as a backstop, and decisions
  are applied in sections that a Ctrl-C cannot cut in half
  (:mod:`skscreen.pruning.masks`).
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np
import torch
from skorch.callbacks import Callback, PrintLog
from skorch.dataset import unpack_data

from skscreen.nn._callback_checks import check_channel_callbacks, check_single_pruning
from skscreen.nn._class_rows import first_tensor, statistics_rows
from skscreen.nn._module_state import (
    alive_counts,
    alive_fractions,
    epoch_row,
    prepare_module,
    report_replaced_state,
    resume_budget,
)
from skscreen.nn._output_watch import OutputWatch
from skscreen.nn._reports import (
    step_and_report_shortfall,
    structural_change_message,
    unfinished_schedule_message,
)
from skscreen.nn._settings import PRUNING_PARAMS, PruningSettings
from skscreen.pruning.factory import make_pruner, make_regularizer
from skscreen.pruning.hooks import _noop_hook_factory
from skscreen.pruning.masks import MaskEnforcer, get_mask, masks_from_zeros, reset_masks
from skscreen.pruning.schedules import make_schedule

__all__ = ["ScreeningPruning", "PRUNING_PARAMS", "find_pruning_callback"]

_REGRESSION_LOSSES = (
    torch.nn.MSELoss,
    torch.nn.L1Loss,
    torch.nn.SmoothL1Loss,
    torch.nn.HuberLoss,
    torch.nn.GaussianNLLLoss,
    torch.nn.PoissonNLLLoss,
)


def _check_classification(net):
    """Screening ranks by per-class statistics: refuse a regression net with a clear error."""
    from sklearn.base import is_regressor

    criterion = getattr(net, "criterion_", None)
    if is_regressor(net) or isinstance(criterion, _REGRESSION_LOSSES):
        raise ValueError(
            f"ScreeningPruning ranks by per-class statistics and needs class-index targets "
            f"(a classifier); {type(net).__name__} with "
            f"criterion={type(criterion).__name__} is a regression net."
        )


#: history keys that carry state, not figures: skorch's PrintLog shows ``event_*`` keys, so
#: they are added to its ignored keys (a dict in the epoch table helps nobody)
UNPRINTED_KEYS = (
    "event_channel_structure",
    "event_pruned_channels",
    "event_channels",
    "event_label_encoding",
)


def hide_state_keys(net):
    """Keep :data:`UNPRINTED_KEYS` out of the net's ``PrintLog`` tables."""
    for _, cb in getattr(net, "callbacks_", None) or []:
        ignored = getattr(cb, "keys_ignored_", None)
        if isinstance(cb, PrintLog) and isinstance(ignored, set):
            ignored.update(UNPRINTED_KEYS)


def find_pruning_callback(net):
    """The :class:`ScreeningPruning` callback of an initialised skorch net, or None:
    :class:`~skscreen.ScreeningPrunedNet`'s own (``pruning_``, held beside ``callbacks_``), or
    the one in a plain net's ``callbacks_``."""
    own = getattr(net, "__dict__", {}).get("pruning_")
    if isinstance(own, ScreeningPruning):
        return own
    for _, cb in getattr(net, "callbacks_", None) or []:
        if isinstance(cb, ScreeningPruning):
            return cb
    return None


class ScreeningPruning(PruningSettings, Callback):
    """Prune a skorch net's module by screening while it trains (a skorch callback).

    During each training epoch, forward hooks collect per-class moments of the inputs of
    the prunable layers (weight level) or of the BatchNorm outputs (channel level), from
    the batches the net trains on. When the epoch's training batches are done (before its
    first validation batch, so that the epoch's validation scores, and what
    ``EarlyStopping`` or ``Checkpoint`` keeps by them, are those of the pruned module; at the
    epoch's end without validation) every component is ranked by
    ``alpha * norm(F) + (1 - alpha) * norm(magnitude)`` and the lowest are pruned until the
    schedule's target for that epoch is met. Works with any skorch ``NeuralNet`` whose
    targets are class indices (``NeuralNetClassifier``, ``NeuralNetBinaryClassifier``, a
    plain ``NeuralNet`` with a classification criterion).

    Parameters
    ----------
    alpha : float in [0, 1], default=0.25
        Weight on the screening score: 0 is pure magnitude pruning, 1 pure screening.
    sparsity : float in [0, 1), default=0.9
        Target fraction of the prunable weights (or channels) to remove.
    schedule : {"logistic", "fsa", "cubic", "one-shot"} or Schedule, default="logistic"
        How the sparsity grows from 0 to ``sparsity``.
    prune_epochs : int, default=None
        Epochs over which the schedule reaches the target; ``None`` is half of the net's
        ``max_epochs``.
    scope : {"global", "layer"}, default="global"
        One budget and ranking across layers, or the same sparsity in every layer.
    normalize : {"minmax", "max", "rank"}, default="minmax"
        How the two score components are put on one scale.
    normalize_scope : {"global", "layer"} or None, default=None
        Normalise each component over all layers together or within each layer before
        the (global or per-layer) ranking. ``None``: weight level follows ``scope``, channel
        level normalises within each layer; both are the choices made on validation splits
        (``docs/benchmarks.rst``, "Default settings").
    scorer : str or object, default=None
        ``None``/``"screening"`` (the hybrid above), ``"magnitude"``, ``"lamp"``,
        ``"activation"``, ``"extreme-value"`` (sets its own sparsity), ``"slimming"``
        (channels), or a scorer object (copied at every fit).
    granularity : {"weight", "channel"}, default="weight"
        Connections of the prunable layers (WLS) or BatchNorm channels removed physically
        with Torch-Pruning (CLS).
    layer_types : tuple of module classes, default=None
        Weight level: which layers are prunable (``None``: the pruner's default).
    ignored_layers : list of modules or qualified names, default=None
        Layers (and, at channel level, their channels) never pruned.
    post_relu : bool, default=False
        Channel level: statistics of the post-ReLU channel means.
    reg_lambda : float, default=0.0
        Strength of the contribution-entropy regulariser (weight level).
    gamma_l1 : float, default=0.0
        Network slimming's ``sum |gamma|`` penalty (channel level).
    random_state : int, default=None
        Seed of every random decision of the criterion (extreme-value sampling).

    Attributes
    ----------
    pruner_ : WeightPruner or ChannelPruner or None
        The pruning machinery, built at the first training batch.
    regularizer_ : ContributionEntropy or BatchNormL1 or None

    Notes
    -----
    History keys per epoch: ``pruning_epoch``, ``target_sparsity``, ``sparsity``,
    ``n_kept``, ``n_prunable`` (``penalty`` with a regulariser); at channel level also
    ``event_channels``, ``event_pruned_channels`` and, in the first row,
    ``event_channel_structure`` (what a dense module needs to load this one's state dict;
    ``event_*`` keys are not printed). ``restored_sparsity``/``restored_n_kept`` appear in the
    last row when a callback replaced the module's weights after it (see :meth:`prepare`).
    A target the keep-at-least rules cannot meet is warned once per run
    (:class:`~skscreen.pruning.selection.BudgetShortfallWarning`). To early-stop a pruned run,
    use :class:`~skscreen.nn.EarlyStoppingAfterPruning`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.datasets import load_digits
    >>> from skorch import NeuralNetClassifier
    >>> from skscreen.nn import ScreeningPruning
    >>> from skscreen.models import make_mlp
    >>> X, y = load_digits(return_X_y=True)
    >>> X, y = (X / 16).astype(np.float32), y.astype(np.int64)
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = NeuralNetClassifier(
    ...     make_mlp(64, (32,), 10), criterion=torch.nn.CrossEntropyLoss, max_epochs=4,
    ...     lr=0.1, train_split=None, verbose=0,
    ...     callbacks=[("prune", ScreeningPruning(sparsity=0.8, prune_epochs=2))])
    >>> _ = net.fit(X, y)
    >>> round(net.history[-1, "sparsity"], 3)
    0.8
    """

    _step_pending = False  # (also for a callback pickled before the attribute existed)

    def __init__(
        self,
        *,
        alpha=0.25,
        sparsity=0.9,
        schedule="logistic",
        prune_epochs=None,
        scope="global",
        normalize="minmax",
        normalize_scope=None,
        scorer=None,
        granularity="weight",
        layer_types=None,
        ignored_layers=None,
        post_relu=False,
        reg_lambda=0.0,
        gamma_l1=0.0,
        random_state=None,
    ):
        self.alpha = alpha
        self.sparsity = sparsity
        self.schedule = schedule
        self.prune_epochs = prune_epochs
        self.scope = scope
        self.normalize = normalize
        self.normalize_scope = normalize_scope
        self.scorer = scorer
        self.granularity = granularity
        self.layer_types = layer_types
        self.ignored_layers = ignored_layers
        self.post_relu = post_relu
        self.reg_lambda = reg_lambda
        self.gamma_l1 = gamma_l1
        self.random_state = random_state

    # ------------------------------------------------------------------ skorch hooks
    def initialize(self):
        # skorch calls this on net.initialize() and on set_params(callbacks__...): the
        # pruning state is in the module and the history, so nothing is reset here
        if not hasattr(self, "pruner_"):
            self.pruner_ = None
            self.regularizer_ = None
        self._enforcer = getattr(self, "_enforcer", None) or MaskEnforcer()
        self._targets_handle = None
        self._epoch_ran = False
        self._step_pending = False  # training batches ran this epoch, its step still to come
        self._watch = None
        return self

    def _pruning_epochs_done(self, net):
        return sum(1 for row in net.history if "pruning_epoch" in row)

    def schedule_done(self, net):
        """Whether the schedule has run all its epochs (the module is at its final sparsity;
        later epochs prune nothing)."""
        return self._pruning_epochs_done(net) >= self._n_prune_epochs(net)

    # ------------------------------------------------------------------ the module's state
    def prepare(self, net):
        """Make ``net.module_`` ready to load a pruned state dict (idempotent).

        Weight level: the ``weight_mask`` buffers (not in the state dict; re-derived from
        the zeros of whatever loads). Channel level: a load pre-hook that removes the
        channels recorded in ``net.history`` before a channel-pruned state dict loads. Both:
        a load post-hook that keeps the history and warnings true when a callback
        (``EarlyStopping(load_best=True)``) restores another epoch's weights. Called at
        ``on_train_begin``; :class:`ScreeningPrunedNet` calls it from ``initialize_module``.
        With a plain net, call it after ``net.initialize()`` to ``load_params`` a
        channel-pruned state dict before any ``fit``.
        """
        return prepare_module(
            net, self.granularity, self.pruner_, self.layer_types, self.ignored_layers
        )

    def counts(self, net):
        """``(kept, total)``: prunable weights (channels) alive in ``net.module_`` now, and
        in the dense module."""
        return alive_counts(
            net, self.granularity, self.pruner_, self.layer_types, self.ignored_layers
        )

    def kept_fractions(self, net):
        """Fraction of the weights (channels) of each prunable layer alive in the module."""
        return alive_fractions(
            net, self.granularity, self.pruner_, self.layer_types, self.ignored_layers
        )

    def _state_loaded(self, net):
        # a state dict was loaded into the module (the load post-hook of ``prepare``)
        bound = self.pruner_ is not None and self.pruner_.model is net.module_
        if self.granularity == "weight" and not bound:
            # layers without masks yet (lazy ones given their shapes by this load): masks
            # now, from the loaded zeros; the others followed the zeros in their own hooks
            unmasked = [m for m in net.module_.modules() if get_mask(m) is None]
            self.prepare(net)
            masks_from_zeros(unmasked)
        report_replaced_state(net, lambda: self.counts(net))

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.check_params()
        _check_classification(net)
        if not hasattr(self, "_enforcer"):
            self.initialize()
        check_single_pruning(self, net)
        check_channel_callbacks(self, net)
        hide_state_keys(net)
        fresh = self._pruning_epochs_done(net) == 0
        bound = self.pruner_ is not None and self.pruner_.model is net.module_
        if fresh:
            if self.granularity == "weight":
                # an empty history is a fresh pruning state (a module instance refitted by a
                # plain skorch net, a state loaded without its history): every weight alive
                reset_masks(net.module_.modules())
            self._drop_pruner()
            self._shortfall_warned = False
            self._paths_checked_at = None
        elif bound and self._structure() != self.structure_:
            raise ValueError(structural_change_message(self._structure(), self.structure_))
        elif not bound:
            self._drop_pruner()  # rebuilt from the module's masks at the first batch
        self._epoch_ran = False
        self._step_pending = False  # an epoch interrupted before its step does not resume
        self.prepare(net)
        if not fresh and not bound and self.granularity == "weight":
            # a pruned state loaded before the masks existed (LoadInitState listed before this
            # callback, load_params into a plain net): its zeros are the masks
            masks_from_zeros(net.module_.modules())
        if self.pruner_ is not None:
            self._retarget_pruner(net)
            self._attach_enforcement(net)

    def _drop_pruner(self):
        if self.pruner_ is not None:
            self.pruner_.remove_hooks()
        if self.regularizer_ is not None:
            self.regularizer_.remove()
        self.pruner_ = None
        self.regularizer_ = None
        self._enforcer.remove()

    def output_width_seen(self, module, width):
        """Tell the callback the output width of ``module`` (the net measured it before
        training), which spares it a probe forward pass of its own at the first batch."""
        self._output_width = (weakref.ref(module), int(width))

    def _build_pruner(self, net, Xi, yi=None):
        _materialize_lazy(net, Xi)
        first = first_tensor(Xi)
        # a few training inputs, kept to trace the network when compacting it
        self.example_inputs_ = first[:8].detach().cpu().clone()
        seen = getattr(self, "_output_width", None)
        pruner = make_pruner(
            net.module_,
            self.make_scorer(),
            self.schedule,
            granularity=self.granularity,
            sparsity=self.sparsity,
            prune_epochs=self._n_prune_epochs(net),
            n_classes=statistics_rows(
                net, Xi, yi, seen[1] if seen is not None and seen[0]() is net.module_ else None
            ),
            scope=self.scope,
            example_inputs=first[:1].to(net.device),
            layer_types=self.layer_types,
            ignored_layers=self.ignored_layers,
            post_relu=self.post_relu,
            random_state=self.random_state,
        )
        self.pruner_ = resume_budget(pruner, net.history, self.granularity)
        self.structure_ = self._structure()
        self._attach_enforcement(net)

    def _retarget_pruner(self, net):
        """The pruner follows the settings of this fit: a new schedule and criterion built from
        them, the targets set through the pruner's own
        :meth:`~skscreen.pruning.BasePruner.retarget`."""
        self.pruner_.retarget(
            sparsity=float(self.sparsity),
            prune_epochs=self._n_prune_epochs(net),
            scope=self.scope,
            schedule=make_schedule(self.schedule),
            criterion=self.make_scorer(),
        )

    def _attach_enforcement(self, net):
        if self.granularity == "weight" and self.pruner_ is not None:
            optimizer = getattr(net, "optimizer_", None)
            if optimizer is not None and not hasattr(optimizer, "_optimizer_step_post_hooks"):
                # accelerate's AcceleratedOptimizer (AccelerateMixin) has no hook registry of
                # its own; the optimizer it wraps steps inside its step
                optimizer = getattr(optimizer, "optimizer", optimizer)
            self._enforcer.attach(list(self.pruner_.layers.values()), optimizer)

    def _make_regularizer(self):
        return make_regularizer(
            self.pruner_,
            reg_lambda=self.reg_lambda,
            gamma_l1=self.gamma_l1,
            current=self.regularizer_,
        )

    def _start_epoch(self, net):
        p = self.pruner_
        if p.recorder is not None:
            p.recorder.reset()
            # the epoch's length lets the statistics fold its last rows in the background
            p.recorder.expect_rows(self.__dict__.get("_epoch_rows"))
        if p.prunes_at(self._pruning_epochs_done(net) + 1):
            p.attach_hooks()
        else:  # nothing is decided this epoch: no statistics to pay for
            p.remove_hooks()  # (a pruner built at this batch hooks its modules at once)
        self.regularizer_ = self._make_regularizer()
        self._penalties = []

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self._epoch_ran = True
        self._step_pending = False
        self._epoch_rows = _epoch_rows(net, dataset_train)
        if self.pruner_ is not None:
            self._start_epoch(net)
        self._watch_outputs(net)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            # the epoch's training is over and validation starts: prune now, so that the
            # epoch's validation scores (and whatever EarlyStopping or Checkpoint keeps by
            # them) are those of the module the epoch delivers
            if self._step_pending:
                self._end_training_phase(net)
            return
        self._step_pending = True
        Xi, yi = unpack_data(batch)  # skorch's own error for a batch of 1 or 3 items
        yi = _class_targets(yi)
        if self.pruner_ is None:
            self._build_pruner(net, Xi, yi)
            self._start_epoch(net)
        recorder = self.pruner_.recorder
        if yi is not None and recorder is not None and recorder.attached:
            y = torch.as_tensor(np.asarray(yi) if not torch.is_tensor(yi) else yi)
            self.pruner_.set_targets(y.to(net.device))
            # record each batch once: LBFGS evaluates its closure several times per step
            if self._targets_handle is None:
                self._targets_handle = net.module_.register_forward_hook(
                    _ClearTargets(self.pruner_)
                )

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if self._watch is not None:
            self._watch.add(training, y_pred)
        if training and self.pruner_ is not None:
            self.pruner_.set_targets(None)
            if self.regularizer_ is not None:
                self._penalties.append(self.regularizer_.penalty_value())

    def _remove_epoch_hooks(self):
        if self._targets_handle is not None:
            self._targets_handle.remove()
            self._targets_handle = None
        if self.pruner_ is not None:
            self.pruner_.set_targets(None)
            self.pruner_.remove_hooks()
        if self.regularizer_ is not None:
            self.regularizer_.remove()  # forward and gradient hooks: picklable net

    def on_epoch_end(self, net, **kwargs):
        # hooks off first: a Checkpoint(f_pickle=...) after this callback pickles the net
        self._remove_epoch_hooks()
        if self._step_pending:  # no validation this epoch: the step comes now
            self._end_training_phase(net)
        if self._watch is not None:
            self._warn_if_same_outputs(net)

    def _end_training_phase(self, net):
        """The pruning step of an epoch whose training batches are done: at its first
        validation batch, or at its end when it has none."""
        self._step_pending = False
        self._remove_epoch_hooks()
        if self.pruner_ is None:  # no training batch this epoch
            return
        p = self.pruner_
        epoch = self._pruning_epochs_done(net) + 1
        target_keep = p.target_keep(epoch)
        n_removals = len(getattr(p, "history", ()))
        n_kept = self._step(p, epoch, getattr(net, "optimizer_", None))
        if target_keep is None:  # the criterion sets its own sparsity
            target_keep = n_kept
        removed = p.history[n_removals:] if self.granularity == "channel" else None
        row = epoch_row(
            net, p, epoch, target_keep, n_kept, self._penalties, removed, self.example_inputs_
        )
        for key, value in row.items():
            net.history.record(key, value)
        self._attach_enforcement(net)  # channel pruning may have replaced parameters

    def _watch_outputs(self, net):
        """Watch the outputs of the first epoch with the final masks (the schedule done,
        something pruned), once per pruned state (:class:`OutputWatch`)."""
        self._watch = None
        if self.pruner_ is None or not self.schedule_done(net):
            return
        kept, total = self.counts(net)
        if kept < total and getattr(self, "_paths_checked_at", None) != kept:
            self._watch = OutputWatch(kept)

    def _warn_if_same_outputs(self, net):
        watch, self._watch = self._watch, None
        self._paths_checked_at = watch.kept
        kept, total = self.counts(net)
        message = watch.warning(len(net.history), kept, total)
        if message is not None:
            warnings.warn(message, UserWarning, stacklevel=2)

    def _step(self, pruner, epoch, optimizer):
        n_kept, self._shortfall_warned = step_and_report_shortfall(
            pruner,
            epoch,
            optimizer,
            sparsity=self.sparsity,
            scope=self.scope,
            warned=getattr(self, "_shortfall_warned", False),
        )
        return n_kept

    def on_train_end(self, net, **kwargs):
        self._remove_epoch_hooks()
        if self.pruner_ is None or not self._epoch_ran:
            return
        kept, total = self.counts(net)
        sparsity = 1.0 - kept / total if total else 0.0
        if len(net.history) and "sparsity" not in net.history[-1]:
            # a callback listed before this one stopped training in the last epoch before it
            # was pruned: the row still states what the module is (not a pruning epoch)
            net.history.record("sparsity", float(sparsity))
            net.history.record("n_kept", int(kept))
            net.history.record("n_prunable", int(total))
        done, planned = self._pruning_epochs_done(net), self._n_prune_epochs(net)
        if done < planned and not getattr(self.pruner_, "decides_masks", False):
            message = unfinished_schedule_message(done, planned, self.sparsity, kept, total)
            warnings.warn(message, UserWarning)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_targets_handle"] = None
        state.pop("_output_width", None)  # a weak reference: measured again when needed
        return state

    def rebind(self, module):
        """Re-link the pruner and regulariser to ``module`` (after unpickling a net)."""
        if self.pruner_ is not None:
            self.pruner_.bind(module)
        if self.regularizer_ is not None:
            self.regularizer_.modules = (
                self.pruner_.bn_modules()
                if self.granularity == "channel"
                else dict(self.pruner_.layers)
            )
        return self


def _class_targets(y):
    """A training batch's labels for the statistics: class indices as they are; class
    probabilities (a 2-D floating target, one column per class, as ``CrossEntropyLoss`` takes:
    one-hot, label smoothing) the class of each row's largest."""
    if torch.is_tensor(y) and y.ndim == 2 and y.is_floating_point() and y.shape[1] > 1:
        return y.argmax(dim=1)
    return y


def _has_lazy(module):
    from torch.nn.parameter import is_lazy

    return any(is_lazy(t) for t in (*module.parameters(), *module.buffers()))


def _materialize_lazy(net, Xi):
    """Give lazy layers (``LazyLinear``, ``LazyConv2d``) their shapes before the pruner looks at
    them: one forward pass of the batch in eval mode without gradients (the first training
    step would do it anyway; eval mode leaves BatchNorm's running statistics alone)."""
    module = net.module_
    if not _has_lazy(module):
        return
    training = module.training
    module.eval()
    try:
        with torch.no_grad():
            net.infer(Xi)
    finally:
        module.train(training)


def _length(dataset):
    """``len(dataset)``, or None where it has none (an iterable dataset) or fails."""
    try:
        return len(dataset)
    except Exception:  # no __len__, or one that raises: no hint
        return None


def _epoch_rows(net, dataset):
    """The training rows this process sees in an epoch: the length of the training
    iterator's sampler when one is given (``iterator_train__sampler``: a
    ``DistributedSampler``'s share of the rank, a ``WeightedRandomSampler``'s
    ``num_samples``), else of the dataset; None where neither has one."""
    try:
        sampler = net.get_params_for("iterator_train").get("sampler")
    except Exception:  # a net-like object without skorch's parameters
        sampler = None
    n = None if sampler is None else _length(sampler)
    return _length(dataset) if n is None else n


class _ClearTargets:
    """Forward hook on the root module: labels are used by the first forward pass that
    records them only (LBFGS evaluates its closure several times per step); a training
    forward pass of another batch size (an extra unlabelled batch run first) leaves them to
    the labelled one."""

    __torch_unserializable__ = True

    def __init__(self, pruner):
        self.pruner = pruner

    def __call__(self, module, inputs, output):
        recorder = self.pruner.recorder
        if module.training and (recorder is None or recorder.recorded):
            self.pruner.set_targets(None)

    def __reduce__(self):  # a checkpoint taken mid-batch drops the hook
        return (_noop_hook_factory, ())
