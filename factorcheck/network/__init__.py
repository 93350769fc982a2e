"""Whole networks: per-layer MACs and parameters of a network described by hand or an ONNX model.

Data flows one way: this package reads models (:mod:`factorcheck.io`) and
counts them with the algebra of :mod:`factorcheck.symbolic`, which knows
nothing of it.

- :mod:`~factorcheck.network.layers`: :class:`Network` and its :class:`Layer` builders;
- :mod:`~factorcheck.network.build`: :func:`network_table` (numbers or polynomials in
  ``alpha`` and ``rho``) and :func:`network_scaling_proof`;
- :mod:`~factorcheck.network.table`: :class:`NetworkTable` and its rows;
- :mod:`~factorcheck.network.rows`: one row per layer, counted by the one cost function;
- :mod:`~factorcheck.network.compare`: :func:`compare_standard`;
- :mod:`~factorcheck.network.builtin`: MobileNet v1 by name;
- :mod:`~factorcheck.network.onnx` and :mod:`~factorcheck.network.shapes`: :func:`onnx_table`
  and the shape propagation it needs;
- :mod:`~factorcheck.network.display`: text, HTML and LaTeX of a table.

Examples
--------
>>> from factorcheck.network import mobilenet_v1, network_table
>>> network_table(mobilenet_v1()).total_macs
568740352
"""

from factorcheck.network.build import network_scaling_proof, network_table
from factorcheck.network.builtin import BUILTIN_NETWORKS, builtin_network, mobilenet_v1
from factorcheck.network.compare import BlockComparison, NetworkComparison, compare_standard
from factorcheck.network.display import format_comparison, format_table
from factorcheck.network.layers import (
    Layer,
    Network,
    conv,
    depthwise,
    fully_connected,
    pointwise,
    pool,
)
from factorcheck.network.onnx import onnx_table
from factorcheck.network.table import (
    CONVENTION,
    LAYER_TYPES,
    SCHEMA_VERSION,
    LayerRow,
    NetworkTable,
    SkippedNode,
    TypeShare,
)
from factorcheck.symbolic.network import ALPHA, MAX_ALPHA, RHO, parse_alpha

__all__ = [
    "network_table",
    "onnx_table",
    "compare_standard",
    "network_scaling_proof",
    "builtin_network",
    "mobilenet_v1",
    "format_table",
    "format_comparison",
    "conv",
    "depthwise",
    "pointwise",
    "fully_connected",
    "pool",
    "parse_alpha",
    "ALPHA",
    "RHO",
    "MAX_ALPHA",
    "BUILTIN_NETWORKS",
    "CONVENTION",
    "LAYER_TYPES",
    "SCHEMA_VERSION",
    "BlockComparison",
    "Layer",
    "LayerRow",
    "Network",
    "NetworkComparison",
    "NetworkTable",
    "SkippedNode",
    "TypeShare",
]
