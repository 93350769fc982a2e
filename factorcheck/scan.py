"""Scan every convolution of a model file: which ones are depthwise separable, in which order.

:func:`scan` lists a model's convolution weights (:mod:`factorcheck.io`),
reads them one at a time, classifies each layer and runs
:func:`~factorcheck.analyze` in each requested order.  :func:`scan_kernels`
does the same for in-memory arrays.  The result is a :class:`ScanResult` of
per-layer :class:`LayerRecord` s, which :meth:`ScanResult.to_dict` turns into
the documented JSON (:data:`SCHEMA_VERSION`); these classes live in
:mod:`factorcheck.records` and are re-exported here.

Classification, from the canonical weight shape ``(n, m/G, kh, kw)`` and the
group count ``G``:

* ``pointwise``: ``kh * kw == 1`` (any ``G``); trivially separable.
* ``depthwise``: ``G == m`` (one input channel per group); trivially separable
  when also ``G == n`` (one output per group, i.e. depth multiplier 1).
* ``grouped``: ``1 < G < m``, analysed per group.
* ``standard``: ``G == 1``.

``conv_dims`` is 1 for 1-D convolutions (3-D weights), 2 otherwise.  Trivial
layers are analysed like the others but flagged ``trivial`` and not counted as
findings in :meth:`ScanResult.summary`.  Files that do not record ``G``
(``.npy``, ``.npz``, safetensors, PyTorch), and in-memory mappings such as a
state dict, get ``G = n`` when the weight has one input channel per group and
more than one tap (the usual depthwise weight), else ``G = 1``; such records
have ``group_inferred=True``.  ``group=G`` states it instead; ONNX files and
``torch.nn.Module`` layers always state it.  A grouped layer is judged by
:func:`~factorcheck.analyze` with ``groups=G``, the same code users call.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from fractions import Fraction
from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.io import MAX_TENSOR_BYTES, SkippedTensor, StoredKernel, read_model
from factorcheck.io.memory import list_in_memory
from factorcheck.kernel import LayoutWarning, as_kernel, check_layout, layout_hint, to_canonical
from factorcheck.records import (
    SCHEMA_VERSION,
    LayerRecord,
    OrderResult,
    ScanResult,
    ScanSummary,
    SkippedLayer,
)
from factorcheck.separability import ORDERS, analyze
from factorcheck.symbolic.cost import conv_cost, pointwise_cost, separable_cost, standard_cost

__all__ = [
    "SCHEMA_VERSION",
    "LayerRecord",
    "OrderResult",
    "ScanResult",
    "ScanSummary",
    "SkippedLayer",
    "scan",
    "scan_kernels",
]

#: ``progress(done, total, layer_name)``, called after each layer.
Progress = Callable[[int, int, str], None]


# --------------------------------------------------------------------------- options


def _check_orders(order: str | Sequence[str] | None) -> tuple[str, ...]:
    """``None`` means both orders; otherwise one order or a sequence of them."""
    orders = tuple(ORDERS) if order is None else (order,) if isinstance(order, str) else order
    bad = [o for o in orders if o not in ORDERS]
    if bad or not orders:
        raise FactorcheckError(
            f"unknown order {bad[0] if bad else order!r}; expected one of "
            f"{', '.join(map(repr, ORDERS))}"
        )
    return tuple(dict.fromkeys(orders))


def _check_numbers(multiplier: object, rtol: object) -> None:
    """Validate ``multiplier`` and ``rtol`` before any file is read."""
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
        raise FactorcheckError(f"multiplier must be an integer >= 1, got {multiplier!r}")
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float))
                             or not 0 <= rtol <= 1):
        raise FactorcheckError(f"rtol must be a real number in [0, 1], got {rtol!r}")


def _patterns(layer: str | Sequence[str] | None) -> tuple[str, ...]:
    return () if layer is None else (layer,) if isinstance(layer, str) else tuple(layer)


def _selected(name: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatchcase(name, p) for p in patterns)


# --------------------------------------------------------------------------- one layer


def _group(stored: StoredKernel, n: int, m_g: int, taps: int) -> tuple[int, bool]:
    """``(G, inferred)``: the file's group, or a guess from the shape (see the module notes)."""
    if stored.group is not None:
        if n % stored.group:
            raise FactorcheckError(
                f"layer {stored.name!r}: group {stored.group} does not divide the {n} "
                "output channels"
            )
        return stored.group, False
    return (n, True) if m_g == 1 and n > 1 and taps > 1 else (1, True)


