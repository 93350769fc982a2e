"""Run a decoupled model against its original in onnxruntime: errors, certificates, speed.

:func:`verify` feeds the original and the rewrite the same inputs (seeded
Gaussian, or the caller's) and reports, per model output, the largest
absolute error and the relative Frobenius error.  Per rewritten layer it
measures the layer's *own* error, on the activation that really reaches it:
the original model is run once more with each rewritten Conv's input ``x`` as
an extra output, and ``conv_K(x) - conv_P(x) = conv_{K-P}(x)`` is computed in
float64 (:func:`factorcheck.conv.conv2d`, the stored factors composed
exactly), so that ``||conv_{K-P}(x)|| / (error_bound * ||x||)`` is the measured
share of the certified bound, free of float32 evaluation rounding (which the
bound does not cover).  It must never exceed 1.

Where every layer has ``T`` at or above its rank the rewrite should equal the
original up to rounding.  What "up to rounding" means depends on the model: a
deep network amplifies a last-bit change of its weights.  So the reference is
measured too: the original is run with the rewritten layers' weights
perturbed by one unit roundoff of float32 (``2**-24``, random signs, seeded),
and the rewrite counts as exact when each output's error is at most
:data:`EXACT_FACTOR` times the reference change.

:func:`benchmark` times both models (median of interleaved runs) with one
thread and with onnxruntime's default threads.  onnxruntime comes with the
``runtime`` extra: ``pip install 'factorcheck[runtime]'``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError
from factorcheck.io._common import require

__all__ = ["EXACT_FACTOR", "Benchmark", "LayerCheck", "OutputCheck", "Timing", "Verification",
           "benchmark", "make_inputs", "require_runtime", "verify"]

#: An exact rewrite's output error may be this many times the float32 weight-rounding reference.
EXACT_FACTOR = 16.0
#: Relative size of the reference perturbation of the weights: float32's unit roundoff.
ROUNDING = 2.0**-24
_TENSOR_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}


def require_runtime() -> Any:
    """The ``onnxruntime`` module, or an error naming the ``runtime`` extra.

    Examples
    --------
    >>> require_runtime().__name__
    'onnxruntime'
    """
    return require("onnxruntime", "runtime", "running models (--verify, --benchmark)")


@dataclass(frozen=True)
class OutputCheck:
    """Errors of one model output: rewrite against original.

    ``reference_relative_error`` is the relative change caused by perturbing the
    weights at float32 rounding level (``None`` when exactness was not judged).
    """

    name: str
    max_abs_error: float
    relative_error: float
    reference_relative_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "max_abs_error": self.max_abs_error,
                "relative_error": self.relative_error,
                "reference_relative_error": self.reference_relative_error}


@dataclass(frozen=True)
class LayerCheck:
    """One layer's own measured error against its certified bound, worst over the inputs.

    ``measured`` is ``||conv_{K-P}(x)|| / ||x||`` in float64 on the activation
    that reaches the layer; ``ratio`` is ``measured / error_bound``: at most 1.
    """

    name: str
    measured: float
    certified: float
    ratio: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured_relative_to_input": self.measured,
                "error_bound": self.certified, "ratio": self.ratio}


@dataclass(frozen=True)
class Verification:
    """What running both models found (see the module docstring).

    Examples
    --------
    >>> v = Verification(2, 0, None, (OutputCheck("y", 1e-6, 1e-7),), (), True)
    >>> v.max_ratio, v.to_dict()["exact_to_rounding"]
    (0.0, True)
    """

    inputs: int
    seed: int | None
    input_file: str | None
    outputs: tuple[OutputCheck, ...]
    layers: tuple[LayerCheck, ...]
    exact: bool | None

    @property
    def max_ratio(self) -> float:
        """The largest measured/certified ratio over the layers (0 without layers)."""
        return max((layer.ratio for layer in self.layers), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "seed": self.seed, "input_file": self.input_file,
                "outputs": [o.to_dict() for o in self.outputs],
                "layers": [layer.to_dict() for layer in self.layers],
                "max_ratio": self.max_ratio, "exact_to_rounding": self.exact,
                "exact_factor": EXACT_FACTOR if self.exact is not None else None}


@dataclass(frozen=True)
class Timing:
    """Median latency (ms) of both models under one thread setting."""

    threads: str
    before_ms: float
    after_ms: float

    @property
    def speedup(self) -> float:
        return self.before_ms / self.after_ms if self.after_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "before_ms": self.before_ms,
                "after_ms": self.after_ms, "speedup": self.speedup}


@dataclass(frozen=True)
class Benchmark:
    """Latencies side by side: one :class:`Timing` per thread setting."""

    repeats: int
    timings: tuple[Timing, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"repeats": self.repeats, "timings": [t.to_dict() for t in self.timings]}


# --------------------------------------------------------------------------- inputs


def _graph_input(model: Any) -> tuple[str, type, tuple]:
    """The one non-initializer graph input: (name, NumPy dtype, dims with None for unknown)."""
    stored = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in stored]
    if len(inputs) != 1:
        raise FactorcheckError(f"expected a model with one input, got {[v.name for v in inputs]}")
    tensor = inputs[0].type.tensor_type
    dtype = _TENSOR_TYPES.get(tensor.elem_type)
    if dtype is None:
        raise FactorcheckError(f"input {inputs[0].name!r}: element type {tensor.elem_type} is "
                               "not a float type; give the inputs with --input")
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in tensor.shape.dim)
    return inputs[0].name, dtype, dims


def make_inputs(model: Any, count: int, seed: int,
                input_shape: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """``count`` seeded standard-normal inputs of the model's input shape (or ``input_shape``).

    Examples
    --------
    >>> import os, tempfile, onnx
    >>> from factorcheck.testing import one_conv_onnx
    >>> model = onnx.load(one_conv_onnx(os.path.join(tempfile.mkdtemp(), "m.onnx")))
    >>> [x.shape for x in make_inputs(model, 2, seed=0)]
    [(1, 4, 12, 12), (1, 4, 12, 12)]
    """
    _, dtype, dims = _graph_input(model)
    shape = tuple(input_shape) if input_shape is not None else dims
    if None in shape:
        raise FactorcheckError(f"the model's input shape is not fixed (got {shape}); "
                               "give one, e.g. --input-shape 1x3x224x224")
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(count)]


def _session(model: Any, threads: int = 0) -> Any:
    """An onnxruntime CPU session for a model (``ModelProto`` or path)."""
    ort = require_runtime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    source = model if isinstance(model, str) else model.SerializeToString()
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own Fail/InvalidGraph exceptions
        raise FactorcheckError(f"onnxruntime cannot load the model ({err})") from None


def _run(session: Any, x: np.ndarray, names: Sequence[str] | None = None) -> dict[str, Any]:
    feed = {session.get_inputs()[0].name: x}
    try:
        values = session.run(names, feed)
    except Exception as err:
        raise FactorcheckError(f"onnxruntime failed on an input of shape {x.shape} ({err})"
                               ) from None
    chosen = names or [o.name for o in session.get_outputs()]
    return dict(zip(chosen, values, strict=True))


# --------------------------------------------------------------------------- verify


class _Sums:
    """Running squared norms and maxima of differences, per name."""

    def __init__(self) -> None:
        self.diff: dict[str, float] = {}
        self.base: dict[str, float] = {}
        self.max_abs: dict[str, float] = {}

    def add(self, name: str, a: np.ndarray, b: np.ndarray) -> None:
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        delta = a64 - b64
        self.diff[name] = self.diff.get(name, 0.0) + float(np.sum(delta * delta))
        self.base[name] = self.base.get(name, 0.0) + float(np.sum(b64 * b64))
        self.max_abs[name] = max(self.max_abs.get(name, 0.0), float(np.max(np.abs(delta),
                                                                         initial=0.0)))

    def relative(self, name: str) -> float:
        base = self.base.get(name, 0.0)
        return float(np.sqrt(self.diff[name] / base)) if base > 0 else float(
            np.sqrt(self.diff[name]))


def _probe(source: str, planned: Sequence[Any]) -> tuple[Any, dict[str, tuple[str, dict]]]:
    """The original model with each rewritten Conv's input as an extra output.

    Returns the model and, per layer, the input's value name and the Conv's
    geometry (stride, padding as ``((top, bottom), (left, right))``, dilation).
    """
    onnx = require("onnx", "onnx", "verifying a rewrite")
    from factorcheck.decouple.onnx import _node_name, load_full
    from factorcheck.network.shapes import conv_pads

    model, _ = load_full(source)
    convs = {_node_name(n, i): n for i, n in enumerate(model.graph.node) if n.op_type == "Conv"}
    listed, probes = {v.name for v in model.graph.output}, {}
    for p in planned:
        node, (_, _, kh, kw) = convs[p.stored.name], p.layer.kernel
        stride, dilation = p.stored.strides or (1, 1), p.stored.dilations or (1, 1)
        padding = conv_pads(node, p.layer.input_hw, (kh, kw), stride, dilation)
        probes[p.stored.name] = (node.input[0], {"stride": stride, "padding": padding,
                                                 "dilation": dilation})
        if node.input[0] not in listed:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(node.input[0]))
            listed.add(node.input[0])
    return model, probes


def _perturbed(source: str, planned: Sequence[Any], seed: int) -> Any:
    """The original with the rewritten layers' weights moved by float32 rounding (random signs)."""
    from factorcheck.decouple.onnx import _Names, _node_name, load_full

    onnx = require("onnx", "onnx", "verifying a rewrite")
    model, _ = load_full(source)
    rng, names = np.random.default_rng(seed), _Names(model.graph)
    by_name = {p.stored.name: p for p in planned}
    for index, node in enumerate(model.graph.node):
        found = by_name.get(_node_name(node, index)) if node.op_type == "Conv" else None
        if found is None:
            continue
        weight = np.asarray(found.stored.load())
        signs = rng.choice([-1.0, 1.0], size=weight.shape)
        changed = (weight.astype(np.float64) * (1.0 + ROUNDING * signs)).astype(weight.dtype)
        fresh = names.fresh(f"{found.stored.name}/perturbed_weight")
        model.graph.initializer.append(onnx.numpy_helper.from_array(changed, fresh))
        node.input[1] = fresh
    return model


