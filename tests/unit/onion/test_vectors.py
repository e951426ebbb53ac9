"""BOLT 4 spec vectors, read from the shared spec files: construction, peeling, keys,
and the failure packet from the erring node back to the origin."""

from __future__ import annotations

import struct

from vajra.crypto.secp256k1 import PrivateKey
from vajra.onion import (
    FailureMessage,
    build_failure_packet,
    create_onion,
    decode_failure_packet,
    obfuscate_failure,
    peel,
    shared_secrets,
)
from vajra.onion.failures import INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, TEMPORARY_NODE_FAILURE
from vajra.onion.keys import AMMAG, UM, generate_key, stream
from vajra.onion.payload import HopPayload

from .bolt4_vectors import error_vector, markdown_error_vector, onion_vector


def test_construct_matches_vector() -> None:
    v = onion_vector()
    onion = create_onion(v.session_key, v.hops, v.associated_data)
    assert onion.packet == v.onion


def test_each_hop_peels_its_payload_and_the_last_is_final() -> None:
    v = onion_vector()
    packet = v.onion
    for i, secret in enumerate(v.private_keys):
        key = PrivateKey(secret)
        assert key.pubkey == v.hops[i][0]
        peeled = peel(packet, v.associated_data, key.ecdh)
        assert peeled.payload == v.hops[i][1]
        assert peeled.is_final == (i == len(v.hops) - 1)
        if peeled.next_packet is not None:
            packet = peeled.next_packet


def test_vector_payloads_decode_and_reencode_exactly() -> None:
    v = onion_vector()
    for _, raw in v.hops:
        payload = HopPayload.decode(raw)
        assert payload.amt_to_forward is not None and payload.outgoing_cltv_value is not None
        assert payload.encode() == raw
    last = HopPayload.decode(v.hops[-1][1])
    assert last.payment_data is not None and last.short_channel_id is None
    assert [t for t, _ in last.unknown] == [301]  # an odd type the reader keeps


def test_shared_secrets_and_keys_match_error_vector() -> None:
    e = error_vector()
    assert shared_secrets(e.session_key, e.node_ids) == e.shared_secrets
    assert [generate_key(AMMAG, ss) for ss in e.shared_secrets] == e.ammag_keys
    assert generate_key(UM, e.shared_secrets[-1]) == e.um_key
    # The onion vector uses the same session key and route: same secrets.
    o = onion_vector()
    onion = create_onion(o.session_key, o.hops, o.associated_data)
    assert list(onion.shared_secrets) == e.shared_secrets


def test_error_vector_from_erring_node_to_origin() -> None:
    e = error_vector()
    # The erring node's plaintext (without the HMAC): failure_len || msg || pad_len || pad.
    (flen,) = struct.unpack_from(">H", e.erring_payload)
    assert e.erring_payload[2 : 2 + flen] == e.failure_message
    packet = build_failure_packet(e.shared_secrets[-1], e.failure_message)
    for ss in reversed(e.shared_secrets[:-1]):
        packet = obfuscate_failure(ss, packet)
    assert packet == e.error_packet
    decoded = decode_failure_packet(e.shared_secrets, e.error_packet)
    assert decoded.hop_index == 4
    assert decoded.message == FailureMessage(TEMPORARY_NODE_FAILURE)


def test_markdown_error_trace() -> None:
    m = markdown_error_vector()
    failure = FailureMessage(
        INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
        htlc_msat=m.htlc_msat,
        height=m.height,
        tlvs=((m.tlv_type, m.tlv_value),),
    )
    msg = failure.encode()
    padded_len = len(m.payload) - 4  # failure_len + pad_len as this vector chose them
    pad_len = padded_len - len(msg)
    assert m.encoded_failure_message == msg + struct.pack(">H", pad_len) + bytes(pad_len)
    assert m.payload == struct.pack(">H", len(msg)) + m.encoded_failure_message
    assert generate_key(UM, m.shared_secret) == m.um_key
    packet = build_failure_packet(m.shared_secret, failure, padded_len=padded_len)
    assert obfuscate_failure(m.shared_secret, packet) == m.raw_error_packet
    for step in m.steps:
        assert generate_key(AMMAG, step.shared_secret) == step.ammag_key
        assert stream(step.ammag_key, len(step.stream)) == step.stream
        if step.node != 4:
            packet = obfuscate_failure(step.shared_secret, packet)
        assert packet == step.packet
    secrets = [s.shared_secret for s in reversed(m.steps)]  # node 0 first
    decoded = decode_failure_packet(secrets, packet)
    assert decoded.hop_index == 4
    assert decoded.message == failure
