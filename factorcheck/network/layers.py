"""The layers of a network described by hand, and the network that chains them.

A :class:`Network` is an input (channels and a square resolution) followed by a
chain of :class:`Layer` objects: standard, grouped and pointwise convolutions
(:func:`conv`, :func:`pointwise`), depthwise convolutions with a depth
multiplier (:func:`depthwise`), fully connected layers (:func:`fully_connected`)
and pooling (:func:`pool`).  :func:`factorcheck.network.network_table` counts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from factorcheck.errors import FactorcheckError

__all__ = ["Layer", "Network", "conv", "depthwise", "fully_connected", "pointwise", "pool"]

_KINDS = ("conv", "depthwise", "fc", "pool")


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


