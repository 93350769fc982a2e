"""Tests of exact ranks and factors, against SymPy, and of exact kernels through the public API."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from factorcheck import NotSeparableError, analyze, decompose, is_separable
from factorcheck.exact import exact_factors, exact_rank


def sympy_rank(matrix) -> int:
    return sympy.Matrix([[sympy.Rational(x.numerator, x.denominator) if isinstance(x, Fraction)
                          else sympy.Integer(int(x)) for x in row] for row in matrix]).rank()


def as_object(rows) -> np.ndarray:
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            out[i, j] = v
    return out


def matmul_exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product with Python arithmetic only (no dtype surprises)."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=object)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = sum((a[i, k] * b[k, j] for k in range(a.shape[1])), Fraction(0))
    return out


small_ints = st.integers(-3, 3)
fractions = st.builds(Fraction, st.integers(-4, 4), st.integers(1, 4))


@st.composite
def matrices(draw, elements=small_ints):
    """A random matrix; half the time a product of thinner ones, so low rank is common."""
    rows, cols = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    if draw(st.booleans()):
        r = draw(st.integers(0, min(rows, cols)))
        left = [[draw(elements) for _ in range(r)] for _ in range(rows)]
        right = [[draw(elements) for _ in range(cols)] for _ in range(r)]
        a = [[sum((left[i][k] * right[k][j] for k in range(r)), 0 * draw(elements))
              for j in range(cols)] for i in range(rows)]
    else:
        a = [[draw(elements) for _ in range(cols)] for _ in range(rows)]
    return as_object(a)


# ------------------------------------------------------------------ exact_rank


@given(matrices())
def test_exact_rank_of_integers_equals_sympy(a):
    assert exact_rank(a) == sympy_rank(a)
    assert exact_rank(a.astype(np.int64)) == sympy_rank(a)


@given(matrices(fractions))
def test_exact_rank_of_fractions_equals_sympy(a):
    assert exact_rank(a) == sympy_rank(a)


@given(matrices(st.integers(-(10**30), 10**30)))
def test_exact_rank_of_huge_integers_equals_sympy(a):
    assert exact_rank(a) == sympy_rank(a)


def test_exact_rank_sees_what_float64_cannot():
    big = 10**30
    a = as_object([[big, big + 1], [big, big]])
    assert np.linalg.matrix_rank(a.astype(np.float64)) == 1  # the float view is wrong
    assert exact_rank(a) == 2 == sympy_rank(a)
    u, v = [10**15 + 1, 3 * 10**15, 7], [10**15, -(10**15) + 3, 5, 1]
    rank_one = as_object([[x * y for y in v] for x in u])
    assert exact_rank(rank_one) == 1
    rank_one[2, 3] += 1
    assert exact_rank(rank_one) == 2


@pytest.mark.parametrize(
    "rows, want",
    [
        ([[0, 0], [0, 0]], 0),
        ([[0, 1, 2], [0, 2, 4], [0, 0, 0]], 1),
        ([[0, 0, 1], [1, 0, 0]], 2),
        ([[1, 2, 3], [2, 4, 6], [1, 0, 0]], 2),
        ([[Fraction(1, 3), Fraction(2, 3)], [1, 2]], 1),
        ([[5]], 1),
        ([[0]], 0),
    ],
)
def test_exact_rank_golden(rows, want):
    assert exact_rank(as_object(rows)) == want


# ------------------------------------------------------------------ exact_factors


@given(matrices(fractions), st.integers(0, 2))
def test_exact_factors_reconstruct_exactly(a, extra):
    r = exact_rank(a)
    c, rr = exact_factors(a, r + extra)
    assert c.shape == (a.shape[0], r + extra) and rr.shape == (r + extra, a.shape[1])
    assert all(isinstance(x, Fraction) for x in np.concatenate([c.ravel(), rr.ravel()]))
    assert (matmul_exact(c, rr) == a).all()


@given(matrices(st.integers(-(10**30), 10**30)))
def test_exact_factors_of_huge_integers(a):
    c, r = exact_factors(a, exact_rank(a))
    assert (matmul_exact(c, r) == a).all()


@given(matrices())
def test_exact_factors_refuse_too_few_terms(a):
    r = exact_rank(a)
    if r == 0:
        return
    with pytest.raises(ValueError, match=f"rank {r}"):
        exact_factors(a, r - 1)


# ------------------------------------------------------------------ exact kernels via the API


@given(st.integers(0, 2**32 - 1), st.sampled_from(["dw-pw", "pw-dw"]))
def test_kernel_ranks_equal_sympy_slice_ranks(seed, order):
    rng = np.random.default_rng(seed)
    k = rng.integers(-2, 3, size=(3, 4, 2, 2))
    k[:, rng.integers(0, 4)] = np.outer(rng.integers(-2, 3, 3), rng.integers(-2, 3, 4)).reshape(
        3, 2, 2)
    result = analyze(k, order=order)
    slices = ([k[:, j].reshape(3, 4) for j in range(4)] if order == "dw-pw"
              else [k[i].reshape(4, 4) for i in range(3)])
    want = [sympy.Matrix(s.tolist()).rank() for s in slices]
    assert result.ranks.tolist() == want
    assert result.separable == (max(want) <= 1)
    assert result.exact


def test_huge_integer_kernel_is_decided_exactly():
    """Entries near 10**30 with a +1 perturbation: float64 cannot see it, the exact path must."""
    u = np.array([10**15 + 1, 3 * 10**15, 7, 2], dtype=object)
    b = np.array([10**15, -(10**15) + 3, 5, 1], dtype=object).reshape(1, 2, 2)
    k = np.empty((4, 1, 2, 2), dtype=object)
    for i in range(4):
        k[i, 0] = u[i] * b[0]
    assert is_separable(k)
    f = decompose(k)
    assert (f.to_kernel() == k).all()
    bad = k.copy()
    bad[1, 0, 1, 1] += 1
    assert is_separable(bad.astype(np.float64))  # control: float64 cannot see the +1
    result = analyze(bad)
    assert not result.separable and result.exact
    assert result.ranks.tolist() == [2]


def test_not_separable_exact_kernel_reports_its_true_distance():
    """Exact entries that collide in float64: the distance must not be float rounding noise."""
    big = 10**30
    k = np.empty((2, 1, 1, 2), dtype=object)
    k[0, 0, 0] = [big, big + 1]
    k[1, 0, 0] = [big, big]
    with mpmath.workdps(80):
        sigma = mpmath.svd_r(mpmath.matrix([[big, big + 1], [big, big]]), compute_uv=False)
        want = float(min(sigma) / mpmath.sqrt(sum(s**2 for s in sigma)))
    assert want == pytest.approx(2.5e-31, rel=1e-6, abs=0)  # sigma_2 ~ 1/2, norm ~ 2e30
    result = analyze(k)
    assert not result.separable
    assert result.relative_distance == pytest.approx(want, rel=1e-6, abs=0)
    with pytest.raises(NotSeparableError) as info:
        decompose(k)
    assert info.value.relative_distance == pytest.approx(want, rel=1e-6, abs=0)


def test_tiny_fraction_kernel_keeps_its_relative_distance():
    """Scaling an exact kernel by 10**-400 changes nothing but float64 cannot hold the entries."""
    ints = np.array([[[[1, 2], [3, 4]]], [[[5, 6], [7, 9]]]])
    tiny = np.vectorize(lambda v: Fraction(int(v), 10**400), otypes=[object])(ints)
    ref, got = analyze(ints), analyze(tiny)
    assert not got.separable and got.exact
    assert got.relative_distance == pytest.approx(ref.relative_distance, rel=1e-9, abs=0)


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
def test_fraction_kernel_factors_are_exact(order):
    rng = np.random.default_rng(3)

    def frac():
        return Fraction(int(rng.integers(-5, 6)), int(rng.integers(1, 7)))

    n, m = 4, 3
    mu = [[frac() for _ in range(m)] for _ in range(n)]
    b = [[frac() for _ in range(6)] for _ in range(n if order == "pw-dw" else m)]
    k = np.empty((n, m, 2, 3), dtype=object)
    for i in range(n):
        for j in range(m):  # dw-pw: k_ij = mu_ij b_j; pw-dw: k_ij = mu_ij b_i
            spatial = b[j] if order == "dw-pw" else b[i]
            k[i, j] = np.array([mu[i][j] * x for x in spatial], dtype=object).reshape(2, 3)
    result = analyze(k, order=order)
    assert result.separable and result.exact
    f = decompose(k, order=order)
    assert (f.to_kernel() == k).all()
    assert all(type(x) is Fraction for x in f.depthwise.flat)
    assert all(type(x) is Fraction for x in f.pointwise.flat)
    bad = k.copy()
    bad[1, 2, 0, 0] += Fraction(1, 10**40)
    assert not is_separable(bad, order=order)
