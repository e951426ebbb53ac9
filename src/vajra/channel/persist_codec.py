"""The byte-level writer and reader `vajra.channel.persist` uses (big-endian, fixed
width; the reader raises `DecodeError` only)."""

from __future__ import annotations

import enum
import struct
from typing import TypeVar

from vajra.crypto.secp256k1 import check_pubkey
from vajra.errors import DecodeError
from vajra.wire import Message, decode_message, encode_message
from vajra.wire.primitives import Reader

_E = TypeVar("_E", bound=enum.Enum)


class Out:
    """Appends fields; `done()` returns the bytes."""

    __slots__ = ("_b",)

    def __init__(self, head: bytes = b"") -> None:
        self._b = bytearray(head)

    def raw(self, data: bytes) -> None:
        self._b += data

    def u8(self, v: int) -> None:
        self._b.append(v)

    def flag(self, v: bool) -> None:
        self._b.append(1 if v else 0)

    def u16(self, v: int) -> None:
        self._b += struct.pack(">H", v)

    def u32(self, v: int) -> None:
        self._b += struct.pack(">I", v)

    def u64(self, v: int) -> None:
        self._b += struct.pack(">Q", v)

    def var(self, data: bytes) -> None:
        """Length (u32) then the bytes."""
        self.u32(len(data))
        self._b += data

    def text(self, s: str) -> None:
        data = s.encode()
        self.u8(len(data))
        self._b += data

    def done(self) -> bytes:
        return bytes(self._b)


class In:
    """Reads what `Out` wrote; every failure is a `DecodeError`."""

    __slots__ = ("_r",)

    MAX_VAR = 1 << 20

    def __init__(self, data: bytes) -> None:
        self._r = Reader(data)

    def read(self, n: int) -> bytes:
        return self._r.read(n)

    def u8(self) -> int:
        return self._r.u8()

    def u16(self) -> int:
        return self._r.u16()

    def u32(self) -> int:
        return self._r.u32()

    def u64(self) -> int:
        return self._r.u64()

    def flag(self) -> bool:
        v = self._r.u8()
        if v > 1:
            raise DecodeError(f"persist: flag byte {v}")
        return v == 1

    def var(self) -> bytes:
        n = self._r.u32()
        if n > self.MAX_VAR:
            raise DecodeError(f"persist: field of {n} bytes")
        return self._r.read(n)

    def text(self) -> str:
        try:
            return self._r.read(self._r.u8()).decode()
        except UnicodeDecodeError:
            raise DecodeError("persist: text is not UTF-8") from None

    def point(self) -> bytes:
        return check_pubkey(self._r.read(33))

    def enum(self, cls: type[_E]) -> _E:
        """An enum member by value: an int value as one byte, a str value as text."""
        sample = next(iter(cls)).value
        raw: object = self.u8() if isinstance(sample, int) else self.text()
        try:
            return cls(raw)
        except ValueError:
            raise DecodeError(f"persist: {raw!r} is not a {cls.__name__}") from None

    def end(self) -> None:
        if not self._r.at_end():
            raise DecodeError(f"persist: {self._r.remaining} trailing bytes")


def write_message(w: Out, msg: Message) -> None:
    """A BOLT message as its wire bytes (type included)."""
    w.var(encode_message(msg))


def read_message(r: In) -> Message:
    return decode_message(r.var())
