"""A decoded invoice as JSON-ready data, for `vajra decode` and APIs.

Names follow what users know from `lightning-cli decode` (Core Lightning) and
`lncli decodepayreq` (LND): amounts are integer msat, bytes are hex, short channel ids are
`BLOCKxTXxOUTPUT`, features are keyed by bit number.
"""

from __future__ import annotations

from vajra.invoice.bech32 import CHARSET
from vajra.invoice.features import KNOWN_INVOICE_BITS, feature_name
from vajra.invoice.model import Invoice, RouteHintHop
from vajra.wire.primitives import scid_to_str


def _hop(hop: RouteHintHop) -> dict[str, object]:
    return {
        "pubkey": hop.pubkey.hex(),
        "short_channel_id": scid_to_str(hop.short_channel_id),
        "fee_base_msat": hop.fee_base_msat,
        "fee_proportional_millionths": hop.fee_proportional_millionths,
        "cltv_expiry_delta": hop.cltv_expiry_delta,
    }


def to_json(inv: Invoice) -> dict[str, object]:
    """JSON-serialisable view of `inv`; optional fields appear only when present."""
    out: dict[str, object] = {
        "type": "bolt11 invoice",
        "currency": inv.currency,
        "created_at": inv.timestamp,
        "expiry": inv.expiry,
        "expires_at": inv.expires_at,
        "payee": inv.payee.hex(),
    }
    if inv.amount_msat is not None:
        out["amount_msat"] = inv.amount_msat
    if inv.description is not None:
        out["description"] = inv.description
    if inv.description_hash is not None:
        out["description_hash"] = inv.description_hash.hex()
    out["min_final_cltv_expiry"] = inv.min_final_cltv_expiry_delta
    out["payment_hash"] = inv.payment_hash.hex()
    out["payment_secret"] = inv.payment_secret.hex()
    if inv.metadata is not None:
        out["payment_metadata"] = inv.metadata.hex()
    if inv.fallbacks:
        out["fallbacks"] = [
            {"type": fb.kind, "addr": fb.address(inv.currency), "hex": fb.script_pubkey().hex()}
            for fb in inv.fallbacks
        ]
    if inv.route_hints:
        out["routes"] = [[_hop(h) for h in hint] for hint in inv.route_hints]
    out["features"] = {
        str(bit): {
            "name": feature_name(bit) or "unknown",
            "is_required": bit % 2 == 0,
            "is_known": bit in KNOWN_INVOICE_BITS,
        }
        for bit in sorted(inv.features)
    }
    if inv.unknown_fields:
        out["extra"] = [
            {"tag": f.tag, "data": "".join(CHARSET[w] for w in f.words)} for f in inv.unknown_fields
        ]
    out["signature"] = inv.signature.hex()
    out["recovery_id"] = inv.recovery_id
    return out
