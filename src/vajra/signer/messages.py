"""Canonical encodings of everything a device signs: payment authorisations, owner
confirmations and device-registry commands.

Every message is fixed-layout binary, version 1, integers big-endian, with the signature
last. The signature is ECDSA-SHA256 (`vajra.signer.devices.verify_signature`) over a
domain-separation tag followed by every byte before the signature, so a signature made
for one kind of message can never be replayed as another kind, or as anything else the
same key signs. The decoders are total: any input either decodes to exactly one value
(re-encoding gives the same bytes) or raises `MessageDecodeError`. They are fuzzed
(tests/fuzz/targets/authorisation.py).

Payment authorisation (195 bytes), tag b"vajra/payment-authorisation/v1":

    0    1   version = 1
    1    1   flags: bit 0 USER_PRESENT (the device saw the user confirm: ring squeezed,
             biometric); other bits MUST be 0
    2    33  node id (compressed secp256k1) of the paying node
    35   32  payment hash
    67   8   amount_msat   (1 .. 21e6 BTC)
    75   8   max_fee_msat  (0 .. 21e6 BTC)
    83   8   expiry, unix seconds (< 2^63)
    91   8   counter (1 .. 2^63 - 1), strictly increasing per device
    99   32  device id
    131  64  signature

Owner confirmation (129 bytes), tag b"vajra/owner-confirmation/v1":

    0    1   version = 1
    1    32  authorisation id (SHA-256 of the authorisation's signed message)
    33   32  owner device id
    65   64  signature

Device command (146 bytes + payload), tag b"vajra/device-command/v1":

    0    1   version = 1
    1    1   kind: 1 ENROLL, 2 FREEZE, 3 UNFREEZE, 4 REMOVE, 5 SET_RULES, 6 RESET_CLOCK
    2    32  issuer device id (an owner)
    34   8   counter (shares the issuer's counter with its authorisations)
    42   8   expiry, unix seconds
    50   32  target device id
    82   *   payload: ENROLL: key type (1) | pubkey (33) | role (1) | rules (40) |
             label length (1, <= 64) | label (UTF-8); SET_RULES: rules (40);
             RESET_CLOCK: the owner device's time (u64 unix s; target = issuer);
             else empty
    end  64  signature
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Self

from vajra.crypto.hashes import sha256
from vajra.errors import DecodeError
from vajra.signer.devices import (
    MAX_MSAT,
    DeviceKey,
    KeyType,
    Role,
    Rules,
    check_device_pubkey,
    device_id,
)

VERSION = 1
TAG_AUTHORISATION = b"vajra/payment-authorisation/v1"
TAG_CONFIRMATION = b"vajra/owner-confirmation/v1"
TAG_COMMAND = b"vajra/device-command/v1"

FLAG_USER_PRESENT = 0x01
_KNOWN_FLAGS = FLAG_USER_PRESENT
_MAX_U63 = (1 << 63) - 1
_MAX_LABEL = 64

AUTHORISATION_LEN = 195
CONFIRMATION_LEN = 129


class MessageDecodeError(DecodeError):
    """Bytes that are not a canonical version-1 signer message."""


def _u64(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 8], "big")


def _range(name: str, v: int, lo: int, hi: int) -> int:
    if not lo <= v <= hi:
        raise MessageDecodeError(f"{name} {v} out of range {lo}..{hi}")
    return v


class SignedMessage:
    """What every device-signed message shares (module docstring): the signed message is
    the kind's domain-separation tag `TAG` followed by `body()`; the wire form is `body()`
    followed by the 64-byte `signature`. Mixed into a frozen dataclass that sets `TAG`,
    defines `body()` and has a field `signature: bytes = b""` (empty until signed)."""

    __slots__ = ()
    TAG: ClassVar[bytes]
    signature: bytes
    # Only dataclasses mix this in: `signed` copies one with `dataclasses.replace`.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def body(self) -> bytes:
        raise NotImplementedError

    def signed_message(self) -> bytes:
        """The bytes the device's key signs: TAG | body."""
        return self.TAG + self.body()

    def encode(self) -> bytes:
        """The wire form: body | signature."""
        return self.body() + self.signature

    def signed(self, key: DeviceKey) -> Self:
        """A copy carrying `key`'s signature over `signed_message()`."""
        return dataclasses.replace(self, signature=key.sign(self.signed_message()))


# --- the 195-byte authorisation layout (payments here; on-chain sends in onchain_messages) --

