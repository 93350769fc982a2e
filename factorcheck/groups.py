"""Grouped convolutions: judge each group's block as its own kernel, in one pass.

A convolution with ``G`` groups has a weight of shape ``(n, m/G, kh, kw)``:
group ``g`` maps its ``m/G`` inputs to its ``n/G`` outputs with the block
``K_g = K[g*n/G : (g+1)*n/G]``.  It is depthwise separable per group when
every block is.  The slices of the test (see :mod:`factorcheck.separability`)
are then those of every block, and :func:`per_group_slices` rearranges the
weight so that the ordinary slicing lists exactly them; the spectra, ranks and
distances of a grouped kernel are therefore computed by the same code as a
dense kernel's, and :func:`factorcheck.analyze` with ``groups=G`` and the file
scans (:func:`factorcheck.scan.scan`) cannot disagree.

Examples
--------
>>> import numpy as np
>>> w = np.arange(2 * 2 * 3 * 1 * 1).reshape(4, 3, 1, 1)       # G = 2: two 2x3 blocks
>>> per_group_slices(w, 2, "dw-pw")[:, :, 0, 0]                # (n/G, G*m/G)
array([[ 0,  1,  2,  6,  7,  8],
       [ 3,  4,  5,  9, 10, 11]])
>>> bool((from_group_slices(per_group_slices(w, 2, "dw-pw"), 2, "dw-pw") == w).all())
True
"""

from __future__ import annotations

import numbers
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from factorcheck.errors import FactorcheckError, KernelError
from factorcheck.kernel import Kernel, from_canonical, to_canonical

if TYPE_CHECKING:
    from factorcheck.separability import Factors

__all__ = [
    "check_groups",
    "from_group_slices",
    "grouped_kernel",
    "per_group_slices",
    "regroup_factors",
]


def check_groups(groups: object, k: Kernel) -> int:
    """Validate ``groups`` against a canonical kernel ``(n, m/G, kh, kw)``; return it.

    Examples
    --------
    >>> from factorcheck.kernel import as_kernel
    >>> check_groups(2, as_kernel(np.ones((4, 3, 3, 3))))
    2
    >>> check_groups(3, as_kernel(np.ones((4, 3, 3, 3))))
    Traceback (most recent call last):
    ...
    factorcheck.errors.KernelError: groups=3 does not divide the kernel's 4 output channels ...
    """
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise FactorcheckError(f"groups must be an integer >= 1, got {groups!r}")
    n = k.shape[0]
    if n % groups:
        raise KernelError(
            f"groups={groups} does not divide the kernel's {n} output channels "
            f"(canonical shape {k.shape}); a grouped kernel has shape (n, m/groups, kh, kw)"
        )
    return int(groups)


def per_group_slices(canonical: np.ndarray, groups: int, order: str) -> np.ndarray:
    """A kernel whose slices in ``order`` are exactly the slices of every group's block.

    pw-dw slices are per output channel, so the stored ``(n, m/G, kh, kw)``
    weight already has them.  dw-pw slices are ``K_g[:, j]`` for each group ``g``
    and input ``j``: moving the group axis next to the inputs,
    ``(G, n/G, m/G, kh, kw) -> (n/G, G*m/G, kh, kw)``, lists them all.
    (:func:`from_group_slices` undoes it.)

    Examples
    --------
    >>> per_group_slices(np.zeros((8, 3, 3, 3)), 4, "dw-pw").shape
    (2, 12, 3, 3)
    >>> per_group_slices(np.zeros((8, 3, 3, 3)), 4, "pw-dw").shape
    (8, 3, 3, 3)
    """
    if order == "pw-dw" or groups == 1:
        return canonical
    n, m_g, kh, kw = canonical.shape
    blocks = canonical.reshape(groups, n // groups, m_g, kh, kw)
    return blocks.transpose(1, 0, 2, 3, 4).reshape(n // groups, groups * m_g, kh, kw)


def from_group_slices(sliced: np.ndarray, groups: int, order: str) -> np.ndarray:
    """The grouped kernel ``(n, m/G, kh, kw)`` whose :func:`per_group_slices` is ``sliced``.

    Examples
    --------
    >>> from_group_slices(np.zeros((2, 12, 3, 3)), 4, "dw-pw").shape
    (8, 3, 3, 3)
    """
    if order == "pw-dw" or groups == 1:
        return sliced
    n_g, m, kh, kw = sliced.shape
    blocks = sliced.reshape(n_g, groups, m // groups, kh, kw)
    return blocks.transpose(1, 0, 2, 3, 4).reshape(n_g * groups, m // groups, kh, kw)


def grouped_kernel(k: Kernel, groups: int, order: str) -> Kernel:
    """``k`` rearranged so that its slices in ``order`` are every group's slices.

    Examples
    --------
    >>> from factorcheck.kernel import as_kernel
    >>> grouped_kernel(as_kernel(np.ones((8, 3, 3, 3))), 2, "dw-pw").shape
    (4, 6, 3, 3)
    """
    return k if groups == 1 else replace(k, data=per_group_slices(k.data, groups, order))


def regroup_factors(factors: Factors, groups: int) -> Factors:
    """Factors of :func:`grouped_kernel` ``(k)`` as the factors of the grouped kernel ``k``.

    Only the dw-pw pointwise factor changes: its rows become the grouped 1x1
    convolution ``(n, m*d/G)`` (group ``g`` reads the depthwise channels of its
    own inputs, which are contiguous).  ``pointwise_groups`` becomes ``G``.

    Examples
    --------
    >>> import factorcheck
    >>> f = factorcheck.decompose(np.ones((4, 6, 3, 3)))       # (4, 6): one dense kernel
    >>> regroup_factors(f, 2).pointwise.shape                  # as if it were (8, 3) in 2 groups
    (8, 3, 1, 1)
    """
    if groups == 1:
        return factors
    point = to_canonical(factors.pointwise, factors.layout)
    if factors.order == "dw-pw":
        point = from_group_slices(point, groups, "dw-pw")
    pointwise = from_canonical(point, factors.layout, factors.pointwise.ndim)
    return replace(factors, pointwise=pointwise, pointwise_groups=groups)
