"""What a decoupling did: the rewritten layers, the skipped ones, totals, and JSON (schema 1).

Filled by :func:`factorcheck.decouple.onnx.decouple_onnx`; the ``verification``
and ``benchmark`` parts by :mod:`factorcheck.decouple.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from factorcheck.io._common import SkippedTensor

__all__ = ["SCHEMA_VERSION", "DecoupleResult", "DecoupledLayer"]

#: Version of the JSON written by :meth:`DecoupleResult.to_dict`.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DecoupledLayer:
    """One rewritten convolution: its ``T``, costs before and after, and error bounds.

    Attributes
    ----------
    name : str
        The Conv node's name (as ``factorcheck check`` lists it).
    terms : int
        ``T``, the number of separable terms per slice.
    rank : int
        The largest slice rank: ``terms >= rank`` makes the rewrite exact.
    kernel : tuple of int
        The weight's shape ``(N, M, kh, kw)``.
    input_hw : tuple of int
        The layer's input size ``(H, W)`` from shape inference.
    macs_before, macs_after, params_before, params_after : int
        Per sample, biases not counted (the convention of ``factorcheck network``).
    relative_distance : float
        Frobenius distance of the T-term kernel to the original, relative.
    energy_kept : float
        The smallest share of a slice's squared norm that the ``T`` terms keep.
    layer_norm, error_bound : float
        Certified bounds on the operator norms of the original convolution and of
        the error (original minus rewrite) at ``input_hw``; their ratio bounds the
        layer's relative output error for every input.

    Examples
    --------
    >>> layer = DecoupledLayer("c", 2, 3, (8, 4, 3, 3), (16, 16), 73728, 51200, 288, 200,
    ...                        0.1, 0.95, 5.0, 0.5)
    >>> layer.relative_error_bound
    0.1
    """

    name: str
    terms: int
    rank: int
    kernel: tuple[int, int, int, int]
    input_hw: tuple[int, int]
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    relative_distance: float
    energy_kept: float
    layer_norm: float
    error_bound: float

    @property
    def relative_error_bound(self) -> float:
        """``error_bound / layer_norm``: the worst-case relative output error (0 if no norm)."""
        return self.error_bound / self.layer_norm if self.layer_norm > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The layer's entry in the JSON (schema_version 1)."""
        keys = ("name", "terms", "kernel", "input_hw", "macs_before", "macs_after",
                "params_before", "params_after", "relative_distance", "energy_kept",
                "layer_norm", "error_bound")
        data = {key: getattr(self, key) for key in keys}
        data["kernel"], data["input_hw"] = list(self.kernel), list(self.input_hw)
        return data


@dataclass(frozen=True)
class DecoupleResult:
    """What :func:`decouple_onnx` did: the rewritten layers, the skipped ones, the totals.

    ``verification`` and ``benchmark`` are filled by
    :mod:`factorcheck.decouple.verify` (``None`` until then).

    Examples
    --------
    >>> r = DecoupleResult("in.onnx", "out.onnx", "dw-pw", (), (SkippedTensor("up", "why"),))
    >>> r.to_dict()["totals"], r.exact
    ({'macs_before': 0, 'macs_after': 0, 'params_before': 0, 'params_after': 0}, False)
    """

    source: str
    output: str | None
    order: str
    layers: tuple[DecoupledLayer, ...]
    skipped: tuple[SkippedTensor, ...]
    verification: Any = None
    benchmark: Any = None

    @property
    def totals(self) -> dict[str, int]:
        """Sums of MACs and parameters over the rewritten layers, before and after."""
        keys = ("macs_before", "macs_after", "params_before", "params_after")
        return {key: sum(getattr(layer, key) for layer in self.layers) for key in keys}

    @property
    def exact(self) -> bool:
        """Whether every rewritten layer has ``T`` at or above its rank (and there is one)."""
        return bool(self.layers) and all(layer.terms >= layer.rank for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, ``schema_version`` 1."""
        return {
            "schema_version": SCHEMA_VERSION, "source": self.source, "output": self.output,
            "order": self.order, "layers": [layer.to_dict() for layer in self.layers],
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
            "totals": self.totals,
            "verification": None if self.verification is None else self.verification.to_dict(),
            "benchmark": None if self.benchmark is None else self.benchmark.to_dict(),
        }
