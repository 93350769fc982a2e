"""NumPy ``.npy`` and ``.npz`` files, read without pickle and checked before allocating.

Every header is parsed and checked first: the dtype must be a plain real
number type (object and structured dtypes are refused, so ``allow_pickle`` is
never needed), and ``shape x itemsize`` must equal the bytes actually present
and stay under ``max_bytes``.  For ``.npz`` archives the sizes the zip
directory declares are checked against the same limits (zip bombs), and each
member is read only when asked.  ``.npy`` files and uncompressed ``.npz``
members are memory-mapped.

Which arrays are convolution weights is decided by rank: 4-D (2-D
convolutions) or 3-D (1-D convolutions); other arrays in an ``.npz`` (biases,
dense layers) are ignored.  The layout is not stored in the file; the scan's
``layout`` argument says it (``"OIHW"`` unless told otherwise).
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np
import numpy.lib.format as npformat

from factorcheck.errors import FactorcheckError, FileFormatError
from factorcheck.io._common import (
    MAX_TENSOR_BYTES,
    ModelContents,
    SkippedTensor,
    StoredKernel,
    check_nbytes,
    file_size,
    read_exact,
)

__all__ = ["load_npy", "load_npz"]

#: Largest number of members an .npz may list.
MAX_NPZ_MEMBERS = 100_000
#: A compressed member may expand at most this many times ... (zip bombs)
MAX_EXPANSION = 100
#: ... unless it is at most ``max_bytes / EXPANSION_FLOOR_DIVISOR`` bytes (64 MiB by default).
EXPANSION_FLOOR_DIVISOR = 64
#: Room for an .npy header inside a member, on top of the data (numpy caps headers at 10000).
_HEADER_ALLOWANCE = 10_240
_READ_CHUNK = 1 << 22
#: The errors the standard library raises on a malformed file.
_IO_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
              NotImplementedError, RuntimeError, struct.error)


def _read_header(fp: IO[bytes], what: str, max_bytes: int) -> tuple[tuple[int, ...], bool,
                                                                     np.dtype, int]:
    """Parse an .npy header; return ``(shape, fortran_order, dtype, data_nbytes)``."""
    try:
        version = npformat.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fp)
        elif version in {(2, 0), (3, 0)}:
            shape, fortran, dtype = npformat.read_array_header_2_0(fp)
        else:
            raise FileFormatError(f"{what}: unsupported .npy format version {version}")
    except FactorcheckError:
        raise
    except (*_IO_ERRORS, SyntaxError, TypeError) as err:
        raise FileFormatError(f"{what}: not a valid .npy array ({err})") from None
    _check_dtype(dtype, what)
    return shape, fortran, dtype, check_nbytes(what, shape, dtype.itemsize, max_bytes)


def _check_dtype(dtype: np.dtype, what: str) -> None:
    """Refuse object, structured and non-numeric dtypes."""
    if dtype.hasobject:
        raise FileFormatError(
            f"{what}: object arrays need pickle, which factorcheck never loads; "
            "expected a real numeric dtype"
        )
    if dtype.fields is not None or dtype.subdtype is not None:
        raise FileFormatError(
            f"{what}: structured dtype {dtype} refused; expected a real numeric dtype"
        )
    if dtype.kind not in "fiu":
        raise FileFormatError(f"{what}: expected a float or integer dtype, got {dtype}")


def _mmap_npy(path: str, offset: int, shape: tuple[int, ...], fortran: bool,
              dtype: np.dtype) -> np.ndarray:
    """Memory-map the data of an .npy whose header has been checked."""
    flat = read_exact(path, offset, dtype, int(np.prod(shape, dtype=np.int64)), repr(path))
    return flat.reshape(shape, order="F" if fortran else "C")


def load_npy(path: str | os.PathLike, *, max_bytes: int = MAX_TENSOR_BYTES) -> ModelContents:
    """List the single convolution weight of an ``.npy`` file, named after the file.

    Parameters
    ----------
    path : str or path-like
        The ``.npy`` file.
    max_bytes : int
        Largest array accepted.

    Returns
    -------
    ModelContents
        One kernel, read lazily (memory-mapped) by ``load()``.

    Raises
    ------
    FileFormatError
        Not an .npy file, object/structured dtype, size mismatch with the bytes
        present, over ``max_bytes``, or not 3-D/4-D.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "conv1.npy")
    >>> np.save(path, np.ones((8, 3, 3, 3), dtype=np.float32))
    >>> kernel, = load_npy(path).kernels
    >>> kernel.name, kernel.shape, kernel.dtype, float(kernel.load().sum())
    ('conv1', (8, 3, 3, 3), 'float32', 216.0)
    """
    path = os.fspath(path)
    size = file_size(path)
    with open(path, "rb") as fp:
        shape, fortran, dtype, nbytes = _read_header(fp, repr(path), max_bytes)
        offset = fp.tell()
    if size - offset != nbytes:
        raise FileFormatError(
            f"{path!r}: header declares shape {shape} of {dtype} ({nbytes} bytes) but the file "
            f"holds {size - offset} bytes of data"
        )
    if len(shape) not in (3, 4):
        raise FileFormatError(
            f"{path!r}: expected a 3-D or 4-D convolution weight, got shape {shape}"
        )
    kernel = StoredKernel(Path(path).stem, shape, str(dtype), "OIHW",
                          _read=partial(_mmap_npy, path, offset, shape, fortran, dtype))
    return ModelContents(path, "npy", (kernel,), ())


def _open_zip(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except _IO_ERRORS as err:
        raise FileFormatError(f"{path!r}: not a valid .npz (zip) archive ({err})") from None


def _check_member(path: str, info: zipfile.ZipInfo, max_bytes: int) -> None:
    """Refuse encrypted members, and declared sizes over the limits, before decompressing."""
    what = f"{path!r} member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise FileFormatError(f"{what}: encrypted members are not supported")
    if info.file_size > max_bytes + _HEADER_ALLOWANCE:
        raise FileFormatError(
            f"{what}: declares {info.file_size} bytes uncompressed, over the limit of "
            f"{max_bytes} bytes (zip bomb?); raise max_bytes if this is intended"
        )
    floor = max_bytes // EXPANSION_FLOOR_DIVISOR
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > floor \
            and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
        raise FileFormatError(
            f"{what}: expands from {info.compress_size} to {info.file_size} bytes, more than "
            f"{MAX_EXPANSION} times (zip bomb?); refused before decompressing.  Members of up "
            f"to max_bytes/{EXPANSION_FLOOR_DIVISOR} = {floor} bytes may expand without limit: "
            f"raise max_bytes (--max-bytes) to at least "
            f"{info.file_size * EXPANSION_FLOOR_DIVISOR} to read it"
        )


def _refuse_duplicates(path: str, infos: list[zipfile.ZipInfo]) -> None:
    """Two members with one name: NumPy would report the first with the second's data."""
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise FileFormatError(
                f"{path!r}: member {info.filename!r} appears more than once; refused, since "
                "readers disagree on which copy holds the layer's weights"
            )
        seen.add(info.filename)


