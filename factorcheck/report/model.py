"""The data a report shows, gathered once and rendered by every format.

:func:`build` runs the proofs, re-checks the worked example, scans the
kernels or model files (:mod:`factorcheck.scan`, the same records as
``factorcheck check``), and adds what a table of verdicts cannot hold: the
per-column singular values and energy kept of each non-trivial layer, its
costs in MACs per output position and in parameters, and the factors' sizes.
The LaTeX, Markdown and JSON writers only format a :class:`Report`, so the
three formats cannot disagree.

Per-column details are shown in one order only (``"dw-pw"`` when it is
scanned, the "columns" of the reference analysis: one slice per input
channel); they come from the very analysis the scan made (its records keep
it), so nothing is read or computed twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from factorcheck._version import __version__
from factorcheck.demo import demo_kernels
from factorcheck.display import Displayable
from factorcheck.errors import FactorcheckError
from factorcheck.io import MAX_TENSOR_BYTES
from factorcheck.kernel import to_canonical
from factorcheck.network import (
    NetworkComparison,
    builtin_network,
    compare_standard,
    network_scaling_proof,
    network_table,
)
from factorcheck.report.decouple import DecoupleSection, build_decouple, parse_plan
from factorcheck.scan import LayerRecord, Progress, ScanResult, scan, scan_kernels
from factorcheck.symbolic.cost import separable_cost, standard_cost
from factorcheck.symbolic.derivation import Proof
from factorcheck.symbolic.proofs import run_proofs
from factorcheck.symbolic.worked_example import WorkedExample, check_worked_example

__all__ = [
    "DEMO_LABEL",
    "Costs",
    "LayerReport",
    "Report",
    "SliceDetail",
    "SourceReport",
    "build",
    "canonical_shape",
    "layer_costs",
]

#: How the built-in demo kernels are labelled (they have no file).
DEMO_LABEL = "built-in demo kernels"
#: Order whose per-slice details are computed, when scanned.
DETAIL_ORDER = "dw-pw"


@dataclass(frozen=True, eq=False, repr=False)
class SliceDetail(Displayable):
    """Per-slice numbers of one layer in one order ("columns" for dw-pw, "rows" for pw-dw).

    Attributes
    ----------
    order : str
        ``"dw-pw"`` or ``"pw-dw"``.
    singular_values : numpy.ndarray
        ``(slices, k)``, each row decreasing (grouped layers: every group's slices in turn).
    energy_kept : numpy.ndarray
        Per slice, the share of its squared norm kept by the nearest separable kernel.
    ranks : numpy.ndarray
        Rank of each slice.
    """

    order: str
    singular_values: np.ndarray
    energy_kept: np.ndarray
    ranks: np.ndarray


@dataclass(frozen=True)
class Costs:
    """Costs of a layer and of its exact ``T``-term depthwise separable form (dw-pw).

    MACs are per output position (multiply by ``H_p W_p`` for a whole layer);
    parameters are exact, without bias.  ``None`` for trivial layers, which are
    already depthwise or pointwise.

    Examples
    --------
    >>> Costs(243, 75, 432, 75).mac_ratio
    0.30864197530864196
    """

    standard_macs: int
    dsc_macs: int
    standard_params: int
    dsc_params: int

    @property
    def mac_ratio(self) -> float:
        """DSC MACs over standard MACs."""
        return float(Fraction(self.dsc_macs, self.standard_macs))


@dataclass(frozen=True, eq=False, repr=False)
class LayerReport(Displayable):
    """One analysed layer: the scan's record plus what the report adds.

    Attributes
    ----------
    index : int
        1-based position in the whole report (figures and tables refer to it).
    record : LayerRecord
        The scan's record, unchanged.
    canonical_shape : tuple of int
        ``(n, m / G, kh, kw)``.
    costs : Costs or None
        Standard and exact ``T``-term DSC costs (``None`` for trivial layers).
    detail : SliceDetail or None
        Per-slice numbers (``None`` for trivial layers).
    multiplier : int
        The depth multiplier ``d`` the verdicts test.
    """

    index: int
    record: LayerRecord
    canonical_shape: tuple[int, int, int, int]
    costs: Costs | None
    detail: SliceDetail | None
    multiplier: int = 1

    def factor_shapes(self, order: str) -> dict[str, tuple[int, ...]]:
        """Shapes (OIHW) of the two factors of an exact ``multiplier``-term DSC in ``order``.

        See :class:`factorcheck.Factors`; for ``G`` groups the pointwise and
        depthwise factors are grouped the same way.

        Examples
        --------
        >>> from factorcheck.scan import scan_kernels
        >>> r, = scan_kernels({"c": np.ones((16, 3, 3, 3))}).layers
        >>> LayerReport(1, r, (16, 3, 3, 3), None, None).factor_shapes("dw-pw")
        {'depthwise': (3, 1, 3, 3), 'pointwise': (16, 3, 1, 1)}
        """
        n, m_g, kh, kw = self.canonical_shape
        g, d = self.record.group, self.multiplier
        if order == "dw-pw":
            return {"depthwise": (g * m_g * d, 1, kh, kw), "pointwise": (n, m_g * d, 1, 1)}
        return {"pointwise": (n * d, m_g, 1, 1), "depthwise": (n, d, kh, kw)}


@dataclass(frozen=True, eq=False, repr=False)
class SourceReport(Displayable):
    """The layers of one model file, or the built-in demo kernels.

    Attributes
    ----------
    label : str
        The path as given, or :data:`DEMO_LABEL`.
    is_model : bool
        Whether this is a model file (a model gets a per-layer figure and a cost table).
    scan : ScanResult
        The scan, exactly as ``factorcheck check`` computes it.
    layers : tuple of LayerReport
    """

    label: str
    is_model: bool
    scan: ScanResult
    layers: tuple[LayerReport, ...]


@dataclass(frozen=True, eq=False, repr=False)
class Report(Displayable):
    """Everything a report shows.

    Attributes
    ----------
    version : str
        factorcheck's version.
    proofs : tuple of Proof
        Every checked derivation (:func:`factorcheck.symbolic.proofs.run_proofs`).
    worked_example : WorkedExample
        The reference analysis's example, recomputed, with its findings.
    sources : tuple of SourceReport
        The demo kernels, or one entry per model file.
    network : NetworkComparison or None
        A built-in network's cost table (``network.separable``) and its
        all-standard counterpart (:func:`factorcheck.symbolic.network.compare_standard`),
        when one was asked for.
    options : dict
        ``orders``, ``multiplier``, ``rtol``, ``layer``, ``layout``, ``network``.
    decouple : tuple of DecoupleSection
        One per model source when a decoupling plan was asked for
        (:mod:`factorcheck.report.decouple`), else empty.
    """

    version: str
    proofs: tuple[Proof, ...]
    worked_example: WorkedExample
    sources: tuple[SourceReport, ...]
    network: NetworkComparison | None
    options: dict[str, Any]
    decouple: tuple[DecoupleSection, ...] = ()

    @property
    def ok(self) -> bool:
        """True iff every proof is verified."""
        return all(proof.ok for proof in self.proofs)

    @property
    def layers(self) -> list[LayerReport]:
        """Every layer of every source, in report order."""
        return [layer for source in self.sources for layer in source.layers]


# --------------------------------------------------------------------------- shapes and costs


def canonical_shape(shape: Sequence[int], layout: str) -> tuple[int, int, int, int]:
    """``(n, m / G, kh, kw)`` of a weight of ``shape`` in ``layout``, without touching data.

    Examples
    --------
    >>> canonical_shape((3, 3, 8, 16), "HWIO"), canonical_shape((4, 2, 5), "OIHW")
    ((16, 8, 3, 3), (4, 2, 1, 5))
    """
    view = np.broadcast_to(np.int8(0), tuple(shape))
    return tuple(to_canonical(view, layout).shape)  # type: ignore[return-value]


def layer_costs(shape: tuple[int, int, int, int], group: int, terms: int) -> Costs:
    """Per-output-position MACs and parameters of the standard layer and its ``terms``-term DSC.

    Counted by :mod:`factorcheck.symbolic.cost` per group, times ``G``.

    Examples
    --------
    >>> layer_costs((16, 3, 3, 3), 1, 1)   # the worked example, per output position
    Costs(standard_macs=432, dsc_macs=75, standard_params=432, dsc_params=75)
    """
    n, m_g, kh, kw = shape
    n_g = n // group
    standard = standard_cost(1, (kh, kw), m_g, n_g)
    if terms == 0:
        return Costs(group * standard.macs, 0, group * standard.params, 0)
    dsc = separable_cost(1, (kh, kw), m_g, n_g, multiplier=terms).total
    return Costs(group * standard.macs, group * dsc.macs, group * standard.params,
                 group * dsc.params)


def _detail(record: LayerRecord, order: str) -> SliceDetail | None:
    """Per-slice spectra, ranks and energy, from the analysis the scan already made."""
    a = record.result(order).analysis
    return None if a is None else SliceDetail(order, a.singular_values, a.energy_kept, a.ranks)


def _layer(index: int, record: LayerRecord, order: str, multiplier: int) -> LayerReport:
    shape = canonical_shape(record.shape, record.layout)
    if record.trivial:
        return LayerReport(index, record, shape, None, None, multiplier)
    terms = record.result(order).min_multiplier
    detail = _detail(record, order)
    return LayerReport(index, record, shape, layer_costs(shape, record.group, terms), detail,
                       multiplier)


# --------------------------------------------------------------------------- sources


def _detail_order(result: ScanResult) -> str:
    return DETAIL_ORDER if DETAIL_ORDER in result.orders else result.orders[0]


def _demo_source(start: int, options: dict[str, Any]) -> SourceReport:
    result = scan_kernels(demo_kernels(), **options)
    order = _detail_order(result)
    layers = tuple(_layer(start + i, r, order, result.multiplier)
                   for i, r in enumerate(result.layers))
    return SourceReport(DEMO_LABEL, False, result, layers)


def _model_source(path: str | os.PathLike, start: int, options: dict[str, Any],
                  layout: str | None, allow_external_data: bool, max_bytes: int) -> SourceReport:
    result = scan(path, layout=layout, allow_external_data=allow_external_data,
                  max_bytes=max_bytes, **options)
    order = _detail_order(result)
    layers = tuple(_layer(start + i, r, order, result.multiplier)
                   for i, r in enumerate(result.layers))
    return SourceReport(os.fspath(path), True, result, layers)


# --------------------------------------------------------------------------- build


def _network(name: str | None) -> NetworkComparison | None:
    """The built-in network ``name``'s cost table, beside its all-standard counterpart."""
    if name is None:
        return None
    return compare_standard(network_table(builtin_network(name)))


def _network_proofs(name: str | None, proofs: Iterable[str] | None) -> tuple[Proof, ...]:
    """With all proofs asked for, the built-in network's scaling proof in width and resolution."""
    if name is None or proofs is not None:
        return ()
    return (network_scaling_proof(builtin_network(name)),)


def build(
    paths: Sequence[str | os.PathLike] = (),
    *,
    order: str | Sequence[str] | None = None,
    multiplier: int = 1,
    rtol: float | None = None,
    layer: str | Sequence[str] | None = None,
    layout: str | None = None,
    network: str | None = None,
    proofs: Iterable[str] | None = None,
    allow_external_data: bool = True,
    progress: Progress | None = None,
    decouple: Any = None,
    input_shape: Sequence[int] | None = None,
    max_bytes: int = MAX_TENSOR_BYTES,
) -> Report:
    """Gather everything a report shows.

    Parameters
    ----------
    paths : sequence of path-like
        Model files (any format :func:`factorcheck.scan.scan` reads); none
        means the built-in demo kernels (:mod:`factorcheck.demo`).
    order, multiplier, rtol, layer, layout
        As in :func:`factorcheck.scan.scan` (``layout`` applies to files only).
    network : str, optional
        Name of a built-in network whose cost table is added (with all proofs,
        also its scaling proof in width and resolution).
    proofs : iterable of str, optional
        Proof names (all by default).
    allow_external_data : bool
        ONNX: read external data from inside the model's folder, or refuse it.
    progress : callable, optional
        ``progress(done, total, name)`` after each layer of each source, as in
        :func:`factorcheck.scan.scan`.
    decouple : str or dict, optional
        A decoupling plan (``"energy=0.9"``, ``{"rtol": 0.1}``...): adds the
        decoupling section of every model (:mod:`factorcheck.report.decouple`).
    input_shape : sequence of int, optional
        ONNX models with a dynamic input: the shape the decoupling section's
        error bounds are computed for.
    max_bytes : int
        Largest tensor read from a model file, as in :func:`factorcheck.scan.scan`
        (it also bounds how far a compressed ``.npz`` member may expand).

    Returns
    -------
    Report

    Examples
    --------
    >>> report = build(proofs=["cost_ratio"])
    >>> [layer.record.name for layer in report.layers]
    ['separable', 'near-separable', 'random', 'integer']
    >>> report.ok, report.worked_example.ratio
    (True, 25/144)
    """
    options = {"order": order, "multiplier": multiplier, "rtol": rtol, "layer": layer,
               "progress": progress}
    sources: list[SourceReport] = []
    if not paths:
        if layout is not None:
            raise FactorcheckError("layout applies to model files; the demo kernels are OIHW")
        sources.append(_demo_source(1, options))
    for path in paths:
        start = 1 + sum(len(s.layers) for s in sources)
        sources.append(_model_source(path, start, options, layout, allow_external_data,
                                     max_bytes))
    table = _network(network)
    return Report(
        version=__version__,
        proofs=tuple(run_proofs(proofs)) + _network_proofs(network, proofs),
        worked_example=check_worked_example(),
        sources=tuple(sources),
        network=table,
        options={"orders": list(sources[0].scan.orders), "multiplier": multiplier,
                 "rtol": rtol, "layer": _as_list(layer), "layout": layout, "network": network},
        decouple=_decouple(sources, decouple, order, input_shape, allow_external_data),
    )


def _decouple(sources: Sequence[SourceReport], plan: Any, order: Any,
              input_shape: Sequence[int] | None, allow_external_data: bool
              ) -> tuple[DecoupleSection, ...]:
    """The decoupling section of every model source, when a plan was asked for."""
    if plan is None:
        return ()
    chosen = parse_plan(plan, order if order in ("dw-pw", "pw-dw") else "dw-pw")
    return tuple(build_decouple(s, chosen, input_shape=input_shape,
                                allow_external_data=allow_external_data)
                 for s in sources if s.is_model)


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    return None if value is None else [value] if isinstance(value, str) else list(value)


