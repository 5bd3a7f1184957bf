"""The labels a ScreeningPrunedNet trained on, carried by its history (``event_label_encoding``)
through save_params/load_params and Checkpoint/LoadInitState: pandas' object labels, and
checkpoints written without the record.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
from skorch.callbacks import Checkpoint, LoadInitState  # noqa: E402

from skscreen import ScreeningPrunedNet  # noqa: E402
from skscreen.models import make_mlp  # noqa: E402
from skscreen.nn._labels import LabelEncoding, encoding_from_record, encoding_record  # noqa: E402


def _net(n_classes, **kw):
    params = dict(
        sparsity=0.5, prune_epochs=2, max_epochs=2, lr=0.1, train_split=None, verbose=0,
        random_state=0,
    )
    return ScreeningPrunedNet(make_mlp(64, (16,), n_classes), **{**params, **kw})


@pytest.mark.parametrize(
    "classes, expected",
    [
        (np.array(["neg", np.str_("pos")], dtype=object), ["neg", "pos"]),
        (np.array([np.int64(3), 7], dtype=object), [3, 7]),
        (np.array([True, np.bool_(False)], dtype=object), [True, False]),
        (np.array([(1, 2), (3, 4)] + [None], dtype=object)[:2], None),  # tuples: no JSON form
    ],
)
def test_object_labels_are_recorded_when_json_takes_them(classes, expected):
    # pandas strings and categoricals arrive as object arrays: they were never recorded, so
    # a loaded net predicted output indices and refused its own labels
    record = encoding_record(LabelEncoding(classes, names=True))
    if expected is None:
        assert record is None
        return
    assert record["classes"] == expected
    assert json.loads(json.dumps(record)) == record
    assert encoding_from_record(record).classes.tolist() == expected


def test_pandas_string_labels_survive_save_and_load(digits_300, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = digits_300
    labels = pd.Series(np.array(["neg", "pos"])[y % 2], dtype=object)
    net = _net(2).fit(X, labels)
    net.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    new = _net(2)
    new.initialize()
    new.load_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    assert new.predict(X[:20]).tolist() == net.predict(X[:20]).tolist()
    assert new.score(X, labels) == net.score(X, labels)
    new.partial_fit(X, labels)


@pytest.mark.parametrize("labels", ["gaps", "strings"])
def test_a_checkpoint_without_the_record_resumes_with_this_fits_labels(
    digits_300, tmp_path, labels
):
    # a checkpoint of an older version (no record): LoadInitState's load dropped the labels
    # the fit had just taken, and training failed with "Target 7 is out of bounds" or a
    # numpy str TypeError
    X, y = digits_300
    y = (np.array([0, 3, 7, 11]) if labels == "gaps" else np.array(list("abcd")))[y % 4]

    def net():
        checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
        return _net(4, callbacks=[checkpoint, LoadInitState(checkpoint)])

    net().fit(X, y)
    rows = json.loads((tmp_path / "history.json").read_text())
    for row in rows:
        row.pop("event_label_encoding", None)
    (tmp_path / "history.json").write_text(json.dumps(rows))
    resumed = net().fit(X, y)
    assert len(resumed.history) == 4
    assert set(resumed.predict(X).tolist()) <= set(y.tolist())
    assert resumed.classes_.tolist() == sorted(set(y.tolist()))
