"""Golden numbers of the reference analysis's worked example."""

from __future__ import annotations

import sympy

from factorcheck.symbolic.worked_example import (
    Finding,
    check_worked_example,
    worked_example_proof,
)


def test_golden_numbers():
    example = check_worked_example()
    assert example.output_size == 6  # (11 - 3 + 2*1)/2 + 1
    assert example.standard_output == (6, 6, 16)
    assert example.depthwise_output == (6, 6, 3)
    assert example.pointwise_output == (6, 6, 16)
    assert example.standard_macs == 15552  # 6*6*9*3*16
    assert example.depthwise_macs == 972  # 6*6*9*3
    assert example.pointwise_macs == 1728  # 6*6*3*16
    assert example.ratio == sympy.Rational(2700, 15552) == sympy.Rational(25, 144)
    assert sympy.simplify(example.ratio - (sympy.Rational(1, 16) + sympy.Rational(1, 9))) == 0


def test_kernel_statement_is_reported_as_a_finding():
    (finding,) = check_worked_example().findings
    assert isinstance(finding, Finding)
    assert finding.stated == (3, 3, 3, 6)
    assert finding.expected == (3, 3, 3, 16)
    assert "needs N = 16 kernels (3 × 3 × 3 × 16)" in str(finding)
    assert r"$3 \times 3 \times 3 \times 6$" in finding.text.to_latex()
    assert "16 kernels, not 6" in finding.explanation  # the JSON's plain words stay


def test_proof_is_verified_and_carries_the_finding():
    proof = worked_example_proof()
    assert proof.ok
    assert len(proof.findings) == 1 and "3 × 3 × 3 × 6" in proof.findings[0]
    assert "FINDING:" in proof.to_text()
    assert r"\item" in proof.to_latex()
