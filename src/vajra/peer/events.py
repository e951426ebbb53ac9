"""What a `PeerConnection` reports to its owner: one small frozen class per event."""

from __future__ import annotations

from dataclasses import dataclass

from vajra.errors import VajraError
from vajra.wire import Message


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """BOLT 8 finished; the remote node's identity is now authenticated."""

    remote_pubkey: bytes
    """The peer's 33-byte static public key (its node id)."""


@dataclass(frozen=True, slots=True)
class InitReceived:
    """The peer's `init` passed the BOLT 1 checks; the session is active."""

    features: frozenset[int]
    """Feature bits of `globalfeatures | features` (BOLT 1: "MUST combine")."""
    networks: tuple[bytes, ...] | None
    """Chains the peer is interested in, or None if it did not say."""
    remote_addr: bytes | None
    """The address descriptor the peer sees us at, if it sent one (not validated)."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A message this layer does not handle itself (everything above BOLT 1 control)."""

    message: Message


@dataclass(frozen=True, slots=True)
class PongReceived:
    """A `pong` answering one of our pings."""

    byteslen: int
    """Its length, which matched an outstanding ping's `num_pong_bytes`."""
    rtt: float
    """Seconds since that ping was sent (by the `now` values passed in)."""


@dataclass(frozen=True, slots=True)
class WarningReceived:
    """A BOLT 1 `warning`. The spec: "SHOULD log the message for later diagnosis"."""

    channel_id: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    """A BOLT 1 `error`: the channel it names (all channels if all-zero) MUST be failed."""

    channel_id: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over; whatever is still in `data_to_send()` should be flushed."""

    reason: str
    """Short machine-readable cause: `local`, `protocol`, `transport`, `timeout`, ..."""
    error: VajraError | None = None
    """The typed error that caused it, if any."""


Event = (
    HandshakeCompleted
    | InitReceived
    | MessageReceived
    | PongReceived
    | WarningReceived
    | ErrorReceived
    | ConnectionClosed
)
