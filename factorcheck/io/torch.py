"""PyTorch checkpoints and state dicts (optional extra ``torch``).

Files are read with ``torch.load(..., weights_only=True)`` and never with
``weights_only=False``: PyTorch's restricted unpickler then builds only
tensors and plain containers, so a checkpoint cannot run code.  Files in the
zip format are memory-mapped (``mmap=True``), afresh for each layer so that
only the layer being analysed stays resident; legacy files are read whole.

Nested dictionaries (``{"state_dict": {...}}``, ``{"model": {...}}``) are
walked and their keys joined with dots.  Which tensors are convolution weights
is decided by rank (4-D, or 3-D for 1-D convolutions); quantized tensors are
listed as skipped.  The layout is PyTorch's ``"OIHW"``; the state dict does not
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


def _walk(obj: Any, keys: tuple = (), depth: int = 0) -> Iterator[tuple[tuple, Any]]:
    """Yield ``(key_path, value)`` for every leaf of nested dicts, lists and tuples."""
    if depth > _MAX_DEPTH:
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


def _reload(path: str, keys: tuple) -> np.ndarray:
    """Map the file afresh and return one tensor.

    Each layer gets its own memory map, released with the array: pages read
    for one layer do not stay resident while the next is analysed.
    """
    import torch

    obj = _torch_load(torch, path)
    for key in keys:
        obj = obj[key]
    return _to_numpy(obj)


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
    if tensor.is_quantized:
        return SkippedTensor(name, "quantized weights are not analysed")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        return SkippedTensor(name, f"dtype {tensor.dtype} is not a real number type")
    if tensor.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64) and \
            tensor.is_floating_point():
        return SkippedTensor(name, f"dtype {tensor.dtype} is not supported")
    check_nbytes(name, shape, tensor.element_size(), max_bytes)
    dtype = str(tensor.dtype).removeprefix("torch.")
    return StoredKernel(name, shape, dtype, "OIHW", _read=read)


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
    mapped = _is_mapped(path)
    for keys, value in _walk(obj):
        if not isinstance(value, torch.Tensor) or value.dim() not in (3, 4):
            continue
        read = partial(_reload, path, keys) if mapped else partial(_to_numpy, value)
        found = _describe(torch, ".".join(map(str, keys)) or "tensor", value, max_bytes, read)
        (kernels if isinstance(found, StoredKernel) else skipped).append(found)
    return ModelContents(path, "torch", tuple(kernels), tuple(skipped))
