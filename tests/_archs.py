"""Small in-repo equivalents of the layer patterns of real architectures (for tests).

Each is a few thousand parameters and runs on an ``(N, C, 8, 8)`` image batch (``(N, 8, 16)``
sequence batch for the transformer layer) in milliseconds, so pruning tests can train them.
Shared by the channel-level and weight-level pruning tests.

=======================  =====================================================================
``ResidualBNCNN``        issue 9's CNN: stem Conv-BN-ReLU, ``relu(x + bn(conv(x)))``,
                         Conv-BN-pool-Linear (1x8x8 digits)
``GroupedConvNet``       ResNeXt/RegNet bottleneck: 1x1, grouped 3x3 (groups=4, not depthwise),
                         1x1, residual addition
``NewFirstDenseNet``     DenseNet layers that put the new channels first: ``cat([new, x])``
``ConcatBNNet``          two branches, one BatchNorm after ``cat([a, b])``
``SENet``                squeeze-and-excitation: ``x * sigmoid(fc(relu(fc(mean(x)))))``
``InvertedResidualNet``  MobileNetV2 block: expand 1x1, depthwise 3x3, project 1x1, residual
``ChannelShuffleNet``    ShuffleNetV2 unit: split, branch, concatenate, channel shuffle
``ConvNeXtBlockNet``     ConvNeXt block: depthwise 7x7, channels-last LayerNorm and Linears
                         on (N, H, W, C), layer scale, residual (no BatchNorm)
``TransformerNet``       one ``nn.TransformerEncoderLayer`` on (N, L, E), mean-pooled
=======================  =====================================================================

``ARCHS`` maps a name to ``(factory, input shape without the batch dimension)``.
"""

from __future__ import annotations

import torch
from torch import nn


def _cbr(c_in, c_out, k=3, groups=1):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class _Head(nn.Module):
    def __init__(self, c, n_classes):
        super().__init__()
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


class ResidualBNCNN(nn.Module):
    """Issue 9's residual BatchNorm CNN: widths 32 (stem and block) and 64."""

    def __init__(self, in_channels=1, n_classes=10, width=32):
        super().__init__()
        self.stem = _cbr(in_channels, width)
        self.conv = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.pool = nn.MaxPool2d(2)
        self.head = _Head(2 * width, n_classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.bn(self.conv(x)))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.head(x)


class GroupedConvNet(nn.Module):
    """A ResNeXt-style bottleneck with a grouped (non-depthwise) 3x3 convolution."""

    def __init__(self, in_channels=3, n_classes=10, width=16, inner=16, groups=4):
        super().__init__()
        self.stem = _cbr(in_channels, width)
        self.reduce = _cbr(width, inner, k=1)
        self.grouped = _cbr(inner, inner, k=3, groups=groups)
        self.expand = nn.Conv2d(inner, width, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.head = _Head(width, n_classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.bn(self.expand(self.grouped(self.reduce(x)))))
        return self.head(x)


class NewFirstDenseNet(nn.Module):
    """Dense layers that concatenate the new channels *before* the old: ``cat([new, x])``."""

    def __init__(self, in_channels=3, n_classes=10, stem=8, growth=4, n_layers=3):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, stem, 3, padding=1, bias=False)
        self.bns = nn.ModuleList()
        self.convs = nn.ModuleList()
        c = stem
        for _ in range(n_layers):
            self.bns.append(nn.BatchNorm2d(c))
            self.convs.append(nn.Conv2d(c, growth, 3, padding=1, bias=False))
            c += growth
        self.bn_final = nn.BatchNorm2d(c)
        self.head = _Head(c, n_classes)

    def forward(self, x):
        x = self.conv0(x)
        for bn, conv in zip(self.bns, self.convs):
            x = torch.cat([conv(torch.relu(bn(x))), x], 1)
        return self.head(torch.relu(self.bn_final(x)))


class ConcatBNNet(nn.Module):
    """Two Conv-BN branches whose outputs are concatenated and normalised by one BatchNorm."""

    def __init__(self, in_channels=3, n_classes=10, wa=6, wb=10):
        super().__init__()
        self.a = _cbr(in_channels, wa)
        self.b = _cbr(in_channels, wb)
        self.bn_cat = nn.BatchNorm2d(wa + wb)
        self.conv = nn.Conv2d(wa + wb, 12, 3, padding=1, bias=False)
        self.bn_out = nn.BatchNorm2d(12)
        self.head = _Head(12, n_classes)

    def forward(self, x):
        x = torch.relu(self.bn_cat(torch.cat([self.a(x), self.b(x)], 1)))
        return self.head(torch.relu(self.bn_out(self.conv(x))))


