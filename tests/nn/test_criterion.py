"""The loss convention of ScreeningPrunedNet: logits and softmax modules, criterion="auto"."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.nn import AutoLoss  # noqa: E402
from skscreen.nn._criterion import looks_like_probabilities  # noqa: E402


class _MLP(nn.Module):
    def __init__(self, softmax=False, log_softmax=False):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        self.softmax, self.log_softmax = softmax, log_softmax

    def forward(self, X):
        out = self.body(X)
        if self.softmax:
            return torch.softmax(out, dim=-1)
        if self.log_softmax:
            return torch.log_softmax(out, dim=-1)
        return out


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


def _fit(cls, data, **kw):
    params = dict(module=_MLP, max_epochs=8, lr=0.2, batch_size=32, train_split=None, verbose=0)
    if cls is ScreeningPrunedNet:
        params.update(sparsity=0.5, random_state=0)
    else:
        torch.manual_seed(0)
    params.update(kw)
    return cls(**params).fit(*data)


def test_looks_like_probabilities_known_cases():
    z = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    assert looks_like_probabilities(torch.softmax(z, dim=1))
    assert not looks_like_probabilities(z)
    assert not looks_like_probabilities(torch.log_softmax(z, dim=1))
    # non-negative but not summing to one: ReLU logits are not probabilities
    assert not looks_like_probabilities(torch.relu(z))
    assert not looks_like_probabilities(torch.tensor([[1.0], [1.0]]))  # one score per sample
    assert not looks_like_probabilities(torch.tensor([[0, 1], [1, 0]]))  # integers
    # half precisions: a softmax sums to one only within their rounding
    for dtype in (torch.float16, torch.bfloat16):
        for k in (3, 10, 100):
            logits = torch.randn(64, k) * 4
            assert looks_like_probabilities(torch.softmax(logits.to(dtype), dim=1))
            assert not looks_like_probabilities(logits.to(dtype))
    # N-D output: classes on dim 1 (as CrossEntropyLoss reads them)
    assert looks_like_probabilities(torch.softmax(torch.randn(2, 4, 5, 5), dim=1))


@pytest.mark.parametrize("softmax", [False, True])
def test_auto_criterion_trains_both_conventions_like_skorch(data, softmax):
    """Default settings: a logits module and a softmax module give the same net as skorch's
    NeuralNetClassifier with the matching criterion (sparsity 0: same training)."""
    X, y = data
    ours = _fit(ScreeningPrunedNet, data, module__softmax=softmax, sparsity=0.0)
    expected = "probabilities" if softmax else "logits"
    assert ours.module_output_ == expected
    assert isinstance(ours.criterion_, nn.NLLLoss if softmax else nn.CrossEntropyLoss)
    peer = _fit(
        NeuralNetClassifier,
        data,
        module__softmax=softmax,
        criterion=nn.NLLLoss if softmax else nn.CrossEntropyLoss,
    )
    np.testing.assert_allclose(
        ours.history[:, "train_loss"], peer.history[:, "train_loss"], rtol=1e-5
    )
    proba = ours.predict_proba(X)
    np.testing.assert_allclose(proba, peer.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)  # never soft-maxed twice
    assert (ours.predict(X) == y).mean() > 0.7


def test_auto_criterion_softmax_module_prunes(data):
    net = _fit(ScreeningPrunedNet, data, module__softmax=True, sparsity=0.6)
    assert net.module_output_ == "probabilities"
    assert net.sparsity_ == pytest.approx(0.6, abs=0.01)
    assert np.isfinite(net.history[:, "train_loss"]).all()


def test_log_softmax_module_trains_as_logits(data):
    # CrossEntropy of log-probabilities is exactly their NLL; softmax gives the probabilities
    net = _fit(ScreeningPrunedNet, data, module__log_softmax=True)
    assert net.module_output_ == "logits"
    proba = net.predict_proba(data[0])
    with torch.no_grad():
        direct = net.module_.eval()(torch.as_tensor(data[0])).exp().numpy()
    np.testing.assert_allclose(proba, direct, rtol=1e-4, atol=1e-6)


def test_explicit_criterion_wins(data):
    net = _fit(ScreeningPrunedNet, data, module__softmax=True, criterion=nn.NLLLoss)
    assert type(net.criterion_) is nn.NLLLoss
    with pytest.raises(ValueError, match="criterion='auto'"):
        _fit(ScreeningPrunedNet, data, module__softmax=True, criterion=nn.CrossEntropyLoss)
    with pytest.raises(ValueError, match="negative values"):
        _fit(ScreeningPrunedNet, data, criterion=nn.NLLLoss)


def test_criterion_params_go_to_the_chosen_loss(data):
    w = torch.tensor([1.0, 2.0, 0.5])
    net = _fit(ScreeningPrunedNet, data, module__softmax=True, criterion__weight=w, max_epochs=1)
    assert type(net.criterion_) is nn.NLLLoss
    torch.testing.assert_close(net.criterion_.weight, w)
    with pytest.raises(ValueError, match="label_smoothing"):
        _fit(
            ScreeningPrunedNet,
            data,
            module__softmax=True,
            criterion__label_smoothing=0.1,
            max_epochs=1,
        )
    net = _fit(ScreeningPrunedNet, data, criterion__label_smoothing=0.1, max_epochs=1)
    assert net.criterion_.label_smoothing == 0.1


def test_decision_is_reset_by_fit_and_made_at_prediction_after_load(data, tmp_path):
    X, _ = data
    net = _fit(ScreeningPrunedNet, data, module__softmax=True, sparsity=0.0)
    net.save_params(f_params=tmp_path / "p.pt")
    fresh = ScreeningPrunedNet(_MLP, module__softmax=True, sparsity=0.0).initialize()
    assert fresh.module_output_ is None
    fresh.load_params(f_params=tmp_path / "p.pt")
    np.testing.assert_allclose(fresh.predict_proba(X), net.predict_proba(X), rtol=1e-5)
    assert fresh.module_output_ == "probabilities"
    # the same net refitted with a logits module decides again
    net.set_params(module__softmax=False).fit(*data)
    assert net.module_output_ == "logits"
    assert type(net.criterion_) is nn.CrossEntropyLoss


def test_string_criterion_other_than_auto_refused(data):
    with pytest.raises(ValueError, match="'auto' or a torch criterion"):
        _fit(ScreeningPrunedNet, data, criterion="nll")


# --------------------------------------------------------------------------- AutoLoss
# The default criterion is a class: code that builds the criterion itself (skorch's
# initialized_instance in a user's initialize_criterion) gets a working loss for both
# conventions; the net itself exposes the concrete loss as criterion_.


def test_autoloss_is_the_loss_of_either_convention():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 4, generator=g), torch.tensor([0, 3, 1, 2, 2, 0])
    w = torch.tensor([1.0, 2.0, 0.5, 1.0])
    ref = nn.functional.cross_entropy(logits, y, weight=w)
    on_logits = AutoLoss(weight=w)
    torch.testing.assert_close(on_logits(logits, y), ref)
    assert on_logits.output_ == "logits" and type(on_logits.loss_) is nn.CrossEntropyLoss
    on_proba = AutoLoss(weight=w)
    torch.testing.assert_close(on_proba(torch.softmax(logits, 1), y), ref, rtol=1e-5, atol=1e-6)
    assert on_proba.output_ == "probabilities" and type(on_proba.loss_) is nn.NLLLoss
    # the decision is made once: later outputs of the same module use the same loss
    torch.testing.assert_close(
        on_proba(torch.softmax(2 * logits, 1), y),
        nn.functional.cross_entropy(2 * logits, y, weight=w),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="label_smoothing"):
        AutoLoss(label_smoothing=0.1)(torch.softmax(logits, 1), y)


def test_autoloss_is_the_default_and_auto_its_alias(digits_300):
    X, y = digits_300
    assert ScreeningPrunedNet(nn.Linear(64, 10)).get_params()["criterion"] is AutoLoss

    class OwnCriterion(ScreeningPrunedNet):  # skorch's test of a criterion under another name
        def initialize_criterion(self):
            self.mycriterion_ = self.initialized_instance(
                self.criterion, self.get_params_for("criterion")
            )
            return self

        def get_loss(self, y_pred, y_true, *args, **kwargs):
            return self.mycriterion_(y_pred, torch.as_tensor(y_true))

    module = nn.Sequential(nn.Linear(64, 10), nn.Softmax(dim=-1))
    for criterion in (AutoLoss, "auto"):
        torch.manual_seed(0)
        net = ScreeningPrunedNet(
            module,
            criterion=criterion,
            max_epochs=2,
            lr=0.1,
            train_split=None,
            verbose=0,
            sparsity=0.5,
            prune_epochs=1,
        )
        net.fit(X, y)
        assert type(net.criterion_) is nn.NLLLoss and net.module_output_ == "probabilities"
    torch.manual_seed(0)
    own = OwnCriterion(
        module, max_epochs=2, lr=0.1, train_split=None, verbose=0, sparsity=0.5, prune_epochs=1
    ).fit(X, y)
    assert own.mycriterion_.output_ == "probabilities"
    np.testing.assert_allclose(own.predict_proba(X), net.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_an_autoloss_instance_or_subclass_and_a_built_one_give_probabilities(digits_300):
    X, y = digits_300
    w = torch.linspace(0.5, 1.5, 10)

    class Sub(AutoLoss):
        pass

    class Built(ScreeningPrunedNet):  # the user's initialize_criterion makes an AutoLoss
        def initialize_criterion(self):
            self.criterion_ = AutoLoss(**self.get_params_for("criterion"))
            return self

    common = dict(max_epochs=2, lr=0.1, train_split=None, verbose=0, sparsity=0.0)
    logits = nn.Linear(64, 10)
    for net in (
        ScreeningPrunedNet(logits, criterion=AutoLoss(weight=w), **common),
        ScreeningPrunedNet(logits, criterion=Sub, **common),
        Built(logits, **common),
    ):
        torch.manual_seed(0)
        net.fit(X, y)
        proba = net.predict_proba(X)
        assert proba.min() >= 0
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    # the instance's parameters reach the chosen loss
    inst = ScreeningPrunedNet(logits, criterion=AutoLoss(weight=w), **common).initialize()
    torch.testing.assert_close(inst.criterion_.weight, w)


def test_autoloss_state_dict_is_empty_before_and_after_its_first_call():
    w = torch.tensor([1.0, 2.0, 3.0])
    fresh, used = AutoLoss(weight=w), AutoLoss(weight=w)
    used(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    assert fresh.state_dict() == {} and used.state_dict() == {}
    fresh.load_state_dict(used.state_dict())  # save_params/load_params(f_criterion=...)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_many_non_negative_scores_summing_far_from_one_are_not_probabilities(dtype):
    # the tolerance is the rounding of one softmax row (about eps), not eps per class
    out = torch.full((4, 100), 0.004, dtype=dtype)  # rows sum to 0.4
    assert not looks_like_probabilities(out)
    assert looks_like_probabilities(torch.softmax(torch.randn(4, 100), 1).to(dtype))


def test_probability_detection_edges():
    assert looks_like_probabilities(torch.tensor([[0.3, 0.7], [1.0, 0.0]]))  # two classes
    assert not looks_like_probabilities(torch.empty(0, 3))  # nothing seen: no claim
    assert not looks_like_probabilities(torch.ones(4, 1))  # one column: not classes
    # a float16 softmax over many classes sums to one only in float64
    p = torch.softmax(torch.randn(8, 1000) * 3, 1).half()
    assert looks_like_probabilities(p)


def test_autoloss_before_its_first_call_and_on_exact_zero_probabilities():
    loss = AutoLoss()
    assert loss.output_ is None and loss.loss_ is None
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # exact zeros: log(p + eps)
    value = loss(p, torch.tensor([0, 2]))
    assert torch.isfinite(value) and loss.output_ == "probabilities"
    with pytest.raises(ValueError) as err:
        AutoLoss(label_smoothing=0.1)(p, torch.tensor([0, 1]))
    assert str(err.value) == (
        "The module outputs probabilities (a final softmax), so criterion='auto' trains it "
        "with NLLLoss, which has no parameter 'label_smoothing' (criterion__label_smoothing). "
        "Remove the final softmax to train on logits with CrossEntropyLoss, or drop the "
        "parameter."
    )
