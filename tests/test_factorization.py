"""Tests of the block factorization, the rank-one theorem and the dimension count."""

from __future__ import annotations

import random

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from factorcheck.errors import FactorcheckError
from factorcheck.symbolic.factorization import (
    column_matrix,
    compose_depthwise_pointwise,
    compose_pointwise_depthwise,
    factor_rank_one_column,
    factor_symbols,
    jacobian_rank,
    kernel_symbols,
    rank_decomposition,
    special_product,
    two_by_two_minors,
    unfold,
)
from factorcheck.symbolic.theorem import (
    block_factorization_proof,
    decomposition_terms_proof,
    dimension_count_proof,
    theorem_proof,
)


@pytest.mark.parametrize(("n", "m", "s"), [(1, 1, 1), (2, 3, 2), (3, 2, 3), (4, 1, 2)])
def test_special_product_is_the_composed_kernel(n, m, s):
    mus, bs = factor_symbols(n, m, s)
    product = unfold(special_product(mus[0], bs[0]))
    composed = compose_depthwise_pointwise(mus, bs, s)
    assert sympy.simplify(product - composed) == sympy.zeros(n, m * s * s)
    # entry (i, j, a, b) is mu_ij * b_j[a, b]
    assert product[n - 1, (m - 1) * s * s] == mus[0][n - 1, m - 1] * bs[0][m - 1][0, 0]


@pytest.mark.parametrize(("n", "m", "s"), [(2, 2, 2), (3, 2, 2), (2, 1, 3)])
def test_minors_of_separable_columns_vanish(n, m, s):
    mus, bs = factor_symbols(n, m, s)
    unfolded = unfold(special_product(mus[0], bs[0]))
    for j in range(m):
        for minor in two_by_two_minors(column_matrix(unfolded, j, s)):
            assert sympy.expand(minor) == 0


def test_negative_control_generic_column_has_nonzero_minor():
    column = column_matrix(unfold(kernel_symbols(2, 1, 2)), 0, 2)
    minors = [sympy.expand(minor) for minor in two_by_two_minors(column)]
    assert any(minor != 0 for minor in minors)


@given(u=st.lists(st.integers(-9, 9), min_size=3, max_size=3),
       v=st.lists(st.integers(-9, 9), min_size=4, max_size=4))
def test_rank_one_column_round_trip(u, v):
    column = sympy.Matrix(u) * sympy.Matrix([v])
    if column.rank() != 1:
        with pytest.raises(FactorcheckError, match="expected rank 1"):
            factor_rank_one_column(column, 2)
        return
    mu, b = factor_rank_one_column(column, 2)
    assert unfold(special_product(mu, [b])) == column


def test_rank_one_rejects_rank_two_and_bad_shape():
    with pytest.raises(FactorcheckError, match="got rank 2"):
        factor_rank_one_column(sympy.Matrix([[1, 0, 0, 0], [0, 1, 0, 0]]), 2)
    with pytest.raises(FactorcheckError, match="expected 4 columns"):
        factor_rank_one_column(sympy.Matrix([[1, 0, 0]]), 2)


@pytest.mark.parametrize(("n", "m", "s"), [(2, 2, 2), (3, 1, 2), (2, 2, 3), (1, 2, 2)])
def test_jacobian_rank_is_m_times_n_plus_s2_minus_1(n, m, s):
    assert jacobian_rank(n, m, s, seed=7) == m * (n + s * s - 1)


def test_codimension_identity():
    n, m, s = sympy.symbols("n m s", positive=True, integer=True)
    assert sympy.simplify(n * m * s**2 - m * (n + s**2 - 1) - m * (n - 1) * (s**2 - 1)) == 0


def test_rank_decomposition_reconstructs_random_kernel():
    rng = random.Random(0)
    a = sympy.Matrix(4, 9, lambda i, j: rng.randint(-5, 5))
    c, r = rank_decomposition(a)
    assert c * r == a and c.shape[1] == a.rank() == 4


def test_pointwise_then_depthwise_is_rank_one_per_row():
    mus, _ = factor_symbols(3, 2, 2)
    _, bs = factor_symbols(1, 3, 2)  # one depthwise kernel per *output* channel
    composed = compose_pointwise_depthwise(mus[0], bs[0], 2)
    with pytest.raises(FactorcheckError, match="expected 3 depthwise kernels"):
        compose_pointwise_depthwise(mus[0], bs[0][:2], 2)
    for i in range(3):
        row = sympy.Matrix(2, 4, list(composed[i, :]))
        assert all(sympy.expand(minor) == 0 for minor in two_by_two_minors(row))


def test_multiplier_two_gives_rank_two_not_one():
    mus, bs = factor_symbols(3, 1, 2, multiplier=2)
    column = column_matrix(compose_depthwise_pointwise(mus, bs, 2), 0, 2)
    assert any(sympy.expand(minor) != 0 for minor in two_by_two_minors(column))
    point = {x: rng_value for x, rng_value in zip(sorted(column.free_symbols, key=str),
                                                  range(2, 100), strict=False)}
    assert column.xreplace(point).rank() == 2


def test_bad_sizes():
    with pytest.raises(FactorcheckError, match="n: expected an int >= 1, got 0"):
        kernel_symbols(0, 1, 1)
    mus, bs = factor_symbols(2, 2, 1)
    with pytest.raises(FactorcheckError, match="expected 2 depthwise kernels"):
        special_product(mus[0], bs[0][:1])


@pytest.mark.parametrize("proof", [block_factorization_proof, theorem_proof,
                                   dimension_count_proof, decomposition_terms_proof])
def test_factorization_proofs_verify(proof):
    result = proof()
    assert result.ok
    assert all(step.status.value == "verified" for d in result.derivations for step in d.steps)
