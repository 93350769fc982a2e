"""PDF reports: compile with pdflatex, read back with pdftotext.

Skipped only when pdflatex or pdftotext is missing *and* CI is not set; in CI
(which installs TeX Live and poppler-utils) a missing tool fails the tests.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import require_tool
from factorcheck.cli import main
from factorcheck.errors import LatexError
from factorcheck.report.pdf import compile_pdf

#: Layer names the PDF must show literally (pdftotext gives them back).
LITERAL_NAMES = (
    r"\input{/etc/passwd}",
    r"}\end{document}",
    "^^5cinput",
    "100%",
    "#hash",
    "~tilde",
    "$(rm -rf ~)",
    "a_b&c",
    "ünïcødé_Ærø",
    "'single'`grave`\"double\"",
    "<less>|bar|",
)
LONG_NAME = "L" * 10_000
CONTROL_NAME = "conv\x1b[31mred\x07"


@pytest.fixture(autouse=True)
def tools() -> None:
    require_tool("pdflatex")
    require_tool("pdftotext")


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def squeeze(text: str) -> str:
    """Drop all whitespace (names wrap inside table cells)."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def default_pdf_path(tmp_path_factory) -> Path:
    require_tool("pdflatex")
    folder = tmp_path_factory.mktemp("default")
    assert main(["report", "-o", str(folder / "r.tex"), "--pdf"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["r.pdf", "r.tex"]
    return folder / "r.pdf"


@pytest.fixture(scope="module")
def default_pdf(default_pdf_path) -> str:
    require_tool("pdftotext")
    return pdf_text(default_pdf_path)


@pytest.fixture(scope="module")
def model_pdf_path(tmp_path_factory) -> Path:
    require_tool("pdflatex")
    require_tool("pdftotext")
    folder = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(3)
    arrays = {name: rng.standard_normal((8, 4, 3, 3)) for name in
              (*LITERAL_NAMES, LONG_NAME, CONTROL_NAME)}
    arrays["#hash"] = np.ones((8, 4, 3, 3))
    arrays["layer层"] = np.ones((8, 4, 3, 3))
    arrays["dw"] = rng.standard_normal((4, 1, 3, 3))
    np.savez(folder / "weird model.npz", **arrays)
    out = folder / "out"
    out.mkdir()
    assert main(["report", str(folder / "weird model.npz"), "-o", str(out / "m.tex"),
                 "--pdf"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["m.pdf", "m.tex"]
    return out / "m.pdf"


@pytest.fixture(scope="module")
def model_pdf(model_pdf_path) -> str:
    return pdf_text(model_pdf_path)


def test_reports_embed_only_vector_fonts(default_pdf_path, model_pdf_path):
    """Latin Modern in T1: no Type 3 (bitmap) font, on any page, for prose or names."""
    require_tool("pdffonts")
    for pdf in (default_pdf_path, model_pdf_path):
        fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True,
                               text=True).stdout
        assert "Type 3" not in fonts and "LMRoman10-Regular" in fonts, fonts


def test_default_report_shows_derivations_and_verdicts(default_pdf):
    text = default_pdf
    for needle in ("Depthwise separable convolution, verified", "Cost derivations",
                   "MAC ratio of depthwise separable to standard convolution",
                   "The separability theorem", "Dimension count", "all steps verified",
                   "verified ✓", "The worked example", "3 × 3 × 3 × 6", "25/144",
                   "near-separable", "separable (numerically", "separable (exactly",
                   "not separable", "energy kept"):
        assert needle in text, needle
    assert "8 of 8 proofs verified" in text
    assert "¡" not in text and "¿" not in text  # < and > in prose print as themselves


def test_model_report_shows_names_literally(model_pdf):
    flat = squeeze(model_pdf)
    for name in LITERAL_NAMES:
        assert squeeze(name) in flat, name
    assert "conv\\x1b[31mred\\x07" in flat
    assert "layer\\u5c42" in flat  # outside Latin-1: shown as a visible Python escape
    assert "L" * 30 in flat and "L" * 100 not in flat  # the long name is shortened
    assert "root:" not in model_pdf  # \input{/etc/passwd} was not executed
    for needle in ("Model", "weird", "yes", "no", "depthwise (trivial)", "Relative distance",
                   "Parameter cost of the model", "total"):
        assert needle in model_pdf, needle


def test_latex_errors_carry_the_log_lines(tmp_path):
    doc = "\\documentclass{article}\n\\begin{document}\n\\undefinedmacro\n\\end{document}\n"
    with pytest.raises(LatexError, match="Undefined control sequence"):
        compile_pdf(doc, tmp_path / "bad.pdf")
    assert list(tmp_path.iterdir()) == []


def test_tex_cannot_write_outside_its_folder(tmp_path):
    target = tmp_path / "escaped.txt"
    doc = ("\\documentclass{article}\n\\newwrite\\f\\immediate\\openout\\f=" + str(target)
           + "\n\\immediate\\write\\f{x}\\immediate\\closeout\\f\n"
           "\\begin{document}x\\end{document}\n")
    try:
        compile_pdf(doc, tmp_path / "w.pdf")
    except LatexError:
        pass
    assert not target.exists()


def test_pdf_in_cwd_without_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--pdf", "--layer", "int*"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["factorcheck-report.pdf",
                                                          "factorcheck-report.tex"]


def test_issue_kernel_with_more_columns_than_the_table_compiles(tmp_path):
    """The report of one random 64x17x3x3 kernel stopped pdflatex at 'Missing \\cr inserted'."""
    np.save(tmp_path / "r.npy", np.random.default_rng(0).standard_normal((64, 17, 3, 3)))
    assert main(["report", str(tmp_path / "r.npy"), "-o", str(tmp_path / "r.tex"), "--pdf"]) == 0
    text = squeeze(pdf_text(tmp_path / "r.pdf"))
    assert "Column17islistedintheJSONoutput" in text
