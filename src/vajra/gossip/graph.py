"""The network graph: one compact, in-memory view of every public channel for a runtime.

Theory of operation. Nodes are interned to small ints (`node_ids[i]`). A channel lives in
a *slot*; its two directions are *half-edges* `h = slot * 2 + direction`, where direction
0 is `node_id_1` -> `node_id_2` (the policy `node_id_1` signs, BOLT 7 `channel_flags` bit
0). Everything is parallel `array`s indexed by slot or half-edge, so a channel costs a few
dozen bytes of machine integers instead of Python objects:

    per slot       scid u64, capacity_sat u64, seen u32 (when it was announced)
    per half-edge  src u32 (the node it leaves), fee_base_msat u32,
                   fee_proportional_millionths u32, cltv_expiry_delta u16,
                   htlc_minimum_msat u64, htlc_maximum_msat u64, flags u8, timestamp u32
    per node       the half-edges arriving at it (`node_in`, an `array('I')`), the last
                   `node_announcement` timestamp, flags

`short_channel_id` -> slot is a sorted `array('Q')` searched with `bisect` (12 B a channel
where a dict would cost ~100). Freed slots are reused. This module checks nothing: the
rules of BOLT 7 are in `gossip.core`, which is the only writer in the runtime; the
pathfinder (`vajra.routing`) reads the arrays directly.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

FLAG_UPDATED: Final = 1
"""The half-edge has a `channel_update`."""
FLAG_DISABLED: Final = 2
"""`channel_flags` bit 1 (`disable`)."""
FLAG_UNUSABLE: Final = 4
"""`htlc_maximum_msat` < `htlc_minimum_msat` or > capacity: BOLT 7 "SHOULD ignore this
channel during route considerations"."""
ROUTABLE: Final = FLAG_UPDATED
"""The flags of a half-edge a route may use: updated, nothing else."""
NODE_NO_ROUTE: Final = 1
"""The node's `node_announcement` has unknown even features: never route through it."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One direction's `channel_update` fields, as the graph keeps them."""

    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int
    htlc_minimum_msat: int
    htlc_maximum_msat: int
    disabled: bool
    timestamp: int


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    short_channel_id: int
    node_id_1: bytes
    node_id_2: bytes
    capacity_sat: int
    policies: tuple[Policy | None, Policy | None]
    """Direction 0 (from `node_id_1`) and direction 1."""


