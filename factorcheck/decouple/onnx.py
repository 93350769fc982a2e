"""Rewrite an ONNX model's standard convolutions as their nearest T-term separable ones.

Each chosen ``Conv`` node (group 1, kernel larger than 1 x 1, weight stored as
an initializer or a ``Constant``, possibly behind ``Identity`` nodes) becomes
two ``Conv`` nodes whose weights are the factors of
:func:`factorcheck.decouple`:

``dw-pw``
    ``Conv(group=M, M*T outputs, kh x kw`` with the original strides, pads,
    dilations and auto_pad) then ``Conv 1x1 (M*T -> N`` with the original bias).
``pw-dw``
    ``Conv 1x1 (M -> N*T)`` then ``Conv(group=N, N*T -> N, kh x kw`` with the
    original strides, pads, dilations, auto_pad and bias).

The weights are read by :func:`factorcheck.io.onnx.load_onnx` (the same
walker, checks and names as ``factorcheck check``), each layer's input size
comes from ONNX shape inference (``onnx_table``, the table ``factorcheck
network`` prints, which also gives the MAC counts), and the error
bounds from :mod:`factorcheck.decouple.bound`.  The rest of the graph, the
opset and any external data are kept; the output passes
``onnx.checker.check_model(full_check=True)``.

With ``terms`` every chosen layer gets that ``T`` (capped at the slice size),
even where it costs more MACs: with ``T`` at or above every slice's rank the
rewrite is exact, an equivalence test.  With ``energy`` or ``rtol`` each layer
gets the smallest ``T`` meeting the target, and a layer where that ``T`` does
not lower the MACs is left alone and listed as skipped, with the reason (the
rule of :func:`factorcheck.decouple.plan_layer`, which also counts the costs).
The error bounds take the layer's geometry from its grids
(:func:`factorcheck.decouple.layer_geometry`), so ``auto_pad`` needs no rules here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from factorcheck.decouple.bound import error_bound, operator_norm
from factorcheck.decouple.layer import layer_geometry, not_rewritten, plan_layer
from factorcheck.decouple.plan import _check_choice, _check_order, composed, decouple
from factorcheck.decouple.result import SCHEMA_VERSION, DecoupledLayer, DecoupleResult
from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.io._common import SkippedTensor, StoredKernel, require
from factorcheck.io.onnx import load_onnx
from factorcheck.network.onnx import onnx_table
from factorcheck.separability import Factors

__all__ = ["SCHEMA_VERSION", "DecoupleResult", "DecoupledLayer", "conv_grids", "decouple_onnx",
           "plan_onnx"]

#: A layer's ``(input grid, output grid)``, each ``(H, W)``.
Grid = tuple[tuple[int, int], tuple[int, int]]

#: Stored weight types the rewrite writes back (ONNX TensorProto code -> NumPy dtype).
_WRITABLE = {"float32": np.float32, "float16": np.float16, "float64": np.float64}


@dataclass(frozen=True)
class _Planned:
    """A layer to rewrite: its record, node attributes and factors (OIHW, stored dtype)."""

    layer: DecoupledLayer
    stored: StoredKernel
    factors: Factors = field(repr=False)

    def error_kernel(self) -> np.ndarray:
        """``K - P`` in float64: the original weight minus what the stored factors compose to."""
        return np.asarray(self.stored.load(), np.float64) - composed(self.factors)


def check_output_path(source: str | os.PathLike, output: str | os.PathLike) -> None:
    """Refuse an output that is the input file itself (same path, symbolic or hard link).

    Examples
    --------
    >>> check_output_path("a.onnx", "a.onnx")
    Traceback (most recent call last):
    ...
    factorcheck.errors.FactorcheckError: output 'a.onnx' is the input model itself; ...
    """
    same = os.path.abspath(source) == os.path.abspath(output)
    if not same and os.path.exists(output) and os.path.exists(source):
        a, b = os.stat(source), os.stat(output)
        same = (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    if same:
        raise FactorcheckError(f"output {os.fspath(output)!r} is the input model itself; "
                               "refused (choose another output path)")


# --------------------------------------------------------------------------- planning


def _unsupported(stored: StoredKernel, grid: Grid | None) -> str | None:
    """Why a listed Conv cannot be rewritten, or ``None``."""
    why = not_rewritten(len(stored.shape) - 2, stored.shape, stored.group or 1)
    if why is not None:
        return why
    if stored.dtype not in _WRITABLE:
        return f"{stored.dtype} weights are not rewritten"
    if grid is None:
        return "input size unknown after shape inference"
    return None


def _plan_layer(stored: StoredKernel, grid: Grid | None, order: str, choice: dict[str, Any]
                ) -> _Planned | SkippedTensor:
    """Choose T for one Conv, factor it and bound its error; or say why it stays."""
    why = _unsupported(stored, grid)
    if why is not None:
        return SkippedTensor(stored.name, why)
    weight = np.asarray(stored.load())
    shape = tuple(int(d) for d in weight.shape)
    in_hw, out_hw = grid  # type: ignore[misc]
    plan = plan_layer(weight, order=order, input_hw=in_hw, output_hw=out_hw, **choice)
    if not plan.rewritten:
        return SkippedTensor(stored.name, plan.reason)
    factors = decouple(weight, terms=plan.terms, order=order)
    geometry = layer_geometry(shape[2:], in_hw, out_hw, stride=stored.strides or 1,
                              dilation=stored.dilations or 1)
    layer = DecoupledLayer(
        name=stored.name, terms=plan.terms, rank=plan.rank, kernel=shape,
        input_hw=in_hw, macs_before=int(plan.standard.macs), macs_after=int(plan.decoupled.macs),
        params_before=int(plan.standard.params), params_after=int(plan.decoupled.params),
        relative_distance=plan.relative_distance, energy_kept=plan.energy_kept,
        layer_norm=operator_norm(weight, in_hw, **geometry),
        error_bound=error_bound(weight, composed(factors), in_hw, **geometry))
    return _Planned(layer, stored, factors)


def _layer_patterns(layer: str | Sequence[str] | None) -> tuple[str, ...]:
    return () if layer is None else (layer,) if isinstance(layer, str) else tuple(layer)


def conv_grids(path: str | os.PathLike, input_shape: tuple[int, ...] | None = None
               ) -> tuple[dict[str, list[Grid]], int]:
    """Each convolution's ``(input grid, output grid)`` by node name, and the model's MACs.

    Both come from ``factorcheck network``'s table
    (:func:`~factorcheck.network.onnx_table`: ONNX shape inference, ``input_shape``
    fixing a dynamic input); the MACs are those of every Conv, Gemm and MatMul,
    per sample.  A name lists one grid per node so named, in graph order.

    Examples
    --------
    >>> import os, tempfile
    >>> from factorcheck.testing import one_conv_onnx
    >>> path = one_conv_onnx(os.path.join(tempfile.mkdtemp(), "m.onnx"))
    >>> conv_grids(path)
    ({'conv': [((12, 12), (12, 12))]}, 41472)
    """
    table = onnx_table(path, input_shape=input_shape)
    grids: dict[str, list[Grid]] = {}
    for row in table.rows:
        if row.kernel is not None:
            grid = (tuple(int(v) for v in row.input_shape[1:]),
                    tuple(int(v) for v in row.output_shape[1:]))
            grids.setdefault(row.name, []).append(grid)  # type: ignore[arg-type]
    return grids, int(table.total_macs)


def plan_onnx(
    path: str | os.PathLike,
    *,
    terms: int | None = None,
    energy: float | None = None,
    rtol: float | None = None,
    order: str = "dw-pw",
    layer: str | Sequence[str] | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> tuple[DecoupleResult, tuple[_Planned, ...]]:
    """Choose ``T`` for every rewritable Conv of a model, factor it and bound the error.

    Returns the result (``output`` still ``None``) and the planned rewrites,
    which :func:`decouple_onnx` applies.  ``layer`` holds shell patterns
    (``fnmatch``, case-sensitive) of node names; layers that match none are
    left out entirely.

    Examples
    --------
    >>> import os, tempfile
    >>> from factorcheck.decouple.onnx import plan_onnx
    >>> from factorcheck.testing import one_conv_onnx
    >>> path = one_conv_onnx(os.path.join(tempfile.mkdtemp(), "m.onnx"))
    >>> result, _ = plan_onnx(path, terms=9)     # capped at the slice size min(8, 3*3)
    >>> [(l.name, l.terms, l.rank, l.macs_before, l.macs_after) for l in result.layers]
    [('conv', 8, 8, 41472, 78336)]
    """
    path = os.fspath(path)
    choice, order = _check_choice(terms, energy, rtol), _check_order(order)
    contents = load_onnx(path)
    patterns = _layer_patterns(layer)
    chosen = [k for k in contents.kernels if not patterns
              or any(fnmatchcase(k.name, p) for p in patterns)]
    _require_unique([k.name for k in contents.kernels], path)
    grids = conv_grids(path, input_shape)[0] if chosen else {}
    planned, skipped = [], [s for s in contents.skipped if not patterns
                            or any(fnmatchcase(s.name, p) for p in patterns)]
    for stored in chosen:
        found = _plan_layer(stored, grids.get(stored.name, [None])[0], order, choice)
        (planned if isinstance(found, _Planned) else skipped).append(found)
    result = DecoupleResult(path, None, order, tuple(p.layer for p in planned), tuple(skipped))
    return result, tuple(planned)


def _require_unique(names: list[str], path: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise FileFormatError(f"{path!r}: two Conv nodes are both named {name!r}; "
                                  "the rewrite needs unique node names")
        seen.add(name)


# --------------------------------------------------------------------------- rewriting


class _Names:
    """Fresh names derived from the originals, unique in the whole model."""

    def __init__(self, graph: Any) -> None:
        self.taken = {t.name for t in graph.initializer} | {n.name for n in graph.node}
        self.taken |= {v.name for v in (*graph.input, *graph.output, *graph.value_info)}
        self.taken |= {name for node in graph.node for name in (*node.input, *node.output)}

    def fresh(self, base: str) -> str:
        name, count = base, 1
        while name in self.taken:
            name, count = f"{base}_{count}", count + 1
        self.taken.add(name)
        return name


def _node_name(node: Any, index: int) -> str:
    """The name :func:`~factorcheck.io.onnx.load_onnx` gives a node."""
    return node.name or (node.output[0] if node.output else f"{node.op_type}_{index}")


def _copied_attributes(node: Any, drop: set[str]) -> list[Any]:
    return [a for a in node.attribute if a.name not in drop]


def _factor_nodes(node: Any, planned: _Planned, order: str, names: _Names, graph: Any,
                  output: str) -> list[Any]:
    """The two Conv nodes (and their weight initializers) replacing ``node``."""
    helper, numpy_helper = _onnx_parts()
    base = planned.stored.name
    n, m, kh, kw = planned.layer.kernel
    dtype = _WRITABLE[planned.stored.dtype]
    dw = np.ascontiguousarray(planned.factors.depthwise, dtype=dtype)
    pw = np.ascontiguousarray(planned.factors.pointwise, dtype=dtype)
    dw_name, pw_name = names.fresh(f"{base}/dw_weight"), names.fresh(f"{base}/pw_weight")
    graph.initializer.extend([numpy_helper.from_array(dw, dw_name),
                              numpy_helper.from_array(pw, pw_name)])
    middle = names.fresh(f"{base}/{order.split('-')[0]}_out")
    bias = list(node.input[2:3])
    spatial = _copied_attributes(node, {"group", "kernel_shape"})
    doc = f"factorcheck decouple {order} T={planned.layer.terms} of {base!r}"
    if order == "dw-pw":
        first = helper.make_node("Conv", [node.input[0], dw_name], [middle],
                                 name=names.fresh(f"{base}/dw"), group=m, kernel_shape=[kh, kw],
                                 doc_string=doc)
        first.attribute.extend(spatial)
        second = helper.make_node("Conv", [middle, pw_name, *bias], [output],
                                  name=names.fresh(f"{base}/pw"), kernel_shape=[1, 1],
                                  doc_string=doc)
        return [first, second]
    first = helper.make_node("Conv", [node.input[0], pw_name], [middle],
                             name=names.fresh(f"{base}/pw"), kernel_shape=[1, 1], doc_string=doc)
    second = helper.make_node("Conv", [middle, dw_name, *bias], [output],
                              name=names.fresh(f"{base}/dw"), group=n, kernel_shape=[kh, kw],
                              doc_string=doc)
    second.attribute.extend(spatial)
    return [first, second]


def _onnx_parts() -> tuple[Any, Any]:
    onnx = require("onnx", "onnx", "rewriting an .onnx file")
    return onnx.helper, onnx.numpy_helper


def _prune_weight(graph: Any, name: str) -> None:
    """Remove a weight no longer used (its initializer, or its Constant/Identity chain)."""
    while name:
        if any(name in node.input for node in graph.node) or name in {
                v.name for v in graph.output}:
            return
        for i, tensor in enumerate(graph.initializer):
            if tensor.name == name:
                del graph.initializer[i]
                return
        producer = next((i for i, n in enumerate(graph.node) if name in n.output), None)
        if producer is None or graph.node[producer].op_type not in ("Constant", "Identity"):
            return
        node = graph.node[producer]
        name = node.input[0] if node.op_type == "Identity" and node.input else ""
        del graph.node[producer]


def rewrite_graph(model: Any, planned: Sequence[_Planned], order: str) -> None:
    """Replace each planned Conv of ``model`` (in place) by its two factor convolutions."""
    graph = model.graph
    by_name = {p.stored.name: p for p in planned}
    names, nodes, weights = _Names(graph), [], []
    for index, node in enumerate(graph.node):
        found = by_name.get(_node_name(node, index)) if node.op_type == "Conv" else None
        if found is None:
            nodes.append(node)
            continue
        nodes.extend(_factor_nodes(node, found, order, names, graph, node.output[0]))
        weights.append(node.input[1])
    del graph.node[:]
    graph.node.extend(nodes)
    for weight in weights:
        _prune_weight(graph, weight)
    if model.ir_version < 4:  # initializers had to be graph inputs then
        graph.input.extend(_as_inputs(graph))


def _as_inputs(graph: Any) -> list[Any]:
    helper, _ = _onnx_parts()
    listed = {v.name for v in graph.input}
    return [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
            for t in graph.initializer if t.name not in listed]


def load_full(path: str) -> tuple[Any, set[str]]:
    """The whole model with its weights, and the files its external data came from.

    External data is read by ``onnx`` from the model's folder, after
    :func:`~factorcheck.io.onnx.load_onnx` has checked every Conv weight's location.
    """
    onnx = require("onnx", "onnx", "rewriting an .onnx file")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        model = onnx.load(path, load_external_data=False)
        files = {os.path.realpath(os.path.join(folder, entry.value))
                 for t in model.graph.initializer if t.data_location == 1
                 for entry in t.external_data if entry.key == "location"}
        if files:
            onnx.external_data_helper.load_external_data_for_model(model, folder)
    except Exception as err:  # already parsed once by load_onnx: this is rare
        raise FileFormatError(f"{path!r}: could not load the model ({err})") from None
    return model, files


def save_checked(model: Any, output: str, external: set[str], source: str) -> None:
    """Save ``model`` and check it fully; with ``external`` data, put it in ``OUT.onnx.data``.

    ``external`` lists the source's external data files, which are never
    overwritten.  A rewrite that fails
    ``onnx.checker.check_model(full_check=True)`` is removed again, and the
    error says whether the source model fails too.
    """
    onnx = require("onnx", "onnx", "writing an .onnx file")
    folder, name = os.path.split(os.path.abspath(output))
    data = os.path.join(folder, name + ".data")
    if external and os.path.realpath(data) in external:
        raise FactorcheckError(f"{data!r} holds the input model's external data; refused "
                               "(choose another output name)")
    try:
        if external:
            if os.path.exists(data):  # onnx appends to an existing data file
                os.remove(data)
            onnx.save(model, output, save_as_external_data=True, all_tensors_to_one_file=True,
                      location=os.path.basename(data), size_threshold=1024)
        else:
            onnx.save(model, output)
    except OSError as err:
        raise FactorcheckError(f"{output!r}: cannot write the model ({err.strerror})") from None
    try:
        onnx.checker.check_model(output, full_check=True)
    except Exception as err:
        for written in (output, data if external else ""):
            if written and os.path.exists(written):
                os.remove(written)
        raise FileFormatError(f"{output!r}: the rewrite fails onnx.checker ({err}); "
                              f"{_source_verdict(onnx, source)}; nothing written") from None


def _source_verdict(onnx: Any, source: str) -> str:
    try:
        onnx.checker.check_model(source, full_check=True)
    except Exception as err:
        return f"so does the source model ({err}): fix the source first"
    return "the source model passes: please report this as a bug"


def decouple_onnx(
    path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    terms: int | None = None,
    energy: float | None = None,
    rtol: float | None = None,
    order: str = "dw-pw",
    layer: str | Sequence[str] | None = None,
    input_shape: tuple[int, ...] | None = None,
    verify: int = 0,
    inputs: np.ndarray | None = None,
    seed: int = 0,
    benchmark: bool = False,
) -> DecoupleResult:
    """Rewrite a model's standard convolutions as T-term depthwise separable ones.

    Parameters
    ----------
    path, output : str or path-like
        The model read and the model written (refused if they are one file).
        Nothing is written when no layer is rewritten (``result.output`` is
        then ``None``).
    terms, energy, rtol : optional
        Exactly one: a fixed ``T`` (>= 1), or the smallest ``T`` per layer
        keeping that share of every slice's energy, or with at most that
        relative distance (see :func:`factorcheck.choose_terms`).
    order : {"dw-pw", "pw-dw"}
    layer : str or sequence of str, optional
        Shell patterns of the node names to consider (default: all).
    input_shape : tuple of int, optional
        The model input's shape (``N, C, H, W``) when the stored one is not fixed.
    verify : int
        Run both models on this many seeded random inputs in onnxruntime
        (:func:`factorcheck.decouple.verify.verify`); 0 for none.
    inputs : numpy.ndarray, optional
        Verify on this input instead of random ones.
    seed : int
        Seed of the random inputs (and of the rounding reference).
    benchmark : bool
        Time both models (:func:`factorcheck.decouple.verify.benchmark`).

    Returns
    -------
    DecoupleResult
        With ``verification`` and ``benchmark`` filled when asked for.

    Raises
    ------
    FactorcheckError
        Bad options, an unreadable model, an input shape that is not fixed, an
        output that is the input itself, or onnxruntime missing for ``verify``
        or ``benchmark`` (it names the ``runtime`` extra).

    Examples
    --------
    >>> import os, tempfile, onnx
    >>> from factorcheck.testing import one_conv_onnx
    >>> folder = tempfile.mkdtemp()
    >>> path = one_conv_onnx(os.path.join(folder, "m.onnx"))
    >>> result = decouple_onnx(path, os.path.join(folder, "out.onnx"), terms=2)
    >>> [n.op_type for n in onnx.load(result.output).graph.node]
    ['Conv', 'Conv']
    >>> result.layers[0].macs_after, result.totals["macs_before"]  # 144*(4*2*9 + 8*8), 144*8*4*9
    (19584, 41472)
    """
    from factorcheck.decouple import verify as checks  # it imports this module

    path, output = os.fspath(path), os.fspath(output)
    check_output_path(path, output)
    if verify < 0:
        raise FactorcheckError(f"verify: expected a count >= 0, got {verify}")
    if verify or inputs is not None or benchmark:
        checks.require_runtime()
    result, planned = plan_onnx(path, terms=terms, energy=energy, rtol=rtol, order=order,
                                layer=layer, input_shape=input_shape)
    if not planned:
        return result
    model, external = load_full(path)
    rewrite_graph(model, planned, result.order)
    save_checked(model, output, external, path)
    result = replace(result, output=output)
    samples = [np.asarray(inputs)] if inputs is not None else \
        checks.make_inputs(model, max(verify, int(benchmark)), seed, input_shape)
    if verify or inputs is not None:
        seed_used = None if inputs is not None else seed
        result = replace(result, verification=checks.verify(result, planned, samples,
                                                            seed=seed_used))
    if benchmark:
        result = replace(result, benchmark=checks.benchmark(path, output, samples[0]))
    return result
