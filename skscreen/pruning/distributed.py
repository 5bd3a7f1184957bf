"""Pruning under data-parallel training: statistics and decisions agreed across ranks.

Under ``torch.distributed`` (``DistributedDataParallel`` launched by torchrun, or skorch's
``AccelerateMixin``) every rank sees only its shard of each global batch. DDP keeps the
gradients in sync, but a pruner that screened only its own shard would zero other weights
than its neighbours, and the replicas would drift apart silently. So when a process group
of more than one rank is initialised, a pruner, at the end of each epoch:

1. **reduces its statistics** (:func:`reduce_moments`): every rank's per-class moments
   (count, mean, centred sum of squares of each recorded unit) are all-gathered and merged
   in rank order with :meth:`~skscreen.stats.ClassMoments.merge` (Chan's exact update): the
   F-scores are those of the global batches, as if one process had seen them, and
   bit-identical on every rank (the same floating-point operations on the same numbers);
2. **seeds its random decisions** from rank 0 (:func:`agreed_seed`);
3. **applies rank 0's decision** (:func:`agree_masks`): the keep-masks are broadcast before
   they are applied, so that whatever a criterion does (a custom policy with its own
   generator, float differences between devices), every rank prunes the same weights.

Deciding stays apart from applying: scores and masks are computed on every rank from the
same numbers, then agreed, then applied. Without a process group (or with one rank)
nothing here runs and nothing changes.

Every function is a collective: all ranks must call it, in the same order, with the same
model (``pruner.step`` is called at the same epoch on every rank, as a training loop
does). Tensors travel on the CPU under gloo and on the current CUDA device under nccl.
Physical channel removal cannot follow a ``DistributedDataParallel`` wrapper (its gradient
buckets are built for the original shapes): :func:`check_channel_pruning` refuses it.
"""

from __future__ import annotations

import numbers
import zlib

import numpy as np
import torch

from skscreen.stats import ClassMoments

__all__ = [
    "is_distributed",
    "reduce_moments",
    "agreed_seed",
    "agree_masks",
    "check_channel_pruning",
    "ReducedMoments",
]


def _dist():
    import torch.distributed as dist

    return dist


def is_distributed(group=None):
    """Whether a ``torch.distributed`` process group of more than one rank is initialised.

    >>> from skscreen.pruning.distributed import is_distributed
    >>> is_distributed()  # no process group: the pruners behave as in one process
    False
    """
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def _device(group):
    """Where the collectives' tensors live: the current CUDA device under nccl, else CPU."""
    backend = str(_dist().get_backend(group))
    if "nccl" in backend and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _src(group):
    """Global rank of the group's rank 0."""
    dist = _dist()
    return 0 if group is None else dist.get_global_rank(group, 0)


def _check_same_names(names, group, device):
    """Every rank records the same units in the same order (else the buffers would not
    line up); raises on every rank at once, so that none waits for the others."""
    dist = _dist()
    digest = zlib.crc32("\0".join(names).encode())
    mine = torch.tensor([len(names), digest], dtype=torch.int64, device=device)
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(every, mine, group=group)
    if any(not torch.equal(e, every[0]) for e in every):
        raise RuntimeError(
            "The ranks record statistics of different layers (their models differ); every "
            "rank must build the same model and pruner before training."
        )


class ReducedMoments:
    """Statistics already reduced across ranks: read-only until the recorder's next reset.

    Stands in for a :class:`~skscreen.stats.DeferredMoments` accumulator.
    """

    def __init__(self, moments):
        self._moments = moments

    @property
    def n_samples(self):
        return self._moments.n_samples

    def to_moments(self):
        return self._moments.copy()

    def update(self, X, y, rows_left=None):
        raise RuntimeError(
            "These statistics were already reduced across ranks for this epoch's decision; "
            "reset the recorder (pruner.step does) before recording more batches."
        )


