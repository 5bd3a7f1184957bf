"""Unit tests of skscreen/nn/_module_state.py: the pruning state as the module and the history
hold it. Small modules with masks set by skscreen.pruning.masks.update_mask (hand-counted
kept weights), histories made with skorch's History, stand-in pruners with known counts, and
the exact texts."""

import os
import re
import sys
import warnings

import numpy as np
import pytest
import torch
from skorch.history import History

from skscreen.nn import _module_state
from skscreen.nn._module_state import (
    alive_counts,
    alive_fractions,
    epoch_row,
    prepare_module,
    report_replaced_state,
    resume_budget,
)
from skscreen.nn._persistence import _RebuildChannels, _ReportLoad
from skscreen.pruning.masks import get_mask, share_mask, update_mask

UNDER_MUTMUT = bool(os.environ.get("MUTANT_UNDER_TEST")) or "mutants" in _module_state.__file__


def _history(*rows):
    h = History()
    for row in rows:
        h.new_epoch()
        for k, v in row.items():
            h.record(k, v)
    return h


class _Net:
    def __init__(self, module, history=None):
        self.module_ = module
        self.history = _history() if history is None else history


class _Pruner:
    """What the state functions read of a pruner."""

    def __init__(self, model=None, n_total=10, kept=4, fractions=None, channels=None, units=None):
        self.model = model
        self.n_total = n_total
        self._kept = kept
        self._fractions = fractions
        self.initial_channels = dict(channels or {})
        self.initial_units = dict(units or {})
        self.removed = 0

    def n_kept(self):
        return self._kept

    def kept_fractions(self):
        return self._fractions

    def remove_hooks(self):
        self.removed += 1


def _masked_mlp():
    """Linear(3, 2) with 4 of 6 weights kept, Linear(2, 2) with 3 of 4 kept: 7 of 10."""
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    update_mask(m[0], torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))
    update_mask(m[2], torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    return m


def _bn_net():
    """BatchNorm sizes {'1': 4, '3': 3}."""
    return torch.nn.Sequential(
        torch.nn.Linear(2, 4),
        torch.nn.BatchNorm1d(4),
        torch.nn.Linear(4, 3),
        torch.nn.BatchNorm1d(3),
    )


# ------------------------------------------------------------------- prepare_module
def _hooks(hooks, cls):
    hooks = [getattr(h, "hook", h) for h in hooks.values()]  # torch wraps load pre-hooks
    return [h for h in hooks if isinstance(h, cls)]


def test_prepare_weight_level_attaches_masks_and_the_load_report_once():
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    net = _Net(module)
    assert prepare_module(net, "weight", None, None, None) is net
    assert get_mask(module[0]) is not None and get_mask(module[2]) is not None
    assert float(get_mask(module[0]).sum()) == 6.0
    (report,) = _hooks(module._load_state_dict_post_hooks, _ReportLoad)
    assert report.net is net
    assert _hooks(module._load_state_dict_pre_hooks, _RebuildChannels) == []
    # idempotent: a second call adds no hook, re-arms the report for this net
    other = _Net(module)
    prepare_module(other, "weight", None, None, None)
    (again,) = _hooks(module._load_state_dict_post_hooks, _ReportLoad)
    assert again is report and again.net is other


def test_prepare_weight_level_passes_layer_types_and_ignored_layers():
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    prepare_module(_Net(module), "weight", None, None, ["2"])
    assert get_mask(module[0]) is not None and get_mask(module[2]) is None
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2, 2))
    prepare_module(_Net(conv), "weight", None, [torch.nn.Linear], None)
    assert get_mask(conv[0]) is None and get_mask(conv[2]) is not None


