"""Built-in demonstration kernels, the same on every run (fixed seed).

``factorcheck check`` with no file analyses these four 16 x 3 x 3 x 3 (OIHW)
kernels, which span the possible verdicts:

* ``separable``: ``k_ij = mu_ij * b_j`` in float64, exactly a depthwise then
  pointwise convolution (up to rounding).
* ``near-separable``: that kernel plus Gaussian noise of relative Frobenius
  size ``1e-3``; not separable, at relative distance just under ``1e-3``.
* ``random``: i.i.d. Gaussian entries; full rank in every slice.
* ``integer``: ``mu_ij * b_j`` with small integers, given as ``int64``, so the
  verdict is exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEMO_SEED", "NEAR_SEPARABLE_NOISE", "demo_kernels"]

#: Seed of the generator that builds the demo kernels.
DEMO_SEED = 20170417
#: Relative Frobenius size of the noise added to the near-separable kernel.
NEAR_SEPARABLE_NOISE = 1e-3
_N, _M, _KH, _KW = 16, 3, 3, 3


def _separable(mu: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``k[i, j] = mu[i, j] * b[j]``: the MobileNet factorization."""
    return np.einsum("ij,jhw->ijhw", mu, b)


def demo_kernels() -> list[tuple[str, np.ndarray]]:
    """The four demonstration kernels as ``(name, OIHW array)`` pairs.

    Returns
    -------
    list of (str, numpy.ndarray)
        ``separable``, ``near-separable``, ``random`` (float64) and ``integer``
        (int64), each of shape ``(16, 3, 3, 3)``; fresh arrays on each call.

    Examples
    --------
    >>> import factorcheck
    >>> from factorcheck.demo import demo_kernels
    >>> for name, k in demo_kernels():
    ...     a = factorcheck.analyze(k)
    ...     print(name, k.dtype, a.separable, a.exact, round(a.relative_distance, 4))
    separable float64 True False 0.0
    near-separable float64 False False 0.0009
    random float64 False False 0.8...
    integer int64 True True 0.0
    """
    rng = np.random.default_rng(DEMO_SEED)
    separable = _separable(rng.standard_normal((_N, _M)), rng.standard_normal((_M, _KH, _KW)))
    noise = rng.standard_normal(separable.shape)
    noise *= NEAR_SEPARABLE_NOISE * np.linalg.norm(separable) / np.linalg.norm(noise)
    random = rng.standard_normal((_N, _M, _KH, _KW))
    signs = rng.choice([-1, 1], size=(_N, _M))
    integer = _separable(signs * rng.integers(1, 4, size=(_N, _M)),
                         rng.integers(-2, 3, size=(_M, _KH, _KW)))
    return [
        ("separable", separable),
        ("near-separable", separable + noise),
        ("random", random),
        ("integer", integer.astype(np.int64)),
    ]
