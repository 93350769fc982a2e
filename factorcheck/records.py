"""What a scan finds: per-layer records, skipped layers, a summary, and their JSON.

:func:`factorcheck.scan.scan` and :func:`~factorcheck.scan.scan_kernels`
return a :class:`ScanResult` of per-layer :class:`LayerRecord` s (one
:class:`OrderResult` per order analysed) and :class:`SkippedLayer` s;
:meth:`ScanResult.summary` counts them (:class:`ScanSummary`) and
:meth:`ScanResult.to_dict` writes the documented JSON (:data:`SCHEMA_VERSION`).
Each result shows itself through :mod:`factorcheck.display`.  The classes are
importable from :mod:`factorcheck.scan` too.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from factorcheck.display import Display, Displayable, describe_layer, describe_scan
from factorcheck.separability import Analysis

__all__ = [
    "SCHEMA_VERSION",
    "LayerRecord",
    "OrderResult",
    "ScanResult",
    "ScanSummary",
    "SkippedLayer",
]

#: Version of the JSON produced by :meth:`ScanResult.to_dict`; bumped on any incompatible change.
SCHEMA_VERSION = 1

@dataclass(frozen=True)
class OrderResult:
    """One layer analysed in one order (``"dw-pw"`` or ``"pw-dw"``).

    Attributes
    ----------
    order : str
        ``"dw-pw"`` or ``"pw-dw"``.
    separable : bool
        Whether the layer is a DSC with ``multiplier`` terms (per group).
    exact : bool
        Whether the verdict was reached in exact arithmetic (integer kernels).
    min_multiplier : int
        ``T``, the fewest terms of an exact DSC (the largest slice rank).
    distance, relative_distance : float
        Frobenius distance to the nearest DSC with ``multiplier`` terms, and
        that divided by the kernel's norm.
    cost_ratio : float
        Cost of an exact ``T``-term DSC over the standard layer's: MACs for
        dw-pw, ``T (1/n_g + 1/(kh kw))``; parameters for pw-dw,
        ``T (1/m_g + 1/(kh kw))``, which is also its MAC ratio when input and
        output have the same resolution (stride 1, "same" padding).
    analysis : Analysis or None
        The full :func:`~factorcheck.analyze` result behind these numbers
        (per-slice singular values, ranks, energy), for reports; the slices of
        a grouped layer are every group's slices.  Not part of the JSON.

    Examples
    --------
    >>> OrderResult("dw-pw", True, False, 1, 0.0, 0.0, 0.25).cost_ratio
    0.25
    """

    order: str
    separable: bool
    exact: bool
    min_multiplier: int
    distance: float
    relative_distance: float
    cost_ratio: float
    analysis: Analysis | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, repr=False)
class LayerRecord(Displayable):
    """What a scan found about one convolution layer.

    Attributes
    ----------
    name, file : str
        Layer name in the file, and the file (``""`` for in-memory kernels).
    kind : str
        ``"standard"``, ``"depthwise"``, ``"grouped"`` or ``"pointwise"``.
    conv_dims : int
        1 for a 1-D convolution, 2 for a 2-D one.
    shape : tuple of int
        The weight's shape as stored, in ``layout``.
    layout, dtype : str
        As stored.
    group : int
        ``G``; ``group_inferred`` tells whether the file stated it.
    strides, pads, dilations : tuple of int or None
        As the file states them (ONNX), else ``None``.
    trivial : bool
        Pointwise, or depthwise with one output per group: separable by construction.
    dw_pw, pw_dw : OrderResult or None
        The analysis in each order; ``None`` for an order not requested.

    Examples
    --------
    >>> import numpy as np
    >>> from factorcheck.scan import scan_kernels
    >>> record, = scan_kernels({"c": np.ones((4, 2, 3, 3))}).layers
    >>> record.kind, record.dw_pw.separable, record.pw_dw.min_multiplier
    ('standard', True, 1)
    """

    name: str
    file: str
    kind: str
    conv_dims: int
    shape: tuple[int, ...]
    layout: str
    dtype: str
    group: int
    group_inferred: bool
    strides: tuple[int, ...] | None
    pads: tuple[int, ...] | None
    dilations: tuple[int, ...] | None
    trivial: bool
    dw_pw: OrderResult | None
    pw_dw: OrderResult | None

    def result(self, order: str) -> OrderResult | None:
        """The :class:`OrderResult` for ``order`` (``"dw-pw"`` or ``"pw-dw"``)."""
        return self.dw_pw if order == "dw-pw" else self.pw_dw

    def _display(self) -> Display:
        return describe_layer(self)


@dataclass(frozen=True)
class SkippedLayer:
    """A convolution (or weight) that was found but not analysed, and why.

    Examples
    --------
    >>> SkippedLayer("up", "m.onnx", "ConvTranspose (transposed convolution) is not analysed").file
    'm.onnx'
    """

    name: str
    file: str
    reason: str


@dataclass(frozen=True)
class ScanSummary:
    """Counts over the non-trivial layers of a scan.

    Attributes
    ----------
    layers, trivial, skipped : int
        Layers analysed, of which trivially separable, and layers skipped.
    separable : dict
        Order -> number of non-trivial layers separable in that order.
    median_relative_distance : dict
        Order -> median relative distance of the non-trivial layers (``None`` if there are none).

    Examples
    --------
    >>> import numpy as np
    >>> from factorcheck.scan import scan_kernels
    >>> scan_kernels({"c": np.ones((4, 2, 3, 3))}).summary().separable
    {'dw-pw': 1, 'pw-dw': 1}
    """

    layers: int
    trivial: int
    skipped: int
    separable: dict[str, int] = field(default_factory=dict)
    median_relative_distance: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, repr=False)
class ScanResult(Displayable):
    """The records of one or more scanned files.

    Attributes
    ----------
    layers : tuple of LayerRecord
        The analysed layers, in file order.
    skipped : tuple of SkippedLayer
        Convolutions found but not analysed.
    orders : tuple of str
        The orders analysed.
    multiplier : int
    rtol : float or None
        The options used.

    Examples
    --------
    >>> import numpy as np
    >>> from factorcheck.scan import scan_kernels
    >>> result = scan_kernels({"c": np.ones((4, 2, 3, 3))}, order="dw-pw")
    >>> result.to_dict()["layers"][0]["dw_pw"]["separable"], result.layers[0].pw_dw
    (True, None)
    """

    layers: tuple[LayerRecord, ...]
    skipped: tuple[SkippedLayer, ...]
    orders: tuple[str, ...]
    multiplier: int = 1
    rtol: float | None = None

    def __add__(self, other: ScanResult) -> ScanResult:
        if not isinstance(other, ScanResult):
            return NotImplemented
        return ScanResult(self.layers + other.layers, self.skipped + other.skipped,
                          self.orders, self.multiplier, self.rtol)

    def _display(self) -> Display:
        return describe_scan(self)

    def summary(self) -> ScanSummary:
        """Count separable layers and the median relative distance per order (trivial excluded)."""
        findings = [r for r in self.layers if not r.trivial]
        separable, median = {}, {}
        for order in self.orders:
            results = [r.result(order) for r in findings]
            separable[order] = sum(res.separable for res in results)
            distances = [res.relative_distance for res in results]
            median[order] = statistics.median(distances) if distances else None
        return ScanSummary(len(self.layers), len(self.layers) - len(findings), len(self.skipped),
                           separable, median)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (see the README for the schema, version :data:`SCHEMA_VERSION`)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "options": {"orders": list(self.orders), "multiplier": self.multiplier,
                        "rtol": self.rtol},
            "layers": [_record_dict(r) for r in self.layers],
            "skipped": [{"name": s.name, "file": s.file, "reason": s.reason}
                        for s in self.skipped],
            "summary": _summary_dict(self.summary()),
        }


def _order_dict(result: OrderResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"separable": result.separable, "exact": result.exact,
            "min_multiplier": result.min_multiplier, "distance": result.distance,
            "relative_distance": result.relative_distance, "cost_ratio": result.cost_ratio}


def _as_list(values: tuple[int, ...] | None) -> list[int] | None:
    return None if values is None else list(values)


def _record_dict(r: LayerRecord) -> dict[str, Any]:
    as_list = _as_list
    return {
        "name": r.name, "file": r.file, "kind": r.kind, "conv_dims": r.conv_dims,
        "shape": list(r.shape), "layout": r.layout, "dtype": r.dtype, "group": r.group,
        "group_inferred": r.group_inferred, "strides": as_list(r.strides),
        "pads": as_list(r.pads), "dilations": as_list(r.dilations), "trivial": r.trivial,
        "dw_pw": _order_dict(r.dw_pw), "pw_dw": _order_dict(r.pw_dw),
    }


def _summary_dict(s: ScanSummary) -> dict[str, Any]:
    per_order = {order.replace("-", "_"): {"separable": s.separable[order],
                                           "median_relative_distance":
                                               s.median_relative_distance[order]}
                 for order in s.separable}
    return {"layers": s.layers, "trivial": s.trivial, "skipped": s.skipped,
            "counted": s.layers - s.trivial, **per_order}
