"""One table row per layer: shapes and counts of convolutions, dense layers and matrix products.

Every row is counted by :func:`~factorcheck.symbolic.cost.conv_cost`, the one
cost function of the package, so numbers and symbols cannot drift: an
``n``-D convolution is a 2-D one on a ``(prod(spatial), 1)`` grid with a
``(prod(kernel), 1)`` kernel (the count only sees the products); a transposed
convolution is the adjoint of a convolution from its outputs to its inputs
(each input value meets every tap of its group's ``C_out / g`` kernels); a
dense layer is a 1 x 1 convolution, once per position; a product of two
activations is a dense layer without parameters.  Sizes may be ints or SymPy
expressions throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

from factorcheck.errors import FactorcheckError
from factorcheck.network.table import LayerRow
from factorcheck.symbolic.cost import Size, conv_cost, output_size

__all__ = ["attention_row", "conv_row", "conv_type", "dense_row", "transposed_row"]


def _prod(values: Sequence[Size]) -> Size:
    total: Size = 1
    for value in values:
        total = total * value
    return total


def conv_type(channels: Size, out_channels: Size, kernel: Sequence[Size], groups: Size) -> str:
    """``depthwise``, ``grouped``, ``pointwise`` or ``standard``.

    Depthwise: one group per input channel (more than one) and a whole number of
    outputs per channel.

    Examples
    --------
    >>> conv_type(8, 16, (3, 3), 8), conv_type(8, 16, (1,), 1), conv_type(8, 16, (3, 3, 3), 2)
    ('depthwise', 'pointwise', 'grouped')
    """
    if groups != 1 and groups == channels and _divides(channels, out_channels):
        return "depthwise"
    if groups != 1:
        return "grouped"
    return "pointwise" if all(k == 1 for k in kernel) else "standard"


def _divides(channels: Size, out_channels: Size) -> bool:
    if isinstance(channels, int) and isinstance(out_channels, int):
        return out_channels % channels == 0
    return True


def conv_row(index: int, name: str, in_shape: Sequence[Size], out_channels: Size,
             kernel: Sequence[Size], *, stride: Sequence[Size], padding: Sequence[tuple],
             dilation: Sequence[Size], groups: Size = 1, bias: bool = False,
             kind: str | None = None) -> LayerRow:
    """The row of an ``n``-D convolution from ``in_shape = (C, *spatial)``.

    Parameters
    ----------
    kernel, stride, dilation : sequence
        One entry per spatial axis.
    padding : sequence of (begin, end) pairs
        One pair per spatial axis.
    kind : str, optional
        The row type; by default :func:`conv_type`.

    Examples
    --------
    >>> row = conv_row(1, "c3d", (2, 4, 8, 8), 6, (3, 3, 3), stride=(1, 2, 2),
    ...                padding=((1, 1),) * 3, dilation=(1, 1, 1))
    >>> row.output_shape, row.macs, row.params   # 4*4*4*6 * 27*2 ; 6*27*2
    ((6, 4, 4, 4), 20736, 324)
    """
    channels, *spatial = in_shape
    axes = (kernel, stride, padding, dilation)
    if any(len(values) != len(spatial) for values in axes):
        raise FactorcheckError(
            f"layer {name!r}: expected kernel, stride, padding and dilation for "
            f"{len(spatial)} spatial axes, got {[len(v) for v in axes]}")
    out_sp = tuple(output_size(d, k, s, pad, dil)
                   for d, k, s, pad, dil in zip(spatial, kernel, stride, padding, dilation,
                                                strict=True))
    cost = conv_cost((_prod(out_sp), 1), (_prod(kernel), 1), channels, out_channels,
                     groups=groups, bias=bias)
    return LayerRow(index, name, kind or conv_type(channels, out_channels, kernel, groups),
                    tuple(in_shape), (out_channels, *out_sp), tuple(kernel), tuple(stride),
                    groups, cost.macs, cost.params, bias)


def transposed_row(index: int, name: str, in_shape: Sequence[int], out_shape: Sequence[int],
                   kernel: Sequence[int], *, stride: Sequence[int], groups: int = 1,
                   bias: bool = False) -> LayerRow:
    """The row of a transposed convolution, its output ``(C_out, *spatial)`` already known.

    MACs are ``prod(input spatial) * C_in * prod(kernel) * C_out / g`` (every
    input value times every tap of its group's kernels); parameters
    ``C_in * C_out / g * prod(kernel)``, plus ``C_out`` biases.

    Examples
    --------
    >>> row = transposed_row(1, "up", (4, 5, 5), (2, 10, 10), (2, 2), stride=(2, 2))
    >>> row.macs, row.params   # 5*5 * 4 * 2*2 * 2 ; 4*2*2*2
    (800, 32)
    """
    channels, *spatial = in_shape
    out_channels = out_shape[0]
    cost = conv_cost((_prod(spatial), 1), (_prod(kernel), 1), out_channels, channels,
                     groups=groups)
    params = cost.params + (out_channels if bias else 0)
    return LayerRow(index, name, "transposed", tuple(in_shape), tuple(out_shape), tuple(kernel),
                    tuple(stride), groups, cost.macs, params, bias)


def dense_row(index: int, name: str, features: Size, out_features: Size, *,
              positions: Size = 1, bias: bool = False) -> LayerRow:
    """A fully connected layer applied at ``positions`` positions (1 for a classifier).

    Examples
    --------
    >>> dense_row(1, "proj", 16, 4, positions=5).macs   # 5 * 16 * 4
    320
    """
    cost = conv_cost((positions, 1), 1, features, out_features, bias=bias)
    return LayerRow(index, name, "fc", (features, positions, 1), (out_features, positions, 1),
                    None, None, 1, cost.macs, cost.params, bias)


def attention_row(index: int, name: str, a_shape: Sequence[int], out_shape: Sequence[int], *,
                  positions: int) -> LayerRow:
    """A product of two activations (``Q K^T``, ``A V``): MACs, no parameters.

    ``positions`` output rows per image, each the product of a row of length
    ``k = a_shape[-1]`` with ``m = out_shape[-1]`` columns: ``positions * k * m``
    MACs.  The shapes are shown as given.

    Examples
    --------
    >>> attention_row(1, "qk", (4, 10, 16), (4, 10, 10), positions=40).macs   # 4*10*10*16
    6400
    """
    cost = conv_cost((positions, 1), 1, a_shape[-1], out_shape[-1])
    return LayerRow(index, name, "attention", tuple(a_shape), tuple(out_shape), None, None, 1,
                    cost.macs, 0, False)
