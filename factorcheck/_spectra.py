"""Singular values of kernel slices: the full spectra, and a certified fast path for one term.

Private to :mod:`factorcheck.separability`.  Two ways to the numbers:

* **Full spectra** (:func:`chunk_spectrum`): the eigenvalues of each slice's
  small Gram matrix, a direct SVD for slices whose smallest singular value is
  below ``GRAM_SAFE_RATIO`` of the largest, and an exact power-of-two scaling
  for slices whose values would overflow or underflow when squared.
* **The fast path** (:func:`fast_spectra`, multiplier 1, float kernels): the
  squared distance of a slice to rank one is ``trace(G) - lambda_1(G)``, so
  only the largest eigenvalue is needed.  ``SQUARINGS`` batched squarings
  of ``H = G - c I`` give ``P = H**(2**s)``, and every slice accepted is
  *certified* by an interval (:func:`_interval`): the Rayleigh quotient of
  ``G`` at a row of ``P`` bounds ``lambda_1`` from below, and ``c +
  ||P||_F**(2**-s)``, widened by a proven bound of the rounding errors of the
  shift and the squarings, bounds it from above; no factorization per slice.
  The shift (:func:`_shift`) only speeds the convergence.  A slice is
  accepted only when the interval is narrower than ``FAST_RTOL`` of its
  squared distance.  Slices that are not accepted take their ``lambda_1``
  from ``eigvalsh`` at once; slices that may be near low rank (``sigma_min <
  1e-3 sigma_max`` is excluded by Gershgorin's discs or else a Cholesky
  factorization) take a direct SVD; slices that need scaling take the full
  path.  The full spectra of the others are computed from their stored Gram
  matrices only when first read.

The Gram matrices are accumulated from the kernel's own floats through one
reused float64 buffer of ``GRAM_CHUNK_ENTRIES`` entries.

Where the time goes (ResNet-50's 3x3/7x7 kernels, 11.3 M float32 weights,
``bench/bench_separability.py``): the Gram matrices take more than half
(converting to float64, and BLAS products of ``8 x n`` by ``n x 8``
matrices), the certification (:func:`_bounds`) about a fifth, of which the
squarings more than half; everything else, mostly NumPy's cost per call, the
rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from factorcheck._certify import (
    _U,
    FAST_RTOL,
    GRAM_SAFE_RATIO,
    _gershgorin,
    _rowdot,
    _safe,
    _shift,
    _top_eigenvalue,
)
from factorcheck._lazy import Deferred  # also where pickles made before the split look for it

#: Slices whose largest singular value lies outside this range are rescaled before the Gram
#: matrix is formed, so that squaring neither overflows nor underflows.
SAFE_RANGE = (1e-140, 1e140)
#: Entries of the reused float64 buffer the fast path converts slices into (512 KiB).
GRAM_CHUNK_ENTRIES = 1 << 16
#: The fast path takes slices with ``SAFE_RANGE[0]**2 < trace(G) < SAFE_RANGE[1]**2``, narrowed.
_TRACE_RANGE = (1e-270, 1e270)


# --------------------------------------------------------------------------- full spectra


def scaled(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each slice times an exact power of two that brings its largest entry into [0.5, 1).

    Returns the scaled float64 slices and the exponents (0 for zero slices).
    """
    stack = stack.astype(np.float64, copy=False)
    _, exponent = np.frexp(np.abs(stack).max(axis=(1, 2)))
    return np.ldexp(stack, -exponent[:, None, None]), exponent


def _gram_values(gram: np.ndarray) -> np.ndarray:
    """Singular values from Gram matrices: decreasing square roots of their eigenvalues."""
    return np.sqrt(np.clip(np.linalg.eigvalsh(gram)[:, ::-1], 0.0, None))


def singular_values(stack: np.ndarray) -> np.ndarray:
    """Singular values of each float64 slice, decreasing; NaN rows where the Gram overflowed.

    The Gram matrix of the smaller side gives them fast; a slice whose
    smallest singular value is below ``GRAM_SAFE_RATIO`` of its largest is
    recomputed by a direct SVD (squaring would lose it to cancellation).
    """
    tall = stack.shape[1] >= stack.shape[2]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        gram = stack.swapaxes(1, 2) @ stack if tall else stack @ stack.swapaxes(1, 2)
    finite = np.isfinite(gram).all(axis=(1, 2))
    gram[~finite] = 0.0
    sigma = _gram_values(gram)
    unsafe = finite & (sigma[:, -1] < GRAM_SAFE_RATIO * sigma[:, 0])
    if unsafe.any():
        sigma[unsafe] = np.linalg.svd(stack[unsafe], compute_uv=False)
    sigma[~finite] = np.nan
    return sigma


