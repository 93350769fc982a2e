"""Cost tables of networks described by hand, as numbers or as polynomials in width and resolution.

:func:`network_table` propagates the spatial size of a
:class:`~factorcheck.network.layers.Network` from its input with
:func:`~factorcheck.symbolic.cost.output_shape` and counts every layer with
:func:`~factorcheck.symbolic.cost.conv_cost` (the one cost function of the
package), so the same code gives integers for ``alpha = 3/4`` at resolution
224 and SymPy polynomials in the symbols :data:`~factorcheck.symbolic.network.ALPHA`
and :data:`~factorcheck.symbolic.network.RHO`.

Conventions
-----------
Width multiplier
    A layer's output channels ``C`` become ``floor(alpha * C)``, computed
    exactly (``alpha`` is held as a :class:`fractions.Fraction`, never a float).
    The network's input channels (3 for an image) are not scaled, nor are the
    outputs of layers built with ``scale_width=False`` (a classifier's 1000
    classes).  A depthwise layer keeps its input's channels (times its multiplier).
Fully connected
    Counted as a 1 x 1 convolution on a 1 x 1 grid whose input channels are the
    flattened features ``C * H * W`` (``flatten=False`` applies it at each
    position instead, as an ONNX ``MatMul`` on a sequence does).
Symbolic form
    With ``alpha=ALPHA`` the widths are ``alpha * C`` (no floor).  With
    ``resolution=RHO`` the input size is taken to be a multiple of the
    network's total stride ``P`` (32 for MobileNet v1): sizes are propagated
    for ``P * t`` with ``t`` a positive integer, where SymPy resolves every
    ``floor`` exactly, and ``t`` is then replaced by ``rho / P``.  The symbolic
    table therefore *equals* the numeric one at every ``alpha`` for which all
    ``alpha * C`` are integers and every ``rho`` that is a multiple of ``P``
    (the tests check a grid).  Division without floor
    (``exact_division=True``) is *not* valid for a stride-2 3 x 3 layer with
    padding 1: the numerator ``rho - 1`` is odd; the floor form gives ``rho/2``.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from fractions import Fraction
from typing import Any

import sympy

from factorcheck.errors import FactorcheckError
from factorcheck.network.layers import Layer, Network, _pair
from factorcheck.network.table import LayerRow, NetworkTable
from factorcheck.symbolic.cost import Size, conv_cost, depthwise_cost, output_shape
from factorcheck.symbolic.derivation import Proof
from factorcheck.symbolic.network import (
    ALPHA,
    RHO,
    parse_alpha,
    resolution_assumption,
    scaling_proof,
    width_assumption,
)
from factorcheck.symbolic.text import Text, text

__all__ = ["network_scaling_proof", "network_table"]

#: Largest input resolution (int64's maximum).
MAX_RESOLUTION = 2**63 - 1


def _resolution(value: Any, network: Network) -> Size:
    if isinstance(value, sympy.Symbol):
        return value
    if isinstance(value, bool):
        raise FactorcheckError(f"resolution: expected an int, got bool {value}")
    try:
        number = operator.index(value)
    except TypeError:
        raise FactorcheckError(
            f"resolution: expected an int or a SymPy symbol, got {value!r}") from None
    if number < network.min_resolution:
        raise FactorcheckError(
            f"resolution: expected an int >= {network.min_resolution} for {network.name}, "
            f"got {number}")
    if number > MAX_RESOLUTION:  # keeps every count printable (Python's 4300-digit str limit)
        raise FactorcheckError(
            f"resolution: expected an int <= 2**63 - 1, got one of {number.bit_length()} bits")
    return number


def _width(layer: Layer, alpha: Fraction | sympy.Expr) -> Size:
    """``floor(alpha * C)`` exactly for a number, ``alpha * C`` for a symbol."""
    channels = layer.out_channels
    if not layer.scale_width:
        return channels  # type: ignore[return-value]
    if not isinstance(alpha, Fraction):
        return alpha * channels
    width = math.floor(alpha * channels)
    if width < 1:
        raise FactorcheckError(
            f"width: alpha * {channels} = {alpha * channels} rounds down to 0 channels; "
            f"expected alpha >= 1/{channels}")
    return width


# ---------------------------------------------------------------- one row


def _layer_row(index: int, layer: Layer, in_shape: tuple, alpha: Any, bias: bool) -> LayerRow:
    """Shapes and counts of one layer at a given input shape (numbers or symbols)."""
    channels, height, width = in_shape
    count_bias = bool(bias and layer.bias)
    if layer.kind == "pool":
        kernel = (height, width) if layer.kernel is None else layer.kernel
        stride = (1, 1) if layer.kernel is None else layer.stride
        out_hw = output_shape((height, width), kernel, stride, layer.padding)
        return LayerRow(index, layer.name, "pool", in_shape, (channels, *out_hw), _pair(kernel),
                        _pair(stride), 1, 0, 0)
    if layer.kind == "fc":
        return _fc_row(index, layer, in_shape, alpha, count_bias)
    out_hw = output_shape((height, width), layer.kernel, layer.stride, layer.padding,
                          layer.dilation)
    if layer.kind == "depthwise":
        out_c, groups = layer.multiplier * channels, channels
        cost = depthwise_cost(out_hw, layer.kernel, channels, multiplier=layer.multiplier,
                              bias=count_bias)
    else:
        out_c, groups = _width(layer, alpha), layer.groups
        cost = conv_cost(out_hw, layer.kernel, channels, out_c, groups=groups, bias=count_bias)
    return LayerRow(index, layer.name, layer.type, in_shape, (out_c, *out_hw),
                    _pair(layer.kernel), _pair(layer.stride), groups, cost.macs, cost.params,
                    count_bias)


def _fc_row(index: int, layer: Layer, in_shape: tuple, alpha: Any, bias: bool) -> LayerRow:
    """A fully connected layer as a 1 x 1 convolution (on the flattened features by default)."""
    channels, height, width = in_shape
    if layer.flatten:
        channels, height, width = channels * height * width, 1, 1
    out_c = _width(layer, alpha)
    cost = conv_cost((height, width), 1, channels, out_c, bias=bias)
    return LayerRow(index, layer.name, "fc", in_shape, (out_c, height, width), None, None, 1,
                    cost.macs, cost.params, bias)


# ---------------------------------------------------------------- whole networks


def _propagate(network: Network, size: Size, alpha: Any, bias: bool) -> list[LayerRow]:
    shape: tuple = (network.in_channels, size, size)
    rows = []
    for index, layer in enumerate(network.layers, start=1):
        try:
            row = _layer_row(index, layer, shape, alpha, bias)
        except FactorcheckError as err:
            raise FactorcheckError(
                f"{network.name}, layer {index} ({layer.name}) at input {_shape_text(shape)}: "
                f"{err}") from None
        rows.append(row)
        shape = row.output_shape
    return rows


def _shape_text(shape: tuple) -> str:
    return "x".join(sympy.sstr(v) for v in shape)


def _substitute(row: LayerRow, mapping: dict) -> LayerRow:
    def sub(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(sub(v) for v in value)
        return value.xreplace(mapping) if isinstance(value, sympy.Basic) else value

    fields = ("input_shape", "output_shape", "kernel", "stride", "groups", "macs", "params")
    return dataclasses.replace(row, **{f: sub(getattr(row, f)) for f in fields})


def network_table(network: Network, *, alpha: Any = 1, resolution: Any = None,
                  bias: bool = False) -> NetworkTable:
    """Per-layer MACs and parameters of a network, as numbers or SymPy expressions.

    Parameters
    ----------
    network : Network
        The architecture.
    alpha : number, str or sympy.Symbol
        Width multiplier (see :func:`parse_alpha`); :data:`ALPHA` for the symbolic form.
    resolution : int or sympy.Symbol, optional
        Input height = width (default ``network.resolution``); :data:`RHO` for the
        symbolic form, which assumes a multiple of ``network.total_stride``.
    bias : bool
        Count a bias in every convolution and fully connected layer.

    Returns
    -------
    NetworkTable

    Raises
    ------
    FactorcheckError
        ``alpha`` or ``resolution`` out of range, or a layer that does not fit
        (the message names the layer and its input shape).

    Examples
    --------
    >>> from factorcheck.network import conv, depthwise, pointwise
    >>> net = Network("n", 3, 32, (conv("c", 8, 3, stride=2, padding=1), depthwise("dw", 3, 2, 1),
    ...                            pointwise("pw", 16)))
    >>> network_table(net, alpha="1/2").total_macs   # 16*16*4*27 + 8*8*4*9 + 8*8*8*4
    32000
    >>> network_table(net, alpha=ALPHA, resolution=RHO).total_macs   # 54 + 9/2 linear in alpha
    8*alpha**2*rho**2 + 117*alpha*rho**2/2
    """
    alpha = parse_alpha(alpha)
    size = _resolution(network.resolution if resolution is None else resolution, network)
    if not isinstance(size, sympy.Symbol):
        rows = _propagate(network, size, alpha, bias)
        return NetworkTable(network.name, tuple(rows), alpha, (network.in_channels, size, size),
                            bias, _assumption(alpha, None))
    stride = network.total_stride
    t = sympy.Dummy("t", positive=True, integer=True)
    rows = _propagate(network, stride * t, alpha, bias)
    rows = [_substitute(row, {t: size / stride}) for row in rows]
    return NetworkTable(network.name, tuple(rows), alpha, (network.in_channels, size, size),
                        bias, _assumption(alpha, (size, stride)))


def _assumption(alpha: Any, resolution: tuple | None) -> str:
    return str(_assumption_text(alpha, resolution))


def _assumption_text(alpha: Any, resolution: tuple | None) -> Text:
    """What a symbolic table assumes of its width and resolution (empty if numeric)."""
    parts = [] if isinstance(alpha, Fraction) else [width_assumption(alpha)]
    if resolution is not None:
        parts.append(resolution_assumption(*resolution))
    return text(*(part for index, item in enumerate(parts)
                  for part in ([item] if index == 0 else ["; ", item])))


def network_scaling_proof(network: Network, *, bias: bool = False) -> Proof:
    """How a network's MACs and parameters scale with width ``alpha`` and resolution ``rho``.

    Builds the symbolic table (``alpha = ALPHA``, ``resolution = RHO``) and
    checks its totals with :func:`factorcheck.symbolic.network.scaling_proof`.

    Returns
    -------
    Proof

    Raises
    ------
    FactorcheckError
        The symbolic totals are not polynomials (some floor could not be resolved).

    Examples
    --------
    >>> from factorcheck.network import conv, fully_connected, pool
    >>> net = Network("n", 3, 32, (conv("c", 8, 3, stride=2, padding=1), pool("gap"),
    ...                            fully_connected("fc", 10)))
    >>> proof = network_scaling_proof(net)
    >>> proof.ok, proof.derivations[0].conclusion
    (True, 54*alpha*rho**2 + 80*alpha)
    """
    table = network_table(network, alpha=ALPHA, resolution=RHO, bias=bias)
    subtotals = [(share.type, share.macs) for share in table.shares()]
    return scaling_proof(network.name, table.total_macs, table.total_params, subtotals,
                         rho_0=network.resolution,
                         assumption=_assumption_text(ALPHA, (RHO, network.total_stride)))
