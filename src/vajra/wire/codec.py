"""`encode_message` / `decode_message`: the two calls the peer layer needs.

BOLT 1 "Lightning Message Format": a 2-byte big-endian `type`, the `payload` that type
defines, then an optional `extension` TLV stream. Unknown odd types are returned as
`UnknownMessage` (the caller "MUST ignore" them); unknown even types raise
`UnknownEvenMessage` (the caller "MUST close the connection").
"""

from __future__ import annotations

from vajra.wire._generated import DECODERS
from vajra.wire.errors import EncodeError, Truncated, UnknownEvenMessage
from vajra.wire.message import Message, UnknownMessage

# BOLT 1: "the maximum possible size is 65535 bytes" (the BOLT 8 length prefix is a u16).
MAX_MESSAGE_SIZE = 65535


def decode_message(data: bytes | bytearray | memoryview) -> Message:
    """Decode one whole message (type prefix included); raise only `DecodeError`s."""
    b = bytes(data)
    n = len(b)
    if n < 2:
        raise Truncated("message shorter than its 2-byte type")
    t = b[0] << 8 | b[1]
    decoder = DECODERS.get(t)
    if decoder is None:
        # BOLT 1: odd unknown -> "MUST ignore the received message"; even -> "MUST close".
        if t & 1:
            return UnknownMessage(t, b[2:])
        raise UnknownEvenMessage(t)
    return decoder(b, 2, n)


def encode_message(msg: Message) -> bytes:
    """The message's wire bytes, 2-byte type prefix included; raises `EncodeError`."""
    data = msg.encode()
    if len(data) > MAX_MESSAGE_SIZE:
        raise EncodeError(f"{msg.NAME}: {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    return data