def _kind(n: int, m_g: int, group: int, taps: int) -> tuple[str, bool]:
    """``(kind, trivial)`` of a layer with canonical shape ``(n, m_g, ...)`` and ``G`` groups."""
    if taps == 1:
        return "pointwise", True
    if group == 1:
        return "standard", False
    if m_g == 1:
        return "depthwise", n == group
    return "grouped", False


def _cost_ratio(order: str, terms: int, n_g: int, m_g: int, kh: int, kw: int) -> float:
    """MACs (dw-pw) or parameters (pw-dw) of an exact ``terms``-term DSC over the standard layer's.

    Per group, with :mod:`factorcheck.symbolic.cost`; the ratio is the same for
    the whole layer since every group costs the same.
    """
    if terms == 0:  # an all-zero kernel needs no convolution at all
        return 0.0
    standard = standard_cost(1, (kh, kw), m_g, n_g)
    if order == "dw-pw":
        dsc = separable_cost(1, (kh, kw), m_g, n_g, multiplier=terms).total
        return float(Fraction(dsc.macs, standard.macs))
    params = (pointwise_cost(1, m_g, n_g * terms).params
              + conv_cost(1, (kh, kw), n_g * terms, n_g, groups=n_g).params)
    return float(Fraction(params, standard.params))


