"""Weights stored in bfloat16 are judged with bfloat16's epsilon, wherever they come from."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_models import bfloat16_bits, raw_safetensors, require

import factorcheck
from factorcheck.testing import random_separable_kernel

BF16_EPS = 2.0**-7


def _bf16_round(x: np.ndarray) -> np.ndarray:
    """Round float32 to the nearest bfloat16 (ties to even), returned as float32."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def _save_bf16(path, name: str, kernel: np.ndarray) -> None:
    """Write a safetensors file holding ``kernel`` rounded to bfloat16."""
    require("safetensors")
    raw_safetensors(path, {name: ("BF16", kernel.shape, bfloat16_bits(_bf16_round(kernel)))})


@pytest.fixture
def separable() -> np.ndarray:
    return random_separable_kernel((16, 8, 3, 3), rng=3).astype(np.float32)


def test_bf16_rounding_of_a_separable_kernel_is_separable_in_a_file(tmp_path, separable):
    path = tmp_path / "m.safetensors"
    _save_bf16(path, "conv.weight", separable)
    record = factorcheck.scan(path).layers[0]
    assert record.dtype == "bfloat16"
    assert record.dw_pw.separable
    assert 0 < record.dw_pw.relative_distance < BF16_EPS


def test_bf16_file_still_rejects_a_real_perturbation(tmp_path, separable):
    perturbed = separable.copy()
    perturbed[0, 0, 1, 1] += 0.5 * np.abs(separable).max()  # far above bfloat16's rounding
    path = tmp_path / "m.safetensors"
    _save_bf16(path, "conv.weight", perturbed)
    assert not factorcheck.scan(path).layers[0].dw_pw.separable


def test_same_values_as_float32_are_judged_with_float32_eps(separable):
    rounded = _bf16_round(separable)
    assert not factorcheck.is_separable(rounded)  # float32's eps is 65536x smaller
    kernel = factorcheck.kernel.as_kernel(rounded, precision="bfloat16")
    assert factorcheck.analyze(kernel).separable


@pytest.mark.parametrize("precision", ["float8", "int8", None.__class__.__name__])
def test_unknown_precision_is_a_clear_error(separable, precision):
    with pytest.raises(factorcheck.KernelError, match="precision"):
        factorcheck.kernel.as_kernel(separable, precision=precision)


def test_precision_does_not_apply_to_exact_kernels():
    with pytest.raises(factorcheck.KernelError, match="float kernel"):
        factorcheck.kernel.as_kernel(np.ones((2, 2, 3, 3), dtype=np.int8), precision="bfloat16")
