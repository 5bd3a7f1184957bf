"""What the pruning callback tells the user, worded from what the module reached.

Every figure in these warnings is read from the module or the history at the moment of the
warning (a number we print is always true):

* :func:`step_and_report_shortfall`: a pruning step whose target the keep-at-least rules
  cannot meet, warned once per run with its cause and the fixes that apply;
* :func:`unfinished_schedule_message`: training stopped before the schedule's last epoch;
* :func:`structural_change_message`: a setting that decides what is prunable changed after
  pruning started.
"""

from __future__ import annotations

import warnings

from skscreen.pruning.selection import BudgetShortfallWarning

__all__ = []


def step_and_report_shortfall(pruner, epoch, optimizer, *, sparsity, scope, warned):
    """``pruner.step(epoch, optimizer)``, returning ``(n_kept, warned)``.

    The selection's :class:`~skscreen.pruning.selection.BudgetShortfallWarning` is reworded
    for the callback's user (the sparsity the module reached after this epoch, and how to
    prune further) and warned only if ``warned`` is false; other warnings pass through.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n_kept = pruner.step(epoch, optimizer)
    for w in caught:
        if not issubclass(w.category, BudgetShortfallWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        elif not warned:
            warned = True
            total = pruner.n_total
            head = getattr(pruner, "head_", None)
            fixes = []
            if head:
                fixes.append(f"leave the classifier head dense with ignored_layers=[{head!r}]")
            if scope == "layer":
                fixes.append("use scope='global'")
            fixes.append("use a larger module")
            warnings.warn(
                f"sparsity={sparsity} cannot be reached on this module: {w.message} "
                f"After epoch {epoch} the module has sparsity {1.0 - n_kept / total:.4f} "
                f"({n_kept} of {total} kept). To prune further, "
                f"{', '.join(fixes[:-1])}{' or ' if len(fixes) > 1 else ''}{fixes[-1]}.",
                BudgetShortfallWarning,
                stacklevel=4,
            )
    return n_kept, warned


def unfinished_schedule_message(done, prune_epochs, target, kept, total):
    """Training stopped after ``done`` of ``prune_epochs`` pruning epochs."""
    sparsity = 1.0 - kept / total if total else 0.0
    return (
        f"Training stopped after {done} pruning epochs, before the schedule reached "
        f"sparsity={target} (prune_epochs={prune_epochs}); the "
        f"module has sparsity {sparsity:.4f} ({kept} of {total} kept). Continue with "
        "partial_fit or raise max_epochs; to early-stop a pruned run, use "
        "skscreen.nn.EarlyStoppingAfterPruning."
    )


def structural_change_message(now, built):
    """Settings that decide what is prunable changed since the pruner was built."""
    changed = [k for k in built if now[k] != built[k]]
    return (
        f"{', '.join(changed)} cannot change once pruning has started (the pruner "
        f"was built with {', '.join(f'{k}={built[k]!r}' for k in changed)}); "
        "call fit() to start again."
    )
