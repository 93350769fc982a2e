"""Issue 10, class 4: hostile files -- refused, or every layer analysed or listed as skipped."""

from __future__ import annotations

import json
import struct
import zipfile

import numpy as np
import pytest
from hostile_helpers import assert_clean_error, cli, optional

from factorcheck.errors import FileFormatError
from factorcheck.io import read_model
from factorcheck.io.onnx import conv_attribute_problem
from factorcheck.scan import scan

onnx = optional("onnx")
torch = optional("torch")
helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto

ESC = "\x1b]0;pwned\x07\x1b[31m"


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# ------------------------------------------------------------------ .npz


def test_npz_with_duplicate_member_names_is_refused(tmp_path):
    """Today the first member was reported with the second's data."""
    path = tmp_path / "dup.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("conv.npy", _npy_bytes(np.ones((4, 2, 3, 3))))
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("conv.npy", _npy_bytes(np.arange(72.0).reshape(4, 2, 3, 3)))
    with pytest.raises(FileFormatError, match=r"'conv\.npy' appears more than once"):
        read_model(path)
    status, _, err = cli("check", path)
    assert_clean_error(status, err, "more than once")


# ------------------------------------------------------------------ .onnx


def _value(name, shape=None):
    return helper.make_tensor_value_info(name, TP.FLOAT, shape)


def _weights(name, n=4, m=2):
    values = np.arange(1.0, n + 1, dtype=np.float32)[:, None, None, None] * np.ones((n, m, 3, 3),
                                                                                    np.float32)
    return numpy_helper.from_array(values, name)


def _save(tmp_path, graph, name="m.onnx", **kwargs):
    path = tmp_path / name
    onnx.save(helper.make_model(graph, **kwargs), path)
    return path


@pytest.mark.parametrize("content", [b"", None])
def test_empty_or_graphless_onnx_is_refused(tmp_path, content):
    path = tmp_path / "m.onnx"
    if content is None:
        onnx.save(helper.make_model(helper.make_graph([], "g", [], [])), path)
    else:
        path.write_bytes(content)
    with pytest.raises(FileFormatError, match="no graph nodes"):
        read_model(path)
    status, _, err = cli("check", path)
    assert_clean_error(status, err, "no graph nodes")


def _if_model(tmp_path):
    then_branch = helper.make_graph([helper.make_node("Conv", ["x", "w_then"], ["t"],
                                                      name="inner")],
                                    "then", [], [_value("t")], [_weights("w_then")])
    else_branch = helper.make_graph([helper.make_node("Conv", ["x", "w_outer"], ["e"],
                                                      name="inner")], "else", [], [_value("e")])
    node = helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_branch,
                            else_branch=else_branch)
    graph = helper.make_graph([node], "g", [_value("x", [1, 2, 8, 8]),
                                            helper.make_tensor_value_info("cond", TP.BOOL, [])],
                              [_value("y")], [_weights("w_outer", n=8)])
    return _save(tmp_path, graph)


def test_convs_in_if_branches_are_analysed_under_qualified_names(tmp_path):
    result = scan(_if_model(tmp_path))
    names = sorted(r.name for r in result.layers)
    assert names == ["branch/else_branch/inner", "branch/then_branch/inner"]
    shapes = {r.name: r.shape for r in result.layers}
    assert shapes["branch/else_branch/inner"] == (8, 2, 3, 3)  # outer-scope initializer


def test_convs_in_loop_and_scan_bodies_are_not_dropped(tmp_path):
    body = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["b"], name="body_conv")],
                             "body", [], [_value("b")], [_weights("w")])
    loop = helper.make_node("Loop", ["", "cond"], ["y"], name="loop", body=body)
    scan_node = helper.make_node("Scan", ["x"], ["z"], name="scan", body=body,
                                 num_scan_inputs=1)
    graph = helper.make_graph([loop, scan_node], "g",
                              [_value("x", [1, 2, 8, 8]),
                               helper.make_tensor_value_info("cond", TP.BOOL, [])],
                              [_value("y"), _value("z")])
    result = scan(_save(tmp_path, graph))
    assert [r.name for r in result.layers] == ["loop/body/body_conv", "scan/body/body_conv"]


