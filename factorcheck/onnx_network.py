"""Network cost tables from ONNX model files.

This module joins the file side (:mod:`factorcheck.io`) and the algebra
(:mod:`factorcheck.symbolic.network`), like :mod:`factorcheck.scan` does for
separability, so that ``symbolic/`` knows nothing of files.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Any

from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.io._common import require
from factorcheck.io.onnx import conv_attribute_problem, load_onnx_structure
from factorcheck.symbolic.network import (
    Layer,
    LayerRow,
    NetworkTable,
    SkippedNode,
    _layer_row,
)

__all__ = ["onnx_table"]


def onnx_table(path: str | os.PathLike, *, input_shape: tuple[int, ...] | None = None,
               bias: bool = False) -> NetworkTable:
    """The cost table of an ONNX model's ``Conv``, ``Gemm`` and ``MatMul`` nodes.

    The model is parsed with the checks of :mod:`factorcheck.io` (files over
    2 GiB refused before parsing, ``load_external_data=False``), its input
    shape fixed (``input_shape``, or the one stored, which must then be fully static), and
    every shape inferred by ``onnx.shape_inference``.  Each node's input shape
    comes from inference (graphs need not be chains); the output shape is
    computed with :func:`~factorcheck.symbolic.cost.output_shape` and checked
    against inference.  Counts are per input sample (the first dimension is
    the batch); a ``MatMul`` counts when its second operand is a constant
    (a weight), once per position of the first.  With ``bias=True`` the biases
    stored in the file are counted.  Nodes inside subgraphs are not visited.

    Raises
    ------
    FactorcheckError
        ``onnx`` is missing (``pip install 'factorcheck[onnx]'``), the file is
        too large or malformed, or the input shape is not fixed.

    Examples
    --------
    >>> import os, tempfile, numpy as np, onnx
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> w = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")
    >>> node = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=4, pads=[1, 1, 1, 1])
    >>> graph = helper.make_graph(
    ...     [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> onnx.save(helper.make_model(graph), path)
    >>> row, = onnx_table(path).rows
    >>> row.type, row.output_shape, row.macs   # 8*8*4*3*3
    ('depthwise', (4, 8, 8), 2304)
    """
    path = os.fspath(path)
    model = load_onnx_structure(path)  # size-checked, large weights left in the file
    onnx = require("onnx", "onnx", "reading an .onnx file")
    dims = _fix_input(model.graph, input_shape, path)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as err:  # onnx raises its own InferenceError and friends
        raise FileFormatError(f"{path!r}: ONNX shape inference failed ({err})") from None
    rows, skipped = _onnx_rows(inferred.graph, bias, path)
    return NetworkTable(os.path.basename(path), tuple(rows), None, dims, bias, "",
                        tuple(skipped))


def _value_dims(value: Any) -> tuple[int | None, ...] | None:
    """Static dims of a ValueInfo (``None`` for an unknown dim), or ``None`` without a shape."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in tensor.shape.dim)


def _fix_input(graph: Any, input_shape: tuple[int, ...] | None, path: str) -> tuple[int, ...]:
    """Set or check the model input's static shape; return it."""
    stored = {t.name for t in graph.initializer}
    inputs = [value for value in graph.input if value.name not in stored]
    if len(inputs) != 1:
        raise FileFormatError(f"{path!r}: expected one graph input, got "
                              f"{[v.name for v in inputs]}")
    value = inputs[0]
    if input_shape is not None:
        if any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in input_shape):
            raise FactorcheckError(f"input shape: expected positive ints, got {input_shape}")
        shape = value.type.tensor_type.shape
        shape.ClearField("dim")
        for d in input_shape:
            shape.dim.add().dim_value = d
    dims = _value_dims(value)
    if dims is None or None in dims:
        shown = "unknown" if dims is None else "x".join("?" if d is None else str(d) for d in dims)
        raise FactorcheckError(
            f"{path!r}: input {value.name!r} has no fixed shape (got {shown}); "
            "give one, e.g. --input-shape 1x3x224x224")
    return dims  # type: ignore[return-value]


def _onnx_rows(graph: Any, bias: bool, path: str) -> tuple[list[LayerRow], list[SkippedNode]]:
    shapes = {v.name: _value_dims(v) for v in (*graph.input, *graph.value_info, *graph.output)}
    shapes.update({t.name: tuple(int(d) for d in t.dims) for t in graph.initializer})
    constants = _constant_names(graph)
    rows, skipped = [], []
    for position, node in enumerate(graph.node):
        name = node.name or (node.output[0] if node.output else f"{node.op_type}_{position}")
        found = _onnx_layer(node, name, shapes, constants)
        if isinstance(found, SkippedNode):
            skipped.append(found)
        elif found is not None:
            layer, in_shape = found
            try:
                row = _layer_row(len(rows) + 1, layer, in_shape, Fraction(1), bias)
            except FactorcheckError as err:
                raise FileFormatError(f"{path!r}: node {name!r}: {err}") from None
            _check_output(row, shapes.get(node.output[0]) if node.output else None, path)
            rows.append(row)
    return rows, skipped


def _constant_names(graph: Any) -> set[str]:
    """Initializers, Constant outputs, and Identity copies of either."""
    names = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" or (node.op_type == "Identity" and node.input
                                          and node.input[0] in names):
            names.update(node.output)
    return names


