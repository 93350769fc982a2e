"""What every loader returns, and the size checks they share.

A loader lists a model's convolution weights *without reading them*: each
:class:`StoredKernel` carries the facts the file states (name, shape, dtype,
layout, group, strides, ...) and a ``load()`` that reads that one tensor when
asked.  Scanning a model therefore holds one kernel at a time.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factorcheck.errors import FileFormatError

__all__ = ["MAX_TENSOR_BYTES", "ModelContents", "SkippedTensor", "StoredKernel", "natural_key"]

#: Largest tensor a loader will read (bytes); larger ones are refused before allocating.
MAX_TENSOR_BYTES: int = 4 * 2**30


@dataclass(frozen=True)
class StoredKernel:
    """A convolution weight in a model file, described but not yet read.

    Attributes
    ----------
    name : str
        The layer's name in the file (node name, tensor name or dict key).
    shape : tuple of int
        The weight's shape as stored (3-D for 1-D convolutions, 4-D for 2-D).
    dtype : str
        The stored element type, e.g. ``"float32"`` or ``"bfloat16"``.
    layout : str
        Axis order of the stored weight: ``"OIHW"``, ``"HWIO"`` or ``"OHWI"``.
    group : int or None
        Number of groups if the file states it (ONNX ``group``), else ``None``.
    strides, pads, dilations : tuple of int or None
        Convolution attributes where the file states them (ONNX), else ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> k = StoredKernel("conv", (8, 3, 3, 3), "float32", "OIHW",
    ...                  _read=lambda: np.zeros((8, 3, 3, 3), np.float32))
    >>> k.load().shape, k.group
    ((8, 3, 3, 3), None)
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str
    group: int | None = None
    strides: tuple[int, ...] | None = None
    pads: tuple[int, ...] | None = None
    dilations: tuple[int, ...] | None = None
    _read: Callable[[], np.ndarray] = field(kw_only=True, repr=False, compare=False)

    def load(self) -> np.ndarray:
        """Read the weight (a memory map where the format allows) in its stored layout."""
        try:
            array = self._read()
        except OSError as err:
            raise FileFormatError(f"tensor {self.name!r}: cannot read it "
                                  f"({err.strerror or err})") from None
        if tuple(array.shape) != self.shape:
            raise FileFormatError(
                f"tensor {self.name!r}: expected shape {self.shape}, read {tuple(array.shape)}"
            )
        return array


@dataclass(frozen=True)
class SkippedTensor:
    """A convolution (or candidate) that a loader lists but does not analyse, and why.

    Examples
    --------
    >>> SkippedTensor("up1", "ConvTranspose (transposed convolution) is not analysed").name
    'up1'
    """

    name: str
    reason: str


@dataclass(frozen=True)
class ModelContents:
    """The convolution weights a loader found in one file.

    Attributes
    ----------
    path : str
        The file read.
    format : str
        ``"npy"``, ``"npz"``, ``"safetensors"``, ``"onnx"`` or ``"torch"``.
    kernels : tuple of StoredKernel
        Candidate convolution weights, in file order.
    skipped : tuple of SkippedTensor
        Convolutions found but not analysable, with the reason.

    Examples
    --------
    >>> ModelContents("m.npz", "npz", (), ()).kernels
    ()
    """

    path: str
    format: str
    kernels: tuple[StoredKernel, ...]
    skipped: tuple[SkippedTensor, ...]


_DIGITS = re.compile(r"(\d+)", re.ASCII)


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key putting ``layer3.2`` before ``layer3.10``: runs of digits compare as numbers.

    Used wherever layers are listed in the order of their names rather than
    in the order the model gives (safetensors stores tensors sorted by name).

    Examples
    --------
    >>> sorted(["layer3.10.conv", "layer3.2.conv", "layer10", "layer3.2.bn", "Layer1"],
    ...        key=natural_key)
    ['Layer1', 'layer3.2.bn', 'layer3.2.conv', 'layer3.10.conv', 'layer10']
    """
    parts = _DIGITS.split(name)  # text at even indices, digit runs at odd ones
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def check_nbytes(name: str, shape: tuple[int, ...], itemsize: int, max_bytes: int) -> int:
    """Return ``prod(shape) * itemsize``, refusing negative dimensions or more than ``max_bytes``.

    Examples
    --------
    >>> check_nbytes("w", (2, 3), 4, 100)
    24
    """
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise FileFormatError(f"tensor {name!r}: expected non-negative int dimensions, got {shape}")
    nbytes = math.prod(shape) * itemsize
    if nbytes > max_bytes:
        raise FileFormatError(
            f"tensor {name!r}: {nbytes} bytes ({shape} x {itemsize}) exceeds the limit of "
            f"{max_bytes} bytes; raise max_bytes if this is intended"
        )
    return nbytes


def file_size(path: str | os.PathLike) -> int:
    """Size in bytes of a regular file, or a :class:`FileFormatError` saying why it cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     file_size(f.name)
    3
    """
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise FileFormatError(f"{str(p)!r}: no such file") from None
    except (OSError, ValueError) as err:
        raise FileFormatError(f"{str(p)!r}: cannot read it ({_os_reason(err)})") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileFormatError(f"{str(p)!r}: expected a regular file, got a directory or device")
    if not os.access(p, os.R_OK):
        raise FileFormatError(f"{str(p)!r}: cannot read it (permission denied)")
    return info.st_size


def _os_reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


def read_exact(path: str | os.PathLike, offset: int, dtype: np.dtype, count: int,
               what: str) -> np.ndarray:
    """Memory-map ``count`` items of ``dtype`` at ``offset``, checking they lie inside the file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(np.arange(4, dtype="<i4").tobytes()); f.flush()
    ...     read_exact(f.name, 4, np.dtype("<i4"), 2, "demo").tolist()
    [1, 2]
    """
    size = file_size(path)
    nbytes = count * dtype.itemsize
    if offset < 0 or offset + nbytes > size:
        raise FileFormatError(
            f"{what}: expected {nbytes} bytes at offset {offset}, "
            f"but {str(path)!r} has only {size} bytes (truncated file?)"
        )
    if count == 0:
        return np.empty(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,))


def widen_bfloat16(raw: np.ndarray) -> np.ndarray:
    """Widen bfloat16 bit patterns (an unsigned 16-bit array) to float32, exactly.

    bfloat16 is the top half of a float32, so shifting the bits left by 16 gives
    the same number; no framework is needed.

    Examples
    --------
    >>> import numpy as np
    >>> widen_bfloat16(np.array([0x3F80, 0xC040], dtype="<u2")).tolist()
    [1.0, -3.0]
    """
    out = np.empty(raw.shape, dtype=np.uint32)
    np.left_shift(raw, 16, out=out, dtype=np.uint32)
    return out.view(np.float32)


def require(module: str, extra: str, what: str) -> object:
    """Import an optional dependency, or say which extra to install.

    Examples
    --------
    >>> require("json", "none", "reading JSON").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise FileFormatError(
            f"{what} needs the optional package {module!r}: pip install 'factorcheck[{extra}]'"
        ) from None
