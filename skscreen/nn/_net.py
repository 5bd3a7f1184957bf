"""ScreeningPrunedNet: skorch's NeuralNetClassifier + the ScreeningPruning callback.

The subclass adds no training behaviour of its own: pruning is the
:class:`~skscreen.nn.ScreeningPruning` callback (usable on any skorch net), whose parameters
are surfaced here at top level for ``GridSearchCV``. What the subclass adds is what a
scikit-learn user expects from a classifier: any hashable labels (encoded internally,
``classes_`` holds the originals and ``predict`` returns them; :mod:`skscreen.nn._labels`),
``float64``/``int`` arrays and pandas DataFrames as input (:mod:`skscreen.nn._inputs`),
``fit`` as a fresh start (a module *instance* is copied, never mutated), and a check that
the module outputs logits when the criterion is ``CrossEntropyLoss``.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks.scoring import ScoringBase
from skorch.dataset import Dataset
from skorch.utils import is_dataset, to_device, to_numpy

from skscreen.nn._class_rows import probe_output_width
from skscreen.nn._criterion import (
    AutoLoss,
    _is_auto,
    auto_kwargs,
    criterion_for_output,
    output_kind,
)
from skscreen.nn._inputs import check_features, head, module_dtype, prepare_X, takes_indices
from skscreen.nn._labels import (
    RECORD_KEY,
    LabelledDataset,
    _integral,
    check_labels,
    encoding_from_record,
    encoding_record,
    first_encoding,
)
from skscreen.nn._pruning import PRUNING_PARAMS, ScreeningPruning, find_pruning_callback
from skscreen.pruning.compaction import count_parameters
from skscreen.pruning.masks import remove_masks, to_torch_prune

__all__ = ["ScreeningPrunedNet"]


class ScreeningPrunedNet(NeuralNetClassifier):
    """A skorch classifier that prunes its network by screening while it trains.

    ``NeuralNetClassifier`` plus the :class:`~skscreen.nn.ScreeningPruning` callback, whose
    parameters (``alpha``, ``sparsity``, ``schedule``, ...) are parameters of the net, so
    that ``GridSearchCV`` can search them. During each training epoch, forward hooks collect
    per-class moments of the inputs of every prunable layer (``Linear`` and conv layers by
    default) on the model's device, with no extra pass. At the end of the epoch every
    connection ``w`` is ranked by ``alpha * norm(F) + (1 - alpha) * norm(|w|)``, ``F`` the
    ANOVA F-score of its input unit (input channel for a conv), and the lowest are pruned
    until the schedule's target for that epoch is met. Pruned weights stay exactly zero
    whatever the training loop does (gradient masking) and never come back.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        The network (outputs logits with the default ``CrossEntropyLoss``); an instance is
        deep-copied at every ``fit`` (the object passed in is never modified).
    alpha : float in [0, 1], default=0.25
        Weight on the screening score: 0 is pure magnitude pruning, 1 pure screening.
    sparsity : float in [0, 1), default=0.9
        Target fraction of the prunable weights to remove (channels at channel level).
    schedule : {"logistic", "fsa", "cubic", "one-shot"} or Schedule, default="logistic"
        How the sparsity grows from 0 to ``sparsity`` (see :mod:`skscreen.pruning.schedules`).
    prune_epochs : int, default=None
        Epochs over which the schedule reaches the target; ``None`` is half of ``max_epochs``.
    scope : {"global", "layer"}, default="global"
        One budget and ranking across layers, or the same sparsity in every layer.
    normalize : {"minmax", "max", "rank"}, default="minmax"
        How the two score components are put on one scale.
    normalize_scope : {"global", "layer"} or None, default=None
        Normalise each score component over all layers together or within each layer
        before ranking (``"layer"`` gives the paper's per-layer shape, see
        :doc:`methods`). ``None``: weight level follows ``scope``, channel level
        normalises within each layer; both are the choices made on validation splits
        (``docs/benchmarks.rst``, "Default settings").
    scorer : str or object, default=None
        The pruning criterion. ``None`` or ``"screening"``: the hybrid above (``alpha``,
        ``normalize``); ``"magnitude"``; ``"lamp"``; ``"activation"``
        (:class:`~skscreen.pruning.ActivationStatsScorer`); ``"extreme-value"``
        (:class:`~skscreen.pruning.ExtremeValuePruning`, which sets its own sparsity and
        ignores ``sparsity`` and ``schedule``); ``"slimming"`` (channels); or any scorer
        object (copied at fit).
    granularity : {"weight", "channel"}, default="weight"
        ``"weight"``: connections of the prunable layers (WLS). ``"channel"``: channels of
        BatchNorm layers (CLS), ranked by ``alpha * norm(F) + (1 - alpha) * norm(|gamma|)``
        and removed physically with Torch-Pruning (``alpha=0`` is network slimming);
        ``sparsity`` is then the fraction of channels removed.
    layer_types : tuple of module classes, default=None
        Weight level: the prunable layer types (``None``: ``Linear``, ``Conv1d``, ``Conv2d``).
    ignored_layers : list of modules or qualified names, default=None
        Layers never pruned (e.g. the stem and the classifier).
    post_relu : bool, default=False
        Channel granularity: statistics of the post-ReLU channel means instead of the
        BatchNorm output.
    reg_lambda : float, default=0.0
        Strength of the pruning-aware regulariser
        (:class:`~skscreen.pruning.regularizers.ContributionEntropy`), added to the gradient.
    gamma_l1 : float, default=0.0
        Channel granularity: network slimming's sparsity regularisation ``gamma_l1 * sum
        |gamma|`` over the BatchNorm layers, added to the gradient
        (:class:`~skscreen.pruning.regularizers.BatchNormL1`; Liu et al. use 1e-5 to 1e-4).
    random_state : int, default=None
        Seeds torch before the module is initialised (weights and batch order) and every
        random decision of the criterion: two fits with the same settings give identical
        nets. A module *instance* keeps the initial weights it was built with (copied at
        every fit); pass the class and ``module__*`` parameters to seed those too.
    criterion : AutoLoss, "auto" or torch criterion class, default=AutoLoss
        :class:`~skscreen.nn.AutoLoss` (or its alias ``"auto"``) accepts both conventions: a
        module that outputs logits trains with
        ``CrossEntropyLoss`` (``predict_proba`` applies a softmax), a module that ends in a
        softmax (skorch's ``NeuralNetClassifier`` convention) trains with ``NLLLoss`` on the
        log of its probabilities (``predict_proba`` returns them as they are). The choice is
        made from the module's output at the first training batch (no extra forward pass)
        and shown by ``criterion_`` and ``module_output_``; ``criterion__*`` parameters go
        to the chosen loss. An explicit criterion always wins; with
        ``CrossEntropyLoss`` a module that outputs probabilities is refused (a softmax
        before a softmax), with ``torch.nn.NLLLoss`` the module must output probabilities.
    **kwargs
        Every other skorch :class:`~skorch.NeuralNetClassifier` parameter (``optimizer``,
        ``lr``, ``max_epochs``, ``batch_size``, ``device``, ``callbacks``, ``classes``,
        ``train_split``, ``module__*``, ``optimizer__*``, ...).

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in ``fit`` (or ``classes``); ``predict`` returns them.
    sparsity_ : float
        Achieved fraction of prunable weights (or channels) removed.
    kept_fraction_ : dict of str to float
        Fraction of weights (channels) kept per layer.
    n_weights_ : int
        Prunable weights (channels) in the dense network.
    module_output_ : {"logits", "probabilities"} or None
        With ``criterion="auto"``: what the module was found to output (``None`` until the
        first training batch or prediction).
    n_features_in_ : int
        Number of features of a 2-D ``X`` seen in the first ``fit``/``partial_fit``
        (checked at later calls and at prediction, as scikit-learn does).
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` seen in the first call, when all are strings;
        a DataFrame with other or reordered columns is refused at prediction.
    pruning_ : ScreeningPruning
        The pruning callback (built at ``initialize``, held beside ``callbacks_``).
    pruner_ : WeightPruner or ChannelPruner
        The pruning machinery (statistics hooks, scorer, schedule, masks).
    history : skorch History
        Includes per epoch ``pruning_epoch``, ``target_sparsity``, ``sparsity``, ``n_kept``.

    Notes
    -----
    Differences from ``NeuralNetClassifier`` by design (skorch's own tests run against this
    class in ``tests/nn/test_skorch_port.py``, which lists each): messages and ``repr`` name
    this class; an explicit ``CrossEntropyLoss`` on a module that outputs probabilities is
    refused; a module *instance* is deep-copied at ``initialize`` (``module_`` is not the
    object passed); ``y`` must be 1-D class labels of at least two classes; integer labels
    the module can neither output nor encode are refused at ``fit``; ``predict_proba`` has
    one column per entry of ``classes_`` (a module with more outputs than classes, such as
    labels ``{0, 2}`` as output indices of three outputs, gives the probabilities over the
    outputs of the classes, and ``predict`` one of the classes).

    The pruning callback is not an entry of ``callbacks_`` (which stays exactly as skorch
    builds it from ``callbacks``, ``"disable"`` included): it is held in ``pruning_`` and
    notified by the net's ``notify`` after the net's own ``on_*`` method (skorch's history
    bookkeeping) and before every callback, whatever a subclass does with its ``on_*``
    methods. Its settings are the net's parameters; ``sparsity=0`` for no pruning.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skscreen import ScreeningPrunedNet
    >>> from skscreen.models import make_mlp
    >>> X, y = load_digits(return_X_y=True)
    >>> net = ScreeningPrunedNet(make_mlp(64, (64,), 10), alpha=0.25, sparsity=0.8,
    ...                          max_epochs=6, lr=0.1, train_split=None, verbose=0,
    ...                          random_state=0)
    >>> _ = net.fit(X / 16, y)   # float64 input is cast to the module's dtype
    >>> round(net.sparsity_, 3)
    0.8
    >>> small = net.compact()
    """

    #: later calls may only bring the labels of the first (or ``classes``): the pruning
    #: callback sizes its statistics from them, without a forward pass
    _labels_fixed_by_first_call = True

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
        normalize_scope=None,
        scorer=None,
        granularity="weight",
        layer_types=None,
        ignored_layers=None,
        post_relu=False,
        reg_lambda=0.0,
        gamma_l1=0.0,
        random_state=None,
        criterion=AutoLoss,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
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

    # ------------------------------------------------------------------ the callback
    def _pruning_settings(self):
        return {k: getattr(self, k) for k in PRUNING_PARAMS}

    def _initialize_callbacks(self):
        # callbacks_ is skorch's, as the user set it (callbacks="disable", None entries,
        # trim_for_prediction): the pruning callback is held beside it, in pruning_, and
        # notified by the net's own hooks, which skorch calls before every callback
        super()._initialize_callbacks()
        self._check_callbacks()
        pruning = self.__dict__.get("pruning_")
        if pruning is None:
            pruning = ScreeningPruning(**self._pruning_settings())
        else:  # its derived state follows the module and the history: kept
            pruning.set_params(**self._pruning_settings())
        self.pruning_ = pruning.initialize()
        if "pruning_" not in self.cuda_dependent_attributes_:
            # pickled with the module, through skorch's map_location (a CUDA net's statistics
            # and layer references load on a CPU machine), in one memo with module_
            self.cuda_dependent_attributes_ = [*self.cuda_dependent_attributes_, "pruning_"]
        return self

    def set_params(self, **kwargs):
        stale = [k for k in kwargs if k.split("__")[:2] == ["callbacks", "screening_pruning"]]
        if stale:
            raise ValueError(
                f"{stale[0]!r}: ScreeningPrunedNet's pruning is not an entry of callbacks (it "
                "is held in pruning_, whatever callbacks holds); its settings are the net's own "
                "parameters: set_params(sparsity=0.8, alpha=...), sparsity=0 for no pruning."
            )
        return super().set_params(**kwargs)

    def _check_callbacks(self):
        others = [name for name, cb in self.callbacks_ if isinstance(cb, ScreeningPruning)]
        if others:
            raise ValueError(
                f"ScreeningPrunedNet prunes with its own ScreeningPruning callback; the "
                f"callbacks {others!r} would prune the same module a second time. Pass the "
                "pruning settings as parameters of the net (sparsity=..., alpha=...), or use "
                "skorch's NeuralNetClassifier with the ScreeningPruning callback."
            )
        return self

    def initialize(self):
        ScreeningPruning(**self._pruning_settings()).check_params()
        return super().initialize()

    def initialize_module(self):
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        super().initialize_module()
        if self.module_ is self.module:
            # fit is a fresh start and never modifies the object the user passed in
            self.module_ = copy.deepcopy(self.module)
        pruning = find_pruning_callback(self)
        if pruning is not None:  # ready to load a pruned state dict (load_params, Checkpoint)
            pruning.set_params(**self._pruning_settings())
            pruning.prepare(self)
        return self

    # ------------------------------------------------------------------ inputs and labels
    def _prepare_X(self, X):
        """X as the module takes it (its floating dtype; integer ids for an embedding)."""
        if not getattr(self, "initialized_", False):
            return prepare_X(X)
        return prepare_X(X, module_dtype(self.module_), keep_integers=takes_indices(self.module_))

    def _output_width(self, X):
        """Number of module outputs, from a forward pass of a few rows (None if unknown)."""
        rows = head(X)
        if rows is None:
            return None
        if isinstance(rows, dict):  # several module inputs (skorch's dict X)
            rows = {k: torch.as_tensor(self._prepare_X(v)) for k, v in rows.items()}
        else:
            rows = torch.as_tensor(self._prepare_X(rows))
        try:
            width = probe_output_width(self, to_device(rows, self.device))
        except Exception:  # noqa: BLE001 - the real error is raised by training
            return None
        pruning = find_pruning_callback(self)
        if pruning is not None and width is not None:  # spares the callback a probe pass
            pruning.output_width_seen(self.module_, width)
        return width

    @property
    def classes_(self):
        """The labels of the fit's first call (or ``classes``); ``predict`` returns them."""
        # skorch's classes_ reads classes_inferred_, which its check_data sets from the
        # targets of every call (output indices here, and only the labels of that batch)
        encoding = self.__dict__.get("label_encoding_")
        if encoding is not None:
            return encoding.classes
        return super().classes_

    def get_dataset(self, X, y=None):
        """skorch's Dataset of the prepared X; encoded labels stay labels in its ``.y``."""
        if is_dataset(X):
            return super().get_dataset(X, y)
        X = self._prepare_X(X)
        encoding = self.__dict__.get("label_encoding_")
        if y is not None and encoding is not None and encoding.names:
            if self.dataset is not Dataset:  # the user's Dataset class gets output indices
                return super().get_dataset(X, encoding.encode(check_labels(y)))
            return LabelledDataset(X, y, encoding, **self.get_params_for("dataset"))
        return super().get_dataset(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        """skorch's split; a validation Dataset the user built is prepared like ``fit``'s.

        ``train_split=predefined_split(Dataset(X_valid, y_valid))`` holds the user's inputs
        and labels: the labels are checked here, before any training, so a label the net
        does not know (or, for output indices, one the module has no output for) fails
        before the weights change; ``X_valid`` is cast like ``X`` (float64 to the module's
        dtype).
        """
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        encoding = self.__dict__.get("label_encoding_")
        if (
            encoding is not None
            and type(dataset_valid) is Dataset
            and dataset_valid.y is not None
        ):
            y_valid = check_labels(dataset_valid.y)
            if encoding.names:
                encoding.encode(y_valid)
                dataset_valid = self.get_dataset(dataset_valid.X, y_valid)
            else:  # output indices: the user's Dataset itself, unless X or y need a cast
                self._check_valid_indices(y_valid, encoding, dataset_valid.X)
                X_valid = self._prepare_X(dataset_valid.X)
                if X_valid is not dataset_valid.X or y_valid.dtype != np.int64:
                    dataset_valid = self.get_dataset(X_valid, y_valid.astype(np.int64))
        return dataset_train, dataset_valid

    def _check_valid_indices(self, y_valid, encoding, X_valid):
        """Validation labels that are output indices: the classes of the fit, or any other
        output of the module (skorch scores those too); else ValueError naming them."""
        y_valid = np.asarray(y_valid)
        extra = np.setdiff1d(np.unique(y_valid), encoding.outputs)
        if not extra.size:
            return
        width = None
        if _integral(extra) and extra.min() >= 0:  # 2.0 as 2, as the training labels
            width = self._output_width(X_valid)
            if width is not None and extra.max() < width:
                return
        outputs = f"its {width} outputs" if width is not None else "its outputs"
        raise ValueError(
            f"The validation labels {extra.tolist()[:5]!r} are not classes of this fit "
            f"({np.asarray(encoding.classes).tolist()!r}) and not output indices of the "
            f"module ({outputs}): pass validation labels of the same kind as y."
        )

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, **fit_params):
        """Initialise (unless ``warm_start``) and train, pruning at the end of each epoch.

        ``fit`` is a fresh start: the module is re-initialised (an instance re-copied), the
        history, the labels and every pruning decision are reset.
        """
        if not self.warm_start or not self.initialized_:
            self.initialize()
            self.__dict__.pop("label_encoding_", None)  # a new fit may bring other labels
        return self.partial_fit(X, y, _routing_method="fit", **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training (and pruning, where the schedule is not finished).

        Labels must be among those of the first call (or ``classes``). Pruning settings
        changed with ``set_params`` since the last call take effect now: the schedule
        continues towards the new target. Inputs and labels are checked before anything
        changes.
        """
        if not self.initialized_:
            self.initialize()
        dataset = None
        if y is None and type(X) is Dataset and X.y is not None:
            dataset, X, y = X, X.X, X.y  # fit(Dataset(X, y)): its labels are the labels
        fresh = len(self.history) == 0 and "label_encoding_" not in self.__dict__
        check_features(self, X, reset=fresh)
        y = None if y is None else check_labels(y)
        if fresh:
            encoding = first_encoding(
                y, self.classes, classes, output_width=lambda: self._output_width(X)
            )
        else:
            encoding = self.__dict__.get("label_encoding_")
            if encoding is None and y is not None:
                _check_output_indices(y)
        if encoding is not None and y is not None:
            indices = encoding.encode(y)  # unknown labels fail here, before any training
            y = y if encoding.names else indices  # names: the Dataset encodes them
        self.label_encoding_ = encoding
        if dataset is not None and (encoding is None or not encoding.names):
            X, y = dataset, None  # output indices already: the user's Dataset as it is
        n_rows = len(self.history)
        try:
            return super().partial_fit(X, y, **fit_params)
        except Exception:
            # a batch the module rejects: no hooks left behind (the net stays picklable)
            # and no half-written history row
            self.pruning_._remove_epoch_hooks()
            row = self.history[-1] if len(self.history) > n_rows else None
            # a row the pruning step wrote stays (an error in the epoch's validation, after
            # the step: the module is pruned and the row says so)
            if row is not None and "train_loss" not in row and "pruning_epoch" not in row:
                del self.history[-1]
            raise

    # ------------------------------------------------------------------ notifications
    def notify(self, method_name, **cb_kwargs):
        # skorch's scoring callbacks see the labels in a batch's y, as predict returns them
        # (EpochScoring caches the batches' y to score net.predict against); every other
        # callback sees the batch as skorch builds it, the output indices the module trains
        # on (as in on_batch_begin: a batch accuracy from y_pred.argmax stays right)
        encoding = self.__dict__.get("label_encoding_")
        labelled = None
        if method_name == "on_batch_end" and encoding is not None and encoding.names:
            batch = cb_kwargs.get("batch")
            if isinstance(batch, list | tuple) and len(batch) == 2 and batch[1] is not None:
                labelled = dict(cb_kwargs, batch=(batch[0], encoding.decode(batch[1])))
        # skorch's notify, with the pruning callback (held in pruning_, not in callbacks_)
        # between the net's own hook (history bookkeeping) and every callback: PrintLog shows
        # the epoch's sparsity, Checkpoint and EarlyStopping see the pruned module,
        # LoadInitState loads into a prepared one. Dispatched here, not from the net's on_*
        # methods, so that a subclass overriding those without super() still prunes.
        getattr(self, method_name)(self, **cb_kwargs)
        if method_name == "on_epoch_begin" and RECORD_KEY not in self.history[0]:
            # the labels travel with the history (save_params/load_params, Checkpoint)
            record = encoding_record(self.__dict__.get("label_encoding_"))
            if record is not None:
                self.history[0][RECORD_KEY] = record
        pruning = self.__dict__.get("pruning_")
        if pruning is not None:
            if method_name == "on_train_begin":
                # one home for each setting: the net's parameters, pushed to it now; a
                # refused change (granularity once pruning has started) leaves it as it was,
                # so that it still describes the module (compact, counts)
                before = pruning.get_params()
                pruning.set_params(**self._pruning_settings())
                try:
                    pruning.on_train_begin(self, **cb_kwargs)
                except BaseException:
                    pruning.set_params(**before)
                    raise
            else:
                getattr(pruning, method_name)(self, **cb_kwargs)
        for _, cb in self.callbacks_:
            kwargs = labelled if labelled is not None and isinstance(cb, ScoringBase) else cb_kwargs
            getattr(cb, method_name)(self, **kwargs)

    # ------------------------------------------------------------------ criterion
    def initialize_criterion(self):
        """``criterion=AutoLoss`` (or ``"auto"``): ``CrossEntropyLoss`` until the module's output
        is seen."""
        self.module_output_ = None
        if not _is_auto(self.criterion):
            if isinstance(self.criterion, str):
                raise ValueError(
                    f"criterion must be 'auto' or a torch criterion (class or instance), got "
                    f"{self.criterion!r}."
                )
            return super().initialize_criterion()
        self.criterion_ = self._auto_loss("logits")
        return self

    def _auto_loss(self, kind):
        """The loss ``criterion="auto"`` chooses for outputs of ``kind``, with the parameters
        of an :class:`AutoLoss` instance and the net's ``criterion__*``."""
        return criterion_for_output(
            kind, auto_kwargs(self.criterion, self.get_params_for("criterion"))
        )

    def _decide_output(self, out):
        """Record what the module outputs; with ``criterion="auto"`` choose the loss."""
        if isinstance(out, tuple | list) and out:
            out = out[0]
        if not torch.is_tensor(out):
            return
        kind = output_kind(out)
        if _is_auto(self.criterion):
            # (a subclass whose initialize_criterion registers its loss under another name,
            # e.g. an AutoLoss instance of its own, has no criterion_ to replace)
            if kind == "probabilities" and "criterion_" in self.__dict__:
                criterion = self._auto_loss(kind)
                self.criterion_ = criterion.to(self.device) if self.device else criterion
            self.module_output_ = kind
        elif kind == "probabilities" and isinstance(self.criterion_, torch.nn.CrossEntropyLoss):
            raise ValueError(
                "The module's outputs are probabilities (non-negative, rows sum to 1: a "
                "final softmax?), but criterion=CrossEntropyLoss expects logits and "
                "predict_proba applies a softmax. Remove the final softmax, or leave "
                "criterion='auto' (NLLLoss on the probabilities, skorch's convention)."
            )
        elif (
            kind == "logits"
            and isinstance(self.criterion_, torch.nn.NLLLoss)
            and bool((out.detach() < 0).any())
        ):
            raise ValueError(
                "criterion=NLLLoss takes the log of the module's outputs (skorch's convention "
                "for a module ending in softmax), but the module outputs negative values "
                "(logits or log-probabilities). Leave criterion='auto' (CrossEntropyLoss on "
                "logits), or end the module in a softmax."
            )
        else:
            self.module_output_ = kind

    def get_loss(self, y_pred, y_true, X=None, training=False):
        # the first loss decides from the output the net computed anyway (no extra pass)
        if getattr(self, "module_output_", None) is None:
            self._decide_output(y_pred)
        return super().get_loss(y_pred, y_true, X=X, training=training)

    # ------------------------------------------------------------------ predictions
    def _nonlinearity(self):
        """skorch's ``predict_nonlinearity`` (its own checks first); for ``"auto"`` with an
        :class:`AutoLoss` as ``criterion_`` (a subclass's ``initialize_criterion`` built it),
        which skorch cannot read, the softmax of logits or the probabilities as they are."""
        nonlin = self._get_predict_nonlinearity()
        criterion = self.__dict__.get("criterion_")
        if self.predict_nonlinearity == "auto" and isinstance(criterion, AutoLoss):
            kind = self.__dict__.get("module_output_") or criterion.output_
            if kind == "logits":
                return partial(torch.softmax, dim=-1)
        return nonlin

    def predict_proba(self, X):
        """Class probabilities (softmax of logits, or the module's own probabilities), one
        column per entry of ``classes_``.

        A module with more outputs than the net has classes (labels ``{0, 2}`` as output
        indices of three outputs) gives the probabilities over the outputs of the classes
        (renormalised to sum to one; uniform where those outputs have no probability). A
        ``predict_nonlinearity`` that gives scores rather than probabilities (``None`` on
        logits: negative values) gives the columns of the classes as they are, so that
        ``predict`` is their argmax, as in skorch.
        """
        check_features(self, X, reset=False)
        nonlin = self._nonlinearity()
        probas = []
        for out in self.forward_iter(X, training=False):
            if _is_auto(self.criterion) and getattr(self, "module_output_", None) is None:
                # not trained in this process (e.g. load_params): the first batch decides
                self._decide_output(out)
                nonlin = self._nonlinearity()
            out = nonlin(out[0] if isinstance(out, tuple) else out)
            if out.dtype == torch.bfloat16:  # numpy has no bfloat16
                out = out.float()
            probas.append(to_numpy(out))
        proba = np.concatenate(probas, 0)
        encoding = self.__dict__.get("label_encoding_")
        if encoding is not None and proba.ndim == 2:
            columns = encoding.columns(proba.shape[1])
            if columns is not None:
                proba = _class_columns(proba, columns)
        return proba

    def predict(self, X):
        """Class labels for the samples of ``X`` (the labels given to ``fit``)."""
        proba = self.predict_proba(X)
        best = proba.argmax(axis=1)
        encoding = self.__dict__.get("label_encoding_")
        if encoding is None or proba.ndim != 2:
            return best
        return encoding.label_of_column(best)

    # ------------------------------------------------------------------ state
    def load_params(self, *args, **kwargs):
        """skorch's ``load_params``; a history loaded with it (``f_history``, a
        ``Checkpoint``) brings back the labels of the fit that saved it, so that ``predict``
        returns them and ``partial_fit`` takes them."""
        history = self.__dict__.get("history_")
        super().load_params(*args, **kwargs)
        if self.__dict__.get("history_") is history:
            return  # no history loaded: the labels stay as they are
        record = self.history[0].get(RECORD_KEY) if len(self.history) else None
        encoding = None if record is None else encoding_from_record(record)
        if encoding is not None:
            self.label_encoding_ = encoding
        # else a history without them (saved by skorch or an older version): the labels the
        # net knows stay (those of this fit's first call, LoadInitState loading a checkpoint
        # in the middle of it), or none: output indices, as skorch's predict returns

    def __setstate__(self, state):
        super().__setstate__(state)
        pruning = self.__dict__.get("pruning_")
        if pruning is not None and "module_" in self.__dict__:
            pruning.rebind(self.module_)

    @property
    def pruner_(self):
        """The pruning machinery of the callback (built at the first training batch)."""
        pruner = self.pruning_.pruner_
        if pruner is None:
            raise AttributeError(
                "pruner_ exists after the first training batch (the net has not trained yet)."
            )
        return pruner

    @property
    def regularizer_(self):
        """The training penalty (``reg_lambda``/``gamma_l1``) of the last epoch, or None."""
        return self.pruning_.regularizer_

    # ------------------------------------------------------------------ results
    def _counts(self):
        """(kept, total) prunable weights or channels of ``module_`` as it is."""
        return self.pruning_.counts(self)

    @property
    def n_weights_(self):
        """Prunable weights (channels at channel level) in the dense network."""
        self.check_is_fitted(["module_"])
        return self._counts()[1]

    @property
    def sparsity_(self):
        """Achieved fraction of prunable weights (channels) removed."""
        self.check_is_fitted(["module_"])
        kept, total = self._counts()
        return 1.0 - kept / total if total else 0.0

    @property
    def kept_fraction_(self):
        """Fraction of weights (channels) kept in each prunable layer."""
        self.check_is_fitted(["module_"])
        return self.pruning_.kept_fractions(self)

    def compact(self):
        """A physically smaller module without masks: the same predictions, fewer parameters.

        Weight level (:func:`~skscreen.pruning.compaction.compact_module`, traced on a few
        training inputs kept at the first batch): neurons (channels) left with no incoming or
        no outgoing connection are removed (constant outputs folded into the next bias) where
        that is possible, and masks are folded into plain parameters (loadable into the
        original architecture otherwise); channel level: channels are already
        physically removed, the module is returned without hooks. The result is a new
        module on the net's device, in eval mode.
        """
        self.check_is_fitted(["module_"])
        # the module's granularity: its pruner's (the net's parameter, and the callback's
        # settings pushed from it, may hold a change that the next fit refuses)
        if _granularity_of(self.pruning_) == "channel":
            return copy.deepcopy(self.module_).eval()
        from skscreen.pruning import compaction

        example = getattr(self.pruning_, "example_inputs_", None)
        if example is not None:
            example = example.to(self.device)
        return compaction.compact_module(self.module_, example).eval()

    def to_torch_prune(self):
        """Convert the masks of ``module_`` to :mod:`torch.nn.utils.prune`'s storage.

        ``prune.is_pruned(net.module_)`` is then true. The parameters are renamed
        (``weight`` -> ``weight_orig``), so the optimizer is re-initialised.
        """
        self.check_is_fitted(["module_"])
        to_torch_prune(self.module_)
        self.initialize_optimizer()
        return self

    def remove_masks(self):
        """Make the pruning permanent in ``module_`` (plain parameters, no mask buffers).

        ``sparsity_``, ``n_weights_`` and ``kept_fraction_`` go on reporting it, from the
        zeros of the layers the pruning masked."""
        self.check_is_fitted(["module_"])
        self.pruning_._drop_pruner()
        remove_masks(self.module_)
        return self

    def n_parameters(self, nonzero=True):
        """Parameters of ``module_`` (non-zero effective ones by default)."""
        return count_parameters(self.module_, nonzero=nonzero)


def _class_columns(proba, columns):
    """The ``columns`` of ``proba`` that have a class; probabilities (no negative value)
    renormalised over them, rows without mass on them uniform; scores (logits, any negative
    value) as they are: dividing by a sum of mixed signs would reorder them."""
    proba = proba[:, columns]
    with np.errstate(invalid="ignore"):
        scores = bool((proba < 0).any())
    if scores or proba.shape[1] == 0:
        return proba
    total = proba.sum(axis=1, keepdims=True)
    empty = (total == 0).ravel()
    if empty.any():
        proba[empty] = 1.0
        total[empty] = proba.shape[1]
    proba /= total
    return proba


def _granularity_of(pruning):
    """The granularity the module is pruned at: its pruner's when built, else the callback's
    setting (a state loaded, or nothing pruned yet)."""
    from skscreen.pruning.pruner import WeightPruner

    pruner = pruning.pruner_
    if pruner is None:
        return pruning.granularity
    return "weight" if isinstance(pruner, WeightPruner) else "channel"


def _check_output_indices(y):
    """Labels of a net whose label encoding is unknown (a history loaded without it) must be
    output indices, as skorch trains on: other labels are refused naming the fix."""
    y = np.asarray(y)
    if y.size and (y.dtype.kind not in "iu" or y.min() < 0):
        shown = np.unique(y)[:5].tolist()
        raise ValueError(
            f"y holds labels {shown!r}, but this net does not know which module output each "
            "label trained (its history was loaded without them: saved by plain skorch, or "
            "labels with no JSON form). Pass y as output indices 0..n-1, load the history "
            "saved with the params (save_params(f_history=...)), or pickle the net."
        )
