"""Network cost tables from ONNX model files.

This module joins the file side (:mod:`factorcheck.io`) and the counting
(:mod:`factorcheck.network.rows`), like :mod:`factorcheck.scan` does for
separability, so that ``symbolic/`` knows nothing of files.

What is counted, per input image (the model input's first dimension is the
batch; a convolution's first dimension is its batch, as ONNX defines it; a
matrix product counts all its rows, divided by the batch size, since its
first dimension need not be the batch: a sequence, or windows of an image):

- ``Conv`` (1-D, 2-D, 3-D; grouped and depthwise) and ``ConvTranspose``;
- ``Gemm`` and ``MatMul`` with a weight operand (an initializer, a ``Constant``
  node, or anything computed from those alone), as ``fc`` rows;
- ``MatMul`` (and ``Gemm``) between two activations, as ``attention`` rows
  (MACs, no parameters).

Shapes come from ``onnx.shape_inference`` and, where it gives up, from
:func:`factorcheck.network.shapes.propagate`.  A layer whose shapes are still
unknown, a quantized convolution or matrix product, and a layer inside an
``If``/``Loop``/``Scan`` subgraph or a model-local function is listed in the
table's ``skipped`` and the table is partial: its totals are lower bounds.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from factorcheck._text import printable
from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.io._common import require
from factorcheck.io.onnx import conv_attribute_problem, load_onnx_structure
from factorcheck.network.rows import attention_row, conv_row, dense_row, transposed_row
from factorcheck.network.shapes import _geometry, attr, propagate, transposed_output
from factorcheck.network.table import LayerRow, NetworkTable, SkippedNode

__all__ = ["COUNTED_OPS", "onnx_table"]

#: Operators that are layers: counted, or listed as not counted.
COUNTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_QUANTIZED = ("QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger")
_RANDOM = ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
           "Bernoulli")


def onnx_table(path: str | os.PathLike, *, input_shape: tuple[int, ...] | None = None,
               bias: bool = False) -> NetworkTable:
    """The cost table of an ONNX model's convolutions and matrix products.

    The model is parsed with the checks of :mod:`factorcheck.io` (files over
    2 GiB refused before parsing, ``load_external_data=False``), its input
    shape fixed (``input_shape``, or the one stored; a symbolic batch
    dimension alone is taken as 1, since counts are per image), and every
    shape inferred by ``onnx.shape_inference`` and then by
    :func:`~factorcheck.network.shapes.propagate`.  Each counted node's output
    shape is computed and checked against the inferred one.  With
    ``bias=True`` the biases stored in the file are counted.

    Returns
    -------
    NetworkTable
        ``complete`` is False when some layer could not be counted (listed in
        ``skipped``); its totals are then lower bounds.

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
    ...     [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 8, 8])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> onnx.save(helper.make_model(graph), path)
    >>> table = onnx_table(path)
    >>> row, = table.rows
    >>> row.type, row.output_shape, row.macs, table.complete   # 8*8*4*3*3
    ('depthwise', (4, 8, 8), 2304, True)
    """
    path = os.fspath(path)
    model = load_onnx_structure(path)  # size-checked, large weights left in the file
    onnx = require("onnx", "onnx", "reading an .onnx file")
    dims = _fix_input(model.graph, input_shape, path)
    functions = {(f.domain, f.name): f for f in model.functions}
    graph = _inferred_graph(onnx, model, functions, path)
    shapes = propagate(graph, {v.name: _value_dims(v)
                               for v in (*graph.input, *graph.value_info, *graph.output)})
    ctx = _Context(_constant_names(graph), bias, dims[0] if dims else 1)
    rows, skipped = _onnx_rows(graph, shapes, ctx, path, functions)
    skipped += _hidden_layers(graph, functions)
    _check_size(rows, path)
    return NetworkTable(os.path.basename(path), tuple(rows), None, dims, bias, "",
                        tuple(skipped))


#: Nodes that ONNX's inference may visit with model-local functions expanded at every call.
MAX_EXPANDED_NODES = 100_000
#: Deepest nesting of subgraphs and function calls that is followed.
MAX_DEPTH = 100


def _inferred_graph(onnx: Any, model: Any, functions: dict, path: str) -> Any:
    """The graph with ONNX's inferred shapes.

    ONNX's inference visits a function's body at every call, so functions that call
    each other can make it take exponential time: above :data:`MAX_EXPANDED_NODES`
    the functions are left out of inference (their outputs stay unknown, and the
    layers that need them are listed as not counted).
    """
    if _expanded_size(model.graph, functions, {}, 0) > MAX_EXPANDED_NODES:
        stripped = type(model)()
        stripped.CopyFrom(model)
        stripped.ClearField("functions")
        model = stripped
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    except Exception as err:  # onnx raises its own InferenceError and friends
        raise FileFormatError(f"{path!r}: ONNX shape inference failed ({printable(str(err))})"
                              ) from None


def _expanded_size(graph: Any, functions: dict, cache: dict, depth: int) -> int:
    """Nodes of ``graph`` with every function call and subgraph expanded (memoized: linear).

    Nesting deeper than :data:`MAX_DEPTH` counts as too large.
    """
    if depth > MAX_DEPTH:
        return MAX_EXPANDED_NODES + 1
    total = 0
    for node in graph.node:
        total += 1 + sum(_expanded_size(g, functions, cache, depth + 1)
                         for g in _subgraphs(node))
        key = (node.domain, node.op_type)
        if key in functions:
            if key not in cache:
                cache[key] = 0  # a recursive call: ONNX refuses it anyway
                cache[key] = _expanded_size(functions[key], functions, cache, depth + 1)
            total += cache[key]
        if total > MAX_EXPANDED_NODES:
            return total
    return total


def _value_dims(value: Any) -> tuple[int | None, ...] | None:
    """Static dims of a ValueInfo (``None`` for an unknown dim), or ``None`` without a shape."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in tensor.shape.dim)


