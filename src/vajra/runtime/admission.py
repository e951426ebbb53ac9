"""Admission: no peer can lock a hosted node out. Sans-IO; the worker asks, then acts.

Theory of operation
-------------------
Each worker gives a node `max_per_node` connection slots (the node's share of the
worker's descriptors). Without a policy, whoever holds the slots keeps the node: ~256
idle sessions once made every new connection fail. The rules, in the order `admit`
applies them to a new connection from `source` (an IPv4 address, or an IPv6 /64: the
unit one party controls cheaply) to node `index`:

1. per source, per node: at most `max_per_source_node` connections from one source to
   one node -- refused beyond (the source's own older sessions are not touched);
2. per source, all nodes: at most `max_per_source` connections from one source to this
   worker -- refused beyond (large: one LSP or routing node peers with many nodes);
3. slots full: the new connection *evicts* one session of that node, chosen by
   `victim()`:
     a. never a session with a channel with the node (`has_channel`; no hosted node has
        channels yet, so today every session is a candidate);
     b. among the rest, one from the source with the highest *weight*: the slots it holds
        at this node plus its *strikes* -- one per connection of it that was evicted or
        refused, decaying with a half-life of `strike_half_life` seconds;
     c. among those, the longest idle (oldest `last_active`: a half-sent handshake or
        frame, or an `init`-then-silence session, is idle from its last byte).
   So a party holding many slots loses them first, and one that keeps re-opening what
   was taken from it (which makes every one of its sessions young and "busy") carries
   its strikes: an honest peer mid-handshake is not the one evicted to make room for it.

Two timers bound what a slot can be held with (applied by the worker's sweep):
- `frame_timeout`: once a frame's first byte has arrived, the rest of it must arrive
  within this many seconds (BOLT 8 frames are at most 65,535 + 34 bytes);
- `session_idle_timeout`: a session with no channel that sends nothing (not even a
  ping: BOLT 1 peers ping idle connections, LND every minute) is closed. BOLT 1 lets a
  node close a connection it has no use for; the peer may reconnect.
The handshake + `init` deadline (PeerConnection) covers half-open handshakes.
"""

from __future__ import annotations

import ipaddress
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Slot(Protocol):
    """What admission reads of a session."""

    @property
    def last_active(self) -> float: ...

    @property
    def source(self) -> str: ...

    @property
    def has_channel(self) -> bool: ...


S = TypeVar("S", bound=Slot)


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    max_per_node: int = 64
    max_per_source_node: int = 8
    max_per_source: int = 4096
    frame_timeout: float = 30.0
    session_idle_timeout: float = 300.0
    strike_half_life: float = 60.0
    max_sources_tracked: int = 100_000


def source_of(host: str) -> str:
    """The admission unit of a peer address: the IPv4 address, or the IPv6 /64 (interned:
    every session from one source shares one string)."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return sys.intern(host)
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return sys.intern(str(addr.ipv4_mapped))
        return sys.intern(str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64))))
    return sys.intern(str(addr))


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    evict: object | None = None
    """A session to close to make room (only when `ok`)."""
    reason: str = ""
    """Why refused: "per_source_node" or "per_source"."""


class Admission(Generic[S]):
    """One worker's book of who holds which node's slots."""

    __slots__ = ("by_node", "limits", "per_source", "per_source_node", "strikes")

    def __init__(self, limits: AdmissionLimits | None = None) -> None:
        self.limits = limits or AdmissionLimits()
        self.by_node: dict[int, set[S]] = {}
        self.per_source: Counter[str] = Counter()
        self.per_source_node: Counter[tuple[str, int]] = Counter()
        self.strikes: dict[str, tuple[float, float]] = {}  # source -> (strikes, as of)

    def admit(self, index: int, source: str, now: float) -> Verdict:
        """May a new connection from `source` to node `index` have a slot? (Rules 1-3.)"""
        lim = self.limits
        if self.per_source_node[(source, index)] >= lim.max_per_source_node:
            self.strike(source, now)
            return Verdict(False, reason="per_source_node")
        if self.per_source[source] >= lim.max_per_source:
            self.strike(source, now)
            return Verdict(False, reason="per_source")
        held = self.by_node.get(index)
        if held is not None and len(held) >= lim.max_per_node:
            v = victim(held, lambda s: self.weight(s.source, index, now))
            if v is None:
                return Verdict(False, reason="per_node")
            self.strike(v.source, now)
            return Verdict(True, evict=v)
        return Verdict(True)

    def strike_count(self, source: str, now: float) -> float:
        got = self.strikes.get(source)
        if got is None:
            return 0.0
        n, at = got
        decay: float = 0.5 ** (max(0.0, now - at) / self.limits.strike_half_life)
        return n * decay

    def strike(self, source: str, now: float) -> None:
        n = self.strike_count(source, now) + 1.0
        self.strikes.pop(source, None)  # re-insert: oldest first
        self.strikes[source] = (n, now)
        if len(self.strikes) > self.limits.max_sources_tracked:
            for k in [k for k in self.strikes if self.strike_count(k, now) < 0.5]:
                del self.strikes[k]
            while len(self.strikes) > self.limits.max_sources_tracked:
                del self.strikes[next(iter(self.strikes))]

    def weight(self, source: str, index: int, now: float) -> float:
        """Rule 3b: slots `source` holds at node `index` plus its decayed strikes."""
        return float(self.per_source_node[(source, index)]) + self.strike_count(source, now)

    def add(self, s: S, index: int) -> None:
        self.by_node.setdefault(index, set()).add(s)
        self.per_source[s.source] += 1
        self.per_source_node[(s.source, index)] += 1

    def remove(self, s: S, index: int) -> None:
        held = self.by_node.get(index)
        if held is None or s not in held:
            return
        held.discard(s)
        if not held:
            del self.by_node[index]
        self.per_source[s.source] -= 1
        if self.per_source[s.source] <= 0:
            del self.per_source[s.source]
        pair = (s.source, index)
        self.per_source_node[pair] -= 1
        if self.per_source_node[pair] <= 0:
            del self.per_source_node[pair]

    def count(self, index: int) -> int:
        held = self.by_node.get(index)
        return 0 if held is None else len(held)


def victim(sessions: Iterable[S], weight: Callable[[S], float]) -> S | None:
    """The session to evict from a full node (rules 3a-c), or None if all are protected."""
    best: S | None = None
    best_key: tuple[float, float] = (0.0, 0.0)
    for s in sessions:
        if s.has_channel:
            continue
        key = (-weight(s), s.last_active)
        if best is None or key < best_key:
            best, best_key = s, key
    return best
