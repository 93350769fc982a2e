"""Make untrusted text (layer names, file names) safe and literal in LaTeX and Markdown.

Every string that comes from a user or a file goes through exactly one
function here before it reaches a report.  Each is a *single pass* over the
characters (one compiled regular expression with a lookup), so no
replacement can ever see the output of another one (the classic bug of
sequential ``str.replace`` calls, where ``\\`` becomes ``\\textbackslash{}``
and its braces are then escaped again).

The LaTeX map covers the ten special characters ``\\ { } $ & # ^ _ % ~`` and
a few more whose glyphs differ from ASCII in TeX's default fonts.  Names are
set in the typewriter font, whose slots hold the ASCII glyphs, so the PDF
shows them literally (``pdftotext`` gives them back).  Characters pdfLaTeX
cannot typeset with its default fonts (control characters, characters
outside Latin-1, non-printable ones) are shown as Python escapes
(``\\x1b``, ``\\u5c42``), like ``factorcheck check`` prints them.  The JSON
output always carries the names verbatim.
"""

from __future__ import annotations

import re

from factorcheck._text import _python_escape, printable

__all__ = [
    "NAME_LIMIT",
    "latex_escape",
    "latex_name",
    "markdown_escape",
    "printable",
    "shorten",
]

#: Longest name (in characters) shown in full in LaTeX and Markdown; longer ones are shortened.
NAME_LIMIT = 64

#: Latin-1 letters pdfLaTeX sets with its default (OT1) fonts via accents; others are escaped.
_LATIN1_LETTERS = frozenset(chr(c) for c in range(0xC0, 0x100)) - set("×÷ÐðÞþ")

#: Typewriter-font (cmtt) replacements; ``\char`` picks the ASCII glyph the font has in that slot.
_TT = {
    "\\": r"\char92{}", "{": r"\char123{}", "}": r"\char125{}", "$": r"\$", "&": r"\&",
    "#": r"\#", "^": r"\char94{}", "_": r"\char95{}", "%": r"\%", "~": r"\char126{}",
    "'": r"\textquotesingle{}", "`": r"\textasciigrave{}", " ": r"\ ",
}
#: Roman-font replacements (prose such as file names inside a sentence).
_TEXT = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
    "#": r"\#", "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "-": "-{}",
    "'": "'{}", "`": "`{}", "!": "!{}", "?": "?{}", '"': r"\textquotedbl{}",
}
#: One pattern for everything that is not plain printable ASCII text.
_SPECIAL = re.compile(r"[\\{}$&#^_%~'`<>|\-!?\" ]|[^\x21-\x7e]")
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#+\-.!|~$&\"']|[^\x20-\x7e]")


def _latex_char(char: str, table: dict[str, str]) -> str:
    found = table.get(char)
    if found is not None:
        return found
    if " " < char <= "~":
        return char
    if char in _LATIN1_LETTERS:
        return char
    return "".join(table.get(c, c) for c in _python_escape(char))


def latex_escape(text: str, *, typewriter: bool = False) -> str:
    r"""Escape untrusted text for LaTeX, in one pass; the result shows ``text`` literally.

    Parameters
    ----------
    text : str
        Any string (control characters and any Unicode included).
    typewriter : bool
        Escape for ``\texttt`` (names) instead of the roman text font.

    Returns
    -------
    str
        ASCII-plus-Latin-1 LaTeX that defines nothing, reads and writes no
        file, and cannot end a group or the document.

    Examples
    --------
    >>> print(latex_escape(r"\input{/etc/passwd} 100% ^^5c"))
    \textbackslash{}input\{/etc/passwd\} 100\% \textasciicircum{}\textasciicircum{}5c
    >>> print(latex_escape("a_b~", typewriter=True))
    a\char95{}b\char126{}
    >>> print(latex_escape("bell\x07"))
    bell\textbackslash{}x07
    """
    table = _TT if typewriter else _TEXT
    return _SPECIAL.sub(lambda m: _latex_char(m.group(), table), text)


def shorten(text: str, limit: int = NAME_LIMIT) -> str:
    """Cut ``text`` to at most ``limit`` characters, keeping its start and end around an ellipsis.

    Examples
    --------
    >>> shorten("a" * 100, 20)
    'aaaaaaaaaaaa…aaaaaaa'
    >>> shorten("short")
    'short'
    """
    if len(text) <= limit:
        return text
    tail = max(1, (limit - 1) * 2 // 5)
    return text[: limit - 1 - tail] + "…" + text[-tail:]


#: Break opportunities after these characters, and every _RUN characters within a long run.
_BREAK_AFTER = frozenset("./_-:")
_RUN = 12


def latex_name(name: str, *, limit: int = NAME_LIMIT) -> str:
    r"""A layer or file name as ``\texttt`` LaTeX: shortened, escaped, breakable in table cells.

    The name is shortened *before* escaping (an escape is never cut), and
    ``\allowbreak`` points are added after ``. / _ - :``, after each character
    shown as a Python escape (``\u05e8``, six glyphs wide) and inside long runs,
    so a long name wraps in a narrow column instead of running off the page.

    Examples
    --------
    >>> print(latex_name("conv_1"))
    \texttt{conv\char95{}\allowbreak{}1}
    >>> latex_name("x" * 10_000).count("…"), len(latex_name("x" * 10_000)) < 200
    (0, True)
    """
    short = shorten(name, limit)
    pieces, run = [], 0
    for char in short:
        if char == "…":
            pieces.append(r"\ldots{}")
            run = 0
            continue
        escaped = latex_escape(char, typewriter=True)
        pieces.append(escaped)
        run += 1
        if char in _BREAK_AFTER or run >= _RUN or escaped.startswith(r"\char92{}"):
            pieces.append(r"\allowbreak{}")
            run = 0
    return r"\texttt{" + "".join(pieces) + "}"


def markdown_escape(text: str, *, limit: int | None = NAME_LIMIT) -> str:
    r"""Escape untrusted text for Markdown (GitHub-flavoured), in one pass; shorten if asked.

    Punctuation that Markdown or a table could interpret is backslash-escaped;
    characters that would break a line or a table cell, and non-printable ones,
    become Python escapes; HTML-sensitive ``< > &`` become entities.

    Examples
    --------
    >>> print(markdown_escape("conv|*x*_1 <b>"))
    conv\|\*x\*\_1 &lt;b&gt;
    >>> print(markdown_escape("a\nb"))
    a\\nb
    """
    if limit is not None:
        text = shorten(text, limit)
    return _MARKDOWN_SPECIAL.sub(lambda m: _markdown_char(m.group()), text)


_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}


def _markdown_char(char: str) -> str:
    if char in _MD_ENTITIES:
        return _MD_ENTITIES[char]
    if " " < char <= "~":
        return "\\" + char
    if char.isprintable() and char != "\u2028" and char != "\u2029":
        return char
    return _python_escape(char).replace("\\", "\\\\")