def _analyse(canonical: np.ndarray, group: int, order: str, multiplier: int,
             rtol: float | None, stored_dtype: str = "") -> OrderResult:
    """Analyse every group's block in one call (``analyze(..., groups=group)``).

    Weights stored as bfloat16 arrive widened to float32; they are judged with
    bfloat16's epsilon, the precision they really have.
    """
    kernel = as_kernel(canonical, precision="bfloat16" if stored_dtype == "bfloat16" else None)
    a = analyze(kernel, order=order, multiplier=multiplier, rtol=rtol, groups=group)
    n, m_g, kh, kw = canonical.shape
    cost = _cost_ratio(order, a.min_multiplier, n // group, m_g, kh, kw)
    return OrderResult(order, a.separable, a.exact, a.min_multiplier, a.distance,
                       a.relative_distance, cost, a)


def _record(stored: StoredKernel, file: str, layout: str, orders: tuple[str, ...],
            multiplier: int, rtol: float | None) -> LayerRecord:
    """Read one weight, classify it and analyse it in each order."""
    array = stored.load()
    canonical = to_canonical(array, layout)
    n, m_g, kh, kw = canonical.shape
    group, inferred = _group(stored, n, m_g, kh * kw)
    kind, trivial = _kind(n, m_g, group, kh * kw)
    results = {o: _analyse(canonical, group, o, multiplier, rtol, stored.dtype) for o in orders}
    return LayerRecord(
        name=stored.name, file=file, kind=kind, conv_dims=array.ndim - 2,
        shape=tuple(array.shape), layout=layout, dtype=stored.dtype, group=group,
        group_inferred=inferred, strides=stored.strides, pads=stored.pads,
        dilations=stored.dilations, trivial=trivial,
        dw_pw=results.get("dw-pw"), pw_dw=results.get("pw-dw"),
    )


def _scan_stored(kernels: Sequence[StoredKernel], skipped: Iterable[SkippedTensor], file: str,
                 layout: str | None, options: dict[str, Any],
                 progress: Progress | None) -> ScanResult:
    """Analyse listed kernels one at a time (each is read, analysed and released)."""
    patterns = _patterns(options.pop("layer"))
    chosen = [k for k in kernels if _selected(k.name, patterns)]
    records, skips = [], [SkippedLayer(s.name, file, s.reason) for s in skipped
                          if _selected(s.name, patterns)]
    if patterns and not chosen and not skips:
        raise FactorcheckError(_no_match_message(patterns, [k.name for k in kernels], file))
    for done, stored in enumerate(chosen, start=1):
        try:
            records.append(_record(stored, file, layout or stored.layout, **options))
        except FactorcheckError as err:
            if not _is_kernel_problem(err):
                raise
            skips.append(SkippedLayer(stored.name, file, str(err)))
        if progress is not None:
            progress(done, len(chosen), stored.name)
    return ScanResult(tuple(records), tuple(skips), options["orders"], options["multiplier"],
                      options["rtol"])


#: At most this many layer names are listed when a ``layer`` pattern matches none.
_NAMES_LISTED = 20


def _no_match_message(patterns: tuple[str, ...], names: list[str], file: str) -> str:
    """``layer`` patterns matched nothing: say so and list the layers that exist."""
    where = repr(file) if file else "the kernels given"
    asked = f"layer pattern{'s' if len(patterns) > 1 else ''} {', '.join(map(repr, patterns))}"
    if not names:
        return f"{asked}: {where} has no convolution layer to match"
    shown = ", ".join(repr(n if len(n) <= 80 else n[:77] + "...") for n in names[:_NAMES_LISTED])
    more = f", ... and {len(names) - _NAMES_LISTED} more" if len(names) > _NAMES_LISTED else ""
    return (f"{asked} match{'' if len(patterns) > 1 else 'es'} no layer of {where}; "
            f"{'the layer is' if len(names) == 1 else f'the {len(names)} layers are'}: "
            f"{shown}{more} "
            "(patterns are shell-style and case-sensitive, e.g. 'conv*')")


def _is_kernel_problem(err: FactorcheckError) -> bool:
    """Errors that concern one layer's values (NaN, a bad group), not the file as a whole."""
    return not isinstance(err, FileFormatError)


# --------------------------------------------------------------------------- public


#: Formats whose files do not fix the layout (``layout=`` may override ``"OIHW"``).
_FREE_LAYOUT = {"npy", "npz", "safetensors"}


def _options(order: Any, multiplier: Any, rtol: Any, layer: Any) -> dict[str, Any]:
    _check_numbers(multiplier, rtol)
    return {"orders": _check_orders(order), "multiplier": multiplier, "rtol": rtol,
            "layer": layer}


def scan(
    path: str | os.PathLike,
    *,
    order: str | Sequence[str] | None = None,
    multiplier: int = 1,
    rtol: float | None = None,
    layer: str | Sequence[str] | None = None,
    layout: str | None = None,
    max_bytes: int = MAX_TENSOR_BYTES,
    allow_external_data: bool = True,
    progress: Progress | None = None,
    group: int | None = None,
) -> ScanResult:
    """Analyse every convolution weight of a model file, one layer at a time.

    Parameters
    ----------
    path : str or path-like
        A ``.npy``, ``.npz``, ``.safetensors``, ``.onnx`` or PyTorch
        (``.pt``/``.pth``/``.bin``/``.ckpt``) file.
    order : {"dw-pw", "pw-dw"} or sequence of them, optional
        Orders to analyse; both by default.
    multiplier : int
        Depth multiplier ``d`` tested for ``separable``.
    rtol : float, optional
        Relative-distance tolerance, as in :func:`~factorcheck.analyze`.
    layer : str or sequence of str, optional
        Shell-style patterns (``fnmatch``, case-sensitive); only layers whose
        name matches one of them are analysed.
    layout : {"OIHW", "HWIO", "OHWI"}, optional
        Layout of the weights for formats that do not fix it (npy, npz,
        safetensors); ``"OIHW"`` by default.  ONNX and PyTorch are always OIHW.
    max_bytes : int
        Largest tensor read.
    allow_external_data : bool
        ONNX: read external data from inside the model's folder, or refuse it.
    progress : callable, optional
        ``progress(done, total, name)`` after each layer.
    group : int, optional
        ``G`` for the weights of formats that do not record it (npy, npz,
        safetensors, PyTorch): each is then judged per group, like
        ``analyze(..., groups=G)``.  By default ``G`` is inferred from the
        shape; ONNX files always state it.

    Returns
    -------
    ScanResult
        Per-layer records, skipped convolutions with reasons, and the options.

    Raises
    ------
    FileFormatError
        The file is missing, malformed, unsafe, unsupported or too large.
    FactorcheckError
        An option is invalid.

    Notes
    -----
    Only the weight being analysed is held in memory, beyond the file's own
    memory map (and, for ONNX, the parsed protobuf).  Layers whose values
    cannot be analysed (NaN, a group that does not divide the channels) are
    listed in ``skipped`` rather than failing the scan.  When ``layout`` is
    not given for an npy, npz or safetensors file and weights look like HWIO
    (:func:`~factorcheck.kernel.layout_hint`), one
    :class:`~factorcheck.kernel.LayoutWarning` names them.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> rng = np.random.default_rng(0)
    >>> np.savez(path, sep=np.ones((8, 4, 3, 3)), rand=rng.standard_normal((8, 4, 3, 3)),
    ...          dw=rng.standard_normal((4, 1, 3, 3)))
    >>> for r in scan(path).layers:
    ...     print(r.name, r.kind, r.dw_pw.separable, r.dw_pw.min_multiplier)
    sep standard True 1
    rand standard False 8
    dw depthwise True 1
    """
    options = _options(order, multiplier, rtol, layer)
    _with_group((), group)  # validate before reading anything
    contents = read_model(path, max_bytes=max_bytes, allow_external_data=allow_external_data)
    if layout is not None:
        layout = check_layout(layout)
        if contents.format not in _FREE_LAYOUT and layout != "OIHW":
            raise FactorcheckError(
                f"layout {layout!r}: {contents.format} weights are always 'OIHW'; "
                f"layout applies only to {', '.join(sorted(_FREE_LAYOUT))} files"
            )
    if layout is None and contents.format in _FREE_LAYOUT:
        _warn_layout(contents.path, contents.kernels)
    return _scan_stored(_with_group(contents.kernels, group), contents.skipped, contents.path,
                        layout, options, progress)


def _warn_layout(path: str, kernels: Sequence[StoredKernel]) -> None:
    """One :class:`~factorcheck.kernel.LayoutWarning` per file whose weights look HWIO, not OIHW."""
    odd = [k for k in kernels if layout_hint(k.shape) is not None]
    if odd:
        first = odd[0]
        warnings.warn(
            f"{path!r}: {len(odd)} weight(s) look like HWIO, not OIHW (e.g. {first.name!r} "
            f"{'x'.join(map(str, first.shape))} would have {first.shape[2]}x{first.shape[3]} "
            "taps); pass --layout HWIO (layout='HWIO') if they are Keras/TensorFlow weights",
            LayoutWarning, stacklevel=3)


def scan_kernels(
    kernels: Mapping[str, Any] | Iterable[tuple[str, Any]] | Any,
    *,
    group: int | None = None,
    layout: str = "OIHW",
    order: str | Sequence[str] | None = None,
    multiplier: int = 1,
    rtol: float | None = None,
    layer: str | Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Analyse an in-memory model as :func:`scan` analyses a model file.

    Parameters
    ----------
    kernels : mapping, iterable of (name, array), or torch.nn.Module
        A state dict, ``np.load``-ed ``.npz`` data or any ``{name: array}``
        mapping (nested mappings are walked, keys joined by dots): it is read
        as a ``.npz`` or safetensors file is, so 3-D and 4-D arrays are the
        convolution weights, in ``layout``; other values (biases, batch-norm
        weights, linear weights) are listed in ``skipped`` with the reason; and
        depthwise layers are inferred from the shape (see the module notes).
        A ``torch.nn.Module`` is read as its ONNX export would be: every
        ``nn.Conv1d``/``nn.Conv2d`` with the groups, stride, padding and
        dilation the layer states.  torch is not imported unless the caller
        has already imported it.
    group : int, optional
        ``G`` for every kernel whose group the input does not state (all of a
        mapping's); by default it is inferred from the shape.
    layout, order, multiplier, rtol, layer, progress
        As in :func:`scan` (a Module is always ``"OIHW"``).

    Returns
    -------
    ScanResult
        Records with ``file == ""``.

    Examples
    --------
    >>> import numpy as np
    >>> result = scan_kernels({"pw": np.ones((8, 4, 1, 1)), "c": np.ones((8, 4, 3)),
    ...                        "dw": np.ones((8, 1, 3, 3)), "bias": np.zeros(8)})
    >>> [(r.name, r.kind, r.conv_dims, r.trivial) for r in result.layers]
    [('pw', 'pointwise', 2, True), ('c', 'standard', 1, False), ('dw', 'depthwise', 2, True)]
    >>> [(s.name, s.reason) for s in result.skipped]
    [('bias', '1-D tensor of shape (8,) is not a convolution weight (expected 3-D or 4-D)')]
    """
    options = _options(order, multiplier, rtol, layer)
    layout = check_layout(layout)
    _with_group((), group)  # validate before reading anything
    stored, skipped = list_in_memory(kernels, layout)
    return _scan_stored(_with_group(stored, group), skipped, "", layout, options, progress)


def _with_group(kernels: Sequence[StoredKernel], group: int | None) -> list[StoredKernel]:
    """``group`` for every kernel whose source does not state one (``None``: infer it)."""
    if group is not None and (isinstance(group, bool) or not isinstance(group, int)
                              or group < 1):
        raise FactorcheckError(f"group must be an integer >= 1 or None, got {group!r}")
    if group is None:
        return list(kernels)
    return [k if k.group is not None else replace(k, group=group) for k in kernels]
