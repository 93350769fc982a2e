"""Certificates for the fast path of :mod:`factorcheck._spectra`: proven bounds, no factorization.

Private.  For a batch of symmetric positive semidefinite Gram matrices ``G``
(``k x k``, traces scaled into [0.25, 1)):

* :func:`_interval` / :func:`_bounds`: an interval certified to hold each
  ``lambda_1(G)``, from repeated squarings of ``G - c I`` (the lower end a
  Rayleigh quotient, the upper end a Frobenius norm's root widened by a
  proven bound of every rounding error); :func:`_top_eigenvalue` accepts the
  slices whose interval is narrow enough;
* :func:`_gershgorin` and :func:`_shift`: Gershgorin's lower bound of
  ``lambda_min`` and the shift it gives;
* :func:`_safe`: a proof that ``lambda_min`` is far enough from 0 for the
  Gram matrix's eigenvalues to give every singular value (Gershgorin's
  discs, else a Cholesky factorization, :func:`positive_definite`).

Every bound holds for the matrices as computed, with the rounding of each
step accounted for; the derivations are in the docstrings.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

#: Below this ratio sigma_min / sigma_max a slice is recomputed by a direct SVD.
GRAM_SAFE_RATIO = 1e-3
#: Relative width of the certified interval of a slice's squared distance on the fast path.
FAST_RTOL = 1e-11
#: Squarings of each shifted Gram matrix before its largest eigenvalue is certified
#: (``(G - c I)**256``).  Of the 3776 3x3 slices of ResNet-50's shapes, 343 are left open
#: after 7, 90 after 8 and 27 after 9 (unshifted, 46 after 10); a squaring of all of them
#: costs about as much as ``eigvalsh`` on 90.
SQUARINGS = 8
#: Unit roundoff of float64.
_U = 2.0**-53


def _rowdot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum(x * y)`` along the last axis: :func:`numpy.vecdot` (NumPy 2), which takes strided
    rows through BLAS (20 times faster than ``einsum`` on strided rows)."""
    vecdot = getattr(np, "vecdot", None)
    return vecdot(x, y) if vecdot else np.einsum("...i,...i->...", x, y)


def _matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``a @ v`` for stacks of matrices and vectors (``matmul``: faster here than ``matvec``)."""
    return (a @ v[..., None])[..., 0]


def positive_definite(matrices: np.ndarray) -> np.ndarray:
    """Whether each symmetric matrix's Cholesky factorization runs to the end (batched).

    It succeeds in floating point only if ``A + E`` is positive definite for
    some ``|E_ij| <= gamma_{k+1} sqrt(a_ii a_jj)`` (Higham, *Accuracy and
    Stability of Numerical Algorithms*, Thm. 10.5), so ``||E||_2 <=
    gamma_{k+1} trace(A)``; callers add that bound.  LAPACK's ``potrf`` runs
    through NumPy's batched kernel, which marks a failed matrix with NaN
    (:func:`numpy.linalg.cholesky` would raise for the whole batch instead);
    without that kernel, a vectorized factorization does the same.
    """
    kernel = getattr(getattr(np.linalg, "_umath_linalg", None), "cholesky_lo", None)
    if kernel is None or not len(matrices):
        return _positive_definite_numpy(matrices.copy())
    with np.errstate(all="ignore"):
        factor = kernel(matrices, signature="d->d")
    return ~np.isnan(factor[:, -1, -1])  # a failed factor is all NaN


def _positive_definite_numpy(a: np.ndarray) -> np.ndarray:
    """:func:`positive_definite` in plain NumPy (overwrites ``a``)."""
    ok = np.ones(len(a), dtype=bool)
    for c in range(a.shape[1]):
        pivot = a[:, c, c]
        ok &= pivot > 0
        col = a[:, c + 1 :, c] / np.sqrt(np.where(pivot > 0, pivot, 1.0))[:, None]
        a[:, c + 1 :, c + 1 :] -= col[:, :, None] * col[:, None, :]
    return ok


def _gamma(k: int) -> float:
    return (k + 1) * _U / (1 - (k + 1) * _U)


def _shifted(gram: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``gram - shift I`` for each matrix, as a new array."""
    out = gram.copy()
    count, k = gram.shape[:2]
    out.reshape(count, k * k)[:, :: k + 1] -= shift[:, None]
    return out


