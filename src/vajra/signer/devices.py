"""Client devices as the signer knows them: keys, roles, status and card-like rules.

A device (payment ring, phone, browser extension, third-party app) holds its own key in
a secure element; the signer stores only the public key. Keys are secp256k1 or P-256
(phone enclaves and passkeys only do P-256). Both sign the same way: ECDSA with SHA-256
over the message, 64-byte r || s; secp256k1 signatures must be low-s (libsecp256k1
rule), P-256 ones may have either s (enclaves do not normalise). Nothing keys on
signature bytes (replay protection is the counter), so that malleability is harmless. A device is named by its `device_id`, a tagged hash of
its key type and public key, so authorisations stay short and curve-agnostic.

Roles: an OWNER enrolls devices, sets rules, freezes, unfreezes and removes (by signed
commands, `vajra.signer.messages`), and confirms large payments; a SPENDER only pays.
Status: ACTIVE devices may act; FROZEN and REMOVED ones are refused everything. FROZEN
can be undone by an owner; REMOVED is final (the record stays, so its counter can never
be replayed by re-enrolling the same key).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum

from vajra.crypto import p256
from vajra.crypto.hashes import sha256
from vajra.crypto.p256 import P256PrivateKey
from vajra.crypto.secp256k1 import PrivateKey, check_pubkey, verify_digest
from vajra.errors import DecodeError

# 21 million BTC in msat: no amount or limit above this is meaningful.
MAX_MSAT = 21_000_000 * 100_000_000 * 1000
_DEVICE_ID_TAG = b"vajra/device-id/v1"


class KeyType(IntEnum):
    SECP256K1 = 1
    P256 = 2


class Role(IntEnum):
    OWNER = 1
    SPENDER = 2


class DeviceStatus(IntEnum):
    ACTIVE = 1
    FROZEN = 2
    REMOVED = 3


def device_id(key_type: KeyType, pubkey: bytes) -> bytes:
    """32-byte device id: SHA256("vajra/device-id/v1" || key type || compressed pubkey)."""
    return sha256(_DEVICE_ID_TAG + bytes([key_type]) + pubkey)


def check_device_pubkey(key_type: KeyType, pubkey: bytes) -> bytes:
    """The key parsed on its curve; DecodeError subclasses otherwise."""
    if key_type == KeyType.P256:
        p256.parse_pubkey(pubkey)
    else:
        check_pubkey(pubkey)
    return pubkey


def verify_signature(key_type: KeyType, pubkey: bytes, sig: bytes, message: bytes) -> bool:
    """ECDSA-SHA256 over `message` on the device's curve; never raises."""
    if key_type == KeyType.P256:
        return p256.verify(pubkey, sig, message)
    return verify_digest(pubkey, sig, sha256(message))


@dataclass(frozen=True, slots=True)
class Rules:
    """Per-device rules, like a payment card. Amounts are msat and apply to
    amount + max fee (what the payment can cost at most).

    - total < auto_approve_below_msat: approved without user interaction;
    - auto_approve_below_msat <= total <= confirm_above_msat: approved if the device
      attests user presence (ring squeezed, biometric), else "needs confirmation";
    - total > confirm_above_msat: approved only with an owner device's confirmation;
    - total > per_payment_max_msat: refused;
    - hourly/daily: the sum over any rolling 3600 s / 86400 s window never exceeds these.

    The tiers are tested in that order, so auto-approval wins where they overlap. The
    all-zero default refuses every payment.
    """

    auto_approve_below_msat: int = 0
    confirm_above_msat: int = 0
    per_payment_max_msat: int = 0
    hourly_limit_msat: int = 0
    daily_limit_msat: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or not 0 <= v <= MAX_MSAT:
                raise ValueError(f"{f.name} must be an integer 0..{MAX_MSAT} msat")

    def encode(self) -> bytes:
        """40 bytes: the five fields as u64 big-endian, in declaration order."""
        return b"".join(getattr(self, f.name).to_bytes(8, "big") for f in dataclasses.fields(self))

    @classmethod
    def decode(cls, data: bytes) -> Rules:
        if len(data) != 40:
            raise DecodeError("rules are 40 bytes")
        values = [int.from_bytes(data[i : i + 8], "big") for i in range(0, 40, 8)]
        try:
            return cls(*values)
        except ValueError as e:
            raise DecodeError(str(e)) from None


@dataclass(frozen=True, slots=True)
class Device:
    """One registry entry. `last_counter` is the highest counter this device has used
    (authorisations and commands share it); the next one must be greater."""

    device_id: bytes
    key_type: KeyType
    pubkey: bytes
    role: Role
    status: DeviceStatus
    rules: Rules
    last_counter: int = 0
    label: str = ""
    enrolled_at: int = 0
    enrolled_by: bytes = b""

    def verify(self, sig: bytes, message: bytes) -> bool:
        return verify_signature(self.key_type, self.pubkey, sig, message)


class DeviceKey:
    """A device's own key pair: what a ring or phone holds (here for simulators and tests)."""

    __slots__ = ("_k", "device_id", "key_type", "pubkey")

    def __init__(self, key_type: KeyType, secret: bytes) -> None:
        self.key_type = key_type
        self._k: PrivateKey | P256PrivateKey = (
            P256PrivateKey(secret) if key_type == KeyType.P256 else PrivateKey(secret)
        )
        self.pubkey: bytes = self._k.pubkey
        self.device_id = device_id(key_type, self.pubkey)

    def sign(self, message: bytes) -> bytes:
        """ECDSA-SHA256 over `message`, 64-byte r || s."""
        if isinstance(self._k, P256PrivateKey):
            return self._k.sign(message)
        return self._k.sign_digest(sha256(message))

    def __repr__(self) -> str:
        return f"DeviceKey({self.key_type.name}, id={self.device_id.hex()[:16]})"
