"""A bounded walker of the protobuf wire format, to leave large byte fields in the file.

Parsing a protobuf message with the ``protobuf`` library copies every byte
field into memory.  For an ONNX model whose weights are stored inline that
means the whole file (and then some).  :func:`strip` walks the encoded
message itself, following only the fields a *schema* names, and returns a
copy in which each large byte payload named by the schema is replaced by a
short *marker*; the payload's position in the original buffer is kept, so a
reader can memory-map it later.  The copy is parsed as usual.

A marker is a random per-call nonce followed by an index, so a payload the
walker did not replace (a short one, or one on a path the schema does not
follow) can never be mistaken for one; :meth:`Stripped.span` tells them apart.

Only the wire format is interpreted: varint keys, wire types 0 (varint),
1 (64-bit), 2 (length-delimited) and 5 (32-bit).  Groups (wire types 3 and 4),
varints longer than ten bytes, field number 0, lengths past the end of the
enclosing message and nesting deeper than ``max_depth`` raise
:class:`~factorcheck.errors.FileFormatError`.  Every step advances through the
buffer, so the walk ends in time linear in the buffer's size.  A field whose
wire type does not match the schema is copied unchanged (protobuf keeps it as
an unknown field).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Union

from factorcheck.errors import FileFormatError

__all__ = ["RAW", "Field", "Schema", "Stripped", "encode_varint", "iter_fields", "read_varint",
           "strip", "strip_file"]


class _Raw:
    """Type of :data:`RAW`."""

    def __repr__(self) -> str:
        return "RAW"


#: Schema value marking a length-delimited field whose payload is left in the buffer.
RAW = _Raw()

#: A message schema: field number -> the schema of a sub-message to walk into, or :data:`RAW`.
Schema = Mapping[int, Union["Schema", _Raw]]

#: Deepest nesting of walked messages (the protobuf library's own default limit).
MAX_DEPTH: int = 100

#: Sub-messages shorter than this are copied whole, not walked (they hold nothing worth leaving).
MIN_WALK_BYTES: int = 1024

#: Raw payloads shorter than this stay inline.
MIN_RAW_BYTES: int = 1024

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10
_NONCE_BYTES = 16
_MARKER_BYTES = _NONCE_BYTES + 4  # nonce, then the payload's index (uint32, little-endian)


class Field(NamedTuple):
    """One field of an encoded message.

    Attributes
    ----------
    number : int
        The field number.
    wire_type : int
        0 (varint), 1 (64-bit), 2 (length-delimited) or 5 (32-bit).
    start : int
        Offset of the field's key.
    value_start : int
        Offset of the value (for wire type 2, of the payload after its length).
    end : int
        Offset just past the field.
    value : int or None
        The decoded varint (wire type 0), else ``None``.
    """

    number: int
    wire_type: int
    start: int
    value_start: int
    end: int
    value: int | None


def read_varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``buf[pos:end]``; return ``(value, offset after it)``.

    Raises
    ------
    FileFormatError
        The varint runs past ``end`` or is longer than ten bytes.

    Examples
    --------
    >>> read_varint(b"\\x96\\x01rest", 0, 6)
    (150, 2)
    >>> read_varint(b"\\x96", 0, 1)
    Traceback (most recent call last):
    ...
    factorcheck.errors.FileFormatError: protobuf: varint at offset 0 runs past the end (1)
    """
    value = shift = 0
    start = pos
    while True:
        if pos >= end:
            raise FileFormatError(f"protobuf: varint at offset {start} runs past the end ({end})")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if pos - start >= _MAX_VARINT_BYTES:
            raise FileFormatError(f"protobuf: varint at offset {start} is over "
                                  f"{_MAX_VARINT_BYTES} bytes long")