def _rayleigh(gram: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Rayleigh quotient of each ``gram`` at the row of ``power`` with the largest diagonal entry.

    (Any vector gives a lower bound; ``power`` need not be exactly symmetric.)
    """
    count, k = power.shape[:2]
    v = power[np.arange(count), power.reshape(count, k * k)[:, :: k + 1].argmax(axis=1)]
    return _rowdot(v, _matvec(gram, v)) / _rowdot(v, v)


def _squaring_error(k: int, squarings: int) -> float:
    """``f_s``: a bound of ``||P_s - G**(2**s)||_2 / ||G||_2**(2**s)`` for computed squarings.

    With ``P_{j+1} = fl(P_j P_j)``, ``|E_j| <= gamma_k |P_j| |P_j|``, so
    ``||E_j||_2 <= ||E_j||_F <= gamma_k ||P_j||_F**2 <= k gamma_k ||P_j||_2**2``
    (underflow adds at most ``k**2 2**-1074``, far below that: every power
    squared has ``||P_j||_2 >= 2**-400``, by the rescalings of
    :func:`_interval`; ``gamma_{k+2}`` absorbs it.  A shifted ``P_0 = G - c
    I`` smaller than that is covered by the slack ``high`` adds).  As
    ``G**(2**(j+1)) = (G**(2**j))**2``, the relative error ``f_j`` of step ``j``
    obeys ``f_{j+1} <= 2 f_j + f_j**2 + k gamma (1 + f_j)**2``, from ``f_0 =
    0``.  Scaling by exact powers of two changes nothing.
    """
    f, step = 0.0, k * _gamma(k + 2)
    for _ in range(squarings):
        f = 2 * f + f * f + step * (1 + f) ** 2
    return f


def _top_eigenvalue(gram: np.ndarray, trace: np.ndarray,
                    shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Largest eigenvalue of each Gram matrix and whether it is certified (see :func:`_interval`).

    A slice is certified when its interval is narrower than ``FAST_RTOL`` of
    its squared distance ``trace - lambda_1``; the value returned is the
    Rayleigh quotient.  The others are left to ``eigvalsh`` by the caller.
    """
    k = gram.shape[1]
    rho, high = _bounds(gram, trace, shift)
    # high - low + 2 u trace, with low = rho - gamma_{3k+2} trace (its clipping at 0 only
    # narrows the interval, so leaving it out is the stricter test)
    width = high - rho + (_gamma(3 * k + 2) + 2 * _U) * trace
    return rho, width <= FAST_RTOL * (trace - high)


def _gershgorin(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, top)`` of each matrix: Gershgorin's lower bound of ``lambda_min``, ``min_i (2
    g_ii - sum_j |g_ij|)`` (as computed: off by rounding), and the largest diagonal entry."""
    count, k = gram.shape[:2]
    flat = gram.reshape(count, k * k)
    diagonal = flat[:, :: k + 1]
    rows = (np.abs(flat).reshape(count * k, k) @ np.ones(k)).reshape(count, k)
    # reductions over the first axis of contiguous (k, count) arrays are the fast ones
    return (2 * diagonal - rows).T.copy().min(axis=0), diagonal.T.copy().max(axis=0)


def _shift(lower: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The shift ``c`` of the squarings: ``0.45 d + 0.55 max(l, 0)`` (see :func:`_gershgorin`).

    ``l`` bounds ``lambda_min`` from below and the largest diagonal entry ``d
    <= lambda_1``, so ``c - lambda_min <= (9/11) (lambda_1 - c)``: ``lambda_1
    - c`` stays the dominant eigenvalue of ``G - c I`` by a fixed ratio, while
    ``lambda_2 - c`` shrinks against it (ResNet-50's 3776 3x3 slices: after 8
    squarings 90 are left open; without the shift, 610, and 46 after 10).
    Rounding in ``c`` is harmless: the bounds of :func:`_interval` hold for
    any shift.
    """
    return 0.45 * top + 0.55 * np.maximum(lower, 0.0)


