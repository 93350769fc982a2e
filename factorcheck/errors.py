"""The errors factorcheck raises.

Every error a user can provoke is a :class:`FactorcheckError`, itself a
:class:`ValueError`, so ``except ValueError`` keeps working in code that does
not know this library.  A few subclasses let callers tell cases apart.
"""

from __future__ import annotations

__all__ = [
    "DerivationError",
    "FactorcheckError",
    "FileFormatError",
    "KernelError",
    "LatexError",
    "NotSeparableError",
    "OutputError",
]


class FactorcheckError(ValueError):
    """Base class of every error factorcheck raises on bad input or a failed check.

    Examples
    --------
    >>> import factorcheck
    >>> try:
    ...     factorcheck.analyze([[1.0, 2.0]])
    ... except factorcheck.FactorcheckError as err:
    ...     print(type(err).__name__)
    KernelError
    """


class KernelError(FactorcheckError):
    """A kernel could not be read: wrong type, shape, dtype, layout, or non-finite entries.

    Examples
    --------
    >>> import factorcheck
    >>> factorcheck.analyze([[[[float("nan")]]]])
    Traceback (most recent call last):
    ...
    factorcheck.errors.KernelError: expected finite entries, got nan at index (0, 0, 0, 0)
    """


class NotSeparableError(FactorcheckError):
    """A kernel does not admit the requested depthwise separable decomposition.

    The attribute ``relative_distance`` holds the Frobenius distance to the
    nearest kernel that does, divided by the kernel's norm.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> try:
    ...     factorcheck.decompose(np.eye(9).reshape(3, 3, 3, 3))
    ... except factorcheck.NotSeparableError as err:
    ...     print(round(err.relative_distance, 3))
    0.816
    """

    def __init__(self, message: str, relative_distance: float) -> None:
        super().__init__(message)
        self.relative_distance = relative_distance


class FileFormatError(FactorcheckError):
    """A model or array file is malformed, unsafe, unsupported or too large."""


class DerivationError(FactorcheckError):
    """A derivation step is false, or could not be verified where verification was required."""


class LatexError(FactorcheckError):
    """A LaTeX report failed to compile; the message carries the log's relevant lines."""


class OutputError(FactorcheckError):
    """An output file cannot be written safely: missing folder, a directory, an input of the run.

    Examples
    --------
    >>> import factorcheck
    >>> issubclass(factorcheck.OutputError, factorcheck.FactorcheckError)
    True
    """
