"""skscreen/nn/_labels.py: which labels a net knows and which output each one trains.

Known truth: scikit-learn's ``LabelEncoder`` (the positions of encoded labels) and
``type_of_target`` (what counts as class labels), skorch's ``Dataset`` (the items of
:class:`LabelledDataset`). The net-level tests at the end are the audit fixes of issue 18
(labels ``{0, 2}`` on three outputs; a first partial_fit of one class).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pd = pytest.importorskip("pandas")

from sklearn.preprocessing import LabelEncoder  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.dataset import Dataset  # noqa: E402
from skorch.utils import data_from_dataset  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn._labels import (  # noqa: E402
    LabelEncoding,
    LabelledDataset,
    check_labels,
    encoding_from_record,
    encoding_record,
    first_encoding,
    require_two_classes,
)

LABELS = [
    np.array(["b", "a", "c", "a", "b", "c"]),
    np.array([7, 3, 5, 3, 7, 5]),
    np.array([2.0, 0.0, 4.0, 0.0, 2.0, 4.0]),
    np.array([True, False, True, False, True, False]),
    np.array(["x", "y", "x", "y", "x", "y"], dtype=object),
]


def _no_probe():
    raise AssertionError("labels 0..k-1 need no probe pass")


# ---------------------------------------------------------------- check_labels
def test_check_labels_takes_what_scikit_learn_calls_class_labels():
    y = np.array([0, 1, 2, 1])
    for given in (y, y.tolist(), torch.as_tensor(y), pd.Series(y), y[:, None]):
        out = check_labels(given)
        assert isinstance(out, np.ndarray) and out.ndim == 1
        np.testing.assert_array_equal(out, y)
    with pytest.raises(ValueError, match="1-D"):
        check_labels(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="continuous"):
        check_labels(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="one type"):
        check_labels(np.array(["a", 1], dtype=object))


def test_two_class_rule_names_partial_fit_classes():
    require_two_classes(np.array([0, 1]))
    for found in (np.array([3]), np.array([], dtype=int)):
        with pytest.raises(ValueError, match=r"classes=all_labels"):
            require_two_classes(found)


# ---------------------------------------------------------------- inferred encodings
@pytest.mark.parametrize("y", LABELS, ids=lambda y: str(y.dtype))
def test_labels_encoded_as_label_encoder_does(y):
    width = np.unique(y).size
    enc = first_encoding(check_labels(y), output_width=lambda: width)
    le = LabelEncoder().fit(y)
    np.testing.assert_array_equal(enc.classes, le.classes_)
    if enc.names:
        np.testing.assert_array_equal(enc.encode(y), le.transform(y))
        np.testing.assert_array_equal(enc.decode(enc.encode(y)), y)
        assert [enc.index(v) for v in y] == le.transform(y).tolist()
    else:  # integer labels below the width: output indices as they are
        np.testing.assert_array_equal(enc.encode(y), y.astype(np.int64))
    assert enc.columns(width) is None or not enc.names


def test_labels_0_to_k_minus_1_are_output_indices_without_a_probe():
    for y in (np.array([0, 1, 2, 1]), np.array([0.0, 1.0, 1.0]), torch.tensor([1, 0])):
        enc = first_encoding(check_labels(y), output_width=_no_probe)
        assert not enc.names
        np.testing.assert_array_equal(enc.encode(check_labels(y)), check_labels(y).astype(int))
        assert enc.encode(check_labels(y)).dtype == np.int64


def test_integer_labels_below_the_width_are_output_indices():
    y = np.array([0, 2, 2, 0])
    enc = first_encoding(y, output_width=lambda: 3)
    assert not enc.names and enc.classes.tolist() == [0, 2]
    np.testing.assert_array_equal(enc.encode(y), y)
    # predict_proba keeps the columns of the classes; predict gives output indices back
    np.testing.assert_array_equal(enc.columns(3), [0, 2])
    np.testing.assert_array_equal(enc.label_of_column([1, 0]), [2, 0])


def test_labels_the_module_cannot_output_are_refused_naming_the_fix():
    with pytest.raises(ValueError, match=r"outputs 2 scores.*module__n_classes=3"):
        first_encoding(np.array(["a", "b", "c"]), output_width=lambda: 2)
    with pytest.raises(ValueError, match="outputs 4 scores"):
        first_encoding(np.array([5, 7, 9]), output_width=lambda: 4)
    with pytest.raises(ValueError, match="classes=all_labels"):
        first_encoding(np.array(["a", "a"]), output_width=lambda: 2)


def test_unknown_labels_later_are_named():
    enc = first_encoding(np.array(["a", "b"]), output_width=lambda: 2)
    with pytest.raises(ValueError, match=r"\['z'\] not seen in the first fit"):
        enc.encode(np.array(["a", "z"]))
    with pytest.raises(ValueError, match="not seen in the first fit"):
        enc.index("z")
    enc = first_encoding(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[2\] not seen in the first fit") as exc:
        enc.encode(np.array([0, 2]))
    # audit (session 9): streaming chunks without some classes: the message names classes=
    assert "partial_fit(X, y, classes=all_labels), or the net's classes=...)" in str(exc.value)


# ---------------------------------------------------------------- classes= (net and call)
def test_net_classes_with_output_indices_keep_skorchs_meaning():
    enc = first_encoding(np.array([0, 1, 1]), classes_param=["neg", "pos"])
    assert not enc.names and enc.classes.tolist() == ["neg", "pos"]
    np.testing.assert_array_equal(enc.label_of_column([1, 0]), [1, 0])  # indices, as skorch
    with pytest.raises(ValueError, match=r"output indices 0..1"):
        enc.encode(np.array(["neg"]))
    with pytest.raises(ValueError, match=r"output indices 0..1"):
        first_encoding(np.array([1, 2]), classes_param=["neg", "pos"])


def test_net_classes_with_the_names_encode_by_position():
    y = np.array(["neg", "pos", "neg"])
    enc = first_encoding(y, classes_param=["pos", "neg"])
    assert enc.names
    np.testing.assert_array_equal(enc.encode(y), [1, 0, 1])
    np.testing.assert_array_equal(enc.label_of_column([0, 1]), ["pos", "neg"])
    with pytest.raises(ValueError, match="give them again"):
        enc.encode(np.array([0, 1]))
    assert first_encoding(y, classes_param=[]) is None  # skorch: no classes_
    assert first_encoding(None, classes_param=["a"]) is None


def test_partial_fit_classes_name_every_label_up_front():
    enc = first_encoding(np.array([2, 2]), classes_arg=[2, 0, 1], output_width=lambda: 3)
    assert enc.names and enc.classes.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(enc.encode(np.array([2, 0])), [2, 0])
    with pytest.raises(ValueError, match=r"outputs 2 scores.*classes has 3"):
        first_encoding(np.array([2]), classes_arg=[0, 1, 2], output_width=lambda: 2)
    with pytest.raises(ValueError, match=r"\[5\] not in classes"):
        first_encoding(np.array([5]), classes_arg=[0, 1, 2], output_width=lambda: 3)


def test_columns_when_the_module_has_fewer_outputs_than_classes():
    enc = first_encoding(np.arange(10) % 5)  # labels 0..4, no probe
    with pytest.raises(ValueError, match=r"outputs 2 scores.*5 classes"):
        enc.columns(2)
    assert enc.columns(5) is None
    np.testing.assert_array_equal(enc.columns(6), np.arange(5))


# ---------------------------------------------------------------- LabelledDataset
def test_labelled_dataset_is_skorchs_dataset_with_indices_in_its_items():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array(["b", "a", "c", "a", "b", "c"])
    enc = first_encoding(y, output_width=lambda: 3)
    ds = LabelledDataset(X, y, enc)
    plain = Dataset(X, LabelEncoder().fit_transform(y))
    for i in range(len(y)):
        np.testing.assert_array_equal(ds[i][0], plain[i][0])
        assert ds[i][1] == plain[i][1]
    ((Xb, yb),) = DataLoader(ds, batch_size=6)
    assert yb.dtype == torch.int64 and yb.tolist() == plain.y.tolist()
    # skorch's scoring callbacks read the labels, subsets too
    np.testing.assert_array_equal(data_from_dataset(ds)[1], y)
    np.testing.assert_array_equal(data_from_dataset(Subset(ds, [2, 0]))[1], y[[2, 0]])


# ---------------------------------------------------------------- exact words and edges
def test_labels_as_tensors_with_grad_and_arrow_arrays():
    # a tensor is detached first (numpy refuses one that requires grad)
    y = torch.tensor([0.0, 1.0, 1.0], requires_grad=True)
    np.testing.assert_array_equal(check_labels(y), [0.0, 1.0, 1.0])
    # only pandas is read through to_numpy: pyarrow's to_numpy refuses to copy strings
    pa = pytest.importorskip("pyarrow")
    np.testing.assert_array_equal(check_labels(pa.array(["a", "b", "a"])), ["a", "b", "a"])


def test_two_class_rule_message_exactly():
    tail = (
        "a classifier needs at least two. A first partial_fit whose batch holds only some "
        "of the labels names them all: partial_fit(X, y, classes=all_labels)."
    )
    for found, head in (
        (np.array([3]), "y has 1 class ([3]); "),
        (np.array([], dtype=int), "y has 0 classes ([]); "),
    ):
        with pytest.raises(ValueError) as info:
            require_two_classes(found)
        assert str(info.value) == head + tail


def test_width_refusal_message_names_the_output_indices():
    with pytest.raises(ValueError) as info:
        first_encoding(np.array(["a", "b", "c"]), output_width=lambda: 2)
    assert str(info.value) == (
        "The module outputs 2 scores per sample but y has 3 classes ['a', 'b', 'c']: make the "
        "module output 3 scores (e.g. module__n_classes=3), or pass labels 0..1."
    )


def test_a_first_batch_with_some_of_the_classes_is_told_about_classes():
    # a first partial_fit batch holding 2 of 3 string labels: the fix is classes=[...]
    with pytest.raises(ValueError) as info:
        first_encoding(np.array(["cat", "dog"]), output_width=lambda: 3)
    assert str(info.value).endswith(
        "or pass labels 0..2; if the other classes come in later batches, give all 3 to the "
        "net (classes=[...]) or to the first partial_fit (partial_fit(X, y, classes=[...]))."
    )


def test_net_classes_that_are_also_index_values_read_y_as_indices():
    # skorch's meaning first: y of 0..n-1 is output indices even when the names are 1 and 0
    enc = first_encoding(np.array([0, 1, 1]), classes_param=[1, 0])
    assert not enc.names and enc.given
    np.testing.assert_array_equal(enc.encode(np.array([0, 1])), [0, 1])
    np.testing.assert_array_equal(enc.label_of_column([0, 1]), [0, 1])
    enc = first_encoding(np.array([1, 1]), classes_param=[2, 1])
    assert not enc.names  # 1 < 2: an index


def test_net_classes_unhashable_names_with_output_indices():
    names = [{"label": "neg"}, {"label": "pos"}]
    enc = first_encoding(np.array([0, 1, 1]), classes_param=names)
    assert not enc.names
    np.testing.assert_array_equal(enc.encode(np.array([1, 0])), [1, 0])


def test_output_indices_given_with_classes_encode_and_refuse_exactly():
    enc = first_encoding(np.array([0, 1, 1]), classes_param=["neg", "pos"])
    got = enc.encode(np.array([0, 1, 0]))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [0, 1, 0])
    empty = enc.encode(np.array([], dtype=np.int64))
    assert empty.dtype == np.int64 and empty.size == 0
    # the classes as they are shown aside (see the test after this one)
    head = "y contains labels {} not in classes "
    tail = (
        ": with classes=..., y must hold output indices 0..1 or the class names themselves "
        "(the same kind in every call)."
    )
    for y, unknown in (([1, 2], "[2]"), ([-1, 0], "[-1]"), (["neg"], "['neg']")):
        with pytest.raises(ValueError) as info:
            enc.encode(np.array(y))
        assert str(info.value).startswith(head.format(unknown))
        assert str(info.value).endswith(tail)
    with pytest.raises(ValueError) as info:  # the fallback of the first call words it the same
        first_encoding(np.array([1, 2]), classes_param=["neg", "pos"])
    assert str(info.value).startswith(head.format("[2]")) and str(info.value).endswith(tail)


def test_messages_with_classes_show_the_classes_as_given():
    enc = first_encoding(np.array([0, 1, 1]), classes_param=["neg", "pos"])
    with pytest.raises(ValueError) as info:
        enc.encode(np.array([1, 2]))
    assert "not in classes ['neg', 'pos']: " in str(info.value)


def test_names_given_with_classes_refuse_exactly():
    enc = first_encoding(np.array(["neg", "pos"]), classes_param=["pos", "neg"])
    with pytest.raises(ValueError) as info:
        enc.encode(np.array(["pos", "x"]))
    assert str(info.value).startswith("y contains labels ['x'] not in classes ")
    assert str(info.value).endswith(
        ": the first call gave the class names, give them again (not output indices)."
    )


def test_unknown_labels_message_exactly():
    enc = first_encoding(np.array(["a", "b"]), output_width=lambda: 2)
    msg = (
        "y contains labels {} not seen in the first fit (classes ['a', 'b']); call fit() to "
        "start again with new labels, or, for classes that come in later batches, give them "
        "all to the first call (partial_fit(X, y, classes=all_labels), or the net's "
        "classes=...)."
    )
    with pytest.raises(ValueError) as info:
        enc.encode(np.array(["a", "z"]))
    assert str(info.value) == msg.format("['z']")
    with pytest.raises(ValueError) as info:
        enc.index("z")
    assert str(info.value) == msg.format("['z']")


def test_unhashable_labels_are_named_not_a_type_error():
    enc = first_encoding(np.array(["a", "b"]), output_width=lambda: 2)
    y = np.empty(2, dtype=object)
    y[0], y[1] = [0], [1]
    with pytest.raises(ValueError, match=r"labels \[\[0\], \[1\]\] not seen"):
        enc.encode(y)


def test_names_encoding_of_no_labels_is_int64():
    enc = first_encoding(np.array(["a", "b"]), output_width=lambda: 2)
    got = enc.encode(np.array([], dtype=str))
    assert got.dtype == np.int64 and got.size == 0


def test_index_of_a_tensor_or_numpy_scalar_label():
    enc = first_encoding(np.array([5, 7, 9]), output_width=lambda: 3)
    assert enc.names
    assert enc.index(torch.tensor(7)) == 1  # a tensor hashes by identity: its item is read
    assert enc.index(np.int64(9)) == 2
    assert enc.index(5) == 0


def test_repr_says_what_y_holds():
    assert repr(first_encoding(np.array(["a", "b"]), output_width=lambda: 2)) == (
        "LabelEncoding(['a', 'b'], y holds names)"
    )
    assert repr(first_encoding(np.array([0, 1]))) == (
        "LabelEncoding([0, 1], y holds output indices)"
    )


def test_columns_refused_when_a_class_has_no_output():
    enc = first_encoding(np.array([0, 2, 2]), output_width=lambda: 3)  # outputs 0 and 2
    with pytest.raises(ValueError, match=r"outputs 2 scores.*2 classes \[0, 2\]"):
        enc.columns(2)  # as many outputs as classes, but output 2 does not exist
    enc = first_encoding(np.arange(10) % 5)  # outputs 0..4
    with pytest.raises(ValueError, match=r"outputs 4 scores.*5 classes"):
        enc.columns(4)


def test_labelled_dataset_passes_its_length_on():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 0, 1])
    enc = first_encoding(y)
    assert len(LabelledDataset(X, y, enc, length=4)) == len(Dataset(X, y, length=4)) == 4
    assert len(LabelledDataset(X, y, enc)) == 6


# ---------------------------------------------------------------- the net (issue 18)
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 2, 0)
    return X, y


def _kw(**kw):
    params = dict(
        module=make_mlp,
        module__n_inputs=6,
        module__hidden=(16,),
        module__n_classes=3,
        max_epochs=3,
        lr=0.2,
        batch_size=32,
        train_split=None,
        verbose=0,
    )
    params.update(kw)
    return params


def _net(**kw):
    return ScreeningPrunedNet(**_kw(**{"sparsity": 0.5, "random_state": 0, **kw}))


@pytest.mark.parametrize("how", ["y", "classes"])
def test_labels_0_and_2_on_three_outputs_one_proba_column_per_class(data, how):
    # predict_proba had 3 columns for classes_ [0, 2]; with classes=[0, 2] predict could
    # index classes_ with output 2
    X, y = data
    net = _net(**({"classes": [0, 2]} if how == "classes" else {})).fit(X, y)
    assert list(net.classes_) == [0, 2]
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    pred = net.predict(X)
    assert set(pred) <= {0, 2}
    np.testing.assert_array_equal(pred, net.classes_[proba.argmax(1)])
    assert net.score(X, y) > 0.8


def test_labels_0_and_2_train_the_outputs_skorch_trains(data):
    # as plain NeuralNetClassifier: y are output indices, output 1 has no class; the
    # probabilities are the module's over the outputs of the classes
    X, y = data
    torch.manual_seed(0)
    plain = NeuralNetClassifier(**_kw(criterion=torch.nn.CrossEntropyLoss)).fit(X, y)
    torch.manual_seed(0)
    ours = ScreeningPrunedNet(**_kw(sparsity=0.0)).fit(X, y)
    full = torch.softmax(plain.forward(X), dim=1).numpy()
    expected = full[:, [0, 2]] / full[:, [0, 2]].sum(1, keepdims=True)
    np.testing.assert_allclose(ours.predict_proba(X), expected, rtol=1e-4, atol=1e-6)


def _set_output_bias(net, bias):
    with torch.no_grad():
        net.module_[-1].weight.zero_()
        net.module_[-1].bias.copy_(torch.tensor(bias))


def test_labels_0_and_2_with_scores_for_nonlinearity_keep_the_argmax(data):
    # audit (session 9): predict_nonlinearity=None returns logits; dividing the class
    # columns by their (negative) sum reversed them and predict chose the lower score
    X, y = data
    net = _net(predict_nonlinearity=None).fit(X, y)
    _set_output_bias(net, [-2.0, 5.0, -1.0])
    np.testing.assert_allclose(net.predict_proba(X[:2]), [[-2.0, -1.0]] * 2)
    assert net.predict(X[:2]).tolist() == [2, 2]
    _set_output_bias(net, [-1.0, 5.0, 1.0])  # class columns summing to zero: no division
    np.testing.assert_allclose(net.predict_proba(X[:1]), [[-1.0, 1.0]])
    assert net.predict(X[:1]).tolist() == [2]


def test_labels_0_and_2_probabilities_without_mass_on_the_classes_are_uniform(data):
    # a module giving all its probability to the output with no class (softmax underflow)
    X, y = data
    net = _net().fit(X, y)
    _set_output_bias(net, [-200.0, 200.0, -200.0])
    proba = net.predict_proba(X[:3])
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba, 0.5)
    _set_output_bias(net, [0.0, 1.0, 1.0])  # probabilities: renormalised over 0 and 2
    p = np.exp([0.0, 1.0, 1.0]) / np.exp([0.0, 1.0, 1.0]).sum()
    np.testing.assert_allclose(net.predict_proba(X[:1]), [p[[0, 2]] / p[[0, 2]].sum()], rtol=1e-5)


def test_a_first_partial_fit_of_one_class_fails_before_training(data):
    # a Dataset of labels 0..k-1 with k=1 trained a whole epoch, then the F-test failed
    X, _ = data
    y = np.zeros(len(X), dtype=np.int64)
    for args in ((X, y), (Dataset(X, y), None), (X, np.full(len(X), "a"))):
        net = _net().initialize()
        before = {k: v.clone() for k, v in net.module_.state_dict().items()}
        with pytest.raises(ValueError, match=r"1 class.*classes=all_labels"):
            net.partial_fit(*args)
        for k, v in net.module_.state_dict().items():
            assert torch.equal(v, before[k])
        assert len(net.history) == 0 and not hasattr(net, "label_encoding_")
    # the fix the message names (sparsity=0: screening a batch of one class is the pruning
    # callback's to refuse, at the epoch's end)
    net = _net(sparsity=0.0).initialize()
    net.partial_fit(X, y, classes=[0, 1, 2])
    assert list(net.classes_) == [0, 1, 2] and net.predict_proba(X).shape == (len(X), 3)


def test_labels_stay_those_of_the_first_call(data):
    # skorch's check_data sets classes_inferred_ from each call's targets
    X, y = data
    names = np.array(["neg", "", "pos"])[y]
    net = _net(module__n_classes=2).fit(X, names)
    net.partial_fit(X[names == "pos"], names[names == "pos"])
    assert list(net.classes_) == ["neg", "pos"]
    assert set(net.predict(X)) <= {"neg", "pos"}


@pytest.mark.parametrize(
    "classes, names, given",
    [
        (np.array(["a", "b", "c"]), True, False),
        (np.array([3, 5, 7]), False, False),
        (np.array([0, 2]), False, True),
        (np.array([0.0, 0.5, 1.0]), True, True),
        (np.array([False, True]), True, False),
        (np.array(["x", "y"], dtype=object), True, False),
        (np.array([1, 2.5, np.int64(4)], dtype=object), True, False),
    ],
)
def test_an_encoding_record_survives_json_and_gives_the_encoding_back(classes, names, given):
    import json

    encoding = LabelEncoding(classes, names, given)
    record = json.loads(json.dumps(encoding_record(encoding)))
    assert set(record) == {"classes", "names", "given"}
    back = encoding_from_record(record)
    assert back.classes.tolist() == classes.tolist()
    assert (back.names, back.given) == (names, given)
    np.testing.assert_array_equal(back.outputs, encoding.outputs)
    y = np.arange(len(classes))[::-1] if given and not names else classes[::-1]
    np.testing.assert_array_equal(back.encode(y), encoding.encode(y))


def test_labels_without_a_json_form_have_no_record_and_a_foreign_record_no_encoding():
    assert encoding_record(None) is None
    for classes in (
        np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]"),
        np.array(["a", 1], dtype=object),
        np.array([(1, 2), (3, 4)], dtype="i8,i8"),
    ):
        assert encoding_record(LabelEncoding(classes, True)) is None
    for record in (None, {}, {"classes": [0, 1], "names": True}, {"names": 1, "given": 0}, 7):
        assert encoding_from_record(record) is None


def test_class_columns_one_column_and_no_column():
    # nn/_net.py's _class_columns on its own: probabilities of one class column renormalise to
    # one; no column stays empty; scores keep their values
    from skscreen.nn._net import _class_columns

    one = _class_columns(np.array([[0.2, 0.8], [0.6, 0.4]]), [1])
    np.testing.assert_allclose(one, [[1.0], [1.0]])
    assert _class_columns(np.array([[0.2, 0.8]]), []).shape == (1, 0)
    np.testing.assert_allclose(_class_columns(np.array([[-1.0, 0.5, 2.0]]), [0, 2]), [[-1.0, 2.0]])
    np.testing.assert_allclose(_class_columns(np.array([[0.0, 1.0, 0.0]]), [0, 2]), [[0.5, 0.5]])
