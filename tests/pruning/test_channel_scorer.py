"""skscreen.pruning.channels._scorer: ChannelScreeningScorer on hand-made units (BatchNorm
scales and per-channel statistics written out), against values computed by hand and
sklearn's f_classif."""

import os
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.feature_selection import f_classif  # noqa: E402
from torch import nn  # noqa: E402

from skscreen.pruning.channels import ChannelScreeningScorer, ChannelUnit  # noqa: E402
from skscreen.pruning.channels import _scorer as scorer_module  # noqa: E402
from skscreen.stats import ClassMoments  # noqa: E402

F64 = torch.float64


def _bn(*gamma):
    bn = nn.BatchNorm2d(len(gamma))
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma, dtype=torch.float64))
    return bn


def _unit(name, bn, members=None, moments=None):
    n = bn.num_features
    members = members or [(bn, torch.arange(n), torch.arange(n))]
    return ChannelUnit(name, bn, list(range(n)), members, moments=moments or {})


def test_a_shared_unit_scores_the_mean_of_its_members():
    # root channels 0..2; a second BatchNorm carries root channels 2 and 0 at its 0 and 1
    root, other = _bn(1.0, 2.0, 4.0), _bn(3.0, 0.5)
    members = [
        (root, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])),
        (other, torch.tensor([0, 1]), torch.tensor([2, 0])),
    ]
    unit = _unit("u", root, members)
    got = ChannelScreeningScorer(alpha=0.0)._unit_mean(unit, lambda bn: bn.weight.abs())
    # channel 0: (1 + 0.5) / 2; channel 1: 2 (one member); channel 2: (4 + 3) / 2
    assert got.dtype == F64
    torch.testing.assert_close(got, torch.tensor([0.75, 2.0, 3.5], dtype=F64))


def test_a_channel_no_member_carries_scores_zero():
    bn = _bn(1.0, 2.0, 3.0)
    unit = _unit("u", bn, [(bn, torch.tensor([0, 2]), torch.tensor([0, 2]))])
    got = ChannelScreeningScorer(alpha=0.0)._unit_mean(unit, lambda b: b.weight.abs())
    assert got.tolist() == [1.0, 0.0, 3.0]


def test_slimming_is_gamma_within_each_unit():
    units = [_unit("a", _bn(0.5, -1.0, 2.0)), _unit("b", _bn(10.0, 30.0))]
    got = ChannelScreeningScorer(alpha=0.0)(units)  # default scope, normalised per unit
    assert [s.tolist() for s in got] == [[0.0, 1 / 3, 1.0], [0.0, 1.0]]
    assert all(s.dtype == F64 for s in got)
    glob = ChannelScreeningScorer(alpha=0.0, normalize_scope="global")(units, "layer")
    # min-max over 0.5, 1, 2, 10, 30 together
    want = [[0.0, 0.5 / 29.5, 1.5 / 29.5], [9.5 / 29.5, 1.0]]
    for g, w in zip(glob, want):
        torch.testing.assert_close(g, torch.tensor(w, dtype=F64))


def test_normalization_scope_default_is_within_units():
    s = ChannelScreeningScorer()
    assert s.normalization_scope("global") == "layer"
    assert s.normalization_scope("layer") == "layer"
    assert ChannelScreeningScorer(normalize_scope="global").normalization_scope("layer") == (
        "global"
    )


def _moments(X, y):
    return ClassMoments().update(np.asarray(X, dtype=float), np.asarray(y))


def test_screening_mixes_f_and_gamma():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 6)
    X = rng.normal(size=(12, 3)) + np.outer(y, [0.1, 2.0, 0.7])
    bn = _bn(3.0, 1.0, 2.0)
    unit = _unit("u", bn, moments={bn: _moments(X, y)})
    (got,) = ChannelScreeningScorer(alpha=0.25)([unit], "global")
    f = f_classif(X, y)[0]
    mm = lambda v: (v - v.min()) / (v.max() - v.min())  # noqa: E731
    want = 0.25 * mm(f) + 0.75 * mm(np.array([3.0, 1.0, 2.0]))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)


