"""scan_kernels on in-memory models: mappings, state dicts and torch Modules answer as files do."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest
from fixtures_models import require
from hypothesis import given, settings
from hypothesis import strategies as st

import factorcheck
from factorcheck import FactorcheckError
from factorcheck.scan import scan, scan_kernels

RNG = np.random.default_rng(5)


def _layers(result, drop=("file",)):
    return [{k: v for k, v in layer.items() if k not in drop}
            for layer in result.to_dict()["layers"]]


def _model(torch):
    """Standard, depthwise, pointwise and 1-D layers, with BN and linear layers around them.

    No batch norm follows a convolution: the ONNX export would fold it into the weight.
    """
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.BatchNorm2d(3),
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
        torch.nn.Conv2d(8, 16, 1, bias=False),
        torch.nn.Conv2d(16, 16, (3, 1), stride=2, padding=(1, 0)),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 4 * 4, 4),
    ).eval()


def _export_onnx(torch, model, path, channels=3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, channels, 8, 8), str(path), dynamo=False)
    return path


def test_state_dict_npz_safetensors_pt_and_onnx_give_the_same_layers(tmp_path):
    torch = require("torch")
    require("onnx")
    safetensors_numpy = require("safetensors.numpy")
    model = _model(torch)
    state = model.state_dict()
    arrays = {k: v.numpy() for k, v in state.items()}
    np.savez(tmp_path / "m.npz", **arrays)
    safetensors_numpy.save_file(arrays, str(tmp_path / "m.safetensors"))
    torch.save(state, tmp_path / "m.pt")
    from_state = _layers(scan_kernels(state))
    assert [layer["name"] for layer in from_state] == ["1.weight", "3.weight", "4.weight",
                                                       "5.weight"]
    assert [layer["kind"] for layer in from_state] == ["standard", "depthwise", "pointwise",
                                                       "standard"]
    assert _layers(scan(tmp_path / "m.npz")) == from_state
    assert _layers(scan(tmp_path / "m.safetensors")) == from_state
    assert _layers(scan(tmp_path / "m.pt")) == from_state
    with np.load(tmp_path / "m.npz") as data:
        assert _layers(scan_kernels(data)) == from_state
    # the Module states groups, strides, pads and dilations, as its ONNX export does
    from_module = _layers(scan_kernels(model), drop=("file", "name"))
    from_onnx = _layers(scan(_export_onnx(torch, model, tmp_path / "m.onnx")),
                        drop=("file", "name"))
    assert from_module == from_onnx
    assert from_module[3]["strides"] == [2, 2] and from_module[3]["pads"] == [1, 0, 1, 0]
    verdicts = ("kind", "group", "shape", "dtype", "dw_pw", "pw_dw")
    assert [{k: layer[k] for k in verdicts} for layer in from_module] == \
        [{k: layer[k] for k in verdicts} for layer in from_state]


def test_grouped_module_layers_match_onnx(tmp_path):
    torch = require("torch")
    require("onnx")
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 32, 3, padding=1),
                                torch.nn.Conv2d(32, 32, 3, groups=2, dilation=2),
                                torch.nn.Conv2d(32, 64, 2, groups=32)).eval()
    from_module = scan_kernels(model)
    assert [(r.kind, r.group, r.group_inferred) for r in from_module.layers] == \
        [("standard", 1, False), ("grouped", 2, False), ("depthwise", 32, False)]
    from_onnx = scan(_export_onnx(torch, model, tmp_path / "g.onnx", channels=4))
    assert _layers(from_module, drop=("file", "name")) == \
        _layers(from_onnx, drop=("file", "name"))
    grouped = from_module.layers[1].dw_pw
    weight = model[1].weight.detach().numpy()
    assert grouped.relative_distance == factorcheck.analyze(weight, groups=2).relative_distance


def test_string_padding_becomes_onnx_pads():
    torch = require("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, (4, 3), padding="same", dilation=(1, 2)),
                                torch.nn.Conv2d(2, 2, 3, padding="valid"))
    assert [r.pads for r in scan_kernels(model).layers] == [(1, 2, 2, 2), (0, 0, 0, 0)]


def test_module_skips_transposed_and_3d_convolutions_with_reasons():
    torch = require("torch")
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ConvTranspose1d(4, 2, 2),
                                torch.nn.Conv3d(1, 2, 3))
    result = scan_kernels(model)
    assert [(r.name, r.conv_dims) for r in result.layers] == [("0.weight", 1)]
    assert [(s.name, s.reason.split(" ")[0]) for s in result.skipped] == \
        [("1.weight", "ConvTranspose"), ("2.weight", "3-D")]


def test_uninitialized_lazy_layers_are_skipped_with_a_reason():
    torch = require("torch")
    model = torch.nn.Sequential(torch.nn.LazyConv2d(4, 3), torch.nn.Conv2d(4, 3, 1))
    result = scan_kernels(model)
    assert [r.name for r in result.layers] == ["1.weight"]
    assert "forward pass" in result.skipped[0].reason
    model(torch.zeros(1, 2, 5, 5))
    assert [r.name for r in scan_kernels(model).layers] == ["0.weight", "1.weight"]


def test_module_bfloat16_weights_are_judged_at_bfloat16_precision():
    torch = require("torch")
    conv = torch.nn.Conv2d(4, 8, 3).to(torch.bfloat16)
    record, = scan_kernels(conv).layers
    assert record.dtype == "bfloat16" and record.name == "weight"
    assert record.dw_pw.analysis.tolerance == pytest.approx(9 * 2.0**-7)


def test_a_depthwise_array_in_a_mapping_is_depthwise_as_in_an_npz(tmp_path):
    w = RNG.standard_normal((32, 1, 3, 3))
    in_memory, = scan_kernels({"dw": w}).layers
    np.savez(tmp_path / "dw.npz", dw=w)
    from_file, = scan(tmp_path / "dw.npz").layers
    assert (in_memory.kind, in_memory.trivial, in_memory.dw_pw.min_multiplier) == \
        ("depthwise", True, 1)
    assert _layers(scan_kernels({"dw": w})) == _layers(scan(tmp_path / "dw.npz"))
    assert from_file.kind == "depthwise"
    # an explicit group still applies, as before
    assert scan_kernels({"dw": w}, group=1).layers[0].kind == "standard"


def test_non_convolution_values_are_skipped_with_a_reason():
    result = scan_kernels({"conv": np.ones((4, 2, 3, 3)), "bias": np.zeros(4),
                           "fc": np.ones((10, 4)), "count": 3, "nested": {"bn": np.ones(4)},
                           "ragged": [[1.0], [1.0, 2.0]]})
    assert [r.name for r in result.layers] == ["conv"]
    reasons = {s.name: s.reason for s in result.skipped}
    assert set(reasons) == {"bias", "fc", "count", "nested.bn", "ragged"}
    assert "1-D tensor of shape (4,)" in reasons["bias"]
    assert "2-D tensor of shape (10, 4)" in reasons["fc"]
    assert reasons["count"] == "int is not an array"


def test_bad_values_of_a_convolution_rank_are_skipped_not_raised():
    result = scan_kernels({"nan": np.full((2, 2, 3, 3), np.nan), "ok": np.ones((2, 2, 3, 3)),
                           "text": np.full((2, 2, 3, 3), "a")})
    assert [r.name for r in result.layers] == ["ok"]
    assert {s.name for s in result.skipped} == {"nan", "text"}


def test_nested_state_dict_keys_are_joined_with_dots():
    torch = require("torch")
    conv = torch.nn.Conv2d(3, 8, 3)
    result = scan_kernels({"state_dict": {"conv": conv.state_dict()}})
    assert [r.name for r in result.layers] == ["state_dict.conv.weight"]
    assert [s.name for s in result.skipped] == ["state_dict.conv.bias"]


def test_tensors_requiring_grad_and_parameters_are_read():
    torch = require("torch")
    conv = torch.nn.Conv2d(3, 8, 3)
    record, = scan_kernels({"w": conv.weight}).layers  # an nn.Parameter, requires_grad
    assert record.dtype == "float32" and record.shape == (8, 3, 3, 3)


def test_torch_is_not_imported_for_a_mapping():
    code = ("import sys, numpy as np, factorcheck\n"
            "r = factorcheck.scan_kernels({'dw': np.ones((8, 1, 3, 3)), 'b': np.zeros(8)})\n"
            "assert r.layers[0].kind == 'depthwise'\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ})
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("value", "words"), [
    ("model.npz", r"use scan\(\) for files"),
    (42, "expects a mapping of name -> array"),
    ([("a", np.ones((2, 2, 3, 3)), "extra")], "expects a mapping of name -> array"),
])
def test_bad_containers_are_refused_clearly(value, words):
    with pytest.raises(FactorcheckError, match=words):
        scan_kernels(value)


def test_a_module_refuses_another_layout():
    torch = require("torch")
    with pytest.raises(FactorcheckError, match="'OIHW'"):
        scan_kernels(torch.nn.Conv2d(2, 2, 3), layout="HWIO")


def test_pairs_and_mappings_agree():
    kernels = {"a": RNG.standard_normal((4, 2, 3, 3)), "b": RNG.standard_normal((4, 1, 3))}
    assert _layers(scan_kernels(kernels)) == _layers(scan_kernels(list(kernels.items())))


_SHAPES = st.sampled_from([(8, 1, 3, 3), (8, 2, 3, 3), (4, 4, 1, 1), (6, 1, 5), (1, 1, 3, 3),
                           (16, 1, 1, 3), (3, 3, 2, 2), (8,), (4, 4)])


@settings(max_examples=15)
@given(shapes=st.lists(_SHAPES, min_size=1, max_size=5), seed=st.integers(0, 2**16),
       integer=st.booleans())
def test_a_mapping_and_its_npz_give_the_same_json(shapes, seed, integer):
    rng = np.random.default_rng(seed)
    arrays = {f"layer{i}.weight": (rng.integers(-3, 4, shape) if integer
                                   else rng.standard_normal(shape)).astype(
                                       np.int16 if integer else np.float32)
              for i, shape in enumerate(shapes)}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.npz")
        np.savez(path, **arrays)
        from_file = _layers(scan(path))
    assert _layers(scan_kernels(arrays)) == from_file