class Graph:
    """Public channels and nodes. Writers: `add_channel`, `set_policy`, `remove_channel`,
    `set_node_announced`; readers use the arrays (see the module header)."""

    def __init__(self) -> None:
        self._node_of: dict[bytes, int] = {}
        self.node_ids: list[bytes] = []
        self.node_in: list[array[int]] = []
        self.node_timestamp = array("I")
        self.node_flags = array("B")
        self.scid = array("Q")
        self.capacity_sat = array("Q")
        self.seen = array("I")
        self.src = array("I")
        self.fee_base_msat = array("I")
        self.fee_proportional_millionths = array("I")
        self.cltv_expiry_delta = array("H")
        self.htlc_minimum_msat = array("Q")
        self.htlc_maximum_msat = array("Q")
        self.flags = array("B")
        self.timestamp = array("I")
        self._sorted_scids = array("Q")
        self._sorted_slots = array("I")
        self._free: list[int] = []

    # --- nodes ---------------------------------------------------------------------------

    def intern(self, node_id: bytes) -> int:
        """The small int for a 33-byte node id, allocated on first sight."""
        i = self._node_of.get(node_id)
        if i is None:
            i = len(self.node_ids)
            self._node_of[node_id] = i
            self.node_ids.append(node_id)
            self.node_in.append(array("I"))
            self.node_timestamp.append(0)
            self.node_flags.append(0)
        return i

    def node_index(self, node_id: bytes) -> int | None:
        return self._node_of.get(node_id)

    def node_has_channels(self, node_id: bytes) -> bool:
        i = self._node_of.get(node_id)
        return i is not None and len(self.node_in[i]) > 0

    def set_node_announced(self, node_id: bytes, timestamp: int, no_route: bool) -> None:
        i = self.intern(node_id)
        self.node_timestamp[i] = timestamp
        self.node_flags[i] = NODE_NO_ROUTE if no_route else 0

    @property
    def node_count(self) -> int:
        return sum(1 for a in self.node_in if a)

    # --- channels --------------------------------------------------------------------------

    @property
    def channel_count(self) -> int:
        return len(self._sorted_scids)

    def slot_of(self, short_channel_id: int) -> int | None:
        a = self._sorted_scids
        i = bisect_left(a, short_channel_id)
        if i < len(a) and a[i] == short_channel_id:
            return self._sorted_slots[i]
        return None

    def add_channel(
        self,
        short_channel_id: int,
        node_id_1: bytes,
        node_id_2: bytes,
        capacity_sat: int,
        seen: int,
    ) -> int:
        """Add a channel with no policies yet; return its slot. The caller (gossip.core)
        has checked that the scid is new. `seen`: unix time it was accepted."""
        n1, n2 = self.intern(node_id_1), self.intern(node_id_2)
        if self._free:
            s = self._free.pop()
            self.scid[s], self.capacity_sat[s], self.seen[s] = short_channel_id, capacity_sat, seen
            for h, src in ((2 * s, n1), (2 * s + 1, n2)):
                self.src[h] = src
                self._clear_policy(h)
        else:
            s = len(self.scid)
            self.scid.append(short_channel_id)
            self.capacity_sat.append(capacity_sat)
            self.seen.append(seen)
            for src in (n1, n2):
                self.src.append(src)
                for arr in (
                    self.fee_base_msat,
                    self.fee_proportional_millionths,
                    self.cltv_expiry_delta,
                    self.htlc_minimum_msat,
                    self.htlc_maximum_msat,
                    self.flags,
                    self.timestamp,
                ):
                    arr.append(0)
        i = bisect_left(self._sorted_scids, short_channel_id)
        self._sorted_scids.insert(i, short_channel_id)
        self._sorted_slots.insert(i, s)
        # direction 0 leaves node 1 and arrives at node 2
        self.node_in[n2].append(2 * s)
        self.node_in[n1].append(2 * s + 1)
        return s

    def _clear_policy(self, h: int) -> None:
        self.fee_base_msat[h] = self.fee_proportional_millionths[h] = 0
        self.cltv_expiry_delta[h] = 0
        self.htlc_minimum_msat[h] = self.htlc_maximum_msat[h] = 0
        self.flags[h] = 0
        self.timestamp[h] = 0

    def set_policy(self, slot: int, direction: int, policy: Policy) -> None:
        """Store one direction's `channel_update` (the caller checked order and signature)."""
        h = 2 * slot + direction
        cap_msat = self.capacity_sat[slot] * 1000
        bad = (
            policy.htlc_maximum_msat < policy.htlc_minimum_msat
            or policy.htlc_maximum_msat > cap_msat
        )
        self.fee_base_msat[h] = policy.fee_base_msat
        self.fee_proportional_millionths[h] = policy.fee_proportional_millionths
        self.cltv_expiry_delta[h] = policy.cltv_expiry_delta
        self.htlc_minimum_msat[h] = policy.htlc_minimum_msat
        self.htlc_maximum_msat[h] = policy.htlc_maximum_msat
        self.timestamp[h] = policy.timestamp
        self.flags[h] = (
            FLAG_UPDATED | (FLAG_DISABLED if policy.disabled else 0) | (FLAG_UNUSABLE if bad else 0)
        )

    def policy(self, slot: int, direction: int) -> Policy | None:
        h = 2 * slot + direction
        if not self.flags[h] & FLAG_UPDATED:
            return None
        return Policy(
            self.fee_base_msat[h],
            self.fee_proportional_millionths[h],
            self.cltv_expiry_delta[h],
            self.htlc_minimum_msat[h],
            self.htlc_maximum_msat[h],
            bool(self.flags[h] & FLAG_DISABLED),
            self.timestamp[h],
        )

    def channel(self, short_channel_id: int) -> ChannelInfo | None:
        s = self.slot_of(short_channel_id)
        if s is None:
            return None
        return ChannelInfo(
            short_channel_id,
            self.node_ids[self.src[2 * s]],
            self.node_ids[self.src[2 * s + 1]],
            self.capacity_sat[s],
            (self.policy(s, 0), self.policy(s, 1)),
        )

    def remove_channel(self, short_channel_id: int) -> bool:
        a = self._sorted_scids
        i = bisect_left(a, short_channel_id)
        if i >= len(a) or a[i] != short_channel_id:
            return False
        s = self._sorted_slots[i]
        del a[i]
        del self._sorted_slots[i]
        for h in (2 * s, 2 * s + 1):
            # half-edge h arrives at the other end's node
            dst = self.src[h ^ 1]
            self.node_in[dst].remove(h)
            self._clear_policy(h)
        self.scid[s] = 0
        self._free.append(s)
        return True

    def short_channel_ids(self) -> Iterator[int]:
        return iter(self._sorted_scids.tolist())

    def stale_channels(self, now: int, max_age: int) -> list[int]:
        """Channels whose newest `channel_update` (either direction; the announcement's
        arrival when there is none) is older than `now - max_age` (BOLT 7 "Recommendation
        on Pruning Stale Entries")."""
        cutoff = now - max_age
        out: list[int] = []
        ts, seen = self.timestamp, self.seen
        for scid, s in zip(self._sorted_scids, self._sorted_slots, strict=True):
            newest = max(ts[2 * s], ts[2 * s + 1])
            if (newest or seen[s]) < cutoff:
                out.append(scid)
        return out
