"""An established BOLT 8 session: message framing and a streaming decoder (sans-IO).

Wire format of one message (BOLT 8 "Lightning Message Specification"):

    lc = encryptWithAD(sk, sn, "", len(m) as 2 bytes big-endian)    18 bytes
    c  = encryptWithAD(sk, sn + 1, "", m)                           len(m) + 16 bytes

The decoder accepts the incoming stream in chunks of any size. It decrypts the 18-byte
length prefix as soon as it is complete, so a forged length is rejected before a byte
of the body is awaited or stored, and it only ever holds the bytes it was given and has
not yet returned: while the caller drains `next_message()` after each `receive_data()`,
that is at most one partial frame (< 65,569 bytes) plus the newest chunk, and
`max_buffer` caps it regardless.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.crypto.aead import AuthenticationError
from vajra.noise.cipher import CipherState
from vajra.noise.errors import FrameAuthError, MessageTooLarge, ReceiveBufferFull

MAX_MESSAGE_SIZE = 65535
"""BOLT 8: "The *maximum* size of _any_ Lightning message MUST NOT exceed `65535` bytes"."""
MAC_SIZE = 16
LENGTH_HEADER_SIZE = 2 + MAC_SIZE
MAX_FRAME_SIZE = LENGTH_HEADER_SIZE + MAX_MESSAGE_SIZE + MAC_SIZE  # 65569
DEFAULT_MAX_BUFFER = 1 << 20
"""Default cap on undrained input bytes held by one `Transport`."""

_AWAIT_HEADER = -1  # `_body_len` while the next bytes are a length prefix


@dataclass(frozen=True, slots=True)
class TransportState:
    """An established session as data (`Transport.export` / `Transport.restore`)."""

    send: tuple[bytes, bytes, int]
    """Sending direction: key, chaining key, nonce."""
    recv: tuple[bytes, bytes, int]
    """Receiving direction: key, chaining key, nonce."""
    buffered: bytes
    """Received bytes not yet returned as a message."""
    body_len: int
    """Length of the body being awaited, or -1 while awaiting a length prefix."""
    received: int
    """Messages returned so far."""

    def __repr__(self) -> str:  # never print keys
        return f"TransportState(buffered={len(self.buffered)}, received={self.received})"


class Transport:
    """Both directions of an established session: `encrypt` outgoing, decode incoming.

    Built by the handshake (`Initiator.read_act_two`, `Responder.read_act_three`) or, for
    tests, from the keys directly. After a `FrameAuthError` the receiving side is dead:
    every later `receive_data`/`next_message` raises again; the connection must close.
    """

    __slots__ = ("_body_len", "_buf", "_dead", "_max_buffer", "_received", "_recv", "_send")

    def __init__(
        self,
        send_key: bytes,
        recv_key: bytes,
        chaining_key: bytes,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        # BOLT 8: "rn = 0, sn = 0" and "rck = sck = ck".
        self._send = CipherState(send_key, chaining_key)
        self._recv = CipherState(recv_key, chaining_key)
        self._buf = bytearray()
        self._body_len = _AWAIT_HEADER
        self._max_buffer = max(max_buffer, MAX_FRAME_SIZE)
        self._received = 0
        self._dead: str | None = None

    # --- sending ------------------------------------------------------------------------

    def encrypt(self, msg: bytes) -> bytes:
        """The frame `lc || c` for one Lightning message; raise MessageTooLarge over 65535."""
        n = len(msg)
        if n > MAX_MESSAGE_SIZE:
            raise MessageTooLarge(f"message of {n} bytes exceeds {MAX_MESSAGE_SIZE}")
        send = self._send
        # BOLT 8: encrypt `l` with `sn` (then sn += 1), then `m` with the next nonce.
        return send.encrypt(n.to_bytes(2, "big")) + send.encrypt(msg)

    # --- receiving ----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the connection; checks a length prefix once complete.

        Raises FrameAuthError (length MAC) or ReceiveBufferFull (more than `max_buffer`
        undrained bytes); both are DecodeErrors.
        """
        if self._dead is not None:
            raise FrameAuthError(self._dead, self._received)
        buf = self._buf
        if len(buf) + len(data) > self._max_buffer:
            raise ReceiveBufferFull(
                f"{len(buf) + len(data)} undrained bytes exceed max_buffer={self._max_buffer}"
            )
        buf += data
        if self._body_len == _AWAIT_HEADER and len(buf) >= LENGTH_HEADER_SIZE:
            self._read_header()

    def next_message(self) -> bytes | None:
        """The next decrypted message, or None until more data arrives."""
        if self._dead is not None:
            raise FrameAuthError(self._dead, self._received)
        buf = self._buf
        if self._body_len == _AWAIT_HEADER:
            if len(buf) < LENGTH_HEADER_SIZE:
                return None
            self._read_header()
        # BOLT 8: "Read _exactly_ `l+16` bytes from the network buffer".
        end = self._body_len + MAC_SIZE
        if len(buf) < end:
            return None
        try:
            msg = self._recv.decrypt(buf[:end])
        except AuthenticationError:
            self._dead = "body"
            raise FrameAuthError("body", self._received) from None
        del buf[:end]
        self._body_len = _AWAIT_HEADER
        self._received += 1
        return msg

    def export(self) -> TransportState:
        """The session as plain data, to continue it in another process (the runtime
        hands a connection to the worker that owns its node). Secret: keys inside."""
        if self._dead is not None:
            raise FrameAuthError(self._dead, self._received)
        return TransportState(
            self._send.export(), self._recv.export(), bytes(self._buf), self._body_len,
            self._received,
        )  # fmt: skip

    @classmethod
    def restore(cls, st: TransportState, *, max_buffer: int = DEFAULT_MAX_BUFFER) -> Transport:
        """The inverse of `export`."""
        self = cls.__new__(cls)
        self._send = CipherState.restore(*st.send)
        self._recv = CipherState.restore(*st.recv)
        self._buf = bytearray(st.buffered)
        self._body_len = st.body_len
        self._max_buffer = max(max_buffer, MAX_FRAME_SIZE)
        self._received = st.received
        self._dead = None
        return self

    def compact(self) -> None:
        """Shrink an idle session to a few hundred bytes (e.g. while its node hibernates).

        Drops both cipher objects (about 2.3 KB of OpenSSL state each; rebuilt in about
        1 us on next use) and an empty receive buffer's spare capacity.
        """
        self._send.release()
        self._recv.release()
        if not self._buf:
            self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Input bytes held: received, not yet returned (a checked length prefix excluded)."""
        return len(self._buf)

    @property
    def messages_received(self) -> int:
        """Messages returned by `next_message` so far."""
        return self._received

    def _read_header(self) -> None:
        # BOLT 8: "Read _exactly_ 18 bytes", decrypt `lc` with `rn` to obtain `l`.
        buf = self._buf
        try:
            plain = self._recv.decrypt(buf[:LENGTH_HEADER_SIZE])
        except AuthenticationError:
            self._dead = "length"
            raise FrameAuthError("length", self._received) from None
        del buf[:LENGTH_HEADER_SIZE]
        self._body_len = int.from_bytes(plain, "big")

    def __repr__(self) -> str:  # never print keys
        return f"Transport(received={self._received}, buffered={self.buffered})"
