"""The certified fast path of analyze (multiplier 1, float kernels) and its lazy full spectra.

Every number is compared with a float64 SVD of each slice, or with the full
(eager) path of :mod:`factorcheck.separability`, which the fast path must
reproduce; the certificates get negative controls (a wrong eigenvalue is never
certified; a slice power iteration cannot settle falls back).
"""

from __future__ import annotations

import dataclasses
import pickle

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import factorcheck
from factorcheck import _certify, _spectra, separability
from factorcheck._lazy import Deferred
from factorcheck.kernel import as_kernel
from factorcheck.testing import kernel_with_spectrum, random_separable_kernel

#: Distances must agree with a float64 SVD to this relative tolerance (issue 12).
RTOL_DISTANCE = 1e-9


@pytest.fixture(autouse=True)
def fast_path_for_every_size(monkeypatch):
    """Small kernels normally take the full path (faster there); here they take the fast one."""
    monkeypatch.setattr(separability, "_FAST_MIN_GRAM_ENTRIES", 0)
    monkeypatch.setattr(separability, "_FAST_MIN_SLICES", 0)


def test_small_kernels_take_the_full_path_by_default(monkeypatch):
    monkeypatch.undo()
    rng = np.random.default_rng(0)
    small = factorcheck.analyze(rng.standard_normal((8, 8, 3, 3)))
    few = factorcheck.analyze(rng.standard_normal((64, 3, 7, 7)))  # enough entries, 3 slices
    pointwise = factorcheck.analyze(rng.standard_normal((8, 8192, 1, 1)))  # side 1
    large = factorcheck.analyze(rng.standard_normal((8, 1024, 3, 3)))
    for full in (small, few, pointwise):
        assert not isinstance(full.__dict__["_lazy_singular_values"], Deferred)
    assert isinstance(large.__dict__["_lazy_singular_values"], Deferred)


def svd_spectra(k: np.ndarray, order: str) -> np.ndarray:
    """Singular values of every slice by a direct float64 SVD."""
    k = np.asarray(k, dtype=np.float64)
    slices = k.transpose(1, 0, 2, 3) if order == "dw-pw" else k
    return np.linalg.svd(slices.reshape(len(slices), slices.shape[1], -1), compute_uv=False)


def svd_distance(k: np.ndarray, order: str) -> float:
    return float(np.sqrt((svd_spectra(k, order)[:, 1:] ** 2).sum()))


def eager(k, order: str = "dw-pw", rtol: float | None = None) -> factorcheck.Analysis:
    """The full path (every spectrum computed at once), as analyze did before the fast path."""
    kernel = as_kernel(k)
    spectra = separability._spectra(kernel.as_float(), order)
    return separability._verdict(kernel, order, 1, rtol, spectra)


def assert_same(fast: factorcheck.Analysis, full: factorcheck.Analysis) -> None:
    """The fast path's fields equal the full path's (floats to rounding)."""
    assert fast.separable == full.separable
    assert fast.min_multiplier == full.min_multiplier
    np.testing.assert_array_equal(fast.ranks, full.ranks)
    top = full.singular_values[:, :1]
    np.testing.assert_allclose(fast.singular_values, full.singular_values, rtol=1e-9,
                               atol=1e-12 * float(top.max()))
    np.testing.assert_allclose(fast.energy_kept, full.energy_kept, rtol=0, atol=1e-9)
    assert fast.distance == pytest.approx(full.distance, rel=RTOL_DISTANCE, abs=1e-300)
    assert fast.norm == pytest.approx(full.norm, rel=1e-12)


shapes = st.tuples(st.integers(1, 24), st.integers(1, 12), st.integers(1, 4), st.integers(1, 4))


@settings(max_examples=60)
@given(shapes, st.sampled_from(list(factorcheck.ORDERS)), st.sampled_from(["float32", "float64"]),
       st.integers(0, 2**32 - 1))
def test_fast_path_agrees_with_svd_and_the_full_path(shape, order, dtype, seed):
    k = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    a = factorcheck.analyze(k, order=order)
    assert a.distance == pytest.approx(svd_distance(k, order), rel=RTOL_DISTANCE, abs=1e-300)
    assert_same(a, eager(k, order))


@settings(max_examples=30)
@given(st.integers(2, 6), st.floats(1e-12, 0.5), st.sampled_from(list(factorcheck.ORDERS)),
       st.integers(0, 2**32 - 1))
