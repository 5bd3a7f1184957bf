"""The reference networks of skscreen.models: layouts, parameter counts, shapes, forwards.

Every parameter count is worked out by hand from the architecture (``_count_*`` below write
the sums out) and checked against the literal figure; the papers' figures are cited where the
architecture follows one. Each forward pass is compared, in eval mode with random BatchNorm
statistics, with a functional re-implementation that spells out every stride, padding and
pooling, so a changed hyperparameter shows even where the adaptive average pool would hide
a different feature-map size.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from skscreen import models  # noqa: E402
from skscreen.models import (  # noqa: E402
    DenseNetCIFAR,
    PreResNet,
    SmallResNetBN,
    densenet40,
    lenet_300_100,
    make_mlp,
    resnet164,
    small_vgg_bn,
)


# ----------------------------------------------------------------------------- helpers
def n_params(module):
    return sum(p.numel() for p in module.parameters())


def _randomize(module, seed=0):
    """Random weights and BatchNorm statistics (eval-mode BN then is no near-identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.5 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return module.eval()


def _bn(x, bn):
    """Eval-mode BatchNorm written out."""
    shape = (1, -1, 1, 1)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (x - bn.running_mean.view(shape)) * scale.view(shape) + bn.bias.view(shape)


def _conv_table(module):
    """(name, in, out, kernel, stride, padding, has bias) of every Conv2d, in order."""
    return [
        (name, m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding)
        + (m.bias is not None,)
        for name, m in module.named_modules()
        if isinstance(m, nn.Conv2d)
    ]


def _feature_shapes(module, x, kind):
    """The output shapes of the submodules of type ``kind``, in call order."""
    shapes, hooks = [], []
    for m in module.modules():
        if isinstance(m, kind):
            hooks.append(m.register_forward_hook(lambda _m, _i, o: shapes.append(tuple(o.shape))))
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes


# ----------------------------------------------------------------------------- make_mlp
def test_make_mlp_docstring_layout():
    net = make_mlp(64, (32,), 10)
    assert [type(m) for m in net] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear]
    assert (net[1].in_features, net[1].out_features) == (64, 32)
    assert (net[3].in_features, net[3].out_features) == (32, 10)
    assert net[1].bias is not None and net[3].bias is not None


def test_make_mlp_defaults_are_300_100_and_ten_classes():
    net = make_mlp(20)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(20, 300), (300, 100), (100, 10)]
    assert [type(m) for m in net] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]  # no Dropout by default
    assert make_mlp(20, (5,))(torch.zeros(3, 20)).shape == (3, 10)


def test_make_mlp_sizes_are_cast_to_int():
    net = make_mlp(np.int64(6), (np.float64(4.0), 3), np.int32(2))
    sizes = [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)]
    assert sizes == [(6, 4), (4, 3), (3, 2)]
    assert all(type(v) is int for s in sizes for v in s)


def test_make_mlp_no_hidden_layer_is_a_linear_model():
    net = make_mlp(7, (), 3)
    assert [type(m) for m in net] == [nn.Flatten, nn.Linear]
    assert (net[1].in_features, net[1].out_features) == (7, 3)


def test_make_mlp_activation_and_dropout():
    net = make_mlp(8, (6, 4), 3, activation=nn.Tanh, dropout=0.25)
    assert [type(m) for m in net] == [
        nn.Flatten,
        nn.Linear,
        nn.Tanh,
        nn.Dropout,
        nn.Linear,
        nn.Tanh,
        nn.Dropout,
        nn.Linear,
    ]
    assert [m.p for m in net if isinstance(m, nn.Dropout)] == [0.25, 0.25]
    x = torch.randn(5, 2, 4)  # flattened to 8 features
    net.eval()
    l1, l2, l3 = (m for m in net if isinstance(m, nn.Linear))
    ref = l3(torch.tanh(l2(torch.tanh(l1(x.reshape(5, 8))))))
    torch.testing.assert_close(net(x), ref)  # eval: dropout is the identity
    net.train()
    torch.manual_seed(1)
    hidden = net[:4](x)  # Flatten, Linear, Tanh, Dropout(0.25) in training mode
    dropped = hidden == 0
    assert dropped.any() and not dropped.all()
    kept = torch.tanh(l1(x.reshape(5, 8)))[~dropped]
    torch.testing.assert_close(hidden[~dropped], kept / 0.75)


