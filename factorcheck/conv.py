"""Reference convolutions in NumPy, to check equivalences rather than to be fast.

:func:`conv2d` is a cross-correlation, as in PyTorch and ONNX: input ``(N, C,
H, W)`` (or ``(C, H, W)``), weight OIHW ``(O, C/groups, kh, kw)``, with stride,
padding (symmetric or per side), dilation, groups and bias.  It works for any
dtype NumPy's ``einsum`` does, including object arrays of
:class:`fractions.Fraction` for exact checks.

:func:`apply_factors` runs the two convolutions of a
:class:`~factorcheck.Factors` in order; :func:`fold_bias` gives the single
bias of the equivalent standard convolution.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError
from factorcheck.kernel import to_canonical
from factorcheck.separability import Factors

__all__ = ["apply_factors", "conv1d", "conv2d", "fold_bias"]

Padding = int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]]


def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in pair
    ):
        raise FactorcheckError(
            f"{name} must be an int >= {minimum} or a pair of them, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _padding(padding: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Normalize padding to ``((top, bottom), (left, right))``."""
    if isinstance(padding, numbers.Integral):
        p = _pair(padding, "padding", 0)
        return (p[0], p[0]), (p[1], p[1])
    items = tuple(padding)
    if len(items) == 2 and all(isinstance(v, numbers.Integral) for v in items):
        ph, pw = _pair(items, "padding", 0)
        return (ph, ph), (pw, pw)
    if len(items) == 2:
        return _pair(items[0], "padding", 0), _pair(items[1], "padding", 0)
    raise FactorcheckError(
        f"padding must be an int, (ph, pw) or ((top, bottom), (left, right)), got {padding!r}"
    )


