"""How a network's cost scales with its width multiplier alpha and its resolution rho.

The algebra of whole networks, without the networks: the symbols :data:`ALPHA`
and :data:`RHO`, exact width multipliers (:func:`parse_alpha`) and the proof
(:func:`scaling_proof`) that checks, with SymPy, how a total cost polynomial
``T(alpha, rho)`` grows.  The per-layer tables that produce those polynomials
live in :mod:`factorcheck.network` (which imports this module, never the
reverse); :func:`factorcheck.network.network_scaling_proof` joins the two.

References
----------
.. [1] A. G. Howard et al., "MobileNets: Efficient Convolutional Neural
   Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy

from factorcheck.errors import FactorcheckError
from factorcheck.symbolic.derivation import Derivation, Proof, derive
from factorcheck.symbolic.text import Math, Text, latex_math, text, unicode_math

__all__ = ["ALPHA", "MAX_ALPHA", "RHO", "parse_alpha", "resolution_assumption", "scaling_proof",
           "width_assumption"]

#: The width multiplier as a symbol (positive).
ALPHA = sympy.Symbol("alpha", positive=True)
#: The input resolution as a symbol (a positive integer).
RHO = sympy.Symbol("rho", positive=True, integer=True)
#: Largest width multiplier accepted (a sanity bound, not a law).
MAX_ALPHA = Fraction(8)
_MAX_ALPHA_TEXT = 64


def parse_alpha(value: Any) -> Fraction | sympy.Expr:
    """Normalize a width multiplier to an exact :class:`~fractions.Fraction` (or keep a symbol).

    Parameters
    ----------
    value : int, Fraction, str, float, sympy.Rational or sympy.Symbol
        A string is parsed by :class:`~fractions.Fraction` (``"0.75"``, ``"3/4"``),
        never evaluated; a float by its shortest decimal ``repr``.

    Returns
    -------
    Fraction or sympy.Expr
        ``0 < alpha <= MAX_ALPHA``; a positive SymPy symbol is returned as is.

    Examples
    --------
    >>> parse_alpha("0.75"), parse_alpha("3/4"), parse_alpha(0.1)
    (Fraction(3, 4), Fraction(3, 4), Fraction(1, 10))
    >>> parse_alpha(0)
    Traceback (most recent call last):
    ...
    factorcheck.errors.FactorcheckError: alpha: expected 0 < alpha <= 8, got 0
    """
    if isinstance(value, sympy.Basic) and not value.is_number:
        if value.is_positive is not True:
            raise FactorcheckError(f"alpha: expected a positive symbol, got {value}")
        return value
    number = _alpha_fraction(value)
    if not 0 < number <= MAX_ALPHA:
        raise FactorcheckError(f"alpha: expected 0 < alpha <= {MAX_ALPHA}, got {number}")
    return number


def _alpha_fraction(value: Any) -> Fraction:
    if isinstance(value, bool):
        raise FactorcheckError(f"alpha: expected a number, got bool {value}")
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str) and len(value) > _MAX_ALPHA_TEXT:
        raise FactorcheckError(f"alpha: expected a short number, got {len(value)} characters")
    if isinstance(value, str) and _huge_exponent(value):  # Fraction would compute 10**exponent
        raise FactorcheckError(f"alpha: expected 0 < alpha <= {MAX_ALPHA}, got {value.strip()!r}")
    try:
        return Fraction(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise FactorcheckError(
            f"alpha: expected a number such as 0.75 or 3/4, got {value!r}") from None


def _huge_exponent(text: str) -> bool:
    """Whether a decimal's exponent (``1e999999999``) puts it far outside any valid alpha."""
    exponent = text.strip().lower().partition("e")[2]
    digits = exponent.lstrip("+-")
    return bool(digits) and digits.isdigit() and len(digits.lstrip("0")) > 3


# ---------------------------------------------------------------- scaling in alpha and rho


def scaling_proof(name: str, total_macs: sympy.Expr, total_params: sympy.Expr,
                  subtotals: Sequence[tuple[str, sympy.Expr]], *, rho_0: int,
                  assumption: Text | str = "") -> Proof:
    """How a network's total MACs and parameters scale with width ``alpha`` and resolution ``rho``.

    ``total_macs`` is ``T(alpha, rho)``, the sum of the per-type ``subtotals``
    (``(type, MACs)`` pairs); each derivation below is checked by SymPy:

    1. ``T`` is the sum of the per-type subtotals, collected into a polynomial;
    2. ``lim T / alpha^2`` as ``alpha -> oo`` is the ``alpha^2`` coefficient (the
       layers between two scaled widths), so the cost grows like ``alpha^2``;
    3. ``T(alpha) - alpha^2 T(1) = alpha (1 - alpha) L(rho)``, ``L`` the
       coefficient of ``alpha``: the ``alpha^2`` rule *underestimates* the cost
       for ``alpha < 1`` by exactly that (true when no layer keeps both widths fixed);
    4. ``T(rho) = (rho / rho_0)^2 (T(rho_0) - E) + E`` with ``E`` the layers after
       global pooling (true when every size is proportional to ``rho``);
    5. ``dP / d rho = 0``: parameters do not depend on the resolution.

    A claim that does not hold is recorded as FALSE (and listed in the proof's
    findings), not raised.

    Raises
    ------
    FactorcheckError
        The totals are not polynomials in ``alpha`` and ``rho``.

    Examples
    --------
    >>> a, r = ALPHA, RHO
    >>> proof = scaling_proof("n", 54*a*r**2 + 80*a, 270*a, [("standard", 54*a*r**2),
    ...                       ("fc", 80*a)], rho_0=32)
    >>> proof.ok, proof.derivations[0].conclusion
    (True, 54*alpha*rho**2 + 80*alpha)
    """
    for what, expr in (("MACs", total_macs), ("parameters", total_params)):
        if not sympy.sympify(expr).is_polynomial(ALPHA, RHO):
            raise FactorcheckError(
                f"{name}: expected the total {what} to be a polynomial in alpha and rho, "
                f"got {expr}")
    derivations = (_collected(total_macs, subtotals), _width_limit(total_macs),
                   _width_rule_gap(total_macs), _resolution_scaling(total_macs, rho_0),
                   _params_flat(total_params))
    findings = tuple(text(d.title, ": ", step.justification, f" does not hold ({step.method})")
                     for d in derivations for step in d.steps if step.status.value == "false")
    title = text(f"Cost of {name} in width ", ALPHA, " and resolution ", RHO)
    return Proof("network_scaling", title, _summary(assumption), derivations, findings)


