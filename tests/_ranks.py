"""Launching a few gloo ranks from a test (shared by the distributed tests).

Ranks are forked where the platform allows it (no second import of torch, skorch and the
library per rank); each writes ``rank<r>.pt`` into ``out``, which :func:`run_ranks` loads.
"""

import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

START = "fork" if "fork" in mp.get_all_start_methods() else "spawn"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(worker, port, out, world, timeout=120):
    """Run ``worker(rank, port, out)`` on ``world`` processes; what each rank saved."""
    context = mp.start_processes(
        worker, args=(port, out), nprocs=world, join=False, start_method=START
    )
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail(f"the {world} ranks did not finish in {timeout} s (a collective hung?)")
    return [torch.load(os.path.join(out, f"rank{r}.pt"), weights_only=False) for r in range(world)]
