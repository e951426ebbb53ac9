"""One worker process: a wildcard listener, a hibernating responder per connection.

The asyncio edge of the runtime. It moves bytes and time between sockets and the sans-IO
cores and decides nothing itself: `fabric` maps the dialled address to a node,
`PeerConnection` runs BOLT 8 + BOLT 1, `hibernation.decide` answers gossip queries for
the sleeping node, and `NodeHost` wakes the node for everything else.

Memory per idle session is what hibernation is about, so connections are
`asyncio.Protocol`s (no StreamReader/Writer pair, no task per connection) with slots,
the node's `StaticKey` is built from the shared key table per connection (one SHA-256),
and a session idle for `compact_after` seconds drops its cipher objects.

Limits (each one cuts only the offending connection, counted as `limit_cutoffs` and under
its own counter, so a test can tell which limit acted): `max_connections` per worker
(below the 20,000 descriptors a process may hold; `connection_cutoffs`), the handshake +
init deadline (half-open handshakes; `handshake_timeouts`), the session's ping rate
limit, and `max_write_buffer` bytes queued for a peer that does not read
(`write_buffer_cutoffs`). A node's slots (`max_per_node` per worker) follow
`admission.py`: per-source limits (refused at accept: `per_node_cutoffs`), eviction when
full (`evictions`), a deadline for a frame once its first byte arrived
(`frame_timeouts`) and an idle timeout for sessions without a channel
(`idle_timeouts`). Wakes follow `hibernation.py` (what may wake) and `wake_limits.py`
(how often: `wakes_refused`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.errors import VajraError
from vajra.noise import StaticKey
from vajra.osutil import die_with_parent, no_core_dumps
from vajra.peer import (
    ConnectionClosed,
    ErrorReceived,
    HandshakeCompleted,
    InitReceived,
    MessageReceived,
    PeerConnection,
    SessionConfig,
    WarningReceived,
)
from vajra.runtime import handover, hibernation, reconnect
from vajra.runtime.admission import Admission, AdmissionLimits, source_of
from vajra.runtime.channel_sessions import PeerRoutes, node_config
from vajra.runtime.control import ControlClient, serve_push
from vajra.runtime.control_proto import CallPush, WakePush
from vajra.runtime.fabric import AddressPool
from vajra.runtime.keytable import COUNTERS, GAUGES, Counters, KeyTable, NodeStates
from vajra.runtime.node_calls import run_call
from vajra.runtime.node_host import ChannelAborted, HostConfig, NodeHost
from vajra.runtime.open_calls import Opener
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.runtime.route_client import RemoteRouter
from vajra.runtime.signer_api import SignerClient
from vajra.runtime.wake_limits import WakeLimiter, WakeLimits
from vajra.store import SealedStore, SqliteStore
from vajra.wire import ErrorMessage, Message, WarningMessage

log = logging.getLogger("vajra.runtime.worker")
WAKE_FAILED_WARNING = WarningMessage(
    channel_id=bytes(32), data=b"node unavailable (its signer is offline), try again later"
)
WAKE_REFUSED_WARNING = WarningMessage(
    channel_id=bytes(32), data=b"node asleep: wake rate limit reached, try again later"
)
MAX_QUEUED = 64
"""Messages held for a node while it wakes; a peer sending more is cut off."""


def wake_failed_warning(e: VajraError) -> WarningMessage:
    """The BOLT 1 `warning` a peer gets when a wake fails: why, in words that are true
    (all-zero channel id: the connection, not a channel). Only an unreachable signer is
    "offline"; a refusal says what was refused."""
    if isinstance(e, SignerUnavailable):
        return WAKE_FAILED_WARNING
    reason = getattr(e, "reason", "") or type(e).__name__
    if reason in ("lease_held", "lease_lost"):
        text = "node busy elsewhere, try again later"
    elif reason == "unknown_node":
        text = "node unavailable (its signer does not know it)"
    elif reason in ("stale_epoch", "epoch_jump"):
        text = f"node unavailable (its signer refused this runtime: {reason})"
    else:
        text = f"node unavailable ({reason}), try again later"
    return WarningMessage(channel_id=bytes(32), data=text.encode())


@dataclass(slots=True)
class WorkerConfig:
    """Everything a worker needs; sent by the supervisor on the worker's stdin (it may
    carry a dev seed, so never on the command line)."""

    index: int
    workers: int
    port: int
    pool: str
    store: str
    runtime_id: str
    keys_fd: int
    counters_fd: int
    states_fd: int
    chain: str = "regtest"
    idle_timeout: float = 5.0
    lease_ttl: float = 30.0
    max_connections: int = 16000
    max_per_node: int = 64
    max_per_source_node: int = 8
    max_per_source: int = 4096
    frame_timeout: float = 30.0
    session_idle_timeout: float = 300.0
    handshake_timeout: float = 10.0
    compact_after: float = 2.0
    max_write_buffer: int = 1 << 20
    pings_per_second: float = 64.0
    ping_burst: int = 128
    node_wake_burst: int = 4
    node_wakes_per_minute: float = 6.0
    peer_wake_burst: int = 4
    peer_wakes_per_minute: float = 6.0
    min_channel_sat: int = 20_000
    """Inbound channel policy: the smallest `funding_satoshis` accepted."""
    channel_peers: list[str] = field(default_factory=list)
    """Inbound channel policy: hex node ids allowed to open channels (empty: anyone)."""
    inbox_fd: int = -1
    """This worker's end of its handover inbox (SOCK_SEQPACKET), or -1: no handover."""
    outbox_fds: list[int] = field(default_factory=list)
    """Sending ends of every worker's inbox, by worker index."""
    signer: dict[str, Any] = field(default_factory=dict, repr=False)
    """{"kind": "dev", "seed": hex, "state": path}, {"kind": "fixed", "secret": hex} or
    {"kind": "supervisor"} (the signer link: requests go over `signer_fd`). Left out of
    the repr: it may hold the dev seed or a forced node secret, and a config may be
    logged or shown in a traceback."""
    signer_fd: int = -1
    """This worker's end of its signer channel to the supervisor (hub mode), or -1."""
    control_fd: int = -1
    """This worker's end of its control channel (watches, timers, wake pushes), or -1."""
    route_fd: int = -1
    """This worker's end of its route channel to the supervisor's one graph and scorer
    (decision 0027), or -1: the worker's own empty graph (tests)."""
    chain_events: bool = False
    """The runtime runs a chain watcher: woken nodes read `chain_events` in the store."""
    log_level: str = "INFO"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        return cls(**json.loads(text))


