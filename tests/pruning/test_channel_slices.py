"""skscreen.pruning.channels._slices: the records of Torch-Pruning's parameter slices, and
their chains (one parameter sliced twice)."""

import pytest

torch = pytest.importorskip("torch")
tp = pytest.importorskip("torch_pruning")

from torch import nn  # noqa: E402

from skscreen.pruning.channels._slices import chain_slices, recording_slices  # noqa: E402


def test_chain_of_two_slices_and_a_single_one():
    a, b, c = object(), object(), object()
    x, y = object(), object()
    records = [(a, b, 0, [0, 2]), (x, y, 1, [1]), (b, c, 1, [1, 3])]
    chains = chain_slices(records)
    assert set(chains) == {id(c), id(y)}
    assert chains[id(c)] == (c, a, [(0, [0, 2]), (1, [1, 3])])
    assert chains[id(y)] == (y, x, [(1, [1])])


def test_no_records_no_chains():
    assert chain_slices([]) == {}


def test_recording_gives_every_slice_and_unpatches():
    cls = tp.pruner.function.BasePruningFunc
    original = cls._prune_parameter_and_grad
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 4, 3)
    weight, bias = conv.weight, conv.bias
    with recording_slices() as records:
        assert cls._prune_parameter_and_grad is not original
        tp.prune_conv_out_channels(conv, idxs=[1, 2])
    assert cls._prune_parameter_and_grad is original
    assert len(records) == 2
    (w_old, w_new, w_dim, w_keep), (b_old, b_new, b_dim, b_keep) = records
    assert w_old is weight and w_new is conv.weight and (w_dim, w_keep) == (0, [0, 3])
    assert b_old is bias and b_new is conv.bias and (b_dim, b_keep) == (0, [0, 3])
    assert all(type(i) is int for i in w_keep) and type(w_dim) is int
    assert torch.equal(conv.weight, weight[[0, 3]])


def test_unpatched_after_an_error():
    cls = tp.pruner.function.BasePruningFunc
    original = cls._prune_parameter_and_grad
    with pytest.raises(RuntimeError, match="boom"):
        with recording_slices():
            raise RuntimeError("boom")
    assert cls._prune_parameter_and_grad is original
