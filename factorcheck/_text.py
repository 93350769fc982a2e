r"""Text from users and files made safe to print: the lowest layer, importing nothing.

Layer names, file names and error messages read from a file may hold control
characters (a terminal escape such as ``\x1b[31m`` would recolour the screen).
Every module that prints such text, from :mod:`factorcheck.io` and
:mod:`factorcheck.network` up to :mod:`factorcheck.report` and
:mod:`factorcheck.cli`, escapes it with :func:`printable`.
"""

from __future__ import annotations

__all__ = ["printable"]


def _python_escape(char: str) -> str:
    r"""``\x1b``, ``\u5c42``: how Python's ``unicode_escape`` writes a character."""
    return char.encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    r"""Replace every non-printable character by its Python escape, in one pass.

    Examples
    --------
    >>> printable("conv\x1b[31m\tred")
    'conv\\x1b[31m\\tred'
    >>> printable("层 ok")
    '层 ok'
    """
    return "".join(c if c.isprintable() else _python_escape(c) for c in text)
