"""Time ``factorcheck check`` on models of 300, 3000 and 30000 small layers, per format.

Every format must scan in time linear in its layer count (issue 10): the
script writes one model per format and size (tiny 2x2x3x3 float32 layers, so
the per-layer work is small and any per-model overhead shows), runs the real ``check``
command on it in this process (output discarded), and prints its CPU seconds
(best of several runs for the small models, so that other processes on the
machine barely matter) and the ratio per 10x more layers; a second row times
the reading alone (listing the model and loading every weight, no analysis).
Linear growth shows as a ratio near 10; the quadratic .npz reader of issue 10 showed 33.
Target: every ratio <= 15.

Run with ``python bench/bench_scale.py [--sizes 300 3000 30000] [--formats npz onnx]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from factorcheck.cli import main as factorcheck_main
from factorcheck.io import read_model

TARGET = 15.0
SHAPE = (2, 2, 3, 3)


def _layers(count: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"layer{i}": rng.standard_normal(SHAPE).astype(np.float32) for i in range(count)}


def _write_npz(path: Path, layers: dict, compressed: bool) -> None:
    (np.savez_compressed if compressed else np.savez)(path, **layers)


def _write_safetensors(path: Path, layers: dict) -> None:
    from safetensors.numpy import save_file

    save_file(layers, str(path))


def _write_torch(path: Path, layers: dict) -> None:
    import torch

    torch.save({name: torch.from_numpy(array) for name, array in layers.items()}, path)


def _write_onnx(path: Path, layers: dict) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, current = [], [], "x"
    for i, (name, array) in enumerate(layers.items()):
        out = f"y{i}"
        nodes.append(helper.make_node("Conv", [current, name], [out], name=name,
                                      pads=[1, 1, 1, 1]))
        inits.append(numpy_helper.from_array(array, name))
        current = out
    graph = helper.make_graph(nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, None)],
                              inits)
    onnx.save(helper.make_model(graph), path)


WRITERS = {
    "npz": (".npz", lambda p, layers: _write_npz(p, layers, False)),
    "npz-compressed": (".npz", lambda p, layers: _write_npz(p, layers, True)),
    "safetensors": (".safetensors", _write_safetensors),
    "onnx": (".onnx", _write_onnx),
    "torch": (".pt", _write_torch),
}


def _check_seconds(path: Path, repeat: int) -> float:
    """CPU seconds of ``check``, best of ``repeat`` (other processes barely move it)."""
    best = float("inf")
    for _ in range(repeat):
        sink = io.StringIO()
        start = time.process_time()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            status = factorcheck_main(["check", str(path), "--order", "dw-pw"])
        best = min(best, time.process_time() - start)
        if status != 0:
            raise SystemExit(f"check failed on {path}: {sink.getvalue()[-500:]}")
    return best


def _read_seconds(path: Path, repeat: int) -> float:
    """CPU seconds to list the model and read every weight, no analysis (best of ``repeat``)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for kernel in read_model(path).kernels:
            kernel.load()
        best = min(best, time.process_time() - start)
    return best


def _ratios(seconds: list[float], sizes: list[int]) -> list[float]:
    return [(b / a) / (nb / na) * 10 for a, b, na, nb in
            zip(seconds, seconds[1:], sizes, sizes[1:], strict=False)]


def _row(label: str, seconds: list[float], ratios: list[float]) -> str:
    return (f"{label:<26}" + "".join(f"{s:>11.2f}s" for s in seconds) + "   "
            + "  ".join(f"{r:.1f}" for r in ratios))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000, 30000])
    parser.add_argument("--formats", nargs="+", choices=list(WRITERS), default=list(WRITERS))
    args = parser.parse_args()
    worst = 0.0
    print(f"{'format':<26}" + "".join(f"{n:>12}" for n in args.sizes) + "   ratio per 10x")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        for fmt in args.formats:
            suffix, write = WRITERS[fmt]
            seconds, reading = [], []
            for count in args.sizes:
                path = Path(folder, f"{fmt}-{count}{suffix}")
                write(path, _layers(count))
                if count == args.sizes[0]:
                    _check_seconds(path, 1)  # warm the imports
                repeat = max(1, 10_000 // count)
                seconds.append(_check_seconds(path, repeat))
                reading.append(_read_seconds(path, repeat))
                os.remove(path)
            ratios = _ratios(seconds, args.sizes)
            worst = max([worst, *ratios])
            print(_row(f"{fmt} check", seconds, ratios))
            print(_row(f"{fmt} read only", reading, _ratios(reading, args.sizes)))
            sys.stdout.flush()
    verdict = "OK" if worst <= TARGET else "NOT LINEAR"
    print(f"worst ratio per 10x: {worst:.1f} (target <= {TARGET:g}, linear = 10): {verdict}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
