"""BOLT 1 fundamental types: BigSize, truncated and signed integers, points, scids.

Two ways in, one behaviour: `Reader` is a cursor over a `memoryview` for hand-written
parsers elsewhere (onion payloads, address descriptors); the generated message codecs in
`_generated.py` call the `read_*`/`check_*` functions here on `(bytes, pos, end)` triples
directly, which avoids an object per message on the hot path. Both raise only
`DecodeError` subclasses, never `IndexError` or `struct.error`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

from vajra.crypto.secp256k1 import check_pubkey
from vajra.wire.errors import EncodeError, NonCanonical, Truncated

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

U64_MAX = (1 << 64) - 1


# --- BigSize (BOLT 1 Appendix A) -------------------------------------------------------


def read_bigsize(b: bytes | memoryview, p: int, end: int) -> tuple[int, int]:
    """Decode a BigSize at `p`; return (value, next position). Enforces minimal form."""
    if p >= end:
        raise Truncated("bigsize: EOF")
    first = b[p]
    if first < 0xFD:
        return first, p + 1
    if first == 0xFD:
        if p + 3 > end:
            raise Truncated("bigsize: unexpected EOF")
        (v,) = _U16.unpack_from(b, p + 1)
        if v < 0xFD:
            raise NonCanonical("decoded bigsize is not canonical")
        return v, p + 3
    if first == 0xFE:
        if p + 5 > end:
            raise Truncated("bigsize: unexpected EOF")
        (v,) = _U32.unpack_from(b, p + 1)
        if v < 0x10000:
            raise NonCanonical("decoded bigsize is not canonical")
        return v, p + 5
    if p + 9 > end:
        raise Truncated("bigsize: unexpected EOF")
    (v,) = _U64.unpack_from(b, p + 1)
    if v < 0x100000000:
        raise NonCanonical("decoded bigsize is not canonical")
    return v, p + 9


def encode_bigsize(v: int) -> bytes:
    """The one (minimal) BigSize encoding of `v`."""
    if v < 0xFD:
        if v < 0:
            raise EncodeError(f"bigsize out of range: {v}")
        return bytes((v,))
    if v < 0x10000:
        return b"\xfd" + _U16.pack(v)
    if v < 0x100000000:
        return b"\xfe" + _U32.pack(v)
    if v > U64_MAX:
        raise EncodeError(f"bigsize out of range: {v}")
    return b"\xff" + _U64.pack(v)


def decode_bigsize(data: bytes) -> int:
    """Decode exactly one BigSize that fills `data`."""
    v, p = read_bigsize(data, 0, len(data))
    if p != len(data):
        raise NonCanonical("trailing bytes after bigsize")
    return v


# --- Truncated integers (BOLT 1 "tu16/tu32/tu64") --------------------------------------


def read_truncated(b: bytes | memoryview, p: int, end: int, width: int) -> int:
    """Decode the `tuNN` that fills `b[p:end]` (it is always the last value of a record)."""
    n = end - p
    if n > width:
        raise NonCanonical(f"truncated integer longer than {width} bytes")
    # BOLT 1: "Leading zeros in truncated integers MUST be omitted".
    if n and b[p] == 0:
        raise NonCanonical("truncated integer has a leading zero")
    return int.from_bytes(b[p:end], "big")


def encode_truncated(v: int, width: int) -> bytes:
    if not 0 <= v < 1 << (8 * width):
        raise EncodeError(f"tu{8 * width} out of range: {v}")
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


# --- Signed integers (BOLT 1 Appendix D) -----------------------------------------------


def encode_signed(v: int, width: int) -> bytes:
    """Big-endian two's complement in `width` bytes."""
    try:
        return v.to_bytes(width, "big", signed=True)
    except OverflowError:
        raise EncodeError(f"s{8 * width} out of range: {v}") from None


def decode_signed(data: bytes) -> int:
    if len(data) not in (1, 2, 4, 8):
        raise Truncated(f"signed integer of {len(data)} bytes")
    return int.from_bytes(data, "big", signed=True)


# --- Points, short channel ids ---------------------------------------------------------


def check_point(data: bytes) -> bytes:
    """BOLT 1 `point`: a valid compressed secp256k1 point (raises `InvalidKey`)."""
    return check_pubkey(data)


def scid_from_parts(block: int, tx_index: int, output_index: int) -> int:
    """BOLT 7: 3 bytes block height, 3 bytes transaction index, 2 bytes output index."""
    if not (0 <= block < 1 << 24 and 0 <= tx_index < 1 << 24 and 0 <= output_index < 1 << 16):
        raise EncodeError("short_channel_id component out of range")
    return block << 40 | tx_index << 16 | output_index


def scid_parts(scid: int) -> tuple[int, int, int]:
    return scid >> 40, (scid >> 16) & 0xFFFFFF, scid & 0xFFFF


def scid_from_str(text: str) -> int:
    """Parse the human-readable `BLOCKxTXxOUT` form (BOLT 7)."""
    parts = text.split("x")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a short_channel_id: {text!r}")
    return scid_from_parts(int(parts[0]), int(parts[1]), int(parts[2]))


def scid_to_str(scid: int) -> str:
    return "{}x{}x{}".format(*scid_parts(scid))


# --- Encoder support -------------------------------------------------------------------


def fixed(v: bytes, size: int, what: str) -> bytes:
    """Check a fixed-size byte field before packing (struct would pad silently)."""
    if len(v) != size:
        raise EncodeError(f"{what}: expected {size} bytes, got {len(v)}")
    return v


def count(items: tuple[object, ...] | bytes, size: int, what: str) -> int:
    """Check a fixed-count array before encoding; return its length."""
    if len(items) != size:
        raise EncodeError(f"{what}: expected {size} items, got {len(items)}")
    return size


_T = TypeVar("_T")


def run_encoder(fn: Callable[[_T], bytes], obj: _T) -> bytes:
    """Call a generated encoder, turning struct's range errors into `EncodeError`."""
    try:
        return fn(obj)
    except (struct.error, OverflowError) as e:
        raise EncodeError(f"{type(obj).__name__}: {e}") from None


# --- Reader ----------------------------------------------------------------------------


class Reader:
    """A cursor over a memoryview that raises `Truncated` instead of reading past the end."""

    __slots__ = ("_b", "_end", "pos")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0):
        self._b = memoryview(data).cast("B")
        self._end = len(self._b)
        self.pos = pos

    @property
    def remaining(self) -> int:
        return self._end - self.pos

    def _take(self, n: int) -> int:
        p = self.pos
        if n < 0 or p + n > self._end:
            raise Truncated(f"need {n} bytes at offset {p}, have {self._end - p}")
        self.pos = p + n
        return p

    def read(self, n: int) -> bytes:
        p = self._take(n)
        return self._b[p : p + n].tobytes()

    def rest(self) -> bytes:
        return self.read(self.remaining)

    def u8(self) -> int:
        return self._b[self._take(1)]

    def u16(self) -> int:
        return int(_U16.unpack_from(self._b, self._take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack_from(self._b, self._take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack_from(self._b, self._take(8))[0])

    def signed(self, width: int) -> int:
        return decode_signed(self.read(width))

    def bigsize(self) -> int:
        v, self.pos = read_bigsize(self._b, self.pos, self._end)
        return v

    def truncated(self, width: int) -> int:
        """A `tuNN` filling the rest of the buffer."""
        v = read_truncated(self._b, self.pos, self._end, width)
        self.pos = self._end
        return v

    def point(self) -> bytes:
        return check_point(self.read(33))

    def at_end(self) -> bool:
        return self.pos >= self._end
