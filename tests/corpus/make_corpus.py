"""Write the fixed seed corpus of model files that every report test compiles.

Run ``python tests/corpus/make_corpus.py`` (from the repository root, with
factorcheck importable) to rewrite the files beside this script; a test
regenerates them in a temporary folder and compares them byte for byte, so
the committed files are exactly what this script makes.  Every file is
small (a few KB: small channel counts, and the few wide layers have small
kernels and half precision); together they hold every kind of layer
(:data:`strategies.KINDS`), every kernel size of :data:`strategies.SPATIAL`,
1-D kernels, 1 to 60 layers, and the hostile names of
:data:`strategies.HOSTILE_NAMES`, in all three formats.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from strategies import (
    FORMATS,
    HOSTILE_NAMES,
    Layer,
    ModelSpec,
    make_weight,
    random_spec,
    write_model,
)

from factorcheck.testing import random_separable_kernel

#: Weights per random corpus model (keeps each file to a few KB).
CORPUS_BUDGET = 1_200
#: Random models: (seed, layer count or None for random, hostile names?).
RANDOM = [(seed, None, seed % 3 == 1) for seed in range(18)] + [
    (100, 60, True), (101, 60, False), (102, 1, True), (103, 2, False), (104, 13, True)]


def _f16(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float16)


def _hand_picked() -> dict[str, ModelSpec]:
    """Cases that broke reports, or sit on a boundary of the layout."""
    rng = np.random.default_rng(2026)
    normal = rng.standard_normal
    return {
        # the failing case, narrowed: more input channels than the per-column table lists
        "more_columns": ModelSpec("npz", (Layer("conv", _f16(normal((4, 17, 3, 3)))),)),
        "many_columns": ModelSpec("safetensors", (Layer("wide.in", _f16(normal((2, 300, 1, 3)))),)),
        "wide_out": ModelSpec("onnx", (Layer("wide.out", _f16(normal((1024, 1, 1, 3)))),)),
        "wide_depthwise": ModelSpec(
            "onnx", (Layer("dw1024", _f16(normal((1024, 1, 1, 3))), group=1024),)),
        "grouped": ModelSpec("onnx", (
            Layer("g2", normal((8, 4, 3, 3)).astype(np.float32), group=2),
            Layer("g4.5x5", normal((8, 2, 5, 5)).astype(np.float32), group=4))),
        "one_d": ModelSpec("onnx", (Layer("conv1d.k7", normal((6, 4, 7)).astype(np.float32)),
                                    Layer("conv1d.k1", normal((6, 4, 1)).astype(np.float32)))),
        "separable_exact": ModelSpec("npz", (
            Layer("sep.m1", random_separable_kernel((6, 3, 3, 3), rng=1).astype(np.float32)),
            Layer("sep.m2", random_separable_kernel((6, 3, 5, 5), multiplier=2, rng=2)
                  .astype(np.float32)))),
        "integer": ModelSpec("safetensors", (
            Layer("int.rank1", np.outer(np.arange(1, 5), np.arange(1, 10)).reshape(4, 1, 3, 3)
                  .repeat(2, axis=1).astype(np.float32)),
            Layer("int.random", rng.integers(-3, 4, (5, 3, 3, 3)).astype(np.float32)))),
        "pointwise_only": ModelSpec("npz", (Layer("pw", normal((8, 8, 1, 1)).astype(np.float32)),)),
        "zeros": ModelSpec("npz", (Layer("zero", np.zeros((4, 3, 3, 3), np.float32)),
                                   Layer("one tap", np.ones((1, 1, 1, 1), np.float32)))),
        "name_64_65": ModelSpec("onnx", (
            Layer("n" * 63 + "4", normal((3, 2, 3, 3)).astype(np.float32)),
            Layer("n" * 64 + "5", normal((3, 2, 3, 3)).astype(np.float32)))),
        "hostile_all": ModelSpec("safetensors", tuple(
            Layer(name, make_weight("dense", (3, 3), False, rng, 60)[0])
            for name in HOSTILE_NAMES if "\x00" not in name)),
        "hostile_npz": ModelSpec("npz", tuple(
            Layer(name, make_weight("separable", (3, 1), False, rng, 40)[0])
            for name in HOSTILE_NAMES if "/" not in name)),
    }


def corpus() -> dict[str, ModelSpec]:
    """Every corpus file's stem and content."""
    specs = _hand_picked()
    for seed, layers, hostile in RANDOM:
        fmt = FORMATS[seed % len(FORMATS)]
        names = list(HOSTILE_NAMES) if hostile else None
        specs[f"random{seed:03d}"] = random_spec(seed, fmt=fmt, layers=layers, names=names,
                                                 budget=CORPUS_BUDGET)
    return specs


def write_corpus(folder: Path) -> list[Path]:
    """Write every corpus file into ``folder``; return their paths, sorted."""
    folder.mkdir(parents=True, exist_ok=True)
    return sorted(write_model(spec, folder, stem) for stem, spec in corpus().items())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    paths = write_corpus(target)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} files, {total / 1024:.0f} KB, to {target}")
