r"""The report's decoupling section: what each layer's nearest ``T``-term DSC costs and loses.

For every standard convolution (group 1, more than one tap) of a model, the
section shows the trade-off curve of :func:`factorcheck.tradeoff`: for each
``T`` from 1 to the layer's largest slice rank, the MACs of the ``T``-term
depthwise separable convolution over the layer's, the relative Frobenius
distance of its kernel, and the certified worst-case output error relative
to the layer's own gain, ``E_T / L`` (:func:`factorcheck.error_bound` over
:func:`factorcheck.operator_norm`, at the layer's real input size).  A plan
(``terms=T``, ``energy=E`` or ``rtol=R``, as ``factorcheck decouple`` takes
them) chooses one ``T`` per layer; with ``energy`` or ``rtol`` a layer where
that ``T`` would not cost fewer MACs is kept, with the reason.  The totals
add the chosen plan's MACs and parameters.

Input sizes come from the ONNX model's shapes (:func:`factorcheck.onnx_network.onnx_table`,
``input_shape`` fixing a dynamic input).  Without them (other formats, or an
unfixed input) the curve has no error bounds and MACs are per output position.

:func:`build_decouple` gathers a :class:`DecoupleSection` once;
:func:`decouple_latex`, :func:`decouple_markdown` and
:meth:`DecoupleSection.to_dict` only format it, so the three agree.
"""

from __future__ import annotations

import numbers
import os
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from factorcheck.decouple.bound import error_bound
from factorcheck.decouple.plan import (
    Tradeoff,
    choose_terms,
    compose,
    decouple,
    decoupled_cost,
    tradeoff,
)
from factorcheck.errors import FactorcheckError
from factorcheck.io import read_model
from factorcheck.kernel import as_kernel, to_canonical
from factorcheck.report.escape import latex_escape, latex_name, markdown_escape
from factorcheck.report.numbers import fmt_distance, fmt_energy, fmt_int, fmt_ratio
from factorcheck.symbolic.cost import LayerCost

if TYPE_CHECKING:
    from factorcheck.report.model import SourceReport

__all__ = [
    "DEFAULT_PLAN",
    "DecoupleSection",
    "DecoupledLayer",
    "Plan",
    "build_decouple",
    "decouple_latex",
    "decouple_markdown",
    "parse_plan",
]

#: The plan used when ``--decouple`` is given without one.
DEFAULT_PLAN = "energy=0.9"
#: Trade-off figures drawn per source (the layers with the most MACs); the tables list all.
MAX_FIGURES = 8
#: Log-scale floor: smaller values (zero up to rounding) are drawn at it.
LOG_FLOOR = 1e-16
_TIMES = "$\\times$"
_NO_LAYER = "\\multicolumn{8}{l}{no standard convolution} \\\\"


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """How ``T`` is chosen per layer: ``criterion`` is ``"terms"``, ``"energy"`` or ``"rtol"``.

    Examples
    --------
    >>> str(parse_plan("rtol=0.25")), parse_plan({"terms": 2}).value
    ('rtol=0.25', 2)
    """

    criterion: str
    value: float
    order: str = "dw-pw"

    def __str__(self) -> str:
        return f"{self.criterion}={self.value:g}"


