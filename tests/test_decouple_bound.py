"""The certified operator-norm bound: never below the truth, close to it where it should be."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import factorcheck
from factorcheck.conv import conv2d
from factorcheck.decouple import bound as bound_module
from factorcheck.decouple import error_bound, operator_norm


def conv_matrix(kernel: np.ndarray, hw: tuple[int, int], **options) -> np.ndarray:
    """The explicit matrix of ``x -> conv2d(x, kernel, **options)``, column by basis vector."""
    groups = options.get("groups", 1)
    channels = kernel.shape[1] * groups
    basis = np.eye(channels * hw[0] * hw[1]).reshape(-1, channels, *hw)
    out = conv2d(basis, kernel, **options)
    return out.reshape(len(basis), -1).T


def sigma_max(kernel: np.ndarray, hw: tuple[int, int], **options) -> float:
    return float(np.linalg.svd(conv_matrix(kernel, hw, **options), compute_uv=False)[0])


def power_iteration(kernel: np.ndarray, hw: tuple[int, int], padding: int, iters: int) -> float:
    """Largest singular value of a stride-1 conv by power iteration, the adjoint being the
    convolution with the flipped, transposed kernel (a lower bound on the true norm)."""
    kh = kernel.shape[2]
    adjoint = kernel.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    x = np.random.default_rng(1).normal(size=(kernel.shape[1], *hw))
    value = 0.0
    for _ in range(iters):
        x = conv2d(conv2d(x, kernel, padding=padding), adjoint, padding=kh - 1 - padding)
        value = float(np.linalg.norm(x))
        x /= value
    return float(np.sqrt(value))


CASES = [
    ((4, 3, 3, 3), (5, 6), {}),
    ((4, 3, 3, 3), (5, 6), {"padding": 1}),
    ((4, 3, 3, 3), (6, 6), {"padding": 2}),
    ((4, 3, 3, 3), (7, 7), {"padding": 4}),  # padding beyond the kernel: zero outputs
    ((4, 3, 3, 3), (7, 7), {"stride": 2, "padding": 1}),
    ((3, 2, 3, 3), (8, 7), {"stride": (2, 3), "padding": ((0, 2), (1, 0))}),
    ((4, 3, 3, 2), (7, 7), {"dilation": 2, "padding": (2, 1)}),
    ((3, 3, 2, 2), (6, 6), {"dilation": (1, 3), "stride": 2}),
    ((6, 2, 3, 3), (5, 5), {"groups": 2, "padding": 1}),
    ((6, 1, 3, 3), (5, 5), {"groups": 6, "padding": 1}),  # depthwise
    ((2, 5, 1, 3), (1, 8), {"padding": ((0, 0), (1, 1))}),  # 1-D
    ((5, 2, 1, 1), (4, 4), {}),  # pointwise
]


@pytest.mark.parametrize(("shape", "hw", "options"), CASES)
def test_bound_is_at_least_the_explicit_matrix_norm(shape, hw, options):
    kernel = np.random.default_rng(sum(shape)).normal(size=shape)
    exact = sigma_max(kernel, hw, **options)
    pads = options.get("padding", 0)
    b = operator_norm(kernel, hw, **options)
    assert b >= exact
    if pads == 0 and options.get("stride", 1) == 1 and "groups" not in options:
        assert b <= 1.6 * exact  # valid convolution of a tiny input: loose but finite


def test_onnx_pads_order_is_top_left_bottom_right():
    kernel = np.random.default_rng(0).normal(size=(3, 2, 3, 3))
    nested = operator_norm(kernel, (6, 5), padding=((1, 2), (0, 1)))
    assert operator_norm(kernel, (6, 5), padding=(1, 0, 2, 1)) == nested
    assert nested >= sigma_max(kernel, (6, 5), padding=((1, 2), (0, 1)))


@settings(max_examples=40)
@given(
    n=st.integers(1, 3), m_g=st.integers(1, 3), groups=st.integers(1, 2),
    kh=st.integers(1, 3), kw=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
    stride=st.integers(1, 3), dilation=st.integers(1, 2), pads=st.tuples(*[st.integers(0, 3)] * 4),
    seed=st.integers(0, 2**16), integer=st.booleans(),
)
def test_bound_dominates_explicit_norm_property(n, m_g, groups, kh, kw, h, w, stride, dilation,
                                                pads, seed, integer):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(n * groups, m_g, kh, kw))
    if integer:
        kernel = np.round(4 * kernel).astype(np.int64)
    top, left, bottom, right = pads
    extent = (dilation * (kh - 1) + 1, dilation * (kw - 1) + 1)
    if h + top + bottom < extent[0] or w + left + right < extent[1]:
        with pytest.raises(factorcheck.FactorcheckError, match="larger than the padded input"):
            operator_norm(kernel, (h, w), padding=pads, dilation=dilation, groups=groups)
        return
    options = {"stride": stride, "padding": ((top, bottom), (left, right)),
               "dilation": dilation, "groups": groups}
    b = operator_norm(kernel, (h, w), **options)
    assert b >= sigma_max(kernel, (h, w), **options)


@pytest.mark.parametrize("shape", [(4, 4, 3, 3), (8, 3, 3, 3)])
def test_bound_is_within_one_percent_for_same_and_full_padding_at_32(shape):
    """Stride 1: the bound and the true norm both tend to the symbol's supremum; the gap
    shrinks like 1/H^2 (measured: about 5% at 8x8, 1% at 16x16, 0.3% at 32x32)."""
    kernel = np.random.default_rng(3).normal(size=shape)
    for padding in (1, 2):  # "same", "full"
        b = operator_norm(kernel, (32, 32), padding=padding)
        found = power_iteration(kernel, (32, 32), padding, iters=150)
        assert found <= b <= 1.01 * found


def test_gap_shrinks_as_the_input_grows():
    kernel = np.random.default_rng(4).normal(size=(4, 4, 3, 3))
    gaps = [operator_norm(kernel, (h, h), padding=2) / sigma_max(kernel, (h, h), padding=2) - 1
            for h in (4, 8, 12)]
    assert all(g >= 0 for g in gaps)
    assert gaps[0] > gaps[1] > gaps[2]


def test_bound_is_at_least_power_iteration_with_stride():
    kernel = np.random.default_rng(5).normal(size=(6, 4, 3, 3))
    matrix = conv_matrix(kernel, (9, 9), stride=2, padding=1)
    x = np.random.default_rng(6).normal(size=matrix.shape[1])
    for _ in range(300):
        x = matrix.T @ (matrix @ x)
        x /= np.linalg.norm(x)
    found = float(np.linalg.norm(matrix @ x))
    assert operator_norm(kernel, (9, 9), stride=2, padding=1) >= found


def test_measured_errors_never_exceed_the_error_bound():
    rng = np.random.default_rng(7)
    kernel = rng.normal(size=(8, 4, 3, 3))
    options = {"padding": 1, "stride": 1}
    for terms in (1, 2, 4, 8):
        approx = factorcheck.nearest_separable(kernel, multiplier=terms)
        bound = error_bound(kernel, approx, (10, 10), **options)
        x = rng.normal(size=(16, 4, 10, 10))
        diff = conv2d(x, kernel, **options) - conv2d(x, approx, **options)
        measured = np.linalg.norm(diff.reshape(16, -1), axis=1)
        assert (measured <= bound * np.linalg.norm(x.reshape(16, -1), axis=1)).all()
        worst = sigma_max(kernel - approx, (10, 10), **options)  # the worst input of all
        assert worst <= bound <= 1.1 * worst


def test_negative_control_the_grid_without_padding_is_too_small():
    """Bounding on the H x W grid (no room for the kernel's extent) is violated: the tests
    above could fail."""
    rng = np.random.default_rng(8)
    violated = 0
    for _ in range(40):
        kernel = rng.normal(size=(2, 2, 3, 3))
        naive = bound_module._norm_bound(kernel[None], (4, 4), (1, 1), False)
        violated += naive < sigma_max(kernel, (4, 4), padding=2)
    assert violated > 0


def test_grouped_bound_is_the_largest_group_bound():
    kernel = np.random.default_rng(9).normal(size=(6, 2, 3, 3))
    per_group = [operator_norm(kernel[2 * g : 2 * g + 2], 7, padding=1) for g in range(3)]
    assert operator_norm(kernel, 7, padding=1, groups=3) == pytest.approx(max(per_group),
                                                                          rel=1e-14)


def test_layouts_scale_and_extremes():
    kernel = np.random.default_rng(10).normal(size=(4, 3, 3, 3))
    b = operator_norm(kernel, 9, padding=1)
    assert operator_norm(kernel.transpose(2, 3, 1, 0), 9, padding=1, layout="HWIO") == b
    assert operator_norm(kernel * 2.0**-30, 9, padding=1) == b * 2.0**-30  # powers of 2: exact
    huge = operator_norm(kernel * 1e300, 9, padding=1)
    assert np.isfinite(huge) and huge == pytest.approx(b * 1e300, rel=1e-12)
    assert operator_norm(np.zeros((2, 2, 3, 3)), 5) == 0.0
    assert operator_norm(kernel.astype(np.float32), 9, padding=1) >= sigma_max(
        kernel.astype(np.float32).astype(np.float64), (9, 9), padding=1)


def test_margin_is_tiny():
    """The rounding margin changes the bound by far less than the gap it certifies."""
    kernel = np.eye(3).reshape(3, 3, 1, 1)  # the identity: norm exactly 1
    b = operator_norm(kernel, 6)
    assert 1.0 <= b <= 1.0 + 1e-12


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"input_hw": 0}, "input_hw must be an int >= 1"),
        ({"input_hw": (3, -1)}, "input_hw"),
        ({"input_hw": (3, 3, 3)}, "input_hw"),
        ({"input_hw": "8x8"}, "input_hw"),
        ({"input_hw": 8, "stride": 0}, "stride must be an int >= 1"),
        ({"input_hw": 8, "padding": -1}, "padding"),
        ({"input_hw": 8, "padding": (1, 2, 3)}, "padding must be"),
        ({"input_hw": 8, "padding": (0, 0, -1, 0)}, "padding must be"),
        ({"input_hw": 8, "dilation": 0}, "dilation"),
        ({"input_hw": 8, "groups": 3}, "groups must be an int >= 1 dividing the 4"),
        ({"input_hw": 8, "groups": 0}, "groups"),
        ({"input_hw": 1}, "larger than the padded input"),
    ],
)
def test_bad_input_is_a_clear_error(options, match):
    kernel = np.ones((4, 2, 3, 3))
    hw = options.pop("input_hw")
    with pytest.raises(factorcheck.FactorcheckError, match=match):
        operator_norm(kernel, hw, **options)


def test_error_bound_bad_input():
    with pytest.raises(factorcheck.FactorcheckError, match="same shape"):
        error_bound(np.ones((4, 2, 3, 3)), np.ones((4, 2, 1, 1)), 8)
    with pytest.raises(factorcheck.KernelError, match="finite"):
        error_bound(np.ones((4, 2, 3, 3)), np.full((4, 2, 3, 3), np.nan), 8)
    with pytest.raises(factorcheck.FactorcheckError, match="overflows"):
        error_bound(np.full((1, 1, 1, 1), 1e308), np.full((1, 1, 1, 1), -1e308), 2)


def test_rational_subnormal_and_huge_kernels():
    from fractions import Fraction

    exact = np.array([[[[Fraction(1, 3), Fraction(2, 3)], [1, 2]]]], dtype=object)
    assert operator_norm(exact, 4) >= sigma_max(exact.astype(np.float64), (4, 4))
    tiny = operator_norm(np.array([[[[1e-320, 0.0]]]]), 4)
    assert tiny > 1e-320  # the subnormal result is rounded up, not down
    huge = np.array([[[[Fraction(2) ** 2000, 1]]]], dtype=object)
    assert operator_norm(huge, 4) == np.inf  # an honest bound beyond float64's range


def test_rounding_of_rational_kernels_is_covered():
    """fl(1/3) != 1/3: the bound between a rational kernel and its float64 rounding is not 0."""
    from fractions import Fraction

    third = np.full((2, 2, 3, 3), Fraction(1, 3), dtype=object)
    rounded = third.astype(np.float64)
    exact_gap = float(Fraction(1, 3) - Fraction(rounded[0, 0, 0, 0]))  # about 1.9e-17
    assert exact_gap != 0
    # every entry is off by exact_gap: the true error norm is |gap| * the ones-kernel's norm
    true_error = abs(exact_gap) * sigma_max(np.ones((2, 2, 3, 3)), (5, 5))
    assert error_bound(third, rounded, 5) >= true_error > 0
    assert error_bound(rounded, rounded, 5) == 0.0
    big = np.full((1, 1, 1, 2), 2**60 + 1, dtype=np.int64)  # not a float64: rounded
    assert error_bound(big, big.astype(np.float64), 3) >= 1.0


@settings(max_examples=25)
@given(n=st.integers(1, 4), m=st.integers(1, 3), k=st.integers(2, 3), terms=st.integers(1, 3),
       h=st.integers(3, 6), stride=st.integers(1, 2), pad=st.integers(0, 2),
       seed=st.integers(0, 2**16), order=st.sampled_from(["dw-pw", "pw-dw"]))
def test_error_bound_dominates_the_worst_error_property(n, m, k, terms, h, stride, pad, seed,
                                                        order):
    kernel = np.random.default_rng(seed).normal(size=(n, m, k, k)).astype(np.float32)
    approx = factorcheck.nearest_separable(kernel, multiplier=terms, order=order)
    options = {"stride": stride, "padding": pad}
    worst = sigma_max(kernel.astype(np.float64) - approx.astype(np.float64), (h, h), **options)
    assert error_bound(kernel, approx, (h, h), **options) >= worst
