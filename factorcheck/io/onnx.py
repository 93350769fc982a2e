"""ONNX models, through the ``onnx`` library (optional extra ``onnx``).

Files over 2 GiB (the protobuf limit) are refused before parsing.  Weights
stored inline (``raw_data``) are not read with the model: the file is
memory-mapped and its protobuf encoding walked (:mod:`factorcheck.io._protobuf`,
bounded, malformed input gives :class:`~factorcheck.errors.FileFormatError`)
to note where each large ``raw_data`` lies; a copy of the model without those
bytes (small) is parsed by ``onnx``, and ``load()`` memory-maps one weight.
Scanning thus holds one weight at a time, as with the other formats.  External
data is never loaded with the model either.  Files named with an ``onnx`` text
extension (``.json``, ``.txtpb``, ...) are parsed whole by ``onnx.load``.

Every ``Conv`` node of the main
graph is listed with its ``group``, ``strides``, ``pads`` and ``dilations``;
its weight is found as an initializer, as a ``Constant`` node (PaddlePaddle
exports do this) or behind a chain of ``Identity`` nodes.  ``ConvTranspose``,
``QLinearConv``, ``ConvInteger`` and weights produced by ``DequantizeLinear``
or any other run-time computation are listed as skipped, with the reason.

External data is read only from a regular file inside the model's folder:
the location is resolved (symbolic links followed) and refused if it leaves
the folder, and the offset and length are checked against the file and the
tensor's shape before anything is read.  ``allow_external_data=False`` refuses
it outright.
"""

from __future__ import annotations

import dataclasses
import os
from collections import ChainMap
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.io._common import (
    MAX_TENSOR_BYTES,
    ModelContents,
    SkippedTensor,
    StoredKernel,
    check_nbytes,
    file_size,
    read_exact,
    require,
    widen_bfloat16,
)
from factorcheck.io._protobuf import RAW, Stripped, strip_file

__all__ = ["MAX_ONNX_BYTES", "conv_attribute_problem", "load_onnx", "load_onnx_structure"]

#: Largest .onnx file parsed (protobuf cannot hold more).
MAX_ONNX_BYTES: int = 2 * 2**30

#: ONNX TensorProto data types accepted for Conv weights -> (stored NumPy dtype, name).
_FLOAT_TYPES: dict[int, tuple[str, str]] = {
    1: ("<f4", "float32"), 10: ("<f2", "float16"), 11: ("<f8", "float64"),
    16: ("<u2", "bfloat16"),
}
_BFLOAT16 = 16
_QUANTIZED_OPS = {"QLinearConv", "ConvInteger"}
_MAX_IDENTITY_CHAIN = 1000

# Where inline weights sit in onnx.proto (field numbers checked against onnx 1.23's onnx.proto):
# every TensorProto.raw_data (9) reachable from ModelProto.graph (7) and .functions (25)
# through GraphProto.initializer (5) / .node (1), FunctionProto.node (7), NodeProto.attribute
# (5), AttributeProto.t (5) / .tensors (10) and, for subgraphs, AttributeProto.g (6) / .graphs (11).
_TENSOR_SCHEMA = {9: RAW}
_ATTRIBUTE_SCHEMA: dict = {5: _TENSOR_SCHEMA, 10: _TENSOR_SCHEMA}
_NODE_SCHEMA = {5: _ATTRIBUTE_SCHEMA}
_GRAPH_SCHEMA = {1: _NODE_SCHEMA, 5: _TENSOR_SCHEMA}
_ATTRIBUTE_SCHEMA.update({6: _GRAPH_SCHEMA, 11: _GRAPH_SCHEMA})
_MODEL_SCHEMA = {7: _GRAPH_SCHEMA, 25: {7: _NODE_SCHEMA}}
#: raw_data (and messages) shorter than this stay in the parsed model; longer is memory-mapped.
_INLINE_BYTES = 1024


def _is_text_format(onnx: Any, path: str) -> bool:
    """Whether ``onnx.load`` would read ``path`` as a text format (by its extension)."""
    registry = getattr(getattr(onnx, "serialization", None), "registry", None)
    if registry is None:  # onnx < 1.15 reads every file as binary protobuf
        return False
    fmt = registry.get_format_from_file_extension(os.path.splitext(path)[1])
    return fmt not in (None, "protobuf")