def test_make_mlp_forward_is_the_linear_relu_chain():
    net = make_mlp(5, (4, 3), 2).eval()
    x = torch.randn(6, 5)
    l1, l2, l3 = (m for m in net if isinstance(m, nn.Linear))
    torch.testing.assert_close(net(x), l3(torch.relu(l2(torch.relu(l1(x))))))


# ----------------------------------------------------------------------------- LeNet-300-100
def test_lenet_300_100_is_784_300_100_10():
    net = lenet_300_100()
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 300), (300, 100), (100, 10)]
    assert [type(m) for m in net] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    # LeCun et al. 1998: 266,200 weights (784*300 + 300*100 + 100*10) and 410 biases
    weights = sum(m.weight.numel() for m in linears)
    assert weights == 784 * 300 + 300 * 100 + 100 * 10 == 266_200
    assert n_params(net) == 266_200 + 300 + 100 + 10 == 266_610


def test_lenet_300_100_inputs_and_classes():
    net = lenet_300_100(n_inputs=64, n_classes=3)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 300), (300, 100), (100, 3)]
    assert net(torch.zeros(2, 8, 8)).shape == (2, 3)
    assert lenet_300_100()(torch.zeros(4, 1, 28, 28)).shape == (4, 10)  # images are flattened


# ----------------------------------------------------------------------------- small_vgg_bn
def _vgg_reference(net, x, in_channels, image_size):
    x = x.reshape(x.shape[0], in_channels, image_size, image_size)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    bns = [m for m in net if isinstance(m, nn.BatchNorm2d)]
    for stage in range(len(convs) // 2):
        for j in (2 * stage, 2 * stage + 1):
            x = torch.relu(_bn(F.conv2d(x, convs[j].weight, padding=1), bns[j]))
        x = F.max_pool2d(x, 2)
    return net[-1](x.mean((2, 3)))


def test_small_vgg_bn_layout_and_count():
    net = small_vgg_bn()
    assert isinstance(net, nn.Sequential)
    assert isinstance(net[0], nn.Unflatten) and net[0].unflattened_size == (1, 28, 28)
    body = [type(m) for m in net][1:]
    stage = [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2 + [nn.MaxPool2d]
    assert body == stage * 3 + [nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear]
    assert _conv_table(net) == [
        (str(i), c_in, c_out, (3, 3), (1, 1), (1, 1), False)
        for i, (c_in, c_out) in zip(
            (1, 4, 8, 11, 15, 18),
            [(1, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)],
        )
    ]
    assert all(m.kernel_size == 2 for m in net if isinstance(m, nn.MaxPool2d))
    assert (net[-1].in_features, net[-1].out_features) == (128, 10)
    convs = 9 * (1 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128)
    bns = 2 * 2 * (32 + 64 + 128)
    assert n_params(net) == convs + bns + 128 * 10 + 10 == 288_170


def test_small_vgg_bn_every_conv_feeds_its_batchnorm():
    """The channel pruner's layout: each conv (no bias) straight into a BN of its width."""
    net = small_vgg_bn(widths=(4, 6))
    mods = list(net)
    for i, m in enumerate(mods):
        if isinstance(m, nn.Conv2d):
            assert m.bias is None
            assert isinstance(mods[i + 1], nn.BatchNorm2d)
            assert mods[i + 1].num_features == m.out_channels
            assert isinstance(mods[i + 2], nn.ReLU)


def test_small_vgg_bn_forward_matches_reference():
    net = _randomize(small_vgg_bn(in_channels=3, n_classes=4, widths=(4, 6), image_size=16))
    assert net[0].unflattened_size == (3, 16, 16)
    x = torch.randn(3, 3 * 16 * 16)
    with torch.no_grad():
        out = net(x)
        torch.testing.assert_close(out, _vgg_reference(net, x, 3, 16))
    assert out.shape == (3, 4)
    assert _feature_shapes(net, x, nn.MaxPool2d) == [(3, 4, 8, 8), (3, 6, 4, 4)]


# ----------------------------------------------------------------------------- SmallResNetBN
def _basic_reference(block, x, stride):
    out = torch.relu(_bn(F.conv2d(x, block.conv1.weight, stride=stride, padding=1), block.bn1))
    out = _bn(F.conv2d(out, block.conv2.weight, padding=1), block.bn2)
    if len(block.shortcut):
        conv, bn = block.shortcut
        short = _bn(F.conv2d(x, conv.weight, stride=stride), bn)
    else:
        short = x
    return torch.relu(out + short)


def _small_resnet_reference(net, x, strides):
    if x.ndim == 2:
        x = x.reshape(x.shape[0], 1, 28, 28)
    x = torch.relu(_bn(F.conv2d(x, net.conv.weight, padding=1), net.bn))
    for block, s in zip(net.layers, strides):
        x = _basic_reference(block, x, s)
    return net.head(x.mean((2, 3)))


def _count_small_resnet(c_in, widths, blocks, n_classes):
    total = 9 * c_in * widths[0] + 2 * widths[0]  # stem conv and BN
    c = widths[0]
    for i, w in enumerate(widths):
        for b in range(blocks):
            stride = 2 if i > 0 and b == 0 else 1
            total += 9 * c * w + 2 * w + 9 * w * w + 2 * w
            if stride != 1 or c != w:
                total += c * w + 2 * w  # 1x1 conv and BN on the shortcut
            c = w
    return total + c * n_classes + n_classes


def test_small_resnet_defaults_layout_and_count():
    net = SmallResNetBN()
    assert net.conv.in_channels == 1 and net.conv.out_channels == 16
    assert len(net.layers) == 3  # one block per stage
    assert (net.head.in_features, net.head.out_features) == (64, 10)
    assert _conv_table(net) == [
        ("conv", 1, 16, (3, 3), (1, 1), (1, 1), False),
        ("layers.0.conv1", 16, 16, (3, 3), (1, 1), (1, 1), False),
        ("layers.0.conv2", 16, 16, (3, 3), (1, 1), (1, 1), False),
        ("layers.1.conv1", 16, 32, (3, 3), (2, 2), (1, 1), False),
        ("layers.1.conv2", 32, 32, (3, 3), (1, 1), (1, 1), False),
        ("layers.1.shortcut.0", 16, 32, (1, 1), (2, 2), (0, 0), False),
        ("layers.2.conv1", 32, 64, (3, 3), (2, 2), (1, 1), False),
        ("layers.2.conv2", 64, 64, (3, 3), (1, 1), (1, 1), False),
        ("layers.2.shortcut.0", 32, 64, (1, 1), (2, 2), (0, 0), False),
    ]
    assert len(net.layers[0].shortcut) == 0  # identity
    for block in net.layers[1:]:
        assert [type(m) for m in block.shortcut] == [nn.Conv2d, nn.BatchNorm2d]
        assert block.shortcut[1].num_features == block.shortcut[0].out_channels
    assert n_params(net) == _count_small_resnet(1, (16, 32, 64), 1, 10) == 77_754


def test_small_resnet_every_conv_feeds_its_batchnorm():
    net = SmallResNetBN(widths=(4, 8), blocks=2)
    assert net.bn.num_features == net.conv.out_channels
    for block in net.layers:
        assert block.bn1.num_features == block.conv1.out_channels
        assert block.bn2.num_features == block.conv2.out_channels


def test_small_resnet_blocks_and_strides():
    net = SmallResNetBN(in_channels=3, n_classes=5, widths=(4, 8, 8), blocks=2)
    assert len(net.layers) == 6
    assert [b.conv1.stride for b in net.layers] == [(1, 1), (1, 1), (2, 2), (1, 1), (2, 2), (1, 1)]
    # a shortcut conv wherever the stride or the width changes (stage 3: stride 2, width kept)
    assert [len(b.shortcut) for b in net.layers] == [0, 0, 2, 0, 2, 0]
    assert net.layers[4].shortcut[0].stride == (2, 2)
    assert n_params(net) == _count_small_resnet(3, (4, 8, 8), 2, 5)


@pytest.mark.parametrize(
    ("kwargs", "x", "strides", "sizes"),
    [
        ({}, (2, 784), [1, 2, 2], [28, 14, 7]),  # flat 28x28 images
        ({}, (2, 1, 28, 28), [1, 2, 2], [28, 14, 7]),
        (
            {"in_channels": 3, "n_classes": 5, "widths": (4, 8, 8), "blocks": 2},
            (2, 3, 12, 12),
            [1, 1, 2, 1, 2, 1],
            [12, 12, 6, 6, 3, 3],
        ),
    ],
)
def test_small_resnet_forward_matches_reference(kwargs, x, strides, sizes):
    net = _randomize(SmallResNetBN(**kwargs))
    x = torch.randn(*x)
    with torch.no_grad():
        out = net(x)
        torch.testing.assert_close(out, _small_resnet_reference(net, x, strides))
    assert out.shape == (2, kwargs.get("n_classes", 10))
    shapes = _feature_shapes(net, x, models._BasicBlock)
    assert [s[2:] for s in shapes] == [(h, h) for h in sizes]


def test_basic_block_shortcut_rule():
    assert len(models._BasicBlock(4, 4, 1).shortcut) == 0
    for c_in, c_out, stride in [(4, 8, 1), (4, 4, 2), (4, 8, 2)]:
        block = models._BasicBlock(c_in, c_out, stride)
        conv, bn = block.shortcut
        assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (c_in, c_out, (1, 1))
        assert conv.stride == (stride, stride) and conv.bias is None
        assert bn.num_features == c_out
        _randomize(block)
        x = torch.randn(2, c_in, 6, 6)
        with torch.no_grad():
            torch.testing.assert_close(block(x), _basic_reference(block, x, stride))


# ----------------------------------------------------------------------------- PreResNet
def _bottleneck_reference(block, x, stride):
    out = F.conv2d(torch.relu(_bn(x, block.bn1)), block.conv1.weight)
    out = F.conv2d(torch.relu(_bn(out, block.bn2)), block.conv2.weight, stride=stride, padding=1)
    out = F.conv2d(torch.relu(_bn(out, block.bn3)), block.conv3.weight)
    if block.downsample is None:
        return out + x
    return out + F.conv2d(x, block.downsample.weight, stride=stride)


def _preresnet_strides(n):
    return [2 if i > 0 and b == 0 else 1 for i in range(3) for b in range(n)]


def _preresnet_reference(net, x, n):
    x = F.conv2d(x, net.conv1.weight, padding=1)
    for block, s in zip(net.layers, _preresnet_strides(n)):
        x = _bottleneck_reference(block, x, s)
    return net.fc(torch.relu(_bn(x, net.bn)).mean((2, 3)))


def _count_preresnet(n, n_classes):
    total, c = 9 * 3 * 16, 16  # first conv, no BN before the blocks
    for i, p in enumerate((16, 32, 64)):
        for b in range(n):
            stride = 2 if i > 0 and b == 0 else 1
            total += 2 * c + c * p + 2 * p + 9 * p * p + 2 * p + p * 4 * p
            if stride != 1 or c != 4 * p:
                total += c * 4 * p  # a 1x1 conv, no BN, on the residual
            c = 4 * p
    return total + 2 * c + c * n_classes + n_classes


def test_resnet164_count_and_layout():
    net = resnet164()
    assert isinstance(net, PreResNet)
    assert len(net.layers) == 54  # 18 bottlenecks per stage: 9 * 18 + 2 = 164
    assert (net.fc.in_features, net.fc.out_features) == (256, 10)
    # network slimming (Liu et al. 2017), table 1: ResNet-164 on CIFAR-10, 1.70M parameters
    assert n_params(net) == _count_preresnet(18, 10) == 1_703_258
    assert n_params(resnet164(n_classes=100)) == _count_preresnet(18, 100) == 1_726_388
    assert n_params(PreResNet()) == 1_703_258  # depth 164 is the default
    assert PreResNet(n_classes=7).fc.out_features == 7


def test_preresnet_depth_must_be_9n_plus_2():
    for depth in (163, 165, 21):
        with pytest.raises(ValueError, match=r"^depth must be 9n \+ 2 \(e\.g\. 164\)\.$"):
            PreResNet(depth)
    assert len(PreResNet(11).layers) == 3
    assert len(PreResNet(20).layers) == 6
    assert len(PreResNet(56).layers) == 18
    assert n_params(PreResNet(20, 3)) == _count_preresnet(2, 3)


def test_preresnet_layout():
    net = PreResNet(20, n_classes=4)
    assert _conv_table(net)[0] == ("conv1", 3, 16, (3, 3), (1, 1), (1, 1), False)
    assert all(not bias for *_, bias in _conv_table(net))
    expected = []
    c = 16
    for p, s in zip((16, 16, 32, 32, 64, 64), _preresnet_strides(2)):
        expected.append(
            (
                (c, p, (1, 1), (1, 1), (0, 0)),
                (p, p, (3, 3), (s, s), (1, 1)),
                (p, 4 * p, (1, 1), (1, 1), (0, 0)),
                None if s == 1 and c == 4 * p else (c, 4 * p, (1, 1), (s, s), (0, 0)),
            )
        )
        c = 4 * p
    got = []
    for block in net.layers:
        convs = [block.conv1, block.conv2, block.conv3]
        row = [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding) for m in convs]
        ds = block.downsample
        row.append(
            None
            if ds is None
            else (ds.in_channels, ds.out_channels, ds.kernel_size, ds.stride, ds.padding)
        )
        got.append(tuple(row))
        # pre-activation: each BN normalises its conv's input
        assert block.bn1.num_features == block.conv1.in_channels
        assert block.bn2.num_features == block.conv2.in_channels
        assert block.bn3.num_features == block.conv3.in_channels
    assert got == expected
    assert net.bn.num_features == 256


def test_preresnet_forward_matches_reference():
    net = _randomize(PreResNet(20, n_classes=4))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = net(x)
        torch.testing.assert_close(out, _preresnet_reference(net, x, 2), rtol=1e-4, atol=1e-4)
    assert out.shape == (2, 4)
    shapes = _feature_shapes(net, x, models._PreActBottleneck)
    assert shapes == [
        (2, 64, 16, 16),
        (2, 64, 16, 16),
        (2, 128, 8, 8),
        (2, 128, 8, 8),
        (2, 256, 4, 4),
        (2, 256, 4, 4),
    ]


def test_preresnet_bottleneck_downsample_rule():
    assert models._PreActBottleneck(16, 4, 1).downsample is None  # 16 == 4 * 4
    for c_in, planes, stride in [(8, 4, 1), (16, 4, 2), (8, 4, 2)]:
        block = models._PreActBottleneck(c_in, planes, stride)
        ds = block.downsample
        assert isinstance(ds, nn.Conv2d) and ds.bias is None
        assert (ds.in_channels, ds.out_channels, ds.stride) == (c_in, 4 * planes, (stride, stride))
        _randomize(block)
        x = torch.randn(2, c_in, 6, 6)
        with torch.no_grad():
            torch.testing.assert_close(block(x), _bottleneck_reference(block, x, stride))


# ----------------------------------------------------------------------------- DenseNet
def _densenet_reference(net, x):
    x = F.conv2d(x, net.conv1.weight, padding=1)
    for m in net.blocks:
        h = torch.relu(_bn(x, m.bn))
        if isinstance(m, models._DenseLayer):
            x = torch.cat([x, F.conv2d(h, m.conv.weight, padding=1)], 1)
        else:
            x = F.avg_pool2d(F.conv2d(h, m.conv.weight), 2)
    return net.fc(torch.relu(_bn(x, net.bn)).mean((2, 3)))


def _count_densenet(n, growth, n_classes):
    c = 2 * growth
    total = 9 * 3 * c
    for i in range(3):
        for _ in range(n):
            total += 2 * c + 9 * c * growth  # BN, then a 3x3 conv adding `growth` channels
            c += growth
        if i < 2:
            total += 2 * c + c * c  # BN, then a 1x1 conv keeping the width
    return total + 2 * c + c * n_classes + n_classes


def test_densenet40_count_and_layout():
    net = densenet40()
    assert isinstance(net, DenseNetCIFAR)
    kinds = [type(m).__name__ for m in net.blocks]
    assert kinds == (["_DenseLayer"] * 12 + ["_Transition"]) * 2 + ["_DenseLayer"] * 12
    assert net.conv1.out_channels == 24  # 2 * growth
    assert (net.fc.in_features, net.fc.out_features) == (24 + 36 * 12, 10)
    # Huang et al. 2017 give "1.0M" for L=40, k=12; with network slimming's 2k = 24 first
    # channels (its PyTorch DenseNet, as here) the sum is 1.06M (16 first channels: 1.02M)
    assert n_params(net) == _count_densenet(12, 12, 10) == 1_059_298
    assert n_params(DenseNetCIFAR()) == 1_059_298  # depth 40, growth 12 are the defaults
    assert n_params(densenet40(n_classes=100)) == _count_densenet(12, 12, 100) == 1_100_428
    assert DenseNetCIFAR(n_classes=7).fc.out_features == 7


def test_densenet_depth_must_be_3n_plus_4():
    for depth in (39, 41, 12):
        with pytest.raises(ValueError, match=r"^depth must be 3n \+ 4 \(e\.g\. 40\)\.$"):
            DenseNetCIFAR(depth)
    assert len(DenseNetCIFAR(7).blocks) == 3 + 2  # n = 1
    assert len(DenseNetCIFAR(13, 4).blocks) == 9 + 2  # n = 3


def test_densenet_layout():
    growth = 4
    net = DenseNetCIFAR(13, growth, n_classes=3)
    assert _conv_table(net)[0] == ("conv1", 3, 8, (3, 3), (1, 1), (1, 1), False)
    c, expected = 2 * growth, []
    for i in range(3):
        for _ in range(3):
            expected.append(("_DenseLayer", c, c, growth, (3, 3), (1, 1)))
            c += growth
        if i < 2:
            expected.append(("_Transition", c, c, c, (1, 1), (0, 0)))
    got = [
        (
            type(m).__name__,
            m.bn.num_features,
            m.conv.in_channels,
            m.conv.out_channels,
            m.conv.kernel_size,
            m.conv.padding,
        )
        for m in net.blocks
    ]
    assert got == expected
    assert all(m.conv.bias is None and m.conv.stride == (1, 1) for m in net.blocks)
    assert net.bn.num_features == net.fc.in_features == c == 8 + 9 * growth
    assert n_params(net) == _count_densenet(3, growth, 3)


def test_densenet_forward_matches_reference():
    net = _randomize(DenseNetCIFAR(13, 4, n_classes=3))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = net(x)
        torch.testing.assert_close(out, _densenet_reference(net, x), rtol=1e-4, atol=1e-4)
    assert out.shape == (2, 3)
    # the transitions halve the feature maps: 16 -> 8 -> 4
    assert _feature_shapes(net, x, models._Transition) == [(2, 20, 8, 8), (2, 32, 4, 4)]
    shapes = _feature_shapes(net, x, models._DenseLayer)
    assert [s[1:] for s in shapes] == [
        (12, 16, 16),
        (16, 16, 16),
        (20, 16, 16),
        (24, 8, 8),
        (28, 8, 8),
        (32, 8, 8),
        (36, 4, 4),
        (40, 4, 4),
        (44, 4, 4),
    ]


# ----------------------------------------------------------------------------- all factories
FACTORIES = {
    "lenet_300_100": (lenet_300_100, (2, 1, 28, 28)),
    "make_mlp": (lambda: make_mlp(12, (8,), 10), (2, 12)),
    "small_vgg_bn": (small_vgg_bn, (2, 784)),
    "SmallResNetBN": (SmallResNetBN, (2, 1, 28, 28)),
    "PreResNet": (lambda: PreResNet(11), (2, 3, 32, 32)),
    "DenseNetCIFAR": (lambda: DenseNetCIFAR(7), (2, 3, 32, 32)),
    "resnet164": (resnet164, (1, 3, 32, 32)),
    "densenet40": (densenet40, (1, 3, 32, 32)),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_ten_classes_by_default_and_deterministic_in_eval_mode(name):
    factory, shape = FACTORIES[name]
    net = _randomize(factory())
    x = torch.randn(*shape)
    with torch.no_grad():
        a, b = net(x), net(x)
    assert a.shape == (shape[0], 10)
    assert torch.isfinite(a).all()
    assert torch.equal(a, b)


def test_every_public_name_is_tested():
    assert set(models.__all__) == set(FACTORIES)
