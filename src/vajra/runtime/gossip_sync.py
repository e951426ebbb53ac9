"""BOLT 7 gossip synced ONCE per runtime: the supervisor's own sessions to configured
peers feed the one graph (decision 0027).

Theory of operation. For each `--gossip-peer NODE_ID@HOST:PORT` the supervisor dials a
BOLT 8 session of its own (a transport key drawn at start: it identifies the runtime's
gossip reader to the peer and moves no funds, so it is never stored), sends `init` and a
`gossip_timestamp_filter` covering all time (BOLT 7: the peer then sends what it has
and everything new), and hands every `channel_announcement`, `channel_update` and
`node_announcement` to the `SharedGraph`'s `GossipCore`, in the order received. A
message's checks run in a thread, a batch at a time (signatures are CPU; the funding
output is a block fetch through `gossip.chain_lookup.ChainSourceLookup` on the runtime's
chain source), holding the graph's lock only to read or change it. What BOLT 7 says to
ignore is counted by outcome; a rule broken is counted by reason (and logged at debug:
a peer may relay a bad message it did not write). A lost session is dialled again with
backoff (1 s doubling to 60 s); the new filter replays the peer's graph, which
duplicates make cheap. Every `prune_every_s` the channels without an update for two
weeks are pruned (BOLT 7 "Recommendation on Pruning Stale Entries"). Hosted nodes'
own sessions never ask for gossip: what they are sent anyway is dropped by the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vajra.errors import VajraError
from vajra.gossip.core import ChainLookup, PendingChannel
from vajra.gossip.errors import GossipError, Outcome
from vajra.noise import StaticKey
from vajra.peer import ConnectionClosed, InitReceived, MessageReceived, PeerConnection
from vajra.peer.limits import SessionConfig
from vajra.runtime.route_service import SharedGraph
from vajra.wire import (
    ChannelAnnouncement,
    ChannelUpdate,
    GossipTimestampFilter,
    Message,
    NodeAnnouncement,
)

log = logging.getLogger("vajra.runtime.gossip")

GOSSIP = (ChannelAnnouncement, ChannelUpdate, NodeAnnouncement)
MAX_BACKOFF_S = 60.0
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class GossipPeer:
    node_id: bytes
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> GossipPeer:
        """`NODE_ID@HOST:PORT` (66 hex digits); ValueError otherwise."""
        node, sep, addr = text.partition("@")
        host, colon, port = addr.rpartition(":")
        try:
            node_id = bytes.fromhex(node)
            p = int(port)
        except ValueError:
            node_id, p = b"", 0
        if not sep or not colon or not host or len(node_id) != 33 or not 0 < p < 65536:
            raise ValueError(f"gossip peer {text!r}: want NODE_ID@HOST:PORT")
        return cls(node_id, host, p)

    def __str__(self) -> str:
        return f"{self.node_id.hex()}@{self.host}:{self.port}"


class GossipSync:
    """The runtime's gossip sessions (see the module header)."""

    def __init__(
        self,
        shared: SharedGraph,
        peers: Sequence[GossipPeer],
        lookup: Callable[[], ChainLookup],
        chain_hash: bytes,
        *,
        clock: Callable[[], float] = time.time,
        prune_every_s: float = 3600.0,
    ) -> None:
        self.shared = shared
        self.peers = list(peers)
        self._lookup = lookup
        self.chain_hash = chain_hash
        self._clock = clock
        self.prune_every_s = prune_every_s
        self._key = _transport_key()
        self.outcomes: Counter[str] = Counter()
        """Per outcome (`added`, `duplicate`, ...) or refusal reason (`bad_signature`, ...)."""
        self.sessions: dict[str, str] = {str(p): "connecting" for p in self.peers}
        self.pruned = 0

    def status(self) -> dict[str, Any]:
        return {"peers": dict(self.sessions), "messages": dict(self.outcomes),
                "pruned": self.pruned}  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._peer(p, stop)) for p in self.peers]
        tasks.append(asyncio.create_task(self._pruner(stop)))
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    # --- sessions ----------------------------------------------------------------------------

    async def _peer(self, peer: GossipPeer, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            name = str(peer)
            try:
                got = await self._session(peer)
                self.sessions[name] = "closed"
                if got:
                    backoff = 1.0
            except (OSError, TimeoutError) as e:
                self.sessions[name] = f"unreachable: {e}"
                log.info("event=gossip_peer_unreachable peer=%s error=%s", name, e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _session(self, peer: GossipPeer) -> bool:
        """One session until it closes; True if gossip came through it."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(peer.host, peer.port), 10)
        conn = PeerConnection.initiator(
            self._key, peer.node_id, SessionConfig(chain_hash=self.chain_hash), time.monotonic()
        )
        lookup = self._lookup()
        batch: list[Message] = []
        got = False
        name = str(peer)

        def flush() -> None:
            while (ev := conn.next_event()) is not None:
                if isinstance(ev, InitReceived):
                    # BOLT 7: everything from time 0, and every new message after.
                    conn.send(GossipTimestampFilter(self.chain_hash, 0, 0xFFFFFFFF),
                              time.monotonic())  # fmt: skip
                    self.sessions[name] = "syncing"
                    log.info("event=gossip_session peer=%s", name)
                elif isinstance(ev, MessageReceived) and isinstance(ev.message, GOSSIP):
                    batch.append(ev.message)
                elif isinstance(ev, ConnectionClosed):
                    log.info("event=gossip_session_closed peer=%s reason=%s", name, ev.reason)
            out = conn.data_to_send()
            if out:
                writer.write(out)

        try:
            flush()
            while not conn.closed:
                timer = conn.get_timer()
                timeout = None if timer is None else max(0.0, timer - time.monotonic())
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except TimeoutError:
                    conn.handle_timer(time.monotonic())
                    flush()
                    continue
                if not data:
                    conn.close("eof")
                    break
                conn.receive_data(data, time.monotonic())
                flush()
                await writer.drain()
                while batch:
                    take, batch[:] = batch[:MAX_BATCH], batch[MAX_BATCH:]
                    await asyncio.to_thread(self.apply_batch, take, lookup)
                    got = True
        finally:
            flush()
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
        return got

    # --- applying ----------------------------------------------------------------------------

    def apply_batch(self, msgs: Sequence[Message], lookup: ChainLookup) -> None:
        """Apply gossip messages in order (blocking: run in a thread). Never raises for
        peer or chain input: outcomes and refusals are counted."""
        sh = self.shared
        for msg in msgs:
            now = int(self._clock())
            try:
                if isinstance(msg, ChannelAnnouncement):
                    with sh.lock:
                        pending = sh.core.check_channel_announcement(msg)
                    if isinstance(pending, PendingChannel):
                        output = lookup.funding_output(msg.short_channel_id)  # I/O, unlocked
                        with sh.lock:
                            out = sh.core.accept_channel(pending, output, now)
                    else:
                        out = pending
                else:
                    with sh.lock:
                        out = sh.core.apply(msg, lookup, now)
                self.outcomes[out.value] += 1
                if out is Outcome.ADDED and isinstance(msg, ChannelAnnouncement):
                    log.info("event=graph_channel_added scid=%d", msg.short_channel_id)
            except GossipError as e:
                self.outcomes[e.code.value] += 1
                log.debug("event=gossip_refused message=%s error=%s", msg.NAME, e)
            except VajraError as e:  # the chain source failed: the peer resends on redial
                self.outcomes["chain_error"] += 1
                log.warning("event=gossip_chain_error error=%s", e)
        with sh.lock:
            if sh.store is not None:
                sh.store.commit()

    def prune(self) -> list[int]:
        with self.shared.lock:
            gone = self.shared.core.prune(int(self._clock()))
            if self.shared.store is not None:
                self.shared.store.commit()
        self.pruned += len(gone)
        return gone

    async def _pruner(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.prune_every_s)
            if not stop.is_set():
                gone = await asyncio.to_thread(self.prune)
                if gone:
                    log.info("event=graph_pruned channels=%d", len(gone))


def _transport_key() -> StaticKey:
    """A fresh secp256k1 secret for the gossip sessions' BOLT 8 identity."""
    while True:
        with contextlib.suppress(ValueError, VajraError):
            return StaticKey(os.urandom(32))
