"""Pruning-aware training penalties.

:class:`BatchNormL1` is network slimming's sparsity regularisation of the BatchNorm scales.

:class:`ContributionEntropy` is *inspired by* arXiv 2410.16151 ("pruning-aware
training"); the form is our reading: for each output unit ``j`` of a ``Linear`` layer,
the contributions ``c_ji = |w_ji| E_batch|a_i|`` are normalised to a distribution
``p_ji = c_ji / sum_i c_ji`` and its entropy ``H_j = -sum_i p_ji log p_ji`` is penalised
(mean over units, summed over layers). Low entropy means few inputs carry each unit, so
magnitude- or contribution-based pruning removes little. Gradients flow through the
weights only (batch activations are detached).

Both act on the *gradient side*, as Torch-Pruning's ``regularize``: :meth:`attach_gradient`
puts a hook on each regularised parameter that adds ``strength * d penalty / d param`` to
its gradient in every backward pass. The training loop (a ``train_step`` override,
gradient accumulation, LBFGS closures) needs no change and the reported loss stays the
criterion's, comparable with the validation loss.
"""

from __future__ import annotations

import torch

from skscreen.pruning.hooks import _noop_hook_factory

__all__ = ["BatchNormL1", "ContributionEntropy"]


class _PenaltyGrad:
    """Tensor hook adding ``strength * d layer_penalty / d weight`` to the gradient."""

    __torch_unserializable__ = True

    def __init__(self, regularizer, name):
        self.regularizer, self.name = regularizer, name

    def __call__(self, grad):
        reg = self.regularizer
        module = reg.modules.get(self.name)
        if module is None or reg.strength == 0:
            return grad
        with torch.enable_grad():
            w = module.weight.detach().requires_grad_(True)
            pen = reg.layer_penalty(self.name, w)
            if pen is None:
                return grad
            (g,) = torch.autograd.grad(pen, w)
        reg.last_penalty[self.name] = float(pen.detach())
        return grad + reg.strength * g.to(grad.dtype)


class _AbsMeanHook:
    """Forward hook: the mean ``|input|`` of each input unit (channel, last-dim feature).

    Not kept by pickling (a checkpoint mid-epoch restores a model without it).
    """

    def __init__(self, regularizer, name):
        self.regularizer, self.name = regularizer, name

    def __call__(self, module, inputs, output):
        if module.training:
            x = inputs[0].detach()
            if isinstance(module, torch.nn.modules.conv._ConvNd):
                a = x.abs().transpose(0, 1).reshape(x.shape[1], -1).mean(1)
            else:  # Linear on (..., features): every leading position is a sample
                a = x.reshape(-1, x.shape[-1]).abs().mean(0)
            self.regularizer._abs_mean[self.name] = a

    def __reduce__(self):
        return (_noop_hook_factory, ())


class _GradientSide:
    """Shared plumbing: gradient hooks on the regularised weights, not picklable."""

    strength = 0.0

    def attach_gradient(self, strength):
        """Add ``strength`` times the penalty's gradient in every backward pass."""
        self.detach_gradient()
        self.strength = float(strength)
        self.last_penalty = {}
        for name, m in self.modules.items():
            w = getattr(m, "weight", None)
            if w is not None and w.requires_grad:
                self._grad_handles.append(w.register_hook(_PenaltyGrad(self, name)))
        return self

    def detach_gradient(self):
        for h in getattr(self, "_grad_handles", []):
            h.remove()
        self._grad_handles = []
        return self

    def penalty_value(self):
        """Sum of the layer penalties seen in the last backward pass (a float)."""
        return float(sum(getattr(self, "last_penalty", {}).values()))


class ContributionEntropy(_GradientSide):
    """Entropy of normalised contributions, from the current training batch.

    Parameters
    ----------
    modules : dict of str to torch.nn.Linear or convolution
        For a convolution, ``|a_i|`` is the mean ``|input|`` of channel ``i`` and the
        contribution of input channel ``i`` to output channel ``j`` uses the sum of
        ``|w|`` over the kernel (grouped convolutions: the channels of the group).

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
        self._grad_handles = []
        self.attach()

    def attach(self):
        self.remove()
        for name, m in self.modules.items():
            self._handles.append(m.register_forward_hook(self._make_hook(name)))
        return self

    def _make_hook(self, name):
        return _AbsMeanHook(self, name)

    def layer_penalty(self, name, weight):
        """Mean entropy of the contribution distributions of layer ``name`` for ``weight``.

        ``None`` when the layer has not seen a training batch since the last reset.
        """
        a = self._abs_mean.get(name)
        if a is None:
            return None
        module = self.modules[name]
        mask = getattr(module, "weight_mask", None)
        w = weight if mask is None else weight * mask
        w = w.abs()
        if w.ndim > 2:  # conv (out, in/groups, *kernel): a channel's weight is its kernel's sum
            w = w.flatten(2).sum(-1)
        groups = int(getattr(module, "groups", 1))
        out, per_group = w.shape
        a = a.to(w.dtype).reshape(groups, per_group).repeat_interleave(out // groups, dim=0)
        c = w * a + 1e-12
        p = c / c.sum(dim=1, keepdim=True)
        return -(p * p.log()).sum(dim=1).mean()

    def penalty(self):
        """Sum over layers of the mean entropy of the units' contribution distributions."""
        total = None
        for name, m in self.modules.items():
            w = m.weight if not hasattr(m, "weight_orig") else m.weight_orig
            h = self.layer_penalty(name, w)
            if h is None:
                continue
            total = h if total is None else total + h
        self._abs_mean = {}
        if total is None:
            return torch.zeros(())
        return total

    def remove(self):
        """Detach the forward hooks and the gradient hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.detach_gradient()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = []
        state["_grad_handles"] = []
        state["_abs_mean"] = {}
        return state


class BatchNormL1(_GradientSide):
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
        self._grad_handles = []

    def attach(self):
        return self

    def remove(self):
        """Detach the gradient hooks (there are no forward hooks)."""
        self.detach_gradient()

    def layer_penalty(self, name, weight):
        """``sum_k |gamma_k|`` of BatchNorm ``name`` for the scale tensor ``weight``."""
        return weight.abs().sum()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_grad_handles"] = []
        return state

    def penalty(self):
        """``sum_layers sum_k |gamma_k|`` as a differentiable scalar."""
        terms = [m.weight.abs().sum() for m in self.modules.values() if m.weight is not None]
        if not terms:
            return torch.zeros(())
        return torch.stack(terms).sum()
