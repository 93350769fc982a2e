"""Smaller CLI points: plain help texts, cost --help, --layer errors, progress, natural order."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
from fixtures_models import require

from factorcheck.cli import COMMANDS, build_parser, main
from factorcheck.io._common import natural_key
from factorcheck.scan import scan, scan_kernels

RNG = np.random.default_rng(3)
RST = re.compile(r"``|:[a-z]+:`|`~")


def _help(command: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_rst_markup(command):
    text = _help(command)
    assert not RST.search(text), RST.search(text)
    description = text.split("\n\n")[1]
    assert description[:1].isupper(), description  # a sentence, not the usage line again


def test_top_level_help_is_plain():
    parser = build_parser()
    assert not RST.search(parser.format_help())


def test_cost_help_documents_every_option_and_the_exit_codes():
    text = _help("cost")
    parser = build_parser()
    cost = parser._subparsers._group_actions[0].choices["cost"]
    for action in cost._actions:
        assert action.help, f"{action.option_strings} has no help"
        assert action.option_strings[0] in text
    assert "exit status: 0" in text and "2 bad input" in text


def _write_npz(path, names):
    np.savez(path, **{name: RNG.standard_normal((4, 2, 3, 3)) for name in names})
    return path


@pytest.mark.parametrize("command", ["check", "report"])
def test_layer_matching_nothing_is_an_error_naming_the_layers(tmp_path, command, capsys):
    path = _write_npz(tmp_path / "m.npz", ["conv1", "conv2"])
    extra = ["-o", str(tmp_path / "r.md")] if command == "report" else []
    status = main([command, str(path), "--layer", "fc*", *extra])
    err = capsys.readouterr().err
    assert status == 2
    assert "'fc*' matches no layer" in err and "'conv1', 'conv2'" in err
    assert not (tmp_path / "r.md").exists()


def test_layer_error_lists_at_most_twenty_names():
    kernels = {f"layer{i}": np.ones((2, 2, 3, 3)) for i in range(30)}
    with pytest.raises(ValueError, match=r"the 30 layers are: 'layer0', .*'layer19', "
                                         r"\.\.\. and 10 more"):
        scan_kernels(kernels, layer="nothing")


def test_layer_matching_a_skipped_layer_is_not_an_error():
    result = scan_kernels({"bad": np.full((2, 2, 3, 3), np.nan)}, layer="bad")
    assert [s.name for s in result.skipped] == ["bad"]


def test_layer_error_escapes_hostile_names():
    with pytest.raises(ValueError) as info:
        scan_kernels({"a\x1b[31m": np.ones((2, 2, 3, 3))}, layer="zzz")
    assert "\x1b" not in str(info.value) and "\\x1b" in str(info.value)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_report_shows_progress_on_a_terminal(tmp_path, monkeypatch, capsys):
    path = _write_npz(tmp_path / "m.npz", [f"c{i}" for i in range(9)])
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["report", str(path), "-o", str(tmp_path / "r.json"), "--order", "dw-pw"]) == 0
    shown = terminal.getvalue()
    assert "9/9 c8" in shown and "[" + "#" * 30 + "]" in shown


def test_report_shows_no_progress_off_a_terminal(tmp_path, capsys):
    path = _write_npz(tmp_path / "m.npz", [f"c{i}" for i in range(9)])
    assert main(["report", str(path), "-o", str(tmp_path / "r.json")]) == 0
    assert "#" not in capsys.readouterr().err


def test_natural_key_orders_numbers_as_numbers():
    names = ["layer3.10.conv2.weight", "layer3.2.conv2.weight", "layer3.2.conv10.weight",
             "layer10.0.weight", "layer3.2.conv1.weight", "conv1.weight"]
    assert sorted(names, key=natural_key) == [
        "conv1.weight", "layer3.2.conv1.weight", "layer3.2.conv2.weight",
        "layer3.2.conv10.weight", "layer3.10.conv2.weight", "layer10.0.weight"]
    assert sorted(["a01", "a1"], key=natural_key) == ["a01", "a1"]  # ties broken by the text


def test_safetensors_layers_are_listed_in_natural_order(tmp_path):
    safetensors_numpy = require("safetensors.numpy")
    names = [f"layer3.{i}.conv.weight" for i in (10, 2, 1, 11, 0)]
    path = tmp_path / "m.safetensors"
    safetensors_numpy.save_file({n: RNG.standard_normal((2, 2, 3, 3)) for n in names}, str(path))
    got = [r.name for r in scan(path).layers]
    assert got == [f"layer3.{i}.conv.weight" for i in (0, 1, 2, 10, 11)]
