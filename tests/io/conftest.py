import threading

import pytest


@pytest.fixture(autouse=True)
def _tqdm_lock_of_this_process(monkeypatch):
    """tqdm's default lock holds a multiprocessing semaphore, shared with every process
    forked after it was made: one that dies holding it (mutmut forks a child per mutant and
    kills those that outrun their time) leaves every later bar waiting for ever. Each test
    gets a lock of its own process, and no monitor thread."""
    from tqdm import auto, std

    for cls in {std.tqdm, auto.tqdm}:
        monkeypatch.setattr(cls, "_lock", threading.RLock(), raising=False)
        monkeypatch.setattr(cls, "monitor_interval", 0)
