"""The control channel's two ends (packets in `control_proto.py`; decision 0021).

Worker side, `ControlClient`: the `NodeServices` of the worker's `NodeHost` (watch, timer
and ack requests answered by the supervisor) and the receiver of the supervisor's wake
pushes. The worker reads a woken node's undelivered events itself, from `chain_events`
in the store file (a read connection of its own; WAL readers never wait for the
follower), so a push stays one small packet however many events wait.

Supervisor side, `ControlServer`: reads every worker's requests and DONE reports and
hands them to a `ControlHandler` (`wake_router.WakeRouter`), sends wake pushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Callable
from typing import Protocol

from vajra.chain import effects as chain_effects
from vajra.chain.types import BlockRef, ChainEvent
from vajra.node.effects import Wake, WakeAt, Watch
from vajra.runtime.control_proto import (
    CALL,
    DONE,
    MAX_PACKET,
    REQUEST,
    RESPONSE,
    RESULT,
    WAKE,
    BroadcastTx,
    CallPush,
    ControlDecodeError,
    Done,
    EnsureWallet,
    JusticeBlob,
    Request,
    WakePush,
    decode_response,
    decode_result,
    encode_error,
    encode_ok,
    encode_result,
)
from vajra.runtime.node_host import NodeHost
from vajra.runtime.node_services import ServiceError

log = logging.getLogger("vajra.runtime.control")
DEFAULT_TIMEOUT = 15.0
EVENTS_PER_WAKE = 1000
"""Events handed to a node per `on_wake` (more wait for the next round of the same wake)."""


class ControlClient:
    """A worker's end of its control channel; implements `NodeServices`."""

    def __init__(
        self,
        fd: int,
        store_path: str | None,
        index_of: Callable[[bytes], int | None],
        on_push: Callable[[WakePush], None],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_call: Callable[[CallPush], None] | None = None,
    ) -> None:
        """`store_path`: the store file holding `chain_events`, or None when the runtime
        has no chain watcher (then no node has events). `on_call`: the supervisor's node
        calls (answered with `result`; `runtime/node_calls.py`)."""
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self._index_of = index_of
        self._on_push = on_push
        self._on_call = on_call
        self.timeout = timeout
        self._next = int.from_bytes(os.urandom(6), "big") << 8
        self._pending: dict[int, asyncio.Future[tuple[str, str] | None]] = {}
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        if store_path is not None:
            self._db = sqlite3.connect(store_path, timeout=10.0, check_same_thread=False)

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._readable)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        if self._db is not None:
            with self._db_lock:
                self._db.close()

    def _readable(self) -> None:
        while True:
            try:
                data = self._sock.recv(MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            try:
                if data[0] == RESPONSE:
                    rid, err = decode_response(data)
                    fut = self._pending.pop(rid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(err)
                elif data[0] == WAKE:
                    self._on_push(WakePush.decode(data))
                elif data[0] == CALL and self._on_call is not None:
                    self._on_call(CallPush.decode(data))
                else:
                    raise ControlDecodeError(f"unexpected packet type {data[0]}")
            except ControlDecodeError as e:
                log.warning("event=control_bad_packet error=%s", e)

    def _index(self, node_id: bytes) -> int:
        index = self._index_of(node_id)
        if index is None:
            raise ServiceError("unknown_node", node_id.hex())
        return index

    async def _call(self, req: Request) -> None:
        fut: asyncio.Future[tuple[str, str] | None] = asyncio.get_running_loop().create_future()
        self._pending[req.id] = fut
        try:
            try:
                self._sock.send(req.encode())
            except OSError as e:
                raise ServiceError("unavailable", f"control channel: {type(e).__name__}") from None
            try:
                err = await asyncio.wait_for(fut, self.timeout)
            except TimeoutError:
                raise ServiceError("unavailable", f"no answer in {self.timeout} s") from None
        finally:
            self._pending.pop(req.id, None)
        if err is not None:
            raise ServiceError(*err)

    def _request(
        self, node_id: bytes, body: Watch | WakeAt | int | BroadcastTx | JusticeBlob | EnsureWallet
    ) -> Request:
        self._next += 1
        return Request(self._next, self._index(node_id), body)

    # --- NodeServices ----------------------------------------------------------------------

    async def watch(self, node_id: bytes, watch: Watch) -> None:
        try:
            req = self._request(node_id, watch)
            req.encode()
        except ValueError as e:
            raise ServiceError("bad_request", str(e)) from None
        await self._call(req)

    async def set_timer(self, node_id: bytes, at: WakeAt) -> None:
        await self._call(self._request(node_id, at))

    async def broadcast(self, node_id: bytes, raw_tx: bytes) -> None:
        try:
            req = self._request(node_id, BroadcastTx(raw_tx))
            req.encode()
        except ValueError as e:
            raise ServiceError("bad_request", str(e)) from None
        await self._call(req)

    async def store_justice(
        self, node_id: bytes, channel_index: int, hint: bytes, funding: bytes, blob: bytes
    ) -> None:
        try:
            req = self._request(node_id, JusticeBlob(channel_index, hint, funding, blob))
            req.encode()
        except ValueError as e:
            raise ServiceError("bad_request", str(e)) from None
        await self._call(req)

    async def ensure_wallet(self, node_id: bytes) -> None:
        await self._call(self._request(node_id, EnsureWallet()))

    async def ack_events(self, node_id: bytes, upto_seq: int) -> None:
        await self._call(self._request(node_id, upto_seq))

    async def pending_events(self, node_id: bytes) -> tuple[BlockRef | None, list[ChainEvent]]:
        if self._db is None:
            return None, []
        return await asyncio.to_thread(self.read_events, self._index(node_id))

    def read_events(self, index: int) -> tuple[BlockRef | None, list[ChainEvent]]:
        """The watcher's tip and node `index`'s unacknowledged events (blocking)."""
        assert self._db is not None
        try:
            with self._db_lock:
                tip = self._db.execute(
                    "SELECT height, hash FROM chain_blocks ORDER BY height DESC LIMIT 1"
                ).fetchone()
                rows = self._db.execute(
                    f"SELECT {chain_effects.EVENT_COLS} FROM chain_events"
                    " WHERE node = ? AND acked = 0 ORDER BY seq LIMIT ?",
                    (index, EVENTS_PER_WAKE),
                ).fetchall()
        except sqlite3.Error as e:
            raise ServiceError("unavailable", f"chain events: {e}") from None
        ref = BlockRef(int(tip[0]), bytes(tip[1])) if tip else None
        return ref, [chain_effects.event_of(r) for r in rows]

    def done(self, push: WakePush, ok: bool) -> None:
        """Tell the supervisor a pushed wake finished (it retries a failed one)."""
        with contextlib.suppress(OSError):
            self._sock.send(Done(push.push_id, push.node_index, ok).encode())

    def result(self, rid: int, ok: bool, body: dict[str, object]) -> None:
        """Answer the supervisor's node call `rid`: its answer, or {code, detail}."""
        try:
            self._sock.send(encode_result(rid, ok, body))
        except OSError as e:
            log.warning("event=result_send_failed error=%s", type(e).__name__)


async def serve_push(host: NodeHost, client: ControlClient, node_id: bytes, push: WakePush) -> None:
    """Carry out a wake push for `node_id`: read its pending events, hand them over with
    `NodeHost.wake` (which acks them after the state write), one round per
    `EVENTS_PER_WAKE`. Raises what `NodeHost.wake` raises (`VajraError`s)."""
    while True:
        tip, events = await client.pending_events(node_id)
        await host.wake(node_id, Wake(push.reason, tip or push.tip, tuple(events)))
        if len(events) < EVENTS_PER_WAKE:
            return


class ControlHandler(Protocol):
    async def request(self, worker: int, req: Request) -> None:
        """Carry out a worker's request; `ServiceError` is answered as an error."""
        ...

    def done(self, worker: int, done: Done) -> None:
        """A pushed wake finished (or failed) in `worker`."""
        ...


class ControlServer:
    """The supervisor's end of every worker's control channel."""

    def __init__(self, socks: list[socket.socket], handler: ControlHandler) -> None:
        self.socks = socks
        self.handler = handler
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = int.from_bytes(os.urandom(6), "big") << 8
        self._calling: dict[int, asyncio.Future[tuple[bool, dict[str, object]]]] = {}
        for s in socks:
            s.setblocking(False)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for i, s in enumerate(self.socks):
            loop.add_reader(s.fileno(), self._readable, i)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for s in self.socks:
            with contextlib.suppress(Exception):
                loop.remove_reader(s.fileno())
        for t in self._tasks:
            t.cancel()

    def push(self, worker: int, push: WakePush) -> bool:
        """Send a wake to `worker` (queued in the kernel if it is down); False if its
        channel is full (the caller retries later)."""
        try:
            self.socks[worker].send(push.encode())
            return True
        except OSError as e:
            log.warning("event=wake_push_failed worker=%d error=%s", worker, type(e).__name__)
            return False

    async def call(
        self, worker: int, node_index: int, height: int, method: str, body: dict[str, object],
        *, timeout: float = 60.0,
    ) -> tuple[bool, dict[str, object]]:  # fmt: skip
        """Ask `worker` to run node call `method` on node `node_index`
        (`runtime/node_calls.py`): (True, its answer) or (False, {code, detail}). Raises
        `ServiceError` (`unavailable`: the worker could not be reached or did not answer
        in `timeout` s; `bad_request`: the call does not fit a packet)."""
        self._next += 1
        rid = self._next
        try:
            packet = CallPush(rid, node_index, height, method, body).encode()
        except ValueError as e:
            raise ServiceError("bad_request", str(e)) from None
        fut: asyncio.Future[tuple[bool, dict[str, object]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._calling[rid] = fut
        try:
            try:
                self.socks[worker].send(packet)
            except OSError as e:
                raise ServiceError("unavailable", f"worker channel: {type(e).__name__}") from None
            try:
                return await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise ServiceError("unavailable", f"no answer in {timeout} s") from None
        finally:
            self._calling.pop(rid, None)

    def _readable(self, worker: int) -> None:
        s = self.socks[worker]
        while True:
            try:
                data = s.recv(MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            try:
                if data[0] == REQUEST:
                    req = Request.decode(data)
                    task = asyncio.get_running_loop().create_task(self._answer(worker, req))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                elif data[0] == DONE:
                    self.handler.done(worker, Done.decode(data))
                elif data[0] == RESULT:
                    rid, ok, body = decode_result(data)
                    fut = self._calling.pop(rid, None)
                    if fut is not None and not fut.done():
                        fut.set_result((ok, body))
                else:
                    raise ControlDecodeError(f"unexpected packet type {data[0]}")
            except ControlDecodeError as e:
                log.warning("event=control_bad_packet worker=%d error=%s", worker, e)

    async def _answer(self, worker: int, req: Request) -> None:
        try:
            await self.handler.request(worker, req)
            out = encode_ok(req.id)
        except ServiceError as e:
            out = encode_error(req.id, e.code, e.detail)
        except Exception as e:  # a bug must not leave the worker waiting; no detail leaks
            log.error("event=control_request_failed error=%s", type(e).__name__)
            out = encode_error(req.id, "internal", "")
        try:
            self.socks[worker].send(out)
        except OSError as e:
            log.warning("event=control_send_failed worker=%d error=%s", worker, type(e).__name__)
