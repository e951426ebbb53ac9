"""BOLT 4 failure messages (`failuremsg`): every defined `failure_code`, one codec.

A failure message is a 2-byte `failure_code`, the fields its code defines, then an
optional TLV stream (BOLT 4 "Failure Messages"). `FailureMessage` holds any of them: the
code, the fields its code uses (others None), the TLV records, and for a code we do not
know the raw `data` after the code. The field layout of each known code is one row of
`LAYOUTS`, so encoder and decoder cannot disagree.

Decoding follows the origin node's rules ("Receiving Failure Codes"): "MUST ignore any
extra bytes in `failuremsg`", so a tail that is not a TLV stream is kept in `extra` and
fields missing at the end (older senders) are left None; only a message shorter than its
2-byte code fails (`FailureDecodeError`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vajra.errors import DecodeError
from vajra.onion.errors import (
    BADONION,
    INVALID_ONION_HMAC,
    INVALID_ONION_KEY,
    INVALID_ONION_VERSION,
    NODE,
    PERM,
    UPDATE,
    FailureDecodeError,
)
from vajra.wire.errors import EncodeError
from vajra.wire.primitives import encode_bigsize, read_bigsize
from vajra.wire.tlv import UnknownRecords, encode_records, iter_records

TEMPORARY_NODE_FAILURE = NODE | 2
PERMANENT_NODE_FAILURE = PERM | NODE | 2
REQUIRED_NODE_FEATURE_MISSING = PERM | NODE | 3
TEMPORARY_CHANNEL_FAILURE = UPDATE | 7
PERMANENT_CHANNEL_FAILURE = PERM | 8
REQUIRED_CHANNEL_FEATURE_MISSING = PERM | 9
UNKNOWN_NEXT_PEER = PERM | 10
AMOUNT_BELOW_MINIMUM = UPDATE | 11
FEE_INSUFFICIENT = UPDATE | 12
INCORRECT_CLTV_EXPIRY = UPDATE | 13
EXPIRY_TOO_SOON = UPDATE | 14
INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS = PERM | 15
FINAL_INCORRECT_CLTV_EXPIRY = 18
FINAL_INCORRECT_HTLC_AMOUNT = 19
CHANNEL_DISABLED = UPDATE | 20
EXPIRY_TOO_FAR = 21
INVALID_ONION_PAYLOAD = PERM | 22
MPP_TIMEOUT = 23
INVALID_ONION_BLINDING = BADONION | PERM | 24

# Field kinds: sha256 (32 bytes), u16, u32, u64, bigsize, update (`u16 len || channel_update`).
LAYOUTS: dict[int, tuple[str, tuple[tuple[str, str], ...]]] = {
    TEMPORARY_NODE_FAILURE: ("temporary_node_failure", ()),
    PERMANENT_NODE_FAILURE: ("permanent_node_failure", ()),
    REQUIRED_NODE_FEATURE_MISSING: ("required_node_feature_missing", ()),
    INVALID_ONION_VERSION: ("invalid_onion_version", (("sha256_of_onion", "sha256"),)),
    INVALID_ONION_HMAC: ("invalid_onion_hmac", (("sha256_of_onion", "sha256"),)),
    INVALID_ONION_KEY: ("invalid_onion_key", (("sha256_of_onion", "sha256"),)),
    TEMPORARY_CHANNEL_FAILURE: ("temporary_channel_failure", (("channel_update", "update"),)),
    PERMANENT_CHANNEL_FAILURE: ("permanent_channel_failure", ()),
    REQUIRED_CHANNEL_FEATURE_MISSING: ("required_channel_feature_missing", ()),
    UNKNOWN_NEXT_PEER: ("unknown_next_peer", ()),
    AMOUNT_BELOW_MINIMUM: (
        "amount_below_minimum",
        (("htlc_msat", "u64"), ("channel_update", "update")),
    ),
    FEE_INSUFFICIENT: ("fee_insufficient", (("htlc_msat", "u64"), ("channel_update", "update"))),
    INCORRECT_CLTV_EXPIRY: (
        "incorrect_cltv_expiry",
        (("cltv_expiry", "u32"), ("channel_update", "update")),
    ),
    EXPIRY_TOO_SOON: ("expiry_too_soon", (("channel_update", "update"),)),
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: (
        "incorrect_or_unknown_payment_details",
        (("htlc_msat", "u64"), ("height", "u32")),
    ),
    FINAL_INCORRECT_CLTV_EXPIRY: ("final_incorrect_cltv_expiry", (("cltv_expiry", "u32"),)),
    FINAL_INCORRECT_HTLC_AMOUNT: (
        "final_incorrect_htlc_amount",
        (("incoming_htlc_amt", "u64"),),
    ),
    CHANNEL_DISABLED: (
        "channel_disabled",
        (("disabled_flags", "u16"), ("channel_update", "update")),
    ),
    EXPIRY_TOO_FAR: ("expiry_too_far", ()),
    # `type` and `offset` are optional: "the erring node MAY include that `type` and its
    # byte `offset`" when it can narrow the failure down.
    INVALID_ONION_PAYLOAD: ("invalid_onion_payload", (("tlv_type", "bigsize"), ("offset", "u16"))),
    MPP_TIMEOUT: ("mpp_timeout", ()),
    INVALID_ONION_BLINDING: ("invalid_onion_blinding", (("sha256_of_onion", "sha256"),)),
}
NAMES = {name: code for code, (name, _) in LAYOUTS.items()}

_INT_WIDTH = {"u16": 2, "u32": 4, "u64": 8}
_U16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class FailureMessage:
    """A decoded or to-be-encoded `failuremsg`. Amounts in msat, heights in blocks.

    `tlvs`: the optional TLV stream after the fields; `data`: the bytes after the code of
    an unknown code; `extra`: trailing bytes that were not a TLV stream (decode only)."""

    code: int
    sha256_of_onion: bytes | None = None
    htlc_msat: int | None = None
    cltv_expiry: int | None = None
    height: int | None = None
    incoming_htlc_amt: int | None = None
    disabled_flags: int | None = None
    channel_update: bytes | None = None
    tlv_type: int | None = None
    offset: int | None = None
    tlvs: UnknownRecords = ()
    data: bytes = b""
    extra: bytes = b""

    @property
    def name(self) -> str:
        known = LAYOUTS.get(self.code)
        return known[0] if known else f"unknown_failure_{self.code:#06x}"

    @property
    def is_badonion(self) -> bool:
        return bool(self.code & BADONION)

    @property
    def is_perm(self) -> bool:
        return bool(self.code & PERM)

    @property
    def is_node(self) -> bool:
        return bool(self.code & NODE)

    @property
    def is_update(self) -> bool:
        return bool(self.code & UPDATE)

    def encode(self) -> bytes:
        """`failure_code || fields || tlvs`. Raises `EncodeError` for a missing field
        (except the optional pair of `invalid_onion_payload`) or an out-of-range value."""
        if not 0 <= self.code <= 0xFFFF:
            raise EncodeError(f"failure_code out of range: {self.code}")
        out = [_U16.pack(self.code)]
        layout = LAYOUTS.get(self.code)
        if layout is None:
            out.append(self.data)
        elif self.code == INVALID_ONION_PAYLOAD and self.tlv_type is None:
            pass  # no type narrowed down: no data
        else:
            for attr, kind in layout[1]:
                out.append(_encode_field(attr, kind, getattr(self, attr)))
        out.append(encode_records([], self.tlvs, frozenset()))
        out.append(self.extra)
        return b"".join(out)

    @classmethod
    def decode(cls, msg: bytes) -> FailureMessage:
        """Decode a `failuremsg`; raises `FailureDecodeError` only if it has no code."""
        if len(msg) < 2:
            raise FailureDecodeError(f"failure message of {len(msg)} bytes has no code")
        (code,) = _U16.unpack_from(msg, 0)
        layout = LAYOUTS.get(code)
        if layout is None:
            return cls(code, data=msg[2:])
        fields: dict[str, int | bytes] = {}
        p = 2
        for attr, kind in layout[1]:
            got = _decode_field(kind, msg, p)
            if got is None:  # truncated: leave this and later fields None
                p = len(msg)
                break
            fields[attr], p = got
        tail = msg[p:]
        tlvs: UnknownRecords = ()
        extra = b""
        if tail:
            try:
                tlvs = tuple((t, tail[s:e]) for t, s, e in iter_records(tail, 0, len(tail)))
            except DecodeError:
                extra = tail  # "MUST ignore any extra bytes in `failuremsg`"
        return cls(code, tlvs=tlvs, extra=extra, **fields)  # type: ignore[arg-type]


def _encode_field(attr: str, kind: str, value: object) -> bytes:
    if value is None:
        raise EncodeError(f"failure field {attr} is missing")
    if kind == "sha256":
        if not isinstance(value, bytes) or len(value) != 32:
            raise EncodeError(f"{attr} must be 32 bytes")
        return value
    if kind == "update":
        if not isinstance(value, bytes) or len(value) > 0xFFFF:
            raise EncodeError(f"{attr} must be bytes of at most 65535")
        return _U16.pack(len(value)) + value
    if not isinstance(value, int):
        raise EncodeError(f"{attr} must be an integer")
    if kind == "bigsize":
        return encode_bigsize(value)
    width = _INT_WIDTH[kind]
    if not 0 <= value < 1 << (8 * width):
        raise EncodeError(f"{attr} out of range: {value}")
    return value.to_bytes(width, "big")


def _decode_field(kind: str, b: bytes, p: int) -> tuple[int | bytes, int] | None:
    n = len(b)
    if kind == "sha256":
        return (b[p : p + 32], p + 32) if p + 32 <= n else None
    if kind == "update":
        if p + 2 > n:
            return None
        (length,) = _U16.unpack_from(b, p)
        return (b[p + 2 : p + 2 + length], p + 2 + length) if p + 2 + length <= n else None
    if kind == "bigsize":
        try:
            return read_bigsize(b, p, n)
        except DecodeError:
            return None
    width = _INT_WIDTH[kind]
    return (int.from_bytes(b[p : p + width], "big"), p + width) if p + width <= n else None


# --- the failures a final node and a non-routing node send ------------------------------


def incorrect_or_unknown_payment_details(htlc_msat: int, height: int) -> FailureMessage:
    """PERM|15: unknown hash, wrong secret, amount too low or too high, CLTV too near,
    missing `payment_metadata`. `height`: our best block height when the HTLC came."""
    return FailureMessage(INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, htlc_msat=htlc_msat, height=height)


def final_incorrect_cltv_expiry(cltv_expiry: int) -> FailureMessage:
    """18: the HTLC's `cltv_expiry` is below the onion's `outgoing_cltv_value`."""
    return FailureMessage(FINAL_INCORRECT_CLTV_EXPIRY, cltv_expiry=cltv_expiry)


def final_incorrect_htlc_amount(incoming_htlc_amt: int) -> FailureMessage:
    """19: the HTLC's `amount_msat` is below the onion's `amt_to_forward`."""
    return FailureMessage(FINAL_INCORRECT_HTLC_AMOUNT, incoming_htlc_amt=incoming_htlc_amt)


def invalid_onion_payload(tlv_type: int | None, offset: int = 0) -> FailureMessage:
    """PERM|22, with the offending TLV `type` and byte `offset` when known."""
    if tlv_type is None:
        return FailureMessage(INVALID_ONION_PAYLOAD)
    return FailureMessage(INVALID_ONION_PAYLOAD, tlv_type=tlv_type, offset=min(offset, 0xFFFF))


def simple(code: int) -> FailureMessage:
    """A failure with no fields: `temporary_node_failure`, `permanent_node_failure`,
    `unknown_next_peer`, `mpp_timeout`, `permanent_channel_failure`, ..."""
    layout = LAYOUTS.get(code)
    if layout is None or layout[1]:
        raise EncodeError(f"failure code {code:#06x} is not a field-less failure")
    return FailureMessage(code)


def temporary_channel_failure(channel_update: bytes = b"") -> FailureMessage:
    """UPDATE|7; `channel_update` is optional now ("nodes ... set the `len` field to zero")."""
    return FailureMessage(TEMPORARY_CHANNEL_FAILURE, channel_update=channel_update)


def bad_onion(code: int, sha256_of_onion: bytes) -> FailureMessage:
    """BADONION failures (`invalid_onion_version/hmac/key/blinding`) with the onion's hash."""
    return FailureMessage(code, sha256_of_onion=sha256_of_onion)
