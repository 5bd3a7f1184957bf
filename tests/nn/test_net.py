"""ScreeningPrunedNet: sklearn/skorch contract, exact sparsity, masks, compaction, errors."""

import os
import pickle
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from _nets import DIGITS_MLP, SGD_MOMENTUM, make_net, make_plain_net  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from skorch.callbacks import EpochTimer, PrintLog  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.datasets import load_digits_split  # noqa: E402
from skscreen.nn import ScreeningPruning  # noqa: E402
from skscreen.pruning import MagnitudeScorer  # noqa: E402
from skscreen.pruning.masks import get_mask  # noqa: E402

_UNDER_MUTMUT = bool(os.environ.get("MUTANT_UNDER_TEST")) or "mutants" in Path(
    sys.modules[ScreeningPrunedNet.__module__].__file__
).parts


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


_net = partial(
    make_net,
    alpha=0.25,
    sparsity=0.8,
    max_epochs=6,
    batch_size=64,
    optimizer__weight_decay=1e-4,
    **SGD_MOMENTUM,
)


def test_exact_sparsity_and_schedule_in_history(digits):
    net = _net(prune_epochs=4).fit(digits.X_train, digits.y_train)
    n_total = 64 * 32 + 32 * 10
    assert net.n_weights_ == n_total
    assert abs(net.pruner_.n_kept() - round(0.2 * n_total)) <= 1
    assert net.sparsity_ == pytest.approx(0.8, abs=1.5 / n_total)
    hist = net.history[:, "sparsity"]
    assert (
        len(hist) == 6 and np.all(np.diff(hist) >= 0) and hist[-1] == pytest.approx(0.8, abs=1e-3)
    )
    np.testing.assert_allclose(
        net.history[:, "target_sparsity"],
        [
            0.8 * (1 - r)
            for r in [net.pruner_.schedule.remaining(e, 4) if e < 4 else 0 for e in range(1, 7)]
        ],
        atol=1.5 / n_total,
    )
    assert set(net.kept_fraction_) == {"1", "3"}
    assert net.score(digits.X_test, digits.y_test) > 0.85


def test_layer_scope_prunes_each_layer_equally(digits):
    net = _net(scope="layer", sparsity=0.5).fit(digits.X_train, digits.y_train)
    for frac in net.kept_fraction_.values():
        assert frac == pytest.approx(0.5, abs=0.01)


def test_pruned_weights_stay_zero_after_more_training(digits):
    net = _net(prune_epochs=3).fit(digits.X_train, digits.y_train)
    masks = {n: get_mask(m).clone() for n, m in net.pruner_.layers.items()}
    net.partial_fit(digits.X_train, digits.y_train, epochs=3)
    for n, m in net.pruner_.layers.items():
        assert torch.all(m.weight[masks[n] == 0] == 0)
    assert len(net.history) == 9


def test_torch_prune_conversion_keeps_predictions_and_training(digits):
    net = _net(prune_epochs=2, max_epochs=3).fit(digits.X_train, digits.y_train)
    before = net.predict_proba(digits.X_test)
    masks = {n: get_mask(m).clone() for n, m in net.pruner_.layers.items()}
    net.to_torch_prune()
    assert all(prune.is_pruned(m) for m in net.pruner_.layers.values())
    np.testing.assert_allclose(net.predict_proba(digits.X_test), before, rtol=1e-6)
    net.partial_fit(digits.X_train, digits.y_train, epochs=2)
    for n, m in net.pruner_.layers.items():
        assert torch.all(m.weight_orig[masks[n] == 0] == 0)
    net.remove_masks()
    assert not any(prune.is_pruned(m) for m in net.module_.modules())
    assert net.n_parameters() <= int(sum(v.sum() for v in masks.values())) + 42


