"""skscreen/nn/_inputs.py: X as the module takes it, and the feature checks.

Known truth: numpy's and torch's own casts, and scikit-learn's ``validate_data`` on a
scikit-learn classifier (the same attributes, the same messages). The net-level tests at
the end are the audit fixes of issue 18 (bfloat16 modules, an empty X).
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pd = pytest.importorskip("pandas")

import scipy.sparse as sp  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from skorch.dataset import Dataset  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn._inputs import (  # noqa: E402
    check_features,
    head,
    is_pandas,
    module_dtype,
    prepare_X,
    rows_to_array,
    takes_indices,
)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(40, 6))


# ---------------------------------------------------------------- prepare_X
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("src", [np.float64, np.float32, np.int64, np.bool_])
def test_arrays_cast_to_the_module_dtype(X, dtype, src):
    Xs = (X > 0) if src is np.bool_ else X.astype(src)
    got = prepare_X(Xs, dtype)
    want = torch.as_tensor(Xs).to(dtype).numpy()
    assert isinstance(got, np.ndarray) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_bfloat16_arrays_become_bfloat16_tensors(X):
    for Xs in (X, X.astype(np.float32), (X > 0), pd.DataFrame(X), X.tolist()):
        got = prepare_X(Xs, torch.bfloat16)
        assert torch.is_tensor(got) and got.dtype == torch.bfloat16
        torch.testing.assert_close(got, torch.as_tensor(np.array(Xs, dtype=float)).bfloat16())
    # a tensor too; integer ids of an embedding stay integers
    assert prepare_X(torch.as_tensor(X), torch.bfloat16).dtype == torch.bfloat16
    ids = np.arange(12).reshape(3, 4)
    assert prepare_X(ids, torch.bfloat16, keep_integers=True) is ids


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_sparse_for_a_dtype_scipy_lacks_is_refused_naming_the_fix(X, dtype):
    with pytest.raises(ValueError, match=r"toarray\(\)"):
        prepare_X(sp.csr_matrix(X), dtype)


@pytest.mark.parametrize("src", [np.float64, np.float32, np.int64])
def test_sparse_cast_and_kept_sparse(X, src):
    got = prepare_X(sp.csr_matrix(np.round(X).astype(src)), torch.float32)
    assert sp.issparse(got) and got.dtype == np.float32
    np.testing.assert_array_equal(got.toarray(), np.round(X).astype(np.float32))


def test_tensors_cast_ids_kept(X):
    t = torch.as_tensor(X)
    assert prepare_X(t, torch.float32).dtype == torch.float32
    assert prepare_X(t > 0, torch.float32).dtype == torch.float32  # bool like numpy's
    ids = torch.arange(12).reshape(3, 4)
    assert prepare_X(ids, torch.float32, keep_integers=True) is ids
    assert prepare_X(ids, torch.float32).dtype == torch.float32


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_not_finite_refused_in_every_container(X, bad):
    Xb = X.copy()
    Xb[3, 2] = bad
    for Xs in (Xb, torch.as_tensor(Xb), sp.csr_matrix(Xb), pd.DataFrame(Xb)):
        with pytest.raises(ValueError, match="NaN or infinity"):
            prepare_X(Xs, torch.float32)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_finite_values_whose_sum_overflows_are_accepted(dtype):
    # the finite check sums first (no temporary): an overflowing sum of finite values is
    # settled value by value, not refused
    big = np.finfo(dtype).max
    Xb = np.full((4, 3), big, dtype=dtype)
    Xb[1] = -big  # and a sum that cancels to a finite value is no proof of a bad one
    module_dtype = torch.from_numpy(Xb).dtype  # no cast: the check sees these values
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor does the overflowing sum warn
        np.testing.assert_array_equal(prepare_X(Xb, module_dtype), Xb)
        if dtype != np.float16:  # scipy.sparse has no float16
            out = prepare_X(sp.csr_matrix(Xb), module_dtype)
        np.testing.assert_array_equal(prepare_X(Xb[:, ::-1], module_dtype), Xb[:, ::-1])
        assert torch.equal(prepare_X(torch.from_numpy(Xb), module_dtype), torch.from_numpy(Xb))
    if dtype != np.float16:
        np.testing.assert_array_equal(out.toarray(), Xb)


@pytest.mark.parametrize(
    "bad", [[np.inf, -np.inf], [np.nan, 1.0], [np.finfo(np.float32).max, np.inf]]
)
def test_bad_values_the_sum_could_hide_are_refused(X, bad):
    # inf - inf sums to NaN, and an overflowing sum beside a real inf: both still refused
    Xb = X.astype(np.float32)
    Xb[0, :2] = bad
    for Xs in (Xb, sp.csr_matrix(Xb)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the error only: no numpy warning on the way
            with pytest.raises(ValueError, match="NaN or infinity"):
                prepare_X(Xs, torch.float32)


@pytest.mark.parametrize("fmt", ["lil", "dok", "coo", "bsr", "dia"])
def test_sparse_formats_without_row_indexing_become_csr_and_are_checked(X, fmt):
    # LIL's stored values are per-row lists (no array to check), DOK has none, COO cannot
    # be indexed by rows: all become CSR, checked like it
    Xs = sp.csr_matrix(X).asformat(fmt)
    out = prepare_X(Xs, torch.float32)
    assert out.format == "csr" and out.dtype == np.float32
    np.testing.assert_array_equal(out.toarray(), X.astype(np.float32))
    assert out[2:4].shape == (2, X.shape[1])  # what skorch's indexing does
    bad = sp.csr_matrix(X).asformat("lil")
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        prepare_X(bad.asformat(fmt), torch.float32)
    for kept in ("csr", "csc"):
        Xk = sp.csr_matrix(X).asformat(kept)
        assert prepare_X(Xk, torch.float64).format == kept


def test_a_lil_matrix_fits_as_with_skorch(X):
    # skorch's NeuralNetClassifier takes a LIL matrix; its substitute too
    y = np.arange(len(X)) % 2
    net = ScreeningPrunedNet(make_mlp, module__n_inputs=X.shape[1], module__n_classes=2,
                             module__hidden=(8,), max_epochs=2, verbose=0, train_split=None)
    net.fit(sp.lil_matrix(X), y)
    np.testing.assert_array_equal(net.predict(sp.lil_matrix(X)), net.predict(X.astype(np.float32)))


@pytest.mark.parametrize("make", [sp.csr_array, sp.coo_array, sp.csc_array])
def test_scipy_sparse_arrays_fit_and_predict_like_the_matrices(X, make):
    # audit (session 9): a row of a csr_array is 1-D, and skorch's first batch failed with
    # "cannot select an axis to squeeze out"; scikit-learn's classifiers take sparse arrays
    out = prepare_X(make(X), torch.float32)
    assert isinstance(out, sp.spmatrix) and out.format in ("csr", "csc")
    assert out.dtype == np.float32 and out[2:4].shape == (2, X.shape[1])
    np.testing.assert_array_equal(out.toarray(), X.astype(np.float32))
    bad = sp.lil_matrix(X)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        prepare_X(make(bad), torch.float32)
    y = np.arange(len(X)) % 2
    net = ScreeningPrunedNet(make_mlp, module__n_inputs=X.shape[1], module__n_classes=2,
                             module__hidden=(8,), max_epochs=2, verbose=0, train_split=None)
    net.fit(make(X), y)
    np.testing.assert_array_equal(net.predict(make(X)), net.predict(X.astype(np.float32)))


def test_object_and_negative_strides(X):
    np.testing.assert_array_equal(prepare_X(X.astype(object), torch.float32), X.astype(np.float32))
    with pytest.raises(ValueError, match="X must be numeric"):
        prepare_X(np.array([["a", 1.0]], dtype=object), torch.float32)
    got = prepare_X(X[:, ::-1], torch.float64)
    assert all(s > 0 for s in got.strides)
    torch.as_tensor(got)  # torch takes it
    np.testing.assert_array_equal(got, X[:, ::-1])


def test_pandas_and_lists(X):
    df = pd.DataFrame(X)
    assert is_pandas(df) and is_pandas(df[0]) and not is_pandas(X)
    got = prepare_X(df, torch.float32)
    assert isinstance(got, np.ndarray) and got.flags.writeable
    np.testing.assert_array_equal(got, X.astype(np.float32))
    np.testing.assert_array_equal(rows_to_array(X.tolist()), X)
    arrays = [X, X]  # skorch's several inputs stay a list
    assert rows_to_array(arrays) is arrays and prepare_X(arrays) is arrays
    d = {"a": X}
    assert prepare_X(d) is d
    ds = Dataset(X, None)
    assert prepare_X(ds) is ds


def test_head(X):
    np.testing.assert_array_equal(head(X), X[:8])
    np.testing.assert_array_equal(head(pd.DataFrame(X), 3), X[:3])
    assert torch.is_tensor(head(torch.as_tensor(X)))
    assert head(X[:0]) is None and head(sp.csr_matrix(X)) is None
    # a dict of inputs: the dict of their heads, None where one has none (or it is empty)
    got = head({"a": X, "b": torch.as_tensor(X[:, :2])}, 3)
    np.testing.assert_array_equal(got["a"], X[:3])
    assert torch.is_tensor(got["b"]) and got["b"].shape == (3, 2)
    assert head({"a": X, "b": sp.csr_matrix(X)}) is None and head({}) is None


def test_module_facts():
    mlp = make_mlp(6, (4,), 3)
    assert module_dtype(mlp) == torch.float32
    assert module_dtype(mlp.to(torch.bfloat16)) == torch.bfloat16
    assert module_dtype(torch.nn.ReLU()) == torch.float32  # no parameters
    assert not takes_indices(mlp)
    assert takes_indices(torch.nn.Sequential(torch.nn.EmbeddingBag(5, 3), torch.nn.Linear(3, 2)))


def test_object_X_that_is_not_numeric_names_the_module_dtype():
    # the target of an object array is the module's dtype (float64 only without a numpy twin)
    bad = np.array([["a", 1.0]], dtype=object)
    for dtype, name in ((torch.float32, "float32"), (torch.float16, "float16"),
                        (torch.bfloat16, "float64")):
        with pytest.raises(ValueError) as info:
            prepare_X(bad, dtype)
        assert str(info.value).startswith(f"X must be numeric; converting it to {name} failed: ")


def test_only_negative_strides_are_copied(X):
    # a broadcast X (stride 0: every row the same memory) is taken as it is, not copied
    row = X[0].astype(np.float32)
    Xb = np.broadcast_to(row, (1000, 6))
    got = prepare_X(Xb, torch.float32)
    assert got is Xb and got.strides == (0, 4)
    Xc = np.ascontiguousarray(X)
    assert prepare_X(Xc, torch.float64) is Xc


def test_read_only_pandas_arrays_are_copied_writable_ones_are_not(X):
    df = pd.DataFrame(X)
    assert not df.to_numpy().flags.writeable  # pandas' copy-on-write view
    got = prepare_X(df, torch.float64)  # no cast: only the read-only flag asks for a copy
    assert got.dtype == np.float64 and got.flags.writeable
    np.testing.assert_array_equal(got, X)
    torch.as_tensor(got)  # torch takes it without its non-writable warning


def test_is_pandas_needs_both_the_module_and_to_numpy(X):
    class Frame:  # another library's table with a to_numpy (polars, pyarrow)
        def to_numpy(self):
            return X

    assert not is_pandas(Frame())
    assert prepare_X(f := Frame()) is f  # skorch's business, not converted


def test_sparse_integers_kept_for_an_embedding(X):
    ids = sp.csr_matrix(np.arange(12).reshape(3, 4))
    assert prepare_X(ids, torch.float32, keep_integers=True) is ids
    assert prepare_X(ids, torch.float32).dtype == np.float32
    mask = sp.csr_matrix(X > 0)
    assert prepare_X(mask, torch.float32, keep_integers=True).dtype == np.bool_
    assert prepare_X(mask, torch.float32).dtype == np.float32


def test_sparse_refusal_message(X):
    with pytest.raises(ValueError) as info:
        prepare_X(sp.csr_matrix(X), torch.float16)
    assert str(info.value) == (
        "A module of torch.float16 takes dense X: scipy.sparse has no torch.float16. Pass "
        "X.toarray() (or a tensor), or cast the module to float32."
    )


def test_float_tensors_cast_even_when_integers_are_kept(X):
    t = torch.as_tensor(X)  # float64
    got = prepare_X(t, torch.float32, keep_integers=True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, t.float())
    assert prepare_X(t.bool(), torch.float32, keep_integers=True).dtype == torch.bool


# ---------------------------------------------------------------- check_features
class _Stub(ClassifierMixin, BaseEstimator):
    pass


def _sklearn_error(fit_X, X):
    """scikit-learn's own message for X at prediction after fitting fit_X."""
    with pytest.raises(ValueError) as info:
        LogisticRegression().fit(fit_X, np.arange(len(fit_X)) % 2).predict(X)
    return str(info.value).replace("LogisticRegression", "_Stub")


