"""``factorcheck report [PATH ...]``: derivations, theorem, worked example and verdicts.

Writes a LaTeX (default), Markdown or JSON report; with ``--pdf`` also
compiles the LaTeX with pdflatex.  With no PATH the report covers the
built-in demo kernels; the proofs and the worked example are always in it.

Output: ``-o FILE`` writes FILE (format from its suffix unless ``--format``
says; an unknown suffix without ``--format`` is an error), through
:mod:`factorcheck.io.output`; without ``-o`` the document goes to stdout, except with ``--pdf``,
which writes ``factorcheck-report.tex`` and ``factorcheck-report.pdf`` in the
current folder.  ``-o r.tex --pdf`` gives ``r.tex`` and ``r.pdf``.

Exit statuses: 0 written; 1 written, but a proof step is not verified; 2 bad
input or the PDF failed (the .tex is still written), with a message on stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from factorcheck.cli.check import add_scan_options, progress_bar
from factorcheck.cli.network import parse_input_shape
from factorcheck.io import MAX_TENSOR_BYTES
from factorcheck.report import DEFAULT_STEM, FORMATS, write
from factorcheck.report.decouple import DEFAULT_PLAN

__all__ = ["positive_seconds", "register", "run"]

_EPILOG = f"""\
output: -o FILE (format from its suffix: .tex .md .json; any other suffix needs --format);
no -o prints to stdout, except --pdf, which writes {DEFAULT_STEM}.tex and {DEFAULT_STEM}.pdf
here.  -o never overwrites an input (links included), and writes /dev/stdout, FIFOs and
devices through instead of replacing them.
exit status: 0 written; 1 a proof step is not verified; 2 bad input or PDF failure.
--pdf needs pdflatex (Debian: texlive-latex-base texlive-latex-recommended texlive-pictures
lmodern).
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the top-level parser's subparsers.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="factorcheck")
    >>> _ = register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["report", "m.onnx", "-o", "r.tex", "--pdf"])
    >>> args.paths, args.output, args.pdf, args.format
    (['m.onnx'], 'r.tex', True, None)
    """
    p = subparsers.add_parser(
        "report", help="write the verified derivations and the verdicts as LaTeX/PDF, Markdown "
                       "or JSON",
        description=__doc__.split("\n\n")[0], epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="model files; none reports on the built-in demo kernels")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.add_argument("--format", choices=list(FORMATS), default=None,
                   help="tex, md or json (default: from the suffix of -o, else tex)")
    p.add_argument("--pdf", action="store_true", help="also compile the LaTeX to a PDF")
    p.add_argument("--network", metavar="NAME", default=None,
                   help="add the cost table of a built-in network (e.g. mobilenet-v1)")
    add_scan_options(p)
    p.add_argument("--decouple", nargs="?", const=DEFAULT_PLAN, default=None, metavar="PLAN",
                   help="add each model's decoupling trade-off (cost against certified output "
                        f"error); PLAN is terms=T, energy=E or rtol=R (default {DEFAULT_PLAN})")
    p.add_argument("--input-shape", type=parse_input_shape, metavar="NxCxHxW", default=None,
                   help="with --decouple, ONNX: fix a dynamic input shape, e.g. 1x3x224x224")
    p.add_argument("--timeout", type=positive_seconds, default=120.0, metavar="S",
                   help="seconds allowed for each pdflatex run (default: 120)")
    p.set_defaults(func=run)
    return p


#: Longest --timeout accepted (a day): beyond it a "timeout" no longer bounds anything.
MAX_TIMEOUT = 86_400.0


def positive_seconds(text: str) -> float:
    """Parse ``--timeout``: a finite number of seconds, ``0 < S <= MAX_TIMEOUT``.

    ``nan`` (which compares false with everything), ``inf`` and negative
    values are refused by the parser, before any work.

    Examples
    --------
    >>> positive_seconds("2.5")
    2.5
    >>> positive_seconds("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected seconds with 0 < S <= 86400, got 'nan'
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(
            f"expected seconds with 0 < S <= {MAX_TIMEOUT:g}, got {text!r:.40}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``report`` with parsed arguments; return the exit status.

    Examples
    --------
    >>> import argparse, json, io, contextlib
    >>> args = argparse.Namespace(paths=[], output=None, format="json", pdf=False, network=None,
    ...                           order="dw-pw", multiplier=1, rtol=None, layer=["int*"],
    ...                           layout=None, timeout=120.0, no_external_data=False)
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     status = run(args)
    >>> status, json.loads(out.getvalue())["sources"][0]["scan"]["layers"][0]["name"]
    (0, 'integer')
    """
    written = write(
        args.paths, output=args.output, format=args.format, pdf=args.pdf,
        order=None if args.order == "both" else args.order, multiplier=args.multiplier,
        rtol=args.rtol, layer=args.layer, layout=args.layout, network=args.network,
        allow_external_data=not args.no_external_data, timeout=args.timeout,
        max_bytes=getattr(args, "max_bytes", MAX_TENSOR_BYTES),
        progress=progress_bar(sys.stderr),
        decouple=getattr(args, "decouple", None), input_shape=getattr(args, "input_shape", None),
    )
    if not written.files:
        sys.stdout.write(written.text)
    else:
        for path in written.files:
            print(f"wrote {path}", file=sys.stderr)
    if not written.report.ok:
        print("factorcheck report: a proof step is not verified (see the report)", file=sys.stderr)
        return 1
    return 0
