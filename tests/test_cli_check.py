"""Tests of ``factorcheck check``: table, JSON, exit codes, hostile names, progress bar."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import NASTY_NAMES, Conv, onnx_model

from factorcheck.cli import main
from factorcheck.cli.check import _progress_bar
from factorcheck.testing import random_separable_kernel


def _run(capsys, *argv):
    code = main(["check", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model(tmp_path):
    """An .npz with a separable, a random, a depthwise and a pointwise layer."""
    rng = np.random.default_rng(5)
    path = tmp_path / "model.npz"
    np.savez(path, sep=random_separable_kernel((8, 4, 3, 3), rng=rng),
             rand=rng.standard_normal((8, 4, 3, 3)), dw=rng.standard_normal((8, 1, 3, 3)),
             pw=rng.standard_normal((8, 4, 1, 1)))
    return path


def test_demo_table_without_path(capsys):
    code, out, err = _run(capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["layer", "shape", "kind", "dw-pw", "T", "rel.dist", "cost",
                                "pw-dw", "T", "rel.dist", "cost"]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert set(rows) == {"separable", "near-separable", "random", "integer"}
    assert rows["separable"][3:5] == ["yes", "1"] and rows["random"][3] == "no"
    assert rows["integer"][3] == "yes*" and rows["integer"][6] == "0.1736"   # 1/16 + 1/9
    assert "dw-pw: 2 of 4 separable" in out


def test_demo_json(capsys):
    code, out, _ = _run(capsys, "--json", "--order", "pw-dw")
    data = json.loads(out)
    assert code == 0 and data["schema_version"] == 1
    assert [layer["name"] for layer in data["layers"]] == [
        "separable", "near-separable", "random", "integer"]
    assert all(layer["dw_pw"] is None and layer["pw_dw"] is not None for layer in data["layers"])


def test_model_table_and_summary(capsys, model):
    code, out, _ = _run(capsys, model)
    assert code == 0
    assert "depthwise (trivial)" in out and "pointwise (trivial)" in out
    assert "4 layers analysed (2 trivially separable" in out
    assert "dw-pw: 1 of 2 separable" in out
    assert "depthwise groups inferred from the weight shape" in out


def test_layer_filter_and_require_separable(capsys, model):
    assert _run(capsys, model, "--require-separable")[0] == 1
    assert _run(capsys, model, "--require-separable", "--layer", "sep", "--order", "dw-pw")[0] == 0
    assert _run(capsys, model, "--require-separable", "--layer", "sep")[0] == 1  # pw-dw fails
    code, out, _ = _run(capsys, model, "--require-separable", "--layer", "[dp]w")
    assert code == 0 and "2 layers analysed" in out


def test_rtol_and_multiplier_options(capsys, tmp_path):
    rng = np.random.default_rng(0)
    kernel = random_separable_kernel((8, 4, 3, 3), multiplier=2, rng=rng)
    np.save(tmp_path / "k.npy", kernel)
    argv = [tmp_path / "k.npy", "--order", "dw-pw", "--require-separable"]
    assert _run(capsys, *argv)[0] == 1
    assert _run(capsys, *argv, "--multiplier", "2")[0] == 0
    assert _run(capsys, *argv, "--rtol", "1")[0] == 0


def test_several_files_are_combined(capsys, model, tmp_path):
    np.save(tmp_path / "extra.npy", np.ones((4, 2, 3, 3)))
    code, out, _ = _run(capsys, "--json", model, tmp_path / "extra.npy")
    files = {Path(layer["file"]).name for layer in json.loads(out)["layers"]}
    assert code == 0 and files == {"model.npz", "extra.npy"}


@pytest.mark.parametrize("argv", [
    ["--multiplier", "0"], ["--rtol", "3"], ["--layout", "HWIO"],
])
def test_bad_options_exit_2(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("factorcheck check: error:")


def test_bad_files_exit_2_with_a_message_and_run_nothing(capsys, tmp_path):
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.npy").write_bytes(pickle.dumps(_Touch(marker)))
    (tmp_path / "short.npy").write_bytes(b"\x93NUMPY\x01\x00")
    for name in ("evil.npy", "short.npy", "missing.onnx"):
        code, out, err = _run(capsys, tmp_path / name)
        assert code == 2 and out == "" and name in err
    assert not marker.exists()


class _Touch:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_hostile_layer_names_are_printed_inertly(tmp_path):
    path = onnx_model(tmp_path / "m.onnx",
                      [Conv(name, np.ones((4, 1, 3, 3), np.float32), group=4)
                       for name in NASTY_NAMES])
    table = subprocess.run([sys.executable, "-m", "factorcheck", "check", str(path)],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    as_json = subprocess.run([sys.executable, "-m", "factorcheck", "check", "--json", str(path)],
                             cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert not (tmp_path / "PWNED").exists()
    assert "\x1b" not in table and "\x07" not in table and "conv\\x1b[31mred\\x07" in table
    for name in NASTY_NAMES[:4]:
        assert name in table
    assert [layer["name"] for layer in json.loads(as_json)["layers"]] == list(NASTY_NAMES)


def test_installed_command_exit_codes(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 3)
    bad = subprocess.run([sys.executable, "-m", "factorcheck", "check",
                          str(tmp_path / "bad.safetensors")], capture_output=True, text=True)
    demo = subprocess.run([sys.executable, "-m", "factorcheck", "check", "--require-separable"],
                          capture_output=True, text=True)
    assert bad.returncode == 2 and "not a valid safetensors file" in bad.stderr
    assert demo.returncode == 1 and "near-separable" in demo.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_for_many_layers():
    assert _progress_bar(io.StringIO()) is None
    stream = _Terminal()
    bar = _progress_bar(stream)
    bar(1, 3, "few")
    assert stream.getvalue() == ""
    for i in range(1, 11):
        bar(i, 10, f"layer{i}")
    drawn = stream.getvalue()
    assert "5/10 layer5" in drawn and "[###############...............]" in drawn
    assert drawn.endswith("\r\x1b[K")


def test_no_progress_output_when_stderr_is_not_a_terminal(capsys, tmp_path):
    np.savez(tmp_path / "many.npz", **{f"c{i}": np.ones((2, 2, 3, 3)) for i in range(20)})
    code, _, err = _run(capsys, tmp_path / "many.npz")
    assert code == 0 and err == ""
