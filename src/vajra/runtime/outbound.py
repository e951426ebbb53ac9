"""Outbound sessions: a worker dials a peer AS one of its hosted nodes (decision 0028).

Until now every session of a hosted node was one the peer opened. To open a channel
(`vajra node ID open PEER@HOST:PORT`) the node needs a session it started: the worker
that owns the node dials HOST:PORT and runs BOLT 8 as initiator with the node's static
key from the shared key table (the same secret a responder session of the node uses,
so the peer sees the node id it expects), then BOLT 1 `init`.

Such a session is an ordinary `Session` once connected: the same bytes path, timers
(handshake + init deadline, frame deadline, idle timeout without a channel), wake table,
`PeerRoutes` registration at the peer's `init` and admission bookkeeping. Admission is
asked BEFORE the dial, with the peer's address as the source: the per-node slots and
per-source limits bound what a node's own dials can hold exactly as they bound what
peers can (a refusal is `DialFailed("connection_limit")`; a full node evicts an idle
session as for an inbound one).

A live session with the peer (inbound or outbound) is reused: BOLT 1 has one connection
per peer pair, and `PeerRoutes` already names it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from vajra.errors import VajraError
from vajra.noise import StaticKey
from vajra.peer import PeerConnection, State
from vajra.runtime.admission import source_of
from vajra.runtime.worker import Session

if TYPE_CHECKING:
    from vajra.runtime.channel_sessions import Reachable
    from vajra.runtime.worker import Worker

DIAL_TIMEOUT = 10.0
"""Seconds for TCP connect + BOLT 8 handshake + `init` exchange."""


class DialFailed(VajraError):
    """The peer could not be reached as the node (`code`: `peer_unreachable`,
    `connection_limit`, `node_not_loaded`)."""

    def __init__(self, code: str, detail: str) -> None:
        self.code, self.detail = code, detail
        super().__init__(f"{code}: {detail}")


class OutboundSession(Session):
    """A session the node started. `ready` resolves once BOLT 1 `init` is exchanged and
    fails (DialFailed) if the connection ends before."""

    __slots__ = ("ready",)

    def __init__(self, w: Worker, index: int, node_id: bytes, conn: PeerConnection) -> None:
        super().__init__(w, (index, node_id, conn))
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        w = self.w
        now = time.monotonic()
        self.last_active = now
        w.count["connections_dialled"] += 1
        w.admission.add(self, self.index)
        w.sessions.add(self)
        w.handshaking[self] = now + w.cfg.handshake_timeout
        self.flush()  # BOLT 8 act one

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        conn = self.conn
        if conn is not None and conn.state is State.ACTIVE and not self.ready.done():
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.ready.done():
            why = str(exc) if exc else "closed during the handshake or init"
            self.ready.set_exception(DialFailed("peer_unreachable", why))


def _active(session: Reachable) -> bool:
    conn = getattr(session, "conn", None)
    return isinstance(conn, PeerConnection) and conn.state is State.ACTIVE


async def connect(
    w: Worker, index: int, peer: bytes, host: str, port: int, timeout: float = DIAL_TIMEOUT
) -> Reachable:
    """A live session between hosted node `index` and `peer` (node id, 33 bytes) at
    `host:port`: the existing one, or a new dial. Raises `DialFailed`."""
    node_id = w.keys.node_id(index)
    if node_id is None:
        raise DialFailed("node_not_loaded", f"no identity for node index {index}")
    live = w.routes.session(node_id, peer)
    if live is not None and _active(live):
        return live
    if len(w.sessions) >= w.cfg.max_connections:
        w.count["connection_cutoffs"] += 1
        raise DialFailed("connection_limit", "this worker holds its maximum of connections")
    now = time.monotonic()
    verdict = w.admission.admit(index, source_of(host), now)
    if not verdict.ok:
        w.count["per_node_cutoffs"] += 1
        raise DialFailed("connection_limit", f"admission refused: {verdict.reason}")
    if isinstance(verdict.evict, Session):
        w.count["evictions"] += 1
        verdict.evict.cut("evicted")
    key = StaticKey.with_pubkey(w.keys.secret(index), node_id)
    conn = PeerConnection.initiator(key, peer, w.session_config, now)
    session = OutboundSession(w, index, node_id, conn)
    session.source = source_of(host)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: session, host, port)
            await session.ready
    except TimeoutError:
        session.cut("dial_timeout")
        raise DialFailed("peer_unreachable", f"no BOLT 8 session with {host}:{port} "
                                             f"in {timeout:.0f} s") from None  # fmt: skip
    except OSError as e:
        raise DialFailed("peer_unreachable", f"{host}:{port}: {e.strerror or e}") from None
    return session