def _fix_input(graph: Any, input_shape: tuple[int, ...] | None, path: str) -> tuple[int, ...]:
    """Set or check the model input's static shape (a symbolic batch alone becomes 1)."""
    stored = {t.name for t in graph.initializer}
    inputs = [value for value in graph.input if value.name not in stored]
    if len(inputs) != 1:
        raise FileFormatError(f"{path!r}: expected one graph input, got "
                              f"{[v.name for v in inputs]}")
    value = inputs[0]
    dims = _value_dims(value)
    if input_shape is None and dims is not None and len(dims) > 1 and dims[0] is None \
            and None not in dims[1:]:
        input_shape = (1, *dims[1:])  # type: ignore[assignment]
    if input_shape is not None:
        if any(not isinstance(d, int) or isinstance(d, bool) or not 1 <= d < 2**63
               for d in input_shape):
            shown = [d if not isinstance(d, int) or abs(d) < 2**64 else "(huge)"
                     for d in input_shape[:8]]
            raise FactorcheckError(
                f"input shape: expected positive ints below 2**63 (ONNX's int64), got {shown}")
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


def _constant_names(graph: Any) -> set[str]:
    """Values computed from initializers and Constant nodes alone (weights, not activations)."""
    names = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type in _RANDOM or any(a.type in (5, 10) for a in node.attribute):
            continue
        inputs = [i for i in node.input if i]
        if node.op_type == "Constant" or (inputs and all(i in names for i in inputs)):
            names.update(node.output)
    return names


def _node_name(node: Any, position: int) -> str:
    return node.name or (node.output[0] if node.output else f"{node.op_type}_{position}")


@dataclass(frozen=True)
class _Context:
    """What every row builder needs besides its node."""

    constants: set[str]
    bias: bool
    batch: int