def test_near_rank_one_slices_agree_with_svd(rank, ratio, order, seed):
    shape = (16, 5, 3, 3) if order == "dw-pw" else (5, 16, 3, 3)
    sigma = np.zeros(9)
    sigma[:rank] = [1.0] + [ratio] * (rank - 1)
    k = kernel_with_spectrum(shape, sigma, order=order, rng=seed)
    a = factorcheck.analyze(k, order=order)
    assert a.distance == pytest.approx(svd_distance(k, order), rel=RTOL_DISTANCE)
    assert_same(a, eager(k, order))


def test_lazy_fields_are_deferred_then_cached_and_equal_to_eager():
    k = np.random.default_rng(1).standard_normal((32, 16, 3, 3)).astype(np.float32)
    a = factorcheck.analyze(k)
    assert isinstance(a.__dict__["_lazy_singular_values"], Deferred)
    assert not isinstance(a.__dict__["_lazy_min_multiplier"], Deferred)  # proven: 9
    copy = pickle.loads(pickle.dumps(a))  # picklable before it is computed
    first = a.singular_values
    assert a.singular_values is first  # cached
    assert not first.flags.writeable
    assert_same(a, eager(k))
    np.testing.assert_array_equal(copy.singular_values, first)
    assert [f.name for f in dataclasses.fields(a)] == [
        "shape", "layout", "order", "multiplier", "dtype", "separable", "exact", "criterion",
        "tolerance", "singular_values", "ranks", "min_multiplier", "distance",
        "relative_distance", "energy_kept", "norm", "groups"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.singular_values = first  # type: ignore[misc]
    assert dataclasses.replace(a, norm=1.0).min_multiplier == a.min_multiplier


def test_analysis_built_by_hand_still_takes_plain_values():
    a = factorcheck.analyze(np.ones((2, 2, 3, 3)))
    b = dataclasses.replace(a, singular_values=np.zeros((2, 2)), min_multiplier=7)
    assert b.min_multiplier == 7 and not b.singular_values.any()


def test_coarse_tolerance_defers_ranks_and_still_decides():
    """float16: tolerance above 1e-3, so the ranks need the full spectrum (computed on demand)."""
    k = np.random.default_rng(2).standard_normal((64, 8, 3, 3)).astype(np.float16)
    a = factorcheck.analyze(k)
    assert isinstance(a.__dict__["_lazy_ranks"], Deferred)
    assert_same(a, eager(k))


def test_separable_float32_kernel_reads_its_ranks_for_the_verdict():
    k = random_separable_kernel((32, 8, 3, 3), rng=3).astype(np.float32)
    a = factorcheck.analyze(k)
    assert a.separable and a.min_multiplier == 1
    assert_same(a, eager(k))


# --------------------------------------------------------------------------- certificates


def _unit_grams(count: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.random.default_rng(seed).standard_normal((count, 4 * k, k))
    g = a.transpose(0, 2, 1) @ a
    t = np.einsum("bii->b", g)
    return g / t[:, None, None], np.ones(count)


def _exact_top(g: np.ndarray) -> list:
    """lambda_1 of each float64 matrix, to 40 digits (mpmath, which SymPy brings)."""
    mpmath.mp.dps = 40
    return [max(mpmath.eigsy(mpmath.matrix(m.tolist()), eigvals_only=True)) for m in g]


def _with_spectrum(count: int, spectrum: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((count, 9, 9)))
    g = q @ (np.array(spectrum)[:, None] * q.transpose(0, 2, 1))
    g = (g + g.transpose(0, 2, 1)) / 2
    return g, np.einsum("bii->b", g)


@pytest.mark.parametrize("kind", ["random", "clustered", "repeated", "near rank one", "rank one"])
def test_the_certified_interval_holds_the_exact_top_eigenvalue(kind):
    """low <= lambda_1 <= high for the float64 matrices as they are, converged or not."""
    if kind == "random":
        g, t = _unit_grams(12, 9, 4)
    else:
        spectrum = {"clustered": [0.3, 0.3 * (1 - 1e-3), 0.2, 0.1, 0.05, 0.03, 0.01, 0.005, 0.005],
                    "repeated": [0.25, 0.25, 0.2, 0.1, 0.1, 0.05, 0.03, 0.01, 0.01],
                    "near rank one": [0.9, 1e-7, 1e-9, 0, 0, 0, 0, 0, 0],
                    "rank one": [0.7, 0, 0, 0, 0, 0, 0, 0, 0]}[kind]
        g, t = _with_spectrum(12, spectrum, 5)
    rho, low, high = _certify._interval(g, t)
    exact = _exact_top(g)
    assert all(lo <= e <= hi for lo, e, hi in zip(low, exact, high, strict=True))
    assert ((low <= rho) & (rho <= high)).all()
    converged = high - low <= 1e-12 * t
    assert converged.all() == (kind in ("random", "near rank one", "rank one"))


def test_a_certified_interval_is_tight_enough_to_catch_a_wrong_eigenvalue():
    """Negative control: lambda_1 moved by 1e-9 of the trace falls outside the interval."""
    g, t = _unit_grams(20, 9, 6)
    _, low, high = _certify._interval(g, t)
    exact = np.array([float(e) for e in _exact_top(g)])
    assert (high - low < 1e-12 * t).all()
    assert not ((low <= exact + 1e-9 * t) & (exact + 1e-9 * t <= high)).any()
    assert not ((low <= exact - 1e-9 * t) & (exact - 1e-9 * t <= high)).any()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1e-12, 1e-6, 0.01, 0.3, 0.5, 0.9, 0.99, 1.0]),
                min_size=2, max_size=7),
       st.sampled_from([1, 3, 9, 16]), st.integers(0, 2**32 - 1))
