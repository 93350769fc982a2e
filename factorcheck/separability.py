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
from dataclasses import replace
from typing import Any

import numpy as np

from factorcheck._spectra import (
    FastSpectra,
    Spectra,
    chunk_spectrum,
    fast_fields,
    fast_spectra,
    readonly,
    root_sums,
    scaled,
    to_float,
)
from factorcheck.analysis import Analysis, Factors
from factorcheck.errors import FactorcheckError, KernelError, NotSeparableError
from factorcheck.exact import exact_factors, exact_rank, exact_singular_ratios
from factorcheck.groups import check_groups, grouped_kernel, regroup_factors
from factorcheck.kernel import Kernel, as_kernel, from_canonical, require_finite

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
#: Float singular values above this ratio to the largest certify exact full rank (exact kernels).
_CERTIFY_RATIO = 1e-8
#: Slices are processed in chunks of about this many entries (bounds the float64 copies).
_CHUNK_ENTRIES = 1 << 22
#: Kernels with fewer Gram entries (slices x side**2) or fewer slices than these take the full
#: path at once, and so do slices of side 1 (1x1 kernels: the Gram matrix is its own
#: eigenvalue): it is faster there.  Measured (float32, the two paths side by side): 64
#: slices of 3x3 taps (5184 entries) 0.9 times the full path's time; 48 of them (3888)
#: 1.04 times; 64 slices of 2x2 taps (4096) 1.03 times; 3 slices of 7x7 taps 1.36 times;
#: 8192 slices of side 1, 1.57 times; 600 slices of 1x3 taps, 0.81 times.
_FAST_MIN_GRAM_ENTRIES = 5000
_FAST_MIN_SLICES = 32


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


