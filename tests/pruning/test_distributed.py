"""Pruning under data-parallel training: two gloo ranks (CPU) against one process.

One launch of two processes (``torch.multiprocessing.spawn``) runs every scenario; the
tests compare what the ranks wrote with a one-process run over the same global batches.
The models are float64, so that "the same computation" differs only by rounding far below
the tolerances (DDP's averaged gradients against the global batch's).
"""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from _ranks import free_port, run_ranks
from sklearn.datasets import make_classification
from sklearn.feature_selection import f_classif
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from skscreen.pruning import (
    ExtremeValuePruning,
    HybridScreeningScorer,
    WeightPruner,
    make_schedule,
)
from skscreen.pruning.distributed import is_distributed
from skscreen.pruning.hooks import InputStatsRecorder
from skscreen.stats import anova_f

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo"
)

WORLD = 2
N_ROWS, GLOBAL_BATCH, EPOCHS, PRUNE_EPOCHS = 512, 64, 5, 4


def _data():
    X, y = make_classification(
        n_samples=N_ROWS,
        n_features=20,
        n_informative=5,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        shuffle=False,  # the first 5 features are the informative ones
        random_state=0,
    )
    order = np.random.default_rng(0).permutation(N_ROWS)  # rows mixed, features not
    return torch.tensor(X[order]), torch.tensor(y[order])


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3)).double()


def _shards(X, y, rank, world):
    """Each step's share of the global batch for ``rank`` (all of it when ``world == 1``)."""
    share = GLOBAL_BATCH // world
    for a in range(0, N_ROWS, GLOBAL_BATCH):
        lo = a + rank * share
        yield X[lo : lo + share], y[lo : lo + share]


