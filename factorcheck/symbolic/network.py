"""Per-layer cost tables of whole networks, as numbers or as polynomials in width and resolution.

A :class:`Network` is an input (channels and a square resolution) followed by a
chain of :class:`Layer` objects: standard, grouped and pointwise convolutions
(:func:`conv`, :func:`pointwise`), depthwise convolutions with a depth
multiplier (:func:`depthwise`), fully connected layers (:func:`fully_connected`)
and pooling (:func:`pool`).  :func:`network_table` propagates the spatial size
from the input with :func:`~factorcheck.symbolic.cost.output_shape` and counts
every layer with :func:`~factorcheck.symbolic.cost.conv_cost` (the one cost
function of the package), so the same code gives integers for ``alpha = 3/4``
at resolution 224 and SymPy polynomials in the symbols :data:`ALPHA` and
:data:`RHO`.  :func:`factorcheck.onnx_network.onnx_table` builds the same table from an ONNX model.

Conventions
-----------
What is counted
    Multiply-accumulates (MACs) and parameters of convolutions and fully
    connected layers, per input image, dense (padded zeros included, see
    :mod:`factorcheck.symbolic.cost`).  Batch norm, activations, pooling,
    softmax and residual additions count nothing; biases are counted only with
    ``bias=True``.  This is the convention of the MobileNets paper [1]_.
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

References
----------
.. [1] A. G. Howard et al., "MobileNets: Efficient Convolutional Neural
   Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from factorcheck.errors import FactorcheckError
from factorcheck.symbolic.cost import Size, conv_cost, depthwise_cost, output_shape, standard_cost
from factorcheck.symbolic.derivation import Derivation, Proof, derive
from factorcheck.symbolic.text import latex_math

__all__ = [
    "ALPHA",
    "RHO",
    "LAYER_TYPES",
    "MAX_ALPHA",
    "SCHEMA_VERSION",
    "BlockComparison",
    "Layer",
    "LayerRow",
    "Network",
    "NetworkComparison",
    "NetworkTable",
    "SkippedNode",
    "TypeShare",
    "compare_standard",
    "conv",
    "depthwise",
    "fully_connected",
    "network_table",
    "parse_alpha",
    "pointwise",
    "pool",
    "scaling_proof",
]

#: The width multiplier as a symbol (positive).
ALPHA = sympy.Symbol("alpha", positive=True)
#: The input resolution as a symbol (a positive integer).
RHO = sympy.Symbol("rho", positive=True, integer=True)
#: Largest width multiplier accepted (a sanity bound, not a law).
MAX_ALPHA = Fraction(8)
#: Version of the dict/JSON layout of :meth:`NetworkTable.to_dict`.
SCHEMA_VERSION = 1
#: Row types, in the order shares are listed.
LAYER_TYPES = ("standard", "depthwise", "pointwise", "grouped", "fc", "pool")
_KINDS = ("conv", "depthwise", "fc", "pool")
_MAX_ALPHA_TEXT = 64
#: Largest input resolution (int64's maximum).
MAX_RESOLUTION = 2**63 - 1


# ---------------------------------------------------------------- layers


def _pair(value: Any) -> tuple[Any, Any]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)  # type: ignore


@dataclass(frozen=True)
class Layer:
    """One layer of a :class:`Network`; build it with :func:`conv`, :func:`depthwise`, ...

    Attributes
    ----------
    name : str
        Shown in tables.
    kind : {"conv", "depthwise", "fc", "pool"}
        What the layer does.
    out_channels : int or None
        Output channels of a ``conv`` or ``fc`` (before the width multiplier).
    kernel, stride, dilation : int or pair
        Geometry; a ``pool`` with ``kernel=None`` is global.
    padding : int, pair or pair of pairs
        As in :func:`~factorcheck.symbolic.cost.output_shape`.
    groups : int
        Groups of a ``conv``.
    multiplier : int
        Depth multiplier of a ``depthwise`` layer.
    scale_width : bool
        Whether the width multiplier scales ``out_channels``.
    bias : bool
        Whether the layer has a bias when biases are counted.
    flatten : bool
        ``fc`` only: flatten ``C x H x W`` into ``C*H*W`` inputs (else per position).

    Examples
    --------
    >>> conv("conv1", 32, 3, stride=2, padding=1).kind
    'conv'
    """

    name: str
    kind: str
    out_channels: int | None = None
    kernel: Any = 1
    stride: Any = 1
    padding: Any = 0
    dilation: Any = 1
    groups: int = 1
    multiplier: int = 1
    scale_width: bool = True
    bias: bool = True
    flatten: bool = True

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise FactorcheckError(f"layer {self.name!r}: expected kind in {_KINDS}, "
                                   f"got {self.kind!r}")
        if self.kind in ("conv", "fc") and self.out_channels is None:
            raise FactorcheckError(f"layer {self.name!r}: a {self.kind} layer needs out_channels")

    @property
    def type(self) -> str:
        """The row type: ``standard``, ``depthwise``, ``pointwise``, ``grouped``, ``fc``, ``pool``.

        Examples
        --------
        >>> pointwise("pw", 64).type, conv("g", 64, 3, groups=4).type
        ('pointwise', 'grouped')
        """
        if self.kind != "conv":
            return self.kind
        if self.groups != 1:
            return "grouped"
        return "pointwise" if _pair(self.kernel) == (1, 1) else "standard"


def conv(name: str, out_channels: int, kernel: Any, stride: Any = 1, padding: Any = 0, *,
         groups: int = 1, dilation: Any = 1, scale_width: bool = True) -> Layer:
    """A standard (``groups=1``) or grouped convolution.

    Examples
    --------
    >>> conv("c", 16, 3, padding=1).type
    'standard'
    """
    return Layer(name, "conv", out_channels, kernel, stride, padding, dilation, groups=groups,
                 scale_width=scale_width)


def depthwise(name: str, kernel: Any, stride: Any = 1, padding: Any = 0, *,
              multiplier: int = 1, dilation: Any = 1) -> Layer:
    """A depthwise convolution: ``multiplier`` kernels per input channel.

    Examples
    --------
    >>> depthwise("dw", 3, stride=2, padding=1).type
    'depthwise'
    """
    return Layer(name, "depthwise", None, kernel, stride, padding, dilation,
                 multiplier=multiplier)


def pointwise(name: str, out_channels: int, *, scale_width: bool = True) -> Layer:
    """A pointwise (1 x 1, stride 1) convolution.

    Examples
    --------
    >>> pointwise("pw", 64).kernel
    1
    """
    return Layer(name, "conv", out_channels, 1, scale_width=scale_width)


def fully_connected(name: str, out_features: int, *, scale_width: bool = False,
                    flatten: bool = True) -> Layer:
    """A fully connected layer; by default its width is *not* scaled (a classifier).

    Examples
    --------
    >>> fully_connected("fc", 1000).scale_width
    False
    """
    return Layer(name, "fc", out_features, scale_width=scale_width, flatten=flatten)


def pool(name: str, kernel: Any = None, stride: Any = None, padding: Any = 0) -> Layer:
    """A pooling layer (free under the convention); ``kernel=None`` pools globally.

    Examples
    --------
    >>> pool("avgpool").kernel is None, pool("max", 2).stride
    (True, 2)
    """
    return Layer(name, "pool", None, kernel, kernel if stride is None else stride, padding)


@dataclass(frozen=True)
class Network:
    """An input and a chain of layers.

    Attributes
    ----------
    name : str
        Shown in tables.
    in_channels : int
        Channels of the input (not scaled by the width multiplier).
    resolution : int
        Default input height = width.
    layers : tuple of Layer
        In order.
    min_resolution : int
        Smallest resolution accepted (below it the network is degenerate).

    Examples
    --------
    >>> net = Network("tiny", 3, 8, (conv("c", 4, 3, stride=2, padding=1), pool("gap")))
    >>> net.total_stride
    2
    """

    name: str
    in_channels: int
    resolution: int
    layers: tuple[Layer, ...]
    min_resolution: int = 1

    @property
    def total_stride(self) -> int:
        """Least common multiple of the products of strides on each axis (global pools excluded).

        Examples
        --------
        >>> Network("n", 3, 8, (conv("c", 4, 3, stride=(2, 1)), pool("p", 3))).total_stride
        6
        """
        heights, widths = 1, 1
        for layer in self.layers:
            if layer.kind == "pool" and layer.kernel is None:
                continue
            sh, sw = _pair(layer.stride)
            heights, widths = heights * sh, widths * sw
        return math.lcm(heights, widths)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class LayerRow:
    """One row of a :class:`NetworkTable`: a layer's shapes and counts.

    Attributes
    ----------
    index : int
        1-based position in the table.
    name : str
        The layer's name (for ONNX, the node name as stored: escape it before display).
    type : str
        One of :data:`LAYER_TYPES`.
    input_shape, output_shape : tuple
        ``(C, H, W)``, ints or SymPy expressions.
    kernel, stride : tuple or None
        ``(kh, kw)`` and ``(sh, sw)``; ``None`` for a fully connected layer.
    groups : int or sympy.Expr
        Groups of the convolution (input channels for a depthwise one).
    macs, params : int or sympy.Expr
        Counts under the module's convention.
    bias : bool
        Whether a bias was counted.

    Examples
    --------
    >>> row = network_table(Network("n", 3, 8, (conv("c", 4, 3, padding=1),))).rows[0]
    >>> row.output_shape, row.macs, row.params   # 8*8*4*3*3*3 and 4*3*3*3
    ((4, 8, 8), 6912, 108)
    """

    index: int
    name: str
    type: str
    input_shape: tuple[Size, Size, Size]
    output_shape: tuple[Size, Size, Size]
    kernel: tuple[Size, Size] | None
    stride: tuple[Size, Size] | None
    groups: Size
    macs: Size
    params: Size
    bias: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ints stay ints, expressions become ``sympy.sstr`` strings).

        Examples
        --------
        >>> network_table(Network("n", 3, 8, (pool("gap"),))).rows[0].to_dict()["output"]
        [3, 1, 1]
        """
        return {
            "index": self.index, "name": self.name, "type": self.type,
            "input": _json_list(self.input_shape), "output": _json_list(self.output_shape),
            "kernel": _json_list(self.kernel), "stride": _json_list(self.stride),
            "groups": _json(self.groups), "macs": _json(self.macs),
            "params": _json(self.params), "bias": self.bias,
        }


