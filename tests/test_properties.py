"""Property tests (Hypothesis, derandomized by the profile in conftest.py)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from factorcheck import FactorcheckError, analyze, decompose, nearest_separable

RTOL64 = 1e-12
RTOL_SCALE = 1e-9  # relative distance after rounding c*K, relative to 1
ORDERS = st.sampled_from(["dw-pw", "pw-dw"])
LAYOUT = st.sampled_from(["OIHW", "HWIO", "OHWI"])


def frob(a) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64).ravel()))


@st.composite
def int_kernels(draw, max_side=3):
    """Small integer-valued float64 kernels, often low rank per slice.

    With integer entries every non-zero (d+1)-minor is at least 1, so a slice is
    either exactly of rank <= d or far above the tolerance: verdicts are robust.
    """
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = rng.integers(-3, 4, size=shape)
    if draw(st.booleans()):  # make it dw-pw or pw-dw separable, then maybe poke it
        n, m, kh, kw = shape
        if draw(st.booleans()):
            k = np.einsum("ij,jhw->ijhw", rng.integers(-3, 4, (n, m)),
                          rng.integers(-3, 4, (m, kh, kw)))
        else:
            k = np.einsum("ij,ihw->ijhw", rng.integers(-3, 4, (n, m)),
                          rng.integers(-3, 4, (n, kh, kw)))
        if draw(st.booleans()):
            k[tuple(rng.integers(0, s) for s in shape)] += 1
    return k.astype(np.float64)


gaussian = st.builds(
    lambda shape, seed: np.random.default_rng(seed).normal(size=shape),
    st.tuples(*[st.integers(1, 4)] * 4), st.integers(0, 2**32 - 1),
)
multipliers = st.integers(1, 3)


# ------------------------------------------------------------------ scale invariance


def assert_same_analysis(a, b, rel_scale=1.0):
    assert a.separable == b.separable
    np.testing.assert_array_equal(a.ranks, b.ranks)
    assert a.min_multiplier == b.min_multiplier
    assert a.relative_distance == pytest.approx(b.relative_distance, rel=RTOL_SCALE, abs=1e-14)
    np.testing.assert_allclose(a.energy_kept, b.energy_kept, rtol=RTOL_SCALE, atol=1e-14)
    np.testing.assert_allclose(a.singular_values, b.singular_values * rel_scale,
                               rtol=RTOL_SCALE, atol=1e-13 * abs(rel_scale) * (b.norm or 1))


@given(int_kernels(), st.integers(-60, 60), st.sampled_from([1.0, -1.0]), ORDERS, multipliers)
def test_scale_invariance_powers_of_two(k, exponent, sign, order, d):
    c = sign * 2.0**exponent
    a, b = analyze(c * k, order=order, multiplier=d), analyze(k, order=order, multiplier=d)
    assert_same_analysis(a, b, abs(c))
    assert a.distance == pytest.approx(abs(c) * b.distance, rel=RTOL_SCALE, abs=0)


@given(int_kernels(), st.floats(1e-3, 1e3), st.sampled_from([1.0, -1.0]), ORDERS, multipliers)
def test_scale_invariance_random_factors(k, c, sign, order, d):
    c *= sign
    a, b = analyze(c * k, order=order, multiplier=d), analyze(k, order=order, multiplier=d)
    assert_same_analysis(a, b, abs(c))


@given(gaussian, st.floats(1e-3, 1e3), ORDERS, multipliers)
def test_scale_invariance_of_distance_on_random_kernels(k, c, order, d):
    a, b = analyze(c * k, order=order, multiplier=d), analyze(k, order=order, multiplier=d)
    assert a.relative_distance == pytest.approx(b.relative_distance, rel=RTOL_SCALE, abs=1e-15)
    assert a.distance == pytest.approx(c * b.distance, rel=RTOL_SCALE, abs=1e-15 * c * b.norm)


@given(int_kernels(), st.fractions(min_value=Fraction(-100), max_value=Fraction(100)), ORDERS,
       multipliers)
def test_exact_scale_invariance(k, c, order, d):
    if c == 0:
        return
    ints = k.astype(np.int64)
    scaled = np.vectorize(lambda v: Fraction(int(v)) * c, otypes=[object])(ints)
    a, b = analyze(scaled, order=order, multiplier=d), analyze(ints, order=order, multiplier=d)
    assert a.exact and b.exact
    assert a.separable == b.separable
    np.testing.assert_array_equal(a.ranks, b.ranks)


# ------------------------------------------------------------------ transpose of roles


@given(gaussian | int_kernels(), multipliers, st.sampled_from([None, 0.1]))
def test_pw_dw_is_dw_pw_of_the_transpose(k, d, rtol):
    a = analyze(k, order="pw-dw", multiplier=d, rtol=rtol)
    b = analyze(k.transpose(1, 0, 2, 3), order="dw-pw", multiplier=d, rtol=rtol)
    assert a.shape == (b.shape[1], b.shape[0], *b.shape[2:])
    for field in ("separable", "exact", "criterion", "tolerance", "min_multiplier", "dtype",
                  "multiplier", "layout"):
        assert getattr(a, field) == getattr(b, field), field
    np.testing.assert_array_equal(a.ranks, b.ranks)
    for field in ("distance", "relative_distance", "norm"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=RTOL64, abs=0), field
    np.testing.assert_allclose(a.singular_values, b.singular_values, rtol=RTOL64,
                               atol=RTOL64 * (a.norm or 1))
    np.testing.assert_allclose(a.energy_kept, b.energy_kept, rtol=RTOL64, atol=RTOL64)


@given(gaussian, multipliers)
def test_pw_dw_factors_are_dw_pw_factors_of_the_transpose(k, d):
    f = decompose(k, order="pw-dw", multiplier=d, approximate=True)
    g = decompose(k.transpose(1, 0, 2, 3), order="dw-pw", multiplier=d, approximate=True)
    np.testing.assert_allclose(f.to_kernel(), g.to_kernel().transpose(1, 0, 2, 3), rtol=0,
                               atol=RTOL64 * max(frob(k), 1e-300))
    np.testing.assert_allclose(
        nearest_separable(k, order="pw-dw", multiplier=d),
        nearest_separable(k.transpose(1, 0, 2, 3), multiplier=d).transpose(1, 0, 2, 3),
        rtol=0, atol=RTOL64 * frob(k))


# ------------------------------------------------------------------ projection


@given(gaussian | int_kernels(), ORDERS, multipliers, LAYOUT)
def test_nearest_is_idempotent_and_separable(k, order, d, layout):
    perm = [("OIHW").index(c) for c in layout]
    k = k.transpose(perm)
    p = nearest_separable(k, layout=layout, order=order, multiplier=d)
    result = analyze(p, layout=layout, order=order, multiplier=d)
    assert result.separable
    np.testing.assert_allclose(nearest_separable(p, layout=layout, order=order, multiplier=d), p,
                               rtol=0, atol=1e-11 * max(frob(p), 1e-300))
    # p is the projection: the distance reported for k is ||k - p||
    dist = analyze(k, layout=layout, order=order, multiplier=d).distance
    assert frob(k - p) == pytest.approx(dist, rel=1e-9, abs=1e-13 * frob(k))
    # and the residual is orthogonal to p (a property of the Eckart-Young projection)
    assert abs(float(np.vdot(k - p, p))) <= 1e-10 * max(frob(k) ** 2, 1e-300)


@given(gaussian | int_kernels(), ORDERS, multipliers, LAYOUT)
def test_factor_round_trip(k, order, d, layout):
    perm = [("OIHW").index(c) for c in layout]
    k = k.transpose(perm)
    p = nearest_separable(k, layout=layout, order=order, multiplier=d)
    f = decompose(p, layout=layout, order=order, multiplier=d, approximate=True)
    np.testing.assert_allclose(f.to_kernel(), p, rtol=0, atol=1e-11 * max(frob(p), 1e-300))
    direct = decompose(k, layout=layout, order=order, multiplier=d, approximate=True)
    np.testing.assert_allclose(direct.to_kernel(), p, rtol=0, atol=1e-11 * max(frob(k), 1e-300))


@given(int_kernels(), ORDERS, multipliers)
def test_exact_factor_round_trip(k, order, d):
    ints = k.astype(np.int64)
    result = analyze(ints, order=order, multiplier=d)
    if not result.separable:
        with pytest.raises(FactorcheckError):
            decompose(ints, order=order, multiplier=d)
        return
    f = decompose(ints, order=order, multiplier=d)
    assert f.depthwise.dtype == object
    assert (f.to_kernel() == ints).all()


# ------------------------------------------------------------------ anything at all


any_dtype = st.one_of(
    hnp.floating_dtypes(sizes=(16, 32, 64, 128)), hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(), hnp.boolean_dtypes(), hnp.complex_number_dtypes(),
)
any_array = hnp.arrays(any_dtype, hnp.array_shapes(min_dims=0, max_dims=5, min_side=0,
                                                   max_side=3))


huge_or_tiny = st.one_of(
    st.builds(lambda s, e: s * 10**e, st.integers(1, 9), st.sampled_from([30, 299, 305, 400])),
    st.builds(Fraction, st.integers(1, 9), st.sampled_from([10**30, 10**310, 10**400])),
)
any_object = st.one_of(
    st.integers(-5, 5), huge_or_tiny, st.fractions(), st.floats(), st.none(), st.booleans(),
    st.text(max_size=2), st.complex_numbers(),
)


@st.composite
def object_arrays(draw):
    """Object arrays of Python values, some numbers, some not, some beyond float64."""
    shape = draw(hnp.array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=2))
    numbers_only = st.one_of(huge_or_tiny, st.integers(-5, 5), st.fractions())
    pool = numbers_only if draw(st.booleans()) else any_object
    values = draw(st.lists(pool, min_size=1, max_size=3))
    picks = draw(st.lists(st.integers(0, len(values) - 1), min_size=int(np.prod(shape)),
                          max_size=int(np.prod(shape))))
    out = np.empty(int(np.prod(shape)), dtype=object)
    for i, j in enumerate(picks):
        out[i] = values[j]
    return out.reshape(shape)


@given(any_array | object_arrays(), ORDERS, st.integers(-1, 3), LAYOUT)
def test_arbitrary_arrays_give_a_result_or_a_clear_error(array, order, d, layout):
    for call in (
        lambda: analyze(array, layout=layout, order=order, multiplier=d),
        lambda: decompose(array, layout=layout, order=order, multiplier=d, approximate=True),
        lambda: nearest_separable(array, layout=layout, order=order, multiplier=d),
    ):
        with np.errstate(all="ignore"):
            try:
                out = call()
            except FactorcheckError as err:
                assert str(err)
                continue
        if hasattr(out, "relative_distance"):  # an Analysis: never a silent nonsense number
            assert 0.0 <= out.relative_distance <= 1.0 + 1e-12
            assert math.isfinite(out.relative_distance)
            assert np.all((out.energy_kept >= -1e-12) & (out.energy_kept <= 1 + 1e-12))
