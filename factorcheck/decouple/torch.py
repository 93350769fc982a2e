"""Decouple a PyTorch model: each chosen ``nn.Conv2d`` becomes a depthwise and a pointwise conv.

:func:`decouple_module` returns a copy of a module in which every chosen
standard convolution (``groups=1``, kernel larger than 1 x 1) is replaced by
an ``nn.Sequential`` of two convolutions whose weights are the factors of
:func:`factorcheck.decouple` (``T`` terms per slice).  ``torch`` is imported
only when the function runs (the optional ``torch`` extra).

``dw-pw``: ``Conv2d(M, M*T, k, groups=M)`` with the original stride, padding,
dilation and padding mode, then ``Conv2d(M*T, N, 1)`` with the original bias.
``pw-dw``: ``Conv2d(M, N*T, 1)``, then ``Conv2d(N*T, N, k, groups=N)`` with the
original stride, padding, dilation, padding mode and bias (a 1 x 1 step
commutes with any per-channel padding, so both orders are exact at full rank).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from factorcheck.decouple.layer import plan_layer
from factorcheck.decouple.plan import _check_choice, decouple
from factorcheck.errors import FactorcheckError
from factorcheck.io._common import require

__all__ = ["decouple_module"]


def _factor_convs(torch: Any, conv: Any, factors: Any, order: str, terms: int) -> Any:
    """The ``nn.Sequential`` of the two convolutions carrying ``factors``."""
    nn = torch.nn
    n, m = conv.out_channels, conv.in_channels
    like = {"device": conv.weight.device, "dtype": conv.weight.dtype}
    spatial = {"kernel_size": conv.kernel_size, "stride": conv.stride, "padding": conv.padding,
               "dilation": conv.dilation, "padding_mode": conv.padding_mode}
    has_bias = conv.bias is not None
    if order == "dw-pw":
        first = nn.Conv2d(m, m * terms, groups=m, bias=False, **spatial, **like)
        second = nn.Conv2d(m * terms, n, 1, bias=has_bias, **like)
        weights = (factors.depthwise, factors.pointwise)
    else:
        first = nn.Conv2d(m, n * terms, 1, bias=False, **like)
        second = nn.Conv2d(n * terms, n, groups=n, bias=has_bias, **spatial, **like)
        weights = (factors.pointwise, factors.depthwise)
    with torch.no_grad():
        for target, value in zip((first, second), weights, strict=True):
            target.weight.copy_(torch.from_numpy(np.ascontiguousarray(value, np.float64)))
        if has_bias:
            second.bias.copy_(conv.bias)
    return nn.Sequential(first, second).train(conv.training)


def _choose(conv: Any, order: str, choice: dict[str, Any]) -> tuple[int, np.ndarray] | None:
    """``(T, weight)`` for a rewritable Conv2d, or ``None`` (not rewritable, or not cheaper).

    Costs are per output position (:func:`~factorcheck.decouple.plan_layer`
    with the stride as the input grid: for ``pw-dw`` the pointwise step runs at
    the input's resolution, ``sh * sw`` positions per output position).
    """
    if conv.groups != 1 or conv.kernel_size[0] * conv.kernel_size[1] == 1:
        return None
    weight = conv.weight.detach().to("cpu").double().numpy()
    plan = plan_layer(weight, order=order, input_hw=tuple(conv.stride), **choice)
    return (plan.terms, weight) if plan.rewritten else None


def decouple_module(
    module: Any,
    *,
    terms: int | None = None,
    energy: float | None = None,
    rtol: float | None = None,
    order: str = "dw-pw",
    layer: str | Sequence[str] | None = None,
) -> Any:
    """A copy of ``module`` with each chosen ``nn.Conv2d`` replaced by its T-term DSC.

    Parameters
    ----------
    module : torch.nn.Module
        Left unchanged.
    terms, energy, rtol : optional
        Exactly one (see :func:`factorcheck.choose_terms`).  ``terms`` rewrites
        every standard conv, even where it costs more; with ``energy`` or
        ``rtol`` a conv whose ``T`` would not lower the MACs per output
        position is kept as it is.
    order : {"dw-pw", "pw-dw"}
    layer : str or sequence of str, optional
        Shell patterns of the qualified module names to consider (default all).

    Returns
    -------
    torch.nn.Module
        The copy; each rewritten conv is an ``nn.Sequential(first, second)``.

    Examples
    --------
    >>> import torch
    >>> from factorcheck.torch import decouple_module
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU())
    >>> exact = decouple_module(net, terms=9)             # T >= every slice's rank
    >>> exact[0]
    Sequential(
      (0): Conv2d(4, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=4, bias=False)
      (1): Conv2d(32, 8, kernel_size=(1, 1), stride=(1, 1))
    )
    >>> x = torch.randn(2, 4, 10, 10)
    >>> bool(torch.allclose(exact(x), net(x), atol=1e-5))
    True
    """
    torch = require("torch", "torch", "decouple_module")
    if not isinstance(module, torch.nn.Module):
        raise FactorcheckError(f"expected a torch.nn.Module, got {type(module).__name__}")
    choice = _check_choice(terms, energy, rtol)
    patterns = () if layer is None else (layer,) if isinstance(layer, str) else tuple(layer)
    result = copy.deepcopy(module)
    for name, conv in list(result.named_modules()):
        if type(conv) is not torch.nn.Conv2d or (
                patterns and not any(fnmatchcase(name, p) for p in patterns)):
            continue
        chosen = _choose(conv, order, choice)
        if chosen is not None:
            factors = decouple(chosen[1], terms=chosen[0], order=order)
            result = _replace(result, name, _factor_convs(torch, conv, factors, order,
                                                          chosen[0]))
    return result


def _replace(root: Any, name: str, new: Any) -> Any:
    """Set the submodule at dotted ``name`` of ``root``; return the root (``new`` for ``""``)."""
    if not name:
        return new
    parent_name, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, attr, new)
    return root
