r"""Render a :class:`~factorcheck.report.model.Report` as a standalone LaTeX document.

The document needs only packages of Debian's ``texlive-latex-base``,
``texlive-latex-recommended``, ``texlive-pictures`` and ``lmodern``: ``amsmath``,
``amssymb``, ``booktabs``, ``longtable``, ``array``, ``geometry``,
``hyperref``, ``pgfplots``, ``float``; and Latin Modern in the T1 encoding (Debian's
``lmodern``), so every font is a vector (Type 1) font: TeX's default OT1 fonts lack
``< > | "``, which pdfLaTeX then takes from bitmap (Type 3) EC fonts.  Figures are
placed exactly where they stand (``[H]``, from ``float``), beside their section.

Every string that comes from a user or a file goes through
:mod:`factorcheck.report.escape`; formulas come from the proofs
(:meth:`~factorcheck.symbolic.derivation.Proof.to_latex`, i.e.
:func:`sympy.latex`).  Figures are drawn by pgfplots inside the document
(:mod:`factorcheck.report.figures`).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence

import sympy

from factorcheck.display import layer_kind
from factorcheck.report.decouple_text import decouple_latex
from factorcheck.report.escape import latex_escape, latex_name
from factorcheck.report.figures import MAX_POINTS, distance_figure, spectra_figure
from factorcheck.report.model import LayerReport, Report, SliceDetail, SourceReport
from factorcheck.report.numbers import (
    fmt_energy,
    fmt_int,
    fmt_percent,
    fmt_ratio,
    verdict,
)
from factorcheck.report.prose import ORDER_TEXT, finding_label, times
from factorcheck.report.prose import distance_math as fmt_distance
from factorcheck.report.tables import longtable
from factorcheck.scan import LayerRecord
from factorcheck.separability import ORDERS
from factorcheck.symbolic.derivation import Proof
from factorcheck.symbolic.worked_example import WorkedExample

__all__ = ["MAX_POINTS", "PROOF_SECTIONS", "omitted_columns", "render_latex"]

#: Sources with at most this many layers get a subsection per layer; larger ones a table.
DETAILED_LAYERS = 12
#: Per-column tables list at most this many columns (the JSON has them all).
MAX_COLUMN_ROWS = 16

#: Proof names per section, in order; proofs not listed go to a last section.
PROOF_SECTIONS: dict[str, tuple[str, ...]] = {
    "Cost derivations": ("cost_ratio", "parameter_ratio", "general_costs"),
    "The separability theorem": ("block_factorization", "theorem", "dimension_count",
                                 "decomposition_terms"),
}

_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\usepackage{lmodern,textcomp}
\usepackage[margin=2cm]{geometry}
\usepackage{float}
\usepackage{amsmath,amssymb}
\usepackage{array,booktabs,longtable}
\usepackage{pgfplots}
\pgfplotsset{compat=1.16}
\usepackage[hidelinks,pdftitle={factorcheck report},pdfcreator={factorcheck}]{hyperref}
\setcounter{MaxMatrixCols}{20}
%% Loose lines rather than lines past the margin (long names break only at \allowbreak).
\setlength{\emergencystretch}{3em}
%% A new page unless #1 of room is left (a heading never ends a page, its figure on the next).
\newcommand{\fcneedspace}[1]{\par\vskip 0pt plus #1\penalty-200\vskip 0pt plus -#1\relax}
\allowdisplaybreaks
\newcommand{\fcok}{\ensuremath{\checkmark}}
%% A derivation's align* rows, set as one aligned block, scaled down only if wider than the text.
\newsavebox{\fcbox}
\newenvironment{fcderivation}%%
  {\begin{lrbox}{\fcbox}$\displaystyle\begin{aligned}}%%
  {\end{aligned}$\end{lrbox}%%
   \[\ifdim\wd\fcbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\fcbox}}\else\usebox{\fcbox}\fi\]}
\newcommand{\fcx}{\ensuremath{\times}}
\title{Depthwise separable convolution, verified\\[2pt]\large a factorcheck report}
\author{factorcheck %(version)s}
\date{}
\begin{document}
\maketitle
"""