def _attr(node: Any, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            if a.type == 2:  # INT
                return int(a.i)
            if a.type == 7:  # INTS
                return tuple(int(v) for v in a.ints)
            if a.type == 3:  # STRING
                return a.s.decode("utf-8", "replace")
            raise FileFormatError(f"node {node.name!r}: attribute {name!r} has type {a.type}")
    return default


_SKIPPED_OPS = {
    "ConvTranspose": "ConvTranspose (transposed convolution) is not counted",
    "QLinearConv": "quantized convolution is not counted",
    "ConvInteger": "quantized convolution is not counted",
}


def _onnx_layer(node: Any, name: str, shapes: dict, constants: set) -> Any:
    """``(Layer, (C, H, W))`` for a counted node, a SkippedNode, or ``None`` for other ops."""
    if node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type in _SKIPPED_OPS:
        return SkippedNode(name, _SKIPPED_OPS[node.op_type])
    handler = {"Conv": _onnx_conv, "Gemm": _onnx_gemm, "MatMul": _onnx_matmul}.get(node.op_type)
    if handler is None:
        return None
    operands = [shapes.get(i) for i in node.input[:2]]
    if len(operands) < 2 or any(s is None or None in s for s in operands):
        return SkippedNode(name, f"{node.op_type}: operand shapes unknown after shape inference")
    return handler(node, name, operands[0], operands[1], constants)


def _onnx_padding(node: Any, hw: tuple, kernel: tuple, strides: tuple, dilations: tuple) -> Any:
    """``((top, bottom), (left, right))`` from ``pads`` or ``auto_pad``."""
    auto = _attr(node, "auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(hw, kernel, strides, dilations, strict=True):
            total = max(0, (-(-size // s) - 1) * s + d * (k - 1) + 1 - size)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return tuple(pads)
    if auto == "VALID":
        return ((0, 0), (0, 0))
    pads = _attr(node, "pads", (0, 0, 0, 0))
    if len(pads) != 4:
        raise FileFormatError(f"node {node.name!r}: expected 4 pads, got {pads}")
    return ((pads[0], pads[2]), (pads[1], pads[3]))


def _onnx_conv(node: Any, name: str, x: tuple, w: tuple, constants: set) -> Any:
    if len(x) != 4 or len(w) != 4:
        return SkippedNode(name, f"{len(x) - 2}-D convolution is not counted (input {x})")
    _, channels, height, width = x
    out, per_group, kh, kw = w
    groups = _attr(node, "group", 1)
    if per_group * groups != channels:
        raise FileFormatError(f"node {name!r}: weight {w} with group {groups} does not match "
                              f"{channels} input channels")
    strides, dilations = _attr(node, "strides", (1, 1)), _attr(node, "dilations", (1, 1))
    why = conv_attribute_problem(w, groups, strides=strides, dilations=dilations,
                                 auto_pad=_attr(node, "auto_pad", "NOTSET"))
    if why is not None:  # before auto_pad divides by the strides
        raise FileFormatError(f"node {name!r}: {why}")
    padding = _onnx_padding(node, (height, width), (kh, kw), strides, dilations)
    has_bias = len(node.input) > 2 and node.input[2] != ""
    geometry = {"kernel": (kh, kw), "stride": strides, "padding": padding,
                "dilation": dilations, "bias": has_bias}
    if groups == channels > 1 and out % channels == 0:
        layer = Layer(name, "depthwise", multiplier=out // channels, **geometry)
    else:
        layer = Layer(name, "conv", out, groups=groups, scale_width=False, **geometry)
    return layer, (channels, height, width)


def _onnx_gemm(node: Any, name: str, a: tuple, b: tuple, constants: set) -> Any:
    if len(a) != 2 or len(b) != 2:
        return SkippedNode(name, f"Gemm: expected 2-D operands, got {a} and {b}")
    if node.input[1] not in constants:
        return SkippedNode(name, "Gemm of two activations (no weight) is not counted")
    features = a[0] if _attr(node, "transA", 0) else a[1]
    out = b[0] if _attr(node, "transB", 0) else b[1]
    has_bias = len(node.input) > 2 and node.input[2] != ""
    return Layer(name, "fc", out, scale_width=False, bias=has_bias), (features, 1, 1)


def _onnx_matmul(node: Any, name: str, a: tuple, b: tuple, constants: set) -> Any:
    if len(b) != 2 or node.input[1] not in constants:
        return SkippedNode(name, "MatMul without a constant 2-D weight is not counted")
    positions = math.prod(a[1:-1]) if len(a) >= 3 else 1
    layer = Layer(name, "fc", b[1], scale_width=False, bias=False, flatten=False)
    return layer, (a[-1], positions, 1)


def _check_output(row: LayerRow, inferred: tuple | None, path: str) -> None:
    """Compare the computed output with shape inference's (when it knows it)."""
    if inferred is None or None in inferred or row.type == "fc" or len(inferred) != 4:
        return
    if tuple(inferred[1:]) != tuple(row.output_shape):
        raise FileFormatError(
            f"{path!r}: node {row.name!r}: computed output {row.output_shape}, but shape "
            f"inference gives {tuple(inferred[1:])}")
