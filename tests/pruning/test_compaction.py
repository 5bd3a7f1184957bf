"""Compaction into a bias-free next layer: the folded constants need a bias to go to.

A hidden unit without inputs outputs the constant ``act(b)`` (``act(0)`` without a bias);
compaction removes it and adds ``W_next[:, unit] * act(b)`` to the next layer's bias. When
that layer has no bias, one must be created. The truth is the masked network's output and
that closed form, computed here by hand.
"""

import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skscreen.pruning.compaction import compact_module, compact_sequential  # noqa: E402
from skscreen.pruning.masks import update_mask  # noqa: E402


def _cut_inputs(lin, units):
    keep = torch.ones_like(lin.weight, dtype=torch.bool)
    keep[units] = False
    update_mask(lin, keep)


def test_sequential_fold_into_a_bias_free_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3, bias=False))
    _cut_inputs(model[0], [1, 3])
    with torch.no_grad():
        model[0].bias[1] = 0.4  # relu(0.4) = 0.4: a constant to fold
        model[0].bias[3] = -0.2  # relu(-0.2) = 0: nothing to fold
    model.eval()
    expected_bias = model[2].weight[:, 1].detach() * 0.4
    small = compact_sequential(model)
    assert small[0].out_features == 3 and small[2].in_features == 3
    assert small[2].bias is not None
    torch.testing.assert_close(small[2].bias, expected_bias)
    x = torch.randn(20, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-6, atol=1e-6)
    assert model[2].bias is None  # the masked model is left as it was


def test_sequential_fold_of_bias_free_units_through_a_sigmoid():
    # no bias anywhere: a unit without inputs outputs sigmoid(0) = 0.5, not 0
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Linear(6, 5, bias=False),
        nn.Sigmoid(),
        nn.Linear(5, 4, bias=False),
        nn.Tanh(),
        nn.Linear(4, 3, bias=False),
    )
    _cut_inputs(model[0], [0, 2])
    model.eval()
    w2 = model[2].weight.detach().clone()
    small = compact_sequential(model)
    assert small[0].out_features == 3 and small[0].bias is None
    torch.testing.assert_close(small[2].bias, 0.5 * (w2[:, 0] + w2[:, 2]))
    assert small[4].bias is None  # nothing folded there: stays bias-free
    x = torch.randn(20, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-6, atol=1e-6)


class _Mlp(nn.Module):
    """Not a Sequential: goes through the Torch-Pruning path of ``compact_module``."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 5, bias=False)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def test_compact_module_folds_constant_channels_into_a_bias_free_linear():
    pytest.importorskip("torch_pruning")
    torch.manual_seed(2)
    model = _Mlp().eval()
    _cut_inputs(model.fc1, [0, 3])
    with torch.no_grad():
        model.fc1.bias[0] = 0.3
        model.fc1.bias[3] = 0.4
    expected_bias = (model.fc2.weight[:, 0] * 0.3 + model.fc2.weight[:, 3] * 0.4).detach()
    x = torch.randn(16, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no fallback to the folded copy
        small = compact_module(model, x)
    # the two constant channels are gone, their contribution is the new bias of fc2
    assert small.fc1.out_features == 6 and small.fc2.in_features == 6
    assert small.fc2.bias is not None
    torch.testing.assert_close(small.fc2.bias, expected_bias)
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-5, atol=1e-6)
        x_new = torch.randn(16, 6)  # a constant folded, not fitted to the example batch
        torch.testing.assert_close(small(x_new), model(x_new), rtol=1e-5, atol=1e-6)
    assert model.fc2.bias is None
