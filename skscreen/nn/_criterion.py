"""The classification loss convention: logits (CrossEntropyLoss) or probabilities (NLLLoss).

skorch's ``NeuralNetClassifier`` expects a module that ends in a softmax and trains it with
``NLLLoss`` on the log of the probabilities; most PyTorch code outputs logits for
``CrossEntropyLoss``. :class:`~skscreen.ScreeningPrunedNet` accepts both with its default
``criterion=AutoLoss`` (or ``"auto"``): deciding which one a module follows is this module's
job (one rule, applied to an output the net computed anyway); the net applies the decision.
``AutoLoss`` is also a working loss on its own, for code that builds the criterion itself
(skorch's ``initialized_instance(net.criterion, ...)`` in a user's ``initialize_criterion``).
"""

from __future__ import annotations

import torch

__all__ = ["AUTO", "AutoLoss", "looks_like_probabilities", "output_kind", "criterion_for_output"]

AUTO = "auto"

# CrossEntropyLoss parameters that NLLLoss does not take
_CE_ONLY = ("label_smoothing",)


def _is_auto(criterion):
    """``"auto"``, :class:`AutoLoss`, a subclass of it or an instance of either."""
    if isinstance(criterion, str):
        return criterion == AUTO
    if isinstance(criterion, type):
        return issubclass(criterion, AutoLoss)
    return isinstance(criterion, AutoLoss)


def auto_kwargs(criterion, params):
    """The parameters of the chosen loss: an :class:`AutoLoss` instance's own, then the net's
    ``criterion__*`` (which win)."""
    own = criterion.kwargs if isinstance(criterion, AutoLoss) else {}
    return {**own, **params}


def looks_like_probabilities(out, atol=1e-4):
    """Whether a batch of module outputs holds class probabilities.

    True when the output has a class dimension (dim 1) of two or more scores, every score is
    non-negative and each sample's scores sum to one (within ``atol``, widened to the
    rounding of half precisions): the output of a final softmax. Logits (any sign) and
    log-probabilities (non-positive) are not probabilities.

    Examples
    --------
    >>> import torch
    >>> looks_like_probabilities(torch.softmax(torch.randn(4, 3), dim=1))
    True
    >>> looks_like_probabilities(torch.randn(4, 3))
    False
    >>> looks_like_probabilities(torch.log_softmax(torch.randn(4, 3), dim=1))
    False
    """
    if not torch.is_tensor(out) or not out.is_floating_point() or out.ndim < 2:
        return False
    if out.shape[1] < 2 or out.numel() == 0:
        return False
    out = out.detach()
    # summed in float64, with room for the rounding of the output's own dtype: each
    # probability carries a relative error of eps/2, so the row sum is 1 within about eps
    # whatever the number of classes (a float16 softmax of 3 classes: ~3e-4)
    atol = max(atol, 4 * torch.finfo(out.dtype).eps)
    sums = out.to(torch.float64).sum(dim=1)
    return bool((out >= 0).all()) and bool(
        torch.allclose(sums, torch.ones_like(sums), atol=atol, rtol=0)
    )


def output_kind(out):
    """``"probabilities"`` for outputs :func:`looks_like_probabilities` accepts, else
    ``"logits"``."""
    return "probabilities" if looks_like_probabilities(out) else "logits"


def criterion_for_output(output_kind, kwargs):
    """The loss for a module's output kind (``"logits"`` or ``"probabilities"``).

    ``kwargs`` are the user's ``criterion__*`` parameters; a parameter the chosen loss does
    not take is refused with the fix.
    """
    if output_kind == "logits":
        return torch.nn.CrossEntropyLoss(**kwargs)
    bad = [k for k in _CE_ONLY if k in kwargs]
    if bad:
        raise ValueError(
            f"The module outputs probabilities (a final softmax), so criterion='auto' trains "
            f"it with NLLLoss, which has no parameter {bad[0]!r} (criterion__{bad[0]}). Remove "
            "the final softmax to train on logits with CrossEntropyLoss, or drop the parameter."
        )
    return torch.nn.NLLLoss(**kwargs)


class AutoLoss(torch.nn.Module):
    """The classification loss for either convention, decided from the first outputs.

    ``NLLLoss`` on the log of the outputs when they are probabilities (a module ending in
    softmax: skorch's convention), ``CrossEntropyLoss`` on logits otherwise
    (:func:`looks_like_probabilities`). Keyword arguments go to the chosen loss.

    :class:`~skscreen.ScreeningPrunedNet` (whose default criterion this is; an instance or a
    subclass works the same) makes the same decision itself, exposes the concrete loss as
    ``criterion_`` and applies the matching ``predict_proba``. Instantiated directly, as a
    user's ``initialize_criterion`` may do, this class decides at its first call and records
    it in ``output_`` (``"probabilities"`` or ``"logits"``) and ``loss_`` (not a submodule:
    the state dict stays empty, so ``save_params``/``load_params`` round-trip). With a plain
    skorch net, which cannot know the decision, pass ``predict_nonlinearity`` for a logits
    module (skorch applies none for an unknown criterion).

    Examples
    --------
    >>> import torch
    >>> from skscreen.nn import AutoLoss
    >>> logits, y = torch.randn(4, 3), torch.tensor([0, 2, 1, 0])
    >>> loss = AutoLoss()
    >>> bool(torch.isclose(loss(torch.softmax(logits, 1), y),
    ...                    torch.nn.functional.cross_entropy(logits, y)))
    True
    >>> loss.output_
    'probabilities'
    """

    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs
        self.output_ = None
        self.__dict__["loss_"] = None

    def forward(self, y_pred, y_true):
        if self.loss_ is None:
            self.output_ = output_kind(y_pred)
            # kept out of the submodules: it exists after the first call only, and a state
            # dict saved before it must load into one made after it (and the other way)
            self.__dict__["loss_"] = criterion_for_output(self.output_, self.kwargs).to(
                y_pred.device
            )
        if self.output_ == "probabilities":
            y_pred = torch.log(y_pred + torch.finfo(y_pred.dtype).eps)  # as skorch does
        return self.loss_(y_pred, y_true)