def _spectra(data: np.ndarray, order: str) -> Spectra:
    """Full singular values of every slice, chunk by chunk (see :func:`chunk_spectrum`).

    (Threads over chunks were measured slower here: the small BLAS calls contend.)
    """
    parts = [chunk_spectrum(stack) for _, stack in _slice_chunks(data, order)]
    return Spectra(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


# --------------------------------------------------------------------------- analyze


def analyze(
    kernel: Any,
    *,
    layout: str = "OIHW",
    order: str = "dw-pw",
    multiplier: int = 1,
    rtol: float | None = None,
    groups: int = 1,
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
    groups : int
        ``G`` of a grouped convolution, whose kernel has shape
        ``(n, m/G, kh, kw)`` (PyTorch ``groups``, ONNX ``group``).  Each group's
        block is judged as its own kernel: the slices are those of every
        block, so ranks, distances and the verdict are per group, exactly as
        :func:`factorcheck.scan.scan` judges a grouped layer of a file.

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
    >>> two = np.concatenate([k, 2 * k[:, ::-1]])              # two groups, each separable
    >>> factorcheck.analyze(two, groups=2).separable, factorcheck.analyze(two).separable
    (True, False)
    """
    order, multiplier, rtol = _check_options(order, multiplier, rtol)
    k = kernel if isinstance(kernel, Kernel) else as_kernel(kernel, layout, check_finite=False)
    groups = check_groups(groups, k)
    sliced = grouped_kernel(k, groups, order)
    if not sliced.exact and multiplier == 1 and _fast_pays(sliced, order):
        fast = fast_spectra(sliced.as_float(), order, _rank_tolerance(sliced, order))
        if not fast.finite:
            _raise_not_finite(kernel, k, layout)
        result = _fast_verdict(sliced, order, rtol, fast)
    else:
        spectra = _spectra(sliced.as_float(), order)
        if not np.isfinite(spectra.sigma).all():  # NaN or inf entries always end here
            _raise_not_finite(kernel, k, layout)
        result = _verdict(sliced, order, multiplier, rtol, spectra)
    return result if groups == 1 else _regrouped(result, k.shape, groups)


def _regrouped(result: Analysis, shape: tuple[int, int, int, int], groups: int) -> Analysis:
    """``result`` of the per-group slices, relabelled with the grouped kernel's shape.

    Copies the stored values as they are, so deferred fields stay deferred.
    """
    copy = object.__new__(Analysis)
    copy.__dict__.update(result.__dict__)
    copy.__dict__.update(shape=shape, groups=groups)
    return copy


def _raise_not_finite(kernel: Any, k: Kernel, layout: str) -> None:
    """Raise the error naming the first NaN or infinity (with the user's index)."""
    require_finite(k.data) if kernel is k else as_kernel(kernel, layout)


def _fast_pays(k: Kernel, order: str) -> bool:
    """Whether the fast path's fixed cost (about 0.25 ms) is repaid: enough slices and entries."""
    n, m, kh, kw = k.shape
    count, rows = (m, n) if order == "dw-pw" else (n, m)
    side = min(rows, kh * kw)
    return side > 1 and count >= _FAST_MIN_SLICES and count * side**2 >= _FAST_MIN_GRAM_ENTRIES


def _rank_tolerance(k: Kernel, order: str) -> float:
    """``max(rows, cols) * eps``: the default tolerance of the numerical rank."""
    n, m, kh, kw = k.shape
    return max(n if order == "dw-pw" else m, kh * kw) * k.eps


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


def _verdict(k: Kernel, order: str, d: int, rtol: float | None, spectra: Spectra) -> Analysis:
    sigma = spectra.sigma
    rank_tol = _rank_tolerance(k, order)
    if k.exact:
        ranks = _exact_ranks(k, order, sigma, d)
    else:
        ranks = (sigma > rank_tol * sigma[:, :1]).sum(axis=1)
    tail, total = (sigma[:, d:] ** 2).sum(axis=1), (sigma**2).sum(axis=1)
    norm, distance = root_sums((total, tail), spectra.exponent)
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
        singular_values=readonly(spectra.actual(k.exponent)),
        ranks=readonly(ranks.astype(np.int64)),
        min_multiplier=min_multiplier,
        distance=to_float((distance[0], distance[1] + k.exponent)),
        relative_distance=float(relative),
        energy_kept=readonly(kept),
        norm=to_float((norm[0], norm[1] + k.exponent)),
    )


def _fast_verdict(k: Kernel, order: str, rtol: float | None, fast: FastSpectra) -> Analysis:
    """The :class:`Analysis` of a float kernel for multiplier 1, from :func:`fast_spectra`."""
    return Analysis(shape=k.shape, layout=k.layout, order=order, multiplier=1, dtype=k.dtype,
                    exact=False, **fast_fields(fast, k.exponent, _rank_tolerance(k, order), rtol))


def is_separable(
    kernel: Any,
    *,
    layout: str = "OIHW",
    order: str = "dw-pw",
    multiplier: int = 1,
    rtol: float | None = None,
    groups: int = 1,
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
    return analyze(kernel, layout=layout, order=order, multiplier=multiplier, rtol=rtol,
                   groups=groups).separable


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
        unit, exponent = scaled(stack)
        exponent = exponent + extra
        u, s, vt = np.linalg.svd(unit, full_matrices=False)
        keep = min(d, s.shape[1])
        v = vt[:, :keep]
        sign = np.sign(np.take_along_axis(v, np.abs(v).argmax(axis=2)[..., None], axis=2))
        sign[sign == 0] = 1
        root = np.sqrt(s[:, :keep]) * sign[..., 0]
        half = exponent // 2
        mu = np.zeros((*u.shape[:2], d))
        b = np.zeros((u.shape[0], d, unit.shape[2]))
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
    groups: int = 1,
    approximate: bool = False,
) -> Factors:
    """Factor a kernel into a depthwise and a pointwise convolution.

    Parameters
    ----------
    kernel, layout, order, multiplier, rtol, groups
        As for :func:`analyze`; a grouped kernel factors per group (see :class:`Factors`).
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
    result = analyze(kernel, layout=layout, order=order, multiplier=multiplier, rtol=rtol,
                     groups=groups)
    if not result.separable and not approximate:
        raise NotSeparableError(_not_separable_message(result), result.relative_distance)
    k = kernel if isinstance(kernel, Kernel) else as_kernel(kernel, layout)
    exact = k.exact and result.min_multiplier <= result.multiplier  # ranks are exact here
    sliced = grouped_kernel(k, result.groups, result.order)
    factors = _assemble(sliced, result.order, result.multiplier, exact)  # refuses underflow
    return _cast(regroup_factors(factors, result.groups), _float_dtype(k))


def _not_separable_message(result: Analysis) -> str:
    return (
        f"kernel of shape {result.shape} (OIHW"
        f"{f', {result.groups} groups' if result.groups > 1 else ''}) is not {result.order} "
        "separable with "
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
    groups: int = 1,
) -> np.ndarray:
    """The nearest kernel (Frobenius norm) that factors with ``multiplier`` terms per slice.

    It keeps the ``multiplier`` largest singular triplets of each slice
    (Eckart-Young); the result has the kernel's shape and layout, and its float
    dtype (float64 for integer and rational kernels).  ``rtol`` is accepted so
    that every function takes the same options; the nearest kernel does not
    depend on it.  With ``groups`` the truncation is per group, as in
    :func:`analyze`.  A kernel whose nearest one lies beyond its float dtype's
    range (float64's, or float32's for a float32 kernel near float32's maximum)
    is a :class:`~factorcheck.KernelError`, never a silent ``inf``.  A
    multiplier at or above the slice rank bound (:func:`rank_bound`) returns
    the kernel itself.

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
    groups = check_groups(groups, k)
    with np.errstate(over="ignore", invalid="ignore"):
        factors = _assemble(grouped_kernel(k, groups, order), order, multiplier, exact=False)
        nearest = regroup_factors(factors, groups).to_kernel()
    if not np.isfinite(nearest).all():
        raise KernelError(
            "the nearest separable kernel has entries beyond float64's range (about 1.8e308); "
            "scale the kernel first: separability does not depend on scale"
        )
    return _finite_as(nearest, _float_dtype(k), k)
