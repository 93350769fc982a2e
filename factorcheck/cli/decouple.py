"""``factorcheck decouple MODEL.onnx -o OUT.onnx``: rewrite standard convs as T-term DSCs.

Exactly one of ``--terms T`` (the same T everywhere, even where it costs
more: with T at or above every rank the rewrite is an exact equivalence test),
``--energy E`` or ``--rtol R`` (the smallest T per layer meeting the target;
layers where it would not save MACs are left alone, with the reason).  The
work is done by :func:`factorcheck.decouple.onnx.decouple_onnx`; ``--verify``
and ``--benchmark`` run both models in onnxruntime (the ``runtime`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from typing import Any

import numpy as np

from factorcheck.cli.network import parse_input_shape
from factorcheck.decouple.onnx import decouple_onnx
from factorcheck.decouple.result import DecoupleResult
from factorcheck.errors import FactorcheckError
from factorcheck.report.escape import printable, shorten
from factorcheck.separability import ORDERS

__all__ = ["format_result", "register", "run"]

_EPILOG = """\
exit status: 0 the model was rewritten, or there was nothing to decouple; 2 bad input
(unreadable model, bad option, output equal to the input, onnxruntime missing for --verify).
MACs and parameters are per sample, biases not counted, as `factorcheck network` counts them.
ratio: MACs after / before; rel.dist: relative Frobenius distance of the T-term kernel;
max rel.err: the certified bound on ||conv_K(x) - conv_P(x)|| / ||conv_K|| over all inputs x
at the layer's input size (error_bound / layer_norm in the JSON).
"""


def _at_least_one(what: str) -> Any:
    """An argparse type: a decimal integer >= 1, else an error saying what was expected."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected {what} >= 1, got {text!r}")
        return value

    return parse


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``decouple`` subcommand.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="factorcheck")
    >>> _ = register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["decouple", "m.onnx", "-o", "out.onnx", "--terms", "2"])
    >>> args.model, args.output, args.terms, args.order
    ('m.onnx', 'out.onnx', 2, 'dw-pw')
    """
    p = subparsers.add_parser(
        "decouple", help="rewrite an ONNX model's standard convs as T-term separable ones",
        description=__doc__.split("\n\n")[0], epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL.onnx", help="the model to rewrite")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                   help="where to write the rewritten model (never the input itself)")
    choice = p.add_mutually_exclusive_group(required=True)
    choice.add_argument("--terms", type=_at_least_one("an integer"), metavar="T",
                        help="T terms in every layer")
    choice.add_argument("--energy", type=float, metavar="E",
                        help="per layer, the smallest T keeping share E of every slice's energy")
    choice.add_argument("--rtol", type=float, metavar="R",
                        help="per layer, the smallest T with relative distance <= R")
    p.add_argument("--order", choices=list(ORDERS), default="dw-pw",
                   help="depthwise then pointwise (default), or pointwise then depthwise")
    p.add_argument("--layer", action="append", metavar="GLOB",
                   help="only Conv nodes whose name matches (shell pattern; repeatable)")
    p.add_argument("--input-shape", type=parse_input_shape, metavar="NxCxHxW",
                   help="fix the model's input shape, e.g. 1x3x640x640")
    p.add_argument("--verify", type=_at_least_one("a number of inputs"), default=0, metavar="N",
                   help="run both models on N seeded random inputs in onnxruntime")
    p.add_argument("--input", metavar="FILE.npy", help="verify on this input instead")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--benchmark", action="store_true",
                   help="median onnxruntime latency of both models, 1 and default threads")
    p.add_argument("--json", action="store_true", help="print JSON (schema_version 1)")
    p.set_defaults(func=run)
    return p


def _load_input(path: str | None) -> np.ndarray | None:
    """The ``--input`` array (``allow_pickle=False``), or ``None``."""
    if path is None:
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise FactorcheckError(f"--input {path!r}: expected a .npy array ({err})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise FactorcheckError(f"--input {path!r}: expected one float array")
    return array


def run(args: argparse.Namespace) -> int:
    """Rewrite, verify and time as asked; print the table or the JSON; return 0.

    Examples
    --------
    >>> import os, tempfile
    >>> from factorcheck.testing import one_conv_onnx
    >>> folder = tempfile.mkdtemp()
    >>> path = one_conv_onnx(os.path.join(folder, "m.onnx"))
    >>> ns = argparse.Namespace(model=path, output=os.path.join(folder, "out.onnx"), terms=9,
    ...     energy=None, rtol=None, order="dw-pw", layer=None, input_shape=None, verify=0,
    ...     input=None, seed=0, benchmark=False, json=False)
    >>> run(ns)  # T is capped at the slice size, 8 outputs  # doctest: +ELLIPSIS
    decouple ...m.onnx (dw-pw, T = 9)
    layer  kernel   input  T  rank  MACs before  MACs after   ratio   rel.dist  max rel.err
    conv   8x4x3x3  12x12  8     8       41,472      78,336  1.8889  0.000e+00    ...e-08
    total                                41,472      78,336  1.8889
    wrote ...out.onnx
    0
    """
    if os.path.isdir(args.output):
        raise FactorcheckError(f"-o {args.output!r}: is a folder, expected a file path")
    result = decouple_onnx(
        args.model, args.output, terms=args.terms, energy=args.energy, rtol=args.rtol,
        order=args.order, layer=args.layer, input_shape=args.input_shape, verify=args.verify,
        inputs=_load_input(args.input), seed=args.seed, benchmark=args.benchmark)
    if result.verification is not None and args.input is not None:
        result = replace(result, verification=replace(result.verification,
                                                      input_file=args.input))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(format_result(result, _choice_text(args)))
    return 0


def _choice_text(args: argparse.Namespace) -> str:
    if args.terms is not None:
        return f"T = {args.terms}"
    return f"energy >= {args.energy:g}" if args.energy is not None else f"rtol {args.rtol:g}"


# ---------------------------------------------------------------- rendering


def _align(rows: list[list[str]], left: int) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _layer_rows(result: DecoupleResult) -> list[str]:
    rows = [["layer", "kernel", "input", "T", "rank", "MACs before", "MACs after", "ratio",
             "rel.dist", "max rel.err"]]
    for la in result.layers:
        rows.append([shorten(printable(la.name)), "x".join(map(str, la.kernel)),
                     "x".join(map(str, la.input_hw)), str(la.terms), str(la.rank),
                     f"{la.macs_before:,}", f"{la.macs_after:,}",
                     f"{la.macs_after / la.macs_before:.4f}", f"{la.relative_distance:.3e}",
                     f"{la.relative_error_bound:.3e}"])
    t = result.totals
    rows.append(["total", "", "", "", "", f"{t['macs_before']:,}", f"{t['macs_after']:,}",
                 f"{t['macs_after'] / t['macs_before']:.4f}", "", ""])
    return _align(rows, left=3)


def _verification_lines(v: Any) -> list[str]:
    source = f"input {v.input_file}" if v.input_file else \
        f"{v.inputs} random input{'s' * (v.inputs != 1)}, seed {v.seed}"
    lines = [f"verification in onnxruntime ({source}):"]
    for o in v.outputs:
        ref = "" if o.reference_relative_error is None else \
            f" (float32 weight-rounding reference {o.reference_relative_error:.3e})"
        lines.append(f"  output {printable(o.name)}: max abs error {o.max_abs_error:.3e}, "
                     f"relative error {o.relative_error:.3e}{ref}")
    if v.layers:
        worst = max(v.layers, key=lambda c: c.ratio)
        lines.append(f"  largest measured / certified layer error: {v.max_ratio:.4f} "
                     f"(layer {printable(worst.name)}; never above 1)")
    if v.exact is not None:
        lines.append(f"  exact to rounding (T >= rank everywhere): {'yes' if v.exact else 'NO'}")
    return lines


def _benchmark_lines(b: Any) -> list[str]:
    rows = [["threads", "before ms", "after ms", "speedup"]]
    rows += [[t.threads, f"{t.before_ms:.2f}", f"{t.after_ms:.2f}", f"{t.speedup:.2f}x"]
             for t in b.timings]
    return [f"onnxruntime latency, median of {b.repeats} interleaved runs:",
            *("  " + line for line in _align(rows, left=1))]


def _skipped_lines(skipped: Any) -> list[str]:
    """One line per reason, naming the layers it applies to (in model order)."""
    by_reason: dict[str, list[str]] = {}
    for s in skipped:
        by_reason.setdefault(s.reason, []).append(shorten(printable(s.name)))
    return [f"skipped ({printable(reason)}): {', '.join(names)}"
            for reason, names in by_reason.items()]


def format_result(result: DecoupleResult, choice: str) -> str:
    """The rewrite as aligned text: layers, totals, skipped, verification, benchmark.

    Examples
    --------
    >>> print(format_result(DecoupleResult("m.onnx", None, "dw-pw", (), ()), "T = 2"))
    nothing to decouple in m.onnx: no Conv with group 1, a kernel larger than 1x1 and stored weights
    """
    head = f"decouple {printable(result.source)} ({result.order}, {choice})"
    if not result.layers:
        lines = [(f"nothing to decouple in {printable(result.source)}: no Conv with group 1, "
                  "a kernel larger than 1x1 and stored weights")]
    else:
        lines = [head, *_layer_rows(result)]
    lines += _skipped_lines(result.skipped)
    if result.verification is not None:
        lines += _verification_lines(result.verification)
    if result.benchmark is not None:
        lines += _benchmark_lines(result.benchmark)
    if result.output is not None:
        lines.append(f"wrote {printable(result.output)}")
    return "\n".join(lines)
