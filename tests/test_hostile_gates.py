"""Issue 10, class 5: ``--require-separable`` passes only when every layer was shown separable."""

from __future__ import annotations

import numpy as np
import pytest
from hostile_helpers import cli

from factorcheck.cli.check import gate_failures
from factorcheck.scan import scan_kernels

SEPARABLE = np.ones((4, 2, 3, 3))
NOT_SEPARABLE = np.random.default_rng(5).normal(size=(4, 2, 3, 3))


@pytest.fixture()
def npz(tmp_path):
    def make(**arrays):
        path = tmp_path / "m.npz"
        np.savez(path, **arrays)
        return path
    return make


def test_all_separable_passes(npz):
    """Negative control."""
    assert cli("check", npz(a=SEPARABLE), "--require-separable")[0] == 0


def test_a_non_separable_layer_fails(npz):
    status, _, err = cli("check", npz(a=SEPARABLE, b=NOT_SEPARABLE), "--require-separable")
    assert status == 1 and "'b' is not separable" in err


def test_a_skipped_layer_fails(npz):
    bad = SEPARABLE.copy()
    bad[0, 0, 0, 0] = np.nan
    status, out, err = cli("check", npz(a=SEPARABLE, b=bad), "--require-separable")
    assert status == 1 and "skipped b" in out and "1 layer(s) skipped" in err


def test_allow_skipped_accepts_skipped_layers(npz):
    bad = SEPARABLE.copy()
    bad[0, 0, 0, 0] = np.inf
    status, out, _ = cli("check", npz(a=SEPARABLE, b=bad), "--require-separable",
                         "--allow-skipped")
    assert status == 0 and "skipped b" in out


def test_allow_skipped_does_not_excuse_a_non_separable_layer(npz):
    status, _, _ = cli("check", npz(a=NOT_SEPARABLE), "--require-separable", "--allow-skipped")
    assert status == 1


def test_layer_matching_nothing_is_bad_input_not_a_pass(npz):
    status, _, err = cli("check", npz(a=SEPARABLE), "--require-separable", "--layer", "nope")
    assert status == 2 and "'a'" in err


def test_nothing_analysed_fails(npz):
    status, _, err = cli("check", npz(bias=np.zeros(4)), "--require-separable")
    assert status == 1 and "no layer was analysed" in err


def test_nothing_analysed_without_the_gate_still_exits_0(npz):
    assert cli("check", npz(bias=np.zeros(4)))[0] == 0


def test_gate_failures_library_function():
    assert gate_failures(scan_kernels({"a": SEPARABLE})) == []
    assert gate_failures(scan_kernels({"a": NOT_SEPARABLE}))[0].startswith("layer 'a'")
    nan = SEPARABLE.copy()
    nan[0, 0, 0, 0] = np.nan
    result = scan_kernels({"a": SEPARABLE, "b": nan})
    assert len(gate_failures(result)) == 1 and gate_failures(result, allow_skipped=True) == []
