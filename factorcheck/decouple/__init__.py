"""Decoupling: rewrite standard convolutions as their nearest T-term depthwise separable ones.

:mod:`~factorcheck.decouple.plan` chooses the number of terms ``T`` per layer
and gives the factors (:func:`decouple`, :func:`choose_terms`), the
trade-off between cost and error (:func:`tradeoff`) and what a rewrite does
with one layer of a model (:func:`plan_layer`, :func:`layer_geometry`);
:mod:`~factorcheck.decouple.bound` certifies how large the output error can
be (:func:`operator_norm`, :func:`error_bound`).

Examples
--------
>>> import numpy as np, factorcheck
>>> k = np.random.default_rng(0).normal(size=(16, 8, 3, 3))
>>> f = factorcheck.decouple(k, terms=2)
>>> f.depthwise.shape, f.pointwise.shape
((16, 1, 3, 3), (16, 16, 1, 1))
"""

from factorcheck.decouple.bound import error_bound, operator_norm
from factorcheck.decouple.plan import (
    LayerPlan,
    Tradeoff,
    TradeoffRow,
    choose_terms,
    decouple,
    decoupled_cost,
    layer_geometry,
    plan_layer,
    tradeoff,
)

__all__ = [
    "decouple",
    "choose_terms",
    "tradeoff",
    "decoupled_cost",
    "plan_layer",
    "layer_geometry",
    "operator_norm",
    "error_bound",
    "Tradeoff",
    "TradeoffRow",
    "LayerPlan",
]