def test_compact_gives_identical_predictions(digits):
    net = _net(sparsity=0.9, max_epochs=8).fit(digits.X_train, digits.y_train)
    small = net.compact()
    X = torch.as_tensor(digits.X_test)
    with torch.no_grad():
        torch.testing.assert_close(small(X), net.module_.eval()(X), rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < net.n_parameters(nonzero=False)


def test_alpha_zero_equals_magnitude_scorer(digits):
    a = _net(alpha=0.0).fit(digits.X_train, digits.y_train)
    b = _net(scorer=MagnitudeScorer()).fit(digits.X_train, digits.y_train)
    for ma, mb in zip(a.pruner_.layers.values(), b.pruner_.layers.values()):
        assert torch.equal(get_mask(ma), get_mask(mb))
    assert b.pruner_.recorder is None  # magnitude needs no statistics
    # ... and both are magnitude pruning, checked independently: a one-shot prune after the
    # last epoch keeps the global top-k |w| of the weights that the same (seeded) training
    # reaches unpruned, computed here with numpy
    kw = dict(alpha=0.0, schedule="one-shot", prune_epochs=6, max_epochs=6)
    dense = _net(sparsity=0.0, **kw).fit(digits.X_train, digits.y_train)
    pruned = _net(**kw).fit(digits.X_train, digits.y_train)
    ws = [dense.module_[i].weight.detach().numpy() for i in (1, 3)]
    flat = np.concatenate([np.abs(w).ravel() for w in ws])
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[: round(0.2 * flat.size)]] = True
    expected = [keep[: ws[0].size].reshape(ws[0].shape), keep[ws[0].size :].reshape(ws[1].shape)]
    assert expected[1].any(axis=1).all()  # the keep-a-row constraint does not bind here
    for i, e in zip((1, 3), expected):
        np.testing.assert_array_equal(get_mask(pruned.module_[i]).bool().numpy(), e)


def test_alpha_changes_the_masks(digits):
    from sklearn.feature_selection import f_classif

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant pixels
        f = np.nan_to_num(f_classif(digits.X_train, digits.y_train)[0])
    a = _net(alpha=0.0).fit(digits.X_train, digits.y_train)
    b = _net(alpha=0.75).fit(digits.X_train, digits.y_train)
    ma, mb = (get_mask(n.module_[1]).bool().numpy() for n in (a, b))
    assert not np.array_equal(ma, mb)
    # the screening term moves the first layer's budget to pixels with a larger F
    assert (mb * f).sum() / mb.sum() > 1.2 * (ma * f).sum() / ma.sum()
    # alpha = 1: a first-layer weight's score is its input pixel's F, so the kept weights
    # are whole columns of the highest-F pixels (one column may be cut at the boundary)
    m1 = get_mask(_net(alpha=1.0).fit(digits.X_train, digits.y_train).module_[1]).bool()
    m1 = m1.numpy()
    kept = m1.any(axis=0)
    assert f[kept].min() >= f[~kept].max()
    assert (m1.any(axis=0) & ~m1.all(axis=0)).sum() <= 1


def test_clone_pickle_and_continue(digits):
    net = _net(max_epochs=3, prune_epochs=4)
    params = clone(net).get_params()
    assert params["alpha"] == 0.25 and params["sparsity"] == 0.8
    with pytest.warns(UserWarning, match="before the schedule reached"):
        net.fit(digits.X_train, digits.y_train)
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(back.predict(digits.X_test), net.predict(digits.X_test))
    back.partial_fit(digits.X_train, digits.y_train, epochs=2)  # finishes the schedule
    assert back.sparsity_ == pytest.approx(0.8, abs=1e-3)
    assert back.pruner_.model is back.module_


def test_joblib_round_trip(digits, tmp_path):
    joblib = pytest.importorskip("joblib")
    net = _net(max_epochs=3, prune_epochs=2).fit(digits.X_train, digits.y_train)
    joblib.dump(net, tmp_path / "net.joblib")
    back = joblib.load(tmp_path / "net.joblib")
    np.testing.assert_array_equal(back.predict(digits.X_test), net.predict(digits.X_test))
    assert back.sparsity_ == net.sparsity_