def _interval(gram: np.ndarray, trace: np.ndarray,
              shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rho, low, high)``: a Rayleigh quotient and certified bounds of each ``lambda_1``.

    ``H = G - c I`` (``c`` = ``shift``, by default :func:`_shift`'s), then ``P =
    H**(2**s)`` by ``s = SQUARINGS`` repeated squarings (traces in [0.25, 1):
    nothing overflows; after the first squaring, and again before any power
    could fall below ``2**-400``, the power is scaled by an exact power of
    two ``2**-e``, so nothing underflows either, and the exponents are kept:
    for ``k <= 38`` once is enough).  Then, for each slice:

    * the Rayleigh quotient ``rho`` of ``G`` at the row of ``P`` with the
      largest diagonal is a lower bound of ``lambda_1``, up to its rounding,
      at most ``gamma_{3k+2} trace`` (``|v^T G v|`` errs by ``gamma_{2k}
      |v|^T |G| |v| <= gamma_{2k} trace ||v||**2``, as ``|g_ij| <= sqrt(g_ii
      g_jj)``; the division by ``v^T v`` adds ``gamma_{k+1} rho``);
    * ``max_i |lambda_i(H)|**(2**s) = ||H**(2**s)||_2 <= ||P||_F / (1 -
      f_s)`` (see :func:`_squaring_error`), so ``lambda_1 <= c + x``, ``x``
      that bound's root: an upper bound that is within ``(k - 1) (|lambda_2 -
      c| / (lambda_1 - c))**(2**(s+1)) / 2**(s+1)`` of ``lambda_1`` once the
      iteration has converged, plus about ``f_s / 2**s``, i.e. 1e-14.  The
      shift is subtracted with rounding ``<= u |g_ii - c| <= u trace`` (``0
      <= c <= trace``), which ``high`` adds, with as much again: when
      ``||H||_2 < 2**-400`` (the only case where the first squaring could
      lose to underflow), ``lambda_1 <= c + ||H||_2`` is below ``high``
      whatever ``P`` is, as ``x >= 0``.

    Both bounds hold for the Gram matrices as computed and any shift; nothing
    else is assumed (no convergence, no gap), so an unconverged slice only
    gets a wide interval.
    """
    rho, high = _bounds(gram, trace, shift)
    return rho, np.fmax(rho - _gamma(3 * gram.shape[1] + 2) * trace, 0.0), high  # NaN: P = 0


def _bounds(gram: np.ndarray, trace: np.ndarray,
            shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(rho, high)`` of :func:`_interval` (``low`` is ``rho`` less its rounding)."""
    count, k = gram.shape[:2]
    if shift is None:
        shift = _shift(*_gershgorin(gram))
    spare = _shifted(gram, shift)
    power = spare @ spare
    exponent: Any = 0.0  # H**(2**s) = power * 2**exponent at the end, up to rounding
    reach, last = 400 / math.log2(2 * k), 1  # see the renormalization below
    for step in range(1, SQUARINGS):  # power is H**(2**step) here
        if step == 1 or 2 ** (step - last) > reach:
            # Trace into [0.5, 1), so ||P||_2 >= 1/(2k), and squared powers of it stay above
            # 2**-400 for 2**m <= reach: underflow cannot matter (see _squaring_error).
            e = np.frexp(np.einsum("bii->b", power))[1]
            np.ldexp(power, -e[:, None, None], out=power)
            exponent = exponent + e * 2.0 ** (SQUARINGS - step)  # each squaring left doubles it
            last = step
        np.matmul(power, power, out=spare)
        power, spare = spare, power
    rho = _rayleigh(gram, power)
    flat = power.reshape(count, k * k)
    with np.errstate(divide="ignore"):  # P = 0 (G = c I): x = 0
        log_norm = np.log2(_rowdot(flat, flat))  # log2 ||P||_F**2, rounded
    n = 2**SQUARINGS
    x = np.exp2((0.5 * log_norm + exponent) / n + _loss(k, SQUARINGS))
    # Rounding of log2, exp2 and the sums above: 4 u (8 + (|log2 ||P||_F| + |exponent|) / n),
    # with |log2 ||P||_F| <= 540 (0 < ||P||_F**2 < 2**1080; for P = 0, x = 0 anyway).
    x *= (1 + 4 * _U * (8 + 540 / n)) + (4 * _U / n) * np.abs(exponent)
    return rho, (shift + x) * (1 + 2 * _U) + 2 * _U * trace


@functools.cache
def _loss(k: int, squarings: int) -> float:
    """``log2`` of how much rounding may have shrunk ``||P||_F``, over ``2**squarings``."""
    loss = -0.5 * math.log2(1 - _gamma(k * k)) - math.log2(1 - _squaring_error(k, squarings))
    return loss / 2**squarings


def _safe(gram: np.ndarray, trace: np.ndarray, lower: np.ndarray | None = None) -> np.ndarray:
    """Whether ``lambda_min >= GRAM_SAFE_RATIO**2 lambda_1`` is proven (then no SVD is needed).

    Proven when ``lambda_min > c = 1.01 GRAM_SAFE_RATIO**2 trace + gamma_{k+1}
    trace``: eigenvalues computed later from ``G`` then stay above the ratio.
    Gershgorin's discs (``lower``, by default :func:`_gershgorin`'s) prove it
    for diagonally dominant matrices at no further cost: less ``2 (k + 2)**2
    u trace``, which exceeds the rounding of ``2 g_ii - sum_j |g_ij|`` (each
    ``|g_ij| <= trace``), ``lower`` bounds ``lambda_min``.  For the others a
    Cholesky of ``G - c I`` that succeeds proves it.
    """
    k = gram.shape[1]
    if lower is None:
        lower = _gershgorin(gram)[0]
    shift = (1.01 * GRAM_SAFE_RATIO**2 + _gamma(k)) * trace
    safe = lower - 2 * (k + 2) ** 2 * _U * trace > shift
    if not safe.all():
        rest = np.flatnonzero(~safe)
        safe[rest] = positive_definite(_shifted(gram[rest], shift[rest]))
    return safe
