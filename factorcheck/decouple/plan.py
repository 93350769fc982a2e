"""Plan a decoupling: how many depthwise separable terms ``T`` a convolution keeps.

A kernel is a sum of ``T`` depthwise separable convolutions when each of its
slices (see :mod:`factorcheck.separability`) has rank at most ``T``; the
nearest such kernel keeps the ``T`` largest singular triplets of every
slice.  So ``T`` never needs to exceed a slice's size ``min(rows, kh*kw)``,
and any ``T`` at or above a slice's rank reproduces it exactly.  This module
chooses ``T`` (:func:`choose_terms`), returns the factors
(:func:`decouple`), and lists what each ``T`` costs and loses
(:func:`tradeoff`).  Everything comes from one :func:`factorcheck.analyze`
per kernel and the factors from :func:`factorcheck.decompose`: no second SVD.

Grouped kernels (``groups = G``, shape ``(n, m/G, kh, kw)``) are judged and
factored per group by the same functions (their ``groups=`` option, see
:mod:`factorcheck.groups`).  In "dw-pw" the depthwise step has ``m*T``
channels (``groups=m``) and the pointwise step ``groups=G``, weight
``(n, (m/G)*T, 1, 1)``; in "pw-dw" the pointwise step has ``groups=G``, weight
``(n*T, m/G, 1, 1)``, and the spatial step ``groups=n``.  The factors record
``pointwise_groups = G``, so :meth:`Factors.to_kernel` rebuilds the kernel.
"""

from __future__ import annotations

import html
import numbers
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from factorcheck.decouple.bound import (
    Padding,
    _padding,
    _positive_pair,
    error_bound,
    operator_norm,
)
from factorcheck.errors import FactorcheckError
from factorcheck.groups import check_groups
from factorcheck.kernel import Kernel, as_kernel, to_canonical
from factorcheck.separability import ORDERS, Factors, analyze, decompose, nearest_separable
from factorcheck.symbolic.cost import LayerCost, conv_cost, output_shape

__all__ = [
    "Tradeoff",
    "TradeoffRow",
    "choose_terms",
    "composed",
    "decouple",
    "decoupled_cost",
    "tradeoff",
]


# --------------------------------------------------------------------------- choosing T


def _check_choice(terms: object, energy: object, rtol: object) -> dict[str, Any]:
    """``{name: value}`` of the one of terms / energy / rtol given, validated."""
    given = [name for name, v in (("terms", terms), ("energy", energy), ("rtol", rtol))
             if v is not None]
    if len(given) != 1:
        raise FactorcheckError(
            "give exactly one of terms, energy or rtol, got "
            + (", ".join(given) if given else "none")
        )
    if terms is not None and (isinstance(terms, bool) or not isinstance(terms, numbers.Integral)
                              or terms < 1):
        raise FactorcheckError(f"terms must be an int >= 1, got {terms!r}")
    if energy is not None and (isinstance(energy, bool) or not isinstance(energy, numbers.Real)
                               or not 0 < float(energy) <= 1):
        raise FactorcheckError(f"energy must be a real number in (0, 1], got {energy!r}")
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, numbers.Real)
                             or not float(rtol) >= 0):
        raise FactorcheckError(f"rtol must be a real number >= 0, got {rtol!r}")
    return {given[0]: {"terms": terms, "energy": energy, "rtol": rtol}[given[0]]}


def _check_order(order: object) -> str:
    if not isinstance(order, str) or order not in ORDERS:
        raise FactorcheckError(
            f"unknown order {order!r}; expected one of {', '.join(map(repr, ORDERS))}"
        )
    return order


@dataclass(frozen=True)
class _Spectrum:
    """What choosing T needs, from one analysis: the curve for T = 1 ... cap."""

    rank: int  # the largest slice rank (0 for a zero kernel)
    relative_distance: np.ndarray  # index T - 1
    energy_kept: np.ndarray  # min over slices, index T - 1


