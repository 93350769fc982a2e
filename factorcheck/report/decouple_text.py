r"""The report's decoupling section as LaTeX and Markdown (the data: :mod:`.decouple`).

These functions only format a :class:`~factorcheck.report.decouple.DecoupleSection`;
its JSON form is :meth:`~factorcheck.report.decouple.DecoupleSection.to_dict`, so
the three formats carry the same numbers.  Figures are pgfplots, drawn inside
the document (packages of the main report only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from factorcheck.decouple.plan import TradeoffRow
from factorcheck.report.decouple import DecoupleSection, Plan, PlannedLayer
from factorcheck.report.escape import latex_escape, latex_name, markdown_escape
from factorcheck.report.numbers import fmt_distance, fmt_energy, fmt_int, fmt_ratio
from factorcheck.report.tables import longtable

__all__ = ["LOG_FLOOR", "MAX_FIGURES", "MAX_NAMES", "decouple_latex", "decouple_markdown"]

#: Trade-off figures drawn per source (the layers with the most MACs); the tables list all.
MAX_FIGURES = 8
#: Names listed per reason for not rewriting a layer (the JSON lists them all).
MAX_NAMES = 8
#: Log-scale floor: smaller values (zero up to rounding) are not drawn.
LOG_FLOOR = 1e-16
_TIMES = "$\\times$"
_NO_LAYER = "\\multicolumn{8}{l}{no standard convolution} \\\\"


# --------------------------------------------------------------------------- LaTeX


def _bound_text(value: float | None) -> str:
    return "--" if value is None else fmt_distance(value)


def _plan_cells(la: PlannedLayer, times: str) -> list[str]:
    """A layer's cells in the plan table, after its number and name (LaTeX and Markdown)."""
    return [times.join(map(str, la.shape)),
            "--" if la.input_hw is None else times.join(map(str, la.input_hw)),
            "kept" if la.terms is None else str(la.terms),
            fmt_ratio(la.decoupled.macs / la.standard.macs),
            fmt_distance(la.relative_distance), _bound_text(la.relative_error_bound)]


def _curve_cells(row: TradeoffRow) -> list[str]:
    """A trade-off row's cells after its ``T`` (LaTeX and Markdown)."""
    return [fmt_ratio(row.macs_ratio), fmt_distance(row.relative_distance),
            fmt_energy(row.energy_kept), _bound_text(row.relative_error_bound)]


def _latex_intro(section: DecoupleSection) -> str:
    plan = section.plan
    return rf"""Each standard convolution $K$ is replaced by the nearest sum $P_T$ of $T$ depthwise
separable convolutions ({plan.order}): the $T$ largest singular triplets of every column. The plan
\texttt{{{latex_escape(str(plan))}}} chooses $T$ per layer ({_criterion_words(plan)}); a layer
where that $T$ would not cost fewer MACs is kept. For every input $x$ of the layer's size,
\[ \|\mathrm{{conv}}_K(x) - \mathrm{{conv}}_{{P_T}}(x)\|_2 \le E_T \|x\|_2, \qquad
   \|\mathrm{{conv}}_K\|_2 \le L, \]
where $E_T$ and $L$ are the largest singular values of the $n \times m$ matrices of the 2-D DFT
of $K - P_T$ and of $K$ on the $(H + k_h' - 1) \times (W + k_w' - 1)$ grid, on which the full
convolution is circular (Sedghi, Gupta and Long, ICLR 2019; padding, cropping and stride only
select outputs), inflated to cover rounding. $E_T / L$ is the worst-case output error relative
to the layer's gain; rel.\ dist.\ is $\|K - P_T\|_F / \|K\|_F$.
{latex_escape(section.note) + "." if section.note else ""}
"""


def _criterion_words(plan: Plan) -> str:
    if plan.criterion == "terms":
        return f"$T = {int(plan.value)}$ everywhere, capped at the column rank bound"
    if plan.criterion == "energy":
        return f"the smallest $T$ keeping a share {plan.value:g} of every column's energy"
    return f"the smallest $T$ with relative distance at most {plan.value:g}"


def _totals_rows(section: DecoupleSection) -> list[tuple[str, str, str, str]]:
    kept = sum(la.terms is None for la in section.layers)
    rows = [("standard layers", str(len(section.layers)),
             f"{len(section.layers) - kept} decoupled", f"{kept} kept")]
    for label, which in (("MACs", "macs"), ("parameters", "params")):
        before, after = section.total(which)
        rows.append((label, fmt_int(before), fmt_int(after),
                     fmt_ratio(after / before) if before else "--"))
    if section.model_macs:
        before, after = section.total("macs")
        whole = section.model_macs - before + after
        rows.append(("whole model MACs", fmt_int(section.model_macs), fmt_int(whole),
                     fmt_ratio(whole / section.model_macs)))
    return rows


