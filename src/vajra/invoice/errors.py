"""The typed errors of the invoice package: one decode error with a reason, one encode error.

`Reason` names the rule an input broke, so callers (and the spec-vector tests) can tell a
bad checksum from an unknown required feature without parsing messages.
"""

from __future__ import annotations

from enum import StrEnum

from vajra.errors import DecodeError, VajraError


class Reason(StrEnum):
    """Why an invoice string was refused; each value is the human-readable form."""

    # bech32 (BIP 173 / BIP 350) and the overall string
    TOO_LONG = "string is too long"
    INVALID_CHARACTER = "invalid character"
    MIXED_CASE = "mixed case"
    NO_SEPARATOR = "no separator '1'"
    INVALID_CHECKSUM = "invalid checksum"
    TOO_SHORT = "string is too short"
    # human-readable part
    UNKNOWN_PREFIX = "unknown prefix"
    INVALID_AMOUNT = "invalid amount"
    INVALID_MULTIPLIER = "invalid multiplier"
    SUB_MSAT_PRECISION = "sub-millisatoshi precision"
    # tagged fields
    TRUNCATED_FIELD = "tagged field runs past the signature"
    INVALID_FIELD_LENGTH = "fixed-length field has the wrong length"
    NON_MINIMAL_FIELD = "non-minimal field encoding"
    INVALID_PADDING = "field data is not bytes padded with 0 bits"
    FIELD_TOO_LARGE = "integer field exceeds 64 bits"
    INVALID_DESCRIPTION = "description is not valid UTF-8"
    INVALID_PAYEE_KEY = "n field is not a valid public key"
    INVALID_FALLBACK = "malformed fallback address"
    INVALID_ROUTE_HINT = "malformed route hint"
    UNKNOWN_REQUIRED_FEATURE = "unknown required feature"
    MISSING_FEATURE_DEPENDENCY = "missing feature dependency"
    # semantic requirements
    MISSING_PAYMENT_HASH = "missing payment hash (p)"
    MISSING_PAYMENT_SECRET = "missing payment secret (s)"
    MISSING_DESCRIPTION = "neither d nor h field"
    BOTH_DESCRIPTIONS = "both d and h fields"
    DESCRIPTION_HASH_MISMATCH = "description does not match h"
    # signature
    INVALID_RECOVERY_ID = "invalid recovery id"
    SIGNATURE_NOT_RECOVERABLE = "signature is not recoverable"
    HIGH_S_SIGNATURE = "non-canonical (high-S) signature with n field"
    SIGNATURE_MISMATCH = "signature does not verify against n field"


class InvoiceError(DecodeError):
    """A BOLT 11 string a reader MUST (or, for SHOULDs we keep, does) refuse."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else str(reason))


class InvoiceEncodeError(VajraError, ValueError):
    """Fields a writer may not put in an invoice, or a signer's answer that is unusable."""
