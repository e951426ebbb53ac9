"""Read message, subtype and TLV definitions out of the BOLT markdown.

The spec writes every wire structure in one of three block shapes::

    1. type: 258 (`channel_update`)        1. `tlv_stream`: `init_tlvs`     1. subtype: `witness`
    2. data:                               2. types:                        2. data:
       * [`signature`:`signature`]            1. type: 1 (`networks`)          * [`u16`:`len`]
       ...                                    2. data:                         ...
                                                 * [`...*chain_hash`:`chains`]

This module turns those blocks into `schema` records and checks that every type they
mention is known; it reads text only (no imports of generated code), so the generator
can run on a checkout whose `_generated.py` is missing or stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vajra.wire.schema import (
    BIGSIZE,
    BYTES_TYPES,
    INT_TYPES,
    REST,
    TRUNCATED_TYPES,
    Field,
    MessageSchema,
    SubtypeSchema,
    TlvRecordSchema,
    TlvStreamSchema,
    truncated_bytes_size,
)

# Which files to read, and (for BOLT 4) which messages in them: 04 also uses the
# `1. type:` shape for onion failure codes and the onion packet, which are not messages.
SOURCES: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("01-messaging.md", None),
    ("02-peer-protocol.md", None),
    ("07-routing-gossip.md", None),
    ("04-onion-routing.md", frozenset({"onion_message"})),
)

# BOLT 7 defines no TLV extension for these and requires signatures to cover "any future
# fields appended to the end" (channel_announcement, node_announcement) / "unknown fields
# following fee_proportional_millionths" (channel_update): their trailing bytes are kept
# verbatim and not parsed as TLV.
RAW_EXTENSION = frozenset({"channel_announcement", "node_announcement", "channel_update"})

_MSG = re.compile(r"^1\. type: (\d+) \(`(\w+)`\)")
_STREAM = re.compile(r"^1\. `tlv_stream`: `(\w+)`")
_SUBTYPE = re.compile(r"^1\. subtype: `(\w+)`")
_RECORD = re.compile(r"^\s+1\. type: (\d+) \(`(\w+)`\)")
_FIELD = re.compile(r"^\s*\* \[`([^`]+)`:`(\w+)`\]\s*$")
_DATA = re.compile(r"^\s*2\. (data|types):\s*$")


class SpecError(Exception):
    """The spec text does not have the shape the generator understands."""


@dataclass
class Spec:
    """Everything parsed from the sources, in spec order."""

    messages: list[MessageSchema]
    streams: dict[str, TlvStreamSchema]
    subtypes: dict[str, SubtypeSchema]


def _field(type_text: str, name: str, where: str) -> Field:
    if "*" not in type_text:
        return Field(name, type_text)
    count_text, _, elem = type_text.partition("*")
    count: int | str = int(count_text) if count_text.isdigit() else count_text
    if count_text == REST:
        count = REST
    elif not isinstance(count, int) and not count.isidentifier():
        raise SpecError(f"{where}: bad array count {count_text!r}")
    return Field(name, elem, count)


def _fields(lines: list[str], i: int, where: str) -> tuple[tuple[Field, ...], int]:
    """Read `* [...]` lines starting at `i`; return the fields and the next line index."""
    out: list[Field] = []
    while i < len(lines):
        m = _FIELD.match(lines[i])
        if not m:
            break
        out.append(_field(m.group(1), m.group(2), where))
        i += 1
    return tuple(out), i


def parse_file(text: str, source: str, only: frozenset[str] | None) -> Spec:
    lines = text.splitlines()
    spec = Spec([], {}, {})
    raw_messages: list[tuple[int, str, tuple[Field, ...]]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _MSG.match(line):
            num, name = int(m.group(1)), m.group(2)
            if (only is None or name in only) and i + 1 < len(lines) and _DATA.match(lines[i + 1]):
                fields, i = _fields(lines, i + 2, f"{source}:{name}")
                raw_messages.append((num, name, fields))
                continue
        elif (m := _STREAM.match(line)) and only is None:
            name = m.group(1)
            records: list[TlvRecordSchema] = []
            i += 2  # "2. types:"
            while i < len(lines) and (r := _RECORD.match(lines[i])):
                rfields: tuple[Field, ...] = ()
                i += 1
                if i < len(lines) and _DATA.match(lines[i]):
                    rfields, i = _fields(lines, i + 1, f"{source}:{name}.{r.group(2)}")
                records.append(TlvRecordSchema(int(r.group(1)), r.group(2), rfields))
            spec.streams[name] = TlvStreamSchema(name, tuple(records))
            continue
        elif (m := _SUBTYPE.match(line)) and only is None:
            fields, i = _fields(lines, i + 2, f"{source}:{m.group(1)}")
            spec.subtypes[m.group(1)] = SubtypeSchema(m.group(1), fields)
            continue
        i += 1
    for num, name, fields in raw_messages:
        spec.messages.append(_message(num, name, fields, spec.streams, source))
    return spec


def _message(
    num: int, name: str, fields: tuple[Field, ...], streams: dict[str, TlvStreamSchema], source: str
) -> MessageSchema:
    stream: str | None = None
    if fields and fields[-1].type in streams:
        stream, fields = fields[-1].type, fields[:-1]
    elif f"{name}_tlvs" in streams:
        # BOLT 2 defines `update_add_htlc_tlvs`, `channel_reestablish_tlvs`, ... right
        # after the message without listing `[..._tlvs:tlvs]` in its data; the name is
        # the link.
        stream = f"{name}_tlvs"
    raw = name in RAW_EXTENSION
    if raw and stream:
        raise SpecError(f"{name}: has a TLV stream but is listed in RAW_EXTENSION")
    return MessageSchema(num, name, fields, stream, raw, source)


def load(spec_dir: Path) -> Spec:
    """Parse every source file and check the result is self-consistent."""
    spec = Spec([], {}, {})
    for filename, only in SOURCES:
        part = parse_file((spec_dir / filename).read_text(encoding="utf-8"), filename, only)
        spec.messages.extend(part.messages)
        for name, stream in part.streams.items():
            if name in spec.streams and spec.streams[name] != stream:
                raise SpecError(f"TLV stream {name} defined twice, differently")
            spec.streams[name] = stream
        spec.subtypes.update(part.subtypes)
    _check(spec)
    return spec


def is_fixed_elem(type_name: str, subtypes: dict[str, SubtypeSchema]) -> bool:
    return (
        type_name in INT_TYPES
        or type_name in BYTES_TYPES
        or truncated_bytes_size(type_name) is not None
        or type_name in subtypes
        or type_name == BIGSIZE
    )


def _check_fields(fields: tuple[Field, ...], where: str, spec: Spec, in_record: bool) -> None:
    seen: dict[str, Field] = {}
    for idx, f in enumerate(fields):
        last = idx == len(fields) - 1
        if f.type in TRUNCATED_TYPES:
            # BOLT 1: truncated integers are "for the final value in TLV records".
            if not (in_record and last and f.count is None):
                raise SpecError(f"{where}.{f.name}: {f.type} must be the last field of a record")
        elif not is_fixed_elem(f.type, spec.subtypes):
            raise SpecError(f"{where}.{f.name}: unknown type {f.type}")
        if f.count == REST and not (in_record and last):
            raise SpecError(f"{where}.{f.name}: '...' must be the last field of a record")
        if isinstance(f.count, str) and f.count != REST:
            ref = seen.get(f.count)
            if ref is None or ref.type not in INT_TYPES or ref.count is not None:
                raise SpecError(f"{where}.{f.name}: length {f.count} is not an earlier integer")
            if any(g.count == f.count for g in fields[:idx]):
                raise SpecError(f"{where}.{f.name}: length {f.count} used twice")
        if f.name in seen:
            raise SpecError(f"{where}: field {f.name} twice")
        seen[f.name] = f


def _check(spec: Spec) -> None:
    types = [m.type for m in spec.messages]
    if len(types) != len(set(types)):
        raise SpecError("message type number used twice")
    for m in spec.messages:
        _check_fields(m.fields, m.name, spec, in_record=False)
    for s in spec.subtypes.values():
        _check_fields(s.fields, s.name, spec, in_record=False)
    for st in spec.streams.values():
        nums = [r.type for r in st.records]
        if nums != sorted(set(nums)):
            raise SpecError(f"{st.name}: record types not strictly increasing")
        for r in st.records:
            _check_fields(r.fields, f"{st.name}.{r.name}", spec, in_record=True)
