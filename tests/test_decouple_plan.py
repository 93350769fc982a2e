"""Choosing T, the decoupled factors, and the trade-off curve."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import factorcheck
from factorcheck.conv import apply_factors, conv2d
from factorcheck.decouple import (
    Tradeoff,
    choose_terms,
    decouple,
    decoupled_cost,
    layer_geometry,
    operator_norm,
    plan_layer,
    tradeoff,
)
from factorcheck.report.model import layer_costs
from factorcheck.testing import kernel_with_spectrum, random_separable_kernel

# every slice has singular values 4, 3, 2, 1: squared 16, 9, 4, 1 of 30
SPECTRUM = kernel_with_spectrum((6, 2, 2, 2), [4.0, 3.0, 2.0, 1.0], rng=0)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"terms": 1}, 1), ({"terms": 3}, 3), ({"terms": 4}, 4), ({"terms": 100}, 4),  # cap 4
        ({"energy": 0.5}, 1), ({"energy": 0.533}, 1), ({"energy": 0.534}, 2),
        ({"energy": 0.833}, 2), ({"energy": 0.834}, 3), ({"energy": 0.9}, 3),
        ({"energy": 0.97}, 4), ({"energy": 1}, 4),
        ({"rtol": 1.0}, 1), ({"rtol": 0.69}, 1), ({"rtol": 0.68}, 2),  # sqrt(14/30) = 0.683
        ({"rtol": 0.41}, 2), ({"rtol": 0.40}, 3),  # sqrt(5/30) = 0.408
        ({"rtol": 0.19}, 3), ({"rtol": 0.18}, 4), ({"rtol": 0.0}, 4),  # sqrt(1/30) = 0.183
    ],
)
def test_golden_choices(choice, expected):
    assert choose_terms(SPECTRUM, **choice) == expected
    assert decouple(SPECTRUM, **choice).multiplier == expected


def test_energy_is_judged_on_every_slice():
    sigma = np.array([[1.0, 0, 0, 0], [1.0, 1.0, 1.0, 1.0]])  # slice 2 needs T = 2 for half
    k = kernel_with_spectrum((6, 2, 2, 2), sigma, rng=1)
    assert choose_terms(k, energy=0.5) == 2
    assert choose_terms(k, energy=0.76) == 4


def test_rank_caps_energy_and_rtol_and_terms_at_slice_size():
    k = random_separable_kernel((16, 8, 3, 3), multiplier=3, rng=2)
    assert choose_terms(k, energy=1.0) == choose_terms(k, rtol=0.0) == 3
    assert choose_terms(k, terms=7) == 7  # terms is forced, up to min(rows, kh*kw) = 9
    assert choose_terms(k, terms=20) == 9
    assert choose_terms(np.ones((2, 8, 3, 3)), terms=20) == 2  # forced: capped at n = 2 ...
    assert choose_terms(np.ones((2, 8, 3, 3)), rtol=0.0) == 1  # ... chosen: the rank, 1
    assert choose_terms(np.zeros((4, 4, 3, 3)), rtol=0.0) == 1  # a zero kernel: T = 1


def test_exact_integer_kernels_keep_exact_factors():
    k = np.einsum("ijr,jrhw->ijhw", np.arange(1, 25).reshape(4, 3, 2),
                  np.arange(-18, 18).reshape(3, 2, 2, 3))
    assert choose_terms(k, rtol=0.0) == 2
    f = decouple(k, rtol=0.0)
    assert f.depthwise.dtype == object and (f.to_kernel() == k).all()


@settings(max_examples=30)
@given(n=st.integers(1, 6), m=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(1, 3),
       rank=st.integers(1, 4), extra=st.integers(0, 3), seed=st.integers(0, 2**16),
       order=st.sampled_from(["dw-pw", "pw-dw"]))
def test_terms_at_or_above_rank_reproduce_the_kernel(n, m, kh, kw, rank, extra, seed, order):
    k = random_separable_kernel((n, m, kh, kw), multiplier=rank, order=order, rng=seed)
    cap = min(n if order == "dw-pw" else m, kh * kw)
    true_rank = factorcheck.analyze(k, order=order).min_multiplier
    assert true_rank <= min(rank, cap)
    f = decouple(k, terms=true_rank + extra, order=order)
    assert f.multiplier == min(true_rank + extra, cap)
    np.testing.assert_allclose(f.to_kernel(), k, rtol=0, atol=1e-12 * np.abs(k).max() * 16)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**16), a=st.floats(0.01, 1.0), b=st.floats(0.01, 1.0),
       order=st.sampled_from(["dw-pw", "pw-dw"]), groups=st.sampled_from([1, 2]))
def test_choices_are_monotone_and_meet_their_target(seed, a, b, order, groups):
    k = np.random.default_rng(seed).normal(size=(6, 4, 3, 3))
    low, high = sorted((a, b))
    options = {"order": order, "groups": groups}
    assert choose_terms(k, energy=low, **options) <= choose_terms(k, energy=high, **options)
    assert choose_terms(k, rtol=low, **options) >= choose_terms(k, rtol=high, **options)
    rows = {r.terms: r for r in tradeoff(k, **options).rows}
    t = choose_terms(k, rtol=low, **options)
    assert rows[t].relative_distance <= low or t == len(rows)
    assert t == 1 or rows[t - 1].relative_distance > low
    t = choose_terms(k, energy=low, **options)
    assert rows[t].energy_kept >= low or t == len(rows)
    assert t == 1 or rows[t - 1].energy_kept < low


def test_choice_matches_analyze_per_slice_numbers():
    k = np.random.default_rng(3).normal(size=(16, 8, 3, 3))
    for t in range(1, 10):
        a = factorcheck.analyze(k, multiplier=t)
        assert choose_terms(k, rtol=a.relative_distance * (1 + 1e-12)) <= t
        assert choose_terms(k, energy=float(a.energy_kept.min()) * (1 - 1e-12)) <= t


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
def test_grouped_factors_run_as_the_grouped_conv(order):
    rng = np.random.default_rng(4)
    k = rng.normal(size=(8, 3, 3, 3))  # groups=2: 6 inputs, 8 outputs
    f = decouple(k, terms=9, order=order, groups=2)
    assert f.multiplier == (4 if order == "dw-pw" else 3)  # min(rows per group, 9)
    assert f.pointwise_groups == 2
    np.testing.assert_allclose(f.to_kernel(), k, atol=1e-12)
    x = rng.normal(size=(1, 6, 7, 7))
    dw, pw = f.depthwise, f.pointwise
    if order == "dw-pw":
        assert dw.shape == (6 * 4, 1, 3, 3) and pw.shape == (8, 3 * 4, 1, 1)
        y = conv2d(conv2d(x, dw, padding=1, groups=6), pw, groups=2)
    else:
        assert pw.shape == (8 * 3, 3, 1, 1) and dw.shape == (8, 3, 3, 3)
        y = conv2d(conv2d(x, pw, groups=2), dw, padding=1, groups=8)
    np.testing.assert_allclose(y, conv2d(x, k, padding=1, groups=2), atol=1e-10)


def test_grouped_nearest_is_per_group():
    rng = np.random.default_rng(5)
    k = rng.normal(size=(8, 3, 3, 3))
    f = decouple(k, terms=2, groups=2)
    for g in range(2):
        block = k[4 * g : 4 * g + 4]
        expected = factorcheck.nearest_separable(block, multiplier=2)
        np.testing.assert_allclose(f.to_kernel()[4 * g : 4 * g + 4], expected, atol=1e-12)
    t_whole = choose_terms(k, energy=0.9, groups=2)
    assert t_whole == max(choose_terms(k[:4], energy=0.9), choose_terms(k[4:], energy=0.9))


def test_layouts_and_one_d():
    k = np.random.default_rng(6).normal(size=(8, 4, 3, 3)).astype(np.float32)
    f = decouple(k.transpose(2, 3, 1, 0), rtol=0.3, layout="HWIO")
    assert f.layout == "HWIO" and f.multiplier == choose_terms(k, rtol=0.3)
    assert f.depthwise.dtype == np.float32
    one_d = decouple(np.random.default_rng(7).normal(size=(5, 2, 3)), terms=3)
    assert one_d.depthwise.shape == (6, 1, 3)
    x = np.random.default_rng(8).normal(size=(1, 4, 9, 9))
    y = apply_factors(x, decouple(k, terms=9), padding=1)
    np.testing.assert_allclose(y, conv2d(x, k, padding=1), rtol=1e-4, atol=1e-4)


def test_tradeoff_rows_match_the_analysis_and_the_cost_model():
    k = np.random.default_rng(9).normal(size=(16, 8, 3, 3))
    t = tradeoff(k, (12, 12), padding=1)
    assert [r.terms for r in t.rows] == list(range(1, 10))
    for r in t.rows:
        a = factorcheck.analyze(k, multiplier=r.terms)
        assert r.relative_distance == pytest.approx(a.relative_distance, rel=1e-9, abs=1e-15)
        assert r.energy_kept == pytest.approx(float(a.energy_kept.min()), rel=1e-12)
        assert r.macs_ratio == layer_costs((16, 8, 3, 3), 1, r.terms).mac_ratio
        assert 0 <= r.relative_error_bound <= 1.5
    assert t.rows[-1].relative_error_bound < 1e-12  # T = rank: exact up to rounding
    assert t.layer_norm == factorcheck.operator_norm(k, (12, 12), padding=1)
    assert all(r.relative_error_bound is None for r in tradeoff(k).rows)


def test_tradeoff_pw_dw_pointwise_runs_on_the_input_grid():
    k = np.random.default_rng(10).normal(size=(16, 8, 3, 3))
    per_position = tradeoff(k, order="pw-dw").rows[0].macs_ratio
    strided = tradeoff(k, (16, 16), order="pw-dw", stride=2, padding=1).rows[0].macs_ratio
    # pw 16*16*8*16 + dw 8*8*16*9 over standard 8*8*16*8*9
    assert strided == (16 * 16 * 8 * 16 + 8 * 8 * 16 * 9) / (8 * 8 * 16 * 8 * 9)
    assert per_position == (8 * 16 + 16 * 9) / (16 * 8 * 9)


def test_tradeoff_displays_itself_compactly():
    k = np.random.default_rng(11).normal(size=(32, 4, 5, 5))  # 25 rows
    t = tradeoff(k)
    assert isinstance(t, Tradeoff) and len(t.rows) == 25
    assert len(repr(t).splitlines()) <= 12 and "..." in repr(t)
    assert t._repr_html_().count("<tr>") == 26
    latex = t._repr_latex_()
    assert latex.startswith(r"$\begin{array}") and latex.count(r"\\") == 25


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "exactly one of terms, energy or rtol, got none"),
        ({"terms": 2, "rtol": 0.1}, "got terms, rtol"),
        ({"terms": 0}, "terms must be an int >= 1"),
        ({"terms": -3}, "terms must be"),
        ({"terms": 2.5}, "terms must be"),
        ({"terms": True}, "terms must be"),
        ({"energy": 0.0}, r"energy must be a real number in \(0, 1\]"),
        ({"energy": 1.5}, "energy"),
        ({"energy": float("nan")}, "energy"),
        ({"rtol": -0.1}, "rtol must be a real number >= 0"),
        ({"rtol": float("nan")}, "rtol"),
        ({"rtol": "0.1"}, "rtol"),
        ({"terms": 1, "order": "dw"}, "unknown order 'dw'"),
        ({"terms": 1, "groups": 3}, "groups=3 does not divide"),
        ({"terms": 1, "groups": 0}, "groups must be an integer >= 1"),
        ({"terms": 1, "layout": "NCHW"}, "unknown layout"),
    ],
)
def test_bad_input_is_a_clear_error(options, match):
    for function in (choose_terms, decouple):
        with pytest.raises(factorcheck.FactorcheckError, match=match):
            function(np.ones((4, 2, 3, 3)), **options)


def test_tradeoff_bad_input():
    with pytest.raises(factorcheck.FactorcheckError, match="input_hw"):
        tradeoff(np.ones((4, 2, 3, 3)), (0, 4))
    with pytest.raises(factorcheck.FactorcheckError, match="stride"):
        tradeoff(np.ones((4, 2, 3, 3)), 8, stride=0)
    with pytest.raises(factorcheck.KernelError):
        decouple([[1.0, 2.0]], terms=1)


def test_tradeoff_absolute_bounds_and_integer_sizes():
    k = np.random.default_rng(12).normal(size=(6, 4, 3, 3))
    t = tradeoff(k, 9, padding=1)
    assert t.input_hw == (9, 9)
    for r in t.rows:
        approx = factorcheck.nearest_separable(k, multiplier=r.terms)
        assert r.error_bound == factorcheck.error_bound(k, approx, 9, padding=1)
        assert r.relative_error_bound == r.error_bound / t.layer_norm
    exact = tradeoff(np.ones((2, 2, 3, 3), dtype=np.int8), 5)
    assert len(exact.rows) == 1 and exact.rows[0].relative_distance == 0.0


def test_decoupled_cost_matches_the_report_cost_model():
    from factorcheck.decouple import decoupled_cost

    for shape, t in (((16, 3, 3, 3), 1), ((64, 32, 3, 3), 4), ((8, 8, 5, 3), 7)):
        standard, dsc = decoupled_cost(shape, t)
        costs = layer_costs(shape, 1, t)
        assert (standard.macs, dsc.macs, standard.params, dsc.params) == (
            costs.standard_macs, costs.dsc_macs, costs.standard_params, costs.dsc_params)


@settings(max_examples=25)
@given(n=st.integers(1, 8), m=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(2, 3),
       seed=st.integers(0, 2**16), order=st.sampled_from(["dw-pw", "pw-dw"]))
def test_tradeoff_curve_is_monotone(n, m, kh, kw, seed, order):
    k = np.random.default_rng(seed).normal(size=(n, m, kh, kw))
    rows = tradeoff(k, order=order).rows
    cap = min(n if order == "dw-pw" else m, kh * kw)
    assert 1 <= len(rows) <= cap
    ratios = [r.macs_ratio for r in rows]
    distances = [r.relative_distance for r in rows]
    energies = [r.energy_kept for r in rows]
    assert ratios == sorted(ratios) and len(set(ratios)) == len(ratios)
    assert all(a >= b - 1e-15 for a, b in itertools.pairwise(distances))
    assert all(a <= b + 1e-15 for a, b in itertools.pairwise(energies))
    assert distances[-1] < 1e-12 and energies[-1] > 1 - 1e-12  # the last row is exact


# --------------------------------------------------------------------------- one layer of a model


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
def test_plan_layer_keeps_only_dearer_layers_and_never_under_terms(order):
    k = kernel_with_spectrum((8, 4, 3, 3), [4.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05], rng=2)
    grids = {"input_hw": (12, 12), "output_hw": (12, 12)}
    for t in range(1, 10):
        forced = plan_layer(k, terms=t, order=order, **grids)
        assert forced.terms == min(t, 8 if order == "dw-pw" else 4)  # min(rows, kh*kw)
        standard, dsc = decoupled_cost(k.shape, forced.terms, order=order, **grids)
        assert forced.rewritten and (forced.standard, forced.decoupled) == (standard, dsc)
    for rtol in (0.0, 0.01, 0.1, 0.5, 1.0):
        p = plan_layer(k, rtol=rtol, order=order, **grids)
        assert p.terms == choose_terms(k, rtol=rtol, order=order)
        cheaper = p.decoupled.macs < p.standard.macs
        assert p.rewritten == cheaper  # the rule, both ways
        assert p.reason == "" if cheaper else f"T = {p.terms}," in p.reason
    assert not plan_layer(k, rtol=0.0, order=order, **grids).rewritten  # full rank: dearer
    assert plan_layer(k, rtol=0.5, order=order, **grids).rewritten  # negative control


def test_plan_layer_matches_the_analysis():
    k = np.random.default_rng(9).normal(size=(6, 5, 3, 3))
    p = plan_layer(k, terms=2)
    a = factorcheck.analyze(k, multiplier=2)
    assert p.rank == a.min_multiplier == 6
    assert p.relative_distance == pytest.approx(a.relative_distance, rel=1e-12)
    assert p.energy_kept == pytest.approx(float(a.energy_kept.min()), rel=1e-12)


@settings(max_examples=40)
@given(k=st.integers(1, 5), size=st.integers(1, 9), stride=st.integers(1, 3),
       dilation=st.integers(1, 2), upper=st.booleans())
def test_layer_geometry_bounds_equal_those_of_the_real_same_padding(k, size, stride, dilation,
                                                                    upper):
    """The padding layer_geometry derives from the grids gives the bound the real auto_pad
    padding gives (the bound depends on the padded size only), even with a kernel larger
    than the input."""
    from onnx import helper

    from factorcheck.network.shapes import conv_pads

    node = helper.make_node("Conv", ["x", "w"], ["y"],
                            auto_pad="SAME_UPPER" if upper else "SAME_LOWER")
    out = -(-size // stride)
    real = conv_pads(node, (size, size), (k, k), (stride, stride), (dilation, dilation))
    geometry = layer_geometry((k, k), (size, size), (out, out), stride=stride, dilation=dilation)
    assert [sum(p) for p in geometry["padding"]] == [sum(p) for p in real]
    w = np.random.default_rng(k + size).normal(size=(3, 2, k, k))
    assert operator_norm(w, size, **geometry) == operator_norm(
        w, size, stride=stride, dilation=dilation, padding=real)
