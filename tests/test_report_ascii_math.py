"""No ASCII stand-in for mathematics in what a reader sees: the PDF (as pdftotext reads it back),
the Markdown outside ``$...$``, and the terminal text of ``factorcheck network --symbolic``.

The PDFs are the default report and the report with MobileNet v1's cost table and scaling proof.
Skipped only when pdflatex or pdftotext is missing *and* CI is not set; in CI a missing tool fails.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool
from factorcheck.cli import main

#: ASCII stand-ins for mathematics, each with a sample it must catch (the negative control).
STAND_INS: dict[str, tuple[str, str]] = {
    "mu_ij": (r"\bmu_", "k = mu_ij b_j"),
    "Lambda(b)": (r"\bLambda\(", "K = M . Lambda(b)"),
    "x as a product": (r"(?<![\w-])(?:\d+|[A-Za-z]) x (?:\d+|[A-Za-z])\b", "the n x s^2 matrix"),
    "^ as a power": (r"[\w)]\^", "D_p^2"),
    "<=": (r"<=", "rank <= d"),
    ">=": (r">=", "n >= 2"),
    "->": (r"->", "(mu, b) -> k"),
    "** as a power": (r"\*\*", "D_k**(-2)"),
    "alpha": (r"\balpha\b", "width alpha"),
    "rho": (r"\brho\b", "resolution rho"),
    "sigma": (r"\bsigma", "sigma_1"),
    "lambda": (r"\blambda\b", "eigenvalue lambda"),
    "Subs(": (r"\bSubs\(", "Subs(x, y, 1)"),
    "Limit(": (r"\bLimit\(", "Limit(T/alpha**2, alpha, oo)"),
    "oo": (r"\boo\b", "alpha -> oo"),
    "sqrt(": (r"\bsqrt\(", "sqrt(2)"),
    "e-notation": (r"\b\d+(?:\.\d+)?e[-+]\d+\b", "distance 1.12e-16"),
    "a Python module": (r"\w\.py\b", "from cost.py"),
    "a module's function": (r"\bcost\.\w", "cost.output_size with floor"),
    "a code name": (r"\b[a-z]{2,}_[a-z_]+\b", "the cost_ratio proof"),
}
#: Markdown writes bold as ``**``: not a power there.
MARKDOWN_SKIPS = ("** as a power",)


def stand_ins(text: str, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every (kind, context) of an ASCII stand-in found in ``text``."""
    found = []
    for kind, (pattern, _) in STAND_INS.items():
        if kind in skip:
            continue
        for match in re.finditer(pattern, text):
            found.append((kind, text[max(0, match.start() - 40):match.end() + 40]))
    return found


def _pdf_text(folder: Path, *options: str) -> str:
    require_tool("pdflatex")
    require_tool("pdftotext")
    assert main(["report", *options, "-o", str(folder / "r.tex"), "--pdf"]) == 0
    return subprocess.run(["pdftotext", str(folder / "r.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def default_pdf_text(tmp_path_factory) -> str:
    return _pdf_text(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def network_pdf_text(tmp_path_factory) -> str:
    return _pdf_text(tmp_path_factory.mktemp("network"), "--network", "mobilenet-v1")


def _outside_math(markdown: str) -> str:
    markdown = re.sub(r"\$\$.*?\$\$", " ", markdown, flags=re.S)
    return re.sub(r"(?<!\\)\$.*?(?<!\\)\$", " ", markdown)


@pytest.mark.parametrize("kind", list(STAND_INS))
def test_each_pattern_catches_its_stand_in(kind):
    pattern, sample = STAND_INS[kind]
    assert re.search(pattern, sample), kind
    assert stand_ins("rank Aj ≤ d, α → ∞, 1.12 × 10−16, µij bj, n × s2, σ1") == []


def test_default_pdf_has_no_ascii_math(default_pdf_text):
    assert "Cost derivations" in default_pdf_text and "×" in default_pdf_text
    assert stand_ins(default_pdf_text) == []


def test_network_pdf_has_no_ascii_math(network_pdf_text):
    # the scaling proof is in it, written with α and ρ
    assert "Cost of mobilenet-v1 in width α and resolution ρ" in network_pdf_text
    assert "α→∞" in re.sub(r"\s+", "", network_pdf_text)
    assert stand_ins(network_pdf_text) == []


@pytest.mark.parametrize("options", [(), ("--network", "mobilenet-v1")])
def test_markdown_has_no_ascii_math_outside_formulas(tmp_path, options, capsys):
    assert main(["report", *options, "-o", str(tmp_path / "r.md")]) == 0
    markdown = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert r"\sigma_{1}" in markdown or r"\sigma_1" in markdown
    assert stand_ins(_outside_math(markdown), skip=MARKDOWN_SKIPS) == []


def test_network_symbolic_text_is_unicode(capsys):
    assert main(["network", "mobilenet-v1", "--symbolic"]) == 0
    out = capsys.readouterr().out
    for symbol in ("α", "ρ", "α²", "→", "∞", "∂"):
        assert symbol in out, symbol
    # "[network_scaling]" names the proof as ``factorcheck prove`` does: an id, not mathematics
    shown = re.sub(r"^\[\w+\] ", "", out, flags=re.M)
    assert stand_ins(shown) == []


def test_network_scaling_proof_in_three_forms_from_one_source():
    from factorcheck.network import mobilenet_v1, network_scaling_proof

    proof = network_scaling_proof(mobilenet_v1())
    assert proof.ok and len(proof.derivations) == 5
    for sentence in (proof.title, proof.summary,
                     *(d.title for d in proof.derivations),
                     *(s.justification for d in proof.derivations for s in d.steps)):
        plain, latex = sentence.to_unicode(), sentence.to_latex()
        assert stand_ins(plain) == [], plain
        assert stand_ins(re.sub(r"\$.*?\$", " ", latex)) == [], latex
        for formula in sentence.formulas:
            assert f"${formula.latex}$" in latex and formula.unicode in plain