def test_features_recorded_as_scikit_learn_does(X):
    cols = [f"f{i}" for i in range(6)]
    df = pd.DataFrame(X, columns=cols)
    est, ref = _Stub(), LogisticRegression().fit(df, np.arange(40) % 2)
    check_features(est, df, reset=True)
    assert est.n_features_in_ == ref.n_features_in_ == 6
    np.testing.assert_array_equal(est.feature_names_in_, ref.feature_names_in_)
    for Xs in (X, torch.as_tensor(X), sp.csr_matrix(X)):
        check_features(est := _Stub(), Xs, reset=True)
        assert est.n_features_in_ == 6 and not hasattr(est, "feature_names_in_")


def test_features_checked_with_scikit_learns_messages(X):
    est = _Stub()
    check_features(est, X, reset=True)
    with pytest.raises(ValueError) as info:
        check_features(est, X[:, :4], reset=False)
    assert str(info.value) == _sklearn_error(X, X[:, :4])
    cols = [f"f{i}" for i in range(6)]
    df = pd.DataFrame(X, columns=cols)
    check_features(est, df, reset=True)
    with pytest.raises(ValueError, match="feature names should match"):
        check_features(est, df[cols[::-1]], reset=False)
    check_features(est, X, reset=True)  # a refit on an array forgets the names
    assert not hasattr(est, "feature_names_in_")


