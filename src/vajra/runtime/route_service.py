"""The runtime's ONE graph and scorer, and the route service every worker asks
(decision 0027).

Theory of operation. The supervisor owns a `SharedGraph`: the `GossipCore` (BOLT 7 rules)
over the one `Graph`, its `GossipStore` (`<store>.gossip`, reloaded at start), and the
one `Scorer`, behind one lock. Two writers take the lock: the gossip sync
(`gossip_sync`, applying what the runtime's gossip sessions receive) and the scorer's
reports; the route search reads under it. Hosted nodes live in worker processes, which
share no memory with the supervisor, so `RouteService` serves them over one
`SOCK_SEQPACKET` pair per worker (`route_proto`): a QUERY is answered with a ROUTE, a
REPORT (an attempt's outcome) goes to the scorer. It runs in its own thread with
blocking sockets so a search (up to ~0.1 s on a mainnet-size graph) never stalls the
supervisor's event loop, and so the loop's work never delays a paying node.

    shared = SharedGraph.open(store_path, chain_hash)
    service = RouteService(shared, workers)     # worker_fd(i) goes to worker i
    service.start(); ...; service.close()
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from pathlib import Path
from typing import Any

from vajra.errors import DecodeError
from vajra.gossip import verify
from vajra.gossip.core import GossipCore
from vajra.gossip.errors import GossipError, Outcome, Reason
from vajra.gossip.store import GossipStore
from vajra.routing.router import LocalRouter
from vajra.routing.types import NoRoute
from vajra.runtime import route_proto as rp
from vajra.wire import ChannelUpdate, decode_message

log = logging.getLogger("vajra.runtime.routes")


class SharedGraph:
    """The one gossip core (graph), store and scorer of a runtime, and their lock."""

    def __init__(self, core: GossipCore, store: GossipStore | None) -> None:
        self.core = core
        self.store = store
        self.router = LocalRouter(core.graph)
        self.lock = threading.Lock()
        self.peer_updates: dict[tuple[bytes, bytes], dict[int, tuple[int, int, int, int]]] = {}
        """(hosted node, peer) -> scid -> (fee_base_msat, fee_proportional_millionths,
        cltv_expiry_delta, timestamp) of the peer's newest `channel_update` for a private
        channel with the node: in memory (the peer sends it again on reconnection)."""

    @classmethod
    def open(cls, path: Path | str | None, chain_hash: bytes) -> SharedGraph:
        """The graph as the store at `path` holds it (None: in memory only)."""
        store = GossipStore(path) if path is not None else None
        core = GossipCore(chain_hash, sink=store)
        if store is not None:
            n = store.load(core)
            log.info("event=graph_loaded channels=%d", n)
        return cls(core, store)

    def peer_update(self, node_id: bytes, peer: bytes, msg: ChannelUpdate, now: int) -> str:
        """A `channel_update` `peer` sent the hosted node `node_id`: a public channel's
        goes through the BOLT 7 rules into the graph; a private channel's is kept for the
        node's route hints once signed by `peer` for its own direction (BOLT 7:
        `channel_flags` bit 0 is 0 when the signer is `node_id_1`, the lesser key).
        Returns the outcome; raises `GossipError`."""
        with self.lock:
            if self.core.graph.slot_of(msg.short_channel_id) is not None:
                return self.core.apply_channel_update(msg, now).value
        if msg.chain_hash != self.core.chain_hash:
            raise GossipError(Reason.WRONG_CHAIN, msg.NAME)
        if (msg.channel_flags & 1) != (0 if peer < node_id else 1):
            raise GossipError(Reason.MALFORMED, msg.NAME, "not the peer's direction")
        verify.check_channel_update_signature(msg, peer)
        with self.lock:
            ups = self.peer_updates.setdefault((node_id, peer), {})
            old = ups.get(msg.short_channel_id)
            if old is not None and old[3] >= msg.timestamp:
                return Outcome.OUTDATED.value
            ups[msg.short_channel_id] = (
                msg.fee_base_msat, msg.fee_proportional_millionths, msg.cltv_expiry_delta,
                msg.timestamp,
            )  # fmt: skip
        return Outcome.UPDATED.value if old else Outcome.ADDED.value

    def peer_policy(
        self, node_id: bytes, peer: bytes, alias: int | None, height: int, vout: int
    ) -> tuple[int, int, int, int] | None:
        """`invoice_service.PeerPolicy`: the update naming the node's channel by its
        alias, or by its real scid (funding block height and output index). The hint
        names the channel by the peer's alias when it gave one: a peer that negotiated
        `option_scid_alias` for a private channel forwards only by that alias (LND answers
        `UnknownNextPeer` for the real scid), while its `channel_update`'s fees and
        cltv_expiry_delta hold for either name."""
        with self.lock:
            ups = dict(self.peer_updates.get((node_id, peer), {}))
        for scid, (base, ppm, cltv, _) in ups.items():
            if scid == alias or (height and scid >> 40 == height and scid & 0xFFFF == vout):
                return (alias if alias is not None else scid), base, ppm, cltv
        return None

    def status(self) -> dict[str, Any]:
        with self.lock:
            g = self.core.graph
            return {
                "channels": g.channel_count,
                "nodes": g.node_count,
                "scored_directions": len(self.router.scorer.learned),
                "peer_updates": sum(len(u) for u in self.peer_updates.values()),
            }

    def close(self) -> None:
        with self.lock:
            if self.store is not None:
                self.store.close()
                self.store = None


class RouteService:
    """Answers the workers' route queries and feeds their reports to the one scorer."""

    def __init__(self, shared: SharedGraph, workers: int, *, clock: Any = time.time) -> None:
        self.shared = shared
        self._clock = clock
        # (supervisor end, worker end) per worker; both kept so a restarted worker finds
        # its channel again.
        self.pairs = [
            socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(workers)
        ]
        for _, b in self.pairs:
            os.set_inheritable(b.fileno(), True)
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._closing = False
        self.queries = 0
        self.routes = 0
        self.no_routes = 0
        self.reports = 0
        self.bad_packets = 0
        self.peer_updates_refused = 0
        self.route_s_total = 0.0

    def worker_fd(self, i: int) -> int:
        return self.pairs[i][1].fileno()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="routes", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing = True
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def status(self) -> dict[str, Any]:
        return {
            **self.shared.status(),
            "queries": self.queries, "routes": self.routes, "no_routes": self.no_routes,
            "reports": self.reports, "bad_packets": self.bad_packets,
            "route_ms_mean": round(self.route_s_total * 1000 / max(self.queries, 1), 3),
        }  # fmt: skip

    # --- serving ---------------------------------------------------------------------------

    def handle(self, data: bytes) -> bytes | None:
        """One packet from a worker -> the answer to send back (None: nothing)."""
        try:
            k = rp.kind(data)
            if k == rp.QUERY:
                return self._query(rp.Query.decode(data)).encode()
            if k == rp.REPORT:
                self._report(rp.Report.decode(data))
                return None
            if k == rp.PEER_UPDATE:
                self._peer_update(rp.PeerUpdate.decode(data))
                return None
            raise rp.RouteDecodeError(f"unknown kind {k}")
        except DecodeError as e:
            self.bad_packets += 1
            log.warning("event=route_packet_dropped error=%s", e)
            return None

    def _query(self, q: rp.Query) -> rp.Answer:
        self.queries += 1
        t0 = time.perf_counter()
        try:
            with self.shared.lock:
                route = self.shared.router.route(
                    q.payer, q.payee, q.amount_msat, q.now,
                    final_cltv_expiry_delta=q.final_cltv_expiry_delta,
                    route_hints=q.route_hints, first_hops=q.first_hops, params=q.params,
                    excluded=q.excluded,
                )  # fmt: skip
        except NoRoute as e:
            self.no_routes += 1
            return rp.Answer(q.id, no_route=e.reason.value, detail=str(e).partition(": ")[2])
        finally:
            self.route_s_total += time.perf_counter() - t0
        self.routes += 1
        return rp.Answer(q.id, route.hops)

    def _report(self, r: rp.Report) -> None:
        self.reports += 1
        with self.shared.lock:
            if r.failed_index is None:
                self.shared.router.path_succeeded(r.hops, r.now)
            else:
                self.shared.router.path_failed(r.hops, r.failed_index, r.now)

    def _peer_update(self, p: rp.PeerUpdate) -> None:
        msg = decode_message(p.update)  # DecodeError: counted by `handle`
        if not isinstance(msg, ChannelUpdate):
            raise rp.RouteDecodeError(f"a {msg.NAME} is not a channel_update")
        try:
            out = self.shared.peer_update(p.node_id, p.peer, msg, int(self._clock()))
        except GossipError as e:
            self.peer_updates_refused += 1
            log.info("event=peer_update_refused peer=%s error=%s", p.peer.hex(), e)
            return
        log.debug("event=peer_update scid=%d outcome=%s", msg.short_channel_id, out)

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        for a, _ in self.pairs:
            sel.register(a, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        while not self._closing:
            for key, _ in sel.select():
                if key.fileobj == self._wake_r:
                    continue
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(rp.MAX_PACKET + 1)
                    out = self.handle(data)
                    if out is not None:
                        sock.send(out)
                except OSError as e:  # a full buffer of a dead worker: it asks again
                    log.warning("event=route_send_failed error=%s", e)
                except Exception:  # a bug: log it, keep serving every other worker
                    log.exception("event=route_service_error")
        sel.close()