def parse_plan(spec: str | Mapping[str, Any] | Plan | None, order: str = "dw-pw") -> Plan:
    """A :class:`Plan` from ``"energy=0.9"``, ``{"rtol": 0.1}`` or ``None`` (:data:`DEFAULT_PLAN`).

    The value is read with ``int``/``float`` only (never evaluated) and checked
    by :func:`factorcheck.choose_terms`'s rules.

    Examples
    --------
    >>> parse_plan(None)
    Plan(criterion='energy', value=0.9, order='dw-pw')
    >>> parse_plan("size=3")
    Traceback (most recent call last):
    ...
    factorcheck.errors.FactorcheckError: decouple plan 'size=3': expected terms=T, ...
    """
    if isinstance(spec, Plan):
        return spec
    spec = DEFAULT_PLAN if spec is None else spec
    if isinstance(spec, str):
        key, _, text = spec.partition("=")
        items = {key.strip(): text.strip()}
    elif isinstance(spec, Mapping):
        items = dict(spec)
    else:
        items = {}
    error = FactorcheckError(f"decouple plan {spec!r}: expected terms=T, energy=E or rtol=R")
    if len(items) != 1 or next(iter(items)) not in ("terms", "energy", "rtol"):
        raise error
    (criterion, raw), = items.items()
    try:
        value = (int(raw) if criterion == "terms" else float(raw)) if isinstance(raw, str) else raw
    except ValueError:
        raise error from None
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise error
    choose_terms([[[[1.0]]]], **{criterion: value})  # validates the range, with its message
    return Plan(criterion, value, order)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class DecoupledLayer:
    """One standard convolution: its trade-off curve and what the plan does with it.

    Attributes
    ----------
    index : int
        The layer's number in the report (as in the verdict table).
    name : str
        As in the file (escape before display).
    shape : tuple of int
        Canonical ``(n, m, kh, kw)``.
    input_hw, output_hw : tuple of int or None
        The layer's grids, when the model's shapes give them.
    curve : Tradeoff
        :func:`factorcheck.tradeoff` at ``input_hw``.
    terms : int or None
        The plan's ``T``; None when the layer is kept.
    reason : str
        Why the layer is kept ("" when decoupled).
    standard, decoupled : LayerCost
        Costs of the layer and of its replacement (the same when kept); MACs on
        the real grids, or per output position without them.
    relative_distance : float
        Of the chosen ``T`` (0 when kept).
    error_bound : float or None
        Certified bound on ``||conv_K(x) - conv_P(x)|| / ||x||`` for the chosen ``T``.
    """

    index: int
    name: str
    shape: tuple[int, int, int, int]
    input_hw: tuple[int, int] | None
    output_hw: tuple[int, int] | None
    curve: Tradeoff
    terms: int | None
    reason: str
    standard: LayerCost
    decoupled: LayerCost
    relative_distance: float
    error_bound: float | None

    @property
    def relative_error_bound(self) -> float | None:
        """``error_bound / layer_norm`` (None without an input size)."""
        norm = self.curve.layer_norm
        if self.error_bound is None or norm is None:
            return None
        return self.error_bound / norm if norm > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see :meth:`DecoupleSection.to_dict`)."""
        return {
            "index": self.index, "name": self.name, "kernel": list(self.shape),
            "input_hw": _list(self.input_hw), "output_hw": _list(self.output_hw),
            "terms": self.terms, "reason": self.reason,
            "macs_before": self.standard.macs, "macs_after": self.decoupled.macs,
            "params_before": self.standard.params, "params_after": self.decoupled.params,
            "relative_distance": self.relative_distance, "layer_norm": self.curve.layer_norm,
            "error_bound": self.error_bound,
            "tradeoff": [{"terms": r.terms, "macs_ratio": r.macs_ratio,
                          "relative_distance": r.relative_distance,
                          "energy_kept": r.energy_kept,
                          "relative_error_bound": r.relative_error_bound,
                          "error_bound": r.error_bound} for r in self.curve.rows],
        }


def _list(value: tuple[int, ...] | None) -> list[int] | None:
    return None if value is None else list(value)


@dataclass(frozen=True, eq=False)
class DecoupleSection:
    """The decoupling section of one model source.

    Attributes
    ----------
    label : str
        The model's path as given.
    plan : Plan
    layers : tuple of DecoupledLayer
        Every standard convolution, in report order.
    skipped : tuple of (str, str)
        ``(name, reason)`` of the other analysed layers.
    note : str
        Why error bounds or real grids are missing ("" when they are not).
    """

    label: str
    plan: Plan
    layers: tuple[DecoupledLayer, ...]
    skipped: tuple[tuple[str, str], ...]
    note: str

    def total(self, which: str) -> tuple[int, int]:
        """``(before, after)`` sum of ``"macs"`` or ``"params"`` over the standard layers."""
        before = sum(getattr(la.standard, which) for la in self.layers)
        return before, sum(getattr(la.decoupled, which) for la in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form::

            {"label", "plan": {"criterion", "value", "order"}, "note",
             "layers": [{"index", "name", "kernel", "input_hw", "output_hw", "terms", "reason",
                         "macs_before", "macs_after", "params_before", "params_after",
                         "relative_distance", "layer_norm", "error_bound",
                         "tradeoff": [{"terms", "macs_ratio", "relative_distance",
                                       "energy_kept", "relative_error_bound",
                                       "error_bound"}]}],
             "skipped": [{"name", "reason"}],
             "totals": {"macs_before", "macs_after", "params_before", "params_after"}}
        """
        macs, params = self.total("macs"), self.total("params")
        return {
            "label": self.label,
            "plan": {"criterion": self.plan.criterion, "value": self.plan.value,
                     "order": self.plan.order},
            "note": self.note, "layers": [la.to_dict() for la in self.layers],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "totals": {"macs_before": macs[0], "macs_after": macs[1],
                       "params_before": params[0], "params_after": params[1]},
        }


