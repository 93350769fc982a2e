"""Layers that cannot be counted are listed, and the totals say they are lower bounds."""

from __future__ import annotations

import json

import pytest
from fixtures_models import require
from hypothesis import given, settings
from hypothesis import strategies as st
from network_graphs import save, weight

from factorcheck.cli import main
from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.network import compare_standard, format_table, onnx_table


@pytest.fixture
def onnx():
    """The onnx package: skipped without it, a failure in CI (every extra installed)."""
    return require("onnx")


def _run(capsys, *argv):
    code = main(["network", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# pre: 3x3 conv 4 -> 4, pad 1, on 8x8: 8*8*4*36 = 9216 MACs, 144 params (counted)
# after: a conv behind a custom operator whose output shape nobody knows (not counted)
def unknown_model(onnx, path):
    make = onnx.helper.make_node
    nodes = [make("Conv", ["x", "w0"], ["c0"], name="pre", pads=[1, 1, 1, 1]),
             make("Mystery", ["c0"], ["m"], domain="com.example"),
             make("Conv", ["m", "w1"], ["y"], name="after")]
    inits = [weight(onnx, "w0", (4, 4, 3, 3)), weight(onnx, "w1", (4, 4, 1, 1))]
    return save(onnx, path, nodes, inits, ["batch", 4, 8, 8], domains=["com.example"])


def test_a_layer_with_unknown_shapes_makes_the_table_partial(onnx, tmp_path):
    table = onnx_table(unknown_model(onnx, tmp_path / "u.onnx"))
    assert [(r.name, r.macs, r.params) for r in table.rows] == [("pre", 9216, 144)]
    assert not table.complete
    skipped, = table.skipped
    assert (skipped.name, skipped.op) == ("after", "Conv") and "unknown" in skipped.reason


def test_partial_text_json_and_exit_status(onnx, tmp_path, capsys):
    path = unknown_model(onnx, tmp_path / "u.onnx")
    code, out, err = _run(capsys, path)
    assert code == 1 and "partial: 1 layer not counted" in err
    assert "partial: at least 9,216 MACs and 144 params, 1 layer not counted:" in out
    assert "  not counted after (Conv): " in out
    total = next(line for line in out.splitlines() if "at least" in line and "9,216" in line)
    assert total.split()[:2] == ["at", "least"]   # the total row is labelled as a bound
    code, out, _ = _run(capsys, path, "--json")
    data = json.loads(out)
    assert code == 1 and data["complete"] is False and data["totals"]["macs"] == 9216
    assert data["not_counted"] == [{"name": "after", "op": "Conv",
                                    "reason": table_reason(onnx, path)}]
    assert data["skipped"][0]["name"] == "after"   # the schema-1 key is kept
    code, out, _ = _run(capsys, path, "--as-standard")
    assert code == 1 and "at least" in out
    code, out, _ = _run(capsys, path, "--as-standard", "--json")
    assert code == 1 and json.loads(out)["complete"] is False


def table_reason(onnx, path):
    return onnx_table(path).skipped[0].reason


def test_a_complete_table_exits_0_and_says_so(onnx, tmp_path, capsys):
    make = onnx.helper.make_node
    path = save(onnx, tmp_path / "c.onnx", [make("Conv", ["x", "w"], ["y"], name="c")],
                [weight(onnx, "w", (2, 4, 1, 1))], [1, 4, 3, 3])
    code, out, err = _run(capsys, path, "--json")
    data = json.loads(out)
    assert code == 0 and err == "" and data["complete"] is True and data["not_counted"] == []


def test_quantized_layers_are_listed(onnx, tmp_path):
    make = onnx.helper.make_node
    node = make("ConvInteger", ["x", "w"], ["y"], name="q")
    path = save(onnx, tmp_path / "q.onnx", [node], [weight(onnx, "w", (2, 4, 1, 1))],
                [1, 4, 3, 3])
    table = onnx_table(path)
    assert table.rows == () and [(s.name, s.op) for s in table.skipped] == [("q", "ConvInteger")]


def _branch(onnx, name, with_conv):
    helper = onnx.helper
    nodes = [helper.make_node("Conv", ["x", "w"], [f"{name}_y"], name=f"{name}_conv")] \
        if with_conv else [helper.make_node("Identity", ["x"], [f"{name}_y"])]
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(
        f"{name}_y", onnx.TensorProto.FLOAT, None)])


