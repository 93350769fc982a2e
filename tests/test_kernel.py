"""Tests of kernel input: every accepted form and layout, and a clear error for anything else."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
import sympy

import factorcheck
from factorcheck import FactorcheckError, KernelError, analyze, decompose, is_separable
from factorcheck import nearest_separable as nearest
from factorcheck.kernel import as_kernel

RTOL64 = 1e-12
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def torch_or_skip():
    """torch, or skip the test; in CI torch is installed, so its absence fails the test."""
    try:
        import torch
    except ImportError:
        if IN_CI:
            pytest.fail("torch must be installed in CI")
        pytest.skip("torch is not installed")
    return torch


def separable_oihw(n=5, m=3, kh=3, kw=3, seed=0, order="dw-pw"):
    """k_ij = mu_ij * b_j (dw-pw) or mu_ij * b_i (pw-dw), built here, not by the code under test."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n, m))
    if order == "dw-pw":
        return np.einsum("ij,jhw->ijhw", mu, rng.normal(size=(m, kh, kw)))
    return np.einsum("ij,ihw->ijhw", mu, rng.normal(size=(n, kh, kw)))


def separable_int(n=4, m=3, kh=2, kw=3, seed=0):
    rng = np.random.default_rng(seed)
    mu, b = rng.integers(1, 4, size=(n, m)), rng.integers(1, 4, size=(m, kh, kw))
    return np.einsum("ij,jhw->ijhw", mu, b)


def to_layout(oihw: np.ndarray, layout: str) -> np.ndarray:
    """Transpose a canonical 4-D or 3-D (OIW) array to ``layout`` (3-D drops H)."""
    src = "OIHW" if oihw.ndim == 4 else "OIW"
    dst = layout if oihw.ndim == 4 else layout.replace("H", "")
    return np.transpose(oihw, [src.index(c) for c in dst])


# ------------------------------------------------------------------ fake tensors


class FakeTensor:
    """A duck-typed tensor: detach(), cpu(), dtype and __array__, like torch.Tensor."""

    def __init__(self, data, requires_grad=False):
        self._data = np.asarray(data)
        self.requires_grad = requires_grad
        self.calls: list[str] = []

    @property
    def dtype(self):
        return self._data.dtype

    def detach(self):
        self.calls.append("detach")
        return FakeTensor(self._data, requires_grad=False)

    def cpu(self):
        self.calls.append("cpu")
        return self

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        return self._data if dtype is None else self._data.astype(dtype)


def test_fake_tensor_is_read_like_the_array():
    k = separable_oihw()
    got, want = analyze(FakeTensor(k)), analyze(k)
    assert got.separable and want.separable
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.singular_values, want.singular_values)


def test_fake_tensor_that_requires_grad_is_detached_first():
    k = separable_oihw()
    fake = FakeTensor(k, requires_grad=True)
    with pytest.raises(RuntimeError):  # the fake really refuses, as torch does
        np.asarray(fake)
    result = analyze(fake)
    assert "detach" in fake.calls
    assert result.separable
    assert result.distance == pytest.approx(analyze(k).distance, rel=RTOL64, abs=1e-15)


def test_fake_tensor_not_separable_is_seen():
    k = separable_oihw()
    k[0, 0, 0, 0] += 1.0
    assert not is_separable(FakeTensor(k, requires_grad=True))


# ------------------------------------------------------------------ real torch


def test_torch_parameter_requiring_grad():
    torch = torch_or_skip()
    k = separable_oihw(8, 3, 3, 3).astype(np.float32)
    param = torch.nn.Parameter(torch.from_numpy(k.copy()))
    assert param.requires_grad
    result = analyze(param)
    assert result.separable
    assert result.dtype == "float32"
    assert result.shape == (8, 3, 3, 3)
    np.testing.assert_allclose(
        result.singular_values, analyze(k).singular_values, rtol=RTOL64, atol=1e-12
    )
    bad = k.copy()
    bad[1, 2, 0, 1] *= 1.01
    assert not is_separable(torch.nn.Parameter(torch.from_numpy(bad)))


def test_torch_parameter_factors_and_nearest():
    torch = torch_or_skip()
    k = separable_oihw(4, 2, 3, 3)
    param = torch.nn.Parameter(torch.from_numpy(k.copy()))
    np.testing.assert_allclose(decompose(param).to_kernel(), k, rtol=0, atol=1e-12)
    np.testing.assert_allclose(nearest(param), k, rtol=0, atol=1e-12)


def test_torch_bfloat16_is_read_exactly():
    """bfloat16 has no NumPy dtype; its values must reach the analysis unchanged."""
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    k = rng.normal(size=(6, 3, 3, 3))
    t = torch.from_numpy(k).to(torch.bfloat16)
    values = t.float().numpy().astype(np.float64)
    got = analyze(t)
    assert got.shape == (6, 3, 3, 3)
    np.testing.assert_allclose(got.singular_values, analyze(values).singular_values, rtol=1e-6)


