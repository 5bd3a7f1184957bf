"""Fast accumulation of many small torch batches (training loops), convertible to ClassMoments.

Merging every mini-batch into :class:`ClassMoments` costs a dozen tiny tensor operations per
layer and batch, a measurable share of a small network's training step.
:class:`DeferredMoments` instead keeps references to the batches and folds them in blocks
of about ``block_rows`` rows, in float64, into one :class:`ClassMoments` state, by one of
three paths chosen at the first fold (then kept; the small path hands later blocks to the
kernel's):

* CPU blocks go through the same one-pass per-class pivot kernel as the screener
  (:mod:`skscreen.stats._kernels`, compiled with numba when installed), on a zero-copy numpy
  view of the block: one read of the block, no float64 copy of it; in a persistent
  background thread (the kernel releases the GIL), so the training step goes on meanwhile;
  reading the state (:meth:`~DeferredMoments.to_moments`, ``n_samples``, pickling) waits
  for it. The state is a numpy :class:`ClassMoments`.
* Blocks on another device (GPU) stay there: :class:`ClassMoments`' torch update (class
  sums, then centred squares, float64), with no copy to the host and no synchronisation.
* A small CPU block (under 2**17 values) that is read at once (a small network's epoch
  never fills a block) is folded in the reading thread by two numpy passes (class sums,
  then centred squares): cheaper than the kernel's set-up, a hand-over to the worker or
  torch's per-operation dispatch. The state is a numpy :class:`ClassMoments`, as on the
  kernel path, which takes over for blocks with non-finite values or deviations near the
  ends of the float64 range (it keeps those in units of a power of two).

A training loop that knows its epoch's length passes the rows still to come with each batch
(``update``'s ``rows_left``; :class:`~skscreen.pruning.hooks.InputStatsRecorder` does, from
the training set's ``len``): the epoch's last rows are then folded in the background in
halving blocks, and the read at the epoch's end waits for a few dozen rows instead of up to
a whole block. On LeNet-300-100 (10,000 MNIST rows, batches of 64) the pruning step's reads
went from about 4 ms to 1 ms with numba, and from about 9 ms to 2 ms on the numpy path.

:meth:`~DeferredMoments.to_moments` gives one array type per device: numpy for batches on
the CPU, torch tensors on the batches' device otherwise. All paths are exact to about 1e-12
relative (the tests check agreement with :class:`ClassMoments` to 1e-10 on data with an
offset 1e4 times its spread and classes far apart), and all give ``nan`` statistics, in
every class, to a feature that received NaN or inf (diverged activations).
"""

from __future__ import annotations

import copy

import numpy as np

from skscreen.stats._kernels import LazyWorker
from skscreen.stats._moments import ClassMoments

__all__ = ["DeferredMoments"]

# One persistent worker for CPU folds (the kernel releases the GIL): a training step goes on
# while the previous block is folded, on the other core; one worker keeps the folds in
# submission order, so each state has a single writer.
_FOLD_WORKER = LazyWorker("skscreen-fold")

# below this many values, a CPU block folded when the state is read takes two numpy passes
# (about 0.05 ms for 700 x 20 values, against 0.2 ms through the kernel's set-up or torch)
_SMALL_FOLD = 1 << 17
# an early fold (update's rows_left) holds at least this many values: an epoch under it is
# left to the read (one small pass); half the small fold, so that an epoch just over it is
# still folded in two halves, one early
_EARLY_FOLD = _SMALL_FOLD // 2
# a small block whose deviations from its first row stay below 2^240, and whose classes'
# centred sums of squares are either 0 (constant) or at least 2^-480, needs no power-of-two
# units: squares and sums of up to 2^17 of them stay far inside float64's range (the
# kernel rescales beyond 2^600 and below 2^-600)
_SAFE_DEVIATION = 2.0**240


