"""Tests of factorcheck.io.torch: state dicts via weights_only=True, never running pickled code."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import NASTY_NAMES, require

from factorcheck.errors import FileFormatError
from factorcheck.io import detect_format, read_model
from factorcheck.io.torch import load_torch


@pytest.fixture(autouse=True)
def torch():
    return require("torch")


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_nested_state_dict_is_walked(tmp_path, torch):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8),
                                torch.nn.Conv1d(8, 4, 5), torch.nn.Linear(4, 2))
    path = tmp_path / "m.pt"
    torch.save({"epoch": 3, "state_dict": model.state_dict()}, path)
    kernels = load_torch(path).kernels
    assert [(k.name, k.shape, k.layout) for k in kernels] == [
        ("state_dict.0.weight", (8, 3, 3, 3), "OIHW"),
        ("state_dict.1.weight", (8, 1, 3, 3), "OIHW"),
        ("state_dict.2.weight", (4, 8, 5), "OIHW"),
    ]
    np.testing.assert_array_equal(kernels[0].load(), model[0].weight.detach().numpy())


def test_legacy_format_is_read_too(tmp_path, torch):
    path = tmp_path / "legacy.pth"
    w = torch.randn(4, 2, 3, 3)
    torch.save({"w": w}, path, _use_new_zipfile_serialization=False)
    kernel, = read_model(path).kernels
    np.testing.assert_array_equal(kernel.load(), w.numpy())


def test_bfloat16_and_half(tmp_path, torch):
    w = torch.randn(4, 2, 3, 3)
    torch.save({"b": w.to(torch.bfloat16), "h": w.half()}, tmp_path / "m.pt")
    b, h = load_torch(tmp_path / "m.pt").kernels
    assert (b.dtype, h.dtype) == ("bfloat16", "float16")
    np.testing.assert_array_equal(b.load(), w.to(torch.bfloat16).float().numpy())
    assert b.load().dtype == np.float32 and h.load().dtype == np.float16


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_quantized_weights_are_skipped(tmp_path, torch):
    q = torch.quantize_per_tensor(torch.randn(4, 2, 3, 3), 0.1, 0, torch.qint8)
    torch.save({"q": q, "w": torch.randn(4, 2, 3, 3)}, tmp_path / "q.pt")
    contents = load_torch(tmp_path / "q.pt")
    assert [k.name for k in contents.kernels] == ["w"]
    assert [(s.name, s.reason) for s in contents.skipped] == [
        ("q", "quantized weights are not analysed")]


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt"])
def test_pickle_payload_is_refused_and_not_executed(tmp_path, torch, suffix):
    marker = tmp_path / "PWNED"
    path = tmp_path / f"evil{suffix}"
    torch.save({"w": torch.zeros(2, 2, 3, 3), "x": _Payload(marker)}, path)
    with pytest.raises(FileFormatError, match="weights_only=True"):
        read_model(path)
    assert not marker.exists()


def test_raw_pickle_payload_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(FileFormatError):
        read_model(path)
    assert not marker.exists()


def test_zip_checkpoint_is_detected_by_content(tmp_path, torch):
    path = tmp_path / "checkpoint.weights"
    torch.save({"w": torch.zeros(2, 2, 3, 3)}, path)
    assert detect_format(path) == "torch"


def test_names_with_special_characters_survive(tmp_path, torch):
    torch.save({name: torch.zeros(2, 2, 3, 3) for name in NASTY_NAMES}, tmp_path / "n.pt")
    assert [k.name for k in load_torch(tmp_path / "n.pt").kernels] == list(NASTY_NAMES)


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"PK\x03\x04" + bytes(60)])
def test_garbage_is_refused(tmp_path, content):
    path = tmp_path / "g.pt"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match="weights_only=True"):
        read_model(path)
