"""BOLT 11 payment invoices: bech32 codec, decoding with the reader rules, signing encoder."""

from vajra.invoice.address import Fallback
from vajra.invoice.bolt11 import (
    Signer,
    canonical_order,
    decode,
    encode,
    signing_digest,
    unsigned_parts,
)
from vajra.invoice.errors import InvoiceEncodeError, InvoiceError, Reason
from vajra.invoice.model import (
    Invoice,
    InvoiceFields,
    RawField,
    RouteHintHop,
    check_description,
    is_expired,
)
from vajra.invoice.render import to_json

__all__ = [
    "Fallback",
    "Invoice",
    "InvoiceEncodeError",
    "InvoiceError",
    "InvoiceFields",
    "RawField",
    "Reason",
    "RouteHintHop",
    "Signer",
    "canonical_order",
    "check_description",
    "decode",
    "encode",
    "is_expired",
    "signing_digest",
    "to_json",
    "unsigned_parts",
]
