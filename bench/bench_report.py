"""Writing the .tex report of a 100-layer model against ``factorcheck check`` on the same model.

The script writes the model itself: an .npz of 100 convolution weights of
realistic sizes (a MobileNet/ResNet-like mix of 3 x 3 standard, depthwise and
1 x 1 layers, 32 to 512 channels, float32).  It then runs, side by side and
interleaved, ``factorcheck check MODEL`` and ``factorcheck report MODEL -o
r.tex`` (no PDF) as separate processes, so both pay the same start-up, and
prints the median of each and their ratio.  The goal is a ratio within 2.

Run: ``python bench/bench_report.py [--repeats 5] [--layers 100]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL = 2.0


def write_model(path: Path, layers: int, seed: int = 0) -> int:
    """A MobileNet/ResNet-like stack; returns the number of weights."""
    rng = np.random.default_rng(seed)
    widths = [32, 64, 128, 256, 512]
    arrays, cin = {}, 3
    for i in range(layers):
        c = widths[min(i * len(widths) // layers, len(widths) - 1)]
        kind = i % 3
        if kind == 0:
            w = rng.standard_normal((c, cin, 3, 3))
        elif kind == 1:
            w = rng.standard_normal((cin, 1, 3, 3))
            c = cin
        else:
            w = rng.standard_normal((c, cin, 1, 1))
        arrays[f"features.{i}.conv.weight"] = w.astype(np.float32)
        cin = c
    np.savez(path, **arrays)
    return sum(a.size for a in arrays.values())


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layers", type=int, default=100)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "factorcheck"]
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder, "model.npz")
        weights = write_model(model, args.layers)
        check = [*cli, "check", str(model)]
        report = [*cli, "report", str(model), "-o", str(Path(folder, "r.tex"))]
        timed(check), timed(report)  # warm the file cache and SymPy's import
        times: dict[str, list[float]] = {"check": [], "report": []}
        for _ in range(args.repeats):
            times["check"].append(timed(check))
            times["report"].append(timed(report))
        size = Path(folder, "r.tex").stat().st_size
    check_s, report_s = statistics.median(times["check"]), statistics.median(times["report"])
    ratio = report_s / check_s
    print(f"model: {args.layers} layers, {weights:,} weights (float32 .npz)")
    print(f"factorcheck check          median {check_s:.3f} s  ({args.repeats} runs)")
    print(f"factorcheck report -o .tex median {report_s:.3f} s  ({args.repeats} runs, "
          f"{size / 1024:.0f} KiB of LaTeX)")
    verdict = "OK" if ratio <= GOAL else "SLOW"
    print(f"ratio report/check: {ratio:.2f} (goal <= {GOAL:g}): {verdict}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
