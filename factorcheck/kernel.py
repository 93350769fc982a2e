"""Kernel input: turn whatever the user holds into one validated canonical form.

Accepted inputs are NumPy arrays, nested lists, anything with ``__array__``
(PyTorch tensors and ``nn.Parameter`` weights, without importing torch), integer
arrays, and arrays of :class:`fractions.Fraction` or SymPy rationals.  The
canonical form is a 4-D array ``(n_out, m_in, kh, kw)`` (PyTorch/ONNX "OIHW");
a 3-D kernel is a 1-D convolution and gets ``kh = 1``.

Float kernels keep their dtype (its machine epsilon sets the default
tolerance).  Integer kernels keep their integer dtype and rational ones become
object arrays of :class:`fractions.Fraction`; both are *exact*, and
:mod:`factorcheck.exact` decides them in exact arithmetic.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from factorcheck.errors import KernelError

__all__ = [
    "LAYOUTS",
    "Kernel",
    "LayoutWarning",
    "layout_hint",
    "as_kernel",
    "require_finite",
    "check_layout",
    "from_canonical",
    "to_canonical",
]

#: Supported layouts of a 4-D kernel: O = output channels, I = input channels,
#: H and W = the spatial axes.  A 3-D kernel uses the same letters without "H".
LAYOUTS: dict[str, str] = {
    "OIHW": "PyTorch and ONNX Conv (the default)",
    "HWIO": "TensorFlow/Keras Conv2D",
    "OHWI": "TFLite Conv2D",
}
_CANONICAL = "OIHW"


#: Floating-point formats a kernel may come in, with the epsilon that judges it.  NumPy has
#: no bfloat16: tensors and files in it are widened exactly to float32 and keep its epsilon.
PRECISIONS: dict[str, float] = {
    "float16": float(np.finfo(np.float16).eps),
    "bfloat16": 2.0**-7,
    "float32": float(np.finfo(np.float32).eps),
    "float64": float(np.finfo(np.float64).eps),
}
#: Exact entries beyond 2**±_EXACT_RANGE are scaled by a power of two before going to floats.
_EXACT_RANGE = 900


@dataclass(frozen=True)
class Kernel:
    """A validated kernel in canonical ``(n_out, m_in, kh, kw)`` form.

    Attributes
    ----------
    data : numpy.ndarray
        The kernel, 4-D, OIHW.  A float dtype for float input, an integer
        dtype for integer input, ``object`` holding
        :class:`fractions.Fraction` for rational input.
    layout : str
        The layout the caller used, for returning results in it.
    ndim : int
        3 for a 1-D convolution, 4 for a 2-D one (as the caller gave it).
    dtype : str
        The caller's number format: a NumPy dtype name (``"float32"``,
        ``"int8"``...), ``"bfloat16"``, or ``"object"`` for rationals.
    exact : bool
        True for integer and rational kernels, decided in exact arithmetic.
    exponent : int
        :meth:`as_float` returns the kernel times ``2**-exponent`` (non-zero
        only for rational or long double entries beyond float64's range; a
        long double kernel's ``data`` is already scaled).

    Examples
    --------
    >>> k = as_kernel(np.zeros((5, 3, 7), dtype=np.float16), layout="OHWI")  # 1-D, TFLite
    >>> k.shape, k.ndim, k.dtype, k.eps
    ((5, 7, 1, 3), 3, 'float16', 0.0009765625)
    """

    data: np.ndarray
    layout: str
    ndim: int
    dtype: str
    exact: bool
    exponent: int = 0

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The canonical shape ``(n_out, m_in, kh, kw)``."""
        n, m, kh, kw = self.data.shape
        return (n, m, kh, kw)

    @property
    def eps(self) -> float:
        """Machine epsilon of the caller's float format (float64's for exact kernels)."""
        return PRECISIONS.get(self.dtype, PRECISIONS["float64"])

    def as_float(self) -> np.ndarray:
        """The kernel as floats: its own float dtype, float64 for exact kernels.

        Rational kernels are scaled by ``2**-exponent`` first, exactly.
        """
        if self.data.dtype == object:
            return _fractions_to_float(self.data, self.exponent)
        return self.data.astype(np.float64) if self.exact else self.data


class LayoutWarning(UserWarning):
    """A weight's shape is implausible in the layout it is read in (see :func:`layout_hint`)."""


#: Kernel sizes up to this are "plausible taps"; channel counts are usually larger.
_PLAUSIBLE_TAPS = 11


def layout_hint(shape: tuple[int, ...], layout: str = "OIHW") -> str | None:
    """The layout a 4-D weight's shape suggests when it is implausible in ``layout``, or ``None``.

    Read as OIHW, a Keras HWIO kernel ``(3, 3, 32, 64)`` has 3 outputs, 3
    inputs and 32 x 64 taps: small leading axes and large trailing ones.  Only
    that pattern (both leading axes <= 11, both trailing ones > 11) is
    flagged, so real OIHW weights (``(64, 32, 3, 3)``) never are.

    Examples
    --------
    >>> layout_hint((3, 3, 32, 64)), layout_hint((64, 32, 3, 3)), layout_hint((1, 1, 3, 3))
    ('HWIO', None, None)
    """
    if len(shape) != 4 or check_layout(layout) != "OIHW":
        return None
    a, b, c, d = shape
    small = a <= _PLAUSIBLE_TAPS and b <= _PLAUSIBLE_TAPS
    return "HWIO" if small and c > _PLAUSIBLE_TAPS and d > _PLAUSIBLE_TAPS else None


def check_layout(layout: object) -> str:
    """Return the normalized layout name, or raise listing the valid ones.

    Examples
    --------
    >>> check_layout("hwio")
    'HWIO'
    """
    if isinstance(layout, str) and layout.upper() in LAYOUTS:
        return layout.upper()
    raise KernelError(
        f"unknown layout {layout!r}; expected one of {', '.join(map(repr, LAYOUTS))}"
    ) from None


def _axes(layout: str, ndim: int) -> str:
    """The layout letters for an array of ``ndim`` dimensions (3-D drops 'H')."""
    return layout if ndim == 4 else layout.replace("H", "")


def to_canonical(array: np.ndarray, layout: str) -> np.ndarray:
    """Transpose a 3-D or 4-D array of ``layout`` to 4-D OIHW (a view where possible).

    Examples
    --------
    >>> to_canonical(np.zeros((3, 5, 2, 7)), "HWIO").shape
    (7, 2, 3, 5)
    >>> to_canonical(np.zeros((4, 2, 5)), "OIHW").shape
    (4, 2, 1, 5)
    """
    axes = _axes(check_layout(layout), array.ndim)
    out = np.transpose(array, [axes.index(c) for c in _axes(_CANONICAL, array.ndim)])
    return out if out.ndim == 4 else out[:, :, np.newaxis, :]


def from_canonical(array: np.ndarray, layout: str, ndim: int = 4) -> np.ndarray:
    """Transpose a 4-D OIHW array back to ``layout`` (and to 3-D when ``ndim`` is 3).

    Examples
    --------
    >>> from_canonical(np.zeros((7, 2, 3, 5)), "HWIO").shape
    (3, 5, 2, 7)
    >>> from_canonical(np.zeros((4, 2, 1, 5)), "OHWI", ndim=3).shape
    (4, 5, 2)
    """
    if ndim == 3:
        array = array[:, :, 0, :]
    axes = _axes(check_layout(layout), ndim)
    return np.transpose(array, [_axes(_CANONICAL, ndim).index(c) for c in axes])


def as_kernel(
    kernel: Any, layout: str = "OIHW", *, precision: str | None = None, check_finite: bool = True
) -> Kernel:
    """Validate a kernel and return it in canonical form.

    Parameters
    ----------
    kernel : array_like
        A 4-D kernel, or a 3-D one for a 1-D convolution.  Real floats,
        integers, :class:`fractions.Fraction` or SymPy rationals.
    layout : {"OIHW", "HWIO", "OHWI"}
        How the axes of ``kernel`` are ordered.
    precision : str, optional
        The float format the weights were stored in, when it differs from the
        array's (a loader that widened bfloat16 to float32 passes
        ``"bfloat16"``); sets the epsilon of the default tolerance.
    check_finite : bool
        Scan float entries for NaN and infinity (as in SciPy).  A caller that
        passes False must check itself: :func:`require_finite` does it.

    Returns
    -------
    Kernel
        The canonical kernel.

    Raises
    ------
    KernelError
        For strings, booleans, complex numbers, non-numbers, a wrong number of
        dimensions, an empty dimension, NaN or infinity, or an unknown layout.

    Examples
    --------
    >>> k = as_kernel(np.ones((3, 3, 2, 8), dtype=np.float32), layout="HWIO")
    >>> k.shape, k.dtype, k.exact
    ((8, 2, 3, 3), 'float32', False)
    >>> as_kernel([[[1, 2], [2, 4]]]).exact
    True
    """
    layout = check_layout(layout)
    array, name = _to_numpy(kernel)
    _check_shape(array.shape)
    exponent = 0
    if array.dtype.kind in "iu":
        data = array
    elif array.dtype == object:
        data = _to_fractions(array)  # float64 when the object array holds floats
        exponent = _exponent(data) if data.dtype == object else 0
    else:
        if check_finite and array.dtype.itemsize > 8:
            require_finite(array)  # before widening: a long double can overflow float64
        data, exponent = _widen(array)
        if check_finite:
            require_finite(data)
    exact = data.dtype.kind in "iuO"
    if precision is not None:
        name = _check_precision(precision, exact)
    elif not exact:
        name = name if name == "bfloat16" else _dtype_name(data.dtype)  # long double was widened
    return Kernel(
        data=to_canonical(data, layout),
        layout=layout,
        ndim=array.ndim,
        dtype=name if exact or name in PRECISIONS else _dtype_name(data.dtype),
        exact=exact,
        exponent=exponent,
    )


@functools.lru_cache(maxsize=64)
def _dtype_name(dtype: np.dtype) -> str:
    """``str(dtype)``, cached: NumPy builds the name afresh each time (4 us)."""
    return str(dtype)


def _check_precision(precision: object, exact: bool) -> str:
    if exact or precision not in PRECISIONS:
        raise KernelError(
            f"precision {precision!r} does not apply: expected one of "
            f"{', '.join(map(repr, PRECISIONS))} for a float kernel"
        )
    return str(precision)


def _to_numpy(kernel: Any) -> tuple[np.ndarray, str]:
    """Convert lists, arrays and tensors (detached, on the CPU) to ``(array, format name)``."""
    if isinstance(kernel, (str, bytes)):
        raise KernelError(f"expected a numeric array, got a {type(kernel).__name__}")
    name = ""
    if not isinstance(kernel, np.ndarray):
        kernel, name = _detach(kernel)
    try:
        array = np.asarray(kernel)
    except (TypeError, ValueError, RuntimeError) as err:
        raise KernelError(
            f"expected a numeric array, got {type(kernel).__name__} that NumPy cannot read: {err}"
        ) from None
    kind = array.dtype.kind
    if kind == "b":
        raise KernelError("expected real numbers, got a boolean array")
    if kind == "c":
        raise KernelError(f"expected real numbers, got complex dtype {array.dtype}")
    if kind not in "iufO" or (kind == "O" and array.ndim == 0):
        what = f"dtype {array.dtype}" if kind != "O" else type(kernel).__name__
        raise KernelError(f"expected a numeric array, got {what}")
    return array, name or _dtype_name(array.dtype)


def _detach(obj: Any) -> tuple[Any, str]:
    """Detach a tensor from autograd and bring it to the CPU, duck-typed (no torch import)."""
    for method in ("detach", "cpu"):
        if callable(getattr(obj, method, None)) and hasattr(obj, "__array__"):
            obj = getattr(obj, method)()
    if "bfloat16" in str(getattr(obj, "dtype", "")) and callable(getattr(obj, "float", None)):
        return obj.float(), "bfloat16"  # float32 holds every bfloat16 exactly
    return obj, ""


def _check_shape(shape: tuple[int, ...]) -> None:
    """Require 3 or 4 dimensions, none of them empty."""
    if len(shape) not in (3, 4):
        raise KernelError(
            "expected a 4-D kernel (or 3-D for a 1-D convolution), "
            f"got {len(shape)}-D shape {shape}"
        )
    if 0 in shape:
        raise KernelError(f"expected every dimension to be at least 1, got shape {shape}")


def _widen(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Float types NumPy's linear algebra cannot use (long double) as float64: ``(data, exponent)``.

    A long double kernel outside float64's range (``1e-4000``) is first scaled
    by ``2**-exponent`` so that its largest entry is near 1: rounding it
    straight to float64 would make it all zeros ("separable, T=0") or
    infinities.  Entries more than 2**1074 times smaller than the largest
    still round to zero, far below float64's precision, which judges the result.
    """
    if array.dtype.itemsize <= 8:
        return array, 0
    top = np.abs(array).max()
    exponent = int(np.frexp(top)[1]) if top else 0
    if abs(exponent) <= _EXACT_RANGE:
        return array.astype(np.float64), 0
    return np.ldexp(array, -exponent).astype(np.float64), exponent


def require_finite(array: np.ndarray) -> None:
    """Raise :class:`KernelError` naming the first NaN or infinite entry of a float array.

    Examples
    --------
    >>> require_finite(np.array([[1.0, np.inf]]))
    Traceback (most recent call last):
    ...
    factorcheck.errors.KernelError: expected finite entries, got inf at index (0, 1)
    """
    with np.errstate(over="ignore", invalid="ignore"):
        screen = np.isfinite(array.sum())  # one cheap pass: any NaN or inf makes the sum non-finite
    if not screen and not np.isfinite(array).all():  # a finite sum can also overflow: look closer
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise KernelError(f"expected finite entries, got {array[where]} at index {where}")


def _to_fractions(array: np.ndarray) -> np.ndarray:
    """Rational entries as an object array of Fractions; real floats as a float64 array."""
    flat = array.reshape(-1)
    if all(isinstance(x, numbers.Rational) and not isinstance(x, bool) for x in flat):
        return np.frompyfunc(_fraction, 1, 1)(array).astype(object)
    if all(_is_real_number(x) for x in flat):
        floats = array.astype(np.float64)
        require_finite(floats)
        return floats  # type: ignore[return-value]
    bad = next(x for x in flat if not _is_real_number(x))
    raise KernelError(
        f"expected real numbers, got an object array holding {type(bad).__name__} {bad!r:.60}"
    )


def _is_real_number(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _fraction(x: numbers.Rational) -> Fraction:
    return Fraction(int(x.numerator), int(x.denominator))


def _exponent(data: np.ndarray) -> int:
    """A power of two that brings rational entries into float64's range (0 when they are)."""
    sizes = [x.numerator.bit_length() - x.denominator.bit_length() for x in data.flat if x]
    top = max(sizes, default=0)
    return top if abs(top) > _EXACT_RANGE else 0


def _fractions_to_float(data: np.ndarray, exponent: int) -> np.ndarray:
    """Fractions times ``2**-exponent``, exactly, then rounded to float64."""
    scale = Fraction(2) ** -exponent
    return np.vectorize(lambda x: float(x * scale), otypes=[np.float64])(data)
