"""The algebra of depthwise separable convolution, checked by SymPy.

Modules
-------
cost
    Output sizes and exact operation/parameter counts; every function takes
    ints or SymPy expressions alike, so numeric and symbolic counts cannot drift.
derivation
    Chains of equalities, each step verified by SymPy when the chain is built.
factorization
    The block factorization ``K = M . Lambda(b)``, the separability theorem,
    the dimension count and the decomposition into several separable terms.
network
    The width multiplier alpha, the resolution rho, and the proof of how a
    network's total cost scales in them (the tables are in :mod:`factorcheck.network`).
worked_example
    Every number of the reference analysis's worked example, re-checked.
proofs
    The registry ``PROOFS`` of runnable proofs behind ``factorcheck prove``.

Submodules are imported on demand (``from factorcheck.symbolic.cost import
conv_cost``); this package imports nothing eagerly.
"""
