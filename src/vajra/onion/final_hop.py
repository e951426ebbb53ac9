"""What a hosted node does with an incoming HTLC's onion: it is the final node or nothing.

Theory of operation (sans-IO; the block `height` and wall-clock `now` are passed in):

1. Peel the onion (`sphinx.peel`, the node's ECDH through a callback). A packet with a bad
   version, key or HMAC, or an HTLC with a `path_key` (route blinding, which a hosted
   node never offers), gives `Malformed` (answer with `update_fail_malformed_htlc`,
   BOLT 2); every later failure is a `Fail` the node encrypts with the hop's shared
   secret (`Fail.packet()`, the `reason` of `update_fail_htlc`).
2. Decode the payload with the BOLT 4 reader rules; a malformed or incomplete payload
   fails with `invalid_onion_payload` naming the TLV type (a non-final one carrying
   `current_path_key` with `invalid_onion_blinding`, as BOLT 4 requires).
3. A non-final onion asks us to forward: a hosted node is not a router and knows no
   outgoing channel by that `short_channel_id`, so it fails with `unknown_next_peer`
   (BOLT 4: "if the receiving peer specified by the onion is NOT known").
4. The final-node checks (`check_final`), in this order: first the payload against the
   HTLC (BOLT 4 reader: "incoming `cltv_expiry` < `outgoing_cltv_value`" ->
   `final_incorrect_cltv_expiry`; "incoming `amount_msat` < `amt_to_forward`" ->
   `final_incorrect_htlc_amount`), as LDK and LND do, because those blame the previous
   hop rather than the payment; then the payment ("An intermediate hop MUST NOT, but the
   final node"): unknown or already settled `payment_hash`, `payment_secret` absent or
   wrong, `payment_metadata` missing, invoice expired, amount paid (`total_msat`) below
   the invoice amount or over twice it, `cltv_expiry` below `height +
   min_final_cltv_expiry_delta` - each `incorrect_or_unknown_payment_details` with the
   HTLC amount and our height, so a prober learns nothing about which one failed.
   Keysend (no invoice; `keysend_preimage` whose SHA256 is the `payment_hash`) is
   accepted when the node allows it.
5. An `Accept` goes to the MPP collector (`mpp.py`), which fulfils the set when the parts
   reach `total_msat` and fails it with `mpp_timeout` otherwise.
"""

from __future__ import annotations

import hmac as _hmac
from collections.abc import Callable
from dataclasses import dataclass

from vajra.crypto.hashes import sha256
from vajra.invoice.model import InvoiceFields
from vajra.onion.errors import BadOnion, InvalidOnionPayload
from vajra.onion.failure_packet import build_failure_packet
from vajra.onion.failures import (
    INVALID_ONION_BLINDING,
    UNKNOWN_NEXT_PEER,
    FailureMessage,
    bad_onion,
    final_incorrect_cltv_expiry,
    final_incorrect_htlc_amount,
    incorrect_or_unknown_payment_details,
    invalid_onion_payload,
    simple,
)
from vajra.onion.payload import HopPayload, check_reader_rules
from vajra.onion.sphinx import Ecdh, peel, sha256_of_onion

DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA = 18  # BOLT 11 `c` default


@dataclass(frozen=True, slots=True)
class IncomingHtlc:
    """The `update_add_htlc` fields the final node checks. `amount_msat` in msat,
    `cltv_expiry` a block height, `onion` the 1366-byte `onion_routing_packet`."""

    payment_hash: bytes
    amount_msat: int
    cltv_expiry: int
    onion: bytes
    path_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class InvoiceTerms:
    """What the node promised in its BOLT 11 invoice for one `payment_hash`.

    `amount_msat`: None for an any-amount invoice; `created_at` (unix seconds) and
    `expiry_s` as in the invoice; `settled`: already paid (treated as unknown)."""

    payment_hash: bytes
    payment_secret: bytes
    amount_msat: int | None
    created_at: int
    expiry_s: int
    min_final_cltv_expiry_delta: int = DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA
    payment_metadata: bytes | None = None
    settled: bool = False

    @classmethod
    def from_invoice(cls, invoice: InvoiceFields, *, settled: bool = False) -> InvoiceTerms:
        """The terms of a BOLT 11 invoice the node issued (`timestamp`, `expiry`, `metadata`
        become `created_at`, `expiry_s`, `payment_metadata`)."""
        return cls(
            payment_hash=invoice.payment_hash,
            payment_secret=invoice.payment_secret,
            amount_msat=invoice.amount_msat,
            created_at=invoice.timestamp,
            expiry_s=invoice.expiry,
            min_final_cltv_expiry_delta=invoice.min_final_cltv_expiry_delta,
            payment_metadata=invoice.metadata,
            settled=settled,
        )


