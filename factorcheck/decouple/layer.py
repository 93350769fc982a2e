"""What a model's rewrite does with one of its convolutions.

``factorcheck decouple`` (:mod:`factorcheck.decouple.onnx`), ``factorcheck report
--decouple`` (:mod:`factorcheck.report.decouple`) and
:func:`factorcheck.torch.decouple_module` rewrite the same convolutions
(:func:`not_rewritten`), choose ``T`` and keep a layer by the same rule, with the
same reason (:func:`plan_layer`), and bound the error with the same geometry
(:func:`layer_geometry`).  The kernel-level work is :mod:`factorcheck.decouple.plan`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from factorcheck.decouple.bound import _positive_pair
from factorcheck.decouple.plan import (
    _check_choice,
    _choose,
    _prepare,
    _spectrum,
    decoupled_cost,
)
from factorcheck.symbolic.cost import LayerCost

__all__ = ["LayerPlan", "layer_geometry", "not_rewritten", "plan_layer"]



_TARGETS = {"terms": "T = {:g}", "energy": "energy kept >= {:g}",
            "rtol": "relative distance <= {:g}"}


@dataclass(frozen=True)
class LayerPlan:
    """What a plan does with one convolution of a model.

    Attributes
    ----------
    terms : int
        The ``T`` the criterion chooses (:func:`choose_terms`).
    rank : int
        The largest slice rank: ``T >= rank`` is exact.
    relative_distance, energy_kept : float
        Of the nearest ``T``-term kernel (as in :class:`TradeoffRow`).
    standard, decoupled : LayerCost
        Costs of the layer and of its ``T``-term DSC (:func:`decoupled_cost`).
    reason : str
        Why the layer is kept as it is; ``""`` when it is rewritten.

    Examples
    --------
    >>> import numpy as np
    >>> p = plan_layer(np.ones((4, 2, 3, 3)), energy=0.9)     # rank one
    >>> p.terms, p.rank, p.rewritten, p.decoupled.macs, p.standard.macs
    (1, 1, True, 26, 72)
    """

    terms: int
    rank: int
    relative_distance: float
    energy_kept: float
    standard: LayerCost
    decoupled: LayerCost
    reason: str = ""

    @property
    def rewritten(self) -> bool:
        """Whether the plan replaces the layer by its ``T``-term DSC."""
        return not self.reason


def plan_layer(
    kernel: Any,
    *,
    terms: int | None = None,
    energy: float | None = None,
    rtol: float | None = None,
    order: str = "dw-pw",
    layout: str = "OIHW",
    groups: int = 1,
    input_hw: tuple[int, int] = (1, 1),
    output_hw: tuple[int, int] = (1, 1),
) -> LayerPlan:
    """Choose ``T`` for one layer, and keep the layer when that ``T`` is not cheaper.

    The rule every rewrite follows (``factorcheck decouple``, ``report
    --decouple``, :func:`factorcheck.torch.decouple_module`): ``terms`` always
    rewrites, even where it costs more (an exact equivalence test at full
    rank); with ``energy`` or ``rtol`` a layer whose ``T`` needs at least the
    layer's MACs is kept, with the reason.

    Parameters
    ----------
    kernel, terms, energy, rtol, order, layout, groups
        As for :func:`choose_terms`.
    input_hw, output_hw : (int, int)
        The layer's grids, as for :func:`decoupled_cost` (the default counts
        per output position).

    Returns
    -------
    LayerPlan

    Examples
    --------
    >>> import numpy as np
    >>> k = np.random.default_rng(0).normal(size=(8, 4, 3, 3))
    >>> plan_layer(k, terms=9).rewritten                 # forced, though dearer
    True
    >>> print(plan_layer(k, energy=1.0, output_hw=(12, 12)).reason)  # doctest: +ELLIPSIS
    no T meets energy kept >= 1 at lower MAC cost: the smallest, T = 8, costs 78,336 MACs, ...
    """
    (which, value), = _check_choice(terms, energy, rtol).items()
    k, order, groups = _prepare(kernel, order, layout, groups)
    spec = _spectrum(k, order, groups)
    t = _choose(spec, which, float(value))
    standard, dsc = decoupled_cost(k.shape, t, order=order, groups=groups, input_hw=input_hw,
                                   output_hw=output_hw)
    reason = ""
    if which != "terms" and not dsc.macs < standard.macs:
        reason = (f"no T meets {_TARGETS[which].format(value)} at lower MAC cost: the smallest, "
                  f"T = {t}, costs {int(dsc.macs):,} MACs, the layer {int(standard.macs):,}")
    return LayerPlan(t, spec.rank, float(spec.relative_distance[t - 1]),
                     float(spec.energy_kept[t - 1]), standard, dsc, reason)


def not_rewritten(conv_dims: int, shape: tuple[int, ...], groups: int) -> str | None:
    """Why a model's convolution is not rewritten; ``None`` for a standard 2-D one.

    A rewrite (``factorcheck decouple``, ``report --decouple``) replaces
    standard 2-D convolutions: group 1 and more than one tap.

    Parameters
    ----------
    conv_dims : int
        1 or 2 (spatial dimensions).
    shape : tuple of int
        The canonical weight ``(n, m / groups, kh, kw)``.
    groups : int

    Examples
    --------
    >>> not_rewritten(2, (16, 8, 3, 3), 1) is None
    True
    >>> not_rewritten(2, (16, 1, 3, 3), 16)
    'depthwise convolution (group 16): only standard ones (group 1) are rewritten'
    >>> not_rewritten(2, (16, 8, 1, 1), 1)
    '1x1 kernel: already pointwise, nothing to decouple'
    """
    if conv_dims != 2:
        return f"{conv_dims}-D convolution: only 2-D convolutions are rewritten"
    if groups != 1:
        kind = "depthwise" if shape[1] == 1 else "grouped"
        return f"{kind} convolution (group {groups}): only standard ones (group 1) are rewritten"
    if shape[2] * shape[3] == 1:
        return "1x1 kernel: already pointwise, nothing to decouple"
    return None


def layer_geometry(
    kernel_hw: tuple[int, int],
    input_hw: tuple[int, int],
    output_hw: tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
) -> dict[str, Any]:
    """``stride``, ``padding`` and ``dilation`` of a model's layer, for the error bounds.

    The padding is derived from the grids (the padding that gives
    ``output_hw``, all of it at the end), so every padding rule (ONNX
    ``pads``, ``auto_pad=SAME_*``, PyTorch ``padding="same"``) is covered by
    one computation.  :func:`~factorcheck.operator_norm` does not depend on
    where the padding stands, only on the padded input covering the dilated
    kernel, which the real padding does too.

    Examples
    --------
    >>> layer_geometry((3, 3), (2, 2), (2, 2))           # a "SAME" 3x3 conv on a 2x2 map
    {'stride': (1, 1), 'padding': ((0, 2), (0, 2)), 'dilation': (1, 1)}
    >>> layer_geometry((3, 3), (15, 15), (8, 8), stride=2)["padding"]
    ((0, 2), (0, 2))
    """
    step, dil = _positive_pair(stride, "stride"), _positive_pair(dilation, "dilation")
    pads = []
    for k, i, o, s, d in zip(kernel_hw, input_hw, output_hw, step, dil, strict=True):
        pads.append((0, max(0, (o - 1) * s + d * (k - 1) + 1 - i)))
    return {"stride": step, "padding": tuple(pads), "dilation": dil}
