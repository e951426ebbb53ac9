"""The values of a BOLT 11 invoice: what `encode` takes and `decode` returns.

`InvoiceFields` is what a writer says; `Invoice` adds what decoding established (the payee
and the checked signature). Amounts are integer millisatoshi, keys and hashes `bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.crypto.hashes import sha256
from vajra.invoice.address import Fallback
from vajra.invoice.errors import InvoiceError, Reason

CURRENCIES = ("bc", "tb", "tbs", "bcrt")
"""Currency prefixes after `ln`: mainnet, testnet, signet, regtest."""
DEFAULT_EXPIRY = 3600
DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA = 18
UNKNOWN = "?"
"""`field_order` entry standing for the next of `unknown_fields`."""


@dataclass(frozen=True, slots=True)
class RouteHintHop:
    """One entry of an `r` field: a channel from a public node towards the payee."""

    pubkey: bytes
    """Node id at the start of the channel."""
    short_channel_id: int
    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int


@dataclass(frozen=True, slots=True)
class RawField:
    """A tagged field this reader skipped, kept verbatim."""

    tag: str
    """The field type as its bech32 character (e.g. "2" for type 10)."""
    words: bytes
    """The field data as 5-bit words."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceFields:
    """What an invoice says, without its signature: the input of `encode`."""

    currency: str
    """Currency prefix after `ln`: "bc", "tb", "tbs" or "bcrt"."""
    timestamp: int
    """Seconds since 1970 (35 bits)."""
    payment_hash: bytes
    payment_secret: bytes
    amount_msat: int | None = None
    """None: any amount (the payer chooses)."""
    description: str | None = None
    description_hash: bytes | None = None
    metadata: bytes | None = None
    expiry: int = DEFAULT_EXPIRY
    """Seconds after `timestamp` the invoice stays payable."""
    min_final_cltv_expiry_delta: int = DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA
    fallbacks: tuple[Fallback, ...] = ()
    """On-chain fallbacks, most preferred first."""
    route_hints: tuple[tuple[RouteHintHop, ...], ...] = ()
    """One route per `r` field, each hop in forward order."""
    features: frozenset[int] = frozenset()
    """Set bit numbers of the `9` field (unknown odd bits included)."""
    explicit_payee: bytes | None = None
    """The `n` field, when the writer includes one."""
    unknown_fields: tuple[RawField, ...] = ()
    field_order: tuple[str, ...] | None = None
    """Tags in wire order ("?" = next unknown field); None: the canonical order."""

    @property
    def expires_at(self) -> int:
        return self.timestamp + self.expiry


@dataclass(frozen=True, slots=True, kw_only=True)
class Invoice(InvoiceFields):
    """A decoded invoice whose signature has been checked."""

    payee: bytes
    """Node id to pay: the `n` field, or the key recovered from the signature."""
    signature: bytes
    """64-byte compact signature (r || s)."""
    recovery_id: int


def is_expired(invoice: InvoiceFields, now: int) -> bool:
    """BOLT 11 payer: "after the `timestamp` plus `expiry` has passed: SHOULD NOT attempt a
    payment". Payable in [timestamp, timestamp + expiry)."""
    return now >= invoice.expires_at


def check_description(invoice: InvoiceFields, description: str | bytes) -> None:
    """BOLT 11: "MUST check that the SHA2 256-bit hash in the `h` field exactly matches the
    hashed description". Raises InvoiceError if it does not (or there is no `h`)."""
    data = description.encode() if isinstance(description, str) else description
    if invoice.description_hash is None or sha256(data) != invoice.description_hash:
        raise InvoiceError(Reason.DESCRIPTION_HASH_MISMATCH)
