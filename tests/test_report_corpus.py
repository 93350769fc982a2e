"""Every report compiles: the fixed seed corpus and Hypothesis-generated model files.

Each case is rendered as LaTeX (and Markdown and JSON) and compiled with one
pdflatex pass in the same locked-down folder and environment as
:func:`~factorcheck.report.pdf.compile_pdf` (a LaTeX error stops the first
pass; the further passes only settle the table of contents and longtable
widths, and the tests that call ``compile_pdf`` itself run them).  Every PDF is
checked for Type 3 (bitmap) fonts with ``pdffonts``, and its log for overfull
boxes (content running off the page).  A missing pdflatex or
pdffonts skips these tests on a workstation and fails them in CI.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from strategies import model_specs, write_model

from conftest import require_tool
from factorcheck.report import render
from factorcheck.report.model import build
from factorcheck.report.pdf import DEFAULT_TIMEOUT, _run_once, find_engine

CORPUS = Path(__file__).parent / "corpus"
SUFFIXES = {".npz", ".safetensors", ".onnx"}
CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in SUFFIXES)
#: Largest overfull box tolerated (points): wide content must wrap, split or be summarized.
OVERFULL_PT = 1.0


def type3_fonts(pdf: Path) -> list[str]:
    """The lines of ``pdffonts`` that list a Type 3 (bitmap) font."""
    listing = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True,
                             text=True).stdout
    return [line for line in listing.splitlines() if "Type 3" in line]


def compile_once(tex: str, folder: Path) -> tuple[Path, str]:
    """One locked-down pdflatex pass over ``tex`` in ``folder``; the PDF's path and the log."""
    (folder / "report.tex").write_text(tex, encoding="utf-8")
    log = _run_once(find_engine(), str(folder), DEFAULT_TIMEOUT)
    return folder / "report.pdf", log


def overfull(log: str) -> list[str]:
    """Log lines of boxes more than OVERFULL_PT too wide or tall (content off the page)."""
    found = re.finditer(r"^Overfull \\[hv]box \(([0-9.]+)pt too \w+\).*$", log, re.M)
    return [m.group() for m in found if float(m.group(1)) > OVERFULL_PT]


def check_compiles(model: Path) -> None:
    """Build the model's report, render every format, compile the LaTeX, look at its fonts."""
    report = build([model], proofs=[])
    assert render(report, "md") and render(report, "json")
    with tempfile.TemporaryDirectory(prefix="factorcheck-test-") as folder:
        pdf, log = compile_once(render(report, "tex"), Path(folder))
        assert type3_fonts(pdf) == []
        assert overfull(log) == []


@pytest.fixture(autouse=True)
def tools() -> None:
    require_tool("pdflatex")
    require_tool("pdffonts")


def test_corpus_is_large_enough_and_small():
    sizes = [p.stat().st_size for p in CORPUS_FILES]
    assert len(CORPUS_FILES) >= 30
    assert {p.suffix for p in CORPUS_FILES} == SUFFIXES
    assert max(sizes) < 32 * 1024 and sum(sizes) < 2 * 1024 * 1024


def test_corpus_is_what_its_script_makes(tmp_path):
    """The committed files are exactly the output of tests/corpus/make_corpus.py."""
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.write_corpus(tmp_path)
    assert [p.name for p in made] == [p.name for p in CORPUS_FILES]
    for new in made:
        assert new.read_bytes() == (CORPUS / new.name).read_bytes(), new.name


@pytest.mark.parametrize("model", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_report_compiles(model):
    check_compiles(model)


@settings(max_examples=8)
@given(spec=model_specs())
def test_generated_report_compiles(spec):
    with tempfile.TemporaryDirectory(prefix="factorcheck-test-") as folder:
        check_compiles(write_model(spec, Path(folder)))
