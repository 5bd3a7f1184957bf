"""Small reference networks (torch): LeNet-300-100 and a generic MLP builder."""

from __future__ import annotations

from torch import nn

__all__ = ["make_mlp", "lenet_300_100"]


def make_mlp(n_inputs, hidden=(300, 100), n_classes=10, *, activation=nn.ReLU, dropout=0.0):
    """A ``nn.Sequential`` MLP: ``Flatten, [Linear, activation, (Dropout)] * len(hidden), Linear``.

    Outputs logits (use with ``nn.CrossEntropyLoss``).

    >>> make_mlp(64, (32,), 10)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=64, out_features=32, bias=True)
      (2): ReLU()
      (3): Linear(in_features=32, out_features=10, bias=True)
    )
    """
    layers = [nn.Flatten()]
    prev = int(n_inputs)
    for h in hidden:
        layers += [nn.Linear(prev, int(h)), activation()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        prev = int(h)
    layers.append(nn.Linear(prev, int(n_classes)))
    return nn.Sequential(*layers)


def lenet_300_100(n_inputs=784, n_classes=10):
    """LeNet-300-100 (LeCun et al. 1998): 784-300-100-10 with ReLU, 266,200 weights."""
    return make_mlp(n_inputs, (300, 100), n_classes)
