"""Workers reach the signers through the supervisor: a request/response channel.

Workers have no signer link (decision 0008): the supervisor embeds the `SignerHub`, and
each worker gets one end of a `SOCK_SEQPACKET` socket pair made by the supervisor (which
keeps both ends, so a restarted worker finds its channel again). One packet is one
request or one response; the supervisor resolves `node -> signer` from the registry and
asks that signer's `RemoteSigner`. The lease epoch (fencing token) passes through
unchanged: the signer, not the supervisor, decides.

Packets (big-endian), pure functions below:

    request   id u64 | op u8 | epoch u64 | node_id 33 | extra
              op 1 state_key (no extra), 2 ecdh (point 33), 3 new_channel (no extra),
              4 channel_request (channel index u32 | `signer_codec` request bytes)
    response  id u64 | status u8 | body
              status 0: state_key, ecdh: the 32-byte secret; new_channel: channel index
                        u32 | `signer_codec` LocalKeys bytes; channel_request: the
                        `signer_codec` result bytes (a policy refusal included)
              status 1: refused: reason_len u8 | reason | detail (utf-8)
              status 2: signer unavailable: detail (utf-8)

Channel requests and results cross opaque (decision 0017): the supervisor forwards the
worker's bytes to the node's `RemoteSigner` and the signer's answer back, unchanged;
only the worker and the signer decode them.

Request ids start at a random value per worker process, so a response addressed to a
dead worker's request is not mistaken for one of its replacement's.

Secrets cross this channel in kernel socket buffers only; nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vajra.channel import signer_codec
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.errors import DecodeError, PolicyViolation
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.runtime.signer_api import NodeGrant
from vajra.signer import link_proto as lp

log = logging.getLogger("vajra.runtime.signer_channel")

OP_STATE_KEY = 1
OP_ECDH = 2
OP_NEW_CHANNEL = 3
OP_CHANNEL_REQUEST = 4
OK, REFUSED, UNAVAILABLE = 0, 1, 2
MAX_PACKET = 1 << 17
"""Largest packet either way: a channel request or result fills at most one link frame
(65,535 bytes), with this channel's header on top."""
DEFAULT_TIMEOUT = 15.0
_REQ = struct.Struct(">QBQ33s")
_RESP = struct.Struct(">QB")


class ChannelDecodeError(DecodeError):
    """A malformed channel packet."""


@dataclass(frozen=True, slots=True)
class ChannelRequest:
    id: int
    op: int
    epoch: int
    node_id: bytes
    extra: bytes = b""

    def encode(self) -> bytes:
        return _REQ.pack(self.id, self.op, self.epoch, self.node_id) + self.extra

    @classmethod
    def decode(cls, data: bytes) -> ChannelRequest:
        if len(data) < _REQ.size or len(data) > MAX_PACKET:
            raise ChannelDecodeError("bad request length")
        rid, op, epoch, node_id = _REQ.unpack_from(data)
        extra = data[_REQ.size :]
        if op in (OP_STATE_KEY, OP_NEW_CHANNEL) and extra:
            raise ChannelDecodeError("state_key and new_channel take no extra bytes")
        if op == OP_ECDH and len(extra) != 33:
            raise ChannelDecodeError("ecdh takes a 33-byte point")
        if op == OP_CHANNEL_REQUEST and len(extra) < 5:
            raise ChannelDecodeError("channel_request takes an index and a request")
        if op not in (OP_STATE_KEY, OP_ECDH, OP_NEW_CHANNEL, OP_CHANNEL_REQUEST):
            raise ChannelDecodeError(f"unknown op {op}")
        return cls(rid, op, epoch, node_id, extra)


def encode_ok(rid: int, secret: bytes) -> bytes:
    return _RESP.pack(rid, OK) + secret


def encode_refused(rid: int, reason: str, detail: str) -> bytes:
    r = reason.encode()[:255]
    return _RESP.pack(rid, REFUSED) + bytes([len(r)]) + r + detail.encode()[:300]


def encode_unavailable(rid: int, detail: str) -> bytes:
    return _RESP.pack(rid, UNAVAILABLE) + detail.encode()[:300]


def decode_response(data: bytes) -> tuple[int, bytes | Exception]:
    """(request id, the body of an answer or the exception to raise). The body's shape
    depends on the op, which the asker checks (`SupervisorSignerClient`)."""
    if len(data) < _RESP.size:
        raise ChannelDecodeError("short response")
    rid, status = _RESP.unpack_from(data)
    body = data[_RESP.size :]
    if status == OK:
        return rid, body
    if status == REFUSED:
        if not body or len(body) < 1 + body[0]:
            raise ChannelDecodeError("bad refusal")
        n = body[0]
        reason = body[1 : 1 + n].decode(errors="replace")
        return rid, PolicyViolation(reason, body[1 + n :].decode(errors="replace"))
    if status == UNAVAILABLE:
        # The supervisor does not tell us which signer; 0 = "the node's signer".
        return rid, SignerUnavailable(0, body.decode(errors="replace"))
    raise ChannelDecodeError(f"unknown status {status}")


# --- worker side ------------------------------------------------------------------------------


