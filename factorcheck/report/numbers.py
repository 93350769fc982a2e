"""How numbers are printed in the LaTeX and Markdown reports (one place, so the formats agree).

The JSON carries the full-precision values; these formatters give the text
every human-readable format prints, and the tests compare them across formats.
"""

from __future__ import annotations

import math

__all__ = ["fmt_distance", "fmt_energy", "fmt_int", "fmt_percent", "fmt_ratio", "verdict"]

#: Smallest nonzero percentage printed as a number; smaller ones print as "< 0.0001".
PERCENT_FLOOR = 1e-4


def fmt_distance(value: float) -> str:
    """A distance, relative distance or energy lost: three significant digits.

    Examples
    --------
    >>> fmt_distance(0.000912345), fmt_distance(0.0)
    ('9.12e-04', '0.00e+00')
    """
    return f"{value:.2e}"


def fmt_ratio(value: float) -> str:
    """A cost ratio: four significant digits.

    Examples
    --------
    >>> fmt_ratio(25 / 144)
    '0.1736'
    """
    return f"{value:.4g}"


def fmt_energy(value: float) -> str:
    """A share of energy kept, in [0, 1]: six decimals (pair it with the energy lost).

    Examples
    --------
    >>> fmt_energy(0.99999909)
    '0.999999'
    """
    return f"{value:.6f}"


def fmt_percent(value: float) -> str:
    """A share in percent (without the sign): one decimal from 0.1 up, two significant digits below.

    A small layer's share never prints as 0.0: below 0.1 it keeps two significant
    digits, and below :data:`PERCENT_FLOOR` it prints as ``"< 0.0001"``.  Only an
    exact zero prints as ``"0"``.

    Examples
    --------
    >>> fmt_percent(12.345), fmt_percent(0.04321), fmt_percent(0.000512), fmt_percent(0.0)
    ('12.3', '0.043', '0.00051', '0')
    >>> fmt_percent(3e-7), fmt_percent(100.0)
    ('< 0.0001', '100.0')
    """
    if value == 0:
        return "0"
    if value < PERCENT_FLOOR:
        return f"< {PERCENT_FLOOR:.4f}"
    if value >= 0.1:
        return f"{value:.1f}"
    return f"{value:.{1 - math.floor(math.log10(value))}f}"


def fmt_int(value: int) -> str:
    """An exact count with thin-space-free thousands separators (commas).

    Examples
    --------
    >>> fmt_int(15552)
    '15,552'
    """
    return f"{value:,}"


def verdict(separable: bool, exact: bool) -> str:
    """``"yes"`` or ``"no"``, with ``"*"`` for an exact verdict (integer kernel).

    Examples
    --------
    >>> verdict(True, True), verdict(False, False)
    ('yes*', 'no')
    """
    return ("yes" if separable else "no") + ("*" if exact else "")
