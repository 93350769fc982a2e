"""Reports of the derivations, theorem, worked example and verdicts: LaTeX, Markdown, JSON.

:func:`write` is the entry point (``factorcheck report`` calls it).  The
pieces, in the order data flows:

model
    :func:`~factorcheck.report.model.build` gathers the proofs, the worked
    example, the scans (the same records as ``factorcheck check``) and the
    per-column details into a :class:`~factorcheck.report.model.Report`.
latex, markdown, json
    Format a report; they compute nothing, so the formats carry the same numbers.
escape
    One-pass escaping of names and file names for LaTeX and Markdown.
pdf
    pdfLaTeX in an empty temporary folder, no shell escape, paranoid file
    access, a timeout; errors become :class:`~factorcheck.errors.LatexError`.

Output files are named by the caller (``output``) or :data:`DEFAULT_STEM`;
never after a layer or file name.

Examples
--------
>>> import os, tempfile
>>> from factorcheck.report import write
>>> folder = tempfile.mkdtemp()
>>> result = write(output=os.path.join(folder, "r.md"))
>>> result.format, [p.name for p in result.files], result.text.startswith("# Depthwise")
('md', ['r.md'], True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factorcheck.display import Displayable
from factorcheck.errors import FactorcheckError, LatexError
from factorcheck.io import MAX_TENSOR_BYTES
from factorcheck.io.output import check_output, check_suffix, write_text
from factorcheck.report.json import SCHEMA_VERSION, render_json
from factorcheck.report.latex import render_latex
from factorcheck.report.markdown import render_markdown
from factorcheck.report.model import Report, build
from factorcheck.report.pdf import DEFAULT_TIMEOUT, compile_pdf
from factorcheck.scan import Progress

__all__ = [
    "DEFAULT_STEM",
    "FORMATS",
    "SCHEMA_VERSION",
    "Report",
    "Written",
    "build",
    "render",
    "write",
]

#: Format name -> (file suffix, renderer).
FORMATS = {"tex": (".tex", render_latex), "md": (".md", render_markdown),
           "json": (".json", render_json)}
#: File name stem used when a PDF is asked for without an output path (in the current folder).
DEFAULT_STEM = "factorcheck-report"


@dataclass(frozen=True, eq=False, repr=False)
class Written(Displayable):
    """What :func:`write` produced.

    Attributes
    ----------
    report : Report
        The data rendered.
    format : str
        ``"tex"``, ``"md"`` or ``"json"``.
    text : str
        The rendered document.
    files : tuple of pathlib.Path
        The files written, in order (the document, then the PDF if asked); empty when
        the caller prints ``text`` itself.
    pdf : pathlib.Path or None
        The PDF, when one was compiled.
    """

    report: Report
    format: str
    text: str
    files: tuple[Path, ...]
    pdf: Path | None


def render(report: Report, format: str = "tex") -> str:
    """Render a report as ``"tex"``, ``"md"`` or ``"json"`` text.

    Examples
    --------
    >>> render(build(proofs=[]), "json")[:1]
    '{'
    >>> render(build(proofs=[]), "html")
    Traceback (most recent call last):
    ...
    factorcheck.errors.FactorcheckError: format 'html': expected one of 'tex', 'md', 'json'
    """
    if format not in FORMATS:
        raise FactorcheckError(
            f"format {format!r}: expected one of {', '.join(map(repr, FORMATS))}")
    return FORMATS[format][1](report)


def _resolve(output: str | os.PathLike | None, format: str | None, pdf: bool
             ) -> tuple[Path | None, str]:
    """The document's path and format (from the suffix of ``output`` when not given)."""
    path = None if output is None else Path(output)
    if format is None:
        by_suffix = {suffix: name for name, (suffix, _) in FORMATS.items()}
        format = "tex" if path is None else check_suffix(path, by_suffix, "--format", "tex")
    if format not in FORMATS:
        raise FactorcheckError(
            f"format {format!r}: expected one of {', '.join(map(repr, FORMATS))}")
    if pdf:
        if format != "tex":
            raise FactorcheckError(f"a PDF is compiled from LaTeX; got format {format!r}")
        path = Path(f"{DEFAULT_STEM}.tex") if path is None else path
        if path.suffix.lower() == ".pdf":
            raise FactorcheckError(
                f"output {os.fspath(path)!r}: with a PDF, the output names the .tex file "
                f"(the PDF goes beside it, e.g. 'report.tex' gives 'report.pdf')")
    return path, format


def write(
    paths: Sequence[str | os.PathLike] = (),
    *,
    output: str | os.PathLike | None = None,
    format: str | None = None,
    pdf: bool = False,
    order: str | Sequence[str] | None = None,
    multiplier: int = 1,
    rtol: float | None = None,
    layer: str | Sequence[str] | None = None,
    layout: str | None = None,
    network: str | None = None,
    allow_external_data: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    decouple: Any = None,
    input_shape: Sequence[int] | None = None,
    max_bytes: int = MAX_TENSOR_BYTES,
) -> Written:
    """Build a report and write it, as LaTeX (optionally compiled to PDF), Markdown or JSON.

    Parameters
    ----------
    paths : sequence of path-like
        Model files to analyse; none means the built-in demo kernels.  The
        proofs and the worked example are always included.
    output : path-like, optional
        The document to write.  ``None`` writes no file (print
        ``Written.text``), except with ``pdf=True``, which then writes
        ``factorcheck-report.tex`` and ``factorcheck-report.pdf`` in the
        current folder.
    format : {"tex", "md", "json"}, optional
        By default from the suffix of ``output`` (``.md``, ``.json``), else ``"tex"``.
    pdf : bool
        Also compile the LaTeX to a PDF beside it (``r.tex`` gives ``r.pdf``).
    order, multiplier, rtol, layer, layout, allow_external_data
        As in :func:`factorcheck.scan.scan`.
    network : str, optional
        Add the cost table of a built-in network.
    timeout : float
        Seconds allowed for each pdflatex run.
    progress : callable, optional
        ``progress(done, total, name)`` after each layer analysed (see :func:`build`).
    decouple, input_shape
        A decoupling plan, and a fixed input shape for it (see :func:`build`).
    max_bytes : int
        Largest tensor read from a model file (see :func:`build`).

    Returns
    -------
    Written

    Raises
    ------
    FactorcheckError
        Bad options or input files.
    LatexError
        The PDF could not be compiled (the .tex is written first, so it is kept).

    Examples
    --------
    >>> import json, os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> written = write(output=out)
    >>> json.load(open(out))["schema_version"], written.pdf
    (1, None)
    """
    path, format = _resolve(output, format, pdf)
    for target in (path, path.with_suffix(".pdf") if pdf else None):
        if target is not None:
            check_output(target, inputs=paths)  # before any work: never overwrite an input
    report = build(paths, order=order, multiplier=multiplier, rtol=rtol, layer=layer,
                   layout=layout, network=network, allow_external_data=allow_external_data,
                   progress=progress, decouple=decouple, input_shape=input_shape,
                   max_bytes=max_bytes)
    text = render(report, format)
    files: list[Path] = []
    if path is not None:
        write_text(path, text, inputs=paths)
        files.append(path)
    pdf_path = None
    if pdf:
        try:
            pdf_path = compile_pdf(text, path.with_suffix(".pdf"), timeout=timeout)
        except LatexError as err:
            raise LatexError(f"{err}\n(the LaTeX source was written to {path})") from None
        files.append(pdf_path)
    return Written(report, format, text, tuple(files), pdf_path)