def test_screening_needs_statistics_of_every_member():
    bn, other = _bn(1.0, 2.0), _bn(1.0, 2.0)
    members = [(bn, torch.arange(2), torch.arange(2)), (other, torch.arange(2), torch.arange(2))]
    X, y = [[0.0, 1.0], [1.0, 0.0], [0.5, 2.0], [1.5, 3.0]], [0, 1, 0, 1]
    unit = _unit("u", bn, members, moments={bn: _moments(X, y), other: None})
    with pytest.raises(RuntimeError) as err:
        ChannelScreeningScorer(alpha=0.5)([unit])
    assert str(err.value) == "Channel screening needs statistics from a training epoch."
    # slimming reads no statistics
    (got,) = ChannelScreeningScorer(alpha=0.0)([unit])
    assert got.tolist() == [0.0, 1.0]


def test_without_an_f_test_gamma_decides_with_a_warning():
    bn = _bn(3.0, 1.0, 2.0)
    one_class = _moments([[0.0, 1.0, 2.0], [1.0, 0.0, 4.0]], [0, 0])
    unit = _unit("u", bn, moments={bn: one_class})
    with pytest.warns(UserWarning, match="cannot give an ANOVA F-test") as rec:
        (got,) = ChannelScreeningScorer(alpha=0.9)([unit], "global")
    assert len(rec) == 1
    assert got.tolist() == [1.0, 0.0, 0.5]  # min-max of |gamma| alone
    under_mutmut = (
        "MUTANT_UNDER_TEST" in os.environ or "mutants" in pathlib.Path(scorer_module.__file__).parts
    )
    if not under_mutmut:  # mutmut's trampolines add frames
        assert rec[0].filename == __file__


def test_units_without_moments_do_not_block_the_f_test():
    # a member with no statistics (None) is skipped by the F-test check; another unit's
    # statistics decide: here one class, so gamma decides
    a, b = _bn(1.0, 2.0), _bn(2.0, 1.0)
    one_class = _moments([[0.0, 1.0], [1.0, 0.0]], [0, 0])
    units = [_unit("a", a, moments={a: one_class}), _unit("b", b, moments={b: None})]
    with pytest.warns(UserWarning):
        got = ChannelScreeningScorer(alpha=0.5)(units)
    assert [s.tolist() for s in got] == [[0.0, 1.0], [1.0, 0.0]]


def test_channel_scorer_normalize_scope():
    bns = [torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(2)]
    with torch.no_grad():
        bns[0].weight.copy_(torch.tensor([0.1, 0.2, 0.3]))
        bns[1].weight.copy_(torch.tensor([-2.0, 4.0]))
    units = [
        ChannelUnit(
            f"u{i}", bn, list(range(len(bn.weight))), [(bn, torch.arange(n), torch.arange(n))]
        )
        for i, (bn, n) in enumerate((bn, len(bn.weight)) for bn in bns)
    ]
    # gammas are float32: compare within float32 rounding
    layer = ChannelScreeningScorer(alpha=0.0, normalize="max", normalize_scope="layer")
    got = torch.cat(layer(units, "global")).tolist()
    assert got == pytest.approx([1 / 3, 2 / 3, 1.0, 0.5, 1.0], rel=1e-6)
    glob = ChannelScreeningScorer(alpha=0.0, normalize="max", normalize_scope="global")
    got = torch.cat(glob(units, "global")).tolist()
    assert got == pytest.approx([0.025, 0.05, 0.075, 0.5, 1.0], rel=1e-6)
    # None: within each layer whatever the budget scope (the validated channel default)
    default = ChannelScreeningScorer(alpha=0.0, normalize="max")
    for budget in ("global", "layer"):
        assert torch.cat(default(units, budget)).tolist() == pytest.approx(
            [1 / 3, 2 / 3, 1.0, 0.5, 1.0], rel=1e-6
        )


def test_slimming_never_asks_for_an_f_test():
    # alpha 0 reads |gamma| only: statistics of one class are not a reason to warn
    import warnings

    bn = _bn(3.0, 1.0, 2.0)
    one_class = _moments([[0.0, 1.0, 2.0], [1.0, 0.0, 4.0]], [0, 0])
    unit = _unit("u", bn, moments={bn: one_class})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (got,) = ChannelScreeningScorer(alpha=0.0)([unit])
    assert got.tolist() == [1.0, 0.0, 0.5]
