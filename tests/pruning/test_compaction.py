"""Compaction into a bias-free next layer: the folded constants need a bias to go to.

A hidden unit without inputs outputs the constant ``act(b)`` (``act(0)`` without a bias);
compaction removes it and adds ``W_next[:, unit] * act(b)`` to the next layer's bias. When
that layer has no bias, one must be created. The truth is the masked network's output and
that closed form, computed here by hand.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning.compaction import (  # noqa: E402
    architecture,
    build_from_architecture,
    compact_module,
    compact_sequential,
    count_parameters,
    export_onnx,
    fold_masks,
    load_compact,
    save_compact,
)
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


# --------------------------------------------------------------------------- save, load, count
def test_every_supported_layer_is_described_rebuilt_saved_and_loaded(tmp_path):
    torch.manual_seed(3)
    seq = nn.Sequential(
        nn.Flatten(1, -1),
        nn.Linear(6, 5, bias=False),
        nn.Dropout(0.25),
        nn.LeakyReLU(),
        nn.Linear(5, 5),
        nn.GELU(),
        nn.ELU(),
        nn.Tanh(),
        nn.Sigmoid(),
        nn.ReLU(),
        nn.Identity(),
        nn.Linear(5, 3),
        nn.Softmax(dim=1),
        nn.LogSoftmax(dim=-1),
    ).eval()
    arch = architecture(seq)
    assert arch == [
        ["flatten", 1, -1],
        ["linear", 6, 5, False],
        ["dropout", 0.25],
        ["leaky_relu"],
        ["linear", 5, 5, True],
        ["gelu"],
        ["elu"],
        ["tanh"],
        ["sigmoid"],
        ["relu"],
        ["identity"],
        ["linear", 5, 3, True],
        ["softmax", 1],
        ["log_softmax", -1],
    ]
    rebuilt = build_from_architecture(arch)
    assert [type(m) for m in rebuilt] == [type(m) for m in seq]
    assert rebuilt[1].bias is None and rebuilt[2].p == 0.25 and rebuilt[12].dim == 1
    save_compact(seq, tmp_path / "net.pt")
    back = load_compact(tmp_path / "net.pt")
    assert not back.training
    x = torch.randn(4, 6)
    with torch.no_grad():
        torch.testing.assert_close(back(x), seq(x))


def test_unknown_layers_are_refused_by_name():
    with pytest.raises(TypeError, match="Cannot describe Conv1d"):
        architecture(nn.Sequential(nn.Conv1d(1, 1, 1)))
    with pytest.raises(ValueError, match="Unknown layer kind 'conv'"):
        build_from_architecture([["conv", 1, 1]])
    with pytest.raises(TypeError, match="found BatchNorm1d"):
        compact_sequential(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))


def test_count_parameters_with_both_mask_storages():
    from torch.nn.utils import prune

    lin, other = nn.Linear(4, 3), nn.Linear(4, 3)
    keep = torch.zeros(3, 4, dtype=torch.bool)
    keep[0] = True  # 4 of 12 weights alive
    update_mask(lin, keep)
    prune.custom_from_mask(other, "weight", keep)  # weight_orig + weight_mask
    with torch.no_grad():
        lin.bias[0] = 0.0
        other.bias[0] = 0.0
    for m in (lin, other):
        assert count_parameters(m) == 15
        assert count_parameters(m, nonzero=True) == 4 + 2
    assert count_parameters(nn.Sequential(lin, other), nonzero=True) == 12


def test_fold_masks_with_torch_prune_storage():
    from torch.nn.utils import prune

    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    keep = torch.rand(3, 4) > 0.5
    prune.custom_from_mask(model[0], "weight", keep)
    update_mask(model[2], torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool))
    folded = fold_masks(model)
    assert set(folded.state_dict()) == set(nn.Sequential(*model).state_dict()) - {
        "0.weight_orig",
        "0.weight_mask",
        "2.weight_mask",
    } | {"0.weight"}
    torch.testing.assert_close(folded[0].weight, model[0].weight_orig * keep)
    fresh = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    fresh.load_state_dict(folded.state_dict())
    x = torch.randn(5, 4)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x))


def test_a_module_wrapping_one_sequential_is_compacted_as_an_mlp():
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))

        def forward(self, x):
            return self.body(x)

    torch.manual_seed(5)
    model = Wrapper().eval()
    update_mask(model.body[2], torch.ones(2, 6).index_fill(1, torch.arange(2), 0))
    small = compact_module(model)
    assert isinstance(small, nn.Sequential) and small[0].out_features == 4
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x))


def test_outputs_are_compared_through_tuples_lists_and_dicts():
    from skscreen.pruning.compaction import _outputs_close

    a = torch.ones(2)
    assert _outputs_close((a, [a, {"k": a}]), (a, [a, {"k": a + 1e-7}]), 1e-5, 0.0)
    assert not _outputs_close((a, a), (a,), 1e-5, 0.0)
    assert not _outputs_close((a, a), (a, a + 1), 1e-5, 0.0)
    assert not _outputs_close({"k": a}, {"j": a}, 1e-5, 0.0)
    assert not _outputs_close({"k": a}, {"k": 2 * a}, 1e-5, 0.0)
    assert not _outputs_close(a, torch.ones(3), 1e-5, 0.0)
    assert not _outputs_close(a, a + 1e-3, 1e-5, 0.0) and _outputs_close(a, a + 1e-3, 0, 1e-2)
    assert _outputs_close(3, 3, 0, 0) and not _outputs_close(3, 4, 0, 0)


# ---------------------------------------------------------------------- compact_module fallbacks
def _masked_mlp():
    torch.manual_seed(6)
    model = _Mlp().eval()
    _cut_inputs(model.fc1, [0, 3])
    return model


def test_a_removal_that_fails_falls_back_to_the_folded_copy_with_a_warning(monkeypatch):
    pytest.importorskip("torch_pruning")
    from skscreen.pruning import compaction

    def fail(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(compaction, "remove_unread_channels", fail)
    model, x = _masked_mlp(), torch.randn(8, 6)
    with pytest.warns(UserWarning, match=r"^compact: channels could not be removed") as rec:
        small = compact_module(model, x)
    assert str(rec[0].message) == (
        "compact: channels could not be removed (RuntimeError: boom); returning the network "
        "with its masks folded into plain parameters."
    )
    assert small.fc1.out_features == 8 and "fc1.weight_mask" not in small.state_dict()
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x))


def test_a_removal_that_changes_the_outputs_is_not_returned(monkeypatch):
    pytest.importorskip("torch_pruning")
    from skscreen.pruning import compaction

    real = compaction.remove_unread_channels

    def corrupt(model, example_inputs, **kw):
        out = real(model, example_inputs, **kw)
        with torch.no_grad():
            model.head.bias.add_(1e-3)  # small, but beyond the default tolerances
        return out

    monkeypatch.setattr(compaction, "remove_unread_channels", corrupt)
    model, x = _masked_mlp(), torch.randn(8, 6)
    with pytest.warns(UserWarning) as rec:
        small = compact_module(model, x)
    assert str(rec[0].message) == (
        "compact: removing unread channels changed the outputs (a layer mixing channels that "
        "the dependency graph does not show); returning the network with its masks folded into "
        "plain parameters."
    )
    assert small.fc1.out_features == 8
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x))


class _ReturnsHidden(_Mlp):
    def forward(self, x):
        hidden = torch.relu(self.fc1(x))
        return self.head(torch.relu(self.fc2(hidden))), hidden


def test_an_inner_activation_among_the_outputs_is_named_as_the_cause():
    # a module returning (logits, hidden): removing hidden's dead units changes that output's
    # width; the warning blamed a layer mixing channels unseen by the dependency graph
    pytest.importorskip("torch_pruning")
    torch.manual_seed(6)
    model = _ReturnsHidden().eval()
    _cut_inputs(model.fc1, [0, 3])
    x = torch.randn(8, 6)
    with pytest.warns(UserWarning) as rec:
        small = compact_module(model, x)
    assert str(rec[0].message) == (
        "compact: removing unread channels changed the outputs (an output of the module "
        "changed shape: it returns an inner activation (such as a tuple (logits, hidden)) "
        "whose channels were removed); returning the network with its masks folded into "
        "plain parameters."
    )
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x))


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 6)
        self.fc2 = nn.Linear(3, 6)
        self.head = nn.Linear(6, 2)

    def forward(self, a, b):
        return self.head(torch.relu(self.fc1(a)) + torch.relu(self.fc2(b)))


def test_compact_module_with_several_example_inputs():
    pytest.importorskip("torch_pruning")
    torch.manual_seed(7)
    model = _TwoInputs().eval()
    update_mask(model.head, torch.ones(2, 6).index_fill(1, torch.tensor([1, 4]), 0))
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        small = compact_module(model, (a, b))
    assert small.fc1.out_features == small.fc2.out_features == small.head.in_features == 4
    with torch.no_grad():
        torch.testing.assert_close(small(a, b), model(a, b))


def test_removal_runs_until_nothing_more_is_unread():
    # fc2's output 1 is unread by the head; once it goes, fc1's output 2 (read only by that
    # row of fc2) is unread too: a second pass removes it
    pytest.importorskip("torch_pruning")
    from skscreen.pruning.compaction import remove_unread_channels

    class Chain(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.fc2 = nn.Linear(3, 3)
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    torch.manual_seed(8)
    model = Chain().eval()
    with torch.no_grad():
        model.head.weight[:, 1] = 0.0
        model.fc2.weight[[0, 2], 2] = 0.0
    x = torch.randn(6, 4)
    expected = model(x).detach()
    history = remove_unread_channels(model, x, protected=[model.head])
    assert model.fc2.out_features == 2 and model.fc1.out_features == 2
    assert ["fc2", True, [1]] in history and ["fc1", True, [2]] in history
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


def test_a_module_with_a_sequential_and_more_is_not_an_mlp():
    pytest.importorskip("torch_pruning")

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.body(x))

    torch.manual_seed(9)
    model = Two().eval()
    update_mask(model.head, torch.ones(2, 6).index_fill(1, torch.arange(2), 0))
    x = torch.randn(5, 4)
    small = compact_module(model, x)
    assert isinstance(small, Two) and small.body[0].out_features == 4
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x))


def test_load_compact_refuses_anything_but_weights(tmp_path):
    seq = nn.Sequential(nn.Linear(2, 2))
    blob = {"architecture": architecture(seq), "state_dict": seq.state_dict(), "x": _Mlp}
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        load_compact(tmp_path / "bad.pt")


def test_count_parameters_counts_effective_weights_and_folds_every_mask():
    from torch.nn.utils import prune

    lin = nn.Linear(4, 3)
    keep = torch.zeros(3, 4, dtype=torch.bool)
    keep[0] = True
    update_mask(lin, keep)
    with torch.no_grad():
        lin.weight.fill_(1.0)  # a step before the masks were enforced again
        lin.bias.fill_(1.0)
    assert count_parameters(lin, nonzero=True) == 4 + 3
    other = nn.Linear(4, 3)
    prune.custom_from_mask(other, "weight", keep)
    prune.custom_from_mask(other, "bias", torch.tensor([True, False, True]))
    folded = fold_masks(other)
    assert set(folded.state_dict()) == {"weight", "bias"}
    assert folded.bias[1] == 0 and int((folded.weight != 0).sum()) == int((other.weight != 0).sum())


def test_onnx_export_names_its_input_and_output_with_a_dynamic_batch(tmp_path):
    onnx = pytest.importorskip("onnx")
    from skscreen.pruning.compaction import export_onnx

    torch.manual_seed(10)
    seq = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)).eval()
    export_onnx(seq, tmp_path / "m.onnx", n_features=5)
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("x", "logits")
    for value, width in ((inp, 5), (out, 3)):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and dims[1].dim_value == width


# ------------------------------------------------------- activations folded (known truth)
def test_compaction_folds_the_activation_of_a_negative_bias():
    # a hidden unit without inputs outputs relu(b): with b < 0 that is 0, not b
    torch.manual_seed(0)
    model = make_mlp(6, (5, 4), 3)
    lins = [m for m in model if isinstance(m, nn.Linear)]
    keep = torch.ones_like(lins[0].weight, dtype=torch.bool)
    keep[[0, 3]] = False  # units 0 and 3 of the first hidden layer lose every input
    update_mask(lins[0], keep)
    with torch.no_grad():
        lins[0].bias[0] = -0.7  # relu(-0.7) = 0: nothing to fold
        lins[0].bias[3] = 0.4  # relu(0.4) = 0.4: folded into the next bias
    model.eval()
    small = compact_sequential(model)
    assert small[1].out_features == 3
    X = torch.randn(32, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(X), model(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("act", [nn.Tanh, nn.Sigmoid])
def test_compaction_folds_through_other_activations(act):
    torch.manual_seed(1)
    model = make_mlp(6, (5,), 3, activation=act)
    keep = torch.ones(5, 6, dtype=torch.bool)
    keep[1] = False
    update_mask(model[1], keep)
    with torch.no_grad():
        model[1].bias[1] = -0.9
    model.eval()
    small = compact_sequential(model)
    X = torch.randn(16, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(X), model(X), rtol=1e-6, atol=1e-6)


# (from the former test_pruning_core.py) a randomly pruned MLP with dead units: compacted,
# saved and loaded, exported to ONNX
def _random_pruned_mlp(seed=0):
    torch.manual_seed(seed)
    model = make_mlp(12, (10, 8), 3)
    lins = [m for m in model if isinstance(m, nn.Linear)]
    for lin in lins:
        update_mask(lin, torch.rand_like(lin.weight) > 0.6)
    # force dead neurons: hidden unit 0 of layer 1 without inputs, unit 1 without outputs
    update_mask(lins[0], torch.ones_like(lins[0].weight).index_fill(0, torch.tensor([0]), 0).bool())
    update_mask(lins[1], torch.ones_like(lins[1].weight).index_fill(1, torch.tensor([1]), 0).bool())
    with torch.no_grad():
        lins[0].bias[0] = 0.7  # a constant ReLU output that must be folded
    return model


def test_compact_same_outputs_and_fewer_parameters():
    model = _random_pruned_mlp().eval()
    small = compact_sequential(model)
    X = torch.randn(64, 12)
    with torch.no_grad():
        torch.testing.assert_close(small(X), model(X), rtol=1e-5, atol=1e-6)
    assert count_parameters(small) < count_parameters(model)
    assert small[1].out_features < 10
    assert not any(prune.is_pruned(m) for m in small.modules())


def test_compact_save_load_weights_only_and_onnx(tmp_path):
    model = _random_pruned_mlp().eval()
    small = compact_sequential(model)
    path = tmp_path / "small.pt"
    save_compact(small, path)
    back = load_compact(path)
    X = torch.randn(5, 12)
    with torch.no_grad():
        torch.testing.assert_close(back(X), small(X))
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    export_onnx(small, tmp_path / "small.onnx", n_features=12)
    sess = ort.InferenceSession(str(tmp_path / "small.onnx"))
    out = sess.run(None, {"x": X.numpy()})[0]
    np.testing.assert_allclose(out, small(X).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_compact_rejects_unsupported_models():
    with pytest.raises(TypeError, match="supports Sequential MLPs"):
        compact_sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2)))


# (from the former test_weight_level_arch.py: real-architecture patterns, plain torch)

from _archs import ARCHS, ResidualBNCNN, make  # noqa: E402
from _weight_pruning import _pruner, _train  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.pruning.masks import get_mask  # noqa: E402


class _TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 4, 1)
        self.aux = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        return {"main": self.conv2(h).mean((2, 3)), "aux": self.aux(h.mean((2, 3)))}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_every_pattern_trains_pruned_and_compacts_to_the_same_function(name, optimizer):
    pytest.importorskip("torch_pruning")
    model, x = make(name)
    y = torch.arange(x.shape[0]) % 10
    pruner = _pruner(model, sparsity=0.8, alpha=1.0, n_classes=10)
    _train(model, pruner, x, y, optimizer, enforcer=optimizer == "adam")
    assert pruner.n_kept() == pruner.target_keep(3)
    for m in pruner.layers.values():  # pruned weights are still exactly zero
        assert torch.all(m.weight[get_mask(m) == 0] == 0)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tracing notes, channel-shuffle fallback
        expected = model(x)
        small = compact_module(model, x)
        torch.testing.assert_close(small(x), expected, rtol=1e-4, atol=1e-5)
        # masks folded into plain parameters: loads into a fresh copy of the architecture
        folded = fold_masks(model)
        fresh = ARCHS[name][0]().eval()
        fresh.load_state_dict(folded.state_dict())
        torch.testing.assert_close(fresh(x), expected, rtol=1e-5, atol=1e-6)
    assert not any(b.endswith("_mask") for b, _ in folded.named_buffers())
    assert count_parameters(small) <= count_parameters(model)


def test_compact_removes_exactly_the_channels_nothing_reads():
    pytest.importorskip("torch_pruning")  # as the whole former file
    model = ResidualBNCNN().eval()
    x = torch.randn(4, 1, 8, 8)
    n_params = count_parameters(model)
    # stem/block channels 0 and 1 (coupled by the residual addition): read by conv and conv2
    update_mask(model.conv, torch.ones_like(model.conv.weight).index_fill(1, torch.arange(2), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small = compact_module(model, x)
    assert small.stem[0].out_channels == 32  # conv2 still reads them: nothing removed
    update_mask(model.conv2, torch.ones_like(model.conv2.weight).index_fill(1, torch.arange(2), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small = compact_module(model, x)
    assert small.stem[0].out_channels == small.conv.out_channels == small.bn.num_features == 30
    assert small.conv.in_channels == small.conv2.in_channels == 30
    # removed: 2 stem filters, 2 x 2 BatchNorm entries, conv 32x32 -> 30x30, 2 conv2 inputs
    removed = 2 * 9 + 2 * 2 * 2 + (32 * 32 - 30 * 30) * 9 + 64 * 2 * 9
    assert count_parameters(small) == n_params - removed
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-5, atol=1e-6)
    assert get_mask(model.conv) is not None  # the masked model is left as it was


def test_compact_module_on_a_sequential_mlp_removes_dead_neurons():
    pytest.importorskip("torch_pruning")  # as the whole former file
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    update_mask(mlp[2], torch.ones(3, 8).index_fill(1, torch.arange(3), 0))  # 3 unread neurons
    small = compact_module(mlp)
    assert isinstance(small, nn.Sequential) and small[0].out_features == 5
    x = torch.randn(10, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(x), mlp(x))


def test_compact_without_example_inputs_folds_masks_only():
    pytest.importorskip("torch_pruning")  # as the whole former file
    model, x = make("se_block")
    model.eval()
    update_mask(model.conv, torch.rand_like(model.conv.weight) > 0.5)
    out = compact_module(model)
    assert count_parameters(out) == count_parameters(model)
    assert "conv.weight_mask" not in out.state_dict()
    with torch.no_grad():
        torch.testing.assert_close(out(x), model(x))


def test_compact_module_on_a_dict_output_and_a_protected_layer():
    pytest.importorskip("torch_pruning")  # as the whole former file
    model = _TwoOutputs().eval()
    x = torch.randn(2, 3, 6, 6)
    # conv1 channels 0-2: conv2 and aux read none of them
    update_mask(model.conv2, torch.ones(4, 8, 1, 1).index_fill(1, torch.arange(3), 0))
    update_mask(model.aux, torch.ones(2, 8).index_fill(1, torch.arange(3), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small = compact_module(model, x)
        kept = compact_module(model, x, protected=[model.conv1])
    assert small.conv1.out_channels == 5 and small.aux.in_features == 5
    assert kept.conv1.out_channels == 8  # its outputs stay whole
    with torch.no_grad():
        for out in (small(x), kept(x)):
            torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-6)


def test_compact_folds_channels_without_inputs_into_the_next_linear_bias():
    pytest.importorskip("torch_pruning")  # as the whole former file
    # SE block: fc1 neurons 0 and 1 lose every input and emit relu(b): fc2 absorbs them
    model, x = make("se_block")
    model.eval()
    with torch.no_grad():
        model.fc1.bias.copy_(torch.tensor([0.7, -0.3, 0.2, 0.1]))
    update_mask(model.fc1, torch.ones(4, 16).index_fill(0, torch.arange(2), 0))
    # conv -> BatchNorm -> ReLU -> flatten -> Linear: channels 2 and 3 have no filter left
    torch.manual_seed(0)
    flat = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(96, 5)
    )
    with torch.no_grad():
        flat[1].running_mean.uniform_(-1, 1)
        flat[1].running_var.uniform_(0.5, 2)
        flat[1].bias.uniform_(0, 1)  # the constant channels are non-zero after the ReLU
    update_mask(flat[0], torch.ones(6, 3, 3, 3).index_fill(0, torch.tensor([2, 3]), 0))
    flat.eval()
    xf = torch.randn(4, 3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small_se, small_flat = compact_module(model, x), compact_module(flat, xf)
    assert small_se.fc1.out_features == 2 and small_se.fc2.in_features == 2
    assert small_flat[0].out_channels == 4 and small_flat[4].in_features == 64
    with torch.no_grad():
        torch.testing.assert_close(small_se(x), model(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(small_flat(xf), flat(xf), rtol=1e-5, atol=1e-6)
    # one example makes every input look constant: only the structure may decide
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from_one = compact_module(flat, xf[:1])
    assert from_one[0].out_channels == 4
    with torch.no_grad():
        torch.testing.assert_close(from_one(xf), flat(xf), rtol=1e-5, atol=1e-6)
