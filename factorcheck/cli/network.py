"""``factorcheck network NAME|MODEL.onnx``: per-layer MACs and parameters of a whole network.

NAME is a built-in network (``mobilenet-v1``); MODEL.onnx a model file whose
convolutions (1-D to 3-D, transposed) and matrix products are counted.
``--alpha`` and ``--resolution`` scale a built-in network, ``--symbolic`` keeps
both as symbols and checks how the totals scale, ``--as-standard`` compares
with standard convolutions.
``--alpha`` is read as an exact fraction and ``--resolution`` with
:func:`int`; no text is ever evaluated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from factorcheck.errors import FactorcheckError
from factorcheck.network import (
    ALPHA,
    BUILTIN_NETWORKS,
    CONVENTION,
    RHO,
    NetworkComparison,
    NetworkTable,
    builtin_network,
    compare_standard,
    format_comparison,
    format_table,
    network_scaling_proof,
    network_table,
    onnx_table,
)

#: Largest dimension ONNX can store (an int64).
INT64_MAX = 2**63 - 1

__all__ = ["format_comparison", "format_table", "parse_input_shape", "register", "run"]

_EPILOG = f"""\
built-in networks: {", ".join(BUILTIN_NETWORKS)}
convention: {CONVENTION}.
exit status: 0 the table was printed and every layer was counted; 1 the table is partial (some
layers of the model could not be counted: they are listed, and the totals are lower bounds,
"at least ..."; JSON "complete": false); 2 bad input (unknown name, bad option, unreadable model).
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
                   help="ONNX only: fix the model's input shape, e.g. 1x3x224x224 "
                   "(a symbolic batch alone needs none: counts are per image)")
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
            f"input shape: expected integers like 1x3x224x224, got {text[:80]!r}") from None
    if any(not 1 <= d <= INT64_MAX for d in dims) or len(dims) > 8:
        raise argparse.ArgumentTypeError(
            f"input shape: expected up to 8 integers from 1 to 2**63 - 1, got {text[:80]!r}")
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
    """Print the table (or comparison, or JSON); 0 complete, 1 partial, FactorcheckError if bad.

    Examples
    --------
    >>> ns = argparse.Namespace(target="mobilenet-v1", alpha=None, resolution=None, bias=False,
    ...     symbolic=False, as_standard=False, input_shape=None, json=False)
    >>> run(ns)  # doctest: +ELLIPSIS
    mobilenet-v1: input 3x224x224, width α = 1, biases not counted
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
            proof = network_scaling_proof(builtin_network(args.target), bias=args.bias)
            data["scaling"] = {"ok": proof.ok, "text": proof.to_text(),
                               "findings": [str(f) for f in proof.findings]}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return _exit_status(table)
    print(format_comparison(result) if args.as_standard else format_table(result))
    if args.symbolic:
        print()
        print(network_scaling_proof(builtin_network(args.target), bias=args.bias).to_text(), end="")
    return _exit_status(table)


def _exit_status(table: NetworkTable) -> int:
    """0 when every layer was counted; 1 (and a line on stderr) when the table is partial."""
    if table.complete:
        return 0
    count = len(table.skipped)
    print(f"factorcheck network: partial: {count} layer{'s' if count != 1 else ''} not counted; "
          "the totals are lower bounds", file=sys.stderr)
    return 1
