"""Small reference networks (torch): LeNet-300-100 and a generic MLP builder."""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "make_mlp",
    "lenet_300_100",
    "small_vgg_bn",
    "SmallResNetBN",
    "PreResNet",
    "DenseNetCIFAR",
    "resnet164",
    "densenet40",
]


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


# ----------------------------------------------------------------------------- CIFAR models
class _PreActBottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in, planes, stride):
        super().__init__()
        c_out = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, c_out, 1, bias=False)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        out = self.conv1(torch.relu(self.bn1(x)))
        out = self.conv2(torch.relu(self.bn2(out)))
        out = self.conv3(torch.relu(self.bn3(out)))
        return out + (x if self.downsample is None else self.downsample(x))


class PreResNet(nn.Module):
    """Pre-activation ResNet with bottlenecks for CIFAR (He et al. 2016); ``depth=164``.

    The architecture of network slimming's CIFAR experiments (without its channel-selection
    layers: Torch-Pruning's dependency graph keeps the residual stream consistent instead).
    """

    def __init__(self, depth=164, n_classes=10):
        super().__init__()
        if (depth - 2) % 9:
            raise ValueError("depth must be 9n + 2 (e.g. 164).")
        n = (depth - 2) // 9
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        layers, c = [], 16
        for i, planes in enumerate((16, 32, 64)):
            for b in range(n):
                layers.append(_PreActBottleneck(c, planes, 2 if (i > 0 and b == 0) else 1))
                c = planes * 4
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        x = self.layers(self.conv1(x))
        x = torch.relu(self.bn(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class _DenseLayer(nn.Module):
    def __init__(self, c_in, growth):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(torch.relu(self.bn(x)))], 1)


class _Transition(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return nn.functional.avg_pool2d(self.conv(torch.relu(self.bn(x))), 2)


class DenseNetCIFAR(nn.Module):
    """DenseNet for CIFAR (Huang et al. 2017) without bottlenecks; ``depth=40, growth=12``."""

    def __init__(self, depth=40, growth=12, n_classes=10):
        super().__init__()
        if (depth - 4) % 3:
            raise ValueError("depth must be 3n + 4 (e.g. 40).")
        n = (depth - 4) // 3
        c = 2 * growth
        self.conv1 = nn.Conv2d(3, c, 3, padding=1, bias=False)
        blocks = []
        for i in range(3):
            for _ in range(n):
                blocks.append(_DenseLayer(c, growth))
                c += growth
            if i < 2:
                blocks.append(_Transition(c, c))
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        x = torch.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def resnet164(n_classes=10):
    """Pre-activation bottleneck ResNet-164 for CIFAR (network slimming's ResNet)."""
    return PreResNet(164, n_classes)


def densenet40(n_classes=10):
    """DenseNet-40 with growth rate 12 for CIFAR (network slimming's DenseNet)."""
    return DenseNetCIFAR(40, 12, n_classes)
