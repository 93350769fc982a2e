"""Tests of ``factorcheck network``: tables, JSON, --symbolic, --as-standard, ONNX and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fixtures_models import require
from test_network_onnx import small_cnn

from factorcheck.cli import main


def _run(capsys, *argv):
    code = main(["network", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _total_row(out):
    """The ints of the table's ``total`` row (commas removed)."""
    line = next(line for line in out.splitlines() if line.split()[:1] == ["total"])
    return [int(cell.replace(",", "")) for cell in line.split()[1:]]


def test_mobilenet_table(capsys):
    code, out, err = _run(capsys, "mobilenet-v1")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "mobilenet-v1: input 3x224x224, width α = 1, biases not counted"
    assert lines[1].split() == ["#", "layer", "type", "input", "output", "kernel", "stride",
                                "MACs", "params"]
    assert lines[2].split() == ["1", "conv1", "standard", "3x224x224", "32x112x112", "3x3",
                                "2x2", "10,838,016", "864"]
    assert _total_row(out) == [568_740_352, 4_209_088]
    shares = {line.split()[0]: line.split() for line in lines if line.endswith("%")}
    assert shares["pointwise"][3] == "94.86%" and shares["standard"][3] == "1.91%"


def test_columns_are_aligned(capsys):
    _, out, _ = _run(capsys, "mobilenet-v1")
    table = out.split("\n\n")[0].splitlines()[1:]
    ends = {len(line) for line in table}
    assert len(ends) == 1   # right-aligned numbers: every row ends in the same column


@pytest.mark.parametrize(("alpha", "resolution", "macs", "params"), [
    ("0.75", "192", 239_273_472, 2_568_144),
    ("3/4", "192", 239_273_472, 2_568_144),
    ("0.25", "128", 13_570_048, 463_600),
])
def test_alpha_and_resolution(capsys, alpha, resolution, macs, params):
    code, out, _ = _run(capsys, "mobilenet-v1", "--alpha", alpha, "--resolution", resolution)
    assert code == 0 and _total_row(out) == [macs, params]
    assert "α = 3/4" in out or alpha == "0.25"


def test_bias(capsys):
    _, out, _ = _run(capsys, "mobilenet-v1", "--bias")
    assert _total_row(out) == [568_740_352, 4_221_032] and "biases counted" in out


def test_json_schema(capsys):
    code, out, _ = _run(capsys, "mobilenet-v1", "--json")
    data = json.loads(out)
    assert code == 0 and data["schema_version"] == 1 and data["network"] == "mobilenet-v1"
    assert len(data["layers"]) == 29 and data["totals"] == {"macs": 568_740_352,
                                                           "params": 4_209_088}
    assert {"name", "type", "input", "output", "macs", "params"} <= set(data["layers"][0])
    assert data["layers"][0]["input"] == [3, 224, 224]
    assert {s["type"] for s in data["shares"]} == {"standard", "depthwise", "pointwise", "fc",
                                                   "pool"}
    assert "biases only when asked" in data["convention"]


def test_as_standard(capsys):
    code, out, _ = _run(capsys, "mobilenet-v1", "--as-standard")
    assert code == 0
    total = out.splitlines()[-1].split()
    assert total[:3] == ["total", "568,740,352", "4,867,293,184"]
    assert total[3:5] == ["0.1168", "(8.56x)"]
    assert "dw1 + pw1" in out
    data = json.loads(_run(capsys, "mobilenet-v1", "--as-standard", "--json")[1])
    assert data["standard"]["totals"] == {"macs": 4_867_293_184, "params": 29_281_120}
    assert data["mac_ratio_exact"] == "1110821/9506432"   # 568740352/4867293184 reduced
    assert abs(1 / data["mac_ratio"] - 8.558) < 1e-3 and len(data["blocks"]) == 15