def _parse(path: str) -> tuple[Any, Stripped | None]:
    """Refuse oversized files, then parse the model without inline weights or external data.

    Returns the model and the :class:`Stripped` record of where its inline
    weights are (``None`` for a text-format file, parsed whole).
    """
    size = file_size(path)
    if size > MAX_ONNX_BYTES:
        raise FileFormatError(
            f"{path!r}: {size} bytes, over the {MAX_ONNX_BYTES}-byte limit of an ONNX protobuf; "
            "refused before parsing"
        )
    onnx = require("onnx", "onnx", "reading an .onnx file")
    try:
        if _is_text_format(onnx, path):
            return onnx.load(path, load_external_data=False), None
        stripped = strip_file(path, _MODEL_SCHEMA, min_walk_bytes=_INLINE_BYTES,
                              min_raw_bytes=_INLINE_BYTES)
        return onnx.load_model_from_string(stripped.data), stripped
    except Exception as err:  # ours, protobuf's DecodeError and friends on a malformed file
        raise FileFormatError(f"{path!r}: not a valid ONNX model ({err})") from None


def load_onnx_structure(path: str | os.PathLike) -> Any:
    """An ONNX model's graph (nodes, attributes, shapes) without its large weights' bytes.

    The same checks as :func:`load_onnx` apply (files over 2 GiB refused before
    parsing, no external data read); initializers of 1 KiB or more keep their
    name, type and dims but not their bytes, so memory stays small whatever
    the model's size.  For shape inference and cost tables.

    Raises
    ------
    FileFormatError
        The ``onnx`` package is missing, or the file is over 2 GiB or malformed.

    Examples
    --------
    >>> import os, tempfile, numpy as np, onnx
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> w = numpy_helper.from_array(np.ones((64, 8, 3, 3), np.float32), "w")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> onnx.save(helper.make_model(graph), path)
    >>> model = load_onnx_structure(path)
    >>> list(model.graph.initializer[0].dims), len(model.graph.initializer[0].raw_data) < 100
    ([64, 8, 3, 3], True)
    """
    return _parse(os.fspath(path))[0]


def _resolve_weight(name: str, initializers: dict, producers: dict) -> tuple[Any, str | None]:
    """Follow Identity nodes to an initializer or Constant; return (tensor, None) or (None, why)."""
    for _ in range(_MAX_IDENTITY_CHAIN):
        if name in initializers:
            return initializers[name], None
        node = producers.get(name)
        if node is None:
            return None, f"weight {name!r} is a graph input or missing, not a stored constant"
        if node.op_type == "Identity" and node.input:
            name = node.input[0]
        elif node.op_type == "Constant":
            value = [a.t for a in node.attribute if a.name == "value"]
            return (value[0], None) if value else (None, "Constant node without a tensor value")
        elif node.op_type == "DequantizeLinear":
            return None, "quantized weights (DequantizeLinear) are not analysed"
        else:
            return None, f"weight is computed at run time by a {node.op_type} node"
    return None, "Identity chain too long (cycle?)"


def _ints(node: Any, attr: str, default: Any) -> Any:
    """An integer or integer-list attribute of ``node``, checked."""
    for a in node.attribute:
        if a.name != attr:
            continue
        if a.type == 2:  # INT
            return int(a.i)
        if a.type == 7:  # INTS
            return tuple(int(v) for v in a.ints)
        raise FileFormatError(f"node {node.name!r}: attribute {attr!r} should be int(s)")
    return default


def _external_location(tensor: Any, model_dir: Path, nbytes: int) -> tuple[Path, int]:
    """Check an external-data reference; return the resolved file and offset."""
    info = {e.key: e.value for e in tensor.external_data}
    what = f"tensor {tensor.name!r} external data"
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", nbytes))
    except ValueError:
        raise FileFormatError(f"{what}: offset/length are not integers: {info}") from None
    if not info.get("location"):
        raise FileFormatError(f"{what}: no location given")
    base = model_dir.resolve()
    target = (base / info["location"]).resolve()
    if not target.is_relative_to(base):
        raise FileFormatError(
            f"{what}: location {info['location']!r} resolves to {str(target)!r}, outside the "
            f"model's folder {str(base)!r}; refused"
        )
    if length != nbytes or offset < 0:
        raise FileFormatError(
            f"{what}: expected length {nbytes} for shape {tuple(tensor.dims)}, "
            f"got length {length} at offset {offset}"
        )
    size = file_size(target)
    if offset + length > size:
        raise FileFormatError(
            f"{what}: bytes {offset}..{offset + length} lie past the end of "
            f"{info['location']!r} ({size} bytes)"
        )
    return target, offset


