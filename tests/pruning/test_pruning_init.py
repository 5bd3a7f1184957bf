"""skscreen.pruning's package namespace: the torch parts load on first use, each name from
the module its map names; unknown names are an AttributeError; dir() lists them all."""

import importlib

import pytest

pytest.importorskip("torch")

import skscreen.pruning as pruning  # noqa: E402

WHERE = {
    "BasePruner": "_base",
    "required_statistics": "_base",
    "compact_module": "compaction",
    "compact_sequential": "compaction",
    "fold_masks": "compaction",
    "load_compact": "compaction",
    "save_compact": "compaction",
    "ExtremeValuePruning": "extreme_value",
    "WeightPruner": "pruner",
    "ActivationStatsScorer": "scorers",
    "HybridScreeningScorer": "scorers",
    "LAMPScorer": "scorers",
    "MagnitudeScorer": "scorers",
    "make_scorer": "scorers",
}


@pytest.mark.parametrize("name", sorted(WHERE))
def test_lazy_name_loads_from_its_module_and_stays(name, monkeypatch):
    want = getattr(importlib.import_module(f"skscreen.pruning.{WHERE[name]}"), name)
    monkeypatch.delitem(vars(pruning), name, raising=False)  # as on first use
    assert getattr(pruning, name) is want
    assert vars(pruning)[name] is want  # kept: later uses are plain attribute reads


def test_eager_schedule_names():
    from skscreen.pruning import schedules

    for name in ("CubicSchedule", "FSASchedule", "LogisticSchedule", "OneShotSchedule"):
        assert getattr(pruning, name) is getattr(schedules, name)
    assert pruning.make_schedule is schedules.make_schedule


def test_unknown_name():
    with pytest.raises(AttributeError) as err:
        pruning.NoSuchThing  # noqa: B018
    assert str(err.value) == "module 'skscreen.pruning' has no attribute 'NoSuchThing'"


def test_dir_lists_every_name_sorted(monkeypatch):
    for name in WHERE:  # none loaded yet: dir() still lists them
        monkeypatch.delitem(vars(pruning), name, raising=False)
    names = dir(pruning)
    assert names == sorted(names)
    assert set(WHERE) <= set(names) and set(pruning.__all__) <= set(names)
    assert "make_schedule" in names and "__getattr__" in names


def test_all_names_resolve():
    for name in pruning.__all__:
        assert getattr(pruning, name) is not None