_MARKS = {"verified": r"verified \fcok", "unverified": "unverified ?", "false": r"FALSE \fcx"}
_STEP_NOTE = re.compile(r"\((verified|unverified|false)\)\}( \\\\)?$", re.MULTILINE)


# --------------------------------------------------------------------------- helpers


def _times(shape: Sequence[int]) -> str:
    return r"$\times$".join(str(s) for s in shape)


def _kind(record: LayerRecord) -> str:
    """:func:`~factorcheck.display.layer_kind`, its group count set in math (``$G=2$``)."""
    return layer_kind(record).replace(f"G={record.group}", f"$G={record.group}$", 1)


def _with_marks(fragment: str) -> str:
    """Put a mark after each step's status: verified with a check mark, false with a cross."""
    return _STEP_NOTE.sub(lambda m: f"({_MARKS[m.group(1)]})}}{m.group(2) or ''}", fragment)


def _fitted(fragment: str) -> str:
    """Set each ``align*`` of a proof as an ``fcderivation`` block (scaled to fit when too wide).

    The rows are exactly those of :meth:`Proof.to_latex`; only the environment
    changes, because a few derivations (matrices of minors) are wider than a page.
    """
    return fragment.replace("\\begin{align*}", "\\begin{fcderivation}").replace(
        "\\end{align*}", "\\end{fcderivation}")


def _proof(proof: Proof) -> str:
    status = r"all steps verified \fcok" if proof.ok else r"NOT all steps verified \fcx"
    fragment = _fitted(_with_marks(proof.to_latex()))
    return f"{fragment}\\noindent\\emph{{{status}}}\n"


# --------------------------------------------------------------------------- front matter


def _conventions(report: Report) -> str:
    orders = "\n".join(f"  \\item[{o}] {ORDER_TEXT[o].to_latex()}." for o in ORDERS)
    labels = ", ".join(latex_name(s.label) for s in report.sources)
    opts = report.options
    rtol = "numerical rank at the kernel's dtype precision" if opts["rtol"] is None \
        else f"relative distance at most {fmt_distance(opts['rtol'])}"
    return rf"""\section{{Conventions}}
\begin{{description}}
  \item[MACs] multiply-accumulates: one per product of a weight and an input value formed by the
  dense convolution, padded zeros included. A standard convolution with $N$ kernels of size
  $D_k \times D_k \times M$ on a $D_p \times D_p$ output costs $D_p^2 D_k^2 M N$ MACs.
  \item[FLOPs] multiplications plus additions: one multiplication per MAC, plus the additions that
  reduce each output's products to one value (and its bias). Without bias that is
  $2\,\mathrm{{MACs}} - D_p^2 N$; with bias exactly $2\,\mathrm{{MACs}}$. Costs below are MACs
  unless stated otherwise.
  \item[Parameters] weights, plus biases where stated.
  \item[Verified] every step of every derivation is checked by SymPy when the report is built;
  a verified step carries \fcok, an undecided one ?, a false one \fcx.
\end{{description}}
A kernel $K$ with $n$ outputs and $m$ inputs is a \emph{{depthwise separable convolution}} (DSC)
with $T$ terms in the order
\begin{{description}}
{orders}
\end{{description}}
Its \emph{{columns}} are the $n \times (k_h k_w)$ matrices $A_j$ of input channel $j$.
Verdicts test multiplier $d = {opts['multiplier']}$ ({latex_escape(rtol)}); $T$ is the fewest
terms of an exact decomposition. Analysed: {labels}.
"""


def _summary(report: Report) -> str:
    verified = sum(p.ok for p in report.proofs)
    lines = [r"\section*{Summary}", r"\begin{itemize}",
             rf"  \item {verified} of {len(report.proofs)} proofs verified in every step.",
             (rf"  \item Worked example: the separable layer costs "
             rf"${report.worked_example.ratio.p}/{report.worked_example.ratio.q}$ of the standard "
             rf"one; {len(report.worked_example.findings)} inconsistency found in the text.")]
    for source in report.sources:
        s = source.scan.summary()
        counted = s.layers - s.trivial
        per_order = "; ".join(f"{o}: {s.separable[o]} of {counted} separable"
                              for o in source.scan.orders)
        lines.append(rf"  \item {latex_name(source.label)}: {s.layers} layers analysed "
                     rf"({s.trivial} trivial, {s.skipped} skipped); {per_order}.")
    lines.append(r"\end{itemize}")
    return "\n".join(lines) + "\n\\tableofcontents\n"


