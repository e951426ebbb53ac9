"""BOLT 8 encrypted and authenticated transport, sans-IO: handshake, framing, key rotation.

Start at `handshake` (its docstring is the theory of operation); `Transport` carries the
session once the handshake is done.
"""

from vajra.noise.cipher import CipherState
from vajra.noise.errors import (
    FrameAuthError,
    HandshakeCiphertextError,
    HandshakeError,
    HandshakeKeyError,
    HandshakeMacError,
    HandshakeReadError,
    HandshakeStateError,
    HandshakeVersionError,
    MessageTooLarge,
    ReceiveBufferFull,
    TransportError,
)
from vajra.noise.handshake import (
    ACT_ONE_SIZE,
    ACT_THREE_SIZE,
    ACT_TWO_SIZE,
    Initiator,
    Responder,
    StaticKey,
)
from vajra.noise.transport import MAX_MESSAGE_SIZE, Transport, TransportState

__all__ = [
    "ACT_ONE_SIZE",
    "ACT_THREE_SIZE",
    "ACT_TWO_SIZE",
    "MAX_MESSAGE_SIZE",
    "CipherState",
    "FrameAuthError",
    "HandshakeCiphertextError",
    "HandshakeError",
    "HandshakeKeyError",
    "HandshakeMacError",
    "HandshakeReadError",
    "HandshakeStateError",
    "HandshakeVersionError",
    "Initiator",
    "MessageTooLarge",
    "ReceiveBufferFull",
    "Responder",
    "StaticKey",
    "Transport",
    "TransportError",
    "TransportState",
]
