"""``factorcheck network NAME|MODEL.onnx``: per-layer MACs and parameters of a whole network.

NAME is a built-in network (``mobilenet-v1``); MODEL.onnx a model file whose
Conv, Gemm and MatMul nodes are counted.  ``--alpha`` and ``--resolution``
scale a built-in network, ``--symbolic`` keeps both as symbols and checks how
the totals scale, ``--as-standard`` compares with standard convolutions.
``--alpha`` is read as an exact fraction and ``--resolution`` with
:func:`int`; no text is ever evaluated.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import sympy

from factorcheck.errors import FactorcheckError
from factorcheck.onnx_network import onnx_table
from factorcheck.symbolic.network import (
    ALPHA,
    CONVENTION,
    RHO,
    NetworkComparison,
    NetworkTable,
    compare_standard,
    network_table,
    scaling_proof,
)
from factorcheck.symbolic.networks_builtin import BUILTIN_NETWORKS, builtin_network

__all__ = ["format_comparison", "format_table", "parse_input_shape", "register", "run"]

_EPILOG = f"""\
built-in networks: {", ".join(BUILTIN_NETWORKS)}
convention: {CONVENTION}.
exit status: 0 the table was printed; 2 bad input (unknown name, bad option, unreadable model).
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``network`` subcommand.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="factorcheck")
    >>> _ = register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["network", "mobilenet-v1", "--alpha", "3/4"])
    >>> args.target, args.alpha, args.resolution
    ('mobilenet-v1', '3/4', None)
    """
    p = subparsers.add_parser(
        "network", help="per-layer MACs and parameters of a network (MobileNet v1 built in)",
        description=__doc__.split("\n\n")[0], epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="NAME|MODEL.onnx",
                   help=f"a built-in network ({', '.join(BUILTIN_NETWORKS)}) or an ONNX file")
    p.add_argument("--alpha", metavar="A", help="width multiplier, e.g. 0.75 or 3/4 (default 1)")
    p.add_argument("--resolution", metavar="R",
                   help="input height = width (default: the network's)")
    p.add_argument("--bias", action="store_true", help="count biases")
    p.add_argument("--symbolic", action="store_true",
                   help="keep alpha and rho as symbols and check how the totals scale")
    p.add_argument("--as-standard", action="store_true",
                   help="compare with each depthwise + pointwise pair as one standard convolution")
    p.add_argument("--input-shape", type=parse_input_shape, metavar="NxCxHxW",
                   help="ONNX only: fix the model's input shape, e.g. 1x3x224x224")
    p.add_argument("--json", action="store_true", help="print JSON (schema_version 1)")
    p.set_defaults(func=run)
    return p


def parse_input_shape(text: str) -> tuple[int, ...]:
    """Parse ``"1x3x224x224"`` with :func:`int` (never evaluated).

    Examples
    --------
    >>> parse_input_shape("1x3x224x224")
    (1, 3, 224, 224)
    """
    parts = text.lower().split("x")
    try:
        dims = tuple(int(part.strip(), 10) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"input shape: expected integers like 1x3x224x224, got {text!r}") from None
    if any(d < 1 or d > 2**63 - 1 for d in dims) or len(dims) > 8:  # protobuf dims are int64
        raise argparse.ArgumentTypeError(
            f"input shape: expected up to 8 integers in 1..2**63-1, got {text!r:.80}")
    return dims


def _resolution(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise FactorcheckError(f"resolution: expected an integer, got {text!r}") from None


def _is_model_file(target: str) -> bool:
    return target.lower().endswith(".onnx") or os.path.isfile(target)


def _table(args: argparse.Namespace) -> NetworkTable:
    """Build the table the options ask for, refusing options that do not apply."""
    if _is_model_file(args.target):
        given = [f"--{n}" for n in ("alpha", "resolution") if getattr(args, n) is not None]
        if given or args.symbolic:
            raise FactorcheckError(f"{' '.join(given + ['--symbolic'] * args.symbolic)}: "
                                   "expected a built-in network; a model file has fixed sizes")
        return onnx_table(args.target, input_shape=args.input_shape, bias=args.bias)
    network = builtin_network(args.target)
    if args.input_shape is not None:
        raise FactorcheckError("--input-shape: applies to .onnx files; use --resolution")
    if args.symbolic:
        if args.alpha is not None or args.resolution is not None:
            raise FactorcheckError("--symbolic keeps alpha and rho as symbols: "
                                   "expected no --alpha or --resolution")
        return network_table(network, alpha=ALPHA, resolution=RHO, bias=args.bias)
    return network_table(network, alpha="1" if args.alpha is None else args.alpha,
                         resolution=_resolution(args.resolution), bias=args.bias)


def run(args: argparse.Namespace) -> int:
    """Print the table (or comparison, or JSON); 0, or a FactorcheckError for bad input.

    Examples
    --------
    >>> ns = argparse.Namespace(target="mobilenet-v1", alpha=None, resolution=None, bias=False,
    ...     symbolic=False, as_standard=False, input_shape=None, json=False)
    >>> run(ns)  # doctest: +ELLIPSIS
    mobilenet-v1: input 3x224x224, alpha 1, biases not counted
    ...
    total ...568,740,352  4,209,088
    ...
    0
    """
    table = _table(args)
    result: NetworkTable | NetworkComparison = compare_standard(table) if args.as_standard \
        else table
    if args.json:
        data = result.to_dict()
        if args.symbolic:
            proof = scaling_proof(builtin_network(args.target), bias=args.bias)
            data["scaling"] = {"ok": proof.ok, "text": proof.to_text(),
                               "findings": list(proof.findings)}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(format_comparison(result) if args.as_standard else format_table(result))
    if args.symbolic:
        print()
        print(scaling_proof(builtin_network(args.target), bias=args.bias).to_text(), end="")
    return 0


# ---------------------------------------------------------------- rendering


def _printable(text: str) -> str:
    """Escape control characters of a name read from a file."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _value(value: Any) -> str:
    if isinstance(value, (int, sympy.Integer)):
        return f"{int(value):,}"
    return sympy.sstr(value)


