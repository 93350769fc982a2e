"""``factorcheck check [PATH ...]``: which convolutions of a model are depthwise separable.

With model files, every convolution is analysed (see :func:`factorcheck.scan.scan`)
and a per-layer table is printed, then a summary; ``--json`` prints the
versioned JSON instead.  With no PATH the built-in demo kernels
(:mod:`factorcheck.demo`) are analysed.

Exit statuses: 0 the scan ran; 1 with ``--require-separable`` when a
non-trivial layer is not separable in every requested order, when no layer
was analysed, or when a layer was skipped (unless ``--allow-skipped``); 2 bad input
(unreadable, unsafe or malformed file, bad option), with a message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from factorcheck.demo import demo_kernels
from factorcheck.display import layer_kind
from factorcheck.errors import FactorcheckError
from factorcheck.io import MAX_TENSOR_BYTES
from factorcheck.kernel import LAYOUTS
from factorcheck.report.escape import printable, shorten
from factorcheck.scan import LayerRecord, OrderResult, ScanResult, scan, scan_kernels
from factorcheck.separability import ORDERS

__all__ = ["add_scan_options", "gate_failures", "progress_bar", "register", "run"]

#: Show a progress bar (when stderr is a terminal) from this many layers on.
PROGRESS_MIN_LAYERS = 8

_EPILOG = """\
exit status: 0 the scan ran; 1 --require-separable and a layer is not separable,
no layer was analysed, or one was skipped (unless --allow-skipped);
2 bad input (unreadable, unsafe or malformed file, bad option).
formats: .npy .npz .safetensors .onnx .pt/.pth/.bin/.ckpt (PyTorch, weights_only=True)
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``check`` subcommand to the top-level parser's subparsers.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="factorcheck")
    >>> _ = register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["check", "m.onnx", "--order", "dw-pw", "--layer", "conv*"])
    >>> args.paths, args.order, args.layer
    (['m.onnx'], 'dw-pw', ['conv*'])
    """
    p = subparsers.add_parser(
        "check", help="find which convolutions of a model are depthwise separable",
        description=__doc__.split("\n\n")[0], epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="model files; none analyses the built-in demo kernels")
    add_scan_options(p)
    p.add_argument("--groups", type=int, default=None, metavar="G",
                   help="judge every weight per group, as a convolution with G groups, where the "
                        "file does not record it (.npy .npz .safetensors PyTorch; default: "
                        "depthwise inferred from the shape, else 1)")
    p.add_argument("--json", action="store_true", help="print JSON (schema in the README)")
    p.add_argument("--require-separable", action="store_true",
                   help="exit 1 unless every non-trivial layer is separable in every order, "
                        "at least one layer was analysed and none was skipped")
    p.add_argument("--allow-skipped", action="store_true",
                   help="with --require-separable, do not fail because layers were skipped "
                        "(they are still listed)")
    p.set_defaults(func=run)
    return p


def add_scan_options(p: argparse.ArgumentParser) -> None:
    """The options of a model scan, shared by ``check`` and ``report``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_scan_options(p)
    >>> p.parse_args(["--order", "pw-dw", "--rtol", "1e-3"]).rtol
    0.001
    """
    p.add_argument("--order", choices=[*ORDERS, "both"], default="both",
                   help="order(s) of the decomposition to test (default: both)")
    p.add_argument("--multiplier", type=int, default=1, metavar="D",
                   help="depth multiplier tested for 'separable' (default: 1)")
    p.add_argument("--rtol", type=float, default=None, metavar="R",
                   help="call a layer separable when its relative distance is <= R "
                        "(default: numerical rank at the dtype's precision)")
    p.add_argument("--layer", action="append", metavar="GLOB",
                   help="only layers whose name matches (shell pattern; repeatable); patterns "
                        "matching no layer are an error (exit 2) that lists the layers")
    p.add_argument("--layout", choices=list(LAYOUTS), default=None,
                   help="weight layout of .npy/.npz/.safetensors files (default: OIHW)")
    p.add_argument("--no-external-data", action="store_true",
                   help="refuse ONNX models whose weights use external data files")
    p.add_argument("--max-bytes", type=_max_bytes, default=MAX_TENSOR_BYTES, metavar="N",
                   help="largest tensor read, in bytes (default 4 GiB); also lets compressed "
                        ".npz members up to N/64 bytes expand more than 100 times")


def run(args: argparse.Namespace) -> int:
    """Run ``check`` with parsed arguments; return the exit status.

    Examples
    --------
    >>> import argparse
    >>> args = argparse.Namespace(paths=[], order="dw-pw", multiplier=1, rtol=None,
    ...                           layer=["int*"], layout=None, json=False,
    ...                           require_separable=True, no_external_data=False)
    >>> run(args)  # doctest: +NORMALIZE_WHITESPACE
    layer    shape     kind      dw-pw  T  rel.dist  cost
    integer  16x3x3x3  standard  yes*   1  0.00e+00  0.1736
    <BLANKLINE>
    1 layer analysed
    dw-pw: 1 of 1 separable, median relative distance 0.00e+00
    T: fewest DSC terms; cost: an exact T-term DSC over the standard layer (MACs for dw-pw,
    parameters for pw-dw)
    * exact verdict (integer kernel)
    0
    """
    result = _scan(args, progress=progress_bar(sys.stderr))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(format_table(result))
        print()
        print(format_summary(result))
    if args.require_separable:
        failures = gate_failures(result, allow_skipped=getattr(args, "allow_skipped", False))
        for line in failures:
            print(f"factorcheck check: --require-separable: {line}", file=sys.stderr)
        return 1 if failures else 0
    return 0


def gate_failures(result: ScanResult, *, allow_skipped: bool = False) -> list[str]:
    """Why ``--require-separable`` fails (empty when it passes).

    It fails when a non-trivial layer is not separable in a requested order,
    when no layer was analysed at all (a model without convolutions; a
    ``--layer`` pattern matching nothing is already an error), and, unless
    ``allow_skipped``, when a layer was skipped: a layer that was not analysed
    was not shown to be separable.

    Examples
    --------
    >>> import numpy as np
    >>> from factorcheck.scan import scan_kernels
    >>> gate_failures(scan_kernels({"c": np.ones((4, 2, 3, 3))}))
    []
    >>> gate_failures(scan_kernels({"b": np.ones(4)}))      # a bias only: nothing to judge
    ['no layer was analysed', '1 layer(s) skipped, not shown separable (--allow-skipped to accept)']
    """
    failures = [f"layer {printable(r.name)!r} is not separable in every requested order"
                for r in _unseparable(result)]
    if not result.layers:
        failures.append("no layer was analysed")
    if result.skipped and not allow_skipped:
        failures.append(f"{len(result.skipped)} layer(s) skipped, not shown separable "
                        "(--allow-skipped to accept)")
    return failures


def _max_bytes(text: str) -> int:
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r:.40}") from None
    if not 1 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"expected 1 <= bytes <= 2**63 - 1, got {value}")
    return value


def _scan(args: argparse.Namespace, progress: Any) -> ScanResult:
    """Scan every PATH (or the demo kernels) with the options given."""
    options = {"order": None if args.order == "both" else args.order,
               "multiplier": args.multiplier, "rtol": args.rtol, "layer": args.layer,
               "progress": progress, "group": getattr(args, "groups", None)}
    if not args.paths:
        if args.layout is not None:
            raise FactorcheckError("--layout applies to model files; the demo kernels are OIHW")
        return scan_kernels(demo_kernels(), **options)
    max_bytes = getattr(args, "max_bytes", MAX_TENSOR_BYTES)
    results = [scan(path, layout=args.layout, allow_external_data=not args.no_external_data,
                    max_bytes=max_bytes, **options) for path in args.paths]
    total = results[0]
    for more in results[1:]:
        total = total + more
    return total


def _unseparable(result: ScanResult) -> list[LayerRecord]:
    """Non-trivial layers that are not separable in some requested order."""
    return [r for r in result.layers if not r.trivial
            and not all(r.result(o).separable for o in result.orders)]


# --------------------------------------------------------------------------- text output


def _order_cells(res: OrderResult) -> list[str]:
    verdict = ("yes" if res.separable else "no") + ("*" if res.exact else "")
    return [verdict, str(res.min_multiplier), f"{res.relative_distance:.2e}",
            f"{res.cost_ratio:.4g}"]


def format_table(result: ScanResult) -> str:
    """The per-layer table: name, shape, kind, then per order separable/T/distance/cost.

    Examples
    --------
    >>> import numpy as np
    >>> from factorcheck.scan import scan_kernels
    >>> print(format_table(scan_kernels({"c": np.ones((8, 4, 3, 3))}, order="pw-dw")))
    layer  shape    kind      pw-dw  T  rel.dist  cost
    c      8x4x3x3  standard  yes    1  0.00e+00  0.3611
    """
    header = ["layer", "shape", "kind"]
    for order in result.orders:
        header += [order, "T", "rel.dist", "cost"]
    rows = [header]
    for r in result.layers:
        row = [shorten(printable(r.name)), "x".join(map(str, r.shape)), layer_kind(r)]
        for order in result.orders:
            row += _order_cells(r.result(order))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    return "\n".join(lines)


def format_summary(result: ScanResult) -> str:
    """Counts per order, the median relative distance, and the skipped layers with reasons.

    Examples
    --------
    >>> import numpy as np
    >>> from factorcheck.scan import scan_kernels
    >>> print(format_summary(scan_kernels({"pw": np.ones((8, 4, 1, 1))}, order="dw-pw")))
    1 layer analysed (1 trivially separable: pointwise or depthwise with one filter per group,
    not counted)
    dw-pw: 0 of 0 separable
    T: fewest DSC terms; cost: an exact T-term DSC over the standard layer (MACs for dw-pw,
    parameters for pw-dw)
    """
    s = result.summary()
    head = f"{s.layers} layer{'s' if s.layers != 1 else ''} analysed"
    if s.trivial:
        head += (f" ({s.trivial} trivially separable: pointwise or depthwise with one filter "
                 "per group,\nnot counted)")
    lines = [head]
    for order in result.orders:
        line = f"{order}: {s.separable[order]} of {s.layers - s.trivial} separable"
        if s.median_relative_distance[order] is not None:
            line += f", median relative distance {s.median_relative_distance[order]:.2e}"
        lines.append(line)
    lines.append("T: fewest DSC terms; cost: an exact T-term DSC over the standard layer "
                 "(MACs for dw-pw,\nparameters for pw-dw)")
    if any(res.exact for r in result.layers for o in result.orders
           if (res := r.result(o)) is not None):
        lines.append("* exact verdict (integer kernel)")
    if any(r.group_inferred and r.kind == "depthwise" for r in result.layers):
        lines.append("depthwise groups inferred from the weight shape (the file does not say)")
    lines += [f"skipped {printable(k.name)}: {printable(k.reason)}" for k in result.skipped]
    return "\n".join(lines)


# --------------------------------------------------------------------------- progress


def progress_bar(stream: TextIO) -> Any:
    """A ``progress(done, total, name)`` drawing a bar on ``stream`` if it is a terminal.

    ``check`` and ``report`` both use it; ``None`` when ``stream`` is not a terminal.

    Examples
    --------
    >>> import io
    >>> progress_bar(io.StringIO()) is None
    True
    """
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None

    def progress(done: int, total: int, name: str) -> None:
        if total < PROGRESS_MIN_LAYERS:
            return
        filled = 30 * done // total
        label = printable(name)[:40]
        stream.write(f"\r\x1b[K[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {label}")
        if done == total:
            stream.write("\r\x1b[K")
        stream.flush()

    return progress


_progress_bar = progress_bar  # the private name earlier callers imported
