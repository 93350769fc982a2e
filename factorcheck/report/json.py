"""The report as versioned JSON (:data:`SCHEMA_VERSION`).

Top level::

    {
      "schema_version": 1,
      "generator": {"name": "factorcheck", "version": "0.1.0"},
      "ok": true,                       # every proof verified
      "options": {"orders": [...], "multiplier": 1, "rtol": null, "layer": null,
                  "layout": null, "network": null},
      "proofs": [{"name", "title", "ok", "summary", "findings": [str],
                  "derivations": [{"title", "ok", "start": latex,
                                   "steps": [{"relation", "expr": latex, "justification",
                                              "status", "method"}]}]}],
      "worked_example": {"output_size", "standard_output", "depthwise_output",
                         "pointwise_output", "standard_macs", "depthwise_macs",
                         "pointwise_macs", "ratio": "25/144", "ratio_value",
                         "findings": [{"quantity", "stated", "expected", "explanation"}]},
      "sources": [{"label", "is_model",
                   "scan": <exactly `factorcheck check --json` for this source>,
                   "layers": [{"index", "name", "canonical_shape",
                               "costs": {"standard_macs_per_position", "dsc_macs_per_position",
                                         "standard_params", "dsc_params", "mac_ratio"} | null,
                               "factors": {order: {"depthwise": shape, "pointwise": shape}}
                                          | null,
                               "slices": {"order", "energy_kept": [float], "ranks": [int],
                                          "singular_values": [[float]]} | null}]}],
      "network": <the network table's to_dict()> | null,
      "decouple": [<DecoupleSection.to_dict()>, one per model]   # only with --decouple
    }

``sources[i].layers[k]`` describes the same layer as ``sources[i].scan.layers[k]``
(same name, same position); ``scan`` is produced by
:meth:`factorcheck.scan.ScanResult.to_dict`, so its numbers are those of
``factorcheck check --json``.  Names are verbatim (never shortened or escaped).
``costs`` and ``slices`` are for the order in ``slices.order`` (``"dw-pw"`` when
scanned); they are ``null`` for trivial layers.  ``factors`` lists, for each
order in which the layer is separable, the shapes (OIHW) of the two factors.
"""

from __future__ import annotations

import json
from typing import Any

import sympy

from factorcheck.report.model import LayerReport, Report, SourceReport
from factorcheck.symbolic.derivation import Derivation, Proof
from factorcheck.symbolic.worked_example import WorkedExample

__all__ = ["SCHEMA_VERSION", "render_json", "report_dict"]

#: Version of the report JSON; bumped on any incompatible change.
SCHEMA_VERSION = 1


def _derivation_dict(d: Derivation) -> dict[str, Any]:
    return {
        "title": d.title, "ok": d.ok, "start": sympy.latex(d.start),
        "steps": [{"relation": s.relation, "expr": sympy.latex(s.expr),
                   "justification": s.justification, "status": s.status.value,
                   "method": s.method} for s in d.steps],
    }


def _proof_dict(p: Proof) -> dict[str, Any]:
    return {"name": p.name, "title": p.title, "ok": p.ok, "summary": p.summary,
            "findings": list(p.findings),
            "derivations": [_derivation_dict(d) for d in p.derivations]}


def _example_dict(e: WorkedExample) -> dict[str, Any]:
    return {
        "output_size": e.output_size, "standard_output": list(e.standard_output),
        "depthwise_output": list(e.depthwise_output), "pointwise_output": list(e.pointwise_output),
        "standard_macs": e.standard_macs, "depthwise_macs": e.depthwise_macs,
        "pointwise_macs": e.pointwise_macs, "ratio": str(e.ratio), "ratio_value": float(e.ratio),
        "findings": [{"quantity": f.quantity, "stated": list(f.stated),
                      "expected": list(f.expected), "explanation": f.explanation}
                     for f in e.findings],
    }


def _layer_dict(layer: LayerReport) -> dict[str, Any]:
    c, d = layer.costs, layer.detail
    factors = {o: {k: list(v) for k, v in layer.factor_shapes(o).items()}
               for o in ("dw-pw", "pw-dw")
               if (res := layer.record.result(o)) is not None and res.separable}
    return {
        "index": layer.index, "name": layer.record.name,
        "canonical_shape": list(layer.canonical_shape),
        "costs": None if c is None else {
            "standard_macs_per_position": c.standard_macs, "dsc_macs_per_position": c.dsc_macs,
            "standard_params": c.standard_params, "dsc_params": c.dsc_params,
            "mac_ratio": c.mac_ratio},
        "factors": None if layer.record.trivial else factors,
        "slices": None if d is None else {
            "order": d.order, "energy_kept": d.energy_kept.tolist(), "ranks": d.ranks.tolist(),
            "singular_values": d.singular_values.tolist()},
    }


def _source_dict(source: SourceReport) -> dict[str, Any]:
    return {"label": source.label, "is_model": source.is_model, "scan": source.scan.to_dict(),
            "layers": [_layer_dict(layer) for layer in source.layers]}


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON-ready form of a report (see the module docstring for the schema).

    Examples
    --------
    >>> from factorcheck.report.model import build
    >>> d = report_dict(build(proofs=["worked_example"]))
    >>> d["schema_version"], d["worked_example"]["ratio"], d["sources"][0]["layers"][0]["name"]
    (1, '25/144', 'separable')
    """
    network = report.network
    result = {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "factorcheck", "version": report.version},
        "ok": report.ok,
        "options": report.options,
        "proofs": [_proof_dict(p) for p in report.proofs],
        "worked_example": _example_dict(report.worked_example),
        "sources": [_source_dict(s) for s in report.sources],
        "network": None if network is None else network.to_dict(),
    }
    if report.decouple:  # only with a decoupling plan (--decouple)
        result["decouple"] = [section.to_dict() for section in report.decouple]
    return result


def render_json(report: Report) -> str:
    """The report as indented JSON text (no NaN or infinity: they are not JSON).

    Examples
    --------
    >>> import json
    >>> from factorcheck.report.model import build
    >>> json.loads(render_json(build(proofs=[])))["proofs"]
    []
    """
    return json.dumps(report_dict(report), indent=2, allow_nan=False, ensure_ascii=True) + "\n"
