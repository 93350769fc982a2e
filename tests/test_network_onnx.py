"""Tests of factorcheck.network.onnx_table against tables counted by hand."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from fixtures_models import NASTY_NAMES, require

import factorcheck.io.onnx as io_onnx
from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.network import compare_standard, onnx_table


@pytest.fixture
def onnx():
    """The onnx package: skipped without it, a failure in CI (every extra installed)."""
    return require("onnx")


def _weight(onnx, name, shape):
    return onnx.numpy_helper.from_array(np.ones(shape, np.float32), name)


def save_model(onnx, path, nodes, inits, in_shape, out="logits"):
    helper = onnx.helper
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def small_cnn(onnx, path, in_shape=(1, 3, 16, 16), names=("stem", "dw", "pw", "fc")):
    """x -> Conv 3x3/2 (bias) -> Relu -> depthwise 3x3 -> pointwise -> GAP -> Flatten -> Gemm."""
    make = onnx.helper.make_node
    nodes = [
        make("Conv", ["x", "w0", "b0"], ["c0"], name=names[0], strides=[2, 2], pads=[1, 1, 1, 1]),
        make("Relu", ["c0"], ["r0"]),
        make("Conv", ["r0", "w1"], ["c1"], name=names[1], group=8, pads=[1, 1, 1, 1]),
        make("Conv", ["c1", "w2"], ["c2"], name=names[2]),
        make("GlobalAveragePool", ["c2"], ["g"]),
        make("Flatten", ["g"], ["f"]),
        make("Gemm", ["f", "w3", "b3"], ["logits"], name=names[3], transB=1),
    ]
    inits = [_weight(onnx, "w0", (8, 3, 3, 3)), _weight(onnx, "b0", (8,)),
             _weight(onnx, "w1", (8, 1, 3, 3)), _weight(onnx, "w2", (16, 8, 1, 1)),
             _weight(onnx, "w3", (10, 16)), _weight(onnx, "b3", (10,))]
    return save_model(onnx, path, nodes, inits, list(in_shape))


# Hand count at 16x16 (per image, no biases):
#   stem  3 -> 8, 16 -> 8 (stride 2, pad 1): 8*8*8*27 = 13824 MACs, 216 params
#   dw    8, 8 -> 8 (group 8, pad 1):        8*8*8*9  =  4608,       72
#   pw    8 -> 16 on 8x8:                    8*8*16*8 =  8192,      128
#   fc    Gemm 16 -> 10 (transB):            16*10    =   160,      160
#   total                                              26784        576
#   biases in the file: stem 8, fc 10 -> 594 params with bias=True
HAND_ROWS = [
    ("stem", "standard", (3, 16, 16), (8, 8, 8), (3, 3), (2, 2), 1, 13824, 216),
    ("dw", "depthwise", (8, 8, 8), (8, 8, 8), (3, 3), (1, 1), 8, 4608, 72),
    ("pw", "pointwise", (8, 8, 8), (16, 8, 8), (1, 1), (1, 1), 1, 8192, 128),
    ("fc", "fc", (16, 1, 1), (10, 1, 1), None, None, 1, 160, 160),
]


def _rows(table):
    return [(r.name, r.type, r.input_shape, r.output_shape, r.kernel, r.stride, r.groups, r.macs,
             r.params) for r in table.rows]


def test_table_matches_the_hand_count(onnx, tmp_path):
    table = onnx_table(small_cnn(onnx, tmp_path / "m.onnx"))
    assert _rows(table) == HAND_ROWS
    assert (table.total_macs, table.total_params) == (26784, 576)
    assert table.input_shape == (1, 3, 16, 16) and table.alpha is None and table.skipped == ()
    assert table.name == "m.onnx"


def test_biases_stored_in_the_file_are_counted_when_asked(onnx, tmp_path):
    table = onnx_table(small_cnn(onnx, tmp_path / "m.onnx"), bias=True)
    assert [r.bias for r in table.rows] == [True, False, False, True]
    assert table.total_params == 576 + 8 + 10 and table.total_macs == 26784


def test_dynamic_input_needs_an_input_shape(onnx, tmp_path):
    path = small_cnn(onnx, tmp_path / "m.onnx", in_shape=("N", 3, "H", "W"))
    with pytest.raises(FactorcheckError, match=r"no fixed shape \(got \?x3x\?x\?\).*--input-shape"):
        onnx_table(path)
    assert _rows(onnx_table(path, input_shape=(1, 3, 16, 16))) == HAND_ROWS
    # at 32x32 every conv grid has 4x the positions; the fc is unchanged
    big = onnx_table(path, input_shape=(1, 3, 32, 32))
    assert big.total_macs == 4 * (13824 + 4608 + 8192) + 160


def test_input_shape_overrides_the_stored_one_and_batch_is_per_image(onnx, tmp_path):
    path = small_cnn(onnx, tmp_path / "m.onnx")
    assert onnx_table(path, input_shape=(8, 3, 16, 16)).total_macs == 26784


def test_bad_input_shape(onnx, tmp_path):
    path = small_cnn(onnx, tmp_path / "m.onnx")
    with pytest.raises(FactorcheckError, match="positive ints"):
        onnx_table(path, input_shape=(1, 3, 0, 16))
    with pytest.raises(FactorcheckError):
        onnx_table(path, input_shape=(1, 4, 16, 16))   # 4 channels into a 3-channel conv


def test_same_padding_and_inference_cross_check(onnx, tmp_path):
    # auto_pad SAME_UPPER, stride 2 on 15x15: output ceil(15/2) = 8; total pad 1 (0 top, 1 bottom)
    #   MACs 8*8*4*(3*3*3) = 6912
    node = onnx.helper.make_node("Conv", ["x", "w"], ["logits"], name="same", strides=[2, 2],
                                 auto_pad="SAME_UPPER")
    path = save_model(onnx, tmp_path / "s.onnx", [node], [_weight(onnx, "w", (4, 3, 3, 3))],
                      [1, 3, 15, 15])
    row, = onnx_table(path).rows
    assert (row.output_shape, row.macs) == ((4, 8, 8), 6912)


def test_matmul_counts_once_per_position_with_a_weight_and_as_attention_without(onnx, tmp_path):
    # x (1, 5, 16) @ W (16, 4): 5 positions * 16 * 4 = 320 MACs, 64 params;
    # y @ y^T (two activations, (5, 4) @ (4, 5)): 5*5*4 = 100 MACs, no params
    make = onnx.helper.make_node
    nodes = [make("MatMul", ["x", "w"], ["y"], name="proj"),
             make("Transpose", ["y"], ["yt"], perm=[0, 2, 1]),
             make("MatMul", ["y", "yt"], ["logits"], name="attn")]
    path = save_model(onnx, tmp_path / "mm.onnx", nodes, [_weight(onnx, "w", (16, 4))],
                      [1, 5, 16])
    table = onnx_table(path)
    assert [(r.name, r.type, r.macs, r.params) for r in table.rows] == [
        ("proj", "fc", 320, 64), ("attn", "attention", 100, 0)]
    assert table.complete and table.skipped == ()


def test_transposed_convolution_is_counted(onnx, tmp_path):
    # 3 -> 4 channels, 2x2 kernel, stride 1, on 4x4: output 5x5;
    #   MACs 4*4 (inputs) * 3 * 2*2 * 4 = 768, params 3*4*2*2 = 48
    node = onnx.helper.make_node("ConvTranspose", ["x", "w"], ["logits"], name="up")
    path = save_model(onnx, tmp_path / "t.onnx", [node], [_weight(onnx, "w", (3, 4, 2, 2))],
                      [1, 3, 4, 4])
    row, = onnx_table(path).rows
    assert (row.type, row.output_shape, row.macs, row.params) == ("transposed", (4, 5, 5), 768, 48)


def test_node_names_stay_plain_strings(onnx, tmp_path):
    names = NASTY_NAMES[:4]
    table = onnx_table(small_cnn(onnx, tmp_path / "m.onnx", names=names))
    assert [r.name for r in table.rows] == list(names)
    assert [layer["name"] for layer in table.to_dict()["layers"]] == list(names)


def test_standard_counterpart_pairs_the_depthwise_and_pointwise_nodes(onnx, tmp_path):
    # dw + pw -> 3x3 standard 8 -> 16 on 8x8: 8*8*16*8*9 = 73728 MACs, 16*8*9 = 1152 params
    cmp = compare_standard(onnx_table(small_cnn(onnx, tmp_path / "m.onnx")))
    assert [b.separable for b in cmp.blocks] == [("stem",), ("dw", "pw"), ("fc",)]
    assert cmp.standard.total_macs == 13824 + 73728 + 160
    assert cmp.standard.total_params == 216 + 1152 + 160


def test_missing_onnx_says_which_extra_to_install(monkeypatch, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(FactorcheckError, match=r"pip install 'factorcheck\[onnx\]'"):
        onnx_table(path)


def test_oversized_file_is_refused_before_parsing(onnx, tmp_path, monkeypatch):
    path = small_cnn(onnx, tmp_path / "m.onnx")
    monkeypatch.setattr(io_onnx, "MAX_ONNX_BYTES", 16)
    with pytest.raises(FileFormatError, match="refused before parsing"):
        onnx_table(path)


def test_malformed_and_missing_files(onnx, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(FileFormatError, match="not a valid ONNX model"):
        onnx_table(bad)
    with pytest.raises(FileFormatError, match="no such file"):
        onnx_table(tmp_path / "absent.onnx")


def test_external_data_is_not_loaded(onnx, tmp_path):
    # the weight lives in a side file; shapes come from the dims, the data is never read
    path = small_cnn(onnx, tmp_path / "m.onnx")
    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    (tmp_path / "weights.bin").unlink()
    assert _rows(onnx_table(path)) == HAND_ROWS


def test_input_shapes_beyond_int64_are_clean_errors(onnx, tmp_path, capsys):
    from factorcheck.cli import main

    path = small_cnn(onnx, tmp_path / "m.onnx")
    for shape in ((1, 3, 2**63, 16), (1, 3, 10**5000, 16), (1, True, 16, 16)):
        with pytest.raises(FactorcheckError, match="below 2\\*\\*63"):
            onnx_table(path, input_shape=shape)
    with pytest.raises(SystemExit) as exc:
        main(["network", str(path), "--input-shape", f"1x3x{2**63}x16"])
    assert exc.value.code == 2 and "2**63 - 1" in capsys.readouterr().err


def test_same_padding_with_bad_strides_is_a_clean_error(onnx, tmp_path):
    for strides in ([0, 0], [2]):
        node = onnx.helper.make_node("Conv", ["x", "w"], ["logits"], name="same",
                                     strides=strides, auto_pad="SAME_UPPER")
        path = save_model(onnx, tmp_path / "s.onnx", [node], [_weight(onnx, "w", (4, 3, 3, 3))],
                          [1, 3, 15, 15])
        with pytest.raises(FileFormatError, match="strides"):
            onnx_table(path)
