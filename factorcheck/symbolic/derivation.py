"""Derivations: chains of expressions whose every step SymPy checks when the chain is built.

A :class:`Derivation` starts from an expression and moves through steps, each
an expression, a relation to the previous one (``=``, ``>=`` or ``>``) and a
short justification.  :func:`derive` verifies each step at once, cheapest test
first:

1. structural identity, then ``expand`` and ``cancel`` of the difference
   (exact polynomial / rational-function arithmetic, fast);
2. a search for a counter-example: the free symbols are replaced by a few
   random positive integers (fixed seed); a nonzero (or, for ``>=``, negative)
   value proves the step *false*;
3. ``simplify`` of the difference, last, because it is slow.

A step passing none of these is ``UNVERIFIED``: shown with a ``?`` mark and
never counted as proved.  A false step raises
:class:`~factorcheck.errors.DerivationError` (``strict=True``, the default) or
is recorded with status ``FALSE`` (``strict=False``).

Titles and justifications are :class:`~factorcheck.symbolic.text.Text`
sentences (words and formulas).  Derivations render as Unicode text (one mark
per step), as a LaTeX ``align*`` environment whose formulas all come from
:func:`sympy.latex`, and as Markdown.  A step must show work: a step that
prints exactly like the expression before it is refused.
"""

from __future__ import annotations

import enum
import functools
import operator
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.matrices import MatrixBase

from factorcheck.errors import DerivationError
from factorcheck.symbolic.text import (
    Text,
    as_text,
    latex_math,
    latex_text,
    unicode_display,
)

__all__ = [
    "Derivation",
    "Proof",
    "Status",
    "Step",
    "check_relation",
    "derive",
    "latex_text",
]

_RELATIONS = {"=": "=", ">=": r"\geq", ">": ">"}
_UNICODE_RELATIONS = {"=": "=", ">=": "≥", ">": ">"}
_MARKS = {"verified": "✓ verified", "unverified": "? unverified", "false": "✗ FALSE"}
_TRIALS = 4


class Status(str, enum.Enum):
    """Outcome of checking one step."""

    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    FALSE = "false"


@dataclass(frozen=True)
class Step:
    """One checked step of a derivation.

    Attributes
    ----------
    expr : sympy.Expr or sympy.ImmutableMatrix
        The new expression.
    justification : Text
        Why it follows, in a few words and formulas.
    relation : str
        ``"="``, ``">="`` or ``">"``: how ``expr`` relates to the previous expression
        (previous ``relation`` ``expr``).
    status : Status
        What the check found.
    method : str
        How: ``"expand"``, ``"cancel"``, ``"simplify"``, ``"assumptions"``, or the
        counter-example that refutes the step.
    """

    expr: Any
    justification: Text
    relation: str
    status: Status
    method: str


# ---------------------------------------------------------------- checking


def _sample(expr: Any, rng: random.Random) -> dict:
    """Random positive integers (2..13) for the free symbols of ``expr``."""
    symbols = sorted(expr.free_symbols, key=str)
    return {sym: sympy.Integer(rng.randint(2, 13)) for sym in symbols}


def _counterexample(diff: sympy.Expr, bad: Any) -> str | None:
    """Return a description of a sample where ``bad(value)`` holds, else None."""
    rng = random.Random(20190409)
    for _ in range(_TRIALS):
        values = _sample(diff, rng)
        value = diff.xreplace(values)
        if not value.is_number or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            continue
        value = sympy.nsimplify(value) if value.is_Float else value
        if bad(value):
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            return f"counter-example {shown or 'at constants'}: difference {value}"
    return None


