"""Cost tables of networks: one row per counted layer, totals, shares per type, what was left out.

The rows are built by :func:`factorcheck.network.network_table` (a network
described by hand, numbers or polynomials) and
:func:`factorcheck.network.onnx_table` (an ONNX model).  A table knows how to
show itself: a short ``repr``, and ``_repr_html_`` / ``_repr_latex_`` for
notebooks, all from :mod:`factorcheck.network.display`.

Conventions
-----------
What is counted
    Multiply-accumulates (MACs) and parameters of convolutions (1-, 2- and
    3-D, grouped, depthwise, transposed), fully connected layers and matrix
    products, per input image, dense (padded zeros included, see
    :mod:`factorcheck.symbolic.cost`).  Batch norm, activations, pooling,
    softmax and residual additions count nothing; biases are counted only with
    ``bias=True``.  This is the convention of the MobileNets paper [1]_.
Complete or partial
    A layer that should be counted but cannot be (its shapes stay unknown, it
    is quantized, it sits in a subgraph) is listed in ``skipped``; the table is
    then *partial* (``complete`` is False) and its totals are lower bounds.

References
----------
.. [1] A. G. Howard et al., "MobileNets: Efficient Convolutional Neural
   Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from factorcheck.network import display
from factorcheck.symbolic.cost import Size

__all__ = [
    "CONVENTION",
    "LAYER_TYPES",
    "SCHEMA_VERSION",
    "LayerRow",
    "NetworkTable",
    "SkippedNode",
    "TypeShare",
]

#: Version of the dict/JSON layout of :meth:`NetworkTable.to_dict`.
SCHEMA_VERSION = 1
#: Row types, in the order shares are listed.
LAYER_TYPES = ("standard", "depthwise", "pointwise", "grouped", "transposed", "fc", "attention",
               "pool")


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
        ``(C, H, W)`` (``(C, L)`` or ``(C, D, H, W)`` for a 1-D or 3-D
        convolution), per image, ints or SymPy expressions.  A fully connected
        row on a sequence is ``(features, positions, 1)``; an ``attention`` row
        (a product of two activations) shows its first operand and its output
        (without the batch dimension when that leads).
    kernel, stride : tuple or None
        ``(kh, kw)`` and ``(sh, sw)`` (one entry per spatial axis); ``None`` for a
        fully connected or attention layer.
    groups : int or sympy.Expr
        Groups of the convolution (input channels for a depthwise one).
    macs, params : int or sympy.Expr
        Counts under the module's convention.
    bias : bool
        Whether a bias was counted.

    Examples
    --------
    >>> from factorcheck.network import Network, conv, network_table
    >>> row = network_table(Network("n", 3, 8, (conv("c", 4, 3, padding=1),))).rows[0]
    >>> row.output_shape, row.macs, row.params   # 8*8*4*3*3*3 and 4*3*3*3
    ((4, 8, 8), 6912, 108)
    """

    index: int
    name: str
    type: str
    input_shape: tuple[Size, ...]
    output_shape: tuple[Size, ...]
    kernel: tuple[Size, ...] | None
    stride: tuple[Size, ...] | None
    groups: Size
    macs: Size
    params: Size
    bias: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ints stay ints, expressions become ``sympy.sstr`` strings).

        Examples
        --------
        >>> from factorcheck.network import Network, network_table, pool
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
    """A layer of a model file that should be counted but is not, and why.

    Attributes
    ----------
    name : str
        The node's name as stored (escape it before display).
    reason : str
        Why it is not counted.
    op : str
        Its operator (``Conv``, ``MatMul``, ...), empty when not known.

    Examples
    --------
    >>> SkippedNode("q", "quantized convolution is not counted", "QLinearConv").op
    'QLinearConv'
    """

    name: str
    reason: str
    op: str = ""

    def to_dict(self) -> dict[str, str]:
        """``{"name", "op", "reason"}``.

        Examples
        --------
        >>> SkippedNode("up", "shapes unknown", "ConvTranspose").to_dict()["op"]
        'ConvTranspose'
        """
        return {"name": self.name, "op": self.op, "reason": self.reason}


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
        Layers of a model file that were not counted: when there are any the
        table is partial (:attr:`complete` is False) and its totals are lower
        bounds.

    Examples
    --------
    >>> from factorcheck.network import Network, conv, fully_connected, network_table, pool
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
    def complete(self) -> bool:
        """True when every layer was counted (nothing in :attr:`skipped`)."""
        return not self.skipped

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
        >>> from factorcheck.network import Network, network_table, pool
        >>> d = network_table(Network("n", 3, 8, (pool("gap"),))).to_dict()
        >>> sorted(d)   # doctest: +NORMALIZE_WHITESPACE
        ['alpha', 'assumption', 'bias', 'complete', 'convention', 'input_shape', 'layers',
         'network', 'not_counted', 'schema_version', 'shares', 'skipped', 'symbolic', 'totals']
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
            "complete": self.complete,
            "not_counted": [s.to_dict() for s in self.skipped],
        }

    def __repr__(self) -> str:
        return display.cells_repr(display.table_cells(self))

    def _repr_html_(self) -> str:
        return display.cells_html(display.table_cells(self))

    def _repr_latex_(self) -> str:
        return display.cells_latex(display.table_cells(self))


#: The counting convention, stated in every JSON output.
CONVENTION = ("MACs and parameters of convolutions (1-D to 3-D, grouped, transposed), fully "
              "connected layers and matrix products per input image, dense (padded zeros "
              "included); batch norm, activations, pooling and softmax count nothing; biases "
              "only when asked")


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


