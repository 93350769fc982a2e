"""Shapes of an ONNX graph's values where ``onnx.shape_inference`` leaves them unknown.

Exporters compute reshapes from the input's own shape (``Shape -> Gather ->
Unsqueeze -> Concat -> Reshape``: ShuffleNet's channel shuffle, a dynamic
batch).  ONNX's inference often gives up on such chains, and every layer after
them loses its shapes.  :func:`propagate` walks the graph once in order and
folds those chains: it keeps the *values* of small integer tensors (shapes,
indices, axes) next to every value's shape, so ``Shape``, ``Gather``,
``Slice``, ``Concat``, ``Unsqueeze``, ``Squeeze``, ``Reshape``, ``Transpose``,
``Expand``, ``Resize``, arithmetic on shapes and the layers between them
(convolutions, pooling, element-wise ops, matrix products) all get exact static
shapes.  A shape it cannot work out stays ``None``; it never guesses, and any
malformed node simply leaves its outputs unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["conv_pads", "propagate", "transposed_output"]

Shape = tuple[int, ...]
#: Largest constant (in elements) whose value is kept for folding.
MAX_FOLDED = 4096
_UNARY = frozenset((
    "Identity", "Relu", "Sigmoid", "Tanh", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish",
    "Dropout", "BatchNormalization", "Softmax", "LogSoftmax", "Erf", "Gelu", "Sqrt", "Neg",
    "Abs", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Not", "Sin", "Cos", "Elu", "Selu",
    "InstanceNormalization", "LayerNormalization", "Mish", "Softplus", "Round", "Sign", "Cast",
    "CastLike", "Celu", "ThresholdedRelu", "Softsign", "LRN", "MeanVarianceNormalization",
    "DequantizeLinear", "QuantizeLinear", "IsNaN", "IsInf", "Hardmax", "Shrink",
))
_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": None, "Pow": None,
           "Max": np.maximum, "Min": np.minimum, "Mod": None, "Equal": np.equal,
           "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
           "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or,
           "Xor": np.logical_xor, "PRelu": None, "Where": None, "Sum": None, "Mean": None,
           "BitShift": None}


# ---------------------------------------------------------------- helpers


def attr(node: Any, name: str, default: Any = None) -> Any:
    """An attribute's value: int, float, ints, floats, string or tensor (as an array).

    Examples
    --------
    >>> from onnx import helper
    >>> attr(helper.make_node("Conv", ["x"], ["y"], strides=[2, 2]), "strides")
    (2, 2)
    """
    for a in node.attribute:
        if a.name != name:
            continue
        return _attr_value(a)
    return default


def _attr_value(a: Any) -> Any:
    if a.type == 1:  # FLOAT
        return float(a.f)
    if a.type == 2:  # INT
        return int(a.i)
    if a.type == 3:  # STRING
        return a.s.decode("utf-8", "replace")
    if a.type == 4:  # TENSOR
        return _tensor_value(a.t)
    if a.type == 6:  # FLOATS
        return tuple(float(v) for v in a.floats)
    if a.type == 7:  # INTS
        return tuple(int(v) for v in a.ints)
    return None


def _tensor_value(tensor: Any) -> np.ndarray | None:
    """A small tensor's value; ``None`` when it is large, external or stripped."""
    if math.prod(tensor.dims) > MAX_FOLDED or tensor.data_location == 1:
        return None
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(tensor)
    except Exception:  # a stripped or malformed tensor: its value is simply unknown
        return None


def _broadcast(*shapes: Shape) -> Shape:
    return tuple(int(d) for d in np.broadcast_shapes(*shapes))


def _axes(values: Any, rank: int) -> list[int]:
    return [int(a) + rank if int(a) < 0 else int(a) for a in values]


def _ints(value: np.ndarray | None) -> list[int] | None:
    if value is None or value.dtype.kind not in "iub":
        return None
    return [int(v) for v in np.asarray(value).reshape(-1)]


# ---------------------------------------------------------------- convolutions and pooling