def encode_varint(value: int) -> bytes:
    """Encode a non-negative integer as a protobuf varint.

    Examples
    --------
    >>> encode_varint(150)
    b'\\x96\\x01'
    >>> encode_varint(0)
    b'\\x00'
    """
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def iter_fields(buf: Any, start: int = 0, end: int | None = None) -> Iterator[Field]:
    """Yield the fields of the message encoded in ``buf[start:end]``, checking each one's bounds.

    Parameters
    ----------
    buf : bytes-like
        Any buffer indexable by integers (``bytes``, ``mmap.mmap``, ...).
    start, end : int
        The message's extent (``end`` defaults to ``len(buf)``).

    Raises
    ------
    FileFormatError
        A malformed key or varint, a group or unknown wire type, field number 0,
        or a value that runs past ``end``.

    Examples
    --------
    >>> [(f.number, f.wire_type, f.value) for f in iter_fields(b"\\x08\\x96\\x01\\x12\\x02hi")]
    [(1, 0, 150), (2, 2, None)]
    """
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key, after_key = read_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise FileFormatError(f"protobuf: field number 0 at offset {pos}")
        value = None
        if wire_type == _VARINT:
            value, stop = read_varint(buf, after_key, end)
            value_start = after_key
        elif wire_type == _LEN:
            length, value_start = read_varint(buf, after_key, end)
            if length > end - value_start:
                raise FileFormatError(
                    f"protobuf: field {number} at offset {pos} declares {length} bytes, "
                    f"but only {end - value_start} remain in its message"
                )
            stop = value_start + length
        elif wire_type in (_I64, _I32):
            value_start = after_key
            stop = value_start + (8 if wire_type == _I64 else 4)
            if stop > end:
                raise FileFormatError(f"protobuf: fixed-size field {number} at offset {pos} "
                                      "runs past the end of its message")
        else:
            raise FileFormatError(f"protobuf: unsupported wire type {wire_type} (field {number}) "
                                  f"at offset {pos}")
        yield Field(number, wire_type, pos, value_start, stop, value)
        pos = stop


@dataclass(frozen=True)
class Stripped:
    """A message with its large raw payloads left behind, and where they are.

    Attributes
    ----------
    data : bytes
        The re-encoded message, each replaced payload now a marker.
    spans : tuple of (int, int)
        ``(offset, length)`` of each replaced payload in the original buffer,
        indexed by the marker.
    nonce : bytes
        The random prefix of this call's markers.
    """

    data: bytes
    spans: tuple[tuple[int, int], ...]
    nonce: bytes

    def span(self, payload: bytes) -> tuple[int, int] | None:
        """``(offset, length)`` in the original buffer if ``payload`` is a marker, else ``None``.

        Examples
        --------
        >>> payload = b"hello world, twenty-four"
        >>> s = strip(b"\\x0a\\x18" + payload, {1: RAW}, min_raw_bytes=0)
        >>> value = next(iter_fields(s.data))
        >>> s.span(s.data[value.value_start:value.end]), s.span(payload)
        ((2, 24), None)
        """
        if len(payload) != _MARKER_BYTES or payload[:_NONCE_BYTES] != self.nonce:
            return None
        return self.spans[int.from_bytes(payload[_NONCE_BYTES:], "little")]


class _Walk:
    """State of one :func:`strip` call."""

    def __init__(self, buf: Any, min_walk: int, min_raw: int, max_depth: int) -> None:
        self.buf, self.min_walk, self.max_depth = buf, min_walk, max_depth
        self.nonce = os.urandom(_NONCE_BYTES)
        self.min_raw = max(min_raw, _MARKER_BYTES + 1)
        self.spans: list[tuple[int, int]] = []

    def message(self, start: int, end: int, schema: Schema, depth: int) -> tuple[list, int]:
        """The re-encoded message as a tree of pieces, and its length.

        A piece is ``bytes``, a ``(start, end)`` range of the buffer, or a list
        of pieces (a walked sub-message: kept as one node, never copied).
        """
        if depth > self.max_depth:
            raise FileFormatError(f"protobuf: messages nested over {self.max_depth} deep")
        pieces: list = []
        total = 0
        copied_from = start  # start of the run of fields copied unchanged
        for field in iter_fields(self.buf, start, end):
            sub = schema.get(field.number)
            if sub is None or field.wire_type != _LEN:
                continue
            length = field.end - field.value_start
            if sub is RAW:
                if length < self.min_raw:
                    continue
                index = len(self.spans)
                self.spans.append((field.value_start, length))
                head = encode_varint(field.number << 3 | _LEN) + encode_varint(_MARKER_BYTES)
                new: Any = head + self.nonce + index.to_bytes(4, "little")
                new_len = len(new)
            else:
                if length < self.min_walk:
                    continue
                inner, inner_len = self.message(field.value_start, field.end, sub, depth + 1)
                head = encode_varint(field.number << 3 | _LEN) + encode_varint(inner_len)
                new, new_len = [head, inner], len(head) + inner_len
            pieces.append((copied_from, field.start))
            pieces.append(new)
            total += field.start - copied_from + new_len
            copied_from = field.end
        pieces.append((copied_from, end))
        total += end - copied_from
        return pieces, total


