"""Small ONNX graphs, built with onnx.helper, that reproduce what real exporters write.

Every builder takes the ``onnx`` module (tests get it from ``fixtures_models.require``) and
a path, saves the model there and returns the path.  Hand counts are in the tests.
"""

from __future__ import annotations

import numpy as np


def weight(onnx, name, shape, value=1.0):
    """An initializer of ones (or ``value``)."""
    return onnx.numpy_helper.from_array(np.full(shape, value, np.float32), name)


def ints(onnx, name, values):
    """An int64 initializer."""
    return onnx.numpy_helper.from_array(np.array(values, np.int64), name)


def const_node(onnx, output, array):
    """A Constant node holding ``array``."""
    tensor = onnx.numpy_helper.from_array(np.asarray(array), output + "_value")
    return onnx.helper.make_node("Constant", [], [output], value=tensor)


def save(onnx, path, nodes, inits, in_shape, *, out="y", functions=(), opset=17, domains=()):
    helper = onnx.helper
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)], inits)
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(domain, 1) for domain in {*domains,
                                                             *(f.domain for f in functions)}]
    model = helper.make_model(graph, opset_imports=opsets, functions=list(functions))
    onnx.save(model, str(path))
    return path


def shuffle_nodes(onnx, x, y, groups, prefix="sh"):
    """torchvision's channel_shuffle as torch.onnx exports it (batch taken from the tensor).

    ``Shape -> Gather -> Div -> Cast -> Cast -> Unsqueeze -> Concat -> Reshape -> Transpose
    -> Reshape``: ONNX's shape inference loses the channels at the Div/Cast.
    """
    make = onnx.helper.make_node
    nodes = [make("Shape", [x], [f"{prefix}_s"])]
    for axis, dim in enumerate("bchw"):
        nodes += [const_node(onnx, f"{prefix}_i{dim}", np.array(axis, np.int64)),
                  make("Gather", [f"{prefix}_s", f"{prefix}_i{dim}"], [f"{prefix}_{dim}"], axis=0)]
    nodes += [const_node(onnx, f"{prefix}_g", np.array(groups, np.int64)),
              make("Div", [f"{prefix}_c", f"{prefix}_g"], [f"{prefix}_cd"]),
              make("Cast", [f"{prefix}_cd"], [f"{prefix}_cc"], to=7),
              make("Cast", [f"{prefix}_cc"], [f"{prefix}_cpg"], to=7),
              const_node(onnx, f"{prefix}_ax", np.array([0], np.int64)),
              const_node(onnx, f"{prefix}_G", np.array([groups], np.int64)),
              const_node(onnx, f"{prefix}_m1", np.array([-1], np.int64))]
    for dim in ("b", "cpg", "h", "w"):
        nodes.append(make("Unsqueeze", [f"{prefix}_{dim}", f"{prefix}_ax"], [f"{prefix}_u{dim}"]))
    five = [f"{prefix}_ub", f"{prefix}_G", f"{prefix}_ucpg", f"{prefix}_uh", f"{prefix}_uw"]
    four = [f"{prefix}_ub", f"{prefix}_m1", f"{prefix}_uh", f"{prefix}_uw"]
    nodes += [make("Concat", five, [f"{prefix}_shape5"], axis=0),
              make("Reshape", [x, f"{prefix}_shape5"], [f"{prefix}_r"]),
              make("Transpose", [f"{prefix}_r"], [f"{prefix}_t"], perm=[0, 2, 1, 3, 4]),
              make("Concat", four, [f"{prefix}_shape4"], axis=0),
              make("Reshape", [f"{prefix}_t", f"{prefix}_shape4"], [y])]
    return nodes


def shuffle_model(onnx, path, in_shape=("batch", 8, 6, 6)):
    """pre (1x1 8->8) -> channel shuffle (2 groups) -> Split -> dw 3x3 + pw on one half ->
    Concat -> global pool -> Flatten -> Gemm whose weight is a Constant node."""
    make = onnx.helper.make_node
    nodes = [make("Conv", ["x", "w_pre"], ["c0"], name="pre"),
             *shuffle_nodes(onnx, "c0", "shuffled", 2),
             make("Split", ["shuffled", "halves"], ["y1", "y2"], axis=1),
             make("Conv", ["y2", "w_dw"], ["c1"], name="dw", group=4, pads=[1, 1, 1, 1]),
             make("Conv", ["c1", "w_pw"], ["c2"], name="pw"),
             make("Concat", ["y1", "c2"], ["cat"], axis=1),
             make("GlobalAveragePool", ["cat"], ["gap"]),
             make("Flatten", ["gap"], ["flat"]),
             const_node(onnx, "w_fc", np.ones((10, 8), np.float32)),
             make("Gemm", ["flat", "w_fc"], ["y"], name="fc", transB=1)]
    inits = [weight(onnx, "w_pre", (8, 8, 1, 1)), ints(onnx, "halves", [4, 4]),
             weight(onnx, "w_dw", (4, 1, 3, 3)), weight(onnx, "w_pw", (4, 4, 1, 1))]
    return save(onnx, path, nodes, inits, list(in_shape))
