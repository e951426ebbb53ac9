"""The `9` field's feature bits, judged against the BOLT 9 table in `vajra.wire.features`.

Known, for an invoice, means a BOLT 9 feature presented in context `9` (including the
ASSUMED ones invoices still carry, as the spec's own examples do: `var_onion_optin`,
`payment_secret`). Whether Vajra can honour a required feature when paying is the payer's
question (`wire.features.unknown_required(bits)` against our own set), not the decoder's.
"""

from __future__ import annotations

from collections.abc import Iterable

from vajra.invoice.errors import InvoiceError, Reason
from vajra.wire.features import (
    BY_BIT,
    FEATURES,
    INVOICE,
    contexts_of,
    missing_dependencies,
    unknown_required,
)

KNOWN_INVOICE_BITS = frozenset(
    b for f in FEATURES if INVOICE in contexts_of(f) for b in (f.bit, f.bit + 1)
)


def feature_name(bit: int) -> str | None:
    """BOLT 9 name of the feature `bit` belongs to, if it has one."""
    f = BY_BIT.get(bit)
    return f.name if f else None


def check_invoice_features(bits: Iterable[int]) -> None:
    """Enforce the reader rules on a `9` field's set bits.

    BOLT 11: "if the `9` field contains unknown _even_ bits that are non-zero: MUST fail the
    payment" (unknown odd bits: "MUST ignore the bit"). BOLT 11 Feature Bits: "if the
    feature vector does not set all known, transitive feature dependencies: MUST NOT attempt
    the payment".
    """
    bits = frozenset(bits)
    if unknown := unknown_required(bits, KNOWN_INVOICE_BITS):
        # "SHOULD indicate the unknown bit to the user"
        raise InvoiceError(Reason.UNKNOWN_REQUIRED_FEATURE, f"bits {sorted(unknown)}")
    if missing := missing_dependencies(bits & KNOWN_INVOICE_BITS):
        raise InvoiceError(
            Reason.MISSING_FEATURE_DEPENDENCY,
            ", ".join(f"{feature} needs {dependency}" for feature, dependency in missing),
        )


def features_to_int(bits: Iterable[int]) -> int:
    value = 0
    for b in bits:
        value |= 1 << b
    return value


def int_to_features(value: int) -> frozenset[int]:
    return frozenset(i for i in range(value.bit_length()) if value >> i & 1)
