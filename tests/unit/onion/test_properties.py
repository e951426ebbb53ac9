"""Property tests: construct -> peel over N hops, failure from hop i -> origin names hop i,
and the codecs round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vajra.crypto.secp256k1 import CURVE_ORDER, PrivateKey
from vajra.onion import (
    FailureMessage,
    HopPayload,
    InvalidOnionHmac,
    InvalidOnionKey,
    InvalidOnionVersion,
    PaymentData,
    build_failure_packet,
    create_onion,
    decode_failure_packet,
    obfuscate_failure,
    peel,
)
from vajra.onion.failures import LAYOUTS
from vajra.onion.sphinx import HMAC_LEN, HOP_PAYLOADS_LEN

secrets = st.integers(1, CURVE_ORDER - 1).map(lambda n: n.to_bytes(32, "big"))


@st.composite
def routes(draw: st.DrawFn) -> tuple[bytes, list[PrivateKey], list[bytes], bytes]:
    """(session key, hop keys, payloads, associated data) that fit in 1300 bytes."""
    n = draw(st.integers(1, 20))
    keys = [PrivateKey(draw(secrets)) for _ in range(n)]
    budget = HOP_PAYLOADS_LEN
    payloads = []
    for i in range(n):
        room = budget - (n - i - 1) * (1 + 2 + HMAC_LEN) - HMAC_LEN - 3
        size = draw(st.integers(2, max(2, min(room, 400))))
        payloads.append(draw(st.binary(min_size=size, max_size=size)))
        budget -= size + (1 if size < 253 else 3) + HMAC_LEN
    return draw(secrets), keys, payloads, draw(st.binary(min_size=32, max_size=32))


@settings(max_examples=60)
@given(routes())
def test_construct_then_peel_every_hop(
    route: tuple[bytes, list[PrivateKey], list[bytes], bytes],
) -> None:
    session, keys, payloads, ad = route
    onion = create_onion(session, [(k.pubkey, p) for k, p in zip(keys, payloads, strict=True)], ad)
    assert len(onion.packet) == 1366
    packet = onion.packet
    for i, key in enumerate(keys):
        peeled = peel(packet, ad, key.ecdh)
        assert peeled.payload == payloads[i]
        assert peeled.shared_secret == onion.shared_secrets[i]
        assert peeled.is_final == (i == len(keys) - 1)
        if peeled.next_packet is not None:
            packet = peeled.next_packet


@settings(max_examples=60)
@given(routes(), st.integers(0, 1365), st.integers(1, 255))
def test_any_flipped_byte_is_a_typed_bad_onion(
    route: tuple[bytes, list[PrivateKey], list[bytes], bytes], pos: int, flip: int
) -> None:
    session, keys, payloads, ad = route
    onion = create_onion(session, [(k.pubkey, p) for k, p in zip(keys, payloads, strict=True)], ad)
    bad = bytearray(onion.packet)
    bad[pos] ^= flip
    with pytest.raises((InvalidOnionVersion, InvalidOnionKey, InvalidOnionHmac)) as exc:
        peel(bytes(bad), ad, keys[0].ecdh)
    assert exc.value.sha256_of_onion is not None and len(exc.value.sha256_of_onion) == 32


def test_wrong_associated_data_fails_the_hmac() -> None:
    key = PrivateKey(bytes([7]) * 32)
    onion = create_onion(bytes([9]) * 32, [(key.pubkey, b"\x02\x01\x01")], bytes(32))
    with pytest.raises(InvalidOnionHmac):
        peel(onion.packet, bytes([1]) * 32, key.ecdh)


failure_messages = st.sampled_from(sorted(LAYOUTS)).flatmap(
    lambda code: st.builds(
        FailureMessage,
        code=st.just(code),
        **{
            attr: (
                st.binary(min_size=32, max_size=32)
                if kind == "sha256"
                else st.binary(max_size=300)
                if kind == "update"
                else st.integers(0, (1 << 64) - 1)
                if kind in ("u64", "bigsize")
                else st.integers(0, (1 << (8 * {"u16": 2, "u32": 4}[kind])) - 1)
            )
            for attr, kind in LAYOUTS[code][1]
        },
    )
)


@settings(max_examples=80)
@given(routes(), st.data(), failure_messages)
def test_failure_from_hop_i_is_attributed_to_hop_i(
    route: tuple[bytes, list[PrivateKey], list[bytes], bytes],
    data: st.DataObject,
    failure: FailureMessage,
) -> None:
    session, keys, payloads, ad = route
    onion = create_onion(session, [(k.pubkey, p) for k, p in zip(keys, payloads, strict=True)], ad)
    erring = data.draw(st.integers(0, len(keys) - 1))
    packet = build_failure_packet(onion.shared_secrets[erring], failure)
    for ss in reversed(onion.shared_secrets[:erring]):
        packet = obfuscate_failure(ss, packet)
    decoded = decode_failure_packet(onion.shared_secrets, packet)
    assert decoded.hop_index == erring
    assert decoded.message == failure


@settings(max_examples=200)
@given(failure_messages)
def test_failure_message_round_trip(failure: FailureMessage) -> None:
    assert FailureMessage.decode(failure.encode()) == failure


payloads = st.builds(
    HopPayload,
    amt_to_forward=st.none() | st.integers(0, (1 << 64) - 1),
    outgoing_cltv_value=st.none() | st.integers(0, (1 << 32) - 1),
    short_channel_id=st.none() | st.integers(0, (1 << 64) - 1),
    payment_data=st.none()
    | st.builds(PaymentData, st.binary(min_size=32, max_size=32), st.integers(0, (1 << 64) - 1)),
    payment_metadata=st.none() | st.binary(max_size=300),
    total_amount_msat=st.none() | st.integers(0, (1 << 64) - 1),
    keysend_preimage=st.none() | st.binary(min_size=32, max_size=32),
    unknown=st.lists(
        st.tuples(st.integers(20, 1 << 40).map(lambda t: t | 1), st.binary(max_size=20)),
        max_size=3,
        unique_by=lambda r: r[0],
    ).map(lambda rs: tuple(sorted(rs))),
)


@settings(max_examples=300)
@given(payloads)
def test_hop_payload_round_trip(payload: HopPayload) -> None:
    raw = payload.encode()
    assert HopPayload.decode(raw) == payload
