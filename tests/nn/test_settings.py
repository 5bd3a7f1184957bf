"""Unit tests of skscreen/nn/_settings.py: the pruning callback's parameter names, their
declared constraints (every message exact, the boundaries on both sides), the criterion
built from them and the derived number of pruning epochs."""

import re
from types import SimpleNamespace

import numpy as np
import pytest

from skscreen.nn import ScreeningPruning, _settings
from skscreen.nn._settings import _PARAMETER_CONSTRAINTS, PRUNING_PARAMS, PruningSettings

PARAMS = (
    "alpha",
    "sparsity",
    "schedule",
    "prune_epochs",
    "scope",
    "normalize",
    "normalize_scope",
    "scorer",
    "granularity",
    "layer_types",
    "ignored_layers",
    "post_relu",
    "reg_lambda",
    "gamma_l1",
    "random_state",
)


def _ok(**params):
    cb = ScreeningPruning(**params)
    assert cb.check_params() is cb
    return cb


def _bad(message, **params):
    cb = ScreeningPruning(**params)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cb.check_params()


def test_parameter_names_and_settings():
    assert PRUNING_PARAMS == PARAMS
    cb = ScreeningPruning(sparsity=0.5, scope="layer", random_state=3)
    assert cb._get_param_names() == list(PARAMS)
    assert isinstance(cb._get_param_names(), list)
    settings = cb.settings()
    assert list(settings) == list(PARAMS)
    assert settings["sparsity"] == 0.5 and settings["scope"] == "layer"
    assert settings["random_state"] == 3
    assert settings == {k: getattr(cb, k) for k in PARAMS}
    assert cb.get_params() == settings


def test_structure_is_the_four_settings_that_decide_what_is_prunable():
    cb = ScreeningPruning(granularity="channel", ignored_layers=["fc"], post_relu=True)
    assert cb._structure() == {
        "granularity": "channel",
        "layer_types": None,
        "ignored_layers": ["fc"],
        "post_relu": True,
    }
    assert list(cb._structure()) == ["granularity", "layer_types", "ignored_layers", "post_relu"]


def test_defaults_pass():
    _ok()
    _ok(granularity="channel")


def test_sparsity_constraint():
    for value in (0.0, 0.5, 0.999, np.float32(0.25), np.float64(0.1), 0, np.int64(0)):
        _ok(sparsity=value)
    for value in (1.0, 1, -0.1, 1.5, True, False, np.bool_(False), "0.5", None):
        _bad(f"sparsity must be a number in [0, 1), got {value!r}.", sparsity=value)


def test_alpha_constraint_applies_to_the_hybrid_scorer_only():
    for scorer in (None, "screening"):
        for value in (0.0, 1.0, 0.5, 0, 1, np.float32(0.75)):
            _ok(alpha=value, scorer=scorer)
        for value in (-0.01, 1.01, 2, True, np.bool_(True), "0.5", None):
            _bad(f"alpha must be in [0, 1], got {value!r}.", alpha=value, scorer=scorer)
    # other scorers take no alpha: it is not checked
    for value in (5.0, -1, "anything"):
        _ok(alpha=value, scorer="magnitude")


def test_scope_normalize_and_normalize_scope_constraints():
    _ok(scope="global")
    _ok(scope="layer")
    for value in ("Global", "all", None):
        _bad(f"scope must be 'global' or 'layer', got {value!r}.", scope=value)
    for value in ("minmax", "max", "rank"):
        _ok(normalize=value)
    for value in ("zscore", None):
        _bad(
            f"normalize must be one of ('minmax', 'max', 'rank'), got {value!r}.",
            normalize=value,
        )
    for value in (None, "global", "layer"):
        _ok(normalize_scope=value)
    _bad(
        "normalize_scope must be None, 'global' or 'layer', got 'net'.",
        normalize_scope="net",
    )


def test_prune_epochs_constraints():
    for value in (None, 1, 3, np.int64(2), np.int32(1)):
        _ok(prune_epochs=value)
    for value in (True, False, 2.0, "3", np.float64(2.0)):
        _bad(f"prune_epochs must be None or an int >= 1, got {value!r}.", prune_epochs=value)
    for value in (0, -1, np.int64(0)):
        _bad(f"prune_epochs must be >= 1, got {value!r}.", prune_epochs=value)


def test_granularity_constraint():
    for value in ("Weight", "unit", None):
        _bad(f"granularity must be 'weight' or 'channel', got {value!r}.", granularity=value)


def test_regulariser_constraints():
    _ok(reg_lambda=0.0, gamma_l1=0.0)
    _ok(reg_lambda=0.5)
    _ok(reg_lambda=np.float32(1e-3), granularity="weight")
    _ok(gamma_l1=1e-4, granularity="channel")
    _ok(gamma_l1=0, granularity="channel", reg_lambda=0)
    # inf and NaN too (audit, session 9: reg_lambda=inf trained to NaN weights silently)
    for value in (-1e-9, True, "0", None, float("inf"), float("nan")):
        _bad(f"reg_lambda must be a finite number >= 0, got {value!r}.", reg_lambda=value)
    for value in (-1e-9, np.bool_(True), "0", None, np.inf, np.float32("nan")):
        _bad(f"gamma_l1 must be a finite number >= 0, got {value!r}.", gamma_l1=value)
    _bad("reg_lambda applies to granularity='weight' only.", reg_lambda=1e-9, granularity="channel")
    _bad("gamma_l1 applies to granularity='channel' only.", gamma_l1=1e-9, granularity="weight")