@dataclass(frozen=True)
class Spectra:
    """Singular values per slice, ``sigma * 2**exponent`` being the real ones."""

    sigma: np.ndarray
    exponent: np.ndarray

    def actual(self, extra: int = 0) -> np.ndarray:
        """The singular values, times ``2**extra`` (inf past float64's range, as it must)."""
        with np.errstate(over="ignore", under="ignore"):
            return np.ldexp(self.sigma, self.exponent[:, None] + extra)


def chunk_spectrum(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sigma, exponent)`` for a stack of slices, ``sigma * 2**exponent`` the real values.

    Slices are used as they are when their largest singular value lies in
    ``SAFE_RANGE`` (the usual case: no extra pass over the data); the others
    (huge, tiny, zero, or overflowing) are recomputed after scaling each by a
    power of two.
    """
    x = stack.astype(np.float64, copy=False)
    sigma = singular_values(x)
    exponent = np.zeros(len(x), dtype=np.int64)
    top = sigma[:, 0]
    risky = ~((top > SAFE_RANGE[0]) & (top < SAFE_RANGE[1]))  # NaN is risky too
    if risky.any():
        scaled_x, exponent[risky] = scaled(x[risky])
        sigma[risky] = singular_values(scaled_x)
    return sigma, exponent


# --------------------------------------------------------------------------- Gram matrices


def _geometry(shape: tuple[int, ...], order: str) -> tuple[int, int, int]:
    """``(slices, rows, taps)`` of the slices of a kernel of canonical ``shape``."""
    n, m, kh, kw = shape
    return (m, n, kh * kw) if order == "dw-pw" else (n, m, kh * kw)


def _stack(data: np.ndarray, order: str, which: Any) -> np.ndarray:
    """Slices ``which`` (a slice or an index array) as a float64 ``(count, rows, taps)`` stack."""
    block = data[:, which] if order == "dw-pw" else data[which].swapaxes(0, 1)
    rows = block.shape[0]
    return block.transpose(1, 0, 2, 3).reshape(-1, rows, block.shape[2] * block.shape[3]).astype(
        np.float64
    )


def grams(data: np.ndarray, order: str, chunk: int = GRAM_CHUNK_ENTRIES) -> np.ndarray:
    """Gram matrix of the smaller side of every slice, in float64, exactly symmetric.

    The average of :func:`_gram_pass`'s matrices and their transposes.
    """
    raw = _gram_pass(data, order, chunk)
    sym = raw + raw.transpose(0, 2, 1)
    sym *= 0.5
    return sym


def _gram_pass(data: np.ndarray, order: str, chunk: int) -> np.ndarray:
    """Gram matrices as BLAS gives them: symmetric only up to rounding (the first column and the
    last row are mirrored).

    Slices are converted chunk by chunk into one reused float64 buffer of
    about ``chunk`` entries (no copy of the whole kernel) and multiplied where
    they lie in it (a strided view, which BLAS takes as it is: a transposing
    copy costs more than it saves).  Each product is ``A[:, :k-1]^T A[:, 1:]``
    (every entry above the diagonal, and all but its ends) plus the first and
    last columns' sums of squares: a general product with distinct operands,
    which OpenBLAS runs about three times faster here than the symmetric
    rank-k update NumPy picks for ``A^T A``, and ``(k-1) x (k-1)`` rather than
    ``k x (k-1)``, which fits its 4 x 8 blocks for 3x3 taps (a quarter
    faster).  (Two threads, each with its own buffer, were measured at most
    1.3 times faster on this 2-CPU machine, often not at all: not worth a
    thread pool.)
    """
    count, rows, taps = _geometry(data.shape, order)
    side = min(rows, taps)
    out = np.empty((count, side, side))
    step = min(max(1, chunk // (rows * taps)), count)
    buffer = np.empty(step * rows * taps)
    corners = out.reshape(count, side * side)[:, :: max(side * side - 1, 1)]  # g_00, g_kk
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        start, views = 0, _chunk_views(buffer, data.shape, order, step)
        while start < count:
            stop = min(start + step, count)
            if stop - start < step:  # the last, shorter chunk
                views = _chunk_views(buffer, data.shape, order, stop - start)
            block, left, right, ends = views
            np.copyto(block, data[:, start:stop] if order == "dw-pw" else data[start:stop])
            np.matmul(left, right, out=out[start:stop, : side - 1, 1:])
            corners[start:stop] = _rowdot(ends, ends)  # the columns' sums of squares
            start = stop
    out[:, 1:, 0] = out[:, 0, 1:]
    out[:, side - 1, : side - 1] = out[:, : side - 1, side - 1]
    return out


def _chunk_views(buffer: np.ndarray, shape: tuple[int, ...], order: str,
                 length: int) -> tuple[np.ndarray, ...]:
    """Views of ``buffer`` for a chunk of ``length`` slices: ``block`` takes the kernel's entries
    as they lie (``K[:, j0:j1]`` or ``K[i0:i1]``); then, with ``A`` each slice's tall matrix of
    ``k`` columns, ``A[:, :k-1]^T``, ``A[:, 1:]`` and ``A``'s first and last columns (as rows)."""
    _, rows, taps = _geometry(shape, order)
    size = length * rows * taps
    if order == "dw-pw":
        block = buffer[:size].reshape(rows, length, *shape[2:])
        stack = block.reshape(rows, length, taps).transpose(1, 0, 2)
    else:
        block = buffer[:size].reshape(length, *shape[1:])
        stack = block.reshape(length, rows, taps)
    tall = stack if rows >= taps else stack.transpose(0, 2, 1)
    k = tall.shape[2]
    ends = tall[:, :, :: max(k - 1, 1)].transpose(0, 2, 1)
    return block, tall[:, :, : k - 1].transpose(0, 2, 1), tall[:, :, 1:], ends


