"""Hop payload reader rules and failure message decoding rules (BOLT 4)."""

from __future__ import annotations

import pytest

from vajra.errors import DecodeError
from vajra.onion import (
    FailureDecodeError,
    FailureMessage,
    HopPayload,
    InvalidOnionPayload,
    decode_failure_packet,
    decode_hop_payload,
)
from vajra.onion.failures import (
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
    INVALID_ONION_PAYLOAD,
    NAMES,
    UNKNOWN_NEXT_PEER,
    invalid_onion_payload,
    simple,
)
from vajra.onion.payload import (
    AMT_TO_FORWARD,
    CURRENT_PATH_KEY,
    ENCRYPTED_RECIPIENT_DATA,
    KEYSEND_PREIMAGE,
    OUTGOING_CLTV_VALUE,
    PAYMENT_DATA,
    SHORT_CHANNEL_ID,
)
from vajra.wire.errors import EncodeError
from vajra.wire.primitives import encode_bigsize


def _raises(data: bytes, tlv_type: int | None, offset: int, **kw: bool) -> None:
    with pytest.raises(InvalidOnionPayload) as exc:
        decode_hop_payload(data, is_final=kw.get("is_final", True))
    assert (exc.value.tlv_type, exc.value.offset) == (tlv_type, offset)


def test_required_records() -> None:
    # BOLT 4 reader: "MUST return an error if `amt_to_forward` or `outgoing_cltv_value` are
    # not present"; a non-final hop also needs `short_channel_id`.
    _raises(HopPayload(outgoing_cltv_value=1).encode(), AMT_TO_FORWARD, 0)
    _raises(HopPayload(amt_to_forward=1).encode(), OUTGOING_CLTV_VALUE, 0)
    both = HopPayload(amt_to_forward=1, outgoing_cltv_value=2).encode()
    assert decode_hop_payload(both, is_final=True).short_channel_id is None
    _raises(both, SHORT_CHANNEL_ID, 0, is_final=False)


def test_blinded_records_are_refused() -> None:
    key = bytes.fromhex("02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619")
    base = {"amt_to_forward": 1, "outgoing_cltv_value": 2}
    _raises(HopPayload(current_path_key=key, **base).encode(), CURRENT_PATH_KEY, 0)  # type: ignore[arg-type]
    data = HopPayload(encrypted_recipient_data=b"xx", **base).encode()  # type: ignore[arg-type]
    _raises(data, ENCRYPTED_RECIPIENT_DATA, 0)
    with pytest.raises(InvalidOnionPayload):
        decode_hop_payload(HopPayload(**base).encode(), is_final=True, htlc_path_key=True)  # type: ignore[arg-type]


def test_stream_and_record_errors_name_type_and_offset() -> None:
    # 02 01 05 | 04 02 00 10: tu32 with a leading zero (BOLT 1: MUST be minimal).
    _raises(bytes.fromhex("02010504020010"), OUTGOING_CLTV_VALUE, 3)
    # types out of order: 04 then 02
    _raises(bytes.fromhex("040110020105"), AMT_TO_FORWARD, 3)
    # unknown even type 20 at offset 6
    _raises(bytes.fromhex("0201050401101400"), 20, 6)
    # length overruns the payload
    _raises(bytes.fromhex("0201050405"), OUTGOING_CLTV_VALUE, 3)
    # short_channel_id of 7 bytes; payment_data of 31 bytes; keysend preimage of 31 bytes
    _raises(bytes.fromhex("0201050401100607") + bytes(7), SHORT_CHANNEL_ID, 6)
    _raises(bytes.fromhex("020105040110081f") + bytes(31), PAYMENT_DATA, 6)
    ks = bytes.fromhex("020105040110") + encode_bigsize(KEYSEND_PREIMAGE) + b"\x1f" + bytes(31)
    _raises(ks, KEYSEND_PREIMAGE, 6)
    # a non-minimal type bigsize: no type to name
    _raises(bytes.fromhex("fd0002"), None, 0)


def test_unknown_odd_records_are_kept() -> None:
    raw = bytes.fromhex("020105040110330101")
    payload = decode_hop_payload(raw, is_final=True)
    assert payload.unknown == ((51, b"\x01"),)
    assert payload.encode() == raw


def test_total_msat_defaults_to_amt_to_forward() -> None:
    assert HopPayload(amt_to_forward=5, outgoing_cltv_value=1).total_msat == 5
    assert HopPayload(amt_to_forward=5, total_amount_msat=9).total_msat == 9


def test_encode_refuses_bad_sizes() -> None:
    with pytest.raises(EncodeError):
        HopPayload(keysend_preimage=b"short").encode()
    with pytest.raises(EncodeError):
        HopPayload(amt_to_forward=-1).encode()


def test_failure_names_cover_the_codes_we_send() -> None:
    for name in (
        "incorrect_or_unknown_payment_details",
        "final_incorrect_cltv_expiry",
        "final_incorrect_htlc_amount",
        "mpp_timeout",
        "invalid_onion_payload",
        "temporary_channel_failure",
        "permanent_channel_failure",
        "temporary_node_failure",
        "permanent_node_failure",
        "unknown_next_peer",
        "invalid_onion_version",
        "invalid_onion_hmac",
        "invalid_onion_key",
    ):
        assert name in NAMES
    assert simple(UNKNOWN_NEXT_PEER).encode() == bytes.fromhex("400a")
    assert simple(UNKNOWN_NEXT_PEER).is_perm and not simple(UNKNOWN_NEXT_PEER).is_node


def test_failure_decode_is_lenient_as_the_origin_must_be() -> None:
    # "MUST ignore any extra bytes in `failuremsg`": a tail that is not a TLV stream.
    msg = FailureMessage.decode(bytes.fromhex("400f0000000000000064000c3500fd"))
    assert (msg.htlc_msat, msg.height, msg.extra) == (100, 800000, b"\xfd")
    # an old sender's PERM|15 without `height`
    old = FailureMessage.decode(bytes.fromhex("400f0000000000000064"))
    assert old.code == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS and old.height is None
    unknown = FailureMessage.decode(bytes.fromhex("77770102"))
    assert unknown.data == b"\x01\x02" and unknown.name.startswith("unknown_failure")
    assert unknown.encode() == bytes.fromhex("77770102")
    with pytest.raises(FailureDecodeError):
        FailureMessage.decode(b"\x40")


def test_invalid_onion_payload_with_and_without_type() -> None:
    assert invalid_onion_payload(None).encode() == bytes.fromhex("4016")
    with_type = invalid_onion_payload(KEYSEND_PREIMAGE, 6)
    assert FailureMessage.decode(with_type.encode()) == with_type
    assert FailureMessage.decode(bytes.fromhex("4016")) == FailureMessage(INVALID_ONION_PAYLOAD)


def test_failure_packet_that_no_hop_authenticated() -> None:
    with pytest.raises(FailureDecodeError):
        decode_failure_packet([bytes(32), bytes([1]) * 32], bytes(300))
    with pytest.raises(FailureDecodeError):
        decode_failure_packet([bytes(32)], bytes(10))
    assert issubclass(FailureDecodeError, DecodeError)