class SENet(nn.Module):
    """A Conv-BN block gated by squeeze-and-excitation (two Linears on the channel means)."""

    def __init__(self, in_channels=3, n_classes=10, width=16, reduction=4):
        super().__init__()
        self.stem = _cbr(in_channels, width)
        self.conv = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.fc1 = nn.Linear(width, width // reduction)
        self.fc2 = nn.Linear(width // reduction, width)
        self.head = _Head(width, n_classes)

    def forward(self, x):
        x = self.stem(x)
        y = self.bn(self.conv(x))
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(y.mean((2, 3))))))
        return self.head(torch.relu(x + y * gate[:, :, None, None]))


class InvertedResidualNet(nn.Module):
    """MobileNetV2's inverted residual: expand 1x1, depthwise 3x3, linear 1x1, residual."""

    def __init__(self, in_channels=3, n_classes=10, width=8, expansion=3):
        super().__init__()
        hidden = width * expansion
        self.stem = _cbr(in_channels, width)
        self.expand = _cbr(width, hidden, k=1)
        self.depthwise = _cbr(hidden, hidden, k=3, groups=hidden)
        self.project = nn.Conv2d(hidden, width, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.head = _Head(width, n_classes)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.bn(self.project(self.depthwise(self.expand(x))))
        return self.head(x)


def channel_shuffle(x, groups):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ChannelShuffleNet(nn.Module):
    """A ShuffleNetV2 unit: split the channels, transform one half, concatenate, shuffle."""

    def __init__(self, in_channels=3, n_classes=10, width=16):
        super().__init__()
        self.stem = _cbr(in_channels, width)
        half = width // 2
        self.branch = nn.Sequential(_cbr(half, half, k=1), _cbr(half, half, k=3, groups=half))
        self.head = _Head(width, n_classes)

    def forward(self, x):
        x = self.stem(x)
        a, b = x.chunk(2, dim=1)
        x = channel_shuffle(torch.cat([a, self.branch(b)], 1), 2)
        return self.head(x)


class ConvNeXtBlockNet(nn.Module):
    """A ConvNeXt block: depthwise 7x7, LayerNorm and Linears on channels-last input."""

    def __init__(self, in_channels=3, n_classes=10, width=16, expansion=4):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 2, stride=2)
        self.dwconv = nn.Conv2d(width, width, 7, padding=3, groups=width)
        self.norm = nn.LayerNorm(width)
        self.pw1 = nn.Linear(width, expansion * width)
        self.pw2 = nn.Linear(expansion * width, width)
        self.gamma = nn.Parameter(torch.full((width,), 0.1))
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        x = self.stem(x)
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (N, H, W, C)
        y = self.gamma * self.pw2(nn.functional.gelu(self.pw1(self.norm(y))))
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean((2, 3)))


class TransformerNet(nn.Module):
    """One post-norm transformer encoder layer on ``(N, L, E)`` sequences, mean-pooled."""

    def __init__(self, d_model=16, n_classes=10, nhead=2, dim_feedforward=32):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True
        )
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


ARCHS = {
    "residual_bn_cnn": (ResidualBNCNN, (1, 8, 8)),
    "grouped_conv": (GroupedConvNet, (3, 8, 8)),
    "new_first_dense": (NewFirstDenseNet, (3, 8, 8)),
    "concat_bn": (ConcatBNNet, (3, 8, 8)),
    "se_block": (SENet, (3, 8, 8)),
    "inverted_residual": (InvertedResidualNet, (3, 8, 8)),
    "channel_shuffle": (ChannelShuffleNet, (3, 8, 8)),
    "convnext_block": (ConvNeXtBlockNet, (3, 8, 8)),
    "transformer": (TransformerNet, (8, 16)),
}

#: architectures with BatchNorm whose channels Torch-Pruning can trace (channel level)
CHANNEL_ARCHS = [
    "residual_bn_cnn",
    "grouped_conv",
    "new_first_dense",
    "concat_bn",
    "se_block",
    "inverted_residual",
]


def make(name, seed=0):
    """``(model, example batch of 16)`` for ``ARCHS[name]``, both seeded."""
    factory, shape = ARCHS[name]
    torch.manual_seed(seed)
    model = factory()
    x = torch.randn(16, *shape, generator=torch.Generator().manual_seed(seed))
    return model, x