# --------------------------------------------------------------------------- the fast path


class FullSpectrum:
    """The full spectra of a kernel's slices, finished on first use (then cached).

    Rows ``pending`` of ``sigma`` are filled from the Gram matrices
    ``gram[which]`` (scaled as ``exponent`` says), which were proven far from
    low rank (no SVD needed).  ``sigma=None`` means every row is pending and
    ``gram`` holds every slice's matrix, in order.
    """

    def __init__(self, sigma: np.ndarray | None, exponent: np.ndarray, pending: np.ndarray | None,
                 gram: np.ndarray, which: np.ndarray | None) -> None:
        self._sigma, self._exponent, self._pending = sigma, exponent, pending
        self._gram: np.ndarray | None = gram
        self._which = which
        self._spectra: Spectra | None = None

    def spectra(self) -> Spectra:
        """The :class:`Spectra` of every slice."""
        if self._spectra is None:
            if self._sigma is None and self._gram is not None:
                self._sigma = _gram_values(self._gram)
            elif self._pending is not None and len(self._pending) and self._gram is not None:
                self._sigma[self._pending] = _gram_values(self._gram[self._which])
            assert self._sigma is not None
            self._spectra, self._gram = Spectra(self._sigma, self._exponent), None
        return self._spectra


@dataclass(frozen=True)
class FastSpectra:
    """What the fast path knows at once about a kernel's slices.

    ``total`` and ``tail`` are each slice's squared norm and squared distance
    to rank one, times ``4**exponent``, and ``kept`` is ``1 - tail / total``
    (1 for zero slices); ``ranks`` is -1 where only the full spectrum can
    tell, and ``ranks_known`` says none is; ``beyond`` says some slice is
    proven to have rank > 1 under the tolerance; ``finite`` that no number is
    NaN or infinite; ``full`` gives the full spectra on demand.
    """

    total: np.ndarray
    tail: np.ndarray
    exponent: np.ndarray
    kept: np.ndarray
    ranks: np.ndarray
    ranks_known: bool
    beyond: bool
    finite: bool
    full: FullSpectrum