def test_prepare_weight_level_leaves_a_bound_pruners_module_alone():
    module = torch.nn.Sequential(torch.nn.Linear(3, 2))
    net = _Net(module)
    prepare_module(net, "weight", _Pruner(model=module), None, None)
    assert get_mask(module[0]) is None
    assert len(_hooks(module._load_state_dict_post_hooks, _ReportLoad)) == 1
    # a pruner of another module does not count
    prepare_module(net, "weight", _Pruner(model=torch.nn.Linear(1, 1)), None, None)
    assert get_mask(module[0]) is not None


def test_prepare_channel_level_registers_the_replay_once():
    module = _bn_net()
    net = _Net(module)
    assert prepare_module(net, "channel", None, None, None) is net
    assert all(get_mask(m) is None for m in module.modules())
    (rebuild,) = _hooks(module._load_state_dict_pre_hooks, _RebuildChannels)
    (report,) = _hooks(module._load_state_dict_post_hooks, _ReportLoad)
    assert rebuild.net is net and report.net is net
    other = _Net(module)
    prepare_module(other, "channel", None, None, None)
    assert _hooks(module._load_state_dict_pre_hooks, _RebuildChannels) == [rebuild]
    assert _hooks(module._load_state_dict_post_hooks, _ReportLoad) == [report]
    assert rebuild.net is other and report.net is other


# --------------------------------------------------------------------- alive_counts
def test_alive_counts_from_a_bound_pruner():
    module = _masked_mlp()
    pruner = _Pruner(model=module, n_total=99, kept=12)
    assert alive_counts(_Net(module), "weight", pruner) == (12, 99)
    assert alive_counts(_Net(module), "channel", pruner) == (12, 99)


def test_alive_counts_weight_level_from_the_masks():
    module = _masked_mlp()
    counts = alive_counts(_Net(module), "weight", None)
    assert counts == (7, 10)
    assert all(type(c) is int for c in counts)
    # a pruner of another module is not read
    assert alive_counts(_Net(module), "weight", _Pruner(model=torch.nn.Linear(1, 1))) == (7, 10)
    # a tied (shared) mask is counted once
    tied = torch.nn.Linear(3, 2)
    share_mask(tied, get_mask(module[0]))
    module.add_module("tied", tied)
    assert alive_counts(_Net(module), "weight", None) == (7, 10)
    # no masks (remove_masks: the pruning made permanent): the non-zero weights of the
    # layers a pruner would mask, tied ones once; nothing prunable: (0, 0)
    plain = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    with torch.no_grad():
        plain[0].weight[0] = 0
    assert alive_counts(_Net(plain), "weight", None) == (10, 12)
    assert alive_counts(_Net(plain), "weight", None, ignored_layers=["2"]) == (4, 6)
    plain.add_module("tied", torch.nn.Linear(2, 3))
    plain.tied.weight = plain[0].weight
    assert alive_counts(_Net(plain), "weight", None) == (10, 12)
    assert alive_counts(_Net(torch.nn.ReLU()), "weight", None) == (0, 0)
    # the layer types a pruner would mask (a conv beside the linears), as given
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 2), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    assert alive_counts(_Net(conv), "weight", None) == (12, 12)
    only_linear = alive_counts(_Net(conv), "weight", None, layer_types=[torch.nn.Linear])
    assert only_linear == (8, 8)


def test_alive_counts_channel_level():
    module = _bn_net()
    net = _Net(module)
    assert alive_counts(net, "channel", None) == (7, 7)
    net.history = _history(
        {
            "epoch": 1,
            "pruning_epoch": 1,
            "n_kept": np.int64(5),
            "n_prunable": np.int64(9),
            "event_channels": {"1": 4, "3": 3},
        }
    )
    counts = alive_counts(net, "channel", None)
    assert counts == (5, 9) and all(type(c) is int for c in counts)
    # the last pruning row is the one read
    net.history = _history(
        {"pruning_epoch": 1, "n_kept": 5, "n_prunable": 9, "event_channels": {"1": 4, "3": 3}},
        {"pruning_epoch": 2, "n_kept": 4, "n_prunable": 9, "event_channels": {"1": 3, "3": 3}},
    )
    assert alive_counts(net, "channel", None) == (7, 7)
    net.history = _history(
        {"pruning_epoch": 1, "n_kept": 6, "n_prunable": 9, "event_channels": {"1": 5, "3": 3}},
        {"pruning_epoch": 2, "n_kept": 5, "n_prunable": 9, "event_channels": {"1": 4, "3": 3}},
        {"epoch": 3},  # not a pruning row
    )
    assert alive_counts(net, "channel", None) == (5, 9)
    # a row without event_channels
    net.history = _history({"pruning_epoch": 1, "n_kept": 5, "n_prunable": 9})
    assert alive_counts(net, "channel", None) == (7, 7)


