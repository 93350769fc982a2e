"""Tests of factorcheck.symbolic.derivation: verified, unverified and false steps."""

from __future__ import annotations

import pytest
import sympy

from factorcheck.errors import DerivationError, FactorcheckError
from factorcheck.symbolic.derivation import Status, check_relation, derive, latex_text
from factorcheck.symbolic.proofs import run_proofs
from factorcheck.symbolic.ratios import cost_ratio_proof
from factorcheck.symbolic.text import latex_math

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
    assert derive("fine", sympy.Add(f(x), f(x), evaluate=False), [(2 * f(x), "collect")]).ok
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
    assert r"by $D_{p}^{2}$ (verified)" in latex  # the justification's formula is math


def test_latex_text_escapes_specials():
    assert latex_text("a_b & 50%") == r"a\_b \& 50\%"


def test_malformed_step():
    with pytest.raises(DerivationError, match=r"expected \(expr, justification\)"):
        derive("bad", N, [(N,)])


def test_a_step_that_prints_like_its_left_side_is_refused():
    # "X = X": SymPy evaluated both sides before display, so the step shows no work
    with pytest.raises(DerivationError, match="expected a change, got the same expression"):
        derive("no work", N + N, [(2 * N, "collect")])
    shown = derive("work", sympy.Add(N, N, evaluate=False), [(2 * N, "collect")])
    assert shown.ok and shown.to_text().splitlines()[1].strip() == "N + N"


def test_kept_as_written_sides_are_checked_by_value():
    product = sympy.Mul(6, 6, 9, evaluate=False)
    assert derive("macs", product, [(sympy.Integer(324), "multiply")]).ok
    with pytest.raises(DerivationError, match="is false"):  # negative control
        derive("macs", product, [(sympy.Integer(325), "multiply")])
    a, b = sympy.ImmutableMatrix([[1], [2]]), sympy.ImmutableMatrix([[3, 4]])
    assert check_relation(sympy.MatMul(a, b), sympy.ImmutableMatrix([[3, 4], [6, 8]]))[0] \
        is Status.VERIFIED
    assert check_relation(sympy.MatMul(a, b), sympy.ImmutableMatrix([[3, 4], [6, 9]]))[0] \
        is Status.FALSE


def test_every_step_of_every_proof_shows_work_and_is_verified():
    for proof in run_proofs():
        for derivation in proof.derivations:
            previous = derivation.start
            for step in derivation.steps:
                assert latex_math(previous) != latex_math(step.expr), derivation.title
                assert step.status is Status.VERIFIED, (derivation.title, step.method)
                previous = step.expr


def test_reprs_are_short_and_notebooks_get_latex():
    for proof in run_proofs(["theorem", "worked_example"]):
        assert len(repr(proof).splitlines()) <= 12
        assert proof._repr_latex_().startswith("$$")
        for derivation in proof.derivations:
            assert len(repr(derivation).splitlines()) <= 12
            assert r"\begin{aligned}" in derivation._repr_latex_()
