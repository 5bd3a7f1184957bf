"""skscreen.pruning.channels._ties: union-find of tied channel positions and the selection
that keeps tied classes whole; every expected mask worked out by hand in the comments."""

import pytest

torch = pytest.importorskip("torch")

from skscreen.pruning.channels._ties import _Ties, select_tied  # noqa: E402
from skscreen.pruning.selection import select_global  # noqa: E402


def _t(*v):
    return torch.tensor(v, dtype=torch.float32)


def _l(*v):
    return torch.tensor(v, dtype=torch.long)


# ------------------------------------------------------------------ _Ties
def test_untied_positions_are_their_own_classes():
    assert _Ties(4).labels().tolist() == [0, 1, 2, 3]
    assert _Ties(4).labels().dtype == torch.long


def test_union_links_the_larger_root_under_the_smaller():
    ties = _Ties(5)
    ties.union(3, 1)
    assert ties.parent == [0, 1, 2, 1, 4]
    ties.union(1, 4)  # roots 1 and 4: 4 goes under 1
    assert ties.parent == [0, 1, 2, 1, 1]
    ties.union(4, 3)  # same class already: nothing changes
    assert ties.parent == [0, 1, 2, 1, 1]
    assert ties.labels().tolist() == [0, 1, 2, 1, 1]


def test_classes_are_numbered_by_their_first_position():
    ties = _Ties(6)
    ties.union(5, 2)
    ties.union(4, 0)
    ties.union(1, 3)
    # roots 0, 1, 2, 1, 0, 2 -> classes in order of first appearance: 0, 1, 2
    assert ties.labels().tolist() == [0, 1, 2, 1, 0, 2]
    ties.union(2, 3)  # classes {1, 3} and {2, 5} merge under 1
    assert ties.labels().tolist() == [0, 1, 1, 1, 0, 1]


def test_find_follows_and_halves_the_path():
    ties = _Ties(4)
    ties.parent = [0, 0, 1, 2]  # a chain 3 -> 2 -> 1 -> 0
    assert ties.find(3) == 0
    # path halving: 3 and then 1 are visited, each set to its grandparent
    assert ties.parent == [0, 0, 1, 1]
    assert ties.find(3) == 0 and ties.parent == [0, 0, 1, 0]


# ------------------------------------------------------------------ select_tied
def test_one_channel_per_class_is_select_global():
    scores = [_t(0.1, 0.9, 0.5), _t(0.3, 0.2)]
    ties = [_l(0, 1, 2), _l(0, 1)]
    # forced: 0.9 (unit 0), 0.3 (unit 1); one more: 0.5
    got = select_tied(scores, ties, 3)
    assert [m.tolist() for m in got] == [[False, True, True], [True, False]]
    assert all(m.dtype == torch.bool for m in got)
    ref = select_global([s.double() for s in scores], 3)
    assert [m.tolist() for m in got] == [m.bool().tolist() for m in ref]


def test_every_unit_keeps_its_best_class_whatever_the_budget():
    scores = [_t(0.1, 0.9), _t(0.3, 0.2)]
    ties = [_l(0, 1), _l(0, 1)]
    got = select_tied(scores, ties, 0)
    assert [m.tolist() for m in got] == [[False, True], [True, False]]


def test_a_class_scores_the_mean_of_its_channels():
    # classes {0, 2}: (0.1 + 0.7) / 2 = 0.4 and {1, 3}: (0.2 + 0.4) / 2 = 0.3
    got = select_tied([_t(0.1, 0.2, 0.7, 0.4)], [_l(0, 1, 0, 1)], 2)
    assert got[0].tolist() == [True, False, True, False]
    # a max-of-channels class score would pick {0, 2} too; a sum would as well: check with
    # sizes that differ: {0}: 0.5, {1, 2}: (0.45 + 0.45) / 2 = 0.45 (sum 0.9)
    got = select_tied([_t(0.5, 0.45, 0.45, 0.1)], [_l(0, 1, 1, 2)], 1)
    assert got[0].tolist() == [True, False, False, False]


