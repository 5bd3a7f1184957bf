"""Budget shortfalls are warned with their cause (issue 18, item 6).

Every layer keeps a weight and the classifier head one input per output unit; on a tiny
module these outnumber a high sparsity's budget, and the sparsity reached is lower than asked.
"""

import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.datasets import make_classification  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402
from skscreen.pruning.selection import (  # noqa: E402
    BudgetShortfallWarning,
    select_global,
    select_per_layer,
)


def _scores():
    torch.manual_seed(0)
    return [torch.rand(8, 4), torch.rand(3, 8)]  # a 4-8-3 MLP: 56 weights, head of 3 rows


def _kept(masks):
    return int(sum(int(m.sum()) for m in masks))


def test_select_global_warns_when_the_constraints_exceed_the_budget():
    with pytest.warns(BudgetShortfallWarning) as record:
        masks = select_global(_scores(), 2, keep_each_row=[False, True])
    assert len(record) == 1
    assert _kept(masks) == 4  # one in the first layer, one per head row
    message = str(record[0].message)
    assert "Kept 4 of 56 weights (sparsity 0.9286) for a budget of 2" in message
    assert "classifier head" in message and "(3 units)" in message


def test_select_global_is_silent_when_the_budget_is_met():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masks = select_global(_scores(), 4, keep_each_row=[False, True])
        assert _kept(masks) == 4
        assert _kept(select_global(_scores(), 50, keep_each_row=[False, True])) == 50
    with pytest.warns(BudgetShortfallWarning, match="Kept 2 of 56"):
        select_global(_scores(), 0, keep_each_row=[False, False])


def test_select_per_layer_warns_once_for_all_layers():
    with pytest.warns(BudgetShortfallWarning) as record:
        masks = select_per_layer(_scores(), 1 / 24, keep_each_row=[False, True])
    assert len(record) == 1
    kept = _kept(masks)
    assert kept == 1 + 3
    assert f"sparsity {1 - kept / 56:.4f}" in str(record[0].message)
    assert "1 of 2 layers" in str(record[0].message)


def _tiny_data():
    X, y = make_classification(
        n_samples=200,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        shuffle=False,
        random_state=0,
    )
    return X.astype(np.float32), y.astype(np.int64)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_the_net_warns_once_with_the_cause_and_the_sparsity_reached(scope):
    pytest.importorskip("skorch")
    from skscreen import ScreeningPrunedNet

    X, y = _tiny_data()
    net = ScreeningPrunedNet(
        make_mlp(4, (8,), 3),
        sparsity=0.95,
        scope=scope,
        prune_epochs=4,
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y)
    shortfalls = [w for w in caught if issubclass(w.category, BudgetShortfallWarning)]
    assert len(shortfalls) == 1  # once, although every later epoch falls short again
    message = str(shortfalls[0].message)
    assert "sparsity=0.95 cannot be reached" in message
    assert "classifier head" in message and "ignored_layers=['3']" in message
    # the figure it states is the one the history and the net report for that epoch
    epoch = int(re.search(r"After epoch (\d+)", message).group(1))
    stated = float(re.search(r"the module has sparsity (\d\.\d{4})", message).group(1))
    assert stated == pytest.approx(net.history[epoch - 1, "sparsity"], abs=1e-4)
    assert net.sparsity_ == pytest.approx(net.history[-1, "sparsity"])
    assert net.sparsity_ < 0.95 - 0.01


def test_no_shortfall_warning_when_the_target_is_reachable():
    pytest.importorskip("skorch")
    from skscreen import ScreeningPrunedNet

    X, y = _tiny_data()
    net = ScreeningPrunedNet(
        make_mlp(4, (8,), 3),
        sparsity=0.5,
        prune_epochs=2,
        max_epochs=2,
        lr=0.1,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", BudgetShortfallWarning)
        net.fit(X, y)
    assert net.sparsity_ == pytest.approx(0.5, abs=0.01)