# node_id, subject, amount, max_fee, expiry, counter, device_id, flags, signature: the field
# order of PaymentAuthorisation and OnchainAuthorisation, so `Kind(*fields)` builds either.
AuthorisationFields = tuple[bytes, bytes, int, int, int, int, bytes, int, bytes]


class Authorisation(SignedMessage):
    """A device's consent to one spend: the authorisation layout in the module docstring,
    whose 32-byte subject is a payment hash or a destination script hash."""

    __slots__ = ()
    flags: int

    @property
    def user_present(self) -> bool:
        return bool(self.flags & FLAG_USER_PRESENT)

    @property
    def auth_id(self) -> bytes:
        """SHA-256 of the signed message: names this authorisation (confirmations, audit)."""
        return sha256(self.signed_message())


def authorisation_body(
    flags: int,
    node_id: bytes,
    subject: bytes,
    amount: int,
    max_fee: int,
    expiry: int,
    counter: int,
    device_id: bytes,
) -> bytes:
    """The 131 bytes before the signature of the authorisation layout (module docstring):
    version | flags | node id (33) | subject (32) | four u64 | device id (32)."""
    return (
        bytes([VERSION, flags])
        + node_id
        + subject
        + b"".join(v.to_bytes(8, "big") for v in (amount, max_fee, expiry, counter))
        + device_id
    )


def decode_authorisation_fields(
    data: bytes, what: str, unit: str, max_amount: int
) -> AuthorisationFields:
    """Check and split the 195-byte authorisation layout: `what` names the kind in errors,
    amounts are in `unit` ("msat" or "sat"), at most `max_amount`. MessageDecodeError on
    a wrong length, version, flag, node id prefix or out-of-range integer."""
    if len(data) != AUTHORISATION_LEN:
        raise MessageDecodeError(f"{what} is {AUTHORISATION_LEN} bytes, got {len(data)}")
    if data[0] != VERSION:
        raise MessageDecodeError(f"authorisation version {data[0]} is not supported")
    if data[1] & ~_KNOWN_FLAGS:
        raise MessageDecodeError("unknown authorisation flags")
    if data[2] not in (2, 3):
        raise MessageDecodeError("node id is not a compressed public key")
    return (
        data[2:35],
        data[35:67],
        _range(f"amount_{unit}", _u64(data, 67), 1, max_amount),
        _range(f"max_fee_{unit}", _u64(data, 75), 0, max_amount),
        _range("expiry", _u64(data, 83), 0, _MAX_U63),
        _range("counter", _u64(data, 91), 1, _MAX_U63),
        data[99:131],
        data[1],
        data[131:195],
    )


# --- payment authorisation ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentAuthorisation(Authorisation):
    """A device's consent to one payment."""

    TAG: ClassVar[bytes] = TAG_AUTHORISATION

    node_id: bytes
    payment_hash: bytes
    amount_msat: int
    max_fee_msat: int
    expiry: int
    counter: int
    device_id: bytes
    flags: int = 0
    signature: bytes = b""

    @property
    def total_msat(self) -> int:
        """What the payment can cost at most; every rule and limit applies to this."""
        return self.amount_msat + self.max_fee_msat

    def body(self) -> bytes:
        return authorisation_body(
            self.flags,
            self.node_id,
            self.payment_hash,
            self.amount_msat,
            self.max_fee_msat,
            self.expiry,
            self.counter,
            self.device_id,
        )


def decode_authorisation(data: bytes) -> PaymentAuthorisation:
    """Parse a version-1 authorisation; MessageDecodeError on anything else."""
    return PaymentAuthorisation(
        *decode_authorisation_fields(data, "authorisation", "msat", MAX_MSAT)
    )


# --- owner confirmation ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Confirmation(SignedMessage):
    """An owner device's approval of one authorisation above its device's confirm limit."""

    TAG: ClassVar[bytes] = TAG_CONFIRMATION

    auth_id: bytes
    device_id: bytes
    signature: bytes = b""

    def body(self) -> bytes:
        return bytes([VERSION]) + self.auth_id + self.device_id


def decode_confirmation(data: bytes) -> Confirmation:
    if len(data) != CONFIRMATION_LEN:
        raise MessageDecodeError(f"confirmation is {CONFIRMATION_LEN} bytes, got {len(data)}")
    if data[0] != VERSION:
        raise MessageDecodeError(f"confirmation version {data[0]} is not supported")
    return Confirmation(data[1:33], data[33:65], data[65:129])


# --- device commands ------------------------------------------------------------------------


