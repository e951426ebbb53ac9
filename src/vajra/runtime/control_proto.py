"""The worker <-> supervisor control channel's packets (pure; decision 0021).

One `SOCK_SEQPACKET` socket pair per worker, made by the supervisor, which keeps both
ends (as with the handover inboxes and signer channels): packets the supervisor sends to
a dead worker wait in the kernel buffer for its replacement. One packet is one message;
the first byte says which (big-endian fields):

    worker -> supervisor
      REQUEST  1 | id u64 | op u8 | node_index u32 | body
               op WATCH  purpose u8 | kind u8 (1 script, 2 outpoint) | data
                         (script: up to 10,000 bytes; outpoint: 36 bytes, txid | vout LE)
               op TIMER  height i64 | unix_time i64   (-1: not by that clock; both -1:
                         cancel)
               op ACK    upto_seq u64
               op BROADCAST raw_tx (serialized with witnesses, up to 10,000 bytes)
               op UNWATCH as WATCH: stop watching it (`Watch.drop`, decision 0029)
               op JUSTICE channel_index u32 | hint 16 | funding outpoint 36 | blob (a
                         sealed penalty kit, up to 10,000 bytes; `chain.justice_kit`,
                         decision 0026)
               op WALLET  (empty: make sure the node's wallet record exists)
      DONE     4 | push_id u64 | node_index u32 | ok u8     (a pushed wake finished)
      RESULT   6 | id u64 | ok u8 | JSON (ok: the call's answer; else {code, detail})
    supervisor -> worker
      RESPONSE 2 | id u64 | status u8 (0 ok, 1 error) | error: code_len u8 | code | detail
      WAKE     3 | push_id u64 | node_index u32 | reason u8 (1 chain, 2 timer)
               | tip_height i64 (-1: no tip) | tip_hash 32
      CALL     5 | id u64 | node_index u32 | height i64 (-1: no chain tip)
               | method_len u8 | method (ASCII) | JSON object   (a node call:
               `runtime/node_calls.py`; e.g. method "pay", decision 0023)

A worker's request ids start at a random value per process, so a response meant for
its dead predecessor is dropped; a WAKE for the predecessor is served by the replacement
(the wake is about the node, not the process). Malformed packets are
`ControlDecodeError` (a `DecodeError`), logged and dropped by the receiver.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from vajra.bitcoin.tx import OutPoint
from vajra.chain.types import BlockRef, Purpose
from vajra.errors import DecodeError
from vajra.node.effects import WakeAt, Watch

REQUEST, RESPONSE, WAKE, DONE, CALL, RESULT = 1, 2, 3, 4, 5, 6
OP_WATCH, OP_TIMER, OP_ACK = 1, 2, 3
OP_BROADCAST = 4
OP_UNWATCH = 5
OP_JUSTICE = 6
OP_WALLET = 7
KIND_SCRIPT, KIND_OUTPOINT = 1, 2
REASONS = {1: "chain", 2: "timer"}
REASON_CODES = {v: k for k, v in REASONS.items()}
MAX_SCRIPT = 10_000
"""Consensus limit on a script's size (MAX_SCRIPT_SIZE): no watchable output is longer."""
MAX_PACKET = 16 + MAX_SCRIPT + 64  # JUSTICE: 56 bytes of header fit in the 64

_REQ = struct.Struct(">BQBI")
_RESP = struct.Struct(">BQB")
_WAKE = struct.Struct(">BQIBq32s")
_DONE = struct.Struct(">BQIB")
_TIMER = struct.Struct(">qq")
_ACK = struct.Struct(">Q")
_CALL = struct.Struct(">BQIqB")
_RESULT = struct.Struct(">BQB")
_LEN = struct.Struct(">H")


class ControlDecodeError(DecodeError):
    """A malformed control packet."""


@dataclass(frozen=True, slots=True)
class BroadcastTx:
    """The body of an OP_BROADCAST request."""

    raw_tx: bytes


@dataclass(frozen=True, slots=True)
class JusticeBlob:
    """The body of an OP_JUSTICE request: a sealed penalty kit of the node's channel."""

    channel_index: int
    hint: bytes
    funding: bytes
    """The channel's funding outpoint, 36-byte wire form (the kits go once it is spent
    deep)."""
    blob: bytes


_JUSTICE = struct.Struct(">I16s36s")


