"""The device-signed on-chain authorisation: a device's consent to one on-chain send by
one hosted node (decision 0011). It sits beside the payment authorisation
(`vajra.signer.messages`) and follows the same rules: fixed-layout binary, version 1,
integers big-endian, signature last, ECDSA-SHA256 over a domain-separation tag and every
byte before the signature, a total decoder (fuzzed: tests/fuzz/targets/authorisation.py).

On-chain authorisation (195 bytes), tag b"vajra/onchain-authorisation/v1":

    0    1   version = 1
    1    1   flags: bit 0 USER_PRESENT; other bits MUST be 0
    2    33  node id (compressed secp256k1) of the sending node
    35   32  destination script hash: SHA-256 of the destination output's scriptPubKey
    67   8   amount_sat    (1 .. 21e6 BTC): the destination output's exact value
    75   8   max_fee_sat   (0 .. 21e6 BTC): the transaction fee may not exceed this
    83   8   expiry, unix seconds (< 2^63)
    91   8   counter (1 .. 2^63 - 1), the device's one counter (shared with payments)
    99   32  device id
    131  64  signature

The device's rules and rolling limits (msat) apply to (amount_sat + max_fee_sat) * 1000,
in the same windows as its Lightning payments: one card, one set of limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vajra.signer.messages import (
    AUTHORISATION_LEN,
    Authorisation,
    authorisation_body,
    decode_authorisation_fields,
)

TAG_ONCHAIN = b"vajra/onchain-authorisation/v1"
ONCHAIN_AUTHORISATION_LEN = AUTHORISATION_LEN  # the payment authorisation's layout
MAX_SAT = 21_000_000 * 100_000_000


@dataclass(frozen=True, slots=True)
class OnchainAuthorisation(Authorisation):
    """A device's consent to one on-chain send of `amount_sat` to the script whose
    SHA-256 is `script_hash`, paying at most `max_fee_sat` in fees."""

    TAG: ClassVar[bytes] = TAG_ONCHAIN

    node_id: bytes
    script_hash: bytes
    amount_sat: int
    max_fee_sat: int
    expiry: int
    counter: int
    device_id: bytes
    flags: int = 0
    signature: bytes = b""

    @property
    def total_msat(self) -> int:
        """What the send can cost at most, in msat: every rule and limit applies to this."""
        return (self.amount_sat + self.max_fee_sat) * 1000

    def body(self) -> bytes:
        return authorisation_body(
            self.flags,
            self.node_id,
            self.script_hash,
            self.amount_sat,
            self.max_fee_sat,
            self.expiry,
            self.counter,
            self.device_id,
        )


def decode_onchain_authorisation(data: bytes) -> OnchainAuthorisation:
    """Parse a version-1 on-chain authorisation; MessageDecodeError on anything else."""
    return OnchainAuthorisation(
        *decode_authorisation_fields(data, "on-chain authorisation", "sat", MAX_SAT)
    )