def conv_pads(node: Any, spatial: Shape, kernel: Shape, strides: Shape,
              dilations: Shape) -> tuple[tuple[int, int], ...]:
    """``(begin, end)`` padding per spatial axis from ``pads`` or ``auto_pad``.

    Examples
    --------
    >>> from onnx import helper
    >>> node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER")
    >>> conv_pads(node, (15, 15), (3, 3), (2, 2), (1, 1))   # 8 outputs: 7*2 + 3 - 15 = 2 pads
    ((1, 1), (1, 1))
    >>> conv_pads(node, (16, 16), (3, 3), (2, 2), (1, 1))   # 7*2 + 3 - 16 = 1: at the end
    ((0, 1), (0, 1))
    """
    auto = attr(node, "auto_pad", "NOTSET")
    rank = len(spatial)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max(0, (-(-size // s) - 1) * s + d * (k - 1) + 1 - size)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return tuple(pads)
    if auto == "VALID":
        return ((0, 0),) * rank
    pads = attr(node, "pads", (0,) * (2 * rank))
    if len(pads) != 2 * rank:
        raise ValueError(f"expected {2 * rank} pads, got {pads}")
    return tuple((pads[i], pads[i + rank]) for i in range(rank))


def _geometry(node: Any, spatial: Shape, kernel: Shape) -> tuple:
    rank = len(spatial)
    strides = attr(node, "strides", (1,) * rank)
    dilations = attr(node, "dilations", (1,) * rank)
    if len(strides) != rank or len(dilations) != rank or min(strides + dilations, default=1) < 1:
        raise ValueError(f"bad strides {strides} or dilations {dilations}")
    return strides, dilations, conv_pads(node, spatial, kernel, strides, dilations)


def _window(node: Any, spatial: Shape, kernel: Shape, ceil: bool = False) -> Shape:
    strides, dilations, pads = _geometry(node, spatial, kernel)
    out = []
    for size, k, s, d, (b, e) in zip(spatial, kernel, strides, dilations, pads, strict=True):
        span = size + b + e - d * (k - 1) - 1
        if span < 0:
            raise ValueError("kernel larger than the padded input")
        out.append((-(-span // s) if ceil else span // s) + 1)
    return tuple(out)


def _conv(node: Any, x: Shape, w: Shape) -> Shape:
    return (x[0], w[0], *_window(node, x[2:], w[2:]))


def transposed_output(node: Any, x: Shape, w: Shape) -> Shape:
    """Output shape of a ``ConvTranspose`` with input ``x`` and weight ``w`` (ONNX's formula).

    Examples
    --------
    >>> from onnx import helper
    >>> node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])
    >>> transposed_output(node, (1, 4, 5, 5), (4, 3, 2, 2))   # 2*(5-1) + 2
    (1, 3, 10, 10)
    """
    spatial, kernel = x[2:], w[2:]
    rank = len(spatial)
    out_channels = w[1] * attr(node, "group", 1)
    strides = attr(node, "strides", (1,) * rank)
    given = attr(node, "output_shape")
    if given is not None:
        return (x[0], out_channels, *given[-rank:])
    if attr(node, "auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        return (x[0], out_channels, *(s * d for s, d in zip(strides, spatial, strict=True)))
    dilations = attr(node, "dilations", (1,) * rank)
    extra = attr(node, "output_padding", (0,) * rank)
    pads = attr(node, "pads", (0,) * (2 * rank)) if attr(node, "auto_pad", "NOTSET") != "VALID" \
        else (0,) * (2 * rank)
    return (x[0], out_channels, *(
        s * (d_in - 1) + o + (k - 1) * d + 1 - pads[i] - pads[i + rank]
        for i, (d_in, k, s, d, o) in enumerate(zip(spatial, kernel, strides, dilations, extra,
                                                   strict=True))))


def _pool(node: Any, x: Shape) -> Shape:
    kernel = attr(node, "kernel_shape")
    return (x[0], x[1], *_window(node, x[2:], kernel, bool(attr(node, "ceil_mode", 0))))


# ---------------------------------------------------------------- shape ops


def _reshape(x: Shape, target: list[int], allowzero: int) -> Shape:
    out = [x[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if out.count(-1) == 1:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(x) // known if known else 0
    if math.prod(out) != math.prod(x) or min(out, default=0) < 0:
        raise ValueError(f"cannot reshape {x} to {target}")
    return tuple(out)


def _slices(node: Any, inputs: list, rank: int) -> list[slice]:
    if len(inputs) > 1:
        starts, ends = _ints(inputs[1][1]), _ints(inputs[2][1])
        axes = _ints(inputs[3][1]) if len(inputs) > 3 and inputs[3] else None
        steps = _ints(inputs[4][1]) if len(inputs) > 4 and inputs[4] else None
    else:
        starts, ends, axes, steps = (attr(node, "starts"), attr(node, "ends"),
                                     attr(node, "axes"), None)
    if starts is None or ends is None:
        raise ValueError("slice bounds unknown")
    axes = _axes(axes if axes is not None else range(len(starts)), rank)
    steps = steps or [1] * len(starts)
    out = [slice(None)] * rank
    for a, b, e, s in zip(axes, starts, ends, steps, strict=True):
        out[a] = slice(b, e, s)
    return out


def _take_inputs(inputs: list) -> tuple[list, list]:
    return [i[0] if i else None for i in inputs], [i[1] if i else None for i in inputs]


def _resize(node: Any, inputs: list) -> Shape:
    x = inputs[0][0]
    sizes = _ints(inputs[3][1]) if len(inputs) > 3 and inputs[3] else None
    scales = inputs[2][1] if len(inputs) > 2 and inputs[2] else None
    if node.op_type == "Upsample" or len(inputs) == 2:  # Upsample; Resize before opset 11
        scales = inputs[1][1] if len(inputs) > 1 else attr(node, "scales")
    axes = _axes(attr(node, "axes", range(len(x))), len(x))
    if sizes:
        out = list(x)
        for a, s in zip(axes, sizes, strict=True):
            out[a] = s
        return tuple(out)
    if scales is None or len(scales) == 0:
        raise ValueError("Resize without sizes or scales")
    out = list(x)
    for a, s in zip(axes, np.asarray(scales, dtype=np.float64).reshape(-1), strict=True):
        out[a] = math.floor(x[a] * float(s))
    return tuple(out)


def _split(node: Any, inputs: list, count: int) -> list[Shape]:
    x = inputs[0][0]
    axis = _axes([attr(node, "axis", 0)], len(x))[0]
    parts = _ints(inputs[1][1]) if len(inputs) > 1 and inputs[1] else attr(node, "split")
    if parts is None:
        size = -(-x[axis] // count)
        parts = [min(size, x[axis] - i * size) for i in range(count)]
    return [(*x[:axis], p, *x[axis + 1:]) for p in parts]


# ---------------------------------------------------------------- one node


def _folded(value: Any) -> tuple[Shape, np.ndarray | None]:
    array = np.asarray(value)
    return tuple(int(d) for d in array.shape), array if array.size <= MAX_FOLDED else None


def _shape_op(node: Any, shapes: list, values: list) -> list:
    x = shapes[0]
    start, end = attr(node, "start", 0), attr(node, "end", len(x))
    return [_folded(np.array(x[slice(start, end)], dtype=np.int64))]


def _gather(node: Any, shapes: list, values: list) -> list:
    x, idx = shapes[0], shapes[1]
    axis = _axes([attr(node, "axis", 0)], len(x))[0]
    if values[0] is not None and values[1] is not None:
        return [_folded(np.take(values[0], values[1], axis=axis))]
    return [((*x[:axis], *idx, *x[axis + 1:]), None)]


def _unsqueeze(node: Any, shapes: list, values: list) -> list:
    axes = _ints(values[1]) if len(values) > 1 else attr(node, "axes")
    out = list(shapes[0])
    for a in sorted(_axes(axes, len(out) + len(axes))):
        out.insert(a, 1)
    value = None if values[0] is None else np.reshape(values[0], out)
    return [(tuple(out), value)]


def _squeeze(node: Any, shapes: list, values: list) -> list:
    x = shapes[0]
    axes = _ints(values[1]) if len(values) > 1 and values[1] is not None else attr(node, "axes")
    drop = set(_axes(axes, len(x))) if axes is not None else {i for i, d in enumerate(x) if d == 1}
    out = tuple(d for i, d in enumerate(x) if i not in drop)
    return [(out, None if values[0] is None else np.reshape(values[0], out))]


def _concat(node: Any, shapes: list, values: list) -> list:
    axis = _axes([attr(node, "axis", 0)], len(shapes[0]))[0]
    if all(v is not None for v in values):
        return [_folded(np.concatenate(values, axis=axis))]
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [(tuple(out), None)]


def _reshape_op(node: Any, shapes: list, values: list) -> list:
    out = _reshape(shapes[0], _ints(values[1]), attr(node, "allowzero", 0))
    return [(out, None if values[0] is None else np.reshape(values[0], out))]


def _slice_op(node: Any, shapes: list, values: list) -> list:
    inputs = list(zip(shapes, values, strict=True))
    index = tuple(_slices(node, inputs, len(shapes[0])))
    if values[0] is not None:
        return [_folded(values[0][index])]
    return [(tuple(len(range(*s.indices(d))) for s, d in zip(index, shapes[0], strict=True)),
             None)]


def _transpose(node: Any, shapes: list, values: list) -> list:
    perm = attr(node, "perm", tuple(reversed(range(len(shapes[0])))))
    value = None if values[0] is None else np.transpose(values[0], perm)
    return [(tuple(shapes[0][p] for p in perm), value)]


def _expand(node: Any, shapes: list, values: list) -> list:
    out = _broadcast(shapes[0], tuple(_ints(values[1])))
    return [(out, None if values[0] is None else _folded(np.broadcast_to(values[0], out))[1])]


def _elementwise(node: Any, shapes: list, values: list) -> list:
    out = _broadcast(*[s for s in shapes if s is not None])
    if math.prod(out) > MAX_FOLDED:  # never build a large array, whatever the inputs
        return [(out, None)]
    func = _BINARY.get(node.op_type)
    if func is not None and all(v is not None for v in values) and len(values) == 2:
        return [_folded(func(values[0], values[1]))]
    if node.op_type == "Div" and all(v is not None and v.dtype.kind == "i" for v in values) \
            and np.all(values[1] != 0):
        return [_folded(np.trunc(values[0] / values[1]).astype(values[0].dtype))]
    if node.op_type == "Where" and all(v is not None for v in values):
        return [_folded(np.where(*values))]
    if node.op_type == "Mod" and all(v is not None for v in values) and np.all(values[1] != 0):
        return [_folded((np.fmod if attr(node, "fmod", 0) else np.mod)(values[0], values[1]))]
    return [(out, None)]


#: Element-wise functions whose values are folded (shape arithmetic uses them).
_FOLDED_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Identity": lambda v: v, "Neg": np.negative, "Abs": np.abs, "Floor": np.floor,
    "Ceil": np.ceil, "Sqrt": np.sqrt, "Round": np.round, "Sign": np.sign, "Not": np.logical_not,
    "Reciprocal": np.reciprocal, "Relu": lambda v: np.maximum(v, 0),
}


def _unary(node: Any, shapes: list, values: list) -> list:
    value = values[0]
    if value is not None and node.op_type == "Cast":
        from onnx import helper

        value = value.astype(helper.tensor_dtype_to_np_dtype(attr(node, "to")))
    elif value is not None and node.op_type in _FOLDED_UNARY:
        value = np.asarray(_FOLDED_UNARY[node.op_type](value))
    else:
        value = None
    if node.op_type == "Dropout":  # its mask has the input's shape; other ops' extra outputs
        return [(shapes[0], value), (shapes[0], None)]  # (statistics) are left to onnx
    return [(shapes[0], value)]


def _constant(node: Any, shapes: list, values: list) -> list:
    for name in ("value_int", "value_ints", "value_float", "value_floats"):
        found = attr(node, name)
        if found is not None:
            return [_folded(np.array(found, dtype=np.int64 if "int" in name else np.float32))]
    value = attr(node, "value")
    if value is None:
        tensor = next(a.t for a in node.attribute if a.name == "value")
        return [(tuple(int(d) for d in tensor.dims), None)]
    return [_folded(value)]


def _constant_of_shape(node: Any, shapes: list, values: list) -> list:
    shape = tuple(_ints(values[0]))
    fill = attr(node, "value")
    if math.prod(shape) > MAX_FOLDED:
        return [(shape, None)]
    return [_folded(np.full(shape, 0.0 if fill is None else fill.reshape(-1)[0],
                            dtype=np.float32 if fill is None else fill.dtype))]


def _range(node: Any, shapes: list, values: list) -> list:
    start, limit, delta = (np.asarray(v).reshape(()).item() for v in values)
    length = max(math.ceil((limit - start) / delta), 0)
    if length > MAX_FOLDED:
        return [((length,), None)]
    return [_folded(np.arange(start, limit, delta))]


def _matmul(node: Any, shapes: list, values: list) -> list:
    a, b = shapes
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    out = (*_broadcast(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return [(out, None)]


def _gemm(node: Any, shapes: list, values: list) -> list:
    a, b = shapes[0], shapes[1]
    rows = a[1] if attr(node, "transA", 0) else a[0]
    cols = b[0] if attr(node, "transB", 0) else b[1]
    return [((rows, cols), None)]


def _flatten(node: Any, shapes: list, values: list) -> list:
    x = shapes[0]
    axis = _axes([attr(node, "axis", 1)], len(x))[0]
    return [((math.prod(x[:axis]), math.prod(x[axis:])), None)]


def _reduce(node: Any, shapes: list, values: list) -> list:
    x = shapes[0]
    axes = _ints(values[1]) if len(values) > 1 and values[1] is not None else attr(node, "axes")
    if axes is None and len(values) > 1 and shapes[1] is not None and values[1] is None:
        raise ValueError("reduction axes unknown")
    if not axes and attr(node, "noop_with_empty_axes", 0):
        return [(x, None)]
    axes = set(_axes(axes, len(x))) if axes else set(range(len(x)))
    keep = bool(attr(node, "keepdims", 1))
    out = tuple(1 if i in axes else d for i, d in enumerate(x)) if keep \
        else tuple(d for i, d in enumerate(x) if i not in axes)
    func = _FOLDED_REDUCE.get(node.op_type)
    if values[0] is None or func is None:
        return [(out, None)]
    return [(out, np.asarray(func(values[0], axis=tuple(sorted(axes)), keepdims=keep)))]


_FOLDED_REDUCE = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max,
                  "ReduceMin": np.min, "ReduceMean": np.mean}


def _pad(node: Any, shapes: list, values: list) -> list:
    x = shapes[0]
    pads = _ints(values[1]) if len(values) > 1 else attr(node, "pads")
    if len(values) > 3 and values[3] is not None:
        raise ValueError("Pad with axes is not folded")
    return [(tuple(d + pads[i] + pads[i + len(x)] for i, d in enumerate(x)), None)]


def _tile(node: Any, shapes: list, values: list) -> list:
    return [(tuple(d * r for d, r in zip(shapes[0], _ints(values[1]), strict=True)), None)]


_HANDLERS: dict[str, Callable[[Any, list, list], list]] = {
    "Shape": _shape_op, "Gather": _gather, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze,
    "Concat": _concat, "Reshape": _reshape_op, "Slice": _slice_op, "Transpose": _transpose,
    "Expand": _expand, "Constant": _constant, "ConstantOfShape": _constant_of_shape,
    "Range": _range, "MatMul": _matmul, "Gemm": _gemm, "Flatten": _flatten, "Pad": _pad,
    "Tile": _tile,
    "Conv": lambda n, s, v: [(_conv(n, s[0], s[1]), None)],
    "ConvTranspose": lambda n, s, v: [(transposed_output(n, s[0], s[1]), None)],
    "Resize": lambda n, s, v: [(_resize(n, list(zip(s, v, strict=True))), None)],
    "Upsample": lambda n, s, v: [(_resize(n, list(zip(s, v, strict=True))), None)],
    "Split": lambda n, s, v: [(o, None) for o in _split(n, list(zip(s, v, strict=True)),
                                                        len(n.output))],
    "Size": lambda n, s, v: [_folded(np.array(math.prod(s[0]), dtype=np.int64))],
    **{op: lambda n, s, v: [(_pool(n, s[0]), None)]
       for op in ("MaxPool", "AveragePool", "LpPool")},
    **{op: lambda n, s, v: [((*s[0][:2], *(1,) * (len(s[0]) - 2)), None)]
       for op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")},
    **{op: _unary for op in _UNARY},
    **{op: _elementwise for op in _BINARY},
    **{op: _reduce for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
                              "ReduceProd", "ReduceL2", "ReduceL1", "ReduceLogSumExp",
                              "ReduceSumSquare")},
}


def _node_outputs(node: Any, known: dict[str, tuple]) -> list | None:
    """``[(shape, value), ...]`` of the node's outputs, or ``None`` when they cannot be known."""
    handler = _HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if handler is None:
        return None
    inputs = [known.get(name, (None, None)) if name else (None, None) for name in node.input]
    shapes, values = _take_inputs(inputs)
    if node.op_type != "Constant" and (not shapes or shapes[0] is None):
        return None
    if node.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm") and \
            (len(shapes) < 2 or shapes[1] is None):
        return None
    try:
        with np.errstate(all="ignore"):
            return handler(node, shapes, values)
    except Exception:  # any malformed or unsupported case leaves the outputs unknown
        return None


def propagate(graph: Any, inferred: dict[str, Shape | None]) -> dict[str, Shape | None]:
    """Static shapes of the graph's values: ONNX's inference where known, folded where not.

    Parameters
    ----------
    graph : onnx.GraphProto
        Its nodes in topological order (as ONNX requires); graph inputs and
        initializers must have static shapes to be used.
    inferred : dict
        Name -> shape from ``onnx.shape_inference`` (``None`` or a ``None``
        dim where unknown).

    Returns
    -------
    dict
        Name -> static shape, or ``None`` where still unknown.

    Examples
    --------
    >>> from onnx import TensorProto, helper
    >>> nodes = [helper.make_node("Shape", ["x"], ["s"]),
    ...          helper.make_node("Reshape", ["x", "s"], ["y"])]
    >>> graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
    ...     "x", TensorProto.FLOAT, [1, 6, 2])], [])
    >>> propagate(graph, {"x": (1, 6, 2)})["y"]
    (1, 6, 2)
    """
    known: dict[str, tuple] = {}
    for name, shape in inferred.items():
        if shape is not None and None not in shape:
            known[name] = (tuple(shape), None)
    for tensor in graph.initializer:
        known[tensor.name] = (tuple(int(d) for d in tensor.dims), _tensor_value(tensor))
    for node in graph.node:
        outputs = _node_outputs(node, known) or []
        for position, name in enumerate(node.output):
            found = outputs[position] if position < len(outputs) else (None, None)
            theirs = known.get(name, (None, None))[0]
            shape = theirs if theirs is not None else found[0]
            value = found[1] if shape == found[0] else None
            if shape is not None and all(isinstance(d, int) and d >= 0 for d in shape):
                known[name] = (tuple(shape), value)
    return {name: entry[0] for name, entry in known.items()}
