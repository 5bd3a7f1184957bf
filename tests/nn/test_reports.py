"""Unit tests of skscreen/nn/_reports.py: the pruning callback's warnings and messages,
with stand-in pruners (known counts) and the exact texts."""

import os
import sys
import warnings

from skscreen.nn import _reports
from skscreen.nn._reports import (
    step_and_report_shortfall,
    structural_change_message,
    unfinished_schedule_message,
)
from skscreen.pruning.selection import BudgetShortfallWarning

UNDER_MUTMUT = bool(os.environ.get("MUTANT_UNDER_TEST")) or "mutants" in _reports.__file__


class _Pruner:
    """A pruner whose step warns what it is given and keeps ``n_kept`` of ``n_total``."""

    def __init__(self, n_kept=30, n_total=100, emit=(), head=None):
        self.n_kept, self.n_total, self.emit = n_kept, n_total, emit
        if head is not None:
            self.head_ = head
        self.calls = []

    def step(self, epoch, optimizer):
        self.calls.append((epoch, optimizer))
        for category, text in self.emit:
            warnings.warn(text, category, stacklevel=1)  # this line: see _EMIT_LINE
        return self.n_kept


_EMIT_LINE = _Pruner.step.__code__.co_firstlineno + 3


def _step(pruner, epoch=3, optimizer="opt", sparsity=0.9, scope="global", warned=False):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = step_and_report_shortfall(
            pruner, epoch, optimizer, sparsity=sparsity, scope=scope, warned=warned
        )
    return out, caught


def _shortfall(fixes):
    return (
        "sparsity=0.9 cannot be reached on this module: short by 5. After epoch 3 the "
        f"module has sparsity 0.7000 (30 of 100 kept). To prune further, {fixes}."
    )


def test_step_without_warning_returns_the_pruners_count_and_keeps_warned():
    pruner = _Pruner(n_kept=42)
    (n_kept, warned), caught = _step(pruner, epoch=5, optimizer="the optimizer")
    assert (n_kept, warned) == (42, False)
    assert pruner.calls == [(5, "the optimizer")]
    assert caught == []
    (n_kept, warned), caught = _step(_Pruner(n_kept=7), warned=True)
    assert (n_kept, warned) == (7, True) and caught == []


def test_shortfall_is_reworded_with_every_fix_that_applies():
    pruner = _Pruner(emit=[(BudgetShortfallWarning, "short by 5.")], head="fc")
    (n_kept, warned), caught = _step(pruner, scope="layer")
    assert n_kept == 30 and warned is True
    assert len(caught) == 1
    assert caught[0].category is BudgetShortfallWarning
    assert str(caught[0].message) == _shortfall(
        "leave the classifier head dense with ignored_layers=['fc'], use scope='global' "
        "or use a larger module"
    )


def test_shortfall_fixes_head_only_layer_only_and_none():
    pruner = _Pruner(emit=[(BudgetShortfallWarning, "short by 5.")], head="out")
    (_, warned), caught = _step(pruner, scope="global")
    assert warned is True
    assert [str(w.message) for w in caught] == [
        _shortfall(
            "leave the classifier head dense with ignored_layers=['out'] or use a larger module"
        )
    ]
    # no head_ attribute at all, scope='layer'
    pruner = _Pruner(emit=[(BudgetShortfallWarning, "short by 5.")])
    assert not hasattr(pruner, "head_")
    (_, warned), caught = _step(pruner, scope="layer")
    assert [str(w.message) for w in caught] == [
        _shortfall("use scope='global' or use a larger module")
    ]
    # a falsy head (None or ''), scope='global': the one fix left
    for head in (None, ""):
        pruner = _Pruner(emit=[(BudgetShortfallWarning, "short by 5.")])
        pruner.head_ = head
        (_, warned), caught = _step(pruner, scope="global")
        assert warned is True
        assert [str(w.message) for w in caught] == [_shortfall("use a larger module")]


def test_shortfall_sparsity_figure_is_read_from_the_step():
    pruner = _Pruner(n_kept=1, n_total=8, emit=[(BudgetShortfallWarning, "x.")])
    _, caught = _step(pruner, epoch=11, sparsity=0.95)
    assert str(caught[0].message) == (
        "sparsity=0.95 cannot be reached on this module: x. After epoch 11 the module has "
        "sparsity 0.8750 (1 of 8 kept). To prune further, use a larger module."
    )


def test_shortfall_is_warned_once_per_run():
    pruner = _Pruner(
        emit=[(BudgetShortfallWarning, "short by 5."), (BudgetShortfallWarning, "again.")]
    )
    (_, warned), caught = _step(pruner)
    assert warned is True
    assert [str(w.message) for w in caught] == [_shortfall("use a larger module")]
    (_, warned), caught = _step(pruner, warned=True)
    assert warned is True and caught == []


