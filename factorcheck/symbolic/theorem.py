"""Proofs about the factorization ``K = M · Λ(b)``: which kernels are separable, and how many.

Each function returns a :class:`~factorcheck.symbolic.derivation.Proof` whose
derivations SymPy has checked; the heavy lifting is in
:mod:`factorcheck.symbolic.factorization`.
"""

from __future__ import annotations

import random

import sympy

from factorcheck.symbolic.derivation import Proof, derive
from factorcheck.symbolic.factorization import (
    column_matrix,
    depthwise_pointwise_outputs,
    factor_rank_one_column,
    factor_symbols,
    jacobian_rank,
    kernel_symbols,
    pointwise_depthwise_outputs,
    rank_decomposition,
    two_by_two_minors,
    unfold,
)
from factorcheck.symbolic.text import Math, text

__all__ = [
    "block_factorization_proof",
    "decomposition_terms_proof",
    "dimension_count_proof",
    "theorem_proof",
]

_POS = {"positive": True, "integer": True}


def _random_int_matrix(rows: int, cols: int, seed: int) -> sympy.ImmutableMatrix:
    rng = random.Random(seed)
    return sympy.ImmutableMatrix(rows, cols, lambda i, j: rng.randint(-9, 9))


def _sizes(**sizes: int) -> Math:
    """``n = 2, m = 2, s = 2`` as one formula."""
    shown = ", ".join(f"{name} = {value}" for name, value in sizes.items())
    return Math(shown, shown)


#: Notation used in the prose, each written once.
K_FACTORED = Math(r"K = M \cdot \Lambda(b)", "K = M·Λ(b)")
BLOCK = Math(r"k_{ij} = \mu_{ij} b_j", "k_ij = μ_ij b_j")
MU_IJ, B_J = Math(r"\mu_{ij}", "μ_ij"), Math("b_j", "b_j")
A_J = Math("A_j", "A_j")
COLUMN_SHAPE = Math(r"n \times s^2", "n × s²")
LAMBDA_B = Math(r"\Lambda(b)", "Λ(b)")
PARAMETRIZATION = Math(r"(\mu, b) \mapsto \mu_{ij} b_j", "(μ, b) ↦ μ_ij b_j")
RANK_ONE = Math(r"\operatorname{rank} A_j \leq 1", "rank A_j ≤ 1")


def _block_product() -> tuple:
    """``(mu_ij I) Lambda(b)`` multiplied block by block, for n = m = 2 and s x s blocks."""
    s = 2
    mu = factor_symbols(2, 2, s)[0][0]
    b = [sympy.MatrixSymbol(f"b_{{{j + 1}}}", s, s) for j in range(2)]
    zero, eye = sympy.ZeroMatrix(s, s), sympy.Identity(s)
    lam = sympy.BlockMatrix([[b[0], zero], [zero, b[1]]])
    weights = sympy.BlockMatrix([[mu[i, j] * eye for j in range(2)] for i in range(2)])
    product = derive(
        text("the special product ", K_FACTORED, " as a block-matrix product (",
             _sizes(n=2, m=2), ", blocks of size ", Math(r"s \times s", "s × s"), ")"),
        sympy.MatMul(weights, lam),
        [(sympy.BlockMatrix([[mu[i, j] * b[j] for j in range(2)] for i in range(2)]),
          text("multiply block by block: ", LAMBDA_B, " is block-diagonal"))],
    )
    mus, bs = factor_symbols(1, 1, s)
    (output,) = depthwise_pointwise_outputs(mus, bs, s)
    composed = derive(
        text("depthwise then pointwise on an input patch ", Math("x_j[p,q]", "x_j[p,q]"),
             ": output ", Math("y_1", "y₁"), " (", _sizes(m=1, s=2), ")"),
        output,
        [(sympy.expand(output), text("expand: the coefficient of ", Math("x_j[p,q]", "x_j[p,q]"),
                                     " is ", Math(r"\mu_{1j} b_j[p,q]", "μ_1j b_j[p,q]")))],
    )
    return product, composed


