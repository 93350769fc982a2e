"""Exact output sizes, operation counts and parameter counts of 2-D convolutions.

Every function accepts Python ints *or* SymPy expressions for every size, and
the same code computes both: ``conv_cost((6, 6), 3, 3, 16)`` gives integers and
``conv_cost((D_p, D_p), D_k, M, N)`` gives the formula, so the numbers and the
algebra cannot drift apart.  Integer arguments are validated (a
:class:`~factorcheck.errors.FactorcheckError` says what was expected and what
was got); symbolic arguments are rejected only when their assumptions make them
impossible (a symbol declared negative as a size, say).

Conventions
-----------
Shapes
    ``out_shape``, ``input_shape``, ``kernel``, ``stride`` and ``dilation`` are
    a scalar (the same on both spatial axes) or a pair ``(height, width)``.
    ``padding`` is a scalar, a pair ``(ph, pw)`` of symmetric paddings, or a
    pair of pairs ``((top, bottom), (left, right))``.
MACs
    Multiply-accumulates: one per product of a weight and an input value that
    the dense convolution forms, padded zeros included (as frameworks count).
    For a convolution with ``groups = g`` each output value is a sum of
    ``T = kh * kw * M / g`` products ("taps"), so
    ``MACs = Hp * Wp * N * kh * kw * M / g``.
Additions
    The additions that reduce the ``T`` products of one output value to a
    single number: ``T - 1`` per output value (the first product starts the
    sum, each further product, whether from another spatial tap or another
    input channel, costs one addition), plus one per output value for the
    bias when ``bias=True``.  ``additions = Hp * Wp * N * (T - 1 + bias)``.
FLOPs
    ``MACs + additions`` exactly: one multiplication per MAC plus the additions
    above.  Without bias this is ``2 * MACs - Hp * Wp * N``; with bias it is
    ``2 * MACs``, the "FLOPs = 2 MACs" rule of thumb.
Parameters
    ``N * kh * kw * M / g`` weights, plus ``N`` biases when ``bias=True``.
Padding-aware MACs
    The multiplications whose input value is *not* a padded zero.  A product
    touches padding on the height axis or the width axis independently, so
    the count factorizes: ``valid_taps(height) * valid_taps(width) * N * M / g``
    where :func:`valid_taps` counts, along one axis, the pairs (output
    position, kernel tap) that land inside the input.

Depthwise separable convolution is a depthwise convolution (``groups = M``,
``d * M`` outputs for depth multiplier ``d``) followed by a pointwise (1 x 1)
convolution from ``d * M`` to ``N`` channels on the same output grid.

References
----------
.. [1] A. G. Howard et al., "MobileNets: Efficient Convolutional Neural
   Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from factorcheck.symbolic.geometry import (
    Size,
    _axes,
    _exact_div,
    _pair,
    _size,
    output_shape,
    output_size,
    valid_taps,
)

__all__ = [
    "LayerComparison",
    "LayerCost",
    "SeparableCost",
    "compare_layer",
    "conv_cost",
    "depthwise_cost",
    "output_shape",
    "output_size",
    "padding_aware_macs",
    "pointwise_cost",
    "separable_cost",
    "standard_cost",
    "valid_taps",
]


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class LayerCost:
    """Exact counts for one convolution layer (see the module's conventions).

    Attributes
    ----------
    macs : int or sympy.Expr
        Multiply-accumulates of the dense convolution (padded zeros included).
    additions : int or sympy.Expr
        Additions reducing each output's products to one value, bias included if asked.
    flops : int or sympy.Expr
        ``macs + additions``.
    params : int or sympy.Expr
        Weights, plus biases if asked.

    Examples
    --------
    >>> LayerCost(macs=2, additions=1, flops=3, params=2) + LayerCost(1, 0, 1, 1)
    LayerCost(macs=3, additions=1, flops=4, params=3)
    """

    macs: Size
    additions: Size
    flops: Size
    params: Size

    def __add__(self, other: LayerCost) -> LayerCost:
        if not isinstance(other, LayerCost):
            return NotImplemented
        return LayerCost(
            self.macs + other.macs,
            self.additions + other.additions,
            self.flops + other.flops,
            self.params + other.params,
        )


@dataclass(frozen=True)
class SeparableCost:
    """Costs of a depthwise separable convolution, per stage.

    Attributes
    ----------
    depthwise : LayerCost
        The depthwise stage (``groups = M``, ``d * M`` output channels).
    pointwise : LayerCost
        The pointwise (1 x 1) stage from ``d * M`` to ``N`` channels.

    Examples
    --------
    >>> cost = separable_cost(6, 3, 3, 16)
    >>> cost.total.macs == cost.depthwise.macs + cost.pointwise.macs == 2700
    True
    """

    depthwise: LayerCost
    pointwise: LayerCost

    @property
    def total(self) -> LayerCost:
        """The two stages together."""
        return self.depthwise + self.pointwise


@dataclass(frozen=True)
class LayerComparison:
    """A standard convolution and its depthwise separable replacement, side by side.

    Attributes
    ----------
    output_shape : tuple
        ``(Hp, Wp)``, shared by both.
    standard : LayerCost
        Dense counts of the standard convolution.
    separable : SeparableCost
        Dense counts of the depthwise separable convolution.
    standard_macs_padding_aware : int or sympy.Expr
        Multiplications of the standard convolution that do not touch padding.
    separable_macs_padding_aware : int or sympy.Expr
        The same for the separable convolution (only its depthwise stage sees padding).

    Examples
    --------
    >>> cmp = compare_layer(11, 3, 3, 16, stride=2, padding=1)
    >>> cmp.output_shape, cmp.standard.macs, cmp.separable.total.macs
    ((6, 6), 15552, 2700)
    >>> cmp.mac_ratio
    25/144
    """

    output_shape: tuple[Size, Size]
    standard: LayerCost
    separable: SeparableCost
    standard_macs_padding_aware: Size
    separable_macs_padding_aware: Size

    @property
    def mac_ratio(self) -> sympy.Expr:
        """Separable MACs over standard MACs, as an exact SymPy number or expression."""
        return sympy.Mul(sympy.sympify(self.separable.total.macs),
                         sympy.Pow(sympy.sympify(self.standard.macs), -1))

    @property
    def param_ratio(self) -> sympy.Expr:
        """Separable parameters over standard parameters, exact."""
        return sympy.Mul(sympy.sympify(self.separable.total.params),
                         sympy.Pow(sympy.sympify(self.standard.params), -1))


# ---------------------------------------------------------------- dense counts


def conv_cost(
    out_shape: Size | tuple[Size, Size],
    kernel: Size | tuple[Size, Size],
    in_channels: Size,
    out_channels: Size,
    *,
    groups: Size = 1,
    bias: bool = False,
) -> LayerCost:
    """Dense counts of a (possibly grouped) 2-D convolution.

    Parameters
    ----------
    out_shape : scalar or pair
        Output spatial size ``(Hp, Wp)`` (see :func:`output_shape`).
    kernel : scalar or pair
        ``(kh, kw)``.
    in_channels, out_channels : int or sympy.Expr
        ``M`` and ``N``; for ints both must be divisible by ``groups``.
    groups : int or sympy.Expr
        ``g``: 1 standard, ``M`` depthwise.
    bias : bool
        Count one bias per output channel (parameters) and per output value (additions).

    Returns
    -------
    LayerCost

    Notes
    -----
    .. math:: \\mathrm{MACs} = H_p W_p N k_h k_w M / g, \\quad
              \\mathrm{additions} = H_p W_p N (k_h k_w M / g - 1 + [\\mathrm{bias}])

    Examples
    --------
    >>> conv_cost(6, 3, 3, 16)   # 6*6*16*(3*3*3) = 15552 MACs; 6*6*16*26 additions
    LayerCost(macs=15552, additions=14976, flops=30528, params=432)
    >>> conv_cost(6, 3, 4, 8, groups=2, bias=True).params   # 8*3*3*2 + 8
    152
    >>> import sympy
    >>> D_p, D_k, M, N = sympy.symbols("D_p D_k M N", positive=True, integer=True)
    >>> conv_cost(D_p, D_k, M, N).macs
    D_k**2*D_p**2*M*N
    """
    hp, wp = _pair(out_shape, "out_shape")
    kh, kw = _pair(kernel, "kernel")
    m = _size(in_channels, "in_channels")
    n = _size(out_channels, "out_channels")
    g = _size(groups, "groups")
    m_per_group = _exact_div(m, g, f"in_channels (groups={g})")
    _exact_div(n, g, f"out_channels (groups={g})")
    taps = kh * kw * m_per_group
    outputs = hp * wp * n
    macs = outputs * taps
    additions = outputs * (taps - 1 + int(bias))
    params = n * taps + (n if bias else 0)
    return LayerCost(macs=macs, additions=additions, flops=macs + additions, params=params)


def standard_cost(
    out_shape: Size | tuple[Size, Size],
    kernel: Size | tuple[Size, Size],
    in_channels: Size,
    out_channels: Size,
    *,
    bias: bool = False,
) -> LayerCost:
    """Dense counts of a standard convolution (``groups = 1``).

    The reference analysis's ``D_p^2 D_k^2 M N`` for square sizes.

    Examples
    --------
    >>> standard_cost(6, 3, 3, 16).macs   # 6*6*3*3*3*16
    15552
    """
    return conv_cost(out_shape, kernel, in_channels, out_channels, bias=bias)


def depthwise_cost(
    out_shape: Size | tuple[Size, Size],
    kernel: Size | tuple[Size, Size],
    channels: Size,
    *,
    multiplier: Size = 1,
    bias: bool = False,
) -> LayerCost:
    """Dense counts of a depthwise convolution with depth multiplier ``d``.

    Each of the ``M`` input channels is convolved with ``d`` kernels of its
    own, giving ``d * M`` output channels (``groups = M``).

    Examples
    --------
    >>> depthwise_cost(6, 3, 3).macs   # 6*6*3*3*3, the reference's D_p^2 D_k^2 M
    972
    >>> depthwise_cost(6, 3, 3, multiplier=2).params   # 2*3 kernels of 3*3
    54
    """
    m = _size(channels, "channels")
    d = _size(multiplier, "multiplier")
    return conv_cost(out_shape, kernel, m, d * m, groups=m, bias=bias)


def pointwise_cost(
    out_shape: Size | tuple[Size, Size],
    in_channels: Size,
    out_channels: Size,
    *,
    bias: bool = False,
) -> LayerCost:
    """Dense counts of a pointwise (1 x 1) convolution.

    Examples
    --------
    >>> pointwise_cost(6, 3, 16).macs   # 6*6*3*16, the reference's D_p^2 M N
    1728
    """
    return conv_cost(out_shape, 1, in_channels, out_channels, bias=bias)


def separable_cost(
    out_shape: Size | tuple[Size, Size],
    kernel: Size | tuple[Size, Size],
    in_channels: Size,
    out_channels: Size,
    *,
    multiplier: Size = 1,
    bias: bool = False,
) -> SeparableCost:
    """Dense counts of a depthwise separable convolution (depthwise, then pointwise).

    Parameters
    ----------
    out_shape, kernel, in_channels, out_channels
        As in :func:`conv_cost`; ``out_shape`` is the grid of both stages.
    multiplier : int or sympy.Expr
        Depth multiplier ``d`` of the depthwise stage.
    bias : bool
        Give *each* stage a bias (as two framework layers with bias do).  For a
        single bias after the pointwise stage (Keras ``SeparableConv2D``) add
        ``depthwise_cost(...)`` and ``pointwise_cost(..., bias=True)`` yourself.

    Returns
    -------
    SeparableCost

    Examples
    --------
    >>> separable_cost(6, 3, 3, 16).total
    LayerCost(macs=2700, additions=2016, flops=4716, params=75)
    """
    m = _size(in_channels, "in_channels")
    d = _size(multiplier, "multiplier")
    return SeparableCost(
        depthwise=depthwise_cost(out_shape, kernel, m, multiplier=d, bias=bias),
        pointwise=pointwise_cost(out_shape, d * m, out_channels, bias=bias),
    )


# ---------------------------------------------------------------- padding-aware counts


def padding_aware_macs(
    input_shape: Size | tuple[Size, Size],
    kernel: int | tuple[int, int],
    in_channels: Size,
    out_channels: Size,
    *,
    stride: Size | tuple[Size, Size] = 1,
    padding: object = 0,
    dilation: Size | tuple[Size, Size] = 1,
    groups: Size = 1,
) -> Size:
    """Multiplications of a convolution that do not touch padded zeros.

    ``valid_taps(height) * valid_taps(width) * N * M / g``: whether a product
    reads padding is decided on each axis separately, so the count factorizes.

    Examples
    --------
    >>> padding_aware_macs(11, 3, 3, 16, stride=2, padding=1)   # 16*16*3*16
    12288
    >>> padding_aware_macs(11, 3, 3, 3, stride=2, padding=1, groups=3)   # 16*16*3
    768
    """
    rows, cols = (valid_taps(*axis) for axis in _axes(input_shape, kernel, stride, padding,
                                                      dilation))
    m = _size(in_channels, "in_channels")
    n = _size(out_channels, "out_channels")
    g = _size(groups, "groups")
    _exact_div(n, g, f"out_channels (groups={g})")
    return rows * cols * n * _exact_div(m, g, f"in_channels (groups={g})")


def compare_layer(
    input_shape: Size | tuple[Size, Size],
    kernel: int | tuple[int, int],
    in_channels: Size,
    out_channels: Size,
    *,
    stride: Size | tuple[Size, Size] = 1,
    padding: object = 0,
    dilation: Size | tuple[Size, Size] = 1,
    multiplier: Size = 1,
    bias: bool = False,
) -> LayerComparison:
    """A standard convolution layer against its depthwise separable replacement.

    Both produce the same ``(Hp, Wp, N)`` output; only the depthwise stage of
    the separable layer sees the padding (the pointwise stage is 1 x 1).

    Returns
    -------
    LayerComparison

    Examples
    --------
    >>> cmp = compare_layer(11, 3, 3, 16, stride=2, padding=1)
    >>> cmp.standard_macs_padding_aware, cmp.separable_macs_padding_aware   # 768 + 1728
    (12288, 2496)
    """
    geometry = {"stride": stride, "padding": padding, "dilation": dilation}
    out = output_shape(input_shape, kernel, **geometry)
    m = _size(in_channels, "in_channels")
    d = _size(multiplier, "multiplier")
    return LayerComparison(
        output_shape=out,
        standard=standard_cost(out, kernel, m, out_channels, bias=bias),
        separable=separable_cost(out, kernel, m, out_channels, multiplier=d, bias=bias),
        standard_macs_padding_aware=padding_aware_macs(
            input_shape, kernel, m, out_channels, **geometry
        ),
        separable_macs_padding_aware=padding_aware_macs(
            input_shape, kernel, m, d * m, groups=m, **geometry
        ) + pointwise_cost(out, d * m, out_channels).macs,
    )