def test_same_seed_same_result(digits):
    a = _net().fit(digits.X_train, digits.y_train)
    b = _net().fit(digits.X_train, digits.y_train)
    np.testing.assert_array_equal(a.predict_proba(digits.X_test), b.predict_proba(digits.X_test))


def test_pipeline_and_grid_search(digits):
    pipe = Pipeline([("scale", StandardScaler()), ("net", _net(max_epochs=3, prune_epochs=2))])
    X = digits.X_train.astype(np.float32)
    gs = GridSearchCV(
        pipe,
        {"net__alpha": [0.0, 0.5], "net__sparsity": [0.5, 0.9]},
        cv=2,
        # joblib's worker processes, started in mutmut's parent, hang its forked children
        n_jobs=1 if _UNDER_MUTMUT else 2,
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs.fit(X, digits.y_train)
    assert len(gs.cv_results_["params"]) == 4
    assert gs.best_estimator_.named_steps["net"].sparsity_ == pytest.approx(
        gs.best_params_["net__sparsity"], abs=1e-3
    )
    assert gs.score(digits.X_test, digits.y_test) > 0.6


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"sparsity": 1.0}, "sparsity must be"),
        ({"sparsity": -0.1}, "sparsity must be"),
        ({"alpha": 1.5}, "alpha must be"),
        ({"scope": "row"}, "scope must be"),
        ({"normalize": "z"}, "normalize must be"),
        ({"schedule": "exp"}, "Unknown schedule"),
        ({"granularity": "channel", "layer_types": (torch.nn.Linear,)}, "layer_types applies"),
    ],
)
def test_bad_parameters(digits, kw, match):
    with pytest.raises(ValueError, match=match):
        _net(**kw).fit(digits.X_train, digits.y_train)


def test_nan_features_and_unknown_labels(digits):
    X = digits.X_train.copy()
    X[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _net().fit(X, digits.y_train)
    with pytest.raises(ValueError, match="not in classes"):
        _net(classes=list(range(5))).fit(digits.X_train, digits.y_train)
    net = _net(max_epochs=1, prune_epochs=1).fit(
        digits.X_train[digits.y_train < 10], digits.y_train
    )
    y = digits.y_train.copy()
    y[0] = 12
    before = {n: get_mask(m).clone() for n, m in net.pruner_.layers.items()}
    with pytest.raises(ValueError, match="not seen in the first fit"):
        net.partial_fit(digits.X_train, y)
    for n, m in net.pruner_.layers.items():
        assert torch.equal(get_mask(m), before[n])


def test_refit_with_other_labels_is_allowed(digits):
    keep = digits.y_train < 5
    net = _net(max_epochs=2, prune_epochs=1).fit(digits.X_train[keep], digits.y_train[keep])
    net.fit(digits.X_train, digits.y_train)  # fit resets: labels 5-9 are fine now
    assert list(net.classes_) == list(range(10))


# ----------------------------- the pruning callback's settings, a careless user (issue 9)
# the issue 9 audit's net: half the weights pruned over the first two of three epochs,
# skorch's plain SGD and batch size
_half_net = partial(make_net, sparsity=0.5, prune_epochs=2, max_epochs=3)


def test_clone_of_a_fitted_plain_net_with_the_callback(digits_300):
    X, y = digits_300
    cb = ScreeningPruning(sparsity=0.5, prune_epochs=1)
    net = make_plain_net(max_epochs=2, callbacks=[("prune", cb)]).fit(X, y)
    assert sorted(cb.get_params()) == sorted(ScreeningPruning().get_params())
    assert "callbacks__prune___enforcer" not in net.get_params(deep=True)
    again = clone(net).fit(X, y)
    assert again.history[-1, "sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_a_second_pruning_callback_on_the_net_is_refused(digits_300):
    # it would silently prune the module twice, overriding the net's sparsity
    X, y = digits_300
    net = _half_net(callbacks=[("mine", ScreeningPruning(sparsity=0.8))])
    with pytest.raises(ValueError, match="second time"):
        net.fit(X, y)


def test_the_pruning_settings_are_the_nets_parameters_not_a_callbacks(digits_300):
    X, y = digits_300
    net = _half_net(max_epochs=2, prune_epochs=1)
    with pytest.raises(ValueError, match=r"set_params\(sparsity=0.8"):
        net.set_params(callbacks__screening_pruning__sparsity=0.8)
    with pytest.raises(ValueError, match="not an entry of callbacks"):
        net.set_params(callbacks__screening_pruning=None)
    net.set_params(sparsity=0.8).fit(X, y)
    assert net.sparsity_ == pytest.approx(0.8, abs=1e-3)
    assert net.pruning_.sparsity == 0.8  # pushed to the callback at fit
    assert not any(k.startswith("callbacks__screening") for k in net.get_params(deep=True))


def test_numpy_scalar_settings_from_a_grid_are_accepted(digits_300):
    # np.float32 is not a Python float: a grid built with float32 values was refused
    X, y = digits_300
    net = _half_net(alpha=np.float32(0.5), sparsity=np.float32(0.5), max_epochs=2, prune_epochs=1)
    assert net.fit(X, y).sparsity_ == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError, match="sparsity"):
        _half_net(sparsity=np.bool_(True)).fit(X, y)


def test_module_reinitialised_between_partial_fit_calls(digits_300):
    # set_params(module__...) re-initialises the module but keeps the history: the budget
    # was taken from the old module (2368 weights for 1184), so sparsity_ read 0.5 with
    # nothing pruned
    X, y = digits_300
    net = _half_net(max_epochs=2, prune_epochs=1).fit(X, y)
    net.set_params(module__hidden=(16,))
    with pytest.raises(ValueError, match="re-initialised"):
        net.partial_fit(X, y)
    assert net.fit(X, y).n_weights_ == 64 * 16 + 16 * 10
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)