class CommandKind(IntEnum):
    ENROLL = 1
    FREEZE = 2
    UNFREEZE = 3
    REMOVE = 4
    SET_RULES = 5
    RESET_CLOCK = 6


@dataclass(frozen=True, slots=True)
class Enrolment:
    """The ENROLL payload: the new device's key, role, rules and a human label."""

    key_type: KeyType
    pubkey: bytes
    role: Role
    rules: Rules
    label: str = ""

    def encode(self) -> bytes:
        label = self.label.encode()
        return (
            bytes([self.key_type])
            + self.pubkey
            + bytes([self.role])
            + self.rules.encode()
            + bytes([len(label)])
            + label
        )


@dataclass(frozen=True, slots=True)
class DeviceCommand(SignedMessage):
    """An owner-signed change to the registry."""

    TAG: ClassVar[bytes] = TAG_COMMAND

    kind: CommandKind
    issuer: bytes
    counter: int
    expiry: int
    target: bytes
    enrolment: Enrolment | None = None  # ENROLL only
    rules: Rules | None = None  # SET_RULES only
    signature: bytes = b""
    clock: int | None = None  # RESET_CLOCK only: the owner device's time

    def body(self) -> bytes:
        if self.kind == CommandKind.ENROLL:
            assert self.enrolment is not None
            payload = self.enrolment.encode()
        elif self.kind == CommandKind.SET_RULES:
            assert self.rules is not None
            payload = self.rules.encode()
        elif self.kind == CommandKind.RESET_CLOCK:
            assert self.clock is not None
            payload = self.clock.to_bytes(8, "big")
        else:
            payload = b""
        return (
            bytes([VERSION, self.kind])
            + self.issuer
            + self.counter.to_bytes(8, "big")
            + self.expiry.to_bytes(8, "big")
            + self.target
            + payload
        )


def _decode_enrolment(p: bytes, target: bytes) -> Enrolment:
    if len(p) < 76 or len(p) != 76 + p[75]:
        raise MessageDecodeError("bad ENROLL payload length")
    try:
        key_type = KeyType(p[0])
        role = Role(p[34])
    except ValueError:
        raise MessageDecodeError("unknown key type or role") from None
    pubkey = check_device_pubkey(key_type, p[1:34])
    if device_id(key_type, pubkey) != target:
        raise MessageDecodeError("ENROLL target is not the enrolled key's device id")
    if p[75] > _MAX_LABEL:
        raise MessageDecodeError("label too long")
    try:
        label = p[76:].decode()
    except UnicodeDecodeError:
        raise MessageDecodeError("label is not UTF-8") from None
    return Enrolment(key_type, pubkey, role, Rules.decode(p[35:75]), label)


def decode_enrolment(data: bytes) -> tuple[bytes, Enrolment]:
    """An encoded enrolment alone (a bootstrap's audit subject): its device id and value."""
    if len(data) < 34:
        raise MessageDecodeError("enrolment too short")
    try:
        d_id = device_id(KeyType(data[0]), data[1:34])
    except ValueError:
        raise MessageDecodeError("unknown key type") from None
    return d_id, _decode_enrolment(data, d_id)


def decode_command(data: bytes) -> DeviceCommand:
    if len(data) < 146:
        raise MessageDecodeError("command too short")
    if data[0] != VERSION:
        raise MessageDecodeError(f"command version {data[0]} is not supported")
    try:
        kind = CommandKind(data[1])
    except ValueError:
        raise MessageDecodeError(f"unknown command kind {data[1]}") from None
    target = data[50:82]
    payload = data[82:-64]
    enrolment, rules, clock = None, None, None
    if kind == CommandKind.ENROLL:
        enrolment = _decode_enrolment(payload, target)
    elif kind == CommandKind.SET_RULES:
        rules = Rules.decode(payload)  # DecodeError subclass on a wrong length
    elif kind == CommandKind.RESET_CLOCK:
        if len(payload) != 8:
            raise MessageDecodeError("RESET_CLOCK carries an 8-byte time")
        clock = _range("clock", _u64(payload, 0), 0, _MAX_U63)
    elif payload:
        raise MessageDecodeError(f"{kind.name} carries no payload")
    return DeviceCommand(
        kind=kind,
        issuer=data[2:34],
        counter=_range("counter", _u64(data, 34), 1, _MAX_U63),
        expiry=_range("expiry", _u64(data, 42), 0, _MAX_U63),
        target=target,
        enrolment=enrolment,
        rules=rules,
        signature=data[-64:],
        clock=clock,
    )
