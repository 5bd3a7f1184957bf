"""Alternative readings of the per-connection screening feature (an experiment, issue 13).

The library's weight-level screening (WLS) scores connection ``w_ji`` by the ANOVA F of its
contribution ``w_ji * a_i``; with the weight fixed over the statistics epoch that is the F of
the input unit, ``F(a_i)``, the same for a whole column of the weight matrix. Pure screening
(alpha = 1) then selects *input units*, not connections, and costs ~22 % test error on MNIST
at 95.7 % sparsity where the paper reports 6.46 %. The paper describes "a feature matrix of
size n x p ... p the number of features (i.e. connections, weights, channels)" built at every
training batch. Two readings give a feature that differs along a column:

``"moving-weight"``
    ``w_ji(t) * a_i``, with the weight *at the batch it was seen in* (SGD moves it during the
    epoch). A weight that drifts or changes sign mixes its class means and scores lower.
``"gradient"``
    the per-sample gradient ``delta_j * a_i`` of the loss with respect to ``w_ji`` (``delta_j``
    the gradient at the layer's output), the connection's per-sample training signal. The
    criterion is assumed to average over the batch (skorch's default): the output gradient
    is multiplied by the batch size to undo it.

Both are collected by :class:`ConnectionStats` (a skorch callback: per-class sums and sums of
squares of the feature, float64, reset every epoch) and ranked by :class:`ConnectionFScorer`
as a :class:`skscreen.pruning.HybridScreeningScorer` whose screening component is that F. This
lives in ``benchmarks/`` because it is an experiment on the reading, not a library feature.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np
import torch
from skorch.callbacks import Callback

from skscreen.pruning.scorers import HybridScreeningScorer

READINGS = ("moving-weight", "gradient")
# token -> ConnectionStats: the scorer is deep-copied by the pruning callback, so it finds its
# statistics by name; weak, so a finished run's statistics are freed with its net
_REGISTRY = weakref.WeakValueDictionary()
_tokens = itertools.count()


def connection_f(n, s, q):
    """ANOVA F per connection from per-class counts ``n`` (K,), sums ``s`` and squares ``q``
    (K, out, in); nan (constant feature) -> 0, inf -> twice the largest finite value."""
    k = int((n > 0).sum())  # classes present, as f_classif counts them
    nt = n.sum()
    nc = n.reshape(-1, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(nc > 0, s / np.maximum(nc, 1), 0.0)
        grand = s.sum(axis=0) / nt
        ssb = (nc * (means - grand) ** 2).sum(axis=0)
        ssw = (q - nc * means**2).sum(axis=0)
        ssw = np.maximum(ssw, 0.0)
        f = (ssb / (k - 1)) / (ssw / (nt - k))
    f = np.where(np.isnan(f), 0.0, f)
    finite = f[np.isfinite(f)]
    top = finite.max() if finite.size else 1.0
    return np.where(np.isinf(f), max(top, 1.0) * 2.0, f)


class ConnectionStats(Callback):
    """Per-class moments of a per-connection feature of every ``Linear`` layer, per epoch."""

    def __init__(self, reading, n_classes):
        if reading not in READINGS:
            raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")
        self.reading = reading
        self.n_classes = n_classes
        self.token = f"{reading}-{next(_tokens)}"
        _REGISTRY[self.token] = self

    def initialize(self):
        self.stats_ = {}
        self._handles = []
        self._y = None
        return self

    def on_train_begin(self, net, **kwargs):
        for h in self._handles:
            h.remove()
        self._handles = [
            m.register_forward_hook(self._hook(name))
            for name, m in net.module_.named_modules()
            if isinstance(m, torch.nn.Linear)
        ]

    def on_train_end(self, net, **kwargs):
        for h in self._handles:
            h.remove()
        self._handles = []

    def on_epoch_begin(self, net, **kwargs):
        self.stats_ = {}

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self._y = torch.as_tensor(batch[1]).long() if training else None

    def on_batch_end(self, net, **kwargs):
        self._y = None

    def _acc(self, name, shape, device):
        if name not in self.stats_:
            k = self.n_classes
            z = dict(dtype=torch.float64, device=device)
            self.stats_[name] = [
                torch.zeros(k, **z),
                torch.zeros((k, *shape), **z),
                torch.zeros((k, *shape), **z),
            ]
        return self.stats_[name]

    def _hook(self, name):
        def hook(module, inputs, output):
            y = self._y
            if y is None or not module.training:
                return
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()
            if x.shape[0] != y.shape[0]:
                return
            y = y.to(x.device)
            onehot = torch.nn.functional.one_hot(y, self.n_classes).double()
            acc = self._acc(name, tuple(module.weight.shape), x.device)
            acc[0] += onehot.sum(0)
            if self.reading == "moving-weight":
                w = module.weight.detach().double()
                sx = onehot.T @ x  # (K, in)
                sx2 = onehot.T @ (x * x)
                acc[1].addcmul_(w.expand_as(acc[1]), sx[:, None, :])
                acc[2].addcmul_((w * w).expand_as(acc[2]), sx2[:, None, :])
            else:

                def grad_hook(g, x=x, y=y, acc=acc):
                    # the criterion averages over the batch: times the batch size is the
                    # per-sample gradient (a smaller last batch is not up-weighted)
                    g = g.detach().reshape(-1, g.shape[-1]).double() * y.shape[0]
                    for c in torch.unique(y).tolist():
                        rows = y == c
                        gc, xc = g[rows], x[rows]
                        acc[1][c].addmm_(gc.T, xc)
                        acc[2][c].addmm_((gc * gc).T, xc * xc)

                output.register_hook(grad_hook)

        return hook

    def f_scores(self, name):
        n, s, q = (t.cpu().numpy() for t in self.stats_[name])
        return connection_f(n, s, q)


class ConnectionFScorer(HybridScreeningScorer):
    """``alpha * norm(F of the connection feature) + (1 - alpha) * norm(|w|)``: the library's
    hybrid with its screening component read from :class:`ConnectionStats`."""

    requires = frozenset()  # the statistics come from ConnectionStats, not the pruner

    def __init__(self, token, alpha=0.5, normalize="minmax", normalize_scope=None):
        super().__init__(alpha, normalize, normalize_scope)
        self.token = token

    @property
    def needs_input_stats(self):
        return False

    def screening_scores(self, layers):
        stats = _REGISTRY[self.token]
        out = []
        for lv in layers:
            if lv.name not in stats.stats_:
                raise RuntimeError(f"no connection statistics for layer {lv.name!r}")
            f = stats.f_scores(lv.name)
            out.append(torch.as_tensor(f, dtype=torch.float64, device=lv.weight.device))
        return out
