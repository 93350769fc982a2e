"""Two real models (torchvision ShuffleNetV2 x1.0 and MobileNetV2) against an independent count.

The models' structure is in tests/data (see tests/data/README.md for how they were exported and
stripped, and for the independent onnxruntime count quoted here).
"""

from __future__ import annotations

import pathlib

import pytest
from fixtures_models import require

import factorcheck.network.onnx as network_onnx
from factorcheck.network import onnx_table

DATA = pathlib.Path(__file__).parent / "data"

# model: (layers, MACs, params without bias, biases), from onnxruntime's real tensors
INDEPENDENT = {
    "shufflenet_v2_x1_0": (57, 144_907_992, 2_261_424, 9_090),
    "mobilenet_v2": (53, 300_774_272, 3_469_760, 18_056),
}


@pytest.fixture
def onnx():
    """The onnx package: skipped without it, a failure in CI (every extra installed)."""
    return require("onnx")


@pytest.mark.parametrize("name", sorted(INDEPENDENT))
def test_totals_equal_the_independent_count(onnx, name):
    layers, macs, params, biases = INDEPENDENT[name]
    path = DATA / f"{name}.structure.onnx"
    table = onnx_table(path)   # the batch is symbolic: counted per image, no --input-shape
    assert table.complete and table.input_shape == (1, 3, 224, 224)
    assert (len(table.rows), table.total_macs, table.total_params) == (layers, macs, params)
    assert onnx_table(path, bias=True).total_params == params + biases


def test_shufflenet_shares_by_type(onnx):
    table = onnx_table(DATA / "shufflenet_v2_x1_0.structure.onnx")
    assert [(s.type, s.layers, s.macs) for s in table.shares()] == [
        ("standard", 1, 8_128_512), ("depthwise", 19, 4_159_512),
        ("pointwise", 36, 131_595_968), ("fc", 1, 1_024_000)]


def test_shufflenet_without_the_propagation_is_partial(onnx, monkeypatch):
    # negative control: onnx's inference alone loses the layers after each channel shuffle
    monkeypatch.setattr(network_onnx, "propagate", lambda graph, inferred: {
        k: v for k, v in {**inferred, **{t.name: tuple(t.dims) for t in graph.initializer}}
        .items() if v is not None and None not in v})
    table = onnx_table(DATA / "shufflenet_v2_x1_0.structure.onnx")
    assert not table.complete and len(table.rows) + len(table.skipped) == 57
    assert len(table.skipped) > 30 and table.total_macs < 144_907_992 // 2
