"""safetensors files, through the ``safetensors`` library (optional extra ``safetensors``).

The library validates the file (header length, JSON, offsets covering the data
exactly) and lists the tensors; the data of each convolution weight is then
memory-mapped at the offsets the validated header gives, one tensor at a time,
so nothing is copied until the analysis needs it.  ``bfloat16`` weights, which
NumPy cannot represent, are widened exactly to ``float32`` from their raw bits
(no framework needed); ``float8`` weights are listed as skipped.

Which tensors are convolution weights is decided by rank: 4-D (2-D
convolutions) or 3-D (1-D convolutions).  The layout is taken to be PyTorch's
``"OIHW"`` unless the scan's ``layout`` argument says otherwise.  The file
keeps no model order (tensors are stored sorted by name, as text), so layers
are listed in natural order of their names: ``layer3.2`` before ``layer3.10``.
"""

from __future__ import annotations

import json
import os
import struct
from functools import partial

import numpy as np

from factorcheck.errors import FileFormatError
from factorcheck.io._common import (
    MAX_TENSOR_BYTES,
    ModelContents,
    SkippedTensor,
    StoredKernel,
    check_nbytes,
    file_size,
    natural_key,
    read_exact,
    require,
    widen_bfloat16,
)

__all__ = ["load_safetensors"]

#: safetensors dtype -> NumPy dtype of the stored bytes (bfloat16 read as raw 16-bit words).
_DTYPES: dict[str, str] = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
}
_NAMES = {"BF16": "bfloat16"}


def _list_tensors(path: str) -> list[tuple[str, tuple[int, ...], str]]:
    """Validate the file with the library and return ``(name, shape, dtype)`` by offset."""
    safetensors = require("safetensors", "safetensors", "reading a .safetensors file")
    try:
        with safetensors.safe_open(path, framework="np") as f:
            listed = []
            for name in f.offset_keys():
                tensor = f.get_slice(name)
                listed.append((name, tuple(tensor.get_shape()), tensor.get_dtype()))
            return listed
    except Exception as err:  # SafetensorError and friends: the library's own validation
        raise FileFormatError(f"{path!r}: not a valid safetensors file ({err})") from None


def _header(path: str) -> tuple[int, dict]:
    """Return ``(data_start, header)``; called after the library has validated the file."""
    with open(path, "rb") as fp:
        (length,) = struct.unpack("<Q", fp.read(8))
        header = json.loads(fp.read(length))
    return 8 + length, header


def _read_tensor(path: str, offset: int, stored: np.dtype, shape: tuple[int, ...],
                 bfloat16: bool, what: str) -> np.ndarray:
    raw = read_exact(path, offset, stored, int(np.prod(shape, dtype=np.int64)), what)
    return (widen_bfloat16(raw) if bfloat16 else raw).reshape(shape)


def load_safetensors(path: str | os.PathLike, *,
                     max_bytes: int = MAX_TENSOR_BYTES) -> ModelContents:
    """List the 3-D and 4-D tensors of a safetensors file as convolution weights.

    Parameters
    ----------
    path : str or path-like
        The ``.safetensors`` file.
    max_bytes : int
        Largest tensor accepted.

    Returns
    -------
    ModelContents
        The kernels in file order, each memory-mapped by ``load()``;
        ``bfloat16`` ones are widened to ``float32``.

    Raises
    ------
    FileFormatError
        The ``safetensors`` package is missing, the header is invalid, or a
        tensor is over ``max_bytes``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import save_file
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save_file({"conv.weight": np.ones((8, 3, 3, 3), np.float16),
    ...            "conv.bias": np.zeros(8, np.float16)}, path)
    >>> [(k.name, k.dtype, k.layout) for k in load_safetensors(path).kernels]
    [('conv.weight', 'float16', 'OIHW')]
    """
    path = os.fspath(path)
    file_size(path)
    listed = _list_tensors(path)
    data_start, header = _header(path)
    kernels, skipped = [], []
    for name, shape, dtype in sorted(listed, key=lambda entry: natural_key(entry[0])):
        if len(shape) not in (3, 4):
            continue
        if dtype not in _DTYPES:
            skipped.append(SkippedTensor(name, f"dtype {dtype} is not supported"))
            continue
        stored = np.dtype(_DTYPES[dtype])
        check_nbytes(name, shape, stored.itemsize, max_bytes)
        begin, _ = header[name]["data_offsets"]
        read = partial(_read_tensor, path, data_start + begin, stored, shape, dtype == "BF16",
                       f"{path!r} tensor {name!r}")
        kernels.append(StoredKernel(name, shape, _NAMES.get(dtype, str(stored.newbyteorder("="))),
                                    "OIHW", _read=read))
    return ModelContents(path, "safetensors", tuple(kernels), tuple(skipped))
