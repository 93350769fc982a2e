"""Issue 10, class 3: numbers -- huge, tiny and overflowing values are bounded or refused."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from hostile_helpers import assert_clean_error, cli

import factorcheck
from factorcheck.errors import FactorcheckError, KernelError
from factorcheck.network import parse_alpha
from factorcheck.report import build, render
from factorcheck.separability import rank_bound

BIG = "9" * 100  # far beyond int64
HUGE = "1" + "0" * 4400  # beyond Python's 4300-digit int <-> str limit
RNG = np.random.default_rng(10)


# ------------------------------------------------------------------ 4300-digit results


@pytest.mark.parametrize("flag", ["--input", "-m", "-n", "--multiplier", "--stride"])
def test_cost_refuses_sizes_beyond_int64(flag):
    args = {"--input": "8", "--kernel": "3", "-m": "3", "-n": "4"}
    args[flag] = BIG
    status, _, err = cli("cost", *[x for pair in args.items() for x in pair])
    assert_clean_error(status, err, "2**63 - 1")


@pytest.mark.parametrize("command", [("cost", "--kernel", "3", "-m", "3", "-n", "4", "--input"),
                                     ("network", "mobilenet-v1", "--resolution"),
                                     ("check", "--multiplier")])
def test_numbers_past_the_str_limit_are_refused_cleanly(command):
    status, _, err = cli(*command, HUGE)
    assert_clean_error(status, err)


def test_cost_at_int64_prints_exact_counts_in_text_and_json():
    top = str(2**63 - 1)
    status, out, err = cli("cost", "--input", top, "--kernel", "3", "-m", top, "-n", top,
                           "--json")
    assert status == 0, err
    macs = json.loads(out)["standard"]["macs"]
    assert macs == (2**63 - 3) ** 2 * 9 * (2**63 - 1) ** 2  # exact, 75 digits
    status, out, _ = cli("cost", "--input", top, "--kernel", "3", "-m", top, "-n", top)
    assert status == 0 and str(macs) in out


def test_network_refuses_a_resolution_past_int64():
    status, _, err = cli("network", "mobilenet-v1", "--resolution", str(10**4000), "--json")
    assert_clean_error(status, err, "resolution")


def test_network_input_shape_beyond_int64_is_refused():
    status, _, err = cli("network", "m.onnx", "--input-shape", f"1x3x{2**63}x8")
    assert_clean_error(status, err, "input shape")


# ------------------------------------------------------------------ alpha exponents


@pytest.mark.parametrize("text", ["1e999999999", "1E-999999999", "0.5e+99999999999"])
def test_alpha_with_a_huge_exponent_is_refused_at_once(text):
    start = time.process_time()
    with pytest.raises(FactorcheckError, match="alpha"):
        parse_alpha(text)
    assert time.process_time() - start < 1.0  # 10**999999999 would take minutes


def test_alpha_with_a_huge_exponent_on_the_command_line():
    status, _, err = cli("network", "mobilenet-v1", "--alpha", "1e999999999")
    assert_clean_error(status, err, "alpha")


@pytest.mark.parametrize("text, value", [("7.5e-1", (3, 4)), ("1e0", (1, 1)), ("25e-2", (1, 4))])
def test_alpha_with_a_small_exponent_still_parses(text, value):
    assert parse_alpha(text) == value[0] / value[1]


# ------------------------------------------------------------------ multiplier cap


@pytest.mark.parametrize("multiplier", [10**12, 2**40, 2**60])
def test_decompose_caps_the_multiplier_at_the_rank_bound(multiplier):
    kernel = RNG.normal(size=(8, 4, 3, 3))
    factors = factorcheck.decompose(kernel, multiplier=multiplier)
    assert factors.multiplier == rank_bound((8, 4, 3, 3), "dw-pw") == 8
    assert np.allclose(factors.to_kernel(), kernel)


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
def test_nearest_separable_with_a_huge_multiplier_is_the_kernel(order):
    kernel = RNG.normal(size=(6, 5, 3, 3))
    assert np.allclose(factorcheck.nearest_separable(kernel, order=order, multiplier=10**12),
                       kernel)


def test_below_the_cap_nothing_changes():
    """Negative control: a multiplier below the bound still truncates."""
    kernel = RNG.normal(size=(8, 4, 3, 3))
    near = factorcheck.nearest_separable(kernel, multiplier=2)
    assert not np.allclose(near, kernel)
    assert factorcheck.decompose(kernel, multiplier=2, approximate=True).multiplier == 2


def test_exact_kernel_with_a_huge_multiplier():
    kernel = np.arange(8 * 4 * 9).reshape(8, 4, 3, 3)
    factors = factorcheck.decompose(kernel, multiplier=10**12)
    assert (factors.to_kernel() == kernel).all()


def test_parameter_counts_never_overflow_int64():
    """Today `--multiplier 2**60` printed negative weight counts in the report."""
    report = build([], multiplier=2**60, layer=["int*"], order="dw-pw")
    text = render(report, "md") + render(report, "tex")
    assert "-" + str(2**60)[:6] not in text
    layer = report.sources[0].layers[0]
    shapes = layer.factor_shapes("dw-pw")
    assert math.prod(shapes["depthwise"]) > 2**63  # a Python int, exact
    status, out, _ = cli("check", "--multiplier", str(2**60), "--json")
    assert status == 0 and json.loads(out)["options"]["multiplier"] == 2**60


# ------------------------------------------------------------------ float ranges


def _overflowing_float32() -> np.ndarray:
    top = np.finfo(np.float32).max
    return (np.random.default_rng(0).choice([-1, 1], size=(3, 1, 3, 3)) * top * 0.999
            ).astype(np.float32)


def test_nearest_separable_near_float32_max_raises_instead_of_inf():
    kernel = _overflowing_float32()
    assert np.abs(factorcheck.nearest_separable(kernel.astype(np.float64))).max() > \
        np.finfo(np.float32).max  # the true answer does not fit float32
    with pytest.raises(KernelError, match="float32's range"):
        factorcheck.nearest_separable(kernel)


def test_decompose_near_float32_max_never_returns_inf():
    kernel = _overflowing_float32()
    try:
        factors = factorcheck.decompose(kernel, approximate=True)
    except KernelError as err:
        assert "range" in str(err)
    else:
        assert np.isfinite(factors.depthwise).all() and np.isfinite(factors.pointwise).all()


@pytest.mark.skipif(np.finfo(np.longdouble).maxexp <= 1024, reason="long double is float64 here")
@pytest.mark.parametrize("scale", ["1e-4000", "1e4000"])
def test_long_double_beyond_float64_is_judged_not_flattened(scale):
    """Today 1e-4000 became all zeros: 'separable, T=0'."""
    factor = np.longdouble(scale)
    random = RNG.normal(size=(4, 2, 3, 3)).astype(np.longdouble) * factor
    analysis = factorcheck.analyze(random)
    assert not analysis.separable and analysis.min_multiplier == 4
    separable = np.einsum("ij,jhw->ijhw", RNG.normal(size=(4, 2)),
                          RNG.normal(size=(2, 3, 3))).astype(np.longdouble) * factor
    analysis = factorcheck.analyze(separable)
    assert analysis.separable and analysis.min_multiplier == 1


def test_long_double_in_range_is_unchanged():
    kernel = RNG.normal(size=(4, 2, 3, 3)).astype(np.longdouble)
    assert factorcheck.analyze(kernel).min_multiplier == factorcheck.analyze(
        kernel.astype(np.float64)).min_multiplier


def test_long_double_infinity_is_refused():
    kernel = np.ones((2, 2, 3, 3), dtype=np.longdouble)
    kernel[0, 0, 0, 0] = np.inf
    with pytest.raises(KernelError, match="finite"):
        factorcheck.analyze(kernel)


@pytest.mark.skipif(np.finfo(np.longdouble).maxexp <= 1024, reason="long double is float64 here")
def test_long_double_below_float64_has_no_float64_nearest_kernel():
    """Its nearest kernel would round to zeros: refused, never returned as zeros."""
    kernel = RNG.normal(size=(4, 2, 3, 3)).astype(np.longdouble) * np.longdouble("1e-4000")
    with pytest.raises(KernelError, match="below float64's range"):
        factorcheck.nearest_separable(kernel)
    with pytest.raises(KernelError, match="below float64's range"):
        factorcheck.decompose(kernel, approximate=True)