def block_factorization_proof() -> Proof:
    """``M . Lambda(b)`` of equation (3) is the kernel of depthwise-then-pointwise.

    Examples
    --------
    >>> block_factorization_proof().ok
    True
    """
    return Proof(
        name="block_factorization",
        title=text("Block factorization ", K_FACTORED),
        summary=text(
            "The special product of equation (3), computed as a block-matrix product with the "
            "block-diagonal ", LAMBDA_B, ", has blocks ", Math(r"\mu_{ij} b_j", "μ_ij b_j"),
            ". Composing a depthwise and a pointwise convolution on a symbolic input patch and "
            "reading off the coefficient of every input value gives the same kernel ", BLOCK,
            ", entry by entry."
        ),
        derivations=_block_product(),
    )


def _forward():
    mu_i, mu_k = sympy.Symbol(r"\mu_{ij}"), sympy.Symbol(r"\mu_{i'j}")
    b_p, b_q = sympy.Symbol("b_{j}[p]"), sympy.Symbol("b_{j}[q]")
    column = sympy.Matrix([[mu_i * b_p, mu_i * b_q], [mu_k * b_p, mu_k * b_q]])
    return derive(
        text("every ", Math(r"2 \times 2", "2 × 2"), " minor of ", A_J, " vanishes: rows ",
             Math("i, i'", "i, i′"), ", taps ", Math("p, q", "p, q"), " (any ", _sizes_free(),
             ")"),
        two_by_two_minors(column, evaluate=False)[0],
        [(sympy.Integer(0), "the four factors commute")],
    )


def _sizes_free() -> Math:
    return Math("n, m, s", "n, m, s")


def _converse() -> tuple:
    u_i, u_p, v_q, v_r = sympy.symbols("u_i u_p v_q v_r")
    generic = derive(
        text("a rank-one column ", Math("A = u v^T", "A = u vᵀ"), ": ",
             Math("A_{iq} A_{pr} / A_{pq}", "A_iq A_pr / A_pq"), " recovers ",
             Math("A_{ir}", "A_ir")),
        sympy.Mul(u_i * v_q, u_p * v_r, sympy.Pow(u_p * v_q, -1), evaluate=False),
        [(u_i * v_r, text("cancel ", u_p * v_q, ", nonzero by the choice of the pivot"))],
    )
    u, v = _random_int_matrix(3, 1, 1), _random_int_matrix(1, 4, 2)
    column = u * v
    mu, b = factor_rank_one_column(column, 2)
    concrete = derive(
        text("an integer rank-one column factored as ", Math(r"\mu_{:,j}\, b_j^T", "μ_:j b_jᵀ"),
             " (", _sizes(n=3, s=2), ")"),
        column,
        [(sympy.MatMul(mu, b.reshape(1, 4)),
          text(Math(r"\mu_{:,j}", "μ_:j"), " is the pivot column, ", B_J,
               " the pivot row over the pivot"))],
    )
    return generic, concrete, _control()


def _control():
    k = kernel_symbols(2, 1, 2)
    minor = two_by_two_minors(column_matrix(unfold(k), 0, 2), evaluate=False)[0]
    at_point = two_by_two_minors(sympy.ImmutableMatrix([[1, 0, 0, 0], [0, 1, 0, 0]]),
                                 evaluate=False)[0]
    return derive(
        text("a generic column is not rank one: the minor ", minor, " at ",
             Math(r"k_{11} = e_1,\ k_{21} = e_2", "k₁₁ = e₁, k₂₁ = e₂")),
        at_point, [(sympy.Integer(1), "multiply"),
                   (sympy.Integer(0), "so the minor is not identically zero", ">")],
    )


def theorem_proof() -> Proof:
    """Separable iff every column matrix ``A_j`` has rank at most one, both directions.

    Examples
    --------
    >>> theorem_proof().ok
    True
    """
    return Proof(
        name="theorem",
        title=text("Separability theorem: ", BLOCK, " iff every column has rank one"),
        summary=text(
            "If ", BLOCK, " then, for every input channel ", Math("j", "j"), ", the ",
            COLUMN_SHAPE, " matrix ", A_J, " whose rows are the flattened blocks ",
            Math(r"k_{1j}, \dots, k_{nj}", "k_1j, …, k_nj"), " is the outer product of ",
            Math(r"(\mu_{1j}, \dots, \mu_{nj})", "(μ_1j, …, μ_nj)"), " with ", B_J,
            ", so all its ", Math(r"2 \times 2", "2 × 2"), " minors vanish; this is a "
            "polynomial identity, independent of ", _sizes_free(), ". Conversely a rank-one "
            "column ", Math("u v^T", "u vᵀ"), " gives ", Math(r"\mu_{:,j} = u", "μ_:j = u"),
            " and ", B_J, " the ", Math(r"s \times s", "s × s"), " reshape of ",
            Math("v", "v"), " explicitly. This is exactly the linear dependence the reference "
            "analysis noticed: the ", Math("n", "n"), " kernels of each input channel must be "
            "proportional."
        ),
        derivations=(_forward(), *_converse()),
    )


