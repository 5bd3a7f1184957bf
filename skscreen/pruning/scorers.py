"""Scorers: one score per prunable weight, higher = more worth keeping (the *deciding* half).

A scorer is a small strategy object with one contract::

    scores = scorer(layers, scope)   # list of tensors, one per layer, shaped like its weight

where ``layers`` is a list of :class:`LayerView` and ``scope`` is the budget scope,
``"global"`` or ``"layer"``. The two-component scorers normalise each component over that
same scope unless their ``normalize_scope`` says otherwise (``"layer"``: normalise within each
layer, then rank over the budget scope). Already-pruned weights get ``-inf`` so that they rank
below everything and never come back.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from skscreen.pruning._base import ABS_MOMENTS, CLASS_MOMENTS
from skscreen.stats import anova_f_scores, f_test_possible

__all__ = [
    "LayerView",
    "normalize",
    "HybridScreeningScorer",
    "MagnitudeScorer",
    "LAMPScorer",
    "ActivationStatsScorer",
    "make_scorer",
    "NORMALIZERS",
]

NORMALIZERS = ("minmax", "max", "rank")
NORMALIZE_SCOPES = (None, "global", "layer")


@dataclass
class LayerView:
    """What a scorer may look at for one prunable layer.

    Attributes
    ----------
    name : str
    weight : torch.Tensor
        Effective (masked) weight: ``(out, in)`` for a ``Linear``, ``(out, in / groups,
        *kernel)`` for a convolution.
    mask : torch.Tensor
        Current 0/1 mask, same shape.
    moments : ClassMoments or None
        Per-class moments of the layer's input units over the last epoch: the features of a
        ``Linear`` input (last dimension), the spatially averaged input channels of a
        convolution.
    abs_moments : ClassMoments or None
        Moments of ``|input|`` per input unit over the last epoch (one pooled class).
    groups : int, default=1
        The convolution's ``groups`` (1 for a ``Linear``).
    """

    name: str
    weight: torch.Tensor
    mask: torch.Tensor
    moments: object = None
    abs_moments: object = None
    groups: int = 1

    def broadcast(self, per_input):
        """A per-input-unit tensor (length ``in``) laid out like the weight.

        Entry ``weight[o, i, ...]`` of group ``g = o // (out / groups)`` reads input unit
        ``g * (in / groups) + i``: every weight gets the value of the input it reads. The
        result is an expanded view (see :func:`broadcast_to_weight`): read it, or ``.clone()``
        it before writing into it.
        """
        return broadcast_to_weight(per_input, self.weight.shape, self.groups)


def broadcast_to_weight(per_input, shape, groups=1):
    """Map per-input-unit values onto a ``Linear``/convolution weight of ``shape``.

    The result is an expanded view, no copy of the values per weight: with one group it
    shares ``per_input``'s memory (every row reads the same entries), with several its
    trailing kernel dimensions have stride 0. In-place operations on it fail or write through
    to ``per_input``: ``.clone()`` it for a tensor of your own.

    >>> import torch
    >>> broadcast_to_weight(torch.tensor([10.0, 20.0, 30.0, 40.0]), (4, 2, 1), groups=2)[:, :, 0]
    tensor([[10., 20.],
            [10., 20.],
            [30., 40.],
            [30., 40.]])
    """
    out, per_group = int(shape[0]), int(shape[1])
    if per_input.shape[0] != per_group * groups:
        raise ValueError(
            f"{per_input.shape[0]} input statistics for a weight of shape {tuple(shape)} with "
            f"groups={groups}: the layer's input is not what its statistics were taken on."
        )
    if groups == 1:  # every row reads the same inputs: a view, nothing copied
        values = per_input[None, :].expand(out, per_group)
    else:
        group_of_row = torch.arange(out, device=per_input.device) // (out // groups)
        index = group_of_row[:, None] * per_group + torch.arange(per_group, device=per_input.device)
        values = per_input[index]  # (out, in / groups)
    return values.reshape(out, per_group, *([1] * (len(shape) - 2))).expand(*shape)


def check_mix(alpha, normalize):
    """Validate the two parameters of a screening/magnitude mix; returns them."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    if normalize not in NORMALIZERS:
        raise ValueError(f"Unknown normalize={normalize!r}; use one of {NORMALIZERS}.")
    return float(alpha), normalize


