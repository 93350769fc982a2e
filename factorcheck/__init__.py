"""factorcheck: verify the mathematics of depthwise separable convolution.

A standard convolution kernel ``K`` (``n`` outputs, ``m`` inputs, ``kh x kw``
taps) equals a depthwise convolution followed by a pointwise one exactly when
``k_ij = mu_ij * b_j``: for every input channel ``j`` the ``n`` kernels
``k_1j ... k_nj`` are multiples of one matrix (rank <= 1 per column).  This
package decides that for real kernels, gives the factors or the nearest kernel
that has them, derives the costs symbolically, and writes reports.

Examples
--------
>>> import numpy as np, factorcheck
>>> factorcheck.is_separable(np.ones((16, 3, 3, 3)))
True
"""

from factorcheck._version import __version__
from factorcheck.decouple import (
    Tradeoff,
    TradeoffRow,
    choose_terms,
    decouple,
    error_bound,
    operator_norm,
    tradeoff,
)
from factorcheck.errors import (
    DerivationError,
    FactorcheckError,
    FileFormatError,
    KernelError,
    LatexError,
    NotSeparableError,
)
from factorcheck.kernel import LAYOUTS
from factorcheck.scan import LayerRecord, OrderResult, ScanResult, SkippedLayer, scan, scan_kernels
from factorcheck.separability import (
    ORDERS,
    Analysis,
    Factors,
    analyze,
    decompose,
    is_separable,
    nearest_separable,
)

__all__ = [
    # functions
    "analyze",
    "is_separable",
    "decompose",
    "nearest_separable",
    "scan",
    "scan_kernels",
    "decouple",
    "choose_terms",
    "tradeoff",
    "operator_norm",
    "error_bound",
    # results
    "Analysis",
    "Factors",
    "ScanResult",
    "LayerRecord",
    "OrderResult",
    "SkippedLayer",
    "Tradeoff",
    "TradeoffRow",
    # constants
    "LAYOUTS",
    "ORDERS",
    # errors
    "FactorcheckError",
    "KernelError",
    "NotSeparableError",
    "FileFormatError",
    "DerivationError",
    "LatexError",
    "__version__",
]
