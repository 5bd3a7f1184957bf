"""Forward hooks that feed per-class moments of layer inputs into the statistics core.

Only training forward passes that were given labels (via :meth:`set_targets`) are
recorded, on the model's device, with no extra pass over the data.
"""

from __future__ import annotations

import torch

from skscreen.pruning.distributed import ReducedMoments, reduce_moments
from skscreen.stats import DeferredMoments

__all__ = ["InputStatsRecorder", "as_samples"]

_REDUCTIONS = ("last", "channels", "flat")


def as_samples(x, targets, mode):
    """``(samples, features)`` view of a recorded tensor and the label of each sample.

    Returns ``(None, None)`` when the tensor does not belong to the labelled batch.

    >>> import torch
    >>> x = torch.arange(12.0).reshape(2, 3, 2)  # (batch, positions, features)
    >>> s, y = as_samples(x, torch.tensor([0, 1]), "last")
    >>> s.shape, y.tolist()
    (torch.Size([6, 2]), [0, 0, 0, 1, 1, 1])
    """
    n = targets.shape[0]
    if mode == "last" and x.ndim > 2:
        lead = x.shape[:-1]
        dims = [d for d, size in enumerate(lead) if size == n]
        if not dims:
            return None, None
        shape = [1] * len(lead)
        shape[dims[0]] = n
        labels = targets.reshape(shape).expand(lead).reshape(-1)
        return x.reshape(-1, x.shape[-1]), labels
    if x.ndim == 0 or x.shape[0] != n:
        return None, None
    if mode == "channels" and x.ndim > 2:
        x = x.mean(dim=tuple(range(2, x.ndim)))
    return x.reshape(n, -1), targets


