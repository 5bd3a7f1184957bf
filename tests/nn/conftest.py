"""tests/nn only: marks that a test module computes per test (see ``port_marks``), and the
shared ``digits_300`` data.

The ports of skorch's own tests (test_skorch_port.py, test_skorch_docs.py) keep ONE central
table of expected failures (strict xfail) and skips; a module that defines
``port_marks(item) -> list of marks`` gets them applied here, at collection, so that they
hold for the setup phase too (a failing module-scoped fixture is an expected failure, not an
error). Modules without ``port_marks`` are untouched.
"""

import numpy as np
import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        port_marks = getattr(getattr(item, "module", None), "port_marks", None)
        if port_marks is None:
            continue
        for mark in port_marks(item):
            item.add_marker(mark)


@pytest.fixture(scope="module")
def digits_300():
    """The first 300 training digits: float32 X, int64 y (a small net trains on them in a
    second)."""
    from skscreen.datasets import load_digits_split

    d = load_digits_split()
    return d.X_train[:300].astype(np.float32), d.y_train[:300].astype(np.int64)
