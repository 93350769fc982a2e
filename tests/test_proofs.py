"""Every proofs/ script runs, prints a mark per step and exits 0; the registry agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from factorcheck.errors import FactorcheckError
from factorcheck.symbolic.proofs import PROOFS, run_proofs

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "proofs").glob("*.py"))


def test_one_script_per_registered_proof():
    assert {path.stem for path in SCRIPTS} == set(PROOFS)
    assert list(PROOFS) == ["cost_ratio", "parameter_ratio", "general_costs",
                            "block_factorization", "theorem", "dimension_count",
                            "decomposition_terms", "worked_example"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_exits_zero_with_marks(script):
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"[{script.stem}]" in done.stdout and ": OK" in done.stdout
    assert "✓ verified" in done.stdout
    assert "? unverified" not in done.stdout and "FALSE" not in done.stdout


def test_registry_latex_fragments():
    proofs = run_proofs()
    assert [proof.name for proof in proofs] == list(PROOFS)
    for proof in proofs:
        assert proof.ok
        latex = proof.to_latex()
        assert latex.count(r"\begin{align*}") == len(proof.derivations)
        assert "✓" not in latex


def test_unknown_name_lists_valid_ones():
    with pytest.raises(FactorcheckError, match="unknown proof 'nope'; expected one of: cost_ratio"):
        run_proofs(["cost_ratio", "nope"])
