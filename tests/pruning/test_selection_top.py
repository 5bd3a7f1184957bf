"""selection._top (the k best scores in linear time) against its reference, the first k of a
stable descending argsort: the same mask on ties, -inf, NaN, every k from 0 to n and both
float widths; and select_global's masks unchanged on tied scores."""

import pytest

torch = pytest.importorskip("torch")

from skscreen.pruning.selection import _kth_largest, _top, select_global  # noqa: E402


def _reference(flat, k):
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[torch.argsort(flat, descending=True, stable=True)[: max(k, 0)]] = True
    return keep


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(6))
def test_top_is_the_stable_argsort_on_ties_and_infinities(seed, dtype):
    g = torch.Generator().manual_seed(seed)
    n = 57
    flat = torch.randint(0, 6, (n,), generator=g).to(dtype)  # many exact ties
    flat[torch.randint(0, n, (9,), generator=g)] = -torch.inf  # pruned entries
    flat[torch.randint(0, n, (2,), generator=g)] = torch.inf
    for k in range(-1, n + 2):
        assert torch.equal(_top(flat, k), _reference(flat, k)), k


def test_top_with_nan_scores_follows_the_argsort():
    flat = torch.tensor([0.5, float("nan"), 0.5, 2.0, float("nan"), -torch.inf])
    for k in range(len(flat) + 1):
        assert torch.equal(_top(flat, k), _reference(flat, k)), k


def test_ties_are_broken_by_position_first_kept():
    flat = torch.tensor([1.0, 3.0, 2.0, 2.0, 2.0, 0.0])
    assert _top(flat, 3).tolist() == [False, True, True, True, False, False]


def test_select_global_on_tied_scores_keeps_the_first_positions():
    a = torch.full((3, 4), 1.0)
    b = torch.full((2, 3), 1.0)
    masks = select_global([a, b], 7)
    # the forced best of each layer (the first entry), then ties in flat order: layer a first
    assert int(sum(m.sum() for m in masks)) == 7
    assert masks[0].reshape(-1).tolist() == [True] * 6 + [False] * 6
    assert masks[1].reshape(-1).tolist() == [True] + [False] * 5


def test_select_global_over_three_layers_with_a_constrained_first_layer():
    # rows kept in a layer that is not the last, and the flat order sliced back into three
    # layers: known truth from a hand count
    a = torch.tensor([[0.1, 0.9], [0.2, 0.3]])  # rows: keeps 0.9 and 0.3
    b = torch.tensor([[0.8, 0.05, 0.7]])
    c = torch.tensor([[0.6], [0.65]])
    masks = select_global([a, b, c], 6, [True, False, False])
    # forced: a's row bests (0.9, 0.3), b's best (0.8), c's best (0.65); then 0.7 and 0.6
    assert masks[0].tolist() == [[False, True], [False, True]]
    assert masks[1].tolist() == [[True, False, True]]
    assert masks[2].tolist() == [[True], [True]]


