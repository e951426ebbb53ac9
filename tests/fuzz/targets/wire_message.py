"""Fuzz target: BOLT 1 message decoding (every message type, extensions, gossip arrays).

Invariant beyond "only VajraError escapes": a message that decodes re-encodes to exactly
the input bytes (the codec is canonical, and unknown odd TLVs/trailing gossip bytes are
kept), so signatures over re-encoded messages stay valid.
"""

from __future__ import annotations

import contextlib

from vajra.errors import VajraError
from vajra.wire import QueryShortChannelIds, ReplyChannelRange, decode_message
from vajra.wire.gossip_queries import decode_query_flags, decode_short_ids, decode_timestamps


def _gossip_arrays(msg: object) -> None:
    if isinstance(msg, QueryShortChannelIds | ReplyChannelRange):
        decode_short_ids(msg.encoded_short_ids)
    if isinstance(msg, QueryShortChannelIds) and msg.tlvs.query_flags:
        decode_query_flags(
            msg.tlvs.query_flags.encoding_type, msg.tlvs.query_flags.encoded_query_flags
        )
    if isinstance(msg, ReplyChannelRange) and msg.tlvs.timestamps_tlv:
        t = msg.tlvs.timestamps_tlv
        decode_timestamps(t.encoding_type, t.encoded_timestamps)


def fuzz_one(data: bytes) -> None:
    try:
        msg = decode_message(data)
    except VajraError:
        return
    if msg.encode() != data:
        raise AssertionError(f"re-encoding {type(msg).__name__} changed the bytes")
    with contextlib.suppress(VajraError):
        _gossip_arrays(msg)
