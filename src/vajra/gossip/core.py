"""Applying BOLT 7 gossip to the one graph of a runtime: the receiver's rules, sans-IO.

Theory of operation. `GossipCore` owns a `Graph` and follows one chain (`chain_hash`).
Every message goes through the cheap checks first (chain, known or not, timestamps),
then its signatures, then - for a `channel_announcement` - the funding output, which is
I/O: `check_channel_announcement` returns a `PendingChannel` naming the output to look
up, and `accept_channel` finishes with what the chain said (a caller with a synchronous
`ChainLookup` uses `apply_channel_announcement`, which does both). What the graph
accepts goes to the `GossipSink` (the SQLite store, `gossip.store`) so a restart reloads
it. Rule violations raise `GossipError` with a `Reason`; what BOLT 7 says to ignore
without blame returns an `Outcome`. Time (`now`, unix seconds) is always passed in.

    core = GossipCore(CHAIN_HASHES["bitcoin"], sink=store)
    core.apply(msg, chain, now)       # any of the three gossip messages
    core.prune(now)                   # two weeks without an update: forget the channel
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

from vajra.errors import DecodeError
from vajra.gossip import verify
from vajra.gossip.errors import GossipError, Outcome, Reason
from vajra.gossip.graph import FLAG_UPDATED, Graph, Policy
from vajra.wire import (
    ChannelAnnouncement,
    ChannelUpdate,
    Message,
    NodeAnnouncement,
    decode_message,
)

STALE_AFTER_S: Final = 1_209_600
"""BOLT 7: a channel whose latest `channel_update` is older than two weeks MAY be pruned;
we also refuse updates already that old."""
MAX_FUTURE_S: Final = 86_400
"""A timestamp more than a day ahead of `now` is "unreasonably far in the future"."""
DIRECTION: Final = 1
DISABLE: Final = 2


class FundingOutput(NamedTuple):
    """The transaction output a `short_channel_id` names (BOLT 7: block height, index of
    the transaction in the block, output index)."""

    script: bytes
    value_sat: int


class ChainLookup(Protocol):
    def funding_output(self, short_channel_id: int) -> FundingOutput | None:
        """The output `short_channel_id` names if it exists on the best chain and is
        unspent, else None. May raise a `vajra.errors.VajraError` (chain unavailable)."""
        ...


class GossipSink(Protocol):
    """Where accepted gossip is persisted (`gossip.store.GossipStore`)."""

    def channel_added(self, msg: ChannelAnnouncement, capacity_sat: int, seen: int) -> None: ...
    def channel_updated(self, msg: ChannelUpdate) -> None: ...
    def node_announced(self, msg: NodeAnnouncement) -> None: ...
    def channels_removed(self, short_channel_ids: list[int]) -> None: ...


class NullSink:
    """A sink that keeps nothing (tests, benchmarks)."""

    def channel_added(self, msg: ChannelAnnouncement, capacity_sat: int, seen: int) -> None:
        pass

    def channel_updated(self, msg: ChannelUpdate) -> None:
        pass

    def node_announced(self, msg: NodeAnnouncement) -> None:
        pass

    def channels_removed(self, short_channel_ids: list[int]) -> None:
        pass


@dataclass(frozen=True, slots=True)
class PendingChannel:
    """A signature-checked `channel_announcement` waiting for its funding output."""

    msg: ChannelAnnouncement
    expected_script: bytes


class GossipCore:
    """BOLT 7 receiver rules over one `Graph` (see the module header)."""

    def __init__(
        self,
        chain_hash: bytes,
        graph: Graph | None = None,
        sink: GossipSink | None = None,
        *,
        stale_after_s: int = STALE_AFTER_S,
        max_future_s: int = MAX_FUTURE_S,
    ) -> None:
        self.chain_hash = chain_hash
        self.graph = graph if graph is not None else Graph()
        self.sink: GossipSink = sink if sink is not None else NullSink()
        self.stale_after_s = stale_after_s
        self.max_future_s = max_future_s

    # --- dispatch ------------------------------------------------------------------------

    def apply(self, msg: Message, chain: ChainLookup, now: int) -> Outcome:
        """Apply any of the three gossip messages. Raises GossipError (or a
        `VajraError` from `chain`); TypeError-free: other messages are MALFORMED."""
        if isinstance(msg, ChannelAnnouncement):
            return self.apply_channel_announcement(msg, chain, now)
        if isinstance(msg, ChannelUpdate):
            return self.apply_channel_update(msg, now)
        if isinstance(msg, NodeAnnouncement):
            return self.apply_node_announcement(msg, now)
        raise GossipError(Reason.MALFORMED, msg.NAME, "not a gossip message")

    def apply_bytes(self, data: bytes, chain: ChainLookup, now: int) -> Outcome:
        """Decode a typed wire message (2-byte type first) and apply it."""
        try:
            msg = decode_message(data)
        except DecodeError as e:
            raise GossipError(Reason.MALFORMED, "gossip", str(e)) from None
        return self.apply(msg, chain, now)

    # --- channel_announcement --------------------------------------------------------------

    def check_channel_announcement(self, msg: ChannelAnnouncement) -> PendingChannel | Outcome:
        """Every check but the funding output. Returns Outcome.DUPLICATE for a channel we
        have with the same nodes, else the pending channel; raises GossipError."""
        name = msg.NAME
        if msg.chain_hash != self.chain_hash:
            raise GossipError(Reason.WRONG_CHAIN, name)
        if not msg.node_id_1 < msg.node_id_2:
            raise GossipError(Reason.NODE_ORDER, name, "node_id_1 must be the lesser key")
        known = self.graph.channel(msg.short_channel_id)
        if known is not None and (known.node_id_1, known.node_id_2) == (
            msg.node_id_1,
            msg.node_id_2,
        ):
            return Outcome.DUPLICATE
        bad = verify.unknown_even_bits(msg.features)
        if bad:
            raise GossipError(Reason.UNKNOWN_EVEN_FEATURE, name, f"bits {sorted(bad)}")
        verify.check_channel_announcement_signatures(msg)
        if known is not None:
            raise GossipError(Reason.CONFLICT, name, "scid announced with other nodes")
        return PendingChannel(msg, verify.expected_funding_script(msg))

    def accept_channel(
        self, pending: PendingChannel, output: FundingOutput | None, now: int
    ) -> Outcome:
        """Finish a pending announcement with the output its scid names (None: no such
        unspent output). BOLT 7: not a P2WSH of the two bitcoin keys, or spent: ignore."""
        msg = pending.msg
        if output is None:
            raise GossipError(Reason.FUNDING_MISSING, msg.NAME)
        if output.script != pending.expected_script:
            raise GossipError(Reason.FUNDING_MISMATCH, msg.NAME, "not the 2-of-2 P2WSH")
        if self.graph.slot_of(msg.short_channel_id) is not None:
            return Outcome.DUPLICATE  # accepted meanwhile (the lookup was I/O)
        self.graph.add_channel(
            msg.short_channel_id, msg.node_id_1, msg.node_id_2, output.value_sat, now
        )
        self.sink.channel_added(msg, output.value_sat, now)
        return Outcome.ADDED

    def apply_channel_announcement(
        self, msg: ChannelAnnouncement, chain: ChainLookup, now: int
    ) -> Outcome:
        pending = self.check_channel_announcement(msg)
        if isinstance(pending, Outcome):
            return pending
        return self.accept_channel(pending, chain.funding_output(msg.short_channel_id), now)

    # --- channel_update --------------------------------------------------------------------

    def apply_channel_update(self, msg: ChannelUpdate, now: int) -> Outcome:
        name = msg.NAME
        if msg.chain_hash != self.chain_hash:
            raise GossipError(Reason.WRONG_CHAIN, name)
        g = self.graph
        slot = g.slot_of(msg.short_channel_id)
        if slot is None:
            return Outcome.UNKNOWN_CHANNEL
        if msg.timestamp > now + self.max_future_s:
            raise GossipError(Reason.FUTURE_TIMESTAMP, name, str(msg.timestamp))
        if msg.timestamp < now - self.stale_after_s:
            raise GossipError(Reason.STALE, name, str(msg.timestamp))
        direction = msg.channel_flags & DIRECTION
        h = 2 * slot + direction
        policy = Policy(
            msg.fee_base_msat,
            msg.fee_proportional_millionths,
            msg.cltv_expiry_delta,
            msg.htlc_minimum_msat,
            msg.htlc_maximum_msat,
            bool(msg.channel_flags & DISABLE),
            msg.timestamp,
        )
        same_time = False
        if g.flags[h] & FLAG_UPDATED:
            if msg.timestamp < g.timestamp[h]:
                return Outcome.OUTDATED
            if msg.timestamp == g.timestamp[h]:
                if g.policy(slot, direction) == policy:
                    return Outcome.DUPLICATE
                same_time = True
        verify.check_channel_update_signature(msg, g.node_ids[g.src[h]])
        if same_time:
            raise GossipError(Reason.SAME_TIMESTAMP_CHANGED, name)
        first = not g.flags[h] & FLAG_UPDATED
        g.set_policy(slot, direction, policy)
        self.sink.channel_updated(msg)
        return Outcome.ADDED if first else Outcome.UPDATED

    # --- node_announcement -----------------------------------------------------------------

    def apply_node_announcement(self, msg: NodeAnnouncement, now: int) -> Outcome:
        name = msg.NAME
        g = self.graph
        if not g.node_has_channels(msg.node_id):
            return Outcome.UNKNOWN_NODE
        i = g.node_index(msg.node_id)
        last = g.node_timestamp[i] if i is not None else 0
        if msg.timestamp < last:
            return Outcome.OUTDATED
        if msg.timestamp == last:
            return Outcome.DUPLICATE
        if msg.timestamp > now + self.max_future_s:
            raise GossipError(Reason.FUTURE_TIMESTAMP, name, str(msg.timestamp))
        verify.check_node_announcement_signature(msg)
        g.set_node_announced(
            msg.node_id, msg.timestamp, bool(verify.unknown_even_bits(msg.features))
        )
        self.sink.node_announced(msg)
        return Outcome.UPDATED if last else Outcome.ADDED

    # --- pruning and reload ----------------------------------------------------------------

    def prune(self, now: int) -> list[int]:
        """Forget channels without a `channel_update` newer than two weeks (BOLT 7
        "Recommendation on Pruning Stale Entries"); returns their scids."""
        gone = self.graph.stale_channels(now, self.stale_after_s)
        for scid in gone:
            self.graph.remove_channel(scid)
        if gone:
            self.sink.channels_removed(gone)
        return gone

    def forget_channel(self, short_channel_id: int) -> bool:
        """Remove a channel whose funding output was spent (the runtime's chain watcher
        decides when: BOLT 7 says after 72 blocks)."""
        if not self.graph.remove_channel(short_channel_id):
            return False
        self.sink.channels_removed([short_channel_id])
        return True

    def restore_channel(self, msg: ChannelAnnouncement, capacity_sat: int, seen: int) -> None:
        """Reload an announcement this core accepted before (from the store: no checks)."""
        if self.graph.slot_of(msg.short_channel_id) is None:
            self.graph.add_channel(
                msg.short_channel_id, msg.node_id_1, msg.node_id_2, capacity_sat, seen
            )

    def restore_update(self, msg: ChannelUpdate) -> None:
        slot = self.graph.slot_of(msg.short_channel_id)
        if slot is not None:
            self.graph.set_policy(
                slot,
                msg.channel_flags & DIRECTION,
                Policy(
                    msg.fee_base_msat,
                    msg.fee_proportional_millionths,
                    msg.cltv_expiry_delta,
                    msg.htlc_minimum_msat,
                    msg.htlc_maximum_msat,
                    bool(msg.channel_flags & DISABLE),
                    msg.timestamp,
                ),
            )

    def restore_node(self, msg: NodeAnnouncement) -> None:
        if self.graph.node_has_channels(msg.node_id):
            self.graph.set_node_announced(
                msg.node_id, msg.timestamp, bool(verify.unknown_even_bits(msg.features))
            )
