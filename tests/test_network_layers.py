"""Every ONNX layer type that factorcheck network counts, against hand counts."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from fixtures_models import require
from network_graphs import const_node, ints, save, shuffle_model, weight

from factorcheck.errors import FileFormatError
from factorcheck.network import compare_standard, onnx_table


@pytest.fixture
def onnx():
    """The onnx package: skipped without it, a failure in CI (every extra installed)."""
    return require("onnx")


def _rows(table):
    return [(r.name, r.type, r.output_shape, r.macs, r.params) for r in table.rows]


def _one(onnx, tmp_path, node, inits, in_shape, **kwargs):
    table = onnx_table(save(onnx, tmp_path / "m.onnx", [node], inits, in_shape), **kwargs)
    assert table.complete
    row, = table.rows
    return row


def test_conv1d(onnx, tmp_path):
    # 4 -> 6 channels, k 3, stride 2, pad 1 on length 10: (10 + 2 - 3)//2 + 1 = 5 outputs
    #   MACs 5 * 6 * 3*4 = 360, params 6*4*3 = 72 (+ 6 biases)
    node = onnx.helper.make_node("Conv", ["x", "w", "b"], ["y"], name="c1d", strides=[2],
                                 pads=[1, 1])
    inits = [weight(onnx, "w", (6, 4, 3)), weight(onnx, "b", (6,))]
    row = _one(onnx, tmp_path, node, inits, [1, 4, 10])
    assert (row.type, row.input_shape, row.output_shape, row.kernel, row.stride) == \
        ("standard", (4, 10), (6, 5), (3,), (2,))
    assert (row.macs, row.params) == (360, 72)
    assert _one(onnx, tmp_path, node, inits, [1, 4, 10], bias=True).params == 78


def test_conv3d_standard_and_depthwise(onnx, tmp_path):
    # 2 -> 6, 3x3x3, pad 1, stride (1, 2, 2) on 4x8x8: output 4x4x4
    #   MACs 4*4*4 * 6 * 27*2 = 20736, params 6*2*27 = 324
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="c3d", strides=[1, 2, 2],
                                 pads=[1] * 6)
    row = _one(onnx, tmp_path, node, [weight(onnx, "w", (6, 2, 3, 3, 3))], [1, 2, 4, 8, 8])
    assert (row.type, row.output_shape, row.kernel, row.macs, row.params) == \
        ("standard", (6, 4, 4, 4), (3, 3, 3), 20736, 324)
    # depthwise, multiplier 2: 2 groups of 1 -> 2; MACs 4*4*4 * 4 * 27 = 6912, params 4*27
    dw = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="dw3d", strides=[1, 2, 2],
                               pads=[1] * 6, group=2)
    row = _one(onnx, tmp_path, dw, [weight(onnx, "w", (4, 1, 3, 3, 3))], [1, 2, 4, 8, 8])
    assert (row.type, row.groups, row.macs, row.params) == ("depthwise", 2, 6912, 108)


def test_conv_transpose_grouped_with_bias(onnx, tmp_path):
    # 4 -> 6 channels in 2 groups (weight 4 x 3 x 2 x 2), stride 2 on 5x5: output 10x10
    #   MACs 5*5 inputs * 4 * 2*2 taps * 3 outputs per group = 1200; params 4*3*4 = 48, bias 6
    node = onnx.helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="up",
                                 strides=[2, 2], group=2)
    inits = [weight(onnx, "w", (4, 3, 2, 2)), weight(onnx, "b", (6,))]
    row = _one(onnx, tmp_path, node, inits, [1, 4, 5, 5], bias=True)
    assert (row.type, row.input_shape, row.output_shape, row.macs, row.params) == \
        ("transposed", (4, 5, 5), (6, 10, 10), 1200, 54)


def test_conv_transpose_1d_with_pads(onnx, tmp_path):
    # 3 -> 2, k 4, stride 2, pads 1+1 on length 7: 2*6 + 4 - 2 = 14; MACs 7*3*4*2 = 168
    node = onnx.helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2], pads=[1, 1])
    row = _one(onnx, tmp_path, node, [weight(onnx, "w", (3, 2, 4))], [1, 3, 7])
    assert (row.output_shape, row.macs, row.params) == ((2, 14), 168, 24)


def test_matmul_and_gemm_with_constant_node_weights(onnx, tmp_path):
    # x (1, 5, 16) @ W (16, 4), W a Constant node: 5*16*4 = 320 MACs, 64 params
    # then @ V^T, V a Constant (6, 4) through a Transpose: 5*4*6 = 120 MACs, 24 params
    # then Flatten (1, 30) and Gemm with a Constant (30, 3): 90 MACs, 90 params
    make = onnx.helper.make_node
    nodes = [const_node(onnx, "W", np.ones((16, 4), np.float32)),
             make("MatMul", ["x", "W"], ["h"], name="proj"),
             const_node(onnx, "V", np.ones((6, 4), np.float32)),
             make("Transpose", ["V"], ["Vt"], perm=[1, 0]),
             make("MatMul", ["h", "Vt"], ["h2"], name="proj2"),
             make("Flatten", ["h2"], ["f"]),
             const_node(onnx, "G", np.ones((30, 3), np.float32)),
             make("Gemm", ["f", "G"], ["y"], name="head")]
    table = onnx_table(save(onnx, tmp_path / "m.onnx", nodes, [], [1, 5, 16]))
    assert [(r.name, r.type, r.macs, r.params) for r in table.rows] == [
        ("proj", "fc", 320, 64), ("proj2", "fc", 120, 24), ("head", "fc", 90, 90)]
    assert table.complete


def test_attention_products_are_their_own_type(onnx, tmp_path):
    # x (1, 6, 16) -> q = x @ Wq (16x16): 6*16*16 = 1536 MACs, 256 params
    # q -> (1, 6, 2, 8) -> heads (1, 2, 6, 8); scores = heads @ heads^T: 2*6*6*8 = 576 MACs
    # out = scores @ heads: (1, 2, 6, 8), 2*6*8*6 = 576 MACs; no parameters in either
    make = onnx.helper.make_node
    nodes = [make("MatMul", ["x", "wq"], ["q"], name="q_proj"),
             make("Reshape", ["q", "split"], ["q4"]),
             make("Transpose", ["q4"], ["heads"], perm=[0, 2, 1, 3]),
             make("Transpose", ["heads"], ["keys_t"], perm=[0, 1, 3, 2]),
             make("MatMul", ["heads", "keys_t"], ["scores"], name="qk"),
             make("Softmax", ["scores"], ["p"], axis=-1),
             make("MatMul", ["p", "heads"], ["y"], name="pv")]
    inits = [weight(onnx, "wq", (16, 16)), ints(onnx, "split", [1, 6, 2, 8])]
    table = onnx_table(save(onnx, tmp_path / "m.onnx", nodes, inits, ["batch", 6, 16]))
    assert _rows(table) == [("q_proj", "fc", (16, 6, 1), 1536, 256),
                            ("qk", "attention", (2, 6, 6), 576, 0),
                            ("pv", "attention", (2, 6, 8), 576, 0)]
    assert table.rows[1].input_shape == (2, 6, 8)
    assert [s.type for s in table.shares()] == ["fc", "attention"]


def test_symbolic_batch_counts_per_image(onnx, tmp_path):
    # the same model with a symbolic batch, batch 1 and batch 8: the same per-image table
    path = shuffle_model(onnx, tmp_path / "s.onnx")
    dynamic = onnx_table(path)
    assert dynamic.input_shape == (1, 8, 6, 6)
    for batch in (1, 8):
        fixed = onnx_table(path, input_shape=(batch, 8, 6, 6))
        assert _rows(fixed) == _rows(dynamic) and fixed.total_macs == 4256


def test_bad_layers_are_clean_errors(onnx, tmp_path):
    make = onnx.helper.make_node
    cases = [
        (make("Conv", ["x", "w"], ["y"], group=3), weight(onnx, "w", (4, 2, 3)), [1, 4, 8],
         "group 3"),
        (make("Conv", ["x", "w"], ["y"], strides=[0]), weight(onnx, "w", (4, 4, 3)), [1, 4, 8],
         "stride"),
        (make("ConvTranspose", ["x", "w"], ["y"]), weight(onnx, "w", (5, 2, 3)), [1, 4, 8],
         "does not match"),
    ]
    for node, init, shape, message in cases:
        path = save(onnx, tmp_path / "bad.onnx", [node], [init], shape)
        with pytest.raises(FileFormatError, match=message):
            onnx_table(path)


def test_standard_counterpart_of_a_3d_separable_block(onnx, tmp_path):
    # dw 3x3x3 on 4 ch, 4x6x6, pad 1: 4*6*6*4*27 = 15552; pw 4 -> 8: 4*6*6*8*4 = 4608
    # standard 3x3x3 4 -> 8: 4*6*6*8*4*27 = 124416; ratio 1/8 + 1/27 = 35/216
    make = onnx.helper.make_node
    nodes = [make("Conv", ["x", "w1"], ["a"], name="dw", group=4, pads=[1] * 6),
             make("Conv", ["a", "w2"], ["y"], name="pw")]
    inits = [weight(onnx, "w1", (4, 1, 3, 3, 3)), weight(onnx, "w2", (8, 4, 1, 1, 1))]
    cmp = compare_standard(onnx_table(save(onnx, tmp_path / "m.onnx", nodes, inits,
                                           [1, 4, 4, 6, 6])))
    block, = cmp.blocks
    assert (block.separable_macs, block.standard_macs) == (15552 + 4608, 124416)
    assert cmp.mac_ratio == sympy.Rational(35, 216) == cmp.param_ratio


def test_matrix_products_not_batch_first_count_every_row(onnx, tmp_path):
    # torch's MultiheadAttention works on (sequence, batch, features), Swin's attention on
    # (windows * batch, heads, n, d): the first dimension is not the batch, so every row counts
    #   x (1, 6, 16) -> (6, 1, 16) @ W (16, 8):       6*16*8 = 768 MACs, 128 params
    #   Reshape (6, 8) -> Gemm with V (8, 4):           6*8*4 = 192 MACs,  32 params
    #   Reshape (3, 2, 2, 2) windows; w @ w^T (3, 2, 2, 2): 3*2*2*2*2 = 48 MACs
    make = onnx.helper.make_node
    nodes = [make("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
             make("MatMul", ["t", "w"], ["h"], name="in_proj"),
             make("Reshape", ["h", "flat"], ["h2"]),
             make("Gemm", ["h2", "v"], ["o"], name="out_proj"),
             make("Reshape", ["o", "win"], ["windows"]),
             make("Transpose", ["windows"], ["wt"], perm=[0, 1, 3, 2]),
             make("MatMul", ["windows", "wt"], ["y"], name="scores")]
    inits = [weight(onnx, "w", (16, 8)), weight(onnx, "v", (8, 4)), ints(onnx, "flat", [6, 8]),
             ints(onnx, "win", [3, 2, 2, 2])]
    table = onnx_table(save(onnx, tmp_path / "m.onnx", nodes, inits, ["batch", 6, 16]))
    assert [(r.name, r.type, r.macs, r.params) for r in table.rows] == [
        ("in_proj", "fc", 768, 128), ("out_proj", "fc", 192, 32), ("scores", "attention", 48, 0)]
    # with a batch of 2 given, each image costs the same: every row count halves exactly
    nodes[2] = make("Reshape", ["h", "flat2"], ["h2"])
    nodes[4] = make("Reshape", ["o", "win2"], ["windows"])
    inits += [ints(onnx, "flat2", [12, 8]), ints(onnx, "win2", [6, 2, 2, 2])]
    path = save(onnx, tmp_path / "m2.onnx", nodes, inits, ["batch", 6, 16])
    assert onnx_table(path, input_shape=(2, 6, 16)).total_macs == 768 + 192 + 48
