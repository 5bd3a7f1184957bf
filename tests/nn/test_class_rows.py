"""Unit tests of skscreen/nn/_class_rows.py: the first tensor of a batch, the module's output
width from a probing forward pass, and the number of class rows the statistics need, with
stand-in nets whose classes and outputs are known."""

import numpy as np
import pytest
import torch

from skscreen.nn._class_rows import first_tensor, probe_output_width, statistics_rows


class _Net:
    """A net that records how it was called: ``infer`` returns ``make(Xi)``."""

    def __init__(self, width=3, make=None, **attrs):
        self.module_ = torch.nn.Linear(2, 2)
        self.width = width
        self.make = make
        self.calls = []
        for k, v in attrs.items():
            setattr(self, k, v)

    def infer(self, Xi):
        self.calls.append(
            {
                "X": Xi,
                "training": self.module_.training,
                "grad": torch.is_grad_enabled(),
            }
        )
        if self.make is not None:
            return self.make(Xi)
        return torch.zeros(len(Xi), self.width, requires_grad=True) * 1.0


# --------------------------------------------------------------------- first_tensor
def test_first_tensor_of_each_kind_of_batch():
    t = torch.arange(6.0).reshape(3, 2)
    assert first_tensor(t) is t
    u = torch.ones(2)
    assert first_tensor({"a": t, "b": u}) is t
    assert first_tensor({"b": u, "a": t}) is u
    assert first_tensor([u, t]) is u
    assert first_tensor((t, u)) is t
    a = np.arange(4, dtype=np.int32).reshape(2, 2)
    out = first_tensor(a)
    assert torch.is_tensor(out) and out.dtype == torch.int32
    assert out.tolist() == [[0, 1], [2, 3]]
    out = first_tensor({"x": [[1.5, 2.5]]})
    assert torch.is_tensor(out) and out.dtype == torch.float64
    assert out.tolist() == [[1.5, 2.5]]
    out = first_tensor([np.array([7, 8])])
    assert out.tolist() == [7, 8]


# --------------------------------------------------------------- probe_output_width
@pytest.mark.parametrize("training", [True, False])
def test_probe_runs_in_eval_mode_without_gradients_and_restores_the_mode(training):
    net = _Net(width=5)
    net.module_.train(training)
    X = torch.zeros(4, 2)
    assert probe_output_width(net, X) == 5
    assert len(net.calls) == 1
    assert net.calls[0]["X"] is X
    assert net.calls[0]["training"] is False
    assert net.calls[0]["grad"] is False
    assert net.module_.training is training
    assert torch.is_grad_enabled()


def test_probe_restores_the_mode_when_the_forward_pass_fails():
    def fail(Xi):
        raise RuntimeError("boom")

    net = _Net(make=fail)
    net.module_.train(True)
    with pytest.raises(RuntimeError, match="boom"):
        probe_output_width(net, torch.zeros(1, 2))
    assert net.module_.training is True


def test_probe_reads_the_last_dimension_of_the_first_output():
    n = _Net(make=lambda X: (torch.zeros(2, 7), torch.zeros(2, 3)))
    assert probe_output_width(n, torch.zeros(2, 2)) == 7
    n = _Net(make=lambda X: [torch.zeros(2, 4, 6), torch.zeros(1)])
    assert probe_output_width(n, torch.zeros(2, 2)) == 6
    n = _Net(make=lambda X: torch.zeros(2, 1))
    out = probe_output_width(n, torch.zeros(2, 2))
    assert out == 1 and type(out) is int
    # no class dimension
    assert probe_output_width(_Net(make=lambda X: torch.zeros(5)), torch.zeros(5, 2)) is None
    assert probe_output_width(_Net(make=lambda X: (torch.zeros(()),)), torch.zeros(5, 2)) is None


# ----------------------------------------------------------------- statistics_rows
def test_rows_are_at_least_two():
    net = _Net(_labels_fixed_by_first_call=True)
    assert statistics_rows(net, torch.zeros(3, 2), None) == 2
    assert statistics_rows(net, torch.zeros(3, 2), torch.tensor([0, 0])) == 2
    assert net.calls == []


def test_rows_from_the_classes_the_net_knows():
    fixed = {"_labels_fixed_by_first_call": True}
    X = torch.zeros(3, 2)
    assert statistics_rows(_Net(classes_=np.array(["a", "b", "c"]), **fixed), X, None) == 3
    assert statistics_rows(_Net(classes_=["a", "b", "c", "d"], **fixed), X, None) == 4
    # integer classes: the largest + 1 (labels {0, 2} carry index 2)
    assert statistics_rows(_Net(classes_=np.array([0, 2]), **fixed), X, None) == 3
    assert statistics_rows(_Net(classes_=[1, 5], **fixed), X, None) == 6
    assert statistics_rows(_Net(classes_=np.array([4], dtype=np.uint8), **fixed), X, None) == 5
    assert statistics_rows(_Net(classes_=np.array([0, 1, 2, 3]), **fixed), X, None) == 4
    # float classes: their number only
    assert statistics_rows(_Net(classes_=np.array([0.0, 7.0]), **fixed), X, None) == 2
    # no classes, classes that are not a sequence, an empty integer set
    assert statistics_rows(_Net(**fixed), X, None) == 2
    assert statistics_rows(_Net(classes_=None, **fixed), X, None) == 2
    assert statistics_rows(_Net(classes_=np.array([], dtype=int), **fixed), X, None) == 2


