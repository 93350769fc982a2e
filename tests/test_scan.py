"""Tests of factorcheck.scan: classification, per-group analysis, costs, records and JSON."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from fixtures_models import NASTY_NAMES, Conv, grouped_separable, onnx_model, require
from hypothesis import given
from hypothesis import strategies as st

import factorcheck
from factorcheck.errors import FactorcheckError
from factorcheck.scan import SCHEMA_VERSION, scan, scan_kernels
from factorcheck.testing import random_separable_kernel

RNG = np.random.default_rng(11)


def _record(array, **kwargs):
    record, = scan_kernels({"k": array}, **kwargs).layers
    return record


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(("shape", "group", "kind", "trivial"), [
    ((8, 4, 3, 3), 1, "standard", False),
    ((8, 1, 3, 3), 8, "depthwise", True),
    ((16, 1, 3, 3), 8, "depthwise", False),   # depth multiplier 2
    ((8, 2, 3, 3), 2, "grouped", False),
    ((8, 4, 1, 1), 1, "pointwise", True),
    ((8, 2, 1, 1), 4, "pointwise", True),
    ((8, 4, 5), 1, "standard", False),
    ((8, 1, 5), 8, "depthwise", True),
])
def test_classification(shape, group, kind, trivial):
    record = _record(RNG.standard_normal(shape), group=group)
    assert (record.kind, record.trivial, record.group) == (kind, trivial, group)
    assert record.conv_dims == len(shape) - 2


def test_trivial_layers_are_separable_but_not_counted():
    result = scan_kernels({"pw": RNG.standard_normal((8, 4, 1, 1)),
                           "std": RNG.standard_normal((8, 4, 3, 3))})
    pw = result.layers[0]
    assert pw.trivial and pw.dw_pw.separable and pw.pw_dw.separable
    summary = result.summary()
    assert (summary.layers, summary.trivial, summary.separable) == (2, 1, {"dw-pw": 0, "pw-dw": 0})


def test_group_is_inferred_only_for_depthwise_shaped_weights(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, dw=RNG.standard_normal((8, 1, 3, 3)), std=RNG.standard_normal((8, 4, 3, 3)),
             gray=RNG.standard_normal((1, 1, 3, 3)))
    got = {r.name: (r.kind, r.group, r.group_inferred) for r in scan(path).layers}
    assert got == {"dw": ("depthwise", 8, True), "std": ("standard", 1, True),
                   "gray": ("standard", 1, True)}


# --------------------------------------------------------------------------- grouped analysis


def _per_group_reference(weight, group, order):
    """The lead's definition: analyse each group's block, then combine."""
    n = weight.shape[0]
    blocks = np.split(weight, group, axis=0)
    analyses = [factorcheck.analyze(b, order=order) for b in blocks]
    distance = math.hypot(*(a.distance for a in analyses))
    norm = math.hypot(*(a.norm for a in analyses))
    assert n % group == 0
    return (all(a.separable for a in analyses), max(a.min_multiplier for a in analyses),
            distance, distance / norm)


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
@pytest.mark.parametrize(("shape", "group"), [((8, 2, 3, 3), 2), ((12, 3, 3, 3), 4),
                                              ((8, 1, 3, 3), 8), ((16, 1, 3, 3), 8),
                                              ((6, 2, 5), 3)])
def test_grouped_analysis_equals_combining_each_groups_analysis(shape, group, order):
    weight = RNG.standard_normal(shape)
    res = _record(weight, group=group).result(order)
    separable, terms, distance, relative = _per_group_reference(weight, group, order)
    assert (res.separable, res.min_multiplier) == (separable, terms)
    assert res.distance == pytest.approx(distance, rel=1e-12)
    assert res.relative_distance == pytest.approx(relative, rel=1e-12)


def test_grouped_layer_separable_per_group_but_not_as_a_whole():
    weight = grouped_separable(8, 8, 2, 3, 3)
    assert _record(weight, group=2).dw_pw.separable
    assert not factorcheck.analyze(weight).separable  # the group structure matters


def test_perturbing_one_group_breaks_separability():  # negative control
    weight = grouped_separable(8, 8, 2, 3, 3)
    weight[5, 1, 0, 0] += 1e-3
    res = _record(weight, group=2).dw_pw
    assert not res.separable and res.min_multiplier == 2
    assert 0 < res.relative_distance < 1e-3


def test_group_that_does_not_divide_is_skipped_with_reason(tmp_path):
    path = onnx_model(tmp_path / "m.onnx", [Conv("bad", RNG.standard_normal((6, 1, 3, 3))
                                                 .astype(np.float32), group=4),
                                            Conv("ok", np.ones((4, 1, 3, 3), np.float32),
                                                 group=4)])
    result = scan(path)
    assert [r.name for r in result.layers] == ["ok"]
    assert result.skipped[0].name == "bad" and "does not divide" in result.skipped[0].reason


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("shape", "group", "order", "terms", "ratio"), [
    ((16, 3, 3, 3), 1, "dw-pw", 1, Fraction(1, 16) + Fraction(1, 9)),   # MobileNet's 1/N + 1/Dk^2
    ((16, 3, 3, 3), 1, "pw-dw", 1, Fraction(1, 3) + Fraction(1, 9)),
    ((16, 3, 3, 3), 1, "dw-pw", 2, 2 * (Fraction(1, 16) + Fraction(1, 9))),
    ((8, 2, 3, 3), 2, "dw-pw", 1, Fraction(1, 4) + Fraction(1, 9)),    # per group: n/G = 4
    ((8, 4, 5), 1, "dw-pw", 1, Fraction(1, 8) + Fraction(1, 5)),
])
def test_cost_ratio_golden(shape, group, order, terms, ratio):
    n, m_g = shape[0], shape[1]
    kernels = [random_separable_kernel((n // group, m_g, *shape[2:]), multiplier=terms,
                                       order=order, rng=RNG) for _ in range(group)]
    res = _record(np.concatenate(kernels), group=group).result(order)
    assert res.min_multiplier == terms
    assert res.cost_ratio == float(ratio)


def test_zero_kernel_needs_no_terms():
    res = _record(np.zeros((4, 2, 3, 3))).dw_pw
    assert (res.separable, res.min_multiplier, res.relative_distance, res.cost_ratio) == (
        True, 0, 0.0, 0.0)


def test_multiplier_and_rtol_reach_the_analysis():
    kernel = random_separable_kernel((8, 4, 3, 3), multiplier=2, rng=RNG)
    assert not _record(kernel).dw_pw.separable
    assert _record(kernel, multiplier=2).dw_pw.separable
    noise = 1e-6 * RNG.standard_normal((8, 4, 3, 3))
    noisy = random_separable_kernel((8, 4, 3, 3), rng=RNG) + noise
    assert not _record(noisy).dw_pw.separable
    assert _record(noisy, rtol=1e-3).dw_pw.separable


def test_integer_kernel_gets_an_exact_verdict():
    mu, b = RNG.integers(1, 4, (6, 2)), RNG.integers(-2, 3, (2, 3, 3))
    res = _record(np.einsum("ij,jhw->ijhw", mu, b)).dw_pw
    assert res.exact and res.separable


@given(scale=st.floats(1e-30, 1e30), seed=st.integers(0, 2**16))
def test_verdicts_are_scale_invariant(scale, seed):
    kernel = random_separable_kernel((6, 2, 3, 3), rng=seed)
    kernel[0, 0, 0, 0] += 0.01
    base, scaled = _record(kernel), _record(kernel * scale)
    assert base.dw_pw.separable == scaled.dw_pw.separable is False
    assert scaled.dw_pw.relative_distance == pytest.approx(base.dw_pw.relative_distance, rel=1e-9)


# --------------------------------------------------------------------------- files and options


def _formats(tmp_path, weights):
    """The same weights saved in every format; returns the paths that could be written."""
    np.savez(tmp_path / "m.npz", **weights)
    paths = [tmp_path / "m.npz"]
    save_file = require("safetensors.numpy").save_file
    save_file(weights, str(tmp_path / "m.safetensors"))
    paths.append(tmp_path / "m.safetensors")
    torch = require("torch")
    torch.save({k: torch.from_numpy(v) for k, v in weights.items()}, tmp_path / "m.pt")
    paths.append(tmp_path / "m.pt")
    convs = [Conv(k, v, group=v.shape[0] if v.shape[1] == 1 else 1) for k, v in weights.items()]
    paths.append(onnx_model(tmp_path / "m.onnx", convs))
    return paths


def test_every_format_gives_the_same_records(tmp_path):
    weights = {"sep": random_separable_kernel((8, 4, 3, 3), rng=1).astype(np.float32),
               "rand": RNG.standard_normal((8, 4, 3, 3)).astype(np.float32),
               "dw": RNG.standard_normal((8, 1, 3, 3)).astype(np.float32)}
    results = [scan(p) for p in _formats(tmp_path, weights)]
    summaries = {(r.name, r.kind, r.group, r.dw_pw, r.pw_dw)
                 for result in results for r in result.layers}
    assert len(summaries) == 3


def test_layer_glob_selects_layers_and_skipped(tmp_path):
    path = onnx_model(tmp_path / "m.onnx", [
        Conv("block1.conv", np.ones((4, 2, 3, 3), np.float32)),
        Conv("block2.conv", np.ones((4, 2, 3, 3), np.float32)),
        Conv("block1.up", np.ones((4, 2, 3, 3), np.float32), op="ConvTranspose")])
    result = scan(path, layer="block1.*")
    assert [r.name for r in result.layers] == ["block1.conv"]
    assert [s.name for s in result.skipped] == ["block1.up"]
    assert [r.name for r in scan(path, layer=["*2*", "nomatch"]).layers] == ["block2.conv"]


def test_layout_override_for_layout_free_formats(tmp_path):
    oihw = RNG.standard_normal((8, 4, 3, 5))
    np.save(tmp_path / "hwio.npy", oihw.transpose(2, 3, 1, 0))
    record, = scan(tmp_path / "hwio.npy", layout="hwio").layers
    reference = _record(oihw)
    assert record.layout == "HWIO" and record.shape == (3, 5, 4, 8)
    assert record.dw_pw == reference.dw_pw and record.pw_dw == reference.pw_dw


def test_layout_override_is_refused_for_onnx(tmp_path):
    path = onnx_model(tmp_path / "m.onnx", [Conv("c", np.ones((4, 2, 3, 3), np.float32))])
    with pytest.raises(FactorcheckError, match="always 'OIHW'"):
        scan(path, layout="HWIO")


def test_non_finite_layer_is_skipped_and_the_scan_goes_on(tmp_path):
    bad = np.ones((4, 2, 3, 3))
    bad[1, 1, 1, 1] = np.nan
    np.savez(tmp_path / "m.npz", bad=bad, good=np.ones((4, 2, 3, 3)))
    result = scan(tmp_path / "m.npz")
    assert [r.name for r in result.layers] == ["good"]
    assert result.skipped[0].name == "bad" and "finite" in result.skipped[0].reason


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"order": "dw"}, "unknown order 'dw'"), ({"order": []}, "unknown order"),
    ({"multiplier": 0}, "multiplier"), ({"multiplier": 1.5}, "multiplier"),
    ({"rtol": 2.0}, "rtol"), ({"rtol": True}, "rtol"),
])
def test_bad_options_are_refused_before_reading(tmp_path, kwargs, match):
    with pytest.raises(FactorcheckError, match=match):
        scan(tmp_path / "does-not-exist.onnx", **kwargs)


def test_progress_is_reported_per_layer():
    calls = []
    scan_kernels({f"k{i}": np.ones((2, 2, 3, 3)) for i in range(3)},
                 progress=lambda *args: calls.append(args))
    assert calls == [(1, 3, "k0"), (2, 3, "k1"), (3, 3, "k2")]


# --------------------------------------------------------------------------- JSON


def test_json_schema_and_round_trip():
    names = {name: RNG.standard_normal((4, 2, 3, 3)) for name in NASTY_NAMES}
    result = scan_kernels(names, order="dw-pw")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert set(data) == {"schema_version", "options", "layers", "skipped", "summary"}
    layer = data["layers"][0]
    assert set(layer) == {"name", "file", "kind", "conv_dims", "shape", "layout", "dtype",
                          "group", "group_inferred", "strides", "pads", "dilations", "trivial",
                          "dw_pw", "pw_dw"}
    assert set(layer["dw_pw"]) == {"separable", "exact", "min_multiplier", "distance",
                                   "relative_distance", "cost_ratio"}
    assert layer["pw_dw"] is None and layer["shape"] == [4, 2, 3, 3]
    assert [entry["name"] for entry in data["layers"]] == list(NASTY_NAMES)
    assert data["summary"]["dw_pw"]["separable"] == 0 and "pw_dw" not in data["summary"]
