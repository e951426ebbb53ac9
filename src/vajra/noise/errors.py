"""Typed errors of the BOLT 8 transport: handshake failures and framing failures."""

from __future__ import annotations

from vajra.errors import DecodeError, ProtocolError, VajraError


class HandshakeError(ProtocolError, DecodeError):
    """A handshake act was refused; the connection MUST be terminated (BOLT 8).

    Both a `ProtocolError` and a `DecodeError`, so either edge handler catches it.
    `act` is 1, 2 or 3 and `code` is the BOLT 8 Appendix A name of the failure
    (`ACT1_BAD_VERSION`, `ACT3_BAD_TAG`, ...), so tests compare it with the vectors.
    """

    kind = "FAILED"

    def __init__(self, act: int, detail: str, *, state: str | None = None) -> None:
        self.act = act
        self.code = f"ACT{act}_{self.kind}"
        super().__init__(f"{self.code}: {detail}", state=state, message=f"act{act}")


class HandshakeReadError(HandshakeError):
    """The act is not exactly 50 (act one/two) or 66 (act three) bytes."""

    kind = "READ_FAILED"


class HandshakeVersionError(HandshakeError):
    """BOLT 8: "If `v` is an unrecognized handshake version, ... MUST abort"."""

    kind = "BAD_VERSION"


class HandshakeKeyError(HandshakeError):
    """An ephemeral or static key that is not a valid compressed secp256k1 point."""

    kind = "BAD_PUBKEY"


class HandshakeCiphertextError(HandshakeError):
    """Act three: the MAC of the encrypted static key failed."""

    kind = "BAD_CIPHERTEXT"


class HandshakeMacError(HandshakeError):
    """The final MAC of an act failed (e.g. act one: the initiator does not know our key)."""

    kind = "BAD_TAG"


class HandshakeStateError(HandshakeError):
    """A handshake method called out of order, or after the handshake failed or finished.

    A caller bug rather than peer input, still typed so an edge handler can close cleanly.
    """

    kind = "BAD_STATE"


class TransportError(VajraError):
    """Base of the errors raised after the handshake, by `Transport`."""


class FrameAuthError(TransportError, DecodeError):
    """A frame's length prefix or body failed its MAC; the stream is dead from here on.

    `part` is "length" or "body"; `index` counts the messages received before this one.
    """

    def __init__(self, part: str, index: int) -> None:
        self.part = part
        self.index = index
        super().__init__(f"bad MAC on the {part} of message {index}")


class ReceiveBufferFull(TransportError, DecodeError):
    """More undrained input than the decoder's bound; call `next_message()` between reads."""


class MessageTooLarge(TransportError, ValueError):
    """BOLT 8: "The *maximum* size of _any_ Lightning message MUST NOT exceed 65535 bytes"."""
