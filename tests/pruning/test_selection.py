"""select_global and select_per_layer (skscreen/pruning/selection.py): the one-per-layer and
one-per-row rules, ties broken by position, per-layer budgets (torch tensors, no model)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_select_global_every_layer_keeps_its_best_weight():
    from skscreen.pruning.selection import select_global

    hi = torch.arange(20.0, dtype=torch.float64).reshape(4, 5) + 100
    lo = torch.tensor([[0.3, 0.9], [0.1, 0.2]], dtype=torch.float64)
    masks = select_global([hi, lo], 3)  # no keep_each_row: only the one-per-layer rule
    assert masks[1].sum() == 1 and masks[1][0, 1]  # the low layer's best, forced
    assert masks[0].sum() == 2 and masks[0].reshape(-1)[[18, 19]].all()  # then the top 2
    # n_keep one above the forced count: the single best unforced weight is added
    masks = select_global([hi, lo], 3, keep_each_row=[False, True])
    assert masks[1].sum() == 2 and masks[1][0, 1] and masks[1][1, 1]
    assert masks[0].sum() == 1 and masks[0].reshape(-1)[19]


def test_select_global_breaks_ties_by_position():
    from skscreen.pruning.selection import select_global

    tied = torch.zeros(50, 100, dtype=torch.float64)
    mask = select_global([tied], 10)[0].reshape(-1)
    np.testing.assert_array_equal(np.flatnonzero(mask.numpy()), np.arange(10))


def test_select_per_layer_budgets_and_row_constraint():
    from skscreen.pruning.selection import select_per_layer

    torch.manual_seed(0)
    a = torch.randn(6, 10, dtype=torch.float64)
    b = torch.randn(3, 8, dtype=torch.float64)
    b[:, 0] += 10  # column 0 dominates the last layer
    b[2, 0] = -10  # ... except in unit 2
    masks = select_per_layer([a, b], 0.25)
    assert [int(m.sum()) for m in masks] == [15, 6]
    top = torch.zeros(60, dtype=torch.bool)
    top[torch.argsort(a.reshape(-1), descending=True)[:15]] = True
    assert torch.equal(masks[0], top.reshape(6, 10))
    # without the row rule unit 2 may end empty; with it, it keeps its best input
    free = select_per_layer([a, b], 1 / 12)
    assert int(free[1].sum()) == 2 and not free[1][2].any()
    rows = select_per_layer([a, b], 1 / 12, keep_each_row=[False, True])
    assert rows[1].sum(1).tolist() == [1, 1, 1] and rows[1][2, b[2].argmax()]