def _spectrum(k: Kernel, order: str, groups: int) -> _Spectrum:
    a = analyze(k, order=order, groups=groups)
    sigma = np.asarray(a.singular_values, dtype=np.float64)
    top = float(sigma.max()) if sigma.size else 0.0
    if top == 0.0 or not np.isfinite(top):
        top = 1.0
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        sq = (sigma / top) ** 2
    tails = np.cumsum(sq[:, ::-1], axis=1)[:, ::-1]  # tails[:, t] = sum of sq[:, t:]
    total = tails[:, 0]
    tail_after = np.concatenate([tails[:, 1:], np.zeros((len(sq), 1))], axis=1)  # after T
    norm_sq = float(total.sum())
    rel = np.sqrt(tail_after.sum(axis=0) / norm_sq) if norm_sq > 0 else np.zeros(sq.shape[1])
    kept = 1.0 - tail_after / np.where(total > 0, total, 1.0)[:, None]
    return _Spectrum(a.min_multiplier, rel, kept.min(axis=0))


def _choose(spec: _Spectrum, which: str, value: float) -> int:
    cap = len(spec.relative_distance)
    if which == "terms":
        return min(int(value), cap)
    met = spec.energy_kept >= value if which == "energy" else spec.relative_distance <= value
    met[max(spec.rank, 1) - 1 :] = True  # T >= rank is exact
    return int(np.argmax(met)) + 1


def _prepare(kernel: Any, order: object, layout: str, groups: object) -> tuple[Kernel, str, int]:
    order = _check_order(order)
    k = kernel if isinstance(kernel, Kernel) else as_kernel(kernel, layout)
    return k, order, check_groups(groups, k)


def choose_terms(
    kernel: Any,
    *,
    terms: int | None = None,
    energy: float | None = None,
    rtol: float | None = None,
    order: str = "dw-pw",
    layout: str = "OIHW",
    groups: int = 1,
) -> int:
    """The number of terms ``T`` per slice that :func:`decouple` uses.

    Parameters
    ----------
    kernel : array_like
        ``(n, m / groups, kh, kw)`` in ``layout`` (any input
        :func:`factorcheck.analyze` takes).
    terms : int, optional
        A fixed ``T >= 1``, capped at the slice size ``min(rows, kh*kw)``.
    energy : float, optional
        In ``(0, 1]``: the smallest ``T`` keeping at least that share of
        *every* slice's squared Frobenius norm.
    rtol : float, optional
        ``>= 0``: the smallest ``T`` whose relative distance (Frobenius, whole
        kernel) is at most ``rtol``.
    order : {"dw-pw", "pw-dw"}
    layout : {"OIHW", "HWIO", "OHWI"}
    groups : int
        Groups of the convolution; slices are those of every group.

    Returns
    -------
    int
        ``T``, between 1 and ``min(rows, kh*kw)``.  ``energy`` and ``rtol``
        never ask for more than the largest slice rank (which is exact).

    Raises
    ------
    FactorcheckError
        Not exactly one of ``terms``, ``energy``, ``rtol``; a value out of
        range; a bad kernel, order, layout or group count.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.random.default_rng(0).normal(size=(16, 8, 3, 3))
    >>> choose_terms(k, terms=20), choose_terms(k, energy=1.0), choose_terms(k, rtol=0.5)
    (9, 9, 4)
    >>> mu, b = np.random.default_rng(1).normal(size=(16, 8, 2)), np.ones((8, 2, 3, 3))
    >>> b[:, 1, 0] = -1.0
    >>> choose_terms(np.einsum("ijr,jrhw->ijhw", mu, b), rtol=0.0)     # rank 2 slices
    2
    """
    (which, value), = _check_choice(terms, energy, rtol).items()
    k, order, groups = _prepare(kernel, order, layout, groups)
    return _choose(_spectrum(k, order, groups), which, float(value))