@dataclass(frozen=True)
class TypeShare:
    """Totals of one layer type and their share of the network's totals.

    Attributes
    ----------
    type : str
        One of :data:`LAYER_TYPES`.
    layers : int
        Number of rows of that type.
    macs, params : int or sympy.Expr
        Sums over those rows.
    macs_share, params_share : sympy.Expr
        Exact fractions of the totals (a rational number, or an expression).

    Examples
    --------
    >>> TypeShare("fc", 1, 10, 10, sympy.Rational(1, 2), sympy.Integer(1)).macs_share
    1/2
    """

    type: str
    layers: int
    macs: Size
    params: Size
    macs_share: sympy.Expr
    params_share: sympy.Expr

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; shares as exact strings and, when numeric, floats.

        Examples
        --------
        >>> share = TypeShare("fc", 1, 10, 10, sympy.Rational(1, 2), sympy.Integer(1))
        >>> share.to_dict()["macs_share"], share.to_dict()["macs_share_exact"]
        (0.5, '1/2')
        """
        return {
            "type": self.type, "layers": self.layers,
            "macs": _json(self.macs), "params": _json(self.params),
            "macs_share": _float_or_none(self.macs_share),
            "params_share": _float_or_none(self.params_share),
            "macs_share_exact": sympy.sstr(self.macs_share),
            "params_share_exact": sympy.sstr(self.params_share),
        }


@dataclass(frozen=True)
class SkippedNode:
    """A node of a model file that the table leaves out, and why.

    Examples
    --------
    >>> SkippedNode("up", "ConvTranspose is not counted").reason
    'ConvTranspose is not counted'
    """

    name: str
    reason: str


@dataclass(frozen=True)
class NetworkTable:
    """Per-layer counts of a network, its totals and the shares of each layer type.

    Attributes
    ----------
    name : str
        The network (or model file).
    rows : tuple of LayerRow
        One per layer, in order.
    alpha : fractions.Fraction, sympy.Expr or None
        Width multiplier used (``None`` for a model file).
    input_shape : tuple
        The network input: ``(C, H, W)``, or the model's input dims.
    bias : bool
        Whether biases were counted.
    assumption : str
        Conditions under which a symbolic table holds (empty when numeric).
    skipped : tuple of SkippedNode
        Nodes of a model file that were not counted.

    Examples
    --------
    >>> net = Network("n", 3, 8, (conv("c", 4, 3, padding=1), pool("gap"),
    ...                           fully_connected("fc", 10)))
    >>> table = network_table(net)
    >>> table.total_macs, table.total_params   # 6912 + 0 + 4*10; 108 + 40
    (6952, 148)
    >>> [(s.type, s.macs_share) for s in table.shares()]
    [('standard', 864/869), ('fc', 5/869), ('pool', 0)]
    """

    name: str
    rows: tuple[LayerRow, ...]
    alpha: Any
    input_shape: tuple[Size, ...]
    bias: bool = False
    assumption: str = ""
    skipped: tuple[SkippedNode, ...] = ()

    @property
    def total_macs(self) -> Size:
        """Sum of the rows' MACs."""
        return _sum(row.macs for row in self.rows)

    @property
    def total_params(self) -> Size:
        """Sum of the rows' parameters."""
        return _sum(row.params for row in self.rows)

    @property
    def symbolic(self) -> bool:
        """True when some count is a SymPy expression rather than a number."""
        return not all(_is_number(row.macs) and _is_number(row.params) for row in self.rows)

    def shares(self) -> tuple[TypeShare, ...]:
        """Totals and exact shares per layer type, in :data:`LAYER_TYPES` order."""
        out = []
        for kind in LAYER_TYPES:
            rows = [row for row in self.rows if row.type == kind]
            if rows:
                macs, params = _sum(r.macs for r in rows), _sum(r.params for r in rows)
                out.append(TypeShare(kind, len(rows), macs, params,
                                     _share(macs, self.total_macs),
                                     _share(params, self.total_params)))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout (``schema_version`` 1): see the README.

        Examples
        --------
        >>> d = network_table(Network("n", 3, 8, (pool("gap"),))).to_dict()
        >>> sorted(d)   # doctest: +NORMALIZE_WHITESPACE
        ['alpha', 'assumption', 'bias', 'convention', 'input_shape', 'layers', 'network',
         'schema_version', 'shares', 'skipped', 'symbolic', 'totals']
        """
        return {
            "schema_version": SCHEMA_VERSION, "network": self.name, "symbolic": self.symbolic,
            "alpha": None if self.alpha is None else sympy.sstr(self.alpha),
            "input_shape": _json_list(self.input_shape), "bias": self.bias,
            "assumption": self.assumption, "convention": CONVENTION,
            "layers": [row.to_dict() for row in self.rows],
            "totals": {"macs": _json(self.total_macs), "params": _json(self.total_params)},
            "shares": [share.to_dict() for share in self.shares()],
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
        }


#: The counting convention, stated in every JSON output.
CONVENTION = ("MACs and parameters of convolutions and fully connected layers per input image, "
              "dense (padded zeros included); batch norm, activations, pooling and softmax "
              "count nothing; biases only when asked")


def _is_number(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, sympy.Basic) and value.is_number)


def _sum(values: Any) -> Size:
    total: Size = 0
    for value in values:
        total = total + value
    return total


def _share(part: Size, total: Size) -> sympy.Expr:
    if total == 0:
        return sympy.Integer(0)
    if _is_number(part) and _is_number(total):
        return sympy.Rational(part, total)
    return sympy.cancel(sympy.sympify(part) / total)


def _json(value: Any) -> Any:
    if isinstance(value, int):
        return value
    if isinstance(value, sympy.Integer):
        return int(value)
    return sympy.sstr(value)


def _json_list(values: Any) -> list | None:
    return None if values is None else [_json(v) for v in values]


def _float_or_none(value: sympy.Expr) -> float | None:
    return float(value) if value.is_number else None


# ---------------------------------------------------------------- inputs


def parse_alpha(value: Any) -> Fraction | sympy.Expr:
    """Normalize a width multiplier to an exact :class:`~fractions.Fraction` (or keep a symbol).

    Parameters
    ----------
    value : int, Fraction, str, float, sympy.Rational or sympy.Symbol
        A string is parsed by :class:`~fractions.Fraction` (``"0.75"``, ``"3/4"``),
        never evaluated; a float by its shortest decimal ``repr``.

    Returns
    -------
    Fraction or sympy.Expr
        ``0 < alpha <= MAX_ALPHA``; a positive SymPy symbol is returned as is.

    Examples
    --------
    >>> parse_alpha("0.75"), parse_alpha("3/4"), parse_alpha(0.1)
    (Fraction(3, 4), Fraction(3, 4), Fraction(1, 10))
    >>> parse_alpha(0)
    Traceback (most recent call last):
    ...
    factorcheck.errors.FactorcheckError: alpha: expected 0 < alpha <= 8, got 0
    """
    if isinstance(value, sympy.Basic) and not value.is_number:
        if value.is_positive is not True:
            raise FactorcheckError(f"alpha: expected a positive symbol, got {value}")
        return value
    number = _alpha_fraction(value)
    if not 0 < number <= MAX_ALPHA:
        raise FactorcheckError(f"alpha: expected 0 < alpha <= {MAX_ALPHA}, got {number}")
    return number


def _alpha_fraction(value: Any) -> Fraction:
    if isinstance(value, bool):
        raise FactorcheckError(f"alpha: expected a number, got bool {value}")
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str) and len(value) > _MAX_ALPHA_TEXT:
        raise FactorcheckError(f"alpha: expected a short number, got {len(value)} characters")
    if isinstance(value, str) and _huge_exponent(value):  # Fraction would compute 10**exponent
        raise FactorcheckError(f"alpha: expected 0 < alpha <= {MAX_ALPHA}, got {value.strip()!r}")
    try:
        return Fraction(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise FactorcheckError(
            f"alpha: expected a number such as 0.75 or 3/4, got {value!r}") from None


def _huge_exponent(text: str) -> bool:
    """Whether a decimal's exponent (``1e999999999``) puts it far outside any valid alpha."""
    exponent = text.strip().lower().partition("e")[2]
    digits = exponent.lstrip("+-")
    return bool(digits) and digits.isdigit() and len(digits.lstrip("0")) > 3


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
    parts = []
    if not isinstance(alpha, Fraction):
        parts.append(f"{alpha} * C is an integer for every scaled width C")
    if resolution is not None:
        symbol, stride = resolution
        parts.append(f"{symbol} is a multiple of {stride} (the total stride)")
    return "; ".join(parts)


