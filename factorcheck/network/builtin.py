"""Networks built in by name: MobileNet v1 from the architecture table of its paper.

MobileNet v1 [1]_ (Table 1): input 224 x 224 x 3; a 3 x 3 standard convolution
3 -> 32 with stride 2; thirteen depthwise separable blocks, each a 3 x 3
depthwise convolution (padding 1) and a 1 x 1 pointwise convolution, given as
(depthwise stride, pointwise output channels):
(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512), 5 x (1, 512),
(2, 1024), (1, 1024); global average pooling (7 x 7 at 224); a fully connected
layer 1024 -> 1000.  The paper's table prints the stride of the last
depthwise layer as 2, but its input and output are both 7 x 7: it is 1.

Exact counts at width 1 and resolution 224 (no biases), derived by hand in
``tests/test_network.py``: 568,740,352 MACs (the paper: "569 million
mult-adds") and 4,209,088 parameters (the paper: "4.2 million").

References
----------
.. [1] A. G. Howard et al., "MobileNets: Efficient Convolutional Neural
   Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.
"""

from __future__ import annotations

from collections.abc import Callable

from factorcheck.errors import FactorcheckError
from factorcheck.network.layers import (
    Network,
    conv,
    depthwise,
    fully_connected,
    pointwise,
    pool,
)

__all__ = ["BUILTIN_NETWORKS", "MOBILENET_V1_BLOCKS", "builtin_network", "mobilenet_v1"]

#: (depthwise stride, pointwise output channels) of MobileNet v1's 13 separable blocks.
MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    *((1, 512),) * 5,
    (2, 1024), (1, 1024),
)


def mobilenet_v1() -> Network:
    """MobileNet v1 at width 1 and resolution 224 (resolutions from 32 are accepted).

    Examples
    --------
    >>> net = mobilenet_v1()
    >>> len(net.layers), net.total_stride   # conv1, 13 x (dw, pw), pool, fc
    (29, 32)
    """
    layers = [conv("conv1", 32, 3, stride=2, padding=1)]
    for index, (stride, out_channels) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        layers += [depthwise(f"dw{index}", 3, stride=stride, padding=1),
                   pointwise(f"pw{index}", out_channels)]
    layers += [pool("avgpool"), fully_connected("fc", 1000)]
    return Network("mobilenet-v1", 3, 224, tuple(layers), min_resolution=32)


#: Built-in network name -> builder.
BUILTIN_NETWORKS: dict[str, Callable[[], Network]] = {"mobilenet-v1": mobilenet_v1}


def builtin_network(name: str) -> Network:
    """The built-in network called ``name``.

    Examples
    --------
    >>> builtin_network("mobilenet-v1").name
    'mobilenet-v1'
    >>> builtin_network("resnet-50")
    Traceback (most recent call last):
    ...
    factorcheck.errors.FactorcheckError: network: expected one of mobilenet-v1 ... got 'resnet-50'
    """
    try:
        return BUILTIN_NETWORKS[name]()
    except KeyError:
        raise FactorcheckError(
            f"network: expected one of {', '.join(BUILTIN_NETWORKS)} "
            f"(or a path to an .onnx file), got {name!r}") from None
