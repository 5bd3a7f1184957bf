"""Channel-level pruning on the layer patterns of real architectures (tests/_archs.py).

Known truths: a physically pruned network computes what the dense network computes with the
removed channels silenced (every BatchNorm carrying them outputs zero there); hand-derived
channel maps for concatenations; optimizer state sliced exactly like its parameter.
"""

import copy
import pickle
import sys
import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
tp = pytest.importorskip("torch_pruning")
from torch import nn  # noqa: E402

from skscreen.pruning.channels import (  # noqa: E402
    ChannelPruner,
    ChannelScreeningScorer,
    remap_optimizer,
    select_tied,
)
from skscreen.pruning.schedules import LogisticSchedule, OneShotSchedule  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
import _archs  # noqa: E402


def _randomize(model, seed=0):
    """Distinct BatchNorm scales, shifts and running statistics (init values are all equal)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.1
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) + 0.5
    return model


def _pruner(model, x, alpha=0.0, sparsity=0.5, **kw):
    kw.setdefault("schedule", OneShotSchedule())
    return ChannelPruner(
        model,
        ChannelScreeningScorer(alpha),
        kw.pop("schedule"),
        sparsity=sparsity,
        prune_epochs=kw.pop("prune_epochs", 1),
        n_classes=10,
        example_inputs=x,
        **kw,
    )


def _random_removal(pr, seed=0):
    """About half of each unit's tied classes, chosen at random."""
    g = torch.Generator().manual_seed(seed)
    remove = {}
    for u in pr.units:
        classes = torch.randperm(u.n_classes, generator=g)[: u.n_classes // 2]
        pos = torch.isin(u.ties, classes).nonzero().flatten().tolist()
        remove[u.name] = [u.channels[p] for p in pos]
    return remove


def _silenced(model, pr, remove):
    """A copy of ``model`` where every BatchNorm outputs zero on the removed channels."""
    masked = copy.deepcopy(model)
    names = dict(masked.named_modules())
    for u in pr.units:
        pos_of = {c: k for k, c in enumerate(u.channels)}
        gone = torch.zeros(u.n_channels, dtype=torch.bool)
        gone[[pos_of[c] for c in remove.get(u.name, [])]] = True
        for bn, idx, pos in u.members:
            twin = names[pr.bn_names[bn]]
            with torch.no_grad():
                twin.weight[idx[gone[pos]]] = 0.0
                twin.bias[idx[gone[pos]]] = 0.0
    return masked


@pytest.mark.parametrize("name", _archs.CHANNEL_ARCHS)
def test_physical_removal_equals_silenced_channels(name):
    model, x = _archs.make(name)
    _randomize(model).eval()
    pr = _pruner(model, x)
    sizes = {n: bn.num_features for bn, n in pr.bn_names.items()}
    remove = _random_removal(pr)
    masked = _silenced(model, pr, remove).eval()
    expected_loss = {n: 0 for n in sizes}  # channels each BatchNorm must lose
    for u in pr.units:
        gone = set(remove[u.name])
        for bn, _, pos in u.members:
            expected_loss[pr.bn_names[bn]] += sum(u.channels[p] in gone for p in pos.tolist())
    with torch.no_grad():
        want = masked(x)
    pr.prune_channels(remove)
    with torch.no_grad():
        torch.testing.assert_close(model(x), want, rtol=1e-4, atol=1e-5)
    # each channel removed exactly once, everywhere it appears
    for bn, n in pr.bn_names.items():
        assert bn.num_features == sizes[n] - expected_loss[n], n
        assert bn.running_mean.shape == (bn.num_features,)
    assert pr.n_kept() == pr.n_total - sum(len(r) for r in remove.values())


def test_concatenation_channel_maps_follow_root_indices():
    # hand-derived: cat([new, x]) puts conv0's 8 channels after 4, 8 and 12 new ones
    model, x = _archs.make("new_first_dense")
    pr = _pruner(model, x)
    maps = {
        u.name: {pr.bn_names[bn]: (idx[pos.argsort()]).tolist() for bn, idx, pos in u.members}
        for u in pr.units
    }
    assert maps["bns.0"] == {
        "bns.0": list(range(8)),
        "bns.1": list(range(4, 12)),
        "bns.2": list(range(8, 16)),
        "bn_final": list(range(12, 20)),
    }
    assert maps["bns.2"] == {"bns.2": [0, 1, 2, 3], "bn_final": [4, 5, 6, 7]}
    assert pr.n_total == 8 + 3 * 4  # every physical channel counted once
    # BatchNorm after cat([a(6), b(10)]): a's channels are 0..5 of it, b's 6..15
    model, x = _archs.make("concat_bn")
    pr = _pruner(model, x)
    maps = {
        u.name: {pr.bn_names[bn]: (idx[pos.argsort()]).tolist() for bn, idx, pos in u.members}
        for u in pr.units
    }
    assert maps["a.1"]["bn_cat"] == list(range(6))
    assert maps["b.1"]["bn_cat"] == list(range(6, 16))
    assert "bn_cat" not in [u.name for u in pr.units]  # no channel of its own
    assert pr.n_total == 6 + 10 + 12


def test_grouped_convolution_loses_the_same_positions_in_every_group():
    model, x = _archs.make("grouped_conv")  # 16 channels, groups=4: classes of 4 channels
    _randomize(model).eval()
    pr = _pruner(model, x, sparsity=0.5)
    units = {u.name: u for u in pr.units}
    for name in ("reduce.1", "grouped.1"):  # the grouped conv's input and output units
        ties = units[name].ties
        assert units[name].n_classes == 4
        assert all(ties[p] == ties[p % 4] for p in range(16))
    # the lowest mean |gamma| class goes, even though its best channel beats others
    bn = model.grouped[1]
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.2, 1.0, 1.0, 1.0] * 3 + [3.0, 1.0, 1.0, 1.0]))
    want = _silenced(model, pr, {"grouped.1": [0, 4, 8, 12]})(x)
    keep = select_tied(
        [bn.weight.detach().abs()], [units["grouped.1"].ties], n_keep=12
    )  # class 0 mean 0.7 < 1.0
    assert (~keep[0]).nonzero().flatten().tolist() == [0, 4, 8, 12]
    pr.prune_channels({"grouped.1": [0, 4, 8, 12]})
    conv = model.grouped[0]
    assert (conv.out_channels, conv.groups, tuple(conv.weight.shape)) == (12, 4, (12, 4, 3, 3))
    with torch.no_grad():
        torch.testing.assert_close(model(x), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="same positions"):
        pr.prune_channels({"reduce.1": [1]})  # a single channel of a tied class


