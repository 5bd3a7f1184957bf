"""Helpers of the weight-level pruning tests on real-architecture patterns (plain torch loop,
no skorch): a WeightPruner with the tests' defaults, one recorded forward pass, the F of a
recorded unit, a training loop that prunes at each epoch end."""

import numpy as np
import torch
from torch import nn

from skscreen.pruning import WeightPruner
from skscreen.pruning.masks import MaskEnforcer
from skscreen.pruning.schedules import make_schedule
from skscreen.pruning.scorers import HybridScreeningScorer
from skscreen.stats import anova_f


def _pruner(model, sparsity=0.8, alpha=0.5, prune_epochs=2, **kw):
    scorer = kw.pop("scorer", None) or HybridScreeningScorer(alpha=alpha)
    return WeightPruner(
        model,
        scorer,
        kw.pop("schedule", make_schedule("logistic")),
        sparsity=sparsity,
        prune_epochs=prune_epochs,
        n_classes=kw.pop("n_classes", 3),
        **kw,
    )


def _record(pruner, model, x, y):
    """One training forward pass with labels: what the hooks see in a training loop."""
    pruner.attach_hooks()
    model.train()
    pruner.set_targets(y)
    with torch.no_grad():
        model(x)
    pruner.set_targets(None)


def _f(pruner, name):
    f, _ = anova_f(pruner.recorder.moments_of(name), warn_constant=False)
    return np.asarray(f)


def _train(model, pruner, x, y, optimizer="sgd", epochs=3, batches=2, enforcer=True):
    """A plain torch loop: labels to the hooks, optimizer steps, prune at each epoch end."""
    params = list(model.parameters())
    opt = (
        torch.optim.SGD(params, lr=0.05, momentum=0.9)
        if optimizer == "sgd"
        else torch.optim.Adam(params, lr=0.01)
    )
    guard = MaskEnforcer().attach(list(pruner.layers.values()), opt) if enforcer else None
    pruner.attach_hooks()
    for epoch in range(1, epochs + 1):
        model.train()
        for _ in range(batches):
            pruner.set_targets(y)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            pruner.set_targets(None)
            if guard is None:
                pruner.enforce()
        pruner.step(epoch, opt)
    pruner.remove_hooks()
    if guard is not None:
        guard.remove()
    return model.eval()