def _proof_sections(report: Report) -> str:
    by_name = {p.name: p for p in report.proofs}
    placed = {name for names in PROOF_SECTIONS.values() for name in names} | {"worked_example"}
    parts = []
    for title, names in PROOF_SECTIONS.items():
        chosen = [by_name[n] for n in names if n in by_name]
        if chosen:
            parts.append(f"\\section{{{title}}}\n" + "\n".join(_proof(p) for p in chosen))
    rest = [p for p in report.proofs if p.name not in placed]
    if rest:
        parts.append("\\section{Further proofs}\n" + "\n".join(_proof(p) for p in rest))
    return "\n".join(parts)


def _worked_example(report: Report) -> str:
    e = report.worked_example
    ok = r"\fcok"
    rows = [("output size $D_p$", "6", str(e.output_size), ok),
            ("standard output", _times((6, 6, 16)), _times(e.standard_output), ok),
            ("depthwise output", _times((6, 6, 3)), _times(e.depthwise_output), ok),
            ("pointwise output", _times((6, 6, 16)), _times(e.pointwise_output), ok),
            ("standard MACs", "", fmt_int(e.standard_macs), ""),
            ("depthwise + pointwise MACs", "",
             f"{fmt_int(e.depthwise_macs)} + {fmt_int(e.pointwise_macs)}", ""),
            ("MAC ratio", r"$\frac{1}{N} + \frac{1}{D_k^2}$", f"${e.ratio.p}/{e.ratio.q}$", ok)]
    rows += [(finding_label(f.quantity).to_latex(), f"${times(f.stated).latex}$",
              f"${times(f.expected).latex}$", r"\fcx") for f in e.findings]
    body = "\n".join(" & ".join(row) + r" \\" for row in rows)
    proof = next((p for p in report.proofs if p.name == "worked_example"), None)
    # the proof states the findings itself; without it, list them here (never twice)
    return rf"""\section{{The worked example}}
The reference analysis takes an $11 \times 11 \times 3$ input, a $3 \times 3$ kernel with stride 2
and padding 1, and 16 output channels. Every number is recomputed by the same cost functions that
give the formulas above.
\begin{{center}}
\begin{{tabular}}{{@{{}}lllc@{{}}}}
\toprule
quantity & stated & computed & agrees \\
\midrule
{body}
\bottomrule
\end{{tabular}}
\end{{center}}
{_findings(e) if proof is None else _proof(proof)}"""


def _findings(example: WorkedExample) -> str:
    items = "\n".join(f"  \\item {f.text.to_latex()}" for f in example.findings)
    items = items or "  \\item none"
    return f"\\paragraph{{Inconsistency found.}}\n\\begin{{itemize}}\n{items}\n\\end{{itemize}}\n"


# --------------------------------------------------------------------------- verdict table


def _order_cells(record: LayerRecord, order: str) -> str:
    res = record.result(order)
    return " & ".join([verdict(res.separable, res.exact), str(res.min_multiplier),
                       fmt_distance(res.relative_distance), fmt_ratio(res.cost_ratio)])


def _verdict_table(source: SourceReport) -> str:
    orders = source.scan.orders
    spec = "@{}r>{\\raggedright\\arraybackslash}p{3.3cm}ll" + "crrr" * len(orders) + "@{}"
    groups = " & ".join(f"\\multicolumn{{4}}{{c}}{{{o}}}" for o in orders)
    rules = "".join(f"\\cmidrule(lr){{{5 + 4 * i}-{8 + 4 * i}}}" for i in range(len(orders)))
    head = " & ".join([r"\#", "layer", "shape", "kind"]
                      + [r"sep. & $T$ & rel.\ dist. & cost"] * len(orders))
    rows = "\n".join(
        f"{layer.index} & {latex_name(layer.record.name)} & {_times(layer.record.shape)} & "
        f"{_kind(layer.record)} & "
        + " & ".join(_order_cells(layer.record, o) for o in orders) + r" \\"
        for layer in source.layers) or "\\multicolumn{4}{l}{no layers} \\\\"
    header = f"\\toprule\n & & & & {groups} \\\\\n{rules}\n{head} \\\\\n\\midrule"
    table, d = longtable(spec, header, [rows]), source.scan.multiplier
    return table + rf"""\noindent\footnotesize sep.: separable with multiplier {d}
(* exact verdict, integer kernel); $T$: fewest terms of an exact DSC; rel.\ dist.: Frobenius
distance to the nearest DSC over the kernel's norm; cost: an exact $T$-term DSC over the standard
layer (MACs for dw-pw, parameters for pw-dw).\normalsize
"""