def test_a_regression_net_is_refused_with_a_clear_error(digits_300):
    # the error was "labels [2, ..., 9] not in classes [0, 1]" after the first batch
    from skorch import NeuralNet, NeuralNetRegressor

    X, y = digits_300
    yr = y[:, None].astype(np.float32)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    for cls, kw in ((NeuralNetRegressor, {}), (NeuralNet, {"criterion": torch.nn.MSELoss})):
        net = cls(mlp, max_epochs=1, train_split=None, verbose=0, **kw)
        net.set_params(callbacks=[("prune", ScreeningPruning(sparsity=0.5))])
        with pytest.raises(ValueError, match="regression"):
            net.fit(X, yr)


def test_pruning_goes_on_whatever_callbacks_holds(digits_300):
    # the pruning callback is held in pruning_, beside callbacks_: skorch's ways of switching
    # callbacks off (callbacks="disable", an entry set to None, callbacks_ = []) leave it be
    X, y = digits_300
    net = _half_net(callbacks="disable", max_epochs=2, prune_epochs=1).fit(X, y)
    assert net.callbacks_ == []
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)
    assert [r["pruning_epoch"] for r in net.history] == [1, 2]
    net = _half_net(verbose=1, max_epochs=1, prune_epochs=1)
    net.set_params(callbacks__print_log=None).fit(X, y)
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)
    assert all(not isinstance(cb, ScreeningPruning) for _, cb in net.callbacks_)
    mine = [("a", EpochTimer()), ("b", PrintLog())]  # callbacks_ exactly as skorch's
    net = _half_net(callbacks=mine, max_epochs=1, prune_epochs=1).initialize()
    plain = make_plain_net(callbacks=mine).initialize()
    assert [n for n, _ in net.callbacks_] == [n for n, _ in plain.callbacks_]
    net.callbacks_ = []
    net.partial_fit(X, y)
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)


