"""Tests of the reference convolution against loops and torch, and of factors run through it."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from factorcheck import FactorcheckError, decompose
from factorcheck.conv import apply_factors, conv1d, conv2d, fold_bias

RTOL64 = 1e-12  # relative to the largest output magnitude
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def torch_or_skip():
    """torch, or skip the test; in CI torch is installed, so its absence fails the test."""
    try:
        import torch
    except ImportError:
        if IN_CI:
            pytest.fail("torch must be installed in CI")
        pytest.skip("torch is not installed")
    return torch


def brute_conv2d(x, w, bias=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
                 groups=1):
    """Cross-correlation by explicit loops over every output and every tap."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = pads
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), dtype=x.dtype)
    if x.dtype == object:
        xp[...] = Fraction(0)
    xp[:, :, pt : pt + h, pl : pl + wd] = x
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo), dtype=x.dtype)
    per_group = o // groups
    for b in range(n):
        for oc in range(o):
            g = oc // per_group
            for y in range(ho):
                for z in range(wo):
                    acc = Fraction(0) if x.dtype == object else 0.0
                    for ic in range(cg):
                        for a in range(kh):
                            for e in range(kw):
                                acc += (xp[b, g * cg + ic, y * sh + a * dh, z * sw + e * dw]
                                        * w[oc, ic, a, e])
                    out[b, oc, y, z] = acc + (0 if bias is None else bias[oc])
    return out


def close(got, want, rtol=RTOL64):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max()), 1e-300)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale)


def separable(n, m, kh, kw, d=1, order="dw-pw", seed=0):
    rng = np.random.default_rng(seed)
    count, rows = (m, n) if order == "dw-pw" else (n, m)
    mu, b = rng.normal(size=(rows, count, d)), rng.normal(size=(count, d, kh, kw))
    if order == "dw-pw":
        return np.einsum("ijr,jrhw->ijhw", mu, b)
    return np.einsum("jir,irhw->ijhw", mu, b)


def to_layout(oihw, layout):
    src = "OIHW" if oihw.ndim == 4 else "OIW"
    dst = layout if oihw.ndim == 4 else layout.replace("H", "")
    return np.transpose(oihw, [src.index(c) for c in dst])


# ------------------------------------------------------------------ conv2d against loops


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 2))
    o = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = ((draw(st.integers(0, 2)), draw(st.integers(0, 2))),
            (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume(h + sum(pads[0]) >= dilation[0] * (kh - 1) + 1)
    assume(w + sum(pads[1]) >= dilation[1] * (kw - 1) + 1)
    batch = draw(st.integers(1, 2))
    has_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(groups=groups, c=c, o=o, kh=kh, kw=kw, stride=stride, dilation=dilation,
                pads=pads, h=h, w=w, batch=batch, has_bias=has_bias, seed=seed)


@given(conv_cases())
def test_conv2d_equals_brute_force(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["batch"], case["c"], case["h"], case["w"]))
    w = rng.normal(size=(case["o"], case["c"] // case["groups"], case["kh"], case["kw"]))
    bias = rng.normal(size=case["o"]) if case["has_bias"] else None
    got = conv2d(x, w, bias, stride=case["stride"], padding=case["pads"],
                 dilation=case["dilation"], groups=case["groups"])
    want = brute_conv2d(x, w, bias, case["stride"], case["pads"], case["dilation"],
                        case["groups"])
    close(got, want)
    unbatched = conv2d(x[0], w, bias, stride=case["stride"], padding=case["pads"],
                       dilation=case["dilation"], groups=case["groups"])
    close(unbatched, want[0])


@pytest.mark.parametrize("padding, pads", [
    (1, ((1, 1), (1, 1))),
    ((2, 0), ((2, 2), (0, 0))),
    (((0, 2), (1, 0)), ((0, 2), (1, 0))),
])
def test_padding_forms(padding, pads):
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(1, 2, 5, 4)), rng.normal(size=(3, 2, 2, 3))
    close(conv2d(x, w, padding=padding), brute_conv2d(x, w, pads=pads))


def test_conv2d_golden_integers():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    got = conv2d(x, np.array([[[[1.0, 0.0], [0.0, -1.0]]]]), np.array([10.0]))
    np.testing.assert_array_equal(got, np.full((1, 1, 3, 3), 10.0 - 5.0))  # x[a,b] - x[a+1,b+1]


@given(conv_cases())
def test_conv2d_equals_torch(case):
    torch = torch_or_skip()
    functional = torch.nn.functional
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["batch"], case["c"], case["h"], case["w"]))
    w = rng.normal(size=(case["o"], case["c"] // case["groups"], case["kh"], case["kw"]))
    bias = rng.normal(size=case["o"]) if case["has_bias"] else None
    (pt, pb), (pl, pr) = case["pads"]
    xt = functional.pad(torch.from_numpy(x), (pl, pr, pt, pb))  # torch: last axis first
    want = functional.conv2d(xt, torch.from_numpy(w),
                             None if bias is None else torch.from_numpy(bias),
                             stride=case["stride"], dilation=case["dilation"],
                             groups=case["groups"]).numpy()
    got = conv2d(x, w, bias, stride=case["stride"], padding=case["pads"],
                 dilation=case["dilation"], groups=case["groups"])
    close(got, want)


def test_conv1d_equals_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 4, 9)), rng.normal(size=(6, 2, 3)), rng.normal(size=6)
    want = torch.nn.functional.conv1d(torch.from_numpy(x), torch.from_numpy(w),
                                      torch.from_numpy(b), stride=2, padding=1, dilation=2,
                                      groups=2).numpy()
    close(conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2), want)


