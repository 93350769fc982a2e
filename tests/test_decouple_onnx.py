"""Tests of the ONNX rewrite (factorcheck.decouple.onnx) and its verification in onnxruntime.

The real-model tests use PP-OCRv4 det from the ``rapidocr-onnxruntime`` wheel
(weights in Constant nodes): ``FACTORCHECK_PPOCR_DET`` names the .onnx, else
it is looked for in the cache ``bench/fetch_ppocr.py`` writes to.  Without it
these tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import Conv, onnx_model, require
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import IN_CI
from factorcheck.decouple.onnx import _Names, decouple_onnx, plan_onnx
from factorcheck.decouple.verify import EXACT_FACTOR, make_inputs
from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.network import onnx_table
from factorcheck.testing import one_conv_onnx

onnx = require("onnx")
ort = require("onnxruntime")

ORDERS = ("dw-pw", "pw-dw")
PPOCR_SHAPE = (1, 3, 128, 160)


def ppocr_det() -> Path:
    """The PP-OCRv4 det model: skip without it, but fail in CI."""
    given = os.environ.get("FACTORCHECK_PPOCR_DET")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = Path(given) if given else cache / "factorcheck" / "ch_PP-OCRv4_det_infer.onnx"
    if not path.is_file():
        message = f"PP-OCRv4 det not found at {path}: run python bench/fetch_ppocr.py"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def checked(path, input_shape):
    """Give a test model (made by ``onnx_model``) its input shape and inferred output shapes."""
    model = onnx.load(path)
    x = model.graph.input[0]
    x.CopyFrom(onnx.helper.make_tensor_value_info(x.name, x.type.tensor_type.elem_type,
                                                  list(input_shape)))
    inferred = onnx.shape_inference.infer_shapes(model).graph
    known = {v.name: v for v in (*inferred.value_info, *inferred.output)}
    for out in model.graph.output:
        out.CopyFrom(known[out.name])
    onnx.save(model, path)
    return path


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


# --------------------------------------------------------------------------- one conv


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_one_conv_exact_rewrite_matches_to_rounding(tmp_path, order, bias, stride, dilation):
    src = one_conv_onnx(tmp_path / "m.onnx", (6, 5, 3, 3), input_hw=(13, 11), bias=bias,
                        stride=stride, dilation=dilation, pad=2, rng=stride + 2 * dilation)
    result = decouple_onnx(src, tmp_path / "out.onnx", terms=9, order=order, verify=3)
    layer, = result.layers
    assert layer.terms >= layer.rank and result.exact
    v = result.verification
    assert v.exact is True and v.max_ratio <= 1.0
    x = make_inputs(onnx.load(src), 1, seed=7)[0]
    before, after = run(src, x)[0], run(result.output, x)[0]
    assert before.shape == after.shape
    scale = np.abs(before).max()
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-5 * scale)
    assert np.abs(after - before).max() > 0 or scale == 0  # computed, not copied


@settings(max_examples=12)
@given(n=st.integers(1, 6), m=st.integers(1, 5), kh=st.integers(1, 4), kw=st.integers(2, 4),
       stride=st.integers(1, 3), dilation=st.integers(1, 2), pad=st.integers(0, 2),
       order=st.sampled_from(ORDERS), bias=st.booleans())
def test_any_exact_rewrite_matches_and_counts_like_network(tmp_path_factory, n, m, kh, kw, stride,
                                                           dilation, pad, order, bias):
    folder = tmp_path_factory.mktemp("prop")
    hw = (dilation * (kh - 1) + 3, dilation * (kw - 1) + 4)
    src = one_conv_onnx(folder / "m.onnx", (n, m, kh, kw), input_hw=hw, bias=bias,
                        stride=stride, dilation=dilation, pad=pad, rng=n * m + kh)
    result = decouple_onnx(src, folder / "out.onnx", terms=kh * kw, order=order, verify=1)
    assert result.exact and result.verification.exact is True
    assert result.verification.max_ratio <= 1.0
    assert onnx_table(result.output).total_macs == result.totals["macs_after"]


@pytest.mark.parametrize("order", ORDERS)
def test_one_conv_structure(tmp_path, order):
    src = one_conv_onnx(tmp_path / "m.onnx", (8, 4, 3, 3), bias=True, constant=True)
    result = decouple_onnx(src, tmp_path / "out.onnx", terms=2, order=order)
    model = onnx.load(result.output)
    onnx.checker.check_model(model, full_check=True)
    first, second = model.graph.node  # the Constant weight is gone with its Conv
    attrs = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
             for n in (first, second)]
    weights = {t.name: t.dims for t in model.graph.initializer}
    if order == "dw-pw":
        assert attrs[0]["group"] == 4 and list(weights[first.input[1]]) == [8, 1, 3, 3]
        assert attrs[1]["kernel_shape"] == [1, 1] and list(weights[second.input[1]]) == [8, 8, 1, 1]
        assert attrs[0]["strides"] == [1, 1] and attrs[0]["pads"] == [1, 1, 1, 1]
    else:
        assert attrs[0]["kernel_shape"] == [1, 1] and list(weights[first.input[1]]) == [16, 4, 1, 1]
        assert attrs[1]["group"] == 8 and list(weights[second.input[1]]) == [8, 2, 3, 3]
        assert attrs[1]["pads"] == [1, 1, 1, 1]
    assert second.input[2] == "b" and second.output[0] == "y" and first.input[0] == "x"
    assert len({first.name, second.name, "conv"}) == 3
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]


def test_new_names_never_collide(tmp_path):
    src = one_conv_onnx(tmp_path / "m.onnx")
    model = onnx.load(src)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(1, np.float32),
                                                                "conv/dw_weight"))
    names = _Names(model.graph)
    assert names.fresh("conv/dw_weight") == "conv/dw_weight_1"
    assert names.fresh("conv/dw_weight") == "conv/dw_weight_2"
    assert names.fresh("conv/pw") == "conv/pw"


def test_low_rank_is_not_exact_but_stays_under_its_bound(tmp_path):
    src = one_conv_onnx(tmp_path / "m.onnx", (8, 4, 3, 3), rng=3)
    result = decouple_onnx(src, tmp_path / "out.onnx", terms=1, verify=4)
    v = result.verification
    assert v.exact is None and not result.exact  # not judged: T < rank
    assert v.outputs[0].relative_error > 0.1  # a negative control: T = 1 really changes it
    assert 0.2 < v.max_ratio <= 1.0  # the bound holds and is not vacuous
    layer = result.layers[0]
    assert 0 < layer.error_bound < layer.layer_norm


def test_exactness_judge_rejects_a_wrong_rewrite(tmp_path):
    """Negative control: an exact-T rewrite with spoiled factors must be judged not exact."""
    src = one_conv_onnx(tmp_path / "m.onnx", (6, 4, 3, 3), rng=5)
    result, planned = plan_onnx(src, terms=9)
    factors = planned[0].factors
    factors.pointwise[0, 0, 0, 0] *= 1.001  # a 0.1% change, far above rounding
    from dataclasses import replace

    from factorcheck.decouple import verify as checks
    from factorcheck.decouple.onnx import load_full, rewrite_graph, save_checked

    model, _ = load_full(src)
    rewrite_graph(model, planned, "dw-pw")
    save_checked(model, str(tmp_path / "bad.onnx"), set(), src)
    bad = replace(result, output=str(tmp_path / "bad.onnx"))
    v = checks.verify(bad, planned, make_inputs(onnx.load(src), 2, seed=0))
    assert v.exact is False
    assert v.outputs[0].relative_error > EXACT_FACTOR * v.outputs[0].reference_relative_error


def test_macs_agree_with_network_table(tmp_path):
    src = one_conv_onnx(tmp_path / "m.onnx", (16, 8, 3, 3), input_hw=(20, 20), stride=2)
    for order in ORDERS:
        out = tmp_path / f"{order}.onnx"
        result = decouple_onnx(src, out, terms=3, order=order)
        before, after = onnx_table(src), onnx_table(out)
        t = result.totals
        assert before.total_macs == t["macs_before"] == 16 * 8 * 9 * 10 * 10
        assert after.total_macs == t["macs_after"]
        assert after.total_params == t["params_after"]
    # pw-dw runs its pointwise step at the input's 20x20, dw-pw both steps at 10x10
    assert result.layers[0].macs_after == 20 * 20 * 8 * 48 + 10 * 10 * 48 * 9


def test_energy_and_rtol_leave_costlier_layers_alone(tmp_path):
    src = one_conv_onnx(tmp_path / "m.onnx", (8, 4, 3, 3))  # full rank 8: exact costs more
    result = decouple_onnx(src, tmp_path / "out.onnx", rtol=0.0)
    assert result.layers == () and result.output is None
    assert not (tmp_path / "out.onnx").exists()
    (skip,) = result.skipped
    assert skip.name == "conv" and "lower MAC cost" in skip.reason and "T = 8" in skip.reason
    loose = decouple_onnx(src, tmp_path / "out.onnx", energy=0.3)
    assert loose.layers[0].terms < 8 and loose.layers[0].energy_kept >= 0.3
    assert loose.layers[0].macs_after < loose.layers[0].macs_before


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_tiny_same_conv_is_bounded_and_exact(tmp_path, order, auto_pad):
    """Regression: auto_pad=SAME on a map smaller than the kernel (3x3 on 2x2).

    The bound once read the padding from ``pads`` alone (0 here) and refused the
    layer ("dilated kernel extent larger than the padded input").
    """
    w = np.random.default_rng(8).normal(size=(4, 3, 3, 3)).astype(np.float32)
    path = onnx_model(tmp_path / "m.onnx", [Conv("same", w, attrs={"auto_pad": auto_pad})])
    result = decouple_onnx(checked(path, (1, 3, 2, 2)), tmp_path / "out.onnx", terms=9,
                           order=order, verify=3)
    layer, = result.layers
    assert layer.input_hw == (2, 2) and layer.macs_before == 4 * 4 * 3 * 9
    assert layer.layer_norm > 0 and layer.error_bound < 1e-5 * layer.layer_norm
    assert result.verification.exact is True and result.verification.max_ratio <= 1.0
    low = decouple_onnx(path, tmp_path / "low.onnx", terms=1, order=order, verify=3)
    assert 0 < low.verification.max_ratio <= 1.0  # measured within the certified bound


def test_skipped_layers_have_reasons(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 4, 3, 3)).astype(np.float32)
    path = onnx_model(tmp_path / "m.onnx", [
        Conv("up", rng.normal(size=(4, 4, 3, 3)).astype(np.float32), op="ConvTranspose"),
        Conv("grouped", rng.normal(size=(4, 2, 3, 3)).astype(np.float32), group=2),
        Conv("point", rng.normal(size=(8, 4, 1, 1)).astype(np.float32)),
        Conv("kept", w, source="identity-constant", attrs={"pads": [1, 1, 1, 1]}),
    ])
    result = decouple_onnx(checked(path, (1, 4, 9, 9)), tmp_path / "out.onnx", terms=2)
    assert [layer.name for layer in result.layers] == ["kept"]
    reasons = {s.name: s.reason for s in result.skipped}
    assert "ConvTranspose" in reasons["up"] and "group 2" in reasons["grouped"]
    assert "1x1" in reasons["point"]
    model = onnx.load(result.output)
    assert not [n for n in model.graph.node if n.op_type in ("Constant", "Identity")]


def test_dynamic_weight_is_skipped(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    half = numpy_helper.from_array(np.ones((4, 4, 3, 3), np.float32), "half")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    nodes = [helper.make_node("Mul", ["half", "two"], ["w"]),
             helper.make_node("Conv", ["x", "w"], ["y"], name="computed")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [half, two])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = decouple_onnx(path, tmp_path / "out.onnx", terms=1)
    assert result.layers == () and "Mul" in result.skipped[0].reason


def test_layer_globs_select_nodes(tmp_path):
    w = np.random.default_rng(1).normal(size=(4, 4, 3, 3)).astype(np.float32)
    path = onnx_model(tmp_path / "m.onnx", [Conv("a1", w), Conv("b1", w), Conv("a2", w)])
    result = decouple_onnx(checked(path, (1, 4, 8, 8)), tmp_path / "out.onnx", terms=1,
                           layer=["a*"])
    assert [layer.name for layer in result.layers] == ["a1", "a2"]
    ops = [n.name for n in onnx.load(result.output).graph.node]
    assert "b1" in ops and "a1" not in ops


def test_external_data_is_kept(tmp_path):
    src = one_conv_onnx(tmp_path / "m.onnx", (8, 4, 3, 3), bias=True)
    model = onnx.load(src)
    onnx.save(model, tmp_path / "ext.onnx", save_as_external_data=True, location="ext.bin",
              size_threshold=0)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "r.onnx.data").write_bytes(b"stale" * 1000)  # replaced, not appended to
    result = decouple_onnx(tmp_path / "ext.onnx", out_dir / "r.onnx", terms=9, verify=1)
    assert (out_dir / "r.onnx.data").is_file() and result.verification.exact
    assert b"stale" not in (out_dir / "r.onnx.data").read_bytes()
    with pytest.raises(FactorcheckError, match="external data"):  # never over the source's data
        os.rename(tmp_path / "ext.bin", tmp_path / "x.onnx.data")
        model = onnx.load(tmp_path / "ext.onnx", load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = "x.onnx.data"
        onnx.save(model, tmp_path / "ext2.onnx")
        decouple_onnx(tmp_path / "ext2.onnx", tmp_path / "x.onnx", terms=9)
    assert (tmp_path / "x.onnx.data").stat().st_size > 0


def test_unwritable_output_is_a_clear_error(tmp_path):
    src = one_conv_onnx(tmp_path / "m.onnx")
    with pytest.raises(FactorcheckError, match="cannot write"):
        decouple_onnx(src, tmp_path / "missing" / "out.onnx", terms=1)


@pytest.mark.parametrize("kwargs", [{"terms": 0}, {"terms": 2, "rtol": 0.1}, {},
                                    {"energy": 1.5}, {"rtol": -1.0}, {"terms": 1.5}])
def test_bad_choices(tmp_path, kwargs):
    src = one_conv_onnx(tmp_path / "m.onnx")
    with pytest.raises(FactorcheckError):
        decouple_onnx(src, tmp_path / "out.onnx", **kwargs)


def test_output_equal_to_input_is_refused(tmp_path):
    src = Path(one_conv_onnx(tmp_path / "m.onnx"))
    (tmp_path / "link.onnx").symlink_to(src)
    os.link(src, tmp_path / "hard.onnx")
    for out in (src, tmp_path / "." / "m.onnx", tmp_path / "link.onnx", tmp_path / "hard.onnx"):
        with pytest.raises(FactorcheckError, match="input model itself"):
            decouple_onnx(src, out, terms=1)
    assert src.read_bytes() == (tmp_path / "hard.onnx").read_bytes()


def test_missing_onnxruntime_names_the_extra(tmp_path, monkeypatch):
    import sys

    src = one_conv_onnx(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(FileFormatError, match=r"factorcheck\[runtime\]"):
        decouple_onnx(src, tmp_path / "out.onnx", terms=1, verify=1)
    assert not (tmp_path / "out.onnx").exists()


def test_source_failing_the_checker_is_named(tmp_path):
    w = np.ones((4, 4, 3, 3), np.float32)
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", w)])  # outputs without a shape
    with pytest.raises(FileFormatError, match="so does the source model"):
        decouple_onnx(path, tmp_path / "out.onnx", terms=1, input_shape=(1, 4, 6, 6))
    assert not (tmp_path / "out.onnx").exists()


def test_dynamic_input_needs_a_shape(tmp_path):
    w = np.ones((4, 4, 3, 3), np.float32)
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", w)])
    with pytest.raises(FactorcheckError, match="input-shape"):
        decouple_onnx(path, tmp_path / "out.onnx", terms=1)


# --------------------------------------------------------------------------- PP-OCRv4 det


@pytest.mark.slow
@pytest.mark.parametrize("order", ORDERS)
def test_ppocr_exact_rewrite_matches_to_rounding(tmp_path, order):
    src = ppocr_det()
    result = decouple_onnx(src, tmp_path / "out.onnx", terms=9, order=order,
                           input_shape=PPOCR_SHAPE, verify=2)
    assert len(result.layers) == 6 and result.exact
    v = result.verification
    assert v.exact is True and v.max_ratio <= 1.0
    # on random inputs the sigmoid map is nearly all ~0, so relative errors are large for the
    # rewrite and the rounding reference alike (about 5%); absolute ones are at rounding level
    assert all(o.max_abs_error < 1e-5 for o in v.outputs)
    assert {s.reason for s in result.skipped} >= {
        "ConvTranspose (transposed convolution) is not analysed"}
    assert onnx_table(result.output, input_shape=PPOCR_SHAPE).total_macs == (
        onnx_table(src, input_shape=PPOCR_SHAPE).total_macs
        - result.totals["macs_before"] + result.totals["macs_after"])


@pytest.mark.slow
@pytest.mark.parametrize("terms", [1, 2, 4])
def test_ppocr_low_rank_rewrites_run(tmp_path, terms):
    src = ppocr_det()
    result = decouple_onnx(src, tmp_path / "out.onnx", terms=terms, input_shape=PPOCR_SHAPE,
                           verify=1)
    v = result.verification
    assert v.exact is None and 0 < v.max_ratio <= 1.0
    assert all(np.isfinite(o.relative_error) for o in v.outputs)
    assert result.totals["macs_after"] < result.totals["macs_before"]
    x = np.random.default_rng(0).standard_normal(PPOCR_SHAPE).astype(np.float32)
    out, = run(result.output, x)
    assert out.shape == (1, 1, *PPOCR_SHAPE[2:]) and np.isfinite(out).all()
