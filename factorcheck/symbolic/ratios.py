"""Cost and parameter ratios of depthwise separable convolution, derived and checked.

Every cost expression here is *built by* :mod:`factorcheck.symbolic.cost`
(the functions that also count integer layers), then transformed step by step
by :func:`~factorcheck.symbolic.derivation.derive`, which checks each step.

Symbols follow the reference analysis: ``D_k`` kernel size, ``M`` input
channels, ``N`` output channels, ``D_p`` output size, ``D_f`` input size; all
are positive integers.
"""

from __future__ import annotations

import sympy

from factorcheck.symbolic.cost import output_shape, output_size, separable_cost, standard_cost
from factorcheck.symbolic.derivation import Derivation, Proof, derive
from factorcheck.symbolic.text import Math, text

__all__ = ["cost_ratio_proof", "general_costs_proof", "parameter_ratio_proof"]

_POS = {"positive": True, "integer": True}
D_f, D_p, D_k, M, N = sympy.symbols("D_f D_p D_k M N", **_POS)
H_p, W_p, k_h, k_w, d, g, s, p = sympy.symbols("H_p W_p k_h k_w d g s p", **_POS)
BLOG = 1 / N + 1 / D_k**2
#: The output size as the cost functions compute it.
OUTPUT_SIZE = sympy.Eq(D_p, sympy.floor((D_f + 2 * p - D_k) / s) + 1, evaluate=False)
KERNEL_HW = Math(r"k_h \times k_w", "k_h × k_w")


def _ratio(numerator: sympy.Expr, denominator: sympy.Expr) -> sympy.Expr:
    """``numerator / denominator`` as SymPy writes a quotient (common factors stay)."""
    return sympy.Mul(numerator, sympy.Pow(denominator, -1))


def _mac_ratio(out: object) -> sympy.Expr:
    sep = separable_cost(out, D_k, M, N).total.macs
    return _ratio(sep, standard_cost(out, D_k, M, N).macs)


def _blog_mac_ratio() -> Derivation:
    return derive(
        "MAC ratio of depthwise separable to standard convolution",
        _mac_ratio(D_p),
        [
            (_ratio(D_k**2 * M + M * N, D_k**2 * M * N),
             text("divide top and bottom by ", D_p**2)),
            (BLOG, text("divide by ", M, " and split the fraction")),
        ],
    )


def _stride_padding_cancel() -> tuple[Derivation, ...]:
    d_p = output_size(D_f, D_k, s, p)
    through_size = derive(
        text("stride and padding cancel: ", OUTPUT_SIZE),
        _mac_ratio(d_p),
        [(BLOG, text(D_p**2, " is a common positive factor of both counts"))],
    )
    derivative = derive(
        "the ratio does not depend on the output size",
        sympy.Derivative(_mac_ratio(D_p), D_p),
        [(sympy.Integer(0), text("differentiate with respect to ", D_p))],
    )
    hw = output_shape((D_f, D_f + 1), D_k, (s, 1), ((p, 0), (0, p)))
    rectangular = derive(
        "non-square output with asymmetric padding and stride",
        _mac_ratio(hw),
        [(BLOG, text(H_p * W_p, " is a common positive factor"))],
    )
    return through_size, derivative, rectangular


def cost_ratio_proof() -> Proof:
    """The reference analysis's cost ratio ``1/N + 1/D_k^2``, and why stride and padding cancel.

    Examples
    --------
    >>> proof = cost_ratio_proof()
    >>> proof.ok, len(proof.derivations)
    (True, 4)
    """
    return Proof(
        name="cost_ratio",
        title="Cost ratio of depthwise separable convolution",
        summary=text(
            "Counting multiply-accumulates with the same functions that count integer layers, "
            "a depthwise separable convolution costs exactly ", BLOG, " of the standard "
            "convolution it replaces. The output size enters both counts as the same factor ",
            D_p**2, " (or ", H_p * W_p, " for a non-square output), so stride, padding and "
            "input size cancel."
        ),
        derivations=(_blog_mac_ratio(), *_stride_padding_cancel()),
    )


def _param_ratio(bias: bool) -> sympy.Expr:
    sep = separable_cost(D_p, D_k, M, N, bias=bias).total.params
    return _ratio(sep, standard_cost(D_p, D_k, M, N, bias=bias).params)


def _flop_ratio(bias: bool) -> sympy.Expr:
    sep = separable_cost(D_p, D_k, M, N, bias=bias).total.flops
    return _ratio(sep, standard_cost(D_p, D_k, M, N, bias=bias).flops)