def _check_equal(diff: sympy.Expr) -> tuple[Status, str]:
    if diff == 0:
        return Status.VERIFIED, "canonical form"
    for name, transform in (("expand", sympy.expand), ("cancel", sympy.cancel)):
        if transform(diff) == 0:
            return Status.VERIFIED, name
    refuted = _counterexample(diff, lambda v: v != 0)
    if refuted:
        return Status.FALSE, refuted
    simplified = sympy.simplify(diff)
    if simplified == 0:
        return Status.VERIFIED, "simplify"
    if simplified.is_number and simplified.is_zero is False:
        return Status.FALSE, f"simplify gives the nonzero constant {simplified}"
    return Status.UNVERIFIED, "SymPy could not decide"


def _check_order(diff: sympy.Expr, strict: bool) -> tuple[Status, str]:
    def holds(expr: sympy.Expr) -> bool | None:
        return expr.is_positive if strict else expr.is_nonnegative

    if holds(diff) or holds(sympy.cancel(diff)):
        return Status.VERIFIED, "assumptions"
    refuted = _counterexample(diff, lambda v: not (v > 0 if strict else v >= 0))
    if refuted:
        return Status.FALSE, refuted
    if holds(sympy.simplify(diff)):
        return Status.VERIFIED, "simplify"
    return Status.UNVERIFIED, "SymPy could not decide the sign"


def _worst(results: Iterable[tuple[Status, str]]) -> tuple[Status, str]:
    order = {Status.VERIFIED: 0, Status.UNVERIFIED: 1, Status.FALSE: 2}
    results = list(results)
    status, method = max(results, key=lambda r: order[r[0]])
    if status is Status.VERIFIED:
        return status, "/".join(sorted({m for _, m in results}))
    return status, method


def _explicit(expr: Any) -> Any:
    """A matrix expression (products, sums, blocks of fixed size) as an explicit matrix.

    Products and sums are multiplied and added as explicit matrices: SymPy's
    own ``as_explicit`` of a product builds one ``Sum`` per entry, which made
    the block factorization's check take a second.
    """
    if isinstance(expr, (sympy.MatMul, sympy.MatAdd)):
        parts = [_explicit(a) for a in expr.args]
        combine = operator.mul if isinstance(expr, sympy.MatMul) else operator.add
        return sympy.ImmutableMatrix(functools.reduce(combine, parts))
    if isinstance(expr, sympy.MatrixExpr):
        return sympy.ImmutableMatrix(expr.doit().as_explicit())
    return expr


def check_relation(previous: Any, expr: Any, relation: str = "=") -> tuple[Status, str]:
    """Check ``previous relation expr`` and say how.

    Both sides are evaluated first (``doit``), so a side kept as written
    (``evaluate=False``, ``UnevaluatedExpr``, a product of matrices) is checked
    by its value.

    Parameters
    ----------
    previous, expr : sympy.Expr or matrix
        The two sides; matrices and matrix expressions (equality only) are
        compared entry by entry.
    relation : {"=", ">=", ">"}
        The claimed relation.

    Returns
    -------
    (Status, str)
        The status and the method (or the counter-example) behind it.

    Examples
    --------
    >>> import sympy
    >>> N, D_k = sympy.symbols("N D_k", positive=True)
    >>> check_relation((D_k**2 + N) / (D_k**2 * N), 1 / N + 1 / D_k**2)
    (<Status.VERIFIED: 'verified'>, 'expand')
    >>> check_relation((D_k**2 + N) / (D_k**2 * N), 1 / N + 1 / D_k)[0]
    <Status.FALSE: 'false'>
    """
    if relation not in _RELATIONS:
        raise DerivationError(f"relation: expected one of {sorted(_RELATIONS)}, got {relation!r}")
    previous, expr = _explicit(previous), _explicit(expr)
    if isinstance(previous, MatrixBase) or isinstance(expr, MatrixBase):
        return _check_matrix(previous, expr, relation)
    diff = sympy.sympify(previous - expr).doit()
    if relation == "=":
        return _check_equal(diff)
    return _check_order(diff, strict=relation == ">")


