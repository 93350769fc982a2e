"""Compile a LaTeX report to PDF with pdfLaTeX, locked down and in an empty folder.

:func:`compile_pdf` copies the LaTeX text to ``report.tex`` in a fresh
temporary folder (the file names never come from the report's content), runs
``pdflatex -no-shell-escape -interaction=nonstopmode -halt-on-error`` there
with ``openin_any=p`` and ``openout_any=p`` (TeX may neither read nor write
files outside that folder and the TeX tree, nor dot files) and a timeout,
runs it twice (for the table of contents) and a third time if LaTeX asks, and moves
the PDF to its destination.  When the caller's environment sets ``SOURCE_DATE_EPOCH``
(the reproducible-builds convention), ``FORCE_SOURCE_DATE=1`` is added, so two
builds of the same report are byte-identical.  latexmk is deliberately not used: it executes
Perl from ``latexmkrc`` files found in the working and home folders.

Failures raise :class:`~factorcheck.errors.LatexError` whose message holds
the log's relevant lines; a missing engine raises one naming the Debian
packages that provide it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from factorcheck.errors import LatexError
from factorcheck.io.output import write_bytes

__all__ = ["DEBIAN_PACKAGES", "ENGINE", "compile_pdf", "find_engine", "relevant_log_lines"]

#: The TeX engine used.
ENGINE = "pdflatex"
#: Debian packages that provide the engine and every package the report uses.
DEBIAN_PACKAGES = ("texlive-latex-base", "texlive-latex-recommended", "texlive-pictures",
                   "lmodern")
#: Default seconds allowed for each pdflatex run.
DEFAULT_TIMEOUT = 120.0
_MAX_RUNS = 3
_RERUN_MARKERS = ("Rerun to get", "Label(s) may have changed", "Table widths have changed")


def find_engine() -> str | None:
    """Path of ``pdflatex``, or ``None`` when no TeX engine is installed.

    Examples
    --------
    >>> find_engine() is None or find_engine().endswith("pdflatex")
    True
    """
    return shutil.which(ENGINE)


def relevant_log_lines(log: str, *, context: int = 3, limit: int = 40) -> list[str]:
    """The lines of a TeX log that explain a failure: errors (``!`` or ``file:line:``) and context.

    Examples
    --------
    >>> log = "This is pdfTeX\\n! Undefined control sequence.\\nl.7 \\\\foo\\n\\n\\n\\n)"
    >>> relevant_log_lines(log)
    ['! Undefined control sequence.', 'l.7 \\\\foo']
    """
    lines = log.splitlines()
    keep: list[int] = []
    for i, line in enumerate(lines):
        if line.startswith("!") or line.startswith("./report.tex:") or "Emergency stop" in line:
            keep.extend(range(i, min(i + context + 1, len(lines))))
    chosen = [lines[i] for i in sorted(set(keep)) if lines[i].strip()]
    return chosen[:limit] or lines[-limit // 2:]


def _environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment, locked down; ``SOURCE_DATE_EPOCH`` makes the PDF reproducible.

    With ``SOURCE_DATE_EPOCH`` set, pdfTeX writes that time as the PDF's dates
    and derives the file ID from it and the job name (always ``report``), and
    ``FORCE_SOURCE_DATE=1`` makes TeX's own clock use it too: two builds of the
    same LaTeX are then byte-identical.

    Examples
    --------
    >>> env = _environment({"SOURCE_DATE_EPOCH": "1700000000"})
    >>> env["FORCE_SOURCE_DATE"], env["openout_any"]
    ('1', 'p')
    >>> "FORCE_SOURCE_DATE" in _environment({})
    False
    """
    env = dict(os.environ if base is None else base)
    env.update(openin_any="p", openout_any="p", shell_escape="f", TEXINPUTS=".:")
    if env.get("SOURCE_DATE_EPOCH", "").strip():
        env["FORCE_SOURCE_DATE"] = "1"
    return env


def _run_once(engine: str, folder: str, timeout: float) -> str:
    """Run pdflatex once in ``folder``; return the log text, or raise LatexError."""
    command = [engine, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
               "-file-line-error", "report.tex"]
    try:
        with subprocess.Popen(command, cwd=folder, env=_environment(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise LatexError(f"{ENGINE} did not finish within {timeout:g} s") from None
    except OSError as err:
        raise LatexError(f"could not run {engine}: {err}") from None
    log_path = Path(folder, "report.log")
    log = log_path.read_text(errors="replace") if log_path.exists() else output.decode(
        errors="replace")
    if process.returncode != 0 or not Path(folder, "report.pdf").exists():
        lines = "\n".join(relevant_log_lines(log))
        raise LatexError(f"{ENGINE} failed (exit status {process.returncode}); from its log:\n"
                         f"{lines}")
    return log


def compile_pdf(tex: str, destination: str | os.PathLike, *, timeout: float = DEFAULT_TIMEOUT
                ) -> Path:
    """Compile LaTeX text to a PDF file at ``destination``.

    Parameters
    ----------
    tex : str
        A complete LaTeX document.
    destination : path-like
        Where the PDF goes (replaced atomically; nothing is written on failure).
    timeout : float
        Seconds allowed for each pdflatex run.

    Returns
    -------
    pathlib.Path
        ``destination``.

    Raises
    ------
    LatexError
        No TeX engine (the message names the Debian packages), a LaTeX error
        (with the log's relevant lines), or the timeout.

    Examples
    --------
    >>> import os, tempfile
    >>> doc = "\\\\documentclass{article}\\\\begin{document}Hi\\\\end{document}"
    >>> out = os.path.join(tempfile.mkdtemp(), "hi.pdf")
    >>> compile_pdf(doc, out).name  # doctest: +SKIP
    'hi.pdf'
    """
    engine = find_engine()
    if engine is None:
        raise LatexError(
            f"no TeX engine found ({ENGINE} is not on PATH); on Debian or Ubuntu install it with "
            f"`apt-get install {' '.join(DEBIAN_PACKAGES)}`"
        )
    destination = Path(destination)
    with tempfile.TemporaryDirectory(prefix="factorcheck-tex-") as folder:
        Path(folder, "report.tex").write_text(tex, encoding="utf-8")
        for run in range(1, _MAX_RUNS + 1):  # the contents need a second run, always
            log = _run_once(engine, folder, timeout)
            if run >= 2 and not any(marker in log for marker in _RERUN_MARKERS):
                break
        write_bytes(destination, Path(folder, "report.pdf").read_bytes())
    return destination