class SupervisorSignerClient:
    """A worker's `SignerClient`: every request goes to the supervisor over the channel.

    Served: the wake path (`state_key`), `ecdh`, and the channel requests (`new_channel`,
    `channel_request`, encoded here and decoded by the signer); creating nodes and
    releasing identity secrets are the supervisor's business (it fills the key table)."""

    def __init__(self, fd: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self.timeout = timeout
        self._next = int.from_bytes(os.urandom(6), "big") << 8
        self._pending: dict[int, tuple[int, asyncio.Future[bytes]]] = {}
        self._reading = False

    @property
    def signer_id(self) -> int:
        return 0

    def _ensure_reader(self) -> None:
        if not self._reading:
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._readable)
            self._reading = True

    def _readable(self) -> None:
        while True:
            try:
                data = self._sock.recv(MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            try:
                rid, result = decode_response(data)
            except ChannelDecodeError as e:
                log.warning("event=channel_bad_response error=%s", e)
                continue
            pending = self._pending.pop(rid, None)
            if pending is None or pending[1].done():
                continue  # late, or addressed to a previous worker in this slot
            op, fut = pending
            if isinstance(result, Exception):
                fut.set_exception(result)
            elif op in (OP_STATE_KEY, OP_ECDH) and len(result) != 32:
                fut.set_exception(SignerUnavailable(0, "malformed answer: a secret is 32 bytes"))
            else:
                fut.set_result(result)

    async def _call(self, op: int, node_id: bytes, epoch: int, extra: bytes = b"") -> bytes:
        self._ensure_reader()
        self._next += 1
        req = ChannelRequest(self._next, op, epoch, node_id, extra)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[req.id] = (op, fut)
        try:
            self._sock.send(req.encode())
        except OSError as e:
            self._pending.pop(req.id, None)
            raise SignerUnavailable(0, f"supervisor channel: {type(e).__name__}") from None
        try:
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise SignerUnavailable(0, f"no answer in {self.timeout} s") from None
        finally:
            self._pending.pop(req.id, None)

    async def create_nodes(self, count: int) -> list[NodeGrant]:
        raise PolicyViolation("bad_request", "workers do not create nodes")

    async def identity_secrets(self, node_ids: list[bytes], epoch: int) -> list[bytes]:
        raise PolicyViolation("bad_request", "workers read identities from the key table")

    async def state_key(self, node_id: bytes, epoch: int) -> bytes:
        return await self._call(OP_STATE_KEY, node_id, epoch)

    async def ecdh(self, node_id: bytes, point: bytes, epoch: int) -> bytes:
        return await self._call(OP_ECDH, node_id, epoch, point)

    async def new_channel(self, node_id: bytes, epoch: int) -> tuple[int, LocalKeys]:
        body = await self._call(OP_NEW_CHANNEL, node_id, epoch)
        try:
            if len(body) < 4:
                raise DecodeError("short new_channel answer")
            return int.from_bytes(body[:4], "big"), signer_codec.decode_local_keys(body[4:])
        except DecodeError:
            raise SignerUnavailable(0, "malformed new_channel answer") from None

    async def channel_request(
        self, node_id: bytes, epoch: int, channel_index: int, request: io.SignerRequest
    ) -> io.SignerResult:
        data = signer_codec.encode_request(request)
        if len(data) > lp.MAX_CHANNEL_REQUEST:
            raise PolicyViolation("request_too_large", f"{len(data)} bytes")
        extra = channel_index.to_bytes(4, "big") + data
        body = await self._call(OP_CHANNEL_REQUEST, node_id, epoch, extra)
        try:
            return signer_codec.decode_result(body)
        except DecodeError:
            raise SignerUnavailable(0, "malformed channel result") from None


# --- supervisor side --------------------------------------------------------------------------

Resolver = Callable[[ChannelRequest], Awaitable[bytes]]


class ChannelServer:
    """The supervisor's end of every worker's channel: answers with `resolve`."""

    def __init__(self, socks: list[socket.socket], resolve: Resolver) -> None:
        self.socks = socks
        self.resolve = resolve
        self._tasks: set[asyncio.Task[None]] = set()
        for s in socks:
            s.setblocking(False)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for s in self.socks:
            loop.add_reader(s.fileno(), self._readable, s)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for s in self.socks:
            with contextlib.suppress(Exception):
                loop.remove_reader(s.fileno())
        for t in self._tasks:
            t.cancel()

    def _readable(self, s: socket.socket) -> None:
        while True:
            try:
                data = s.recv(MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            try:
                req = ChannelRequest.decode(data)
            except ChannelDecodeError as e:
                log.warning("event=channel_bad_request error=%s", e)
                continue
            task = asyncio.get_running_loop().create_task(self._answer(s, req))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, s: socket.socket, req: ChannelRequest) -> None:
        try:
            out = encode_ok(req.id, await self.resolve(req))
            if len(out) > MAX_PACKET:
                out = encode_unavailable(req.id, "answer too large")
        except PolicyViolation as v:
            out = encode_refused(req.id, v.reason, v.detail)
        except SignerUnavailable as e:
            out = encode_unavailable(req.id, e.detail)
        except Exception as e:  # a bug must not leave the worker waiting; no detail leaks
            log.error("event=channel_request_failed error=%s", type(e).__name__)
            out = encode_unavailable(req.id, "internal")
        try:
            s.send(out)
        except OSError as e:
            log.warning("event=channel_send_failed error=%s", type(e).__name__)


if TYPE_CHECKING:
    from vajra.runtime.signer_api import SignerClient

    _conforms: SignerClient = SupervisorSignerClient(-1)