def test_zero_samples_refused_with_scikit_learns_message(X):
    for Xs in (X[:0], torch.as_tensor(X[:0]), sp.csr_matrix(X[:0]), pd.DataFrame(X[:0])):
        with pytest.raises(ValueError) as info:
            check_features(_Stub(), Xs, reset=True)
        assert str(info.value) == _sklearn_error(X, X[:0])


def test_one_sample_as_a_vector_refused_after_a_fit(X):
    est = _Stub()
    check_features(est, X[0], reset=True)  # before a fit: skorch's business
    check_features(est, X, reset=True)
    with pytest.raises(ValueError, match=r"reshape\(1, -1\)"):
        check_features(est, X[0], reset=False)
    check_features(est, X.reshape(40, 2, 3), reset=False)  # images, sequences: not checked
    check_features(est, Dataset(X[:, :2], None), reset=False)  # Datasets: not checked
    assert est.n_features_in_ == 6


def test_one_sample_message_exactly(X):
    est = _Stub()
    check_features(est, X, reset=True)
    with pytest.raises(ValueError) as info:
        check_features(est, X[0], reset=False)
    assert str(info.value) == (
        "Expected a 2-D X (samples x 6 features), got a 1-D array; reshape a single sample "
        "with X.reshape(1, -1)."
    )