def strip(buf: Any, schema: Schema, *, min_walk_bytes: int = MIN_WALK_BYTES,
          min_raw_bytes: int = MIN_RAW_BYTES, max_depth: int = MAX_DEPTH) -> Stripped:
    """Re-encode the message in ``buf`` without the raw payloads ``schema`` leads to.

    Parameters
    ----------
    buf : bytes-like
        The encoded message (``bytes`` or a read-only ``mmap.mmap``); only the
        fields on the schema's paths and the bytes copied are touched.
    schema : Schema
        Field number -> sub-message schema to walk into, or :data:`RAW` for a
        byte field whose payload is to be left in ``buf``.  Schemas may refer
        to each other (recursive messages); depth is bounded by ``max_depth``.
    min_walk_bytes : int
        Sub-messages shorter than this are copied whole.
    min_raw_bytes : int
        Payloads shorter than this (or no longer than a marker, 20 bytes) stay
        inline.  Each payload left behind costs a few hundred bytes of
        bookkeeping, so the default keeps even a hostile file's cost a fraction
        of its size.
    max_depth : int
        Deepest nesting walked; deeper raises.

    Returns
    -------
    Stripped

    Raises
    ------
    FileFormatError
        Malformed wire format on a walked path (see the module notes).

    Examples
    --------
    >>> tensor = b"\\x42\\x01w" + b"\\x4a\\x20" + bytes(range(32))  # name="w", raw_data=32 bytes
    >>> graph = b"\\x2a" + bytes([len(tensor)]) + tensor  # field 5: the tensor
    >>> s = strip(graph, {5: {9: RAW}}, min_walk_bytes=0, min_raw_bytes=0)
    >>> s.spans, len(s.data) < len(graph)
    (((7, 32),), True)
    """
    walk = _Walk(buf, min_walk_bytes, min_raw_bytes, max_depth)
    tree, total = walk.message(0, len(buf), schema, 0)
    out = bytearray()
    stack = [iter(tree)]
    while stack:
        piece = next(stack[-1], None)
        if piece is None:
            stack.pop()
        elif isinstance(piece, list):
            stack.append(iter(piece))
        elif isinstance(piece, tuple):
            out += buf[piece[0]:piece[1]]
        else:
            out += piece
    if len(out) != total:  # pragma: no cover - internal consistency
        raise AssertionError("protobuf: stripped length mismatch")
    return Stripped(bytes(out), tuple(walk.spans), walk.nonce)


def strip_file(path: str | os.PathLike, schema: Schema, **options: Any) -> Stripped:
    """:func:`strip` applied to a file through a read-only memory map (closed on return).

    Offsets in :attr:`Stripped.spans` are offsets in the file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".pb") as f:
    ...     _ = f.write(b"\\x0a\\x20" + bytes(32)); f.flush()
    ...     strip_file(f.name, {1: RAW}, min_raw_bytes=0).spans
    ((2, 32),)
    """
    with open(path, "rb") as fp:
        if os.fstat(fp.fileno()).st_size == 0:
            return strip(b"", schema, **options)
        with mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return strip(mapped, schema, **options)
