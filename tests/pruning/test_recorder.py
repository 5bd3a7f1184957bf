"""InputStatsRecorder (skscreen/pruning/hooks.py): bookkeeping rules with a known answer.

``reduce_across_ranks`` is tested in-process: the collective ``reduce_moments`` is replaced
by the reduction of two ranks that recorded the same batches (every moment doubled), which
is what the real one returns for identical shards (tests/pruning/test_distributed.py runs
the real collective in spawned processes, which mutation testing cannot see).
"""

import pickle

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skscreen.pruning import hooks as hooks_module  # noqa: E402
from skscreen.pruning.distributed import ReducedMoments  # noqa: E402
from skscreen.pruning.hooks import InputStatsRecorder, as_samples  # noqa: E402
from skscreen.stats import DeferredMoments  # noqa: E402


@pytest.fixture
def doubled(monkeypatch):
    """reduce_moments of two identical ranks; records each call's names and group."""
    calls = []

    def reduce_moments(named, group=None):
        calls.append((list(named), group, dict(named)))
        return {n: None if m is None else m + m for n, m in named.items()}

    monkeypatch.setattr(hooks_module, "reduce_moments", reduce_moments)
    return calls


def _modules():
    torch.manual_seed(0)
    # names deliberately not in sorted order: the rank-common order is the attach order
    return {"zeta": nn.Linear(3, 2), "alpha": nn.Linear(3, 2), "idle": nn.Linear(3, 2)}


def _record(rec, mods, n=10, only=("zeta", "alpha")):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 3, generator=g)
    y = torch.arange(n) % rec.n_classes
    rec.set_targets(y)
    for name in only:
        mods[name].train()
        mods[name](x)
    rec.set_targets(None)


def test_reduce_across_ranks_replaces_both_statistics_by_the_global_ones(doubled):
    mods = _modules()
    rec = InputStatsRecorder(mods, n_classes=2, track_abs=True)
    _record(rec, mods, n=10)
    out = rec.reduce_across_ranks(group="the-group")
    assert out is rec
    # one collective per statistic, over every recorded unit in attach order, with the group
    assert [c[0] for c in doubled] == [["zeta", "alpha", "idle"]] * 2
    assert [c[1] for c in doubled] == ["the-group"] * 2
    assert doubled[0][2]["idle"] is None and doubled[1][2]["idle"] is None
    # class moments first (per class), then |x| (one pooled class)
    assert doubled[0][2]["zeta"].count_.tolist() == [5.0, 5.0]
    assert doubled[1][2]["zeta"].count_.tolist() == [10.0]
    for name in ("zeta", "alpha"):
        assert rec.has_stats(name) and rec.seen(name)
        assert rec.moments_of(name).n_samples == 20.0
        assert rec.moments_of(name).count_.tolist() == [10.0, 10.0]
        assert rec.abs_moments_of(name).n_samples == 20.0
        assert isinstance(rec.accumulators[name], ReducedMoments)
        assert isinstance(rec.abs_accumulators[name], ReducedMoments)
    # a unit no rank recorded stays absent (not a None entry)
    assert set(rec.accumulators) == set(rec.abs_accumulators) == {"zeta", "alpha"}
    assert not rec.seen("idle") and rec.abs_moments_of("idle") is None
    # read-only until reset
    with pytest.raises(RuntimeError, match="already reduced"):
        _record(rec, mods, n=4)
    rec.reset()
    _record(rec, mods, n=4)
    assert isinstance(rec.accumulators["zeta"], DeferredMoments)
    assert rec.moments_of("zeta").n_samples == 4.0


def test_reduce_across_ranks_without_abs_statistics(doubled):
    mods = _modules()
    rec = InputStatsRecorder(mods, n_classes=2)  # track_class only
    _record(rec, mods, n=6)
    rec.reduce_across_ranks()
    assert len(doubled) == 1 and doubled[0][1] is None
    assert rec.abs_accumulators == {}
    assert rec.moments_of("alpha").n_samples == 12.0


def test_reduce_across_ranks_without_class_statistics(doubled):
    mods = _modules()
    rec = InputStatsRecorder(mods, n_classes=2, track_class=False, track_abs=True)
    _record(rec, mods, n=6)
    rec.reduce_across_ranks()
    assert len(doubled) == 1
    assert rec.accumulators == {}
    assert rec.abs_moments_of("alpha").n_samples == 12.0


def test_reduce_across_ranks_of_a_recorder_without_names_uses_the_sorted_units(doubled):
    """A recorder pickled before ``names`` existed: the units it recorded, sorted (the same
    on every rank)."""
    mods = _modules()
    rec = InputStatsRecorder(mods, n_classes=2, track_abs=True)
    _record(rec, mods, n=6)
    del rec.names
    rec.reduce_across_ranks()
    assert [c[0] for c in doubled] == [["alpha", "zeta"]] * 2
    assert rec.moments_of("zeta").n_samples == 12.0


def test_a_pickled_recorder_keeps_names_and_statistics_but_not_hooks_or_labels():
    mods = _modules()
    rec = InputStatsRecorder(mods, n_classes=2, track_abs=True)
    _record(rec, mods, n=6)
    rec.set_targets(torch.tensor([0, 1]))
    back = pickle.loads(pickle.dumps(rec))
    assert back.names == ["zeta", "alpha", "idle"]
    assert not back.attached and back._targets is None
    assert back.moments_of("alpha").n_samples == 6.0
    assert rec.attached and rec._targets is not None  # the original is untouched