def test_grouped_convolution_keeps_two_channels_per_group_and_reloads(tmp_path):
    # ResNeXt regression: with one output channel per group left, Torch-Pruning takes the
    # grouped conv for a depthwise one and a later input-side step broke it
    from skscreen.pruning.channels import load_pruned, save_pruned

    model, x = _archs.make("grouped_conv")
    _randomize(model)
    y = torch.arange(16) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    pr = _pruner(model, x, alpha=0.5, sparsity=0.9, schedule=LogisticSchedule(), prune_epochs=3)
    assert {u.name: u.min_classes for u in pr.units}["grouped.1"] == 2
    pr.attach_hooks()
    for epoch in range(1, 5):
        pr.set_targets(y)
        opt.zero_grad()
        _loss(model, x, y).backward()
        opt.step()
        pr.step(epoch, opt)
    pr.remove_hooks()
    conv = model.grouped[0]
    assert conv.groups == 4 and conv.out_channels == 8 and conv.in_channels == 8
    model.eval()
    save_pruned(model, pr.history, tmp_path / "m.pt")
    back = load_pruned(_archs.GroupedConvNet(), tmp_path / "m.pt", x[:1]).eval()
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x))
    unit = {u.name: u for u in pr.units}["grouped.1"]
    one_class = [unit.channels[p] for p in (unit.ties == 0).nonzero().flatten()]
    assert len(one_class) == 4
    with pytest.raises(ValueError, match="at least 2 channels per group"):
        pr.prune_channels({"grouped.1": one_class})