def _jacobian_chain(n: int, m: int, s: int):
    rank = jacobian_rank(n, m, s)
    formula = sympy.Mul(m, sympy.Add(n, sympy.Pow(s, 2, evaluate=False), -1, evaluate=False),
                        evaluate=False)
    return derive(
        text("rank of the Jacobian of ", PARAMETRIZATION, " for ", _sizes(n=n, m=m, s=s)),
        sympy.Integer(rank),
        [(formula, text("exact rank at a random rational point is ", DIMENSION))],
    )


DIMENSION = Math(r"m(n + s^2 - 1)", "m(n + s² − 1)")


def dimension_count_proof() -> Proof:
    """Separable kernels form a set of dimension ``m(n + s^2 - 1)``: measure zero.

    Examples
    --------
    >>> dimension_count_proof().ok
    True
    """
    mu, b, t = sympy.Symbol(r"\mu_{ij}", positive=True), *sympy.symbols("b_j t", positive=True)
    n, m, s, a, c = sympy.symbols("n m s a c", **_POS)
    scale = derive("one scale per column is redundant", sympy.Mul(t * mu, b / t, evaluate=False),
                   [(mu * b, text("cancel ", t))])
    codim = derive(
        text("codimension inside ", Math(r"\mathbb{R}^{n m s^2}", "ℝⁿᵐˢ²")),
        n * m * s**2 - m * (n + s**2 - 1),
        [(m * (n - 1) * (s**2 - 1), "factor")],
    )
    positive = derive(
        text("the codimension is positive when ", Math(r"n \geq 2", "n ≥ 2"), " and ",
             Math(r"s \geq 2", "s ≥ 2"), " (",
             Math(r"n = 1 + a,\ s = 1 + c", "n = 1 + a, s = 1 + c"), ")"),
        m * a * ((1 + c)**2 - 1),
        [(sympy.Integer(0), text(Math(r"a, c, m \geq 1", "a, c, m ≥ 1")), ">")],
    )
    ranks = [_jacobian_chain(*sizes) for sizes in ((2, 2, 2), (3, 2, 2), (2, 1, 3))]
    return Proof(
        name="dimension_count",
        title="Dimension count: separable kernels have measure zero",
        summary=text(
            "The map ", PARAMETRIZATION, " has ", n * m + m * s**2, " parameters, but scaling ",
            Math(r"\mu_{:,j}", "μ_:j"), " by ", t, " and ", B_J, " by ", 1 / t, " leaves the "
            "kernel unchanged, so its image has dimension ", DIMENSION, "; the exact Jacobian "
            "rank confirms it. Inside the ", n * m * s**2, "-dimensional space of kernels this "
            "leaves codimension ", sympy.Gt(m * (n - 1) * (s**2 - 1), 0, evaluate=False),
            " whenever ",
            Math(r"n \geq 2", "n ≥ 2"), " and ", Math(r"s \geq 2", "s ≥ 2"), ": separable "
            "kernels form a measure-zero set. The factorization is a restriction, as the "
            "reference analysis suspected. Networks trained directly in depthwise separable "
            "form do not contradict this: they never were standard convolutions."
        ),
        derivations=(scale, codim, positive, *ranks),
    )


def _multiplier_chain():
    n, s, d = 3, 2, 2
    mus = [sympy.MatrixSymbol(f"\\mu^{{({r + 1})}}", n, 1) for r in range(d)]
    taps = [sympy.MatrixSymbol(f"b^{{({r + 1})}}", s * s, 1) for r in range(d)]
    outer = sympy.MatAdd(*(sympy.MatMul(mus[r], taps[r].T) for r in range(d)))
    return derive(
        text("depth multiplier ", _sizes(d=d), ": the column ", Math("A_1", "A₁"), " (",
             _sizes(n=n, s=s), ") is a sum of ", Math("d", "d"), " outer products, so ",
             Math(r"\operatorname{rank} A_1 \leq d", "rank A₁ ≤ d")),
        outer,
        [(sympy.MatMul(sympy.BlockMatrix([mus]), sympy.BlockMatrix([[t.T] for t in taps])),
          text("collect: an ", Math(r"n \times d", "n × d"), " matrix times a ",
               Math(r"d \times s^2", "d × s²"), " one"))],
    )


