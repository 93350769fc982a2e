"""PyTorch checkpoints and state dicts (optional extra ``torch``).

Files are read with ``torch.load(..., weights_only=True)`` and never with
``weights_only=False``: PyTorch's restricted unpickler then builds only
tensors and plain containers, so a checkpoint cannot run code.  Files in the
zip format are memory-mapped (``mmap=True``) once, and mapped afresh after
every gigabyte read, so that pages of layers already analysed do not stay
resident; legacy files are read whole.

Nested dictionaries (``{"state_dict": {...}}``, ``{"model": {...}}``) are
walked and their keys joined with dots.  Which tensors are convolution weights
is decided by rank (4-D, or 3-D for 1-D convolutions).  Quantized, sparse and
meta tensors, expanded tensors (a stride of 0: a few stored values standing
for many) and containers nested deeper than 16 levels are listed as skipped,
with the reason.  The layout is PyTorch's ``"OIHW"``; the state dict does not
record ``groups``, so the scan infers depthwise convolutions from the shape.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np

from factorcheck.errors import FileFormatError
from factorcheck.io._common import (
    MAX_TENSOR_BYTES,
    ModelContents,
    SkippedTensor,
    StoredKernel,
    check_nbytes,
    file_size,
    require,
)

__all__ = ["load_torch"]

_MAX_DEPTH = 16


def _torch_load(torch: Any, path: str) -> Any:
    """``torch.load`` with ``weights_only=True``, memory-mapped when the format allows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # storage/protocol chatter, not ours to act on
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # legacy (non-zip) files cannot be memory-mapped; try once without
            pass
        return _load_unmapped(torch, path)


def _is_mapped(path: str) -> bool:
    """Whether the file is in the zip format, which ``torch.load`` can memory-map."""
    import zipfile

    return zipfile.is_zipfile(path)


def _load_unmapped(torch: Any, path: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except Exception as err:  # UnpicklingError for forbidden globals, RuntimeError, EOFError...
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileFormatError(
            f"{path!r}: not a PyTorch checkpoint loadable with weights_only=True ({first_line})"
        ) from None


class _TooDeep:
    """Marks a container nested past :data:`_MAX_DEPTH` (listed as skipped, not walked)."""


def _walk(obj: Any, keys: tuple = (), depth: int = 0) -> Iterator[tuple[tuple, Any]]:
    """Yield ``(key_path, value)`` for every leaf of nested dicts, lists and tuples.

    A container nested deeper than :data:`_MAX_DEPTH` yields ``_TooDeep`` instead.
    """
    if depth > _MAX_DEPTH:
        if isinstance(obj, (dict, list, tuple)):
            yield keys, _TooDeep()
        else:
            yield keys, obj
        return
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        yield keys, obj
        return
    for key, value in items:
        yield from _walk(value, (*keys, key), depth + 1)


class _Mapping:
    """The file's memory map, shared by its layers and renewed after every ``_REMAP_BYTES`` read.

    Mapping the file afresh for every layer would parse the whole pickle once
    per layer (time quadratic in the layer count); never renewing it would
    keep every page read resident.  Renewing it every gigabyte does neither.
    """

    def __init__(self, path: str, obj: Any) -> None:
        self.path, self.obj, self.read = path, obj, 0

    def tensor(self, keys: tuple, nbytes: int) -> np.ndarray:
        import torch

        if self.obj is None or self.read > _REMAP_BYTES:
            self.obj, self.read = _torch_load(torch, self.path), 0
        self.read += nbytes
        obj = self.obj
        for key in keys:
            obj = obj[key]
        return _to_numpy(obj)


#: Bytes read through one memory map before the file is mapped afresh.
_REMAP_BYTES = 2**30


def _to_numpy(tensor: Any) -> np.ndarray:
    """A NumPy view of a CPU tensor (a float32 copy for bfloat16, which NumPy lacks)."""
    import torch

    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.to(torch.float32)
    return tensor.numpy()


def _describe(torch: Any, name: str, tensor: Any, max_bytes: int,
              read: Any) -> StoredKernel | SkippedTensor:
    """A StoredKernel for a 3-D/4-D real tensor, or the reason it is skipped."""
    shape = tuple(int(d) for d in tensor.shape)
    why = _unreadable_reason(torch, tensor)
    if why is not None:
        return SkippedTensor(name, why)
    if tensor.is_complex() or tensor.dtype == torch.bool:
        return SkippedTensor(name, f"dtype {tensor.dtype} is not a real number type")
    if tensor.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64) and \
            tensor.is_floating_point():
        return SkippedTensor(name, f"dtype {tensor.dtype} is not supported")
    check_nbytes(name, shape, tensor.element_size(), max_bytes)
    dtype = str(tensor.dtype).removeprefix("torch.")
    return StoredKernel(name, shape, dtype, "OIHW", _read=read)


