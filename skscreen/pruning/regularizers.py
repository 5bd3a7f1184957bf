"""Pruning-aware training penalties.

:class:`BatchNormL1` is network slimming's sparsity regularisation of the BatchNorm scales.

:class:`ContributionEntropy` is *inspired by* arXiv 2410.16151 ("pruning-aware
training"); the form is our reading: for each output unit ``j`` of a ``Linear`` layer,
the contributions ``c_ji = |w_ji| E_batch|a_i|`` are normalised to a distribution
``p_ji = c_ji / sum_i c_ji`` and its entropy ``H_j = -sum_i p_ji log p_ji`` is penalised
(mean over units, summed over layers). Low entropy means few inputs carry each unit, so
magnitude- or contribution-based pruning removes little. Gradients flow through the
weights only (batch activations are detached).
"""

from __future__ import annotations

import torch

__all__ = ["BatchNormL1", "ContributionEntropy"]


class ContributionEntropy:
    """Entropy of normalised contributions, from the current training batch.

    Parameters
    ----------
    modules : dict of str to torch.nn.Linear

    Examples
    --------
    >>> import torch
    >>> from skscreen.pruning.regularizers import ContributionEntropy
    >>> lin = torch.nn.Linear(4, 3)
    >>> reg = ContributionEntropy({"lin": lin})
    >>> _ = lin(torch.randn(8, 4))
    >>> pen = reg.penalty()
    >>> pen.backward()
    >>> bool(torch.isfinite(lin.weight.grad).all())
    True
    >>> reg.remove()
    """

    def __init__(self, modules):
        self.modules = dict(modules)
        self._abs_mean = {}
        self._handles = []
        self.attach()

    def attach(self):
        self.remove()
        for name, m in self.modules.items():
            self._handles.append(m.register_forward_hook(self._make_hook(name)))
        return self

    def _make_hook(self, name):
        def hook(module, inputs, output):
            if module.training:
                x = inputs[0].detach()
                self._abs_mean[name] = x.reshape(x.shape[0], -1).abs().mean(0)

        return hook

    def penalty(self):
        """Sum over layers of the mean entropy of the units' contribution distributions."""
        total = None
        for name, m in self.modules.items():
            a = self._abs_mean.get(name)
            if a is None:
                continue
            w = m.weight if not hasattr(m, "weight_orig") else m.weight_orig * m.weight_mask
            mask = getattr(m, "weight_mask", None)
            if mask is not None and not hasattr(m, "weight_orig"):
                w = w * mask
            c = w.abs() * a[None, :] + 1e-12
            p = c / c.sum(dim=1, keepdim=True)
            h = -(p * p.log()).sum(dim=1).mean()
            total = h if total is None else total + h
        self._abs_mean = {}
        if total is None:
            return torch.zeros(())
        return total

    def remove(self):
        for h in self._handles:
            h.remove()
        self._handles = []

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = []
        state["_abs_mean"] = {}
        return state


class BatchNormL1:
    """Network slimming's sparsity penalty: the sum of ``|gamma|`` over BatchNorm layers.

    Liu et al. (2017) add ``s * sum |gamma|`` (``s`` about 1e-5 to 1e-4) to the loss while
    training, so that unimportant channels get scales near zero before the one-shot global
    pruning; without it the scales of different layers are not on one footing.

    Parameters
    ----------
    modules : dict of str to BatchNorm module
        Looked up at every call, so channels removed in place are followed.

    Examples
    --------
    >>> import torch
    >>> from skscreen.pruning.regularizers import BatchNormL1
    >>> bn = torch.nn.BatchNorm2d(3)
    >>> with torch.no_grad():
    ...     _ = bn.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
    >>> reg = BatchNormL1({"bn": bn})
    >>> pen = reg.penalty()
    >>> pen.item()
    3.5
    >>> pen.backward()
    >>> bn.weight.grad.tolist()
    [1.0, -1.0, 1.0]
    """

    def __init__(self, modules):
        self.modules = dict(modules)

    def attach(self):
        return self

    def remove(self):
        """No hooks to remove (kept for the regulariser interface)."""

    def penalty(self):
        """``sum_layers sum_k |gamma_k|`` as a differentiable scalar."""
        terms = [m.weight.abs().sum() for m in self.modules.values() if m.weight is not None]
        if not terms:
            return torch.zeros(())
        return torch.stack(terms).sum()