# ------------------------------------------------------------------ alive_fractions
def test_alive_fractions_from_a_bound_pruner():
    module = _masked_mlp()
    fractions = {"0": 0.5}
    assert (
        alive_fractions(_Net(module), "weight", _Pruner(model=module, fractions=fractions))
        is fractions
    )


def test_alive_fractions_weight_level():
    module = _masked_mlp()
    out = alive_fractions(_Net(module), "weight", _Pruner(model=torch.nn.Linear(1, 1)))
    assert out == {"0": pytest.approx(4 / 6), "2": 0.75}
    assert all(type(v) is float for v in out.values())
    plain = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    with torch.no_grad():
        plain[1].weight[0] = 0
    assert alive_fractions(_Net(plain), "weight", None) == {"0": 1.0, "1": 0.5}
    assert alive_fractions(_Net(plain), "weight", None, ignored_layers=["1"]) == {"0": 1.0}
    assert alive_fractions(_Net(torch.nn.ReLU()), "weight", None) == {}
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 2), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    assert set(alive_fractions(_Net(conv), "weight", None)) == {"0", "2"}
    assert alive_fractions(_Net(conv), "weight", None, layer_types=[torch.nn.Linear]) == {"2": 1.0}
    # with masks, the masks decide: a kept weight that happens to be zero is kept
    with torch.no_grad():
        module[0].weight.zero_()
    assert alive_fractions(_Net(module), "weight", None) == out


def test_alive_fractions_channel_level():
    module = _bn_net()
    net = _Net(module)
    assert alive_fractions(net, "channel", None) == {"1": 1.0, "3": 1.0}
    structure = {"initial_channels": {"1": 8, "3": 6}, "initial_units": {}}
    net.history = _history(
        {
            "pruning_epoch": 1,
            "n_kept": 7,
            "n_prunable": 14,
            "event_channel_structure": structure,
            "event_channels": {"1": 4, "3": 3},
        },
    )
    assert alive_fractions(net, "channel", None) == {"1": 0.5, "3": 0.5}
    # a layer the structure does not know is left out
    structure2 = {"initial_channels": {"1": 5}, "initial_units": {}}
    net.history = _history(
        {
            "pruning_epoch": 1,
            "n_kept": 7,
            "n_prunable": 14,
            "event_channel_structure": structure2,
            "event_channels": {"1": 4, "3": 3},
        },
    )
    assert alive_fractions(net, "channel", None) == {"1": 0.8}
    # the module is not the recorded one: all alive
    net.history = _history(
        {
            "pruning_epoch": 1,
            "n_kept": 7,
            "n_prunable": 14,
            "event_channel_structure": structure,
            "event_channels": {"1": 2, "3": 3},
        },
    )
    assert alive_fractions(net, "channel", None) == {"1": 1.0, "3": 1.0}
    # no structure recorded: all alive
    net.history = _history(
        {"pruning_epoch": 1, "n_kept": 7, "n_prunable": 14, "event_channels": {"1": 4, "3": 3}},
    )
    assert alive_fractions(net, "channel", None) == {"1": 1.0, "3": 1.0}


# ------------------------------------------------------------- report_replaced_state
def _never():
    raise AssertionError("counts() must not be called")