def test_the_certified_interval_holds_for_any_spectrum(spectrum, k_extra, seed):
    """Property: repeated, clustered, zero and tiny eigenvalues; sizes 2..23; never violated."""
    k = len(spectrum) + k_extra
    values = np.zeros(k)
    values[: len(spectrum)] = spectrum
    values[0] = max(values[0], 1e-3)  # a nonzero matrix
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((2, k, k)))
    g = q @ (values[:, None] * q.transpose(0, 2, 1))
    g = (g + g.transpose(0, 2, 1)) / 2
    t = np.einsum("bii->b", g)
    _, e = np.frexp(t)
    g, t = np.ldexp(g, -(e + (e & 1))[:, None, None]), np.ldexp(t, -(e + (e & 1)))
    with np.errstate(all="ignore"):
        rho, low, high = _certify._interval(g, t)
    exact = _exact_top(g)
    assert all(lo <= x <= hi for lo, x, hi in zip(low, exact, high, strict=True))
    assert (low <= rho).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1e-9, 0.01, 0.3, 0.5, 0.9, 1.0]), min_size=2, max_size=9),
       st.sampled_from(["zero", "gershgorin", "lambda_min", "middle", "lambda_1", "above",
                        "trace"]),
       st.integers(0, 2**32 - 1))
def test_the_certified_interval_holds_for_any_shift(spectrum, where, seed):
    """The bounds hold whatever the shift: at an eigenvalue, past lambda_1, or G = c I exactly."""
    values = np.array(spectrum, dtype=float)
    values[0] = max(values[0], 1e-3)
    k = len(values)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((2, k, k)))
    g = q @ (values[:, None] * q.transpose(0, 2, 1))
    g = (g + g.transpose(0, 2, 1)) / 2
    g[1] = np.eye(k) * values[0]  # G = c I for the shift at lambda_1: P = 0
    t = np.einsum("bii->b", g)
    g, t = g / t[:, None, None], np.ones(2)
    exact_mp = _exact_top(g)
    exact = np.array([float(e) for e in exact_mp])
    lower, top = _certify._gershgorin(g)
    shift = {"zero": np.zeros(2), "gershgorin": _certify._shift(lower, top),
             "lambda_min": np.linalg.eigvalsh(g)[:, 0], "middle": exact / 2, "lambda_1": exact,
             "above": exact * 1.5, "trace": t}[where]
    with np.errstate(all="ignore"):
        rho, low, high = _certify._interval(g, t, shift)
    assert all(lo <= x <= hi for lo, x, hi in zip(low, exact_mp, high, strict=True))
    assert ((low <= np.fmax(rho, 0.0)) | np.isnan(rho)).all()  # NaN: P vanished (G = c I)


@pytest.mark.parametrize("k", [41, 49])
def test_wide_gram_matrices_are_renormalized_twice_and_stay_certified(k):
    """k > 38 (7x7 taps): a second rescaling keeps every squared power above 2**-400."""
    a = np.random.default_rng(k).standard_normal((2, 3 * k, k))
    g = a.transpose(0, 2, 1) @ a
    t = np.einsum("bii->b", g)
    g, t = g / t[:, None, None], np.ones(2)
    assert 2 ** (_certify.SQUARINGS - 2) > 400 / np.log2(2 * k)  # the second rescaling happens
    mpmath.mp.dps = 30
    exact = [max(mpmath.eigsy(mpmath.matrix(m.tolist()), eigvals_only=True)) for m in g]
    _, low, high = _certify._interval(g, t)
    assert all(lo <= e <= hi for lo, e, hi in zip(low, exact, high, strict=True))
    assert (high - low < 1e-12 * t).all()  # and narrow: converged, no underflow lost
    kernel = np.random.default_rng(k).standard_normal((64, 40, 7, 7)).astype(np.float32)
    a = factorcheck.analyze(kernel)
    assert a.distance == pytest.approx(svd_distance(kernel, "dw-pw"), rel=RTOL_DISTANCE)


