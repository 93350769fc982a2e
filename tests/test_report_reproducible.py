"""The same input gives the same bytes: .tex, .md and .json under any PYTHONHASHSEED, and the PDF.

The hash seed changes the iteration order of sets (of SymPy symbols, say), so
each seed runs the CLI in its own Python process.  The PDF is reproducible
when the caller sets ``SOURCE_DATE_EPOCH`` (``compile_pdf`` adds
``FORCE_SOURCE_DATE=1``): two builds are compared byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require_tool
from factorcheck.report import render
from factorcheck.report.model import build
from factorcheck.report.pdf import compile_pdf

MODEL = Path(__file__).parent / "corpus" / "hostile_all.safetensors"
FORMATS = ("tex", "md", "json")
#: Writes the default report and the model's report in every format with the CLI.
SCRIPT = """
import sys
from factorcheck.cli import main
folder = sys.argv[1]
for fmt in {formats!r}:
    assert main(["report", "-o", f"{{folder}}/default.{{fmt}}"]) == 0
    assert main(["report", {model!r}, "-o", f"{{folder}}/model.{{fmt}}"]) == 0
"""


def _run_cli(folder: Path, hash_seed: str) -> dict[str, bytes]:
    folder.mkdir()
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    code = SCRIPT.format(formats=FORMATS, model=str(MODEL))
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True, env=env,
                   capture_output=True)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_text_outputs_do_not_depend_on_the_hash_seed(tmp_path):
    first = _run_cli(tmp_path / "seed0", "0")
    second = _run_cli(tmp_path / "seed12345", "12345")
    assert sorted(first) == sorted(f"{what}.{fmt}" for what in ("default", "model")
                                   for fmt in FORMATS)
    for name, data in first.items():
        assert data == second[name], name


def test_pdf_builds_are_byte_identical_with_source_date_epoch(tmp_path, monkeypatch):
    require_tool("pdflatex")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    tex = render(build([MODEL], proofs=["cost_ratio"]), "tex")
    first = compile_pdf(tex, tmp_path / "first.pdf").read_bytes()
    second = compile_pdf(tex, tmp_path / "second.pdf").read_bytes()
    assert first == second
    assert b"/CreationDate (D:20231114221320Z)" in first  # 1700000000 in UTC
