"""In-memory models: a mapping of named arrays, or a ``torch.nn.Module``, listed like a file.

:func:`list_mapping` treats a state dict, the result of ``np.load`` on an
``.npz`` or any ``{name: array}`` mapping as the file readers treat a file:
3-D and 4-D arrays are convolution weights (layout as given), other arrays
(biases, batch-norm statistics, linear weights, counters) are skipped with the
reason, nested mappings are walked with their keys joined by dots, and the
group count is left unstated so that the scan infers depthwise layers from the
shape exactly as it does for ``.npz`` and safetensors files.  PyTorch tensors
are read as :mod:`factorcheck.io.torch` reads them (bfloat16 widened exactly,
quantized tensors skipped).

:func:`list_module` lists the ``nn.Conv1d``/``nn.Conv2d`` layers of a module
with the ``groups``, ``stride``, ``padding`` and ``dilation`` the layers
state, as an ONNX export of the module would.  torch is never imported here:
a tensor or module can only exist if its caller already imported torch, so
``sys.modules`` tells whether to look for one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError
from factorcheck.io._common import MAX_TENSOR_BYTES, SkippedTensor, StoredKernel

__all__ = ["is_torch_module", "list_in_memory", "list_mapping", "list_module"]

#: How deep nested mappings are walked.
_MAX_DEPTH = 16


def _torch() -> Any:
    """The torch module if the caller has imported it, else ``None`` (never imports it)."""
    return sys.modules.get("torch")


def is_torch_module(obj: object) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module`` (never imports torch: False if it is not loaded).

    Examples
    --------
    >>> is_torch_module({"conv": [[[[1.0]]]]})
    False
    """
    torch = _torch()
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_tensor(obj: object) -> bool:
    torch = _torch()
    return torch is not None and isinstance(obj, torch.Tensor)