def _read_tensor(tensor: Any, external: tuple[Path, int] | None,
                 inline: tuple[str, int, int] | None) -> np.ndarray:
    """Convert one weight TensorProto to NumPy (bfloat16 widened to float32).

    ``external`` is the checked (file, offset) of external data; ``inline`` the
    (model file, offset, length) of ``raw_data`` left in the file by the parser.
    """
    stored = np.dtype(_FLOAT_TYPES[tensor.data_type][0])
    shape = tuple(int(d) for d in tensor.dims)
    count = int(np.prod(shape, dtype=np.int64))
    what = f"tensor {tensor.name!r}"
    if external is not None:
        raw = read_exact(external[0], external[1], stored, count, what)
    elif inline is not None:
        model_path, offset, length = inline
        if length != count * stored.itemsize:
            raise FileFormatError(f"{what}: raw data holds {length} bytes, "
                                  f"expected {count * stored.itemsize} for shape {shape}")
        raw = read_exact(model_path, offset, stored, count, what)
    elif tensor.raw_data:
        if len(tensor.raw_data) != count * stored.itemsize:
            raise FileFormatError(f"{what}: raw data holds {len(tensor.raw_data)} bytes, "
                                  f"expected {count * stored.itemsize} for shape {shape}")
        raw = np.frombuffer(tensor.raw_data, dtype=stored)
    else:
        raw = _typed_field(tensor, stored, count)
    return (widen_bfloat16(raw) if tensor.data_type == _BFLOAT16 else raw).reshape(shape)


def _typed_field(tensor: Any, stored: np.dtype, count: int) -> np.ndarray:
    """Values kept in ``float_data``/``double_data``/``int32_data`` (16-bit types as ints)."""
    field = {1: tensor.float_data, 11: tensor.double_data}.get(tensor.data_type, tensor.int32_data)
    if len(field) != count:
        raise FileFormatError(f"tensor {tensor.name!r}: {len(field)} values stored, "
                              f"expected {count} for shape {tuple(tensor.dims)}")
    if stored.itemsize == 2:  # float16 / bfloat16 bit patterns in int32_data
        return np.asarray(field, dtype=np.uint16).view(stored)
    return np.asarray(field, dtype=stored)


def _describe_conv(node: Any, name: str, tensor: Any, path: str, stripped: Stripped | None,
                   max_bytes: int, allow_external_data: bool,
                   channels: dict[str, int]) -> StoredKernel | SkippedTensor:
    """A StoredKernel for a Conv whose weight was found, or the reason it is skipped."""
    if tensor.data_type not in _FLOAT_TYPES:
        return SkippedTensor(name, f"weight data type {tensor.data_type} is not a float type "
                                   "(quantized weights are not analysed)")
    shape = tuple(int(d) for d in tensor.dims)
    if len(shape) not in (3, 4):
        return SkippedTensor(name, f"{len(shape) - 2}-D convolution is not analysed "
                                   f"(weight shape {shape})")
    stored, dtype_name = _FLOAT_TYPES[tensor.data_type]
    nbytes = check_nbytes(name, shape, np.dtype(stored).itemsize, max_bytes)
    external = inline = None
    if tensor.data_location == 1:  # EXTERNAL
        if not allow_external_data:
            raise FileFormatError(f"tensor {tensor.name!r} of node {name!r} uses external data, "
                                  "refused (allow_external_data=False)")
        external = _external_location(tensor, Path(path).parent, nbytes)
    elif stripped is not None and tensor.raw_data:
        span = stripped.span(tensor.raw_data)
        inline = None if span is None else (path, *span)
    group = _ints(node, "group", 1)
    if not isinstance(group, int) or group < 1:
        raise FileFormatError(f"node {name!r}: expected a positive int group, got {group!r}")
    attributes = {"strides": _ints(node, "strides", None), "pads": _ints(node, "pads", None),
                  "dilations": _ints(node, "dilations", None)}
    why = conv_attribute_problem(shape, group, **attributes, auto_pad=_auto_pad(node),
                                 in_channels=channels.get(node.input[0]))
    if why is not None:
        return SkippedTensor(name, why)
    return StoredKernel(name, shape, dtype_name, "OIHW", group=group, **attributes,
                        _read=partial(_read_tensor, tensor, external, inline))


