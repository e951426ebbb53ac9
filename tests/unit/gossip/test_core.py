"""BOLT 7 receiver rules of `GossipCore` with real signatures."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.gossip.helpers import CHAIN, NOW, Lookup, announce, node_id, secret, update
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.gossip.core import STALE_AFTER_S, FundingOutput, GossipCore
from vajra.gossip.errors import GossipError, Outcome, Reason
from vajra.gossip.graph import FLAG_DISABLED, FLAG_UNUSABLE, FLAG_UPDATED
from vajra.gossip.sign import sign_channel_announcement, sign_node_announcement
from vajra.wire import ChannelAnnouncement, Ping, encode_message, scid_from_parts


def _core_with_channel() -> tuple[GossipCore, Lookup, ChannelAnnouncement]:
    lookup = Lookup()
    core = GossipCore(CHAIN)
    ann = announce("alice", "bob", 100, 2_000_000, lookup)
    assert core.apply(ann, lookup, NOW) is Outcome.ADDED
    return core, lookup, ann


def test_announcement_added_with_capacity_from_the_chain() -> None:
    core, _, ann = _core_with_channel()
    info = core.graph.channel(ann.short_channel_id)
    assert info is not None
    assert info.capacity_sat == 2_000_000
    assert {info.node_id_1, info.node_id_2} == {node_id("alice"), node_id("bob")}
    assert info.node_id_1 < info.node_id_2
    assert info.policies == (None, None)


@pytest.mark.parametrize(
    "field", ["node_signature_1", "node_signature_2", "bitcoin_signature_1", "bitcoin_signature_2"]
)
def test_each_bad_signature_is_refused_with_a_warning(field: str) -> None:
    lookup = Lookup()
    ann = announce("alice", "bob", 100, lookup=lookup)
    sig = bytearray(getattr(ann, field))
    sig[10] ^= 1
    bad = dataclasses.replace(ann, **{field: bytes(sig)})
    core = GossipCore(CHAIN)
    with pytest.raises(GossipError) as e:
        core.apply(bad, lookup, NOW)
    assert e.value.code is Reason.BAD_SIGNATURE and e.value.warn and field in str(e.value)
    assert core.graph.channel_count == 0


def test_signature_covers_the_extension_bytes() -> None:
    lookup = Lookup()
    ann = dataclasses.replace(announce("alice", "bob", 100, lookup=lookup), extension=b"\x01")
    with pytest.raises(GossipError, match="bad_signature"):
        GossipCore(CHAIN).apply(ann, lookup, NOW)


def test_wrong_chain_is_ignored() -> None:
    lookup = Lookup()
    ann = announce("alice", "bob", 100, lookup=lookup)
    with pytest.raises(GossipError) as e:
        GossipCore(CHAIN_HASHES["bitcoin"]).apply(ann, lookup, NOW)
    assert e.value.code is Reason.WRONG_CHAIN and not e.value.warn
    assert lookup.calls == 0


def test_funding_output_missing_or_not_the_two_of_two() -> None:
    lookup = Lookup()
    ann = announce("alice", "bob", 100)
    core = GossipCore(CHAIN)
    with pytest.raises(GossipError, match="funding_missing"):
        core.apply(ann, lookup, NOW)
    other = announce("carol", "dave", 100)  # same scid, other keys
    from vajra.gossip.verify import expected_funding_script

    lookup.outputs[ann.short_channel_id] = FundingOutput(expected_funding_script(other), 10_000)
    with pytest.raises(GossipError) as e:
        core.apply(ann, lookup, NOW)
    assert e.value.code is Reason.FUNDING_MISMATCH
    assert core.graph.channel_count == 0


def test_duplicate_and_conflicting_announcements() -> None:
    core, lookup, ann = _core_with_channel()
    calls = lookup.calls
    assert core.apply(ann, lookup, NOW) is Outcome.DUPLICATE
    assert lookup.calls == calls  # no second chain lookup
    other = announce("carol", "dave", 100, lookup=Lookup())
    with pytest.raises(GossipError) as e:
        core.apply(other, lookup, NOW)
    assert e.value.code is Reason.CONFLICT


def test_node_order_and_unknown_even_features() -> None:
    lookup = Lookup()
    ann = announce("alice", "bob", 100, lookup=lookup)
    swapped = dataclasses.replace(ann, node_id_1=ann.node_id_2, node_id_2=ann.node_id_1)
    with pytest.raises(GossipError, match="node_order"):
        GossipCore(CHAIN).apply(swapped, lookup, NOW)
    scid = scid_from_parts(101, 1, 0)
    odd_bits = sign_channel_announcement(
        CHAIN,
        scid,
        secret("a"),
        secret("b"),
        secret("c"),
        secret("d"),
        features=b"\x40" + bytes(12),
    )
    with pytest.raises(GossipError, match="unknown_even_feature"):
        GossipCore(CHAIN).apply(odd_bits, lookup, NOW)


def test_channel_update_rules() -> None:
    core, lookup, ann = _core_with_channel()
    g = core.graph
    unknown = update(announce("x", "y", 5), "x")
    assert core.apply(unknown, lookup, NOW) is Outcome.UNKNOWN_CHANNEL
    u1 = update(ann, "alice", NOW - 100, fee_base_msat=7)
    assert core.apply(u1, lookup, NOW) is Outcome.ADDED
    slot = g.slot_of(ann.short_channel_id)
    assert slot is not None
    d = 0 if node_id("alice") == ann.node_id_1 else 1
    pol = g.policy(slot, d)
    assert pol is not None and pol.fee_base_msat == 7 and pol.timestamp == NOW - 100
    assert g.policy(slot, 1 - d) is None
    assert core.apply(u1, lookup, NOW) is Outcome.DUPLICATE
    older = update(ann, "alice", NOW - 200)
    assert core.apply(older, lookup, NOW) is Outcome.OUTDATED
    same_time = update(ann, "alice", NOW - 100, fee_base_msat=8)
    with pytest.raises(GossipError, match="same_timestamp_changed"):
        core.apply(same_time, lookup, NOW)
    stale = update(ann, "bob", NOW - STALE_AFTER_S - 1)
    with pytest.raises(GossipError, match="stale"):
        core.apply(stale, lookup, NOW)
    future = update(ann, "bob", NOW + 2 * 86_400)
    with pytest.raises(GossipError, match="future_timestamp"):
        core.apply(future, lookup, NOW)
    # bob's direction signed by alice
    forged = dataclasses.replace(
        update(ann, "alice", NOW),
        channel_flags=1 - d,
    )
    with pytest.raises(GossipError) as e:
        core.apply(forged, lookup, NOW)
    assert e.value.code is Reason.BAD_SIGNATURE and e.value.warn
    newer = update(ann, "alice", NOW, disabled=True, fee_base_msat=9)
    assert core.apply(newer, lookup, NOW) is Outcome.UPDATED
    assert g.flags[2 * slot + d] == FLAG_UPDATED | FLAG_DISABLED
    too_big = update(ann, "bob", NOW, htlc_maximum_msat=2_000_000_001)
    assert core.apply(too_big, lookup, NOW) is Outcome.ADDED
    assert g.flags[2 * slot + 1 - d] & FLAG_UNUSABLE


def test_node_announcement_rules() -> None:
    core, lookup, _ = _core_with_channel()
    stranger = sign_node_announcement(secret("zed"), NOW)
    assert core.apply(stranger, lookup, NOW) is Outcome.UNKNOWN_NODE
    na = sign_node_announcement(secret("alice"), NOW - 10, alias=b"alice")
    assert core.apply(na, lookup, NOW) is Outcome.ADDED
    assert core.apply(na, lookup, NOW) is Outcome.DUPLICATE
    assert core.apply(sign_node_announcement(secret("alice"), NOW - 20), lookup, NOW) is (
        Outcome.OUTDATED
    )
    bad = dataclasses.replace(sign_node_announcement(secret("alice"), NOW), alias=b"x" * 32)
    with pytest.raises(GossipError, match="bad_signature"):
        core.apply(bad, lookup, NOW)
    i = core.graph.node_index(node_id("alice"))
    assert i is not None and core.graph.node_timestamp[i] == NOW - 10
    required_unknown = sign_node_announcement(secret("alice"), NOW, features=b"\x01" + bytes(12))
    assert core.apply(required_unknown, lookup, NOW) is Outcome.UPDATED
    assert core.graph.node_flags[i] == 1


def test_prune_stale_channels_and_reuse_slots() -> None:
    core, lookup, ann = _core_with_channel()
    core.apply(update(ann, "alice", NOW), lookup, NOW)
    assert core.prune(NOW + STALE_AFTER_S) == []
    gone = core.prune(NOW + STALE_AFTER_S + 1)
    assert gone == [ann.short_channel_id]
    g = core.graph
    assert g.channel_count == 0 and g.channel(gone[0]) is None
    assert not g.node_has_channels(node_id("alice"))
    assert all(len(a) == 0 for a in g.node_in)
    ann2 = announce("carol", "dave", 200, lookup=lookup)
    assert core.apply(ann2, lookup, NOW) is Outcome.ADDED
    assert len(g.scid) == 1  # the freed slot was reused
    # a channel never updated ages from when it was accepted
    assert core.prune(NOW + STALE_AFTER_S + 1) == [ann2.short_channel_id]


def test_garbage_bytes_and_other_messages_are_malformed() -> None:
    core = GossipCore(CHAIN)
    for data in (b"", b"\x01", b"\x01\x00" + bytes(10), encode_message(Ping(1, b""))):
        with pytest.raises(GossipError) as e:
            core.apply_bytes(data, Lookup(), NOW)
        assert e.value.code is Reason.MALFORMED
