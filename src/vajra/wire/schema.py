"""The spec's message, subtype and TLV definitions as plain data.

`specgen` parses the BOLT markdown into these records and writes them (with the code
derived from them) into `_generated.py`; every generated class points at its record
through a `SCHEMA` class attribute, so tests and tools can walk the wire format
without re-reading the spec.

A field is written in the spec as ``[`count*type`:`name`]``; here that is
`Field(name, type, count)` where `count` is None for a single value, an int for a
fixed-size array (``32*byte``), the name of an earlier length field (``len*byte``) or
`REST` for "the rest of the TLV record" (``...*byte``).
"""

from __future__ import annotations

from dataclasses import dataclass

REST = "..."

# BOLT 1 "Fundamental Types": name -> (struct code, size). `u8` appears once in BOLT 2
# (`stfu.initiator`); it is not listed in BOLT 1 and is read as `byte`.
INT_TYPES: dict[str, tuple[str, int]] = {
    "byte": ("B", 1),
    "u8": ("B", 1),
    "u16": ("H", 2),
    "u32": ("I", 4),
    "u64": ("Q", 8),
    "s8": ("b", 1),
    "s16": ("h", 2),
    "s32": ("i", 4),
    "s64": ("q", 8),
    # BOLT 7 "Definition of short_channel_id": an 8-byte big-endian value built from
    # block height, transaction index and output index, so an integer.
    "short_channel_id": ("Q", 8),
}

# Fixed-size byte strings (BOLT 1 "convenience types").
BYTES_TYPES: dict[str, int] = {
    "chain_hash": 32,
    "channel_id": 32,
    "sha256": 32,
    "signature": 64,
    "bip340sig": 64,
    "point": 33,
}

# BOLT 1: "tu16: a 0 to 2 byte truncated unsigned integer" etc.; maximum byte width.
TRUNCATED_TYPES: dict[str, int] = {"tu16": 2, "tu32": 4, "tu64": 8}

BIGSIZE = "bigsize"


def truncated_bytes_size(type_name: str) -> int | None:
    """Size of ``sha256[..4]`` style types (a fixed type cut to its first N bytes)."""
    if "[.." in type_name and type_name.endswith("]"):
        base, _, rest = type_name.partition("[..")
        if base in BYTES_TYPES and rest[:-1].isdigit():
            return int(rest[:-1])
    return None


@dataclass(frozen=True, slots=True)
class Field:
    """One ``[`count*type`:`name`]`` line of a spec data block."""

    name: str
    type: str
    count: int | str | None = None


@dataclass(frozen=True, slots=True)
class SubtypeSchema:
    """A ``1. subtype:`` block: a named struct used inside messages or TLV records."""

    name: str
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class TlvRecordSchema:
    """One ``type: N (`name`)`` entry of a TLV stream; no fields means presence only."""

    type: int
    name: str
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class TlvStreamSchema:
    """A ``1. `tlv_stream`:`` block."""

    name: str
    records: tuple[TlvRecordSchema, ...]


@dataclass(frozen=True, slots=True)
class MessageSchema:
    """A ``1. type: N (`name`)`` message block.

    `tlv_stream` names the stream that forms the message's extension, if the spec
    defines one; `raw_extension` marks the signed gossip messages whose trailing bytes
    are kept verbatim instead (see `specgen.RAW_EXTENSION`).
    """

    type: int
    name: str
    fields: tuple[Field, ...]
    tlv_stream: str | None
    raw_extension: bool
    source: str
