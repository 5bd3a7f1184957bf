"""ScreeningPrunedNet's inputs and labels as a scikit-learn classifier takes them.

Validation data encoded like training data (predefined_split, fit(Dataset)); X of any
strides, sparse of any dtype; ``n_features_in_``/``feature_names_in_`` recorded and checked.
"""

from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pd = pytest.importorskip("pandas")

import scipy.sparse as sp  # noqa: E402
from _nets import make_net  # noqa: E402
from skorch.dataset import Dataset  # noqa: E402
from skorch.helper import predefined_split  # noqa: E402

from skscreen.models import make_mlp  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


_net = partial(
    make_net,
    module__n_inputs=6,
    module__hidden=(16,),
    module__n_classes=3,
    max_epochs=4,
    lr=0.2,
    batch_size=32,
    sparsity=0.5,
)


@pytest.mark.parametrize("labels", [np.array(["a", "b", "c"]), np.array([1, 2, 3])])
def test_predefined_split_labels_encoded_like_training(data, labels):
    X, y = data
    yl = labels[y]
    valid = Dataset(X[:100].astype(np.float64), yl[:100])  # float64 X too
    net = _net(train_split=predefined_split(valid)).fit(X[100:], yl[100:])
    # valid_acc is computed by skorch against net.predict: equal to our own accuracy
    expected = (net.predict(X[:100]) == yl[:100]).mean()
    assert net.history[-1, "valid_acc"] == pytest.approx(expected)
    assert np.isfinite(net.history[:, "valid_loss"]).all()


def test_unknown_validation_label_fails_before_training(data):
    X, y = data
    yl = np.array(["a", "b", "c"])[y]
    yv = yl[:100].astype("<U3")
    yv[0] = "zzz"
    net = _net(train_split=predefined_split(Dataset(X[:100], yv))).initialize()
    before = {k: v.clone() for k, v in net.module_.state_dict().items()}
    with pytest.raises(ValueError, match="zzz"):
        net.partial_fit(X[100:], yl[100:])
    after = net.module_.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v)  # no epoch ran
    assert len(net.history) == 0


def test_validation_output_indices_checked_and_cast_before_training(data):
    # audit (session 9): with output-index labels the validation Dataset was used as it
    # was: label 3 on a 3-output module trained (and pruned) an epoch before an IndexError,
    # float64 X_valid trained an epoch before a dtype error
    X, y = data
    yv = y[:100].copy()
    yv[0] = 3
    net = _net(train_split=predefined_split(Dataset(X[:100], yv))).initialize()
    before = {k: v.clone() for k, v in net.module_.state_dict().items()}
    with pytest.raises(ValueError, match=r"validation labels \[3\].*3 outputs"):
        net.partial_fit(X[100:], y[100:])
    for k, v in net.module_.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert len(net.history) == 0
    # float64 X_valid is cast like X; an output the training labels did not use is a valid
    # validation label (skorch scores it), below the module's width
    y2 = np.minimum(y, 1)  # classes {0, 1} on 3 outputs
    valid = Dataset(X[:100].astype(np.float64), y[:100])
    net = _net(train_split=predefined_split(valid)).fit(X[100:], y2[100:])
    assert list(net.classes_) == [0, 1]
    assert np.isfinite(net.history[:, "valid_loss"]).all()


def test_fit_on_a_skorch_dataset_with_string_labels(data):
    X, y = data
    yl = np.array(["a", "b", "c"])[y]
    net = _net().fit(Dataset(X, yl), None)
    assert set(net.predict(X)) <= {"a", "b", "c"}
    assert list(net.classes_) == ["a", "b", "c"]


