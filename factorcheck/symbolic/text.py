"""Sentences of mathematics built once and printed as LaTeX, Markdown or Unicode text.

A :class:`Text` is a sequence of plain words and formulas (:class:`Math`).  A
formula is made from a SymPy expression (:meth:`Math.of`, printed by
:func:`sympy.latex` and by :func:`unicode_math`) or, for notation SymPy has no
object for (``K = M \\cdot \\Lambda(b)``), written once as a LaTeX/Unicode pair.
The three printers of a sentence then share its words and formulas:

* :meth:`Text.to_latex`: words escaped for text mode, formulas in ``$...$``;
* :meth:`Text.to_markdown`: words escaped for Markdown, formulas in ``$...$``;
* :meth:`Text.to_unicode` (and ``str``): words as they are, formulas in Unicode
  (``μ_ij``, ``Λ(b)``, ``≤``, ``×``, ``D_k²``) for a terminal.

Symbols with indices are named by their LaTeX form (``Symbol(r"\\mu_{12}")``):
:func:`sympy.latex` prints such a name verbatim, and :func:`unicode_name` turns
it into ``μ₁₂``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.printing.conventions import split_super_sub
from sympy.printing.pretty.pretty_symbology import greek_unicode
from sympy.printing.str import StrPrinter

__all__ = [
    "Math",
    "Text",
    "as_text",
    "latex_math",
    "latex_text",
    "markdown_text",
    "text",
    "unicode_display",
    "unicode_math",
    "unicode_name",
]

_SUB = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUP = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_SUPERSCRIPTABLE = set("0123456789+-=()n")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_BRACED = re.compile(r"([_^])\{([^{}]*)\}")
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
                  "#": r"\#", "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\~{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_MARKDOWN_SPECIAL = set("\\`*_[]<>|$#")


def latex_text(words: str) -> str:
    r"""Escape plain prose for LaTeX text mode, in one pass.

    Besides the ten special characters, ``< > |`` become text symbols: in
    TeX's default (OT1) fonts they would print as other glyphs.

    Examples
    --------
    >>> print(latex_text("50% of {a_b} & more, 1 < 2"))
    50\% of \{a\_b\} \& more, 1 \textless{} 2
    """
    return "".join(_LATEX_SPECIAL.get(char, char) for char in words)


def markdown_text(words: str) -> str:
    r"""Escape plain prose for Markdown (emphasis, code, links, tables, math).

    Examples
    --------
    >>> print(markdown_text("a_b * c | $d"))
    a\_b \* c \| \$d
    """
    return "".join("\\" + char if char in _MARKDOWN_SPECIAL else char for char in words)


def _script(kind: str, body: str) -> str:
    if kind == "_":
        return body.translate(_SUB) if body.isdigit() else "_" + body
    return body.translate(_SUP) if set(body) <= _SUPERSCRIPTABLE else "^" + body


def unicode_name(name: str) -> str:
    r"""The Unicode form of a symbol name, plain (``D_k``) or LaTeX (``\mu_{12}``).

    Examples
    --------
    >>> unicode_name(r"\mu_{12}"), unicode_name(r"\mu^{(2)}_{1}"), unicode_name("D_k")
    ('μ₁₂', 'μ⁽²⁾₁', 'D_k')
    >>> unicode_name(r"\mu_{ij}"), unicode_name("b_{1}[1,2]"), unicode_name("alpha")
    ('μ_ij', 'b₁[1,2]', 'α')
    """
    if "{" not in name and "\\" not in name:
        base, supers, subs = split_super_sub(name)
        base = greek_unicode.get(base, base)
        return base + "".join(_script("^", s) for s in supers) + "".join("_" + s for s in subs)
    name = _COMMAND.sub(lambda m: greek_unicode.get(m.group(1), m.group(1)), name)
    return _BRACED.sub(lambda m: _script(m.group(1), m.group(2)), name)


def _is_unevaluated(expr: Any) -> bool:
    """True if some node of ``expr`` would change if SymPy evaluated it (kept as written)."""
    if isinstance(expr, sympy.MatrixBase):
        return any(_is_unevaluated(entry) for entry in expr)
    if not isinstance(expr, sympy.Basic) or isinstance(expr, sympy.MatrixExpr):
        return False
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.UnevaluatedExpr):
            return True
        if isinstance(node, (sympy.Add, sympy.Mul, sympy.Pow)) and node.func(*node.args) != node:
            return True
    return False


def _order(expr: Any) -> str | None:
    """Print an expression kept as written in its own order; an evaluated one in SymPy's."""
    return "none" if _is_unevaluated(expr) else None


