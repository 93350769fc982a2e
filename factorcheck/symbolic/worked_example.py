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

__all__ = ["Finding", "WorkedExample", "check_worked_example", "worked_example_proof"]

#: The example as the reference analysis states it (kernel as kh x kw x in x out).
INPUT, KERNEL, STRIDE, PADDING, CHANNELS_IN, CHANNELS_OUT = 11, 3, 2, 1, 3, 16
STATED_STANDARD_KERNEL = (3, 3, 3, 6)


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
        Why they disagree.
    """

    quantity: str
    stated: tuple
    expected: tuple
    explanation: str

    def __str__(self) -> str:
        return (f"{self.quantity}: stated {' x '.join(map(str, self.stated))}, expected "
                f"{' x '.join(map(str, self.expected))}. {self.explanation}")


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


def _product(*factors: int) -> sympy.Expr:
    """A product of integers kept as written (``6 \\cdot 6 \\cdot 9``)."""
    return sympy.Mul(*(sympy.Integer(f) for f in factors), evaluate=False)


def _derivations(example: WorkedExample) -> tuple[Derivation, ...]:
    stated_size = sympy.Add(
        sympy.Mul(sympy.Add(INPUT, -KERNEL, _product(2, PADDING), evaluate=False),
                  sympy.Pow(STRIDE, -1, evaluate=False), evaluate=False),
        1, evaluate=False)
    shapes = sympy.ImmutableMatrix([example.standard_output, example.depthwise_output,
                                    example.pointwise_output])
    return (
        derive("output size", stated_size,
               [(sympy.Integer(example.output_size), "cost.output_size with floor")]),
        derive("output shapes: standard, depthwise, pointwise (H, W, C)",
               sympy.ImmutableMatrix([[6, 6, 16], [6, 6, 3], [6, 6, 16]]),
               [(shapes, "computed by cost.output_size and the channel counts")]),
        derive("standard MACs", _product(6, 6, 9, 3, 16),
               [(sympy.Integer(example.standard_macs), "cost.standard_cost")]),
        derive("depthwise MACs", _product(6, 6, 9, 3),
               [(sympy.Integer(example.depthwise_macs), "cost.depthwise_cost")]),
        derive("pointwise MACs", _product(6, 6, 3, 16),
               [(sympy.Integer(example.pointwise_macs), "cost.pointwise_cost")]),
        derive("MAC ratio",
               sympy.Mul(sympy.Add(example.depthwise_macs, example.pointwise_macs,
                                   evaluate=False),
                         sympy.Pow(example.standard_macs, -1, evaluate=False), evaluate=False),
               [(example.ratio, "reduce the fraction"),
                (sympy.Add(sympy.Rational(1, 16), sympy.Rational(1, 9), evaluate=False),
                 "equals 1/N + 1/D_k^2 with N = 16, D_k = 3")]),
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
        title="The worked example: 11 x 11 x 3 input, 3 x 3 kernel, stride 2, padding 1",
        summary=(
            "Every number of the example is recomputed with the cost functions: output size 6, "
            "outputs 6 x 6 x 16, 6 x 6 x 3 and 6 x 6 x 16, 15552 standard MACs against "
            "972 + 1728 = 2700 separable ones, a ratio of 25/144 = 1/16 + 1/9. The stated "
            "standard kernel 3 x 3 x 3 x 6 contradicts the 16 output channels."
        ),
        derivations=_derivations(example),
        findings=tuple(str(f) for f in example.findings),
    )
