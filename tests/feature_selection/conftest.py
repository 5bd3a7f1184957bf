"""Dask's threaded scheduler after a fork.

Dask keeps one thread pool per process (``dask.threaded.default_pool``), made on first use.
A process forked after that use (mutmut's fork server forks one child per mutant) inherits
the pool object but none of its threads, and its first ``compute()`` waits forever. The
child is given a fresh pool: what the tests check is unchanged, they just cannot hang.
"""

import os
import sys


def _fresh_dask_pools_in_child():
    threaded = sys.modules.get("dask.threaded")
    if threaded is not None:
        threaded.default_pool = None
        threaded.pools.clear()


os.register_at_fork(after_in_child=_fresh_dask_pools_in_child)
