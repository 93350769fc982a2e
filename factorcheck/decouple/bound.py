"""Certified upper bounds on the operator norm of a multi-channel convolution.

A convolution with kernel ``K`` (``n`` outputs, ``m`` inputs, ``kh x kw``
taps, dilation ``(dh, dw)``) maps an ``m x H x W`` input linearly; its
operator norm ``||conv_K||_2`` is the largest factor by which it can
stretch an input in the Euclidean norm.  This module bounds it from above,
rigorously, and through it the output error of replacing ``K`` by an
approximation ``P``: ``||conv_K(x) - conv_P(x)|| <= ||conv_{K-P}||_2 ||x||``.

Why the bound holds
-------------------
Let ``kh' = dh (kh - 1) + 1`` be the dilated extent (likewise ``kw'``).
The *full* linear convolution of an ``H x W`` input has
``(H + kh' - 1) x (W + kw' - 1)`` outputs, and on a grid of that size it is
a circular convolution: nothing wraps around.  A circular multi-channel
convolution is block-diagonalized by the 2-D DFT, so its singular values are
those of the ``n x m`` matrices ``K^(w) = sum_t K_t e^{-i <w, t>}``, one per
grid frequency ``w`` (Sedghi, Gupta & Long [1]_).  Zero padding, cropping
and stride only *select* outputs of the full convolution (outputs that
would lie beyond it are zeros), and selecting rows of a matrix cannot raise
its norm.  Hence

.. math:: \\|\\mathrm{conv}_K\\|_2 \\le \\max_{w \\in \\text{grid}} \\sigma_{\\max}(\\hat K(w)).

Grouped convolutions are block-diagonal: the maximum over groups.  For
stride 1 and "full" padding the bound approaches the true norm as the input
grows (both tend to the supremum over all frequencies); for "same" padding
it is close already on moderate inputs (the tests measure both).

A stride ``s`` discards most outputs, so the bound above is loose for it
(about 50% for stride 2 on random kernels).  The stride is then also handled
exactly: with ``a = s q + r``, a strided convolution is a stride-1
convolution of the input's ``s_h s_w`` polyphase components
``x_r[i] = x[s i + r]`` with the kernel ``K_r[q] = K[s q + r]`` (``m s_h s_w``
input channels, ``ceil(kh' / s)`` taps); splitting the padded input into its
components is an isometry of the real input, so the same bound applies to
that convolution on a ``ceil((H + pads) / s)`` grid.  The smaller of the two
bounds is returned (within 4% of the true norm for stride 2 on a 12 x 12 input).

How it is computed
------------------
``sigma_max(K^(w))^2`` is the largest eigenvalue of the Hermitian
``G(w) = K^(w)^H K^(w)`` (or ``K^(w) K^(w)^H``, the smaller side ``r``).  That
Gram matrix is itself the DFT of the kernel's autocorrelation
``C_d = sum_{t - s = d} K_s^T K_t``, a kernel of ``(2 kh - 1)(2 kw - 1)``
taps that is computed once; its DFT is taken axis by axis (the phases factor),
and each frequency then costs one ``r x r`` ``eigvalsh`` instead of an
``n x m`` product.  A real kernel's
spectrum is symmetric (``G(-w)`` is the conjugate of ``G(w)``), so only half
the grid is visited, as ``rfft2`` would.

Floating point
--------------
The kernel is first scaled by a power of two (exact) so that its largest
entry lies in [0.5, 1).  The result is then inflated to cover every rounding
error, with ``u = 2**-53`` and ``F = ||K||_F`` (after scaling):

* the Gram products and the sums over tap pairs (``n_g kh kw`` terms per
  entry), the phases ``e^{-i w_h d_h}`` and ``e^{-i w_w d_w}`` of each axis
  (reduced exactly to ``[0, 2 pi)``, then at most 32 ``u`` off each,
  assuming the C library's ``cos`` and ``sin`` are accurate to a few ulp),
  the two sums over the ``D = D_h D_w`` autocorrelation taps (width, then height),
  and ``eigvalsh``'s backward error (LAPACK's "modest multiple" of
  ``u ||G||``, taken as ``8 r u ||G||``) together move
  the computed largest eigenvalue by at most
  ``lambda_margin = 2 u kh kw F^2 (n_g kh kw + 2 D + 8 r + 100)``: each term
  is at most ``gamma_k`` times ``|K|``'s own Gram, whose norm is at most
  ``kh kw F^2`` (Higham, *Accuracy and Stability*, 2nd ed., ch. 3), and the
  factor 2 absorbs the ``1/(1 - k u)`` of ``gamma_k``;
* the square root and the final scaling: a factor ``1 + 8 u``;
* the kernel itself being rounded to float64 (rational kernels, integers
  beyond 2**53, the difference ``K - P`` in :func:`error_bound`, and there
  both kernels when they are rational): each entry at most ``u`` relative,
  which moves the norm by at most ``u sqrt(kh kw) ||K||_F``, added (doubled).

Since ``sigma_max^2 >= F^2 / r`` (Parseval), the margin is a relative
``O(u (kh kw)^2 n_g r)`` at most: about 1e-9 for 512 channels and 3 x 3.

References
----------
.. [1] H. Sedghi, V. Gupta and P. M. Long, "The singular values of
   convolutional layers", ICLR 2019.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError
from factorcheck.kernel import Kernel, as_kernel

__all__ = ["error_bound", "operator_norm"]

#: Unit roundoff of float64, and its smallest normal number.
_U = 2.0**-53
_TINY = float(np.finfo(np.float64).tiny)
#: Frequencies per chunk are chosen so a chunk holds about this many complex entries.
_CHUNK_ENTRIES = 1 << 21

Padding = (
    int | tuple[int, int] | tuple[int, int, int, int] | tuple[tuple[int, int], tuple[int, int]]
)


# --------------------------------------------------------------------------- options


def _positive_pair(value: object, name: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each ``>= minimum``; else a clear error."""
    items = (value, value) if _is_int(value) else value
    try:
        pair = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_is_int(v) and v >= minimum for v in pair):
        raise FactorcheckError(
            f"{name} must be an int >= {minimum} or a pair of them, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _padding(value: object) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` from an int, ``(ph, pw)``, ONNX's
    ``(top, left, bottom, right)`` or ``((top, bottom), (left, right))``."""
    if _is_int(value):
        p = _positive_pair(value, "padding", 0)
        return p[0], p[0], p[1], p[1]
    items = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(items) == 2 and all(_is_int(v) for v in items):
        ph, pw = _positive_pair(items, "padding", 0)
        return ph, ph, pw, pw
    if len(items) == 2:
        (top, bottom), (left, right) = (_positive_pair(v, "padding", 0) for v in items)
        return top, bottom, left, right
    if len(items) == 4 and all(_is_int(v) and v >= 0 for v in items):
        top, left, bottom, right = (int(v) for v in items)
        return top, bottom, left, right
    raise FactorcheckError(
        "padding must be an int >= 0, (ph, pw), ONNX pads (top, left, bottom, right) or "
        f"((top, bottom), (left, right)), got {value!r}"
    )


@dataclass(frozen=True)
class _Geometry:
    """A validated convolution: the full-convolution grid and what the stride bound needs."""

    grid: tuple[int, int]  # (H + kh' - 1, W + kw' - 1)
    dilation: tuple[int, int]
    stride: tuple[int, int]
    padded: tuple[int, int]  # (H + top + bottom, W + left + right)
    groups: int


def _geometry(
    shape: tuple[int, int, int, int], input_hw: object, stride: object, padding: object,
    dilation: object, groups: object,
) -> _Geometry:
    """Validate the convolution's options."""
    hw = _positive_pair(input_hw, "input_hw")
    step = _positive_pair(stride, "stride")
    dil = _positive_pair(dilation, "dilation")
    top, bottom, left, right = _padding(padding)
    n, _, kh, kw = shape
    if not _is_int(groups) or groups < 1 or n % groups:
        raise FactorcheckError(
            f"groups must be an int >= 1 dividing the {n} output channels, got {groups!r}"
        )
    extent = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    padded = (hw[0] + top + bottom, hw[1] + left + right)
    if padded[0] < extent[0] or padded[1] < extent[1]:
        raise FactorcheckError(
            f"the dilated kernel extent {extent} is larger than the padded input {padded} "
            f"(input_hw {hw}, padding {(top, bottom, left, right)})"
        )
    grid = (hw[0] + extent[0] - 1, hw[1] + extent[1] - 1)
    return _Geometry(grid, dil, step, padded, int(groups))


# --------------------------------------------------------------------------- spectrum


def _autocorrelation(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(C, dh, dw)``: the Gram kernel of every group's block, and its offsets per axis.

    ``blocks`` is ``(G, n_g, m_g, kh, kw)``.  ``C[:, i * len(dw) + j]`` is
    ``r x r`` (``r = min(n_g, m_g)``) for the offset ``(dh[i], dw[j])`` (in
    taps, before dilation): ``sum_{t - s = d} K_s^T K_t`` when ``m_g <= n_g``,
    else ``sum_{t - s = d} K_t K_s^T``.
    """
    g, n_g, m_g, kh, kw = blocks.shape
    taps = blocks.transpose(0, 3, 4, 1, 2).reshape(g, kh * kw, n_g, m_g)
    if m_g > n_g:  # the n x n side: K K^T = (K^T)^T (K^T)
        taps = taps.transpose(0, 1, 3, 2)
    offsets = [(a, b) for a in range(1 - kh, kh) for b in range(1 - kw, kw)]
    index = {d: i for i, d in enumerate(offsets)}
    r = taps.shape[3]
    c = np.zeros((g, len(offsets), r, r))
    for s in range(kh * kw):
        for t in range(kh * kw):
            d = (t // kw - s // kw, t % kw - s % kw)
            c[:, index[d]] += taps[:, s].transpose(0, 2, 1) @ taps[:, t]
    return c, np.arange(1 - kh, kh, dtype=np.int64), np.arange(1 - kw, kw, dtype=np.int64)


def _axis_phases(size: int, freqs: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``e^{-2 pi i f d / size}`` for frequencies ``f`` and offsets ``d`` along one axis.

    ``f d`` is reduced modulo ``size`` in exact integers first, so the angle is
    in ``[0, 2 pi)`` and the phase is within a few ulp.
    """
    angle = (2 * np.pi / size) * np.mod(np.outer(freqs, offsets), size)
    return np.exp(-1j * angle)


def _largest_eigenvalues(c: np.ndarray, grid: tuple[int, int], offsets: tuple) -> np.ndarray:
    """Per group, ``max_w lambda_max(G(w))`` over half the grid, chunk by chunk.

    ``G(u, v) = sum_a e_h(u, a) sum_b e_w(v, b) C[a, b]``: the phases are a
    product over the two axes, so ``G`` is two small contractions (over the
    width offsets, then the height offsets) rather than one per grid point.
    """
    (hp, wp), (oh, ow) = grid, offsets
    g, _, r, _ = c.shape
    width = g * r * r
    cc = c.reshape(g, len(oh), len(ow), r * r).transpose(1, 2, 0, 3).reshape(len(oh), len(ow),
                                                                              width)
    e_h = _axis_phases(hp, np.arange(hp), oh)  # (hp, Dh)
    vs = np.arange(wp // 2 + 1)
    v_step = max(1, min(len(vs), _CHUNK_ENTRIES // (len(oh) * width)))
    top = np.zeros(g)
    for v0 in range(0, len(vs), v_step):
        e_w = _axis_phases(wp, vs[v0 : v0 + v_step], ow)  # (vc, Dw)
        partial = np.einsum("vb,abx->avx", e_w, cc)  # (Dh, vc, width)
        u_step = max(1, _CHUNK_ENTRIES // (partial.shape[1] * width))
        for u0 in range(0, hp, u_step):
            gram = np.tensordot(e_h[u0 : u0 + u_step], partial, axes=(1, 0))
            top = np.maximum(top, np.linalg.eigvalsh(gram.reshape(-1, g, r, r))[..., -1]
                             .max(axis=0))  # eigvalsh reads the lower triangle: Hermitian
    return top


def _norm_bound(blocks: np.ndarray, grid: tuple[int, int], dilation: tuple[int, int],
                extra: int = 0) -> float:
    """The certified bound for float64 blocks ``(G, n_g, m_g, kh, kw)`` (see the module).

    Each group gets its own margin (from its own norm); the bound is the
    largest over the groups.
    """
    biggest = float(np.abs(blocks).max())
    if biggest == 0.0:
        return 0.0
    _, exponent = np.frexp(biggest)
    scaled = np.ldexp(blocks, -int(exponent))  # exact: largest entry in [0.5, 1)
    c, dh, dw = _autocorrelation(scaled)
    lam = _largest_eigenvalues(c, grid, (dh * dilation[0], dw * dilation[1]))
    _, n_g, m_g, kh, kw = blocks.shape
    taps, r = kh * kw, min(n_g, m_g)
    frob_sq = np.sum(scaled**2, axis=(1, 2, 3, 4)) * (1 + 4 * _U * scaled[0].size)
    margin = 2 * _U * taps * frob_sq * (n_g * taps + 2 * c.shape[1] + 8 * r + 100)
    bound = np.sqrt(np.maximum(lam, 0.0) + margin) * (1 + 8 * _U)
    with np.errstate(over="ignore", under="ignore"):
        value = float(np.ldexp(bound.max(), int(exponent) + extra))  # inf beyond float64
    # scaling by a power of two is exact, except into the subnormals: round up there
    return float(np.nextafter(value, np.inf)) if value < _TINY else value


def _polyphase(blocks: np.ndarray, dilation: tuple[int, int], stride: tuple[int, int]
               ) -> np.ndarray:
    """The stride-1 kernel on the stride's polyphase components of the input.

    With ``a = s q + r``, ``y[p] = sum_a K[a] x[s p + a] = sum_r sum_q K[s q + r] x_r[p + q]``
    where ``x_r[i] = x[s i + r]``: a stride-1 convolution of the ``s_h s_w m``
    components with the kernel ``K_r[q] = K[s q + r]`` (dilation taps
    included as zeros).  Splitting the padded input into components is an
    isometry of the real input, so this convolution's bound bounds the strided one.
    """
    g, n, m, kh, kw = blocks.shape
    (dh, dw), (sh, sw) = dilation, stride
    qh, qw = -(-(dh * (kh - 1) + 1) // sh), -(-(dw * (kw - 1) + 1) // sw)
    spread = np.zeros((g, n, m, qh * sh, qw * sw))
    spread[..., : dh * (kh - 1) + 1 : dh, : dw * (kw - 1) + 1 : dw] = blocks
    phases = spread.reshape(g, n, m, qh, sh, qw, sw).transpose(0, 1, 2, 4, 6, 3, 5)
    return phases.reshape(g, n, m * sh * sw, qh, qw)


def _certified(blocks: np.ndarray, geo: _Geometry, extra: int = 0) -> float:
    """The bound of :func:`_norm_bound`; with a stride, also through the polyphase kernel
    (much tighter: the stride's discarded outputs no longer count), the smaller of the two."""
    direct = _norm_bound(blocks, geo.grid, geo.dilation, extra)
    if geo.stride == (1, 1):
        return direct
    poly = _polyphase(blocks, geo.dilation, geo.stride)
    qh, qw = poly.shape[-2:]
    size = (-(-geo.padded[0] // geo.stride[0]), -(-geo.padded[1] // geo.stride[1]))
    return min(direct, _norm_bound(poly, (size[0] + qh - 1, size[1] + qw - 1), (1, 1), extra))


# --------------------------------------------------------------------------- public


def _kernel(kernel: Any, layout: str) -> Kernel:
    return kernel if isinstance(kernel, Kernel) else as_kernel(kernel, layout)


def _blocks(k: Kernel, groups: int) -> np.ndarray:
    """Float64 blocks ``(G, n/G, m/G, kh, kw)``, times ``2**-k.exponent``."""
    n, m_g, kh, kw = k.shape
    return k.as_float().astype(np.float64).reshape(groups, n // groups, m_g, kh, kw)


def _rounding_slack(blocks: np.ndarray, exponent: int = 0) -> float:
    """A bound on ``||conv_E||_2`` for any ``E`` with ``|E| <= u |B|`` entrywise.

    ``||conv_E||_2 <= || sum_t |E_t| ||_2 <= u sqrt(kh kw) ||B||_F`` (each
    tap's shift is a contraction; Cauchy-Schwarz over the taps); doubled for
    the rounding of this very computation.  It covers a kernel rounded to
    float64 (rationals, integers beyond 2**53) and a rounded subtraction.
    """
    biggest = float(np.abs(blocks).max()) if blocks.size else 0.0
    if biggest == 0.0:
        return 0.0
    _, e = np.frexp(biggest)
    frob = float(np.sqrt(np.sum(np.ldexp(blocks, -int(e)) ** 2)))
    taps = blocks.shape[-2] * blocks.shape[-1]
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(2 * _U * np.sqrt(taps) * frob * (1 + 4 * _U * blocks.size),
                              int(e) + exponent))


def _rounded(k: Kernel) -> bool:
    """Whether converting ``k`` to float64 may have rounded it."""
    if not k.exact:
        return False  # float16/32/64 widen exactly
    if k.data.dtype.kind in "iu":
        return bool(np.abs(k.data).max(initial=0) > 2**53)
    return True


def _up(total: float) -> float:
    """A float at least the exact sum that ``total`` rounded (sums of two non-negative terms)."""
    return float(np.nextafter(total, np.inf)) if total > 0 else total


def operator_norm(
    kernel: Any,
    input_hw: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
    layout: str = "OIHW",
    groups: int = 1,
) -> float:
    """A certified upper bound on the operator norm of a zero-padded convolution.

    Parameters
    ----------
    kernel : array_like
        The kernel, ``(n, m / groups, kh, kw)`` in OIHW (3-D for a 1-D
        convolution), any input :func:`factorcheck.analyze` accepts.
    input_hw : int or (int, int)
        The input's spatial size ``(H, W)`` (for a 1-D convolution,
        ``(1, L)``).
    stride, dilation : int or (int, int)
        As in the convolution.  Stride only selects outputs, so the bound does
        not depend on it; it is validated all the same.
    padding : int, (ph, pw), (top, left, bottom, right) or ((top, bottom), (left, right))
        Zero padding; the 4-tuple is ONNX's ``pads`` order.
    layout : {"OIHW", "HWIO", "OHWI"}
    groups : int
        Groups of the convolution: the norm is the largest over the groups.

    Returns
    -------
    float
        ``B`` with ``||conv_K(x)||_2 <= B ||x||_2`` for every input ``x`` of
        that size, rounding errors of this computation included (``inf``
        when the norm is beyond float64's range, for huge rational kernels).

    Raises
    ------
    FactorcheckError
        On a bad kernel, size, stride, padding, dilation or group count, or
        a dilated kernel larger than the padded input.

    Notes
    -----
    With ``G'`` the ``(H + kh' - 1) x (W + kw' - 1)`` frequency grid (see the
    module docstring),

    .. math:: \\|\\mathrm{conv}_K\\|_2 \\le \\max_{w \\in G'} \\sigma_{\\max}
              \\Big(\\sum_t K_t e^{-i \\langle w, t \\rangle}\\Big).

    References
    ----------
    .. [1] H. Sedghi, V. Gupta and P. M. Long, "The singular values of
       convolutional layers", ICLR 2019.

    Examples
    --------
    A 3 x 3 box filter sums nine inputs; its norm on a large input is close to 9:

    >>> import numpy as np, factorcheck
    >>> b = factorcheck.operator_norm(np.ones((1, 1, 3, 3)), (32, 32), padding=1)
    >>> 9.0 <= b <= 9.0 * (1 + 1e-12)
    True
    >>> factorcheck.operator_norm(np.eye(2).reshape(2, 2, 1, 1), 5)   # identity: norm 1
    1.000000000...
    """
    k = _kernel(kernel, layout)
    geo = _geometry(k.shape, input_hw, stride, padding, dilation, groups)
    blocks = _blocks(k, geo.groups)
    slack = _rounding_slack(blocks, k.exponent) if _rounded(k) else 0.0
    return _up(_certified(blocks, geo, k.exponent) + slack)


def error_bound(
    kernel: Any,
    approx: Any,
    input_hw: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
    layout: str = "OIHW",
    groups: int = 1,
) -> float:
    """A certified bound on the output error of replacing ``kernel`` by ``approx``.

    It is :func:`operator_norm` of ``kernel - approx`` (the difference taken in
    float64, its rounding covered), so that for every input ``x`` of that size
    ``||conv_K(x) - conv_P(x)||_2 <= error_bound(K, P, ...) * ||x||_2``.
    Biases cancel in the difference and do not enter.

    Parameters
    ----------
    kernel, approx : array_like
        Two kernels of the same shape and layout.
    input_hw, stride, padding, dilation, layout, groups
        As for :func:`operator_norm`.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.random.default_rng(0).normal(size=(8, 4, 3, 3))
    >>> p = factorcheck.nearest_separable(k, multiplier=2)
    >>> e = factorcheck.error_bound(k, p, (16, 16), padding=1)
    >>> bool(0 < e < factorcheck.operator_norm(k, (16, 16), padding=1))
    True
    >>> factorcheck.error_bound(k, k, 16)
    0.0
    """
    k, p = _kernel(kernel, layout), _kernel(approx, layout)
    if k.shape != p.shape:
        raise FactorcheckError(
            f"kernel and approx must have the same shape, got {k.shape} and {p.shape} (OIHW)"
        )
    geo = _geometry(k.shape, input_hw, stride, padding, dilation, groups)
    with np.errstate(over="ignore", invalid="ignore"):
        kb = np.ldexp(_blocks(k, geo.groups), k.exponent)
        pb = np.ldexp(_blocks(p, geo.groups), p.exponent)
        diff = kb - pb
    if not (np.isfinite(diff).all() and np.isfinite(kb).all() and np.isfinite(pb).all()):
        raise FactorcheckError("kernel - approx overflows float64; scale both kernels first")
    slack = _rounding_slack(diff)  # the subtraction
    slack += sum(_rounding_slack(b) for b, x in ((kb, k), (pb, p)) if _rounded(x))
    return _up(_up(_certified(diff, geo) + slack))
