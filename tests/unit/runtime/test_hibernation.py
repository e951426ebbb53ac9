"""What a sleeping node answers by itself (BOLT 7 queries) and what wakes it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.runtime_proc import open_channel_msg
from tests.unit.wire.strategies import message
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.runtime.hibernation import IGNORE, TABLE, Action, Answer, ToGraph, Wake, decide
from vajra.runtime.wake_limits import WakeLimiter, WakeLimits
from vajra.wire import (
    ChannelReestablish,
    GossipTimestampFilter,
    QueryChannelRange,
    QueryChannelRangeTlvs,
    QueryShortChannelIds,
    ReplyChannelRange,
    ReplyShortChannelIdsEnd,
    UnknownMessage,
    decode_message,
    encode_message,
)
from vajra.wire._generated import MESSAGE_CLASSES

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


# ------------------------------------------------- every message type of the wire codec

WAKERS = {
    "open_channel", "accept_channel", "funding_created", "funding_signed", "channel_ready",
    "shutdown", "closing_signed", "update_add_htlc", "update_fulfill_htlc",
    "update_fail_htlc", "update_fail_malformed_htlc", "commitment_signed", "revoke_and_ack",
    "update_fee", "channel_reestablish", "announcement_signatures",
}  # fmt: skip
SESSION = {"init", "ping", "pong", "warning", "error"}
ANSWERED = {"query_channel_range", "query_short_channel_ids"}
GRAPH = {"channel_announcement", "node_announcement", "channel_update"}


def test_table_names_every_codec_message() -> None:
    assert set(TABLE) == set(MESSAGE_CLASSES.values())
    names = {t.NAME: a for t, a in TABLE.items()}
    assert {n for n, a in names.items() if a is Action.WAKE} == WAKERS
    assert {n for n, a in names.items() if a is Action.SESSION} == SESSION
    assert {n for n, a in names.items() if a is Action.GRAPH} == GRAPH
    assert {n for n, a in names.items() if a is Action.ANSWER} == ANSWERED
    # peer_storage woke sleeping nodes before (issue 12): we do not offer storage
    assert names["peer_storage"] is Action.IGNORE
    assert names["reply_channel_range"] is names["reply_short_channel_ids_end"] is Action.IGNORE


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_message_type_decides_by_the_table(data: st.DataObject) -> None:
    """One drawn instance of every message type: only the listed reasons wake."""
    for msg_type, cls in MESSAGE_CLASSES.items():
        msg = data.draw(message(msg_type), label=cls.NAME)
        d = decide(msg, OURS)
        name = cls.NAME
        if name in WAKERS:
            assert d == Wake(msg), name
        elif name in GRAPH:
            assert d == ToGraph(msg), name
        elif name in ANSWERED:
            assert isinstance(d, Answer), name
        else:
            assert d is IGNORE, name


def test_unlisted_message_is_ignored_not_woken() -> None:
    assert decide(UnknownMessage(32769, b"x"), OURS) is IGNORE


# ------------------------------------------------------------------------- wake limits


def test_wake_limiter_per_node_and_per_peer() -> None:
    lim = WakeLimiter(WakeLimits(node_burst=2, node_per_minute=6, peer_burst=3, peer_per_minute=6))
    node, other = b"n" * 33, b"o" * 33
    peers = [bytes([i]) * 33 for i in range(10)]
    # per node: many peers together get the node's burst, then one per 10 s
    assert [lim.allow(node, p, 0.0) for p in peers[:4]] == [True, True, False, False]
    assert lim.allow(node, peers[5], 9.9) is False and lim.allow(node, peers[5], 10.0) is True
    # per peer: one peer spreads over nodes: its own burst of 3 then refused
    lim2 = WakeLimiter(WakeLimits(node_burst=5, peer_burst=3, peer_per_minute=6))
    got = [lim2.allow(bytes([i]) * 33, peers[0], 0.0) for i in range(6)]
    assert got == [True, True, True, False, False, False]
    assert lim2.allow(other, peers[1], 0.0) is True  # another peer is not affected
    assert lim2.refused == 3


def test_wake_limiter_10000_attempts_bounded() -> None:
    lim = WakeLimiter()
    node = b"n" * 33
    allowed = sum(
        lim.allow(node, i.to_bytes(33, "big"), i * 0.001)  # 10,000 keys over 10 s
        for i in range(10_000)
    )
    assert allowed <= lim.most_allowed(10.0) == 5
    assert lim.refused == 10_000 - allowed


def test_wake_limiter_memory_is_bounded() -> None:
    lim = WakeLimiter(WakeLimits(max_tracked=100))
    for i in range(1_000):
        lim.allow(i.to_bytes(33, "big"), i.to_bytes(33, "big"), 0.0)
    assert len(lim.nodes) <= 100 and len(lim.peers) <= 100