def test_select_tied_is_select_global_for_single_channels():
    from skscreen.pruning.selection import select_global

    g = torch.Generator().manual_seed(0)
    scores = [torch.rand(n, generator=g, dtype=torch.float64) for n in (5, 3, 8)]
    ties = [torch.arange(len(s)) for s in scores]
    for n_keep in (0, 3, 7, 16, 40):
        got = select_tied(scores, ties, n_keep)
        want = select_global(scores, n_keep)
        assert all(torch.equal(a, b) for a, b in zip(got, want))


class _GroupedOverConcat(nn.Module):
    """A grouped conv whose two channel groups are two different units."""

    def __init__(self):
        super().__init__()
        self.a = _archs._cbr(3, 4)
        self.b = _archs._cbr(3, 4)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = _archs._Head(8, 10)

    def forward(self, x):
        return self.head(self.bn(self.grouped(torch.cat([self.a(x), self.b(x)], 1))))


def test_grouped_convolution_over_several_units_is_refused_up_front():
    model, x = _GroupedOverConcat(), torch.randn(4, 3, 8, 8)
    with pytest.raises(ValueError, match=r"ignored_layers=\['a.1', 'b.1'\]"):
        _pruner(model, x)
    pr = _pruner(model, x, ignored_layers=["a", model.b])  # names or modules
    assert [u.name for u in pr.units] == ["bn"]
    assert set(pr.excluded_units) == {"a.1", "b.1"}
    pr.step(1)
    assert model(x).shape == (4, 10) and model.bn.num_features == 4


def test_channel_shuffle_is_a_clear_error_before_training():
    model, x = _archs.make("channel_shuffle")
    with pytest.raises(ValueError, match="channel shuffle") as err:
        _pruner(model, x)
    assert "ignored_layers=['stem.1']" in str(err.value) and "granularity='weight'" in str(
        err.value
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_untraceable_model_names_the_limitation(monkeypatch):
    def fail(*args, **kwargs):
        raise ZeroDivisionError("integer division or modulo by zero")

    monkeypatch.setattr(tp.DependencyGraph, "build_dependency", fail)
    model, x = _archs.make("residual_bn_cnn")
    with pytest.raises(
        ValueError, match="could not trace.*ZeroDivisionError.*granularity='weight'"
    ):
        _pruner(model, x)


class _BNHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = _archs._cbr(3, 6)
        self.fc = nn.Linear(6, 5)
        self.bn_out = nn.BatchNorm1d(5)

    def forward(self, x):
        return self.bn_out(self.fc(self.body(x).mean((2, 3))))


def test_units_that_change_the_output_are_left_whole():
    model, x = _BNHead(), torch.randn(4, 3, 8, 8)
    pr = _pruner(model, x, sparsity=0.5)
    assert [u.name for u in pr.units] == ["body.1"] and "bn_out" in pr.excluded_units
    pr.step(1)
    assert model(x).shape == (4, 5) and model.body[1].num_features == 3


def test_ignored_layers_keep_their_channels_and_survive_pickling():
    model, x = _archs.make("residual_bn_cnn")
    pr = _pruner(model, x, ignored_layers=["stem"])
    assert list(pr.excluded_units) == ["stem.1"]
    assert pr.excluded_units["stem.1"].startswith("ignored layer 'stem.")
    assert pr.n_total == 64  # only bn2's channels
    pr.step(1)
    assert model.stem[1].num_features == 32 and model.bn.num_features == 32
    assert model.bn2.num_features == 32
    back = pickle.loads(pickle.dumps(pr)).bind(copy.deepcopy(model))
    assert [u.name for u in back.units] == ["bn2"] and "stem.1" in back.excluded_units
    with pytest.raises(ValueError, match="no module named 'nope'"):
        _pruner(model, x, ignored_layers=["nope"])
    with pytest.raises(ValueError, match="not in the model"):
        _pruner(model, x, ignored_layers=[nn.Linear(2, 2)])


class _LockedRecorder:
    """A hook owner that cannot be deep-copied (it holds a lock), like many callbacks."""

    def __init__(self):
        self.lock, self.calls = threading.Lock(), 0

    def hook(self, module, inputs, output):
        with self.lock:
            self.calls += 1


def test_construction_copies_the_model_without_its_hooks():
    model, x = _archs.make("residual_bn_cnn")
    rec = _LockedRecorder()
    model.bn.register_forward_hook(rec.hook)
    pr = _pruner(model, x)
    assert rec.calls == 1  # the trace of the model itself; the dry run ran on a bare copy
    pr.step(1)
    model(x)
    assert rec.calls == 2 and len(model.bn._forward_hooks) == 1


# ---------------------------------------------------------------- optimizer state (issue 9.4)
OPTIMIZERS = {
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "adamw-amsgrad": lambda p: torch.optim.AdamW(p, lr=1e-3, amsgrad=True),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2),
    "adadelta": lambda p: torch.optim.Adadelta(p),
    "adamax": lambda p: torch.optim.Adamax(p),
    "nadam": lambda p: torch.optim.NAdam(p),
    "radam": lambda p: torch.optim.RAdam(p),
    "asgd": lambda p: torch.optim.ASGD(p),
    "rprop": lambda p: torch.optim.Rprop(p),
    "adam-foreach": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=True),
}