def _layer_checks(probe_runs: list[dict], probes: dict, planned: Sequence[Any]
                  ) -> tuple[LayerCheck, ...]:
    """Each layer's own error ``||conv_{K-P}(x)|| / ||x||`` in float64, worst over the inputs."""
    from factorcheck.conv import conv2d

    checks = []
    for p in planned:
        x_name, geometry = probes[p.stored.name]
        difference, bound = p.error_kernel(), p.layer.error_bound
        worst = 0.0
        for run in probe_runs:
            x = np.asarray(run[x_name], np.float64)
            x_norm = float(np.linalg.norm(x))
            if x_norm > 0:
                worst = max(worst, float(np.linalg.norm(conv2d(x, difference, **geometry)))
                            / x_norm)
        ratio = worst / bound if bound > 0 else 0.0
        checks.append(LayerCheck(p.stored.name, worst, bound, ratio))
    return tuple(checks)


def verify(result: Any, planned: Sequence[Any], inputs: Sequence[np.ndarray], *,
           seed: int | None = 0, input_file: str | None = None) -> Verification:
    """Run the original and the rewrite of ``result`` on ``inputs``; compare.

    ``planned`` is what :func:`~factorcheck.decouple.onnx.plan_onnx` returned
    (the factors, to measure each layer's own error).  Exactness is judged
    when ``result.exact`` (every ``T`` at or above its layer's rank).

    Examples
    --------
    >>> import os, tempfile, onnx
    >>> from factorcheck.decouple.onnx import decouple_onnx
    >>> from factorcheck.testing import one_conv_onnx
    >>> folder = tempfile.mkdtemp()
    >>> path = one_conv_onnx(os.path.join(folder, "m.onnx"), stride=2, bias=True)
    >>> r = decouple_onnx(path, os.path.join(folder, "out.onnx"), terms=9, verify=3)
    >>> v = r.verification
    >>> v.exact, v.outputs[0].relative_error < 1e-6, v.max_ratio <= 1
    (True, True, True)
    """
    if result.output is None:
        raise FactorcheckError("nothing was rewritten: there is no model to verify")
    original, rewritten = _session(result.source), _session(result.output)
    probe_model, probes = _probe(result.source, planned)
    probe = _session(probe_model)
    perturbed = _session(_perturbed(result.source, planned, seed or 0)) if result.exact else None
    errors, reference, probe_runs = _Sums(), _Sums(), []
    for x in inputs:
        before, after = _run(original, x), _run(rewritten, x)
        for name, value in before.items():
            errors.add(name, after[name], value)
        if perturbed is not None:
            for name, value in _run(perturbed, x).items():
                reference.add(name, value, before[name])
        probe_runs.append(_run(probe, x, sorted({name for name, _ in probes.values()})))
    layers = _layer_checks(probe_runs, probes, planned)
    return _verification(errors, reference, layers, len(inputs), seed, input_file,
                         perturbed is not None)