def test_shortfall_messages_state_the_numbers_and_point_at_the_caller():
    import os
    import pathlib
    import warnings

    from skscreen.pruning import selection
    from skscreen.pruning.selection import BudgetShortfallWarning, select_per_layer

    # under mutmut, its trampolines add frames between the warning and its caller
    frames = not (
        "MUTANT_UNDER_TEST" in os.environ or "mutants" in pathlib.Path(selection.__file__).parts
    )

    a, b = torch.rand(4, 3), torch.rand(2, 5)  # 22 weights; the head (b) keeps one per row
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        select_global([a, b], 2, [False, True])
    (w,) = caught
    assert w.category is BudgetShortfallWarning and (w.filename == __file__ or not frames)
    assert str(w.message) == (
        "Kept 3 of 22 weights (sparsity 0.8636) for a budget of 2 (sparsity 0.9091): the "
        "budget is below the 3 weights the selection always keeps (every layer keeps at least "
        "one weight (2 layers) and each output unit of the classifier head keeps an input "
        "(2 units))."
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        select_per_layer([a, b, torch.rand(10, 10)], 0.1, [False, True, False])
    (w,) = caught
    assert w.filename == __file__ or not frames
    # shares: round(12 * 0.1) = 1, round(10 * 0.1) = 1, round(100 * 0.1) = 10; b keeps 2
    assert str(w.message) == (
        "Kept 13 of 122 weights (sparsity 0.8934) for a budget of 12 (sparsity 0.9016): in 1 "
        "of 3 layers the layer's share of the budget is below the weights that layer always "
        "keeps (every layer keeps at least one weight (3 layers) and each output unit of the "
        "classifier head keeps an input (2 units))."
    )


def test_a_budget_never_exceeds_the_finite_scores():
    # +inf and NaN are not finite: they count neither as alive nor as a layer's forced best
    scores = [torch.tensor([[torch.inf, 1.0, -torch.inf, float("nan")]])]
    masks = select_global(scores, 4)
    assert int(masks[0].sum()) == 1


def test_a_layer_without_a_finite_score_has_no_forced_weight():
    scores = [torch.tensor([[-torch.inf, -torch.inf]]), torch.tensor([[2.0, 1.0]])]
    masks = select_global(scores, 1)
    assert masks[0].tolist() == [[False, False]] and masks[1].tolist() == [[True, False]]


def test_a_row_without_a_finite_score_has_no_forced_weight():
    # keep-one-per-row: a row whose weights are all pruned (its argmax is a -inf) keeps none
    scores = [torch.tensor([[-torch.inf, -torch.inf], [1.0, 2.0]])]
    masks = select_global(scores, 1, [True])
    assert masks[0].tolist() == [[False, False], [False, True]]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_kth_largest_is_torchs_order_statistic_in_every_dtype(dtype):
    # the CPU path selects with numpy (no bfloat16 there: torch's kthvalue): the same value,
    # dtype and 0-d shape as torch.kthvalue, with ties and -inf entries left out
    g = torch.Generator().manual_seed(0)
    flat = torch.randint(-20, 20, (301,), generator=g).to(dtype)
    flat[torch.randint(0, 301, (40,), generator=g)] = -torch.inf
    finite = flat[flat > -torch.inf]
    for k in (1, 2, 17, 150, finite.numel() - 1, finite.numel(), finite.numel() + 5, 300):
        got = _kth_largest(flat, k)
        want = torch.sort(flat, descending=True).values[k - 1]
        assert got.dtype == dtype and got.shape == () and got == want, (k, got, want)


def test_select_global_under_another_default_device_stays_on_the_scores_device():
    # a default device other than the scores' (meta here, CUDA for a user): every tensor the
    # selection makes (forced masks, row indices, the threshold) follows the scores
    g = torch.Generator().manual_seed(3)
    # the head's scores all below the first layer's: only the keep-one-per-row rule keeps any
    scores = [torch.rand(6, 5, generator=g, dtype=torch.float64) + 1, torch.rand(3, 6, generator=g)]
    expected = select_global(scores, 9, [False, True])
    assert expected[1].sum(dim=1).tolist() == [1, 1, 1]
    with torch.device("meta"):
        masks = select_global(scores, 9, [False, True])
        threshold = _kth_largest(scores[0].reshape(-1), 4)
    assert threshold.device.type == "cpu"
    assert all(m.device.type == "cpu" for m in masks)
    assert all(torch.equal(m, e) for m, e in zip(masks, expected))


@pytest.mark.parametrize(
    "dtype, path", [(torch.float32, "numpy"), (torch.float64, "numpy"), (torch.bfloat16, "torch")]
)
def test_kth_largest_selects_with_numpy_on_the_cpu(monkeypatch, dtype, path):
    # numpy's introselect is the CPU path (half kthvalue's time); bfloat16 has no numpy twin
    import numpy as np

    from skscreen.pruning import selection

    calls = []
    partition, kthvalue = np.partition, torch.kthvalue
    monkeypatch.setattr(
        selection.np, "partition", lambda *a, **k: calls.append("numpy") or partition(*a, **k)
    )
    monkeypatch.setattr(
        selection.torch, "kthvalue", lambda *a, **k: calls.append("torch") or kthvalue(*a, **k)
    )
    flat = torch.arange(10.0, dtype=dtype)
    assert float(_kth_largest(flat, 3)) == 7.0
    assert calls == [path]
