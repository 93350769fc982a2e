"""Decoupling: rewrite standard convolutions as their nearest T-term depthwise separable ones.

:mod:`~factorcheck.decouple.plan` chooses the number of terms ``T`` per layer
and gives the factors (:func:`decouple`, :func:`choose_terms`) and the
trade-off between cost and error (:func:`tradeoff`);
:mod:`~factorcheck.decouple.layer` says what a model's rewrite does with one
layer (:func:`plan_layer`, :func:`not_rewritten`, :func:`layer_geometry`);
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
from factorcheck.decouple.layer import LayerPlan, layer_geometry, not_rewritten, plan_layer
from factorcheck.decouple.plan import (
    Tradeoff,
    TradeoffRow,
    choose_terms,
    composed,
    decouple,
    decoupled_cost,
    tradeoff,
)

__all__ = [
    "decouple",
    "choose_terms",
    "tradeoff",
    "decoupled_cost",
    "composed",
    "plan_layer",
    "layer_geometry",
    "not_rewritten",
    "operator_norm",
    "error_bound",
    "Tradeoff",
    "TradeoffRow",
    "LayerPlan",
]