def _describe_member(zf: zipfile.ZipFile, path: str, info: zipfile.ZipInfo,
                     max_bytes: int) -> StoredKernel | None:
    """Check one member's header against its declared size; a kernel if it is 3-D/4-D."""
    what = f"{path!r} member {info.filename!r}"
    _check_member(path, info, max_bytes)
    try:
        with zf.open(info) as fp:
            shape, fortran, dtype, nbytes = _read_header(fp, what, max_bytes)
            header_len = fp.tell()
    except FactorcheckError:
        raise
    except _IO_ERRORS as err:
        raise FileFormatError(f"{what}: unreadable ({err})") from None
    if header_len + nbytes != info.file_size:
        raise FileFormatError(
            f"{what}: header declares shape {shape} of {dtype} ({nbytes} bytes) but the member "
            f"holds {info.file_size - header_len} bytes of data"
        )
    if len(shape) not in (3, 4):
        return None
    read = partial(_read_member, path, info, header_len, shape, fortran, dtype)
    return StoredKernel(info.filename[: -len(".npy")], shape, str(dtype), "OIHW", _read=read)


def load_npz(path: str | os.PathLike, *, max_bytes: int = MAX_TENSOR_BYTES) -> ModelContents:
    """List the 3-D and 4-D arrays of an ``.npz`` archive as convolution weights.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file (as written by ``np.savez`` or ``np.savez_compressed``).
    max_bytes : int
        Largest member accepted, checked against the zip directory's declared
        sizes before anything is decompressed.

    Returns
    -------
    ModelContents
        The kernels, named by their keys, read one at a time by ``load()``;
        members that are not ``.npy`` arrays are listed as skipped.

    Raises
    ------
    FileFormatError
        Not a zip archive, too many members, an encrypted or oversized member,
        a header disagreeing with the member's size, an object/structured dtype.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> np.savez(path, conv1=np.ones((8, 3, 3, 3)), bias1=np.zeros(8))
    >>> [k.name for k in load_npz(path).kernels]
    ['conv1']
    """
    path = os.fspath(path)
    file_size(path)
    kernels, skipped = [], []
    with _open_zip(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise FileFormatError(
                f"{path!r}: {len(infos)} members, more than the limit of {MAX_NPZ_MEMBERS}"
            )
        _refuse_duplicates(path, infos)
        for info in infos:
            if info.is_dir():
                continue
            if not info.filename.endswith(".npy"):
                skipped.append(SkippedTensor(info.filename, "not a .npy member"))
                continue
            kernel = _describe_member(zf, path, info, max_bytes)
            if kernel is not None:
                kernels.append(kernel)
    return ModelContents(path, "npz", tuple(kernels), tuple(skipped))


def _read_member(path: str, info: zipfile.ZipInfo, header_len: int, shape: tuple[int, ...],
                 fortran: bool, dtype: np.dtype) -> np.ndarray:
    """Read one member's data: memory-mapped if stored, else decompressed in chunks.

    The member is found from the ``ZipInfo`` listed when the archive was first
    opened: the archive's directory is never parsed again, so reading every
    member of an archive takes time linear in their number.
    """
    order = "F" if fortran else "C"
    count = int(np.prod(shape, dtype=np.int64))
    what = f"{path!r} member {info.filename!r}"
    try:
        offset = _stored_data_offset(path, info)
        if info.compress_type == zipfile.ZIP_STORED:
            return read_exact(path, offset + header_len, dtype, count, what).reshape(
                shape, order=order)
        if info.compress_type == zipfile.ZIP_DEFLATED:
            data = _inflate(path, info, offset, header_len, count * dtype.itemsize)
        else:
            with _open_zip(path) as zf, zf.open(info) as fp:
                fp.read(header_len)
                data = _read_chunks(fp, count * dtype.itemsize)
                fp.read(1)  # reach the end, so zipfile checks the CRC
    except FactorcheckError:
        raise
    except _IO_ERRORS as err:
        raise FileFormatError(f"{what}: unreadable ({err})") from None
    return data.view(dtype).reshape(shape, order=order)


def _inflate(path: str, info: zipfile.ZipInfo, offset: int, header_len: int,
             nbytes: int) -> np.ndarray:
    """Decompress a deflated member in chunks into one buffer, checking its size and CRC."""
    total = header_len + nbytes
    out = np.empty(total, dtype=np.uint8)
    view, pos, crc, pending = memoryview(out), 0, 0, b""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    with open(path, "rb") as fp:
        fp.seek(offset)
        left = info.compress_size
        while pending or left > 0:
            if not pending:
                pending = fp.read(min(_READ_CHUNK, left))
                left -= len(pending)
                if not pending:
                    raise FileFormatError(f"member {info.filename!r}: truncated data")
            chunk = inflater.decompress(pending, total + 1 - pos)  # never more than declared + 1
            pending = inflater.unconsumed_tail
            if pos + len(chunk) > total:
                raise FileFormatError(f"member {info.filename!r}: more data than declared")
            view[pos:pos + len(chunk)] = chunk
            crc = zlib.crc32(chunk, crc)
            pos += len(chunk)
    if pos != total or crc != info.CRC:
        raise FileFormatError(f"member {info.filename!r}: corrupt data (size or CRC mismatch)")
    return out[header_len:]


def _stored_data_offset(path: str, info: zipfile.ZipInfo) -> int:
    """Offset in the archive of an uncompressed member's first byte (after its local header)."""
    with open(path, "rb") as fp:
        fp.seek(info.header_offset)
        local = fp.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise FileFormatError(f"{path!r} member {info.filename!r}: bad local zip header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _read_chunks(fp: IO[bytes], nbytes: int) -> np.ndarray:
    """Read exactly ``nbytes`` into one preallocated buffer (no intermediate full-size copy)."""
    out = np.empty(nbytes, dtype=np.uint8)
    view = memoryview(out)
    pos = 0
    while pos < nbytes:
        chunk = fp.read(min(_READ_CHUNK, nbytes - pos))
        if not chunk:
            raise FileFormatError(f"expected {nbytes} bytes of data, got {pos} (truncated?)")
        view[pos:pos + len(chunk)] = chunk
        pos += len(chunk)
    return out