def _latex_plan_table(section: DecoupleSection) -> str:
    rows = [" & ".join([str(la.index), latex_name(la.name, limit=40), *_plan_cells(la, _TIMES)])
            + " \\\\" for la in section.layers]
    spec = "@{}r>{\\raggedright\\arraybackslash}p{3.6cm}llrrrr@{}"
    header = ("\\toprule\n\\# & layer & kernel & input & $T$ & MACs ratio & rel.\\ dist. & "
              "$E_T/L$ \\\\\n\\midrule")
    return longtable(spec, header, rows or [_NO_LAYER])


def _coords(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """Points with a value above :data:`LOG_FLOOR` (exact rows, zero up to rounding, are left
    out: on a log axis they would squash the rest of the curve)."""
    return " ".join(f"({x:.5f},{float(y):.4e})" for x, y in zip(xs, ys, strict=True)
                    if y is not None and y > LOG_FLOOR)


def _latex_plot(la: PlannedLayer) -> str:
    xs = [r.macs_ratio for r in la.curve.rows]
    lines = [(f"\\addplot+[mark size=1.2pt] coordinates "
              f"{{{_coords(xs, [r.relative_distance for r in la.curve.rows])}}};"),
             "\\addlegendentry{rel.\\ dist.}"]
    if la.curve.layer_norm is not None:
        lines += [(f"\\addplot+[mark size=1.2pt] coordinates "
                   f"{{{_coords(xs, [r.relative_error_bound for r in la.curve.rows])}}};"),
                  "\\addlegendentry{$E_T/L$}"]
    if la.terms is not None and la.relative_distance > LOG_FLOOR:
        x = la.decoupled.macs / la.standard.macs
        lines.append(f"\\addplot+[only marks, mark=o, mark size=3pt, black] coordinates "
                     f"{{({x:.5f},{la.relative_distance:.4e})}};")
        lines.append(f"\\addlegendentry{{plan $T={la.terms}$}}")
    title = f"{la.index}: {latex_name(la.name, limit=24)}"
    return rf"""\begin{{minipage}}[t]{{0.48\linewidth}}\centering
\begin{{tikzpicture}}
\begin{{semilogyaxis}}[width=\linewidth, height=5.2cm,
  xlabel={{MACs ratio}}, ylabel={{relative error}}, title={{\footnotesize {title}}},
  legend style={{font=\tiny, at={{(0.02,0.02)}}, anchor=south west}},
  tick label style={{font=\scriptsize}}, label style={{font=\scriptsize}}]
{chr(10).join(lines)}
\end{{semilogyaxis}}
\end{{tikzpicture}}
\end{{minipage}}"""


def _latex_figure(section: DecoupleSection) -> str:
    drawn = [la for la in section.layers if la.curve.rows[0].relative_distance > LOG_FLOOR]
    chosen = sorted(drawn, key=lambda la: -la.standard.macs)[:MAX_FIGURES]
    if not chosen:
        return ""
    chosen.sort(key=lambda la: la.index)
    plots = "\\hfill\n".join(_latex_plot(la) for la in chosen)
    subset = "" if len(chosen) == len(section.layers) else (
        f" Shown: the {len(chosen)} of {len(section.layers)} layers with the most MACs "
        "(layers exact with $T = 1$ have no curve).")
    return rf"""\begin{{figure}}[!htbp]
\centering
{plots}
\caption{{Trade-off of each layer: for $T = 1, 2, \dots$ (left to right), the MACs of the
$T$-term DSC over the layer's, against the relative distance and the certified worst-case
relative output error $E_T/L$, on a log scale; the exact $T$ (its largest column rank), where both
are zero up to rounding, is in the table but not drawn. The circle marks the plan's
choice.{subset}}}
\end{{figure}}
"""


def _latex_curve_table(section: DecoupleSection) -> str:
    rows = []
    for la in section.layers:
        for r in la.curve.rows:
            name = latex_name(la.name, limit=32) if r.terms == 1 else ""
            index = str(la.index) if r.terms == 1 else ""
            mark = "$\\ast$" if r.terms == la.terms else ""
            rows.append(" & ".join([index, name, f"{r.terms}{mark}", *_curve_cells(r)])
                        + " \\\\")
        rows.append("\\midrule")
    if rows:
        rows.pop()
    spec = "@{}r>{\\raggedright\\arraybackslash}p{3.6cm}rrrrr@{}"
    header = ("\\toprule\n\\# & layer & $T$ & MACs ratio & rel.\\ dist. & energy kept & "
              "$E_T/L$ \\\\\n\\midrule")
    table = longtable(spec, header, rows)
    return "\\subsection*{Trade-off per layer}\n" + table + r"""\noindent\footnotesize $\ast$:
the plan's $T$; energy kept: the smallest share of a column's
squared norm kept; the last row of a layer is exact ($T$ = its largest column rank).\normalsize
"""


def _by_reason(skipped: Sequence[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """Skipped layers grouped by reason, in first-seen order (a model has many depthwise ones)."""
    groups: dict[str, list[str]] = {}
    for name, reason in skipped:
        groups.setdefault(reason, []).append(name)
    return list(groups.items())


def _names(names: Sequence[str], escape: Any) -> str:
    """At most :data:`MAX_NAMES` names, then how many more (the JSON lists them all)."""
    shown = ", ".join(escape(n) for n in names[:MAX_NAMES])
    return shown + (f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")


def _latex_skipped(section: DecoupleSection) -> str:
    kept = [(la.name, la.reason) for la in section.layers if la.terms is None]
    items = [f"  \\item {latex_name(n)}: kept, {latex_escape(r)}" for n, r in kept]
    items += [f"  \\item {latex_escape(r)} ({len(ns)}): {_names(ns, latex_name)}"
              for r, ns in _by_reason(section.skipped)]
    if not items:
        return ""
    return "\\paragraph{Not rewritten.}\n\\begin{itemize}\n" + "\n".join(items) + \
        "\n\\end{itemize}\n"


def decouple_latex(sections: Sequence[DecoupleSection]) -> str:
    """The LaTeX section(s), one per model; ``""`` when there is none.

    Examples
    --------
    >>> decouple_latex([])
    ''
    """
    parts = []
    for section in sections:
        totals = "\n".join(f"{a} & {b} & {c} & {d} \\\\" for a, b, c, d in _totals_rows(section))
        parts.append(rf"""\clearpage
\section{{Decoupling: cost against certified output error}}
Model: {latex_name(section.label, limit=120)}.
{_latex_intro(section)}
\begin{{center}}\footnotesize
\begin{{tabular}}{{@{{}}lrrr@{{}}}}
\toprule
plan totals & before & after & ratio \\
\midrule
{totals}
\bottomrule
\end{{tabular}}
\end{{center}}
{_latex_plan_table(section)}{_latex_skipped(section)}{_latex_figure(section)}
{_latex_curve_table(section)}""")
    return "\n".join(parts)


# --------------------------------------------------------------------------- Markdown


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def decouple_markdown(sections: Sequence[DecoupleSection]) -> str:
    """The Markdown section(s), one per model; ``""`` when there is none.

    Examples
    --------
    >>> decouple_markdown([])
    ''
    """
    parts = []
    for s in sections:
        plan_rows = [[str(la.index), markdown_escape(la.name, limit=40), *_plan_cells(la, "×")]
                     for la in s.layers]
        curve_rows = [[str(la.index), markdown_escape(la.name, limit=40),
                       f"{r.terms}{' *' if r.terms == la.terms else ''}", *_curve_cells(r)]
                      for la in s.layers for r in la.curve.rows]
        kept = [f"- {markdown_escape(n)}: kept, {markdown_escape(r, limit=None)}"
                for n, r in ((la.name, la.reason) for la in s.layers if la.terms is None)]
        kept += [f"- {markdown_escape(r, limit=None)} ({len(ns)}): {_names(ns, markdown_escape)}"
                 for r, ns in _by_reason(s.skipped)]
        note = f"\n\n{markdown_escape(s.note, limit=None)}." if s.note else ""
        parts.append("\n\n".join([
            "## Decoupling: cost against certified output error",
            f"Model: {markdown_escape(s.label, limit=120)}. Plan `{s.plan}` ({s.plan.order}); "
            "E_T/L is the certified worst-case output error relative to the layer's gain "
            "(DFT bound on the padded grid, Sedghi et al. 2019)." + note,
            _md_table(["plan totals", "before", "after", "ratio"], _totals_rows(s)),
            _md_table(["#", "layer", "kernel", "input", "T", "MACs ratio", "rel. dist.",
                       "E_T/L"], plan_rows),
            *(["\n".join(kept)] if kept else []),
            "### Trade-off per layer (* the plan's T)",
            _md_table(["#", "layer", "T", "MACs ratio", "rel. dist.", "energy kept", "E_T/L"],
                      curve_rows)]))
    return "\n\n".join(parts) + ("\n" if parts else "")
