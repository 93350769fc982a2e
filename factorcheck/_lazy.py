"""Dataclass fields computed on first read: :class:`Deferred` values and the :class:`LazyField`.

Private.  :class:`~factorcheck.analysis.Analysis` declares ``singular_values``,
``ranks`` and ``min_multiplier`` as lazy fields; the fast path of
:func:`~factorcheck.analyze` gives them :class:`Deferred` values, computed from
the stored Gram matrices when first read, then cached.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Deferred", "LazyField"]


class Deferred:
    """A value to compute when first read: ``compute()`` (a picklable callable)."""

    __slots__ = ("compute",)

    def __init__(self, compute: Any) -> None:
        self.compute = compute


class LazyField:
    """A dataclass field that may be given a :class:`Deferred`, computed on first read.

    Used as the field's default in the class body; the field then has no
    default (``__get__`` on the class raises ``AttributeError``), keeps its
    name in :func:`dataclasses.fields`, and works in frozen dataclasses
    (``__init__`` stores through ``__set__``; later assignment still raises).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.slot = name, "_lazy_" + name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self.name)
        value = obj.__dict__[self.slot]
        if isinstance(value, Deferred):
            value = value.compute()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value