def _onnx_rows(graph: Any, shapes: dict, ctx: _Context, path: str,
               functions: dict) -> tuple[list[LayerRow], list[SkippedNode]]:
    rows: list[LayerRow] = []
    skipped: list[SkippedNode] = []
    for position, node in enumerate(graph.node):
        name = _node_name(node, position)
        if node.domain not in ("", "ai.onnx"):
            if (node.domain, node.op_type) not in functions and _looks_like_a_layer(node):
                skipped.append(SkippedNode(
                    name, f"operator {node.domain}.{node.op_type} is outside the ONNX domain",
                    node.op_type))
            continue
        if node.op_type in _QUANTIZED:
            skipped.append(SkippedNode(name, "quantized layers are not counted", node.op_type))
            continue
        if node.op_type not in COUNTED_OPS:
            continue
        operands = [shapes.get(i) for i in node.input[:2]]
        out = shapes.get(node.output[0]) if node.output else None
        if len(operands) < 2 or None in operands:
            skipped.append(SkippedNode(
                name, "operand shapes unknown after shape inference and propagation",
                node.op_type))
            continue
        try:
            row = _ROW_BUILDERS[node.op_type](len(rows) + 1, node, name, operands, out, ctx)
        except (FactorcheckError, ValueError, IndexError, TypeError, ArithmeticError) as err:
            raise FileFormatError(f"{path!r}: node {name!r} ({node.op_type}): {err}") from None
        rows.append(row)
    return rows, skipped


def _looks_like_a_layer(node: Any) -> bool:
    """A custom-domain operator named like a layer (com.microsoft FusedConv, Attention, ...)."""
    return any(word in node.op_type for word in ("Conv", "Gemm", "MatMul", "Attention"))


#: Counts longer than this many bits (about 3,900 digits) are refused: they could not print.
MAX_COUNT_BITS = 13_000


def _check_size(rows: list[LayerRow], path: str) -> None:
    for row in rows:
        if max(int(row.macs).bit_length(), int(row.params).bit_length()) > MAX_COUNT_BITS:
            raise FileFormatError(f"{path!r}: node {row.name!r}: its counts have more than "
                                  f"{MAX_COUNT_BITS} bits; refused")


# ---------------------------------------------------------------- one node


def _has_bias(node: Any) -> bool:
    return len(node.input) > 2 and node.input[2] != ""


def _conv(index: int, node: Any, name: str, operands: list, out: Any,
          ctx: _Context) -> LayerRow:
    x, w = operands
    if len(x) < 3 or len(w) != len(x):
        raise ValueError(f"expected input and weight of the same rank >= 3, got {x} and {w}")
    channels, spatial, kernel = x[1], x[2:], w[2:]
    groups = attr(node, "group", 1)
    if groups < 1 or w[1] * groups != channels or w[0] % groups:
        raise ValueError(f"weight {w} with group {groups} does not match {channels} input "
                         "channels")
    why = conv_attribute_problem(
        w, groups, strides=attr(node, "strides", None), pads=attr(node, "pads", None),
        dilations=attr(node, "dilations", None), auto_pad=attr(node, "auto_pad", "NOTSET"))
    if why is not None:  # the same rules as `check`, before auto_pad divides by the strides
        raise ValueError(why)
    strides, dilations, pads = _geometry(node, spatial, kernel)
    row = conv_row(index, name, (channels, *spatial), w[0], kernel, stride=strides,
                   padding=pads, dilation=dilations, groups=groups,
                   bias=ctx.bias and _has_bias(node))
    _check_output(row, out)
    return row


def _transposed(index: int, node: Any, name: str, operands: list, out: Any,
                ctx: _Context) -> LayerRow:
    x, w = operands
    groups = attr(node, "group", 1)
    if len(x) < 3 or len(w) != len(x) or groups < 1 or w[0] != x[1] or x[1] % groups:
        raise ValueError(f"weight {w} with group {groups} does not match input {x}")
    computed = transposed_output(node, x, w)
    if min(computed[2:]) < 1:
        raise ValueError(f"computed output {computed} is empty")
    if out is not None and tuple(out) != tuple(computed):
        raise ValueError(f"computed output {computed}, but shape inference gives {out}")
    return transposed_row(index, name, x[1:], computed[1:], w[2:],
                          stride=attr(node, "strides", (1,) * (len(x) - 2)), groups=groups,
                          bias=ctx.bias and _has_bias(node))


def _per_image(rows: int, batch: int) -> int:
    """Rows of a matrix product per image: all rows over the batch (when they divide)."""
    return rows // batch if rows % batch == 0 else rows


