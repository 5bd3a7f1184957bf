"""Pruning through skorch under data-parallel training: AccelerateMixin on two CPU processes.

Two processes run accelerate's MULTI_CPU set-up (gloo), as ``torchrun --nproc_per_node 2``
would launch it, with skorch's ``AccelerateMixin`` and ``DistributedHistory`` (the set-up of
skorch's examples/accelerate-multigpu): a ``NeuralNetClassifier`` with the
``ScreeningPruning`` callback, and a ``ScreeningPrunedNet``. Accelerate gives each rank
every other batch of ``batch_size``; the one-process reference trains on batches twice as
large, the same rows per step. float64 modules: the replicas and the reference differ by
rounding only.
"""

import os
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("accelerate")

import torch.distributed as dist  # noqa: E402
from _ranks import run_ranks  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn import ScreeningPruning  # noqa: E402

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo"
)

WORLD, BATCH = 2, 32  # per rank; the global batch is WORLD * BATCH
SETTINGS = dict(alpha=0.5, sparsity=0.8, prune_epochs=3)
NET = dict(max_epochs=4, lr=0.2, train_split=None, verbose=0, iterator_train__shuffle=False)


def _data():
    X, y = make_classification(
        n_samples=512,
        n_features=20,
        n_informative=5,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        shuffle=False,
        random_state=0,
    )
    order = np.random.default_rng(0).permutation(len(y))
    return X[order], y[order].astype(np.int64)


def _module():
    torch.manual_seed(0)
    return make_mlp(20, (32,), 3).double()


def _parameterless_criteria_kept_local(cls):
    """``cls`` with AccelerateMixin, not preparing parameter-less criteria.

    Accelerate (MULTI_CPU) wraps every prepared module in DistributedDataParallel, which
    refuses a module without parameters (the criterion); there is nothing to synchronise in
    it, so it stays as it is. (Accelerate skips such modules itself on GPUs.)
    """
    from skorch.hf import AccelerateMixin

    class Accelerated(AccelerateMixin, cls):
        def _initialize_accelerator(self):
            local = {}
            for name in self._criteria:
                criterion = getattr(self, name + "_")
                if isinstance(criterion, torch.nn.Module) and not any(
                    p.requires_grad for p in criterion.parameters()
                ):
                    local[name] = criterion
                    setattr(self, name + "_", None)
            try:
                return super()._initialize_accelerator()
            finally:
                for name, criterion in local.items():
                    setattr(self, name + "_", criterion)

    return Accelerated


def _masks(module):
    """Parameters and buffers (the masks) of ``module``."""
    return {k: v.clone() for k, v in [*module.named_parameters(), *module.named_buffers()]}


def _worker(rank, port, out):
    from accelerate import Accelerator
    from skorch.history import DistributedHistory

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_WORLD_SIZE=str(WORLD),
    )
    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True)
    store = dist.TCPStore("127.0.0.1", port + 1, WORLD, is_master=rank == 0)
    X, y = _data()
    result = {"type": accelerator.distributed_type.value}
    try:
        for key, make in (
            (
                "callback",
                lambda history: _parameterless_criteria_kept_local(NeuralNetClassifier)(
                    _module(),
                    criterion=torch.nn.CrossEntropyLoss,
                    callbacks=[("prune", ScreeningPruning(**SETTINGS))],
                    **NET,
                    **history,
                ),
            ),
            (
                "net",
                lambda history: _parameterless_criteria_kept_local(ScreeningPrunedNet)(
                    _module(), criterion=torch.nn.CrossEntropyLoss, **SETTINGS, **NET, **history
                ),
            ),
        ):
            history = DistributedHistory(store=store, rank=rank, world_size=WORLD)
            net = make({"accelerator": accelerator, "batch_size": BATCH, "history": history})
            net.fit(X, y)
            result[key] = {
                "state": _masks(net.module_),
                "sparsity": [row["sparsity"] for row in net.history],
            }
        # channel level: refused at the first batch, before any weight changes
        Accelerated = _parameterless_criteria_kept_local(NeuralNetClassifier)
        torch.manual_seed(0)
        module = torch.nn.Sequential(
            torch.nn.Linear(20, 16),
            torch.nn.BatchNorm1d(16),
            torch.nn.ReLU(),
            torch.nn.Linear(16, 3),
        ).double()
        before = {k: v.clone() for k, v in module.state_dict().items()}
        net = Accelerated(
            module,
            criterion=torch.nn.CrossEntropyLoss,
            callbacks=[("prune", ScreeningPruning(granularity="channel", **SETTINGS))],
            accelerator=accelerator,
            batch_size=BATCH,
            **NET,
        )
        try:
            net.fit(X, y)
        except ValueError as exc:
            result["channel"] = str(exc)
        after = accelerator.unwrap_model(net.module_).state_dict()
        result["channel_untouched"] = all(torch.equal(before[k], after[k]) for k in before)
        torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    finally:
        accelerator.wait_for_everyone()
        dist.destroy_process_group()


def _free_port():
    # two consecutive free ports: the process group's and DistributedHistory's store
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue


@pytest.fixture(scope="module")
def ranks(tmp_path_factory, one_process):
    """What each rank wrote; forked after the one-process run (everything imported and warm;
    each rank sets one torch thread first, as DataLoader workers do)."""
    out = str(tmp_path_factory.mktemp("skorch_ranks"))
    return run_ranks(_worker, _free_port(), out, WORLD)


@pytest.fixture(scope="module")
def one_process():
    X, y = _data()
    common = dict(criterion=torch.nn.CrossEntropyLoss, batch_size=WORLD * BATCH, **NET)
    out = {}
    for key, net in (
        (
            "callback",
            NeuralNetClassifier(
                _module(), callbacks=[("prune", ScreeningPruning(**SETTINGS))], **common
            ),
        ),
        ("net", ScreeningPrunedNet(_module(), **SETTINGS, **common)),
    ):
        net.fit(X, y)
        out[key] = {
            "state": _masks(net.module_),
            "sparsity": [row["sparsity"] for row in net.history],
        }
    return out


def test_ranks_ran_accelerate_multi_cpu(ranks):
    assert all(r["type"] == "MULTI_CPU" for r in ranks)


@pytest.mark.parametrize("key", ["callback", "net"])
def test_replicas_end_identical_and_equal_to_one_process(ranks, one_process, key):
    s0, s1, ref = ranks[0][key]["state"], ranks[1][key]["state"], one_process[key]["state"]
    assert s0.keys() == ref.keys()
    masks = [k for k in s0 if k.endswith("weight_mask")]
    assert masks
    for k in s0:
        assert torch.equal(s0[k], s1[k]), f"{k} differs between the ranks"
    for k in masks:  # float64: DDP's averaged gradients equal the global batch's to rounding
        assert int((s0[k] != ref[k]).sum()) == 0, f"{k} differs from the one-process run"
    for k in s0:
        torch.testing.assert_close(s0[k], ref[k], rtol=1e-9, atol=1e-10)
    assert ranks[0][key]["sparsity"] == one_process[key]["sparsity"]
    assert ranks[0][key]["sparsity"][-1] == pytest.approx(0.8, abs=2e-3)


def test_channel_level_is_refused_before_training_naming_weight_level(ranks):
    for r in ranks:
        assert "granularity='weight'" in r.get("channel", "")
        assert r["channel_untouched"]
