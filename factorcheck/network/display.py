"""Network tables shown as aligned text, a short ``repr``, HTML and LaTeX, from one description.

:func:`table_cells` (a :class:`~factorcheck.network.table.NetworkTable`) and
:func:`comparison_cells` (a :class:`~factorcheck.network.compare.NetworkComparison`)
describe a table once: a title, the column names, one list of cells per row,
the total, and the layers not counted.  The text of ``factorcheck network``
(:func:`format_table`, :func:`format_comparison`), the ``repr``
(:func:`cells_repr`) and the notebook renderings (:func:`cells_html`,
:func:`cells_latex`) all print that description, so they cannot disagree.
Names read from a file are escaped for each medium (control characters are
never printed raw).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy

from factorcheck._text import printable
from factorcheck.symbolic.text import unicode_math

if TYPE_CHECKING:
    from factorcheck.network.compare import NetworkComparison
    from factorcheck.network.table import NetworkTable

__all__ = ["TableCells", "cells_html", "cells_latex", "cells_repr", "comparison_cells",
           "format_comparison", "format_table", "printable", "table_cells"]

COLUMNS = ("#", "layer", "type", "input", "output", "kernel", "stride", "MACs", "params")
COMPARISON_COLUMNS = ("separable", "standard", "MACs sep.", "MACs std.", "MAC ratio",
                      "params sep.", "params std.", "param ratio")
#: Rows shown at each end of a ``repr`` (the middle is elided).
REPR_ROWS = 3


def _value(value: Any) -> str:
    if isinstance(value, (int, sympy.Integer)):
        return f"{int(value):,}"
    return unicode_math(value)


def _dims(values: Any) -> str:
    """``3x224x224`` for numbers, ``(32·α, ρ/2, ρ/2)`` for expressions."""
    if values is None:
        return "-"
    if all(isinstance(v, (int, sympy.Integer)) for v in values):
        return "x".join(str(v) for v in values)
    return "(" + ", ".join(unicode_math(v) for v in values) + ")"


def _percent(share: sympy.Expr) -> str:
    return f"{100 * float(share):.2f}%" if share.is_number else unicode_math(share)


def _ratio(ratio: sympy.Expr) -> str:
    if not ratio.is_number:
        return unicode_math(ratio)
    return f"{float(ratio):.4f}" + (f" ({1 / float(ratio):.2f}x)" if ratio else "")


@dataclass(frozen=True)
class TableCells:
    """What a table shows, as strings (names not yet escaped for a medium).

    Attributes
    ----------
    kind : str
        ``NetworkTable`` or ``NetworkComparison``.
    title : str
        Name, input, alpha, biases (and the symbolic assumption, if any).
    columns : tuple of str
        Column names.
    left : frozenset of int
        Columns aligned left in text.
    rows : tuple of tuple of str
        One per layer (or block), in column order.
    total : tuple of str
        The total row, labelled ``total``, or ``at least`` when layers were not counted.
    shares : tuple of tuple of str
        ``(type, layers, MACs, share, params, share)``.
    not_counted : tuple of tuple of str
        ``(name, op, reason)`` of each layer not counted.
    """

    kind: str
    title: str
    columns: tuple[str, ...]
    left: frozenset[int]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...]
    shares: tuple[tuple[str, ...], ...]
    not_counted: tuple[tuple[str, str, str], ...]


def _title(table: NetworkTable) -> str:
    alpha = "" if table.alpha is None else unicode_math(sympy.sympify(table.alpha))
    alpha = "width α" if alpha in ("", "α") else f"width α = {alpha}"
    bias = "biases counted" if table.bias else "biases not counted"
    title = f"{table.name}: input {_dims(table.input_shape)}, {alpha}, {bias}"
    return title + (f"\nassuming {table.assumption}" if table.assumption else "")


def table_cells(table: NetworkTable) -> TableCells:
    """Describe ``table`` once for every rendering.

    Examples
    --------
    >>> from factorcheck.network import Network, conv, network_table
    >>> cells = table_cells(network_table(Network("n", 3, 8, (conv("c", 4, 3, padding=1),))))
    >>> cells.rows[0][-2:], cells.total[1], cells.total[-2:]
    (('6,912', '108'), 'total', ('6,912', '108'))
    """
    rows = tuple((str(r.index), r.name, r.type, _dims(r.input_shape), _dims(r.output_shape),
                  _dims(r.kernel), _dims(r.stride), _value(r.macs), _value(r.params))
                 for r in table.rows)
    shares = tuple((s.type, str(s.layers), _value(s.macs), _percent(s.macs_share),
                    _value(s.params), _percent(s.params_share)) for s in table.shares())
    total = ("", "total" if table.complete else "at least", "", "", "", "", "",
             _value(table.total_macs), _value(table.total_params))
    return TableCells("NetworkTable", _title(table), COLUMNS, frozenset(range(7)), rows, total,
                      shares, tuple((s.name, s.op, s.reason) for s in table.skipped))


def comparison_cells(cmp: NetworkComparison) -> TableCells:
    """Describe a comparison once for every rendering: one row per block, then the total.

    Examples
    --------
    >>> from factorcheck.network import (Network, compare_standard, depthwise, network_table,
    ...                                  pointwise)
    >>> net = Network("n", 4, 11, (depthwise("dw", 3, 2, 1), pointwise("pw", 16)))
    >>> comparison_cells(compare_standard(network_table(net))).rows[0][:2]
    ('dw + pw', 'dw+pw')
    """
    rows = tuple((" + ".join(b.separable), b.standard, _value(b.separable_macs),
                  _value(b.standard_macs), _ratio(b.mac_ratio), _value(b.separable_params),
                  _value(b.standard_params), _ratio(b.param_ratio)) for b in cmp.blocks)
    sep, std = cmp.separable, cmp.standard
    total = ("total" if sep.complete else "at least", "", _value(sep.total_macs),
             _value(std.total_macs), _ratio(cmp.mac_ratio), _value(sep.total_params),
             _value(std.total_params), _ratio(cmp.param_ratio))
    return TableCells("NetworkComparison", _title(sep), COMPARISON_COLUMNS,
                      frozenset({0, 1, 4, 7}), rows, total, (),
                      tuple((s.name, s.op, s.reason) for s in sep.skipped))


# ---------------------------------------------------------------- text


def _align(rows: list[list[str]], left: int | frozenset[int]) -> list[str]:
    """Columns padded to their widest cell; columns in ``left`` (or before it) left-aligned."""
    lefts = set(range(left)) if isinstance(left, int) else left
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i in lefts else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _shown(cells: TableCells) -> list[list[str]]:
    """The rows with every cell made printable (names come from files)."""
    return [[printable(cell) for cell in row] for row in cells.rows]


def _plural(count: int) -> str:
    return f"{count} layer{'s' if count != 1 else ''}"


def _partial_lines(cells: TableCells) -> list[str]:
    if not cells.not_counted:
        return []
    macs, params = (cells.total[-2], cells.total[-1]) if cells.kind == "NetworkTable" \
        else (cells.total[2], cells.total[5])
    count = _plural(len(cells.not_counted))
    lines = [f"partial: at least {macs} MACs and {params} params, {count} not counted:"]
    lines += [f"  not counted {printable(name)} ({printable(op) or '?'}): {printable(reason)}"
              for name, op, reason in cells.not_counted]
    return lines


def format_table(table: NetworkTable) -> str:
    """The per-layer table, totals, shares by type and the layers not counted, as aligned text.

    Examples
    --------
    >>> from factorcheck.network import Network, conv, network_table
    >>> print(format_table(network_table(Network("n", 3, 8, (conv("c", 4, 3, padding=1),)))))
    n: input 3x8x8, width α = 1, biases not counted
     #  layer  type      input  output  kernel  stride   MACs  params
     1  c      standard  3x8x8  4x8x8   3x3     1x1     6,912     108
        total                                           6,912     108
    <BLANKLINE>
    type      layers   MACs    share  params    share
    standard       1  6,912  100.00%     108  100.00%
    """
    cells = table_cells(table)
    rows = [list(cells.columns), *_shown(cells)]
    if not table.symbolic:
        rows.append(list(cells.total))
    title = [printable(line) for line in cells.title.splitlines()]
    lines = [*title, *(" " + line for line in _align(rows, cells.left))]
    if table.symbolic:
        lines += [f"total MACs = {cells.total[-2]}", f"total params = {cells.total[-1]}"]
    lines.append("")
    if cells.shares:
        lines += _align([["type", "layers", "MACs", "share", "params", "share"],
                         *map(list, cells.shares)], left=1)
    lines += _partial_lines(cells)
    return "\n".join(lines)


def format_comparison(cmp: NetworkComparison) -> str:
    """Block-by-block and total ratios of separable to standard MACs and parameters.

    Examples
    --------
    >>> from factorcheck.network import (Network, compare_standard, depthwise, network_table,
    ...                                  pointwise)
    >>> net = Network("n", 4, 11, (depthwise("dw", 3, 2, 1), pointwise("pw", 16)))
    >>> text = format_comparison(compare_standard(network_table(net)))
    >>> print(text.splitlines()[-1])   # 6*6*(4*9 + 4*16) against 6*6*16*4*9
    total ...3,600 20,736 0.1736 (5.76x) 100 576 0.1736 (5.76x)
    """
    cells = comparison_cells(cmp)
    rows = [list(cells.columns), *_shown(cells), list(cells.total)]
    title = [printable(line) for line in cells.title.splitlines()]
    return "\n".join([*title, *_align(rows, cells.left),
                      *_partial_lines(cells)])


def cells_repr(cells: TableCells) -> str:
    """At most 12 lines: the title, the first and last rows, the total, what was not counted.

    Examples
    --------
    >>> from factorcheck.network import mobilenet_v1, network_table
    >>> text = repr(network_table(mobilenet_v1()))
    >>> len(text.splitlines()) <= 12, text.splitlines()[-1].split()[:2]
    (True, ['total', '568,740,352'])
    """
    shown = _shown(cells)
    if len(shown) > 2 * REPR_ROWS:
        shown = [*shown[:REPR_ROWS], ["..."] + [""] * (len(cells.columns) - 1),
                 *shown[-REPR_ROWS:]]
    rows = [list(cells.columns), *shown, list(cells.total)]
    title = printable(cells.title.splitlines()[0])
    lines = [f"<{cells.kind} {title}; {len(cells.rows)} rows>", *_align(rows, cells.left)]
    if cells.not_counted:
        lines.append(f"partial: {_plural(len(cells.not_counted))} not counted (see .skipped)")
    return "\n".join(lines)


# ---------------------------------------------------------------- notebooks


def cells_html(cells: TableCells) -> str:
    """A compact HTML table (every name escaped), for Jupyter's ``_repr_html_``.

    Examples
    --------
    >>> from factorcheck.network import Network, conv, network_table
    >>> text = network_table(Network("<n>", 3, 8, (conv("c", 4, 3, padding=1),)))._repr_html_()
    >>> text.startswith("<table") and "&lt;n&gt;" in text and "6,912" in text
    True
    """
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in cells.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                   for row in _shown(cells))
    total = "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in cells.total) + "</tr>"
    missing = "".join(f"<li>{esc(printable(name))} ({esc(printable(op))}): "
                      f"{esc(printable(reason))}</li>" for name, op, reason in cells.not_counted)
    caption = esc(printable(cells.title))
    note = f"<p>Not counted (totals are lower bounds):</p><ul>{missing}</ul>" if missing else ""
    return (f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}{total}</tbody></table>{note}")


_LATEX_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;/+-()[]=*")
_LATEX_ESCAPED = {"_": r"\_", "&": r"\&", "#": r"\#", "%": r"\%", "$": r"\$", "{": r"\{",
                  "}": r"\}"}


_MATH_SYMBOLS = {"α": r"\alpha", "ρ": r"\rho", "·": r"\cdot", "×": r"\times", "∞": r"\infty",
                 "≤": r"\leq", "≥": r"\geq"}
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_MATH_RUN = re.compile(f"([{_SUPERSCRIPTS}]+|[{''.join(_MATH_SYMBOLS)}])")


def _latex_words(text: str) -> str:
    body = "".join(c if c in _LATEX_SAFE else _LATEX_ESCAPED.get(c, "?") for c in text)
    return r"\text{" + body + "}"


def _latex_text(text: str) -> str:
    """A cell for MathJax and LaTeX math: words in ``\\text{...}`` (specials escaped, other
    characters shown as ``?``), the Unicode of a formula (``α``, ``ρ``, ``·``, ``²``) as math.

    Examples
    --------
    >>> print(_latex_text("512·α²·ρ²"))
    \\text{512}\\cdot \\alpha ^{2}\\cdot \\rho ^{2}
    """
    pieces = []
    for index, run in enumerate(_MATH_RUN.split(text)):
        if index % 2 == 0:
            pieces.append(_latex_words(run) if run else "")
        elif run[0] in _SUPERSCRIPTS:
            pieces.append("^{" + run.translate(_FROM_SUPERSCRIPT) + "}")
        else:
            pieces.append(_MATH_SYMBOLS[run] + " ")
    return "".join(pieces) or r"\text{}"


_FROM_SUPERSCRIPT = str.maketrans(_SUPERSCRIPTS, "0123456789")


def cells_latex(cells: TableCells) -> str:
    """A LaTeX ``array`` in display math, for Jupyter's ``_repr_latex_`` (names made safe).

    Examples
    --------
    >>> from factorcheck.network import Network, conv, network_table
    >>> text = network_table(Network("n_1", 3, 8, (conv("c", 4, 3, padding=1),)))._repr_latex_()
    >>> text.startswith("$$") and r"\\text{n\\_1" in text and r"\\text{6,912}" in text
    True
    """
    width = len(cells.columns)
    spec = "".join("l" if i in cells.left else "r" for i in range(width))
    lines = [" & ".join(_latex_text(c) for c in cells.columns) + r" \\ \hline"]
    lines += [" & ".join(_latex_text(c) for c in row) + r" \\" for row in cells.rows]
    lines.append(r"\hline " + " & ".join(_latex_text(c) for c in cells.total) + r" \\")
    lines += [rf"\multicolumn{{{width}}}{{l}}{{"
              + _latex_text(f"not counted: {name} ({op}): {reason}") + r"} \\"
              for name, op, reason in cells.not_counted]
    title = _latex_text(cells.title.splitlines()[0])
    return (f"$$\\begin{{array}}{{{spec}}}\n\\multicolumn{{{width}}}{{l}}{{{title}}} \\\\\n"
            + "\n".join(lines) + "\n\\end{array}$$")


