"""Exact verdicts for integer and rational kernels.

A rank computed in floating point is a judgement with a tolerance; for a kernel
whose entries are integers or fractions the rank is a fact, and we compute it as
one: fraction-free Gaussian elimination (Bareiss) on Python integers, after
clearing each row's denominators (scaling a row does not change the rank).

Where floats cannot resolve the singular values of an exact slice (entries
like ``10**30`` and ``10**30 + 1``), :func:`exact_singular_ratios` computes them
from the exact Gram matrix with mpmath at whatever precision they need.

Factors come from the CR decomposition: a matrix ``A`` of rank ``r`` equals
``A[:, pivots] @ R`` where ``R`` holds the ``r`` non-zero rows of the reduced
row echelon form of ``A``.  Both factors are exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np

__all__ = ["exact_factors", "exact_rank", "exact_singular_ratios"]


def _integer_rows(matrix: np.ndarray) -> np.ndarray:
    """Python-int matrix of the same rank: integers as they are, Fraction rows scaled by lcm."""
    if matrix.dtype.kind in "iu":
        return matrix.astype(object)  # Python ints: no overflow in elimination
    out = np.empty(matrix.shape, dtype=object)
    for i, row in enumerate(matrix):
        scale = math.lcm(*(Fraction(x).denominator for x in row))
        out[i] = [int(Fraction(x) * scale) for x in row]
    return out


def exact_rank(matrix: np.ndarray) -> int:
    """Rank of a 2-D array of integers or Fractions, in exact arithmetic.

    Parameters
    ----------
    matrix : numpy.ndarray
        A 2-D array (any dtype holding integers or :class:`fractions.Fraction`).

    Returns
    -------
    int
        The rank over the rationals.

    Examples
    --------
    >>> import numpy as np
    >>> exact_rank(np.array([[1, 2, 3], [2, 4, 6]]))
    1
    >>> from fractions import Fraction
    >>> exact_rank(np.array([[Fraction(1, 3), 1], [1, 3]], dtype=object))
    1
    >>> exact_rank(np.array([[10**20, 1], [1, 0]], dtype=object))
    2
    """
    work = _integer_rows(np.asarray(matrix))
    rows, cols = work.shape
    rank, previous = 0, 1
    for col in range(cols):
        if rank == rows:
            break
        nonzero = np.flatnonzero(work[rank:, col] != 0)
        if nonzero.size == 0:
            continue
        pivot_row = rank + int(nonzero[0])
        work[[rank, pivot_row]] = work[[pivot_row, rank]]
        pivot = work[rank, col]
        below = work[rank + 1 :]
        # Bareiss step: every entry stays a minor of the original, so the division is exact.
        below[:] = (pivot * below - np.outer(below[:, col], work[rank])) // previous
        previous = pivot
        rank += 1
    return rank


def exact_factors(matrix: np.ndarray, terms: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(C, R)`` with ``matrix == C @ R``, ``C`` of shape (rows, terms), ``R`` (terms, cols).

    The matrix must have rank at most ``terms``; unused terms are zero.

    Parameters
    ----------
    matrix : numpy.ndarray
        A 2-D array of integers or Fractions.
    terms : int
        How many rank-one terms to return (at least the rank).

    Returns
    -------
    tuple of numpy.ndarray
        Object arrays of :class:`fractions.Fraction`.

    Raises
    ------
    ValueError
        If the rank exceeds ``terms`` (callers check the rank first).

    Examples
    --------
    >>> import numpy as np
    >>> c, r = exact_factors(np.array([[2, 4], [3, 6]]), 1)
    >>> c.tolist(), r.tolist()
    ([[Fraction(2, 1)], [Fraction(3, 1)]], [[Fraction(1, 1), Fraction(2, 1)]])
    """
    a = np.vectorize(Fraction, otypes=[object])(np.asarray(matrix, dtype=object))
    reduced, pivots = _rref(a.copy())
    if len(pivots) > terms:
        raise ValueError(f"rank {len(pivots)} exceeds {terms} terms")
    c = np.full((a.shape[0], terms), Fraction(0), dtype=object)
    r = np.full((terms, a.shape[1]), Fraction(0), dtype=object)
    c[:, : len(pivots)] = a[:, pivots]
    r[: len(pivots)] = reduced[: len(pivots)]
    return c, r


def _rref(work: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Reduced row echelon form of a Fraction matrix, and its pivot columns."""
    rows, cols = work.shape
    pivots: list[int] = []
    for col in range(cols):
        rank = len(pivots)
        if rank == rows:
            break
        nonzero = np.flatnonzero(work[rank:, col] != 0)
        if nonzero.size == 0:
            continue
        pivot_row = rank + int(nonzero[0])
        work[[rank, pivot_row]] = work[[pivot_row, rank]]
        work[rank] = work[rank] / work[rank, col]
        others = np.arange(rows) != rank
        work[others] -= np.outer(work[others, col], work[rank])
        pivots.append(col)
    return work, pivots


#: Precision limits (decimal digits) for :func:`exact_singular_ratios`.
_START_DIGITS, _MAX_DIGITS = 50, 3200


def exact_singular_ratios(matrix: np.ndarray, rank: int) -> np.ndarray:
    """Singular values of an exact matrix divided by the largest, to float64 accuracy.

    The Gram matrix of the smaller side is formed exactly; its eigenvalues are
    computed by mpmath with enough digits that the smallest non-zero one,
    ``rank`` of them (from :func:`exact_rank`), is resolved.  Values past
    ``rank`` are exactly zero.

    Parameters
    ----------
    matrix : numpy.ndarray
        A 2-D array of integers or Fractions.
    rank : int
        Its exact rank.

    Returns
    -------
    numpy.ndarray
        ``sigma_k / sigma_1`` for ``k = 1 .. min(rows, cols)``, decreasing.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[10**30, 10**30 + 1], [10**30, 10**30]], dtype=object)
    >>> r = exact_singular_ratios(a, exact_rank(a))
    >>> float(r[1])  # floats alone would say about 1e-16
    2.5e-31
    """
    a = np.vectorize(Fraction, otypes=[object])(np.asarray(matrix, dtype=object))
    small = a.T if a.shape[0] >= a.shape[1] else a
    gram = small @ small.T
    out = np.zeros(min(a.shape))
    if rank == 0:
        return out
    digits = _START_DIGITS
    while True:
        with mpmath.workdps(digits):
            values = sorted(mpmath.eigsy(_mp_matrix(gram), eigvals_only=True), reverse=True)
            smallest = values[rank - 1] / values[0]
            if smallest > mpmath.mpf(10) ** (20 - digits) or digits >= _MAX_DIGITS:
                out[:rank] = [float(mpmath.sqrt(max(v, 0) / values[0])) for v in values[:rank]]
                return out
        digits *= 2


def _mp_matrix(gram: np.ndarray) -> mpmath.matrix:
    return mpmath.matrix([[mpmath.mpf(x.numerator) / x.denominator for x in row] for row in gram])
