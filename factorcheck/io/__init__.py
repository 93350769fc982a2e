"""Read convolution weights from model files, one module per format.

========================  ===============  =====================================
Format                    Extensions       Module (optional extra)
========================  ===============  =====================================
NumPy array / archive     ``.npy .npz``    :mod:`factorcheck.io.npy`
safetensors               ``.safetensors`` :mod:`factorcheck.io.safetensors` (``safetensors``)
ONNX                      ``.onnx``        :mod:`factorcheck.io.onnx` (``onnx``)
PyTorch                   ``.pt .pth .bin  :mod:`factorcheck.io.torch` (``torch``)
                          .ckpt``
========================  ===============  =====================================

:func:`read_model` picks the loader by extension and, for an unknown
extension, by the file's first bytes.  The extension wins over the content,
so a pickle renamed ``.npy`` goes to the NumPy reader (which refuses it) and
never to an unpickler.  Every loader lists the weights without reading them
(:class:`StoredKernel` ``.load()`` reads one when asked) and raises
:class:`~factorcheck.errors.FileFormatError` for anything malformed, unsafe,
unsupported or too large.

Output goes the other way: :mod:`factorcheck.io.output` writes every output
file (never over an input of the run, atomically, devices written through).
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

from factorcheck.errors import FileFormatError
from factorcheck.io._common import (
    MAX_TENSOR_BYTES,
    ModelContents,
    SkippedTensor,
    StoredKernel,
    file_size,
)

__all__ = [
    "FORMATS",
    "MAX_TENSOR_BYTES",
    "ModelContents",
    "SkippedTensor",
    "StoredKernel",
    "detect_format",
    "read_model",
]

#: File extension -> format name.
FORMATS: dict[str, str] = {
    ".npy": "npy", ".npz": "npz", ".safetensors": "safetensors", ".onnx": "onnx",
    ".pt": "torch", ".pth": "torch", ".bin": "torch", ".ckpt": "torch",
}


def _sniff(path: str) -> str | None:
    """Guess a format from the first bytes, or ``None``."""
    with open(path, "rb") as fp:
        head = fp.read(16)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        return "torch" if any(n.endswith("data.pkl") for n in names) else "npz"
    if len(head) >= 9 and head[8:9] == b"{":
        (length,) = struct.unpack("<Q", head[:8])
        if 8 + length <= file_size(path):
            return "safetensors"
    return None


def detect_format(path: str | os.PathLike) -> str:
    """Name the format of a model file: by extension, else by its first bytes.

    Returns
    -------
    str
        One of ``"npy"``, ``"npz"``, ``"safetensors"``, ``"onnx"``, ``"torch"``.

    Raises
    ------
    FileFormatError
        Missing file, or neither the extension nor the content is recognised.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.data")
    >>> with open(path, "wb") as f:
    ...     np.save(f, np.zeros((2, 2, 1, 1)))
    >>> detect_format(path)
    'npy'
    """
    path = os.fspath(path)
    file_size(path)
    fmt = FORMATS.get(Path(path).suffix.lower()) or _sniff(path)
    if fmt is None:
        raise FileFormatError(
            f"{path!r}: unrecognised model file; expected one of the extensions "
            f"{', '.join(FORMATS)} (or .npy/.npz/safetensors/PyTorch-zip content)"
        )
    return fmt


def read_model(path: str | os.PathLike, *, max_bytes: int = MAX_TENSOR_BYTES,
               allow_external_data: bool = True) -> ModelContents:
    """List the convolution weights of a model file (no tensor is read yet).

    Parameters
    ----------
    path : str or path-like
        A ``.npy``, ``.npz``, ``.safetensors``, ``.onnx`` or PyTorch file.
    max_bytes : int
        Largest tensor accepted (checked before allocating).
    allow_external_data : bool
        ONNX only: read external data from inside the model's folder (checked),
        or refuse it.

    Returns
    -------
    ModelContents

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> np.savez(path, conv=np.ones((4, 2, 3, 3)))
    >>> contents = read_model(path)
    >>> contents.format, [k.name for k in contents.kernels]
    ('npz', ['conv'])
    """
    try:
        return _read(path, detect_format(path), max_bytes, allow_external_data)
    except OSError as err:  # a race, a device error: the file could not be read
        raise FileFormatError(
            f"{os.fspath(path)!r}: cannot read it ({err.strerror or err})") from None


def _read(path: str | os.PathLike, fmt: str, max_bytes: int,
          allow_external_data: bool) -> ModelContents:
    """Call the loader of ``fmt``."""
    if fmt == "onnx":
        from factorcheck.io.onnx import load_onnx

        return load_onnx(path, max_bytes=max_bytes, allow_external_data=allow_external_data)
    if fmt == "safetensors":
        from factorcheck.io.safetensors import load_safetensors

        return load_safetensors(path, max_bytes=max_bytes)
    if fmt == "torch":
        from factorcheck.io.torch import load_torch

        return load_torch(path, max_bytes=max_bytes)
    from factorcheck.io.npy import load_npy, load_npz

    return (load_npy if fmt == "npy" else load_npz)(path, max_bytes=max_bytes)