def test_equal_maxima_force_the_first_class():
    got = select_tied([_t(0.1, 0.2, 0.2, 0.1)], [_l(0, 1, 0, 1)], 1)
    assert got[0].tolist() == [True, False, True, False]  # both classes mean 0.15


def test_the_kept_count_may_exceed_the_budget_by_less_than_a_class():
    scores = [_t(0.9, 0.5, 0.6, 0.1, 0.1)]
    ties = [_l(0, 1, 1, 2, 2)]  # classes: {0}: 0.9, {1, 2}: 0.55, {3, 4}: 0.1
    # forced {0}; one more channel asked for: class {1, 2} (two channels) is taken
    assert select_tied(scores, ties, 2)[0].tolist() == [True, True, True, False, False]
    # three asked for: {0}, then {1, 2} fills it; {3, 4} starts after 3 kept: not taken
    assert select_tied(scores, ties, 3)[0].tolist() == [True, True, True, False, False]
    # four asked for: {3, 4} starts after 3 < 4 kept: taken (5 kept)
    assert select_tied(scores, ties, 4)[0].tolist() == [True] * 5


def test_classes_are_taken_by_score_across_units():
    scores = [_t(0.9, 0.2, 0.2), _t(0.8, 0.7, 0.6, 0.3)]
    ties = [_l(0, 1, 1), _l(0, 1, 2, 3)]
    # forced: unit 0 {0}, unit 1 {0}; then 0.7, 0.6, 0.3, 0.2 (class of two)
    got = select_tied(scores, ties, 4)
    assert [m.tolist() for m in got] == [[True, False, False], [True, True, True, False]]
    got = select_tied(scores, ties, 5)
    assert [m.tolist() for m in got] == [[True, False, False], [True, True, True, True]]
    got = select_tied(scores, ties, 6)
    assert [m.tolist() for m in got] == [[True, True, True], [True, True, True, True]]


def test_min_classes_force_that_many_best_classes():
    scores = [_t(0.3, 0.1, 0.2, 0.4), _t(0.5, 0.6)]
    ties = [_l(0, 1, 2, 3), _l(0, 1)]
    got = select_tied(scores, ties, 0, min_classes=[3, 1])
    assert [m.tolist() for m in got] == [[True, False, True, True], [False, True]]
    # equal scores: the first ones, in order
    got = select_tied([_t(0.5, 0.5, 0.5)], [_l(0, 1, 2)], 0, min_classes=[2])
    assert got[0].tolist() == [True, True, False]
    # the forced channels (4) count against the budget: one more only, the 0.5 of unit 1
    got = select_tied(scores, ties, 5, min_classes=[3, 1])
    assert [m.tolist() for m in got] == [[True, False, True, True], [True, True]]


def test_no_min_classes_is_one_per_unit():
    scores = [_t(0.3, 0.1, 0.2), _t(0.5, 0.6)]
    ties = [_l(0, 1, 2), _l(0, 1)]
    assert [m.tolist() for m in select_tied(scores, ties, 2)] == [
        m.tolist() for m in select_tied(scores, ties, 2, min_classes=[1, 1])
    ]
    assert [m.tolist() for m in select_tied(scores, ties, 2)] == [
        [True, False, False],
        [False, True],
    ]


def test_a_forced_class_is_not_counted_twice():
    # forced {0} (0.9) and the rest ranked without it: 0.8, then 0.7
    got = select_tied([_t(0.9, 0.8, 0.7)], [_l(0, 1, 2)], 2)
    assert got[0].tolist() == [True, True, False]


def test_float64_class_means():
    # means that differ only beyond float32: 1 + 2**-30 against 1
    a = torch.tensor([1.0, 1.0 + 2**-30, 1.0], dtype=torch.float64)
    got = select_tied([a], [_l(0, 1, 2)], 1)
    assert got[0].tolist() == [False, True, False]
