"""Tests of factorcheck.io._protobuf: the wire-format walker agrees with protobuf and is bounded."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fixtures_models import Conv, onnx_model, require
from hypothesis import given, settings
from hypothesis import strategies as st

from factorcheck.errors import FileFormatError
from factorcheck.io._protobuf import (
    RAW,
    encode_varint,
    iter_fields,
    read_varint,
    strip,
    strip_file,
)
from factorcheck.io.onnx import _MODEL_SCHEMA

RNG = np.random.default_rng(11)
W_BIG = RNG.standard_normal((16, 8, 3, 3)).astype(np.float32)  # 4608 bytes
W_SMALL = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32)  # 144 bytes


def _key(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def _len_field(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + encode_varint(len(payload)) + payload


# --------------------------------------------------------------------------- varints and fields


@given(st.integers(0, 2**64 - 1))
def test_varints_round_trip(value):
    encoded = encode_varint(value)
    assert read_varint(encoded + b"tail", 0, len(encoded) + 4) == (value, len(encoded))
    assert len(encoded) <= 10


def test_varint_longer_than_ten_bytes_is_refused():
    with pytest.raises(FileFormatError, match="over 10 bytes"):
        read_varint(b"\xff" * 11 + b"\x01", 0, 12)


def test_varint_is_bounded_by_the_message_end_not_the_buffer():
    with pytest.raises(FileFormatError, match="past the end"):
        read_varint(b"\x96\x01", 0, 1)


def test_fields_agree_with_protobuf(tmp_path):
    onnx = require("onnx")
    path = _model(tmp_path)
    model, data = onnx.load(path), path.read_bytes()
    numbers = [f.number for f in iter_fields(data)]
    assert sorted(set(numbers)) == sorted(d.number for d, _ in model.ListFields())
    graph_field = next(f for f in iter_fields(data) if f.number == 7)
    graph = onnx.GraphProto.FromString(data[graph_field.value_start:graph_field.end])
    assert graph == model.graph


@pytest.mark.parametrize(("data", "match"), [
    (b"\x0b\x0c", "wire type 3"),            # group start
    (b"\x0c", "wire type 4"),                # group end
    (b"\x0e\x00", "wire type 6"),
    (b"\x00\x01", "field number 0"),
    (b"\x0a\x05abc", "declares 5 bytes"),
    (b"\x09\x00\x00", "runs past the end"),   # fixed64 cut short
    (b"\x0d\x00", "runs past the end"),       # fixed32 cut short
    (b"\x08", "past the end"),                # varint value missing
    (b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "declares"),  # 2**64 - 1 bytes
])
def test_malformed_fields_are_file_format_errors(data, match):
    with pytest.raises(FileFormatError, match=match):
        list(iter_fields(data))


# --------------------------------------------------------------------------- stripping


def _model(folder):
    return onnx_model(folder / "m.onnx", [
        Conv("big", W_BIG), Conv("small", W_SMALL, group=4),
        Conv("const", W_BIG, source="identity-constant"),
    ])


def test_stripped_model_equals_the_original_but_for_raw_data(tmp_path):
    onnx = require("onnx")
    path = _model(tmp_path)
    data = path.read_bytes()
    stripped = strip_file(path, _MODEL_SCHEMA)
    assert len(stripped.data) < len(data) - 2 * W_BIG.nbytes + 200
    original, parsed = onnx.load(path), onnx.load_model_from_string(stripped.data)
    const = [i for i, n in enumerate(original.graph.node) if n.op_type == "Constant"]
    tensors = [*zip(original.graph.initializer, parsed.graph.initializer, strict=True),
               *[(original.graph.node[i].attribute[0].t, parsed.graph.node[i].attribute[0].t)
                 for i in const]]
    assert len(tensors) == 3
    for before, after in tensors:
        span = stripped.span(after.raw_data)
        if len(before.raw_data) >= 1024:
            offset, length = span
            assert data[offset:offset + length] == before.raw_data
            after.raw_data = before.raw_data
        else:
            assert span is None and after.raw_data == before.raw_data
    assert parsed == original


def test_short_sub_messages_are_copied_whole(tmp_path):
    path = _model(tmp_path)
    everything = strip_file(path, _MODEL_SCHEMA, min_walk_bytes=0, min_raw_bytes=0)
    default = strip_file(path, _MODEL_SCHEMA)
    assert len(everything.spans) == 3 and len(default.spans) == 2


def test_last_of_repeated_raw_data_wins_as_in_protobuf():
    onnx = require("onnx")
    first, last = bytes(range(40)), bytes(range(100, 150))
    tensor = _len_field(8, b"w") + _len_field(9, first) + _len_field(9, last)
    graph = _len_field(5, tensor)
    s = strip(_len_field(7, graph), _MODEL_SCHEMA, min_walk_bytes=0, min_raw_bytes=0)
    parsed = onnx.load_model_from_string(s.data)
    offset, length = s.span(parsed.graph.initializer[0].raw_data)
    assert _len_field(7, graph)[offset:offset + length] == last
    assert onnx.load_model_from_string(_len_field(7, graph)).graph.initializer[0].raw_data == last


def test_repeated_graph_fields_merge_as_in_protobuf():
    onnx = require("onnx")
    parts = [_len_field(5, _len_field(8, name) + _len_field(9, bytes(64))) for name in (b"a", b"b")]
    data = _len_field(7, parts[0]) + _len_field(7, parts[1])
    s = strip(data, _MODEL_SCHEMA, min_walk_bytes=0, min_raw_bytes=0)
    parsed = onnx.load_model_from_string(s.data)
    assert [t.name for t in parsed.graph.initializer] == ["a", "b"]
    assert [s.span(t.raw_data)[1] for t in parsed.graph.initializer] == [64, 64]


def test_wrong_wire_type_on_a_schema_field_is_copied_unchanged():
    data = _key(7, 0) + encode_varint(5) + _len_field(2, b"x" * 30)
    s = strip(data, {7: {9: RAW}, 2: RAW}, min_walk_bytes=0, min_raw_bytes=0)
    assert s.data[:2] == data[:2] and len(s.spans) == 1


def test_markers_cannot_be_forged():
    payload = b"\x00" * 24
    s = strip(_len_field(1, payload), {1: RAW}, min_raw_bytes=0)
    marker = next(iter_fields(s.data))
    forged = bytes(s.data[marker.value_start:marker.end])
    other = strip(_len_field(1, payload), {1: RAW}, min_raw_bytes=0)
    assert s.span(forged) == (2, 24) and other.span(forged) is None
    assert s.span(payload) is None


@pytest.mark.parametrize("depth", [5, 99])
def test_nesting_within_the_limit_is_walked(depth):
    schema: dict = {2: RAW}
    schema[1] = schema
    data = _len_field(2, b"r" * 30)
    for _ in range(depth):
        data = _len_field(1, data)
    s = strip(data, schema, min_walk_bytes=0, min_raw_bytes=0)
    assert len(s.spans) == 1


def test_nesting_past_the_limit_is_refused_quickly():
    schema: dict = {}
    schema[1] = schema
    data = b""
    for _ in range(5000):
        data = _len_field(1, data)
    start = time.perf_counter()
    with pytest.raises(FileFormatError, match="nested over 100 deep"):
        strip(data, schema, min_walk_bytes=0)
    assert time.perf_counter() - start < 1


def test_many_tiny_fields_take_linear_time():
    data = b"\x18\x00" * 200_000  # 200k varint fields in one message
    start = time.perf_counter()
    s = strip(_len_field(1, data), {1: {3: RAW}}, min_walk_bytes=0)
    assert len(s.data) == len(data) + 4 and time.perf_counter() - start < 5


def test_empty_file_is_an_empty_message(tmp_path):
    (tmp_path / "e.pb").write_bytes(b"")
    assert strip_file(tmp_path / "e.pb", {1: RAW}).data == b""


# --------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("fuzz")).read_bytes()


@st.composite
def _mutated(draw, original):
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "byte", "delete", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=400)
@given(data=st.data(), walk_all=st.booleans())
def test_mutated_models_strip_to_what_protobuf_parses(model_bytes, data, walk_all):
    """Truncated, bit-flipped, spliced models: refused, or parsed exactly as protobuf would."""
    onnx = require("onnx")
    data = data.draw(_mutated(model_bytes))
    sizes = {"min_walk_bytes": 0, "min_raw_bytes": 0} if walk_all else {}
    try:
        expected = onnx.load_model_from_string(data)
    except Exception:
        expected = None
    try:
        s = strip(data, _MODEL_SCHEMA, **sizes)
        parsed = onnx.load_model_from_string(s.data)
    except FileFormatError:
        return  # refused: allowed, whatever protobuf makes of it
    except Exception:
        assert expected is None, "protobuf parses the original but not the stripped copy"
        return
    assert expected is not None, "the stripped copy parses but the original does not"
    tensors = [*zip(expected.graph.initializer, parsed.graph.initializer, strict=True),
               *[(a.t, b.t) for n, m in zip(expected.graph.node, parsed.graph.node, strict=True)
                 for a, b in zip(n.attribute, m.attribute, strict=True)]]
    for before, after in tensors:
        span = s.span(after.raw_data)
        if span is not None:
            assert data[span[0]:span[0] + span[1]] == before.raw_data
            after.raw_data = before.raw_data
    assert parsed == expected
