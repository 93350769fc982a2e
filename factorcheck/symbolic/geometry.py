"""Geometry of a 2-D convolution along its spatial axes, for ints and SymPy sizes alike.

Which input positions each output reads: the output size on one axis
(:func:`output_size`) or two (:func:`output_shape`), and how many (output
position, kernel tap) pairs land inside the input rather than in padding
(:func:`valid_taps`).  Sizes are validated here once (an int ``>= 1``, or a
SymPy expression whose assumptions allow it) for every counting module;
:mod:`factorcheck.symbolic.cost` turns the geometry into MACs, FLOPs and
parameters, and re-exports these functions (their conventions are stated there).
"""

from __future__ import annotations

import operator

import sympy

from factorcheck.errors import FactorcheckError

__all__ = ["Size", "output_shape", "output_size", "valid_taps"]

#: A size: a Python int or a SymPy expression.
Size = int | sympy.Expr


# ---------------------------------------------------------------- validation


def _size(value: object, name: str, minimum: int = 1) -> Size:
    """Return ``value`` as an int or SymPy expression, checking it is ``>= minimum``."""
    kind = "a positive" if minimum >= 1 else "a non-negative"
    if isinstance(value, bool):
        raise FactorcheckError(f"{name}: expected {kind} int or SymPy expression, got bool {value}")
    if isinstance(value, sympy.Basic):
        if isinstance(value, sympy.Integer):
            value = int(value)
        elif not isinstance(value, sympy.Expr) or value.is_number:
            raise FactorcheckError(
                f"{name}: expected {kind} int or SymPy expression, got {value!r}"
            )
        else:
            sign_ok = value.is_positive if minimum >= 1 else value.is_nonnegative
            if sign_ok is False:
                raise FactorcheckError(
                    f"{name}: expected {kind} size, got {value} (by its assumptions)"
                )
            return value
    try:
        number = operator.index(value)
    except TypeError:
        raise FactorcheckError(
            f"{name}: expected {kind} int or SymPy expression, got {type(value).__name__} {value!r}"
        ) from None
    if number < minimum:
        raise FactorcheckError(f"{name}: expected an int >= {minimum}, got {number}")
    return number


def _pair(value: object, name: str, minimum: int = 1) -> tuple[Size, Size]:
    """Normalize a scalar or a ``(height, width)`` pair to a validated pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise FactorcheckError(
                f"{name}: expected a scalar or a (height, width) pair, got {len(value)} values"
            )
        return (_size(value[0], f"{name}[0]", minimum), _size(value[1], f"{name}[1]", minimum))
    size = _size(value, name, minimum)
    return (size, size)


def _padding(value: object) -> tuple[tuple[Size, Size], tuple[Size, Size]]:
    """Normalize padding to ``((top, bottom), (left, right))``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise FactorcheckError(
                "padding: expected a scalar, (ph, pw) or ((top, bottom), (left, right)), "
                f"got {len(value)} values"
            )
        return (
            _pair(value[0], "padding[0]", minimum=0),
            _pair(value[1], "padding[1]", minimum=0),
        )
    pad = _size(value, "padding", minimum=0)
    return ((pad, pad), (pad, pad))


def _axes(input_shape: object, kernel: object, stride: object, padding: object,
          dilation: object) -> list[tuple[Size, Size, Size, tuple[Size, Size], Size]]:
    """Per spatial axis, validated: ``(input size, kernel size, stride, (begin, end) padding,
    dilation)``, the arguments of :func:`output_size` and :func:`valid_taps` in their order."""
    pads = _padding(padding)
    pairs = (_pair(input_shape, "input_shape"), _pair(kernel, "kernel"),
             _pair(stride, "stride"), _pair(dilation, "dilation"))
    return [(d_f, k, s, pad, dil) for d_f, k, s, dil, pad in zip(*pairs, pads, strict=True)]


def _is_int(*values: Size) -> bool:
    return all(isinstance(v, int) for v in values)


def _exact_div(numerator: Size, denominator: Size, what: str) -> Size:
    """``numerator / denominator``, exact: an int (checked divisible) or a SymPy quotient."""
    if _is_int(numerator, denominator):
        if numerator % denominator:
            raise FactorcheckError(
                f"{what}: expected a multiple of {denominator}, got {numerator}"
            )
        return numerator // denominator
    return sympy.Mul(numerator, sympy.Pow(denominator, -1))


def _floor_div(numerator: Size, denominator: Size) -> Size:
    if _is_int(numerator, denominator):
        return numerator // denominator
    return sympy.floor(sympy.Mul(numerator, sympy.Pow(denominator, -1)))