def check_normalize_scope(normalize_scope):
    """Validate ``normalize_scope`` (``None``, ``"global"`` or ``"layer"``); returns it."""
    if normalize_scope not in NORMALIZE_SCOPES:
        raise ValueError(
            f"Unknown normalize_scope={normalize_scope!r}; use None, 'global' or 'layer'."
        )
    return normalize_scope


def normalize(values, method="minmax"):
    """Normalise a 1-D tensor to ``[0, 1]``: ``"minmax"``, ``"max"`` (divide by max) or ``"rank"``.

    >>> import torch
    >>> normalize(torch.tensor([1.0, 3.0, 2.0]), "minmax").tolist()
    [0.0, 1.0, 0.5]
    >>> normalize(torch.tensor([1.0, 3.0, 2.0]), "rank").tolist()
    [0.0, 1.0, 0.5]
    """
    values = values.to(torch.float64)
    if values.numel() == 0:
        return values
    if method in ("minmax", "max"):
        scale = _linear_scale([values], [None], method)
        return torch.zeros_like(values) if scale is None else _scaled(values, scale)
    if method == "rank":
        if values.numel() == 1:
            return torch.zeros_like(values)
        # average ranks of ties, scaled to [0, 1]
        from scipy.stats import rankdata

        r = rankdata(values.cpu().numpy(), method="average") - 1.0
        return torch.as_tensor(r / (values.numel() - 1), dtype=torch.float64, device=values.device)
    raise ValueError(f"Unknown normalize={method!r}; use one of {NORMALIZERS}.")


def warn_no_f_test(stacklevel=3):  # pragma: no mutate (frame tested outside mutmut)
    """The warning of a step decided without the screening term (see :func:`f_test_possible`)."""
    warnings.warn(
        "The statistics of this epoch cannot give an ANOVA F-test (it needs samples of two "
        "classes, more samples than classes): this step ranks by magnitude alone. Give each "
        "partial_fit call (epoch) samples of at least two classes for screening to count.",
        UserWarning,
        stacklevel=stacklevel,  # pragma: no mutate (mutmut's trampolines add frames)
    )


def input_f_scores(moments, device):
    """F-score of each input unit for ranking, a float64 tensor on ``device``: nan (constant)
    -> 0, inf (separating) -> twice the largest finite F (at least 2).

    Computed in the statistics' own array type (numpy for CPU batches, torch on their
    device); only the F vector is converted, once.
    """
    f = torch.as_tensor(anova_f_scores(moments), dtype=torch.float64, device=device)
    f = torch.nan_to_num(f, nan=0.0, posinf=-1.0)  # -1: a marker below every F
    separating = f == -1.0
    top = max(float(f.max()), 1.0) if f.numel() else 1.0
    return f.masked_fill(separating, 2.0 * top)


def mix(components, alive, weights, scope, method):
    """``sum_i weights[i] * norm(component_i)`` over alive entries; ``-inf`` on the others.

    ``components`` is a list (one per criterion) of per-layer tensors, ``alive`` the
    per-layer boolean tensors of entries still present; normalisation runs over all layers
    together (``scope="global"``) or over each layer (``"layer"``).
    """
    out = [torch.zeros(a.shape, dtype=torch.float64, device=a.device) for a in alive]
    n_alive = [int(torch.count_nonzero(a)) for a in alive]  # once, for every component
    groups = [list(range(len(alive)))] if scope == "global" else [[i] for i in range(len(alive))]
    for comp, w in zip(components, weights):
        if w == 0:
            continue
        for group in groups:
            if method == "rank":  # ranks need the alive values gathered
                flat = torch.cat([comp[i][alive[i]] for i in group])
                normed = normalize(flat, method)
                start = 0
                for i in group:
                    n = n_alive[i]
                    out[i][alive[i]] += w * normed[start : start + n]
                    start += n
            else:
                _add_scaled(out, comp, alive, n_alive, group, w, method)
    for o, a in zip(out, alive):
        o.masked_fill_(~a, -torch.inf)
    return out