def test_torch_bfloat16_separable_kernel_is_separable():
    """A separable kernel stored in bfloat16 must be judged with bfloat16's eps, not float32's."""
    torch = torch_or_skip()
    t = torch.from_numpy(separable_oihw(8, 3, 3, 3, seed=0)).to(torch.bfloat16)
    assert is_separable(t)


def test_torch_float16_tensor():
    torch = torch_or_skip()
    t = torch.from_numpy(separable_oihw(8, 3, 3, 3, seed=1)).to(torch.float16)
    result = analyze(t)
    assert result.separable
    assert result.dtype == "float16"
    assert nearest(t).dtype == np.float16


# ------------------------------------------------------------------ lists, ints, rationals


def test_nested_list_equals_array():
    k = separable_oihw(3, 2, 2, 2)
    k[0, 1, 1, 0] += 0.5
    got, want = analyze(k.tolist()), analyze(k)
    assert got.separable == want.separable is False
    assert got.distance == pytest.approx(want.distance, rel=RTOL64, abs=0)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
def test_integer_arrays_are_exact(dtype):
    k = separable_int().astype(dtype)
    result = analyze(k)
    assert result.exact and result.criterion == "exact" and result.tolerance is None
    assert result.separable
    assert as_kernel(k).exact
    bad = k.copy()
    bad[0, 0, 0, 0] += 1
    assert not analyze(bad).separable
    assert analyze(bad).exact


def test_fraction_and_sympy_rational_arrays_are_exact():
    ints = separable_int()
    fractions = np.vectorize(lambda v: Fraction(int(v), 7), otypes=[object])(ints)
    rationals = np.vectorize(lambda v: sympy.Rational(int(v), 7), otypes=[object])(ints)
    for k in (fractions, rationals):
        result = analyze(k)
        assert result.exact and result.separable
        canon = as_kernel(k)
        assert canon.exact and all(type(v) is Fraction for v in canon.data.flat)
        assert canon.data[0, 0, 0, 0] == Fraction(int(ints[0, 0, 0, 0]), 7)
    bad = fractions.copy()
    bad[1, 1, 0, 1] += Fraction(1, 10**12)
    assert not analyze(bad).separable


def test_sympy_integer_entries_are_exact():
    k = np.vectorize(sympy.Integer, otypes=[object])(separable_int())
    assert analyze(k).exact and analyze(k).separable


# ------------------------------------------------------------------ layouts


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
@pytest.mark.parametrize("shape", [(5, 3, 3, 3), (5, 3, 2, 4), (4, 2, 1, 5), (3, 4, 5, 1)])
def test_layouts_give_same_verdict_and_shape(shape, order):
    base = separable_oihw(*shape, seed=4, order=order)
    near = base.copy()
    near[1, 0, 0, 0] += 1e-3
    for k, verdict in ((base, True), (near, False)):
        want = analyze(k, order=order)
        assert want.separable is verdict or shape[2] * shape[3] == 1
        for layout in ("OIHW", "HWIO", "OHWI", "hwio"):
            got = analyze(to_layout(k, layout.upper()), layout=layout, order=order)
            assert got.shape == shape
            assert got.layout == layout.upper()
            assert got.separable == want.separable
            np.testing.assert_array_equal(got.ranks, want.ranks)
            assert got.distance == pytest.approx(want.distance, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("layout", ["OIHW", "HWIO", "OHWI"])
def test_canonical_data_is_the_transposition(layout):
    k = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)  # OIHW, kh=4, kw=5
    canon = as_kernel(to_layout(k, layout), layout)
    assert canon.shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(canon.data, k)


@pytest.mark.parametrize("layout", ["OIHW", "HWIO", "OHWI"])
def test_three_d_kernels_are_one_d_convs(layout):
    rng = np.random.default_rng(5)
    n, m, k = 4, 3, 5
    oiw = np.einsum("ij,jw->ijw", rng.normal(size=(n, m)), rng.normal(size=(m, k)))
    given = to_layout(oiw, layout)
    canon = as_kernel(given, layout)
    assert canon.ndim == 3 and canon.shape == (n, m, 1, k)
    np.testing.assert_array_equal(canon.data[:, :, 0, :], oiw)
    result = analyze(given, layout=layout)
    assert result.shape == (n, m, 1, k) and result.separable
    bad = oiw.copy()
    bad[0, 0, 0] += 0.1
    assert not is_separable(to_layout(bad, layout), layout=layout)
    assert nearest(given, layout=layout).shape == given.shape


# ------------------------------------------------------------------ bad input

