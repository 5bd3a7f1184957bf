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
