"""A hosted node's BOLT 11 invoices: the stateless payment preimage, the invoice's fields,
and the record the runtime keeps so the node finds the invoice when its HTLC arrives
(sans-IO; decision 0022).

Theory of operation
-------------------
The preimage is never stored: it is derived, LDK-style, from a per-node receive key and
the invoice's random `payment_secret`:

    receive_key = HMAC-SHA256(identity_secret, "vajra/receive-key/v1")
    preimage    = HMAC-SHA256(receive_key, "vajra/preimage/v1" || payment_secret)
    payment_hash = SHA256(preimage)

The identity secret is the node's BOLT 8 static key, released by its signer into the
runtime's key table (RAM only, `mlock`ed), which both the supervisor (creating the
invoice, node asleep: no wake) and the owning worker (fulfilling) hold. The stored
record is the signed BOLT 11 string (it carries the payment secret, amount, expiry and
`min_final_cltv_expiry_delta`), written unsealed under the node's store key
`invoice:<payment_hash hex>`: what the payer is given anyway. Reading it back, the node
re-derives the preimage and checks its hash, so a forged record cannot make the node
fulfil anything it did not promise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from vajra.crypto.hashes import hmac_sha256, sha256
from vajra.crypto.secp256k1 import ecdh
from vajra.errors import DecodeError
from vajra.invoice import Invoice, InvoiceFields, RouteHintHop, decode
from vajra.invoice.errors import InvoiceError

INVOICE_KEY_PREFIX = "invoice:"
RECEIVE_KEY_TAG = b"vajra/receive-key/v1"
PREIMAGE_TAG = b"vajra/preimage/v1"
MIN_FINAL_CLTV_EXPIRY_DELTA = 80
"""Our invoices' `c` (LND's default, 80 blocks: time to claim on chain if the peer does not
take the preimage)."""
DEFAULT_EXPIRY_S = 3600
MAX_EXPIRY_S = 365 * 24 * 3600
MAX_DESCRIPTION = 639
"""BOLT 11 `d`: 639 bytes is what fits in one tagged field."""
VAR_ONION_OPTIN_REQUIRED = 8
PAYMENT_SECRET_REQUIRED = 14
BASIC_MPP_OPTIONAL = 17
INVOICE_FEATURES = frozenset(
    {VAR_ONION_OPTIN_REQUIRED, PAYMENT_SECRET_REQUIRED, BASIC_MPP_OPTIONAL}
)
ROUTE_HINT_CLTV_EXPIRY_DELTA = 40
"""`cltv_expiry_delta` of the peer's hop in the route hint (the LSP's policy towards us;
LND's default is 80, ours only has to be what the peer enforces, and LND accepts any
value at least its own minimum of 18 for an unannounced channel)."""


def invoice_key(payment_hash: bytes) -> str:
    """The store key of the invoice record for `payment_hash`."""
    return INVOICE_KEY_PREFIX + payment_hash.hex()


class ReceiveKeys:
    """What receiving needs from a node's identity secret (32 bytes): the onion's ECDH
    (BOLT 4: `ss = SHA256(k * E)`) and the derived preimages. Held only while the node
    is awake (the worker builds it from its key table)."""

    __slots__ = ("_key", "_secret")

    def __init__(self, identity_secret: bytes) -> None:
        self._secret = identity_secret
        self._key = hmac_sha256(identity_secret, RECEIVE_KEY_TAG)

    def ecdh(self, point: bytes) -> bytes:
        """BOLT 4 shared secret with the onion's ephemeral key. Raises `ValueError` on a
        bad point (the caller's `peel` turns it into `invalid_onion_key`)."""
        return ecdh(self._secret, point)

    def preimage(self, payment_secret: bytes) -> bytes:
        return hmac_sha256(self._key, PREIMAGE_TAG + payment_secret)


def new_payment(keys: ReceiveKeys) -> tuple[bytes, bytes]:
    """A fresh (payment_secret, payment_hash): 32 random bytes and the hash of their
    derived preimage."""
    secret = os.urandom(32)
    return secret, sha256(keys.preimage(secret))


@dataclass(frozen=True, slots=True)
class HintChannel:
    """A channel of the node usable for a route hint: the peer's node id and the
    `short_channel_id` it knows the channel by (the alias it gave us, else the real one)."""

    peer: bytes
    short_channel_id: int
    fee_base_msat: int = 0
    fee_proportional_millionths: int = 0
    cltv_expiry_delta: int = 0
    """The peer's policy towards us when it sent its `channel_update` for the channel
    (BOLT 7: a private channel's update goes to the peer only); 0: unknown, our default
    delta (`ROUTE_HINT_CLTV_EXPIRY_DELTA`) and no fee."""


def invoice_fields(
    *,
    keys: ReceiveKeys,
    currency: str,
    amount_msat: int | None,
    description: str,
    now: int,
    expiry_s: int = DEFAULT_EXPIRY_S,
    hints: tuple[HintChannel, ...] = (),
) -> InvoiceFields:
    """The unsigned invoice: a new payment secret and hash, our features, `c`, and one
    route hint per channel (BOLT 11 `r`: the peer -> us over that channel). Raises
    `ValueError` for an amount, expiry or description out of range."""
    if amount_msat is not None and amount_msat <= 0:
        raise ValueError("amount_msat must be positive")
    if not 0 < expiry_s <= MAX_EXPIRY_S:
        raise ValueError(f"expiry must be 1..{MAX_EXPIRY_S} seconds")
    if len(description.encode()) > MAX_DESCRIPTION:
        raise ValueError(f"description longer than {MAX_DESCRIPTION} bytes")
    secret, payment_hash = new_payment(keys)
    route_hints = tuple(
        (
            RouteHintHop(
                h.peer,
                h.short_channel_id,
                h.fee_base_msat,
                h.fee_proportional_millionths,
                h.cltv_expiry_delta or ROUTE_HINT_CLTV_EXPIRY_DELTA,
            ),
        )
        for h in hints
    )
    return InvoiceFields(
        currency=currency,
        timestamp=now,
        payment_hash=payment_hash,
        payment_secret=secret,
        amount_msat=amount_msat,
        description=description,
        expiry=expiry_s,
        min_final_cltv_expiry_delta=MIN_FINAL_CLTV_EXPIRY_DELTA,
        route_hints=route_hints,
        features=INVOICE_FEATURES,
    )


def encode_record(bolt11: str, created_at: int) -> bytes:
    """The stored record of an issued invoice (JSON; nothing in it is secret)."""
    return json.dumps({"v": 1, "bolt11": bolt11, "created_at": created_at}).encode()


def decode_record(blob: bytes, node_id: bytes) -> Invoice:
    """The invoice of a stored record, checked to be `node_id`'s. Raises `DecodeError`."""
    try:
        obj = json.loads(blob)
        inv = decode(str(obj["bolt11"]))
    except (ValueError, KeyError, TypeError, InvoiceError) as e:
        raise DecodeError(f"bad invoice record: {e}") from None
    if inv.payee != node_id:
        raise DecodeError("invoice record: another node's invoice")
    return inv