def _state_value(p, k):
    """A valid state value (positive, small, distinct per entry and per key) made of ``p``."""
    return (k + 1) * (0.1 + 0.01 * p.detach().abs())


def _loss(model, x, y):
    return nn.functional.cross_entropy(model(x), y)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_optimizer_state_is_sliced_like_its_parameter(opt_name):
    # issue 9's residual BN CNN: stem 32, relu(x + bn(conv(x))), conv-BN 64, on 1x8x8
    model, x = _archs.make("residual_bn_cnn")
    _randomize(model)
    y = torch.arange(16) % 10
    opt = OPTIMIZERS[opt_name](model.parameters())
    for _ in range(2):
        opt.zero_grad()
        _loss(model, x, y).backward()
        opt.step()
    # known truth: give every state tensor a value that is a function of its parameter;
    # sliced like the parameter, it is the same function of the pruned parameter
    for p in model.parameters():
        for k, (key, v) in enumerate(sorted(opt.state[p].items())):
            if torch.is_tensor(v) and v.shape == p.shape:
                opt.state[p][key] = _state_value(p, k)
    state_keys = {n: sorted(opt.state[p]) for n, p in model.named_parameters()}
    old_steps = {n: opt.state[p].get("step") for n, p in model.named_parameters()}
    pr = _pruner(model, x, sparsity=0.5)
    pr.step(1, opt)
    assert model.conv.weight.shape[0] < 32 and model.conv.weight.shape[1] < 32  # in and out
    params = list(model.parameters())
    assert [p for g in opt.param_groups for p in g["params"]] == params
    assert set(opt.state) <= set(params)
    for n, p in model.named_parameters():
        st = opt.state[p]
        assert sorted(st) == state_keys[n], n
        for k, (key, v) in enumerate(sorted(st.items())):
            if torch.is_tensor(v) and v.ndim > 0:
                torch.testing.assert_close(v, _state_value(p, k), msg=f"{n}.{key}")
        if old_steps[n] is not None:  # scalar state kept as it was
            assert torch.equal(torch.as_tensor(st["step"]), torch.as_tensor(old_steps[n]))
    before = [p.detach().clone() for p in params]
    opt.zero_grad()
    _loss(model, x, y).backward()
    opt.step()  # the reported bug: "size of tensor a (32) must match (18)" here
    assert all(torch.isfinite(p).all() for p in params)
    assert any(not torch.equal(a, p) for a, p in zip(before, params))


def test_adafactor_state_with_reduced_dimensions():
    model, x = _archs.make("residual_bn_cnn")
    y = torch.arange(16) % 10
    opt = torch.optim.Adafactor(model.parameters(), lr=1e-2)
    _loss(model, x, y).backward()
    opt.step()
    pr = _pruner(model, x, sparsity=0.5)
    pr.step(1, opt)
    w = model.head.fc.weight  # (10, in): row_var (10, 1), col_var (1, in)
    assert opt.state[w]["row_var"].shape == (10, 1)
    assert opt.state[w]["col_var"].shape == (1, w.shape[1])
    opt.zero_grad()
    _loss(model, x, y).backward()
    opt.step()


