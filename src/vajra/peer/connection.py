"""One peer connection, sans-IO: the BOLT 8 handshake, then the BOLT 1 session.

Theory of operation
-------------------
The owner (an asyncio protocol, a test loop, the runtime's hibernation responder) moves
bytes and time and nothing else:

    conn = PeerConnection.responder(static_key, config, now)      # or .initiator(...)
    conn.receive_data(bytes_from_socket, now)
    socket.write(conn.data_to_send())
    while (ev := conn.next_event()) is not None: ...
    conn.handle_timer(now) once `now >= conn.get_timer()`

Rules of this file, in the manner of h11's `_state.py`:

1. Every state change happens through `_TRANSITIONS`: a table from (state, input kind)
   to a handler. An input kind missing for a state is illegal there and becomes a
   `ProtocolError` that names the state and the message.
2. The code does not know which role it plays after the handshake: both sides send
   `init` first (BOLT 1: "MUST send `init` as the first Lightning message for any
   connection") and then run the same table.
3. Peer input never raises out of `receive_data`. A broken rule becomes, in order: a
   BOLT 1 `warning` queued for the peer (when the transport still works and the rule is
   not a handshake rule: BOLT 8 says to abort silently), state CLOSED, and a
   `ConnectionClosed` event carrying the typed error.

States:  AWAIT_ACT_ONE | AWAIT_ACT_TWO -> AWAIT_ACT_THREE (responder) -> AWAIT_INIT
         -> ACTIVE -> CLOSED.  `ping`/`pong`/`warning`/`error` are handled here; every
         other known message is passed up as `MessageReceived`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from vajra.errors import DecodeError, ProtocolError, VajraError
from vajra.noise import (
    ACT_ONE_SIZE,
    ACT_THREE_SIZE,
    ACT_TWO_SIZE,
    Initiator,
    Responder,
    StaticKey,
    Transport,
    TransportError,
    TransportState,
)
from vajra.peer.events import (
    ConnectionClosed,
    ErrorReceived,
    Event,
    HandshakeCompleted,
    InitReceived,
    MessageReceived,
    PongReceived,
    WarningReceived,
)
from vajra.peer.limits import PingLimiter, SessionConfig
from vajra.wire import (
    ErrorMessage,
    Init,
    InitTlvs,
    Message,
    Ping,
    Pong,
    UnknownMessage,
    WarningMessage,
    decode_message,
    encode_message,
)
from vajra.wire import features as feat

ALL_CHANNELS = bytes(32)
# BOLT 1: a ping with num_pong_bytes >= 65532 "MUST" be ignored (no pong fits).
NO_PONG_THRESHOLD = 65532


@dataclass(frozen=True, slots=True)
class SessionState:
    """An active session as plain data (`export_session` / `resume`). Holds keys."""

    remote_pubkey: bytes
    remote_features: frozenset[int]
    transport: TransportState
    pending: tuple[bytes, ...]
    """Decrypted messages received but not yet handled by the owner, encoded, in order."""

    def __repr__(self) -> str:  # never print keys
        return f"SessionState(remote={self.remote_pubkey.hex()}, pending={len(self.pending)})"


class State(enum.Enum):
    AWAIT_ACT_ONE = "await_act_one"
    AWAIT_ACT_TWO = "await_act_two"
    AWAIT_ACT_THREE = "await_act_three"
    AWAIT_INIT = "await_init"
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class _Input:
    kind: str
    message: Message | None = None
    raw: bytes = b""


Handler = Callable[["PeerConnection", _Input, float], None]


class PeerConnection:
    """A BOLT 8 + BOLT 1 connection to one peer. Create with `initiator` or `responder`."""

    __slots__ = (
        "_deadline",
        "_events",
        "_hs",
        "_inbuf",
        "_out",
        "_ping_limiter",
        "_pings",
        "_transport",
        "config",
        "errors_sent",
        "local",
        "pongs_sent",
        "remote_features",
        "remote_pubkey",
        "state",
        "warnings_sent",
    )

    def __init__(self, local: StaticKey, config: SessionConfig, now: float) -> None:
        self.local = local
        self.config = config
        self.state = State.CLOSED
        self.remote_pubkey: bytes | None = None
        self.remote_features: frozenset[int] = frozenset()
        self.pongs_sent = 0
        """Pings this session answered (its owner counts them for metrics)."""
        self.warnings_sent = 0
        """BOLT 1 `warning`s sent on this session (ours and the owner's)."""
        self.errors_sent = 0
        """BOLT 1 `error`s sent on this session."""
        self._hs: Initiator | Responder | None = None
        self._transport: Transport | None = None
        self._inbuf = bytearray()
        self._out: list[bytes] = []
        # Lists, not deques: both stay a few entries long, and an empty deque costs 600+
        # bytes -- twice that per idle session is a third of a hibernating session's size.
        self._events: list[Event] = []
        self._pings: list[tuple[int, float]] = []  # (num_pong_bytes, sent at)
        self._ping_limiter = PingLimiter(config, now)
        # One deadline at a time: handshake+init completion, then the oldest ping's pong.
        self._deadline: float | None = now + config.handshake_timeout

    # --- construction -----------------------------------------------------------------

    @classmethod
    def initiator(
        cls,
        local: StaticKey,
        remote_pubkey: bytes,
        config: SessionConfig,
        now: float,
        *,
        ephemeral: bytes | None = None,
    ) -> PeerConnection:
        """Dial side: queues act one at once."""
        self = cls(local, config, now)
        hs = Initiator(local, remote_pubkey, ephemeral=ephemeral)
        self._hs = hs
        self.remote_pubkey = remote_pubkey
        self.state = State.AWAIT_ACT_TWO
        self._out.append(hs.act_one())
        return self

    @classmethod
    def responder(
        cls,
        local: StaticKey,
        config: SessionConfig,
        now: float,
        *,
        ephemeral: bytes | None = None,
    ) -> PeerConnection:
        """Accept side: waits for act one."""
        self = cls(local, config, now)
        self._hs = Responder(local, ephemeral=ephemeral)
        self.state = State.AWAIT_ACT_ONE
        return self

    # --- the owner's interface --------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the socket. Never raises on peer input."""
        if self.state is State.CLOSED or not data:
            return
        try:
            if self._transport is None:
                self._inbuf += data
                self._drive_handshake(now)
                if self._transport is None or not self._inbuf:
                    return
                data, self._inbuf = bytes(self._inbuf), bytearray()
            self._transport.receive_data(data)
            while not self.closed:
                plain = self._transport.next_message()
                if plain is None:
                    break
                self._dispatch(self._classify(plain), now)
        except VajraError as exc:
            self._fail(exc)

    def data_to_send(self) -> bytes:
        """Bytes to write to the socket (empty if none)."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    def send(self, msg: Message, now: float) -> None:
        """Send a message. BOLT 1: nothing but `init` before the peer's `init` arrived."""
        if self.state is not State.ACTIVE:
            raise ProtocolError(
                "cannot send before init exchange", state=self.state.value, message=msg.NAME
            )
        if isinstance(msg, Ping):
            self._pings.append((msg.num_pong_bytes, now))
            self._arm_pong_deadline()
        self._send(msg)

    def ping(self, now: float, num_pong_bytes: int = 0) -> None:
        self.send(Ping(num_pong_bytes=num_pong_bytes, ignored=b""), now)

    def close(self, reason: str = "local") -> None:
        if self.state is not State.CLOSED:
            self._close(reason, None)

    def get_timer(self) -> float | None:
        return None if self.state is State.CLOSED else self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self.state is State.CLOSED:
            return
        if self.state is State.ACTIVE:
            # BOLT 1: no pong -> "MAY close the network connection, and MUST NOT fail
            # the channels in this case" -- so a plain close, no `error`.
            self._close("timeout", ProtocolError("no pong in time", state="active"))
        else:
            self._close(
                "timeout",
                ProtocolError("handshake/init not completed in time", state=self.state.value),
            )

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def transport(self) -> Transport | None:
        return self._transport

    # --- moving a session to another process -------------------------------------------

    def export_session(self, first: Message | None = None) -> SessionState:
        """The active session as data, for the owner to continue it elsewhere; this
        object is closed (without a `ConnectionClosed` event) and must not be used again.

        `first`: a message the owner already took from `next_event` but wants the new
        owner to see first. Messages still queued as events travel along, in order.
        Requires ACTIVE, nothing unsent (`data_to_send()` drained) and no ping of ours
        awaiting its pong.
        """
        if self.state is not State.ACTIVE or self._transport is None:
            raise ProtocolError("only an active session can move", state=self.state.value)
        if self._out or self._pings:
            raise ProtocolError("session has unsent data or pings in flight", state="active")
        pending = [] if first is None else [encode_message(first)]
        pending += [
            encode_message(e.message) for e in self._events if isinstance(e, MessageReceived)
        ]
        assert self.remote_pubkey is not None
        st = SessionState(
            self.remote_pubkey, self.remote_features, self._transport.export(), tuple(pending),
        )  # fmt: skip
        self.state = State.CLOSED
        self._deadline = None
        self._events.clear()
        self._transport = None
        return st

    @classmethod
    def resume(
        cls, local: StaticKey, config: SessionConfig, st: SessionState, now: float
    ) -> PeerConnection:
        """Continue a session exported by `export_session` (its pending messages come out
        of `next_event` first)."""
        self = cls(local, config, now)
        self._hs = None
        self.remote_pubkey = st.remote_pubkey
        self.remote_features = _interned(st.remote_features)
        self._transport = Transport.restore(st.transport)
        self.state = State.ACTIVE
        self._deadline = None
        try:
            for raw in st.pending:
                self._dispatch(self._classify(raw), now)
        except VajraError as exc:
            self._fail(exc)
        return self

    # --- handshake ----------------------------------------------------------------------

    def _drive_handshake(self, now: float) -> None:
        hs, buf = self._hs, self._inbuf
        if self.state is State.AWAIT_ACT_ONE and len(buf) >= ACT_ONE_SIZE:
            assert isinstance(hs, Responder)
            self._out.append(hs.read_act_one(bytes(buf[:ACT_ONE_SIZE])))
            del buf[:ACT_ONE_SIZE]
            self.state = State.AWAIT_ACT_THREE
        if self.state is State.AWAIT_ACT_THREE and len(buf) >= ACT_THREE_SIZE:
            assert isinstance(hs, Responder)
            remote, transport = hs.read_act_three(bytes(buf[:ACT_THREE_SIZE]))
            del buf[:ACT_THREE_SIZE]
            self.remote_pubkey = remote
            self._established(transport)
        elif self.state is State.AWAIT_ACT_TWO and len(buf) >= ACT_TWO_SIZE:
            assert isinstance(hs, Initiator)
            act3, transport = hs.read_act_two(bytes(buf[:ACT_TWO_SIZE]))
            del buf[:ACT_TWO_SIZE]
            self._out.append(act3)
            self._established(transport)

    def _established(self, transport: Transport) -> None:
        self._transport = transport
        self._hs = None
        self.state = State.AWAIT_INIT
        assert self.remote_pubkey is not None
        self._events.append(HandshakeCompleted(self.remote_pubkey))
        cfg = self.config
        tlvs = InitTlvs(networks=(cfg.chain_hash,), remote_addr=cfg.remote_addr)
        self._send(Init(globalfeatures=b"", features=cfg.features, tlvs=tlvs))

    # --- the BOLT 1 table ---------------------------------------------------------------

    @staticmethod
    def _classify(plain: bytes) -> _Input:
        msg = decode_message(plain)  # DecodeError (incl. unknown even type) -> _fail
        if isinstance(msg, UnknownMessage):
            return _Input("unknown_odd", msg, plain)
        kind = _KIND_BY_TYPE.get(type(msg), "message")
        return _Input(kind, msg, plain)

    def _dispatch(self, inp: _Input, now: float) -> None:
        handler = _TRANSITIONS.get((self.state, inp.kind))
        if handler is None:
            name = inp.message.NAME if inp.message is not None else inp.kind
            raise ProtocolError(
                "message not allowed in this state", state=self.state.value, message=name
            )
        handler(self, inp, now)

    def _on_init(self, inp: _Input, now: float) -> None:
        msg = inp.message
        assert isinstance(msg, Init)
        # BOLT 1: "MUST combine (bitwise OR) the two feature bitmaps"; unknown even bits
        # or missing transitive dependencies -> "MUST close the connection".
        bits = feat.combine_init(msg.globalfeatures, msg.features)
        feat.check_peer_features(bits)
        networks = msg.tlvs.networks
        # BOLT 1: "upon receiving `networks` containing no common chains: MAY close".
        if networks is not None and self.config.chain_hash not in networks:
            raise ProtocolError("no common chain in networks", state="await_init", message="init")
        self.remote_features = _interned(bits)
        self.state = State.ACTIVE
        self._deadline = None
        self._events.append(InitReceived(bits, networks, msg.tlvs.remote_addr))

    def _on_ping(self, inp: _Input, now: float) -> None:
        msg = inp.message
        assert isinstance(msg, Ping)
        if not self._ping_limiter.allow(now):
            raise ProtocolError("ping flood", state="active", message="ping")
        # BOLT 1: num_pong_bytes < 65532 -> "MUST respond ... with byteslen equal to
        # num_pong_bytes"; otherwise "MUST ignore the ping".
        if msg.num_pong_bytes < NO_PONG_THRESHOLD:
            self._send_raw(_pong_bytes(msg.num_pong_bytes))
            self.pongs_sent += 1

    def _on_pong(self, inp: _Input, now: float) -> None:
        msg = inp.message
        assert isinstance(msg, Pong)
        n = len(msg.ignored)
        # BOLT 1: byteslen matching no ping we sent -> "MAY close the connection".
        for i, (want, sent_at) in enumerate(self._pings):
            if want == n:
                del self._pings[i]
                self._arm_pong_deadline()
                self._events.append(PongReceived(n, now - sent_at))
                return
        raise ProtocolError("unsolicited pong", state=self.state.value, message="pong")

    def _on_warning(self, inp: _Input, now: float) -> None:
        msg = inp.message
        assert isinstance(msg, WarningMessage)
        self._events.append(WarningReceived(msg.channel_id, msg.data))

    def _on_error(self, inp: _Input, now: float) -> None:
        msg = inp.message
        assert isinstance(msg, ErrorMessage)
        self._events.append(ErrorReceived(msg.channel_id, msg.data))
        if msg.channel_id == ALL_CHANNELS or self.state is State.AWAIT_INIT:
            # All channels failed (or none could ever open): nothing left to talk about.
            self._close("peer_error", None)

    def _on_message(self, inp: _Input, now: float) -> None:
        assert inp.message is not None
        self._events.append(MessageReceived(inp.message))

    def _ignore(self, inp: _Input, now: float) -> None:
        """BOLT 1: "upon receiving a message of odd, unknown type: MUST ignore"."""

    # --- output and failure -------------------------------------------------------------

    def _send(self, msg: Message) -> None:
        if isinstance(msg, WarningMessage):
            self.warnings_sent += 1
        elif isinstance(msg, ErrorMessage):
            self.errors_sent += 1
        self._send_raw(encode_message(msg))

    def _send_raw(self, plain: bytes) -> None:
        assert self._transport is not None
        self._out.append(self._transport.encrypt(plain))

    def _arm_pong_deadline(self) -> None:
        self._deadline = self._pings[0][1] + self.config.pong_timeout if self._pings else None

    def _fail(self, exc: VajraError) -> None:
        # A handshake failure gets no reply (BOLT 8: "MUST abort the connection attempt");
        # a broken frame MAC leaves no trustworthy stream to answer on. Anything else is
        # a BOLT 1 violation we explain with a `warning` before closing.
        if self._transport is not None and not self.closed and not isinstance(exc, TransportError):
            text = str(exc).encode("ascii", "replace")[:200]
            self._send(WarningMessage(channel_id=ALL_CHANNELS, data=text))
        reason = "protocol" if isinstance(exc, ProtocolError | DecodeError) else "error"
        if self._transport is None:
            reason = "handshake"
        self._close(reason, exc)

    def _close(self, reason: str, exc: VajraError | None) -> None:
        self.state = State.CLOSED
        self._deadline = None
        self._hs = None
        self._inbuf.clear()
        self._events.append(ConnectionClosed(reason, exc))


_KIND_BY_TYPE: dict[type[Message], str] = {
    Init: "init",
    Ping: "ping",
    Pong: "pong",
    WarningMessage: "warning",
    ErrorMessage: "error",
}

_S = State
_TRANSITIONS: dict[tuple[State, str], Handler] = {
    # BOLT 1: the first message MUST be `init`; before it only warnings/errors make
    # sense (a peer refusing our features says why, then closes).
    (_S.AWAIT_INIT, "init"): PeerConnection._on_init,
    (_S.AWAIT_INIT, "warning"): PeerConnection._on_warning,
    (_S.AWAIT_INIT, "error"): PeerConnection._on_error,
    (_S.ACTIVE, "ping"): PeerConnection._on_ping,
    (_S.ACTIVE, "pong"): PeerConnection._on_pong,
    (_S.ACTIVE, "warning"): PeerConnection._on_warning,
    (_S.ACTIVE, "error"): PeerConnection._on_error,
    (_S.ACTIVE, "message"): PeerConnection._on_message,
    (_S.ACTIVE, "unknown_odd"): PeerConnection._ignore,
    # A second `init` on one connection is illegal (no entry for (ACTIVE, "init")).
}

_PONGS: dict[int, bytes] = {}
_FEATURE_SETS: dict[frozenset[int], frozenset[int]] = {}


def _interned(bits: frozenset[int]) -> frozenset[int]:
    """One shared object per distinct feature set: a set costs ~700 bytes, and a host of
    many sessions sees the same few sets from most peers (bounded cache)."""
    got = _FEATURE_SETS.get(bits)
    if got is not None:
        return got
    if len(_FEATURE_SETS) < 256:
        _FEATURE_SETS[bits] = bits
    return bits


def _pong_bytes(n: int) -> bytes:
    """Encoded `pong` with n zero bytes (BOLT 1: "SHOULD set `ignored` to 0s"); cached."""
    b = _PONGS.get(n)
    if b is None:
        b = encode_message(Pong(ignored=bytes(n)))
        if len(_PONGS) < 64:
            _PONGS[n] = b
    return b