def test_the_shift_keeps_lambda_1_dominant_and_gershgorin_bounds_lambda_min():
    """c - lambda_min <= (9/11)(lambda_1 - c), so the squarings converge to lambda_1's vector."""
    for seed in range(5):
        a = np.random.default_rng(seed).standard_normal((200, 40, 9)) * [1, 2, 3, 1, 1, 1, 5, 1, 1]
        g = a.transpose(0, 2, 1) @ a
        lower, top = _certify._gershgorin(g)
        shift, eigen = _certify._shift(lower, top), np.linalg.eigvalsh(g)
        assert (lower <= eigen[:, 0] * (1 + 1e-12)).all()
        assert (top <= eigen[:, -1] * (1 + 1e-12)).all()
        assert (shift - eigen[:, 0] <= 9 / 11 * (eigen[:, -1] - shift) * (1 + 1e-9)).all()


def test_slices_proven_safe_are_far_from_low_rank_and_near_singular_ones_are_not():
    """Gershgorin's discs, then Cholesky: every slice accepted has lambda_min above the ratio."""
    a = np.random.default_rng(11).standard_normal((300, 40, 9))
    a[:100, :, 0] *= 1e-4  # sigma_min / sigma_max about 1e-4: must not be called safe
    g = a.transpose(0, 2, 1) @ a
    t = np.einsum("bii->b", g)
    g, t = g / t[:, None, None], np.ones(len(g))
    safe = _certify._safe(g, t)
    eigen = np.linalg.eigvalsh(g)
    assert not safe[:100].any() and safe[100:].all()
    assert (eigen[safe, 0] > _certify.GRAM_SAFE_RATIO**2 * eigen[safe, -1]).all()


def test_the_squaring_error_bound_grows_as_its_recursion_says():
    assert _certify._squaring_error(9, 0) == 0.0
    one = 9 * _certify._gamma(11)
    assert _certify._squaring_error(9, 1) == pytest.approx(one, rel=1e-12)
    assert _certify._squaring_error(9, 10) == pytest.approx(1023 * one, rel=1e-6)


def test_a_slice_power_iteration_cannot_settle_falls_back_to_eigvalsh(monkeypatch):
    """sigma_1 and sigma_2 differ by 1e-10: no squaring count separates them, so no certificate."""
    sigma = np.array([1.0, 1.0 - 1e-10, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02])
    k = kernel_with_spectrum((32, 4, 3, 3), sigma, rng=5)
    g = _spectra.grams(k, "dw-pw")
    t = np.einsum("bii->b", g)
    _, accepted = _certify._top_eigenvalue(g / t[:, None, None], np.ones(len(g)))
    assert not accepted.any()
    calls, real = [], np.linalg.eigvalsh
    monkeypatch.setattr(np.linalg, "eigvalsh", lambda g: calls.append(len(g)) or real(g))
    a = factorcheck.analyze(k)
    assert calls == [4]  # all four slices took eigvalsh at once
    assert isinstance(a.__dict__["_lazy_singular_values"], Deferred)  # the rest stays lazy
    assert a.distance == pytest.approx(svd_distance(k, "dw-pw"), rel=RTOL_DISTANCE)


def test_possibly_near_low_rank_slices_take_the_svd_at_once(monkeypatch):
    sigma = np.array([1.0, 0.5, 0.2, 0.1, 1e-4, 0, 0, 0, 0])  # sigma_min / sigma_max < 1e-3
    k = kernel_with_spectrum((32, 3, 3, 3), sigma, rng=6)
    g = _spectra.grams(k, "dw-pw")
    t = np.einsum("bii->b", g)
    assert not _certify._safe(g / t[:, None, None], np.ones(len(g))).any()
    a = factorcheck.analyze(k)
    np.testing.assert_allclose(a.singular_values, svd_spectra(k, "dw-pw"), rtol=1e-9, atol=1e-15)
    assert a.min_multiplier == 5 and a.ranks.tolist() == [5, 5, 5]


def test_both_cholesky_implementations_agree():
    g, _ = _unit_grams(200, 7, 7)
    shifts = np.linspace(-0.2, 0.6, 200)
    m = g - shifts[:, None, None] * np.eye(7)
    fast = _certify.positive_definite(m)
    slow = _certify._positive_definite_numpy(m.copy())
    truth = np.linalg.eigvalsh(m)[:, 0] > 0
    np.testing.assert_array_equal(fast, truth)
    np.testing.assert_array_equal(slow, truth)
    assert fast.any() and not fast.all()  # both outcomes occur