def test_layer_types_applies_to_weight_level_only():
    _ok(layer_types=["Linear"])
    _ok(layer_types=None, granularity="channel")
    _bad(
        "layer_types applies to granularity='weight' only (channel level prunes the channels "
        "of BatchNorm layers; exclude some with ignored_layers).",
        layer_types=["Linear"],
        granularity="channel",
    )


def test_constraints_are_checked_in_their_declared_order():
    names = [name for name, _, _ in _PARAMETER_CONSTRAINTS]
    assert names == [
        "sparsity",
        "alpha",
        "scope",
        "normalize",
        "normalize_scope",
        "prune_epochs",
        "prune_epochs",
        "granularity",
        "reg_lambda",
        "gamma_l1",
        "reg_lambda",
        "gamma_l1",
        "layer_types",
    ]
    # several bad settings: the first declared is reported
    _bad("sparsity must be a number in [0, 1), got 2.", sparsity=2, alpha=3, scope="x")
    _bad("alpha must be in [0, 1], got 3.", alpha=3, scope="x")
    _bad("reg_lambda must be a finite number >= 0, got -1.", reg_lambda=-1, gamma_l1=-1)


def test_schedule_and_criterion_are_checked_after_the_settings():
    _ok(schedule="cubic")
    with pytest.raises(ValueError, match=r"^Unknown schedule 'nope'"):
        ScreeningPruning(schedule="nope").check_params()
    # the settings come first
    _bad("scope must be 'global' or 'layer', got 'x'.", schedule="nope", scope="x")
    with pytest.raises(ValueError, match=r"^Unknown scorer 'nope'"):
        ScreeningPruning(scorer="nope").check_params()
    with pytest.raises(ValueError, match=r"^scorer='slimming' needs granularity='channel'"):
        ScreeningPruning(scorer="slimming").check_params()
    _ok(scorer="slimming", granularity="channel")
    # the schedule is checked before the criterion
    with pytest.raises(ValueError, match=r"^Unknown schedule"):
        ScreeningPruning(schedule="nope", scorer="nope").check_params()


def test_make_scorer_passes_every_setting(monkeypatch):
    calls = []

    def fake(scorer, **kwargs):
        calls.append((scorer, kwargs))
        return "criterion"

    monkeypatch.setattr(_settings, "make_criterion", fake)
    cb = ScreeningPruning(
        scorer="lamp",
        granularity="channel",
        alpha=0.125,
        normalize="rank",
        normalize_scope="layer",
        random_state=7,
    )
    assert cb.make_scorer() == "criterion"
    assert calls == [
        (
            "lamp",
            {
                "granularity": "channel",
                "alpha": 0.125,
                "normalize": "rank",
                "normalize_scope": "layer",
                "random_state": 7,
            },
        )
    ]


def test_make_scorer_builds_the_real_criterion():
    from skscreen.pruning.scorers import LAMPScorer, MagnitudeScorer

    assert isinstance(ScreeningPruning(scorer="magnitude").make_scorer(), MagnitudeScorer)
    assert isinstance(ScreeningPruning(scorer="lamp").make_scorer(), LAMPScorer)
    a = ScreeningPruning().make_scorer()
    b = ScreeningPruning().make_scorer()
    assert a is not b  # a fresh criterion each time


def test_check_params_builds_schedule_and_criterion(monkeypatch):
    seen = []
    monkeypatch.setattr(_settings, "make_schedule", lambda s: seen.append(("schedule", s)))
    monkeypatch.setattr(
        _settings, "make_criterion", lambda s, **kw: seen.append(("criterion", s, kw["alpha"]))
    )
    cb = ScreeningPruning(schedule="fsa", scorer="screening", alpha=0.5)
    assert cb.check_params() is cb
    assert seen == [("schedule", "fsa"), ("criterion", "screening", 0.5)]


def test_n_prune_epochs():
    net = SimpleNamespace(max_epochs=10)
    assert ScreeningPruning(prune_epochs=3)._n_prune_epochs(net) == 3
    n = ScreeningPruning(prune_epochs=np.int64(4))._n_prune_epochs(net)
    assert n == 4 and type(n) is int
    # None: half of max_epochs, at least 1
    for max_epochs, expected in ((10, 5), (7, 3), (3, 1), (2, 1), (1, 1), (0, 1), (np.int64(9), 4)):
        n = ScreeningPruning()._n_prune_epochs(SimpleNamespace(max_epochs=max_epochs))
        assert n == expected and type(n) is int
    # an explicit prune_epochs does not read max_epochs
    assert ScreeningPruning(prune_epochs=2)._n_prune_epochs(SimpleNamespace()) == 2


def test_the_mixin_on_its_own():
    class Host(PruningSettings):
        pass

    host = Host()
    for name, value in zip(PARAMS, range(len(PARAMS)), strict=True):
        setattr(host, name, value)
    assert host.settings() == dict(zip(PARAMS, range(len(PARAMS)), strict=True))
    assert host._structure() == {
        "granularity": 8,
        "layer_types": 9,
        "ignored_layers": 10,
        "post_relu": 11,
    }
