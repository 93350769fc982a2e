"""The ``factorcheck`` command line: a thin argparse front end.

Each subcommand lives in its own module of this package and provides
``register(subparsers)``, which adds its parser and sets ``func`` to a
``run(args) -> int`` function.  All real work is done by library functions;
this module only dispatches and turns :class:`~factorcheck.FactorcheckError`
into a one-line message and exit status 2.

Exit statuses: 0 the command ran, 1 a requested check failed (for example
``check --require-separable``), 2 bad input (a clear message on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from collections.abc import Sequence

from factorcheck._version import __version__
from factorcheck.errors import FactorcheckError

__all__ = ["main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("check", "prove", "cost", "network", "report", "decouple")

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one subparser per command module."""
    parser = argparse.ArgumentParser(
        prog="factorcheck",
        description="Verify the mathematics of depthwise separable convolution.",
    )
    parser.add_argument("--version", action="version", version=f"factorcheck {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"factorcheck.cli.{name}").register(subparsers)
    for choice in subparsers._choices_actions:  # the one-line help of each command
        choice.help = plain(choice.help)
    for sub in subparsers.choices.values():
        sub.description = _description(sub.description)
        sub.epilog = plain(sub.epilog)
        for action in sub._actions:
            action.help = plain(action.help)
    return parser


#: ``:role:`~a.b.name``` (Sphinx cross-references) and ````literal```` (RST inline literals).
_ROLE = re.compile(r":[a-z]+:`~?(?:[\w.]+\.)?([^`]+)`")
_LITERAL = re.compile(r"``([^`]*)``")


def plain(text: str | None) -> str | None:
    """Help text without reStructuredText markup (the docstrings' ````x```` and ``:func:``).

    Examples
    --------
    >>> plain("see :func:`~factorcheck.scan.scan` and ``--json``")
    'see scan and --json'
    """
    if not text:
        return text
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


def _description(text: str | None) -> str | None:
    """A command's description from its module docstring's first paragraph, in plain text.

    The docstrings open with the command line (````factorcheck check [PATH ...]````:
    what it does); usage already shows it, so the description starts at the
    words after the colon.

    Examples
    --------
    >>> _description("``factorcheck check [PATH ...]``: which layers are separable.")
    'Which layers are separable.'
    """
    if not text:
        return text
    text = re.sub(r"^``factorcheck [^`]*``:\s*", "", text)
    text = plain(text)
    return text[:1].upper() + text[1:]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Examples
    --------
    >>> from factorcheck.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    factorcheck 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(args.command)
            return int(args.func(args))
    except FactorcheckError as err:
        print(f"factorcheck {args.command}: error: {_printable_lines(str(err))}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. `factorcheck check | head`
        sys.stderr.close()
        return EXIT_OK
    except MemoryError:  # the operating system refused memory: say so, never a traceback
        print(f"factorcheck {args.command}: error: out of memory; lower --max-bytes or analyse "
              "fewer layers (--layer)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:  # the operating system refused (permissions, disk full...): bad input
        where = f" {err.filename!r}" if err.filename else ""
        print(f"factorcheck {args.command}: error:{_printable_lines(where)} "
              f"{_printable_lines(str(err.strerror or err))}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _show_warning(command: str):
    """Show a library warning as one ``factorcheck CMD: warning: ...`` line on stderr."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"factorcheck {command}: warning: {_printable_lines(str(message))}",
              file=sys.stderr)

    return show


def _printable_lines(text: str) -> str:
    """``text`` with control characters escaped line by line (no ESC/OSC from a file or parser).

    Messages embed file names, layer names and the messages of third-party
    parsers (safetensors, onnx, torch), all of which a file controls.
    """
    from factorcheck.report.escape import printable

    return "\n".join(printable(line) for line in text.split("\n"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