def _gemm(index: int, node: Any, name: str, operands: list, out: Any,
          ctx: _Context) -> LayerRow:
    a, b = operands
    if len(a) != 2 or len(b) != 2:
        raise ValueError(f"expected 2-D operands, got {a} and {b}")
    rows, features = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
    outputs = b[0] if attr(node, "transB", 0) else b[1]
    positions = _per_image(rows, ctx.batch)
    if node.input[1] in ctx.constants or node.input[0] in ctx.constants:
        return dense_row(index, name, features, outputs, positions=positions,
                         bias=ctx.bias and _has_bias(node))
    return attention_row(index, name, (positions, features), (positions, outputs),
                         positions=positions)


def _matmul(index: int, node: Any, name: str, operands: list, out: Any,
            ctx: _Context) -> LayerRow:
    a, b = operands
    if out is None or not a or not b or a[-1] != b[-2 if len(b) > 1 else 0]:
        raise ValueError(f"operands {a} and {b} do not multiply")
    positions = _per_image(math.prod(out[:-1]) if len(b) > 1 else math.prod(out), ctx.batch)
    first, second = (node.input[i] in ctx.constants for i in (0, 1))
    if second and len(b) == 2:
        return dense_row(index, name, a[-1], b[1], positions=positions)
    a_shown, out_shown = (a[1:], out[1:]) if len(out) >= 3 and out[0] == ctx.batch else (a, out)
    row = attention_row(index, name, tuple(a_shown), tuple(out_shown) or (1,),
                        positions=positions)
    if first or second:
        row = dataclasses.replace(row, type="fc", params=math.prod(b if second else a))
    return row


_ROW_BUILDERS = {"Conv": _conv, "ConvTranspose": _transposed, "Gemm": _gemm, "MatMul": _matmul}


def _check_output(row: LayerRow, inferred: tuple | None) -> None:
    """Compare the computed output with the inferred one (when it is known)."""
    if inferred is None or len(inferred) != len(row.output_shape) + 1:
        return
    if tuple(inferred[1:]) != tuple(row.output_shape):
        raise ValueError(f"computed output {row.output_shape}, but shape inference gives "
                         f"{tuple(inferred[1:])}")


# ---------------------------------------------------------------- layers out of reach


def _subgraphs(node: Any) -> list:
    """The graphs held in a node's attributes (If branches, Loop and Scan bodies)."""
    found = []
    for a in node.attribute:
        if a.type == 5:  # GRAPH
            found.append(a.g)
        elif a.type == 10:  # GRAPHS
            found.extend(a.graphs)
    return found


def _layers_inside(graph: Any, functions: dict, cache: dict, depth: int) -> int:
    """Number of layers (counted or quantized ops) in a graph, its subgraphs and functions."""
    return sum(_layers_of(node, functions, cache, depth) for node in graph.node)


def _layers_of(node: Any, functions: dict, cache: dict, depth: int) -> int:
    """Layers in one node: itself, its subgraphs, and the model-local function it calls.

    Each function is counted once (``cache``), so the work stays linear in the file
    however often functions call each other; below :data:`MAX_DEPTH` levels nothing more
    is counted.
    """
    if depth > MAX_DEPTH:
        return 0
    count = int(node.op_type in COUNTED_OPS + _QUANTIZED)
    count += sum(_layers_inside(g, functions, cache, depth + 1) for g in _subgraphs(node))
    key = (node.domain, node.op_type)
    if key in functions:
        if key not in cache:
            cache[key] = 0  # a recursive call counts nothing
            cache[key] = _layers_inside(functions[key], functions, cache, depth + 1)
        count += cache[key]
    return count


def _hidden_layers(graph: Any, functions: dict) -> list[SkippedNode]:
    """Nodes of the main graph that hold layers in subgraphs or model-local functions."""
    hidden: list[SkippedNode] = []
    cache: dict = {}
    for position, node in enumerate(graph.node):
        own = int(node.op_type in COUNTED_OPS + _QUANTIZED)  # the node itself is in the table
        inner = _layers_of(node, functions, cache, 0) - own
        if not inner:
            continue
        key = (node.domain, node.op_type)
        where = (f"the model-local function {node.domain}.{node.op_type}" if key in functions
                 else f"a {node.op_type} subgraph")
        hidden.append(SkippedNode(_node_name(node, position),
                                  f"{inner} layer(s) inside {where} are not counted",
                                  node.op_type))
    return hidden