# --------------------------------------------------------------------------- ranges and chunks


@pytest.mark.parametrize("order", list(factorcheck.ORDERS))
def test_extreme_and_ordinary_slices_mix_in_one_kernel(order):
    k = np.random.default_rng(8).standard_normal((6, 6, 3, 3))
    index = (slice(None), 0) if order == "dw-pw" else (0,)
    k[index] *= 2.0**700
    other = (slice(None), 1) if order == "dw-pw" else (1,)
    k[other] *= 2.0**-900  # subnormal territory when squared
    a = factorcheck.analyze(k, order=order)
    scale = np.ones(6)
    scale[0], scale[1] = 2.0**-700, 2.0**900
    spectra = svd_spectra(k * (scale[None, :, None, None] if order == "dw-pw"
                                else scale[:, None, None, None]), order)
    np.testing.assert_allclose(a.singular_values * scale[:, None], spectra, rtol=1e-12)
    assert a.distance == pytest.approx(np.sqrt((spectra[0, 1:] ** 2).sum()) * 2.0**700, rel=1e-12)
    assert a.ranks.tolist() == [6] * 6  # 6 x 9 slices


@pytest.mark.parametrize("exponent", [-1000, -300, 300, 1000])
def test_power_of_two_scaling_is_exact(exponent):
    k = np.random.default_rng(9).standard_normal((8, 4, 3, 3))
    a, b = factorcheck.analyze(k), factorcheck.analyze(k * 2.0**exponent)
    assert b.distance == pytest.approx(a.distance * 2.0**exponent, rel=1e-12)
    assert b.min_multiplier == a.min_multiplier == 8


@pytest.mark.parametrize("order", list(factorcheck.ORDERS))
@pytest.mark.parametrize("chunk", [1, 50, 1 << 16])
@pytest.mark.parametrize("shape", [(7, 5, 2, 3), (4, 3, 1, 1), (5, 3, 1, 2), (2, 3, 3, 3)])
def test_gram_chunks_give_the_same_matrices(order, chunk, shape):
    """Every side (1, 2, 5, 6; tall or wide slices): the corners and mirrored ends are right."""
    k = np.random.default_rng(10).standard_normal(shape).astype(np.float32)
    whole = _spectra.grams(k, order, chunk=1 << 20)
    np.testing.assert_allclose(_spectra.grams(k, order, chunk=chunk), whole, rtol=1e-14)
    x = np.asarray(k, dtype=np.float64)
    a = (x.transpose(1, 0, 2, 3) if order == "dw-pw" else x).reshape(len(whole), -1,
                                                                      shape[2] * shape[3])
    direct = a.transpose(0, 2, 1) @ a if a.shape[1] >= a.shape[2] else a @ a.transpose(0, 2, 1)
    np.testing.assert_allclose(whole, direct, rtol=1e-13, atol=1e-13 * np.abs(direct).max())
    np.testing.assert_array_equal(whole, whole.transpose(0, 2, 1))
    slices = svd_spectra(k, order)
    np.testing.assert_allclose(np.sqrt(np.sort(np.linalg.eigvalsh(whole), axis=1)[:, ::-1]),
                               slices, rtol=1e-9, atol=1e-12)


def test_integer_kernels_keep_the_exact_path():
    k = np.einsum("ij,jhw->ijhw", [[1, 2], [3, 4], [5, 6]], np.arange(18).reshape(2, 3, 3))
    k[0, 0, 0, 0] += 1
    a = factorcheck.analyze(k)
    assert a.exact and a.criterion == "exact" and a.ranks.tolist() == [2, 1]
    assert not isinstance(a.__dict__["_lazy_singular_values"], Deferred)


def test_the_numpy_1_fallbacks_give_the_same_numbers(monkeypatch):
    """vecdot is a NumPy 2 function; without it einsum does the same (rows and columns)."""
    k = np.random.default_rng(12).standard_normal((48, 40, 3, 3)).astype(np.float32)
    with_them, gram = factorcheck.analyze(k), _spectra.grams(k, "dw-pw")
    monkeypatch.delattr(np, "vecdot", raising=False)
    assert not hasattr(np, "vecdot")
    np.testing.assert_allclose(_spectra.grams(k, "dw-pw"), gram, rtol=1e-14)
    without = factorcheck.analyze(k)
    assert without.distance == pytest.approx(with_them.distance, rel=1e-13)
    np.testing.assert_allclose(without.singular_values, with_them.singular_values, rtol=1e-12)