@dataclass(frozen=True, slots=True)
class Accept:
    """The HTLC passes every final-node check. `total_msat`: the amount of the whole
    payment (the HTLC set); `preimage`: set for keysend; `shared_secret`: to fail the
    part later (e.g. `mpp_timeout`)."""

    payment_hash: bytes
    amount_msat: int
    total_msat: int
    payment_secret: bytes | None
    preimage: bytes | None
    shared_secret: bytes
    payload: HopPayload


@dataclass(frozen=True, slots=True)
class Fail:
    """Fail the HTLC with `failure`, encrypted for the sender (`update_fail_htlc`);
    `reason` is a stable short code for logs and tests (never sent)."""

    failure: FailureMessage
    shared_secret: bytes
    reason: str

    def packet(self) -> bytes:
        """The `reason` field of `update_fail_htlc`."""
        return build_failure_packet(self.shared_secret, self.failure)


@dataclass(frozen=True, slots=True)
class Malformed:
    """The onion could not be processed: answer `update_fail_malformed_htlc` with these."""

    failure_code: int
    sha256_of_onion: bytes
    reason: str

    @classmethod
    def from_error(cls, e: BadOnion) -> Malformed:
        return cls(e.failure_code, e.sha256_of_onion, type(e).__name__)


Outcome = Accept | Fail | Malformed


def receive_htlc(
    htlc: IncomingHtlc,
    ecdh: Ecdh,
    invoice_for: Callable[[bytes], InvoiceTerms | None],
    *,
    height: int,
    now: int,
    accept_keysend: bool = True,
    keysend_min_final_cltv_expiry_delta: int = DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
) -> Outcome:
    """Steps 1-4 of the module header for one HTLC offered to a hosted node.

    `invoice_for(payment_hash)` returns the node's invoice terms or None; `height` is the
    best block height, `now` unix seconds. Never raises on peer input.

    With an asynchronous ECDH (the signer's), the caller takes the key first:
    `pk = onion_public_key(htlc.onion)` (a `BadOnion` -> `Malformed.from_error(e)`),
    `ss = await ecdh(pk)`, then `receive_htlc(htlc, lambda _: ss, ...)`."""
    if htlc.path_key is not None:
        # BOLT 2: "If `path_key` is set in the incoming `update_add_htlc`: MUST send an
        # `update_fail_malformed_htlc` error using the `invalid_onion_blinding` failure
        # code". A hosted node publishes no blinded path, so it never accepts one.
        return Malformed(INVALID_ONION_BLINDING, sha256_of_onion(htlc.onion), "route_blinding")
    try:
        peeled = peel(htlc.onion, htlc.payment_hash, ecdh)
    except BadOnion as e:
        return Malformed.from_error(e)
    except InvalidOnionPayload as e:
        assert e.shared_secret is not None  # peel always attaches it
        return Fail(invalid_onion_payload(e.tlv_type, e.offset), e.shared_secret, "payload")
    ss = peeled.shared_secret
    try:
        payload = HopPayload.decode(peeled.payload)
        if not peeled.is_final and payload.current_path_key is not None:
            # BOLT 4: "if `current_path_key` is set in the onion payload and it is not the
            # final node: MUST return an `invalid_onion_blinding` error".
            blinding = bad_onion(INVALID_ONION_BLINDING, sha256_of_onion(htlc.onion))
            return Fail(blinding, ss, "route_blinding")
        check_reader_rules(payload, is_final=peeled.is_final)
    except InvalidOnionPayload as e:
        return Fail(invalid_onion_payload(e.tlv_type, e.offset), ss, "payload")
    if not peeled.is_final:
        return Fail(simple(UNKNOWN_NEXT_PEER), ss, "not_a_router")
    invoice = invoice_for(htlc.payment_hash)
    refused = check_final(
        htlc,
        payload,
        invoice,
        height=height,
        now=now,
        accept_keysend=accept_keysend,
        keysend_min_final_cltv_expiry_delta=keysend_min_final_cltv_expiry_delta,
    )
    if refused is not None:
        return Fail(refused[0], ss, refused[1])
    total_msat = payload.total_msat
    assert total_msat is not None  # the reader rules required `amt_to_forward`
    pd = payload.payment_data
    return Accept(
        htlc.payment_hash,
        htlc.amount_msat,
        total_msat,
        pd.payment_secret if pd else None,
        payload.keysend_preimage if invoice is None else None,
        ss,
        payload,
    )