def _check_conv_shapes(x: np.ndarray, weight: np.ndarray, groups: object, bias: Any) -> None:
    if x.ndim not in (3, 4) or weight.ndim != 4:
        raise FactorcheckError(
            f"expected input (N, C, H, W) or (C, H, W) and weight (O, C/groups, kh, kw), "
            f"got input shape {x.shape} and weight shape {weight.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise FactorcheckError(f"groups must be an integer >= 1, got {groups!r}")
    if bias is not None and np.shape(bias) != (weight.shape[0],):
        raise FactorcheckError(
            f"expected a bias of shape ({weight.shape[0]},), one per output channel, "
            f"got shape {np.shape(bias)}"
        )
    if x.ndim == 3:
        x = x[np.newaxis]
    out_ch, in_per_group = weight.shape[:2]
    if groups < 1 or x.shape[1] % groups or out_ch % groups or x.shape[1] // groups != in_per_group:
        raise FactorcheckError(
            f"groups={groups} does not fit input channels {x.shape[1]} and weight shape "
            f"{weight.shape}: expected weight.shape[1] == channels / groups and "
            "channels and outputs divisible by groups"
        )


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> np.ndarray:
    """2-D cross-correlation with stride, padding, dilation, groups and bias.

    Parameters
    ----------
    x : array_like
        Input ``(N, C, H, W)`` or ``(C, H, W)``.
    weight : array_like
        Kernel in OIHW, ``(O, C/groups, kh, kw)``.
    bias : array_like, optional
        One value per output channel.
    stride, dilation : int or (int, int)
    padding : int, (ph, pw) or ((top, bottom), (left, right))
        Zero padding; asymmetric padding as in ONNX ``pads``.
    groups : int

    Returns
    -------
    numpy.ndarray
        Output ``(N, O, H_out, W_out)`` (no batch axis if ``x`` had none), with
        ``H_out = (H + top + bottom - dilation*(kh - 1) - 1) // stride + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    x, weight = np.asarray(x), np.asarray(weight)
    _check_conv_shapes(x, weight, groups, bias)
    batched = x.ndim == 4
    x = x if batched else x[np.newaxis]
    (sh, sw), (dh, dw) = _pair(stride, "stride", 1), _pair(dilation, "dilation", 1)
    pads = _padding(padding)
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    kh, kw = weight.shape[2:]
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise FactorcheckError(
            f"the dilated kernel {weight.shape[2:]} (dilation {(dh, dw)}) is larger than the "
            f"padded input {xp.shape[2:]}"
        )
    n, c = x.shape[:2]
    xg = xp.reshape(n, groups, c // groups, *xp.shape[2:])
    wg = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
    out = None
    for a in range(kh):
        for b in range(kw):
            window = xg[
                ...,
                a * dh : a * dh + sh * (ho - 1) + 1 : sh,
                b * dw : b * dw + sw * (wo - 1) + 1 : sw,
            ]
            term = np.einsum("ngchw,goc->ngohw", window, wg[:, :, :, a, b])
            out = term if out is None else out + term
    out = out.reshape(n, weight.shape[0], ho, wo)
    if bias is not None:
        out = out + np.asarray(bias).reshape(1, -1, 1, 1)
    return out if batched else out[0]


def conv1d(
    x: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    groups: int = 1,
) -> np.ndarray:
    """1-D cross-correlation: input ``(N, C, L)`` or ``(C, L)``, weight ``(O, C/groups, k)``.

    Examples
    --------
    >>> conv1d(np.arange(5.0).reshape(1, 5), np.ones((1, 1, 2)))
    array([[1., 3., 5., 7.]])
    """
    x, weight = np.asarray(x), np.asarray(weight)
    pad = (padding, padding) if isinstance(padding, numbers.Integral) else tuple(padding)
    out = conv2d(
        x[..., np.newaxis, :],
        weight[:, :, np.newaxis, :],
        bias,
        stride=(1, stride),
        padding=((0, 0), pad),
        dilation=(1, dilation),
        groups=groups,
    )
    return out[..., 0, :]


def apply_factors(
    x: Any,
    factors: Factors,
    *,
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
    depthwise_bias: Any = None,
    pointwise_bias: Any = None,
) -> np.ndarray:
    """Run the two convolutions of ``factors`` on ``x``, in their order.

    Stride, padding and dilation are carried by the spatial (depthwise) step;
    the pointwise step is a 1x1 convolution with stride 1.  For 1-D factors,
    ``x`` is ``(N, C, L)`` and the options apply to the length axis.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> rng = np.random.default_rng(0)
    >>> k = np.einsum("ij,jhw->ijhw", rng.normal(size=(16, 3)), rng.normal(size=(3, 3, 3)))
    >>> x = rng.normal(size=(1, 3, 11, 11))
    >>> y = apply_factors(x, factorcheck.decompose(k), stride=2, padding=1)
    >>> y.shape, np.allclose(y, conv2d(x, k, stride=2, padding=1))
    ((1, 16, 6, 6), True)
    """
    one_d = factors.depthwise.ndim == 3
    dw = to_canonical(factors.depthwise, factors.layout)
    pw = to_canonical(factors.pointwise, factors.layout)
    x = np.asarray(x)
    if one_d:
        x = x[..., np.newaxis, :]
        stride, dilation = (1, stride), (1, dilation)
        pad = (padding, padding) if isinstance(padding, numbers.Integral) else tuple(padding)
        padding = ((0, 0), pad)
    spatial = {"stride": stride, "padding": padding, "dilation": dilation, "groups": factors.groups}
    if factors.order == "dw-pw":
        y = conv2d(x, dw, depthwise_bias, **spatial)
        y = conv2d(y, pw, pointwise_bias)
    else:
        y = conv2d(x, pw, pointwise_bias)
        y = conv2d(y, dw, depthwise_bias, **spatial)
    return y[..., 0, :] if one_d else y


def fold_bias(factors: Factors, depthwise_bias: Any, pointwise_bias: Any) -> np.ndarray:
    """The bias of the standard convolution equivalent to a biased dw-pw pair.

    A depthwise bias ``c`` (one per depthwise channel) passes through the
    pointwise step: the standard bias is ``d_i + sum_j mu_ij c_j``.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.ones((2, 3, 3, 3))
    >>> f = factorcheck.decompose(k)
    >>> c, d = np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.5])
    >>> x = np.random.default_rng(0).normal(size=(3, 5, 5))
    >>> two_steps = apply_factors(x, f, depthwise_bias=c, pointwise_bias=d)
    >>> np.allclose(two_steps, conv2d(x, k, fold_bias(f, c, d)))
    True
    """
    if factors.order != "dw-pw":
        raise FactorcheckError(
            "fold_bias applies to order 'dw-pw'; in 'pw-dw' a pointwise bias meets the "
            "zero padding of the depthwise step, so no single standard bias is equivalent at "
            "the borders"
        )
    pw = to_canonical(factors.pointwise, factors.layout)[:, :, 0, 0]
    return np.asarray(pointwise_bias) + pw @ np.asarray(depthwise_bias)
