"""Tests of factorcheck.network.shapes: shapes that onnx.shape_inference leaves unknown."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_models import require
from network_graphs import const_node, ints, shuffle_model, weight

import factorcheck.network.onnx as network_onnx
from factorcheck.network import onnx_table
from factorcheck.network.onnx import _value_dims
from factorcheck.network.shapes import propagate, transposed_output

X = (1, 8, 6, 6)
BIG = np.iinfo(np.int64).max


@pytest.fixture
def onnx():
    """The onnx package: skipped without it, a failure in CI (every extra installed)."""
    return require("onnx")


def _graph(onnx, nodes, inits=()):
    helper = onnx.helper
    return helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(X))], [],
        list(inits))


def _shape_of(onnx, nodes, inits=(), name="y"):
    """The shape propagate() gives ``name`` from X alone (ONNX's inference is not used)."""
    return propagate(_graph(onnx, nodes, inits), {"x": X}).get(name)


# ----------------------------------------------------------------- the channel shuffle

# Hand count of network_graphs.shuffle_model (input batx8x6x6, batch taken as 1):
#   pre  1x1 8 -> 8 on 6x6:              6*6*8*8 = 2304 MACs, 64 params
#   shuffle (Reshape 1x2x4x6x6, Transpose, Reshape 1x8x6x6), Split 4 + 4
#   dw   3x3 depthwise 4 ch, pad 1:      6*6*4*9 = 1296,      36
#   pw   1x1 4 -> 4:                     6*6*4*4 =  576,      16
#   fc   Gemm 8 -> 10, Constant weight:  8*10    =   80,      80
#   total                                          4256       196
SHUFFLE_ROWS = [("pre", "pointwise", 2304, 64), ("dw", "depthwise", 1296, 36),
                ("pw", "pointwise", 576, 16), ("fc", "fc", 80, 80)]


def test_channel_shuffle_is_counted_exactly(onnx, tmp_path):
    table = onnx_table(shuffle_model(onnx, tmp_path / "s.onnx"))
    assert [(r.name, r.type, r.macs, r.params) for r in table.rows] == SHUFFLE_ROWS
    assert (table.total_macs, table.total_params, table.complete) == (4256, 196, True)
    assert table.rows[1].input_shape == (4, 6, 6) and table.input_shape == (1, 8, 6, 6)


def test_onnx_inference_alone_loses_the_shuffle(onnx, tmp_path):
    # negative control: the graph really defeats onnx.shape_inference (the Div/Cast on the
    # channels), so the test above exercises the propagation
    path = shuffle_model(onnx, tmp_path / "s.onnx", in_shape=(1, 8, 6, 6))
    inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path)), data_prop=True)
    dims = {v.name: _value_dims(v) for v in inferred.graph.value_info}
    assert dims["y2"] == (1, None, 6, 6)


def test_without_propagation_the_table_is_partial(onnx, tmp_path, monkeypatch):
    # what factorcheck did before: dw and fc (after the Concat with the lost half) skipped,
    # only 2304 + 576 = 2880 MACs counted
    monkeypatch.setattr(network_onnx, "propagate", lambda graph, inferred: {
        k: v for k, v in {**inferred, **{t.name: tuple(t.dims) for t in graph.initializer}}
        .items() if v is not None and None not in v})
    table = onnx_table(shuffle_model(onnx, tmp_path / "s.onnx"))
    assert [s.name for s in table.skipped] == ["dw", "fc"] and not table.complete
    assert table.total_macs == 2880 < 4256


# ----------------------------------------------------------------- one operator at a time


def _node(onnx, op, inputs, **attrs):
    return onnx.helper.make_node(op, inputs, ["y"], **attrs)