def _walk(pairs: Iterable[tuple[Any, Any]], prefix: str = "",
          depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``(dotted name, value)`` for every non-mapping value, nested mappings walked."""
    for key, value in pairs:
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and depth < _MAX_DEPTH:
            yield from _walk(value.items(), f"{name}.", depth + 1)
        else:
            yield name, value


def _shape(value: Any) -> tuple[int, ...] | None:
    """The shape of an array-like value without copying it, or ``None`` if it has none."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        try:
            return tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            return None
    if isinstance(value, (list, tuple)):
        try:
            return np.shape(value)
        except ValueError:  # ragged nested lists
            return None
    return None


def _not_a_weight(name: str, value: Any, shape: tuple[int, ...] | None) -> SkippedTensor:
    if shape is None:
        return SkippedTensor(name, f"{type(value).__name__} is not an array")
    return SkippedTensor(name, f"{len(shape)}-D tensor of shape {shape} is not a convolution "
                               "weight (expected 3-D or 4-D)")


def _describe_tensor(name: str, tensor: Any, layout: str,
                     max_bytes: int) -> StoredKernel | SkippedTensor:
    """A torch tensor, described as the PyTorch file reader describes one."""
    from factorcheck.io.torch import _describe, _to_numpy

    found = _describe(_torch(), name, tensor, max_bytes, partial(_to_numpy, tensor))
    return replace(found, layout=layout) if isinstance(found, StoredKernel) else found


def _describe_array(name: str, value: Any, shape: tuple[int, ...],
                    layout: str) -> StoredKernel:
    """Any other array-like: its dtype is read from the array (checked when analysed)."""
    data = np.asarray(value)
    return StoredKernel(name, shape, str(data.dtype), layout, _read=lambda: data)


def list_mapping(kernels: Mapping[str, Any] | Iterable[tuple[str, Any]], layout: str = "OIHW",
                 max_bytes: int = MAX_TENSOR_BYTES,
                 ) -> tuple[list[StoredKernel], list[SkippedTensor]]:
    """List the convolution weights of named in-memory arrays, as a file reader lists a file's.

    Parameters
    ----------
    kernels : mapping or iterable of (name, array)
        NumPy arrays, nested lists, PyTorch tensors, anything with ``__array__``;
        nested mappings are walked (``{"model": {"conv.weight": w}}`` gives
        ``"model.conv.weight"``).
    layout : str
        Layout of the 3-D/4-D arrays.
    max_bytes : int
        Largest PyTorch tensor accepted, as for files.

    Returns
    -------
    (kernels, skipped)
        Candidate weights (group unstated: the scan infers it) and the values
        that are not convolution weights, with the reason.

    Examples
    --------
    >>> import numpy as np
    >>> kernels, skipped = list_mapping({"conv.weight": np.ones((8, 1, 3, 3)),
    ...                                  "bn": {"weight": np.ones(8)}})
    >>> [(k.name, k.group) for k in kernels], [(s.name, s.reason) for s in skipped]
    ([('conv.weight', None)], [('bn.weight', '1-D tensor of shape (8,) is not a convolution \
weight (expected 3-D or 4-D)')])
    """
    pairs = kernels.items() if isinstance(kernels, Mapping) else kernels
    found: list[StoredKernel] = []
    skipped: list[SkippedTensor] = []
    for name, value in _walk(pairs):
        shape = _shape(value)
        if shape is None or len(shape) not in (3, 4):
            skipped.append(_not_a_weight(name, value, shape))
        elif _is_tensor(value):
            described = _describe_tensor(name, value, layout, max_bytes)
            (found if isinstance(described, StoredKernel) else skipped).append(described)
        else:
            found.append(_describe_array(name, value, shape, layout))
    return found, skipped


def _pads(padding: Any, kernel_size: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """ONNX-style pads ``(begin..., end...)`` of a PyTorch conv's ``padding``."""
    if padding == "valid":
        return (0,) * 2 * len(kernel_size)
    if padding == "same":  # PyTorch puts the odd pixel at the end
        total = [d * (k - 1) for k, d in zip(kernel_size, dilation, strict=True)]
        return (*(t // 2 for t in total), *(t - t // 2 for t in total))
    return (*padding, *padding)


def _conv_layer(name: str, conv: Any, max_bytes: int) -> StoredKernel | SkippedTensor:
    """One ``nn.Conv1d``/``nn.Conv2d`` with the attributes the layer states."""
    if _torch().nn.parameter.is_lazy(conv.weight):
        return SkippedTensor(f"{name}.weight" if name else "weight",
                             "lazy layer not initialized yet (run one forward pass first)")
    found = _describe_tensor(f"{name}.weight" if name else "weight", conv.weight, "OIHW",
                             max_bytes)
    if isinstance(found, SkippedTensor):
        return found
    return replace(found, group=int(conv.groups), strides=tuple(conv.stride),
                   pads=_pads(conv.padding, tuple(conv.kernel_size), tuple(conv.dilation)),
                   dilations=tuple(conv.dilation))


def list_module(module: Any, max_bytes: int = MAX_TENSOR_BYTES,
                ) -> tuple[list[StoredKernel], list[SkippedTensor]]:
    """List the convolutions of a ``torch.nn.Module``, named like its state dict's keys.

    ``nn.Conv1d`` and ``nn.Conv2d`` layers are listed with their ``groups``,
    ``stride``, ``padding`` (as ONNX ``pads``) and ``dilation``; transposed and
    3-D convolutions are skipped with the reason, as in ONNX files.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1, groups=2),
    ...                             torch.nn.BatchNorm2d(8), torch.nn.ConvTranspose2d(8, 4, 2))
    >>> kernels, skipped = list_module(model)
    >>> [(k.name, k.group, k.pads) for k in kernels], [s.name for s in skipped]
    ([('0.weight', 2, (1, 1, 1, 1))], ['2.weight'])
    """
    nn = _torch().nn
    found: list[StoredKernel] = []
    skipped: list[SkippedTensor] = []
    for name, layer in module.named_modules():
        weight_name = f"{name}.weight" if name else "weight"
        if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            described = _conv_layer(name, layer, max_bytes)
            (found if isinstance(described, StoredKernel) else skipped).append(described)
        elif isinstance(layer, nn.modules.conv._ConvTransposeNd):
            skipped.append(SkippedTensor(weight_name, "ConvTranspose (transposed convolution) "
                                                      "is not analysed"))
        elif isinstance(layer, nn.Conv3d):
            shape = tuple(layer.weight.shape)
            skipped.append(SkippedTensor(weight_name, "3-D convolution is not analysed "
                                                      f"(weight shape {shape})"))
    return found, skipped


def _pairs(kernels: Any) -> Mapping[str, Any] | Iterable[tuple[str, Any]]:
    """A mapping, or an iterable of ``(name, array)`` pairs; anything else is refused."""
    if isinstance(kernels, Mapping):
        return kernels
    if hasattr(kernels, "items"):  # mapping-like objects that do not register as Mapping
        return dict(kernels.items())
    try:
        pairs = [tuple(pair) for pair in kernels]
    except TypeError:
        pairs = None
    if pairs is None or any(len(pair) != 2 for pair in pairs):
        raise FactorcheckError(
            "scan_kernels expects a mapping of name -> array (a state dict, np.load data), "
            f"an iterable of (name, array) pairs, or a torch.nn.Module; got "
            f"{type(kernels).__name__}"
        )
    return [(str(name), value) for name, value in pairs]


def list_in_memory(kernels: Any, layout: str = "OIHW", max_bytes: int = MAX_TENSOR_BYTES,
                   ) -> tuple[list[StoredKernel], list[SkippedTensor]]:
    """List a Module's convolutions (:func:`list_module`) or a mapping's (:func:`list_mapping`).

    Raises
    ------
    FactorcheckError
        A path (use :func:`factorcheck.scan.scan`), a container of another kind,
        or a Module with a layout other than ``"OIHW"``.

    Examples
    --------
    >>> import numpy as np
    >>> kernels, skipped = list_in_memory([("a", np.ones((2, 2, 3))), ("b", 1.0)])
    >>> [k.name for k in kernels], [s.name for s in skipped]
    (['a'], ['b'])
    """
    if is_torch_module(kernels):
        if layout != "OIHW":
            raise FactorcheckError(f"layout {layout!r}: a torch.nn.Module's weights are 'OIHW'")
        return list_module(kernels, max_bytes)
    if isinstance(kernels, (str, bytes, os.PathLike)):
        raise FactorcheckError(f"scan_kernels takes in-memory kernels, got the path "
                               f"{kernels!r}; use scan() for files")
    return list_mapping(_pairs(kernels), layout, max_bytes)
