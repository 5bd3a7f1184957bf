import os
import random
import tempfile

import numpy as np
import pytest

# No test may read or write the user's data folder (~/skscreen_data): the default data home
# of every skscreen import in this session is an empty folder of its own. (A mutant of
# skscreen/datasets.py once wrote a 1-byte mnist.pkl.gz there.)
_DATA_HOME = tempfile.mkdtemp(prefix="skscreen-test-data-")
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
