"""Tests of factorcheck.io.safetensors: validated by the library, bfloat16 without a framework."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from fixtures_models import NASTY_NAMES, bfloat16_bits, raw_safetensors, require
from hypothesis import given
from hypothesis import strategies as st

from factorcheck.errors import FileFormatError
from factorcheck.io import read_model
from factorcheck.io.safetensors import load_safetensors

W = np.random.default_rng(3).standard_normal((8, 4, 3, 3)).astype(np.float32)


@pytest.fixture(autouse=True)
def _safetensors():
    require("safetensors")


def _save(path, tensors):
    from safetensors.numpy import save_file

    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_conv_weights_are_listed_by_rank_and_memory_mapped(tmp_path, dtype):
    path = _save(tmp_path / "m.safetensors", {
        "conv.weight": W.astype(dtype), "conv.bias": np.zeros(8, dtype),
        "fc.weight": np.ones((3, 5), dtype), "conv1d.weight": W[:, :, 0].astype(dtype)})
    contents = load_safetensors(path)
    by_name = {k.name: k for k in contents.kernels}
    assert set(by_name) == {"conv.weight", "conv1d.weight"}
    loaded = by_name["conv.weight"].load()
    assert isinstance(loaded, np.memmap) and by_name["conv.weight"].dtype == np.dtype(dtype).name
    np.testing.assert_array_equal(loaded, W.astype(dtype))
    np.testing.assert_array_equal(by_name["conv1d.weight"].load(), W[:, :, 0].astype(dtype))


def test_bfloat16_is_widened_to_float32_exactly(tmp_path):
    values = np.array([1.0, -2.5, 0.15625, 3.0e38, -0.0, 1e-30], np.float32)
    weight = np.resize(values, (4, 2, 3, 3))
    path = raw_safetensors(tmp_path / "b.safetensors",
                           {"w": ("BF16", weight.shape, bfloat16_bits(weight))})
    kernel, = load_safetensors(path).kernels
    loaded = kernel.load()
    assert kernel.dtype == "bfloat16" and loaded.dtype == np.float32
    truncated = (weight.view("<u4") & 0xFFFF0000).view("<f4")
    np.testing.assert_array_equal(loaded, truncated)


def test_bfloat16_matches_torch(tmp_path):
    torch = require("torch")
    from safetensors.torch import save_file

    t = torch.randn(8, 4, 3, 3).to(torch.bfloat16)
    save_file({"w": t}, str(tmp_path / "t.safetensors"))
    kernel, = load_safetensors(tmp_path / "t.safetensors").kernels
    np.testing.assert_array_equal(kernel.load(), t.float().numpy())


def test_float8_is_skipped_with_reason(tmp_path):
    path = raw_safetensors(tmp_path / "f8.safetensors",
                           {"w": ("F8_E4M3", (2, 2, 3, 3), bytes(36))})
    contents = load_safetensors(path)
    assert contents.kernels == ()
    assert [(s.name, s.reason) for s in contents.skipped] == [
        ("w", "dtype F8_E4M3 is not supported")]


def test_names_with_special_characters_survive(tmp_path):
    path = _save(tmp_path / "n.safetensors", {name: W for name in NASTY_NAMES})
    assert sorted(k.name for k in load_safetensors(path).kernels) == sorted(NASTY_NAMES)


@pytest.mark.parametrize("content", [
    struct.pack("<Q", 10**12) + b"{}",                      # header length past the end
    struct.pack("<Q", 8) + b"not json",                     # header is not JSON
    struct.pack("<Q", 2) + b"{}" + b"x",                     # stray data
    b"\x03\x00",                                            # shorter than the length field
])
def test_bad_header_is_refused(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match="not a valid safetensors file"):
        read_model(path)


def test_offsets_that_lie_are_refused(tmp_path):
    path = raw_safetensors(tmp_path / "lie.safetensors", {"w": ("F32", (8, 4, 3, 3), bytes(100))})
    with pytest.raises(FileFormatError, match="not a valid safetensors file"):
        read_model(path)


def test_truncated_file_is_refused(tmp_path):
    path = _save(tmp_path / "t.safetensors", {"w": W})
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(FileFormatError, match="not a valid safetensors file"):
        read_model(path)


def test_max_bytes_is_enforced(tmp_path):
    path = _save(tmp_path / "m.safetensors", {"w": W})
    with pytest.raises(FileFormatError, match="exceeds the limit"):
        load_safetensors(path, max_bytes=W.nbytes - 1)


@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_give_only_file_format_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("h") / "x.safetensors"
    path.write_bytes(data)
    try:
        for kernel in read_model(path).kernels:
            kernel.load()
    except FileFormatError:
        pass


@given(header=st.dictionaries(st.text(max_size=5), st.dictionaries(
    st.sampled_from(["dtype", "shape", "data_offsets"]),
    st.one_of(st.sampled_from(["F32", "BF16", "I8", "??"]), st.lists(st.integers(-2, 40),
                                                                    max_size=4))),
    max_size=3), tail=st.binary(max_size=64))
def test_arbitrary_headers_give_only_file_format_errors(tmp_path_factory, header, tail):
    import json

    text = json.dumps(header).encode()
    path = tmp_path_factory.mktemp("h") / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + tail)
    try:
        for kernel in read_model(path).kernels:
            kernel.load()
    except FileFormatError:
        pass
