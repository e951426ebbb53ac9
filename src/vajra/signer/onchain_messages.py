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

from vajra.crypto.hashes import sha256
from vajra.signer.devices import DeviceKey
from vajra.signer.messages import FLAG_USER_PRESENT, VERSION, MessageDecodeError

TAG_ONCHAIN = b"vajra/onchain-authorisation/v1"
ONCHAIN_AUTHORISATION_LEN = 195
MAX_SAT = 21_000_000 * 100_000_000
_MAX_U63 = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class OnchainAuthorisation:
    """A device's consent to one on-chain send of `amount_sat` to the script whose
    SHA-256 is `script_hash`, paying at most `max_fee_sat` in fees."""

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
    def user_present(self) -> bool:
        return bool(self.flags & FLAG_USER_PRESENT)

    @property
    def total_msat(self) -> int:
        """What the send can cost at most, in msat: every rule and limit applies to this."""
        return (self.amount_sat + self.max_fee_sat) * 1000

    def body(self) -> bytes:
        return (
            bytes([VERSION, self.flags])
            + self.node_id
            + self.script_hash
            + b"".join(
                v.to_bytes(8, "big")
                for v in (self.amount_sat, self.max_fee_sat, self.expiry, self.counter)
            )
            + self.device_id
        )

    def signed_message(self) -> bytes:
        return TAG_ONCHAIN + self.body()

    @property
    def auth_id(self) -> bytes:
        """SHA-256 of the signed message: names this authorisation (confirmations, audit)."""
        return sha256(self.signed_message())

    def encode(self) -> bytes:
        return self.body() + self.signature

    def signed(self, key: DeviceKey) -> OnchainAuthorisation:
        return OnchainAuthorisation(
            self.node_id,
            self.script_hash,
            self.amount_sat,
            self.max_fee_sat,
            self.expiry,
            self.counter,
            self.device_id,
            self.flags,
            key.sign(self.signed_message()),
        )


def _u64(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 8], "big")


def _range(name: str, v: int, lo: int, hi: int) -> int:
    if not lo <= v <= hi:
        raise MessageDecodeError(f"{name} {v} out of range {lo}..{hi}")
    return v


def decode_onchain_authorisation(data: bytes) -> OnchainAuthorisation:
    """Parse a version-1 on-chain authorisation; MessageDecodeError on anything else."""
    if len(data) != ONCHAIN_AUTHORISATION_LEN:
        raise MessageDecodeError(
            f"on-chain authorisation is {ONCHAIN_AUTHORISATION_LEN} bytes, got {len(data)}"
        )
    if data[0] != VERSION:
        raise MessageDecodeError(f"authorisation version {data[0]} is not supported")
    if data[1] & ~FLAG_USER_PRESENT:
        raise MessageDecodeError("unknown authorisation flags")
    if data[2] not in (2, 3):
        raise MessageDecodeError("node id is not a compressed public key")
    return OnchainAuthorisation(
        node_id=data[2:35],
        script_hash=data[35:67],
        amount_sat=_range("amount_sat", _u64(data, 67), 1, MAX_SAT),
        max_fee_sat=_range("max_fee_sat", _u64(data, 75), 0, MAX_SAT),
        expiry=_range("expiry", _u64(data, 83), 0, _MAX_U63),
        counter=_range("counter", _u64(data, 91), 1, _MAX_U63),
        device_id=data[99:131],
        flags=data[1],
        signature=data[131:195],
    )