def _cases(onnx):
    """(nodes, initializers, expected shape of y) from X = 1x8x6x6."""
    make = onnx.helper.make_node
    return [
        ([_node(onnx, "Slice", ["x", "s", "e", "a", "st"])],
         [ints(onnx, "s", [1]), ints(onnx, "e", [BIG]), ints(onnx, "a", [1]),
          ints(onnx, "st", [2])], (1, 4, 6, 6)),                        # channels 1, 3, 5, 7
        ([_node(onnx, "Slice", ["x", "s", "e", "a"])],
         [ints(onnx, "s", [-4]), ints(onnx, "e", [-1]), ints(onnx, "a", [-1])], (1, 8, 6, 3)),
        ([_node(onnx, "Squeeze", ["x", "a"])], [ints(onnx, "a", [0])], (8, 6, 6)),
        ([_node(onnx, "Unsqueeze", ["x", "a"])], [ints(onnx, "a", [0, -1])], (1, 1, 8, 6, 6, 1)),
        ([_node(onnx, "Expand", ["x", "s"])], [ints(onnx, "s", [2, 1, 1, 6])], (2, 8, 6, 6)),
        ([_node(onnx, "Resize", ["x", "", "sc"], mode="nearest")],
         [onnx.numpy_helper.from_array(np.array([1, 1, 2, 1.5], np.float32), "sc")],
         (1, 8, 12, 9)),
        ([_node(onnx, "Resize", ["x", "", "", "sz"])], [ints(onnx, "sz", [1, 8, 9, 9])],
         (1, 8, 9, 9)),
        ([_node(onnx, "Transpose", ["x"], perm=[0, 2, 3, 1])], [], (1, 6, 6, 8)),
        ([_node(onnx, "Reshape", ["x", "s"])], [ints(onnx, "s", [0, -1])], (1, 288)),
        ([_node(onnx, "Flatten", ["x"], axis=2)], [], (8, 36)),
        ([_node(onnx, "MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], [],
         (1, 8, 3, 3)),                                                  # ceil(3/2) + 1
        ([_node(onnx, "AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2])], [],
         (1, 8, 2, 2)),                                                  # floor(3/2) + 1
        ([_node(onnx, "Gather", ["x", "i"], axis=1)], [ints(onnx, "i", [0, 2])], (1, 2, 6, 6)),
        ([_node(onnx, "Concat", ["x", "x"], axis=1)], [], (1, 16, 6, 6)),
        ([_node(onnx, "Pad", ["x", "p"])], [ints(onnx, "p", [0, 0, 1, 1, 0, 0, 1, 1])],
         (1, 8, 8, 8)),
        ([_node(onnx, "Tile", ["x", "r"])], [ints(onnx, "r", [1, 1, 2, 1])], (1, 8, 12, 6)),
        ([_node(onnx, "ReduceMean", ["x"], axes=[2, 3], keepdims=0)], [], (1, 8)),
        ([_node(onnx, "Add", ["x", "b"])], [weight(onnx, "b", (8, 1, 1))], (1, 8, 6, 6)),
        ([_node(onnx, "Conv", ["x", "w"], strides=[2, 2], pads=[1, 1, 1, 1])],
         [weight(onnx, "w", (4, 8, 3, 3))], (1, 4, 3, 3)),
        ([_node(onnx, "ConvTranspose", ["x", "w"], strides=[2, 2], output_padding=[1, 1])],
         [weight(onnx, "w", (8, 2, 3, 3))], (1, 2, 14, 14)),            # 2*5 + 1 + 3
        ([make("Shape", ["x"], ["s"]), _node(onnx, "ConstantOfShape", ["s"])], [], X),
        ([make("Shape", ["x"], ["s"]), make("Gather", ["s", "i"], ["c"]),
          make("Range", ["zero", "c", "one"], ["y"])],
         [ints(onnx, "i", 1), ints(onnx, "zero", 0), ints(onnx, "one", 1)], (8,)),
        ([make("Shape", ["x"], ["s"], start=2), make("ReduceProd", ["s"], ["hw"], keepdims=1),
          make("Concat", ["b", "hw"], ["t"], axis=0), _node(onnx, "Reshape", ["x", "t"])],
         [ints(onnx, "b", [8, 1])], (8, 1, 36)),   # 6*6 folded by ReduceProd
        ([make("Shape", ["x"], ["s"]), make("Slice", ["s", "two", "four"], ["hw"]),
          make("Mul", ["hw", "hw"], ["sq"]), make("Concat", ["pre", "sq"], ["t"], axis=0),
          _node(onnx, "Reshape", ["y0", "t"]), make("Tile", ["x", "r"], ["y0"])],
         [ints(onnx, "two", [2]), ints(onnx, "four", [4]), ints(onnx, "pre", [1, 8]),
          ints(onnx, "r", [1, 1, 6, 6])], None),  # out of order: y0 comes later, unknown
        ([make("Shape", ["x"], ["s"]), make("Slice", ["s", "two", "four"], ["hw"]),
          make("Mul", ["hw", "hw"], ["sq"]), make("Concat", ["pre", "sq"], ["t"], axis=0),
          make("Tile", ["x", "r"], ["y0"]), _node(onnx, "Reshape", ["y0", "t"])],
         [ints(onnx, "two", [2]), ints(onnx, "four", [4]), ints(onnx, "pre", [1, 8]),
          ints(onnx, "r", [1, 1, 6, 6])], (1, 8, 36, 36)),   # 6*6 folded from the shape
        ([make("Split", ["x"], ["y", "z"], axis=3, num_outputs=2)], [], (1, 8, 6, 3)),
        ([make("Shape", ["x"], ["s"]), make("ConstantOfShape", ["two"], ["o"],   # [1, 1] + 5
          value=onnx.numpy_helper.from_array(np.array([1], np.int64))),
          make("Add", ["o", "five"], ["six"]), make("Mod", ["six", "four"], ["t"]),  # 6 % 4
          make("Concat", ["lead", "t"], ["target"], axis=0),
          _node(onnx, "Reshape", ["x", "target"])],
         [ints(onnx, "two", [2]), ints(onnx, "five", 5), ints(onnx, "four", 4),
          ints(onnx, "lead", [72])], (72, 2, 2)),
        ([_node(onnx, "Resize", ["x", "sc"])],                           # opset 10: no roi
         [onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc")], (1, 8, 12, 12)),
        ([_node(onnx, "ReduceSum", ["x", "a"], noop_with_empty_axes=1)],
         [ints(onnx, "a", np.zeros(0, np.int64))], X),
        ([make("LayerNormalization", ["x", "s"], ["n", "y"], axis=-1)],  # Mean: not X's shape
         [weight(onnx, "s", (6,))], None),
        ([const_node(onnx, "k", np.ones((2, 3), np.float32)), _node(onnx, "Identity", ["k"])],
         [], (2, 3)),
    ]


def test_each_operator(onnx):
    for index, (nodes, inits, expected) in enumerate(_cases(onnx)):
        assert _shape_of(onnx, nodes, inits) == expected, (index, nodes[-1].op_type)


def test_what_cannot_be_known_stays_unknown(onnx):
    make = onnx.helper.make_node
    # NonZero's output size depends on the data; a custom operator is unknown
    assert _shape_of(onnx, [_node(onnx, "NonZero", ["x"])]) is None
    assert _shape_of(onnx, [make("Mystery", ["x"], ["y"], domain="com.example")]) is None
    # a Reshape to an impossible size, a Transpose with a bad perm: unknown, never an exception
    assert _shape_of(onnx, [_node(onnx, "Reshape", ["x", "s"])], [ints(onnx, "s", [5, -1])]) \
        is None
    assert _shape_of(onnx, [_node(onnx, "Transpose", ["x"], perm=[7, 0])]) is None
    assert _shape_of(onnx, [_node(onnx, "Conv", ["x", "w"])], [weight(onnx, "w", (4, 8, 9, 9))]) \
        is None   # kernel larger than the input


def test_onnx_shapes_win_where_they_are_known(onnx):
    # the propagation only fills gaps: a shape given by inference is kept
    graph = _graph(onnx, [_node(onnx, "Relu", ["x"])])
    assert propagate(graph, {"x": X, "y": (1, 8, 6, 6)})["y"] == X
    assert propagate(graph, {"x": X, "y": (1, None, 6, 6)})["y"] == X


def test_transposed_output_formula(onnx):
    make = onnx.helper.make_node
    # ONNX: s*(in-1) + output_padding + (k-1)*d + 1 - pads
    node = make("ConvTranspose", ["x", "w"], ["y"], strides=[2, 3], pads=[1, 0, 1, 2],
                dilations=[1, 2])
    assert transposed_output(node, (1, 4, 5, 5), (4, 3, 3, 3)) == (1, 3, 9, 15)  # 8+3-2, 12+5-2
    same = make("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], auto_pad="SAME_UPPER",
                group=2)
    assert transposed_output(same, (1, 4, 5, 5), (4, 3, 3, 3)) == (1, 6, 10, 10)
    given = make("ConvTranspose", ["x", "w"], ["y"], output_shape=[11, 12])
    assert transposed_output(given, (1, 4, 5, 5), (4, 3, 3, 3)) == (1, 3, 11, 12)


def test_folding_never_builds_a_large_array(onnx):
    make = onnx.helper.make_node
    # Range(0, 10**12): its length is known, its value is not built
    nodes = [make("Range", ["zero", "big", "one"], ["y"])]
    inits = [ints(onnx, "zero", 0), ints(onnx, "big", 10**12), ints(onnx, "one", 1)]
    assert _shape_of(onnx, nodes, inits) == (10**12,)
    # (4096, 1) + (1, 4096) would be 16.7 M values: only the shape is kept
    column = onnx.numpy_helper.from_array(np.ones((4096, 1), np.int64), "c")
    row = onnx.numpy_helper.from_array(np.ones((1, 4096), np.int64), "r")
    graph = _graph(onnx, [make("Add", ["c", "r"], ["y"]), make("Reshape", ["x", "y"], ["z"])],
                   [column, row])
    shapes = propagate(graph, {"x": X})
    assert shapes["y"] == (4096, 4096) and shapes.get("z") is None
    # integer division by zero: no warning, no value
    nodes = [make("Div", ["a", "zero"], ["y"]), make("Reshape", ["x", "y"], ["z"])]
    graph = _graph(onnx, nodes, [ints(onnx, "a", [-1]), ints(onnx, "zero", [0])])
    shapes = propagate(graph, {"x": X})
    assert shapes["y"] == (1,) and shapes.get("z") is None   # -1 / 0 is no shape
