"""BOLT 4 `payload` TLV stream (the per-hop `tlv_payload`): codec and reader rules.

`HopPayload.decode` applies the BOLT 1 stream rules (minimal BigSize, strictly increasing
types, lengths within the stream, unknown even type -> fail) and the per-record encodings,
raising `InvalidOnionPayload` with the offending `type` and its byte offset: the erring
node returns exactly that in `invalid_onion_payload` (BOLT 4 "Failure Messages").
`check_reader_rules` adds the "The reader" requirements that depend on the hop's position
(required records for a forwarding or final hop; route blinding is not supported).

Records (BOLT 4 "`payload` format"): 2 `amt_to_forward` (tu64 msat), 4
`outgoing_cltv_value` (tu32 block height), 6 `short_channel_id`, 8 `payment_data`
(`payment_secret` 32 bytes + `total_msat` tu64), 10 `encrypted_recipient_data`, 12
`current_path_key` (point), 16 `payment_metadata`, 18 `total_amount_msat` (tu64), and the
keysend extension 5482373484 (`keysend_preimage`, 32 bytes; an even type because a
receiver that does not know keysend must not accept the HTLC).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from vajra.errors import DecodeError
from vajra.onion.errors import InvalidOnionPayload
from vajra.wire.errors import EncodeError
from vajra.wire.primitives import (
    check_point,
    encode_truncated,
    read_bigsize,
    read_truncated,
)
from vajra.wire.tlv import UnknownRecords, encode_records

AMT_TO_FORWARD = 2
OUTGOING_CLTV_VALUE = 4
SHORT_CHANNEL_ID = 6
PAYMENT_DATA = 8
ENCRYPTED_RECIPIENT_DATA = 10
CURRENT_PATH_KEY = 12
PAYMENT_METADATA = 16
TOTAL_AMOUNT_MSAT = 18
KEYSEND_PREIMAGE = 5482373484

_T = TypeVar("_T")

KNOWN_TYPES = frozenset(
    {
        AMT_TO_FORWARD,
        OUTGOING_CLTV_VALUE,
        SHORT_CHANNEL_ID,
        PAYMENT_DATA,
        ENCRYPTED_RECIPIENT_DATA,
        CURRENT_PATH_KEY,
        PAYMENT_METADATA,
        TOTAL_AMOUNT_MSAT,
        KEYSEND_PREIMAGE,
    }
)


@dataclass(frozen=True, slots=True)
class PaymentData:
    """`payment_data`: the invoice's `payment_secret` (32 bytes) and `total_msat`."""

    payment_secret: bytes
    total_msat: int


@dataclass(frozen=True, slots=True)
class HopPayload:
    """One hop's decoded `payload`; None means the record is absent. Amounts in msat."""

    amt_to_forward: int | None = None
    outgoing_cltv_value: int | None = None
    short_channel_id: int | None = None
    payment_data: PaymentData | None = None
    encrypted_recipient_data: bytes | None = None
    current_path_key: bytes | None = None
    payment_metadata: bytes | None = None
    total_amount_msat: int | None = None
    keysend_preimage: bytes | None = None
    unknown: UnknownRecords = ()

    @property
    def total_msat(self) -> int | None:
        """BOLT 4: the final node "MUST treat `total_msat` as if it were equal to
        `amt_to_forward` if it is not present"."""
        if self.payment_data is not None:
            return self.payment_data.total_msat
        if self.total_amount_msat is not None:
            return self.total_amount_msat
        return self.amt_to_forward

    def encode(self) -> bytes:
        """The TLV stream (without the hop's BigSize length prefix). Raises `EncodeError`
        for out-of-range values."""
        known: list[tuple[int, bytes]] = []
        if self.amt_to_forward is not None:
            known.append((AMT_TO_FORWARD, encode_truncated(self.amt_to_forward, 8)))
        if self.outgoing_cltv_value is not None:
            known.append((OUTGOING_CLTV_VALUE, encode_truncated(self.outgoing_cltv_value, 4)))
        if self.short_channel_id is not None:
            known.append((SHORT_CHANNEL_ID, _u64(self.short_channel_id)))
        if self.payment_data is not None:
            pd = self.payment_data
            known.append(
                (PAYMENT_DATA, _fixed(pd.payment_secret, 32) + encode_truncated(pd.total_msat, 8))
            )
        if self.encrypted_recipient_data is not None:
            known.append((ENCRYPTED_RECIPIENT_DATA, self.encrypted_recipient_data))
        if self.current_path_key is not None:
            known.append((CURRENT_PATH_KEY, _fixed(self.current_path_key, 33)))
        if self.payment_metadata is not None:
            known.append((PAYMENT_METADATA, self.payment_metadata))
        if self.total_amount_msat is not None:
            known.append((TOTAL_AMOUNT_MSAT, encode_truncated(self.total_amount_msat, 8)))
        if self.keysend_preimage is not None:
            known.append((KEYSEND_PREIMAGE, _fixed(self.keysend_preimage, 32)))
        return encode_records(known, self.unknown, KNOWN_TYPES)

    @classmethod
    def decode(cls, data: bytes) -> HopPayload:
        """Decode a whole `payload` stream; raises `InvalidOnionPayload` only."""
        records: dict[int, tuple[int, int, int]] = {}  # type -> (record start, value span)
        unknown: list[tuple[int, bytes]] = []
        p, end, last = 0, len(data), -1
        while p < end:
            start = p
            try:
                t, p = read_bigsize(data, p, end)
            except DecodeError as e:
                raise InvalidOnionPayload(f"record type: {e}", None, start) from None
            if t <= last:  # BOLT 1: types strictly increasing, else MUST fail
                raise InvalidOnionPayload(f"type {t} after {last}", t, start)
            last = t
            try:
                length, p = read_bigsize(data, p, end)
            except DecodeError as e:
                raise InvalidOnionPayload(f"record length: {e}", t, start) from None
            if length > end - p:
                raise InvalidOnionPayload(f"length {length} overruns the payload", t, start)
            if t in KNOWN_TYPES:
                records[t] = (start, p, p + length)
            elif t & 1:
                unknown.append((t, data[p : p + length]))
            else:  # BOLT 1: unknown even type -> MUST fail to parse
                raise InvalidOnionPayload("unknown even type", t, start)
            p += length

        def field(t: int, conv: Callable[[bytes, int, int], _T]) -> _T | None:
            if t not in records:
                return None
            start, s, e = records[t]
            try:
                return conv(data, s, e)
            except DecodeError as err:
                raise InvalidOnionPayload(str(err), t, start) from None

        return cls(
            amt_to_forward=field(AMT_TO_FORWARD, _tu64),
            outgoing_cltv_value=field(OUTGOING_CLTV_VALUE, _tu32),
            short_channel_id=field(SHORT_CHANNEL_ID, _scid),
            payment_data=field(PAYMENT_DATA, _payment_data),
            encrypted_recipient_data=field(ENCRYPTED_RECIPIENT_DATA, _raw),
            current_path_key=field(CURRENT_PATH_KEY, _point),
            payment_metadata=field(PAYMENT_METADATA, _raw),
            total_amount_msat=field(TOTAL_AMOUNT_MSAT, _tu64),
            keysend_preimage=field(KEYSEND_PREIMAGE, _preimage),
            unknown=tuple(unknown),
        )


