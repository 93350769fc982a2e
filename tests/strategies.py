"""Model files a user might bring to ``factorcheck report``, as Hypothesis strategies.

A :class:`ModelSpec` is the content of one model file (its layers' names,
weights and groups, and the file format); :func:`write_model` saves it as
``.npz``, ``.safetensors`` or ``.onnx``.  :func:`model_specs` draws specs
covering what real and hostile files hold: 1 to 60 layers; 1 to 1024
channels; 1x1, 3x3, 5x5, 7x7, rectangular and 1-D kernels; dense, depthwise,
grouped, integer and exactly separable weights; names with LaTeX specials,
Unicode, control characters, up to 200 characters.  Weights are drawn from a
NumPy generator seeded by Hypothesis (drawing every entry would be slow and
shrink badly), and sizes are kept small enough that one report builds and
compiles in a second or two.

``tests/corpus/make_corpus.py`` writes the fixed seed corpus with the same
writer, from :func:`random_spec` with fixed seeds plus hand-picked cases.
"""

from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from factorcheck.testing import random_separable_kernel

__all__ = ["FORMATS", "HOSTILE_NAMES", "Layer", "ModelSpec", "model_specs", "random_spec",
           "write_model"]

FORMATS = ("npz", "safetensors", "onnx")
#: Weight kinds drawn; "grouped" and "depthwise" state their groups in ONNX only.
KINDS = ("dense", "depthwise", "grouped", "integer", "separable", "pointwise")
#: Spatial kernel sizes (kh, kw); (1, k) with ``one_d`` is a 1-D kernel of width k.
SPATIAL = ((1, 1), (3, 3), (5, 5), (7, 7), (1, 3), (3, 1), (2, 5), (5, 3), (1, 7))
#: Most weights per layer, and per model (keeps each example to a second or two).
LAYER_BUDGET, MODEL_BUDGET = 12_288, 160_000
#: Most weights of an integer layer (exact verdicts use rational arithmetic).
INTEGER_BUDGET = 1_536
#: Names that have broken, or could break, a LaTeX or Markdown report.
HOSTILE_NAMES = (
    r"\input{/etc/passwd}", r"}\end{document}", "^^5cinput", "100% & #hash ~tilde",
    "$(rm -rf ~)", "a_b&c{d}", r"\\\\", "\\", "'quoted' \"double\" `back`", "<b>|pipe|</b>",
    "层/卷积.权重", "ünïcødé/Ærø", "αβγ.σ_μ", "emoji 🙂🔥", "רשת/שכבה", "e\u0301\u0301",
    "conv\x1b[31mred\x07", "tab\there\nnewline\r", "nul\x00byte", "\u2028sep\u2029",
    "--- -- - !? ``''", "x" * 200, "layer." * 33, "a" * 64, "b" * 65, " ",
)

_NAME_CHARS = st.characters(blacklist_categories=("Cs",))  # any code point but surrogates


@dataclass(frozen=True)
class Layer:
    """One convolution weight as stored: ``(n, m/group, kh, kw)`` or 1-D ``(n, m/group, k)``."""

    name: str
    weight: np.ndarray
    group: int = 1


@dataclass(frozen=True)
class ModelSpec:
    """The content of one model file."""

    fmt: str
    layers: tuple[Layer, ...]

    def describe(self) -> str:
        shapes = ", ".join(f"{la.weight.shape}/{la.group}" for la in self.layers[:6])
        more = f" and {len(self.layers) - 6} more" if len(self.layers) > 6 else ""
        return f"{self.fmt}: {len(self.layers)} layers {shapes}{more}"


# --------------------------------------------------------------------------- weights


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _channels(rng: np.random.Generator, budget: int) -> int:
    """Mostly small channel counts, sometimes wide ones (up to 1024), within ``budget``."""
    top = max(1, min(1024, budget))
    wide = rng.random() < 0.25
    n = int(rng.integers(1, top + 1)) if wide else int(rng.integers(1, min(top, 24) + 1))
    return n