def test_convs_in_model_local_functions_are_listed(tmp_path):
    inner = helper.make_node("Conv", ["fx", "fw"], ["fy"], name="fconv")
    function = helper.make_function("local", "Block", ["fx", "fw"], ["fy"], [inner],
                                    [helper.make_opsetid("", 17)])
    call = helper.make_node("Block", ["x", "w"], ["y"], name="call", domain="local")
    graph = helper.make_graph([call, helper.make_node("Conv", ["x", "w"], ["y2"], name="top")],
                              "g", [_value("x", [1, 2, 8, 8])], [_value("y")], [_weights("w")])
    path = _save(tmp_path, graph, functions=[function],
                 opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    result = scan(path)
    assert [r.name for r in result.layers] == ["top"]
    (skip,) = result.skipped
    assert skip.name == "local.Block/fconv" and "not a stored constant" in skip.reason
    status, out, _ = cli("check", path)
    assert status == 0 and "skipped local.Block/fconv" in out


def _conv_model(tmp_path, channels=2, **attributes):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", **attributes)
    graph = helper.make_graph([node], "g", [_value("x", [1, channels, 8, 8])], [_value("y")],
                              [_weights("w")])
    return _save(tmp_path, graph)


@pytest.mark.parametrize("attributes, words", [
    ({"strides": [0, 1]}, "strides (0, 1)"),
    ({"strides": [1, 1, 1]}, "strides (1, 1, 1)"),
    ({"pads": [-1, 0, 0, 0]}, "pads (-1, 0, 0, 0)"),
    ({"dilations": [1, -2]}, "dilations (1, -2)"),
    ({"auto_pad": "SAME_UPPER", "strides": [0, 0]}, "strides (0, 0)"),
    ({"auto_pad": "SAME_LOWER", "strides": [2]}, "strides (2,)"),
    ({"auto_pad": "BOGUS"}, "auto_pad 'BOGUS'"),
    ({"group": 2}, "does not match the input"),
    ({"group": 3}, "does not divide"),
])
def test_check_validates_conv_attributes_as_network_does(tmp_path, attributes, words):
    path = _conv_model(tmp_path, **attributes)
    (skip,) = scan(path).skipped
    assert words in skip.reason
    status, _, err = cli("network", path)
    assert_clean_error(status, err)


def test_valid_attributes_pass(tmp_path):
    """Negative control: a well-formed Conv is analysed, and network counts it."""
    path = _conv_model(tmp_path, strides=[2, 2], pads=[1, 1, 1, 1], auto_pad="NOTSET")
    assert [r.name for r in scan(path).layers] == ["c"]
    assert cli("network", path)[0] == 0
    assert conv_attribute_problem((4, 2, 3, 3), 1, in_channels=2) is None


@pytest.mark.parametrize("shape", ["1x2x9223372036854775808x8", f"1x2x{'9' * 30}x8"])
def test_input_shape_beyond_int64_is_a_clean_error(tmp_path, shape):
    status, _, err = cli("network", _conv_model(tmp_path), "--input-shape", shape)
    assert_clean_error(status, err, "input shape")


# ------------------------------------------------------------------ torch


def _torch_file(tmp_path, obj):
    path = tmp_path / "m.pt"
    torch.save(obj, path)
    return path


def test_torch_sparse_meta_and_quantized_tensors_are_skipped_with_reasons(tmp_path):
    with pytest.warns(UserWarning):
        quantized = torch.quantize_per_tensor(torch.ones(4, 2, 3, 3), 0.1, 0, torch.qint8)
    path = _torch_file(tmp_path, {"sparse": torch.ones(4, 2, 3, 3).to_sparse(),
                                  "meta": torch.empty(4, 2, 3, 3, device="meta"),
                                  "quantized": quantized, "ok": torch.ones(4, 2, 3, 3)})
    result = scan(path)
    assert [r.name for r in result.layers] == ["ok"]
    reasons = {s.name: s.reason for s in result.skipped}
    assert "sparse" in reasons["sparse"] and "meta" in reasons["meta"]
    assert "quantized" in reasons["quantized"]


def test_torch_state_dict_nested_past_the_walk_limit_is_listed(tmp_path):
    deep = {"weight": torch.ones(4, 2, 3, 3)}
    for _ in range(20):
        deep = {"m": deep}
    result = scan(_torch_file(tmp_path, {"top": torch.ones(4, 2, 3, 3), "deep": deep}))
    assert [r.name for r in result.layers] == ["top"]
    (skip,) = result.skipped
    assert skip.name.startswith("deep.m.m") and "nested deeper than 16" in skip.reason


# ------------------------------------------------------------------ escaping


def test_parser_messages_are_escaped_before_reaching_the_terminal(tmp_path, monkeypatch):
    import factorcheck.io.safetensors as st

    def evil(path):
        raise FileFormatError(f"{path!r}: not a valid safetensors file (bad name {ESC}x)")

    monkeypatch.setattr(st, "_list_tensors", evil)
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"\0" * 16)
    status, out, err = cli("check", path)
    assert_clean_error(status, err, "\\x1b]0;pwned\\x07")
    assert "\x1b" not in err and "\x07" not in err and "\x1b" not in out


def test_real_safetensors_error_with_escape_bytes_in_the_header(tmp_path):
    name = "w" + ESC
    header = json.dumps({name: {"dtype": "F32", "shape": [4, 2, 3, 3],
                                "data_offsets": [0, 7]}}, ensure_ascii=False).encode()
    path = tmp_path / "evil.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 7)
    status, out, err = cli("check", path)
    assert_clean_error(status, err)
    assert "\x1b" not in err + out and "\x07" not in err + out


def test_layer_names_with_escape_bytes_are_escaped(tmp_path):
    path = _torch_file(tmp_path, {ESC: torch.ones(4, 2, 3, 3)})
    status, out, err = cli("check", path)
    assert status == 0 and "\x1b" not in out + err and "\\x1b" in out
