"""Peak memory of ``factorcheck.scan`` relative to the model's largest tensor.

Writes a model of a few hundred MB (several float32 convolution weights) into
a temporary folder in each format asked for, scans it in a fresh subprocess,
and reports the subprocess's peak resident memory above its baseline (measured
after imports and a small warm-up scan) divided by the largest tensor's size.
The target is at most 1.5.

The peak is Linux's ``VmHWM`` (reset through ``/proc/self/clear_refs`` after
the baseline when the kernel allows, else compared with the baseline
``VmRSS``).  Resident pages of the file's memory map count: that is the honest
measure of what a scan makes the machine hold.

``onnx`` stores the weights inline (``raw_data`` in the .onnx file): the
loader parses a copy of the model without them and memory-maps one at a time
(before that, ``onnx.load`` held the file and the parsed message: 5x the
largest tensor); ``onnx-external`` stores the same weights as external data,
also memory-mapped one tensor at a time.

Usage::

    python bench/bench_scan_memory.py [--formats npy,safetensors,npz,onnx,onnx-external,torch]
                                      [--largest-mb 150] [--dtype float32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: Output channels of each layer, relative to the largest (all 3x3, square in/out).
_LAYERS = {"big": 1.0, "wide": 0.75, "mid": 0.5, "small": 0.25}

_CHILD = r"""
import json, sys, time
import numpy as np
import factorcheck.io.npy, factorcheck.io.safetensors, factorcheck.io.onnx, factorcheck.io.torch
from factorcheck.scan import scan  # the package exports a function named scan too
fmt, path, warm = sys.argv[1], sys.argv[2], sys.argv[3]
__import__(fmt.split("-")[0]) if fmt in ("onnx", "onnx-external", "safetensors", "torch") else None

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
scan(warm)
baseline = status("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    reset = False
start = time.perf_counter()
result = scan(path)
seconds = time.perf_counter() - start
peak = status("VmHWM")
print(json.dumps({"baseline": baseline, "peak": peak, "reset": reset, "seconds": seconds,
                  "layers": len(result.layers), "skipped": len(result.skipped)}))
"""


def _weights(largest_bytes: int, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Square 3x3 weights; the largest takes about ``largest_bytes``."""
    n_big = int((largest_bytes / (9 * dtype.itemsize)) ** 0.5)
    rng = np.random.default_rng(0)
    out = {}
    for name, fraction in _LAYERS.items():
        n = max(1, int(n_big * fraction))
        out[name] = rng.standard_normal((n, n_big, 3, 3), dtype=np.float32).astype(dtype)
    out["depthwise"] = rng.standard_normal((n_big, 1, 3, 3)).astype(dtype)
    return out


def _write(fmt: str, folder: Path, weights: dict[str, np.ndarray]) -> Path:
    """Write ``weights`` in ``fmt`` (.npy holds only the largest)."""
    path = folder / f"model.{ {'torch': 'pt', 'onnx-external': 'onnx'}.get(fmt, fmt) }"
    if fmt == "npy":
        np.save(path, weights["big"])
    elif fmt == "npz":
        np.savez(path, **weights)
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(weights, str(path))
    elif fmt == "torch":
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in weights.items()}, path)
    else:
        _write_onnx(path, weights, external=fmt == "onnx-external")
    return path


def _write_onnx(path: Path, weights: dict[str, np.ndarray], external: bool) -> None:
    from onnx import TensorProto, helper, numpy_helper, save

    nodes = [helper.make_node("Conv", ["x", name], [f"y_{name}"], name=name,
                              group=w.shape[0] if w.shape[1] == 1 else 1)
             for name, w in weights.items()]
    graph = helper.make_graph(
        nodes, "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info(f"y_{n}", TensorProto.FLOAT, None) for n in weights],
        [numpy_helper.from_array(w, name) for name, w in weights.items()])
    save(helper.make_model(graph), str(path), save_as_external_data=external,
         location=path.name + ".data", size_threshold=0)


def _measure(fmt: str, folder: Path, weights: dict[str, np.ndarray]) -> dict:
    path = _write(fmt, folder, weights)
    warm = _write(fmt, folder / "warm", {"big": weights["small"][:4, :8].copy()})
    run = subprocess.run([sys.executable, "-c", _CHILD, fmt, str(path), str(warm)],
                         capture_output=True, text=True, check=True)
    stats = json.loads(run.stdout)
    data = path.with_name(path.name + ".data")
    stats["file"] = path.stat().st_size + (data.stat().st_size if data.exists() else 0)
    for leftover in (path, data):
        leftover.unlink(missing_ok=True)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", default="npy,safetensors,npz,onnx,onnx-external,torch")
    parser.add_argument("--largest-mb", type=float, default=150.0)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64", "float16"])
    args = parser.parse_args()
    weights = _weights(int(args.largest_mb * 2**20), np.dtype(args.dtype))
    largest = max(w.nbytes for w in weights.values())
    total = sum(w.nbytes for w in weights.values())
    mb = 2**20
    print(f"model: {len(weights)} {args.dtype} weights, {total / mb:.0f} MB in all, "
          f"largest {largest / mb:.0f} MB {weights['big'].shape}")
    print(f"{'format':12} {'file MB':>8} {'layers':>6} {'baseline MB':>11} {'peak-base MB':>12} "
          f"{'ratio':>6} {'seconds':>7}  target <= 1.5")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "warm").mkdir()
        for fmt in args.formats.split(","):
            s = _measure(fmt, Path(tmp), weights)
            above = s["peak"] - s["baseline"]
            ratio = above / largest
            print(f"{fmt:12} {s['file'] / mb:8.0f} {s['layers']:6d} {s['baseline'] / mb:11.0f} "
                  f"{above / mb:12.0f} {ratio:6.2f} {s['seconds']:7.1f}  "
                  f"{'ok' if ratio <= 1.5 else 'OVER'}{'' if s['reset'] else ' (HWM not reset)'}")


if __name__ == "__main__":
    main()