def _linear_scale(values, alive, method):
    """``(lo, div)`` with which ``"minmax"`` (``lo`` the minimum, ``div`` the range) or ``"max"``
    (``lo`` None, ``div`` the largest magnitude) maps the live entries of the float64 tensors
    ``values`` (``alive``: their boolean masks of the entries that count, None where all do) onto
    ``[0, 1]``; None where normalisation gives zeros (one value, all zero, NaN). A NaN anywhere
    gives NaN bounds (0-d tensors, stacked), as a single reduction over the gathered values
    does. One reduction pass per tensor (``aminmax``), over the live entries gathered only
    where some are dead."""

    def live(v, a):
        return v if a is None else v[a]

    if method == "minmax":
        bounds = [torch.aminmax(live(v, a)) for v, a in zip(values, alive)]
        lo = torch.stack([b.min for b in bounds]).min()
        hi = torch.stack([b.max for b in bounds]).max()
        div = hi - lo
    else:
        lo = None
        div = torch.stack([live(v, a).abs().max() for v, a in zip(values, alive)]).max()
    return (lo, div) if div > 0 else None


def _scaled(v, scale, w=None):
    """``w * (v - lo) / div`` (``w`` None: 1), in one new tensor, the operations in that order."""
    lo, div = scale
    out = v.sub(lo) if lo is not None else v.clone()
    out.div_(div)
    return out if w is None else out.mul_(w)


def _add_scaled(out, comp, alive, n_alive, group, w, method):
    """``out[i] += w * normalize(alive values)`` for ``"minmax"``/``"max"``, computed on the
    whole tensors (the dead entries are overwritten by the caller): the same arithmetic per
    entry as :func:`normalize` on the gathered values (one :func:`_linear_scale` for both),
    without gathering and scattering. ``n_alive``: the number of alive entries of each layer."""
    group = [i for i in group if n_alive[i]]
    if not group:
        return
    values = [comp[i].to(torch.float64) for i in group]
    masks = [None if n_alive[i] == alive[i].numel() else alive[i] for i in group]
    scale = _linear_scale(values, masks, method)
    if scale is None:  # normalize gives zeros
        return
    for v, i in zip(values, group):
        out[i].add_(_scaled(v, scale, w))


class MixScorer:
    """Base of the two-component scorers: ``alpha`` on the screening term, ``normalize`` and
    ``normalize_scope`` (where each component is normalised; ``None``: the budget scope)."""

    def __init__(self, alpha=0.5, normalize="minmax", normalize_scope=None):
        self.alpha, self.normalize = check_mix(alpha, normalize)
        self.normalize_scope = check_normalize_scope(normalize_scope)

    def normalization_scope(self, scope):
        """The scope the components are normalised over when the budget scope is ``scope``."""
        return scope if self.normalize_scope is None else self.normalize_scope

    @property
    def requires(self):
        """Per-class moments, collected only when the screening term has weight."""
        return frozenset({CLASS_MOMENTS}) if self.alpha > 0 else frozenset()

    def __repr__(self):
        return (
            f"{type(self).__name__}(alpha={self.alpha}, normalize={self.normalize!r}, "
            f"normalize_scope={self.normalize_scope!r})"
        )


