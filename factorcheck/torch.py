"""PyTorch helpers of factorcheck (optional extra ``torch``; torch is imported only when used).

Examples
--------
>>> from factorcheck.torch import decouple_module
>>> decouple_module.__module__
'factorcheck.decouple.torch'
"""

from factorcheck.decouple.torch import decouple_module

__all__ = ["decouple_module"]
