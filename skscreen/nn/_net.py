"""ScreeningPrunedNet: a skorch classifier that prunes its network while it trains."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from skorch import NeuralNetClassifier

from skscreen.pruning.channels import ChannelPruner, ChannelScreeningScorer
from skscreen.pruning.compaction import compact_sequential, count_parameters
from skscreen.pruning.masks import remove_masks, to_torch_prune
from skscreen.pruning.pruner import WeightPruner
from skscreen.pruning.regularizers import BatchNormL1, ContributionEntropy
from skscreen.pruning.schedules import make_schedule
from skscreen.pruning.scorers import NORMALIZERS, HybridScreeningScorer, make_scorer

__all__ = ["ScreeningPrunedNet"]


def _check_finite(X):
    if isinstance(X, np.ndarray) and X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity; clean or impute it first.")
    if torch.is_tensor(X) and X.is_floating_point() and not torch.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity; clean or impute it first.")


class ScreeningPrunedNet(NeuralNetClassifier):
    """A skorch classifier that prunes ``Linear`` connections by screening while it trains.

    During each training epoch, forward hooks collect per-class moments of every
    ``Linear`` layer's input (on the model's device, no extra pass). At the end of the
    epoch every connection ``w_ji`` is ranked by
    ``alpha * norm(F_i) + (1 - alpha) * norm(|w_ji|)``, ``F_i`` the ANOVA F-score of its
    input unit, and the lowest are pruned until the schedule's target for that epoch is
    met. Pruned weights stay exactly zero and never come back.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        The network (outputs logits); see :func:`skscreen.models.make_mlp`.
    alpha : float in [0, 1], default=0.25
        Weight on the screening score: 0 is pure magnitude pruning, 1 pure screening.
    sparsity : float in [0, 1), default=0.9
        Target fraction of the prunable weights (all ``Linear`` weights) to remove.
    schedule : {"logistic", "fsa", "cubic", "one-shot"} or Schedule, default="logistic"
        How the sparsity grows from 0 to ``sparsity`` (see :mod:`skscreen.pruning.schedules`).
    prune_epochs : int, default=None
        Epochs over which the schedule reaches the target; ``None`` is half of ``max_epochs``.
    scope : {"global", "layer"}, default="global"
        One budget and ranking across layers, or the same sparsity in every layer.
    normalize : {"minmax", "max", "rank"}, default="minmax"
        How the two score components are put on one scale.
    scorer : str or object, default=None
        The pruning criterion. ``None`` or ``"screening"``: the hybrid above (``alpha``,
        ``normalize``); ``"magnitude"``; ``"activation"``
        (:class:`~skscreen.pruning.ActivationStatsScorer`); ``"extreme-value"``
        (:class:`~skscreen.pruning.ExtremeValuePruning`, which sets its own sparsity and
        ignores ``sparsity`` and ``schedule``); or any scorer object (copied at fit).
    granularity : {"weight", "channel"}, default="weight"
        ``"weight"``: connections of ``Linear`` layers (WLS). ``"channel"``: channels of
        BatchNorm layers (CLS), ranked by ``alpha * norm(F) + (1 - alpha) * norm(|gamma|)``
        and removed physically with Torch-Pruning (``alpha=0`` is network slimming);
        ``sparsity`` is then the fraction of channels removed.
    post_relu : bool, default=False
        Channel granularity: statistics of the post-ReLU channel means instead of the
        BatchNorm output.
    reg_lambda : float, default=0.0
        Strength of the pruning-aware regulariser
        (:class:`~skscreen.pruning.regularizers.ContributionEntropy`) added to the loss.
    gamma_l1 : float, default=0.0
        Channel granularity: network slimming's sparsity regularisation, ``gamma_l1``
        times the sum of ``|gamma|`` over the BatchNorm layers added to the loss
        (:class:`~skscreen.pruning.regularizers.BatchNormL1`; Liu et al. use 1e-5 to
        1e-4). The paper's CLS protocol uses none (0).
    random_state : int, default=None
        Seeds torch before the module is initialised (reproducible fits and clones).
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
    **kwargs
        Every other skorch :class:`~skorch.NeuralNetClassifier` parameter (``optimizer``,
        ``lr``, ``max_epochs``, ``batch_size``, ``device``, ``callbacks``,
        ``train_split``, ``module__*``, ``optimizer__*``, ...).

    Attributes
    ----------
    sparsity_ : float
        Achieved fraction of prunable weights removed.
    kept_fraction_ : dict of str to float
        Fraction of weights kept per layer.
    n_weights_ : int
        Prunable weights in the dense network.
    pruner_ : WeightPruner
        The pruning machinery (statistics hooks, scorer, schedule, masks).
    history : skorch History
        Includes per epoch ``target_sparsity``, ``sparsity`` and ``n_kept``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skscreen import ScreeningPrunedNet
    >>> from skscreen.models import make_mlp
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16).astype(np.float32)
    >>> net = ScreeningPrunedNet(make_mlp(64, (64,), 10), alpha=0.25, sparsity=0.8,
    ...                          max_epochs=6, lr=0.1, train_split=None, verbose=0,
    ...                          random_state=0)
    >>> _ = net.fit(X, y)
    >>> round(net.sparsity_, 3)
    0.8
    >>> small = net.compact()
    """

    def __init__(
        self,
        module,
        *args,
        alpha=0.25,
        sparsity=0.9,
        schedule="logistic",
        prune_epochs=None,
        scope="global",
        normalize="minmax",
        scorer=None,
        granularity="weight",
        post_relu=False,
        reg_lambda=0.0,
        gamma_l1=0.0,
        random_state=None,
        criterion=torch.nn.CrossEntropyLoss,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.alpha = alpha
        self.sparsity = sparsity
        self.schedule = schedule
        self.prune_epochs = prune_epochs
        self.scope = scope
        self.normalize = normalize
        self.scorer = scorer
        self.granularity = granularity
        self.post_relu = post_relu
        self.reg_lambda = reg_lambda
        self.gamma_l1 = gamma_l1
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _check_pruning_params(self):
        if not isinstance(self.sparsity, (int, float)) or not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be a number in [0, 1), got {self.sparsity!r}.")
        if self.scorer is None and not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}.")
        if self.scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {self.scope!r}.")
        if self.normalize not in NORMALIZERS:
            raise ValueError(f"normalize must be one of {NORMALIZERS}, got {self.normalize!r}.")
        if self.prune_epochs is not None and int(self.prune_epochs) < 1:
            raise ValueError(f"prune_epochs must be >= 1, got {self.prune_epochs!r}.")
        if self.granularity not in ("weight", "channel"):
            raise ValueError(
                f"granularity must be 'weight' or 'channel', got {self.granularity!r}."
            )
        if not float(self.reg_lambda) >= 0.0:
            raise ValueError(f"reg_lambda must be >= 0, got {self.reg_lambda!r}.")
        if float(self.reg_lambda) > 0 and self.granularity != "weight":
            raise ValueError("reg_lambda applies to granularity='weight' only.")
        if not float(self.gamma_l1) >= 0.0:
            raise ValueError(f"gamma_l1 must be >= 0, got {self.gamma_l1!r}.")
        if float(self.gamma_l1) > 0 and self.granularity != "channel":
            raise ValueError("gamma_l1 applies to granularity='channel' only.")
        make_schedule(self.schedule)
        self._make_scorer()

    def _make_scorer(self):
        if self.granularity == "channel" and (self.scorer is None or isinstance(self.scorer, str)):
            if self.scorer not in (None, "screening", "slimming"):
                raise ValueError(
                    f"scorer={self.scorer!r} is not available for channels; use "
                    "'screening', 'slimming' or a ChannelScreeningScorer."
                )
            alpha = 0.0 if self.scorer == "slimming" else self.alpha
            return ChannelScreeningScorer(alpha=alpha, normalize=self.normalize)
        if self.scorer is None or self.scorer == "screening":
            return HybridScreeningScorer(alpha=self.alpha, normalize=self.normalize)
        if isinstance(self.scorer, str):
            return make_scorer(self.scorer)
        scorer = copy.deepcopy(self.scorer)  # never mutate the constructor argument
        if hasattr(scorer, "report_"):
            scorer.report_ = []
        return scorer

    def _prune_epochs(self):
        if self.prune_epochs is not None:
            return int(self.prune_epochs)
        return max(1, int(self.max_epochs) // 2)

    # ------------------------------------------------------------------ skorch plumbing
    def initialize_module(self):
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        super().initialize_module()
        # a freshly (re)initialised module gets a fresh pruner at the next fit
        self.pruner_ = None
        return self

    def initialize(self):
        self._check_pruning_params()
        return super().initialize()

    def _setup_pruner(self, dataset_train=None):
        if getattr(self, "pruner_", None) is not None:
            return
        common = dict(
            sparsity=self.sparsity,
            prune_epochs=self._prune_epochs(),
            n_classes=len(self.classes_),
            scope=self.scope,
        )
        if self.granularity == "channel":
            Xi, _ = dataset_train[0]
            example = torch.as_tensor(np.asarray(Xi))[None]
            self.pruner_ = ChannelPruner(
                self.module_,
                self._make_scorer(),
                make_schedule(self.schedule),
                example_inputs=example.to(self.device),
                post_relu=self.post_relu,
                **common,
            )
        else:
            self.pruner_ = WeightPruner(
                self.module_, self._make_scorer(), make_schedule(self.schedule), **common
            )
        self.n_weights_ = self.pruner_.n_total
        self.pruning_epoch_ = 0
        self.regularizer_ = None  # made at the start of each epoch where needed

    def fit(self, X, y=None, **fit_params):
        """Initialise (unless ``warm_start``) and train, pruning at the end of each epoch."""
        self._check_pruning_params()
        _check_finite(X)
        if not self.warm_start:  # a new fit may bring other labels than the last one
            self.__dict__.pop("classes_inferred_", None)
        return super().fit(X, y, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training (and pruning, where the schedule is not finished)."""
        self._check_pruning_params()
        _check_finite(X)
        if y is not None and getattr(self, "classes_inferred_", None) is not None:
            unknown = np.setdiff1d(np.unique(np.asarray(y)), self.classes_)
            if unknown.size:
                raise ValueError(
                    f"y contains labels {unknown.tolist()!r} not seen in the first fit "
                    f"(classes {list(self.classes_)!r})."
                )
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def check_data(self, X, y):
        super().check_data(X, y)
        if y is not None and self.classes is not None:
            unknown = np.setdiff1d(np.unique(np.asarray(y)), np.asarray(self.classes))
            if unknown.size:
                raise ValueError(
                    f"y contains labels {unknown.tolist()!r} that are not in classes "
                    f"{list(self.classes)!r}."
                )

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, **kwargs)
        # first epoch: classes are known once skorch checked the data
        self._setup_pruner(dataset_train)
        self.pruner_.attach_hooks()
        if getattr(self, "regularizer_", None) is None:
            # first epoch, or a strength switched on (set_params) between partial_fit calls
            if float(self.reg_lambda) > 0:
                self.regularizer_ = ContributionEntropy(self._regularized_modules())
            elif float(self.gamma_l1) > 0:
                self.regularizer_ = BatchNormL1(self._regularized_modules())
        if self.regularizer_ is not None:
            self.regularizer_.modules = self._regularized_modules()
            self.regularizer_.attach()
        if self.pruner_.recorder is not None:
            self.pruner_.recorder.reset()

    def train_step_single(self, batch, **fit_params):
        _, yi = batch
        self.pruner_.set_targets(torch.as_tensor(yi, device=self.device))
        try:
            return super().train_step_single(batch, **fit_params)
        finally:
            self.pruner_.set_targets(None)

    def _regularized_modules(self):
        if self.granularity == "channel":
            return self.pruner_.bn_modules()
        return dict(self.pruner_.layers)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """skorch's loss plus the training penalty (``reg_lambda`` or ``gamma_l1``)."""
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        reg = getattr(self, "regularizer_", None)
        if training and reg is not None:
            strength = self.gamma_l1 if isinstance(reg, BatchNormL1) else self.reg_lambda
            loss = loss + float(strength) * reg.penalty().to(loss.device)
        return loss

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        self.pruner_.enforce()  # after optimizer.step(): pruned weights exactly zero again
        return step

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        self.pruning_epoch_ += 1
        e = self.pruning_epoch_
        target_keep = self.pruner_.target_keep(e)
        n_kept = self.pruner_.step(e, self.optimizer_)
        total = self.pruner_.n_total
        if target_keep is None:  # the criterion sets its own sparsity
            target_keep = n_kept
        self.history.record("target_sparsity", 1.0 - target_keep / total)
        self.history.record("sparsity", 1.0 - n_kept / total)
        self.history.record("n_kept", n_kept)

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        # statistics hooks live only while training (keeps module_ picklable and lean)
        self.pruner_.remove_hooks()
        if getattr(self, "regularizer_", None) is not None:
            self.regularizer_.remove()
        if self.pruning_epoch_ < self._prune_epochs() and not self.pruner_.decides_masks:
            warnings.warn(
                f"Training stopped after {self.pruning_epoch_} pruning epochs, before the "
                f"schedule reached sparsity={self.sparsity} (prune_epochs="
                f"{self._prune_epochs()}); achieved {self.sparsity_:.4f}. Continue with "
                "partial_fit or raise max_epochs.",
                UserWarning,
            )

    def __setstate__(self, state):
        super().__setstate__(state)
        if getattr(self, "pruner_", None) is not None:
            self.pruner_.bind(self.module_)
            if getattr(self, "regularizer_", None) is not None:
                self.regularizer_.modules = self._regularized_modules()

    # ------------------------------------------------------------------ results
    @property
    def sparsity_(self):
        """Achieved fraction of prunable weights removed."""
        self.check_is_fitted(["pruner_"])
        return 1.0 - self.pruner_.n_kept() / self.pruner_.n_total

    @property
    def kept_fraction_(self):
        """Fraction of weights kept in each prunable layer."""
        self.check_is_fitted(["pruner_"])
        return self.pruner_.kept_fractions()

    def compact(self):
        """A plain ``torch.nn.Sequential`` without masks and without dead neurons.

        Neurons left with no incoming or no outgoing connection are physically removed
        (constant outputs folded into the next bias): same predictions, fewer parameters.
        The returned module is on the net's device, in eval mode.
        """
        self.check_is_fitted(["pruner_"])
        if self.granularity == "channel":  # channels are already physically removed
            return copy.deepcopy(self.module_).eval()
        return compact_sequential(self.module_)

    def to_torch_prune(self):
        """Convert the masks of ``module_`` to :mod:`torch.nn.utils.prune`'s storage.

        ``prune.is_pruned(net.module_)`` is then true. The parameters are renamed
        (``weight`` -> ``weight_orig``), so the optimizer is re-initialised.
        """
        self.check_is_fitted(["pruner_"])
        to_torch_prune(self.module_)
        self.initialize_optimizer()
        return self

    def remove_masks(self):
        """Make the pruning permanent in ``module_`` (plain parameters, no mask buffers)."""
        self.check_is_fitted(["pruner_"])
        self.pruner_.remove_hooks()
        remove_masks(self.module_)
        return self

    def n_parameters(self, nonzero=True):
        """Parameters of ``module_`` (non-zero effective ones by default)."""
        return count_parameters(self.module_, nonzero=nonzero)