def test_zero_samples_of_a_vector_refused():
    # before validate_data (which sees 2-D X only): shape[0] == 0 of any dimension
    for Xs in (np.zeros(0), np.zeros((0, 2, 3))):
        with pytest.raises(ValueError) as info:
            check_features(_Stub(), Xs, reset=True)
        assert str(info.value) == (
            f"Found array with 0 sample(s) (shape={Xs.shape}) while a minimum of 1 is "
            "required by _Stub."
        )


def test_a_reset_forgets_the_features_whatever_the_dimension(X):
    # validate_data runs on 2-D X only: for images/sequences the reset alone forgets them
    cols = [f"f{i}" for i in range(6)]
    for Xs in (X.reshape(40, 2, 3), X[0]):
        est = _Stub()
        check_features(est, pd.DataFrame(X, columns=cols), reset=True)
        assert est.n_features_in_ == 6 and list(est.feature_names_in_) == cols
        check_features(est, Xs, reset=True)
        assert not hasattr(est, "n_features_in_") and not hasattr(est, "feature_names_in_")


def test_a_reset_on_a_dataset_forgets_the_previous_features(X):
    est = _Stub()
    check_features(est, X, reset=True)
    check_features(est, Dataset(X[:, :4], None), reset=True)
    assert not hasattr(est, "n_features_in_")


