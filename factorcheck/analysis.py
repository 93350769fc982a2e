"""What :func:`~factorcheck.analyze` and :func:`~factorcheck.decompose` return.

:class:`Analysis` is the verdict on one kernel (per-slice singular values,
ranks, the distance to the nearest separable kernel); :class:`Factors` is a
depthwise separable decomposition, which composes back to its kernel
(:meth:`Factors.to_kernel`).  Both show themselves through
:mod:`factorcheck.display`.  The algorithms that make them are in
:mod:`factorcheck.separability`, which re-exports both classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factorcheck._lazy import LazyField
from factorcheck.display import Display, Displayable, describe_analysis, describe_factors
from factorcheck.groups import from_group_slices, per_group_slices
from factorcheck.kernel import from_canonical, to_canonical

__all__ = ["Analysis", "Factors"]


@dataclass(frozen=True, eq=False, repr=False)
class Analysis(Displayable):
    """What :func:`analyze` found about one kernel.

    Attributes
    ----------
    shape : tuple of int
        Canonical shape ``(n_out, m_in, kh, kw)``.
    layout, order : str
        As given to :func:`analyze`.
    multiplier : int
        The depth multiplier ``d`` tested.
    dtype : str
        The dtype of the kernel as given (``"object"`` for rationals).
    separable : bool
        Whether the kernel admits the decomposition with ``d`` terms per slice.
    exact : bool
        True when the verdict was decided in exact arithmetic.
    criterion : str
        ``"exact"``, ``"rank"`` (numerical rank, the default for floats) or
        ``"rtol"`` (relative distance bounded by ``rtol``).
    tolerance : float or None
        For ``"rank"``: a slice has rank <= d when
        ``sigma_{d+1} <= tolerance * sigma_1`` (``max(rows, cols) * eps`` of
        the kernel's dtype).  For ``"rtol"``: the bound on the relative
        distance.  None for exact verdicts.
    singular_values : numpy.ndarray
        Shape ``(slices, min(rows, cols))``, each row in decreasing order.
    ranks : numpy.ndarray
        Rank of each slice (exact, or numerical under ``tolerance``).
    min_multiplier : int
        ``max(ranks)``: the smallest multiplier representing the kernel
        exactly; the kernel is a sum of this many depthwise separable convs.
    distance : float
        Frobenius distance to the nearest kernel admitting the decomposition.
    relative_distance : float
        ``distance / norm``, 0 for a zero kernel.
    energy_kept : numpy.ndarray
        Per slice, the share of its squared norm kept by the nearest kernel.
    norm : float
        Frobenius norm of the kernel.
    groups : int
        ``G``, the group count of the convolution: ``shape`` is then
        ``(n, m/G, kh, kw)`` and the slices are those of every group's block.

    Notes
    -----
    Lazy fields: for float kernels and multiplier 1 (with at least
    ``_FAST_MIN_SLICES`` slices and ``_FAST_MIN_GRAM_ENTRIES`` Gram entries,
    in :mod:`factorcheck.separability`, and slices of at least 2 rows and
    columns), :func:`analyze` decides from
    the largest eigenvalue of each slice's Gram matrix (certified, see the
    README), and ``singular_values`` is computed on first read, then
    cached; ``ranks`` and ``min_multiplier`` too when the certificates leave
    a slice's rank open (coarse tolerances such as float16's).  The values
    are those an eager computation gives.  Every other field, and every
    field of exact or ``multiplier > 1`` analyses, is computed at once.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> a = factorcheck.analyze(np.arange(16.0).reshape(2, 2, 2, 2))
    >>> a.ranks.tolist(), a.min_multiplier, a.criterion
    ([2, 2], 2, 'rank')
    >>> print(a)  # doctest: +NORMALIZE_WHITESPACE
    dw-pw d=1: not separable (rank tolerance 8.88e-16);
    min multiplier 2, relative distance 6.280e-02
    """

    shape: tuple[int, int, int, int]
    layout: str
    order: str
    multiplier: int
    dtype: str
    separable: bool
    exact: bool
    criterion: str
    tolerance: float | None
    # A descriptor, not a default: these three may be computed on first read (see Notes).
    singular_values: np.ndarray = LazyField()  # type: ignore[assignment]  # noqa: RUF009
    ranks: np.ndarray = LazyField()  # type: ignore[assignment]  # noqa: RUF009
    min_multiplier: int = LazyField()  # type: ignore[assignment]
    distance: float
    relative_distance: float
    energy_kept: np.ndarray
    norm: float
    groups: int = 1

    def __str__(self) -> str:
        verdict = "separable" if self.separable else "not separable"
        verdict += f" per group (G={self.groups})" if self.groups > 1 else ""
        how = "exactly" if self.exact else f"({self.criterion} tolerance {self.tolerance:.3g})"
        return (
            f"{self.order} d={self.multiplier}: {verdict} {how}; min multiplier "
            f"{self.min_multiplier}, relative distance {self.relative_distance:.3e}"
        )

    def _display(self) -> Display:
        return describe_analysis(self)


@dataclass(frozen=True, eq=False, repr=False)
class Factors(Displayable):
    """The two convolutions of a depthwise separable decomposition, in the caller's layout.

    For ``order="dw-pw"`` with ``m`` inputs, ``n`` outputs and multiplier
    ``d``: ``depthwise`` is the kernel of a convolution with ``groups=m``,
    shape ``(m*d, 1, kh, kw)`` in OIHW (channel ``j*d + r`` is the ``r``-th
    filter of input ``j``), applied first; ``pointwise`` has shape
    ``(n, m*d, 1, 1)``.  For ``order="pw-dw"``: ``pointwise`` has shape
    ``(n*d, m, 1, 1)`` and is applied first, then ``depthwise`` of shape
    ``(n, d, kh, kw)`` with ``groups=n``.  In other layouts the same arrays are
    transposed accordingly (for Keras ``DepthwiseConv2D`` reshape the HWIO
    depthwise kernel ``(kh, kw, 1, m*d)`` to ``(kh, kw, m, d)``).  3-D kernels
    give 3-D factors.  Exact kernels give exact factors (object arrays of
    :class:`fractions.Fraction`).

    ``groups`` is the group count of the depthwise convolution (``m`` for
    dw-pw, ``n`` for pw-dw).  A grouped kernel ``(n, m/G, kh, kw)`` factors
    per group: the depthwise factor is as above, and the pointwise one is a
    grouped 1x1 convolution with ``pointwise_groups = G`` groups, shape
    ``(n, m*d/G, 1, 1)`` for dw-pw and ``(n*d, m/G, 1, 1)`` for pw-dw.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = np.einsum("ij,jhw->ijhw", [[1, 2], [3, 4], [5, 6]], np.ones((2, 3, 3), dtype=int))
    >>> f = factorcheck.decompose(k, order="dw-pw")
    >>> f.depthwise.shape, f.pointwise.shape, f.groups
    ((2, 1, 3, 3), (3, 2, 1, 1), 2)
    >>> bool((f.to_kernel() == k).all())     # integer kernel: exact factors
    True
    >>> g = factorcheck.decompose(np.ones((4, 3, 3, 3)), groups=2)   # 2 groups of 3 inputs
    >>> g.depthwise.shape, g.pointwise.shape, g.pointwise_groups, g.to_kernel().shape
    ((6, 1, 3, 3), (4, 3, 1, 1), 2, (4, 3, 3, 3))
    """

    depthwise: np.ndarray
    pointwise: np.ndarray
    order: str
    layout: str
    multiplier: int
    groups: int
    pointwise_groups: int = 1

    def _display(self) -> Display:
        return describe_factors(self)

    def to_kernel(self) -> np.ndarray:
        """The standard kernel these factors compose to, in the same layout.

        Examples
        --------
        >>> import numpy as np, factorcheck
        >>> k = np.einsum("ij,jhw->ijhw", np.arange(1.0, 7).reshape(3, 2), np.ones((2, 3, 3)))
        >>> np.allclose(factorcheck.decompose(k).to_kernel(), k)
        True
        """
        ndim = self.depthwise.ndim
        dw = to_canonical(self.depthwise, self.layout)
        pw = to_canonical(self.pointwise, self.layout)[:, :, 0, 0]
        d, order = self.multiplier, self.order
        if order == "dw-pw":  # k_ij = sum_r pw[i, j*d + r] dw[j*d + r]
            pw = per_group_slices(pw[:, :, None, None], self.pointwise_groups, order)[:, :, 0, 0]
            mu = pw.reshape(pw.shape[0], -1, d)
            b = dw[:, 0].reshape(-1, d, *dw.shape[2:])
            out = np.einsum("ijr,jrhw->ijhw", mu, b)
        else:  # k_ij = sum_r dw[i, r] pw[i*d + r, j]
            mu = pw.reshape(-1, d, pw.shape[1])
            out = np.einsum("irj,irhw->ijhw", mu, dw)
        out = from_group_slices(out, self.pointwise_groups, order)
        return from_canonical(out, self.layout, ndim)