def reduce_moments(named, group=None):
    """The global moments of every unit, from each rank's local ones.

    Parameters
    ----------
    named : dict of str to ClassMoments or None
        This rank's moments (torch or numpy; a numpy state's ``scale_`` is folded in) of
        each recorded unit; None where this rank recorded nothing. The keys, in order,
        must be the same on every rank.
    group : ProcessGroup, default=None (the default group)

    Returns
    -------
    dict of str to ClassMoments or None
        The moments of the union of every rank's batches (classes ``0..K-1``, ``K`` the
        largest class count of any rank; float64 tensors), None where no rank recorded
        anything. Identical on every rank.
    """
    dist = _dist()
    names = list(named)
    device = _device(group)
    _check_same_names(names, group, device)
    # 1. shapes: present, classes, features (max), -features (for the min over present ranks)
    far = -(2**62)
    meta = torch.tensor([[0, 0, 0, far]] * len(names), dtype=torch.int64).reshape(-1, 4)
    local = {}
    for i, name in enumerate(names):
        m = named[name]
        if m is None or m.count_ is None:
            continue
        if getattr(m, "scale_", None) is not None:  # a numpy state: in the data's units
            m = m.in_data_units()
        count, mean, m2, shift = (torch.as_tensor(a) for a in (m.count_, m.mean_, m.m2_, m.shift_))
        local[name] = (count, mean, m2, shift)
        k, p = mean.shape
        meta[i] = torch.tensor([1, k, p, -p], dtype=torch.int64)
    meta = meta.to(device)
    dist.all_reduce(meta, op=dist.ReduceOp.MAX, group=group)
    present, ks, ps, neg = (meta[:, j].tolist() for j in range(4))
    bad = [n for n, pr, p, q in zip(names, present, ps, neg) if pr and p != -q]
    if bad:
        raise RuntimeError(
            f"The ranks recorded different numbers of features for {bad}; every rank must "
            "train the same model on inputs of the same shape."
        )
    # 2. one flat float64 buffer: count, mean, m2 (k x p each, zero-padded classes), shift
    sizes = [k + 2 * k * p + p if pr else 0 for pr, k, p in zip(present, ks, ps)]
    buf = torch.zeros(sum(sizes), dtype=torch.float64, device=device)
    start = 0
    for name, size, k, p in zip(names, sizes, ks, ps):
        if name in local:
            count, mean, m2, shift = (t.to(device, torch.float64) for t in local[name])
            kk = count.shape[0]
            view = _unpack(buf[start : start + size], k, p)
            view[0][:kk] = count
            view[1][:kk] = mean
            view[2][:kk] = m2
            view[3][:] = shift
        start += size
    gathered = [torch.empty_like(buf) for _ in range(dist.get_world_size(group))]
    dist.all_gather(gathered, buf, group=group)
    # 3. merge in rank order: the same operations on the same numbers on every rank
    out, start = {}, 0
    for name, size, k, p in zip(names, sizes, ks, ps):
        if not size:
            out[name] = None
            continue
        total = ClassMoments(np.arange(k))
        for part in gathered:
            count, mean, m2, shift = _unpack(part[start : start + size], k, p)
            if not bool((count > 0).any()):
                continue  # this rank saw nothing of the unit
            piece = ClassMoments(np.arange(k))
            piece.count_, piece.mean_, piece.m2_, piece.shift_ = (
                count.clone(),
                mean.clone(),
                m2.clone(),
                shift.clone(),
            )
            total.merge(piece)
        if name in local:
            target = local[name][0].device
            for attr in ("count_", "mean_", "m2_", "shift_"):
                setattr(total, attr, getattr(total, attr).to(target))
        out[name] = total
        start += size
    return out


def _unpack(flat, k, p):
    """``(count, mean, m2, shift)`` views of one unit's slice of the flat buffer."""
    count = flat[:k]
    mean = flat[k : k + k * p].view(k, p)
    m2 = flat[k + k * p : k + 2 * k * p].view(k, p)
    shift = flat[k + 2 * k * p :]
    return count, mean, m2, shift


def agreed_seed(source, group=None):
    """An int seed that is the same on every rank: rank 0's, drawn from ``source``.

    ``source`` is what the pruner would seed from: an int is used as is (rank 0's), a
    ``numpy`` Generator or RandomState is drawn from (on every rank, so that they advance
    alike), None draws fresh entropy.
    """
    dist = _dist()
    if isinstance(source, numbers.Integral) and not isinstance(source, bool):
        local = int(source)
    elif isinstance(source, np.random.Generator):
        local = int(source.integers(2**62))
    elif isinstance(source, np.random.RandomState):
        local = int(source.randint(2**31 - 1))
    else:
        local = int(np.random.default_rng().integers(2**62))
    t = torch.tensor([local], dtype=torch.int64, device=_device(group))
    dist.broadcast(t, src=_src(group), group=group)
    return int(t.item())


def agree_masks(keep, group=None):
    """Rank 0's keep-masks on every rank (one broadcast); shapes as on rank 0.

    ``keep`` is a list of boolean tensors, one per unit, shaped alike on every rank (the
    same model). Returns new tensors on the devices of ``keep``.
    """
    dist = _dist()
    if not keep:
        return keep
    device = _device(group)
    flat = torch.cat([k.reshape(-1).to(device=device, dtype=torch.uint8) for k in keep])
    dist.broadcast(flat, src=_src(group), group=group)
    out, start = [], 0
    for k in keep:
        n = k.numel()
        out.append(flat[start : start + n].view(k.shape).to(device=k.device, dtype=torch.bool))
        start += n
    return out


def check_channel_pruning(group=None):
    """Refuse physical channel removal under a process group of several ranks.

    Removing channels replaces parameters with smaller ones; a ``DistributedDataParallel``
    wrapper (and the optimizer of every rank) would have to be rebuilt in step on every
    rank, which a pruner cannot do for the training loop that owns them.
    """
    if is_distributed(group):
        raise ValueError(
            f"Channel pruning removes channels physically, which DistributedDataParallel "
            f"cannot follow (its gradient buckets are built for the original shapes); this "
            f"process group has {_dist().get_world_size(group)} ranks. Use weight level "
            "instead: WeightPruner, or granularity='weight' (masks keep the shapes, and the "
            "statistics are reduced across ranks)."
        )