def _tu64(b: bytes, s: int, e: int) -> int:
    return read_truncated(b, s, e, 8)


def _tu32(b: bytes, s: int, e: int) -> int:
    return read_truncated(b, s, e, 4)


def _scid(b: bytes, s: int, e: int) -> int:
    return int.from_bytes(_exact(b, s, e, 8), "big")


def _payment_data(b: bytes, s: int, e: int) -> PaymentData:
    if not 32 <= e - s <= 40:
        raise DecodeError(f"payment_data of {e - s} bytes")
    return PaymentData(b[s : s + 32], read_truncated(b, s + 32, e, 8))


def _raw(b: bytes, s: int, e: int) -> bytes:
    return b[s:e]


def _point(b: bytes, s: int, e: int) -> bytes:
    return check_point(_exact(b, s, e, 33))


def _preimage(b: bytes, s: int, e: int) -> bytes:
    return _exact(b, s, e, 32)


def _exact(b: bytes, s: int, e: int, size: int) -> bytes:
    if e - s != size:
        raise DecodeError(f"record of {e - s} bytes, expected {size}")
    return b[s:e]


def _fixed(v: bytes, size: int) -> bytes:
    if len(v) != size:
        raise EncodeError(f"expected {size} bytes, got {len(v)}")
    return v


def _u64(v: int) -> bytes:
    if not 0 <= v < 1 << 64:
        raise EncodeError(f"u64 out of range: {v}")
    return v.to_bytes(8, "big")


def check_reader_rules(payload: HopPayload, *, is_final: bool, htlc_path_key: bool = False) -> None:
    """BOLT 4 `payload` "The reader" requirements for a hop outside a blinded route.

    `htlc_path_key`: the incoming `update_add_htlc` carried a `path_key`. Route blinding
    is not supported here, so blinded records are refused as unusable.
    Raises `InvalidOnionPayload` naming the missing or unexpected type."""
    if payload.current_path_key is not None:
        # "MUST return an error if `path_key` is set ... or `current_path_key` is present".
        raise InvalidOnionPayload("current_path_key outside a blinded route", CURRENT_PATH_KEY)
    if payload.encrypted_recipient_data is not None or htlc_path_key:
        raise InvalidOnionPayload("route blinding is not supported", ENCRYPTED_RECIPIENT_DATA)
    # "MUST return an error if `amt_to_forward` or `outgoing_cltv_value` are not present".
    if payload.amt_to_forward is None:
        raise InvalidOnionPayload("amt_to_forward missing", AMT_TO_FORWARD)
    if payload.outgoing_cltv_value is None:
        raise InvalidOnionPayload("outgoing_cltv_value missing", OUTGOING_CLTV_VALUE)
    # "if it is not the final node: MUST return an error if `short_channel_id` is not present".
    if not is_final and payload.short_channel_id is None:
        raise InvalidOnionPayload("short_channel_id missing", SHORT_CHANNEL_ID)


def decode_hop_payload(data: bytes, *, is_final: bool, htlc_path_key: bool = False) -> HopPayload:
    """`HopPayload.decode` then `check_reader_rules`."""
    payload = HopPayload.decode(data)
    check_reader_rules(payload, is_final=is_final, htlc_path_key=htlc_path_key)
    return payload
