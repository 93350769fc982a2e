"""Results that show themselves: one description, printed as terminal text or notebook HTML.

A result class describes its content once, as a :class:`Display` (a title,
labelled facts, at most a few small tables and notes, every value already a
short string), and inherits :class:`Displayable`, which prints that one
description as a ``__repr__`` of at most :data:`MAX_REPR_LINES` lines and as
the ``_repr_html_`` Jupyter shows.  Neither printer knows any result type, so
the two renderings cannot drift (SymPy's habit: one tree, many printers).

Names that come from users or files are never trusted: the text printer
writes non-printable characters as Python escapes and shortens long names,
and the HTML printer escapes every string it did not write itself.

Examples
--------
>>> d = Display("Example", facts=(("shape", "8x4x3x3"),),
...             tables=(Table(("layer", "kind"), (("conv<1>", "standard"),)),))
>>> print(render_text(d))
Example
  shape  8x4x3x3
  layer    kind
  conv<1>  standard
>>> "conv&lt;1&gt;" in render_html(d)
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING

import numpy as np

from factorcheck._text import printable

if TYPE_CHECKING:  # the result modules import this one, never the other way round
    from factorcheck.records import LayerRecord, OrderResult, ScanResult
    from factorcheck.separability import Analysis, Factors

__all__ = [
    "MAX_REPR_LINES",
    "Display",
    "Displayable",
    "Table",
    "array_summary",
    "describe_analysis",
    "describe_factors",
    "describe_fields",
    "describe_layer",
    "describe_scan",
    "layer_kind",
    "quantiles",
    "render_html",
    "render_text",
    "safe_name",
    "summary",
]

#: The longest ``repr`` of any result, in lines.
MAX_REPR_LINES = 12
#: Longest name shown in full; longer ones keep their start and end around an ellipsis.
NAME_LIMIT = 60


@dataclass(frozen=True)
class Table:
    """A small table: a header and rows of short strings; ``more`` rows were left out.

    Examples
    --------
    >>> Table(("a", "b"), (("1", "2"),), more=3).more
    3
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    more: int = 0
    more_label: str = "rows"


@dataclass(frozen=True)
class Display:
    """What a result shows: a title, ``(label, value)`` facts, tables and notes.

    Examples
    --------
    >>> Display("Factors", facts=(("order", "dw-pw"),)).facts[0]
    ('order', 'dw-pw')
    """

    title: str
    facts: tuple[tuple[str, str], ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()


class Displayable:
    """Mixin: ``__repr__`` and ``_repr_html_`` from the class's ``_display()``.

    Dataclasses using it pass ``repr=False`` so that the dataclass keeps this
    ``__repr__``.  Without its own ``_display`` a dataclass shows its fields,
    each summarized on one line (:func:`describe_fields`).

    Examples
    --------
    >>> class Point(Displayable):
    ...     def _display(self):
    ...         return Display("Point", facts=(("x", "1"),))
    >>> Point()
    Point
      x  1
    """

    def _display(self) -> Display:
        return describe_fields(self)

    def __repr__(self) -> str:
        return render_text(self._display())

    def _repr_html_(self) -> str:
        return render_html(self._display())


# --------------------------------------------------------------------------- values


def safe_name(name: str, limit: int = NAME_LIMIT) -> str:
    r"""A name as text: non-printable characters as Python escapes, shortened past ``limit``.

    Examples
    --------
    >>> safe_name("conv\x1b[31m")
    'conv\\x1b[31m'
    >>> safe_name("x" * 100, limit=10)
    'xxxxx…xxxx'
    """
    text = printable(str(name))
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2 + (limit - 1) % 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head):]}"


def _number(x: float) -> str:
    return f"{x:.4g}"