def _skipped(source: SourceReport) -> str:
    if not source.scan.skipped:
        return ""
    items = "\n".join(f"  \\item {latex_name(s.name)}: {latex_escape(s.reason)}"
                      for s in source.scan.skipped)
    return f"\\paragraph{{Skipped.}}\n\\begin{{itemize}}\n{items}\n\\end{{itemize}}\n"


# --------------------------------------------------------------------------- details


def _factor_text(layer: LayerReport, order: str) -> str:
    shapes = layer.factor_shapes(order)
    parts = [f"{name} {_times(shape)} ({fmt_int(math.prod(shape))} weights)"
             for name, shape in shapes.items()]
    groups = f", pointwise groups $G={layer.record.group}$" if layer.record.group > 1 else ""
    return f"{order}: " + ", then ".join(parts) + groups


def _column_table(layer: LayerReport) -> str:
    """Per-column numbers of the first MAX_COLUMN_ROWS columns; the rest summarized below."""
    d = layer.detail
    width = min(3, d.singular_values.shape[1])
    sigma_head = " & ".join(f"$\\sigma_{k + 1}$" for k in range(width))
    rows = []
    for j in range(min(len(d.energy_kept), MAX_COLUMN_ROWS)):
        sig = " & ".join(fmt_distance(s) for s in d.singular_values[j, :width])
        rows.append(f"{j + 1} & {sig} & {d.ranks[j]} & {fmt_energy(d.energy_kept[j])} & "
                    f"{fmt_distance(1 - d.energy_kept[j])} \\\\")
    return rf"""\begin{{center}}\footnotesize
\begin{{tabular}}{{@{{}}r{'r' * width}rrr@{{}}}}
\toprule
column $j$ & {sigma_head} & rank & energy kept & energy lost \\
\midrule
{chr(10).join(rows)}
\bottomrule
\end{{tabular}}
\end{{center}}
{_more_columns(d)}"""


def _span(low: str, high: str) -> str:
    return low if low == high else f"{low} to {high}"


def omitted_columns(d: SliceDetail) -> str:
    """The sentence, in plain text, on the columns a per-column table leaves out ("" if none).

    Examples
    --------
    >>> import numpy as np
    >>> kept = np.linspace(0.5, 1.0, MAX_COLUMN_ROWS + 3)
    >>> d = SliceDetail("dw-pw", np.ones((len(kept), 3)), kept, np.full(len(kept), 3))
    >>> print(omitted_columns(d))
    Columns 17 to 19 (3 more) are listed in the JSON output (energy kept 0.944444 to 1.000000,
    rank 3).
    """
    rest, ranks = d.energy_kept[MAX_COLUMN_ROWS:], d.ranks[MAX_COLUMN_ROWS:]
    if not len(rest):
        return ""
    which = (f"Column {MAX_COLUMN_ROWS + 1} is" if len(rest) == 1 else
             f"Columns {MAX_COLUMN_ROWS + 1} to {len(d.energy_kept)} ({len(rest)} more) are")
    kept = _span(fmt_energy(rest.min()), fmt_energy(rest.max()))
    rank = _span(str(ranks.min()), str(ranks.max()))
    return f"{which} listed in the JSON output (energy kept {kept}, rank {rank})."


def _more_columns(d: SliceDetail) -> str:
    sentence = omitted_columns(d)
    return rf"\noindent{{\footnotesize {sentence}}}\par\medskip" + "\n" if sentence else ""


