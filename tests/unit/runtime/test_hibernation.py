"""What a sleeping node answers by itself (BOLT 7 queries) and what wakes it."""

from __future__ import annotations

from tests.e2e.runtime_proc import open_channel_msg
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.runtime.hibernation import IGNORE, Answer, Wake, decide
from vajra.wire import (
    ChannelReestablish,
    GossipTimestampFilter,
    QueryChannelRange,
    QueryChannelRangeTlvs,
    QueryShortChannelIds,
    ReplyChannelRange,
    ReplyShortChannelIdsEnd,
    decode_message,
    encode_message,
)

OURS = CHAIN_HASHES["regtest"]
OTHER = CHAIN_HASHES["bitcoin"] if "bitcoin" in CHAIN_HASHES else bytes(32)


def test_query_channel_range_gets_one_complete_empty_reply() -> None:
    q = QueryChannelRange(OURS, 500, 2000, QueryChannelRangeTlvs(query_option=3))
    d = decide(q, OURS)
    assert isinstance(d, Answer) and len(d.replies) == 1
    r = d.replies[0]
    assert isinstance(r, ReplyChannelRange)
    # BOLT 7: same chain; first_blocknum <= query's; first+number covers the query's end;
    # the final reply has sync_complete set.
    assert r.chain_hash == OURS
    assert r.first_blocknum <= q.first_blocknum
    assert r.first_blocknum + r.number_of_blocks >= q.first_blocknum + q.number_of_blocks
    assert r.sync_complete == 1
    assert r.encoded_short_ids == b"\x00"  # encoding 0 (uncompressed), no scids
    assert decode_message(encode_message(r)) == r


def test_query_for_another_chain_is_answered_incomplete() -> None:
    d = decide(QueryChannelRange(OTHER, 0, 10), OURS)
    assert isinstance(d, Answer)
    assert d.replies[0].sync_complete == 0  # type: ignore[union-attr]
    d2 = decide(QueryShortChannelIds(OTHER, b"\x00"), OURS)
    assert isinstance(d2, Answer)
    end = d2.replies[0]
    assert isinstance(end, ReplyShortChannelIdsEnd)
    assert (end.chain_hash, end.full_information) == (OTHER, 0)


def test_query_short_channel_ids_ends_at_once() -> None:
    scid = (700_000 << 40 | 1 << 16 | 0).to_bytes(8, "big")
    d = decide(QueryShortChannelIds(OURS, b"\x00" + scid), OURS)
    assert isinstance(d, Answer)
    assert d.replies == (ReplyShortChannelIdsEnd(OURS, 1),)


def test_timestamp_filter_ignored() -> None:
    assert decide(GossipTimestampFilter(OURS, 0, 2**32 - 1), OURS) is IGNORE


def test_channel_messages_wake_the_node() -> None:
    oc = open_channel_msg()
    assert decide(oc, OURS) == Wake(oc)
    pt = oc.funding_pubkey
    cr = ChannelReestablish(bytes(32), 1, 0, bytes(32), pt)
    assert isinstance(decide(cr, OURS), Wake)