def quantiles(values: np.ndarray) -> str:
    """``min / median / max`` of the finite values (``-`` if there are none).

    Examples
    --------
    >>> quantiles(np.array([3.0, 1.0, 2.0, np.nan]))
    'min 1, median 2, max 3'
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return "-"
    low, mid, high = np.quantile(finite, [0.0, 0.5, 1.0])
    return f"min {_number(low)}, median {_number(mid)}, max {_number(high)}"


def array_summary(array: np.ndarray, shape: bool = True) -> str:
    """Shape (unless ``shape`` is False), dtype and value range of an array, never its entries.

    Examples
    --------
    >>> array_summary(np.arange(6.0).reshape(2, 3))
    '2x3 float64, range [0, 5]'
    """
    head = ("x".join(map(str, array.shape)) or "scalar") + " " if shape else ""
    if array.size == 0:
        return f"{head}{array.dtype}, empty"
    if array.dtype == object:
        return f"{head}exact (fractions), range [{array.min()}, {array.max()}]"
    return f"{head}{array.dtype}, range [{_number(array.min())}, {_number(array.max())}]"


def summary(value: object, limit: int = NAME_LIMIT) -> str:
    """One short line for any field value: arrays summarized, containers counted.

    Examples
    --------
    >>> summary(np.zeros((3, 4))), summary((1, 2)), summary(tuple(range(50))), summary("ab")
    ('3x4 float64, range [0, 0]', '(1, 2)', '50 int items', "'ab'")
    """
    if isinstance(value, np.ndarray):
        return array_summary(value)
    if isinstance(value, Displayable):
        return value._display().title
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(safe_name(value, limit))
        return f"{len(value)} characters: {safe_name(value, limit // 2)!r}"
    if isinstance(value, (tuple, list, dict)):
        text = safe_name(repr(value), 10**6)
        if len(text) <= limit:
            return text
        if isinstance(value, dict):
            return safe_name(f"{len(value)} keys: {', '.join(map(str, value))}", limit)
        kinds = sorted({type(v).__name__ for v in value})
        return f"{len(value)} {'/'.join(kinds)} items"
    return safe_name(repr(value), limit)


def describe_fields(obj: object) -> Display:
    """The default display of a dataclass: its shown fields, one summarized line each.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, repr=False)
    ... class Result(Displayable):
    ...     values: np.ndarray
    ...     name: str
    >>> Result(np.arange(2000.0), "r")
    Result
      values  2000 float64, range [0, 1999]
      name    'r'
    """
    shown = [f.name for f in fields(obj) if f.repr] if is_dataclass(obj) else \
        sorted(k for k in vars(obj) if not k.startswith("_"))
    facts = tuple((name, summary(getattr(obj, name))) for name in shown)
    budget = MAX_REPR_LINES - 1
    if len(facts) > budget:
        facts = (*facts[: budget - 1], ("...", f"{len(facts) - budget + 1} more fields"))
    return Display(type(obj).__name__, facts)


# --------------------------------------------------------------------------- text


def _line(text: str) -> str:
    """One line of printable text, whatever the caller put in (newlines become ``\\n``)."""
    return safe_name(text, limit=10**6)


def _columns(rows: Sequence[Sequence[str]], indent: str) -> list[str]:
    rows = [[_line(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _table_text(table: Table, budget: int) -> list[str]:
    """The table in at most ``budget`` lines (rows beyond it are counted, not shown)."""
    shown = list(table.rows)
    more = table.more
    if len(shown) + 1 + (more > 0) > budget:
        keep = max(0, budget - 2)
        more += len(shown) - keep
        shown = shown[:keep]
    lines = _columns([table.header, *shown], "  ")
    if more:
        lines.append(f"  ... {more} more {_line(table.more_label)}")
    return lines


def render_text(display: Display, max_lines: int = MAX_REPR_LINES) -> str:
    """The display as plain text of at most ``max_lines`` lines.

    Examples
    --------
    >>> rows = tuple((str(i), str(i * i)) for i in range(20))
    >>> text = render_text(Display("Squares", tables=(Table(("n", "n^2"), rows),)))
    >>> len(text.splitlines()), text.splitlines()[-1]
    (12, '  ... 11 more rows')
    """
    lines = [_line(display.title)]
    if display.facts:
        lines += _columns([(f"{label}", value) for label, value in display.facts], "  ")
    notes = [f"  {_line(note)}" for note in display.notes]
    for table in display.tables:
        budget = max_lines - len(lines) - len(notes)
        if budget >= 3:
            lines += _table_text(table, budget)
    lines += notes
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], "  ..."]
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML


def _cells(tag: str, row: Sequence[str]) -> str:
    return "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in row)


def render_html(display: Display) -> str:
    """The display as a small HTML fragment (a titled table), every string escaped.

    Examples
    --------
    >>> page = render_html(Display("T", facts=(("a", "<b>"),)))
    >>> page.startswith('<div class="factorcheck">'), ">&lt;b&gt;</td>" in page
    (True, True)
    """
    parts = ['<div class="factorcheck">', f"<p><strong>{html.escape(display.title)}</strong></p>"]
    if display.facts:
        rows = "".join(
            f'<tr><th style="text-align:left">{html.escape(label)}</th>'
            f'<td style="text-align:left">{html.escape(value)}</td></tr>'
            for label, value in display.facts)
        parts.append(f"<table><tbody>{rows}</tbody></table>")
    for table in display.tables:
        body = "".join(f"<tr>{_cells('td', row)}</tr>" for row in table.rows)
        parts.append(f"<table><thead><tr>{_cells('th', table.header)}</tr></thead>"
                     f"<tbody>{body}</tbody></table>")
        if table.more:
            parts.append(f"<p>... {table.more} more {html.escape(table.more_label)}</p>")
    parts += [f"<p>{html.escape(note)}</p>" for note in display.notes]
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- the results


#: Rows of a scan's layer table shown in HTML (the text repr shows what fits in its lines).
HTML_MAX_ROWS = 50
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sigma(index: int) -> str:
    return "σ" + str(index).translate(_SUBSCRIPTS)


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _spectrum_facts(a: Analysis) -> tuple[tuple[str, str], ...]:
    """σ₁ and σ_{d+1}/σ₁ over the slices: how far each slice is from rank d."""
    sigma = np.asarray(a.singular_values, dtype=np.float64)
    d = a.multiplier
    facts = [(_sigma(1), quantiles(sigma[:, 0]))]
    if sigma.shape[1] > d:
        top = sigma[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(top > 0, sigma[:, d] / np.where(top > 0, top, 1.0), 0.0)
        facts.append((f"{_sigma(d + 1)}/{_sigma(1)}", quantiles(ratio)))
    return tuple(facts)


def describe_analysis(a: Analysis) -> Display:
    """The display of an :class:`~factorcheck.Analysis`: verdict, T, distances, spectrum.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> print(describe_analysis(factorcheck.analyze(np.ones((4, 2, 3, 3)))).facts[1][1])
    separable (rank tolerance 1.998e-15)
    """
    verdict = "separable" if a.separable else "not separable"
    verdict += f" per group (G={a.groups})" if a.groups > 1 else ""
    verdict += " exactly" if a.exact else f" ({a.criterion} tolerance {a.tolerance:.4g})"
    groups = f", {a.groups} groups" if a.groups > 1 else ""
    slices, values = np.shape(a.singular_values)
    facts = (
        ("kernel", f"{_shape(a.shape)} (OIHW){groups}, {a.dtype}"),
        ("verdict", verdict),
        ("T (min multiplier)", str(a.min_multiplier)),
        ("distance", f"{a.distance:.4g} (relative {a.relative_distance:.4g})"),
        ("norm", f"{a.norm:.4g}"),
        ("slice ranks", f"{quantiles(a.ranks)} ({slices} slices, up to {values} values)"),
        *_spectrum_facts(a),
        ("energy kept", quantiles(a.energy_kept)),
    )
    return Display(f"Analysis: {a.order}, multiplier d={a.multiplier}", facts)


def describe_factors(f: Factors) -> Display:
    """The display of :class:`~factorcheck.Factors`: the two convolutions, in the order applied.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> describe_factors(factorcheck.decompose(np.ones((4, 2, 3, 3)))).tables[0].rows[0][:3]
    ('1. depthwise', '2x1x3x3', '2')
    """
    dw = ("depthwise", f.depthwise, f.groups)
    pw = ("pointwise", f.pointwise, f.pointwise_groups)
    steps = (dw, pw) if f.order == "dw-pw" else (pw, dw)
    rows = tuple((f"{i}. {name}", _shape(array.shape), str(groups), array_summary(array, False))
                 for i, (name, array, groups) in enumerate(steps, start=1))
    table = Table(("convolution", "shape", "groups", "values"), rows)
    return Display(f"Factors: {f.order}, multiplier d={f.multiplier}, layout {f.layout}",
                   tables=(table,), notes=("to_kernel() composes them back into the kernel",))


def _order_cells(res: OrderResult | None) -> tuple[str, ...]:
    if res is None:
        return ("-", "-", "-")
    verdict = ("yes" if res.separable else "no") + ("*" if res.exact else "")
    return (verdict, str(res.min_multiplier), f"{res.relative_distance:.2e}")


def layer_kind(r: LayerRecord) -> str:
    """A layer's kind in a few words, as the tables show it (``check`` prints the same).

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> [layer_kind(r) for r in factorcheck.scan_kernels({"g": np.ones((8, 2, 3))}, group=2).layers]
    ['grouped G=2 1-D']
    """
    words = [r.kind]
    if r.kind == "grouped":
        words.append(f"G={r.group}")
    if r.conv_dims == 1:
        words.append("1-D")
    if r.trivial:
        words.append("(trivial)")
    return " ".join(words)


def _scan_table(result: ScanResult, limit: int | None) -> Table:
    header = ("layer", "shape", "kind", *(c for o in result.orders for c in (o, "T", "rel.dist")))
    layers = result.layers if limit is None else result.layers[:limit]
    rows = tuple((safe_name(r.name), _shape(r.shape), layer_kind(r),
                  *(c for o in result.orders for c in _order_cells(r.result(o))))
                 for r in layers)
    return Table(header, rows, more=len(result.layers) - len(rows), more_label="layers")


def _scan_notes(result: ScanResult) -> tuple[str, ...]:
    s = result.summary()
    notes = []
    for order in result.orders:
        note = f"{order}: {s.separable[order]} of {s.layers - s.trivial} separable"
        if s.median_relative_distance[order] is not None:
            note += f", median relative distance {s.median_relative_distance[order]:.2e}"
        notes.append(note)
    if result.skipped:
        names = ", ".join(safe_name(k.name, 30) for k in result.skipped[:3])
        more = ", ..." if len(result.skipped) > 3 else ""
        notes.append(f"skipped {len(result.skipped)}: {names}{more} (reasons in .skipped)")
    return tuple(notes)


def describe_scan(result: ScanResult, limit: int | None = HTML_MAX_ROWS) -> Display:
    """The display of a :class:`~factorcheck.ScanResult`: the layer table and the summary.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> describe_scan(factorcheck.scan_kernels({"c": np.ones((4, 2, 3, 3))})).title
    'ScanResult: 1 layer (0 trivial), 0 skipped; multiplier d=1'
    """
    s = result.summary()
    rtol = f", rtol {result.rtol:g}" if result.rtol is not None else ""
    title = (f"ScanResult: {s.layers} layer{'s' if s.layers != 1 else ''} ({s.trivial} trivial), "
             f"{s.skipped} skipped; multiplier d={result.multiplier}{rtol}")
    return Display(title, tables=(_scan_table(result, limit),), notes=_scan_notes(result))


def describe_layer(r: LayerRecord) -> Display:
    """The display of a :class:`~factorcheck.LayerRecord`: what the layer is, and each order.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> record, = factorcheck.scan_kernels({"c": np.ones((4, 2, 3, 3))}).layers
    >>> describe_layer(record).facts[0]
    ('kind', 'standard, 2-D convolution, G=1 (inferred from the shape)')
    """
    source = " (inferred from the shape)" if r.group_inferred else ""
    facts = [("kind", f"{r.kind}, {r.conv_dims}-D convolution, G={r.group}{source}"),
             ("weight", f"{_shape(r.shape)} {r.layout}, {r.dtype}")]
    attributes = [(label, value) for label, value in
                  (("stride", r.strides), ("pads", r.pads), ("dilation", r.dilations))
                  if value is not None]
    if attributes:
        facts.append(("attributes", ", ".join(f"{label} {_shape(value)}"
                                              for label, value in attributes)))
    rows = tuple((res.order, "yes" if res.separable else "no", str(res.min_multiplier),
                  f"{res.distance:.4g}", f"{res.relative_distance:.2e}", f"{res.cost_ratio:.4g}")
                 for res in (r.dw_pw, r.pw_dw) if res is not None)
    table = Table(("order", "separable", "T", "distance", "rel.dist", "cost"), rows)
    where = f" in {safe_name(r.file)}" if r.file else ""
    notes = ("trivially separable (pointwise, or depthwise with one filter per group)",) \
        if r.trivial else ()
    return Display(f"LayerRecord '{safe_name(r.name)}'{where}", tuple(facts), (table,), notes)
