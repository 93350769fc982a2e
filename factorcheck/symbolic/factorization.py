"""The block factorization ``K = M . Lambda(b)`` of the reference analysis, made exact.

A standard kernel with ``n`` outputs, ``m`` inputs and ``s x s`` taps is an
``n x m`` array of ``s x s`` blocks ``k_ij``.  Equations (1)-(3) of the
reference analysis write a depthwise separable kernel as the "special product"
``K = M . Lambda(b)`` with ``(M . Lambda(b))_ij = mu_ij b_j``: the pointwise
weights ``mu`` (``n x m``) times the block-diagonal matrix of depthwise kernels
``b_j``.

Unfold the kernel into the ``n x (m s^2)`` matrix whose row ``i`` lists the
blocks ``k_i1, ..., k_im`` flattened row-major; the ``n x s^2`` slice of input
channel ``j`` is the *column matrix* ``A_j``.  Then ``K`` is depthwise
separable iff every ``A_j`` has rank at most one (:func:`two_by_two_minors`),
the fact this module checks in both directions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import sympy

from factorcheck.errors import FactorcheckError

__all__ = [
    "column_matrix",
    "compose_depthwise_pointwise",
    "compose_pointwise_depthwise",
    "depthwise_pointwise_outputs",
    "factor_rank_one_column",
    "factor_symbols",
    "jacobian_rank",
    "kernel_symbols",
    "pointwise_depthwise_outputs",
    "rank_decomposition",
    "special_product",
    "two_by_two_minors",
    "unfold",
]

Blocks = Sequence[Sequence[sympy.MatrixBase]]


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise FactorcheckError(f"{name}: expected an int >= 1, got {value!r}")


def _tap(base: str, a: int, b: int) -> sympy.Symbol:
    """The symbol ``base[a+1,b+1]``, named by its LaTeX form (1-based, as in the text)."""
    return sympy.Symbol(f"{base}[{a + 1},{b + 1}]")


def kernel_symbols(n: int, m: int, s: int) -> list[list[sympy.ImmutableMatrix]]:
    """A generic kernel: ``n x m`` blocks of ``s x s`` independent symbols ``k_{ij}[p,q]``.

    Indices start at 1, as in the text; ``sympy.latex`` prints ``k_{12}[1,1]``.

    Examples
    --------
    >>> kernel_symbols(1, 2, 1)
    [[Matrix([[k_{11}[1,1]]]), Matrix([[k_{12}[1,1]]])]]
    """
    _check_sizes(n=n, m=m, s=s)
    return [
        [sympy.ImmutableMatrix(s, s, lambda a, b, i=i, j=j: _tap(f"k_{{{i + 1}{j + 1}}}", a, b))
         for j in range(m)]
        for i in range(n)
    ]


def factor_symbols(
    n: int, m: int, s: int, multiplier: int = 1
) -> tuple[list[sympy.ImmutableMatrix], list[list[sympy.ImmutableMatrix]]]:
    """Symbolic pointwise weights and depthwise kernels for ``d = multiplier``.

    Symbols are named by their LaTeX form with indices from 1: ``\\mu_{ij}`` and
    ``b_{j}[p,q]``, or ``\\mu^{(r)}_{ij}`` and ``b^{(r)}_{j}[p,q]`` when ``multiplier > 1``.

    Returns
    -------
    mus : list of ImmutableMatrix
        ``mus[r]`` is the ``n x m`` matrix ``mu^{(r)}`` of entries ``mu^{(r)}_{ij}``.
    bs : list of list of ImmutableMatrix
        ``bs[r][j]`` is the ``s x s`` depthwise kernel ``b^{(r)}_j``.

    Examples
    --------
    >>> mus, bs = factor_symbols(2, 1, 1)
    >>> mus[0].T, bs[0][0]
    (Matrix([[\\mu_{11}, \\mu_{21}]]), Matrix([[b_{1}[1,1]]]))
    """
    _check_sizes(n=n, m=m, s=s, multiplier=multiplier)

    def layer(r: int) -> str:
        return f"^{{({r + 1})}}" if multiplier > 1 else ""

    mus = [sympy.ImmutableMatrix(n, m, lambda i, j, r=r: sympy.Symbol(
        f"\\mu{layer(r)}_{{{i + 1}{j + 1}}}")) for r in range(multiplier)]
    bs = [[sympy.ImmutableMatrix(s, s, lambda a, b, r=r, j=j: _tap(f"b{layer(r)}_{{{j + 1}}}",
                                                                    a, b))
           for j in range(m)] for r in range(multiplier)]
    return mus, bs


def special_product(mu: sympy.MatrixBase, blocks: Sequence[sympy.MatrixBase]) -> list[list]:
    """The product ``M . Lambda(b)`` of equation (3): an ``n x m`` array of ``s x s`` blocks.

    Computed as a genuine block-matrix product with the block-diagonal
    ``Lambda(b)`` (zero blocks off the diagonal), so
    ``(M . Lambda(b))_ij = sum_t mu_it Lambda_tj = mu_ij b_j``.

    Examples
    --------
    >>> import sympy
    >>> mu = sympy.Matrix([[2, 3]])
    >>> special_product(mu, [sympy.Matrix([[1]]), sympy.Matrix([[5]])])
    [[Matrix([[2]]), Matrix([[15]])]]
    """
    n, m = mu.shape
    if len(blocks) != m:
        raise FactorcheckError(f"blocks: expected {m} depthwise kernels (one per column), "
                               f"got {len(blocks)}")
    zero = sympy.zeros(*blocks[0].shape)
    diag = [[blocks[j] if t == j else zero for j in range(m)] for t in range(m)]
    return [[sympy.ImmutableMatrix(sum((mu[i, t] * diag[t][j] for t in range(m)), zero))
             for j in range(m)] for i in range(n)]


def unfold(blocks: Blocks) -> sympy.ImmutableMatrix:
    """Unfold ``n x m`` blocks of ``s x s`` into the ``n x (m s^2)`` matrix (row-major taps).

    Examples
    --------
    >>> import sympy
    >>> unfold([[sympy.Matrix([[1, 2], [3, 4]])]])
    Matrix([[1, 2, 3, 4]])
    """
    rows = [[entry for block in row for entry in block] for row in blocks]
    return sympy.ImmutableMatrix(rows)


def column_matrix(unfolded: sympy.MatrixBase, j: int, s: int) -> sympy.ImmutableMatrix:
    """``A_j``: the ``n x s^2`` slice of input channel ``j`` of an unfolded kernel.

    Examples
    --------
    >>> import sympy
    >>> column_matrix(sympy.Matrix([[1, 2, 3, 4, 5, 6, 7, 8]]), 1, 2)
    Matrix([[5, 6, 7, 8]])
    """
    return sympy.ImmutableMatrix(unfolded[:, j * s * s:(j + 1) * s * s])


def _patch(m: int, s: int) -> list[sympy.ImmutableMatrix]:
    return [sympy.ImmutableMatrix(s, s, lambda a, b, j=j: _tap(f"x_{{{j + 1}}}", a, b))
            for j in range(m)]


def _coefficients(outputs: Sequence[sympy.Expr], m: int, s: int) -> sympy.ImmutableMatrix:
    """Coefficient of every input value ``x_{j,a,b}`` in each (linear) output."""
    xs = [x for block in _patch(m, s) for x in block]
    polys = [sympy.Poly(out, *xs) for out in outputs]
    return sympy.ImmutableMatrix([[poly.coeff_monomial(x) for x in xs] for poly in polys])


def compose_depthwise_pointwise(
    mus: Sequence[sympy.MatrixBase], bs: Sequence[Sequence[sympy.MatrixBase]], s: int
) -> sympy.ImmutableMatrix:
    """Kernel (unfolded) of depthwise-then-pointwise, read off a symbolic input patch.

    Depthwise filter ``r`` of channel ``j`` gives ``z_{r,j} = sum_{a,b} b^{(r)}_j[a,b] x_j[a,b]``;
    the pointwise stage gives ``y_i = sum_{r,j} mu^{(r)}_{ij} z_{r,j}``.  The
    coefficient of ``x_j[a,b]`` in ``y_i`` is the equivalent standard kernel.

    Examples
    --------
    >>> mus, bs = factor_symbols(1, 1, 1)
    >>> compose_depthwise_pointwise(mus, bs, 1)
    Matrix([[\\mu_{11}*b_{1}[1,1]]])
    """
    m = mus[0].shape[1]
    return _coefficients(depthwise_pointwise_outputs(mus, bs, s), m, s)


def depthwise_pointwise_outputs(
    mus: Sequence[sympy.MatrixBase], bs: Sequence[Sequence[sympy.MatrixBase]], s: int
) -> list[sympy.Expr]:
    """The outputs ``y_i`` of depthwise-then-pointwise on the symbolic patch ``x_j[p,q]``.

    Each output is returned as SymPy builds it: the pointwise weight multiplies
    the depthwise sum, not yet expanded.

    Examples
    --------
    >>> mus, bs = factor_symbols(1, 2, 1)
    >>> depthwise_pointwise_outputs(mus, bs, 1)
    [\\mu_{11}*b_{1}[1,1]*x_{1}[1,1] + \\mu_{12}*b_{2}[1,1]*x_{2}[1,1]]
    """
    n, m = mus[0].shape
    patch = _patch(m, s)
    z = [[sum(bs[r][j].multiply_elementwise(patch[j])) for j in range(m)]
         for r in range(len(mus))]
    return [sum(mus[r][i, j] * z[r][j] for r in range(len(mus)) for j in range(m))
            for i in range(n)]


def compose_pointwise_depthwise(
    mu: sympy.MatrixBase, b_out: Sequence[sympy.MatrixBase], s: int
) -> sympy.ImmutableMatrix:
    """Kernel (unfolded) of pointwise-then-depthwise: ``k_ij = mu_ij b_i``.

    The pointwise stage mixes the channels of every pixel of the patch,
    ``w_i[a,b] = sum_j mu_ij x_j[a,b]``; the depthwise kernel ``b_i`` then acts on
    output channel ``i``.

    Examples
    --------
    >>> mus, bs = factor_symbols(1, 2, 1)
    >>> compose_pointwise_depthwise(mus[0], bs[0][:1], 1)
    Matrix([[\\mu_{11}*b_{1}[1,1], \\mu_{12}*b_{1}[1,1]]])
    """
    return _coefficients(pointwise_depthwise_outputs(mu, b_out, s), mu.shape[1], s)


def pointwise_depthwise_outputs(
    mu: sympy.MatrixBase, b_out: Sequence[sympy.MatrixBase], s: int
) -> list[sympy.Expr]:
    """The outputs of pointwise-then-depthwise on the symbolic patch, not yet expanded.

    Examples
    --------
    >>> mus, bs = factor_symbols(1, 2, 1)
    >>> pointwise_depthwise_outputs(mus[0], bs[0][:1], 1)
    [b_{1}[1,1]*(\\mu_{11}*x_{1}[1,1] + \\mu_{12}*x_{2}[1,1])]
    """
    n, m = mu.shape
    if len(b_out) != n:
        raise FactorcheckError(f"b_out: expected {n} depthwise kernels (one per output), "
                               f"got {len(b_out)}")
    patch = _patch(m, s)
    mixed = [sum((mu[i, j] * patch[j] for j in range(m)), sympy.zeros(s, s)) for i in range(n)]
    return [sum(b_out[i].multiply_elementwise(mixed[i])) for i in range(n)]


def two_by_two_minors(matrix: sympy.MatrixBase, *, evaluate: bool = True) -> list[sympy.Expr]:
    """All 2 x 2 minors ``A[a,p] A[c,q] - A[a,q] A[c,p]`` (``a < c``, ``p < q``).

    With ``evaluate=False`` the products are kept as written (for display in a
    derivation, where SymPy must then do the cancelling).

    Examples
    --------
    >>> import sympy
    >>> two_by_two_minors(sympy.Matrix([[1, 2], [3, 4]]))
    [-2]
    """
    rows, cols = matrix.shape

    def minor(a: int, c: int, p: int, q: int) -> sympy.Expr:
        first = sympy.Mul(matrix[a, p], matrix[c, q], evaluate=evaluate)
        second = sympy.Mul(-1, sympy.Mul(matrix[a, q], matrix[c, p], evaluate=evaluate),
                           evaluate=evaluate)
        return sympy.Add(first, second, evaluate=evaluate)

    return [minor(a, c, p, q)
            for a in range(rows) for c in range(a + 1, rows)
            for p in range(cols) for q in range(p + 1, cols)]


def factor_rank_one_column(
    column: sympy.MatrixBase, s: int
) -> tuple[sympy.ImmutableMatrix, sympy.ImmutableMatrix]:
    """Split an exact rank-one column ``A_j = u v^T`` into ``mu_{:,j} = u`` and ``b_j``.

    With ``A[p, q]`` the first nonzero entry, ``u = A[:, q]`` and
    ``v = A[p, :] / A[p, q]``, so ``u v^T = A`` exactly when the rank is one;
    ``b_j`` is ``v`` reshaped to ``s x s``.

    Raises
    ------
    FactorcheckError
        The column has rank other than one, or is not ``n x s^2``.

    Examples
    --------
    >>> import sympy
    >>> mu, b = factor_rank_one_column(sympy.Matrix([[2, 4, 6, 8], [1, 2, 3, 4]]), 2)
    >>> mu.T, b
    (Matrix([[2, 1]]), Matrix([
    [1, 2],
    [3, 4]]))
    """
    if column.shape[1] != s * s:
        raise FactorcheckError(f"column: expected {s * s} columns (s = {s}), got {column.shape[1]}")
    rank = column.rank()
    if rank != 1:
        raise FactorcheckError(f"column: expected rank 1 for a depthwise separable channel, "
                               f"got rank {rank}")
    p, q = next((a, b) for a in range(column.rows) for b in range(column.cols) if column[a, b] != 0)
    u = sympy.ImmutableMatrix(column[:, q])
    v = column[p, :] / column[p, q]
    return u, sympy.ImmutableMatrix(s, s, list(v))


def rank_decomposition(matrix: sympy.MatrixBase) -> tuple[sympy.ImmutableMatrix, ...]:
    """Exact ``A = C R`` with ``C`` the pivot columns and ``R`` the nonzero rows of rref(A).

    Examples
    --------
    >>> import sympy
    >>> C, R = rank_decomposition(sympy.Matrix([[1, 2], [2, 4]]))
    >>> C * R == sympy.Matrix([[1, 2], [2, 4]]), C.shape
    (True, (2, 1))
    """
    reduced, pivots = matrix.rref()
    c = matrix.extract(list(range(matrix.rows)), list(pivots))
    return sympy.ImmutableMatrix(c), sympy.ImmutableMatrix(reduced[:len(pivots), :])


def jacobian_rank(n: int, m: int, s: int, seed: int = 0) -> int:
    """Exact rank of the Jacobian of ``(mu, b) -> mu_ij b_j`` at a random rational point.

    The parametrization has ``n m + m s^2`` parameters; the rank is the
    dimension of the set of separable kernels near a generic point.

    Examples
    --------
    >>> jacobian_rank(2, 2, 2)   # m (n + s^2 - 1) = 2 * 5
    10
    """
    mus, bs = factor_symbols(n, m, s)
    kernel = unfold(special_product(mus[0], bs[0]))
    params = list(mus[0]) + [x for block in bs[0] for x in block]
    rng = random.Random(seed)
    point = {x: sympy.Rational(rng.randint(1, 97), rng.randint(1, 13)) for x in params}
    jac = sympy.Matrix(list(kernel)).jacobian(params)
    return jac.xreplace(point).rank()