def test_conv1d_asymmetric_padding_equals_brute_force():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(1, 2, 7)), rng.normal(size=(3, 2, 3))
    want = brute_conv2d(x[:, :, None, :], w[:, :, None, :], stride=(1, 2),
                        pads=((0, 0), (2, 1)), dilation=(1, 2))[:, :, 0, :]
    close(conv1d(x, w, stride=2, padding=(2, 1), dilation=2), want)


# ------------------------------------------------------------------ decomposed kernels


@pytest.mark.parametrize("layout", ["OIHW", "HWIO", "OHWI"])
@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
@pytest.mark.parametrize("d", [1, 2])
def test_worked_example_two_steps_equal_one(layout, order, d):
    """11x11x3 input, 3x3 kernel, stride 2, padding 1, 16 outputs -> 6x6x16."""
    k = separable(16, 3, 3, 3, d, order, seed=d)
    x = np.random.default_rng(4).normal(size=(1, 3, 11, 11))
    f = decompose(to_layout(k, layout), layout=layout, order=order, multiplier=d)
    one = conv2d(x, k, stride=2, padding=1)
    two = apply_factors(x, f, stride=2, padding=1)
    assert one.shape == (1, 16, 6, 6)
    close(two, one)
    # negative control: the factors of a different kernel do not reproduce it
    other = decompose(separable(16, 3, 3, 3, d, order, seed=99), order=order, multiplier=d)
    assert not np.allclose(apply_factors(x, other, stride=2, padding=1), one)


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("kh, kw", [(3, 2), (1, 3), (2, 2)])
def test_asymmetric_padding_stride_and_dilation_on_the_depthwise_step(order, d, kh, kw):
    k = separable(5, 4, kh, kw, d, order, seed=5)
    x = np.random.default_rng(6).normal(size=(2, 4, 9, 8))
    options = dict(stride=(2, 1), padding=((2, 0), (1, 3)), dilation=(2, 3))
    want = brute_conv2d(x, k, stride=(2, 1), pads=((2, 0), (1, 3)), dilation=(2, 3))
    close(conv2d(x, k, **options), want)
    close(apply_factors(x, decompose(k, order=order, multiplier=d), **options), want)


@pytest.mark.parametrize("layout", ["OIHW", "HWIO", "OHWI"])
@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
@pytest.mark.parametrize("d", [1, 2])
def test_one_d_two_steps_equal_one(layout, order, d):
    k = separable(6, 3, 1, 4, d, order, seed=7)[:, :, 0, :]
    x = np.random.default_rng(8).normal(size=(2, 3, 12))
    f = decompose(to_layout(k, layout), layout=layout, order=order, multiplier=d)
    assert f.depthwise.ndim == 3
    want = conv1d(x, k, stride=2, padding=(1, 2), dilation=2)
    close(apply_factors(x, f, stride=2, padding=(1, 2), dilation=2), want)
    close(want, brute_conv2d(x[:, :, None, :], k[:, :, None, :], stride=(1, 2),
                             pads=((0, 0), (1, 2)), dilation=(1, 2))[:, :, 0, :])


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
def test_approximate_factors_convolve_like_the_nearest_kernel(order):
    from factorcheck import nearest_separable

    k = np.random.default_rng(9).normal(size=(5, 3, 3, 3))
    x = np.random.default_rng(10).normal(size=(1, 3, 7, 7))
    f = decompose(k, order=order, multiplier=2, approximate=True)
    p = nearest_separable(k, order=order, multiplier=2)
    close(apply_factors(x, f, padding=1), conv2d(x, p, padding=1))
    assert not np.allclose(conv2d(x, p, padding=1), conv2d(x, k, padding=1))


# ------------------------------------------------------------------ biases


