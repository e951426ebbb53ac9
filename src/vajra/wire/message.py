"""The base of every message class, and the stand-in for messages we do not know.

The concrete classes (one frozen, slotted dataclass per spec message) are generated
into `_generated.py`; this module is what they share and what callers type against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vajra.wire.errors import EncodeError
from vajra.wire.schema import MessageSchema, SubtypeSchema


class Message:
    """A BOLT message. `TYPE` is its 2-byte type, `NAME` the spec's name for it.

    Generated classes also carry `SCHEMA`, the spec definition they were made from.
    """

    __slots__ = ()

    TYPE: ClassVar[int]
    NAME: ClassVar[str]
    SCHEMA: ClassVar[MessageSchema]

    def encode(self) -> bytes:
        """The message on the wire: 2-byte type, payload, extension."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class UnknownMessage(Message):
    """A message of unknown odd type. BOLT 1: the receiver "MUST ignore" it.

    Kept whole so custom-message handlers (and relays) can still see it.
    """

    type: int
    """The 2-byte message type (odd when decoded from a peer)."""
    payload: bytes
    """Everything after the type."""

    NAME: ClassVar[str] = "unknown"

    def encode(self) -> bytes:
        if not 0 <= self.type <= 0xFFFF:
            raise EncodeError(f"message type out of range: {self.type}")
        return self.type.to_bytes(2, "big") + self.payload


class Subtype:
    """Base of the generated BOLT `subtype` classes (`witness`, ...)."""

    __slots__ = ()

    SCHEMA: ClassVar[SubtypeSchema]
