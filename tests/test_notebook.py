"""examples/quickstart.ipynb runs from top to bottom, and its results render as HTML.

The notebook runs in a fresh python3 kernel (ipykernel), which inherits the
environment, so it imports the same factorcheck as the tests (installed, or on
PYTHONPATH).  In CI the ``test`` extra installs nbclient, nbformat, ipykernel
and matplotlib, so this test never skips there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from fixtures_models import require

import factorcheck

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"


def _outputs(cell: dict) -> list[dict]:
    return [out for out in cell.get("outputs", []) if out.get("output_type") != "stream"]


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    require("ipykernel")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # the kernel is a subprocess: put the factorcheck under test first on its path
    package_root = str(Path(factorcheck.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's temporary folder goes here
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [out for cell in code for out in cell.get("outputs", [])
              if out.get("output_type") == "error"]
    assert not errors, errors
    rich = [out["data"] for cell in code for out in _outputs(cell) if "data" in out]
    html = [data["text/html"] for data in rich if "text/html" in data]
    assert any("Analysis: dw-pw" in page for page in html)
    assert any("Factors: dw-pw" in page for page in html)
    assert any("ScanResult: 3 layers" in page for page in html)
    assert any("LayerRecord" in page for page in html)
    if importlib.util.find_spec("matplotlib") is not None:
        assert any("image/png" in data for data in rich), "no spectrum plot"
    files = rich[-1]["text/plain"]
    assert "report.tex" in files
    assert ("report.pdf" in files) == (shutil.which("pdflatex") is not None)


def test_notebook_is_stored_without_outputs():
    nbformat = require("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("word", ["analyze", "nearest_separable", "scan(", "write("])
def test_notebook_covers_the_walkthrough(word):
    assert word in NOTEBOOK.read_text(encoding="utf-8")