def check_final(
    htlc: IncomingHtlc,
    payload: HopPayload,
    invoice: InvoiceTerms | None,
    *,
    height: int,
    now: int,
    accept_keysend: bool = True,
    keysend_min_final_cltv_expiry_delta: int = DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
) -> tuple[FailureMessage, str] | None:
    """Step 4: None when the HTLC is acceptable, else `(failure message, reason code)`.
    `payload` has passed the reader rules for a final node (amount and CLTV present)."""
    amt_to_forward = payload.amt_to_forward
    outgoing_cltv_value = payload.outgoing_cltv_value
    assert amt_to_forward is not None and outgoing_cltv_value is not None
    if htlc.cltv_expiry < outgoing_cltv_value:
        return final_incorrect_cltv_expiry(htlc.cltv_expiry), "cltv_below_onion"
    if htlc.amount_msat < amt_to_forward:
        return final_incorrect_htlc_amount(htlc.amount_msat), "amount_below_onion"

    def unknown(reason: str) -> tuple[FailureMessage, str]:
        return incorrect_or_unknown_payment_details(htlc.amount_msat, height), reason

    total_msat = payload.total_msat
    assert total_msat is not None
    secret = payload.payment_data.payment_secret if payload.payment_data else None
    if invoice is None:
        preimage = payload.keysend_preimage
        if preimage is None or not accept_keysend:
            return unknown("unknown_payment_hash")
        if sha256(preimage) != htlc.payment_hash:
            return unknown("keysend_preimage_mismatch")
        if htlc.cltv_expiry < height + keysend_min_final_cltv_expiry_delta:
            return unknown("cltv_too_soon")
        return None
    if invoice.settled:
        return unknown("already_settled")  # "MAY treat the payment hash as unknown"
    # "if the `payment_secret` doesn't match ... or ... is required and is not present".
    if secret is None or not _hmac.compare_digest(secret, invoice.payment_secret):
        return unknown("payment_secret")
    # PERM|15 also covers "`payment_metadata` isn't present while it should be".
    if invoice.payment_metadata is not None and payload.payment_metadata != (
        invoice.payment_metadata
    ):
        return unknown("payment_metadata")
    if now >= invoice.created_at + invoice.expiry_s:
        return unknown("invoice_expired")
    if invoice.amount_msat is not None:
        # "if the amount paid is less than the amount expected: MUST fail"; "more than twice
        # the amount expected: SHOULD fail" - "amount paid" is `total_msat` (BOLT 4 MPP).
        if total_msat < invoice.amount_msat:
            return unknown("amount_too_low")
        if total_msat > 2 * invoice.amount_msat:
            return unknown("amount_too_high")
    # "incoming `cltv_expiry` < `current_block_height` + `min_final_cltv_expiry_delta`".
    if htlc.cltv_expiry < height + invoice.min_final_cltv_expiry_delta:
        return unknown("cltv_too_soon")
    return None