def _layer_detail(layer: LayerReport) -> str:
    r = layer.record
    head = rf"\subsection*{{{layer.index}. {latex_name(r.name)}}}"
    lines = [head, (f"Shape {_times(r.shape)} ({r.layout}, {latex_escape(r.dtype)}), "
                   f"kind {_kind(r)}.")]
    if r.trivial:
        return "\n".join([*lines, "Trivially separable: already depthwise or pointwise.", ""])
    items = []
    for order in (o for o in ORDERS if r.result(o) is not None):
        res = r.result(order)
        how = "exactly" if res.exact else "numerically"
        if res.separable:
            items.append(f"\\item {order}: separable ({how}, distance "
                         f"{fmt_distance(res.distance)}); factors "
                         f"{_factor_text(layer, order).split(': ', 1)[1]}.")
        else:
            items.append(f"\\item {order}: not separable; distance {fmt_distance(res.distance)}"
                         f" (relative {fmt_distance(res.relative_distance)}); "
                         f"an exact DSC needs $T = {res.min_multiplier}$ terms.")
    c = layer.costs
    items.append(f"\\item cost per output position (dw-pw, $T$ terms): standard "
                 f"{fmt_int(c.standard_macs)} MACs, DSC {fmt_int(c.dsc_macs)} MACs "
                 f"(ratio {fmt_ratio(c.mac_ratio)}).")
    lines += ["\\begin{itemize}", *items, "\\end{itemize}"]
    if layer.detail is not None:
        lines.append(f"Per column ({layer.detail.order}):")
        lines.append(_column_table(layer))
    return "\n".join(lines) + "\n"


def _energy_stats(layer: LayerReport) -> str:
    kept = layer.detail.energy_kept
    return " & ".join(fmt_energy(v) for v in (kept.min(), statistics.median(kept), kept.max()))


def _distance_table(source: SourceReport) -> str:
    """Per non-trivial layer: distance, energy kept per column (min/median/max), factors."""
    layers = [la for la in source.layers if la.detail is not None]
    if not layers:
        return ""
    order = layers[0].detail.order
    rows = []
    for la in layers:
        res = la.record.result(order)
        factors = _factor_text(la, order).split(": ", 1)[1] if res.separable else "--"
        rows.append(f"{la.index} & {latex_name(la.record.name)} & "
                    f"{fmt_distance(res.distance)} & {fmt_distance(res.relative_distance)} & "
                    f"{_energy_stats(la)} & {factors} \\\\")
    ragged = ">{\\raggedright\\arraybackslash}"
    spec = f"@{{}}r{ragged}p{{3cm}}rrrrr{ragged}p{{4cm}}@{{}}"
    names = (r"\# & layer & distance & rel.\ dist. & \multicolumn{3}{c}{energy kept per column} & "
             r"factors \\")
    header = "\n".join([
        r"\toprule", names,
        r"\cmidrule(lr){5-7}", r" & & & & min & median & max & \\", r"\midrule"])
    title = f"\\subsection*{{How far each layer is ({order})}}\n"
    return title + longtable(spec, header, rows)


def _cost_table(source: SourceReport) -> str:
    """Parameters of every layer against its exact T-term DSC (dw-pw), with totals and shares."""
    if not source.is_model or not source.layers:
        return ""
    rows, std_total, dsc_total = [], 0, 0
    for la in source.layers:
        if la.costs is None:
            params = math.prod(la.canonical_shape)
            std, dsc = params, params
        else:
            std, dsc = la.costs.standard_params, la.costs.dsc_params
        std_total, dsc_total = std_total + std, dsc_total + dsc
        rows.append((la, std, dsc))
    body = "\n".join(
        f"{la.index} & {latex_name(la.record.name)} & {fmt_int(std)} & {fmt_int(dsc)}"
        f" & {fmt_ratio(dsc / std) if std else '--'} & {fmt_percent(100 * std / std_total)}\\% \\\\"
        for la, std, dsc in rows)
    spec = "@{}r>{\\raggedright\\arraybackslash}p{5cm}rrrr@{}"
    header = "\n".join([r"\toprule", r"\# & layer & standard & exact DSC & ratio & share \\",
                        r"\midrule"])
    ratio = fmt_ratio(dsc_total / std_total) if std_total else "--"
    total = rf" & total & {fmt_int(std_total)} & {fmt_int(dsc_total)} & {ratio} & 100.0\% \\"
    return rf"""\subsection*{{Parameter cost of the model (dw-pw, exact $T$-term DSC)}}
Weights of each layer as it is, and of the exact depthwise separable convolution with $T$ terms
that replaces it (trivial layers count unchanged); share: the layer's part of the model's weights.
{longtable(spec, header, [body], tabcolsep="4pt", total=total)}"""