def fast_spectra(data: np.ndarray, order: str, tol: float,
                 chunk: int = GRAM_CHUNK_ENTRIES) -> FastSpectra:
    """Squared norms and distances to rank one of every slice, certified (see the module doc).

    ``tol`` is the rank tolerance (``sigma_k > tol sigma_1`` counts).  Each
    Gram matrix in the plain range is scaled by an exact power of two
    ``4**-h`` that brings its trace into [0.25, 1); ``h`` is its slice's
    exponent.  The common case (every slice plain, safe and certified) costs
    a fixed number of NumPy calls; the others add the full path's work for
    the slices concerned.
    """
    raw = _gram_pass(data, order, chunk)
    count, k = raw.shape[:2]
    with np.errstate(all="ignore"):
        trace = np.einsum("bii->b", raw)
        ordinary = None  # every slice is in the plain range (NaN is not)
        if not (trace.min() > _TRACE_RANGE[0] and trace.max() < _TRACE_RANGE[1]):
            ordinary = np.flatnonzero((trace > _TRACE_RANGE[0]) & (trace < _TRACE_RANGE[1]))
            raw, trace = raw[ordinary], trace[ordinary]
        half = (np.frexp(trace)[1] + 1) // 2  # trace * 4**-half is in [0.25, 1)
        g = raw + raw.transpose(0, 2, 1)  # twice the Gram matrix, exactly symmetric
        g *= np.ldexp(0.5, -2 * half)[:, None, None]  # exact: powers of two
        t = np.ldexp(trace, -2 * half)
        lower, top = _gershgorin(g)
        safe = _safe(g, t, lower)
        every_safe = bool(safe.all())
        shift = _shift(lower, top)
        if every_safe:
            rho, fast = _top_eigenvalue(g, t, shift)
        else:
            rho, fast = np.zeros(len(g)), np.zeros(len(g), dtype=bool)
            rho[safe], fast[safe] = _top_eigenvalue(g[safe], t[safe], shift[safe])
        if not (every_safe and fast.all()):  # lambda_1 too close to lambda_2: eigvalsh
            unsettled = np.flatnonzero(safe & ~fast)
            rho[unsettled] = np.linalg.eigvalsh(g[unsettled])[:, -1]
            fast[unsettled] = True
        tail = t - rho
    rank = k if tol < GRAM_SAFE_RATIO else -1  # safe slices have full rank under a fine tol
    beyond = rank > 1 and (every_safe or bool(safe.any()))  # a safe slice has rank k then
    if not beyond:
        length = max(_geometry(data.shape, order)[1:])
        with np.errstate(all="ignore"):
            beyond = bool(_proven_beyond_one(t[fast], rho[fast], k, tol, length).any())
    if ordinary is None and every_safe and bool(fast.all()):  # the common case
        exponent = half.astype(np.int64)
        ranks = np.full(count, rank, dtype=np.int64)
        return FastSpectra(t, tail, exponent, 1.0 - tail / t, ranks, rank >= 0,
                           beyond, True, FullSpectrum(None, exponent, None, g, None))
    return _mixed(data, order, tol, g, t, tail, half, ordinary, safe, fast, rank, beyond)


def _mixed(data: np.ndarray, order: str, tol: float, g: np.ndarray, t: np.ndarray,
           tail: np.ndarray, half: np.ndarray, ordinary: np.ndarray | None, safe: np.ndarray,
           fast: np.ndarray, rank: int, beyond: bool) -> FastSpectra:
    """:func:`fast_spectra` when some slices are out of the plain range, unsafe or uncertified."""
    count, k = _geometry(data.shape, order)[0], g.shape[1]
    idx = np.arange(count) if ordinary is None else ordinary
    exponent = np.zeros(count, dtype=np.int64)
    exponent[idx] = half
    sigma = np.full((count, k), np.nan)
    total, full_tail = np.empty(count), np.empty(count)
    ranks = np.full(count, rank, dtype=np.int64)
    pending = idx[fast]
    total[pending], full_tail[pending] = t[fast], tail[fast]
    known = _known_spectra(data, order, sigma, exponent, idx, ~safe)  # safe: all in fast
    total[known] = (sigma[known] ** 2).sum(axis=1)
    full_tail[known] = (sigma[known, 1:] ** 2).sum(axis=1)
    ranks[known] = (sigma[known] > tol * sigma[known, :1]).sum(axis=1)
    with np.errstate(all="ignore"):
        kept = 1.0 - full_tail / np.where(total > 0, total, 1.0)
        finite = bool(np.isfinite(total).all() and np.isfinite(full_tail).all())
    return FastSpectra(total, full_tail, exponent, kept, ranks, bool((ranks >= 0).all()),
                       beyond or bool((ranks > 1).any()), finite,
                       FullSpectrum(sigma, exponent, pending, g, fast))


def _known_spectra(data: np.ndarray, order: str, sigma: np.ndarray, exponent: np.ndarray,
                   ordinary: np.ndarray, svd: np.ndarray) -> np.ndarray:
    """Fill the rows of ``sigma``/``exponent`` the fast path does not take; return which those are.

    ``ordinary`` indexes the slices in the plain range; of them, ``svd`` marks
    those that may be near low rank (direct SVD of the slice, exponent 0).
    The slices out of the plain range get the whole treatment of
    :func:`chunk_spectrum` (scaling by powers of two).
    """
    known = np.ones(len(sigma), dtype=bool)
    known[ordinary] = svd
    if svd.any():
        rows = ordinary[svd]
        sigma[rows] = np.linalg.svd(_stack(data, order, rows), compute_uv=False)
        exponent[rows] = 0
    rest = np.ones(len(sigma), dtype=bool)
    rest[ordinary] = False
    if rest.any():
        sigma[rest], exponent[rest] = chunk_spectrum(_stack(data, order, np.flatnonzero(rest)))
    return known


