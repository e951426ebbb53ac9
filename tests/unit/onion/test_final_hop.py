"""A hosted node receiving HTLCs: real onions built by a sender over an LSP hop, peeled by
the LSP, checked by the node; every failure is decoded by the sender and attributed to
the node (hop 1) with the BOLT 4 code the rule names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vajra.crypto.hashes import hmac_sha256, sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.invoice import InvoiceFields
from vajra.onion import (
    Accept,
    BadOnion,
    Fail,
    FailureDecodeError,
    HopPayload,
    IncomingHtlc,
    InvoiceTerms,
    Malformed,
    PaymentData,
    create_onion,
    decode_failure_packet,
    malformed_failure,
    obfuscate_failure,
    onion_public_key,
    peel,
    peel_with_shared_secret,
    receive_htlc,
)
from vajra.onion.failures import (
    FINAL_INCORRECT_CLTV_EXPIRY,
    FINAL_INCORRECT_HTLC_AMOUNT,
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
    INVALID_ONION_BLINDING,
    INVALID_ONION_PAYLOAD,
    UNKNOWN_NEXT_PEER,
    FailureMessage,
)
from vajra.onion.keys import MU, RHO, generate_key, stream, xor
from vajra.onion.payload import OUTGOING_CLTV_VALUE
from vajra.onion.sphinx import sha256_of_onion

LSP = PrivateKey(bytes([0x11]) * 32)
NODE = PrivateKey(bytes([0x22]) * 32)
OTHER = PrivateKey(bytes([0x33]) * 32)
SESSION = bytes([0x44]) * 32
PREIMAGE = bytes([0x55]) * 32
PAYMENT_HASH = sha256(PREIMAGE)
SECRET = bytes([0x66]) * 32
HEIGHT = 800_000
NOW = 1_700_000_000
AMOUNT = 50_000_000
INVOICE = InvoiceTerms(
    payment_hash=PAYMENT_HASH,
    payment_secret=SECRET,
    amount_msat=AMOUNT,
    created_at=NOW - 60,
    expiry_s=3600,
    min_final_cltv_expiry_delta=40,
)
CLTV = HEIGHT + 50


def final_payload(**kw: object) -> HopPayload:
    base = HopPayload(
        amt_to_forward=AMOUNT,
        outgoing_cltv_value=CLTV,
        payment_data=PaymentData(SECRET, AMOUNT),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def send(
    payload: HopPayload | bytes,
    *,
    amount: int = AMOUNT,
    cltv: int = CLTV,
    payment_hash: bytes = PAYMENT_HASH,
    beyond: bool = False,
) -> tuple[IncomingHtlc, tuple[bytes, ...]]:
    """Sender -> LSP -> NODE (-> OTHER if `beyond`); returns the HTLC the LSP offers."""
    to_lsp = HopPayload(amt_to_forward=amount, outgoing_cltv_value=cltv, short_channel_id=1)
    raw = payload if isinstance(payload, bytes) else payload.encode()
    hops = [(LSP.pubkey, to_lsp.encode()), (NODE.pubkey, raw)]
    if beyond:
        hops.append((OTHER.pubkey, final_payload().encode()))
    onion = create_onion(SESSION, hops, payment_hash)
    at_lsp = peel(onion.packet, payment_hash, LSP.ecdh)
    assert at_lsp.next_packet is not None
    return IncomingHtlc(payment_hash, amount, cltv, at_lsp.next_packet), onion.shared_secrets


def receive(htlc: IncomingHtlc, invoice: InvoiceTerms | None = INVOICE, **kw: object) -> object:
    invoices = {invoice.payment_hash: invoice} if invoice else {}
    return receive_htlc(htlc, NODE.ecdh, invoices.get, height=HEIGHT, now=NOW, **kw)  # type: ignore[arg-type]


def sender_sees(outcome: object, secrets: tuple[bytes, ...]) -> FailureMessage:
    """The failure as the sender decodes it after the LSP adds its layer; asserts the
    node (hop 1) is named as the erring hop."""
    assert isinstance(outcome, Fail), outcome
    packet = obfuscate_failure(secrets[0], outcome.packet())
    decoded = decode_failure_packet(secrets, packet)
    assert decoded.hop_index == 1 and decoded.message is not None
    return decoded.message


def test_a_good_payment_is_accepted() -> None:
    htlc, _ = send(final_payload())
    out = receive(htlc)
    assert isinstance(out, Accept)
    assert (out.amount_msat, out.total_msat, out.payment_secret) == (AMOUNT, AMOUNT, SECRET)
    assert out.preimage is None


def test_unknown_hash_wrong_or_missing_secret() -> None:
    for payload, invoice in [
        (final_payload(), None),
        (final_payload(payment_data=PaymentData(bytes(32), AMOUNT)), INVOICE),
        (final_payload(payment_data=None), INVOICE),
        (final_payload(), replace(INVOICE, settled=True)),
    ]:
        htlc, secrets = send(payload)
        msg = sender_sees(receive(htlc, invoice), secrets)
        assert msg.code == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
        assert (msg.htlc_msat, msg.height) == (AMOUNT, HEIGHT)


def test_amount_metadata_expiry_and_cltv_rules() -> None:
    cases: list[tuple[HopPayload, InvoiceTerms, int, str]] = [
        (final_payload(), replace(INVOICE, payment_metadata=b"m"), CLTV, "payment_metadata"),
        (final_payload(), replace(INVOICE, created_at=NOW - 3600), CLTV, "invoice_expired"),
        (final_payload(), replace(INVOICE, amount_msat=AMOUNT + 1), CLTV, "amount_too_low"),
        (final_payload(), replace(INVOICE, amount_msat=AMOUNT // 2 - 1), CLTV, "amount_too_high"),
        (final_payload(outgoing_cltv_value=HEIGHT + 39), INVOICE, HEIGHT + 39, "cltv_too_soon"),
    ]
    for payload, invoice, cltv, reason in cases:
        htlc, secrets = send(payload, cltv=cltv)
        out = receive(htlc, invoice)
        assert isinstance(out, Fail) and out.reason == reason
        assert sender_sees(out, secrets).code == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
    # Boundaries that pass: exactly the delta, exactly twice the amount, metadata given.
    htlc, _ = send(final_payload(outgoing_cltv_value=HEIGHT + 40), cltv=HEIGHT + 40)
    assert isinstance(receive(htlc), Accept)
    htlc, _ = send(final_payload())
    assert isinstance(receive(htlc, replace(INVOICE, amount_msat=AMOUNT // 2)), Accept)
    htlc, _ = send(final_payload(payment_metadata=b"m"))
    assert isinstance(receive(htlc, replace(INVOICE, payment_metadata=b"m")), Accept)


def test_htlc_below_the_onion_names_the_previous_hop() -> None:
    # The LSP forwards less (or an earlier expiry) than the sender told the node.
    htlc, secrets = send(final_payload())
    short = replace(htlc, amount_msat=AMOUNT - 1)
    msg = sender_sees(receive(short), secrets)
    assert (msg.code, msg.incoming_htlc_amt) == (FINAL_INCORRECT_HTLC_AMOUNT, AMOUNT - 1)
    early = replace(htlc, cltv_expiry=CLTV - 1)
    msg = sender_sees(receive(early), secrets)
    assert (msg.code, msg.cltv_expiry) == (FINAL_INCORRECT_CLTV_EXPIRY, CLTV - 1)


def test_a_hosted_node_is_not_a_router() -> None:
    htlc, secrets = send(
        HopPayload(amt_to_forward=AMOUNT, outgoing_cltv_value=CLTV, short_channel_id=7),
        beyond=True,
    )
    out = receive(htlc)
    assert isinstance(out, Fail) and out.reason == "not_a_router"
    assert sender_sees(out, secrets).code == UNKNOWN_NEXT_PEER


def test_missing_record_is_invalid_onion_payload_with_its_type() -> None:
    htlc, secrets = send(HopPayload(amt_to_forward=AMOUNT, payment_data=PaymentData(SECRET, 1)))
    msg = sender_sees(receive(htlc), secrets)
    assert (msg.code, msg.tlv_type) == (INVALID_ONION_PAYLOAD, OUTGOING_CLTV_VALUE)


def test_unusable_onions_are_malformed_with_the_onion_hash() -> None:
    htlc, _ = send(final_payload())
    for pos, code in [(0, 0xC004), (1, 0xC006), (100, 0xC005), (1365, 0xC005)]:
        bad = bytearray(htlc.onion)
        bad[pos] ^= 0xFF if pos != 1 else 0x07  # 0x02/0x03 -> 0x05/0x04: not a point
        out = receive(replace(htlc, onion=bytes(bad)))
        assert isinstance(out, Malformed), (pos, out)
        assert out.failure_code == code and out.sha256_of_onion == sha256_of_onion(bytes(bad))
    # The same HTLC with another payment hash (associated data): HMAC mismatch.
    out = receive(replace(htlc, payment_hash=bytes(32)))
    assert isinstance(out, Malformed) and out.failure_code == 0xC005


def test_reserved_payload_length_after_a_good_hmac() -> None:
    # Hand-built single-hop packet whose payload length is 1 ("MUST abort"): the node
    # authenticated it, so it answers invalid_onion_payload under the shared secret.
    ephemeral = PrivateKey(SESSION)
    ss = ephemeral.ecdh(NODE.pubkey)
    plain = b"\x01\x00" + bytes(1298)
    hop_payloads = xor(plain, stream(generate_key(RHO, ss), 1300))
    mac = hmac_sha256(generate_key(MU, ss), hop_payloads + PAYMENT_HASH)
    packet = b"\x00" + ephemeral.pubkey + hop_payloads + mac
    out = receive(IncomingHtlc(PAYMENT_HASH, AMOUNT, CLTV, packet))
    assert isinstance(out, Fail) and out.failure.code == INVALID_ONION_PAYLOAD
    assert decode_failure_packet([ss], out.packet()).hop_index == 0


def test_keysend() -> None:
    ks = HopPayload(amt_to_forward=1000, outgoing_cltv_value=CLTV, keysend_preimage=PREIMAGE)
    htlc, _ = send(ks, amount=1000)
    out = receive(htlc, None)
    assert isinstance(out, Accept) and out.preimage == PREIMAGE and out.total_msat == 1000
    assert isinstance(receive(htlc, None, accept_keysend=False), Fail)
    wrong = replace(ks, keysend_preimage=bytes(32))
    htlc, secrets = send(wrong, amount=1000)
    out = receive(htlc, None)
    assert isinstance(out, Fail) and out.reason == "keysend_preimage_mismatch"
    assert sender_sees(out, secrets).code == INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS


def test_two_step_peel_for_an_asynchronous_ecdh() -> None:
    # The signer's ECDH is async: take the key, compute the secret elsewhere, then peel.
    htlc, _ = send(final_payload())
    pk = onion_public_key(htlc.onion)
    ss = NODE.ecdh(pk)
    assert peel_with_shared_secret(htlc.onion, PAYMENT_HASH, ss) == peel(
        htlc.onion, PAYMENT_HASH, NODE.ecdh
    )
    out = receive(htlc)
    assert isinstance(out, Accept)
    assert (
        receive_htlc(htlc, lambda _: ss, {PAYMENT_HASH: INVOICE}.get, height=HEIGHT, now=NOW) == out
    )
    bad = b"\x01" + htlc.onion[1:]
    with pytest.raises(BadOnion) as exc:
        onion_public_key(bad)
    assert Malformed.from_error(exc.value).failure_code == 0xC004


def test_route_blinding_is_refused_the_way_bolt2_says() -> None:
    # `path_key` on the HTLC: update_fail_malformed_htlc with invalid_onion_blinding.
    htlc, _ = send(final_payload())
    out = receive(replace(htlc, path_key=LSP.pubkey))
    assert isinstance(out, Malformed) and out.failure_code == INVALID_ONION_BLINDING
    assert out.sha256_of_onion == sha256_of_onion(htlc.onion)
    # `current_path_key` in a non-final payload: invalid_onion_blinding, encrypted.
    fwd = HopPayload(
        amt_to_forward=AMOUNT,
        outgoing_cltv_value=CLTV,
        short_channel_id=7,
        current_path_key=LSP.pubkey,
    )
    htlc, secrets = send(fwd, beyond=True)
    msg = sender_sees(receive(htlc), secrets)
    assert msg.code == INVALID_ONION_BLINDING and msg.sha256_of_onion == sha256_of_onion(htlc.onion)
    # ... and in a final payload: the payload is unusable outside a blinded route.
    htlc, secrets = send(final_payload(current_path_key=LSP.pubkey))
    assert sender_sees(receive(htlc), secrets).code == INVALID_ONION_PAYLOAD


def test_origin_reads_update_fail_malformed_htlc_as_the_first_hop() -> None:
    htlc, _ = send(final_payload())
    got = malformed_failure(0xC005, sha256_of_onion(htlc.onion))
    assert got.hop_index == 0 and got.message is not None
    assert got.message.code == 0xC005 and got.message.sha256_of_onion == sha256_of_onion(htlc.onion)
    with pytest.raises(FailureDecodeError):
        malformed_failure(0x4005, bytes(32))  # no BADONION bit: the peer broke BOLT 2


def test_terms_from_a_bolt11_invoice() -> None:
    fields = InvoiceFields(
        currency="bcrt",
        timestamp=NOW - 60,
        payment_hash=PAYMENT_HASH,
        payment_secret=SECRET,
        amount_msat=AMOUNT,
        description="coffee",
        expiry=3600,
        min_final_cltv_expiry_delta=40,
    )
    assert InvoiceTerms.from_invoice(fields) == INVOICE
    htlc, _ = send(final_payload())
    assert isinstance(receive(htlc, InvoiceTerms.from_invoice(fields)), Accept)
