"""``factorcheck cost``: one layer, standard against depthwise separable, dense and padding-aware.

Every size is parsed with :func:`int` (never evaluated as an expression).
"""

from __future__ import annotations

import argparse
import json

from factorcheck.symbolic.cost import LayerComparison, LayerCost, compare_layer

__all__ = ["parse_padding", "parse_size", "register", "run"]


#: Largest size, channel count or multiplier accepted (int64's maximum).
MAX_SIZE = 2**63 - 1


def _int(text: str, what: str, minimum: int) -> int:
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{what}: expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{what}: expected an integer >= {minimum}, got {value}")
    if value > MAX_SIZE:  # keeps every count far below Python's 4300-digit str limit
        raise argparse.ArgumentTypeError(
            f"{what}: expected an integer <= 2**63 - 1, got one with {len(text.strip())} digits")
    return value


def parse_size(text: str) -> int | tuple[int, int]:
    """Parse ``"7"`` or ``"7x5"`` (height x width) into an int or a pair.

    Examples
    --------
    >>> parse_size("7"), parse_size("7x5")
    (7, (7, 5))
    """
    parts = text.lower().split("x")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"size: expected N or HxW, got {text!r}")
    values = tuple(_int(part, "size", 1) for part in parts)
    return values[0] if len(values) == 1 else values


def parse_padding(text: str) -> int | tuple:
    """Parse padding ``"p"``, ``"ph,pw"`` or ``"top,bottom,left,right"``.

    Examples
    --------
    >>> parse_padding("1"), parse_padding("1,0"), parse_padding("0,1,0,1")
    (1, (1, 0), ((0, 1), (0, 1)))
    """
    values = [_int(part, "padding", 0) for part in text.split(",")]
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return tuple(values)
    if len(values) == 4:
        return ((values[0], values[1]), (values[2], values[3]))
    raise argparse.ArgumentTypeError(
        f"padding: expected p, ph,pw or top,bottom,left,right, got {len(values)} values")


def _positive(text: str) -> int:
    return _int(text, "value", 1)


_EPILOG = """\
sizes: N or HxW (height x width); every number is read as a decimal integer,
never evaluated.  Costs are dense (every output position does a full kernel's
work) and padding-aware (zero-padding taps skipped); the separable layer is a
depthwise convolution (d filters per input channel) then a 1x1 convolution.
example: factorcheck cost --input 112 --kernel 3 -m 32 -n 64 --padding 1
exit status: 0 printed; 2 bad input (a size, channel count or option that does
not make a layer), with a message on stderr.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cost`` subcommand.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="factorcheck")
    >>> register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["cost", "--input", "11", "--kernel", "3", "-m", "3", "-n", "16"])
    >>> args.input, args.kernel, args.in_channels, args.out_channels
    (11, 3, 3, 16)
    """
    parser = subparsers.add_parser(
        "cost", help="count MACs, FLOPs and parameters of one layer",
        description="Compare a standard convolution with its depthwise separable replacement:\n"
                    "MACs, additions, FLOPs, parameters and their exact ratios.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=parse_size, required=True, metavar="H[xW]",
                        help="input spatial size D_f: H, or HxW (required)")
    parser.add_argument("--kernel", type=parse_size, required=True, metavar="K[xK]",
                        help="kernel size D_k: K, or KhxKw (required)")
    parser.add_argument("--in-channels", "-m", type=_positive, required=True, metavar="M",
                        help="input channels M (required)")
    parser.add_argument("--out-channels", "-n", type=_positive, required=True, metavar="N",
                        help="output channels N (required)")
    parser.add_argument("--stride", type=parse_size, default=1, metavar="S[xS]",
                        help="stride: S, or SxS per axis (default 1)")
    parser.add_argument("--padding", type=parse_padding, default=0, metavar="P",
                        help="zero padding: p, ph,pw or top,bottom,left,right (default 0)")
    parser.add_argument("--dilation", type=parse_size, default=1, metavar="D[xD]",
                        help="dilation: D, or DxD per axis (default 1)")
    parser.add_argument("--multiplier", type=_positive, default=1, metavar="d",
                        help="depth multiplier d: filters per input channel in the depthwise "
                             "stage (default 1)")
    parser.add_argument("--bias", action="store_true",
                        help="count a bias in every layer (the standard one and both stages)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON (exact ratios as strings, and floats) instead of a table")
    parser.set_defaults(func=run)


def _cost_dict(cost: LayerCost) -> dict[str, int]:
    return {"macs": cost.macs, "additions": cost.additions, "flops": cost.flops,
            "params": cost.params}


def as_dict(cmp: LayerComparison) -> dict:
    """A JSON-ready dict of a comparison (ratios as exact strings and floats)."""
    return {
        "output_shape": list(cmp.output_shape),
        "standard": {**_cost_dict(cmp.standard),
                     "macs_padding_aware": cmp.standard_macs_padding_aware},
        "separable": {**_cost_dict(cmp.separable.total),
                      "macs_padding_aware": cmp.separable_macs_padding_aware,
                      "depthwise": _cost_dict(cmp.separable.depthwise),
                      "pointwise": _cost_dict(cmp.separable.pointwise)},
        "mac_ratio": str(cmp.mac_ratio), "mac_ratio_float": float(cmp.mac_ratio),
        "param_ratio": str(cmp.param_ratio), "param_ratio_float": float(cmp.param_ratio),
    }


def _table(cmp: LayerComparison) -> str:
    std, sep = cmp.standard, cmp.separable.total
    rows = [("", "standard", "separable", "ratio"),
            ("MACs (dense)", std.macs, sep.macs, cmp.mac_ratio),
            ("MACs (padding-aware)", cmp.standard_macs_padding_aware,
             cmp.separable_macs_padding_aware, None),
            ("additions", std.additions, sep.additions, None),
            ("FLOPs", std.flops, sep.flops, None),
            ("parameters", std.params, sep.params, cmp.param_ratio)]
    lines = [f"output: {cmp.output_shape[0]} x {cmp.output_shape[1]}"]
    for label, a, b, ratio in rows:
        shown = "" if ratio is None else (
            ratio if isinstance(ratio, str) else f"{ratio} = {float(ratio):.4f}")
        if ratio is None and label:
            shown = f"{b / a:.4f}" if a else "-"
        lines.append(f"{label:<22}{a!s:>14}{b!s:>14}  {shown}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the comparison as a table or JSON; always 0 (bad input raises).

    Examples
    --------
    >>> ns = argparse.Namespace(input=11, kernel=3, in_channels=3, out_channels=16, stride=2,
    ...     padding=1, dilation=1, multiplier=1, bias=False, json=False)
    >>> run(ns)  # doctest: +ELLIPSIS
    output: 6 x 6
    ...
    MACs (dense)                   15552          2700  25/144 = 0.1736
    ...
    0
    """
    cmp = compare_layer(args.input, args.kernel, args.in_channels, args.out_channels,
                        stride=args.stride, padding=args.padding, dilation=args.dilation,
                        multiplier=args.multiplier, bias=args.bias)
    print(json.dumps(as_dict(cmp), indent=2) if args.json else _table(cmp))
    return 0
