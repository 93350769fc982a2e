"""Tests of factorcheck.symbolic.cost: golden integers, symbolic = numeric, brute force."""

from __future__ import annotations

import itertools

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from factorcheck.errors import FactorcheckError
from factorcheck.symbolic.cost import (
    LayerCost,
    compare_layer,
    conv_cost,
    depthwise_cost,
    output_shape,
    output_size,
    padding_aware_macs,
    pointwise_cost,
    separable_cost,
    standard_cost,
    valid_taps,
)

D_f, D_p, D_k, M, N, d, s, p, g = sympy.symbols("D_f D_p D_k M N d s p g", positive=True,
                                                integer=True)
kh, kw = sympy.symbols("k_h k_w", positive=True, integer=True)


# ---------------------------------------------------------------- brute force references


def brute_output_size(d_f, k, stride, pad_begin, pad_end, dilation):
    """Count window start positions that fit in the padded input, like np.convolve 'valid'."""
    padded = d_f + pad_begin + pad_end
    extent = dilation * (k - 1) + 1
    return len(range(0, padded - extent + 1, stride))


def brute_valid_taps(d_f, k, stride, pad_begin, pad_end, dilation):
    """Loop over output positions and taps; count those reading a real input value."""
    count = 0
    for o in range(brute_output_size(d_f, k, stride, pad_begin, pad_end, dilation)):
        for t in range(k):
            count += 0 <= o * stride - pad_begin + t * dilation < d_f
    return count


