"""Render a :class:`~factorcheck.report.model.Report` as Markdown for a code hosting site.

Formulas are written for GitHub's math support: ``$...$`` inline and ``$$``
blocks, every formula from :func:`sympy.latex`.  Names from files go through
:func:`~factorcheck.report.escape.markdown_escape`; numbers through
:mod:`factorcheck.report.numbers`, as in the LaTeX report.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

import sympy

from factorcheck.display import layer_kind
from factorcheck.report.decouple_text import decouple_markdown
from factorcheck.report.escape import markdown_escape
from factorcheck.report.latex import (
    DETAILED_LAYERS,
    MAX_COLUMN_ROWS,
    PROOF_SECTIONS,
    omitted_columns,
)
from factorcheck.report.model import LayerReport, Report, SourceReport
from factorcheck.report.numbers import (
    fmt_energy,
    fmt_int,
    fmt_percent,
    fmt_ratio,
    verdict,
)
from factorcheck.report.prose import ORDER_TEXT, finding_label, times
from factorcheck.report.prose import distance_math as fmt_distance
from factorcheck.separability import ORDERS
from factorcheck.symbolic.derivation import Proof

__all__ = ["render_markdown"]



def _md(text: str) -> str:
    """Escape trusted prose (never shortened)."""
    return markdown_escape(text, limit=None)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    align = align or "l" * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _shape(shape: Sequence[int]) -> str:
    return f"${times(shape).latex}$"


# --------------------------------------------------------------------------- proofs


def _proof(proof: Proof) -> str:
    return proof.to_markdown("###")


def _proofs(report: Report) -> str:
    by_name = {p.name: p for p in report.proofs}
    placed = {n for names in PROOF_SECTIONS.values() for n in names} | {"worked_example"}
    parts = []
    for title, names in PROOF_SECTIONS.items():
        chosen = [by_name[n] for n in names if n in by_name]
        if chosen:
            parts += [f"## {title}", "", *(_proof(p) for p in chosen)]
    rest = [p for p in report.proofs if p.name not in placed]
    if rest:
        parts += ["## Further proofs", "", *(_proof(p) for p in rest)]
    return "\n".join(parts)


# --------------------------------------------------------------------------- front matter


def _front(report: Report) -> str:
    verified = sum(p.ok for p in report.proofs)
    e = report.worked_example
    lines = ["# Depthwise separable convolution, verified", "",
             f"*A factorcheck {report.version} report.*", "", "## Summary", "",
             f"- {verified} of {len(report.proofs)} proofs verified in every step.",
             (f"- Worked example: the separable layer costs ${e.ratio.p}/{e.ratio.q}$ of the "
             f"standard one; {len(e.findings)} inconsistency found in the text.")]
    for source in report.sources:
        s = source.scan.summary()
        per_order = "; ".join(f"{o}: {s.separable[o]} of {s.layers - s.trivial} separable"
                              for o in source.scan.orders)
        lines.append(f"- {markdown_escape(source.label)}: {s.layers} layers analysed "
                     f"({s.trivial} trivial, {s.skipped} skipped); {per_order}.")
    orders = "\n".join(f"- **{o}**: {ORDER_TEXT[o].to_markdown()}." for o in ORDERS)
    lines += ["", "## Conventions", "",
              ("- **MACs**: multiply-accumulates, one per product of a weight and an input value "
              "formed by the dense convolution, padded zeros included. A standard convolution "
              "costs $D_p^2 D_k^2 M N$ MACs."),
              ("- **FLOPs**: multiplications plus additions; without bias "
              "$2\\,\\mathrm{MACs} - D_p^2 N$, with bias exactly $2\\,\\mathrm{MACs}$. Costs are "
              "MACs unless stated otherwise."),
              "- **Parameters**: weights, plus biases where stated.",
              ("- **Verified**: every step is checked by SymPy when the report is built "
              "(✓ verified, ? undecided, ✗ false)."), "",
              ("A kernel with $n$ outputs and $m$ inputs is a depthwise separable convolution "
               "(DSC) with $T$ terms in the order"), "", orders, "",
              (f"Verdicts test multiplier $d = {report.options['multiplier']}$; $T$ is the fewest "
              "terms of an exact decomposition."), ""]
    return "\n".join(lines)


def _worked_example(report: Report) -> str:
    e = report.worked_example
    rows = [("output size $D_p$", "6", str(e.output_size), "✓"),
            ("standard output", _shape((6, 6, 16)), _shape(e.standard_output), "✓"),
            ("depthwise output", _shape((6, 6, 3)), _shape(e.depthwise_output), "✓"),
            ("pointwise output", _shape((6, 6, 16)), _shape(e.pointwise_output), "✓"),
            ("standard MACs", "", fmt_int(e.standard_macs), ""),
            ("depthwise + pointwise MACs", "",
             f"{fmt_int(e.depthwise_macs)} + {fmt_int(e.pointwise_macs)}", ""),
            ("MAC ratio", r"$\frac{1}{N} + \frac{1}{D_k^2}$", f"${e.ratio.p}/{e.ratio.q}$", "✓")]
    rows += [(finding_label(f.quantity).to_markdown(), f"${times(f.stated).latex}$",
              f"${times(f.expected).latex}$", "✗") for f in e.findings]
    parts = ["## The worked example", "",
             (f"The reference analysis takes an {_shape((11, 11, 3))} input, a {_shape((3, 3))} "
              "kernel with stride 2 and padding 1, and 16 output channels."), "",
             _table(["quantity", "stated", "computed", "agrees"], rows), ""]
    proof = next((p for p in report.proofs if p.name == "worked_example"), None)
    if proof is not None:  # the proof states the findings itself (never twice)
        parts.append(_proof(proof))
    else:
        items = [f"- {f.text.to_markdown()}" for f in e.findings]
        parts += ["**Inconsistency found.**", "", *items, ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------- sources


def _kind(layer: LayerReport) -> str:
    """:func:`~factorcheck.display.layer_kind`, its group count set in math (``$G = 2$``)."""
    r = layer.record
    return layer_kind(r).replace(f"G={r.group}", f"$G = {r.group}$", 1)


def _verdicts(source: SourceReport) -> str:
    header = ["#", "layer", "shape", "kind"]
    for o in source.scan.orders:
        header += [f"{o} sep.", "$T$", "rel. dist.", "cost"]
    rows = []
    for la in source.layers:
        row = [str(la.index), markdown_escape(la.record.name), _shape(la.record.shape), _kind(la)]
        for o in source.scan.orders:
            res = la.record.result(o)
            row += [verdict(res.separable, res.exact), str(res.min_multiplier),
                    fmt_distance(res.relative_distance), fmt_ratio(res.cost_ratio)]
        rows.append(row)
    align = "rlll" + "lrrr" * len(source.scan.orders)
    return (_table(header, rows, align) + "\n\n*sep.*: separable with multiplier "
            f"{source.scan.multiplier} (\\* exact verdict, integer kernel); $T$: fewest terms of "
            "an exact DSC; *rel. dist.*: Frobenius distance to the nearest DSC over the kernel's "
            "norm; *cost*: an exact $T$-term DSC over the standard layer (MACs for dw-pw, "
            "parameters for pw-dw).\n")


def _factors(layer: LayerReport, order: str) -> str:
    shapes = layer.factor_shapes(order)
    text = ", then ".join(f"{name} {_shape(s)}" for name, s in shapes.items())
    return text + (f", pointwise groups $G = {layer.record.group}$" if layer.record.group > 1
                   else "")


def _layer_detail(layer: LayerReport) -> str:
    r = layer.record
    lines = [f"### {layer.index}. {markdown_escape(r.name)}", "",
             f"Shape {_shape(r.shape)} ({r.layout}, {_md(r.dtype)}), kind {_kind(layer)}.", ""]
    if r.trivial:
        return "\n".join([*lines, "Trivially separable: already depthwise or pointwise.", ""])
    for order in (o for o in ORDERS if r.result(o) is not None):
        res = r.result(order)
        how = "exactly" if res.exact else "numerically"
        if res.separable:
            lines.append(f"- {order}: separable ({how}, distance {fmt_distance(res.distance)});"
                         f" factors {_factors(layer, order)}.")
        else:
            lines.append(f"- {order}: not separable; distance {fmt_distance(res.distance)} "
                         f"(relative {fmt_distance(res.relative_distance)}); an exact DSC needs "
                         f"$T = {res.min_multiplier}$ terms.")
    c = layer.costs
    lines += [(f"- cost per output position (dw-pw, $T$ terms): standard {fmt_int(c.standard_macs)}"
              f" MACs, DSC {fmt_int(c.dsc_macs)} MACs (ratio {fmt_ratio(c.mac_ratio)})."), ""]
    d = layer.detail
    if d is not None:
        width = min(3, d.singular_values.shape[1])
        rows = [[str(j + 1), *(fmt_distance(s) for s in d.singular_values[j, :width]),
                 str(d.ranks[j]), fmt_energy(d.energy_kept[j]), fmt_distance(1 - d.energy_kept[j])]
                for j in range(min(len(d.energy_kept), MAX_COLUMN_ROWS))]
        header = ["column $j$", *(f"$\\sigma_{k + 1}$" for k in range(width)), "rank",
                  "energy kept", "energy lost"]
        lines += [f"Per column ({d.order}):", "", _table(header, rows, "r" * len(header)), ""]
        if omitted_columns(d):
            lines += [_md(omitted_columns(d)), ""]
    return "\n".join(lines)


def _distance_table(source: SourceReport) -> str:
    layers = [la for la in source.layers if la.detail is not None]
    if not layers:
        return ""
    order = layers[0].detail.order
    rows = []
    for la in layers:
        res = la.record.result(order)
        kept = la.detail.energy_kept
        rows.append([str(la.index), markdown_escape(la.record.name),
                     fmt_distance(res.distance), fmt_distance(res.relative_distance),
                     fmt_energy(kept.min()), fmt_energy(statistics.median(kept)),
                     fmt_energy(kept.max()), _factors(la, order) if res.separable else "–"])
    header = ["#", "layer", "distance", "rel. dist.", "energy kept min", "median", "max",
              "factors"]
    return f"### How far each layer is ({order})\n\n" + _table(header, rows, "rlrrrrrl") + "\n"


def _cost_table(source: SourceReport) -> str:
    if not source.is_model or not source.layers:
        return ""
    rows, std_total, dsc_total = [], 0, 0
    for la in source.layers:
        std = la.costs.standard_params if la.costs else _params(la)
        dsc = la.costs.dsc_params if la.costs else std
        std_total, dsc_total = std_total + std, dsc_total + dsc
        rows.append((la, std, dsc))
    body = [[str(la.index), markdown_escape(la.record.name), fmt_int(std), fmt_int(dsc),
             fmt_ratio(dsc / std) if std else "–", f"{fmt_percent(100 * std / std_total)}%"]
            for la, std, dsc in rows]
    body.append(["", "**total**", fmt_int(std_total), fmt_int(dsc_total),
                 fmt_ratio(dsc_total / std_total) if std_total else "–", "100.0%"])
    return ("### Parameter cost of the model (dw-pw, exact $T$-term DSC)\n\n"
            + _table(["#", "layer", "standard", "exact DSC", "ratio", "share"], body, "rlrrrr")
            + "\n")


def _params(layer: LayerReport) -> int:
    n, m_g, kh, kw = layer.canonical_shape
    return n * m_g * kh * kw


def _source(source: SourceReport) -> str:
    title = "Kernels: the built-in demo kernels" if not source.is_model else "Model"
    parts = [f"## {title}", "", (f"Source: {markdown_escape(source.label, limit=120)}. Orders: "
             f"{', '.join(source.scan.orders)}."), "", _verdicts(source)]
    if source.scan.skipped:
        parts += ["**Skipped.**", "", *(f"- {markdown_escape(s.name)}: {_md(s.reason)}"
                                       for s in source.scan.skipped), ""]
    if len(source.layers) <= DETAILED_LAYERS:
        parts += [_layer_detail(la) for la in source.layers]
    else:
        parts.append(_distance_table(source))
    parts.append(_cost_table(source))
    return "\n".join(p for p in parts if p is not None)


def _network(report: Report) -> str:
    """A built-in network's per-layer MACs and parameters, type shares, standard counterpart."""
    if report.network is None:
        return ""
    table, cmp = report.network.separable, report.network
    total = table.total_macs
    rows = [[str(r.index), markdown_escape(r.name), r.type, _shape(r.output_shape),
             fmt_int(r.macs), fmt_int(r.params), f"{fmt_percent(100 * r.macs / total)}%"]
            for r in table.rows]
    rows.append(["", "**total**", "", "", fmt_int(table.total_macs), fmt_int(table.total_params),
                 "100.0%"])
    shares = [[s.type, str(s.layers), fmt_int(s.macs), f"{fmt_percent(100 * float(s.macs_share))}%",
               fmt_int(s.params), f"{fmt_percent(100 * float(s.params_share))}%"]
              for s in table.shares()]
    return "\n".join([
        f"## Network costs: {_md(table.name)}", "",
        (f"Per input image at {_shape(table.input_shape)}, dense MACs and parameters without bias "
        "(batch norm, activations and pooling count nothing)."), "",
        _table(["#", "layer", "type", "output", "MACs", "parameters", "MAC share"], rows,
               "rlllrrr"), "",
        _table(["type", "layers", "MACs", "share", "parameters", "share"], shares, "lrrrrr"), "",
        (f"With every depthwise and pointwise pair replaced by the standard convolution it "
        f"factors, the network would need {fmt_int(cmp.standard.total_macs)} MACs and "
        f"{fmt_int(cmp.standard.total_params)} parameters: the separable network costs "
        f"${sympy.latex(cmp.mac_ratio)}$ ({fmt_ratio(float(cmp.mac_ratio))}) of the MACs and "
        f"${sympy.latex(cmp.param_ratio)}$ ({fmt_ratio(float(cmp.param_ratio))}) of the "
        "parameters."), ""])


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown with ``$`` math.

    Examples
    --------
    >>> from factorcheck.report.model import build
    >>> md = render_markdown(build(proofs=["worked_example"]))
    >>> md.splitlines()[0], "25/144" in md
    ('# Depthwise separable convolution, verified', True)
    """
    network = _network(report)
    parts = [_front(report), _proofs(report), _worked_example(report),
             *(_source(s) for s in report.sources), network, decouple_markdown(report.decouple)]
    return "\n".join(p for p in parts if p).rstrip() + "\n"
