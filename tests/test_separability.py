"""Tests of analyze, decompose and nearest_separable against references written here."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from factorcheck import (
    FactorcheckError,
    NotSeparableError,
    analyze,
    decompose,
    is_separable,
    nearest_separable,
    separability,
)
from factorcheck.testing import kernel_with_spectrum

RTOL64 = 1e-12  # float64 results of a few operations
RTOL_REF = 1e-9  # distances against the naive loop of SVDs
EPS = {t: float(np.finfo(t).eps) for t in (np.float16, np.float32, np.float64)}
ORDERS = ["dw-pw", "pw-dw"]
LAYOUTS = ["OIHW", "HWIO", "OHWI"]


# ------------------------------------------------------------------ references


def slices(k: np.ndarray, order: str) -> list[np.ndarray]:
    """The slice matrices of a canonical kernel, in float64."""
    k = np.asarray(k, dtype=np.float64)
    n, m, kh, kw = k.shape
    if order == "dw-pw":
        return [k[:, j].reshape(n, kh * kw) for j in range(m)]
    return [k[i].reshape(m, kh * kw) for i in range(n)]


def naive_spectra(k: np.ndarray, order: str) -> list[np.ndarray]:
    return [np.linalg.svd(a, compute_uv=False) for a in slices(k, order)]


def naive_distance(k: np.ndarray, order: str, d: int) -> float:
    return math.sqrt(sum(float((s[d:] ** 2).sum()) for s in naive_spectra(k, order)))


def naive_ranks(k: np.ndarray, order: str, tol: float) -> np.ndarray:
    return np.array([int((s > tol * s[0]).sum()) for s in naive_spectra(k, order)])


def separable(shape, d=1, order="dw-pw", seed=0, low=None):
    """A canonical kernel that is a sum of ``d`` DSCs in ``order``; built here, not by factorcheck.

    With ``low`` the factors are uniform in [low, 2 low] (well conditioned), else Gaussian.
    """
    n, m, kh, kw = shape
    rng = np.random.default_rng(seed)
    count = m if order == "dw-pw" else n
    rows = n if order == "dw-pw" else m

    def draw(size):
        return rng.uniform(low, 2 * low, size) if low else rng.normal(size=size)

    mu, b = draw((rows, count, d)), draw((count, d, kh, kw))
    if order == "dw-pw":
        return np.einsum("ijr,jrhw->ijhw", mu, b)
    return np.einsum("jir,irhw->ijhw", mu, b)


def to_layout(oihw: np.ndarray, layout: str) -> np.ndarray:
    src = "OIHW" if oihw.ndim == 4 else "OIW"
    dst = layout if oihw.ndim == 4 else layout.replace("H", "")
    return np.transpose(oihw, [src.index(c) for c in dst])


def from_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """Back to canonical OIHW (or OIW for 3-D)."""
    src = layout if array.ndim == 4 else layout.replace("H", "")
    dst = "OIHW" if array.ndim == 4 else "OIW"
    return np.transpose(array, [src.index(c) for c in dst])


def compose(factors) -> np.ndarray:
    """The standard kernel of a Factors, from its documented channel conventions (not to_kernel)."""
    dw, pw = from_layout(factors.depthwise, factors.layout), from_layout(factors.pointwise,
                                                                         factors.layout)
    if dw.ndim == 3:
        dw, pw = dw[:, :, None, :], pw[:, :, None, :]
    d = factors.multiplier
    pw = pw[:, :, 0, 0]
    if factors.order == "dw-pw":  # k_ij = sum_r pw[i, j*d + r] dw[j*d + r, 0]
        n, m = pw.shape[0], pw.shape[1] // d
        out = np.zeros((n, m, *dw.shape[2:]), dtype=dw.dtype)
        for i in range(n):
            for j in range(m):
                for r in range(d):
                    out[i, j] = out[i, j] + pw[i, j * d + r] * dw[j * d + r, 0]
    else:  # k_ij = sum_r dw[i, r] pw[i*d + r, j]
        n, m = dw.shape[0], pw.shape[1]
        out = np.zeros((n, m, *dw.shape[2:]), dtype=dw.dtype)
        for i in range(n):
            for j in range(m):
                for r in range(d):
                    out[i, j] = out[i, j] + dw[i, r] * pw[i * d + r, j]
    return out if factors.depthwise.ndim == 4 else out[:, :, 0, :]


def frob(a) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64).ravel()))


# ------------------------------------------------------------------ basic verdicts


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("shape", [(6, 4, 3, 3), (5, 3, 2, 4), (7, 2, 1, 5)])
def test_separable_kernels_are_separable(shape, d, order):
    k = separable(shape, d, order, seed=d)
    result = analyze(k, order=order, multiplier=d)
    assert result.separable and not result.exact and result.criterion == "rank"
    assert result.min_multiplier == min(d, shape[0 if order == "dw-pw" else 1],
                                        shape[2] * shape[3])
    assert result.relative_distance < 100 * EPS[np.float64]
    assert result.order == order and result.multiplier == d and result.shape == shape
    if result.min_multiplier > 1:  # needs all its terms: one fewer is not enough
        assert not is_separable(k, order=order, multiplier=result.min_multiplier - 1)


@pytest.mark.parametrize("order", ORDERS)
def test_zero_kernel_is_separable_at_distance_zero(order):
    for k in (np.zeros((4, 3, 3, 3)), np.zeros((4, 3, 3, 3), dtype=np.float32),
              np.zeros((4, 3, 3, 3), dtype=np.int64), np.zeros((2, 2, 5))):
        result = analyze(k, order=order)
        assert result.separable
        assert result.distance == 0.0 and result.relative_distance == 0.0 and result.norm == 0.0
        assert np.all(result.ranks == 0) and result.min_multiplier == 0
        assert np.all(np.isfinite(result.energy_kept))
        np.testing.assert_array_equal(nearest_separable(k, order=order), np.zeros(k.shape))
        np.testing.assert_array_equal(decompose(k, order=order).to_kernel(), np.zeros(k.shape))


def test_kernel_with_one_zero_slice():
    k = separable((4, 3, 3, 3), seed=1)
    k[:, 1] = 0.0
    result = analyze(k)
    assert result.separable
    np.testing.assert_array_equal(result.ranks, [1, 0, 1])
    k[0, 0, 0, 0] += 0.1
    assert not is_separable(k)


# ------------------------------------------------------------------ extreme magnitudes


def int_pair(order="dw-pw"):
    """A separable integer kernel (entries 1..9) and the same with one entry + 1 (rank 2)."""
    rng = np.random.default_rng(7)
    mu = rng.integers(1, 4, (4, 3))
    if order == "dw-pw":
        k = np.einsum("ij,jhw->ijhw", mu, rng.integers(1, 4, (3, 3, 3)))
    else:
        k = np.einsum("ij,ihw->ijhw", mu, rng.integers(1, 4, (4, 3, 3)))
    bad = k.copy()
    bad[2, 1, 1, 2] += 1
    return k.astype(np.float64), bad.astype(np.float64)


@pytest.mark.parametrize("scale", [2.0**1000, 1e300, 2.0**-1070, 2.0**-1000, 1e-300, -(2.0**1000)])
@pytest.mark.parametrize("order", ORDERS)
def test_extreme_scales_keep_verdict_and_relative_distance(scale, order):
    good, bad = int_pair(order)
    if abs(scale) < 2.0**-1060:
        assert np.abs(good * scale).max() < np.finfo(np.float64).tiny  # truly subnormal
        np.testing.assert_array_equal((good * scale) / scale, good)  # and exact
    ref_bad = analyze(bad, order=order)
    a_good, a_bad = analyze(good * scale, order=order), analyze(bad * scale, order=order)
    assert a_good.separable
    assert a_good.min_multiplier == 1
    assert math.isfinite(a_good.relative_distance) and a_good.relative_distance < 1e-14
    assert math.isfinite(a_good.distance)
    assert not a_bad.separable
    np.testing.assert_array_equal(a_bad.ranks, ref_bad.ranks)
    assert a_bad.relative_distance == pytest.approx(ref_bad.relative_distance, rel=1e-9, abs=0)
    assert a_bad.distance == pytest.approx(ref_bad.distance * abs(scale), rel=1e-9, abs=0)
    np.testing.assert_allclose(a_bad.energy_kept, ref_bad.energy_kept, rtol=1e-9)


def test_entries_at_the_top_of_float64_range():
    good, bad = int_pair()
    big = np.finfo(np.float64).max / 10  # entries up to 0.9 * max
    a_good, a_bad = analyze(good * (big / 9)), analyze(bad * (big / 9))
    assert a_good.separable and math.isfinite(a_good.relative_distance)
    assert not a_bad.separable
    assert a_bad.relative_distance == pytest.approx(analyze(bad).relative_distance, rel=1e-9, abs=0)
    p = nearest_separable(good * (big / 9))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, good * (big / 9), rtol=1e-12)


def test_subnormal_nearest_and_factors():
    good, _ = int_pair()
    tiny = good * 2.0**-1070
    p = nearest_separable(tiny)
    np.testing.assert_allclose(p / 2.0**-1070, good, rtol=1e-6)
    np.testing.assert_allclose(decompose(tiny).to_kernel() / 2.0**-1070, good, rtol=1e-6)


# ------------------------------------------------------------------ tolerance


def rows_cols(shape, order):
    n, m, kh, kw = shape
    return (n if order == "dw-pw" else m), kh * kw


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shape", [(16, 4, 3, 3), (3, 5, 5, 5)])
def test_tolerance_is_max_dim_times_dtype_eps(dtype, order, shape):
    k = separable(shape, order=order, seed=2).astype(dtype)
    result = analyze(k, order=order)
    assert result.tolerance == max(rows_cols(shape, order)) * EPS[dtype]
    assert result.dtype == np.dtype(dtype).name
    assert result.separable  # the rounding of the cast stays below the dtype's tolerance


@pytest.mark.parametrize("order", ORDERS)
def test_float32_eps_not_float64_eps(order):
    # every slice has spectrum (1, 1e-9): rank 2 in float64, rank 1 at float32 precision
    sigma = [1.0, 1e-9] + [0.0] * 7
    shape = (16, 4, 3, 3) if order == "dw-pw" else (4, 16, 3, 3)
    k = kernel_with_spectrum(shape, sigma, order=order, rng=11)
    spectra = naive_spectra(k, order)
    assert all(s[1] / s[0] == pytest.approx(1e-9, rel=1e-6, abs=0) for s in spectra)
    assert not is_separable(k, order=order)
    assert is_separable(k.astype(np.float32), order=order)
    assert analyze(k.astype(np.float32), order=order).min_multiplier == 1


@pytest.mark.parametrize("order", ORDERS)
def test_float16_eps_not_float32_eps(order):
    sigma = [1.0, 1e-4] + [0.0] * 7
    shape = (16, 4, 3, 3) if order == "dw-pw" else (4, 16, 3, 3)
    k = kernel_with_spectrum(shape, sigma, order=order, rng=12)
    assert not is_separable(k.astype(np.float32), order=order)
    assert is_separable(k.astype(np.float16), order=order)


def test_long_double_separable_kernel_is_separable():
    """Wider floats are computed in float64; they must not be judged with their own tiny eps."""
    k = separable((8, 3, 3, 3), seed=3).astype(np.longdouble)
    assert is_separable(k)
    assert is_separable(np.ones((2, 2, 2, 2), dtype=np.longdouble))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("rel", [1e-2, 1e-5, 0.3])
def test_rtol_mode_is_relative_distance_bound(order, rel):
    sigma = np.array([1.0, rel, 0.0, 0.0])
    shape = (6, 3, 2, 2) if order == "dw-pw" else (3, 6, 2, 2)
    k = kernel_with_spectrum(shape, sigma / math.sqrt(1 + rel**2), order=order, rng=5)
    want = rel / math.sqrt(1 + rel**2)
    assert analyze(k, order=order).relative_distance == pytest.approx(want, rel=1e-9, abs=0)
    above = analyze(k, order=order, rtol=want * (1 + 1e-6))
    below = analyze(k, order=order, rtol=want * (1 - 1e-6))
    assert above.separable and not below.separable
    assert above.criterion == "rtol" and above.tolerance == want * (1 + 1e-6)
    assert not above.exact
    assert is_separable(k, order=order, rtol=1.0)
    assert not is_separable(k, order=order, rtol=0.0)


@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_rtol_verdict_equals_comparison(seed, rtol):
    k = np.random.default_rng(seed).normal(size=(3, 2, 2, 2))
    result = analyze(k, rtol=rtol)
    assert result.separable == (result.relative_distance <= rtol)


def test_rtol_on_exact_kernel_is_not_an_exact_verdict():
    _, bad = int_pair()
    result = analyze(bad.astype(np.int64), rtol=0.5)
    assert result.separable and not result.exact and result.criterion == "rtol"
    assert not analyze(bad.astype(np.int64), rtol=0.0).separable


# ------------------------------------------------------------------ negative controls


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_entry_perturbed_is_rejected(layout, order, d, dtype):
    k = separable((6, 4, 3, 3), d, order, seed=21, low=1.0)
    assert is_separable(to_layout(k, layout).astype(dtype), layout=layout, order=order,
                        multiplier=d)
    bad = k.copy()
    relative = 1e-6 if dtype == np.float64 else 1e-3
    bad[3, 2, 1, 0] *= 1 + relative
    assert naive_ranks(bad, order, 1e-12)[2 if order == "dw-pw" else 3] > d  # premise
    got = analyze(to_layout(bad, layout).astype(dtype), layout=layout, order=order, multiplier=d)
    assert not got.separable
    assert got.min_multiplier == d + 1


@given(
    seed=st.integers(0, 2**32 - 1),
    where=st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(0, 2), st.integers(0, 3)),
    size=st.floats(1e-6, 1.0),
    sign=st.sampled_from([-1.0, 1.0]),
    order=st.sampled_from(ORDERS),
)
def test_random_perturbations_above_eps_are_rejected(seed, where, size, sign, order):
    k = separable((5, 3, 3, 4), order=order, seed=seed, low=1.0)
    assert is_separable(k, order=order)
    bad = k.copy()
    bad[where] += sign * size
    assert not is_separable(bad, order=order)
    assert analyze(bad, order=order).relative_distance > 0


def test_exact_integer_plus_one_is_rejected_exactly():
    good, bad = int_pair()
    a_good, a_bad = analyze(good.astype(np.int64)), analyze(bad.astype(np.int64))
    assert a_good.separable and a_good.exact
    assert not a_bad.separable and a_bad.exact and a_bad.criterion == "exact"
    assert a_bad.ranks.tolist() == [1, 2, 1]
    assert a_bad.relative_distance > 0


# ------------------------------------------------------------------ golden numbers


@pytest.mark.parametrize("order", ORDERS)
def test_golden_known_spectrum(order):
    sigma = np.array([[4.0, 3.0, 2.0, 1.0], [5.0, 0.0, 0.0, 0.0], [2.0, 2.0, 0.0, 0.0]])
    shape = (6, 3, 2, 2) if order == "dw-pw" else (3, 6, 2, 2)
    k = kernel_with_spectrum(shape, sigma, order=order, rng=0)
    for s, want in zip(naive_spectra(k, order), sigma, strict=True):  # the helper did what it says
        np.testing.assert_allclose(s, want, atol=1e-12)
    total = (sigma**2).sum()
    for d in (1, 2, 3, 4):
        result = analyze(k, order=order, multiplier=d)
        tail = (sigma[:, d:] ** 2).sum(axis=1)
        assert result.distance == pytest.approx(math.sqrt(tail.sum()), rel=RTOL64, abs=1e-12)
        assert result.relative_distance == pytest.approx(math.sqrt(tail.sum() / total),
                                                         rel=RTOL64, abs=1e-12)
        assert result.norm == pytest.approx(math.sqrt(total), rel=RTOL64, abs=0)
        np.testing.assert_allclose(result.energy_kept, 1 - tail / (sigma**2).sum(axis=1),
                                   rtol=RTOL64, atol=1e-12)
        assert result.ranks.tolist() == [4, 1, 2]
        assert result.min_multiplier == 4
        assert result.separable == (d >= 4)
        np.testing.assert_allclose(result.singular_values, sigma, atol=1e-12)


def test_golden_sqrt_values():
    k = kernel_with_spectrum((6, 2, 2, 2), [4.0, 3.0, 2.0, 1.0], rng=1)
    assert analyze(k).distance == pytest.approx(math.sqrt(28.0), rel=RTOL64, abs=0)
    assert analyze(k, multiplier=2).distance == pytest.approx(math.sqrt(10.0), rel=RTOL64, abs=0)
    assert analyze(k, multiplier=3).distance == pytest.approx(math.sqrt(2.0), rel=RTOL64, abs=0)
    assert analyze(k, multiplier=4).distance == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(analyze(k).energy_kept, [16 / 30, 16 / 30], rtol=RTOL64)


# ------------------------------------------------------------------ against the naive loop


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2, 3, 9])
@pytest.mark.parametrize("shape", [(16, 8, 3, 3), (3, 5, 3, 3), (4, 6, 2, 5), (9, 2, 1, 7)])
@pytest.mark.parametrize("seed", [0, 1])
def test_distance_equals_naive_reference(shape, d, order, seed):
    k = np.random.default_rng(seed).normal(size=shape)
    result = analyze(k, order=order, multiplier=d)
    ref = naive_distance(k, order, d)
    assert result.distance == pytest.approx(ref, rel=RTOL_REF, abs=1e-14)
    assert result.relative_distance == pytest.approx(ref / frob(k), rel=RTOL_REF, abs=1e-14)
    for got, want in zip(result.singular_values, naive_spectra(k, order), strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL_REF, atol=1e-13 * want[0])
    assert result.ranks.tolist() == naive_ranks(k, order, result.tolerance).tolist()


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("ratio", [1.0001e-3, 1.01e-3, 0.9999e-3, 0.5])
def test_distance_near_the_gram_switch(order, ratio):
    """Spectra just above and below the Gram/SVD switch (1e-3) agree with the naive SVD."""
    sigma = np.geomspace(1.0, ratio, 9)
    shape = (32, 4, 3, 3) if order == "dw-pw" else (4, 32, 3, 3)
    k = kernel_with_spectrum(shape, sigma, order=order, rng=9)
    for d in (1, 4, 8):
        ref = naive_distance(k, order, d)
        got = analyze(k, order=order, multiplier=d).distance
        assert got == pytest.approx(ref, rel=RTOL_REF, abs=0)


@pytest.mark.parametrize("order", ORDERS)
def test_chunking_gives_the_same_answer(order, monkeypatch):
    k = np.random.default_rng(4).normal(size=(5, 7, 2, 3))
    whole = analyze(k, order=order, multiplier=2)
    p_whole = nearest_separable(k, order=order)
    monkeypatch.setattr(separability, "_CHUNK_ENTRIES", 20)  # 1 or 2 slices per chunk
    chunked = analyze(k, order=order, multiplier=2)
    np.testing.assert_allclose(chunked.singular_values, whole.singular_values, rtol=RTOL64)
    assert chunked.distance == pytest.approx(whole.distance, rel=RTOL64, abs=0)
    np.testing.assert_allclose(nearest_separable(k, order=order), p_whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("ratio", [1e-10, 1e-13])
def test_near_separable_float64_is_not_lost_to_cancellation(order, ratio):
    shape = (16, 4, 3, 3) if order == "dw-pw" else (4, 16, 3, 3)
    k = kernel_with_spectrum(shape, [1.0, ratio] + [0.0] * 7, order=order, rng=13)
    result = analyze(k, order=order)
    assert not result.separable
    assert result.ranks.tolist() == naive_ranks(k, order, result.tolerance).tolist()
    assert result.min_multiplier == 2
    ref = naive_distance(k, order, 1)
    assert ref == pytest.approx(2 * ratio, rel=1e-2, abs=0)  # 4 slices, ratio each
    assert result.distance == pytest.approx(ref, rel=1e-9 if ratio > 1e-12 else 1e-3, abs=0)
    # far below the tolerance it is separable: the threshold is where it says it is
    k_sep = kernel_with_spectrum(shape, [1.0, 1e-17] + [0.0] * 7, order=order, rng=13)
    assert is_separable(k_sep, order=order)


# ------------------------------------------------------------------ decompose


def expected_factor_shapes(shape, order, d, layout):
    n, m, kh, kw = shape
    if order == "dw-pw":
        dw, pw = (m * d, 1, kh, kw), (n, m * d, 1, 1)
    else:
        dw, pw = (n, d, kh, kw), (n * d, m, 1, 1)
    return tuple(to_layout(np.empty(s), layout).shape for s in (dw, pw))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("shape", [(6, 3, 3, 3), (5, 4, 2, 3)])
def test_decompose_shapes_and_round_trip(shape, d, order, layout):
    k = separable(shape, d, order, seed=31)
    given_k = to_layout(k, layout)
    f = decompose(given_k, layout=layout, order=order, multiplier=d)
    assert (f.depthwise.shape, f.pointwise.shape) == expected_factor_shapes(shape, order, d,
                                                                             layout)
    assert f.order == order and f.layout == layout and f.multiplier == d
    assert f.groups == (shape[1] if order == "dw-pw" else shape[0])
    scale = frob(k)
    np.testing.assert_allclose(f.to_kernel(), given_k, rtol=0, atol=RTOL64 * scale)
    np.testing.assert_allclose(compose(f), k, rtol=0, atol=RTOL64 * scale)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("order", ORDERS)
def test_decompose_three_d(layout, order):
    k4 = separable((4, 3, 1, 5), 2, order, seed=32)
    k = to_layout(k4[:, :, 0, :], layout)
    f = decompose(k, layout=layout, order=order, multiplier=2)
    dw, pw = expected_factor_shapes((4, 3, 1, 5), order, 2, "OIHW")
    squeeze = [np.empty(s)[:, :, 0, :] for s in (dw, pw)]
    assert f.depthwise.shape == to_layout(squeeze[0], layout).shape
    assert f.pointwise.shape == to_layout(squeeze[1], layout).shape
    np.testing.assert_allclose(f.to_kernel(), k, rtol=0, atol=RTOL64 * frob(k))
    np.testing.assert_allclose(compose(f), k4[:, :, 0, :], rtol=0, atol=RTOL64 * frob(k))


@pytest.mark.parametrize("order", ORDERS)
def test_decompose_refuses_non_separable(order):
    k = np.random.default_rng(8).normal(size=(4, 3, 3, 3))
    rel = analyze(k, order=order).relative_distance
    with pytest.raises(NotSeparableError) as info:
        decompose(k, order=order)
    assert isinstance(info.value, FactorcheckError)
    assert info.value.relative_distance == rel
    assert f"{rel:.3e}" in str(info.value)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2])
def test_approximate_factors_give_the_nearest(layout, order, d):
    k = to_layout(np.random.default_rng(9).normal(size=(5, 4, 3, 2)), layout)
    f = decompose(k, layout=layout, order=order, multiplier=d, approximate=True)
    p = nearest_separable(k, layout=layout, order=order, multiplier=d)
    np.testing.assert_allclose(f.to_kernel(), p, rtol=0, atol=RTOL64 * frob(k))
    assert frob(f.to_kernel() - k) == pytest.approx(
        analyze(k, layout=layout, order=order, multiplier=d).distance, rel=1e-9, abs=0)


def test_approximate_on_separable_kernel_is_the_kernel():
    k = separable((4, 3, 3, 3), seed=5)
    f = decompose(k, approximate=True)
    np.testing.assert_allclose(f.to_kernel(), k, rtol=0, atol=RTOL64 * frob(k))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2])
def test_exact_kernels_give_exact_factors(order, d):
    rng = np.random.default_rng(6)
    n, m, kh, kw = 4, 3, 2, 3
    count, rows = (m, n) if order == "dw-pw" else (n, m)
    mu, b = rng.integers(-3, 4, (rows, count, d)), rng.integers(-3, 4, (count, d, kh, kw))
    k = (np.einsum("ijr,jrhw->ijhw", mu, b) if order == "dw-pw"
         else np.einsum("jir,irhw->ijhw", mu, b))
    kf = np.vectorize(lambda v: Fraction(int(v), 3), otypes=[object])(k)
    for kernel in (k, kf):
        f = decompose(kernel, order=order, multiplier=d)
        assert f.depthwise.dtype == object and f.pointwise.dtype == object
        assert all(isinstance(v, Fraction) for v in f.depthwise.flat)
        assert all(isinstance(v, Fraction) for v in f.pointwise.flat)
        assert (f.to_kernel() == kernel).all()
        assert (compose(f) == kernel).all()


def test_exact_kernel_with_rtol_decomposes():
    """An exact kernel judged separable by rtol must give (approximate) factors, not crash."""
    _, bad = int_pair()
    ints = bad.astype(np.int64)
    f = decompose(ints, rtol=0.5)
    np.testing.assert_allclose(f.to_kernel(), nearest_separable(ints), rtol=0, atol=1e-12 * 30)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_decompose_keeps_float_dtype(dtype):
    k = separable((4, 3, 3, 3), seed=10).astype(dtype)
    f = decompose(k)
    assert f.depthwise.dtype == dtype and f.pointwise.dtype == dtype
    np.testing.assert_allclose(f.to_kernel().astype(np.float64), k.astype(np.float64),
                               rtol=0, atol=10 * EPS[dtype] * frob(k))


# ------------------------------------------------------------------ nearest_separable


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, object])
def test_nearest_shape_layout_dtype_separable_distance(layout, order, d, dtype):
    rng = np.random.default_rng(12)
    k = to_layout(rng.integers(-5, 6, (5, 4, 3, 2)), layout)
    if dtype is object:
        k = np.vectorize(lambda v: Fraction(int(v), 2), otypes=[object])(k)
    else:
        k = k.astype(dtype)
    p = nearest_separable(k, layout=layout, order=order, multiplier=d)
    want_dtype = dtype if dtype in (np.float64, np.float32, np.float16) else np.float64
    assert p.shape == k.shape and p.dtype == want_dtype
    assert is_separable(p, layout=layout, order=order, multiplier=d)
    result = analyze(k, layout=layout, order=order, multiplier=d)
    k64 = k.astype(np.float64)
    rel = 1e-9 if want_dtype == np.float64 else 1e3 * EPS[want_dtype]
    assert frob(k64 - p.astype(np.float64)) == pytest.approx(result.distance, rel=rel,
                                                             abs=rel * frob(k64))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearest_is_idempotent(order, dtype):
    k = np.random.default_rng(13).normal(size=(6, 4, 3, 3)).astype(dtype)
    p = nearest_separable(k, order=order, multiplier=2)
    pp = nearest_separable(p, order=order, multiplier=2)
    np.testing.assert_allclose(pp, p, rtol=0, atol=50 * EPS[dtype] * frob(p))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [1, 2])
def test_eckart_young_no_separable_kernel_is_closer(order, d):
    rng = np.random.default_rng(14)
    k = rng.normal(size=(5, 4, 3, 3))
    p = nearest_separable(k, order=order, multiplier=d)
    best = frob(k - p)
    f = decompose(k, order=order, multiplier=d, approximate=True)
    for trial in range(60):  # random competitors, near and far
        if trial % 2:
            q = separable(k.shape, d, order, seed=100 + trial)
            q *= frob(p) / frob(q)
        else:  # nudge the optimal factors: a separable kernel close to p
            noise = 10.0 ** rng.uniform(-6, -1)
            dw = f.depthwise + noise * rng.normal(size=f.depthwise.shape)
            pw = f.pointwise + noise * rng.normal(size=f.pointwise.shape)
            q = type(f)(dw, pw, f.order, f.layout, f.multiplier, f.groups).to_kernel()
            assert is_separable(q, order=order, multiplier=d, rtol=None)
        assert frob(k - q) >= best * (1 - 1e-12)


def test_nearest_of_exact_non_separable_equals_nearest_of_floats():
    _, bad = int_pair()
    np.testing.assert_allclose(nearest_separable(bad.astype(np.int64)), nearest_separable(bad),
                               rtol=0, atol=1e-12 * frob(bad))


def test_nearest_of_huge_exact_kernel_is_a_clear_error_or_a_number():
    good, _ = int_pair()
    huge = good.astype(np.int64).astype(object) * 10**309  # beyond float64
    try:
        p = nearest_separable(huge)
    except FactorcheckError:
        return
    assert np.all(np.isfinite(p))