class DeferredMoments:
    """Per-class moments of torch batches, gathered and folded in blocks.

    :meth:`update` only keeps a reference to the (detached) batch; once ``block_rows`` rows
    are pending, they are concatenated and folded into the float64 state. A training loop
    thus pays no tensor operation per batch for the statistics, only one fold per block.
    References are safe to keep: autograd forbids in-place changes of a tensor a layer saved
    for its backward pass, and the layer input is such a tensor. The batches themselves are
    never modified.

    Parameters
    ----------
    n_classes : int
    block_rows : int, default=4096

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skscreen.stats import DeferredMoments, ClassMoments, anova_f
    >>> X, y = torch.randn(200, 3), torch.randint(0, 2, (200,))
    >>> acc = DeferredMoments(2, block_rows=64)
    >>> for a in range(0, 200, 32):
    ...     _ = acc.update(X[a:a + 32], y[a:a + 32])
    >>> ref = ClassMoments().update(X.numpy(), y.numpy())
    >>> bool(np.allclose(anova_f(acc.to_moments())[0], anova_f(ref)[0], rtol=1e-10))
    True
    """

    def __init__(self, n_classes, block_rows=4096):
        self.n_classes = int(n_classes)
        self.block_rows = int(block_rows)
        self._state = None  # ClassMoments: numpy (kernel path) or torch (torch path)
        self._by_torch = None  # the path, chosen at the first fold
        self._nonfinite = None  # kernel path: features that received NaN/inf
        self._pending = []
        self._pending_rows = 0
        self._future = None  # the CPU fold in flight

    def _wait(self):
        """Wait for the CPU fold in flight (and raise its error, if any)."""
        future, self._future = self._future, None
        if future is not None:
            future.result()

    @property
    def n_samples(self):
        self._wait()
        done = 0.0 if self._state is None else self._state.n_samples
        return done + self._pending_rows

    def update(self, X, y, rows_left=None):
        """Add a batch: ``X`` (b, p) tensor, ``y`` (b,) integer class indices (same device).

        ``rows_left``: about how many more rows will come before the state is read (a hint:
        the statistics do not depend on it). The pending rows are then folded in the
        background as soon as they are at least the rows still to come (and hold
        ``2**16`` values or more; CPU batches only), so that the fold left to the reading
        thread, which waits for it, shrinks geometrically: after an epoch of 10,000 rows
        of 784 features in batches of 64, the read folds 80 rows instead of 1,808. An epoch
        of fewer than ``2**16`` values is left to the read, which folds it in one cheap pass
        (one of ``2**16`` to ``2**17`` values, which the read would also fold in that pass,
        is folded early, in the background, with the kernel).
        """
        self._pending.append((X.detach(), y.detach()))
        n = self._pending_rows = self._pending_rows + X.shape[0]
        if n >= self.block_rows or (
            rows_left is not None
            and n >= rows_left
            and X.device.type == "cpu"  # a device's folds are asynchronous already
            and n * (X.shape[1] if X.ndim == 2 else 1) >= _EARLY_FOLD
        ):
            self.flush()
        return self

    def flush(self, wait=False):
        """Fold the pending batches into the state (CPU blocks in the background, unless
        ``wait``: then here, after the fold in flight)."""

        if not self._pending:
            return self
        pending = self._pending
        self._pending, self._pending_rows = [], 0
        if self._by_torch is None:
            on_cpu = pending[0][0].device.type == "cpu"
            self._by_torch = not on_cpu
            if on_cpu and wait and sum(x.numel() for x, _ in pending) < _SMALL_FOLD:
                # small and read at once (a small network's epoch): two numpy passes,
                # cheaper than the kernel's set-up or torch's per-operation dispatch
                previous, self._future = self._future, None
                if previous is not None:
                    previous.result()
                state = _small_cpu_state(*_joined(pending), self.n_classes)
                if state is not None:
                    self._state = state
                    return self
                self._fold_cpu_batches(pending, None)  # extreme or non-finite: the kernel
                return self
        if self._by_torch:
            X, y = _joined(pending)
            if self._state is None:
                self._state = ClassMoments(np.arange(self.n_classes))
            # NaN/inf in a block reach its class sums: found on the state when it is read
            self._state.update(X, y.long(), n_classes=self.n_classes)
        elif wait:
            # the state is read next: a hand-over to the worker and back would only add its
            # wake-up latency
            previous, self._future = self._future, None
            self._fold_cpu_batches(pending, previous)
        else:
            # in the background: the training thread only hands over references
            previous = self._future
            self._future = _FOLD_WORKER.get().submit(self._fold_cpu_batches, pending, previous)
        return self

    def _fold_cpu_batches(self, pending, previous):

        if previous is not None:
            previous.result()  # an earlier fold's error surfaces here too
        self._fold_cpu(*_joined(pending))

    def _fold_cpu(self, X, y):
        Xn, yn = _as_numpy(X, y)
        Xn = np.ascontiguousarray(Xn)  # a view: the kernel only reads it
        if self._state is None:
            self._state = ClassMoments(np.arange(self.n_classes))
        try:
            self._state.update(Xn, yn)
        except ValueError:
            bad = ~np.isfinite(Xn).all(axis=0)
            if not bad.any():
                raise
            # diverged activations: those features' statistics become nan (as the sums
            # would), the others stay exact
            self._nonfinite = bad if self._nonfinite is None else self._nonfinite | bad
            self._state.update(np.where(bad, 0.0, Xn), yn)

    def to_moments(self):
        """The statistics so far, as a :class:`ClassMoments` in the data's units: numpy for
        batches on the CPU, torch tensors on the batches' device otherwise (a copy)."""
        self.flush(wait=True)
        self._wait()
        if self._state is None:
            return ClassMoments(np.arange(self.n_classes))
        if self._state.is_torch:
            import torch

            s = self._state
            # a feature that received NaN/inf has a non-finite mean in its class: nan in all
            # (finite values whose squares overflow keep their inf M2, as on the kernel path);
            # one code path for every device: new tensors on a shallow copy (a deep copy of
            # the state costs more than the small epochs' fold), numpy at the end on the CPU
            bad = ~torch.isfinite(s.mean_).all(0)
            out = copy.copy(s)
            out.mean_ = s.mean_.masked_fill(bad, float("nan"))
            out.m2_ = s.m2_.masked_fill(bad, float("nan"))
            return out.numpy() if s.count_.device.type == "cpu" else out.copy()
        out = self._state.in_data_units()
        bad = self._nonfinite
        if bad is not None:
            out.mean_[:, bad] = np.nan
            out.m2_[:, bad] = np.nan
        return out

    def __getstate__(self):
        self.flush(wait=True)
        self._wait()
        state = dict(self.__dict__)
        state["_future"] = None
        return state