# ---------------------------------------------------------------- the net (issue 18)
def _net(module, **kw):
    return ScreeningPrunedNet(
        module,
        max_epochs=2,
        lr=0.1,
        train_split=None,
        verbose=0,
        sparsity=0.5,
        random_state=0,
        **kw,
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


def test_a_bfloat16_module_takes_float64_X(data):
    # _prepare_X asked numpy for a bfloat16 dtype: TypeError "Got unsupported ScalarType"
    X, y = data
    torch.manual_seed(0)
    module = make_mlp(6, (16,), 3).to(torch.bfloat16)
    net = _net(module).fit(X, y)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-2)
    assert module_dtype(net.module_) == torch.bfloat16
    assert set(net.predict(X)) <= {0, 1, 2}
    assert net.score(X, y) > 0.4


def test_predict_on_zero_samples_says_what_scikit_learn_says(data):
    # was numpy's "need at least one array to concatenate"
    X, y = data
    net = _net(make_mlp, module__n_inputs=6, module__hidden=(8,), module__n_classes=3)
    net.fit(X, y)
    expected = _sklearn_error(X, X[:0]).replace("_Stub", "ScreeningPrunedNet")
    for method in (net.predict, net.predict_proba):
        with pytest.raises(ValueError) as info:
            method(X[:0])
        assert str(info.value) == expected


def test_a_refit_on_a_dataset_forgets_the_array_fit_s_width(data):
    # bug: check_features returned before its reset for a Dataset, so the second fit kept
    # n_features_in_=6 and predict on the 4-column arrays it was trained on was refused
    X, y = data
    net = _net(make_mlp, module__n_inputs=6, module__hidden=(8,), module__n_classes=3)
    net.fit(X, y)
    assert net.n_features_in_ == 6
    X4 = X[:, :4].astype(np.float32)
    net.set_params(module__n_inputs=4)
    net.fit(Dataset(X4, y))  # skorch's own Dataset: its arrays are checked
    assert net.n_features_in_ == 4

    class MyDataset(Dataset):  # a user's Dataset: skorch's business, not checked
        pass

    net.set_params(module__n_inputs=6)
    net.fit(X, y)
    net.set_params(module__n_inputs=4)
    net.fit(MyDataset(X4, y), None)
    assert not hasattr(net, "n_features_in_")
    assert net.predict(X4).shape == (len(y),)