def test_a_subclass_overriding_the_nets_hooks_without_super_still_prunes(digits_300):
    # skorch's own on_epoch_end/on_train_begin are no-ops, so subclasses override them
    # without super(): pruning must not depend on them
    X, y = digits_300
    seen = []

    class Mine(ScreeningPrunedNet):
        def on_epoch_end(self, net, **kwargs):
            seen.append(len(net.history))

        def on_train_begin(self, net, **kwargs):
            seen.append("begin")

    params = dict(DIGITS_MLP, lr=0.1, train_split=None, verbose=0, random_state=0)
    net = Mine(**params, sparsity=0.5, max_epochs=2, prune_epochs=1).fit(X, y)
    assert seen == ["begin", 1, 2]
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)
    net.set_params(sparsity=0.8).fit(X, y)  # a refit with new settings reaches them
    assert net.sparsity_ == pytest.approx(0.8, abs=1e-3)


# ----------------------------- nn/_net.py word for word: defaults, refusals, small contracts
def test_defaults_are_the_documented_ones():
    from skscreen.nn import AutoLoss

    net = ScreeningPrunedNet(torch.nn.Linear(4, 2))
    params = net.get_params(deep=False)
    documented = {
        "alpha": 0.25,
        "sparsity": 0.9,
        "schedule": "logistic",
        "prune_epochs": None,
        "scope": "global",
        "normalize": "minmax",
        "normalize_scope": None,
        "scorer": None,
        "granularity": "weight",
        "layer_types": None,
        "ignored_layers": None,
        "post_relu": False,
        "reg_lambda": 0.0,
        "gamma_l1": 0.0,
        "random_state": None,
        "criterion": AutoLoss,
    }
    assert {k: params[k] for k in documented} == documented
    # every setting given reaches the net and its callback unchanged
    given = dict(
        alpha=0.5, sparsity=0.3, schedule="cubic", prune_epochs=3, scope="layer",
        normalize="rank", normalize_scope="layer", scorer="magnitude", granularity="weight",
        layer_types=(torch.nn.Linear,), ignored_layers=["0"], post_relu=True, reg_lambda=0.1,
        gamma_l1=0.2, random_state=7,
    )
    net = ScreeningPrunedNet(torch.nn.Linear(4, 2), **given)
    assert {k: net.get_params()[k] for k in given} == given
    given.update(gamma_l1=0.0, post_relu=False)  # channel-level settings: refused at weight level
    net = ScreeningPrunedNet(torch.nn.Linear(4, 2), **given).initialize()
    assert {k: getattr(net.pruning_, k) for k in given if k != "random_state"} == {
        k: v for k, v in given.items() if k != "random_state"
    }


def test_the_stale_callback_setting_message_exactly():
    net = make_net()
    with pytest.raises(ValueError) as info:
        net.set_params(callbacks__screening_pruning__sparsity=0.8)
    assert str(info.value) == (
        "'callbacks__screening_pruning__sparsity': ScreeningPrunedNet's pruning is not an "
        "entry of callbacks (it is held in pruning_, whatever callbacks holds); its settings "
        "are the net's own parameters: set_params(sparsity=0.8, alpha=...), sparsity=0 for no "
        "pruning."
    )
    net.set_params(sparsity=0.8)  # the net's own setting is fine
    assert net.sparsity == 0.8


def test_a_second_pruning_callback_message_exactly(digits_300):
    X, y = digits_300
    net = _half_net(callbacks=[("mine", ScreeningPruning(sparsity=0.8)), ("timer", EpochTimer())])
    with pytest.raises(ValueError) as info:
        net.fit(X, y)
    assert str(info.value) == (
        "ScreeningPrunedNet prunes with its own ScreeningPruning callback; the callbacks "
        "['mine'] would prune the same module a second time. Pass the pruning settings as "
        "parameters of the net (sparsity=..., alpha=...), or use skorch's NeuralNetClassifier "
        "with the ScreeningPruning callback."
    )


