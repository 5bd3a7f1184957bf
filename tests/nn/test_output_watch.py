"""OutputWatch and SameOutputs (skscreen/nn/_output_watch.py) against hand-made outputs: what
counts as "the same output to every sample", and the exact warning."""

import pytest

torch = pytest.importorskip("torch")

from skscreen.nn._output_watch import OutputWatch, SameOutputs  # noqa: E402


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_across_batches_compares_with_the_first_row_kept_by_value():
    s = SameOutputs(across_batches=True)
    first = t([[1.0, 2.0], [1.0, 2.0]])
    s.add(first)
    first.add_(5.0)  # the batch tensor is reused and overwritten: the reference must not move
    s.add(t([[1.0, 2.0]]))
    assert s.same and s.n == 3
    s.add(t([[1.0, 2.5]]))
    assert not s.same and s.n == 4


def test_within_batches_each_batch_against_itself_and_single_rows_ignored():
    s = SameOutputs(across_batches=False)
    s.add(t([[1.0, 2.0], [1.0, 2.0]]))
    s.add(t([[3.0, 4.0], [3.0, 4.0]]))  # another value, the same within the batch
    assert s.same and s.n == 4
    s.add(t([[9.0, 9.0]]))  # one row says nothing
    assert s.same and s.n == 4
    s.add(t([[1.0, 2.0], [1.0, 2.1]]))
    assert not s.same and s.n == 6


def test_what_cannot_be_told_makes_no_claim():
    for y_pred in (None, [1, 2], torch.tensor(3.0), torch.empty(0, 3)):
        s = SameOutputs(across_batches=True)
        s.add(y_pred)
        assert not s.same, y_pred
    s = SameOutputs(across_batches=True)  # 1-D scores (one per sample) are outputs too
    s.add(torch.tensor([0.5, 0.5, 0.5]))
    assert s.same and s.n == 3
    s = SameOutputs(across_batches=True)  # a tuple: the first element is the output
    s.add((t([[1.0], [1.0]]), t([[5.0], [6.0]])))
    assert s.same and s.n == 2
    s = SameOutputs(across_batches=True)  # another width later: not the same output
    s.add(t([[1.0, 2.0], [1.0, 2.0]]))
    s.add(t([[1.0, 2.0, 3.0]]))
    assert not s.same


def _watch(valid=(), train=()):
    w = OutputWatch(kept=10)
    for b in valid:
        w.add(False, t(b))
    for b in train:
        w.add(True, t(b))
    return w


def test_the_warning_words_what_was_seen():
    w = _watch(valid=[[[0.1, 0.9]], [[0.1, 0.9]]])
    assert w.warning(4, 10, 40) == (
        "In epoch 4, after pruning to sparsity 0.7500 (10 of 40 kept), the module gave the "
        "same output to all 2 validation samples: no input-output path is left (or none is "
        "active), so it cannot tell samples apart. Lower sparsity, use scope='layer' (every "
        "layer keeps its share), or a larger module."
    )
    w = _watch(train=[[[0.1, 0.9], [0.1, 0.9]]])
    assert w.warning(2, 1, 4).startswith(
        "In epoch 2, after pruning to sparsity 0.7500 (1 of 4 kept), the module gave the same "
        "output to every sample of each training batch (2 samples): no input-output path"
    )


def test_validation_outputs_decide_when_there_are_any_and_two_samples_are_needed():
    constant_train = [[[1.0], [1.0], [1.0]]]
    assert _watch(valid=[[[1.0]]], train=constant_train).warning(3, 1, 2) is None  # 1 sample
    assert _watch(valid=[[[1.0]], [[2.0]]], train=constant_train).warning(3, 1, 2) is None
    assert _watch(train=[[[1.0], [2.0]]]).warning(3, 1, 2) is None
    assert _watch().warning(3, 1, 2) is None
    assert OutputWatch(kept=7).kept == 7