def _ceil_div(numerator: Size, denominator: Size) -> Size:
    if _is_int(numerator, denominator):
        return -((-numerator) // denominator)
    return sympy.ceiling(sympy.Mul(numerator, sympy.Pow(denominator, -1)))


def _max(a: Size, b: Size) -> Size:
    return max(a, b) if _is_int(a, b) else sympy.Max(a, b)


def _min(a: Size, b: Size) -> Size:
    return min(a, b) if _is_int(a, b) else sympy.Min(a, b)


# ---------------------------------------------------------------- output sizes


def output_size(
    input_size: Size,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size | tuple[Size, Size] = 0,
    dilation: Size = 1,
    *,
    exact_division: bool = False,
) -> Size:
    """Output length of a convolution along one axis.

    Parameters
    ----------
    input_size, kernel_size, stride, dilation : int or sympy.Expr
        ``D_f``, ``k``, ``s`` and ``dil``; all at least 1.
    padding : int, sympy.Expr or pair
        Symmetric padding ``p`` or ``(pad_begin, pad_end)``; at least 0.
    exact_division : bool
        Assume ``s`` divides the numerator and drop the floor (the form the
        reference analysis writes).  For ints a non-exact division is an error.

    Returns
    -------
    int or sympy.Expr
        ``D_p``; an int when every argument is an int.

    Raises
    ------
    FactorcheckError
        A size is not positive, a padding is negative, the dilated kernel is
        longer than the padded input, or ``exact_division`` fails.

    Notes
    -----
    .. math:: D_p = \\left\\lfloor \\frac{D_f + p_b + p_e - \\mathrm{dil}(k - 1) - 1}{s}
              \\right\\rfloor + 1

    Examples
    --------
    >>> output_size(11, 3, stride=2, padding=1)
    6
    >>> output_size(10, 3, stride=2, padding=(0, 1))
    5
    >>> import sympy
    >>> D_f, D_k, s, p = sympy.symbols("D_f D_k s p", positive=True, integer=True)
    >>> output_size(D_f, D_k, s, p)
    floor((D_f - D_k + 2*p)/s) + 1
    >>> output_size(D_f, D_k, s, p, exact_division=True)
    1 + (D_f - D_k + 2*p)/s
    """
    d_f = _size(input_size, "input_size")
    k = _size(kernel_size, "kernel_size")
    s = _size(stride, "stride")
    dil = _size(dilation, "dilation")
    pad_begin, pad_end = _pair(padding, "padding", minimum=0)
    span = d_f + pad_begin + pad_end - dil * (k - 1) - 1
    if _is_int(span) and span < 0:
        raise FactorcheckError(
            f"kernel: expected a dilated kernel extent <= padded input {d_f + pad_begin + pad_end},"
            f" got {dil * (k - 1) + 1} (kernel_size={k}, dilation={dil})"
        )
    if exact_division:
        return _exact_div(span, s, "output_size numerator with exact_division") + 1
    return _floor_div(span, s) + 1


def output_shape(
    input_shape: Size | tuple[Size, Size],
    kernel: Size | tuple[Size, Size],
    stride: Size | tuple[Size, Size] = 1,
    padding: object = 0,
    dilation: Size | tuple[Size, Size] = 1,
    *,
    exact_division: bool = False,
) -> tuple[Size, Size]:
    """Output ``(Hp, Wp)`` of a 2-D convolution; :func:`output_size` on each axis.

    Parameters
    ----------
    input_shape, kernel, stride, dilation : scalar or (height, width) pair
        Sizes as in :func:`output_size`.
    padding : scalar, (ph, pw) or ((top, bottom), (left, right))
        Padding per axis, symmetric or not.
    exact_division : bool
        As in :func:`output_size`.

    Returns
    -------
    tuple
        ``(Hp, Wp)``.

    Examples
    --------
    >>> output_shape((11, 8), (3, 1), stride=2, padding=((1, 1), (0, 0)))
    (6, 4)
    """
    return tuple(  # type: ignore[return-value]
        output_size(*axis, exact_division=exact_division)
        for axis in _axes(input_shape, kernel, stride, padding, dilation)
    )


# ---------------------------------------------------------------- padding


def valid_taps(
    input_size: Size,
    kernel_size: int,
    stride: Size = 1,
    padding: Size | tuple[Size, Size] = 0,
    dilation: Size = 1,
) -> Size:
    """Pairs (output position, kernel tap) along one axis that land inside the input.

    Output ``o`` and tap ``t`` read input position ``o*s - p_b + t*dil``; the
    pair counts when that position lies in ``[0, D_f)``, i.e. the product is
    not with a padded zero.  The dense count is ``D_p * k``.

    Parameters
    ----------
    input_size, stride, dilation : int or sympy.Expr
        As in :func:`output_size`.
    kernel_size : int
        ``k``; must be an int (the count sums over the taps).
    padding : int, sympy.Expr or pair
        Symmetric padding or ``(pad_begin, pad_end)``.

    Returns
    -------
    int or sympy.Expr
        An int when every argument is an int; otherwise an exact expression in
        ``Max``, ``Min``, ``floor`` and ``ceiling``.

    Notes
    -----
    For tap ``t`` with offset ``c = t \\cdot dil - p_b`` the valid outputs are
    ``max(0, ceil(-c/s)) <= o <= min(D_p - 1, floor((D_f - 1 - c)/s))``.

    Examples
    --------
    >>> valid_taps(11, 3, stride=2, padding=1)   # 6*3 = 18 dense; positions -1 and 11 are pads
    16
    >>> valid_taps(4, 3, padding=1)   # 4 outputs x 3 taps, 2 of them read padding
    10
    """
    if not isinstance(kernel_size, int) or isinstance(kernel_size, bool):
        raise FactorcheckError(
            f"kernel_size: expected an int for the padding-aware count (it sums over taps),"
            f" got {kernel_size!r}"
        )
    d_p = output_size(input_size, kernel_size, stride, padding, dilation)
    d_f = _size(input_size, "input_size")
    s, dil = _size(stride, "stride"), _size(dilation, "dilation")
    pad_begin = _pair(padding, "padding", minimum=0)[0]
    total: Size = 0
    for tap in range(kernel_size):
        offset = tap * dil - pad_begin
        first = _max(0, _ceil_div(-offset, s))
        last = _min(d_p - 1, _floor_div(d_f - 1 - offset, s))
        total = total + _max(0, last - first + 1)
    return total