def _verification(errors: _Sums, reference: _Sums, layers: tuple[LayerCheck, ...], count: int,
                  seed: int | None, input_file: str | None, judged: bool) -> Verification:
    outputs = tuple(OutputCheck(name, errors.max_abs[name], errors.relative(name),
                                reference.relative(name) if judged else None)
                    for name in errors.diff)
    exact = None
    if judged:
        exact = all(o.relative_error <= EXACT_FACTOR * max(o.reference_relative_error, 2**-60)
                    for o in outputs)
    return Verification(count, seed, input_file, outputs, layers, exact)


# --------------------------------------------------------------------------- speed


def _median_ms(sessions: Sequence[Any], x: np.ndarray, repeats: int) -> list[float]:
    """Median latency of each session, runs interleaved so drift hits both alike."""
    times: list[list[float]] = [[] for _ in sessions]
    for session in sessions:  # warm-up
        _run(session, x)
    for _ in range(repeats):
        for i, session in enumerate(sessions):
            start = time.perf_counter()
            _run(session, x)
            times[i].append(1000.0 * (time.perf_counter() - start))
    return [statistics.median(t) for t in times]


def benchmark(source: str, output: str, x: np.ndarray, *, repeats: int = 20) -> Benchmark:
    """Median onnxruntime latency of both models, one thread and default threads.

    Examples
    --------
    >>> import os, tempfile, onnx
    >>> from factorcheck.decouple.onnx import decouple_onnx
    >>> from factorcheck.testing import one_conv_onnx
    >>> folder = tempfile.mkdtemp()
    >>> path = one_conv_onnx(os.path.join(folder, "m.onnx"))
    >>> out = decouple_onnx(path, os.path.join(folder, "out.onnx"), terms=1).output
    >>> x, = make_inputs(onnx.load(path), 1, seed=0)
    >>> [t.threads for t in benchmark(path, out, x, repeats=3).timings]
    ['1', 'default']
    """
    timings = []
    for threads, label in ((1, "1"), (0, "default")):
        before, after = _median_ms([_session(source, threads), _session(output, threads)], x,
                                   repeats)
        timings.append(Timing(label, before, after))
    return Benchmark(repeats, tuple(timings))
