"""Does a convolution kernel factor into a depthwise and a pointwise convolution?

A standard kernel ``K`` with ``n`` outputs, ``m`` inputs and ``kh x kw`` taps is
a depthwise convolution followed by a pointwise one ("dw-pw", the MobileNet
form) exactly when ``k_ij = mu_ij * b_j`` for every output ``i`` and input
``j``.  Writing column ``j`` of ``K`` as the ``n x (kh*kw)`` matrix ``A_j``
whose rows are the flattened ``k_ij``, that is ``rank(A_j) <= 1``; with a depth
multiplier ``d`` it is ``rank(A_j) <= d``.  The other order ("pw-dw") is the
same test on each output channel's ``m x (kh*kw)`` matrix.  These matrices are
the *slices* of the kernel; they are independent of each other.

The nearest kernel that factors, in the Frobenius norm, is obtained slice by
slice from the truncated SVD (Eckart-Young): keep the ``d`` largest singular
triplets of each slice.  Its squared distance is the sum over slices of the
discarded squared singular values.

Numerics: a slice whose singular values would overflow or underflow when
squared (entries near 1e308, subnormal ones) is first scaled by a power of two,
exactly, and results are kept as mantissa and exponent until the end.
Singular values come from the eigenvalues of the small Gram matrix of each
slice, which is fast; a slice whose smallest singular value is below 1e-3 of
its largest is recomputed by a direct SVD, so that near-low-rank slices, the
ones whose verdict depends on it, are never decided from squared quantities.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError, KernelError, NotSeparableError
from factorcheck.exact import exact_factors, exact_rank, exact_singular_ratios
from factorcheck.kernel import Kernel, as_kernel, from_canonical, require_finite, to_canonical

__all__ = [
    "ORDERS",
    "Analysis",
    "Factors",
    "analyze",
    "decompose",
    "is_separable",
    "nearest_separable",
]

#: The two orders of a depthwise separable convolution.
ORDERS: dict[str, str] = {
    "dw-pw": "depthwise then pointwise (MobileNet): rank <= multiplier per input channel",
    "pw-dw": "pointwise then depthwise: rank <= multiplier per output channel",
}
#: Below this ratio sigma_min / sigma_max a slice is recomputed by a direct SVD.
_GRAM_SAFE_RATIO = 1e-3
#: Float singular values above this ratio to the largest certify exact full rank (exact kernels).
_CERTIFY_RATIO = 1e-8
#: Slices whose largest singular value lies outside this range are rescaled before the Gram
#: matrix is formed, so that squaring neither overflows nor underflows.
_SAFE_RANGE = (1e-140, 1e140)
#: Slices are processed in chunks of about this many entries (bounds the float64 copies).
_CHUNK_ENTRIES = 1 << 22


@dataclass(frozen=True, eq=False)
class Analysis:
    """What :func:`analyze` found about one kernel.

    Attributes
    ----------
    shape : tuple of int
        Canonical shape ``(n_out, m_in, kh, kw)``.
    layout, order : str
        As given to :func:`analyze`.
    multiplier : int
        The depth multiplier ``d`` tested.
    dtype : str
        The dtype of the kernel as given (``"object"`` for rationals).
    separable : bool
        Whether the kernel admits the decomposition with ``d`` terms per slice.
    exact : bool
        True when the verdict was decided in exact arithmetic.
    criterion : str
        ``"exact"``, ``"rank"`` (numerical rank, the default for floats) or
        ``"rtol"`` (relative distance bounded by ``rtol``).
    tolerance : float or None
        For ``"rank"``: a slice has rank <= d when
        ``sigma_{d+1} <= tolerance * sigma_1`` (``max(rows, cols) * eps`` of
        the kernel's dtype).  For ``"rtol"``: the bound on the relative
        distance.  None for exact verdicts.
    singular_values : numpy.ndarray
        Shape ``(slices, min(rows, cols))``, each row in decreasing order.
    ranks : numpy.ndarray
        Rank of each slice (exact, or numerical under ``tolerance``).
    min_multiplier : int
        ``max(ranks)``: the smallest multiplier representing the kernel
        exactly; the kernel is a sum of this many depthwise separable convs.
    distance : float
        Frobenius distance to the nearest kernel admitting the decomposition.
    relative_distance : float
        ``distance / norm``, 0 for a zero kernel.
    energy_kept : numpy.ndarray
        Per slice, the share of its squared norm kept by the nearest kernel.
    norm : float
        Frobenius norm of the kernel.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> a = factorcheck.analyze(np.arange(16.0).reshape(2, 2, 2, 2))
    >>> a.ranks.tolist(), a.min_multiplier, a.criterion
    ([2, 2], 2, 'rank')
    >>> print(a)  # doctest: +NORMALIZE_WHITESPACE
    dw-pw d=1: not separable (rank tolerance 8.88e-16);
    min multiplier 2, relative distance 6.280e-02
    """

    shape: tuple[int, int, int, int]
    layout: str
    order: str
    multiplier: int
    dtype: str
    separable: bool
    exact: bool
    criterion: str
    tolerance: float | None
    singular_values: np.ndarray
    ranks: np.ndarray
    min_multiplier: int
    distance: float
    relative_distance: float
    energy_kept: np.ndarray
    norm: float

    def __str__(self) -> str:
        verdict = "separable" if self.separable else "not separable"
        how = "exactly" if self.exact else f"({self.criterion} tolerance {self.tolerance:.3g})"
        return (
            f"{self.order} d={self.multiplier}: {verdict} {how}; min multiplier "
            f"{self.min_multiplier}, relative distance {self.relative_distance:.3e}"
        )


@dataclass(frozen=True, eq=False)
class Factors:
    """The two convolutions of a depthwise separable decomposition, in the caller's layout.

    For ``order="dw-pw"`` with ``m`` inputs, ``n`` outputs and multiplier
    ``d``: ``depthwise`` is the kernel of a convolution with ``groups=m``,
    shape ``(m*d, 1, kh, kw)`` in OIHW (channel ``j*d + r`` is the ``r``-th
    filter of input ``j``), applied first; ``pointwise`` has shape
    ``(n, m*d, 1, 1)``.  For ``order="pw-dw"``: ``pointwise`` has shape
    ``(n*d, m, 1, 1)`` and is applied first, then ``depthwise`` of shape
    ``(n, d, kh, kw)`` with ``groups=n``.  In other layouts the same arrays are
    transposed accordingly (for Keras ``DepthwiseConv2D`` reshape the HWIO
    depthwise kernel ``(kh, kw, 1, m*d)`` to ``(kh, kw, m, d)``).  3-D kernels
    give 3-D factors.  Exact kernels give exact factors (object arrays of
    :class:`fractions.Fraction`).

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.einsum("ij,jhw->ijhw", [[1, 2], [3, 4], [5, 6]], np.ones((2, 3, 3), dtype=int))
    >>> f = factorcheck.decompose(k, order="dw-pw")
    >>> f.depthwise.shape, f.pointwise.shape, f.groups
    ((2, 1, 3, 3), (3, 2, 1, 1), 2)
    >>> bool((f.to_kernel() == k).all())     # integer kernel: exact factors
    True
    """

    depthwise: np.ndarray
    pointwise: np.ndarray
    order: str
    layout: str
    multiplier: int
    groups: int

    def to_kernel(self) -> np.ndarray:
        """The standard kernel these factors compose to, in the same layout.

        Examples
        --------
        >>> import numpy as np, factorcheck
        >>> k = np.einsum("ij,jhw->ijhw", np.arange(1.0, 7).reshape(3, 2), np.ones((2, 3, 3)))
        >>> np.allclose(factorcheck.decompose(k).to_kernel(), k)
        True
        """
        ndim = self.depthwise.ndim
        dw = to_canonical(self.depthwise, self.layout)
        pw = to_canonical(self.pointwise, self.layout)[:, :, 0, 0]
        d = self.multiplier
        if self.order == "dw-pw":  # k_ij = sum_r pw[i, j*d + r] dw[j*d + r]
            mu = pw.reshape(pw.shape[0], -1, d)
            b = dw[:, 0].reshape(-1, d, *dw.shape[2:])
            out = np.einsum("ijr,jrhw->ijhw", mu, b)
        else:  # k_ij = sum_r dw[i, r] pw[i*d + r, j]
            mu = pw.reshape(-1, d, pw.shape[1])
            out = np.einsum("irj,irhw->ijhw", mu, dw)
        return from_canonical(out, self.layout, ndim)


# --------------------------------------------------------------------------- options


def _check_options(
    order: object, multiplier: object, rtol: object
) -> tuple[str, int, float | None]:
    """Validate the shared options; return them normalized."""
    if not isinstance(order, str) or order not in ORDERS:
        raise FactorcheckError(
            f"unknown order {order!r}; expected one of {', '.join(map(repr, ORDERS))}"
        )
    if isinstance(multiplier, bool) or not isinstance(multiplier, numbers.Integral):
        raise FactorcheckError(
            f"multiplier must be an integer >= 1, got {type(multiplier).__name__} {multiplier!r}"
        )
    if multiplier < 1:
        raise FactorcheckError(f"multiplier must be an integer >= 1, got {multiplier}")
    if rtol is not None:
        if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real):
            raise FactorcheckError(f"rtol must be a real number in [0, 1], got {rtol!r}")
        if not 0 <= float(rtol) <= 1:
            raise FactorcheckError(f"rtol must be a real number in [0, 1], got {rtol}")
        rtol = float(rtol)
    return str(order), int(multiplier), rtol


# --------------------------------------------------------------------------- slices


def _slice_count(kernel: Kernel, order: str) -> int:
    n, m, _, _ = kernel.shape
    return m if order == "dw-pw" else n


def _slice_chunks(data: np.ndarray, order: str) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(which slices, stack of slice matrices)`` in chunks of bounded size.

    dw-pw slice ``j`` is ``K[:, j]`` as an ``n x (kh*kw)`` matrix; pw-dw slice
    ``i`` is ``K[i]`` as an ``m x (kh*kw)`` matrix.
    """
    n, m, kh, kw = data.shape
    count, rows = (m, n) if order == "dw-pw" else (n, m)
    step = max(1, _CHUNK_ENTRIES // (rows * kh * kw))
    for start in range(0, count, step):
        which = slice(start, min(start + step, count))
        block = data[:, which] if order == "dw-pw" else data[which].swapaxes(0, 1)
        yield which, block.transpose(1, 0, 2, 3).reshape(-1, rows, kh * kw)


# --------------------------------------------------------------------------- spectra


def _scaled(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each slice times an exact power of two that brings its largest entry into [0.5, 1).

    Returns the scaled float64 slices and the exponents (0 for zero slices).
    """
    stack = stack.astype(np.float64, copy=False)
    _, exponent = np.frexp(np.abs(stack).max(axis=(1, 2)))
    return np.ldexp(stack, -exponent[:, None, None]), exponent


def _singular_values(stack: np.ndarray) -> np.ndarray:
    """Singular values of each float64 slice, decreasing; NaN rows where the Gram overflowed.

    The Gram matrix of the smaller side gives them fast; a slice whose
    smallest singular value is below ``_GRAM_SAFE_RATIO`` of its largest is
    recomputed by a direct SVD (squaring would lose it to cancellation).
    """
    tall = stack.shape[1] >= stack.shape[2]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        gram = stack.swapaxes(1, 2) @ stack if tall else stack @ stack.swapaxes(1, 2)
    finite = np.isfinite(gram).all(axis=(1, 2))
    gram[~finite] = 0.0
    sigma = np.sqrt(np.clip(np.linalg.eigvalsh(gram)[:, ::-1], 0.0, None))
    unsafe = finite & (sigma[:, -1] < _GRAM_SAFE_RATIO * sigma[:, 0])
    if unsafe.any():
        sigma[unsafe] = np.linalg.svd(stack[unsafe], compute_uv=False)
    sigma[~finite] = np.nan
    return sigma


@dataclass(frozen=True)
class _Spectra:
    """Singular values per slice, ``sigma * 2**exponent`` being the real ones."""

    sigma: np.ndarray
    exponent: np.ndarray

    def actual(self, extra: int = 0) -> np.ndarray:
        """The singular values, times ``2**extra`` (inf past float64's range, as it must)."""
        with np.errstate(over="ignore", under="ignore"):
            return np.ldexp(self.sigma, self.exponent[:, None] + extra)


def _chunk_spectrum(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sigma, exponent)`` for one chunk of slices (see :func:`_spectra`)."""
    x = stack.astype(np.float64, copy=False)
    sigma = _singular_values(x)
    exponent = np.zeros(len(x), dtype=np.int64)
    top = sigma[:, 0]
    risky = ~((top > _SAFE_RANGE[0]) & (top < _SAFE_RANGE[1]))  # NaN is risky too
    if risky.any():
        scaled, exponent[risky] = _scaled(x[risky])
        sigma[risky] = _singular_values(scaled)
    return sigma, exponent


def _spectra(data: np.ndarray, order: str) -> _Spectra:
    """Singular values of every slice, chunk by chunk.

    Slices are used as they are when their largest singular value lies in
    ``_SAFE_RANGE`` (the usual case: no extra pass over the data); the others
    (huge, tiny, zero, or overflowing) are recomputed after scaling each by a
    power of two.  (Threads over chunks were measured slower here: the small
    BLAS calls contend.)
    """
    parts = [_chunk_spectrum(stack) for _, stack in _slice_chunks(data, order)]
    return _Spectra(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def _root_sum(per_slice_sq: np.ndarray, exponent: np.ndarray) -> tuple[float, int]:
    """``sqrt(sum_j x_j 4**e_j)`` as ``(mantissa, power of two)``: no overflow or underflow."""
    top = int(exponent.max())
    with np.errstate(under="ignore"):
        return float(np.sqrt(np.sum(np.ldexp(per_slice_sq, 2 * (exponent - top))))), top


def _to_float(value: tuple[float, int]) -> float:
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(value[0], value[1]))


# --------------------------------------------------------------------------- analyze


def analyze(
    kernel: Any,
    *,
    layout: str = "OIHW",
    order: str = "dw-pw",
    multiplier: int = 1,
    rtol: float | None = None,
) -> Analysis:
    """Decide whether a kernel is depthwise separable, and how far it is otherwise.

    Parameters
    ----------
    kernel : array_like or Kernel
        A 4-D convolution kernel, or 3-D for a 1-D convolution: a NumPy
        array, nested lists, a tensor, integers or rationals; or a kernel
        already validated by :func:`factorcheck.kernel.as_kernel` (then
        ``layout`` is ignored).
    layout : {"OIHW", "HWIO", "OHWI"}
        Axis order of ``kernel``: PyTorch/ONNX, TensorFlow/Keras, TFLite.
    order : {"dw-pw", "pw-dw"}
        Depthwise then pointwise (MobileNet), or pointwise then depthwise.
    multiplier : int
        Depth multiplier ``d``: the number of rank-one terms allowed per slice.
    rtol : float, optional
        If given, the kernel counts as separable when its relative distance
        to the nearest separable kernel is at most ``rtol``.  By default a
        float kernel is judged by numerical rank with ``max(rows, cols) * eps``
        of its own dtype, and an integer or rational kernel exactly.

    Returns
    -------
    Analysis
        The verdict, ranks, singular values and distances.

    Notes
    -----
    With ``A_j`` the slices (see the module docstring) and
    :math:`\\sigma_{j,1} \\ge \\sigma_{j,2} \\ge \\dots` their singular values,

    .. math::

        \\operatorname{dist}(K) = \\Big(\\sum_j \\sum_{k > d} \\sigma_{j,k}^2\\Big)^{1/2}

    by the Eckart-Young theorem applied to each slice independently.

    References
    ----------
    .. [1] C. Eckart and G. Young, "The approximation of one matrix by another
       of lower rank", Psychometrika 1 (1936).
    .. [2] A. G. Howard et al., "MobileNets", arXiv:1704.04861 (2017).

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> mu, b = np.arange(1.0, 9).reshape(4, 2), np.arange(18.0).reshape(2, 3, 3)
    >>> k = np.einsum("ij,jhw->ijhw", mu, b)          # k_ij = mu_ij * b_j
    >>> a = factorcheck.analyze(k)
    >>> a.separable, a.min_multiplier, a.relative_distance < 1e-15
    (True, 1, True)
    >>> factorcheck.analyze([[[1, 2]], [[3, 4]]]).separable   # integers: exact verdict
    False
    """
    order, multiplier, rtol = _check_options(order, multiplier, rtol)
    k = kernel if isinstance(kernel, Kernel) else as_kernel(kernel, layout, check_finite=False)
    spectra = _spectra(k.as_float(), order)
    if not np.isfinite(spectra.sigma).all():  # NaN or inf entries always end here
        require_finite(k.data) if kernel is k else as_kernel(kernel, layout)  # raises, user's index
    return _verdict(k, order, multiplier, rtol, spectra)


def _exact_ranks(k: Kernel, order: str, sigma: np.ndarray, d: int) -> np.ndarray:
    """Exact rank of every slice of an integer or rational kernel; exact-ify ``sigma`` in place.

    A slice whose float singular values are all above ``_CERTIFY_RATIO`` of the
    largest has full rank for certain: rounding the entries to float64 and
    computing the values moves each by far less than 1e-12 of the largest
    (Weyl's inequality), so none of them can really be zero.  Every other
    slice is decided by exact elimination; its values past the rank are set to
    exactly zero, and where the float values past ``d`` are too small to be
    trusted (below ``_CERTIFY_RATIO``) they are recomputed exactly.
    """
    ranks = (sigma > _CERTIFY_RATIO * sigma[:, :1]).sum(axis=1)
    for which, chunk in _slice_chunks(k.data, order):
        for offset, matrix in enumerate(chunk):
            j = which.start + offset
            if ranks[j] == sigma.shape[1]:
                continue
            ranks[j] = exact_rank(matrix)
            if ranks[j] > d and sigma[j, d] <= _CERTIFY_RATIO * sigma[j, 0]:
                sigma[j] = sigma[j, 0] * exact_singular_ratios(matrix, int(ranks[j]))
            sigma[j, ranks[j] :] = 0.0
    return ranks


def _verdict(k: Kernel, order: str, d: int, rtol: float | None, spectra: _Spectra) -> Analysis:
    sigma = spectra.sigma
    n, m, kh, kw = k.shape
    rank_tol = max(n if order == "dw-pw" else m, kh * kw) * k.eps
    if k.exact:
        ranks = _exact_ranks(k, order, sigma, d)
    else:
        ranks = (sigma > rank_tol * sigma[:, :1]).sum(axis=1)
    tail, total = (sigma[:, d:] ** 2).sum(axis=1), (sigma**2).sum(axis=1)
    norm, distance = _root_sum(total, spectra.exponent), _root_sum(tail, spectra.exponent)
    relative = distance[0] / norm[0] if norm[0] > 0 else 0.0
    min_multiplier = int(ranks.max())
    if rtol is not None:
        criterion, tolerance, separable = "rtol", rtol, relative <= rtol
    elif k.exact:
        criterion, tolerance, separable = "exact", None, min_multiplier <= d
    else:
        criterion, tolerance, separable = "rank", rank_tol, min_multiplier <= d
    kept = 1.0 - tail / np.where(total > 0, total, 1.0)
    return Analysis(
        shape=k.shape,
        layout=k.layout,
        order=order,
        multiplier=d,
        dtype=k.dtype,
        separable=bool(separable),
        exact=k.exact and rtol is None,
        criterion=criterion,
        tolerance=tolerance,
        singular_values=_readonly(spectra.actual(k.exponent)),
        ranks=_readonly(ranks.astype(np.int64)),
        min_multiplier=min_multiplier,
        distance=_to_float((distance[0], distance[1] + k.exponent)),
        relative_distance=float(relative),
        energy_kept=_readonly(kept),
        norm=_to_float((norm[0], norm[1] + k.exponent)),
    )


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def is_separable(
    kernel: Any,
    *,
    layout: str = "OIHW",
    order: str = "dw-pw",
    multiplier: int = 1,
    rtol: float | None = None,
) -> bool:
    """Whether ``kernel`` is a depthwise separable convolution (see :func:`analyze`).

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.ones((8, 3, 3, 3))
    >>> factorcheck.is_separable(k)
    True
    >>> k[0, 0, 1, 1] += 1e-6                      # a negative control
    >>> factorcheck.is_separable(k)
    False
    >>> factorcheck.is_separable(k, rtol=1e-3)     # ...but it is close
    True
    """
    return analyze(kernel, layout=layout, order=order, multiplier=multiplier, rtol=rtol).separable


# --------------------------------------------------------------------------- factors


def _truncated_slices(
    data: np.ndarray, order: str, d: int, extra: int = 0
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Per chunk: ``(which, mu, b)`` with slice ``A_j ~= mu_j @ b_j``, balanced and sign-fixed.

    ``mu`` has shape ``(slices, rows, d)`` and ``b`` ``(slices, d, kh*kw)``;
    ``mu @ b`` is the rank-``d`` truncated SVD of each slice (zero-padded when
    ``d`` exceeds the slice's size), times ``2**extra``.  Each slice is scaled
    by a power of two for the SVD; the power is split between the factors.
    """
    for which, stack in _slice_chunks(data, order):
        scaled, exponent = _scaled(stack)
        exponent = exponent + extra
        u, s, vt = np.linalg.svd(scaled, full_matrices=False)
        keep = min(d, s.shape[1])
        v = vt[:, :keep]
        sign = np.sign(np.take_along_axis(v, np.abs(v).argmax(axis=2)[..., None], axis=2))
        sign[sign == 0] = 1
        root = np.sqrt(s[:, :keep]) * sign[..., 0]
        half = exponent // 2
        mu = np.zeros((*u.shape[:2], d))
        b = np.zeros((u.shape[0], d, scaled.shape[2]))
        with np.errstate(over="ignore", under="ignore"):
            mu[:, :, :keep] = np.ldexp(u[:, :, :keep] * root[:, None, :], half[:, None, None])
            b[:, :keep] = np.ldexp(v * root[..., None], (exponent - half)[:, None, None])
        yield which, mu, b


def _exact_truncated(
    data: np.ndarray, order: str, d: int
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Exact analogue of :func:`_truncated_slices` for kernels already known to factor."""
    for which, stack in _slice_chunks(data, order):
        pairs = [exact_factors(s, d) for s in stack]
        yield which, np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _assemble(k: Kernel, order: str, d: int, exact: bool) -> Factors:
    """Stack per-slice factors into depthwise and pointwise kernels (caller's layout).

    ``d`` is capped at the slice rank bound ``min(rows, kh*kw)`` (see :func:`rank_bound`):
    more terms cannot help, and a huge multiplier would otherwise allocate huge factors.
    """
    n, m, kh, kw = k.shape
    d = min(d, rank_bound(k.shape, order))
    count = _slice_count(k, order)
    dtype = object if exact else np.float64
    mu = np.zeros((count, n if order == "dw-pw" else m, d), dtype=dtype)
    b = np.zeros((count, d, kh * kw), dtype=dtype)
    if exact:
        pieces = _exact_truncated(k.data, order, d)
    else:
        pieces = _truncated_slices(k.as_float(), order, d, k.exponent)
    for which, mu_part, b_part in pieces:
        mu[which], b[which] = mu_part, b_part
    spatial = b.reshape(count * d, 1, kh, kw) if order == "dw-pw" else b.reshape(count, d, kh, kw)
    if order == "dw-pw":  # pointwise[i, j*d + r] = mu[j, i, r]
        point = mu.transpose(1, 0, 2).reshape(n, m * d, 1, 1)
    else:  # pointwise[i*d + r, j] = mu[i, j, r]
        point = mu.transpose(0, 2, 1).reshape(n * d, m, 1, 1)
    if not exact:
        _require_no_underflow(k, spatial, point)
    return Factors(
        depthwise=from_canonical(spatial, k.layout, k.ndim),
        pointwise=from_canonical(point, k.layout, k.ndim),
        order=order,
        layout=k.layout,
        multiplier=d,
        groups=count,
    )


def rank_bound(shape: tuple[int, int, int, int], order: str) -> int:
    """The largest rank a slice can have: ``min(rows, kh*kw)`` of the canonical shape.

    A multiplier at or above it makes every kernel separable (the factors then
    reproduce the kernel itself), so :func:`decompose` and
    :func:`nearest_separable` use at most this many terms.

    Examples
    --------
    >>> rank_bound((64, 32, 3, 3), "dw-pw"), rank_bound((4, 2, 3, 3), "pw-dw")
    (9, 2)
    """
    n, m, kh, kw = shape
    return min(n if order == "dw-pw" else m, kh * kw)


def _finite_as(array: np.ndarray, dtype: np.dtype, k: Kernel | None = None) -> np.ndarray:
    """``array`` cast to ``dtype``, or a KernelError if that overflows (float32 near its max).

    The result of :func:`nearest_separable` passes its kernel ``k`` too, so
    that a result rounded to zeros is refused as well (see :func:`_require_no_underflow`).
    It uses at most :func:`rank_bound` terms, like :func:`decompose`.
    """
    if k is not None:
        _require_no_underflow(k, array)
    with np.errstate(over="ignore", invalid="ignore"):
        out = array.astype(dtype)
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        raise KernelError(
            f"the result has entries beyond {np.dtype(dtype).name}'s range "
            f"(about {float(np.finfo(dtype).max):.3g}); pass the kernel as float64, or scale "
            "it first: separability does not depend on scale")
    return out


def _require_no_underflow(k: Kernel, *arrays: np.ndarray) -> None:
    """Refuse float results of a kernel scaled into range (``k.exponent``) that rounded to zero.

    A long double or rational kernel far below float64's range (``1e-4000``)
    is analysed scaled by a power of two, but its factors or nearest kernel
    are float64 arrays: all zeros would be a silently wrong answer.
    """
    if k.exponent >= 0:  # only a kernel with non-zero entries far below 1 is scaled up
        return
    if any(a.size and not np.any(a) for a in arrays):
        raise KernelError(
            "the result lies below float64's range (the kernel's largest entry is about "
            f"2**{k.exponent}); scale the kernel first: separability does not depend on scale")


def _cast(factors: Factors, dtype: np.dtype) -> Factors:
    """The same factors with float arrays cast to ``dtype`` (exact factors stay exact)."""
    if factors.depthwise.dtype == object:
        return factors
    return replace(
        factors,
        depthwise=_finite_as(factors.depthwise, dtype),
        pointwise=_finite_as(factors.pointwise, dtype),
    )


def _float_dtype(k: Kernel) -> np.dtype:
    return np.dtype(np.float64) if k.exact else k.data.dtype


def decompose(
    kernel: Any,
    *,
    layout: str = "OIHW",
    order: str = "dw-pw",
    multiplier: int = 1,
    rtol: float | None = None,
    approximate: bool = False,
) -> Factors:
    """Factor a kernel into a depthwise and a pointwise convolution.

    Parameters
    ----------
    kernel, layout, order, multiplier, rtol
        As for :func:`analyze`.
    approximate : bool
        If True, return the factors of the nearest separable kernel when the
        kernel itself is not separable, instead of raising.

    Returns
    -------
    Factors
        The depthwise and pointwise kernels, in ``layout``.

    Raises
    ------
    NotSeparableError
        If the kernel is not separable and ``approximate`` is False.
    KernelError
        A float32 or float16 result beyond its dtype's range.

    Notes
    -----
    A multiplier at or above the slice rank bound ``min(rows, kh*kw)``
    (:func:`rank_bound`) gives factors with that many terms, which reproduce
    the kernel itself; ``Factors.multiplier`` says how many were used.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.einsum("ij,jhw->ijhw", np.arange(1.0, 7).reshape(3, 2), np.ones((2, 3, 3)))
    >>> f = factorcheck.decompose(k)
    >>> f.depthwise.shape, f.pointwise.shape
    ((2, 1, 3, 3), (3, 2, 1, 1))
    >>> factorcheck.decompose(np.eye(9).reshape(3, 3, 3, 3))
    Traceback (most recent call last):
    ...
    factorcheck.errors.NotSeparableError: ...
    """
    result = analyze(kernel, layout=layout, order=order, multiplier=multiplier, rtol=rtol)
    if not result.separable and not approximate:
        raise NotSeparableError(_not_separable_message(result), result.relative_distance)
    k = kernel if isinstance(kernel, Kernel) else as_kernel(kernel, layout)
    exact = k.exact and result.min_multiplier <= result.multiplier  # ranks are exact here
    return _cast(_assemble(k, result.order, result.multiplier, exact), _float_dtype(k))


def _not_separable_message(result: Analysis) -> str:
    return (
        f"kernel of shape {result.shape} (OIHW) is not {result.order} separable with "
        f"multiplier {result.multiplier}: its relative distance to the nearest separable kernel "
        f"is {result.relative_distance:.3e}; it needs multiplier {result.min_multiplier} to "
        "factor exactly. Pass approximate=True for the factors of the nearest separable kernel, "
        f"or multiplier={result.min_multiplier}."
    )


def nearest_separable(
    kernel: Any,
    *,
    layout: str = "OIHW",
    order: str = "dw-pw",
    multiplier: int = 1,
    rtol: float | None = None,
) -> np.ndarray:
    """The nearest kernel (Frobenius norm) that factors with ``multiplier`` terms per slice.

    It keeps the ``multiplier`` largest singular triplets of each slice
    (Eckart-Young); the result has the kernel's shape and layout, and its float
    dtype (float64 for integer and rational kernels).  ``rtol`` is accepted so
    that every function takes the same options; the nearest kernel does not
    depend on it.  A kernel whose nearest one lies beyond float64's range is
    a :class:`~factorcheck.KernelError`.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.random.default_rng(0).normal(size=(8, 4, 3, 3)).astype(np.float32)
    >>> p = factorcheck.nearest_separable(k)
    >>> p.shape, p.dtype, factorcheck.is_separable(p, rtol=1e-6)
    ((8, 4, 3, 3), dtype('float32'), True)
    """
    order, multiplier, _ = _check_options(order, multiplier, rtol)
    k = kernel if isinstance(kernel, Kernel) else as_kernel(kernel, layout)
    with np.errstate(over="ignore", invalid="ignore"):
        nearest = _assemble(k, order, multiplier, exact=False).to_kernel()
    if not np.isfinite(nearest).all():
        raise KernelError(
            "the nearest separable kernel has entries beyond float64's range (about 1.8e308); "
            "scale the kernel first: separability does not depend on scale"
        )
    return _finite_as(nearest, _float_dtype(k), k)