def _auto_pad(node: Any) -> str:
    for a in node.attribute:
        if a.name == "auto_pad":
            return a.s.decode("utf-8", "replace") if isinstance(a.s, bytes) else str(a.s)
    return "NOTSET"


_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def conv_attribute_problem(weight_shape: tuple[int, ...], group: int, *,
                           strides: Any = None, pads: Any = None, dilations: Any = None,
                           auto_pad: str = "NOTSET",
                           in_channels: int | None = None) -> str | None:
    """What is wrong with a Conv node's attributes (as the ONNX spec requires them), or ``None``.

    ``strides`` and ``dilations`` need one positive int per spatial axis,
    ``pads`` two non-negative ints per axis, ``auto_pad`` one of the spec's
    values, ``group`` must divide the output channels and, when
    ``in_channels`` is known, equal ``in_channels / weight_shape[1]``.

    Examples
    --------
    >>> conv_attribute_problem((8, 4, 3, 3), 1, strides=(1, 1), pads=(1, 1, 1, 1))
    >>> conv_attribute_problem((8, 4, 3, 3), 1, strides=(0, 1))
    'strides (0, 1): expected 2 ints >= 1 (one per spatial axis)'
    >>> conv_attribute_problem((8, 4, 3, 3), 2, in_channels=4)
    'group 2 does not match the input: weight (8, 4, 3, 3) with 4 input channels needs group 1'
    """
    spatial = len(weight_shape) - 2
    for label, values, count, low in (("strides", strides, spatial, 1),
                                      ("dilations", dilations, spatial, 1),
                                      ("pads", pads, 2 * spatial, 0)):
        if values is None:
            continue
        values = (values,) if isinstance(values, int) else tuple(values)
        if len(values) != count or any(v < low for v in values):
            per = "two per spatial axis" if label == "pads" else "one per spatial axis"
            return f"{label} {values}: expected {count} ints >= {low} ({per})"
    if auto_pad not in _AUTO_PADS:
        return f"auto_pad {auto_pad!r}: expected one of {', '.join(_AUTO_PADS)}"
    if weight_shape[0] % group:
        return f"group {group} does not divide the {weight_shape[0]} output channels"
    if in_channels is not None and in_channels != group * weight_shape[1]:
        need = in_channels // weight_shape[1] if in_channels % weight_shape[1] == 0 else None
        return (f"group {group} does not match the input: weight {tuple(weight_shape)} with "
                f"{in_channels} input channels needs group {need if need else '(none fits)'}")
    return None


def _describe_node(node: Any, index: int, initializers: dict, producers: dict,
                   **options: Any) -> StoredKernel | SkippedTensor | None:
    """Describe one node if it is a convolution, else ``None``."""
    name = node.name or (node.output[0] if node.output else f"{node.op_type}_{index}")
    if node.op_type == "ConvTranspose":
        return SkippedTensor(name, "ConvTranspose (transposed convolution) is not analysed")
    if node.op_type in _QUANTIZED_OPS:
        return SkippedTensor(name, f"{node.op_type}: quantized weights are not analysed")
    if node.op_type != "Conv" or node.domain not in ("", "ai.onnx"):
        return None
    if len(node.input) < 2:
        return SkippedTensor(name, "Conv node without a weight input")
    tensor, why = _resolve_weight(node.input[1], initializers, producers)
    if tensor is None:
        return SkippedTensor(name, why)
    return _describe_conv(node, name, tensor, **options)


def _channels(graph: Any) -> dict[str, int]:
    """Known channel counts (axis 1) of the graph's inputs and annotated values."""
    found = {}
    for value in (*graph.input, *graph.value_info):
        dims = value.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value") and dims[1].dim_value > 0:
            found[value.name] = int(dims[1].dim_value)
    return found