_T, _P = sympy.Function("T"), sympy.Function("P")


def width_assumption(alpha: sympy.Expr = ALPHA) -> Text:
    """The assumption of a symbolic width: every scaled width stays an integer.

    Examples
    --------
    >>> print(width_assumption())
    α·C is an integer for every scaled width C
    """
    product = Math(f"{latex_math(alpha)} C", f"{unicode_math(alpha)}·C")  # in reading order
    return text(product, " is an integer for every scaled width ", Math("C", "C"))


def resolution_assumption(resolution: sympy.Expr, stride: int) -> Text:
    """The assumption of a symbolic resolution: a multiple of the network's total stride.

    Examples
    --------
    >>> print(resolution_assumption(RHO, 32))
    ρ is a multiple of 32 (the total stride)
    """
    return text(resolution, f" is a multiple of {stride} (the total stride)")


def _summary(assumption: Text | str) -> Text:
    alpha_2 = ALPHA**2
    return text(
        "Total multiply-accumulates ", _T(ALPHA, RHO), " and parameters ", _P(ALPHA),
        " of the network, built layer by layer from the same cost functions as the numeric "
        "tables, assuming ", assumption or "nothing more", ". The cost grows like ", alpha_2,
        " (its limit over ", alpha_2, " is the coefficient of the layers between two scaled "
        "widths), the ", alpha_2, " rule underestimates it for ", sympy.Lt(ALPHA, 1),
        " by the layers linear in ", ALPHA, ", and it scales exactly as ", RHO**2,
        " apart from the layers after global pooling.")


def _collected(total: sympy.Expr, subtotals: Sequence[tuple[str, sympy.Expr]]) -> Derivation:
    nonzero = [(kind, macs) for kind, macs in subtotals if macs != 0]
    parts = [macs for _, macs in nonzero]
    start = sympy.Add(*parts, evaluate=False) if len(parts) > 1 else sympy.sympify(parts[0])
    polynomial = sympy.Poly(total, ALPHA, RHO).as_expr()
    types = " + ".join(kind for kind, _ in nonzero)
    shows_work = latex_math(start) != latex_math(polynomial)  # else the step would read X = X
    steps = [(polynomial, "collect the per-layer counts")] if shows_work else []
    return derive(text(f"total MACs ({types}) as a polynomial in ", ALPHA, " and ", RHO),
                  start if shows_work else polynomial, steps)


def _width_limit(total: sympy.Expr) -> Derivation:
    leading = sympy.Poly(total, ALPHA).coeff_monomial(ALPHA**2)
    return derive(text("the cost grows like ", ALPHA**2),
                  sympy.Limit(total / ALPHA**2, ALPHA, sympy.oo),
                  [(leading, text("only the ", ALPHA**2, " terms survive"))])


def _width_rule_gap(total: sympy.Expr) -> Derivation:
    linear = sympy.Poly(total, ALPHA).coeff_monomial(ALPHA)
    start = total - ALPHA**2 * total.subs(ALPHA, 1)
    return derive(text("error of the ", ALPHA**2, " rule"), start,
                  [(ALPHA * (1 - ALPHA) * linear,
                    text("the ", ALPHA**2, " terms cancel; no constant term"))],
                  strict=False)


def _resolution_scaling(total: sympy.Expr, rho_0: int) -> Derivation:
    after_pool = total.subs(RHO, 0)
    scaled = sympy.Mul(sympy.Pow(RHO / rho_0, 2, evaluate=False),
                       sympy.Add(total.subs(RHO, rho_0), -after_pool, evaluate=False),
                       evaluate=False)  # kept as written: evaluated, it prints like ``total``
    claim = scaled if after_pool == 0 else sympy.Add(scaled, after_pool, evaluate=False)
    title = text("the cost scales as ", RHO**2, " from ", sympy.Eq(RHO, rho_0, evaluate=False),
                 ", apart from layers after pooling")
    return derive(title, total,
                  [(claim, text("every spatial size is proportional to ", RHO))], strict=False)


def _params_flat(params: sympy.Expr) -> Derivation:
    return derive("parameters do not depend on the resolution", sympy.Derivative(params, RHO),
                  [(sympy.Integer(0), text("no parameter count contains ", RHO))])


