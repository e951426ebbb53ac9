"""Wake rate limits: no peer can wake a node at will.

A wake of a sleeping node costs a signer round trip (`state_key`) and a state decryption,
and a peer can send wake-worthy messages (hibernation.WAKE_REASONS) for free. So every
wake attempt the runtime would make passes two token buckets first:

- per node: `node_burst` wakes at once, refilled at `node_per_minute` -- bounds what all
  peers together (any number of keys, any number of connections) cost one node's signer;
- per peer (its node id): `peer_burst`, refilled at `peer_per_minute` -- so one peer
  cannot spend a node's whole budget, nor spread one budget's worth over every node.

Only attempts to wake a node that is asleep are counted: messages for a node already
awake (or being woken) cost no signer request. A refused wake is counted
(`wakes_refused`) and the peer gets a BOLT 1 `warning`; it may retry later.

Pure: time is passed in. Memory is bounded: at most `max_tracked` buckets per kind; when
full, buckets that have refilled completely are dropped (forgetting them changes
nothing), then the oldest ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WakeLimits:
    node_burst: int = 4
    node_per_minute: float = 6.0
    peer_burst: int = 4
    peer_per_minute: float = 6.0
    max_tracked: int = 50_000


class _Buckets:
    __slots__ = ("_b", "burst", "max_tracked", "rate")

    def __init__(self, burst: int, per_minute: float, max_tracked: int) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self.max_tracked = max_tracked
        self._b: dict[bytes, tuple[float, float]] = {}  # key -> (tokens, at)

    def tokens(self, key: bytes, now: float) -> float:
        got = self._b.get(key)
        if got is None:
            return self.burst
        tokens, at = got
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    def take(self, key: bytes, now: float) -> None:
        left = self.tokens(key, now) - 1.0
        self._b.pop(key, None)  # re-insert: dict order = least recently used first
        self._b[key] = (left, now)
        if len(self._b) > self.max_tracked:
            self._prune(now)

    def _prune(self, now: float) -> None:
        for k in [k for k in self._b if self.tokens(k, now) >= self.burst]:
            del self._b[k]
        while len(self._b) > self.max_tracked:
            del self._b[next(iter(self._b))]

    def __len__(self) -> int:
        return len(self._b)


class WakeLimiter:
    """`allow(node, peer, now)`: may the runtime wake `node` for a message from `peer`?"""

    __slots__ = ("limits", "nodes", "peers", "refused")

    def __init__(self, limits: WakeLimits | None = None) -> None:
        self.limits = limits or WakeLimits()
        lim = self.limits
        self.nodes = _Buckets(lim.node_burst, lim.node_per_minute, lim.max_tracked)
        self.peers = _Buckets(lim.peer_burst, lim.peer_per_minute, lim.max_tracked)
        self.refused = 0

    def allow(self, node_id: bytes, peer_id: bytes, now: float) -> bool:
        """True and one token spent from both buckets, or False (nothing spent)."""
        if self.nodes.tokens(node_id, now) < 1.0 or self.peers.tokens(peer_id, now) < 1.0:
            self.refused += 1
            return False
        self.nodes.take(node_id, now)
        self.peers.take(peer_id, now)
        return True

    def most_allowed(self, seconds: float) -> int:
        """The most wakes one node can get in `seconds` (for tests and docs)."""
        lim = self.limits
        return int(lim.node_burst + seconds * lim.node_per_minute / 60.0)
