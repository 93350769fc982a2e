"""Sentences of the report that contain mathematics, each built once as a :class:`Text`.

The LaTeX and Markdown renderers print the same objects
(:meth:`~factorcheck.symbolic.text.Text.to_latex`,
:meth:`~factorcheck.symbolic.text.Text.to_markdown`), so the two reports cannot
drift apart.
"""

from __future__ import annotations

import re

from factorcheck.report.numbers import fmt_distance
from factorcheck.symbolic.text import Math, Text, text

__all__ = ["ORDER_TEXT", "distance_math", "finding_label", "power_of_ten", "times"]

_SCIENTIFIC = re.compile(r"^(-?[0-9.]+)e([+-])0*([0-9]+)$")

_RANK_IN = Math(r"\operatorname{rank} A_j \leq d", "rank A_j ≤ d")
_RANK_OUT = Math(r"\operatorname{rank} B_i \leq d", "rank B_i ≤ d")

#: What each order of decomposition means, as a sentence (keys as in ``separability.ORDERS``).
ORDER_TEXT: dict[str, Text] = {
    "dw-pw": text("depthwise then pointwise (MobileNet): ", _RANK_IN, " for every input "
                  "channel ", Math("j", "j"), ", with ", Math("d", "d"), " the multiplier"),
    "pw-dw": text("pointwise then depthwise: ", _RANK_OUT, " for every output channel ",
                  Math("i", "i"), " (its row matrix ", Math("B_i", "B_i"), ")"),
}


def times(shape: tuple) -> Math:
    """A shape as one formula: ``3 \\times 3 \\times 16``.

    Examples
    --------
    >>> times((3, 3, 16)).unicode
    '3 × 3 × 16'
    """
    return Math(r" \times ".join(map(str, shape)), " × ".join(map(str, shape)))


def finding_label(quantity: str) -> Text:
    """The row label of a worked-example finding (its quantity in words and symbols).

    Examples
    --------
    >>> print(finding_label("standard kernel (kh x kw x in x out)"))
    standard kernel (k_h × k_w × M × N)
    """
    if quantity.startswith("standard kernel"):
        return text("standard kernel (", Math(r"k_h \times k_w \times M \times N",
                                               "k_h × k_w × M × N"), ")")
    return text(quantity)


def power_of_ten(number: str) -> str:
    r"""A number printed in scientific notation (``1.12e-16``) as LaTeX math; others as they are.

    The sign is set tight (``{\times}``), as in a table column.

    Examples
    --------
    >>> print(power_of_ten("1.12e-16"), power_of_ten("8.32e+00"), power_of_ten("0.1736"))
    $1.12{\times}10^{-16}$ 8.32 0.1736
    """
    match = _SCIENTIFIC.match(number)
    if match is None:
        return number
    digits, sign, exponent = match.groups()
    if exponent == "0":
        return digits
    return f"${digits}{{\\times}}10^{{{'-' if sign == '-' else ''}{exponent}}}$"


def distance_math(value: float) -> str:
    r"""A distance as :func:`~factorcheck.report.numbers.fmt_distance` prints it, its exponent
    written as a power of ten in math (the same in LaTeX and Markdown).

    Examples
    --------
    >>> print(distance_math(1.12e-16))
    $1.12{\times}10^{-16}$
    """
    return power_of_ten(fmt_distance(value))