def test_as_samples_last_mode_on_2d_input_is_the_batch_itself():
    x = torch.arange(6.0).reshape(3, 2)
    y = torch.tensor([0, 1, 0])
    s, labels = as_samples(x, y, "last")
    assert torch.equal(s, x) and torch.equal(labels, y)
    assert as_samples(x, torch.tensor([0, 1]), "last") == (None, None)


class _SpyMoments(DeferredMoments):
    """Records the ``rows_left`` hint of every update."""

    hints = []

    def update(self, X, y, rows_left=None):
        _SpyMoments.hints.append((X.shape[0], rows_left))
        return super().update(X, y, rows_left=rows_left)


def test_the_rows_still_to_come_are_announced_in_samples_batch_by_batch(monkeypatch):
    monkeypatch.setattr(hooks_module, "DeferredMoments", _SpyMoments)
    _SpyMoments.hints = []
    seq = nn.Linear(3, 2)  # sees (batch, 4 positions, 3): 4 samples per row
    rec = InputStatsRecorder({"seq": seq}, n_classes=2)
    rec.expect_rows(10)
    for rows in (4, 4, 2):
        rec.set_targets(torch.zeros(rows, dtype=torch.long))
        seq(torch.randn(rows, 4, 3))
    assert _SpyMoments.hints == [(16, 24), (16, 8), (8, 0)]
    rec.set_targets(torch.zeros(1, dtype=torch.long))  # more rows than announced
    seq(torch.randn(1, 4, 3))
    assert _SpyMoments.hints[-1] == (4, None)
    rec.expect_rows(None)  # an epoch of unknown length
    rec.set_targets(torch.zeros(2, dtype=torch.long))
    seq(torch.randn(2, 4, 3))
    assert _SpyMoments.hints[-1] == (8, None)
    rec.remove()


def test_batches_of_one_row_announce_each_row_still_to_come(monkeypatch):
    monkeypatch.setattr(hooks_module, "DeferredMoments", _SpyMoments)
    _SpyMoments.hints = []
    lin = nn.Linear(3, 2)
    rec = InputStatsRecorder({"lin": lin}, n_classes=2)
    rec.expect_rows(3)
    for _ in range(3):
        rec.set_targets(torch.zeros(1, dtype=torch.long))
        lin(torch.randn(1, 3))
    assert _SpyMoments.hints == [(1, 2), (1, 1), (1, 0)]
    rec.remove()


def test_the_magnitude_statistics_get_the_same_hint(monkeypatch):
    monkeypatch.setattr(hooks_module, "DeferredMoments", _SpyMoments)
    _SpyMoments.hints = []
    lin = nn.Linear(3, 2)
    rec = InputStatsRecorder({"lin": lin}, n_classes=2, track_class=False, track_abs=True)
    rec.expect_rows(10)
    for rows in (6, 4):
        rec.set_targets(torch.zeros(rows, dtype=torch.long))
        lin(torch.randn(rows, 3))
    assert list(rec.abs_accumulators) == ["lin"] and not rec.accumulators
    assert _SpyMoments.hints == [(6, 4), (4, 0)]
    rec.remove()


def test_an_input_is_kept_by_reference_not_copied():
    # autograd forbids changing a layer's saved input in place: no copy is needed (an
    # output, which is not saved, is copied; tests/pruning/test_hooks.py)
    lin = nn.Linear(3, 2)
    rec = InputStatsRecorder({"lin": lin}, n_classes=2)
    x = torch.randn(5, 3)
    rec.set_targets(torch.zeros(5, dtype=torch.long))
    lin(x)
    ((kept, _),) = rec.accumulators["lin"]._pending
    assert kept.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    rec.remove()


def test_a_recorder_pickled_before_the_rows_hint_still_records():
    # a recorder saved before expect_rows existed has no _rows_left in its state (no
    # __setstate__): the plain-loop use (set_targets, forward) must not fail on it
    lin = nn.Linear(3, 2)
    state = InputStatsRecorder({"lin": lin}, n_classes=2).__getstate__()
    del state["_rows_left"]
    old = InputStatsRecorder.__new__(InputStatsRecorder)
    old.__dict__.update(state)
    rec = pickle.loads(pickle.dumps(old))
    rec.attach({"lin": lin})
    rec.set_targets(torch.tensor([0, 1, 1, 0]))
    lin(torch.randn(4, 3))
    assert rec.moments_of("lin").n_samples == 4.0
    rec.remove()


def test_recorded_says_whether_a_forward_pass_took_the_current_labels():
    # the root hook clears the labels only after a pass that recorded them (session 9): an
    # extra pass of another batch size leaves them to the labelled one
    lin = nn.Linear(3, 2).train()
    rec = InputStatsRecorder({"lin": lin}, n_classes=2)
    assert rec.recorded is False
    rec.set_targets(torch.tensor([0, 1, 0, 1]))
    assert rec.recorded is False
    lin(torch.randn(5, 3))  # another batch size: nothing recorded
    assert rec.recorded is False and not rec.has_stats("lin")
    lin(torch.randn(4, 3))
    assert rec.recorded is True and rec.accumulators["lin"].n_samples == 4
    rec.set_targets(torch.tensor([1, 0, 1, 0]))  # the next batch's labels: not taken yet
    assert rec.recorded is False
    lin.eval()(torch.randn(4, 3))  # eval mode records nothing
    assert rec.recorded is False
    back = pickle.loads(pickle.dumps(rec))  # restored without labels, nothing taken
    assert back.recorded is False
