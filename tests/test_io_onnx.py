"""Tests of factorcheck.io.onnx: weights found wherever exporters put them, external data fenced."""

from __future__ import annotations

import os

import numpy as np
import pytest
from fixtures_models import NASTY_NAMES, Conv, onnx_model, require
from hypothesis import given
from hypothesis import strategies as st

from factorcheck.errors import FileFormatError
from factorcheck.io import read_model
from factorcheck.io.onnx import MAX_ONNX_BYTES, load_onnx

RNG = np.random.default_rng(7)
W_STD = RNG.standard_normal((8, 4, 3, 3)).astype(np.float32)
W_DW = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32)
W_GRP = RNG.standard_normal((8, 2, 3, 3)).astype(np.float32)


@pytest.fixture(autouse=True)
def _onnx():
    require("onnx")


@pytest.mark.parametrize("source", ["initializer", "constant", "identity", "identity-constant"])
def test_weight_is_found_wherever_it_is_stored(tmp_path, source):
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_STD, source=source)])
    kernel, = load_onnx(path).kernels
    np.testing.assert_array_equal(kernel.load(), W_STD)


def test_attributes_are_kept(tmp_path):
    convs = [
        Conv("std", W_STD, attrs={"strides": [2, 2], "pads": [1, 1, 1, 1]}),
        Conv("dw", W_DW, group=4, attrs={"dilations": [2, 2]}),
        Conv("grp", W_GRP, group=2),
    ]
    kernels = load_onnx(onnx_model(tmp_path / "m.onnx", convs)).kernels
    got = [(k.name, k.shape, k.group, k.strides, k.pads, k.dilations, k.layout) for k in kernels]
    assert got == [
        ("std", (8, 4, 3, 3), 1, (2, 2), (1, 1, 1, 1), None, "OIHW"),
        ("dw", (4, 1, 3, 3), 4, None, None, (2, 2), "OIHW"),
        ("grp", (8, 2, 3, 3), 2, None, None, None, "OIHW"),
    ]


def test_transposed_quantized_and_computed_weights_are_skipped_with_reasons(tmp_path):
    onnx = require("onnx")
    convs = [Conv("up", W_STD, op="ConvTranspose"), Conv("fromx", W_STD, source="input"),
             Conv("ok", W_DW, group=4)]
    path = onnx_model(tmp_path / "m.onnx", convs)
    model = onnx.load(path)
    model.graph.node.append(onnx.helper.make_node(
        "QLinearConv", ["x", "s", "z", "w0", "s", "z", "s", "z"], ["q"], name="q"))
    model.graph.node.append(onnx.helper.make_node("DequantizeLinear", ["w0", "s"], ["wq"]))
    model.graph.node.append(onnx.helper.make_node("Conv", ["x", "wq"], ["dq_out"], name="dq"))
    onnx.save(model, path)
    contents = load_onnx(path)
    assert [k.name for k in contents.kernels] == ["ok"]
    reasons = {s.name: s.reason for s in contents.skipped}
    assert set(reasons) == {"up", "fromx", "q", "dq"}
    assert "ConvTranspose" in reasons["up"]
    assert "quantized" in reasons["q"] and "DequantizeLinear" in reasons["dq"]
    assert "graph input" in reasons["fromx"]


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_half_and_double_weights(tmp_path, dtype):
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_STD.astype(dtype))])
    kernel, = load_onnx(path).kernels
    assert kernel.dtype == dtype
    np.testing.assert_array_equal(kernel.load(), W_STD.astype(dtype))


def test_bfloat16_weights_are_widened_exactly(tmp_path):
    onnx = require("onnx")
    values = np.array([1.0, -2.5, 0.15625, 3.0e38], dtype=np.float32).repeat(9).reshape(4, 1, 3, 3)
    tensor = onnx.helper.make_tensor("w0", onnx.TensorProto.BFLOAT16, values.shape,
                                     values.ravel().tolist())
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_DW, group=4)])
    model = onnx.load(path)
    model.graph.initializer[0].CopyFrom(tensor)
    onnx.save(model, path)
    kernel, = load_onnx(path).kernels
    loaded = kernel.load()
    assert kernel.dtype == "bfloat16" and loaded.dtype == np.float32
    expected = onnx.numpy_helper.to_array(tensor).astype(np.float32)
    np.testing.assert_array_equal(loaded, expected)


def test_names_with_special_characters_survive(tmp_path):
    convs = [Conv(name, W_DW, group=4) for name in NASTY_NAMES]
    kernels = load_onnx(onnx_model(tmp_path / "m.onnx", convs)).kernels
    assert [k.name for k in kernels] == list(NASTY_NAMES)


# --------------------------------------------------------------------------- external data


def _external(tmp_path, location, *, offset=0, length=None, data=W_STD):
    blob = tmp_path / "weights.bin"
    blob.write_bytes(b"\0" * 16 + data.tobytes())
    entries = {"location": location, "offset": offset,
               "length": data.nbytes if length is None else length}
    return onnx_model(tmp_path / "m.onnx", [Conv("c", data)], external={"w0": entries})


def test_external_data_inside_the_folder_is_read(tmp_path):
    path = _external(tmp_path, "weights.bin", offset=16)
    kernel, = read_model(path).kernels
    np.testing.assert_array_equal(kernel.load(), W_STD)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "outside.bin").write_bytes(W_STD.tobytes())
    path = _external(model_dir, location)
    with pytest.raises(FileFormatError, match="outside the model's folder"):
        read_model(path)


def test_external_data_through_a_symlink_leaving_the_folder_is_refused(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(W_STD.tobytes())
    os.symlink(tmp_path / "secret.bin", model_dir / "link.bin")
    with pytest.raises(FileFormatError, match="outside the model's folder"):
        read_model(_external(model_dir, "link.bin"))


@pytest.mark.parametrize(("offset", "length", "match"), [
    (16, 7, "expected length 1152"),
    (10**9, None, "past the end"),
    (-4, None, "expected length"),
    ("x", None, "not integers"),
])
def test_external_data_offset_and_length_are_checked(tmp_path, offset, length, match):
    with pytest.raises(FileFormatError, match=match):
        read_model(_external(tmp_path, "weights.bin", offset=offset, length=length))


def test_external_data_can_be_refused_outright(tmp_path):
    path = _external(tmp_path, "weights.bin", offset=16)
    with pytest.raises(FileFormatError, match="allow_external_data=False"):
        read_model(path, allow_external_data=False)


def test_missing_external_file_is_a_clear_error(tmp_path):
    path = _external(tmp_path, "nothere.bin")
    with pytest.raises(FileFormatError, match="no such file"):
        read_model(path)


# --------------------------------------------------------------------------- bad files


def test_files_over_2_gib_are_refused_before_parsing(tmp_path, monkeypatch):
    onnx = require("onnx")
    path = tmp_path / "big.onnx"
    with open(path, "wb") as f:
        f.truncate(MAX_ONNX_BYTES + 1)  # sparse: no disk space used

    def fail(*args, **kwargs):
        raise AssertionError("onnx.load must not be called")

    monkeypatch.setattr(onnx, "load", fail)
    with pytest.raises(FileFormatError, match="refused before parsing"):
        read_model(path)


def test_truncated_model_is_refused(tmp_path):
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_STD)])
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(FileFormatError):
        for kernel in read_model(path).kernels:
            kernel.load()


@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_give_only_file_format_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("h") / "x.onnx"
    path.write_bytes(data)
    try:
        for kernel in read_model(path).kernels:
            kernel.load()
    except FileFormatError:
        pass
