"""Tests of factorcheck.symbolic.derivation: verified, unverified and false steps."""

from __future__ import annotations

import pytest
import sympy

from factorcheck.errors import DerivationError, FactorcheckError
from factorcheck.symbolic.derivation import Status, check_relation, derive, latex_text
from factorcheck.symbolic.ratios import cost_ratio_proof

D_p, D_k, M, N = sympy.symbols("D_p D_k M N", positive=True, integer=True)
RATIO = (D_p**2 * D_k**2 * M + D_p**2 * M * N) / (D_p**2 * D_k**2 * M * N)


def test_blog_chain_is_verified():
    chain = derive("ratio", RATIO, [
        ((D_k**2 * M + M * N) / (D_k**2 * M * N), "divide by D_p^2"),
        (1 / N + 1 / D_k**2, "split"),
    ])
    assert chain.ok
    assert [step.status for step in chain.steps] == [Status.VERIFIED] * 2
    assert sympy.simplify(chain.conclusion - (1 / N + 1 / D_k**2)) == 0


def test_negative_control_wrong_ratio_is_rejected():
    # The classic slip: forgetting the square on D_k.
    with pytest.raises(DerivationError, match=r"step 1 \(forget the square\) is false"):
        derive("wrong", RATIO, [(1 / N + 1 / D_k, "forget the square")])
    recorded = derive("wrong", RATIO, [(1 / N + 1 / D_k, "forget the square")], strict=False)
    assert not recorded.ok
    assert recorded.steps[0].status is Status.FALSE
    assert "counter-example" in recorded.steps[0].method
    assert "✗ FALSE" in recorded.to_text()


def test_derivation_error_is_a_factorcheck_error():
    assert issubclass(DerivationError, FactorcheckError)


def test_undecidable_step_is_unverified_not_accepted():
    # f(x) = g(x) for undefined functions: no sample evaluates to a number and
    # simplify cannot decide, so the step must be shown as unverified.
    x = sympy.Symbol("x")
    f, g = sympy.Function("f"), sympy.Function("g")
    assert derive("fine", f(x) + f(x), [(2 * f(x), "collect")]).ok
    opaque = derive("opaque", f(x), [(g(x), "trust me")])
    assert opaque.steps[0].status is Status.UNVERIFIED
    assert not opaque.ok
    assert "? unverified" in opaque.to_text()


def test_order_relations():
    assert check_relation(1 + 9 / N, 1, ">")[0] is Status.VERIFIED
    assert check_relation(1 - 9 / N, 1, ">=")[0] is Status.FALSE
    with pytest.raises(DerivationError, match="relation: expected one of"):
        check_relation(N, N, "<")


def test_matrix_steps_compare_entries():
    a = sympy.Matrix([[M * N, 1]])
    assert check_relation(a, sympy.Matrix([[N * M, 1]]))[0] is Status.VERIFIED
    assert check_relation(a, sympy.Matrix([[N * M, 2]]))[0] is Status.FALSE
    assert check_relation(a, sympy.Matrix([[1], [2]]))[0] is Status.FALSE


def test_renderings_have_a_mark_per_step_and_sympy_latex():
    chain = cost_ratio_proof().derivations[0]
    text = chain.to_text()
    assert text.count("✓ verified") == len(chain.steps)
    latex = chain.to_latex()
    assert latex.startswith(r"\begin{align*}") and latex.endswith(r"\end{align*}")
    assert sympy.latex(1 / N + 1 / D_k**2) in latex
    assert r"D\_p\^{}2" in latex  # the justification is escaped prose


def test_latex_text_escapes_specials():
    assert latex_text("a_b & 50%") == r"a\_b \& 50\%"


def test_malformed_step():
    with pytest.raises(DerivationError, match=r"expected \(expr, justification\)"):
        derive("bad", N, [(N,)])