def load_onnx(path: str | os.PathLike, *, max_bytes: int = MAX_TENSOR_BYTES,
              allow_external_data: bool = True) -> ModelContents:
    """List the convolutions of an ONNX model with their weights and attributes.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file.
    max_bytes : int
        Largest weight accepted.
    allow_external_data : bool
        Read external data from files inside the model's folder (checked);
        ``False`` refuses any model whose Conv weights use external data.

    Returns
    -------
    ModelContents
        One kernel per ``Conv`` node (layout ``"OIHW"``, ``group`` and the
        other attributes as stored), and the skipped convolutions with reasons.

    Raises
    ------
    FileFormatError
        The ``onnx`` package is missing, the file is over 2 GiB or malformed,
        or external data is refused, leaves the model's folder, or does not fit.

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
    >>> kernel, = load_onnx(path).kernels
    >>> kernel.name, kernel.shape, kernel.group, kernel.pads
    ('dw', (4, 1, 3, 3), 4, (1, 1, 1, 1))
    """
    path = os.fspath(path)
    model, stripped = _parse(path)
    if not model.HasField("graph") or not model.graph.node:
        raise FileFormatError(f"{path!r}: not an ONNX model: it has no graph nodes "
                              f"({file_size(path)} bytes)")
    options = {"path": path, "stripped": stripped, "max_bytes": max_bytes,
               "allow_external_data": allow_external_data}
    kernels: list[StoredKernel] = []
    skipped: list[SkippedTensor] = []
    _walk_graph(model.graph, "", {}, {}, options, kernels, skipped, depth=0)
    for function in model.functions:
        scope = f"{function.domain}.{function.name}/" if function.domain else f"{function.name}/"
        _walk_nodes(function.node, scope, {}, {}, {**options, "channels": {}}, kernels, skipped,
                    depth=1)
    return ModelContents(path, "onnx", tuple(kernels), tuple(skipped))


#: Subgraphs (If/Loop/Scan bodies) nested deeper than this are listed as skipped.
_MAX_SUBGRAPH_DEPTH = 32


def _walk_graph(graph: Any, scope: str, outer_initializers: Mapping, outer_producers: Mapping,
                options: dict, kernels: list, skipped: list, depth: int) -> None:
    """Describe the convolutions of a graph; names inside subgraphs are qualified by ``scope``.

    A subgraph sees the initializers and node outputs of the graphs around it.
    """
    # chained, not copied: many subgraphs under a large graph stay linear in the model's size
    initializers = ChainMap({t.name: t for t in graph.initializer}, outer_initializers)
    producers = ChainMap({o: node for node in graph.node for o in node.output}, outer_producers)
    _walk_nodes(graph.node, scope, initializers, producers,
                {**options, "channels": _channels(graph)}, kernels, skipped, depth)


def _walk_nodes(nodes: Any, scope: str, initializers: Mapping, producers: Mapping, options: dict,
                kernels: list, skipped: list, depth: int) -> None:
    """Describe each node, then walk the subgraphs in its attributes (If, Loop, Scan)."""
    path = options["path"]
    for index, node in enumerate(nodes):
        try:
            found = _describe_node(node, index, initializers, producers, **options)
        except FactorcheckError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError) as err:
            raise FileFormatError(f"{path!r}: malformed node {node.name!r} ({err})") from None
        if found is not None:
            found = _qualified(found, scope)
            (kernels if isinstance(found, StoredKernel) else skipped).append(found)
        for attribute in node.attribute:
            subgraphs = [attribute.g] if attribute.HasField("g") else list(attribute.graphs)
            for number, sub in enumerate(subgraphs):
                label = attribute.name if len(subgraphs) == 1 else f"{attribute.name}[{number}]"
                inner = f"{scope}{node.name or node.op_type + '_' + str(index)}/{label}/"
                if depth >= _MAX_SUBGRAPH_DEPTH:
                    skipped.append(SkippedTensor(inner.rstrip("/"), "subgraph nested deeper "
                                                 f"than {_MAX_SUBGRAPH_DEPTH} levels"))
                    continue
                _walk_graph(sub, inner, initializers, producers, options, kernels, skipped,
                            depth + 1)


def _qualified(found: StoredKernel | SkippedTensor, scope: str) -> StoredKernel | SkippedTensor:
    if not scope:
        return found
    if isinstance(found, SkippedTensor):
        return SkippedTensor(scope + found.name, found.reason)
    return dataclasses.replace(found, name=scope + found.name)