def _as_numpy(X, y):
    """Numpy views of a CPU block (half precisions as float32) and its labels as ``intp``."""
    import torch

    if X.dtype not in (torch.float32, torch.float64):
        X = X.float()  # half precisions have no numpy view
    return X.numpy(), y.numpy().astype(np.intp, copy=False)


def _small_cpu_state(X, y, n_classes):
    """The :class:`ClassMoments` (numpy) of one small CPU block, or None where the kernel
    must fold it: non-finite values, or deviations near the ends of the float64 range, which
    the kernel keeps in units of a power of two.

    Two passes in float64 relative to the first row (class sums, then centred squares
    around the class means), as the torch path computes them.
    """
    Xn, yn = _as_numpy(X, y)
    state = ClassMoments(np.arange(n_classes))
    if yn.size == 0:
        return state  # only empty batches: nothing to fold, no first row to shift by
    if yn.min() < 0 or yn.max() >= n_classes:
        return None  # the kernel's path names the labels outside the classes
    shift = Xn[0].astype(np.float64)
    with np.errstate(all="ignore"):  # non-finite values are detected below, then refolded
        D = Xn - shift  # float64
        onehot = np.zeros((yn.shape[0], n_classes))
        onehot[np.arange(yn.shape[0]), yn] = 1.0
        count = np.bincount(yn, minlength=n_classes).astype(np.float64)
        mean = (onehot.T @ D) / np.maximum(count, 1.0)[:, None]
        dev = D - mean.take(yn, axis=0)
        m2 = onehot.T @ (dev * dev)
        # every |x - shift| is at most |class mean| + sqrt(class M2): a bound from the small
        # (classes, features) arrays instead of another pass over the block
        bound = np.abs(mean) + np.sqrt(m2)
        # deviations whose squares may underflow: a non-zero sum of |x - mean| in a class
        # with a tiny (or underflowed) M2
        tiny = (m2 < _SAFE_DEVIATION**-2) & ((onehot.T @ np.abs(dev)) > 0)
    if not (np.isfinite(bound).all() and bound.max() <= _SAFE_DEVIATION) or tiny.any():
        return None
    state.shift_, state.count_, state.mean_, state.m2_ = shift, count, mean, m2
    return state


def _joined(pending):
    """One ``(X, y)`` block from the pending ``(X, y)`` batches (a single batch as it is)."""
    import torch

    xs, ys = zip(*pending)
    if len(xs) == 1:
        return xs[0], ys[0]
    return torch.cat(xs), torch.cat(ys)