def latex_math(expr: Any) -> str:
    r"""LaTeX of a SymPy expression; one kept as written (``evaluate=False``) keeps its order.

    Examples
    --------
    >>> import sympy
    >>> latex_math(sympy.Add(2, sympy.Pow(2, 2, evaluate=False), -1, evaluate=False))
    '2 + 2^{2} - 1'
    """
    return sympy.latex(expr, order=_order(expr))


class _UnicodePrinter(StrPrinter):
    """SymPy's string printer with Unicode names, exponents and operators, on one line."""

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return unicode_name(expr.name)

    _print_MatrixSymbol = _print_Symbol

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        shown = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Pow"], strict=True)
        if exp.is_Integer and exp > 1:
            return shown + str(exp).translate(_SUP)
        if exp.is_Integer and exp < 0:
            positive = shown + (str(-exp).translate(_SUP) if exp < -1 else "")
            return "1/" + positive
        if exp == sympy.S.Half:
            return "√" + shown
        return f"{shown}^({self._print(exp)})"

    def _print_Derivative(self, expr: sympy.Derivative) -> str:
        variables = "".join(f"∂{self._print(v)}" for v, _ in expr.variable_count)
        return f"∂/{variables} ({self._print(expr.expr)})"

    def _print_Limit(self, expr: sympy.Limit) -> str:
        e, z, z0, _ = expr.args
        return f"lim[{self._print(z)}→{self._print(z0)}] ({self._print(e)})"

    def _print_Subs(self, expr: sympy.Subs) -> str:
        e, old, new = expr.args
        at = ", ".join(f"{self._print(o)}={self._print(n)}" for o, n in zip(old, new, strict=True))
        return f"({self._print(e)})|[{at}]"

    def _print_floor(self, expr: sympy.floor) -> str:
        return f"⌊{self._print(expr.args[0])}⌋"

    def _print_Min(self, expr: Any) -> str:
        return "min(" + ", ".join(self._print(arg) for arg in expr.args) + ")"

    def _print_Max(self, expr: Any) -> str:
        return "max(" + ", ".join(self._print(arg) for arg in expr.args) + ")"

    def _print_Infinity(self, expr: Any) -> str:
        return "∞"

    def _print_Relational(self, expr: sympy.core.relational.Relational) -> str:
        ops = {">=": "≥", "<=": "≤", "!=": "≠", "==": "="}
        op = ops.get(expr.rel_op, expr.rel_op)
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_MatrixBase(self, expr: sympy.MatrixBase) -> str:
        return "[" + "; ".join(", ".join(self._print(x) for x in row)
                               for row in expr.tolist()) + "]"

    _print_ImmutableDenseMatrix = _print_MutableDenseMatrix = _print_MatrixBase


def unicode_math(expr: Any) -> str:
    """One-line Unicode form of a SymPy expression: ``1/N + 1/D_k²``, ``μ₁₂·b₂``, ``a ≥ b``.

    Examples
    --------
    >>> import sympy
    >>> N, D_k = sympy.symbols("N D_k", positive=True)
    >>> unicode_math(1 / N + 1 / D_k**2)
    '1/N + 1/D_k²'
    >>> unicode_math(sympy.Mul(6, 6, 9, evaluate=False)), unicode_math(sympy.Ge(N, 2))
    ('6·6·9', 'N ≥ 2')
    """
    printer = _UnicodePrinter({"order": _order(expr)})
    return printer.doprint(expr).replace("*", "·")


def _pretty_name(name: str) -> str:
    """A name ``sympy.pretty`` prints as it is (no ``_`` or ``^`` left for it to reinterpret)."""
    return unicode_name(name).replace("_", "").replace("^", "")


