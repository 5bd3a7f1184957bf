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
* The **pruning state** lives in the module (``weight_mask`` buffers at weight level; the
  physical shapes at channel level) and in ``net.history`` (``pruning_epoch``,
  ``sparsity``, ...). Everything else (the pruner, its statistics, hooks) is derived, so
  ``save_params``/``load_params``, ``Checkpoint`` and pickling round-trip, and an empty
  history (``fit``, skorch's usual fresh start) means a fresh pruning state.
* **Pruned stays pruned** whatever the loop does: gradient hooks zero the gradient of
  pruned weights, an optimizer step post-hook re-zeroes them as a backstop, and decisions
  are applied in sections that a Ctrl-C cannot cut in half
  (:mod:`skscreen.pruning.masks`).
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback

from skscreen.pruning.hooks import _noop_hook_factory
from skscreen.pruning.masks import MaskEnforcer, reset_masks
from skscreen.pruning.regularizers import BatchNormL1, ContributionEntropy
from skscreen.pruning.schedules import make_schedule
from skscreen.pruning.scorers import NORMALIZERS, HybridScreeningScorer, make_scorer

__all__ = ["ScreeningPruning", "PRUNING_PARAMS"]

#: The callback's parameters (surfaced at top level by :class:`ScreeningPrunedNet`).
PRUNING_PARAMS = (
    "alpha",
    "sparsity",
    "schedule",
    "prune_epochs",
    "scope",
    "normalize",
    "normalize_scope",
    "scorer",
    "granularity",
    "layer_types",
    "ignored_layers",
    "post_relu",
    "reg_lambda",
    "gamma_l1",
    "random_state",
)
# settings that decide *what* is prunable: fixed once pruning has started
_STRUCTURAL = ("granularity", "layer_types", "ignored_layers", "post_relu")


def _is_real(x):
    """A real number, numpy scalars included (np.float32 from a grid), booleans not."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)


def attach_prunable_masks(module, layer_types=None, ignored_layers=None):
    """All-ones ``weight_mask`` buffers on the layers a weight-level pruner would mask.

    So that a pruned state dict (``save_params``, ``Checkpoint``) loads into the module
    before its first training batch. A module the pruner refuses is left as it is (the
    real pruner reports it with a clear message).
    """
    from skscreen.pruning.pruner import WeightPruner
    from skscreen.pruning.schedules import OneShotSchedule
    from skscreen.pruning.scorers import MagnitudeScorer

    kw = {}
    if layer_types is not None:
        kw["layer_types"] = layer_types
    if ignored_layers is not None:
        kw["ignored_layers"] = ignored_layers
    try:
        pruner = WeightPruner(
            module,
            MagnitudeScorer(),
            OneShotSchedule(),
            sparsity=0.0,
            prune_epochs=1,
            n_classes=2,
            **kw,
        )
    except (TypeError, ValueError):
        return
    pruner.remove_hooks()


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


def _first_tensor(x):
    """The first tensor of a batch's X (tensor, array, dict or list of them)."""
    if isinstance(x, dict):
        x = next(iter(x.values()))
    elif isinstance(x, list | tuple):
        x = x[0]
    return torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x


class ScreeningPruning(Callback):
    """Prune a skorch net's module by screening while it trains (a skorch callback).

    During each training epoch, forward hooks collect per-class moments of the inputs of
    the prunable layers (weight level) or of the BatchNorm outputs (channel level), from
    the batches the net trains on. At the end of the epoch every component is ranked by
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
        the (global or per-layer) ranking; ``None`` follows ``scope``.
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

    # ------------------------------------------------------------------ settings
    def _get_param_names(self):
        # skorch's Callback takes every public-looking attribute as a parameter, private
        # state included (then clone(net) fails on ScreeningPruning(_enforcer=...))
        return list(PRUNING_PARAMS)

    def settings(self):
        """The current value of every pruning parameter (a dict)."""
        return {k: getattr(self, k) for k in PRUNING_PARAMS}

    def check_params(self):
        """Validate every setting; raises ``ValueError`` naming the bad one."""
        s = self.sparsity
        if not _is_real(s) or not 0.0 <= s < 1.0:
            raise ValueError(f"sparsity must be a number in [0, 1), got {s!r}.")
        if self.scorer is None or self.scorer == "screening":
            a = self.alpha
            if not _is_real(a) or not 0.0 <= a <= 1.0:
                raise ValueError(f"alpha must be in [0, 1], got {a!r}.")
        if self.scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {self.scope!r}.")
        if self.normalize not in NORMALIZERS:
            raise ValueError(f"normalize must be one of {NORMALIZERS}, got {self.normalize!r}.")
        if self.normalize_scope not in (None, "global", "layer"):
            raise ValueError(
                f"normalize_scope must be None, 'global' or 'layer', got {self.normalize_scope!r}."
            )
        pe = self.prune_epochs
        if pe is not None and (isinstance(pe, bool) or not isinstance(pe, int | np.integer)):
            raise ValueError(f"prune_epochs must be None or an int >= 1, got {pe!r}.")
        if pe is not None and int(pe) < 1:
            raise ValueError(f"prune_epochs must be >= 1, got {pe!r}.")
        if self.granularity not in ("weight", "channel"):
            raise ValueError(
                f"granularity must be 'weight' or 'channel', got {self.granularity!r}."
            )
        for name in ("reg_lambda", "gamma_l1"):
            v = getattr(self, name)
            if not _is_real(v) or not v >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {v!r}.")
        if float(self.reg_lambda) > 0 and self.granularity != "weight":
            raise ValueError("reg_lambda applies to granularity='weight' only.")
        if float(self.gamma_l1) > 0 and self.granularity != "channel":
            raise ValueError("gamma_l1 applies to granularity='channel' only.")
        if self.layer_types is not None and self.granularity != "weight":
            raise ValueError(
                "layer_types applies to granularity='weight' only (channel level prunes the "
                "channels of BatchNorm layers; exclude some with ignored_layers)."
            )
        make_schedule(self.schedule)
        self.make_scorer()
        return self

    def make_scorer(self):
        """A fresh scorer object from the settings (a scorer object is deep-copied)."""
        if self.granularity == "channel" and (self.scorer is None or isinstance(self.scorer, str)):
            from skscreen.pruning.channels import ChannelScreeningScorer

            if self.scorer not in (None, "screening", "slimming"):
                raise ValueError(
                    f"scorer={self.scorer!r} is not available for channels; use "
                    "'screening', 'slimming' or a ChannelScreeningScorer."
                )
            alpha = 0.0 if self.scorer == "slimming" else float(self.alpha)
            return ChannelScreeningScorer(
                alpha=alpha, normalize=self.normalize, normalize_scope=self.normalize_scope
            )
        if self.scorer is None or self.scorer == "screening":
            return HybridScreeningScorer(
                alpha=float(self.alpha),
                normalize=self.normalize,
                normalize_scope=self.normalize_scope,
            )
        if isinstance(self.scorer, str):
            if self.scorer == "slimming":
                raise ValueError("scorer='slimming' needs granularity='channel'.")
            kw = {}
            if self.scorer == "magnitude":  # the baseline gets the same normalisation options
                kw = {"normalize": self.normalize, "normalize_scope": self.normalize_scope}
            if self.scorer in ("extreme-value", "extreme_value", "dpp"):
                kw["random_state"] = self.random_state
            return make_scorer(self.scorer, **kw)
        scorer = copy.deepcopy(self.scorer)  # never mutate the constructor argument
        if hasattr(scorer, "report_"):
            scorer.report_ = []
        return scorer

    def _n_prune_epochs(self, net):
        if self.prune_epochs is not None:
            return int(self.prune_epochs)
        return max(1, int(net.max_epochs) // 2)

    def _structure(self):
        return {k: getattr(self, k) for k in _STRUCTURAL}

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
        return self

    def _pruning_epochs_done(self, net):
        return sum(1 for row in net.history if "pruning_epoch" in row)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.check_params()
        _check_classification(net)
        if not hasattr(self, "_enforcer"):
            self.initialize()
        fresh = self._pruning_epochs_done(net) == 0
        bound = self.pruner_ is not None and self.pruner_.model is net.module_
        if fresh:
            if bound and self.granularity == "weight":
                # the same module object trained again from an empty history (a module
                # instance refitted by a plain skorch net): a fresh pruning state
                reset_masks(net.module_.modules())
            self._drop_pruner()
        elif bound and self._structure() != self.structure_:
            changed = [k for k in _STRUCTURAL if self._structure()[k] != self.structure_[k]]
            raise ValueError(
                f"{', '.join(changed)} cannot change once pruning has started (the pruner "
                f"was built with {', '.join(f'{k}={self.structure_[k]!r}' for k in changed)}); "
                "call fit() to start again."
            )
        elif not bound:
            self._drop_pruner()  # rebuilt from the module's masks at the first batch
        self._epoch_ran = False
        if self.granularity == "weight" and self.pruner_ is None:
            # masks before any batch: a LoadInitState listed after this callback, or
            # load_params after a max_epochs=0 fit, loads a pruned state dict
            attach_prunable_masks(net.module_, self.layer_types, self.ignored_layers)
        if self.pruner_ is not None:
            self._sync_pruner(net)
            self._attach_enforcement(net)

    def _drop_pruner(self):
        if self.pruner_ is not None:
            self.pruner_.remove_hooks()
        if self.regularizer_ is not None:
            self.regularizer_.remove()
        self.pruner_ = None
        self.regularizer_ = None
        self._enforcer.remove()

    def _n_classes(self, net, Xi):
        """Rows of the statistics: every label index the batches may carry.

        The larger of the number of classes the net knows and the module's output width
        (labels are output indices; a classifier trained on labels {0, 2} of a 3-output
        module carries index 2).
        """
        n = 2
        try:
            n = max(n, len(net.classes_))
        except (AttributeError, TypeError):
            pass
        module = net.module_
        was = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = net.infer(
                    Xi[:8] if hasattr(Xi, "__getitem__") and torch.is_tensor(Xi) else Xi
                )
        finally:
            module.train(was)
        if isinstance(out, tuple | list):
            out = out[0]
        return max(n, int(out.shape[-1]) if out.ndim >= 2 else 2)

    def _build_pruner(self, net, Xi):
        from skscreen.pruning.pruner import WeightPruner

        example = _first_tensor(Xi)[:1]
        # a few training inputs, kept to trace the network when compacting it
        self.example_inputs_ = _first_tensor(Xi)[:8].detach().cpu().clone()
        n_classes = self._n_classes(net, Xi)
        common = dict(
            sparsity=float(self.sparsity),
            prune_epochs=self._n_prune_epochs(net),
            n_classes=n_classes,
            scope=self.scope,
        )
        if self.granularity == "channel":
            from skscreen.pruning.channels import ChannelPruner

            cls, extra = (
                ChannelPruner,
                dict(example_inputs=example.to(net.device), post_relu=self.post_relu),
            )
        else:
            cls, extra = WeightPruner, {"random_state": self.random_state}
            if self.layer_types is not None:
                extra["layer_types"] = self.layer_types
        if self.ignored_layers is not None:
            extra["ignored_layers"] = self.ignored_layers
        pruner = cls(
            net.module_, self.make_scorer(), make_schedule(self.schedule), **common, **extra
        )
        if pruner.n_total == 0:
            pruner.remove_hooks()
            excluded = getattr(pruner, "excluded_units", None)
            if self.granularity == "channel":
                raise ValueError(
                    "The module has no prunable channels"
                    + (f"; excluded units and why: {excluded}" if excluded else "")
                    + ". Check ignored_layers, or use granularity='weight'."
                )
            raise ValueError(
                "The module has no prunable weights: every prunable layer is empty (a layer of "
                "width 0?). Give each layer at least one unit."
            )
        history = [row for row in net.history if "pruning_epoch" in row]
        if history and "n_prunable" in history[-1]:
            # continuing from a history (load_params, Checkpoint, a re-made callback):
            # the budget is a fraction of the original, not of what is left
            recorded = int(history[-1]["n_prunable"])
            found = pruner.n_total  # dense count (weight level); what is left (channels)
            if found > recorded or (self.granularity == "weight" and found != recorded):
                pruner.remove_hooks()
                unit = "weights" if self.granularity == "weight" else "channels"
                raise ValueError(
                    f"The module has {found} prunable {unit} "
                    f"but the history was recorded on one with {recorded}: the module was "
                    "re-initialised with other parameters (set_params(module__...)) or is not "
                    "the one the history belongs to. Call fit() to start again."
                )
            pruner.n_total = recorded
        self.pruner_ = pruner
        self.structure_ = self._structure()
        self.settings_ = self.settings()
        self._sync_pruner(net)
        self._attach_enforcement(net)

    def _sync_pruner(self, net):
        """Push the current settings into the pruner (the settings have one home: here)."""
        p = self.pruner_
        settings = self.settings()
        p.sparsity = float(self.sparsity)
        p.prune_epochs = self._n_prune_epochs(net)
        p.scope = self.scope
        p.schedule = make_schedule(self.schedule)
        if settings != getattr(self, "settings_", None) or p.scorer is None:
            # the pruner's statistics hooks follow what the new criterion needs
            p.set_scorer(self.make_scorer())
            self.settings_ = settings

    def _attach_enforcement(self, net):
        if self.granularity == "weight" and self.pruner_ is not None:
            optimizer = getattr(net, "optimizer_", None)
            self._enforcer.attach(list(self.pruner_.layers.values()), optimizer)

    def _make_regularizer(self):
        if float(self.reg_lambda) > 0:
            reg = self.regularizer_
            if not isinstance(reg, ContributionEntropy):
                reg = ContributionEntropy(dict(self.pruner_.layers))
            reg.modules = dict(self.pruner_.layers)
            reg.attach()
            reg.attach_gradient(float(self.reg_lambda))
            return reg
        if float(self.gamma_l1) > 0:
            reg = self.regularizer_
            if not isinstance(reg, BatchNormL1):
                reg = BatchNormL1(self.pruner_.bn_modules())
            reg.modules = self.pruner_.bn_modules()  # parameters are replaced when pruned
            reg.attach_gradient(float(self.gamma_l1))
            return reg
        if self.regularizer_ is not None:
            self.regularizer_.remove()
        return None

    def _start_epoch(self):
        p = self.pruner_
        if p.recorder is not None:
            p.recorder.reset()
        p.attach_hooks()
        self.regularizer_ = self._make_regularizer()
        self._penalties = []

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self._epoch_ran = True
        if self.pruner_ is not None:
            self._start_epoch()

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        Xi, yi = batch if isinstance(batch, list | tuple) and len(batch) == 2 else (batch, None)
        if self.pruner_ is None:
            self._build_pruner(net, Xi)
            self._start_epoch()
        if yi is not None and self.pruner_.recorder is not None:
            y = torch.as_tensor(np.asarray(yi) if not torch.is_tensor(yi) else yi)
            self.pruner_.set_targets(y.to(net.device))
            # record each batch once: LBFGS evaluates its closure several times per step
            if self._targets_handle is None:
                self._targets_handle = net.module_.register_forward_hook(
                    _ClearTargets(self.pruner_)
                )

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
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
        if self.pruner_ is None:  # no training batch this epoch
            return
        p = self.pruner_
        epoch = self._pruning_epochs_done(net) + 1
        target_keep = p.target_keep(epoch)
        n_kept = p.step(epoch, getattr(net, "optimizer_", None))
        if target_keep is None:  # the criterion sets its own sparsity
            target_keep = n_kept
        total = p.n_total
        row = {
            "pruning_epoch": epoch,
            "target_sparsity": 1.0 - target_keep / total,
            "sparsity": 1.0 - n_kept / total,
            "n_kept": int(n_kept),
            "n_prunable": int(total),
        }
        if self._penalties:
            row["penalty"] = float(np.mean(self._penalties))
        for key, value in row.items():
            net.history.record(key, value)
        self._attach_enforcement(net)  # channel pruning may have replaced parameters

    def on_train_end(self, net, **kwargs):
        self._remove_epoch_hooks()
        if self.pruner_ is None or not self._epoch_ran:
            return
        done = self._pruning_epochs_done(net)
        if done < self._n_prune_epochs(net) and not getattr(self.pruner_, "decides_masks", False):
            sparsity = net.history[-1].get("sparsity", 0.0) if len(net.history) else 0.0
            warnings.warn(
                f"Training stopped after {done} pruning epochs, before the schedule reached "
                f"sparsity={self.sparsity} (prune_epochs={self._n_prune_epochs(net)}); "
                f"achieved {sparsity:.4f}. Continue with partial_fit or raise max_epochs.",
                UserWarning,
            )

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_targets_handle"] = None
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


class _ClearTargets:
    """Forward hook on the root module: labels are used by the first forward pass only."""

    __torch_unserializable__ = True

    def __init__(self, pruner):
        self.pruner = pruner

    def __call__(self, module, inputs, output):
        if module.training:
            self.pruner.set_targets(None)

    def __reduce__(self):  # a checkpoint taken mid-batch drops the hook
        return (_noop_hook_factory, ())
