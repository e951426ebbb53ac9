"""Hypothesis strategies for every generated message, built from the `SCHEMA` tables."""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st

from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.wire import (
    MESSAGE_CLASSES,
    SUBTYPE_CLASSES,
    TLV_RECORD_CLASSES,
    TLV_STREAM_CLASSES,
    ExtensionTlvs,
    Message,
)
from vajra.wire.fieldgen import BYTE_TYPES, attr, fixed_size, length_fields
from vajra.wire.schema import (
    BIGSIZE,
    INT_TYPES,
    TRUNCATED_TYPES,
    Field,
    TlvRecordSchema,
    TlvStreamSchema,
)

# Valid points are expensive to find at random; a handful is enough for round-trips.
POINTS = [pubkey_from_secret(i.to_bytes(32, "big")) for i in range(1, 9)]

MAX_ITEMS = 4
MAX_BYTES = 80


def _int(type_name: str) -> st.SearchStrategy[int]:
    code, size = INT_TYPES[type_name]
    if code.islower():  # struct codes: lower case = signed
        return st.integers(-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1)
    return st.integers(0, (1 << (8 * size)) - 1)


def scalar(type_name: str) -> st.SearchStrategy[Any]:
    if type_name in INT_TYPES:
        return _int(type_name)
    if type_name in TRUNCATED_TYPES:
        return st.integers(0, (1 << (8 * TRUNCATED_TYPES[type_name])) - 1)
    if type_name == BIGSIZE:
        return st.integers(0, (1 << 64) - 1)
    if type_name == "point":
        return st.sampled_from(POINTS)
    size = fixed_size(type_name)
    if size is not None:
        return st.binary(min_size=size, max_size=size)
    return subtype(type_name)


def field_value(f: Field) -> st.SearchStrategy[Any]:
    if f.count is None:
        return scalar(f.type)
    if isinstance(f.count, int):
        lo = hi = f.count
    else:
        lo, hi = 0, MAX_BYTES if f.type in BYTE_TYPES else MAX_ITEMS
    if f.type in BYTE_TYPES:
        return st.binary(min_size=lo, max_size=hi)
    return st.lists(scalar(f.type), min_size=lo, max_size=hi).map(tuple)


def fields(fs: tuple[Field, ...]) -> dict[str, st.SearchStrategy[Any]]:
    skip = length_fields(fs)
    return {attr(f.name): field_value(f) for f in fs if f.name not in skip}


@cache
def subtype(name: str) -> st.SearchStrategy[Any]:
    cls = SUBTYPE_CLASSES[name]
    return st.builds(cls, **fields(cls.SCHEMA.fields))


def _record(stream: TlvStreamSchema, r: TlvRecordSchema) -> st.SearchStrategy[Any]:
    if not r.fields:
        return st.booleans()
    if len(r.fields) == 1:
        return st.none() | field_value(r.fields[0])
    cls = TLV_RECORD_CLASSES[(stream.name, r.name)]
    return st.none() | st.builds(cls, **fields(r.fields))


def unknown_records(known: frozenset[int]) -> st.SearchStrategy[tuple[tuple[int, bytes], ...]]:
    types = st.integers(0, (1 << 64) - 1).map(lambda t: t | 1).filter(lambda t: t not in known)
    recs = st.dictionaries(types, st.binary(max_size=20), max_size=3)
    return recs.map(lambda d: tuple(sorted(d.items())))


@cache
def tlv_stream(name: str) -> st.SearchStrategy[Any]:
    cls = TLV_STREAM_CLASSES[name]
    schema: TlvStreamSchema = cls.SCHEMA
    known = frozenset(r.type for r in schema.records)
    kw = {attr(r.name): _record(schema, r) for r in schema.records}
    return st.builds(cls, **kw, unknown=unknown_records(known))


@cache
def message(msg_type: int) -> st.SearchStrategy[Message]:
    cls = MESSAGE_CLASSES[msg_type]
    schema = cls.SCHEMA
    kw = fields(schema.fields)
    if schema.raw_extension:
        kw["extension"] = st.binary(max_size=40)
    elif schema.tlv_stream:
        kw["tlvs"] = tlv_stream(schema.tlv_stream)
    else:
        kw["tlvs"] = st.builds(ExtensionTlvs, unknown=unknown_records(frozenset()))
    return st.builds(cls, **kw)