def _source_section(source: SourceReport) -> str:
    title = "Kernels: the built-in demo kernels" if not source.is_model else "Model"
    # the figures follow the heading: start a new page unless the first one fits below it
    room = "10cm" if source.is_model else "16cm"
    parts = [f"\\fcneedspace{{{room}}}\n\\section{{{title}}}",
             (f"Source: {latex_name(source.label, limit=120)}."
             f" Orders: {', '.join(source.scan.orders)}."),
             distance_figure(source), spectra_figure(source), _verdict_table(source),
             _skipped(source)]
    if len(source.layers) <= DETAILED_LAYERS:
        parts += [_layer_detail(la) for la in source.layers]
    else:
        parts.append(_distance_table(source))
    parts.append(_cost_table(source))
    return "\n".join(p for p in parts if p)


def _exact(value: object) -> str:
    """An exact ratio as LaTeX: ``p/q`` of a SymPy rational, with its decimal value."""
    return f"${sympy.latex(value)}$ ({fmt_ratio(float(value))})"


def _network_section(report: Report) -> str:
    """A built-in network's per-layer MACs and parameters, type shares, standard counterpart."""
    if report.network is None:
        return ""
    table, cmp = report.network.separable, report.network
    total = table.total_macs
    rows = "\n".join(
        f"{r.index} & {latex_name(r.name)} & {latex_escape(r.type)} & "
        f"{_times(r.output_shape)} & {fmt_int(r.macs)} & {fmt_int(r.params)} & "
        f"{fmt_percent(100 * r.macs / total)}\\% \\\\" for r in table.rows)
    shares = "\n".join(
        f"{latex_escape(s.type)} & {s.layers} & {fmt_int(s.macs)} & "
        f"{fmt_percent(100 * float(s.macs_share))}\\% & {fmt_int(s.params)} & "
        f"{fmt_percent(100 * float(s.params_share))}\\% \\\\" for s in table.shares())
    spec = "@{}r>{\\raggedright\\arraybackslash}p{3.2cm}llrrr@{}"
    total_row = (rf" & total & & & {fmt_int(table.total_macs)} & {fmt_int(table.total_params)} & "
                 r"100.0\% \\")
    header = ("\\toprule\n\\# & layer & type & output & MACs & parameters & MAC share \\\\\n"
              "\\midrule")
    return rf"""\section{{Network costs: {latex_escape(table.name)}}}
Per input image at {_times(table.input_shape)}, dense MACs and parameters without bias (the
MobileNets paper's convention: batch norm, activations and pooling count nothing).
{longtable(spec, header, [rows], tabcolsep="4pt", total=total_row)}\begin{{center}}\footnotesize
\begin{{tabular}}{{@{{}}lrrrrr@{{}}}}
\toprule
type & layers & MACs & share & parameters & share \\
\midrule
{shares}
\bottomrule
\end{{tabular}}
\end{{center}}
With every depthwise and pointwise pair replaced by the standard convolution it factors, the
network would need {fmt_int(cmp.standard.total_macs)} MACs and {fmt_int(cmp.standard.total_params)}
parameters: the separable network costs {_exact(cmp.mac_ratio)} of the MACs and
{_exact(cmp.param_ratio)} of the parameters.
"""


def render_latex(report: Report) -> str:
    r"""The report as a standalone LaTeX document (pdfLaTeX, two passes for the contents).

    Examples
    --------
    >>> from factorcheck.report.model import build
    >>> tex = render_latex(build(proofs=["cost_ratio"]))
    >>> tex.startswith(r"\documentclass"), r"\begin{fcderivation}" in tex, tex.rstrip()[-14:]
    (True, True, '\\end{document}')
    """
    parts = [_PREAMBLE % {"version": latex_escape(report.version)}, _summary(report),
             _conventions(report), _proof_sections(report), _worked_example(report),
             *(_source_section(s) for s in report.sources), _network_section(report),
             decouple_latex(report.decouple), "\\end{document}\n"]
    return "\n".join(p for p in parts if p)
