"""Tests of ``factorcheck decouple``: output, JSON schema, exit statuses and bad input."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from fixtures_models import require
from test_decouple_onnx import PPOCR_SHAPE, ppocr_det

from factorcheck.cli import main
from factorcheck.testing import one_conv_onnx

onnx = require("onnx")
require("onnxruntime")

LAYER_KEYS = {"name", "terms", "kernel", "input_hw", "macs_before", "macs_after",
              "params_before", "params_after", "relative_distance", "energy_kept",
              "layer_norm", "error_bound"}


def decouple(capsys, *argv):
    code = main(["decouple", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model(tmp_path):
    return one_conv_onnx(tmp_path / "m.onnx", (8, 4, 3, 3), bias=True, stride=2)


def test_text_output(capsys, tmp_path, model):
    code, out, err = decouple(capsys, model, "-o", tmp_path / "o.onnx", "--terms", "2",
                              "--verify", "2")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[1].split()[:5] == ["layer", "kernel", "input", "T", "rank"]
    # 6x6 outputs: 36*(4*2*9 + 8*8*8)... MACs before 36*8*4*9 = 10368, after 36*(72 + 64) = 4896
    assert lines[2].split()[:7] == ["conv", "8x4x3x3", "12x12", "2", "8", "10,368", "4,896"]
    assert "largest measured / certified layer error" in out
    assert "exact to rounding" not in out  # T < rank: not judged
    assert lines[-1] == f"wrote {tmp_path / 'o.onnx'}"


def test_json_schema_version_1(capsys, tmp_path, model):
    code, out, _ = decouple(capsys, model, "-o", tmp_path / "o.onnx", "--terms", "9",
                            "--order", "pw-dw", "--verify", "1", "--json")
    data = json.loads(out)
    assert code == 0
    assert list(data) == ["schema_version", "source", "output", "order", "layers", "skipped",
                          "totals", "verification", "benchmark"]
    assert data["schema_version"] == 1 and data["order"] == "pw-dw" and data["benchmark"] is None
    layer, = data["layers"]
    assert set(layer) == LAYER_KEYS
    assert layer["kernel"] == [8, 4, 3, 3] and layer["input_hw"] == [12, 12]
    assert layer["terms"] == 4  # capped at min(4 inputs, 9 taps) for pw-dw
    assert 0 <= layer["error_bound"] < 1e-5 * layer["layer_norm"]
    assert data["totals"] == {k: layer[k] for k in ("macs_before", "macs_after",
                                                      "params_before", "params_after")}
    assert data["verification"]["exact_to_rounding"] is True


def test_network_agrees_with_macs_after(capsys, tmp_path, model):
    out_path = tmp_path / "o.onnx"
    _, out, _ = decouple(capsys, model, "-o", out_path, "--terms", "3", "--json")
    after = json.loads(out)["totals"]["macs_after"]
    assert main(["network", str(out_path), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["totals"]["macs"] == after
    assert [row["type"] for row in table["layers"]] == ["depthwise", "pointwise"]


def test_benchmark_prints_both_thread_settings(capsys, tmp_path, model):
    code, out, _ = decouple(capsys, model, "-o", tmp_path / "o.onnx", "--terms", "1",
                            "--benchmark", "--json")
    timings = json.loads(out)["benchmark"]["timings"]
    assert code == 0 and [t["threads"] for t in timings] == ["1", "default"]
    assert all(t["before_ms"] > 0 and t["after_ms"] > 0 for t in timings)


def test_input_file(capsys, tmp_path, model):
    x = np.random.default_rng(0).standard_normal((1, 4, 12, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, _ = decouple(capsys, model, "-o", tmp_path / "o.onnx", "--terms", "9",
                            "--input", tmp_path / "x.npy", "--json")
    v = json.loads(out)["verification"]
    assert code == 0 and v["inputs"] == 1 and v["input_file"] == str(tmp_path / "x.npy")
    assert v["seed"] is None and v["exact_to_rounding"] is True


def test_nothing_to_decouple_exits_0(capsys, tmp_path):
    path = one_conv_onnx(tmp_path / "p.onnx", (8, 4, 1, 1), pad=0)
    code, out, _ = decouple(capsys, path, "-o", tmp_path / "o.onnx", "--terms", "1")
    assert code == 0 and out.startswith("nothing to decouple")
    assert "1x1 kernel" in out and not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("options", [["--terms", "0"], ["--terms", "-2"], ["--terms", "x"],
                                     ["--terms", "2", "--energy", "0.9"],
                                     ["--energy", "0.9", "--rtol", "0.1"], [],
                                     ["--terms", "1", "--verify", "0"]])
def test_bad_options_exit_2(capsys, tmp_path, model, options):
    with pytest.raises(SystemExit) as info:
        main(["decouple", model, "-o", str(tmp_path / "o.onnx"), *options])
    assert info.value.code == 2


@pytest.mark.parametrize("options", [["--energy", "0"], ["--energy", "1.5"], ["--rtol", "-1"]])
def test_bad_values_exit_2(capsys, tmp_path, model, options):
    code, _, err = decouple(capsys, model, "-o", tmp_path / "o.onnx", *options)
    assert code == 2 and f"{options[0][2:]} must be a real number" in err and "got" in err


def test_output_equal_to_input_exits_2(capsys, tmp_path, model):
    os.symlink(model, tmp_path / "link.onnx")
    os.link(model, tmp_path / "hard.onnx")
    before = open(model, "rb").read()
    for out in (model, tmp_path / "link.onnx", tmp_path / "hard.onnx"):
        code, _, err = decouple(capsys, model, "-o", out, "--terms", "1")
        assert code == 2 and "input model itself" in err
    assert open(model, "rb").read() == before


def test_missing_onnxruntime_exits_2_naming_the_extra(capsys, tmp_path, model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    code, _, err = decouple(capsys, model, "-o", tmp_path / "o.onnx", "--terms", "1",
                            "--verify", "1")
    assert code == 2 and "pip install 'factorcheck[runtime]'" in err


def test_bad_input_file_exits_2(capsys, tmp_path, model):
    (tmp_path / "x.npy").write_bytes(b"not numpy")
    code, _, err = decouple(capsys, model, "-o", tmp_path / "o.onnx", "--terms", "1",
                            "--input", tmp_path / "x.npy")
    assert code == 2 and "--input" in err


@pytest.mark.slow
def test_ppocr_from_the_command_line(capsys, tmp_path):
    src = ppocr_det()
    shape = "x".join(map(str, PPOCR_SHAPE))
    code, out, _ = decouple(capsys, src, "-o", tmp_path / "o.onnx", "--terms", "9",
                            "--input-shape", shape, "--verify", "1")
    assert code == 0 and "exact to rounding (T >= rank everywhere): yes" in out
    assert "skipped (ConvTranspose" in out
