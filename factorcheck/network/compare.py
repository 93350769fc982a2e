"""What a network would cost with standard convolutions instead of depthwise separable ones."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import sympy

from factorcheck.network import display
from factorcheck.network.table import (
    SCHEMA_VERSION,
    LayerRow,
    NetworkTable,
    _float_or_none,
    _json,
    _share,
    _sum,
)
from factorcheck.symbolic.cost import Size, conv_cost

__all__ = ["BlockComparison", "NetworkComparison", "compare_standard"]


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
            "schema_version": SCHEMA_VERSION, "complete": self.separable.complete,
            "separable": self.separable.to_dict(), "standard": self.standard.to_dict(),
            "blocks": [block.to_dict() for block in self.blocks],
            "mac_ratio": _float_or_none(self.mac_ratio),
            "mac_ratio_exact": sympy.sstr(self.mac_ratio),
            "param_ratio": _float_or_none(self.param_ratio),
            "param_ratio_exact": sympy.sstr(self.param_ratio),
        }

    def __repr__(self) -> str:
        return display.cells_repr(display.comparison_cells(self))

    def _repr_html_(self) -> str:
        return display.cells_html(display.comparison_cells(self))

    def _repr_latex_(self) -> str:
        return display.cells_latex(display.comparison_cells(self))


def _pairs_with(dw: LayerRow, nxt: LayerRow | None) -> bool:
    """Whether ``nxt`` is the pointwise stage of depthwise row ``dw``."""
    return (nxt is not None and nxt.type == "pointwise" and nxt.stride is not None
            and all(s == 1 for s in nxt.stride) and nxt.input_shape == dw.output_shape)


def _standard_row(index: int, dw: LayerRow, pw: LayerRow | None) -> LayerRow:
    last = pw or dw
    out_size = math.prod(dw.output_shape[1:])  # type: ignore[arg-type]
    cost = conv_cost((out_size, 1), (math.prod(dw.kernel or (1,)), 1), dw.input_shape[0],
                     last.output_shape[0], bias=last.bias)
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
    >>> from factorcheck.network import Network, depthwise, network_table, pointwise
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


