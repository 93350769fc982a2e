"""Tests of factorcheck.io.onnx: weights found wherever exporters put them, external data fenced."""

from __future__ import annotations

import os

import numpy as np
import pytest
from fixtures_models import NASTY_NAMES, Conv, onnx_model, require
from hypothesis import given, settings
from hypothesis import strategies as st

from factorcheck.errors import FileFormatError
from factorcheck.io import read_model
from factorcheck.io.onnx import MAX_ONNX_BYTES, _parse, load_onnx

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


# --------------------------------------------------------------------------- inline weights


W_BIG = RNG.standard_normal((16, 8, 3, 3)).astype(np.float32)  # 4608 bytes: memory-mapped


def _contents(path):
    """Everything a load lists and reads, with errors in place of values, for comparison."""
    try:
        found = load_onnx(path)
    except FileFormatError:
        return "refused"
    kernels = []
    for k in found.kernels:
        try:
            array = k.load()
            value = (array.dtype.str, array.shape, array.tobytes())
        except FileFormatError:
            value = "unreadable"
        kernels.append((k.name, k.shape, k.dtype, k.group, k.strides, k.pads, k.dilations, value))
    return kernels, [(s.name, s.reason) for s in found.skipped]


def _whole_parse(monkeypatch):
    """Make load_onnx parse the model whole with onnx.load, as it did before (the reference)."""
    monkeypatch.setattr("factorcheck.io.onnx._is_text_format", lambda onnx, path: True)


@pytest.mark.parametrize("source", ["initializer", "constant", "identity", "identity-constant"])
def test_large_inline_weights_are_memory_mapped_not_parsed(tmp_path, monkeypatch, source):
    onnx = require("onnx")
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_BIG, source=source)])
    monkeypatch.setattr(onnx, "load", lambda *a, **k: pytest.fail("onnx.load must not be called"))
    parsed, stripped = _parse(str(path))
    assert parsed.ByteSize() < 500 < W_BIG.nbytes and len(stripped.spans) == 1
    kernel, = load_onnx(path).kernels
    loaded = kernel.load()
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, W_BIG)


def test_small_inline_weights_stay_in_the_parsed_model(tmp_path):
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_DW, group=4)])
    loaded = load_onnx(path).kernels[0].load()
    assert not isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, W_DW)


@pytest.mark.parametrize("inline_bytes", [0, 1024])
def test_inline_weights_read_exactly_as_a_whole_parse_reads_them(tmp_path, monkeypatch,
                                                                  inline_bytes):
    convs = [Conv("big", W_BIG, attrs={"strides": [2, 2]}), Conv("dw", W_DW, group=4),
             Conv("const", W_BIG.astype(np.float16), source="identity-constant"),
             Conv("d64", W_STD.astype(np.float64), source="constant"),
             Conv("up", W_BIG, op="ConvTranspose")]
    path = onnx_model(tmp_path / "m.onnx", convs)
    monkeypatch.setattr("factorcheck.io.onnx._INLINE_BYTES", inline_bytes)
    got = _contents(path)
    _whole_parse(monkeypatch)
    assert got == _contents(path)
    assert [k[0] for k in got[0]] == ["big", "dw", "const", "d64"]


def test_inline_raw_data_of_the_wrong_length_is_refused_on_load(tmp_path):
    onnx = require("onnx")
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_BIG)])
    model = onnx.load(path)
    model.graph.initializer[0].raw_data += b"\0" * 8
    onnx.save(model, path)
    kernel, = load_onnx(path).kernels
    with pytest.raises(FileFormatError, match="raw data holds 4616 bytes, expected 4608"):
        kernel.load()


def test_file_shrunk_after_listing_is_refused_on_load(tmp_path):
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", W_BIG)])
    kernel, = load_onnx(path).kernels
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(FileFormatError, match="truncated"):
        kernel.load()


def test_weights_in_subgraphs_are_analysed_under_qualified_names(tmp_path, monkeypatch):
    onnx = require("onnx")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    body = helper.make_graph(
        [helper.make_node("Conv", ["x", "wb"], ["yb"], name="inner")], "body", [],
        [helper.make_tensor_value_info("yb", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(W_BIG, "wb")])
    path = onnx_model(tmp_path / "m.onnx", [Conv("outer", W_BIG)])
    model = onnx.load(path)
    model.graph.node.append(helper.make_node("If", ["cond"], ["yif"], name="if",
                                             then_branch=body, else_branch=body))
    onnx.save(model, path)
    got = _contents(path)
    assert [k[0] for k in got[0]] == ["outer", "if/else_branch/inner", "if/then_branch/inner"]
    _whole_parse(monkeypatch)
    assert got == _contents(path)


def test_text_format_models_are_still_parsed_whole(tmp_path):
    onnx = require("onnx")
    if getattr(onnx, "serialization", None) is None:
        pytest.skip("onnx < 1.15 has no text formats")
    model = onnx.load(onnx_model(tmp_path / "m.onnx", [Conv("c", W_BIG)]))
    onnx.save(model, tmp_path / "m.json")
    kernel, = load_onnx(tmp_path / "m.json").kernels
    np.testing.assert_array_equal(kernel.load(), W_BIG)


def test_malformed_wire_format_is_a_file_format_error(tmp_path):
    path = tmp_path / "m.onnx"
    graph = b"\x12\xd0\x0f" + b"n" * 2000 + b"\x0b\x0c"  # name, then a group (wire type 3)
    path.write_bytes(b"\x3a" + bytes([len(graph) & 0x7F | 0x80, len(graph) >> 7]) + graph)
    with pytest.raises(FileFormatError, match=r"not a valid ONNX model \(protobuf: .*wire type 3"):
        load_onnx(path)


@st.composite
def _damaged(draw, original):
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data) - 1)) if data else 0
        kind = draw(st.sampled_from(["flip", "truncate", "byte", "delete"]))
        if kind == "truncate":
            del data[at:]
        elif not data:
            continue
        elif kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        else:
            del data[at:at + draw(st.integers(1, 8))]
    return bytes(data)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    require("onnx")
    convs = [Conv("big", W_BIG, group=2 * 1, attrs={"pads": [1, 1, 1, 1]}),
             Conv("dw", W_DW, group=4), Conv("const", W_BIG, source="identity-constant")]
    return onnx_model(tmp_path_factory.mktemp("fuzz") / "m.onnx", convs).read_bytes()


@settings(max_examples=300)
@given(data=st.data(), inline_bytes=st.sampled_from([0, 1024]))
def test_damaged_models_give_file_format_errors_or_what_a_whole_parse_gives(
        tmp_path_factory, small_model, data, inline_bytes):
    """Truncated and bit-flipped models: refused, or listed and read exactly as onnx.load would."""
    path = tmp_path_factory.mktemp("d") / "m.onnx"
    path.write_bytes(data.draw(_damaged(small_model)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("factorcheck.io.onnx._INLINE_BYTES", inline_bytes)
        got = _contents(path)
        _whole_parse(mp)
        expected = _contents(path)
    assert got == expected or got == "refused"