def _sum_of_terms_chain():
    n, s = 3, 2
    column = _random_int_matrix(n, s * s, 3)
    c, r = rank_decomposition(column)
    return derive(
        text("a random integer column (", _sizes(n=n, s=s), ") splits into ",
             Math(rf"T = \operatorname{{rank}} A_j = {c.shape[1]}", f"T = rank A_j = {c.shape[1]}"),
             " separable terms, one per column of ", Math("C", "C")),
        column,
        [(sympy.MatMul(c, r), text("rank decomposition ", Math("A_j = C R", "A_j = C R"), ": ",
                                   Math("C", "C"), " the pivot columns, ", Math("R", "R"),
                                   " the nonzero rows of the reduced row echelon form"))],
    )

def _cost_chains() -> tuple:
    column = _random_int_matrix(16, 9, 4)
    generic = derive(
        text("a random integer ", Math(r"16 \times 9", "16 × 9"), " column (",
             _sizes(N=16), ", ", Math(r"3 \times 3", "3 × 3"), " kernel) has full rank"),
        sympy.Integer(column.rank()),
        [(sympy.Min(16, 9, evaluate=False), "exact rank: the largest possible")])
    N = sympy.Symbol("N", **_POS)
    cost = derive(
        text(Math("T = 9", "T = 9"), " separable terms cost at least the standard convolution"),
        sympy.Mul(9, sympy.Add(1 / N, sympy.Rational(1, 9)), evaluate=False),
        [(1 + 9 / N, "expand"), (sympy.Integer(1), text(9 / N, " > 0"), ">")],
    )
    return generic, cost


def _row_chain():
    mus, bs = factor_symbols(1, 2, 1)
    (output,) = pointwise_depthwise_outputs(mus[0], bs[0][:1], 1)
    return derive(
        text("pointwise then depthwise: output ", Math("y_1", "y₁"), " (", _sizes(m=2, s=1),
             ") has ", Math(r"k_{1j} = \mu_{1j} b_1", "k_1j = μ_1j b₁"), ": rank one per row"),
        output,
        [(sympy.expand(output), text("expand: the coefficient of ", Math("x_j[p,q]", "x_j[p,q]"),
                                     " is ", Math(r"\mu_{1j} b_1[p,q]", "μ_1j b₁[p,q]")))],
    )


def decomposition_terms_proof() -> Proof:
    """Depth multiplier ``d`` iff rank ``<= d``; every kernel is a sum of ``T`` DSCs.

    Examples
    --------
    >>> decomposition_terms_proof().ok
    True
    """
    d, T, N = Math("d", "d"), Math("T", "T"), Math("N", "N")
    return Proof(
        name="decomposition_terms",
        title="Depth multiplier, sums of separable kernels, and their cost",
        summary=text(
            "With depth multiplier ", d, " the kernel is a sum of ", d, " products ",
            Math(r"M^{(r)} \cdot \Lambda(b^{(r)})", "M⁽ʳ⁾·Λ(b⁽ʳ⁾)"), ", so every column has "
            "rank at most ", d, "; conversely a rank-", d, " column splits as ",
            Math("C R", "C R"), " into ", d, " terms. Every kernel is therefore a sum of ",
            Math(r"T = \max_j \operatorname{rank} A_j \leq \min(n, s^2)",
                 "T = max_j rank A_j ≤ min(n, s²)"),
            " depthwise separable kernels, costing ",
            Math(r"T \left(\frac{1}{N} + \frac{1}{D_k^2}\right)", "T (1/N + 1/D_k²)"),
            " of the standard convolution. A generic ", Math(r"3 \times 3", "3 × 3"),
            " kernel with ", Math(r"N \geq 9", "N ≥ 9"), " has ", Math("T = 9", "T = 9"),
            ", and ", Math(r"9 \left(\frac{1}{N} + \frac{1}{9}\right) = 1 + \frac{9}{N} > 1",
                          "9 (1/N + 1/9) = 1 + 9/N > 1"),
            ": the exact decomposition saves nothing (", T, ", ", N, " as above). The "
            "pointwise-then-depthwise order gives the same statement on rows."
        ),
        derivations=(_multiplier_chain(), _sum_of_terms_chain(), *_cost_chains(), _row_chain()),
    )