def test_symbolic(capsys):
    code, out, _ = _run(capsys, "mobilenet-v1", "--symbolic")
    assert code == 0
    assert "total MACs = 10752·α²·ρ² + 1125·α·ρ²/2 + 1024000·α" in out
    assert "assuming α·C is an integer" in out and "multiple of 32" in out
    assert "[network_scaling]" in out and ": OK" in out and "FALSE" not in out
    data = json.loads(_run(capsys, "mobilenet-v1", "--symbolic", "--json")[1])
    assert data["symbolic"] is True and data["scaling"]["ok"] is True
    assert data["totals"]["params"] == "3139584*alpha**2 + 1069504*alpha"


def test_symbolic_as_standard(capsys):
    # standard counterpart: pw's 10752 becomes 9 * 10752 = 96768; the dw terms (693/2) vanish
    code, out, _ = _run(capsys, "mobilenet-v1", "--symbolic", "--as-standard")
    total = next(line for line in out.splitlines() if line.startswith("total "))
    assert code == 0 and "96768·α²·ρ² + 216·α·ρ² + 1024000·α" in total


def test_onnx_model(capsys, tmp_path):
    onnx = require("onnx")
    path = small_cnn(onnx, tmp_path / "m.onnx", in_shape=("N", 3, "H", "W"))
    code, _, err = _run(capsys, path)
    assert code == 2 and "--input-shape" in err
    code, out, _ = _run(capsys, path, "--input-shape", "1x3x16x16")
    assert code == 0 and _total_row(out) == [26784, 576]   # see tests/test_network_onnx.py
    data = json.loads(_run(capsys, path, "--input-shape", "1x3x16x16", "--json", "--bias")[1])
    assert data["totals"] == {"macs": 26784, "params": 594} and data["alpha"] is None


@pytest.mark.parametrize(("argv", "message"), [
    (["mobilenet-v1", "--alpha", "0"], "expected 0 < alpha <= 8, got 0"),
    (["mobilenet-v1", "--alpha", "-1"], "alpha"),
    (["mobilenet-v1", "--alpha", "abc"], "expected a number such as 0.75 or 3/4"),
    (["mobilenet-v1", "--alpha", "__import__('os').system('true')"], "alpha"),
    (["mobilenet-v1", "--alpha", "1/64"], "rounds down to 0 channels"),
    (["mobilenet-v1", "--resolution", "-224"], "resolution"),
    (["mobilenet-v1", "--resolution", "16"], "expected an int >= 32 for mobilenet-v1"),
    (["mobilenet-v1", "--resolution", "2**8"], "resolution: expected an integer"),
    (["resnet-50"], "expected one of mobilenet-v1"),
    (["mobilenet-v1", "--symbolic", "--alpha", "1"], "--symbolic"),
    (["mobilenet-v1", "--input-shape", "1x3x224x224"], "--input-shape"),
    (["absent.onnx"], "no such file"),
])
def test_bad_input_exits_2_with_a_message(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("factorcheck network: error:") and message in err


def test_options_that_need_a_builtin_network_are_refused_for_a_model(capsys, tmp_path):
    onnx = require("onnx")
    path = small_cnn(onnx, tmp_path / "m.onnx")
    code, _, err = _run(capsys, path, "--alpha", "0.5")
    assert code == 2 and "--alpha" in err and "a model file has fixed sizes" in err


def test_bad_input_shape_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["network", "m.onnx", "--input-shape", "1x3x-2x2"])
    assert exc.value.code == 2 and "input shape" in capsys.readouterr().err


def test_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "factorcheck", "network", "mobilenet-v1",
                           "--json"], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["totals"]["macs"] == 568_740_352


def test_onnx_model_with_a_symbolic_batch_needs_no_input_shape(capsys, tmp_path):
    from network_graphs import shuffle_model

    onnx = require("onnx")
    path = shuffle_model(onnx, tmp_path / "s.onnx")   # input batch x 8 x 6 x 6
    code, out, err = _run(capsys, path)
    assert code == 0 and err == "" and _total_row(out) == [4256, 196]   # test_network_shapes.py
    assert out.splitlines()[0].startswith("s.onnx: input 1x8x6x6")


def test_help_documents_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["network", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "1 the table is partial" in out and '"complete": false' in out
