"""The reference analysis's worked example, every number re-derived.

The example: an ``11 x 11 x 3`` input, a ``3 x 3`` standard kernel with stride
2 and padding 1, giving a ``6 x 6 x 16`` output; the depthwise kernel
``3 x 3 x 1 x 3`` gives ``6 x 6 x 3`` and the pointwise kernel ``1 x 1 x 3 x 16``
gives ``6 x 6 x 16``.  The text also calls the standard kernel
"3 x 3 x 3 x 6", which cannot produce 16 output channels: :func:`check_worked_example`
reports that as a :class:`Finding` rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from factorcheck.symbolic.cost import (
    depthwise_cost,
    output_size,
    pointwise_cost,
    separable_cost,
    standard_cost,
)
from factorcheck.symbolic.derivation import Derivation, Proof, derive
from factorcheck.symbolic.ratios import OUTPUT_SIZE
from factorcheck.symbolic.text import Math, Text, text

__all__ = ["Finding", "WorkedExample", "check_worked_example", "worked_example_proof"]

#: The example as the reference analysis states it (kernel as kh x kw x in x out).
INPUT, KERNEL, STRIDE, PADDING, CHANNELS_IN, CHANNELS_OUT = 11, 3, 2, 1, 3, 16
STATED_STANDARD_KERNEL = (3, 3, 3, 6)


def _times(values: tuple) -> Math:
    """``3 × 3 × 3 × 6`` as one formula."""
    return Math(r" \times ".join(map(str, values)), " × ".join(map(str, values)))


@dataclass(frozen=True)
class Finding:
    """An inconsistency found in the text being verified.

    Attributes
    ----------
    quantity : str
        What was checked.
    stated : tuple
        What the text says.
    expected : tuple
        What its own other numbers imply.
    explanation : str
        Why they disagree (plain words; :attr:`text` is the typeset sentence).

    Examples
    --------
    >>> finding = check_worked_example().findings[0]
    >>> print(finding.text.to_latex()[:58])
    The stated standard kernel $3 \\times 3 \\times 3 \\times 6$
    """

    quantity: str
    stated: tuple
    expected: tuple
    explanation: str

    @property
    def text(self) -> Text:
        """The finding as one sentence of words and formulas."""
        n_stated, n_expected = self.stated[-1], self.expected[-1]
        return text(
            "The stated standard kernel ", _times(self.stated), " (",
            Math(r"k_h \times k_w \times M \times N", "k_h × k_w × M × N"),
            ") contradicts the ", _times((6, 6, n_expected)), " output: a standard convolution "
            "has one kernel per output channel, so it needs ", Math(f"N = {n_expected}",
                                                                    f"N = {n_expected}"),
            " kernels (", _times(self.expected), "); with ", Math(f"N = {n_stated}",
                                                                 f"N = {n_stated}"),
            " the output would be ", _times((6, 6, n_stated)), ".")

    def __str__(self) -> str:
        return str(self.text)


@dataclass(frozen=True)
class WorkedExample:
    """Every number of the worked example, as computed by :mod:`factorcheck.symbolic.cost`.

    Attributes
    ----------
    output_size : int
        ``D_p``.
    standard_output, depthwise_output, pointwise_output : tuple of int
        ``(H, W, C)`` of each output.
    standard_macs, depthwise_macs, pointwise_macs : int
        Dense multiply-accumulates.
    ratio : sympy.Rational
        Separable MACs over standard MACs.
    findings : tuple of Finding
        Inconsistencies in the stated example.
    """

    output_size: int
    standard_output: tuple[int, int, int]
    depthwise_output: tuple[int, int, int]
    pointwise_output: tuple[int, int, int]
    standard_macs: int
    depthwise_macs: int
    pointwise_macs: int
    ratio: sympy.Rational
    findings: tuple[Finding, ...]


def _kernel_findings() -> tuple[Finding, ...]:
    expected = (KERNEL, KERNEL, CHANNELS_IN, CHANNELS_OUT)
    if STATED_STANDARD_KERNEL == expected:
        return ()
    return (Finding(
        quantity="standard kernel (kh x kw x in x out)",
        stated=STATED_STANDARD_KERNEL,
        expected=expected,
        explanation=(f"A standard convolution has one kernel per output channel, so the "
                     f"6 x 6 x {CHANNELS_OUT} output needs {CHANNELS_OUT} kernels, not "
                     f"{STATED_STANDARD_KERNEL[3]}; with {STATED_STANDARD_KERNEL[3]} the output "
                     f"would be 6 x 6 x {STATED_STANDARD_KERNEL[3]}."),
    ),)


def check_worked_example() -> WorkedExample:
    """Recompute the worked example and collect its inconsistencies.

    Examples
    --------
    >>> example = check_worked_example()
    >>> example.output_size, example.standard_macs, example.ratio
    (6, 15552, 25/144)
    >>> print(example.findings[0].stated)
    (3, 3, 3, 6)
    """
    d_p = output_size(INPUT, KERNEL, STRIDE, PADDING)
    sep = separable_cost(d_p, KERNEL, CHANNELS_IN, CHANNELS_OUT).total.macs
    std = standard_cost(d_p, KERNEL, CHANNELS_IN, CHANNELS_OUT).macs
    return WorkedExample(
        output_size=d_p,
        standard_output=(d_p, d_p, CHANNELS_OUT),
        depthwise_output=(d_p, d_p, CHANNELS_IN),
        pointwise_output=(d_p, d_p, CHANNELS_OUT),
        standard_macs=std,
        depthwise_macs=depthwise_cost(d_p, KERNEL, CHANNELS_IN).macs,
        pointwise_macs=pointwise_cost(d_p, CHANNELS_IN, CHANNELS_OUT).macs,
        ratio=sympy.Rational(sep, std),
        findings=_kernel_findings(),
    )


def _product(*factors: int | sympy.Expr) -> sympy.Expr:
    """A product kept as written (``6^2 \\cdot 3^2 \\cdot 3``)."""
    return sympy.Mul(*(sympy.sympify(f) for f in factors), evaluate=False)


def _square(value: int) -> sympy.Expr:
    return sympy.Pow(sympy.Integer(value), 2, evaluate=False)


D_k, N = sympy.symbols("D_k N", positive=True, integer=True)


def _derivations(example: WorkedExample) -> tuple[Derivation, ...]:
    d_p = example.output_size
    stated_size = sympy.Add(sympy.floor(sympy.Mul(
        sympy.Add(INPUT, sympy.Mul(2, PADDING, evaluate=False), -KERNEL, evaluate=False),
        sympy.Pow(STRIDE, -1, evaluate=False), evaluate=False), evaluate=False), 1,
        evaluate=False)
    ratio = sympy.Mul(sympy.Add(example.depthwise_macs, example.pointwise_macs, evaluate=False),
                      sympy.Pow(example.standard_macs, -1, evaluate=False), evaluate=False)
    return (
        derive(text("output size ", OUTPUT_SIZE),
               stated_size, [(sympy.Integer(d_p), "divide, round down, add one")]),
        derive(text("standard MACs ", Math("D_p^2 D_k^2 M N", "D_p² D_k² M N")),
               _product(_square(d_p), _square(KERNEL), CHANNELS_IN, CHANNELS_OUT),
               [(sympy.Integer(example.standard_macs), "multiply")]),
        derive(text("depthwise MACs ", Math("D_p^2 D_k^2 M", "D_p² D_k² M")),
               _product(_square(d_p), _square(KERNEL), CHANNELS_IN),
               [(sympy.Integer(example.depthwise_macs), "multiply")]),
        derive(text("pointwise MACs ", Math("D_p^2 M N", "D_p² M N")),
               _product(_square(d_p), CHANNELS_IN, CHANNELS_OUT),
               [(sympy.Integer(example.pointwise_macs), "multiply")]),
        derive("MAC ratio", ratio,
               [(example.ratio, "reduce the fraction"),
                (sympy.Add(sympy.Rational(1, CHANNELS_OUT), sympy.Rational(1, KERNEL**2),
                           evaluate=False),
                 text("equals ", 1 / N + 1 / D_k**2, " with ",
                      Math(f"N = {CHANNELS_OUT},\\ D_k = {KERNEL}",
                           f"N = {CHANNELS_OUT}, D_k = {KERNEL}")))]),
    )


def worked_example_proof() -> Proof:
    """Every number of the worked example, plus the inconsistency in its kernel shape.

    Examples
    --------
    >>> proof = worked_example_proof()
    >>> proof.ok, len(proof.findings)
    (True, 1)
    """
    example = check_worked_example()
    return Proof(
        name="worked_example",
        title=text("The worked example: ", _times((INPUT, INPUT, CHANNELS_IN)), " input, ",
                   _times((KERNEL, KERNEL)), " kernel, stride ", STRIDE, ", padding ", PADDING),
        summary=text(
            "Every number of the example is recomputed with the cost functions: output size ",
            example.output_size, ", outputs ", _times(example.standard_output), ", ",
            _times(example.depthwise_output), " and ", _times(example.pointwise_output), ", ",
            example.standard_macs, " standard MACs against ",
            Math(f"{example.depthwise_macs} + {example.pointwise_macs} = "
                 f"{example.depthwise_macs + example.pointwise_macs}",
                 f"{example.depthwise_macs} + {example.pointwise_macs} = "
                 f"{example.depthwise_macs + example.pointwise_macs}"),
            " separable ones, a ratio of ", sympy.Eq(example.ratio, sympy.Add(
                sympy.Rational(1, CHANNELS_OUT), sympy.Rational(1, KERNEL**2), evaluate=False),
                evaluate=False), ". The stated kernel shape is inconsistent (finding below)."
        ),
        derivations=_derivations(example),
        findings=tuple(f.text for f in example.findings),
    )