# --------------------------------------------------------------------------- building


def _grids(path: str, input_shape: Sequence[int] | None) -> tuple[dict, str]:
    """Conv name -> queue of ``(input_hw, output_hw)`` from the ONNX shapes, and a note."""
    from factorcheck.onnx_network import onnx_table

    try:
        table = onnx_table(path, input_shape=None if input_shape is None else tuple(input_shape))
    except FactorcheckError as err:
        return {}, f"no input sizes ({err}): no error bounds; MACs per output position"
    grids: dict[str, deque] = defaultdict(deque)
    for row in table.rows:
        if row.kernel is not None:
            grids[row.name].append((tuple(row.input_shape[1:]), tuple(row.output_shape[1:])))
    return grids, ""


def _padding_for(input_hw: tuple[int, int], output_hw: tuple[int, int], extent: tuple[int, int],
                 stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding (all at the end) that gives ``output_hw``: the bound does not depend on it,
    the "pw-dw" MACs only through the output grid, so ONNX ``auto_pad`` needs no rules here."""
    total = [max(0, (o - 1) * s + e - i)
             for i, o, e, s in zip(input_hw, output_hw, extent, stride, strict=True)]
    return (0, total[0]), (0, total[1])


def _choose(kernel: Any, curve: Tradeoff, plan: Plan, grids: tuple) -> tuple[int, str]:
    """``(T, reason)``: the plan's ``T``, and a reason when the layer is kept."""
    t = choose_terms(kernel, order=plan.order, **{plan.criterion: plan.value})
    if plan.criterion == "terms":
        return t, ""
    standard, dsc = decoupled_cost(curve.shape, t, order=plan.order, input_hw=grids[0],
                                   output_hw=grids[1])
    if dsc.macs < standard.macs:
        return t, ""
    return t, (f"the smallest T meeting {plan} is {t}, which costs "
               f"{fmt_ratio(dsc.macs / standard.macs)} of the layer's MACs")


def _layer(index: int, name: str, kernel: Any, plan: Plan, grids: tuple | None,
           geometry: dict[str, Any]) -> DecoupledLayer:
    in_hw, out_hw = grids if grids is not None else (None, None)
    curve = tradeoff(kernel, in_hw, order=plan.order, **geometry)
    per = grids if grids is not None else ((1, 1), (1, 1))
    t, reason = _choose(kernel, curve, plan, per)
    standard, dsc = decoupled_cost(curve.shape, t, order=plan.order, input_hw=per[0],
                                   output_hw=per[1])
    if reason:
        return DecoupledLayer(index, name, curve.shape, in_hw, out_hw, curve, None, reason,
                              standard, standard, 0.0, 0.0 if in_hw is not None else None)
    approx = compose(decouple(kernel, terms=t, order=plan.order))
    bound = None if in_hw is None else error_bound(kernel, approx, in_hw, **geometry)
    distance = curve.rows[min(t, len(curve.rows)) - 1].relative_distance
    return DecoupledLayer(index, name, curve.shape, in_hw, out_hw, curve, t, "", standard, dsc,
                          distance, bound)


def _geometry(record: Any, grids: tuple | None, shape: tuple[int, ...]) -> dict[str, Any]:
    dilation = tuple(record.dilations or (1, 1))
    stride = tuple(record.strides or (1, 1))
    if grids is None:
        return {"dilation": dilation}
    extent = tuple(d * (k - 1) + 1 for d, k in zip(dilation, shape[2:], strict=True))
    return {"dilation": dilation, "stride": stride,
            "padding": _padding_for(grids[0], grids[1], extent, stride)}


def _skip_reason(record: Any) -> str:
    if record.conv_dims != 2:
        return "1-D convolution: the rewrite handles 2-D convolutions"
    if record.kind != "standard":
        return f"{record.kind} layer: only standard convolutions (group 1, k > 1x1) are rewritten"
    return ""


def build_decouple(source: SourceReport, plan: Plan, *, input_shape: Sequence[int] | None = None,
                   allow_external_data: bool = True) -> DecoupleSection:
    """The decoupling section of one model source (see the module docstring).

    The weights are read again through :func:`factorcheck.io.read_model` (the
    scan keeps no arrays); the input sizes come from :func:`_grids`.

    Examples
    --------
    >>> import os, tempfile, numpy as np, onnx
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> from factorcheck.report.model import build
    >>> w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(16, 4, 3, 3))
    ...                             .astype(np.float32), "w")
    >>> node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[1, 1, 1, 1])
    >>> graph = helper.make_graph(
    ...     [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> onnx.save(helper.make_model(graph), path)
    >>> source = build([path], proofs=[]).sources[0]
    >>> section = build_decouple(source, parse_plan("terms=2"))
    >>> layer, = section.layers
    >>> layer.terms, layer.input_hw, layer.standard.macs, layer.decoupled.macs
    (2, (8, 8), 36864, 12800)
    >>> 0 < layer.relative_error_bound < 1
    True
    """
    path = source.label
    contents = read_model(path, allow_external_data=allow_external_data)
    stored: dict[str, deque] = defaultdict(deque)
    for k in contents.kernels:
        stored[k.name].append(k)
    is_onnx = contents.format == "onnx"
    grids, note = _grids(path, input_shape) if is_onnx else (
        {}, "not an ONNX model: no input sizes, no error bounds; MACs per output position")
    layers, skipped = [], []
    for report_layer in source.layers:
        record = report_layer.record
        weight = stored[record.name].popleft() if stored[record.name] else None
        grid = grids[record.name].popleft() if grids.get(record.name) else None
        reason = _skip_reason(record)
        if reason or weight is None:
            skipped.append((record.name, reason or "weight not found again in the file"))
            continue
        kernel = as_kernel(to_canonical(weight.load(), record.layout))
        geometry = _geometry(record, grid, kernel.shape)
        layers.append(_layer(report_layer.index, record.name, kernel, plan, grid, geometry))
    return DecoupleSection(os.fspath(path), plan, tuple(layers), tuple(skipped), note)


# --------------------------------------------------------------------------- LaTeX


def _bound_text(value: float | None) -> str:
    return "--" if value is None else fmt_distance(value)


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
    return rows


def _latex_plan_table(section: DecoupleSection) -> str:
    rows = []
    for la in section.layers:
        t = "kept" if la.terms is None else str(la.terms)
        size = "--" if la.input_hw is None else _TIMES.join(map(str, la.input_hw))
        ratio = fmt_ratio(la.decoupled.macs / la.standard.macs)
        kernel = _TIMES.join(map(str, la.shape))
        rows.append(f"{la.index} & {latex_name(la.name, limit=40)} & "
                    f"{kernel} & {size} & {t} & {ratio} & "
                    f"{fmt_distance(la.relative_distance)} & "
                    f"{_bound_text(la.relative_error_bound)} \\\\")
    spec = "@{}r>{\\raggedright\\arraybackslash}p{3.6cm}llrrrr@{}"
    header = ("\\toprule\n\\# & layer & kernel & input & $T$ & MACs ratio & rel.\\ dist. & "
              "$E_T/L$ \\\\\n\\midrule")
    return rf"""\begingroup\footnotesize\setlength{{\tabcolsep}}{{3pt}}
\begin{{longtable}}{{{spec}}}
{header}
\endfirsthead
{header}
\endhead
\bottomrule
\endfoot
{chr(10).join(rows) or _NO_LAYER}
\end{{longtable}}
\endgroup
"""


def _coords(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """Points with a value above :data:`LOG_FLOOR` (exact rows, zero up to rounding, are left
    out: on a log axis they would squash the rest of the curve)."""
    return " ".join(f"({x:.5f},{float(y):.4e})" for x, y in zip(xs, ys, strict=True)
                    if y is not None and y > LOG_FLOOR)


def _latex_plot(la: DecoupledLayer) -> str:
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
            rows.append(f"{index} & {name} & {r.terms}{mark} & {fmt_ratio(r.macs_ratio)} & "
                        f"{fmt_distance(r.relative_distance)} & {fmt_energy(r.energy_kept)} & "
                        f"{_bound_text(r.relative_error_bound)} \\\\")
        rows.append("\\midrule")
    if rows:
        rows.pop()
    spec = "@{}r>{\\raggedright\\arraybackslash}p{3.6cm}rrrrr@{}"
    header = ("\\toprule\n\\# & layer & $T$ & MACs ratio & rel.\\ dist. & energy kept & "
              "$E_T/L$ \\\\\n\\midrule")
    return rf"""\subsection*{{Trade-off per layer}}
\begingroup\footnotesize\setlength{{\tabcolsep}}{{3pt}}
\begin{{longtable}}{{{spec}}}
{header}
\endfirsthead
{header}
\endhead
\bottomrule
\endfoot
{chr(10).join(rows)}
\end{{longtable}}
\endgroup
\noindent\footnotesize $\ast$: the plan's $T$; energy kept: the smallest share of a column's
squared norm kept; the last row of a layer is exact ($T$ = its largest column rank).\normalsize
"""


def _latex_skipped(section: DecoupleSection) -> str:
    kept = [(la.name, la.reason) for la in section.layers if la.terms is None]
    items = [f"  \\item {latex_name(n)}: kept, {latex_escape(r)}" for n, r in kept]
    items += [f"  \\item {latex_name(n)}: {latex_escape(r)}" for n, r in section.skipped]
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
        plan_rows = [[str(la.index), markdown_escape(la.name, limit=40),
                      "×".join(map(str, la.shape)),
                      "--" if la.input_hw is None else "×".join(map(str, la.input_hw)),
                      "kept" if la.terms is None else str(la.terms),
                      fmt_ratio(la.decoupled.macs / la.standard.macs),
                      fmt_distance(la.relative_distance), _bound_text(la.relative_error_bound)]
                     for la in s.layers]
        curve_rows = [[str(la.index), markdown_escape(la.name, limit=40),
                       f"{r.terms}{' *' if r.terms == la.terms else ''}",
                       fmt_ratio(r.macs_ratio), fmt_distance(r.relative_distance),
                       fmt_energy(r.energy_kept), _bound_text(r.relative_error_bound)]
                      for la in s.layers for r in la.curve.rows]
        kept = [f"- {markdown_escape(n)}: kept, {markdown_escape(r, limit=None)}"
                for n, r in ((la.name, la.reason) for la in s.layers if la.terms is None)]
        kept += [f"- {markdown_escape(n)}: {markdown_escape(r, limit=None)}"
                 for n, r in s.skipped]
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
