"""One factory of the small skorch nets the tests train (tests/nn, tests/pruning).

``make_net(**kw)`` is a :class:`~skscreen.ScreeningPrunedNet` on the digits MLP (64 inputs,
one hidden layer of 32, 10 classes), trained quietly on every sample (no validation split)
from a fixed seed with ``lr=0.1``; ``make_plain_net(**kw)`` is skorch's own
``NeuralNetClassifier`` on the same MLP (seeded), for the pruning callback on a plain net.
``kw`` adds to and overrides these. A test file whose tests share more settings binds them
once, ``_net = functools.partial(make_net, sparsity=0.8, ...)``: a keyword given at the
call still wins.
"""

from __future__ import annotations

import torch
from skorch import NeuralNetClassifier

from skscreen import ScreeningPrunedNet
from skscreen.models import make_mlp

# the documented defaults of the pruning settings (ScreeningPruning's parameters; the net
# has each of them too), written out: a changed default must change this literal
PRUNING_DEFAULTS = dict(
    alpha=0.25,
    sparsity=0.9,
    schedule="logistic",
    prune_epochs=None,
    scope="global",
    normalize="minmax",
    normalize_scope=None,
    scorer=None,
    granularity="weight",
    layer_types=None,
    ignored_layers=None,
    post_relu=False,
    reg_lambda=0.0,
    gamma_l1=0.0,
    random_state=None,
)

DIGITS_MLP = dict(module=make_mlp, module__n_inputs=64, module__hidden=(32,), module__n_classes=10)
SGD_MOMENTUM = dict(optimizer=torch.optim.SGD, optimizer__momentum=0.9)


def make_net(**kw):
    """A ScreeningPrunedNet on the digits MLP; ``kw`` adds to and overrides the settings."""
    params = dict(DIGITS_MLP, lr=0.1, train_split=None, verbose=0, random_state=0)
    params.update(kw)
    return ScreeningPrunedNet(**params)


def make_plain_net(**kw):
    """skorch's NeuralNetClassifier on a digits MLP built from seed 0 (pass the callbacks)."""
    torch.manual_seed(0)
    return NeuralNetClassifier(
        make_mlp(64, (32,), 10),
        criterion=torch.nn.CrossEntropyLoss,
        lr=0.1,
        train_split=None,
        verbose=0,
        **kw,
    )
