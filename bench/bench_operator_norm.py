"""Time ``factorcheck.operator_norm`` against the textbook recipe, side by side, in one run.

The textbook recipe (Sedghi, Gupta & Long, ICLR 2019) takes the kernel's 2-D
FFT on the padded grid and the largest singular value of every ``n x m``
frequency matrix (``np.fft.fft2`` + batched ``np.linalg.svd(compute_uv=False)``).
factorcheck computes the same maximum from the kernel's autocorrelation (one
``r x r`` Hermitian Gram matrix per frequency, ``eigvalsh``), on half the grid,
plus a certified rounding margin.  The script checks that both agree to 1e-9,
then prints the median times and their ratio per case.

Run with ``python bench/bench_operator_norm.py [--repeat N] [--quick]``; set
``OPENBLAS_NUM_THREADS=1`` on a shared machine (threads contend badly there).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from factorcheck import operator_norm

#: (n, m, kh, kw, input H = W), the last one the size asked for in the issue.
CASES = [(64, 64, 3, 3, 56), (128, 128, 3, 3, 28), (256, 256, 3, 3, 14), (256, 256, 3, 3, 56)]
QUICK = CASES[:2]


def textbook(kernel: np.ndarray, hw: int) -> float:
    """max over the full (H + kh - 1) x (W + kw - 1) grid of sigma_max(FFT2(K)), chunked."""
    n, m, kh, kw = kernel.shape
    grid = (hw + kh - 1, hw + kw - 1)
    spectrum = np.fft.fft2(kernel, s=grid, axes=(2, 3)).transpose(2, 3, 0, 1).reshape(-1, n, m)
    step = max(1, (1 << 21) // (n * m))
    return max(float(np.linalg.svd(spectrum[i : i + step], compute_uv=False)[:, 0].max())
               for i in range(0, len(spectrum), step))


def _time(function, *args) -> tuple[float, float]:
    start = time.perf_counter()
    value = function(*args)
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="only the two smallest cases")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'kernel':<18}{'input':>7}{'factorcheck s':>15}{'textbook s':>12}{'ratio':>8}"
          f"{'bound / textbook - 1':>22}")
    for n, m, kh, kw, hw in QUICK if args.quick else CASES:
        kernel = rng.normal(size=(n, m, kh, kw)).astype(np.float32)
        ours, theirs = [], []
        for _ in range(args.repeat):  # interleaved
            t, bound = _time(operator_norm, kernel, (hw, hw))
            ours.append(t)
            t, value = _time(textbook, kernel.astype(np.float64), hw)
            theirs.append(t)
        gap = bound / value - 1
        if not 0 <= gap < 1e-9:
            print(f"disagreement: bound {bound!r}, textbook {value!r}")
            return 1
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{f'{n}x{m}x{kh}x{kw}':<18}{f'{hw}x{hw}':>7}{a:>15.3f}{b:>12.3f}{b / a:>8.2f}"
              f"{gap:>22.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