def _dims(values: Any) -> str:
    """``3x224x224`` for numbers, ``(32*alpha, rho/2, rho/2)`` for expressions."""
    if values is None:
        return "-"
    if all(isinstance(v, (int, sympy.Integer)) for v in values):
        return "x".join(str(v) for v in values)
    return "(" + ", ".join(sympy.sstr(v) for v in values) + ")"


def _percent(share: sympy.Expr) -> str:
    return f"{100 * float(share):.2f}%" if share.is_number else sympy.sstr(share)


def _align(rows: list[list[str]], left: int) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` columns left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _header(table: NetworkTable) -> str:
    alpha = "-" if table.alpha is None else sympy.sstr(table.alpha)
    bias = "biases counted" if table.bias else "biases not counted"
    line = f"{_printable(table.name)}: input {_dims(table.input_shape)}, alpha {alpha}, {bias}"
    return line + (f"\nassuming {table.assumption}" if table.assumption else "")


def format_table(table: NetworkTable) -> str:
    """The per-layer table, totals, shares by type and any skipped nodes, as aligned text.

    Examples
    --------
    >>> from factorcheck.symbolic.network import Network, conv, network_table
    >>> print(format_table(network_table(Network("n", 3, 8, (conv("c", 4, 3, padding=1),)))))
    n: input 3x8x8, alpha 1, biases not counted
     #  layer  type      input  output  kernel  stride   MACs  params
     1  c      standard  3x8x8  4x8x8   3x3     1x1     6,912     108
        total                                           6,912     108
    <BLANKLINE>
    type      layers   MACs    share  params    share
    standard       1  6,912  100.00%     108  100.00%
    """
    rows = [["#", "layer", "type", "input", "output", "kernel", "stride", "MACs", "params"]]
    for r in table.rows:
        rows.append([str(r.index), _printable(r.name), r.type, _dims(r.input_shape),
                     _dims(r.output_shape), _dims(r.kernel), _dims(r.stride), _value(r.macs),
                     _value(r.params)])
    totals = [_value(table.total_macs), _value(table.total_params)]
    if not table.symbolic:
        rows.append(["", "total", "", "", "", "", "", *totals])
    lines = [_header(table), *(" " + line for line in _align(rows, left=7))]
    if table.symbolic:
        lines += [f"total MACs = {totals[0]}", f"total params = {totals[1]}"]
    lines.append("")
    shares = [["type", "layers", "MACs", "share", "params", "share"]]
    shares += [[s.type, str(s.layers), _value(s.macs), _percent(s.macs_share), _value(s.params),
                _percent(s.params_share)] for s in table.shares()]
    lines += _align(shares, left=1)
    lines += [f"skipped {_printable(s.name)}: {_printable(s.reason)}" for s in table.skipped]
    return "\n".join(lines)


def _ratio(ratio: sympy.Expr) -> str:
    if not ratio.is_number:
        return sympy.sstr(ratio)
    return f"{float(ratio):.4f}" + (f" ({1 / float(ratio):.2f}x)" if ratio else "")


def format_comparison(cmp: NetworkComparison) -> str:
    """Block-by-block and total ratios of separable to standard MACs and parameters.

    Examples
    --------
    >>> from factorcheck.symbolic.network import Network, depthwise, pointwise, network_table
    >>> net = Network("n", 4, 11, (depthwise("dw", 3, 2, 1), pointwise("pw", 16)))
    >>> text = format_comparison(compare_standard(network_table(net)))
    >>> print(text.splitlines()[-1])   # 6*6*(4*9 + 4*16) against 6*6*16*4*9
    total ...3,600 20,736 0.1736 (5.76x) 100 576 0.1736 (5.76x)
    """
    rows = [["separable", "standard", "MACs sep.", "MACs std.", "MAC ratio", "params sep.",
             "params std.", "param ratio"]]
    for b in cmp.blocks:
        rows.append([" + ".join(_printable(n) for n in b.separable), _printable(b.standard),
                     _value(b.separable_macs), _value(b.standard_macs), _ratio(b.mac_ratio),
                     _value(b.separable_params), _value(b.standard_params),
                     _ratio(b.param_ratio)])
    sep, std = cmp.separable, cmp.standard
    rows.append(["total", "", _value(sep.total_macs), _value(std.total_macs),
                 _ratio(cmp.mac_ratio), _value(sep.total_params), _value(std.total_params),
                 _ratio(cmp.param_ratio)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    left = {0, 1, 4, 7}
    lines = ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    return "\n".join([_header(sep), *lines])
