"""Why a message or TLV stream failed to decode (or a message object failed to encode).

Every class is a `vajra.errors.DecodeError` (or `VajraError` for encoding), so an edge
that catches `DecodeError` handles all of them; the subclasses let the peer layer pick
the BOLT 1 reaction (close the connection, send a warning, ignore).
"""

from __future__ import annotations

from vajra.errors import DecodeError, VajraError


class Truncated(DecodeError):
    """BOLT 1: "a known message with insufficient length for the contents"."""


class NonCanonical(DecodeError):
    """A BigSize or truncated integer that is not minimally encoded (BOLT 1)."""


class TlvError(DecodeError):
    """A TLV stream that BOLT 1 says the reader "MUST fail to parse"."""


class TlvOrderError(TlvError):
    """BOLT 1: decoded `type`s are not strictly increasing (includes duplicates)."""


class TlvLengthError(TlvError):
    """BOLT 1: `length` overruns the stream or differs from the known encoding's size."""


class UnknownEvenTlv(TlvError):
    """BOLT 1: an unknown even `type` in a TLV stream ("MUST fail to parse")."""

    def __init__(self, tlv_type: int, stream: str):
        self.tlv_type = tlv_type
        self.stream = stream
        super().__init__(f"unknown even TLV type {tlv_type} in {stream}")


class UnknownEvenMessage(DecodeError):
    """BOLT 1: a message of unknown even type ("MUST close the connection")."""

    def __init__(self, msg_type: int):
        self.msg_type = msg_type
        super().__init__(f"unknown even message type {msg_type}")


class InvalidValue(DecodeError):
    """A field whose bytes are well-formed in length but not a valid value."""


class EncodeError(VajraError, ValueError):
    """A message object that cannot be put on the wire (wrong sizes, out-of-range ints).

    This is a bug in the caller, not in a peer; it is a `ValueError` too so that code
    building messages from user input can treat it like any other bad argument.
    """