def decouple(
    kernel: Any,
    *,
    terms: int | None = None,
    energy: float | None = None,
    rtol: float | None = None,
    order: str = "dw-pw",
    layout: str = "OIHW",
    groups: int = 1,
) -> Factors:
    """The nearest ``T``-term depthwise separable factors of a kernel.

    ``T`` is chosen by :func:`choose_terms` (exactly one of ``terms``,
    ``energy``, ``rtol``); the factors keep the ``T`` largest singular
    triplets of every slice (:func:`factorcheck.decompose` with
    ``approximate=True``), so they are exact when ``T`` reaches every
    slice's rank, and the nearest possible otherwise.

    Parameters
    ----------
    kernel, terms, energy, rtol, order, layout, groups
        As for :func:`choose_terms`.

    Returns
    -------
    Factors
        In ``layout``, with ``multiplier = T``.  For ``groups > 1`` the
        pointwise step is grouped (``pointwise_groups = groups``, see the
        module docstring); :meth:`Factors.to_kernel` rebuilds the kernel.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.random.default_rng(0).normal(size=(16, 8, 3, 3)).astype(np.float32)
    >>> f = factorcheck.decouple(k, rtol=0.5)
    >>> f.multiplier, f.depthwise.shape, f.pointwise.shape, f.depthwise.dtype
    (4, (32, 1, 3, 3), (16, 32, 1, 1), dtype('float32'))
    >>> exact = factorcheck.decouple(k, terms=9)         # T = kh*kw: always exact
    >>> bool(np.allclose(exact.to_kernel(), k, atol=1e-5))
    True
    """
    t = choose_terms(kernel, terms=terms, energy=energy, rtol=rtol, order=order, layout=layout,
                     groups=groups)
    k, order, groups = _prepare(kernel, order, layout, groups)
    return decompose(k, order=order, multiplier=t, groups=groups, approximate=True)


def composed(factors: Factors) -> np.ndarray:
    """The kernel that ``factors``, as stored, compose to, computed in float64.

    A rewritten model runs the two stored convolutions, which equal one
    convolution with this kernel; composing in the factors' own dtype
    (:meth:`Factors.to_kernel` on float32 factors) would round it.  The error
    bounds of the rewrite and of the report take ``K - composed(factors)``.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.random.default_rng(0).normal(size=(8, 4, 3, 3)).astype(np.float32)
    >>> p = composed(decouple(k, terms=2))
    >>> p.dtype, p.shape
    (dtype('float64'), (8, 4, 3, 3))
    """
    return replace(factors, depthwise=np.asarray(factors.depthwise, np.float64),
                   pointwise=np.asarray(factors.pointwise, np.float64)).to_kernel()


def _nearest(k: Kernel, terms: int, order: str, groups: int) -> np.ndarray:
    """The nearest ``terms``-term kernel, canonical OIHW, float."""
    return to_canonical(nearest_separable(k, order=order, multiplier=terms, groups=groups),
                        k.layout)


# --------------------------------------------------------------------------- trade-off


@dataclass(frozen=True)
class TradeoffRow:
    """One choice of ``T`` in a :class:`Tradeoff`.

    Attributes
    ----------
    terms : int
        ``T``.
    macs_ratio : float
        MACs of the ``T``-term DSC over the standard convolution's.
    relative_distance : float
        Frobenius distance of the nearest ``T``-term kernel over the kernel's norm.
    energy_kept : float
        The smallest share of a slice's squared norm that is kept.
    relative_error_bound : float or None
        Certified worst-case relative output error
        ``error_bound / layer_norm`` (None without ``input_hw``).
    error_bound : float or None
        Certified absolute bound :func:`~factorcheck.error_bound` on
        ``||conv_K(x) - conv_P(x)|| / ||x||`` (None without ``input_hw``).

    Examples
    --------
    >>> import numpy as np
    >>> row = tradeoff(np.ones((4, 2, 3, 3))).rows[0]     # rank one: T = 1 is exact
    >>> row.terms, row.macs_ratio, row.relative_distance, row.relative_error_bound
    (1, 0.3611111111111111, 0.0, None)
    """

    terms: int
    macs_ratio: float
    relative_distance: float
    energy_kept: float
    relative_error_bound: float | None
    error_bound: float | None = None


