"""One source per sentence: the LaTeX, Markdown and Unicode forms share their formulas,
and no output prints ASCII stand-ins for mathematics."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import sympy

from factorcheck.report.latex import render_latex
from factorcheck.report.markdown import render_markdown
from factorcheck.report.model import build
from factorcheck.symbolic.proofs import run_proofs
from factorcheck.symbolic.text import Math, Text, text, unicode_math, unicode_name

#: ASCII stand-ins for mathematics that must not appear in prose.
ASCII_MATH = ("mu_ij", "mu_", "Lambda(b)", " x s^2", "<=", ">=", "->", "**", "Subs(", "Limit(",
              "D_k^2", "u v^T", " . Lambda", "cost.py", "cost_ratio proof", "cost.output_size")
N, D_k = sympy.symbols("N D_k", positive=True)


def _sentences() -> list[Text]:
    found = []
    for proof in run_proofs():
        found += [proof.title, proof.summary, *proof.findings]
        for derivation in proof.derivations:
            found += [derivation.title, *(step.justification for step in derivation.steps)]
    return found


def _outside_math(latex: str) -> str:
    """LaTeX text with inline and display math (and derivation blocks) removed."""
    latex = re.sub(r"\\begin\{(fcderivation|align\*)\}.*?\\end\{\1\}", " ", latex, flags=re.S)
    latex = re.sub(r"\\\[.*?\\\]|\$\$.*?\$\$", " ", latex, flags=re.S)
    return re.sub(r"(?<!\\)\$.*?(?<!\\)\$", " ", latex, flags=re.S)


def test_the_three_renderings_share_their_formulas():
    sentences = _sentences()
    assert sum(len(s.formulas) for s in sentences) > 100
    for sentence in sentences:
        latex, markdown, plain = sentence.to_latex(), sentence.to_markdown(), sentence.to_unicode()
        for formula in sentence.formulas:
            assert f"${formula.latex}$" in latex and f"${formula.latex}$" in markdown
            assert formula.unicode in plain
        assert len(sentence.formulas) == latex.count("$") // 2 == markdown.count("$") // 2


def test_a_formula_is_printed_by_sympy_in_latex_and_unicode():
    ratio = Math.of(1 / N + 1 / D_k**2)
    assert ratio.latex == sympy.latex(1 / N + 1 / D_k**2)
    assert ratio.unicode == "1/N + 1/D_k²"
    assert unicode_math(sympy.Symbol(r"\mu_{12}") * sympy.Symbol("b_{2}[1,2]")) == "μ₁₂·b₂[1,2]"
    assert unicode_name(r"\Lambda") == "Λ" and unicode_name(r"\mu_{ij}") == "μ_ij"


def test_words_are_escaped_and_formulas_are_not():
    sentence = text("50% of a_b ", sympy.Symbol("x") ** 2)
    assert sentence.to_latex() == r"50\% of a\_b $x^{2}$"
    assert sentence.to_markdown() == r"50% of a\_b $x^{2}$"
    assert str(sentence) == "50% of a_b x²"


@pytest.mark.parametrize("form", ["to_latex", "to_markdown", "to_unicode"])
def test_no_ascii_math_in_any_sentence(form):
    for sentence in _sentences():
        shown = getattr(sentence, form)()
        prose = _outside_math(shown) if form != "to_unicode" else shown
        for stand_in in ASCII_MATH:  # words in Text never use ** (bold is the renderer's)
            assert stand_in not in prose, (stand_in, shown)


def test_render_latex_prose_has_no_ascii_math():
    tex = render_latex(build())
    prose = _outside_math(tex[tex.index(r"\begin{document}"):])
    for stand_in in (*ASCII_MATH, r"\textless{}", r"\textgreater{}", r"\^{}", "textbackslash"):
        assert stand_in not in prose, stand_in
    assert tex.count("The stated standard kernel") == 1  # the finding is printed once


def test_render_markdown_prose_has_no_ascii_math():
    prose = _outside_math(render_markdown(build()))
    for stand_in in (s for s in ASCII_MATH if s != "**"):  # ** is bold in Markdown
        assert stand_in not in prose, stand_in


def test_prove_prints_unicode_and_every_proof_verified():
    done = subprocess.run([sys.executable, "-m", "factorcheck", "prove"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("8/8 proofs verified")
    for stand_in in (*ASCII_MATH, "Matrix(", "D_k**(-2)", "floor("):
        assert stand_in not in done.stdout, stand_in
    for symbol in ("μ_ij", "Λ(b)", "≤", "×", "D_k²"):
        assert symbol in done.stdout, symbol
    assert "? unverified" not in done.stdout and "FALSE" not in done.stdout


def test_output_does_not_depend_on_the_hash_seed():
    code = ("from factorcheck.symbolic.proofs import run_proofs\n"
             "print(''.join(p.to_latex() + p.to_text() for p in run_proofs()))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": seed},
                              timeout=120).stdout for seed in ("0", "1", "4242")}
    assert len(outputs) == 1 and len(outputs.pop()) > 1000