def test_no_pruning_row_no_report():
    net = _Net(_masked_mlp(), _history({"epoch": 1}, {"epoch": 2}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert report_replaced_state(net, _never) is None
    assert "restored_n_kept" not in net.history[-1]
    net = _Net(_masked_mlp(), _history())
    report_replaced_state(net, _never)


def test_same_pruning_no_report():
    h = _history({"epoch": 1, "n_kept": 8, "sparsity": 0.2})
    net = _Net(_masked_mlp(), h)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report_replaced_state(net, lambda: (8, 10))
    assert "restored_n_kept" not in h[-1]
    # an already reported restore is compared with
    h = _history({"epoch": 1, "n_kept": 8, "sparsity": 0.2, "restored_n_kept": 10})
    net = _Net(_masked_mlp(), h)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report_replaced_state(net, lambda: (10, 10))
    assert h[-1, "restored_n_kept"] == 10 and "restored_sparsity" not in h[-1]


def _report(net, counts):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report_replaced_state(net, counts)
    return caught


def test_replaced_state_is_recorded_and_warned():
    h = _history(
        {"epoch": 1, "n_kept": 8, "sparsity": 0.2},
        {"epoch": 2, "n_kept": 5, "sparsity": 0.5},
        {"epoch": 3},
    )
    net = _Net(_masked_mlp(), h)
    frames = []

    def counts():
        f = sys._getframe()
        while f is not None:
            frames.append((f.f_code.co_filename, f.f_lineno))
            f = f.f_back
        return np.int64(9), 10

    caught = _report(net, counts)  # the line the warning names (stacklevel=3)
    report_line = sys._getframe().f_lineno - 1
    assert h[-1, "restored_n_kept"] == 9 and type(h[-1, "restored_n_kept"]) is int
    assert h[-1, "restored_sparsity"] == pytest.approx(0.1)
    assert type(h[-1, "restored_sparsity"]) is float
    assert "restored_n_kept" not in h[-2]
    (w,) = caught
    assert w.category is UserWarning
    assert str(w.message) == (
        "The module's weights were replaced after epoch 3 (a callback such as "
        "EarlyStopping(load_best=True) restored an earlier epoch, or load_params loaded "
        "another state): the module now has sparsity 0.1000 (9 of 10 kept), not the 0.5000 "
        "recorded for epoch 2; recorded as history[-1, 'restored_sparsity']. To early-stop a "
        "pruned run at its target, use skscreen.nn.EarlyStoppingAfterPruning."
    )
    # stacklevel=3 from the function's body (frames[1], counts() being frames[0]): the third
    # frame up from it (trampolines included under mutmut), without them this test's call
    assert (w.filename, w.lineno) == frames[3]
    if not UNDER_MUTMUT:  # mutmut's trampolines add frames
        assert w.filename == __file__ and w.lineno == report_line


def test_replaced_state_after_an_earlier_restore_and_without_epoch_or_total():
    h = _history({"epoch": 4, "n_kept": 5, "sparsity": 0.5, "restored_n_kept": 10})
    net = _Net(_masked_mlp(), h)
    caught = _report(net, lambda: (5, 10))
    assert h[-1, "restored_n_kept"] == 5 and h[-1, "restored_sparsity"] == 0.5
    assert "sparsity 0.5000 (5 of 10 kept), not the 0.5000 recorded for epoch 4;" in str(
        caught[0].message
    )
    # a recorded row without an epoch, an empty module now
    h = _history({"n_kept": 3, "sparsity": 0.25}, {"epoch": 7})
    net = _Net(_masked_mlp(), h)
    caught = _report(net, lambda: (0, 0))
    assert h[-1, "restored_n_kept"] == 0 and h[-1, "restored_sparsity"] == 0.0
    assert str(caught[0].message).startswith(
        "The module's weights were replaced after epoch 7 (a callback"
    )
    assert (
        "the module now has sparsity 0.0000 (0 of 0 kept), not the 0.2500 recorded for "
        "epoch ?;" in str(caught[0].message)
    )


# -------------------------------------------------------------------- resume_budget
def test_resume_without_a_recorded_budget_keeps_the_pruner():
    pruner = _Pruner(n_total=10, channels={"a": 3})
    assert resume_budget(pruner, _history(), "weight") is pruner
    assert resume_budget(pruner, _history({"pruning_epoch": 1}), "weight") is pruner
    assert resume_budget(pruner, _history({"epoch": 1, "n_prunable": 99}), "weight") is pruner
    # only the last pruning row counts
    h = _history({"pruning_epoch": 1, "n_prunable": 99}, {"pruning_epoch": 2})
    assert resume_budget(pruner, h, "channel") is pruner
    assert pruner.n_total == 10 and pruner.removed == 0


def test_resume_weight_level_needs_the_same_dense_module():
    pruner = _Pruner(n_total=10)
    h = _history({"pruning_epoch": 1, "n_prunable": 10})
    assert resume_budget(pruner, h, "weight") is pruner
    assert pruner.n_total == 10 and type(pruner.n_total) is int and pruner.removed == 0
    for found in (9, 11):
        pruner = _Pruner(n_total=found)
        message = (
            f"The module has {found} prunable weights but the history was recorded on one with "
            "10: the module was re-initialised with other parameters (set_params(module__...)) "
            "or is not the one the history belongs to. Call fit() to start again."
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            resume_budget(pruner, h, "weight")
        assert pruner.removed == 1


def test_resume_channel_level_takes_the_dense_budget():
    structure = {
        "initial_channels": {"a": np.int64(8), "b": 6},
        "initial_units": {"a": np.int64(16), "b": 12},
    }
    h = _history(
        {"pruning_epoch": 1, "n_prunable": np.int64(14), "event_channel_structure": structure},
        {"pruning_epoch": 2, "n_prunable": np.int64(14)},
    )
    pruner = _Pruner(n_total=9, channels={"a": 4, "b": 5, "c": 2}, units={"a": 8, "c": 3})
    assert resume_budget(pruner, h, "channel") is pruner
    assert pruner.n_total == 14 and type(pruner.n_total) is int and pruner.removed == 0
    assert pruner.initial_channels == {"a": 8, "b": 6, "c": 2}
    assert pruner.initial_units == {"a": 16, "c": 3}
    for sizes in (pruner.initial_channels, pruner.initial_units):
        assert all(type(v) is int for v in sizes.values())
    # the dense count itself is accepted
    pruner = _Pruner(n_total=14, channels={"a": 8})
    resume_budget(pruner, h, "channel")
    assert pruner.n_total == 14 and pruner.initial_channels == {"a": 8}
    # more channels than the dense module had: refused
    pruner = _Pruner(n_total=15)
    message = (
        "The module has 15 prunable channels but the history was recorded on one with 14: "
        "the module was re-initialised with other parameters (set_params(module__...)) or is "
        "not the one the history belongs to. Call fit() to start again."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        resume_budget(pruner, h, "channel")
    assert pruner.removed == 1


def test_resume_channel_level_without_structure_keeps_the_initial_sizes():
    h = _history({"pruning_epoch": 1, "n_prunable": 14})
    pruner = _Pruner(n_total=9, channels={"a": 4}, units={"a": 8})
    resume_budget(pruner, h, "channel")
    assert pruner.n_total == 14
    assert pruner.initial_channels == {"a": 4} and pruner.initial_units == {"a": 8}
    # at weight level a recorded structure is not read
    structure = {"initial_channels": {"a": 8}, "initial_units": {"a": 16}}
    h = _history({"pruning_epoch": 1, "n_prunable": 9, "event_channel_structure": structure})
    pruner = _Pruner(n_total=9, channels={"a": 4}, units={"a": 8})
    resume_budget(pruner, h, "weight")
    assert pruner.initial_channels == {"a": 4} and pruner.initial_units == {"a": 8}


# ------------------------------------------------------------------------ epoch_row
def test_epoch_row_weight_level():
    pruner = _Pruner(n_total=np.int64(8))
    net = _Net(_masked_mlp())
    row = epoch_row(net, pruner, 3, 6, np.int64(2), [], None, None)
    assert row == {
        "pruning_epoch": 3,
        "target_sparsity": 0.25,
        "sparsity": 0.75,
        "n_kept": 2,
        "n_prunable": 8,
    }
    assert list(row) == ["pruning_epoch", "target_sparsity", "sparsity", "n_kept", "n_prunable"]
    assert type(row["n_kept"]) is int and type(row["n_prunable"]) is int
    row = epoch_row(net, pruner, 1, 8, 8, [1.0, 2.0, 4.5], None, None)
    assert row["penalty"] == 2.5 and type(row["penalty"]) is float
    assert row["target_sparsity"] == 0.0 and row["sparsity"] == 0.0


def test_epoch_row_channel_level_first_row_has_the_structure():
    module = _bn_net()
    net = _Net(module)
    pruner = _Pruner(n_total=7, channels={"1": 4, "3": 3}, units={"1": 4, "3": 3})
    example = torch.zeros(5, 2, 3, dtype=torch.float64)
    removed = [("1", 1, np.array([0, 2])), (np.str_("3"), False, [np.int64(1)])]
    row = epoch_row(net, pruner, 1, 5, 5, [], removed, example)
    assert row["event_channel_structure"] == {
        "input_shape": [2, 3],
        "input_dtype": "float64",
        "initial_channels": {"1": 4, "3": 3},
        "initial_units": {"1": 4, "3": 3},
    }
    assert all(type(d) is int for d in row["event_channel_structure"]["input_shape"])
    assert row["event_channel_structure"]["initial_channels"] is not pruner.initial_channels
    assert row["event_channel_structure"]["initial_units"] is not pruner.initial_units
    assert row["event_pruned_channels"] == [["1", True, [0, 2]], ["3", False, [1]]]
    for name, out, idx in row["event_pruned_channels"]:
        assert type(name) is str and type(out) is bool and all(type(i) is int for i in idx)
    assert row["event_channels"] == {"1": 4, "3": 3}
    assert row["n_kept"] == 5 and row["sparsity"] == pytest.approx(2 / 7)
    assert "penalty" not in row


def test_epoch_row_channel_level_later_rows_and_no_removal():
    module = _bn_net()
    structure = {
        "input_shape": [2],
        "input_dtype": "float32",
        "initial_channels": {},
        "initial_units": {},
    }
    net = _Net(module, _history({"pruning_epoch": 1, "event_channel_structure": structure}))
    pruner = _Pruner(n_total=7)
    row = epoch_row(net, pruner, 2, 7, 7, [0.5], [], torch.zeros(1, 2))
    assert row == {
        "pruning_epoch": 2,
        "target_sparsity": 0.0,
        "sparsity": 0.0,
        "n_kept": 7,
        "n_prunable": 7,
        "penalty": 0.5,
        "event_channels": {"1": 4, "3": 3},
    }
    # a first channel row with no removal still records the structure
    row = epoch_row(_Net(module), pruner, 1, 7, 7, [], [], torch.zeros(4, 2))
    assert row["event_channel_structure"]["input_shape"] == [2]
    assert row["event_channel_structure"]["input_dtype"] == "float32"
    assert "event_pruned_channels" not in row


def test_alive_counts_and_fractions_of_a_half_precision_module_past_float16_range():
    # a float16 mask of 76,800 entries: its sum overflows float16 (65,504 at most)
    lin = torch.nn.Linear(300, 256).half()
    keep = torch.ones_like(lin.weight)
    keep[:, :7] = 0
    update_mask(lin, keep)
    module = torch.nn.Sequential(lin)
    assert alive_counts(_Net(module), "weight", None) == (256 * 293, 256 * 300)
    assert alive_fractions(_Net(module), "weight", None) == {"0": 293 / 300}