def test_other_warnings_pass_through_unchanged_with_their_origin():
    pruner = _Pruner(
        emit=[
            (RuntimeWarning, "first"),
            (BudgetShortfallWarning, "short by 5."),
            (DeprecationWarning, "second"),
        ]
    )
    (_, warned), caught = _step(pruner, warned=True)
    assert warned is True
    assert [(w.category, str(w.message)) for w in caught] == [
        (RuntimeWarning, "first"),
        (DeprecationWarning, "second"),
    ]
    for w in caught:
        assert w.filename == __file__
        assert w.lineno == _EMIT_LINE
    (_, warned), caught = _step(pruner, warned=False)
    assert [w.category for w in caught] == [
        RuntimeWarning,
        BudgetShortfallWarning,
        DeprecationWarning,
    ]


def test_pass_through_warnings_are_not_deduplicated_by_the_step():
    # the step records every warning ("always"), so a warning emitted twice from one
    # line reaches the caller twice under an "always" filter
    pruner = _Pruner(emit=[(RuntimeWarning, "same"), (RuntimeWarning, "same")])
    _, caught = _step(pruner)
    assert [str(w.message) for w in caught] == ["same", "same"]


def _outer(pruner):
    return _middle(pruner)  # the frame stacklevel=4 names


_OUTER_LINE = _outer.__code__.co_firstlineno + 1


def _middle(pruner):
    return _inner(pruner)


def _inner(pruner):
    return step_and_report_shortfall(pruner, 1, None, sparsity=0.5, scope="global", warned=False)


class _FramePruner(_Pruner):
    """Records the frames above its step: frames[0] is step, frames[1] the body that calls it
    (under mutmut, the mutant's body, with the trampoline's frames above it)."""

    def step(self, epoch, optimizer):
        f, self.frames = sys._getframe(), []
        while f is not None:
            self.frames.append((f.f_code.co_filename, f.f_lineno))
            f = f.f_back
        return super().step(epoch, optimizer)


def test_shortfall_points_three_frames_above_the_caller():
    pruner = _FramePruner(n_kept=3, n_total=4, emit=[(BudgetShortfallWarning, "y.")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _outer(pruner) == (3, True)
    assert str(caught[0].message) == (
        "sparsity=0.5 cannot be reached on this module: y. After epoch 1 the module has "
        "sparsity 0.2500 (3 of 4 kept). To prune further, use a larger module."
    )
    # stacklevel=4 from the function's body: the fourth frame up from it (trampolines
    # included under mutmut), which without them is _outer's call of _middle
    assert (caught[0].filename, caught[0].lineno) == pruner.frames[4]
    if not UNDER_MUTMUT:
        assert caught[0].filename == __file__
        assert caught[0].lineno == _OUTER_LINE


def test_unfinished_schedule_message_states_the_module():
    assert unfinished_schedule_message(2, 5, 0.9, 25, 100) == (
        "Training stopped after 2 pruning epochs, before the schedule reached sparsity=0.9 "
        "(prune_epochs=5); the module has sparsity 0.7500 (25 of 100 kept). Continue with "
        "partial_fit or raise max_epochs; to early-stop a pruned run, use "
        "skscreen.nn.EarlyStoppingAfterPruning."
    )
    assert unfinished_schedule_message(0, 3, 0.5, 0, 0) == (
        "Training stopped after 0 pruning epochs, before the schedule reached sparsity=0.5 "
        "(prune_epochs=3); the module has sparsity 0.0000 (0 of 0 kept). Continue with "
        "partial_fit or raise max_epochs; to early-stop a pruned run, use "
        "skscreen.nn.EarlyStoppingAfterPruning."
    )


def test_structural_change_message_names_the_changed_settings_in_order():
    built = {"granularity": "weight", "layer_types": None, "ignored_layers": ["fc"], "x": 1}
    now = {"granularity": "channel", "layer_types": None, "ignored_layers": ["out"], "x": 1}
    assert structural_change_message(now, built) == (
        "granularity, ignored_layers cannot change once pruning has started (the pruner was "
        "built with granularity='weight', ignored_layers=['fc']); call fit() to start again."
    )
    assert structural_change_message({"post_relu": True}, {"post_relu": False}) == (
        "post_relu cannot change once pruning has started (the pruner was built with "
        "post_relu=False); call fit() to start again."
    )


def test_pass_through_warnings_keep_their_source():
    # the object a ResourceWarning is about (warn(..., source=obj)) reaches the caller's
    # record with it, as if the step had not intercepted the warning
    source = object()

    class SourcePruner(_Pruner):
        def step(self, epoch, optimizer):
            warnings.warn("unclosed", ResourceWarning, stacklevel=1, source=source)
            return self.n_kept

    _, caught = _step(SourcePruner())
    assert [(w.category, str(w.message)) for w in caught] == [(ResourceWarning, "unclosed")]
    assert caught[0].source is source