_COLUMNS = ("T", "MACs ratio", "rel. distance", "energy kept", "rel. error bound")


@dataclass(frozen=True)
class Tradeoff:
    """The trade-off curve of one kernel: cost against error, for ``T = 1 ... max rank``.

    Attributes
    ----------
    rows : tuple of TradeoffRow
        One per ``T``, increasing; the last one is exact (``T`` = the largest slice rank).
    shape : tuple of int
        Canonical ``(n, m / groups, kh, kw)``.
    order : str
    groups : int
    input_hw : tuple of int or None
        The input size the error bounds hold for.
    layer_norm : float or None
        :func:`~factorcheck.operator_norm` of the kernel at ``input_hw``.

    Examples
    --------
    >>> import numpy as np
    >>> t = tradeoff(np.random.default_rng(0).normal(size=(16, 8, 3, 3)), (8, 8), padding=1)
    >>> len(t.rows), t.rows[-1].relative_distance < 1e-12
    (9, True)
    >>> print(t)  # doctest: +ELLIPSIS
    Tradeoff (16, 8, 3, 3) dw-pw, groups 1, input (8, 8), layer norm 2.0567e+01
      T  MACs ratio  rel. distance  energy kept  rel. error bound
      1      0.1736      8.407e-01    2.274e-01         8.148e-01
      2      0.3472      7.024e-01    4.229e-01         7.092e-01
    ...
      9      1.5625      0.000e+00    1.000e+00         1...e-15
    """

    rows: tuple[TradeoffRow, ...]
    shape: tuple[int, int, int, int]
    order: str
    groups: int
    input_hw: tuple[int, int] | None
    layer_norm: float | None

    def _cells(self) -> list[tuple[str, ...]]:
        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.3e}"
        return [(str(r.terms), f"{r.macs_ratio:.4f}", fmt(r.relative_distance),
                 fmt(r.energy_kept), fmt(r.relative_error_bound)) for r in self.rows]

    def _title(self) -> str:
        size = "" if self.input_hw is None else f", input {self.input_hw}"
        norm = "" if self.layer_norm is None else f", layer norm {self.layer_norm:.4e}"
        return f"Tradeoff {self.shape} {self.order}, groups {self.groups}{size}{norm}"

    def __repr__(self) -> str:
        cells = self._cells()
        if len(cells) > 10:  # at most 12 lines in all
            cells = [*cells[:5], ("...",) + ("",) * 4, *cells[-4:]]
        widths = [3, 12, 15, 13, 18]
        lines = ["".join(c.rjust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in [_COLUMNS, *cells]]
        return "\n".join([self._title(), *lines])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._cells())
        return (f"<p>{html.escape(self._title())}</p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")

    def _repr_latex_(self) -> str:
        head = " & ".join([_COLUMNS[0], *(rf"\text{{{c}}}" for c in _COLUMNS[1:])])
        body = r" \\ ".join(" & ".join(row) for row in self._cells())
        return rf"$\begin{{array}}{{rrrrr}} {head} \\ \hline {body} \end{{array}}$"


