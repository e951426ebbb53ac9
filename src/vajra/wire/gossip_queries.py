"""BOLT 7 gossip-query arrays: `encoded_short_ids`, `encoded_timestamps`, query flags.

The messages carry these as opaque bytes (`[len*byte:encoded_short_ids]`, ...); this
module turns them into values and back.

BOLT 7 encoding types: `0` an uncompressed array; `1` "Previously used for zlib
compression, this encoding MUST NOT be used". We never produce `1`; we still read it
(older peers send it, and the spec's vectors use it), with the inflated size capped so a
small message cannot expand into a large allocation.
"""

from __future__ import annotations

import struct
import zlib

from vajra.wire._generated import ChannelUpdateTimestamps
from vajra.wire.errors import InvalidValue
from vajra.wire.primitives import encode_bigsize, read_bigsize

UNCOMPRESSED = 0
ZLIB = 1

# Largest inflated array we accept: a full 65535-byte message of 8-byte items, times 8.
MAX_INFLATED = 8 * 65535


def _payload(encoding: int, data: bytes) -> bytes:
    if encoding == UNCOMPRESSED:
        return data
    if encoding == ZLIB:
        d = zlib.decompressobj()
        try:
            out = d.decompress(data, MAX_INFLATED)
        except zlib.error as e:
            raise InvalidValue(f"bad zlib data: {e}") from None
        if d.unconsumed_tail or not d.eof:
            raise InvalidValue("zlib data truncated or inflates beyond the limit")
        return out
    # BOLT 7: "if the first byte of encoded_short_ids is not a known encoding type".
    raise InvalidValue(f"unknown encoding type {encoding}")


def _split(fmt: str, size: int, data: bytes, what: str) -> tuple[int, ...]:
    if len(data) % size:
        # BOLT 7: "does not decode into a whole number of short_channel_id".
        raise InvalidValue(f"{what}: {len(data)} bytes is not a whole number of items")
    return struct.unpack(f">{len(data) // size}{fmt}", data)


def decode_short_ids(encoded_short_ids: bytes) -> tuple[int, ...]:
    """`encoded_short_ids` (encoding byte first) -> short channel ids."""
    if not encoded_short_ids:
        raise InvalidValue("encoded_short_ids is empty (no encoding type)")
    data = _payload(encoded_short_ids[0], encoded_short_ids[1:])
    return _split("Q", 8, data, "encoded_short_ids")


def encode_short_ids(scids: tuple[int, ...] | list[int]) -> bytes:
    """Uncompressed `encoded_short_ids` ("in ascending order" is the caller's job)."""
    return bytes((UNCOMPRESSED,)) + struct.pack(f">{len(scids)}Q", *scids)


def decode_timestamps(encoding_type: int, encoded: bytes) -> tuple[ChannelUpdateTimestamps, ...]:
    """`timestamps_tlv` contents -> one `channel_update_timestamps` per short channel id."""
    flat = _split("I", 4, _payload(encoding_type, encoded), "encoded_timestamps")
    if len(flat) % 2:
        raise InvalidValue("encoded_timestamps: odd number of timestamps")
    return tuple(ChannelUpdateTimestamps(a, b) for a, b in zip(flat[::2], flat[1::2], strict=True))


def encode_timestamps(items: tuple[ChannelUpdateTimestamps, ...]) -> tuple[int, bytes]:
    """-> (`encoding_type`, `encoded_timestamps`) for a `TimestampsTlv`."""
    flat = [v for t in items for v in (t.timestamp_node_id_1, t.timestamp_node_id_2)]
    return UNCOMPRESSED, struct.pack(f">{len(flat)}I", *flat)


def decode_query_flags(encoding_type: int, encoded: bytes) -> tuple[int, ...]:
    """`query_flags` contents -> one flag per short channel id.

    BOLT 7: "Each query flag is a minimally-encoded bigsize."
    """
    data = _payload(encoding_type, encoded)
    out: list[int] = []
    p = 0
    while p < len(data):
        v, p = read_bigsize(data, p, len(data))
        out.append(v)
    return tuple(out)


def encode_query_flags(flags: tuple[int, ...] | list[int]) -> tuple[int, bytes]:
    """-> (`encoding_type`, `encoded_query_flags`) for a `QueryFlags` record."""
    return UNCOMPRESSED, b"".join(encode_bigsize(f) for f in flags)
