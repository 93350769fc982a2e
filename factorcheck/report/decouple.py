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

Input sizes come from the ONNX model's shapes (:func:`factorcheck.network.onnx_table`,
``input_shape`` fixing a dynamic input).  Without them (other formats, or an
unfixed input) the curve has no error bounds and MACs are per output position.

:func:`build_decouple` gathers a :class:`DecoupleSection` once;
:mod:`factorcheck.report.decouple_text` (LaTeX, Markdown) and
:meth:`DecoupleSection.to_dict` (JSON) only format it, so the three agree.
"""

from __future__ import annotations

import numbers
import os
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from factorcheck.decouple.bound import error_bound
from factorcheck.decouple.layer import layer_geometry, not_rewritten, plan_layer
from factorcheck.decouple.plan import Tradeoff, choose_terms, composed, decouple, tradeoff
from factorcheck.errors import FactorcheckError
from factorcheck.io import read_model
from factorcheck.kernel import as_kernel, to_canonical
from factorcheck.symbolic.cost import LayerCost

if TYPE_CHECKING:
    from factorcheck.report.model import SourceReport

__all__ = [
    "DEFAULT_PLAN",
    "DecoupleSection",
    "PlannedLayer",
    "Plan",
    "build_decouple",
    "parse_plan",
]

#: The plan used when ``--decouple`` is given without one.
DEFAULT_PLAN = "energy=0.9"


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
class PlannedLayer:
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
    layers : tuple of PlannedLayer
        Every standard convolution, in report order.
    skipped : tuple of (str, str)
        ``(name, reason)`` of the other analysed layers.
    note : str
        Why error bounds or real grids are missing ("" when they are not).
    model_macs : int or None
        MACs of the whole model (every Conv, Gemm and MatMul, per sample), when
        its shapes are known; the plan saves ``total("macs")[0] - total("macs")[1]`` of them.
    """

    label: str
    plan: Plan
    layers: tuple[PlannedLayer, ...]
    skipped: tuple[tuple[str, str], ...]
    note: str
    model_macs: int | None = None

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
             "totals": {"macs_before", "macs_after", "params_before", "params_after",
                        "model_macs_before", "model_macs_after"}}   # model: null unknown
        """
        macs, params = self.total("macs"), self.total("params")
        return {
            "label": self.label,
            "plan": {"criterion": self.plan.criterion, "value": self.plan.value,
                     "order": self.plan.order},
            "note": self.note, "layers": [la.to_dict() for la in self.layers],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "totals": {"macs_before": macs[0], "macs_after": macs[1],
                       "params_before": params[0], "params_after": params[1],
                       "model_macs_before": self.model_macs,
                       "model_macs_after": None if self.model_macs is None
                       else self.model_macs - macs[0] + macs[1]},
        }


# --------------------------------------------------------------------------- building


def _grids(path: str, input_shape: Sequence[int] | None) -> tuple[dict, str, int | None]:
    """Conv name -> queue of ``(input_hw, output_hw)`` from the ONNX shapes, a note, and the
    model's MACs (every Conv, Gemm and MatMul, as ``factorcheck network`` counts them)."""
    from factorcheck.decouple.onnx import conv_grids

    try:
        grids, macs = conv_grids(path, None if input_shape is None else tuple(input_shape))
    except FactorcheckError as err:
        return {}, f"no input sizes ({err}): no error bounds; MACs per output position", None
    return {name: deque(found) for name, found in grids.items()}, "", macs


def _layer(index: int, name: str, kernel: Any, plan: Plan, grids: tuple | None,
           geometry: dict[str, Any]) -> PlannedLayer:
    in_hw, out_hw = grids if grids is not None else (None, None)
    curve = tradeoff(kernel, in_hw, order=plan.order, **geometry)
    per = grids if grids is not None else ((1, 1), (1, 1))
    chosen = plan_layer(kernel, order=plan.order, input_hw=per[0], output_hw=per[1],
                        **{plan.criterion: plan.value})
    if not chosen.rewritten:
        return PlannedLayer(index, name, curve.shape, in_hw, out_hw, curve, None, chosen.reason,
                            chosen.standard, chosen.standard, 0.0,
                            0.0 if in_hw is not None else None)
    approx = composed(decouple(kernel, terms=chosen.terms, order=plan.order))
    bound = None if in_hw is None else error_bound(kernel, approx, in_hw, **geometry)
    return PlannedLayer(index, name, curve.shape, in_hw, out_hw, curve, chosen.terms, "",
                        chosen.standard, chosen.decoupled, chosen.relative_distance, bound)


def _geometry(record: Any, grids: tuple | None, shape: tuple[int, ...]) -> dict[str, Any]:
    dilation = tuple(record.dilations or (1, 1))
    if grids is None:
        return {"dilation": dilation}
    return layer_geometry(shape[2:], grids[0], grids[1], stride=tuple(record.strides or (1, 1)),
                          dilation=dilation)


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
    grids, note, model_macs = _grids(path, input_shape) if is_onnx else (
        {}, "not an ONNX model: no input sizes, no error bounds; MACs per output position", None)
    layers, skipped = [], []
    for report_layer in source.layers:
        record = report_layer.record
        weight = stored[record.name].popleft() if stored[record.name] else None
        grid = grids[record.name].popleft() if grids.get(record.name) else None
        reason = not_rewritten(record.conv_dims, report_layer.canonical_shape, record.group)
        if reason or weight is None:
            skipped.append((record.name, reason or "weight not found again in the file"))
            continue
        try:
            kernel = as_kernel(to_canonical(weight.load(), record.layout))
            geometry = _geometry(record, grid, kernel.shape)
            layers.append(_layer(report_layer.index, record.name, kernel, plan, grid, geometry))
        except FactorcheckError as err:  # one odd layer does not sink the report
            skipped.append((record.name, f"could not be planned: {err}"))
    return DecoupleSection(os.fspath(path), plan, tuple(layers), tuple(skipped), note,
                           model_macs)
