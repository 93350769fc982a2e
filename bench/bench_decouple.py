"""Benchmark: decoupling PP-OCRv4 det (a real trained model) with T = 1, 2, 4 and exact.

Run:  python bench/fetch_ppocr.py && python bench/bench_decouple.py [--size 640] [--repeat 10]

For each T the model's six standard 3x3 convolutions are rewritten as dw-pw
pairs (``factorcheck decouple --terms T``; "exact" is T = 9, at or above
every slice's rank) and, in the same process:

* MACs and parameters (per image, biases not counted) of the rewritten layers
  and of the whole model, both from ``factorcheck network``'s table of the
  written files, so the numbers are those the CLI prints;
* onnxruntime latency of the original and the rewrite, median of interleaved
  runs, with 1 thread and with the default threads;
* the output error on seeded random inputs (max abs, relative Frobenius),
  and per layer the measured error ``||conv_{K-P}(x)|| / ||x||`` on the real
  activation against its certified bound; the largest ratio (never above 1);
* for "exact", the verdict against the float32 weight-rounding reference.

A benchmark, not a test: the machine's load moves the latencies.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import onnx

from factorcheck.decouple import verify as checks
from factorcheck.decouple.onnx import decouple_onnx
from factorcheck.network import onnx_table

sys.path.insert(0, str(Path(__file__).parent))
from fetch_ppocr import default_path

CASES = (("1", 1), ("2", 2), ("4", 4), ("exact", 9))


def _row(label, src, out, result, shape, repeats):
    before, after = (onnx_table(p, input_shape=shape) for p in (src, out))
    x = checks.make_inputs(onnx.load(src), 1, seed=0, input_shape=shape)[0]
    speed = {t.threads: t for t in checks.benchmark(str(src), str(out), x,
                                                    repeats=repeats).timings}
    v, t = result.verification, result.totals
    exact = "-" if v.exact is None else ("yes" if v.exact else "NO")

    def pair(timing):
        return f"{timing.before_ms:.1f} / {timing.after_ms:.1f} ({timing.speedup:.2f}x)"

    model_macs = (f"{before.total_macs / 1e6:.1f} -> {after.total_macs / 1e6:.1f} "
                  f"({after.total_macs / before.total_macs:.3f})")
    return [label, f"{t['macs_before'] / 1e6:.1f} -> {t['macs_after'] / 1e6:.1f}", model_macs,
            f"{before.total_params:,} -> {after.total_params:,}", pair(speed["1"]),
            pair(speed["default"]), f"{max(la.relative_error_bound for la in result.layers):.3f}",
            f"{v.max_ratio:.3f}", f"{v.outputs[0].max_abs_error:.2e}", exact]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=640, help="input height = width")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per model")
    parser.add_argument("--verify", type=int, default=2, help="random inputs for the errors")
    args = parser.parse_args()
    src = default_path()
    if not src.is_file():
        raise SystemExit(f"{src} not found: run python bench/fetch_ppocr.py first")
    shape = (1, 3, args.size, args.size)
    rows = [["T", "MACs rewritten (M)", "MACs model (M, ratio)", "params model",
             "1 thread ms before/after", "default threads ms", "max rel.err bound",
             "measured/certified", "out max abs err", "exact"]]
    with tempfile.TemporaryDirectory() as tmp:
        for label, terms in CASES:
            out = Path(tmp) / f"det_T{label}.onnx"
            result = decouple_onnx(src, out, terms=terms, input_shape=shape, verify=args.verify)
            rows.append(_row(label, src, out, result, shape, args.repeat))
    print(f"PP-OCRv4 det ({src.name}), input {'x'.join(map(str, shape))}, dw-pw, "
          f"{len(result.layers)} convs rewritten, {args.verify} random inputs, "
          f"median of {args.repeat} runs")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