def _proven_beyond_one(trace: np.ndarray, rho: np.ndarray, k: int, tol: float,
                       length: int) -> np.ndarray:
    """Slices proven to have ``sigma_2 > tol sigma_1`` with room to spare, from certified tails.

    ``sigma_2**2 >= tail / (k - 1)``; the tail is known within ``FAST_RTOL``.
    The margin (a factor 1.5 on ``tol**2`` and ``(64 k + 2 length) u`` of the
    trace) exceeds what rounding of the Gram matrix or of an SVD could move,
    so the full spectrum, when computed, counts rank >= 2 for them too.
    """
    low = (trace - rho) * (1 - 2 * FAST_RTOL)
    return low > (k - 1) * (1.5 * tol**2 + (64 * k + 2 * length) * _U) * trace


# --------------------------------------------------------------------------- results


def root_sums(rows: Any, exponent: np.ndarray) -> list[tuple[float, int]]:
    """``sqrt(sum_j x_j 4**e_j)`` of each row ``x`` as ``(mantissa, power of two)``.

    No overflow or underflow; the weights ``4**(e_j - max e)`` are computed once.
    """
    top = int(exponent.max())
    with np.errstate(under="ignore"):
        weights = np.ldexp(1.0, (2 * (exponent - top)).astype(np.int32))
    return [(math.sqrt(float(row @ weights)), top) for row in rows]


def to_float(value: tuple[float, int]) -> float:
    """``mantissa * 2**power`` (inf or 0 past float64's range)."""
    try:
        return math.ldexp(value[0], value[1])
    except OverflowError:
        return math.copysign(math.inf, value[0])


def readonly(array: np.ndarray) -> np.ndarray:
    """``array``, made read-only."""
    array.setflags(write=False)
    return array


class _Lazy:
    """The full-spectrum fields of a fast-path analysis, computed on first read (picklable)."""

    def __init__(self, fast: FastSpectra, extra: int, tol: float) -> None:
        self.fast, self.extra, self.tol = fast, extra, tol

    def singular_values(self) -> np.ndarray:
        return readonly(self.fast.full.spectra().actual(self.extra))

    def ranks(self) -> np.ndarray:
        ranks = self.fast.ranks.copy()
        sigma = self.fast.full.spectra().sigma[ranks < 0]
        ranks[ranks < 0] = (sigma > self.tol * sigma[:, :1]).sum(axis=1)
        return readonly(ranks.astype(np.int64))

    def min_multiplier(self) -> int:
        return int(self.ranks().max())


def fast_fields(fast: FastSpectra, extra: int, tol: float, rtol: float | None) -> dict[str, Any]:
    """The verdict and numbers of an ``Analysis`` for multiplier 1 from :func:`fast_spectra`.

    ``extra`` is the kernel's power-of-two exponent, ``tol`` the rank
    tolerance.  ``singular_values`` is always deferred; ``ranks`` and
    ``min_multiplier`` only when some slice's rank is not known without them
    (then a rank verdict that no proven slice settles reads them at once).
    """
    lazy = _Lazy(fast, extra, tol)
    norm, distance = root_sums((fast.total, fast.tail), fast.exponent)
    relative = distance[0] / norm[0] if norm[0] > 0 else 0.0
    if rtol is not None:
        criterion, tolerance, separable = "rtol", rtol, relative <= rtol
    elif fast.beyond:
        criterion, tolerance, separable = "rank", tol, False
    else:
        criterion, tolerance, separable = "rank", tol, lazy.min_multiplier() <= 1
    known = fast.ranks_known
    return {
        "separable": bool(separable),
        "criterion": criterion,
        "tolerance": tolerance,
        "singular_values": Deferred(lazy.singular_values),
        "ranks": readonly(fast.ranks.copy()) if known else Deferred(lazy.ranks),
        "min_multiplier": int(fast.ranks.max()) if known else Deferred(lazy.min_multiplier),
        "distance": to_float((distance[0], distance[1] + extra)),
        "relative_distance": float(relative),
        "energy_kept": readonly(fast.kept),
        "norm": to_float((norm[0], norm[1] + extra)),
    }