@dataclass(frozen=True, slots=True)
class EnsureWallet:
    """The body of an OP_WALLET request: the supervisor's wallet service creates the
    node's wallet record if it has none (account xpub from the signer, addresses
    registered with the watcher), so the node can pay its close to its own wallet."""


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    node_index: int
    body: Watch | WakeAt | int | BroadcastTx | JusticeBlob | EnsureWallet
    """A `Watch`, a `WakeAt`, the `upto_seq` of an ACK, a `BroadcastTx`, a `JusticeBlob`
    or `EnsureWallet`."""

    def encode(self) -> bytes:
        b = self.body
        if isinstance(b, Watch):
            if (b.script_pubkey is None) == (b.outpoint is None):
                raise ValueError("a Watch names exactly one of script_pubkey / outpoint")
            if b.script_pubkey is not None:
                kind, data = KIND_SCRIPT, b.script_pubkey
            else:
                assert b.outpoint is not None
                kind, data = KIND_OUTPOINT, b.outpoint.serialize()
            body = bytes((int(b.purpose), kind)) + data
            op = OP_UNWATCH if b.drop else OP_WATCH
        elif isinstance(b, WakeAt):
            h = -1 if b.height is None else b.height
            t = -1 if b.unix_time is None else b.unix_time
            body, op = _TIMER.pack(h, t), OP_TIMER
        elif isinstance(b, BroadcastTx):
            if not 0 < len(b.raw_tx) <= MAX_SCRIPT:
                raise ValueError("a broadcast carries 1 to 10,000 bytes")
            body, op = b.raw_tx, OP_BROADCAST
        elif isinstance(b, JusticeBlob):
            if len(b.hint) != 16 or len(b.funding) != 36 or not 0 < len(b.blob) <= MAX_SCRIPT:
                raise ValueError("a justice kit is a 16-byte hint, an outpoint, 1-10,000 bytes")
            body = _JUSTICE.pack(b.channel_index, b.hint, b.funding) + b.blob
            op = OP_JUSTICE
        elif isinstance(b, EnsureWallet):
            body, op = b"", OP_WALLET
        else:
            body, op = _ACK.pack(b), OP_ACK
        return _REQ.pack(REQUEST, self.id, op, self.node_index) + body

    @classmethod
    def decode(cls, data: bytes) -> Request:
        if len(data) < _REQ.size or len(data) > MAX_PACKET:
            raise ControlDecodeError("bad request length")
        _, rid, op, index = _REQ.unpack_from(data)
        body = data[_REQ.size :]
        if op in (OP_WATCH, OP_UNWATCH):
            return cls(rid, index, _watch(body, drop=op == OP_UNWATCH))
        if op == OP_TIMER:
            if len(body) != _TIMER.size:
                raise ControlDecodeError("bad timer body")
            h, t = _TIMER.unpack(body)
            if h < -1 or t < -1:
                raise ControlDecodeError("negative deadline")
            return cls(rid, index, WakeAt(None if h < 0 else h, None if t < 0 else t))
        if op == OP_ACK:
            if len(body) != _ACK.size:
                raise ControlDecodeError("bad ack body")
            return cls(rid, index, _ACK.unpack(body)[0])
        if op == OP_BROADCAST:
            if not 0 < len(body) <= MAX_SCRIPT:
                raise ControlDecodeError("bad broadcast body")
            return cls(rid, index, BroadcastTx(body))
        if op == OP_JUSTICE:
            if not _JUSTICE.size < len(body) <= _JUSTICE.size + MAX_SCRIPT:
                raise ControlDecodeError("bad justice body")
            channel, hint, funding = _JUSTICE.unpack_from(body)
            return cls(rid, index, JusticeBlob(channel, hint, funding, body[_JUSTICE.size :]))
        if op == OP_WALLET:
            if body:
                raise ControlDecodeError("bad wallet body")
            return cls(rid, index, EnsureWallet())
        raise ControlDecodeError(f"unknown op {op}")


def _watch(body: bytes, *, drop: bool) -> Watch:
    if len(body) < 2:
        raise ControlDecodeError("short watch body")
    try:
        purpose = Purpose(body[0])
    except ValueError:
        raise ControlDecodeError(f"unknown purpose {body[0]}") from None
    data = body[2:]
    if body[1] == KIND_SCRIPT and 0 < len(data) <= MAX_SCRIPT:
        return Watch(purpose, script_pubkey=data, drop=drop)
    if body[1] == KIND_OUTPOINT and len(data) == 36:
        op = OutPoint(data[:32], int.from_bytes(data[32:], "little"))
        return Watch(purpose, outpoint=op, drop=drop)
    raise ControlDecodeError("bad watch kind or data")


def encode_ok(rid: int) -> bytes:
    return _RESP.pack(RESPONSE, rid, 0)


def encode_error(rid: int, code: str, detail: str) -> bytes:
    c = code.encode()[:255]
    return _RESP.pack(RESPONSE, rid, 1) + bytes([len(c)]) + c + detail.encode()[:300]


