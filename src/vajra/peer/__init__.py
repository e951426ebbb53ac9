"""A peer connection, sans-IO: BOLT 8 handshake then the BOLT 1 session (init, ping/pong,
warning/error, unknown-message rules). See `connection` for the theory of operation."""

from vajra.peer.connection import PeerConnection, SessionState, State
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
from vajra.peer.limits import SessionConfig

__all__ = [
    "ConnectionClosed",
    "ErrorReceived",
    "Event",
    "HandshakeCompleted",
    "InitReceived",
    "MessageReceived",
    "PeerConnection",
    "PongReceived",
    "SessionConfig",
    "SessionState",
    "State",
    "WarningReceived",
]