class HybridScreeningScorer(MixScorer):
    """Weight-level screening (WLS): ``alpha * norm(F) + (1 - alpha) * norm(|w|)``.

    ``F`` of weight ``w_ji`` is the ANOVA F-score of its input unit ``i`` over the last
    epoch (the contribution ``w_ji a_i`` has the same F as ``a_i``), broadcast along the row.

    Parameters
    ----------
    alpha : float in [0, 1], default=0.5
        Weight on the screening score; 0 is pure magnitude, 1 pure screening.
    normalize : {"minmax", "max", "rank"}, default="minmax"
    normalize_scope : {"global", "layer"} or None, default=None
        Where ``norm`` runs: over the weights of all layers together (``"global"``) or within
        each layer (``"layer"``), in both cases before the ranking over the budget scope.
        ``None`` follows the budget scope (the behaviour before this option existed).

    Examples
    --------
    Normalised within each layer, the largest weight of *every* layer scores 1:

    >>> import torch
    >>> from skscreen.pruning.scorers import LayerView
    >>> views = [LayerView("a", torch.tensor([[1.0, 2.0]]), torch.ones(1, 2)),
    ...          LayerView("b", torch.tensor([[4.0, 8.0]]), torch.ones(1, 2))]
    >>> [s.tolist() for s in HybridScreeningScorer(alpha=0.0, normalize="max")(views)]
    [[[0.125, 0.25]], [[0.5, 1.0]]]
    >>> scorer = HybridScreeningScorer(alpha=0.0, normalize="max", normalize_scope="layer")
    >>> [s.tolist() for s in scorer(views)]
    [[[0.5, 1.0]], [[0.5, 1.0]]]
    """

    def screening_scores(self, layers):
        """The screening component, one tensor per layer shaped like its weight: the F of the
        input unit each weight reads; None when the epoch's statistics cannot give an F-test
        (:func:`f_test_possible`). A subclass may read another per-weight feature."""
        if any(lv.moments is None for lv in layers):
            raise RuntimeError("Screening scores need input statistics from a training epoch.")
        if not all(f_test_possible(lv.moments) for lv in layers):
            return None
        return [lv.broadcast(input_f_scores(lv.moments, lv.weight.device)) for lv in layers]

    def __call__(self, layers, scope="global"):
        magnitude = [lv.weight.abs().to(torch.float64) for lv in layers]
        alpha = self.alpha
        # with alpha 0 the screening term has weight 0 and is never computed
        screening = self.screening_scores(layers) if alpha > 0 else magnitude
        if screening is None:
            warn_no_f_test()
            screening, alpha = magnitude, 0.0  # said so: magnitude decides, whatever alpha
        alive = [lv.mask.bool() for lv in layers]
        return mix(
            [screening, magnitude],
            alive,
            [alpha, 1.0 - alpha],
            self.normalization_scope(scope),
            self.normalize,
        )


class MagnitudeScorer(HybridScreeningScorer):
    """Magnitude pruning (Han et al. 2015): ``|w|``; the ``alpha = 0`` end of the hybrid.

    Parameters
    ----------
    normalize : {"minmax", "max", "rank"}, default="minmax"
    normalize_scope : {"global", "layer"} or None, default=None
        ``"layer"`` with ``normalize="max"`` ranks ``|w| / max |w|`` of its layer globally
        (a layer-normalised magnitude); see also :class:`LAMPScorer`.
    """

    def __init__(self, normalize="minmax", normalize_scope=None):
        super().__init__(alpha=0.0, normalize=normalize, normalize_scope=normalize_scope)


