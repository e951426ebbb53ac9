"""BOLT 1 TLV streams: record framing shared by every generated stream codec.

`iter_records` enforces the stream-level rules (minimal `type`/`length`, strictly
increasing types, `length` within the stream); the generated per-stream decoders then
apply the record-level rules (known encodings, exact lengths, unknown even types). The
encoder side is `encode_records`, which merges known records with the unknown odd ones a
decoded stream kept, so re-encoding a decoded stream gives back the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from vajra.wire.errors import EncodeError, TlvLengthError, TlvOrderError, UnknownEvenTlv
from vajra.wire.primitives import encode_bigsize, read_bigsize
from vajra.wire.schema import TlvStreamSchema

UnknownRecords = tuple[tuple[int, bytes], ...]
"""Records a decoder did not know (all odd): `(type, value)` in stream order."""


def iter_records(b: bytes, p: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield `(type, value_start, value_end)` for each record of `b[p:end]`."""
    last = -1
    while p < end:  # BOLT 1: "if zero bytes remain before parsing a type: MUST stop"
        t, p = read_bigsize(b, p, end)  # BOLT 1: not minimally encoded -> MUST fail
        # BOLT 1: "if decoded types are not strictly-increasing ... MUST fail".
        if t <= last:
            raise TlvOrderError(f"TLV type {t} after {last}")
        last = t
        length, p = read_bigsize(b, p, end)
        # BOLT 1: "if length exceeds the number of bytes remaining ... MUST fail".
        if length > end - p:
            raise TlvLengthError(f"TLV type {t}: length {length} exceeds {end - p} remaining")
        yield t, p, p + length
        p += length


def encode_records(
    known: list[tuple[int, bytes]], unknown: UnknownRecords, known_types: frozenset[int]
) -> bytes:
    """Frame `known` (already in increasing type order) and `unknown` records as a stream.

    `known_types` are the types the stream defines: an "unknown" record may not use one,
    or the bytes would decode to a different object than the one encoded.
    """
    if unknown:
        taken = set(known_types)
        for t, _ in unknown:
            if t in taken:
                raise EncodeError(f"TLV type {t} is known or given twice")
            taken.add(t)
        # BOLT 1: "MUST order tlv_records in a tlv_stream by strictly-increasing type".
        known = sorted([*known, *unknown])
    out: list[bytes] = []
    for t, v in known:
        out.append(encode_bigsize(t))
        out.append(encode_bigsize(len(v)))
        out.append(v)
    return b"".join(out)


def keep_unknown(
    t: int, stream: str, b: bytes, s: int, e: int, acc: list[tuple[int, bytes]]
) -> None:
    """BOLT 1: unknown even `type` -> MUST fail; unknown odd -> discard (we keep a copy)."""
    if not t & 1:
        raise UnknownEvenTlv(t, stream)
    acc.append((t, b[s:e]))


class TlvStream:
    """Base of every TLV stream class: `decode` a whole stream, `encode` it back.

    Subclasses are dataclasses with one optional attribute per known record and
    `unknown` for the unknown odd records the decoder kept.
    """

    __slots__ = ()

    NAME: ClassVar[str]
    SCHEMA: ClassVar[TlvStreamSchema]
    unknown: UnknownRecords

    @classmethod
    def decode(cls, data: bytes) -> TlvStream:
        raise NotImplementedError

    def encode(self) -> bytes:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ExtensionTlvs(TlvStream):
    """The BOLT 1 `extension` of a message whose spec defines no TLV records.

    Any record in it is unknown to us: odd ones are kept (they may be covered by a
    signature or be relayed), even ones fail the parse.
    """

    unknown: UnknownRecords = ()

    NAME: ClassVar[str] = "extension"
    SCHEMA: ClassVar[TlvStreamSchema] = TlvStreamSchema("extension", ())

    @classmethod
    def decode(cls, data: bytes) -> ExtensionTlvs:
        return decode_extension(data, 0, len(data))

    def encode(self) -> bytes:
        return encode_records([], self.unknown, frozenset())


_EMPTY = ExtensionTlvs()


def decode_extension(b: bytes, p: int, end: int) -> ExtensionTlvs:
    if p == end:
        return _EMPTY
    unknown: list[tuple[int, bytes]] = []
    for t, s, e in iter_records(b, p, end):
        keep_unknown(t, "extension", b, s, e, unknown)
    return ExtensionTlvs(tuple(unknown))
