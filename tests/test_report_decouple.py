"""The report's decoupling section (``factorcheck report MODEL.onnx --decouple``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import require

import factorcheck
import factorcheck.testing
from conftest import IN_CI
from factorcheck.cli import main
from factorcheck.conv import conv2d
from factorcheck.decouple import decouple
from factorcheck.decouple.plan import composed
from factorcheck.network import onnx_table
from factorcheck.report import render
from factorcheck.report.decouple import DEFAULT_PLAN, build_decouple, parse_plan
from factorcheck.report.model import build

NASTY = r"c2_\input{x}&100%"


def chain_model(path: Path, batch: int | str = 1, separable: bool = False,
                side: int | str = 16) -> Path:
    """x (3x16x16) -> c1 3x3 -> c2 3x3 stride 2 dilation 2 -> depthwise -> pointwise;
    c1 is exactly separable (T = 1) when asked."""
    onnx = require("onnx")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    rng = np.random.default_rng(0)
    weights = {"w1": rng.normal(size=(8, 3, 3, 3)), "w2": rng.normal(size=(16, 8, 3, 3)),
               "w3": rng.normal(size=(16, 1, 3, 3)), "w4": rng.normal(size=(8, 16, 1, 1))}
    if separable:
        weights["w1"] = factorcheck.testing.random_separable_kernel((8, 3, 3, 3), rng=1)
    inits = [numpy_helper.from_array(w.astype(np.float32), k) for k, w in weights.items()]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["y1"], name="c1", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["y1", "w2"], ["y2"], name=NASTY, pads=[2, 2, 2, 2],
                         strides=[2, 2], dilations=[2, 2]),
        helper.make_node("Conv", ["y2", "w3"], ["y3"], name="dw", group=16, auto_pad="SAME_UPPER"),
        helper.make_node("Conv", ["y3", "w4"], ["y4"], name="pw"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                   [batch, 3, side, side])],
        [helper.make_tensor_value_info("y4", onnx.TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return chain_model(tmp_path_factory.mktemp("decouple") / "m.onnx")


@pytest.fixture(scope="module")
def report(model):
    return build([model], proofs=[], decouple="terms=2")


def test_section_lists_standard_layers_with_real_sizes(report, model):
    section, = report.decouple
    assert [la.name for la in section.layers] == ["c1", NASTY]
    assert [n for n, _ in section.skipped] == ["dw", "pw"]
    c1, c2 = section.layers
    assert (c1.input_hw, c1.output_hw, c2.input_hw, c2.output_hw) == ((16, 16), (16, 16),
                                                                     (16, 16), (8, 8))
    table = onnx_table(model)
    assert [r.macs for r in table.rows[:2]] == [c1.standard.macs, c2.standard.macs]
    # T = 2, dw-pw: depthwise m*2 channels on the output grid, pointwise 2m -> n
    assert c2.decoupled.macs == 8 * 8 * (8 * 2 * 9 + 8 * 2 * 16)
    assert section.total("macs") == (c1.standard.macs + c2.standard.macs,
                                     c1.decoupled.macs + c2.decoupled.macs)
    assert section.model_macs == table.total_macs  # every conv, as `factorcheck network`
    totals = section.to_dict()["totals"]
    saved = section.total("macs")[0] - section.total("macs")[1]
    assert totals["model_macs_after"] == table.total_macs - saved


def test_certified_error_holds_on_the_real_layer(report, model):
    """Run layer c2 (stride 2, dilation 2, pads 2) and its T = 2 replacement on random inputs."""
    c2 = report.decouple[0].layers[1]
    onnx = require("onnx")
    graph = onnx.load(str(model)).graph
    k = next(onnx.numpy_helper.to_array(t) for t in graph.initializer if t.name == "w2")
    p = composed(decouple(k, terms=2))  # float32 factors, as the rewrite stores them
    options = {"stride": 2, "padding": 2, "dilation": 2}
    x = np.random.default_rng(1).normal(size=(20, 8, 16, 16))
    diff = conv2d(x, k.astype(np.float64), **options) - conv2d(x, p.astype(np.float64), **options)
    err = np.linalg.norm(diff.reshape(20, -1), axis=1)
    assert (err <= c2.error_bound * np.linalg.norm(x.reshape(20, -1), axis=1)).all()
    assert c2.error_bound == factorcheck.error_bound(k, p, (16, 16), **options)
    assert c2.curve.layer_norm == factorcheck.operator_norm(k, (16, 16), **options)
    assert 0 < c2.relative_error_bound < 1


def test_plans_keep_layers_that_would_cost_more(model):
    section, = build([model], proofs=[], decouple="energy=1.0").decouple
    for la in section.layers:  # random kernels: full rank, T = rank costs more than the layer
        assert la.terms is None and "costs" in la.reason
        assert la.decoupled == la.standard
    forced, = build([model], proofs=[], decouple={"terms": 9}).decouple
    assert [la.terms for la in forced.layers] == [8, 9]  # capped at min(n, 9)
    assert forced.layers[0].decoupled.macs > forced.layers[0].standard.macs


def test_json_markdown_and_latex_carry_the_same_numbers(report):
    data = json.loads(render(report, "json"))
    section = data["decouple"][0]
    assert section["plan"] == {"criterion": "terms", "value": 2, "order": "dw-pw"}
    c2 = section["layers"][1]
    assert c2["name"] == NASTY and c2["terms"] == 2 and len(c2["tradeoff"]) == 9
    assert c2["error_bound"] == report.decouple[0].layers[1].error_bound
    assert section["totals"]["macs_after"] == report.decouple[0].total("macs")[1]
    md = render(report, "md")
    assert "## Decoupling" in md and "| plan totals |" in md
    tex = render(report, "tex")
    assert "\\section{Decoupling" in tex and "semilogyaxis" in tex
    assert "\\input{x}" not in tex  # the nasty name is escaped


def test_a_dynamic_batch_still_gives_bounds_per_image(tmp_path):
    dynamic = chain_model(tmp_path / "d.onnx", batch="N")
    section, = build([dynamic], proofs=[], decouple="rtol=0.5").decouple
    assert section.note == "" and all(la.error_bound is not None for la in section.layers)


def test_without_input_sizes_there_are_no_bounds(tmp_path):
    dynamic = chain_model(tmp_path / "d.onnx", batch="N", side="S")
    section, = build([dynamic], proofs=[], decouple="rtol=0.5").decouple
    assert "no input sizes" in section.note
    assert all(la.error_bound is None and la.input_hw is None for la in section.layers)
    fixed, = build([dynamic], proofs=[], decouple="rtol=0.5", input_shape=(1, 3, 16, 16)).decouple
    assert fixed.note == "" and all(la.error_bound is not None for la in fixed.layers)
    npz = tmp_path / "w.npz"
    np.savez(npz, conv=np.random.default_rng(2).normal(size=(8, 4, 3, 3)))
    section, = build([npz], proofs=[], decouple=None or DEFAULT_PLAN).decouple
    assert "not an ONNX model" in section.note and section.layers[0].curve.layer_norm is None
    assert build([npz], proofs=[]).decouple == ()


@pytest.mark.parametrize("spec", ["size=3", "terms=0", "energy=2", "rtol=-1", "terms=x",
                                  "rtol=0.1,terms=2"])
def test_bad_plans_are_clear_errors(spec):
    with pytest.raises(factorcheck.FactorcheckError):
        parse_plan(spec)


def test_cli(model, tmp_path, capsys):
    assert main(["report", str(model), "--decouple", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["decouple"][0]["plan"]["criterion"] == DEFAULT_PLAN.split("=")[0]
    assert main(["report", str(model), "--decouple", "size=3", "--format", "md"]) == 2
    assert "decouple plan" in capsys.readouterr().err


def test_latex_with_decouple_compiles(model, tmp_path):
    for tool in ("pdflatex", "pdftotext"):
        if shutil.which(tool) is None:
            if IN_CI:
                pytest.fail(f"{tool} is missing in CI (install texlive and poppler-utils)")
            pytest.skip(f"{tool} is not installed")
    out = tmp_path / "r.tex"
    exact_c1 = chain_model(tmp_path / "s.onnx", separable=True)  # a layer without a curve
    assert main(["report", str(model), str(exact_c1), "--decouple", "rtol=0.6", "-o", str(out),
                 "--pdf"]) == 0
    text = subprocess.run(["pdftotext", "-layout", str(out.with_suffix(".pdf")), "-"],
                          check=True, capture_output=True, text=True).stdout
    assert "Decoupling: cost against certified output error" in text
    assert "Trade-off per layer" in text and "plan totals" in text
    squeezed = "".join(text.split())
    assert "".join(NASTY.split()) in squeezed


# --------------------------------------------------------------------------- one plan


def tiny_same_model(path: Path) -> Path:
    """One 3x3 conv with auto_pad=SAME_UPPER on a 2x2 map: the kernel is larger than the input."""
    onnx = require("onnx")
    helper = onnx.helper
    w = onnx.numpy_helper.from_array(
        np.random.default_rng(3).normal(size=(6, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="same", auto_pad="SAME_UPPER")], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 2, 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("which", ["chain", "tiny_same"])
def test_report_and_rewrite_agree_layer_by_layer(tmp_path, which):
    """The report and ``factorcheck decouple`` plan each layer with the same functions: same T,
    costs, distances and bounds, and the same reason for a kept layer."""
    from factorcheck.decouple.onnx import plan_onnx

    path = (chain_model if which == "chain" else tiny_same_model)(tmp_path / "m.onnx")
    source = build([path], proofs=[]).sources[0]
    for plan, kwargs in (("terms=2", {"terms": 2}), ("rtol=0", {"rtol": 0.0})):
        section = build_decouple(source, parse_plan(plan))
        result, _ = plan_onnx(path, **kwargs)
        rewritten = {la.name: la for la in result.layers}
        kept = {s.name: s.reason for s in result.skipped}
        assert section.layers, "the section lists the standard convolutions"
        for la in section.layers:
            if la.terms is None:
                assert kept[la.name] == la.reason and "lower MAC cost" in la.reason
                continue
            other = rewritten[la.name]
            assert (la.terms, la.standard.macs, la.decoupled.macs, la.decoupled.params) == (
                other.terms, other.macs_before, other.macs_after, other.params_after)
            assert la.relative_distance == pytest.approx(other.relative_distance, abs=1e-12)
            assert (la.curve.layer_norm, la.error_bound) == (other.layer_norm, other.error_bound)