def decode_response(data: bytes) -> tuple[int, tuple[str, str] | None]:
    """(request id, None on success or (code, detail))."""
    if len(data) < _RESP.size:
        raise ControlDecodeError("short response")
    _, rid, status = _RESP.unpack_from(data)
    body = data[_RESP.size :]
    if status == 0:
        return rid, None
    if status != 1 or not body or len(body) < 1 + body[0]:
        raise ControlDecodeError("bad error response")
    n = body[0]
    return rid, (body[1 : 1 + n].decode(errors="replace"), body[1 + n :].decode(errors="replace"))


@dataclass(frozen=True, slots=True)
class WakePush:
    push_id: int
    node_index: int
    reason: str
    tip: BlockRef | None

    def encode(self) -> bytes:
        h, bh = (-1, bytes(32)) if self.tip is None else (self.tip.height, self.tip.block_hash)
        return _WAKE.pack(WAKE, self.push_id, self.node_index, REASON_CODES[self.reason], h, bh)

    @classmethod
    def decode(cls, data: bytes) -> WakePush:
        if len(data) != _WAKE.size:
            raise ControlDecodeError("bad wake length")
        _, pid, index, reason, h, bh = _WAKE.unpack(data)
        if reason not in REASONS:
            raise ControlDecodeError(f"unknown wake reason {reason}")
        return cls(pid, index, REASONS[reason], None if h < 0 else BlockRef(h, bh))


@dataclass(frozen=True, slots=True)
class Done:
    push_id: int
    node_index: int
    ok: bool

    def encode(self) -> bytes:
        return _DONE.pack(DONE, self.push_id, self.node_index, int(self.ok))

    @classmethod
    def decode(cls, data: bytes) -> Done:
        if len(data) != _DONE.size:
            raise ControlDecodeError("bad done length")
        _, pid, index, ok = _DONE.unpack(data)
        return cls(pid, index, bool(ok))


@dataclass(frozen=True, slots=True)
class CallPush:
    """The supervisor asks the node's worker to run node call `method` with `body`
    (`runtime/node_calls.py`); `height` is the chain tip (-1: none)."""

    id: int
    node_index: int
    height: int
    method: str
    body: dict[str, object]

    def encode(self) -> bytes:
        """Raises `ValueError` when the method or body does not fit one packet."""
        method = self.method.encode("ascii")
        if not 0 < len(method) <= 0xFF:
            raise ValueError("method name empty or too long")
        packet = _CALL.pack(CALL, self.id, self.node_index, self.height, len(method))
        packet += method + json.dumps(self.body, separators=(",", ":")).encode()
        if len(packet) > MAX_PACKET:
            raise ValueError(f"call {self.method!r} does not fit a control packet")
        return packet

    @classmethod
    def decode(cls, data: bytes) -> CallPush:
        if len(data) > MAX_PACKET:
            raise ControlDecodeError("call packet too long")
        try:
            _, rid, index, height, n = _CALL.unpack_from(data)
        except struct.error:
            raise ControlDecodeError("short call packet") from None
        at = _CALL.size
        raw = data[at : at + n]
        if len(raw) != n or n == 0:
            raise ControlDecodeError("short call packet")
        try:
            method = raw.decode("ascii")
            body = json.loads(data[at + n :])
        except ValueError:
            raise ControlDecodeError("call method not ASCII or body not JSON") from None
        if not isinstance(body, dict):
            raise ControlDecodeError("call body is not a JSON object")
        return cls(rid, index, height, method, body)


def encode_result(rid: int, ok: bool, body: dict[str, object]) -> bytes:
    """The worker's answer to a `CallPush`: the call's answer, or {code, detail}. An
    answer too large for one packet becomes the error `result_too_large`."""
    out = _RESULT.pack(RESULT, rid, int(ok)) + json.dumps(body, separators=(",", ":")).encode()
    if len(out) > MAX_PACKET:
        err = {"code": "result_too_large", "detail": f"{len(out)} bytes"}
        out = _RESULT.pack(RESULT, rid, 0) + json.dumps(err).encode()
    return out


def decode_result(data: bytes) -> tuple[int, bool, dict[str, object]]:
    """(request id, ok, body) of a RESULT packet."""
    if len(data) < _RESULT.size:
        raise ControlDecodeError("short result packet")
    _, rid, ok = _RESULT.unpack_from(data)
    try:
        body = json.loads(data[_RESULT.size :])
    except ValueError:
        raise ControlDecodeError("result body is not JSON") from None
    if not isinstance(body, dict) or ok > 1:
        raise ControlDecodeError("bad result packet")
    return rid, bool(ok), body
