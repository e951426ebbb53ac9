"""BOLT 4 onion routing, sans-IO: Sphinx packets (`sphinx`), hop payloads (`payload`),
failure messages (`failures`) and packets (`failure_packet`), the origin's per-hop
amounts and CLTVs (`route`), the final node's checks (`final_hop`) and the multi-part
payment collector (`mpp`). Own code: decision 0018."""

from vajra.onion.errors import (
    BadOnion,
    FailureDecodeError,
    InvalidOnionHmac,
    InvalidOnionKey,
    InvalidOnionPayload,
    InvalidOnionVersion,
    OnionError,
)
from vajra.onion.failure_packet import (
    DecodedFailure,
    build_failure_packet,
    decode_failure_packet,
    malformed_failure,
    obfuscate_failure,
)
from vajra.onion.failures import FailureMessage
from vajra.onion.final_hop import (
    Accept,
    Fail,
    IncomingHtlc,
    InvoiceTerms,
    Malformed,
    check_final,
    receive_htlc,
)
from vajra.onion.mpp import Complete, Failed, MppCollector, Pending
from vajra.onion.payload import HopPayload, PaymentData, check_reader_rules, decode_hop_payload
from vajra.onion.route import (
    FinalTerms,
    RouteHop,
    RoutePayloads,
    build_payment_onion,
    route_payloads,
)
from vajra.onion.sphinx import (
    Onion,
    Peeled,
    create_onion,
    onion_public_key,
    peel,
    peel_with_shared_secret,
    sha256_of_onion,
    shared_secrets,
)

__all__ = [
    "Accept",
    "BadOnion",
    "Complete",
    "DecodedFailure",
    "Fail",
    "Failed",
    "FailureDecodeError",
    "FailureMessage",
    "FinalTerms",
    "HopPayload",
    "IncomingHtlc",
    "InvalidOnionHmac",
    "InvalidOnionKey",
    "InvalidOnionPayload",
    "InvalidOnionVersion",
    "InvoiceTerms",
    "Malformed",
    "MppCollector",
    "Onion",
    "OnionError",
    "PaymentData",
    "Peeled",
    "Pending",
    "RouteHop",
    "RoutePayloads",
    "build_failure_packet",
    "build_payment_onion",
    "check_final",
    "check_reader_rules",
    "create_onion",
    "decode_failure_packet",
    "decode_hop_payload",
    "malformed_failure",
    "obfuscate_failure",
    "onion_public_key",
    "peel",
    "peel_with_shared_secret",
    "receive_htlc",
    "route_payloads",
    "sha256_of_onion",
    "shared_secrets",
]