def lamp_scores(weight):
    """LAMP score of every entry of ``weight`` (any shape), float64, same shape.

    ``w^2 / sum of w'^2 over the entries w' with |w'| >= |w|``: the largest entry scores 1.
    Ties count each other (the sum includes every entry of the same magnitude), so the score
    does not depend on the order of the entries.

    >>> import torch
    >>> lamp_scores(torch.tensor([3.0, -1.0, 2.0, 0.0])).tolist()
    [1.0, 0.07142857142857142, 0.3076923076923077, 0.0]
    """
    sq = weight.detach().to(torch.float64).reshape(-1) ** 2
    if sq.numel() == 0:
        return sq.reshape(weight.shape)
    values, order = torch.sort(sq, descending=True, stable=True)
    csum = torch.cumsum(values, 0)
    # for ties, the sum runs to the last entry of the same value
    last = torch.searchsorted(-values, -values, right=True) - 1
    denom = torch.empty_like(sq)
    denom[order] = csum[last]
    out = torch.where(denom > 0, sq / denom.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
    return out.reshape(weight.shape)


class LAMPScorer:
    """Layer-adaptive magnitude pruning (LAMP; Lee, Park, Mo, Ahn & Shin, ICLR 2021).

    The score of weight ``w`` of a layer is ``w^2 / sum of w'^2`` over the weights ``w'`` of
    the same layer with ``|w'| >= |w|`` (still alive), and scores are ranked over the budget
    scope. Every layer's largest weight scores 1, so no layer is emptied first; within a layer
    the order is that of ``|w|``. No parameters; no input statistics.

    Examples
    --------
    >>> import torch
    >>> from skscreen.pruning.scorers import LayerView
    >>> view = LayerView("fc", torch.tensor([[3.0, -1.0], [2.0, 0.5]]), torch.ones(2, 2))
    >>> [round(v, 4) for v in LAMPScorer()([view])[0].reshape(-1).tolist()]
    [1.0, 0.0714, 0.3077, 0.0175]
    """

    requires = frozenset()  # |w| only

    def __call__(self, layers, scope="global"):
        scores = []
        for lv in layers:
            alive = lv.mask.bool()
            s = torch.full(
                lv.weight.shape, -torch.inf, dtype=torch.float64, device=lv.weight.device
            )
            s[alive] = lamp_scores(lv.weight[alive])
            scores.append(s)
        return scores

    def __repr__(self):
        return "LAMPScorer()"


class ActivationStatsScorer:
    """Activation-statistics criterion, *inspired by* arXiv 2410.16151.

    Scores each connection by the distribution over the data of its contribution
    ``|w_ji a_i|``: ``mean + z * std`` of ``|w_ji| |a_i|``, i.e.
    ``|w_ji| (E|a_i| + z std|a_i|)``, from online moments of ``|a_i|`` collected by the same
    hooks and statistics core as the screening criterion. ``z=0`` (default) is the mean
    contribution. Only the paper's abstract was available: this reading is ours.

    Parameters
    ----------
    z : float, default=0.0
        Weight of the standard deviation of the contribution.
    """

    requires = frozenset({ABS_MOMENTS})

    def __init__(self, z=0.0):
        self.z = float(z)

    def __call__(self, layers, scope="global"):
        scores = []
        for lv in layers:
            if lv.abs_moments is None:
                raise RuntimeError(
                    "Activation statistics need a training epoch with recorded inputs."
                )
            m = lv.abs_moments
            count, mean0, m2, shift = (
                torch.as_tensor(a, dtype=torch.float64, device=lv.weight.device)
                for a in (m.count_, m.mean_[0], m.m2_[0], m.shift_)
            )  # numpy for CPU batches, tensors on their device otherwise
            mean = mean0 + shift  # one pooled "class"
            std = (m2 / count.sum().clamp_min(1.0)).sqrt()
            unit = mean + self.z * std
            scores.append(lv.weight.abs().to(torch.float64) * lv.broadcast(unit))
        # contributions are comparable across layers as they are: no normalisation needed
        return [s.masked_fill(lv.mask == 0, -torch.inf) for s, lv in zip(scores, layers)]

    def __repr__(self):
        return f"ActivationStatsScorer(z={self.z})"


def make_scorer(name, **params):
    """A scorer from its name: ``"screening"`` (hybrid: ``alpha``, ``normalize``,
    ``normalize_scope``), ``"magnitude"`` (``normalize``, ``normalize_scope``), ``"lamp"``,
    ``"activation"`` (``z``) or ``"extreme-value"`` (see
    :class:`~skscreen.pruning.extreme_value.ExtremeValuePruning`)."""
    if name == "screening":
        return HybridScreeningScorer(**params)
    if name == "magnitude":
        return MagnitudeScorer(**params)
    if name == "lamp":
        return LAMPScorer(**params)
    if name == "activation":
        return ActivationStatsScorer(**params)
    if name in ("extreme-value", "extreme_value", "dpp"):
        from skscreen.pruning.extreme_value import ExtremeValuePruning

        return ExtremeValuePruning(**params)
    raise ValueError(
        f"Unknown scorer {name!r}; use 'screening', 'magnitude', 'lamp', 'activation' or "
        "'extreme-value'."
    )
