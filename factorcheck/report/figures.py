r"""pgfplots figures of a LaTeX report: singular-value spectra and distances per layer.

Each figure is drawn by pgfplots inside the document from at most
:data:`MAX_POINTS` points per line (longer series are subsampled evenly, with a
note); values below :data:`LOG_FLOOR` (zero up to rounding) are drawn at the floor.
:mod:`factorcheck.report.latex` places the figures beside their section.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from factorcheck.report.escape import latex_name
from factorcheck.report.model import LayerReport, SourceReport

__all__ = ["LOG_FLOOR", "MAX_LINES", "MAX_POINTS", "MAX_SPECTRA", "distance_figure",
           "spectra_figure"]

#: Most points drawn per figure line; longer series are subsampled evenly (a note says so).
MAX_POINTS = 400
#: Log-scale floor: smaller values (zero up to rounding) are drawn at it.
LOG_FLOOR = 1e-16
_FLOOR = f"$10^{{{round(math.log10(LOG_FLOOR))}}}$"
#: Columns drawn per spectrum plot, and spectrum plots per source.
MAX_LINES, MAX_SPECTRA = 8, 4


def _subsample(count: int, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced indices of ``range(count)``, first and last included."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def _coords(xs: Sequence[int], ys: Sequence[float]) -> str:
    return " ".join(f"({x},{max(float(y), LOG_FLOOR):.4e})" for x, y in zip(xs, ys, strict=True))


def _spectrum_plot(layer: LayerReport) -> str:
    """Normalized singular values of up to MAX_LINES columns (those keeping the least energy)."""
    d = layer.detail
    top = d.singular_values[:, 0]
    live = np.flatnonzero(top > 0)
    chosen = live[np.argsort(d.energy_kept[live], kind="stable")][:MAX_LINES]
    lines = []
    for j in sorted(chosen):
        ratio = d.singular_values[j] / top[j]
        keep = _subsample(len(ratio), MAX_POINTS // MAX_LINES)
        coords = _coords(keep + 1, ratio[keep])
        lines.append(f"\\addplot+[mark size=1.2pt] coordinates {{{coords}}};"
                     f"\n\\addlegendentry{{col.\\ {j + 1}}}")
    shown = f"{len(chosen)} of {len(top)} columns" if len(chosen) < len(top) else "all columns"
    title = f"{layer.index}: {latex_name(layer.record.name)}"
    step = max(1, -(-d.singular_values.shape[1] // 8))  # integer ticks of k, at most 8
    return rf"""\begin{{minipage}}[b]{{0.48\linewidth}}\centering
\begin{{tikzpicture}}
\begin{{semilogyaxis}}[width=0.92\linewidth, height=5.2cm, ymin=5e-17, ymax=2,
  xlabel={{$k$}}, ylabel={{$\sigma_{{j,k}} / \sigma_{{j,1}}$}}, title={{{title}}},
  xtick distance={step},
  title style={{text width=7cm, align=center, font=\footnotesize}},
  legend style={{font=\tiny, at={{(0.98,0.5)}}, anchor=east}},
  tick label style={{font=\scriptsize}}, label style={{font=\scriptsize}}]
{chr(10).join(lines)}
\end{{semilogyaxis}}
\end{{tikzpicture}}\\
{{\scriptsize {shown} ({d.order})}}
\end{{minipage}}"""


def spectra_figure(source: SourceReport) -> str:
    r"""A figure of the singular values of each column, for up to :data:`MAX_SPECTRA` layers.

    In a model the layers farthest from separable come first; ``""`` when no
    layer has per-column detail.

    Examples
    --------
    >>> from factorcheck.report.model import build
    >>> fig = spectra_figure(build(proofs=["cost_ratio"]).sources[0])
    >>> fig.startswith(r"\begin{figure}[H]"), fig.count(r"\begin{semilogyaxis}")
    (True, 4)
    """
    layers = [la for la in source.layers if la.detail is not None]
    if source.is_model:  # the farthest layers first
        layers.sort(key=lambda la: -la.record.result(la.detail.order).relative_distance)
    chosen = layers[:MAX_SPECTRA]
    if not chosen:
        return ""
    plots = "\\hfill\n".join(_spectrum_plot(la) for la in chosen)
    subset = "" if len(chosen) == len(layers) else (
        f" Shown: the {len(chosen)} of {len(layers)} non-trivial layers farthest from separable.")
    return rf"""\begin{{figure}}[H]
\centering
{plots}
\caption{{Singular values of each column $A_j$, relative to its largest, on a log scale. A column
of rank one has a single value at 1 and the rest at the floor ({_FLOOR}, where values zero
to rounding are drawn). When a layer has more than {MAX_LINES} columns the {MAX_LINES} keeping the
least energy in a rank-one approximation are drawn.{subset}}}
\end{{figure}}
"""


def distance_figure(source: SourceReport) -> str:
    """A figure of each non-trivial layer's relative distance, one series per order.

    Drawn for a model only (``""`` for the demo kernels or a model without
    non-trivial layers); at most :data:`MAX_POINTS` layers, evenly spaced.

    Examples
    --------
    >>> from factorcheck.report.model import build
    >>> distance_figure(build(proofs=["cost_ratio"]).sources[0])  # the demo kernels: no figure
    ''
    """
    layers = [la for la in source.layers if not la.record.trivial]
    if not source.is_model or not layers:
        return ""
    keep = _subsample(len(layers), MAX_POINTS)
    plots = []
    for order in source.scan.orders:
        ys = [layers[i].record.result(order).relative_distance for i in keep]
        xs = [layers[i].index for i in keep]
        plots.append(f"\\addplot+[only marks, mark size=1.3pt] coordinates {{{_coords(xs, ys)}}};"
                     f"\n\\addlegendentry{{{order}}}")
    note = "" if len(keep) == len(layers) else (
        f" Only {len(keep)} of the {len(layers)} layers are drawn (evenly spaced).")
    return rf"""\begin{{figure}}[H]
\centering
\begin{{tikzpicture}}
\begin{{semilogyaxis}}[width=0.9\linewidth, height=6cm, ymin=5e-17, ymax=2,
  xlabel={{layer \#}}, ylabel={{relative distance}},
  legend style={{at={{(0.5,1.03)}}, anchor=south, legend columns=-1}},
  tick label style={{font=\scriptsize}}, label style={{font=\small}}]
{chr(10).join(plots)}
\end{{semilogyaxis}}
\end{{tikzpicture}}
\caption{{Relative distance of each non-trivial layer to the nearest depthwise separable kernel;
separable layers lie at the floor ({_FLOOR}).{note}}}
\end{{figure}}
"""