def _check_matrix(previous: Any, expr: Any, relation: str) -> tuple[Status, str]:
    if relation != "=" or not (isinstance(previous, MatrixBase) and isinstance(expr, MatrixBase)):
        raise DerivationError(f"matrices: expected '=' between two matrices, got {relation!r}")
    if previous.shape != expr.shape:
        return Status.FALSE, f"shapes differ: {previous.shape} vs {expr.shape}"
    return _worst(_check_equal(sympy.sympify(a - b).doit())
                  for a, b in zip(previous, expr, strict=True))


# ---------------------------------------------------------------- derivations


def _indent(block: str, first: str, rest: str) -> list[str]:
    lines = block.splitlines() or [""]
    return [first + lines[0], *(rest + line for line in lines[1:])]


@dataclass(frozen=True)
class Derivation:
    """A chain ``start R1 e1 R2 e2 ...`` with every relation checked by SymPy.

    Build one with :func:`derive`.

    Attributes
    ----------
    title : Text
        What the chain establishes, in words and formulas.
    start : sympy.Expr or matrix expression
        The first expression, often kept as written (unevaluated).
    steps : tuple of Step
        The checked steps.
    """

    title: Text
    start: Any
    steps: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        """True iff every step is verified."""
        return all(step.status is Status.VERIFIED for step in self.steps)

    @property
    def conclusion(self) -> Any:
        """The last expression of the chain."""
        return self.steps[-1].expr if self.steps else self.start

    def __repr__(self) -> str:
        marks = "".join(_MARKS[step.status.value][0] for step in self.steps)
        return f"<Derivation {str(self.title)!r}: {len(self.steps)} steps {marks}>"

    def to_text(self) -> str:
        """Unicode text with one mark per step (matrices drawn in 2-D).

        Examples
        --------
        >>> import sympy
        >>> x = sympy.Symbol("x")
        >>> print(derive("square", (x + 1)**2, [(x**2 + 2*x + 1, "expand")]).to_text())
        square
              (x + 1)²
            = x² + 2·x + 1    [✓ verified: expand] expand
        """
        lines = [str(self.title), *_indent(unicode_display(self.start), "      ", "      ")]
        for step in self.steps:
            mark = _MARKS[step.status.value]
            shown = _indent(unicode_display(step.expr), f"    {_UNICODE_RELATIONS[step.relation]} ",
                            "      ")
            shown[-1] += f"    [{mark}: {step.method}] {step.justification}"
            lines += shown
        return "\n".join(lines)

    def to_latex(self) -> str:
        r"""LaTeX ``align*`` environment; formulas via :func:`sympy.latex` only.

        Examples
        --------
        >>> import sympy
        >>> x = sympy.Symbol("x")
        >>> print(derive("square", (x + 1)**2, [(x**2 + 2*x + 1, "expand")]).to_latex())
        \begin{align*}
        & \left(x + 1\right)^{2} \\
        ={}& x^{2} + 2 x + 1 && \text{expand (verified)}
        \end{align*}
        """
        lines = [r"\begin{align*}", f"& {latex_math(self.start)} \\\\"]
        for index, step in enumerate(self.steps):
            end = "" if index == len(self.steps) - 1 else r" \\"
            note = f"{step.justification.to_latex()} ({step.status.value})"
            lines.append(
                f"{_RELATIONS[step.relation]}{{}}& {latex_math(step.expr)} "
                f"&& \\text{{{note}}}{end}"
            )
        lines.append(r"\end{align*}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        r"""Markdown: the title in bold, the start as a ``$$`` block, one numbered line per step.

        Examples
        --------
        >>> import sympy
        >>> x = sympy.Symbol("x")
        >>> print(derive("square", (x + 1)**2, [(x**2 + 2*x + 1, "expand")]).to_markdown())
        **square**
        <BLANKLINE>
        $$
        \left(x + 1\right)^{2}
        $$
        <BLANKLINE>
        1. $= x^{2} + 2 x + 1$ expand (✓ verified)
        """
        lines = [f"**{self.title.to_markdown()}**", "", "$$", latex_math(self.start), "$$", ""]
        for i, step in enumerate(self.steps, start=1):
            lines.append(f"{i}. ${_RELATIONS[step.relation]} {latex_math(step.expr)}$ "
                         f"{step.justification.to_markdown()} ({_MARKS[step.status.value]})")
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        rows = [f"& {latex_math(self.start)}"]
        rows += [f"{_RELATIONS[s.relation]}{{}}& {latex_math(s.expr)} && "
                 f"{s.justification.to_math_latex()}" for s in self.steps]
        return (f"$$\\begin{{aligned}}&{self.title.to_math_latex()}\\\\\n"
                + " \\\\\n".join(rows) + "\n\\end{aligned}$$")


def _as_step(item: Sequence, index: int) -> tuple[Any, Text, str]:
    if len(item) == 2:
        expr, justification = item
        return expr, as_text(justification), "="
    if len(item) == 3:
        expr, justification, relation = item
        return expr, as_text(justification), relation
    raise DerivationError(
        f"step {index}: expected (expr, justification) or (expr, justification, relation),"
        f" got {len(item)} items"
    )


def _freeze(expr: Any) -> Any:
    if isinstance(expr, MatrixBase):
        return sympy.ImmutableMatrix(expr)
    if isinstance(expr, sympy.MatrixExpr):
        return expr
    return sympy.sympify(expr)


def _check_shows_work(title: Text, index: int, previous: Any, expr: Any) -> None:
    shown = latex_math(expr)
    if shown == latex_math(previous):
        raise DerivationError(f"{title}, step {index}: expected a change, got the same expression "
                              f"on both sides ({shown}); state it as the start instead")


def derive(
    title: Text | str,
    start: Any,
    steps: Iterable[Sequence],
    *,
    strict: bool = True,
) -> Derivation:
    """Build a derivation, checking every step with SymPy.

    Parameters
    ----------
    title : Text or str
        What the chain establishes.
    start : sympy.Expr or matrix
        The first expression; keep it as written (``evaluate=False``) to show the work.
    steps : iterable of tuples
        ``(expr, justification)`` or ``(expr, justification, relation)`` with
        relation ``"="`` (default), ``">="`` or ``">"``; a justification is a
        :class:`~factorcheck.symbolic.text.Text` or plain words.
    strict : bool
        Raise on a false step (default); otherwise record it with status ``FALSE``.

    Returns
    -------
    Derivation

    Raises
    ------
    DerivationError
        A step is false (``strict=True``), malformed, or prints exactly as the
        expression before it (it would show no work).

    Examples
    --------
    >>> import sympy
    >>> N, D_k = sympy.symbols("N D_k", positive=True)
    >>> ratio = (D_k**2 + N) / (D_k**2 * N)
    >>> derive("ratio", ratio, [(1/N + 1/D_k**2, "split the fraction")]).ok
    True
    >>> derive("wrong", ratio, [(1/N + 1/D_k, "forget a square")])
    Traceback (most recent call last):
    ...
    factorcheck.errors.DerivationError: wrong, step 1 (forget a square) is false: ...
    >>> derive("wrong", ratio, [(1/N + 1/D_k, "forget a square")], strict=False).ok
    False
    """
    title = as_text(title)
    previous = _freeze(start)
    checked = []
    for index, item in enumerate(steps, start=1):
        expr, justification, relation = _as_step(item, index)
        expr = _freeze(expr)
        _check_shows_work(title, index, previous, expr)
        status, method = check_relation(previous, expr, relation)
        if status is Status.FALSE and strict:
            raise DerivationError(f"{title}, step {index} ({justification}) is false: {method}")
        checked.append(Step(expr, justification, relation, status, method))
        previous = expr
    return Derivation(title, _freeze(start), tuple(checked))


# ---------------------------------------------------------------- proofs


@dataclass(frozen=True)
class Proof:
    """The result of one proof: its derivations, prose and any findings.

    Attributes
    ----------
    name : str
        Registry key (``"cost_ratio"``...).
    title : Text
        One line (plain ``str`` is accepted and read as words).
    summary : Text
        A few sentences saying what is established.
    derivations : tuple of Derivation
        The checked chains.
    findings : tuple of Text
        Things the checker found wrong *in the source being verified* (they do
        not make the proof fail: finding them is the proof's job).

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> double = derive("double", sympy.Add(x, x, evaluate=False), [(2*x, "add")])
    >>> proof = Proof("demo", "Demo", "x plus x is 2x.", (double,))
    >>> proof.ok
    True
    >>> print(proof.to_text().splitlines()[0])
    [demo] Demo: OK
    >>> proof
    <Proof demo 'Demo': OK, 1 derivation, 0 findings>
    """

    name: str
    title: Text
    summary: Text
    derivations: tuple[Derivation, ...]
    findings: tuple[Text, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", as_text(self.title))
        object.__setattr__(self, "summary", as_text(self.summary))
        object.__setattr__(self, "findings", tuple(as_text(f) for f in self.findings))

    @property
    def ok(self) -> bool:
        """True iff every step of every derivation is verified."""
        return all(derivation.ok for derivation in self.derivations)

    def __repr__(self) -> str:
        count = len(self.derivations)
        return (f"<Proof {self.name} {str(self.title)!r}: {'OK' if self.ok else 'FAILED'}, "
                f"{count} derivation{'s' * (count != 1)}, {len(self.findings)} findings>")

    def to_text(self) -> str:
        """Unicode text: header, summary, derivations, findings."""
        lines = [f"[{self.name}] {self.title}: {'OK' if self.ok else 'FAILED'}", str(self.summary),
                 ""]
        for derivation in self.derivations:
            lines += [derivation.to_text(), ""]
        lines += [f"FINDING: {finding}" for finding in self.findings]
        return "\n".join(lines).rstrip() + "\n"

    def to_latex(self) -> str:
        r"""A LaTeX fragment: a ``\subsection*``, the summary, one ``align*`` per derivation.

        Words are escaped with :func:`~factorcheck.symbolic.text.latex_text`;
        all formulas come from :func:`sympy.latex`.  Needs ``amsmath``.
        """
        parts = [f"\\subsection*{{{self.title.to_latex()}}}", self.summary.to_latex(), ""]
        for derivation in self.derivations:
            parts += [f"\\paragraph{{{derivation.title.to_latex()}}}", derivation.to_latex(), ""]
        if self.findings:
            items = "\n".join(f"  \\item {f.to_latex()}" for f in self.findings)
            parts += ["\\paragraph{Findings}", "\\begin{itemize}", items, "\\end{itemize}"]
        return "\n".join(parts).rstrip() + "\n"

    def to_markdown(self, heading: str = "###") -> str:
        """Markdown: a heading, the summary, the derivations and findings, the status."""
        status = "all steps verified ✓" if self.ok else "NOT all steps verified ✗"
        parts = [f"{heading} {self.title.to_markdown()}", "", self.summary.to_markdown(), ""]
        parts += [d.to_markdown() + "\n" for d in self.derivations]
        if self.findings:
            parts += ["**Findings**", "", *(f"- {f.to_markdown()}" for f in self.findings), ""]
        parts += [f"*{status}*", ""]
        return "\n".join(parts)

    def _repr_latex_(self) -> str:
        status = "all steps verified" if self.ok else "NOT all steps verified"
        blocks = [d._repr_latex_() for d in self.derivations]
        head = f"$$\\textbf{{{self.title.to_latex()}}}\\quad\\text{{({status})}}$$"
        findings = [f"$${f.to_math_latex()}$$" for f in self.findings]
        return "\n".join([head, *blocks, *findings])