def test_negative_strides_and_fortran_order(data):
    X, y = data
    Xr = X[:, ::-1]
    net = _net().fit(Xr, y)
    np.testing.assert_array_equal(net.predict(Xr), net.predict(np.ascontiguousarray(Xr)))
    np.testing.assert_array_equal(net.predict(Xr[::-1]), net.predict(Xr)[::-1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_sparse_input_of_any_dtype(data, dtype):
    X, y = data
    Xd = np.round(X * 4).astype(dtype)
    net = _net().fit(sp.csr_matrix(Xd), y)
    np.testing.assert_allclose(
        net.predict_proba(sp.csr_matrix(Xd)), net.predict_proba(Xd.astype(np.float32)), rtol=1e-6
    )


def test_feature_names_recorded_and_checked(data):
    X, y = data
    cols = [f"f{i}" for i in range(6)]
    df = pd.DataFrame(X, columns=cols)
    net = _net().fit(df, y)
    np.testing.assert_array_equal(net.feature_names_in_, cols)
    assert net.n_features_in_ == 6
    with pytest.raises(ValueError, match="feature names should match"):
        net.predict(df[cols[::-1]])  # reordered columns would silently change predictions
    with pytest.raises(ValueError, match="feature names should match"):
        net.partial_fit(df[cols[::-1]], y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        net.predict(X)
    # a refit on a plain array forgets the names
    net.fit(X, y)
    assert not hasattr(net, "feature_names_in_")
    assert net.n_features_in_ == 6


def test_n_features_checked(data):
    X, y = data
    net = _net().fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but ScreeningPrunedNet is expecting 6"):
        net.predict(X[:, :4])
    with pytest.raises(ValueError, match="reshape a single sample"):
        net.predict(X[0])
    assert net.n_features_in_ == 6


def test_plain_skorch_net_with_the_callback_takes_new_labels_in_a_later_call(data):
    """skorch allows any label below the module's output width in a later partial_fit: the
    callback's statistics must have a row for it (sized by the output width)."""
    from skorch import NeuralNetClassifier

    from skscreen.nn import ScreeningPruning

    X, _ = data
    y = np.arange(len(X)) % 5
    net = NeuralNetClassifier(
        make_mlp,
        module__n_inputs=6,
        module__hidden=(16,),
        module__n_classes=5,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
        batch_size=32,
        callbacks=[("prune", ScreeningPruning(sparsity=0.5, prune_epochs=10))],
    )
    first = y < 2
    net.partial_fit(X[first], y[first])
    net.partial_fit(X, y)  # labels 2..4 are new
    pruner = dict(net.callbacks_)["prune"].pruner_
    assert pruner.recorder.n_classes == 5
    assert 0 < net.history[-1, "sparsity"] < 0.5


# ------------------------------------- inputs and labels a careless user passes (issue 9)
# the issue 9 audit's net: half the weights pruned over the first two of three epochs,
# skorch's plain SGD and batch size
_half_net = partial(make_net, sparsity=0.5, prune_epochs=2, max_epochs=3)


def test_classes_with_y_holding_the_class_names(digits_300):
    # the error said "labels ['neg', 'pos'] that are not in classes ['neg', 'pos']"
    X, y = digits_300
    names = np.array(["neg", "pos"])[(y >= 5).astype(int)]
    net = _half_net(module__n_classes=2, classes=["pos", "neg"], max_epochs=2)
    net.fit(X, names)
    assert set(net.predict(X)) <= {"neg", "pos"}
    assert net.score(X, names) > 0.6
    # positional: column 0 of predict_proba is "pos"
    np.testing.assert_array_equal(
        net.predict(X), np.array(["pos", "neg"])[net.predict_proba(X).argmax(1)]
    )
    net.partial_fit(X[:40], names[:40])  # later calls: names again
    with pytest.raises(ValueError, match="not in classes"):
        net.partial_fit(X[:40], (y[:40] >= 5).astype(int))  # indices after names
    with pytest.raises(ValueError, match="not in classes"):
        _half_net(module__n_classes=2, classes=["pos", "neg"]).fit(X, np.array(["a", "b"])[y % 2])


class _Bag(torch.nn.Module):
    """Token ids -> embedding -> mean -> Linear (takes integer inputs)."""

    def __init__(self, n_inputs=64, hidden=(8,), n_classes=10):
        super().__init__()
        self.emb = torch.nn.Embedding(17, hidden[0])
        self.out = torch.nn.Linear(hidden[0], n_classes)

    def forward(self, x):
        return self.out(self.emb(x).mean(1))


def test_integer_ids_for_an_embedding_module_are_not_cast(digits_300):
    # int X was cast to float32 for every module: an embedding refused its indices
    X, y = digits_300
    ids = np.rint(X * 16).astype(np.int64)
    for Xin in (ids, torch.as_tensor(ids)):
        net = _half_net(module=_Bag, max_epochs=2, prune_epochs=1).fit(Xin, y)
        assert net.sparsity_ == pytest.approx(0.5, abs=0.01)
        assert net.predict(Xin[:5]).shape == (5,)


def test_bool_tensor_and_list_of_rows_like_their_arrays(digits_300):
    X, y = digits_300
    ref = _half_net(max_epochs=1, prune_epochs=1).fit(X > 0.5, y).predict_proba(X > 0.5)
    got = (
        _half_net(max_epochs=1, prune_epochs=1)
        .fit(torch.as_tensor(X > 0.5), y)
        .predict_proba(X > 0.5)
    )
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    ref = _half_net(max_epochs=1, prune_epochs=1).fit(X, y).predict_proba(X)
    got = (
        _half_net(max_epochs=1, prune_epochs=1)
        .fit(X.tolist(), y.tolist())
        .predict_proba(X.tolist())
    )
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


class _TwoInputs(torch.nn.Module):
    def __init__(self, n_inputs=64, hidden=(32,), n_classes=10):
        super().__init__()
        self.a = torch.nn.Linear(32, hidden[0])
        self.b = torch.nn.Linear(32, hidden[0])
        self.out = torch.nn.Linear(hidden[0], n_classes)

    def forward(self, left, right):
        return self.out(torch.relu(self.a(left) + self.b(right)))


def test_dict_input_for_a_module_with_named_inputs(digits_300):
    # skorch passes a dict X as keyword arguments; the logits check sliced the dict
    X, y = digits_300
    Xd = {"left": X[:, :32], "right": X[:, 32:]}
    net = _half_net(module=_TwoInputs, max_epochs=2, prune_epochs=1).fit(Xd, y)
    assert net.sparsity_ == pytest.approx(0.5, abs=1e-3)
    assert net.predict_proba(Xd).shape == (len(X), 10)


def test_partial_fit_classes_must_match_the_module_width(digits_300):
    # 4 classes for a 3-output module trained silently; "d" could never be predicted
    X, y = digits_300
    names = np.array(["a", "b", "c"])[y % 3]
    with pytest.raises(ValueError, match="module__n_classes=4"):
        _half_net(module__n_classes=3).partial_fit(X, names, classes=["a", "b", "c", "d"])
    net = _half_net(module__n_classes=4, max_epochs=1, prune_epochs=1)
    net.partial_fit(X, names, classes=["a", "b", "c", "d"])
    assert net.predict_proba(X[:5]).shape == (5, len(net.classes_)) == (5, 4)


@pytest.mark.parametrize("kind", ["strings", "gaps"])
def test_skorch_scoring_callbacks_see_the_original_labels(digits_300, kind):
    # valid_acc (skorch's default) compared net.predict (original labels) with the encoded
    # ones: a crash for strings, a silently wrong accuracy for labels {0, 2}
    from skorch.callbacks import EpochScoring
    from skorch.dataset import Dataset, ValidSplit

    X, y = digits_300
    labels = np.array(["neg", "pos"] if kind == "strings" else [0, 2])[(y >= 5).astype(int)]
    train_acc = EpochScoring("accuracy", on_train=True, use_caching=False, name="train_acc")
    net = _half_net(
        module__n_classes=2,
        train_split=ValidSplit(5),
        max_epochs=3,
        prune_epochs=1,
        callbacks=[train_acc],
    ).fit(X, labels)
    _, in_valid = ValidSplit(5)(Dataset(X, labels), labels)  # the net's split (same strata)
    valid = np.asarray(in_valid.indices)
    assert net.history[-1, "valid_acc"] == pytest.approx(net.score(X[valid], labels[valid]))
    assert net.history[-1, "valid_acc"] > 0.6
    train = np.setdiff1d(np.arange(len(X)), valid)
    assert net.history[-1, "train_acc"] == pytest.approx(net.score(X[train], labels[train]))


class _LeftRight(torch.nn.Module):
    def __init__(self, n_inputs=6, hidden=(16,), n_classes=3):
        super().__init__()
        self.a = torch.nn.Linear(n_inputs // 2, hidden[0] // 2)
        self.b = torch.nn.Linear(n_inputs // 2, hidden[0] // 2)
        self.out = torch.nn.Linear(hidden[0], n_classes)

    def forward(self, left, right):
        return self.out(torch.relu(torch.cat([self.a(left), self.b(right)], 1)))


def test_dict_X_labels_beyond_the_outputs_are_encoded_as_for_an_array(data):
    # audit (session 9): with a dict of inputs no probe ran, so labels 1..3 on 3 outputs
    # were taken as output indices and the loss failed on label 3 after an epoch began
    X, y = data
    Xd = {"left": X[:, :3], "right": X[:, 3:]}
    net = _net(module=_LeftRight).fit(Xd, y + 1)
    assert list(net.classes_) == [1, 2, 3]
    assert set(net.predict(Xd)) <= {1, 2, 3} and net.score(Xd, y + 1) > 0.5
    net = _net(module=_LeftRight).fit(Xd, y)  # labels 0..2: output indices, no probe needed
    assert list(net.classes_) == [0, 1, 2]


def test_validation_output_indices_refused_word_for_word(data):
    # _check_valid_indices: labels the fit did not see are accepted only as outputs of the
    # module (non-negative integers below its width, found by a probe); the message names
    # at most five of them, the classes, and the width when it is known
    X, y = data
    y2 = np.minimum(y, 1) + 1  # classes {1, 2} on 3 outputs

    def message(yv):
        net = _net(train_split=predefined_split(Dataset(X[:20], yv))).initialize()
        with pytest.raises(ValueError) as info:
            net.partial_fit(X[100:], y2[100:])
        return str(info.value)

    tail = "pass validation labels of the same kind as y."
    assert message(np.array([1, 2] * 9 + [-1, 2])) == (
        "The validation labels [-1] are not classes of this fit ([1, 2]) and not output "
        f"indices of the module (its outputs): {tail}"
    )
    assert message(np.array([1, 2] * 7 + [3, 4, 5, 6, 7, 8])) == (
        "The validation labels [3, 4, 5, 6, 7] are not classes of this fit ([1, 2]) and not "
        f"output indices of the module (its 3 outputs): {tail}"
    )
    assert message(np.array([1.0, 2.0] * 9 + [-1.0, 1.0])).startswith(
        "The validation labels [-1.0] are not classes"
    )
    # output 0 has no class of this fit but is an output of the module: accepted
    net = _net(train_split=predefined_split(Dataset(X[:20], np.array([0, 1, 2] * 6 + [0, 1]))))
    net.fit(X[100:], y2[100:])
    assert list(net.classes_) == [1, 2] and np.isfinite(net.history[:, "valid_loss"]).all()
    # labels as integral floats, as the training labels may be
    yv = np.array([0.0, 1.0, 2.0] * 6 + [0.0, 1.0])
    net = _net(train_split=predefined_split(Dataset(X[:20], yv))).fit(X[100:], y2[100:] * 1.0)
    assert np.isfinite(net.history[:, "valid_loss"]).all()
