"""Small reference networks (torch): LeNet-300-100 and a generic MLP builder."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["make_mlp", "lenet_300_100", "small_vgg_bn", "SmallResNetBN"]


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


def small_vgg_bn(in_channels=1, n_classes=10, widths=(32, 64, 128), image_size=28):
    """A VGG-style CNN with BatchNorm for 28x28 images: ``[conv-BN-ReLU x2, pool]`` per stage.

    Trains on CPU in minutes on Fashion-MNIST; every conv is followed by a BatchNorm, so
    every conv's channels are prunable by channel-level screening.
    """
    layers, c = [nn.Unflatten(1, (in_channels, image_size, image_size))], in_channels
    size = image_size
    for w in widths:
        for _ in range(2):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        layers.append(nn.MaxPool2d(2))
        size //= 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes)]
    return nn.Sequential(*layers)


class _BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class SmallResNetBN(nn.Module):
    """A small ResNet with BatchNorm (3 stages of basic blocks) for 28x28 or 32x32 images."""

    def __init__(self, in_channels=1, n_classes=10, widths=(16, 32, 64), blocks=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers, c = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(_BasicBlock(c, w, 2 if (i > 0 and b == 0) else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x):
        if x.ndim == 2:  # flat 28x28 input
            x = x.view(x.shape[0], 1, 28, 28)
        x = torch.relu(self.bn(self.conv(x)))
        x = self.layers(x)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