def test_layers_inside_subgraphs_are_listed_not_dropped(onnx, tmp_path):
    # an If whose then-branch holds a Conv: the If is listed, with how many layers it hides
    make = onnx.helper.make_node
    nodes = [make("ReduceMax", ["x"], ["m"], keepdims=0),
             make("Cast", ["m"], ["cond"], to=onnx.TensorProto.BOOL),
             make("If", ["cond"], ["y"], name="branchy", then_branch=_branch(onnx, "a", True),
                  else_branch=_branch(onnx, "b", False))]
    path = save(onnx, tmp_path / "if.onnx", nodes, [weight(onnx, "w", (2, 4, 1, 1))],
                [1, 4, 3, 3])
    table = onnx_table(path)
    skipped, = table.skipped
    assert (skipped.name, skipped.op) == ("branchy", "If") and not table.complete
    assert skipped.reason == "1 layer(s) inside a If subgraph are not counted"


def test_layers_inside_model_local_functions_are_listed(onnx, tmp_path):
    helper = onnx.helper
    body = [helper.make_node("Conv", ["a", "k"], ["b"]), helper.make_node("Relu", ["b"], ["c"])]
    function = helper.make_function("local", "ConvRelu", ["a", "k"], ["c"], body,
                                    [helper.make_opsetid("", 17)])
    node = helper.make_node("ConvRelu", ["x", "w"], ["y"], name="block", domain="local")
    path = save(onnx, tmp_path / "f.onnx", [node], [weight(onnx, "w", (2, 4, 1, 1))],
                [1, 4, 3, 3], functions=[function])
    table = onnx_table(path)
    assert [(s.name, s.op) for s in table.skipped] == [("block", "ConvRelu")]
    assert "model-local function local.ConvRelu" in table.skipped[0].reason


def test_comparison_of_a_partial_table_is_marked(onnx, tmp_path):
    table = onnx_table(unknown_model(onnx, tmp_path / "u.onnx"))
    cmp = compare_standard(table)
    assert cmp.to_dict()["complete"] is False and not cmp.standard.complete
    assert "not counted after" in format_table(table)


# ----------------------------------------------------------------- hostile graphs


def test_custom_domain_layers_are_listed(onnx, tmp_path):
    make = onnx.helper.make_node
    node = make("FusedConv", ["x", "w"], ["y"], name="fused", domain="com.microsoft")
    path = save(onnx, tmp_path / "f.onnx", [node], [weight(onnx, "w", (2, 4, 1, 1))],
                [1, 4, 3, 3], domains=["com.microsoft"])
    table = onnx_table(path)
    assert [(s.name, s.op) for s in table.skipped] == [("fused", "FusedConv")]
    assert "com.microsoft.FusedConv is outside the ONNX domain" in table.skipped[0].reason


def _fan_out(onnx, depth):
    """f0 calls f1 twice, ..., f(depth-1) holds only a Conv: 2**depth calls if expanded."""
    helper = onnx.helper
    functions = []
    for i in range(depth):
        body = [helper.make_node("Conv", ["a", "k"], ["b"])]
        if i < depth - 1:
            body += [helper.make_node(f"f{i + 1}", ["b", "k"], ["c"], domain="local"),
                     helper.make_node(f"f{i + 1}", ["c", "k"], ["d"], domain="local")]
        else:
            body.append(helper.make_node("Identity", ["b"], ["d"]))
        functions.append(helper.make_function("local", f"f{i}", ["a", "k"], ["d"], body,
                                              [helper.make_opsetid("", 17),
                                               helper.make_opsetid("local", 1)]))
    return functions


