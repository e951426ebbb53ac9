"""Fuzz target: BOLT 1 TLV streams; the first byte picks which stream decodes the rest.

Invariant: a stream that decodes is canonical (re-encodes to exactly the input).
"""

from __future__ import annotations

from vajra.errors import VajraError
from vajra.wire import TLV_STREAM_CLASSES, ExtensionTlvs
from vajra.wire.tlv import TlvStream

STREAMS: list[type[TlvStream]] = [ExtensionTlvs, *TLV_STREAM_CLASSES.values()]


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    cls = STREAMS[data[0] % len(STREAMS)]
    body = data[1:]
    try:
        stream = cls.decode(body)
    except VajraError:
        return
    if stream.encode() != body:
        raise AssertionError(f"re-encoding {cls.__name__} changed the bytes")