BAD_KERNELS = [
    ("abc", ["str"]),
    (b"abc", ["bytes"]),
    (np.ones((2, 2, 2, 2), dtype=complex), ["complex"]),
    ([[[[1 + 2j]]]], ["complex"]),
    (np.full((2, 2, 2, 2), None, dtype=object), ["NoneType"]),
    (np.array([[[[sympy.Symbol("x"), 1]]]], dtype=object), ["Symbol", "x"]),
    (np.array([[[[1, "a"]]]], dtype=object), ["str"]),
    (np.ones((2, 2, 2, 2), dtype=bool), ["bool"]),
    (np.array([[[[Fraction(1), True]]]], dtype=object), ["bool"]),
    (np.float64(1.0), ["0-D"]),
    (np.ones(3), ["1-D", "(3,)"]),
    (np.ones((3, 3)), ["2-D", "(3, 3)"]),
    (np.ones((2, 2, 2, 2, 2)), ["5-D"]),
    (np.ones((0, 3, 3, 3)), ["(0, 3, 3, 3)"]),
    (np.ones((3, 0, 3, 3)), ["(3, 0, 3, 3)"]),
    (np.ones((3, 3, 0, 3)), ["(3, 3, 0, 3)"]),
    (np.ones((3, 3, 3, 0)), ["(3, 3, 3, 0)"]),
    (np.ones((3, 0, 3)), ["(3, 0, 3)"]),
    ([[[[1.0, 2.0]], [[3.0]]]], ["list"]),
    (np.zeros((2, 2, 2, 2), dtype="datetime64[s]"), ["datetime64"]),
]


def _all_entry_points():
    return [
        lambda k, **kw: analyze(k, **kw),
        lambda k, **kw: is_separable(k, **kw),
        lambda k, **kw: decompose(k, approximate=True, **kw),
        lambda k, **kw: nearest(k, **kw),
    ]


@pytest.mark.parametrize("call", _all_entry_points(), ids=["analyze", "is_sep", "decomp", "near"])
@pytest.mark.parametrize("kernel, words", BAD_KERNELS, ids=lambda v: type(v).__name__)
def test_bad_kernels_raise_a_clear_error(kernel, words, call):
    with pytest.raises(FactorcheckError) as info:
        call(kernel)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, KernelError)
    message = str(info.value)
    assert "expected" in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("layout", ["OIHW", "HWIO"])
def test_non_finite_entries_name_their_index(bad, dtype, layout):
    k = np.ones((2, 3, 4, 5), dtype=dtype)
    k[1, 2, 0, 3] = bad
    with pytest.raises(KernelError) as info:
        analyze(k, layout=layout)
    message = str(info.value)
    assert "(1, 2, 0, 3)" in message  # the index in the caller's own array
    assert str(float(bad)) in message or "nan" in message


def test_non_finite_in_object_array_of_floats():
    k = np.ones((2, 2, 2, 2)).astype(object)
    k[0, 1, 1, 0] = float("inf")
    with pytest.raises(KernelError, match=r"\(0, 1, 1, 0\)"):
        analyze(k)


@pytest.mark.parametrize("layout", ["NCHW", "oihw ", "", None, 3, ["OIHW"]])
def test_unknown_layout_lists_the_valid_ones(layout):
    with pytest.raises(FactorcheckError) as info:
        analyze(np.ones((2, 2, 2, 2)), layout=layout)
    message = str(info.value)
    assert repr(layout) in message
    for valid in factorcheck.LAYOUTS:
        assert valid in message


@pytest.mark.parametrize("order", ["dwpw", "pw_dw", "", None, 1, ["dw-pw"]])
@pytest.mark.parametrize("call", _all_entry_points(), ids=["analyze", "is_sep", "decomp", "near"])
def test_unknown_order_lists_the_valid_ones(order, call):
    with pytest.raises(FactorcheckError) as info:
        call(np.ones((2, 2, 2, 2)), order=order)
    message = str(info.value)
    assert "dw-pw" in message and "pw-dw" in message


@pytest.mark.parametrize("multiplier", [0, -1, 2.5, 2.0, True, False, "2", None])
@pytest.mark.parametrize("call", _all_entry_points(), ids=["analyze", "is_sep", "decomp", "near"])
def test_bad_multiplier(multiplier, call):
    with pytest.raises(FactorcheckError) as info:
        call(np.ones((2, 2, 2, 2)), multiplier=multiplier)
    message = str(info.value)
    assert "multiplier" in message and ">= 1" in message
    assert repr(multiplier) in message or str(multiplier) in message


def test_numpy_integer_multiplier_is_accepted():
    assert analyze(np.ones((2, 2, 2, 2)), multiplier=np.int64(2)).multiplier == 2


@pytest.mark.parametrize("rtol", [-0.1, 1.5, float("nan"), float("inf"), "0.1", True])
def test_bad_rtol(rtol):
    with pytest.raises(FactorcheckError) as info:
        analyze(np.ones((2, 2, 2, 2)), rtol=rtol)
    assert "rtol" in str(info.value) and "[0, 1]" in str(info.value)


def test_errors_are_value_errors_and_exported():
    assert issubclass(FactorcheckError, ValueError)
    for name in ("KernelError", "NotSeparableError"):
        assert issubclass(getattr(factorcheck, name), FactorcheckError)