def test_string_criterion_message_and_pruner_before_training():
    net = make_net(criterion="cross_entropy")
    with pytest.raises(ValueError) as info:
        net.initialize()
    assert str(info.value) == (
        "criterion must be 'auto' or a torch criterion (class or instance), got "
        "'cross_entropy'."
    )
    net = make_net().initialize()
    with pytest.raises(AttributeError) as info:
        net.pruner_  # noqa: B018
    assert str(info.value) == (
        "pruner_ exists after the first training batch (the net has not trained yet)."
    )
    assert net.regularizer_ is None


def test_the_callback_is_kept_across_initialisations_and_follows_the_settings():
    net = make_net(sparsity=0.5).initialize()
    pruning = net.pruning_
    net.set_params(sparsity=0.7)
    net.initialize()
    assert net.pruning_ is pruning and pruning.sparsity == 0.7


def test_the_module_instance_passed_is_never_modified(digits_300):
    X, y = digits_300
    from skscreen.models import make_mlp

    module = make_mlp(64, (32,), 10)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    net = ScreeningPrunedNet(module, sparsity=0.5, max_epochs=2, lr=0.1, train_split=None,
                             verbose=0).fit(X, y)
    assert net.module_ is not module
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())
    assert not any(k.endswith("_mask") for k in dict(module.named_buffers()))


def test_counts_and_results_of_a_fitted_net(digits_300):
    X, y = digits_300
    net = _half_net(max_epochs=2, prune_epochs=1).fit(X, y)
    n = 64 * 32 + 32 * 10
    assert net.n_weights_ == n
    kept = sum(int(get_mask(m).sum()) for m in net.module_.modules() if get_mask(m) is not None)
    assert net.sparsity_ == pytest.approx(1 - kept / n)
    assert net.kept_fraction_ == {
        name: pytest.approx(float(get_mask(m).mean())) for name, m in net.pruner_.layers.items()
    }
    total = sum(p.numel() for p in net.module_.parameters())
    nonzero = sum(int((p != 0).sum()) for p in net.module_.parameters())
    assert net.n_parameters(nonzero=False) == total
    assert net.n_parameters() == nonzero < total
    proba = net.predict_proba(X)
    net.remove_masks()
    assert not any(get_mask(m) is not None for m in net.module_.modules())
    np.testing.assert_array_equal(net.predict_proba(X), proba)


def test_pickle_of_a_net_whose_module_failed_to_initialise():
    net = make_net(module__hidden=(-1,))  # torch refuses a layer of -1 units
    with pytest.raises(RuntimeError):
        net.initialize()
    assert "pruning_" in net.__dict__ and "module_" not in net.__dict__
    back = pickle.loads(pickle.dumps(net))
    assert isinstance(back.pruning_, ScreeningPruning) and "module_" not in back.__dict__


def test_the_statistics_cover_every_output_the_net_measured(digits_300):
    # labels {3, 5} on a module of 7 outputs: output indices (below the width); the net's
    # probe of the width reaches the callback, whose statistics then have a row per output
    X, y = digits_300
    y35 = np.where(y < 5, 3, 5)
    net = make_net(module__n_classes=7, sparsity=0.5, max_epochs=1, prune_epochs=1).fit(X, y35)
    assert list(net.classes_) == [3, 5]
    assert net.pruner_.n_classes == 7


def test_a_module_without_a_class_dimension_fails_training_with_torchs_error(digits_300):
    # labels that need the module's width; its output (N,) has none: no width is passed on,
    # and training raises the loss's own error
    X, y = digits_300
    names = np.array(list("abcdefghij"))[y]
    flat = torch.nn.Sequential(torch.nn.Linear(64, 1), torch.nn.Flatten(0))
    net = ScreeningPrunedNet(flat, max_epochs=1, train_split=None, verbose=0, sparsity=0.5)
    with pytest.raises(RuntimeError, match="Expected floating point type for target"):
        net.fit(X, names)


