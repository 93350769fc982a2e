"""Builders for the model files the io, scan and check tests read (no network, tmp_path only)."""

from __future__ import annotations

import importlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from conftest import IN_CI
from factorcheck.testing import random_separable_kernel

#: Layer names a hostile or careless file might use: LaTeX, shell, format and control characters.
NASTY_NAMES = (
    r"\input{/etc/passwd}",
    "$(touch PWNED)",
    "`touch PWNED`; rm -rf ~",
    "100% } { & # _ ^ ~",
    "conv\x1b[31mred\x07",
    "ünïcødé/层",
)


def require(module: str) -> ModuleType:
    """Import an optional dependency; skip without it, but fail in CI (every extra installed)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if IN_CI:
            pytest.fail(f"optional dependency {module!r} is missing in CI")
        pytest.skip(f"optional dependency {module!r} is not installed", allow_module_level=True)


def grouped_separable(n: int, m: int, group: int, kh: int, kw: int, seed: int = 0) -> np.ndarray:
    """A grouped weight ``(n, m/group, kh, kw)`` whose every group's block is dw-pw separable."""
    rng = np.random.default_rng(seed)
    blocks = [random_separable_kernel((n // group, m // group, kh, kw), rng=rng)
              for _ in range(group)]
    return np.concatenate(blocks, axis=0)


# --------------------------------------------------------------------------- ONNX


@dataclass
class Conv:
    """One convolution node of a test ONNX graph."""

    name: str
    weight: np.ndarray
    group: int = 1
    source: str = "initializer"  # or "constant", "identity", "identity-constant", "input"
    op: str = "Conv"
    attrs: dict[str, Any] = field(default_factory=dict)


def _weight_nodes(onnx: ModuleType, conv: Conv, wname: str) -> tuple[list, list, str]:
    """Nodes and initializers that provide ``conv.weight``; returns (nodes, inits, name used)."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    tensor = numpy_helper.from_array(conv.weight, wname)
    if conv.source == "initializer":
        return [], [tensor], wname
    if conv.source == "input":
        return [], [], wname
    const = helper.make_node("Constant", [], [wname], value=tensor)
    if conv.source == "constant":
        return [const], [], wname
    if conv.source == "identity":
        ident = helper.make_node("Identity", [wname], [wname + "_id"])
        return [ident], [tensor], wname + "_id"
    ident = helper.make_node("Identity", [wname], [wname + "_id"])
    return [const, ident], [], wname + "_id"


def onnx_model(path: Path, convs: list[Conv], *, external: dict[str, dict] | None = None) -> Path:
    """Write an ONNX model with one node per ``Conv`` (each reading graph input ``x``).

    ``external`` maps a weight name to external-data entries (location, offset,
    length) to attach instead of storing the data inline.
    """
    onnx = require("onnx")
    helper = onnx.helper
    nodes, inits = [], []
    for i, conv in enumerate(convs):
        wnodes, winits, wname = _weight_nodes(onnx, conv, f"w{i}")
        attrs = dict(conv.attrs)
        if conv.op in ("Conv", "ConvTranspose"):
            attrs.setdefault("group", conv.group)
        nodes += wnodes
        inits += winits
        nodes.append(helper.make_node(conv.op, ["x", wname], [f"y{i}"], name=conv.name, **attrs))
    for tensor in inits:
        if external and tensor.name in external:
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            for key, value in external[tensor.name].items():
                entry = tensor.external_data.add()
                entry.key, entry.value = key, str(value)
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info(f"y{i}", onnx.TensorProto.FLOAT, None)
         for i in range(len(convs))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


# --------------------------------------------------------------------------- safetensors


def raw_safetensors(path: Path, tensors: dict[str, tuple[str, tuple[int, ...], bytes]],
                    *, header_extra: dict | None = None) -> Path:
    """Write a safetensors file by hand (for dtypes NumPy lacks, and for broken headers)."""
    header, blobs, offset = dict(header_extra or {}), [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def bfloat16_bits(values: np.ndarray) -> bytes:
    """The bfloat16 encoding (truncation) of float32 values, little-endian."""
    return (np.asarray(values, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()