def unicode_display(expr: Any) -> str:
    """Unicode for a displayed formula: 2-D (``sympy.pretty``) for matrices, else one line."""
    if isinstance(expr, (sympy.MatrixBase, sympy.MatrixExpr)):
        names: dict = {s: sympy.Symbol(_pretty_name(s.name)) for s in expr.atoms(sympy.Symbol)}
        names.update({s: sympy.MatrixSymbol(_pretty_name(s.name), *s.shape)
                      for s in expr.atoms(sympy.MatrixSymbol)})
        shown = expr.xreplace(names) if names else expr
        return sympy.pretty(shown, use_unicode=True, wrap_line=False, order=_order(expr))
    return unicode_math(expr)


@dataclass(frozen=True)
class Math:
    r"""One formula, in LaTeX (for ``$...$``) and in Unicode (for a terminal).

    Examples
    --------
    >>> import sympy
    >>> Math.of(sympy.Symbol(r"\mu_{ij}") * sympy.Symbol("b_j"))
    Math(latex='\\mu_{ij} b_{j}', unicode='μ_ij·b_j')
    """

    latex: str
    unicode: str

    @classmethod
    def of(cls, expr: Any) -> Math:
        """The formula of a SymPy expression (or a number)."""
        expr = sympy.sympify(expr) if not isinstance(expr, sympy.Basic) else expr
        return cls(latex_math(expr), unicode_math(expr))


Part = str | Math


@dataclass(frozen=True)
class Text:
    r"""A sentence of words and formulas; build one with :func:`text`.

    Examples
    --------
    >>> import sympy
    >>> N, D_k = sympy.symbols("N D_k", positive=True)
    >>> s = text("costs ", 1 / N + 1 / D_k**2, " of the standard convolution")
    >>> print(s)
    costs 1/N + 1/D_k² of the standard convolution
    >>> print(s.to_latex())
    costs $\frac{1}{N} + \frac{1}{D_{k}^{2}}$ of the standard convolution
    >>> print(s.to_markdown())
    costs $\frac{1}{N} + \frac{1}{D_{k}^{2}}$ of the standard convolution
    """

    parts: tuple[Part, ...]

    def to_latex(self) -> str:
        """Words escaped for LaTeX text mode, formulas as ``$...$``."""
        return "".join(f"${p.latex}$" if isinstance(p, Math) else latex_text(p)
                       for p in self.parts)

    def to_markdown(self) -> str:
        """Words escaped for Markdown, formulas as ``$...$``."""
        return "".join(f"${p.latex}$" if isinstance(p, Math) else markdown_text(p)
                       for p in self.parts)

    def to_math_latex(self) -> str:
        r"""The sentence inside a formula: words in ``\text{...}``, formulas as they are."""
        return " ".join(p.latex if isinstance(p, Math) else f"\\text{{{latex_text(p)}}}"
                        for p in self.parts)

    def to_unicode(self) -> str:
        """Words as they are, formulas in Unicode."""
        return "".join(p.unicode if isinstance(p, Math) else p for p in self.parts)

    def __str__(self) -> str:
        return self.to_unicode()

    def __repr__(self) -> str:
        return f"Text({self.to_unicode()!r})"

    def _repr_latex_(self) -> str:
        return self.to_latex()

    @property
    def formulas(self) -> tuple[Math, ...]:
        """The formulas of the sentence, in order."""
        return tuple(p for p in self.parts if isinstance(p, Math))

    def __contains__(self, words: str) -> bool:
        return words in self.to_unicode()

    def __add__(self, other: Text | str) -> Text:
        return text(self, other)

    def __radd__(self, other: str) -> Text:
        return text(other, self)


def text(*parts: Any) -> Text:
    r"""Build a :class:`Text` from words (``str``), formulas (:class:`Math`), SymPy expressions
    and other texts, in order.

    Examples
    --------
    >>> import sympy
    >>> n = sympy.Symbol("n")
    >>> text("for ", sympy.Ge(n, 2), " outputs").to_latex()
    'for $n \\geq 2$ outputs'
    """
    flat: list[Part] = []
    for part in parts:
        if isinstance(part, Text):
            flat.extend(part.parts)
        elif isinstance(part, (str, Math)):
            flat.append(part)
        else:
            flat.append(Math.of(part))
    merged: list[Part] = []
    for part in flat:
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return Text(tuple(merged))


def as_text(value: Text | str) -> Text:
    """A :class:`Text` as it is; a plain string as words only.

    Examples
    --------
    >>> as_text("plain words").parts
    ('plain words',)
    """
    return value if isinstance(value, Text) else text(value)
