"""The ``prove`` and ``cost`` subcommands through the real dispatcher."""

from __future__ import annotations

import json

import pytest

import factorcheck.cli as cli


@pytest.fixture(autouse=True)
def only_my_commands(monkeypatch):
    # Other subcommand modules are developed separately; test these two in isolation.
    monkeypatch.setattr(cli, "COMMANDS", ("prove", "cost"))


def test_prove_all_exits_zero(capsys):
    assert cli.main(["prove"]) == 0
    out = capsys.readouterr().out
    assert "8/8 proofs verified" in out and "✓ verified" in out


def test_prove_latex(capsys):
    assert cli.main(["prove", "cost_ratio", "--latex"]) == 0
    out = capsys.readouterr().out
    assert r"\begin{align*}" in out and "✓" not in out


def test_prove_unknown_name_is_bad_input(capsys):
    assert cli.main(["prove", "cost_ratio", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown proof 'bogus'" in err and "worked_example" in err


def test_cost_json_golden(capsys):
    argv = ["cost", "--input", "11", "--kernel", "3", "-m", "3", "-n", "16", "--stride", "2",
            "--padding", "1", "--json"]
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output_shape"] == [6, 6]
    assert data["standard"]["macs"] == 15552  # 6*6*9*3*16
    assert data["separable"]["macs"] == 2700  # 972 + 1728
    assert data["standard"]["macs_padding_aware"] == 12288  # 16*16*3*16
    assert data["separable"]["macs_padding_aware"] == 2496  # 16*16*3 + 1728
    assert data["mac_ratio"] == "25/144"


def test_cost_table_rectangular_asymmetric(capsys):
    argv = ["cost", "--input", "10x8", "--kernel", "3x1", "-m", "4", "-n", "8",
            "--stride", "2", "--padding", "0,1,0,0", "--multiplier", "2", "--bias"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("output: 5 x 4")
    assert "MACs (padding-aware)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "__import__('os')"], "size: expected an integer"),
        (["--input", "11", "--padding", "1,2,3"], "padding: expected p, ph,pw"),
        (["--input", "11", "--stride", "0"], "expected an integer >= 1, got 0"),
    ],
)
def test_cost_rejects_non_integers(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["cost", "--kernel", "3", "-m", "3", "-n", "16", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_cost_kernel_too_large_is_bad_input(capsys):
    assert cli.main(["cost", "--input", "2", "--kernel", "5", "-m", "1", "-n", "1"]) == 2
    assert "padded input 2" in capsys.readouterr().err
