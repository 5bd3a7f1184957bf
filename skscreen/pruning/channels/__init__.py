"""Channel-level screening pruning (CLS): scores for BatchNorm channels and physical removal.

Deciding: :class:`ChannelScreeningScorer` ranks each channel ``k`` of a BatchNorm layer by
``alpha * norm(F_k) + (1 - alpha) * norm(|gamma_k|)``, ``F_k`` the ANOVA F-score of the
channel's spatially averaged BatchNorm output (per sample) and ``gamma`` the BatchNorm scale;
``alpha = 0`` is network slimming's ``|gamma|`` (Liu et al. 2017).

Applying: :class:`ChannelPruner` removes channels physically with Torch-Pruning's dependency
graph (``torch-pruning`` from PyPI), so that convolutions, BatchNorms, residual additions and
concatenations stay consistent; BatchNorms coupled by a residual addition or a
concatenation form one *unit* whose channels are scored by the mean of their members' scores
(channel indices in each member from the group's ``root_idxs``); grouped convolutions tie the
channels at one position of every channel group into a class removed whole. The classifier
head is never pruned. Pruning in the middle of training keeps any ``torch.optim`` optimizer
valid: every live parameter stays in its parameter group (replaced in place, so an
``LRScheduler`` keeps working) and per-parameter state (momentum, Adam's moments, ...) is
sliced exactly as Torch-Pruning sliced the parameter (:func:`remap_optimizer`).

Modules, one job each: ``_scorer`` (the criterion), ``_units`` (unit discovery and the dry
run), ``_ties`` (tied classes and their selection), ``_pruner`` (:class:`ChannelPruner`),
``_slices`` (the Torch-Pruning patch recording parameter slices), ``_snapshot`` (undo of a
failed step), ``_optimizer`` (:func:`remap_optimizer`), ``_io`` (save, load, replay) and
``_report`` (MAC and parameter counts).
"""

from skscreen.pruning.channels._io import load_pruned, replay_pruning, save_pruned
from skscreen.pruning.channels._optimizer import remap_optimizer
from skscreen.pruning.channels._pruner import ChannelPruner
from skscreen.pruning.channels._report import channel_report, count_macs
from skscreen.pruning.channels._scorer import ChannelScreeningScorer
from skscreen.pruning.channels._ties import select_tied
from skscreen.pruning.channels._units import ChannelUnit

__all__ = [
    "ChannelScreeningScorer",
    "ChannelPruner",
    "ChannelUnit",
    "count_macs",
    "save_pruned",
    "load_pruned",
    "replay_pruning",
    "channel_report",
    "remap_optimizer",
    "select_tied",
]