def _excess_chains() -> tuple[Derivation, ...]:
    excess = D_k**2 * (M + N - 1) - N
    regrouped = D_k**2 * (M - 1) + N * (D_k**2 - 1)
    bias_params = derive(
        text("parameters with bias: the ratio exceeds ", BLOG),
        _param_ratio(bias=True),
        [
            (BLOG + _ratio(excess, D_k**2 * N * (D_k**2 * M + 1)),
             text("subtract ", BLOG)),
            (BLOG + _ratio(regrouped, D_k**2 * N * (D_k**2 * M + 1)), "regroup the excess"),
            (BLOG, text(sympy.Ge(M, 1, evaluate=False), " and ",
                        sympy.Ge(D_k, 1, evaluate=False), ", so the excess is ",
                        Math(r"\geq 0", "≥ 0"), " (zero iff ",
                        Math("D_{k} = M = 1", "D_k = M = 1"), ")"), ">="),
        ],
    )
    flops = derive(
        "FLOPs (multiplications + additions) without bias: the ratio falls short",
        _flop_ratio(bias=False),
        [
            (_ratio(M * (2 * D_k**2 - 1) + N * (2 * M - 1), N * (2 * D_k**2 * M - 1)),
             "each output adds its taps minus one"),
            (BLOG - _ratio(excess, D_k**2 * N * (2 * D_k**2 * M - 1)), text("subtract ", BLOG)),
        ],
    )
    flops_bias = derive(
        "FLOPs with bias: each layer does exactly 2 MACs, so the ratio is exact again",
        _flop_ratio(bias=True),
        [(BLOG, "in both layers the FLOPs are twice the MACs")],
    )
    return bias_params, flops, flops_bias


def parameter_ratio_proof() -> Proof:
    """Parameter ratio equals the cost ratio without bias; exact ratios with bias and FLOPs.

    Examples
    --------
    >>> parameter_ratio_proof().ok
    True
    """
    params = derive(
        "parameter ratio without bias equals the MAC ratio",
        _param_ratio(bias=False),
        [
            (BLOG, "split the fraction"),
            (_mac_ratio(D_p), "the MAC ratio derived above"),
        ],
    )
    return Proof(
        name="parameter_ratio",
        title="Parameter ratio, bias and FLOPs",
        summary=text(
            "Without bias the parameter ratio equals the MAC ratio ", BLOG, ", as the "
            "reference analysis notes. It stops being exact when biases are counted (the "
            "separable layer has two, so its share grows) and when additions are counted "
            "without bias (each output saves one addition per layer, so the share shrinks). "
            "With bias every layer does exactly two FLOPs per MAC and the ratio is exact again."
        ),
        derivations=(params, *_excess_chains()),
    )


def general_costs_proof() -> Proof:
    """Rectangular kernels, depth multiplier ``d`` and grouped standard convolutions.

    Examples
    --------
    >>> general_costs_proof().ok
    True
    """
    kernel, out = (k_h, k_w), (H_p, W_p)
    sep = separable_cost(out, kernel, M, N, multiplier=d).total.macs
    multiplier = derive(
        text("rectangular kernel ", KERNEL_HW, ", depth multiplier ", d),
        _ratio(sep, standard_cost(out, kernel, M, N).macs),
        [
            (_ratio(d * (k_h * k_w + N), k_h * k_w * N), text("cancel ", H_p * W_p * M)),
            (d * (1 / N + 1 / (k_h * k_w)), "split the fraction"),
        ],
    )
    grouped_std = standard_cost(out, kernel, M, N).macs / g
    groups = derive(
        text("against a grouped standard convolution with ", g, " groups"),
        _ratio(sep, grouped_std),
        [(g * d * (1 / N + 1 / (k_h * k_w)),
          text("a grouped convolution costs ", 1 / g, " of a dense one"))],
    )
    params = derive(
        text("parameters with multiplier ", d, " equal the MAC ratio"),
        _ratio(separable_cost(out, kernel, M, N, multiplier=d).total.params,
               standard_cost(out, kernel, M, N).params),
        [(d * (1 / N + 1 / (k_h * k_w)), text("same counts without the factor ", H_p * W_p))],
    )
    return Proof(
        name="general_costs",
        title="General costs: rectangular kernels, depth multiplier, groups",
        summary=text(
            "For a ", KERNEL_HW, " kernel and depth multiplier ", d, " the separable "
            "convolution costs ", d * (1 / N + 1 / (k_h * k_w)), " of the standard one, in MACs "
            "and in parameters; against a standard convolution split into ", g, " groups the "
            "ratio is ", g * d * (1 / N + 1 / (k_h * k_w)), "."
        ),
        derivations=(multiplier, groups, params),
    )