def test_classes_that_raise_are_ignored():
    class Raising(_Net):
        @property
        def classes_(self):
            raise AttributeError("not fitted")

    net = Raising(_labels_fixed_by_first_call=True)
    assert statistics_rows(net, torch.zeros(3, 2), torch.tensor([0, 3])) == 4


def test_rows_from_the_batch_labels():
    net = _Net(_labels_fixed_by_first_call=True, classes_=np.array([0, 1]))
    X = torch.zeros(3, 2)
    assert statistics_rows(net, X, torch.tensor([0, 6, 1])) == 7
    assert statistics_rows(net, X, np.array([2, 0])) == 3
    assert statistics_rows(net, X, [0, 4]) == 5
    assert statistics_rows(net, X, torch.tensor([1], dtype=torch.uint8)) == 2
    # float, boolean and empty targets carry no index
    assert statistics_rows(net, X, torch.tensor([0.0, 9.0])) == 2
    assert statistics_rows(net, X, np.array([9.0])) == 2
    assert statistics_rows(net, X, torch.tensor([True, True])) == 2
    assert statistics_rows(net, X, torch.tensor([], dtype=torch.long)) == 2
    assert net.calls == []


def test_width_seen_is_used_instead_of_probing():
    net = _Net(width=9, classes_=np.array([0, 1, 2]))
    X = torch.zeros(3, 2)
    assert statistics_rows(net, X, None, width_seen=5) == 5
    assert statistics_rows(net, X, None, width_seen=1) == 3
    assert statistics_rows(net, X, torch.tensor([7]), width_seen=5) == 8
    assert statistics_rows(net, X, None, width_seen=0) == 3
    assert net.calls == []


def test_labels_fixed_by_the_first_call_need_no_probe():
    net = _Net(width=9, classes_=np.array([0, 1, 2]), _labels_fixed_by_first_call=True)
    assert statistics_rows(net, torch.zeros(3, 2), None) == 3
    assert net.calls == []
    net._labels_fixed_by_first_call = False
    assert statistics_rows(net, torch.zeros(3, 2), None) == 9


def test_probe_on_the_first_eight_rows_of_a_tensor():
    net = _Net(width=6, classes_=np.array([0, 1]))
    X = torch.arange(40.0).reshape(20, 2)
    assert statistics_rows(net, X, torch.tensor([0, 1])) == 6
    (call,) = net.calls
    assert torch.equal(call["X"], X[:8])
    assert call["training"] is False and call["grad"] is False
    # fewer rows: all of them
    net.calls.clear()
    X = torch.zeros(3, 2)
    assert statistics_rows(net, X, None) == 6
    assert torch.equal(net.calls[0]["X"], X)


def test_probe_on_a_non_tensor_batch_whole():
    net = _Net(width=4)
    X = {"x": torch.zeros(20, 2)}
    assert statistics_rows(net, X, None) == 4
    assert net.calls[0]["X"] is X
    net.calls.clear()
    A = np.zeros((20, 2), dtype=np.float32)
    assert statistics_rows(net, A, None) == 4
    assert net.calls[0]["X"] is A


def test_probe_result_is_a_lower_bound():
    # the width is smaller than the classes: the classes win
    net = _Net(width=2, classes_=np.array([0, 1, 2, 3, 4]))
    assert statistics_rows(net, torch.zeros(3, 2), None) == 5
    # an output without a class dimension: the rows stay at least 2
    net = _Net(make=lambda X: torch.zeros(len(X)))
    assert statistics_rows(net, torch.zeros(3, 2), None) == 2
    net = _Net(make=lambda X: torch.zeros(len(X)), classes_=np.array([0, 1, 2]))
    assert statistics_rows(net, torch.zeros(3, 2), None) == 3
    net = _Net(make=lambda X: torch.zeros(len(X), 1))
    assert statistics_rows(net, torch.zeros(3, 2), None) == 2


def test_tensor_labels_are_read_as_they_are():
    # a tensor batch is read in place, whatever its dtype: bfloat16 targets (numpy has no
    # bfloat16) carry no index, as other float targets; integer ones are read as well
    net = _Net(_labels_fixed_by_first_call=True, classes_=np.array([0, 1]))
    X = torch.zeros(3, 2)
    assert statistics_rows(net, X, torch.tensor([0.0, 9.0], dtype=torch.bfloat16)) == 2
    assert statistics_rows(net, X, torch.tensor([4, 1], dtype=torch.int16)) == 5
    # targets that require grad (soft labels from a graph) are not converted through numpy
    soft = torch.tensor([0.0, 1.0], requires_grad=True)
    assert statistics_rows(net, X, soft) == 2