def test_lbfgs_history_is_reset_and_training_continues():
    model, x = _archs.make("residual_bn_cnn")
    y = torch.arange(16) % 10
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=3)

    def closure():
        opt.zero_grad()
        loss = _loss(model, x, y)
        loss.backward()
        return loss

    opt.step(closure)
    assert opt.state  # its flat history over all parameters
    pr = _pruner(model, x, sparsity=0.5)
    pr.step(1, opt)
    assert not opt.state and opt._numel_cache is None
    assert opt._params is opt.param_groups[0]["params"]  # its cached list follows
    assert opt._params == list(model.parameters())
    loss = opt.step(closure)
    assert torch.isfinite(loss)


def test_remap_optimizer_drops_state_it_cannot_map():
    old = nn.Parameter(torch.randn(4, 3))
    new = nn.Parameter(old.detach()[[0, 2]])
    opt = torch.optim.SGD([old], lr=0.1, momentum=0.9)
    opt.state[old] = {"momentum_buffer": torch.randn(12), "step": 3}  # flat: not mappable
    remap_optimizer(opt, {id(new): (new, old, [(0, [0, 2])])})
    assert opt.param_groups[0]["params"] == [new] and new not in opt.state


def test_a_failed_pruning_step_leaves_model_and_optimizer_unchanged(monkeypatch):
    model, x = _archs.make("residual_bn_cnn")
    y = torch.arange(16) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    _loss(model, x, y).backward()
    opt.step()
    pr = _pruner(model, x, sparsity=0.5)
    params = list(model.parameters())
    state = {
        n: {k: v.clone() for k, v in opt.state[p].items()} for n, p in model.named_parameters()
    }
    sizes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    cls = tp.pruner.function.BasePruningFunc
    original = cls._prune_parameter_and_grad
    calls = []

    def broken(self, weight, keep_idxs, dim):  # fails once several parameters were cut
        calls.append(dim)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return original(self, weight, keep_idxs, dim)

    monkeypatch.setattr(cls, "_prune_parameter_and_grad", broken)
    with pytest.raises(RuntimeError, match="boom"):
        pr.step(1, opt)
    assert list(model.parameters()) == params
    assert {n: tuple(p.shape) for n, p in model.named_parameters()} == sizes
    assert [p for g in opt.param_groups for p in g["params"]] == params
    for n, p in model.named_parameters():
        assert torch.equal(opt.state[p]["momentum_buffer"], state[n]["momentum_buffer"])
    assert pr.n_kept() == pr.n_total and pr.history == []
    assert len(calls) == 5
    monkeypatch.setattr(cls, "_prune_parameter_and_grad", original)
    pr.step(1, opt)  # and the pruner still works
    assert pr.n_kept() == pr.n_total // 2
    _loss(model, x, y).backward()
    opt.step()


# ---------------------------------------------------------------- training through pruning
@pytest.mark.parametrize("opt_name", ["sgd-momentum", "adam"])
@pytest.mark.parametrize("name", _archs.CHANNEL_ARCHS)
def test_training_loop_through_gradual_pruning(name, opt_name):
    model, x = _archs.make(name)
    y = torch.arange(len(x)) % 10
    opt = OPTIMIZERS[opt_name](model.parameters())
    pr = _pruner(model, x, alpha=0.5, sparsity=0.5, schedule=LogisticSchedule(), prune_epochs=3)
    pr.attach_hooks()
    for epoch in range(1, 5):
        for batch in (slice(0, 8), slice(8, 16)):
            pr.set_targets(y[batch])
            opt.zero_grad()
            loss = _loss(model, x[batch], y[batch])
            loss.backward()
            opt.step()
            assert torch.isfinite(loss)
        pr.step(epoch, opt)
    pr.remove_hooks()
    target = pr.target_keep(4)
    # tied classes (grouped convs) may keep up to one class more than the target
    assert target <= pr.n_kept() < target + 4
    assert pr.n_kept() < pr.n_total
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (16, 10)