def test_compact_at_channel_level_is_an_independent_copy(digits_300):
    import _archs

    X, y = digits_300
    X = X.reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    net = ScreeningPrunedNet(
        _archs.ResidualBNCNN(width=8), granularity="channel", sparsity=0.5, prune_epochs=1,
        max_epochs=1, lr=0.05, train_split=None, verbose=0, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y)
    net.module_.train()
    small = net.compact()
    assert type(small) is type(net.module_) and not small.training and net.module_.training
    mine = {id(p) for p in net.module_.parameters()}
    assert not any(id(p) in mine for p in small.parameters())
    assert [tuple(p.shape) for p in small.parameters()] == [
        tuple(p.shape) for p in net.module_.parameters()
    ]
    net.module_.eval()
    with torch.no_grad():
        x = torch.as_tensor(X[:16])
        torch.testing.assert_close(small(x), net.module_(x))


def test_compact_of_a_net_loaded_without_training(digits_300, tmp_path):
    X, y = digits_300
    src = _half_net(max_epochs=2, prune_epochs=1).fit(X, y)
    src.save_params(f_params=tmp_path / "p.pt")
    dst = _half_net().initialize()
    dst.load_params(f_params=tmp_path / "p.pt")
    assert getattr(dst.pruning_, "example_inputs_", None) is None  # no training batch here
    small = dst.compact()  # the masks folded, without example inputs to trace
    with torch.no_grad():
        x = torch.as_tensor(X[:16], dtype=torch.float32)
        torch.testing.assert_close(small(x), dst.module_.eval()(x))


def test_predict_proba_runs_the_module_in_eval_mode(digits_300):
    # dropout is off at prediction: the probabilities are the softmax of the eval-mode module
    X, y = digits_300
    module = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(32, 10)
    )
    net = ScreeningPrunedNet(module, max_epochs=1, train_split=None, verbose=0, sparsity=0.5,
                             random_state=0).fit(X, y)
    with torch.no_grad():
        expected = torch.softmax(net.module_.eval()(torch.as_tensor(X[:32])), dim=-1).numpy()
    np.testing.assert_allclose(net.predict_proba(X[:32]), expected, rtol=1e-5, atol=1e-7)


def test_an_explicit_criterion_is_not_checked_again_at_prediction(digits_300):
    # with an explicit criterion the module's output is checked at the first training batch
    # only; a net predicting without training (loaded weights) applies skorch's nonlinearity
    X, _ = digits_300
    module = torch.nn.Sequential(torch.nn.Linear(64, 10), torch.nn.Softmax(dim=-1))
    net = ScreeningPrunedNet(module, criterion=torch.nn.CrossEntropyLoss, verbose=0).initialize()
    with torch.no_grad():
        out = net.module_(torch.as_tensor(X[:16]))
    np.testing.assert_allclose(
        net.predict_proba(X[:16]), torch.softmax(out, dim=-1).numpy(), rtol=1e-5, atol=1e-7
    )


def test_a_built_autoloss_net_predicting_before_any_training_gives_probabilities(digits_300):
    # the user's initialize_criterion makes an AutoLoss, never called here (weights loaded,
    # no training): the first prediction batch decides "logits", and the softmax applies
    from skscreen.nn import AutoLoss

    class Built(ScreeningPrunedNet):
        def initialize_criterion(self):
            self.criterion_ = AutoLoss(**self.get_params_for("criterion"))
            return self

    X, _ = digits_300
    net = Built(torch.nn.Linear(64, 10), verbose=0, sparsity=0.0).initialize()
    assert net.criterion_.output_ is None
    with torch.no_grad():
        out = net.module_(torch.as_tensor(X[:16]))
    np.testing.assert_allclose(
        net.predict_proba(X[:16]), torch.softmax(out, dim=-1).numpy(), rtol=1e-5, atol=1e-7
    )


def test_fit_passes_its_fit_params_on(digits_300):
    # skorch's fit_loop takes epochs=: fit(X, y, epochs=1) trains one epoch, not max_epochs
    X, y = digits_300
    net = _half_net(max_epochs=3).fit(X, y, epochs=1)
    assert len(net.history) == 1