def _out_hw(shape: tuple[int, int, int, int], input_hw: tuple[int, int] | None,
            stride: Any, padding: Any, dilation: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(input grid, output grid)`` for the cost; per position (``(1, 1)`` twice) without one."""
    if input_hw is None:
        return (1, 1), (1, 1)
    top, bottom, left, right = _padding(padding)
    out = output_shape(input_hw, shape[2:], stride, ((top, bottom), (left, right)), dilation)
    return tuple(input_hw), out  # type: ignore[return-value]


def decoupled_cost(
    shape: tuple[int, int, int, int],
    terms: int,
    *,
    order: str = "dw-pw",
    groups: int = 1,
    input_hw: tuple[int, int] = (1, 1),
    output_hw: tuple[int, int] = (1, 1),
) -> tuple[LayerCost, LayerCost]:
    """Costs of a convolution and of its ``terms``-term DSC: ``(standard, decoupled)``.

    Both are counted by :func:`factorcheck.symbolic.cost.conv_cost` (MACs and
    parameters without bias).  The two steps are those of :func:`decouple`;
    in "pw-dw" the pointwise step runs on the input grid, before the stride,
    so MACs need both grids (the default ``(1, 1)`` counts per position).

    Parameters
    ----------
    shape : tuple of int
        Canonical ``(n, m / groups, kh, kw)``.
    terms : int
        ``T``.
    order, groups
        As for :func:`decouple`.
    input_hw, output_hw : (int, int)
        The layer's input and output grids.

    Returns
    -------
    (LayerCost, LayerCost)

    Examples
    --------
    >>> standard, dsc = decoupled_cost((16, 3, 3, 3), 1, output_hw=(6, 6))  # the worked example
    >>> standard.macs, dsc.macs, dsc.params
    (15552, 2700, 75)
    """
    n, m_g, kh, kw = shape
    m = m_g * groups
    standard = conv_cost(output_hw, (kh, kw), m, n, groups=groups)
    if order == "dw-pw":
        dsc = (conv_cost(output_hw, (kh, kw), m, m * terms, groups=m)
               + conv_cost(output_hw, 1, m * terms, n, groups=groups))
    else:
        dsc = (conv_cost(input_hw, 1, m, n * terms, groups=groups)
               + conv_cost(output_hw, (kh, kw), n * terms, n, groups=n))
    return standard, dsc


def tradeoff(
    kernel: Any,
    input_hw: int | tuple[int, int] | None = None,
    *,
    order: str = "dw-pw",
    layout: str = "OIHW",
    groups: int = 1,
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
) -> Tradeoff:
    """Cost against error of the nearest ``T``-term DSC, for ``T = 1 ... max rank``.

    Parameters
    ----------
    kernel, order, layout, groups
        As for :func:`choose_terms`.
    input_hw : int or (int, int), optional
        The layer's input size: with it, MACs count the real grids (it
        matters for "pw-dw" with a stride) and every row gets its certified
        worst-case relative output error.
    stride, padding, dilation
        As for :func:`~factorcheck.operator_norm`.

    Returns
    -------
    Tradeoff

    Examples
    --------
    >>> import numpy as np
    >>> k = np.random.default_rng(0).normal(size=(64, 32, 3, 3))
    >>> [round(r.macs_ratio, 3) for r in tradeoff(k).rows][:3]   # T (1/64 + 1/9)
    [0.127, 0.253, 0.38]
    """
    k, order, groups = _prepare(kernel, order, layout, groups)
    hw = None if input_hw is None else _positive_pair(input_hw, "input_hw")
    geometry = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    norm = None if input_hw is None else operator_norm(k, input_hw, **geometry)
    spec = _spectrum(k, order, groups)
    grids = _out_hw(k.shape, hw, stride, padding, dilation)
    rows = []
    for t in range(1, max(spec.rank, 1) + 1):
        err = relative = None
        if norm is not None:
            err = error_bound(k.data, _nearest(k, t, order, groups), input_hw, **geometry)
            relative = err / norm if norm > 0 else 0.0
        standard, dsc = decoupled_cost(k.shape, t, order=order, groups=groups, input_hw=grids[0],
                                       output_hw=grids[1])
        rows.append(TradeoffRow(t, dsc.macs / standard.macs, float(spec.relative_distance[t - 1]),
                                float(spec.energy_kept[t - 1]), relative, err))
    return Tradeoff(tuple(rows), k.shape, order, groups, hw, norm)  # type: ignore[arg-type]