def make_signer(spec: dict[str, Any], signer_fd: int = -1) -> SignerClient:
    from vajra.runtime.local_signer import FixedIdentitySigner, LocalSigner
    from vajra.runtime.signer_channel import SupervisorSignerClient

    if spec.get("kind") == "supervisor":
        if signer_fd < 0:
            raise ValueError("a supervisor signer needs the channel descriptor")
        return SupervisorSignerClient(signer_fd)
    if spec.get("kind") == "dev":
        return LocalSigner.open(bytes.fromhex(spec["seed"]), spec["state"])
    if spec.get("kind") == "fixed":
        return FixedIdentitySigner(bytes.fromhex(spec["secret"]))
    raise ValueError("no signer configured")


class Session(asyncio.Protocol):
    """One accepted connection to one hosted node."""

    __slots__ = (
        "channel_peer",
        "conn",
        "index",
        "last_active",
        "node_id",
        "partial_at",
        "partial_mark",
        "queue",
        "source",
        "transport",
        "w",
    )

    def __init__(self, w: Worker, resumed: tuple[int, bytes, PeerConnection] | None = None) -> None:
        self.w = w
        self.transport: asyncio.Transport | None = None
        self.conn: PeerConnection | None = None
        self.index = -1
        self.node_id = b""
        self.last_active = 0.0
        self.source = ""
        self.partial_at = 0.0  # when the unfinished frame in the buffer began (0: none)
        self.partial_mark = 0  # messages received when that frame began
        # Messages waiting for the node, in order (PEER_CONNECTED: `reconnect.py`).
        self.queue: list[Message | reconnect.PeerConnected] | None = None
        self.channel_peer = False  # this session carried messages to the awake node
        if resumed is not None:  # handed over by another worker: already established
            self.index, self.node_id, self.conn = resumed

    @property
    def has_channel(self) -> bool:
        """Admission never evicts (nor idles out) a session that carried channel messages
        to the node: the peer's channel traffic runs on it."""
        return self.channel_peer

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        # `Any`: uvloop's transports are not subclasses of asyncio.Transport (same API).
        self.transport = transport
        w = self.w
        if self.conn is not None:  # a resumed session: the address was checked already
            w.count["handovers_in"] += 1
            self.last_active = time.monotonic()
            self.source = _source(transport)
            w.admission.add(self, self.index)  # admitted by the worker that accepted it
            if self.conn.remote_pubkey:
                w.routes.add(self.node_id, self.conn.remote_pubkey, self)
                w.spawn(reconnect.on_init(self, self.conn.remote_pubkey))
            w.sessions.add(self)
            w.recent.add(self)
            self._events(self.last_active)
            return
        w.count["connections_accepted"] += 1
        sockname = transport.get_extra_info("sockname")
        index = w.pool.index_of(sockname[0]) if sockname else None
        node_id = w.keys.node_id(index) if index is not None else None
        if index is None or node_id is None or sockname[1] != w.pool.port:
            # Nobody lives at this address: BOLT 8 act one could not be checked anyway.
            w.count["closed_unknown_address"] += 1
            transport.abort()
            return
        if len(w.sessions) >= w.cfg.max_connections:
            w.count["connection_cutoffs"] += 1
            w.count["limit_cutoffs"] += 1
            transport.abort()
            return
        source = _source(transport)
        verdict = w.admission.admit(index, source, time.monotonic())
        if not verdict.ok:
            w.count["per_node_cutoffs"] += 1
            w.count["limit_cutoffs"] += 1
            log.debug("event=refused node=%d source=%s reason=%s", index, source, verdict.reason)
            transport.abort()
            return
        if isinstance(verdict.evict, Session):
            w.count["evictions"] += 1
            log.debug("event=evicted node=%d source=%s for=%s", index, verdict.evict.source, source)
            verdict.evict.cut("evicted")
        now = time.monotonic()
        self.index, self.node_id, self.last_active = index, node_id, now
        self.source = source
        key = StaticKey.with_pubkey(w.keys.secret(index), node_id)
        self.conn = PeerConnection.responder(key, w.session_config, now)
        w.admission.add(self, index)
        w.sessions.add(self)
        w.handshaking[self] = now + w.cfg.handshake_timeout

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            return
        now = time.monotonic()
        self.last_active = now
        before = (conn.pongs_sent, conn.warnings_sent, conn.errors_sent)
        conn.receive_data(data, now)
        self._events(now)
        self._count_sent(conn, before)
        if self.conn is not None:
            self.w.recent.add(self)
            # Frame deadline bookkeeping: a frame's bytes are in the buffer, unfinished.
            t = conn.transport
            if t is None or not t.buffered:
                self.partial_at = 0.0
            elif not self.partial_at or t.messages_received != self.partial_mark:
                self.partial_at, self.partial_mark = now, t.messages_received

    def cut(self, reason: str) -> None:
        """Close this connection now (eviction, timeouts): no goodbye, the slot is freed."""
        if self.conn is not None:
            self.conn.close(reason)
        transport = self.transport
        self._forget()
        if transport is not None:
            transport.abort()

    def eof_received(self) -> bool | None:
        if self.conn is not None:
            self.conn.close("eof")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()

    # --- core events ---------------------------------------------------------------------

    def _events(self, now: float) -> None:
        conn = self.conn
        assert conn is not None
        w = self.w
        while self.conn is conn and (ev := conn.next_event()) is not None:
            if isinstance(ev, MessageReceived):
                self._message(ev.message, now)
            elif isinstance(ev, HandshakeCompleted):
                w.count["handshakes"] += 1
            elif isinstance(ev, InitReceived):
                w.count["inits"] += 1
                w.handshaking.pop(self, None)
                if conn.remote_pubkey:  # a chain or timer wake may have to reach this peer
                    w.routes.add(self.node_id, conn.remote_pubkey, self)
                    w.spawn(reconnect.on_init(self, conn.remote_pubkey))
            elif isinstance(ev, (ErrorReceived, WarningReceived)):
                self.peer_said(ev)
                # BOLT 1: the peer failed one channel; an awake node's channel must know.
                # (A sleeping node learns it from the chain when the peer force-closes.)
                failed = isinstance(ev, ErrorReceived) and ev.channel_id != bytes(32)
                if failed and w.host.is_awake(self.node_id):
                    self._to_node(ErrorMessage(ev.channel_id, ev.data))
            elif isinstance(ev, ConnectionClosed):
                if ev.reason == "handshake":
                    w.count["handshake_failures"] += 1
                elif ev.error is not None:
                    w.count["protocol_errors"] += 1
                    log.debug("event=closed node=%s reason=%s", self.node_id.hex(), ev.reason)
        self.flush()

    def peer_said(self, ev: ErrorReceived | WarningReceived) -> None:
        """A BOLT 1 `error` or `warning` from the peer: an open waiting on this peer
        keeps it (the reason it was refused, `runtime/open_calls.py`)."""
        peer = self.conn.remote_pubkey if self.conn is not None else None
        if peer:
            self.w.opener.peer_said(self.node_id, peer, ev)

    def _message(self, msg: Message, now: float) -> None:
        conn = self.conn
        assert conn is not None
        if self.queue is not None:  # the node is being woken: keep the order
            if len(self.queue) >= MAX_QUEUED:
                self.w.count["limit_cutoffs"] += 1
                conn.close("wake_queue")
                return
            self.queue.append(msg)
            return
        w = self.w
        d = hibernation.decide(msg, w.session_config.chain_hash)
        if isinstance(d, hibernation.Answer):
            for reply in d.replies:
                conn.send(reply, now)
            w.count["gossip_replies"] += 1
        elif isinstance(d, hibernation.ToGraph):
            # To the one graph's owner (a peer's channel_update), never a wake.
            w.count["graph_handoffs"] += 1
            w.host.routing.hand_off(self.node_id, conn.remote_pubkey, msg)
        elif isinstance(d, hibernation.Wake):
            owner = self.index % w.cfg.workers
            if owner != w.cfg.index and w.outboxes and self._hand_over(msg, owner):
                return
            # The owner applies the wake limits (exact per node: all its wakes run here);
            # a node already awake costs no signer request, so only sleeping ones count.
            peer = conn.remote_pubkey or b""
            if not w.host.is_awake(self.node_id) and not w.wake_limiter.allow(
                self.node_id, peer, now
            ):
                w.count["wakes_refused"] += 1
                conn.send(WAKE_REFUSED_WARNING, now)
                return
            w.count["wake_triggers"] += 1
            self._to_node(msg)
        else:
            w.count["ignored_asleep"] += 1

    def move_to_owner(self) -> bool:
        """`reconnect.on_init`: True if the session moved to the worker owning the node
        (which checks again); False if it stays (this worker owns the node, or the move
        is not possible now: the node then wakes here, still fenced by its lease)."""
        owner = self.index % self.w.cfg.workers
        return owner != self.w.cfg.index and bool(self.w.outboxes) and self._hand_over(None, owner)

    def enqueue(self, msg: Message | reconnect.PeerConnected) -> None:
        self._to_node(msg)

    def _to_node(self, msg: Message | reconnect.PeerConnected) -> None:
        if self.queue is not None:
            self.queue.append(msg)
            return
        self.queue = [msg]
        self.w.spawn(self._deliver())

    def _count_sent(self, conn: PeerConnection, before: tuple[int, int, int]) -> None:
        """Metrics for what this session sent since `before`: pongs, and BOLT 1 warnings
        and errors as two separate counters (a warning is not an error: BOLT 1)."""
        c = self.w.count
        c["pongs"] += conn.pongs_sent - before[0]
        c["warnings_sent"] += conn.warnings_sent - before[1]
        c["errors_sent"] += conn.errors_sent - before[2]

    def itself(self) -> Session:
        """Protocol factory for `connect_accepted_socket` of a resumed session."""
        return self

    def _hand_over(self, msg: Message | None, owner: int) -> bool:
        """Move this connection to the worker that owns the node (see `handover`).
        False if it must stay here (unsent bytes, too big): the node wakes here then,
        still fenced by its lease."""
        conn, transport, w = self.conn, self.transport, self.w
        assert conn is not None and transport is not None
        transport.pause_reading()
        out = conn.data_to_send()
        if out:
            transport.write(out)
        if transport.get_write_buffer_size() > 0 or conn.transport is None:
            transport.resume_reading()
            return False
        if conn.transport.buffered > handover.MAX_HANDOVER // 2:
            transport.resume_reading()
            return False
        st = conn.export_session(first=msg)
        payload = handover.pack(self.index, st)
        fd = os.dup(transport.get_extra_info("socket").fileno())
        try:
            socket.send_fds(w.outboxes[owner], [payload], [fd])
            w.count["handovers_out"] += 1
        except OSError as e:
            # The session is exported (this side is closed): the peer must reconnect.
            log.warning("event=handover_failed node=%s owner=%d error=%s",
                        self.node_id.hex(), owner, e)  # fmt: skip
        finally:
            os.close(fd)
        self._forget()
        transport.abort()  # closes only our descriptor: the owner holds the connection
        return True

    def _forget(self) -> None:
        w = self.w
        if self.conn is not None and self in w.sessions:
            w.sessions.discard(self)
            w.recent.discard(self)
            w.handshaking.pop(self, None)
            w.admission.remove(self, self.index)
            peer = self.conn.remote_pubkey
            live = bool(peer) and w.routes.remove(self.node_id, peer or b"", self)
            if self.channel_peer and live and peer:
                # The peer's live session closed (not one a reconnection replaced).
                w.spawn(w.host.disconnected(self.node_id, peer))
        self.conn = None

    async def _deliver(self) -> None:
        w = self.w
        first = True  # the first message passed the wake limits in `_message`
        while self.queue:
            msg = self.queue.pop(0)
            peer = self.conn.remote_pubkey if self.conn is not None else None
            if not first and not w.host.is_awake(self.node_id):
                # The wake failed (or the node slept again): each queued message would be
                # another signer request, so each passes the wake limits again.
                if not w.wake_limiter.allow(self.node_id, peer or b"", time.monotonic()):
                    w.count["wakes_refused"] += 1
                    self._reply([WAKE_REFUSED_WARNING])
                    continue
                w.count["wake_triggers"] += 1
            first = False
            w.waking.setdefault(self.node_id, self.index)
            if peer:  # effects for this peer from now on reach this session
                w.routes.add(self.node_id, peer, self)
                self.channel_peer = True
            try:
                replies = await w.host.deliver(self.node_id, peer or b"", msg)
            except ChannelAborted as e:
                # The node dropped unwritten channel state: tell the peer, then cut the
                # session so BOLT 2 reestablish resumes from what was written.
                w.count["wake_failures"] += 1
                log.warning("event=channel_aborted node=%s error=%s", self.node_id.hex(), e)
                self._reply([wake_failed_warning(e)])
                self.queue = None
                self.cut("channel_aborted")
                return
            except VajraError as e:
                if not w.host.is_awake(self.node_id):
                    w.waking.pop(self.node_id, None)
                w.count["wake_failures"] += 1
                log.warning("event=wake_failed node=%s error_type=%s error=%s",
                            self.node_id.hex(), type(e).__name__, e)  # fmt: skip
                # BOLT 1 warning (all-zero channel id: the connection, not a channel);
                # the peer may retry later. The session stays up for pings.
                replies = [wake_failed_warning(e)]
            self._reply(replies)
        self.queue = None

    def push(self, messages: list[Message]) -> None:
        """`PeerRoutes`: send a node's messages to this peer now."""
        self._reply(messages)

    def _reply(self, replies: list[Message]) -> None:
        conn = self.conn
        if conn is None or conn.closed:
            return
        now = time.monotonic()
        before = (conn.pongs_sent, conn.warnings_sent, conn.errors_sent)
        for r in replies:
            conn.send(r, now)
        self._count_sent(conn, before)
        self.flush()

    def flush(self) -> None:
        conn, transport = self.conn, self.transport
        if conn is None or transport is None:
            return
        out = conn.data_to_send()
        if out:
            transport.write(out)
            if transport.get_write_buffer_size() > self.w.cfg.max_write_buffer:
                self.w.count["write_buffer_cutoffs"] += 1
                self.w.count["limit_cutoffs"] += 1
                conn.close("write_buffer")
                transport.abort()
                return
        if conn.closed:
            transport.close()