class InputStatsRecorder:
    """Per-class moments of the inputs of some modules, collected during training.

    Parameters
    ----------
    modules : dict of str to torch.nn.Module
        Modules whose input (or output) is recorded.
    n_classes : int
        Number of classes; batch labels are integer indices in ``[0, n_classes)``.
    source : {"input", "output"}, default="input"
        Record each module's input (weight-level criteria) or output (channels of a
        BatchNorm layer).
    channel_mean : bool, default=False
        Shorthand for ``reduce="channels"``.
    reduce : {"last", "channels", "flat"} or dict of str to such, default=None
        How a recorded tensor becomes ``(samples, features)``, for all modules or per module
        name:

        * ``"last"`` (default unless ``channel_mean``): the features are the last dimension
          and *every leading position is a sample* — what a ``Linear`` sees on
          ``(N, ..., C)`` input (sequences, channels-last images). The batch dimension is the
          first leading dimension whose size is the number of labels; the labels are repeated
          over the other leading positions.
        * ``"channels"``: ``(batch, channels, *spatial)`` reduced to the per-sample spatial
          mean of each channel (convolution inputs, BatchNorm outputs).
        * ``"flat"``: everything after the batch dimension flattened into features.
    post_relu : bool, default=False
        Apply ``relu`` before reducing (statistics of the post-activation).
    track_class : bool, default=True
        Keep per-class moments of the input (screening criteria).
    track_abs : bool, default=False
        Keep the (class-pooled) moments of ``|input|`` (activation-statistics criteria).

    Examples
    --------
    >>> import torch
    >>> from skscreen.pruning.hooks import InputStatsRecorder
    >>> lin = torch.nn.Linear(3, 2)
    >>> rec = InputStatsRecorder({"lin": lin}, n_classes=2)
    >>> rec.set_targets(torch.tensor([0, 1, 1, 0]))
    >>> _ = lin(torch.randn(4, 3))
    >>> rec.moments_of("lin").n_samples
    4.0
    >>> rec.remove()  # hooks live only while training: detach them afterwards
    """

    _rows_left = None  # (also for a recorder pickled before expect_rows existed)

    def __init__(
        self,
        modules,
        n_classes,
        *,
        source="input",
        channel_mean=False,
        post_relu=False,
        track_class=True,
        track_abs=False,
        reduce=None,
    ):
        if source not in ("input", "output"):
            raise ValueError(f"source must be 'input' or 'output', got {source!r}.")
        if reduce is None:
            reduce = "channels" if channel_mean else "last"
        for mode in reduce.values() if isinstance(reduce, dict) else [reduce]:
            if mode not in _REDUCTIONS:
                raise ValueError(f"reduce must be one of {_REDUCTIONS}, got {mode!r}.")
        self.reduce = reduce
        self.n_classes = int(n_classes)
        self.source = source
        self.channel_mean = channel_mean
        self.post_relu = post_relu
        self.track_class = track_class
        self.track_abs = track_abs
        self.enabled = True
        self._targets = None
        self._recorded = False  # whether a forward pass took the current targets
        self._rows_left = None  # rows of the epoch after the current batch (a hint), if known
        self._handles = []
        self.accumulators = {}
        self.abs_accumulators = {}
        self.attach(modules)

    def attach(self, modules):
        """Register the forward hooks on ``modules`` (replacing any previous ones)."""
        self.remove()
        # the recorded units, in order: the same on every rank (see reduce_across_ranks)
        self.names = list(modules)
        for name, module in modules.items():
            self._handles.append(module.register_forward_hook(self._make_hook(name)))
        return self

    def mode_of(self, name):
        """The reduction (see ``reduce``) used for module ``name``."""
        reduce = self.reduce
        if isinstance(reduce, dict):
            return reduce.get(name, "last")
        return reduce

    def _make_hook(self, name):
        return _RecorderHook(self, name)

    def _record(self, name, module, inputs, output):
        """The forward hook of module ``name``: add its batch to the statistics."""
        mode = self.mode_of(name)
        if not (self.enabled and module.training and self._targets is not None):
            return
        x = (inputs[0] if self.source == "input" else output).detach()
        if self.post_relu:
            x = x.clamp_min(0)
        samples, labels = as_samples(x, self._targets, mode)
        if samples is None:
            return  # not the batch the targets belong to
        if self.source == "output" and samples.untyped_storage().data_ptr() == (
            x.untyped_storage().data_ptr()
        ):
            # a module's output is not saved by autograd: an in-place op after it (BatchNorm
            # -> ReLU(inplace=True)) would change it before the deferred fold reads it
            samples = samples.clone()
        left = self._rows_left
        if left is not None:  # in samples: a batch row may give several (sequences)
            left = left * (samples.shape[0] // max(1, self._targets.shape[0]))
        self._recorded = True
        if self.track_class:
            if name not in self.accumulators:
                self.accumulators[name] = DeferredMoments(self.n_classes)
            self.accumulators[name].update(samples, labels, rows_left=left)
        if self.track_abs:
            # |x| before any spatial mean: the mean magnitude of the input channel
            abs_samples, _ = as_samples(x.abs(), self._targets, mode)
            if name not in self.abs_accumulators:
                self.abs_accumulators[name] = DeferredMoments(1)
            self.abs_accumulators[name].update(
                abs_samples, self._zeros(abs_samples.shape[0], x.device), rows_left=left
            )

    def reduce_across_ranks(self, group=None):
        """Replace this rank's statistics by those of every rank's batches (a collective).

        Under ``torch.distributed`` each rank records only its shard; after this call every
        rank holds the moments of the global batches (see :mod:`skscreen.pruning.distributed`),
        read-only until :meth:`reset`. Every rank must call it at the same point.
        """
        names = getattr(self, "names", None) or sorted({*self.accumulators, *self.abs_accumulators})
        for attr, wanted in (
            ("accumulators", self.track_class),
            ("abs_accumulators", self.track_abs),
        ):
            if not wanted:
                continue
            local = getattr(self, attr)
            reduced = reduce_moments(
                {n: local[n].to_moments() if n in local else None for n in names}, group
            )
            setattr(self, attr, {n: ReducedMoments(m) for n, m in reduced.items() if m is not None})
        return self

    def set_targets(self, y):
        """Labels (integer class indices) of the batch about to go through the model."""
        self._targets = None if y is None else y.reshape(-1).long()
        self._recorded = False
        if y is not None and self._rows_left is not None:
            left = self._rows_left - self._targets.shape[0]
            self._rows_left = left if left >= 0 else None  # more batches than announced

    def expect_rows(self, n_rows):
        """Announce the training rows (labels) of the epoch about to start, or None.

        Only a hint for when the statistics are folded (see
        :meth:`~skscreen.stats.DeferredMoments.update`'s ``rows_left``): the epoch's last
        rows are folded in the background as the epoch ends, so that reading them waits
        little. The statistics do not depend on it.
        """
        self._rows_left = None if n_rows is None else int(n_rows)

    def reset(self):
        """Forget the statistics (called at the start of each epoch)."""
        self.accumulators = {}
        self.abs_accumulators = {}

    @staticmethod
    def _zeros(n, device):
        return torch.zeros(n, dtype=torch.long, device=device)

    def has_stats(self, name):
        """Whether per-class statistics of ``name`` were recorded since the last reset."""
        return name in self.accumulators

    def seen(self, name):
        """Whether ``name``'s hook recorded anything (either statistic) since the last reset."""
        return name in self.accumulators or name in self.abs_accumulators

    def moments_of(self, name):
        """The :class:`~skscreen.stats.ClassMoments` of ``name``'s input since the last reset."""
        return self.accumulators[name].to_moments()

    def abs_moments_of(self, name):
        """Moments of ``|input|`` of ``name`` since the last reset (one pooled class), or None."""
        acc = self.abs_accumulators.get(name)
        return None if acc is None else acc.to_moments()

    def remove(self):
        """Detach the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @property
    def attached(self):
        return bool(self._handles)

    @property
    def recorded(self):
        """Whether a forward pass recorded a batch with the current targets (a forward pass
        of another batch size, an extra unlabelled batch, takes none of them)."""
        return self.__dict__.get("_recorded", False)

    def __getstate__(self):
        # hook handles cannot be pickled; a restored recorder is detached (see attach)
        state = dict(self.__dict__)
        state["_handles"] = []
        state["_targets"] = None
        return state


class _RecorderHook:
    """Forward hook of one recorded module.

    Not kept by pickling (a net pickled mid-epoch restores a model without it; the
    recorder re-attaches its hooks at the next epoch).
    """

    def __init__(self, recorder, name):
        self.recorder, self.name = recorder, name

    def __call__(self, module, inputs, output):
        self.recorder._record(self.name, module, inputs, output)

    def __reduce__(self):
        return (_noop_hook_factory, ())


def _noop_hook(*args):
    return None


def _noop_hook_factory():
    """What a hook object pickles as (``__reduce__``): a no-op, so that a model pickled while
    hooks are attached (a checkpoint mid-epoch) restores without them acting."""
    return _noop_hook