def brute_conv_counts(hp, wp, k_h, k_w, m, n, groups, bias):
    """Count every multiplication and addition of a grouped conv by explicit loops."""
    mults = adds = 0
    for _y, _x, _out in itertools.product(range(hp), range(wp), range(n)):
        products = k_h * k_w * (m // groups)
        mults += products
        adds += products - 1 + bias
    params = n * k_h * k_w * (m // groups) + (n if bias else 0)
    return mults, adds, params


# ---------------------------------------------------------------- golden integers


def test_golden_reference_layer():
    # 11x11x3 input, 3x3 kernel, stride 2, padding 1 -> 6x6x16.
    # standard: 6*6*16 outputs * 27 taps = 15552 MACs; additions 6*6*16*26 = 14976;
    # params 16*27 = 432.
    assert output_size(11, 3, 2, 1) == 6
    assert standard_cost(6, 3, 3, 16) == LayerCost(15552, 14976, 30528, 432)
    # depthwise: 6*6*3 outputs * 9 taps = 972 MACs, 6*6*3*8 = 864 additions, 27 params.
    assert depthwise_cost(6, 3, 3) == LayerCost(972, 864, 1836, 27)
    # pointwise: 6*6*16 outputs * 3 taps = 1728 MACs, 6*6*16*2 = 1152 additions, 48 params.
    assert pointwise_cost(6, 3, 16) == LayerCost(1728, 1152, 2880, 48)
    assert separable_cost(6, 3, 3, 16).total == LayerCost(2700, 2016, 4716, 75)


def test_golden_mobilenet_first_separable_block():
    # MobileNet v1 block 1: 112x112x32 -> dw 3x3 -> pw 64, stride 1, pad 1.
    # dw: 112*112*32*9 = 3612672; pw: 112*112*32*64 = 25690112.
    cost = separable_cost(output_size(112, 3, 1, 1), 3, 32, 64)
    assert cost.depthwise.macs == 3_612_672
    assert cost.pointwise.macs == 25_690_112


def test_golden_bias_grouped_rectangular():
    # 5x7 output, 3x1 kernel, 8 -> 12 channels, groups 4, bias:
    # taps 3*1*2 = 6; outputs 5*7*12 = 420; MACs 2520; additions 420*(6-1+1) = 2520;
    # params 12*6 + 12 = 84.
    assert conv_cost((5, 7), (3, 1), 8, 12, groups=4, bias=True) == LayerCost(2520, 2520, 5040, 84)


def test_flops_rule_of_thumb_holds_exactly_with_bias():
    cost = conv_cost((D_p, D_p), D_k, M, N, bias=True)
    assert sympy.simplify(cost.flops - 2 * cost.macs) == 0
    plain = conv_cost((D_p, D_p), D_k, M, N)
    assert sympy.simplify(plain.flops - (2 * plain.macs - D_p**2 * N)) == 0


def test_padding_aware_golden():
    # 11-long axis, k=3, s=2, p=1: 6 outputs x 3 taps = 18 pairs; position -1 (o=0, t=0)
    # and position 11 (o=5, t=2) are pads -> 16; MACs 16*16*3*16 = 12288.
    assert valid_taps(11, 3, 2, 1) == 16
    assert padding_aware_macs(11, 3, 3, 16, stride=2, padding=1) == 12288
    cmp = compare_layer(11, 3, 3, 16, stride=2, padding=1)
    assert cmp.separable_macs_padding_aware == 16 * 16 * 3 + 1728
    assert cmp.mac_ratio == sympy.Rational(25, 144)


# ---------------------------------------------------------------- symbolic forms


def test_symbolic_blog_formulas():
    assert sympy.simplify(standard_cost(D_p, D_k, M, N).macs - D_p**2 * D_k**2 * M * N) == 0
    assert sympy.simplify(depthwise_cost(D_p, D_k, M).macs - D_p**2 * D_k**2 * M) == 0
    assert sympy.simplify(pointwise_cost(D_p, M, N).macs - D_p**2 * M * N) == 0
    sep = separable_cost(D_p, D_k, M, N, multiplier=d)
    assert sympy.simplify(sep.total.params - (d * M * D_k**2 + d * M * N)) == 0


def test_symbolic_output_size_forms():
    assert output_size(D_f, D_k, s, p) == sympy.floor((D_f + 2 * p - D_k) / s) + 1
    exact = output_size(D_f, D_k, s, p, exact_division=True)
    assert sympy.simplify(exact - ((D_f - D_k + 2 * p) / s + 1)) == 0


@given(
    hp=st.integers(1, 9), wp=st.integers(1, 9), k_h=st.integers(1, 5), k_w=st.integers(1, 5),
    groups=st.integers(1, 4), m_per=st.integers(1, 4), n_per=st.integers(1, 4),
    bias=st.booleans(),
)
def test_numeric_equals_symbolic(hp, wp, k_h, k_w, groups, m_per, n_per, bias):
    m, n = groups * m_per, groups * n_per
    H, W = sympy.symbols("H W", positive=True, integer=True)
    symbolic = conv_cost((H, W), (kh, kw), M, N, groups=g, bias=bias)
    numeric = conv_cost((hp, wp), (k_h, k_w), m, n, groups=groups, bias=bias)
    values = {H: hp, W: wp, kh: k_h, kw: k_w, M: m, N: n, g: groups}
    for field in ("macs", "additions", "flops", "params"):
        assert getattr(symbolic, field).subs(values) == getattr(numeric, field)
    assert (numeric.macs, numeric.additions, numeric.params) == brute_conv_counts(
        hp, wp, k_h, k_w, m, n, groups, bias
    )


@given(
    d_f=st.integers(1, 20), k=st.integers(1, 5), stride=st.integers(1, 4),
    pad_begin=st.integers(0, 4), pad_end=st.integers(0, 4), dilation=st.integers(1, 3),
)
def test_output_size_and_valid_taps_match_brute_force(d_f, k, stride, pad_begin, pad_end,
                                                      dilation):
    args = (d_f, k, stride, pad_begin, pad_end, dilation)
    if d_f + pad_begin + pad_end < dilation * (k - 1) + 1:
        with pytest.raises(FactorcheckError, match="kernel"):
            output_size(d_f, k, stride, (pad_begin, pad_end), dilation)
        return
    assert output_size(d_f, k, stride, (pad_begin, pad_end), dilation) == brute_output_size(*args)
    assert valid_taps(d_f, k, stride, (pad_begin, pad_end), dilation) == brute_valid_taps(*args)


@given(d_f=st.integers(3, 15), stride=st.integers(1, 3), pad=st.integers(0, 2))
def test_valid_taps_symbolic_input_matches_integer(d_f, stride, pad):
    symbolic = valid_taps(D_f, 3, stride, pad)
    assert symbolic.subs(D_f, d_f) == valid_taps(d_f, 3, stride, pad)


def test_padding_aware_factorizes_against_2d_brute_force():
    # 2-D loop over outputs, taps and channels for a 7x5 input, 3x2 kernel, stride (2, 1).
    h, w, k_h, k_w, sh, sw, (pt, pb), (pl, pr), m, n = 7, 5, 3, 2, 2, 1, (1, 0), (1, 1), 2, 3
    hp, wp = output_shape((h, w), (k_h, k_w), (sh, sw), ((pt, pb), (pl, pr)))
    count = 0
    for y, x, a, b in itertools.product(range(hp), range(wp), range(k_h), range(k_w)):
        count += (0 <= y * sh - pt + a < h) and (0 <= x * sw - pl + b < w)
    expected = count * m * n
    got = padding_aware_macs((h, w), (k_h, k_w), m, n, stride=(sh, sw),
                             padding=((pt, pb), (pl, pr)))
    assert got == expected
    assert got < standard_cost((hp, wp), (k_h, k_w), m, n).macs


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: output_size(0, 3), "input_size: expected an int >= 1, got 0"),
        (lambda: output_size(5, 3, stride=0), "stride: expected an int >= 1, got 0"),
        (lambda: output_size(5, 3, padding=-1), "padding: expected an int >= 0, got -1"),
        (lambda: output_size(2, 5), "padded input 2"),
        (lambda: output_size(10, 3, 2, exact_division=True), "expected a multiple of 2, got 7"),
        (lambda: conv_cost(4, 3, 6, 8, groups=4), "in_channels .groups=4.: expected a multiple"),
        (lambda: conv_cost(4, 3, 8, 6, groups=4), "out_channels .groups=4.: expected a multiple"),
        (lambda: conv_cost(4, 3.0, 8, 6), "kernel: expected a positive int or SymPy"),
        (lambda: conv_cost(4, True, 8, 6), "got bool"),
        (lambda: conv_cost(4, "3", 8, 6), "got str '3'"),
        (lambda: conv_cost(4, (3, 3, 3), 8, 6), "got 3 values"),
        (lambda: conv_cost(4, sympy.Rational(1, 2), 8, 6), "got 1/2"),
        (lambda: conv_cost(4, sympy.Symbol("x", negative=True), 8, 6), "by its assumptions"),
        (lambda: valid_taps(11, D_k), "expected an int for the padding-aware count"),
    ],
)
def test_bad_input_says_expected_and_got(call, message):
    with pytest.raises(FactorcheckError, match=message):
        call()


def test_numpy_and_sympy_integers_are_ints():
    import numpy as np

    assert output_size(np.int64(11), sympy.Integer(3), 2, 1) == 6
    assert isinstance(conv_cost(np.int32(6), 3, 3, 16).macs, int)