def make_weight(kind: str, spatial: tuple[int, int], one_d: bool, rng: np.random.Generator,
                budget: int = LAYER_BUDGET, dtype: str = "float32") -> tuple[np.ndarray, int]:
    """A weight of ``kind`` and its group, with at most ``budget`` entries."""
    kh, kw = (1, spatial[1]) if one_d else ((1, 1) if kind == "pointwise" else spatial)
    taps = kh * kw
    if kind == "integer":
        budget = min(budget, INTEGER_BUDGET)
    n = _channels(rng, budget // taps)
    m_in = _channels(rng, max(1, budget // (taps * n)))
    group = 1
    if kind == "depthwise":
        m_in, group = 1, n
    elif kind == "grouped":
        group = int(rng.choice(_divisors(n)))
    spatial_shape = (kw,) if one_d else (kh, kw)
    shape = (n, m_in, *spatial_shape)
    if kind == "separable":
        weight = random_separable_kernel(shape, multiplier=int(rng.integers(1, 3)), rng=rng)
    elif kind == "integer":
        weight = rng.integers(-3, 4, size=shape).astype(np.float32)
    else:
        weight = rng.standard_normal(shape)
    return np.ascontiguousarray(weight, dtype=dtype), group


def _unique(names: list[str]) -> list[str]:
    """Make names distinct (every format needs unique keys) without losing their oddities.

    Two names count as equal when they agree up to a NUL character, since a zip
    member's name ends there (``zipfile`` cuts it): ``a\x00b`` and ``a\x00c`` would
    both be the .npz member ``a``.
    """
    used: set[str] = set()
    out = []
    for name in names:
        candidate, count = name, 0
        while candidate.split("\x00")[0] in used:
            count += 1
            candidate = f"{name.split(chr(0))[0]}#{count}"
        used.add(candidate.split("\x00")[0])
        out.append(candidate)
    return out


def random_spec(seed: int, *, fmt: str | None = None, layers: int | None = None,
                names: list[str] | None = None, budget: int = MODEL_BUDGET) -> ModelSpec:
    """A random model from a seed alone (the corpus uses it; Hypothesis draws the seed).

    ``budget`` bounds the model's weights (the corpus keeps its files to a few KB).
    """
    rng = np.random.default_rng(seed)
    fmt = fmt or str(rng.choice(FORMATS))
    count = layers or int(rng.integers(1, 61))
    budget = max(1, budget // count)
    chosen = []
    for i in range(count):
        kind = str(rng.choice(KINDS))
        spatial = SPATIAL[int(rng.integers(len(SPATIAL)))]
        one_d = bool(rng.random() < 0.15)
        weight, group = make_weight(kind, spatial, one_d, rng, min(LAYER_BUDGET, budget))
        name = names[i % len(names)] if names else f"layer{i}.{kind}.weight"
        chosen.append((name, weight, group))
    unique = _unique([name for name, _, _ in chosen])
    return ModelSpec(fmt, tuple(Layer(nm, w, g) for nm, (_, w, g) in zip(unique, chosen,
                                                                         strict=True)))


# --------------------------------------------------------------------------- strategies


def layer_names() -> st.SearchStrategy[str]:
    """Plain, hostile, arbitrary-Unicode and long (up to 200 characters) layer names."""
    plain = st.from_regex(r"[a-z][a-z0-9_.]{0,30}", fullmatch=True)
    return st.one_of(plain, st.sampled_from(HOSTILE_NAMES),
                     st.text(_NAME_CHARS, min_size=1, max_size=40),
                     st.text(_NAME_CHARS, min_size=150, max_size=200))


@st.composite
def model_specs(draw: st.DrawFn, formats: tuple[str, ...] = FORMATS) -> ModelSpec:
    """A model file's content: 1 to 60 layers of every kind, with names drawn by Hypothesis."""
    count = draw(st.integers(1, 60))
    names = draw(st.lists(layer_names(), min_size=1, max_size=min(count, 8)))
    seed = draw(st.integers(0, 2**32 - 1))
    fmt = draw(st.sampled_from(formats))
    return random_spec(seed, fmt=fmt, layers=count, names=names)


# --------------------------------------------------------------------------- writers


def _npy_bytes(array: np.ndarray) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _write_npz(path: Path, spec: ModelSpec) -> None:
    """Like ``np.savez`` but with fixed member timestamps, so the file is reproducible."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for layer in spec.layers:
            info = zipfile.ZipInfo(layer.name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, _npy_bytes(layer.weight))


_ST_DTYPES = {"f4": "F32", "f2": "F16", "f8": "F64"}


def _write_safetensors(path: Path, spec: ModelSpec) -> None:
    header, blobs, offset = {}, [], 0
    for layer in spec.layers:
        data = layer.weight.astype(layer.weight.dtype.newbyteorder("<")).tobytes()
        header[layer.name] = {"dtype": _ST_DTYPES[layer.weight.dtype.str[1:]],
                              "shape": list(layer.weight.shape),
                              "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _write_onnx(path: Path, spec: ModelSpec) -> None:
    import onnx
    from onnx import helper, numpy_helper

    nodes, inits, outputs = [], [], []
    for i, layer in enumerate(spec.layers):
        inits.append(numpy_helper.from_array(layer.weight, f"w{i}"))
        nodes.append(helper.make_node("Conv", ["x", f"w{i}"], [f"y{i}"], name=layer.name,
                                      group=layer.group))
        outputs.append(helper.make_tensor_value_info(f"y{i}", onnx.TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", onnx.TensorProto.FLOAT, None)], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="factorcheck-tests", ir_version=8)
    path.write_bytes(model.SerializeToString(deterministic=True))


_WRITERS = {"npz": _write_npz, "safetensors": _write_safetensors, "onnx": _write_onnx}


def write_model(spec: ModelSpec, folder: Path, stem: str = "model") -> Path:
    """Save ``spec`` in ``folder`` as ``stem`` plus the format's suffix; return the path."""
    path = Path(folder) / f"{stem}.{spec.fmt}"
    _WRITERS[spec.fmt](path, spec)
    return path