# ---------------------------------------------------------------- standard counterpart


@dataclass(frozen=True)
class BlockComparison:
    """Layers of a network against the standard layer that replaces them.

    Attributes
    ----------
    separable : tuple of str
        Names of the replaced rows (a depthwise and its pointwise, or one unchanged row).
    standard : str
        Name of the replacing row.
    separable_macs, standard_macs, separable_params, standard_params : int or sympy.Expr
        Counts on each side.

    Examples
    --------
    >>> b = BlockComparison(("dw", "pw"), "dw+pw", 2700, 15552, 75, 432)
    >>> b.mac_ratio, b.param_ratio
    (25/144, 25/144)
    """

    separable: tuple[str, ...]
    standard: str
    separable_macs: Size
    standard_macs: Size
    separable_params: Size
    standard_params: Size

    @property
    def mac_ratio(self) -> sympy.Expr:
        """Separable over standard MACs, exact (as :attr:`cost.LayerComparison.mac_ratio`)."""
        return _share(self.separable_macs, self.standard_macs)

    @property
    def param_ratio(self) -> sympy.Expr:
        """Separable over standard parameters, exact."""
        return _share(self.separable_params, self.standard_params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ratios exact and, when numeric, as floats)."""
        return {
            "separable": list(self.separable), "standard": self.standard,
            "separable_macs": _json(self.separable_macs),
            "standard_macs": _json(self.standard_macs),
            "separable_params": _json(self.separable_params),
            "standard_params": _json(self.standard_params),
            "mac_ratio": _float_or_none(self.mac_ratio),
            "mac_ratio_exact": sympy.sstr(self.mac_ratio),
            "param_ratio": _float_or_none(self.param_ratio),
            "param_ratio_exact": sympy.sstr(self.param_ratio),
        }


@dataclass(frozen=True)
class NetworkComparison:
    """A network and its all-standard counterpart (see :func:`compare_standard`).

    Attributes
    ----------
    separable, standard : NetworkTable
        The network as given, and with each depthwise (+ pointwise) block
        replaced by one standard convolution.
    blocks : tuple of BlockComparison
        Row by row (pooling rows, which cost nothing either way, are left out).
    """

    separable: NetworkTable
    standard: NetworkTable
    blocks: tuple[BlockComparison, ...]

    @property
    def mac_ratio(self) -> sympy.Expr:
        """Total separable over total standard MACs, exact."""
        return _share(self.separable.total_macs, self.standard.total_macs)

    @property
    def param_ratio(self) -> sympy.Expr:
        """Total separable over total standard parameters, exact."""
        return _share(self.separable.total_params, self.standard.total_params)

    def to_dict(self) -> dict[str, Any]:
        """JSON layout: both tables, the blocks and the total ratios."""
        return {
            "schema_version": SCHEMA_VERSION,
            "separable": self.separable.to_dict(), "standard": self.standard.to_dict(),
            "blocks": [block.to_dict() for block in self.blocks],
            "mac_ratio": _float_or_none(self.mac_ratio),
            "mac_ratio_exact": sympy.sstr(self.mac_ratio),
            "param_ratio": _float_or_none(self.param_ratio),
            "param_ratio_exact": sympy.sstr(self.param_ratio),
        }


def _pairs_with(dw: LayerRow, nxt: LayerRow | None) -> bool:
    """Whether ``nxt`` is the pointwise stage of depthwise row ``dw``."""
    return (nxt is not None and nxt.type == "pointwise" and nxt.stride == (1, 1)
            and nxt.input_shape == dw.output_shape)


def _standard_row(index: int, dw: LayerRow, pw: LayerRow | None) -> LayerRow:
    last = pw or dw
    out_hw = dw.output_shape[1:]
    cost = standard_cost(out_hw, dw.kernel, dw.input_shape[0], last.output_shape[0],
                         bias=last.bias)
    name = dw.name if pw is None else f"{dw.name}+{pw.name}"
    return LayerRow(index, name, "standard", dw.input_shape, last.output_shape, dw.kernel,
                    dw.stride, 1, cost.macs, cost.params, last.bias)


def compare_standard(table: NetworkTable) -> NetworkComparison:
    """What the network would cost with standard convolutions instead of depthwise separable ones.

    Each depthwise row followed by its pointwise row (1 x 1, stride 1, reading
    the depthwise output) becomes one standard convolution with the depthwise
    kernel, stride and output grid and the pointwise output channels; a
    depthwise row without one becomes a standard convolution from ``M`` to
    ``d * M`` channels.  Every other row is kept as it is.

    Returns
    -------
    NetworkComparison

    Examples
    --------
    >>> net = Network("n", 4, 11, (depthwise("dw", 3, 2, 1), pointwise("pw", 16)))
    >>> cmp = compare_standard(network_table(net))
    >>> cmp.standard.total_macs, cmp.separable.total_macs, cmp.mac_ratio   # 6*6*16*36; 6*6*(36+64)
    (20736, 3600, 25/144)
    """
    rows, blocks, i = [], [], 0
    while i < len(table.rows):
        row = table.rows[i]
        nxt = table.rows[i + 1] if i + 1 < len(table.rows) else None
        group = (row, nxt) if row.type == "depthwise" and _pairs_with(row, nxt) else (row,)
        new = (_standard_row(len(rows) + 1, row, group[1] if len(group) == 2 else None)
               if row.type == "depthwise" else dataclasses.replace(row, index=len(rows) + 1))
        rows.append(new)
        if row.type != "pool":
            blocks.append(BlockComparison(
                tuple(r.name for r in group), new.name, _sum(r.macs for r in group), new.macs,
                _sum(r.params for r in group), new.params))
        i += len(group)
    standard = dataclasses.replace(table, name=f"{table.name} (standard convolutions)",
                                   rows=tuple(rows))
    return NetworkComparison(table, standard, tuple(blocks))


# ---------------------------------------------------------------- scaling in alpha and rho


def scaling_proof(network: Network, *, bias: bool = False) -> Proof:
    """How a network's MACs and parameters scale with width ``alpha`` and resolution ``rho``.

    The symbolic table (``alpha = ALPHA``, ``resolution = RHO``) gives the total
    MACs ``T(alpha, rho)``; each derivation below is checked by SymPy:

    1. ``T`` is the sum of the per-type subtotals, collected into a polynomial;
    2. ``lim T / alpha^2`` as ``alpha -> oo`` is the ``alpha^2`` coefficient (the
       layers between two scaled widths), so the cost grows like ``alpha^2``;
    3. ``T(alpha) - alpha^2 T(1) = alpha (1 - alpha) L(rho)``, ``L`` the
       coefficient of ``alpha``: the ``alpha^2`` rule *underestimates* the cost
       for ``alpha < 1`` by exactly that (true when no layer keeps both widths fixed);
    4. ``T(rho) = (rho / rho_0)^2 (T(rho_0) - E) + E`` with ``E`` the layers after
       global pooling (true when every size is proportional to ``rho``);
    5. ``dP / d rho = 0``: parameters do not depend on the resolution.

    A claim that does not hold for the network is recorded as FALSE (and listed
    in the proof's findings), not raised.

    Returns
    -------
    Proof

    Raises
    ------
    FactorcheckError
        The symbolic totals are not polynomials (some floor could not be resolved).

    Examples
    --------
    >>> net = Network("n", 3, 32, (conv("c", 8, 3, stride=2, padding=1), pool("gap"),
    ...                            fully_connected("fc", 10)))
    >>> proof = scaling_proof(net)
    >>> proof.ok, proof.derivations[0].conclusion
    (True, 54*alpha*rho**2 + 80*alpha)
    """
    table = network_table(network, alpha=ALPHA, resolution=RHO, bias=bias)
    total, params = table.total_macs, table.total_params
    for what, expr in (("MACs", total), ("parameters", params)):
        if not sympy.sympify(expr).is_polynomial(ALPHA, RHO):
            raise FactorcheckError(
                f"{network.name}: expected the total {what} to be a polynomial in alpha and rho, "
                f"got {expr}")
    derivations = (_collected(table), _width_limit(total), _width_rule_gap(total),
                   _resolution_scaling(total, network.resolution), _params_flat(params))
    findings = tuple(f"{d.title}: {step.justification} does not hold ({step.method})"
                     for d in derivations for step in d.steps if step.status.value == "false")
    return Proof("network_scaling", f"Cost of {network.name} in width alpha and resolution rho",
                 _SCALING_SUMMARY.format(assumption=table.assumption), derivations, findings)


_SCALING_SUMMARY = (
    "Total multiply-accumulates T(alpha, rho) and parameters P(alpha) of the network, "
    "built layer by layer from the same cost functions as the numeric tables, assuming "
    "{assumption}. The cost grows like alpha^2 (its limit over alpha^2 is the coefficient "
    "of the layers between two scaled widths), the alpha^2 rule underestimates it for "
    "alpha < 1 by the layers linear in alpha, and it scales exactly as rho^2 apart from "
    "the layers after global pooling.")


def _collected(table: NetworkTable) -> Derivation:
    polynomial = sympy.Poly(table.total_macs, ALPHA, RHO).as_expr()
    start = polynomial
    for subtotals in ([share.macs for share in table.shares() if share.macs != 0],
                      [row.macs for row in table.rows if row.macs != 0]):
        start = sympy.Add(*subtotals, evaluate=False) if len(subtotals) > 1 else subtotals[0]
        if latex_math(start) != latex_math(polynomial):  # the sum shows some work
            break
    types = " + ".join(s.type for s in table.shares() if s.macs != 0)
    shows_work = latex_math(start) != latex_math(polynomial)
    steps = [(polynomial, "collect the per-layer counts")] if shows_work else []
    return derive(f"total MACs ({types}) as a polynomial in alpha and rho", start, steps)


def _width_limit(total: sympy.Expr) -> Derivation:
    leading = sympy.Poly(total, ALPHA).coeff_monomial(ALPHA**2)
    return derive("the cost grows like alpha^2",
                  sympy.Limit(total / ALPHA**2, ALPHA, sympy.oo),
                  [(leading, "only the alpha^2 terms survive")])


def _width_rule_gap(total: sympy.Expr) -> Derivation:
    linear = sympy.Poly(total, ALPHA).coeff_monomial(ALPHA)
    start = total - ALPHA**2 * total.subs(ALPHA, 1)
    return derive("error of the alpha^2 rule", start,
                  [(ALPHA * (1 - ALPHA) * linear, "the alpha^2 terms cancel; no constant term")],
                  strict=False)


def _resolution_scaling(total: sympy.Expr, rho_0: int) -> Derivation:
    after_pool = total.subs(RHO, 0)
    scaled = sympy.Mul(sympy.Pow(RHO / rho_0, 2, evaluate=False),
                       sympy.Add(total.subs(RHO, rho_0), -after_pool, evaluate=False),
                       evaluate=False)  # kept as written: evaluated, it prints like ``total``
    claim = scaled if after_pool == 0 else sympy.Add(scaled, after_pool, evaluate=False)
    return derive(f"the cost scales as rho^2 from rho = {rho_0}, apart from layers after pooling",
                  total, [(claim, "every spatial size is proportional to rho")], strict=False)


def _params_flat(params: sympy.Expr) -> Derivation:
    return derive("parameters do not depend on the resolution", sympy.Derivative(params, RHO),
                  [(sympy.Integer(0), "no parameter count contains rho")])


# ---------------------------------------------------------------- ONNX models
