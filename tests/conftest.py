import atexit
import os
import random
import shutil
import tempfile

import numpy as np
import pytest

# No test may read or write the user's data folder (~/skscreen_data): the default data home
# of every skscreen import in this session is an empty folder of its own. (A mutant of
# skscreen/datasets.py once wrote a 1-byte mnist.pkl.gz there.)
_DATA_HOME = tempfile.mkdtemp(prefix="skscreen-test-data-")
# removed when the session ends: a mutation run starts thousands of sessions
atexit.register(shutil.rmtree, _DATA_HOME, ignore_errors=True)
os.environ["SKSCREEN_DATA"] = _DATA_HOME


@pytest.fixture(autouse=True)
def _no_user_data_home(monkeypatch):
    import sys

    datasets = sys.modules.get("skscreen.datasets")
    if datasets is not None:  # imported earlier (e.g. by a doctest): point it here too
        monkeypatch.setattr(datasets, "DEFAULT_DATA_HOME", _DATA_HOME)
    yield


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture(autouse=True)
def _tqdm_lock_of_this_process(monkeypatch):
    """tqdm's default lock holds a multiprocessing semaphore, shared with every process
    forked after it was made: one that dies holding it (mutmut forks a child per mutant and
    kills those that outrun their time) leaves every later bar waiting for ever. Each test
    gets a lock of its own process, and no monitor thread."""
    import threading

    try:
        from tqdm import auto, std
    except ImportError:  # pragma: no cover - tqdm is a dependency
        yield
        return
    for cls in {std.tqdm, auto.tqdm}:
        monkeypatch.setattr(cls, "_lock", threading.RLock(), raising=False)
        monkeypatch.setattr(cls, "monitor_interval", 0)
    yield


@pytest.fixture
def c_locale():
    """The C locale (``LANG=C``) for the test's duration: its default text encoding is ASCII,
    so a file or stream opened without ``encoding=`` cannot hold an ``é``."""
    import io
    import locale
    import sys

    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        if sys.flags.utf8_mode or io.TextIOWrapper(io.BytesIO()).encoding.lower() == "utf-8":
            pytest.skip("the default text encoding is UTF-8 whatever the locale here")
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, old)


@pytest.fixture
def rescues(tmp_path, monkeypatch):
    """The system's temporary folder, where the CLI rescues a file it could not write."""
    folder = tmp_path / "rescues"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