class Worker:
    """A worker's shared objects: tables, limits, sessions, the node host."""

    def __init__(self, cfg: WorkerConfig, signer: SignerClient) -> None:
        self.cfg = cfg
        self.pool = AddressPool.parse(cfg.pool, cfg.port)
        self.keys = KeyTable.attach(cfg.keys_fd)
        self.counters = Counters.attach(cfg.counters_fd)
        self.states = NodeStates.attach(cfg.states_fd)
        self.session_config = SessionConfig(
            chain_hash=CHAIN_HASHES[cfg.chain],
            handshake_timeout=cfg.handshake_timeout,
            pings_per_second=cfg.pings_per_second,
            ping_burst=cfg.ping_burst,
        )
        # A restarted worker continues its slot's cumulative counters.
        self.count: Counter[str] = Counter()
        prev = dict(zip(COUNTERS, self.counters.read(cfg.index), strict=True))
        self.count.update({k: v for k, v in prev.items() if v and k not in GAUGES})
        self.sessions: set[Session] = set()
        self.recent: set[Session] = set()
        self.handshaking: dict[Session, float] = {}
        self.admission: Admission[Session] = Admission(
            AdmissionLimits(
                max_per_node=cfg.max_per_node,
                max_per_source_node=cfg.max_per_source_node,
                max_per_source=cfg.max_per_source,
                frame_timeout=cfg.frame_timeout,
                session_idle_timeout=cfg.session_idle_timeout,
            )
        )
        self.tasks: set[asyncio.Task[Any]] = set()
        self.wake_limiter = WakeLimiter(
            WakeLimits(
                node_burst=cfg.node_wake_burst,
                node_per_minute=cfg.node_wakes_per_minute,
                peer_burst=cfg.peer_wake_burst,
                peer_per_minute=cfg.peer_wakes_per_minute,
            )
        )
        self.waking: dict[bytes, int] = {}  # node id -> index, for nodes handed to the host
        self.outboxes = [socket.socket(fileno=fd) for fd in cfg.outbox_fds]
        for ob in self.outboxes:
            ob.settimeout(1.0)  # a full inbox blocks briefly rather than losing a session
        self.inbox = socket.socket(fileno=cfg.inbox_fd) if cfg.inbox_fd >= 0 else None
        if self.inbox is not None:
            self.inbox.setblocking(False)
        self.store = SqliteStore(cfg.store)
        self.routes = PeerRoutes()
        self.control = (
            ControlClient(
                cfg.control_fd,
                cfg.store if cfg.chain_events else None,
                self.waking.get,
                lambda push: self.spawn(self._pushed_wake(push)),
                on_call=lambda push: self.spawn(self._call(push)),
            )
            if cfg.control_fd >= 0
            else None
        )
        self.host = NodeHost(
            SealedStore(self.store),
            signer,
            HostConfig(cfg.runtime_id, cfg.idle_timeout, cfg.lease_ttl),
            on_change=self._node_changed,
            services=self.control,
            node_config=node_config(cfg.chain, cfg.min_channel_sat, cfg.channel_peers),
            send=self.routes.send,
            reachable=self.routes.has,
            plain=self.store,
            identity=self._identity,
        )
        if cfg.route_fd >= 0:
            self.host.routing.router = RemoteRouter(cfg.route_fd)
        self.opener = Opener(self)  # the funder's node calls (decision 0028)
        self.host.funder = self.opener

    def _identity(self, node_id: bytes) -> bytes | None:
        """An awake node's identity secret from the key table (its receive keys)."""
        index = self.waking.get(node_id)
        if index is None or self.keys.node_id(index) != node_id:
            return None
        return self.keys.secret(index)

    async def _pushed_wake(self, push: WakePush) -> None:
        """The supervisor's chain or timer wake (decision 0021): the node's pending events
        are read here and handed over by `NodeHost.wake` (acked after the state write,
        `control.serve_push`); the supervisor hears DONE (ok or failed: it retries)."""
        assert self.control is not None
        node_id = self.keys.node_id(push.node_index)
        ok = False
        if node_id is not None:
            self.waking.setdefault(node_id, push.node_index)
            try:
                await serve_push(self.host, self.control, node_id, push)
                ok = True
                self.count["timer_wakes" if push.reason == "timer" else "chain_wakes"] += 1
            except VajraError as e:
                if not self.host.is_awake(node_id):
                    self.waking.pop(node_id, None)
                log.warning("event=pushed_wake_failed node=%s reason=%s error_type=%s error=%s",
                            node_id.hex(), push.reason, type(e).__name__, e)  # fmt: skip
        if not ok:
            self.count["pushed_wake_failures"] += 1
        self.control.done(push, ok)

    async def _call(self, push: CallPush) -> None:
        """The supervisor's node call (`runtime/node_calls.py`): the handler wakes the
        node if needed; the answer goes back as a RESULT."""
        assert self.control is not None
        node_id = self.keys.node_id(push.node_index)
        if node_id is None:
            self.control.result(push.id, False, {"code": "node_not_loaded", "detail": ""})
            return
        self.waking.setdefault(node_id, push.node_index)
        ok, answer = await run_call(self.host, node_id, push.method, push.body, push.height)
        if not ok and not self.host.is_awake(node_id):
            self.waking.pop(node_id, None)
        self.control.result(push.id, ok, answer)

    def _node_changed(self, node_id: bytes, awake: bool) -> None:
        index = self.waking.get(node_id) if awake else self.waking.pop(node_id, None)
        if index is not None:
            self.states.set(index, self.cfg.index + 1 if awake else 0)

    def spawn(self, coro: Any) -> None:
        """Run a task, keeping a reference until it is done (asyncio holds only weak ones)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def receive_handovers(self) -> None:
        """Inbox readable: resume every session handed to us."""
        assert self.inbox is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.inbox, handover.MAX_HANDOVER + 4096, 4)
            except (BlockingIOError, InterruptedError):
                return
            if not fds:
                return
            sock = socket.socket(fileno=fds[0])
            for extra in fds[1:]:
                os.close(extra)
            try:
                index, st = handover.unpack(data)
                node_id = self.keys.node_id(index)
                if node_id is None:
                    raise ValueError(f"no node at index {index}")
                key = StaticKey.with_pubkey(self.keys.secret(index), node_id)
                conn = PeerConnection.resume(key, self.session_config, st, time.monotonic())
            except (VajraError, ValueError) as e:
                log.warning("event=handover_rejected error=%s", e)
                sock.close()
                continue
            sock.setblocking(False)
            session = Session(self, (index, node_id, conn))
            self.spawn(loop.connect_accepted_socket(session.itself, sock))

    def publish_counters(self) -> None:
        self.count["connections_open"] = len(self.sessions)
        self.count["awake"] = self.host.awake
        self.count["wakes"] = self.host.wakes
        self.count["sleeps"] = self.host.sleeps
        self.count["signer_requests"] = self.host.signer_requests
        self.count["effect_failures"] = self.host.effect_failures
        self.counters.write(self.cfg.index, [self.count[n] for n in COUNTERS])

    def sweep(self, tick: int = 0) -> None:
        """Once a second: half-open handshakes past their deadline; idle sessions compacted;
        every 5 s: unfinished frames past `frame_timeout`, sessions without a channel idle
        past `session_idle_timeout` (admission.py)."""
        now = time.monotonic()
        if tick % 5 == 0:
            self._sweep_slots(now)
        for s, deadline in list(self.handshaking.items()):
            if deadline > now:
                break  # insertion order = deadline order
            del self.handshaking[s]
            if s.conn is not None and not s.conn.closed:
                s.conn.handle_timer(now)
                self.count["handshake_timeouts"] += 1
                self.count["limit_cutoffs"] += 1
                s.flush()
                if s.transport is not None:
                    s.transport.abort()
        limit = now - self.cfg.compact_after
        for s in list(self.recent):
            if s.last_active <= limit:
                self.recent.discard(s)
                t = s.conn.transport if s.conn is not None else None
                if t is not None:
                    t.compact()

    def _sweep_slots(self, now: float) -> None:
        lim = self.admission.limits
        idle_before = now - lim.session_idle_timeout
        frame_before = now - lim.frame_timeout
        for s in list(self.sessions):
            if s.partial_at and s.partial_at <= frame_before:
                self.count["frame_timeouts"] += 1
                s.cut("frame_timeout")
            elif s.last_active <= idle_before and not s.has_channel and s.queue is None:
                self.count["idle_timeouts"] += 1
                s.cut("idle")


def _source(transport: Any) -> str:
    peer = transport.get_extra_info("peername")
    return source_of(str(peer[0])) if peer else ""


async def serve(cfg: WorkerConfig, ready: asyncio.Future[None] | None = None) -> None:
    signer = make_signer(cfg.signer, cfg.signer_fd)
    w = Worker(cfg, signer)
    loop = asyncio.get_running_loop()
    sock = socket.socket(
        socket.AF_INET6 if w.pool.wildcard == "::" else socket.AF_INET, socket.SOCK_STREAM
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((w.pool.wildcard, cfg.port))
    sock.listen(4096)
    server = await loop.create_server(lambda: Session(w), sock=sock, backlog=4096)
    if w.inbox is not None:
        loop.add_reader(w.inbox.fileno(), w.receive_handovers)
    if w.control is not None:
        w.control.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"event": "worker_ready", "worker": cfg.index, "pid": os.getpid()}))
    sys.stdout.flush()
    log.info("event=worker_ready worker=%d pid=%d port=%d", cfg.index, os.getpid(), cfg.port)
    tick = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
        tick += 1
        w.publish_counters()
        if tick % 10 == 0:  # once a second
            w.sweep(tick // 10)
            await w.host.sleep_idle()
            await w.host.retry_effects()
    server.close()
    for s in list(w.sessions):
        if s.transport is not None:
            s.transport.abort()
    await w.host.close()
    if w.control is not None:
        w.control.close()
    w.publish_counters()
    w.store.close()
    log.info("event=worker_stopped worker=%d", cfg.index)


def _die_with_supervisor() -> None:
    """A worker must never outlive its supervisor: an orphan would keep answering on the
    shared port (SO_REUSEPORT), take connections meant for a restarted runtime and keep
    identity secrets in memory. Linux delivers SIGKILL when the parent dies
    (PR_SET_PDEATHSIG; the supervisor spawns from its main thread, which is what the
    signal follows); the parent may already be gone before the call, so check after it."""
    parent = os.getppid()
    die_with_parent()
    if parent == 1 or os.getppid() != parent:
        os._exit(1)


def main() -> int:
    _die_with_supervisor()
    no_core_dumps()  # the key table's identity secrets are mapped here (issue 13 item 6)
    cfg = WorkerConfig.from_json(sys.stdin.readline())
    logging.basicConfig(
        level=cfg.log_level,
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s proc=worker%(process)d %(message)s",
    )
    prof_dir = os.environ.get("VAJRA_PROFILE_DIR")  # developer aid: cProfile per worker
    if prof_dir:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            run(serve(cfg))
        finally:
            prof.disable()
            prof.dump_stats(os.path.join(prof_dir, f"worker{cfg.index}.prof"))
        return 0
    run(serve(cfg))
    return 0


def run(coro: Any) -> Any:
    """Run a coroutine on uvloop when available (it is in the lock file), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    sys.exit(main())