@pytest.mark.parametrize("depth", [3, 40])
def test_functions_calling_each_other_take_linear_time(onnx, tmp_path, depth):
    # f_i hides 1 + 2 * f_(i+1) layers, f_last 1: 2**depth - 1 in all.  At depth 40 ONNX's
    # own inference would expand 2**40 calls: it runs without the functions instead
    # (their outputs stay unknown) and factorcheck counts each function once.
    helper = onnx.helper
    node = helper.make_node("f0", ["x", "w"], ["h"], name="top", domain="local")
    after = helper.make_node("Conv", ["h", "w"], ["y"], name="after")
    path = save(onnx, tmp_path / "r.onnx", [node, after], [weight(onnx, "w", (4, 4, 1, 1))],
                [1, 4, 3, 3], functions=_fan_out(onnx, depth))
    table = onnx_table(path)
    reasons = {s.name: s.reason for s in table.skipped}
    assert reasons["top"] == (f"{2**depth - 1} layer(s) inside the model-local function "
                              "local.f0 are not counted")
    assert ("after" in reasons) == (depth == 40)   # known through inference only when small


def test_counts_too_long_to_print_are_refused(onnx, tmp_path):
    # a 1x1 convolution over 212 spatial axes of 2**62: about 13,100 bits of MACs
    make = onnx.helper.make_node
    rank = 212
    node = make("Conv", ["x", "w"], ["y"], name="huge")
    w = onnx.helper.make_tensor("w", onnx.TensorProto.FLOAT, (1,) * (rank + 2), [1.0])
    path = save(onnx, tmp_path / "h.onnx", [node], [w], [1, 1, *([2**62] * rank)])
    with pytest.raises(FileFormatError, match="more than 13000 bits; refused"):
        onnx_table(path)


_VALUES = st.sampled_from([0, -1, 1, 2, 3, 2**31, 2**62, -(2**63)])


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mutated_graphs_give_a_table_or_a_clean_error(tmp_path_factory, data):
    # any attribute or weight dim of the channel-shuffle model set to a hostile value:
    # a (possibly partial) table or a FactorcheckError, never another exception
    onnx = require("onnx")
    from network_graphs import shuffle_model

    path = tmp_path_factory.mktemp("fuzz") / "m.onnx"
    model = onnx.load(str(shuffle_model(onnx, path)))
    for _ in range(data.draw(st.integers(1, 3))):
        node = model.graph.node[data.draw(st.integers(0, len(model.graph.node) - 1))]
        ints_attrs = [a for a in node.attribute if a.type == 7]
        if ints_attrs and data.draw(st.booleans()):
            attribute = data.draw(st.sampled_from(ints_attrs))
            attribute.ClearField("ints")
            attribute.ints.extend(data.draw(st.lists(_VALUES, max_size=6)))
        else:
            tensor = model.graph.initializer[data.draw(st.integers(0, 3))]
            dims = list(tensor.dims)
            dims[data.draw(st.integers(0, len(dims) - 1))] = data.draw(_VALUES)
            tensor.ClearField("dims")
            tensor.dims.extend(dims)
    onnx.save(model, str(path))
    try:
        table = onnx_table(path)
    except FactorcheckError:
        return
    assert format_table(table) and repr(table) and json.dumps(table.to_dict())


def test_onnx_messages_reach_the_terminal_escaped(onnx, tmp_path, capsys):
    # a node name with terminal escapes, in onnx's own message (a Relu without input) and ours
    make = onnx.helper.make_node
    name = "\x1b]0;owned\x07\x1b[31m"
    for node, message in ((make("Relu", [], ["y"], name=name), "ONNX shape inference failed"),
                          (make("Conv", ["x", "w"], ["y"], name=name, group=3), "group 3")):
        path = save(onnx, tmp_path / "e.onnx", [node], [weight(onnx, "w", (4, 4, 3, 3))],
                    [1, 4, 8, 8])
        code, out, err = _run(capsys, path)
        assert code == 2 and out == "" and message in err
        assert "\x1b" not in err and "\x07" not in err and "\\x1b]0;owned\\x07" in err