def _train(rank, world, policy=None, epochs=EPOCHS):
    """The plain-loop WeightPruner, with DDP when ``world > 1``; masks per epoch, weights."""
    X, y = _data()
    model = _model()
    if policy is None:
        pruner = WeightPruner(
            model,
            HybridScreeningScorer(alpha=0.5),
            make_schedule("logistic"),
            sparsity=0.8,
            prune_epochs=PRUNE_EPOCHS,
            n_classes=3,
        )
    else:
        pruner = WeightPruner(
            model, policy, make_schedule("one-shot"), sparsity=0.0, prune_epochs=1, n_classes=3
        )
    net = DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    pruner.attach_hooks()
    masks = []
    for epoch in range(1, epochs + 1):
        for xb, yb in _shards(X, y, rank, world):
            pruner.set_targets(yb)
            loss = F.cross_entropy(net(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            pruner.enforce()
        pruner.step(epoch, optimizer)
        masks.append([u.mask.clone() for u in pruner.units])
    pruner.remove_hooks()
    return {
        "masks": masks,
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "report": None if policy is None else policy.report_,
    }


def _layer_inputs(X):
    """The inputs of both Linear layers of the untrained model, on all rows at once."""
    model = _model()
    with torch.no_grad():
        return {"0": X, "2": torch.relu(model[0](X))}


def _record(rank, world):
    """Statistics of a fixed model over this rank's shards, reduced when ``world > 1``.

    Rank 1 never sees class 2 (its rows of class 2 are dropped, so the global data is the
    union of the shards): the reduction must pad classes and weigh uneven counts.
    """
    X, y = _data()
    model = _model()
    layers = {"0": model[0], "2": model[2]}
    rec = InputStatsRecorder(layers, n_classes=3, track_abs=True)
    with torch.no_grad():
        for xb, yb in _shards(X, y, rank, world):
            if rank == 1:
                xb, yb = xb[yb != 2], yb[yb != 2]
            rec.set_targets(yb)
            model(xb)
    if world > 1:
        rec.reduce_across_ranks()
    return {
        name: {
            "f": anova_f(rec.moments_of(name), warn_constant=False)[0],
            "n": rec.moments_of(name).n_samples,
            "abs_mean": _pooled_mean(rec.abs_moments_of(name)),
        }
        for name in layers
    }


def _pooled_mean(moments):
    m = moments.numpy()
    return (m.mean_[0] + m.shift_) if m.scale_ is None else None


def _global_rows():
    """The rows the two ranks of :func:`_record` see together, in one piece."""
    X, y = _data()
    share = GLOBAL_BATCH // WORLD
    rank = (torch.arange(N_ROWS) % GLOBAL_BATCH) // share
    keep = (rank == 0) | (y != 2)
    return X[keep], y[keep]


def _channel_refusal():
    from skscreen.pruning.channels import ChannelPruner, ChannelScreeningScorer

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    try:
        ChannelPruner(
            model,
            ChannelScreeningScorer(),
            make_schedule("one-shot"),
            sparsity=0.5,
            prune_epochs=1,
            n_classes=2,
            example_inputs=torch.randn(1, 3, 8, 8),
        )
    except ValueError as exc:
        return str(exc)
    return None


def _mismatches(rank):
    """What the reduction says when the ranks' models differ (instead of hanging)."""
    from skscreen.pruning.distributed import reduce_moments
    from skscreen.stats import ClassMoments

    out = {}
    for key, named in (
        ("names", {f"layer{rank}": None}),
        ("features", {"0": ClassMoments(np.arange(2)).update(torch.randn(8, 3 + rank), _Y8)}),
    ):
        try:
            reduce_moments(named)
        except RuntimeError as exc:
            out[key] = str(exc)
    return out


_Y8 = torch.tensor([0, 1] * 4)


def _worker(rank, port, out):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        result = {
            "distributed": is_distributed(),
            "record": _record(rank, WORLD),
            "train": _train(rank, WORLD),
            # no random_state anywhere: each rank would draw fresh entropy
            "extreme": _train(rank, WORLD, policy=ExtremeValuePruning(block_size=4), epochs=2),
            # a policy with its own unseeded generator: only agreeing on the masks helps
            "own_rng": _train(
                rank,
                WORLD,
                policy=ExtremeValuePruning(block_size=4, random_state=np.random.default_rng()),
                epochs=2,
            ),
            "channel_refusal": _channel_refusal(),
            "mismatches": _mismatches(rank),
        }
        torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory, one_process):
    """What each of two gloo ranks wrote (one launch for the whole module).

    Forked after the one-process run, the ranks start with everything imported and warm
    (each sets one torch thread first, as DataLoader workers do).
    """
    out = str(tmp_path_factory.mktemp("ranks"))
    return run_ranks(_worker, free_port(), out, WORLD)


@pytest.fixture(scope="module")
def one_process():
    """The same global batches through one process (no process group)."""
    assert not is_distributed()
    return _train(0, 1)


def test_ranks_see_a_process_group(ranks):
    assert all(r["distributed"] for r in ranks)


def test_reduced_f_scores_are_those_of_the_global_batches(ranks):
    X, y = _global_rows()
    inputs = _layer_inputs(X)
    for name, rows in inputs.items():
        expected = f_classif(rows.numpy(), y.numpy())[0]
        for r in ranks:
            got = r["record"][name]
            assert got["n"] == len(y)
            np.testing.assert_allclose(got["f"], expected, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(
                got["abs_mean"], rows.abs().mean(0).numpy(), rtol=1e-9, atol=1e-12
            )
        # bit-identical on every rank: the same merge of the same numbers
        np.testing.assert_array_equal(ranks[0]["record"][name]["f"], ranks[1]["record"][name]["f"])


def test_every_rank_applies_the_same_masks(ranks):
    for epoch, (m0, m1) in enumerate(zip(ranks[0]["train"]["masks"], ranks[1]["train"]["masks"])):
        for a, b in zip(m0, m1):
            assert torch.equal(a, b), f"the ranks' masks differ after epoch {epoch + 1}"


def test_masks_equal_a_one_process_run_over_the_global_batches(ranks, one_process):
    total = sum(m.numel() for m in one_process["masks"][-1])
    for epoch, (mine, ref) in enumerate(zip(ranks[0]["train"]["masks"], one_process["masks"])):
        flips = sum(int((a != b).sum()) for a, b in zip(mine, ref))
        # float64 models: DDP's averaged gradients differ from the global batch's by
        # rounding only, so a flip could only be an exact near-tie; none is expected here
        assert flips <= 1, f"{flips} of {total} mask entries differ after epoch {epoch + 1}"
    kept = sum(int(m.sum()) for m in one_process["masks"][-1])
    assert kept == round(0.2 * total)


def test_replicas_end_with_identical_weights(ranks, one_process):
    s0, s1 = ranks[0]["train"]["state"], ranks[1]["train"]["state"]
    assert s0.keys() == s1.keys()
    for key in s0:
        assert torch.equal(s0[key], s1[key]), key
        torch.testing.assert_close(s0[key], one_process["state"][key], rtol=1e-9, atol=1e-10)


def test_random_decisions_are_seeded_alike_on_every_rank(ranks):
    e0, e1 = ranks[0]["extreme"], ranks[1]["extreme"]
    # the policy's own report (what each rank decided before agreeing) is the same
    assert e0["report"] == e1["report"]
    assert any(entry.get("sampled", 0) > 0 for entry in e0["report"])
    for a, b in zip(e0["masks"][-1], e1["masks"][-1]):
        assert torch.equal(a, b)
    for key in e0["state"]:
        assert torch.equal(e0["state"][key], e1["state"][key]), key


def test_rank_0s_masks_are_applied_whatever_the_policy_draws(ranks):
    o0, o1 = ranks[0]["own_rng"], ranks[1]["own_rng"]
    assert o0["report"] != o1["report"]  # each rank drew from its own generator...
    for a, b in zip(o0["masks"][-1], o1["masks"][-1]):
        assert torch.equal(a, b)  # ...and applied rank 0's decision
    for key in o0["state"]:
        assert torch.equal(o0["state"][key], o1["state"][key]), key


def test_channel_pruning_is_refused_under_a_process_group_naming_weight_level(ranks):
    for r in ranks:
        assert r["channel_refusal"] is not None
        assert "granularity='weight'" in r["channel_refusal"]
        assert "DistributedDataParallel" in r["channel_refusal"]


def test_ranks_with_different_models_get_an_error_not_a_hang(ranks):
    for r in ranks:
        assert "different layers" in r["mismatches"]["names"]
        assert "different numbers of features" in r["mismatches"]["features"]


# ------------------------------------------------------------------ in-process collectives
# The functions of skscreen.pruning.distributed against a stand-in for torch.distributed
# whose ranks are threads of this process (mutation testing sees their calls, not those of
# the spawned processes above); known truths: the moments of the union of the shards
# (sklearn's f_classif on the concatenated rows), rank 0's seed and masks.
import threading  # noqa: E402
import types  # noqa: E402

from skscreen.pruning import distributed as dist_module  # noqa: E402
from skscreen.pruning.distributed import (  # noqa: E402
    ReducedMoments,
    agree_masks,
    agreed_seed,
    check_channel_pruning,
    reduce_moments,
)
from skscreen.stats import ClassMoments  # noqa: E402


class _ThreadRanks:
    """torch.distributed's calls used by distributed.py, for ``world`` ranks as threads."""

    ReduceOp = types.SimpleNamespace(MAX="max")

    def __init__(
        self, world, backend="gloo", initialized=True, available=True, group_root=0, group=None
    ):
        self.world, self.backend = world, backend
        self.initialized, self.available, self.group_root = initialized, available, group_root
        self.group = group  # the process group of ``world`` ranks; any other has one rank
        self.barrier = threading.Barrier(world, timeout=20)  # a rank left alone: broken
        self.slots = [None] * world
        self.local = threading.local()
        self.local.rank = 0
        self.sources = []
        self.groups = []  # the group each call named

    def is_available(self):
        return self.available

    def is_initialized(self):
        return self.initialized

    def get_world_size(self, group=None):
        self.groups.append(group)
        return self.world if group == self.group else 1

    def get_backend(self, group=None):
        self.groups.append(group)
        return self.backend

    def get_global_rank(self, group, rank):
        self.groups.append(group)
        assert rank == 0
        return self.group_root

    def _exchange(self, t):
        self.slots[self.local.rank] = t.clone()
        self.barrier.wait()
        every = list(self.slots)
        self.barrier.wait()
        return every

    def all_gather(self, out, t, group=None):
        self.groups.append(group)
        assert len(out) == self.world
        for o, e in zip(out, self._exchange(t)):
            o.copy_(e)

    def all_reduce(self, t, op=None, group=None):
        self.groups.append(group)
        assert op == "max"
        t.copy_(torch.stack(self._exchange(t)).amax(0))

    def broadcast(self, t, src, group=None):
        self.groups.append(group)
        self.sources.append(src)
        t.copy_(self._exchange(t)[src])

    def run(self, fn):
        """``fn(rank)`` on every rank at once; the results (or exceptions) in rank order."""
        results = [None] * self.world

        def main(rank):
            self.local.rank = rank
            try:
                results[rank] = fn(rank)
            except Exception as exc:  # noqa: BLE001 - returned to the test
                results[rank] = exc

        threads = [threading.Thread(target=main, args=(r,)) for r in range(self.world)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return results


@pytest.fixture
def fake_dist(monkeypatch):
    def make(*args, **kwargs):
        fake = _ThreadRanks(*args, **kwargs)
        monkeypatch.setattr(dist_module, "_dist", lambda: fake)
        return fake

    return make


def test_is_distributed_needs_an_initialised_group_of_two(fake_dist):
    assert dist_module.is_distributed() is False  # no process group in this process
    assert fake_dist(2).run(lambda r: dist_module.is_distributed()) == [True, True]
    assert fake_dist(1).run(lambda r: dist_module.is_distributed()) == [False]
    assert fake_dist(2, initialized=False).run(lambda r: dist_module.is_distributed()) == [
        False,
        False,
    ]
    assert fake_dist(2, available=False).run(lambda r: dist_module.is_distributed()) == [
        False,
        False,
    ]


@pytest.mark.parametrize("backend", ["gloo", "nccl"])
def test_collectives_run_on_the_cpu_without_cuda(fake_dist, backend):
    fake_dist(2, backend=backend)
    if torch.cuda.is_available():
        pytest.skip("checks the CPU fallback")
    assert dist_module._device(None) == torch.device("cpu")


def test_source_is_the_groups_rank_0(fake_dist):
    fake = fake_dist(2, group_root=1)
    assert dist_module._src(None) == 0
    assert dist_module._src("a-group") == 1
    got = fake.run(lambda r: agreed_seed(10 + r, group="a-group"))
    assert got == [11, 11] and fake.sources == [1, 1]


def test_agreed_seed_of_ints_generators_and_none(fake_dist):
    fake = fake_dist(2)
    assert fake.run(lambda r: agreed_seed(5 + r)) == [5, 5]
    assert fake.sources == [0, 0]
    want = int(np.random.default_rng(3).integers(2**62))
    assert fake.run(lambda r: agreed_seed(np.random.default_rng(3 + r))) == [want, want]
    want = int(np.random.RandomState(4).randint(2**31 - 1))
    assert fake.run(lambda r: agreed_seed(np.random.RandomState(4 + r))) == [want, want]
    fresh = fake.run(lambda r: agreed_seed(None))
    assert fresh[0] == fresh[1] and isinstance(fresh[0], int)
    # a bool is no seed (True would be 1 on every run): fresh entropy, agreed
    flags = fake.run(lambda r: agreed_seed(True))
    assert flags[0] == flags[1] and flags[0] not in (0, 1)
    assert all(type(s) is int for s in fresh + flags)


def test_agree_masks_applies_rank_0s(fake_dist):
    fake = fake_dist(2)
    assert agree_masks([]) == []
    a = [torch.tensor([[True, False], [False, True]]), torch.tensor([True, True, False])]
    b = [torch.tensor([[False, False], [True, True]]), torch.tensor([False, True, True])]
    got = fake.run(lambda r: agree_masks(a if r == 0 else b))
    for masks in got:
        assert [m.dtype for m in masks] == [torch.bool, torch.bool]
        assert [m.tolist() for m in masks] == [m.tolist() for m in a]
    assert fake.sources == [0, 0]
    assert got[1][0] is not a[0]


def test_channel_pruning_refused_only_under_several_ranks(fake_dist):
    assert fake_dist(1).run(lambda r: check_channel_pruning()) == [None]
    (err, _) = fake_dist(2).run(lambda r: check_channel_pruning())
    assert isinstance(err, ValueError)
    assert str(err) == (
        "Channel pruning removes channels physically, which DistributedDataParallel cannot "
        "follow (its gradient buckets are built for the original shapes); this process group "
        "has 2 ranks. Use weight level instead: WeightPruner, or granularity='weight' (masks "
        "keep the shapes, and the statistics are reduced across ranks)."
    )


def test_reduced_moments_stand_in():
    m = ClassMoments().update(np.array([[1.0], [2.0], [4.0]]), np.array([0, 1, 1]))
    r = ReducedMoments(m)
    assert r.n_samples == 3.0
    copy_ = r.to_moments()
    assert copy_ is not m and copy_.n_samples == 3.0
    np.testing.assert_array_equal(copy_.mean_, m.mean_)
    with pytest.raises(RuntimeError) as err:
        r.update(np.ones((1, 1)), np.zeros(1))
    assert str(err.value) == (
        "These statistics were already reduced across ranks for this epoch's decision; "
        "reset the recorder (pruner.step does) before recording more batches."
    )


def _shard_rows():
    rng = np.random.default_rng(0)
    X0 = rng.normal(size=(9, 3)) * [1.0, 1e3, 0.01] + 5.0
    y0 = np.array([0, 1, 0, 1, 0, 1, 0, 1, 1])  # rank 0 sees classes 0 and 1
    X1 = rng.normal(size=(7, 3)) * [1.0, 1e3, 0.01] + 5.0
    y1 = np.array([2, 0, 2, 1, 2, 0, 1])  # rank 1 sees three classes
    X1[y1 == 2] += 3.0
    return (X0, y0), (X1, y1)


def _f_of(m):
    from skscreen.stats import anova_f_scores

    return np.asarray(torch.as_tensor(anova_f_scores(m)))


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_reduced_moments_are_those_of_the_union(fake_dist, kind):
    shards = _shard_rows()
    X = np.concatenate([s[0] for s in shards])
    y = np.concatenate([s[1] for s in shards])

    def local(rank):
        Xr, yr = shards[rank]
        if kind == "numpy":
            m = ClassMoments(np.arange(int(yr.max()) + 1)).update(Xr, yr)
        else:
            m = ClassMoments().update(
                torch.tensor(Xr), torch.tensor(yr), n_classes=int(yr.max()) + 1
            )
        return reduce_moments({"fc": m, "idle": None})

    fake = fake_dist(2)
    got = fake.run(local)
    for out in got:
        assert out["idle"] is None
        m = out["fc"]
        assert torch.is_tensor(m.count_) and m.count_.dtype == torch.float64
        assert m.count_.tolist() == [float((y == k).sum()) for k in range(3)]
        np.testing.assert_allclose(_f_of(m), f_classif(X, y)[0], rtol=1e-9)
        means = np.stack([X[y == k].mean(0) for k in range(3)])
        np.testing.assert_allclose((m.mean_ + m.shift_).numpy(), means, rtol=1e-12, atol=1e-9)
    # the same numbers on every rank
    assert torch.equal(got[0]["fc"].m2_, got[1]["fc"].m2_)


def test_a_unit_only_one_rank_recorded(fake_dist):
    (X0, y0), _ = _shard_rows()

    def local(rank):
        m = ClassMoments().update(X0, y0) if rank == 1 else ClassMoments()
        return reduce_moments({"fc": m})

    got = fake_dist(2).run(local)
    ref = f_classif(X0, y0)[0]
    for out in got:
        assert out["fc"].count_.tolist() == [4.0, 5.0]
        np.testing.assert_allclose(_f_of(out["fc"]), ref, rtol=1e-9)


def test_ranks_with_other_units_or_widths_raise_on_every_rank(fake_dist):
    (X0, y0), (X1, y1) = _shard_rows()
    m = ClassMoments().update(X0, y0)

    def names(rank):
        return reduce_moments({"fc" if rank == 0 else "other": m})

    for err in fake_dist(2).run(names):
        assert isinstance(err, RuntimeError)
        assert str(err) == (
            "The ranks record statistics of different layers (their models differ); every "
            "rank must build the same model and pruner before training."
        )

    def order(rank):
        return reduce_moments({"a": m, "b": m} if rank == 0 else {"b": m, "a": m})

    assert all(isinstance(e, RuntimeError) for e in fake_dist(2).run(order))

    def widths(rank):
        X = X0 if rank == 0 else X0[:, :2]
        return reduce_moments({"fc": ClassMoments().update(X, y0), "ok": None})

    for err in fake_dist(2).run(widths):
        assert isinstance(err, RuntimeError)
        assert str(err) == (
            "The ranks recorded different numbers of features for ['fc']; every rank must "
            "train the same model on inputs of the same shape."
        )


def test_every_call_names_the_callers_group(fake_dist):
    (X0, y0), (X1, y1) = _shard_rows()
    fake = fake_dist(2, group="g", group_root=1)

    def everything(rank):
        m = ClassMoments().update(*((X0, y0) if rank == 0 else (X1, y1)))
        out = reduce_moments({"fc": m}, group="g")
        seed = agreed_seed(rank, group="g")
        masks = agree_masks([torch.tensor([rank == 0, True])], group="g")
        return out["fc"].count_.tolist(), seed, masks[0].tolist()

    got = fake.run(everything)
    assert got[0] == got[1]
    assert got[0][0] == [float((np.r_[y0, y1] == k).sum()) for k in range(3)]
    assert got[0][1] == 1 and got[0][2] == [False, True]  # the group's rank 0 is rank 1
    assert fake.groups and set(fake.groups) == {"g"}
    assert fake.sources == [1] * 4


def test_channel_pruning_refusal_counts_the_given_group(fake_dist):
    fake = fake_dist(3, group="g")
    assert dist_module.is_distributed() is False  # the default group: one rank here
    (err,) = set(type(e) for e in fake.run(lambda r: check_channel_pruning("g")))
    assert err is ValueError
    (msg,) = {str(e) for e in fake.run(lambda r: check_channel_pruning("g"))}
    assert "this process group has 3 ranks." in msg
    assert fake.run(lambda r: check_channel_pruning()) == [None, None, None]


def test_agree_masks_of_three_units(fake_dist):
    fake = fake_dist(2)
    a = [
        torch.tensor([True, False]),
        torch.tensor([[False], [True], [True]]),
        torch.tensor([[True, False], [False, False]]),
    ]
    b = [~m for m in a]
    got = fake.run(lambda r: agree_masks(a if r == 0 else b))
    want = [[True, False], [[False], [True], [True]], [[True, False], [False, False]]]
    for masks in got:
        assert [m.tolist() for m in masks] == want
        assert [m.shape for m in masks] == [m.shape for m in a]


def test_fresh_seeds_span_the_int62_range(fake_dist):
    fake = fake_dist(2)
    seeds = [fake.run(lambda r: agreed_seed(None))[0] for _ in range(4)]
    assert max(seeds) > 2**40 and all(0 <= s < 2**62 for s in seeds)


def test_several_units_in_any_order(fake_dist):
    """A unit no rank recorded before the others, units of other widths, a unit one rank
    did not record, a numpy state kept in scaled units: each reduced on its own."""
    rng = np.random.default_rng(1)
    y0, y1 = np.array([0, 1, 0, 1, 1]), np.array([1, 0, 0, 1])
    data = {
        "narrow": [rng.normal(size=(5, 2)), rng.normal(size=(4, 2))],
        "wide": [rng.normal(size=(5, 130)), rng.normal(size=(4, 130))],  # 130 > 124
        "huge": [rng.normal(size=(5, 3)) * 1e300, rng.normal(size=(4, 3)) * 1e300],
    }

    def local(rank):
        y = y0 if rank == 0 else y1
        named = {"none": None}
        for name, parts in data.items():
            named[name] = ClassMoments(np.arange(2)).update(parts[rank], y)
        named["wide"] = named["wide"] if rank == 0 else None  # rank 1 did not record it
        return reduce_moments(named)

    got = fake_dist(2).run(local)
    y = np.r_[y0, y1]
    for out in got:
        assert list(out) == ["none", "narrow", "wide", "huge"] and out["none"] is None
        m = out["narrow"]
        X = np.concatenate(data["narrow"])
        np.testing.assert_allclose(_f_of(m), f_classif(X, y)[0], rtol=1e-9)
        m = out["wide"]
        assert m.count_.tolist() == [2.0, 3.0] and m.mean_.shape == (2, 130)
        np.testing.assert_allclose(_f_of(m), f_classif(data["wide"][0], y0)[0], rtol=1e-9)
        m = out["huge"]
        X = np.concatenate(data["huge"])
        means = np.stack([X[y == k].mean(0) for k in range(2)])
        np.testing.assert_allclose((m.mean_ + m.shift_).numpy(), means, rtol=1e-9)


def test_collectives_run_on_the_current_cuda_device_under_nccl(fake_dist, monkeypatch):
    """The device choice of the nccl branch, with CUDA stood in for (no tensor is made)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    fake_dist(2, backend="nccl", group="g")
    assert dist_module._device("g") == torch.device("cuda", 1)
    fake_dist(2, backend="gloo", group="g")
    assert dist_module._device("g") == torch.device("cpu")


def test_a_rank_with_one_row_of_each_class_counts(fake_dist):
    X0, y0 = np.array([[1.0, 5.0], [3.0, 2.0]]), np.array([0, 1])  # one row per class
    X1, y1 = np.array([[2.0, 4.0], [0.5, 1.0], [4.0, 2.5], [1.5, 3.0]]), np.array([0, 0, 1, 1])

    def local(rank):
        X, y = (X0, y0) if rank == 0 else (X1, y1)
        return reduce_moments({"fc": ClassMoments(np.arange(2)).update(X, y)})

    for out in fake_dist(2).run(local):
        assert out["fc"].count_.tolist() == [3.0, 3.0]
        X, y = np.r_[X0, X1], np.r_[y0, y1]
        np.testing.assert_allclose(_f_of(out["fc"]), f_classif(X, y)[0], rtol=1e-9)
