"""Every BOLT 1/2/7 message (+ onion_message): round-trips, extensions, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.wire import strategies, vectors
from vajra.errors import DecodeError
from vajra.wire import (
    DECODERS,
    MESSAGE_CLASSES,
    ChannelUpdate,
    CommitmentSignedTlvs,
    ExtensionTlvs,
    Init,
    InitTlvs,
    Message,
    Ping,
    TxSignatures,
    UnknownMessage,
    UpdateFee,
    Witness,
    decode_message,
    encode_message,
)
from vajra.wire.errors import (
    EncodeError,
    TlvLengthError,
    Truncated,
    UnknownEvenMessage,
    UnknownEvenTlv,
)

TYPES = sorted(MESSAGE_CLASSES)
ZERO32 = bytes(32)


def test_every_spec_message_is_there() -> None:
    names = {cls.NAME for cls in MESSAGE_CLASSES.values()}
    assert len(names) == 50
    assert {
        "init",
        "error",
        "warning",
        "ping",
        "pong",
        "open_channel",
        "open_channel2",
        "commitment_signed",
        "channel_update",
        "node_announcement",
        "onion_message",
        "reply_channel_range",
        "splice_init",
        "closing_complete",
        "peer_storage",
    } <= names
    assert set(DECODERS) == set(MESSAGE_CLASSES)


@pytest.mark.parametrize("msg_type", TYPES, ids=[MESSAGE_CLASSES[t].NAME for t in TYPES])
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(msg_type: int, data: st.DataObject) -> None:
    msg = data.draw(strategies.message(msg_type))
    wire = encode_message(msg)
    assert wire[:2] == msg_type.to_bytes(2, "big")
    assert decode_message(wire) == msg
    assert encode_message(decode_message(wire)) == wire


@pytest.mark.parametrize("msg_type", TYPES, ids=[MESSAGE_CLASSES[t].NAME for t in TYPES])
@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_prefix_fails_or_is_canonical(msg_type: int, data: st.DataObject) -> None:
    """Cutting a message short raises a DecodeError, unless the cut falls on a TLV record
    boundary (or in a gossip message's raw extension): then it is a shorter valid message."""
    wire = encode_message(data.draw(strategies.message(msg_type)))
    for cut in range(len(wire)):
        try:
            msg = decode_message(wire[:cut])
        except DecodeError:
            continue
        assert encode_message(msg) == wire[:cut]


@pytest.mark.parametrize("msg_type", TYPES, ids=[MESSAGE_CLASSES[t].NAME for t in TYPES])
@given(payload=st.binary(max_size=300))
def test_random_payloads_raise_only_decode_errors(msg_type: int, payload: bytes) -> None:
    wire = msg_type.to_bytes(2, "big") + payload
    try:
        msg = decode_message(wire)
    except DecodeError:
        return
    assert encode_message(msg) == wire


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_message(data)


# --- BOLT 1 Appendix C: message extension ----------------------------------------------

APPENDIX_C = vectors.init_extension_vectors()


@pytest.mark.parametrize("case", APPENDIX_C, ids=[c[0].hex() for c in APPENDIX_C])
def test_appendix_c_init_extension(case: tuple[bytes, bool, str]) -> None:
    data, valid, _ = case
    if not valid:
        with pytest.raises(DecodeError):
            decode_message(data)
        return
    msg = decode_message(data)
    assert isinstance(msg, Init)
    assert encode_message(msg) == data  # unknown odd records kept: signatures still verify


def test_appendix_c_was_found() -> None:
    assert [v for _, v, _ in APPENDIX_C] == [True, True, False, False, False]


# --- unknown types ---------------------------------------------------------------------


def test_unknown_odd_message_is_returned_for_ignoring() -> None:
    msg = decode_message(b"\x80\x01hello")
    assert msg == UnknownMessage(0x8001, b"hello")
    assert encode_message(msg) == b"\x80\x01hello"


def test_unknown_even_message_raises() -> None:
    with pytest.raises(UnknownEvenMessage) as exc:
        decode_message(b"\x80\x00hello")
    assert exc.value.msg_type == 0x8000


@pytest.mark.parametrize("data", [b"", b"\x00"])
def test_shorter_than_type(data: bytes) -> None:
    with pytest.raises(Truncated):
        decode_message(data)


# --- extensions of messages without a TLV stream ---------------------------------------


def test_extension_of_message_without_tlvs_must_be_valid_tlv() -> None:
    base = encode_message(UpdateFee(ZERO32, 253))
    assert decode_message(base + b"\x01\x00") == UpdateFee(ZERO32, 253, ExtensionTlvs(((1, b""),)))
    with pytest.raises(UnknownEvenTlv):
        decode_message(base + b"\x02\x00")
    with pytest.raises(TlvLengthError):
        decode_message(base + b"\x01\x05")  # "the extension is present but truncated"


def test_gossip_trailing_bytes_are_kept_verbatim() -> None:
    """BOLT 7: the signature covers "unknown fields following fee_proportional_millionths",
    which need not be TLV; they are kept so the signature can be checked and relayed."""
    cu = ChannelUpdate(bytes(64), ZERO32, 1, 2, 1, 0, 40, 1, 0, 1, 1000)
    wire = encode_message(cu)
    assert len(wire) == 2 + 136
    for tail in (b"\x02", b"\xff" * 7, b"\x00\x00"):
        got = decode_message(wire + tail)
        assert isinstance(got, ChannelUpdate) and got.extension == tail
        assert encode_message(got) == wire + tail


# --- specific shapes -------------------------------------------------------------------


def test_init_with_networks() -> None:
    chains = (bytes.fromhex("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000"),)
    msg = Init(
        b"", b"\x02\x00", InitTlvs(networks=chains, remote_addr=b"\x01\x7f\x00\x00\x01\x26\x07")
    )
    wire = encode_message(msg)
    assert wire.hex().startswith("00100000000202000120")
    assert decode_message(wire) == msg


def test_init_networks_must_be_whole_chain_hashes() -> None:
    with pytest.raises(TlvLengthError):
        decode_message(bytes.fromhex("0010000000000101aa"))


def test_ping_layout() -> None:
    assert encode_message(Ping(4, b"\x00\x00")).hex() == "0012000400020000"


def test_commitment_signed_htlc_signatures() -> None:
    from vajra.wire import CommitmentSigned

    sigs = (b"\x01" * 64, b"\x02" * 64)
    msg = CommitmentSigned(ZERO32, b"\x03" * 64, sigs, CommitmentSignedTlvs(funding_txid=ZERO32))
    wire = encode_message(msg)
    assert wire[2 + 32 + 64 : 2 + 32 + 64 + 2] == b"\x00\x02"
    assert decode_message(wire) == msg


def test_tx_signatures_witness_subtype() -> None:
    msg = TxSignatures(ZERO32, ZERO32, (Witness(b"\x01\x02"), Witness(b"")))
    wire = encode_message(msg)
    assert wire[2 + 64 :].hex() == "0002000201020000"
    assert decode_message(wire) == msg


def test_encode_rejects_wrong_sizes_and_ranges() -> None:
    with pytest.raises(EncodeError):
        encode_message(UpdateFee(b"short", 1))
    with pytest.raises(EncodeError):
        encode_message(UpdateFee(ZERO32, 2**32))
    with pytest.raises(EncodeError):
        encode_message(Ping(0, bytes(70000)))  # u16 length overflow
    with pytest.raises(EncodeError):
        encode_message(UnknownMessage(70000, b""))


def test_message_is_the_common_base() -> None:
    assert all(issubclass(c, Message) for c in MESSAGE_CLASSES.values())
    assert issubclass(UnknownMessage, Message)
