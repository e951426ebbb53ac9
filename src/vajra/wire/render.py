"""JSON rendering of decoded messages, for `vajra decode` and logs.

Bytes become lowercase hex, nested TLV streams and subtypes become objects, amounts
stay integers. The message's spec name is under `type_name`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vajra.wire.message import Message, UnknownMessage


def to_jsonable(value: object) -> Any:
    """Plain JSON types for a decoded value (dataclasses, tuples, bytes, ints)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not _empty_tlvs(f.name, getattr(value, f.name))
        }
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(v) for v in value)
    return value


def _empty_tlvs(name: str, value: object) -> bool:
    # Unknown-record lists that are empty add noise; everything else is shown.
    return name == "unknown" and value == ()


def message_to_json(msg: Message) -> dict[str, Any]:
    if isinstance(msg, UnknownMessage):
        return {"type": msg.type, "type_name": "unknown", "payload": msg.payload.hex()}
    body = to_jsonable(msg)
    assert isinstance(body, dict)
    return {"type": msg.TYPE, "type_name": msg.NAME, **body}