def _unreadable_reason(torch: Any, tensor: Any) -> str | None:
    """Why a tensor cannot be analysed as a dense CPU array, or ``None``."""
    if tensor.is_quantized:
        return "quantized weights are not analysed"
    if tensor.layout != torch.strided:
        return f"sparse tensor ({str(tensor.layout).removeprefix('torch.')}) is not analysed"
    if tensor.is_meta or tensor.device.type != "cpu":
        return f"{tensor.device.type} tensor has no data on the CPU; not analysed"
    stored = tensor.untyped_storage().nbytes() // max(tensor.element_size(), 1)
    if tensor.numel() > max(stored, 1):
        return (f"expanded tensor (a stride is 0): {tensor.numel()} values stored as "
                f"{stored}; not analysed, so a small file cannot demand unbounded work")
    return None


def load_torch(path: str | os.PathLike, *, max_bytes: int = MAX_TENSOR_BYTES) -> ModelContents:
    """List the 3-D and 4-D tensors of a PyTorch checkpoint as convolution weights.

    Parameters
    ----------
    path : str or path-like
        A file written by ``torch.save`` (``.pt``, ``.pth``, ``.bin``, ``.ckpt``).
    max_bytes : int
        Largest tensor accepted.

    Returns
    -------
    ModelContents
        The kernels, named by their dotted keys, in dictionary order.

    Raises
    ------
    FileFormatError
        ``torch`` is missing, or the file is not loadable with
        ``weights_only=True`` (malformed, or it holds arbitrary pickled objects).

    Examples
    --------
    >>> import os, tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "model.pt")
    >>> conv = torch.nn.Conv2d(3, 8, 3, bias=True)
    >>> torch.save({"state_dict": {"conv": conv.state_dict()}}, path)
    >>> [(k.name, k.shape) for k in load_torch(path).kernels]
    [('state_dict.conv.weight', (8, 3, 3, 3))]
    """
    path = os.fspath(path)
    file_size(path)
    torch = require("torch", "torch", "reading a PyTorch checkpoint")
    kernels, skipped = [], []
    obj = _torch_load(torch, path)
    mapping = _Mapping(path, obj) if _is_mapped(path) else None
    for keys, value in _walk(obj):
        if isinstance(value, _TooDeep):
            skipped.append(SkippedTensor(".".join(map(str, keys)), "nested deeper than "
                                         f"{_MAX_DEPTH} levels; not searched for weights"))
            continue
        if not isinstance(value, torch.Tensor) or value.dim() not in (3, 4):
            continue
        nbytes = value.numel() * value.element_size()
        read = (partial(mapping.tensor, keys, nbytes) if mapping is not None
                else partial(_to_numpy, value))
        found = _describe(torch, ".".join(map(str, keys)) or "tensor", value, max_bytes, read)
        (kernels if isinstance(found, StoredKernel) else skipped).append(found)
    return ModelContents(path, "torch", tuple(kernels), tuple(skipped))