@pytest.mark.parametrize("layout", ["OIHW", "HWIO"])
@pytest.mark.parametrize("d", [1, 2])
def test_bias_folds_for_dw_pw(layout, d):
    k = separable(7, 3, 3, 3, d, seed=11)
    f = decompose(to_layout(k, layout), layout=layout, multiplier=d)
    rng = np.random.default_rng(12)
    c, dd = rng.normal(size=3 * d), rng.normal(size=7)
    x = rng.normal(size=(1, 3, 6, 6))
    two = apply_factors(x, f, padding=1, stride=2, depthwise_bias=c, pointwise_bias=dd)
    folded = fold_bias(f, c, dd)
    mu = np.transpose(f.pointwise, [layout.index(a) for a in "OIHW"])[:, :, 0, 0]
    np.testing.assert_allclose(folded, dd + mu @ c, rtol=RTOL64)  # d_i + sum_j mu_ij c_j
    close(two, conv2d(x, k, folded, padding=1, stride=2))
    # negative control: ignoring the depthwise bias is wrong
    assert not np.allclose(two, conv2d(x, k, dd, padding=1, stride=2))


def test_pw_dw_bias_does_not_fold():
    f = decompose(separable(4, 3, 3, 3, order="pw-dw", seed=13), order="pw-dw")
    with pytest.raises(FactorcheckError, match="dw-pw"):
        fold_bias(f, np.zeros(4), np.zeros(4))


def test_pw_dw_pointwise_bias_really_differs_at_the_borders():
    """Why fold_bias refuses pw-dw: with padding, no single bias reproduces the two steps."""
    k = separable(2, 2, 3, 3, order="pw-dw", seed=14)
    f = decompose(k, order="pw-dw")
    x = np.zeros((1, 2, 4, 4))
    two = apply_factors(x, f, padding=1, pointwise_bias=np.ones(2))
    assert not np.allclose(two[:, :, 0, 0], two[:, :, 1, 1])  # not a constant per channel


# ------------------------------------------------------------------ exact


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
def test_exact_fractions_through_conv_are_equal(order):
    rng = np.random.default_rng(15)
    n, m = 3, 2
    count, rows = (m, n) if order == "dw-pw" else (n, m)
    mu, b = rng.integers(-3, 4, (rows, count)), rng.integers(-3, 4, (count, 2, 2))
    k = (np.einsum("ij,jhw->ijhw", mu, b) if order == "dw-pw"
         else np.einsum("ji,ihw->ijhw", mu, b))
    x = np.vectorize(lambda v: Fraction(int(v), 3), otypes=[object])(
        rng.integers(-4, 5, (1, m, 4, 5)))
    f = decompose(k, order=order)
    assert f.depthwise.dtype == object
    one = conv2d(x, k.astype(object), padding=((1, 0), (0, 1)), stride=(1, 2))
    two = apply_factors(x, f, padding=((1, 0), (0, 1)), stride=(1, 2))
    want = brute_conv2d(x, k.astype(object), stride=(1, 2), pads=((1, 0), (0, 1)))
    assert one.shape == two.shape == want.shape
    assert (one == want).all()
    assert (two == want).all()
    assert all(isinstance(v, Fraction) for v in np.asarray(two).flat)


# ------------------------------------------------------------------ bad input


BAD_CONV = [
    (np.ones((1, 4, 5, 5)), np.ones((2, 3, 3, 3)), {}, ["groups", "(2, 3, 3, 3)"]),
    (np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), {"groups": 2}, ["groups"]),
    (np.ones((1, 3, 5, 5)), np.ones((3, 3, 3, 3)), {"groups": 0}, ["groups"]),
    (np.ones((1, 4, 5, 5)), np.ones((4, 2, 3, 3)), {"groups": 2.0}, ["groups"]),
    (np.ones((1, 3, 2, 5)), np.ones((2, 3, 3, 3)), {}, ["larger", "(2, 5)"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"dilation": 3}, ["larger"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"padding": -1}, ["padding", "-1"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"padding": ((0, -1), (0, 0))}, ["padding"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"padding": (1, 1, 1)}, ["padding"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"stride": 0}, ["stride"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"dilation": (1, 0)}, ["dilation"]),
    (np.ones((5, 5)), np.ones((2, 1, 3, 3)), {}, ["(N, C, H, W)"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3)), {}, ["weight"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"bias": np.ones(3)}, ["bias"]),
    (np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), {"bias": np.ones(1)}, ["bias"]),
]


BAD_CONV_IDS = ["channels", "groups-mismatch", "groups-0", "groups-float", "too-large",
                "dilated-too-large", "pad-neg", "pad-neg-side", "pad-3", "stride-0",
                "dilation-0", "input-2d", "weight-3d", "bias-len-3", "bias-len-1"]


@pytest.mark.parametrize("x, w, options, words", BAD_CONV, ids=BAD_CONV_IDS)
def test_bad_conv_input(x, w, options, words):
    with pytest.raises(FactorcheckError) as info:
        conv2d(x, w, **options)
    for word in words:
        assert word in str(info.value)


def test_bad_conv1d_input():
    with pytest.raises(FactorcheckError, match="padding"):
        conv1d(np.ones((3, 5)), np.ones((2, 3, 3)), padding=-1)
    with pytest.raises(FactorcheckError, match="larger"):
        conv1d(np.ones((3, 2)), np.ones((2, 3, 3)))
