"""Builders shared by the signer tests: a policy over a state, devices, authorisations."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from vajra.crypto.secp256k1 import PrivateKey
from vajra.signer.devices import DeviceKey, KeyType, Role, Rules
from vajra.signer.messages import (
    CommandKind,
    Confirmation,
    DeviceCommand,
    Enrolment,
    PaymentAuthorisation,
)
from vajra.signer.policy import Policy
from vajra.signer.state import MemoryState, SignerState

T0 = 1_800_000_000
NODE = PrivateKey(b"\x11" * 32).pubkey
OTHER_NODE = PrivateKey(b"\x12" * 32).pubkey
AUDIT_KEY = PrivateKey(b"\x22" * 32)

# A ring: small taps auto-approved, squeeze up to 50k sat, owner above; 200k sat/hour.
RING_RULES = Rules(
    auto_approve_below_msat=10_000_000,
    confirm_above_msat=50_000_000,
    per_payment_max_msat=500_000_000,
    hourly_limit_msat=200_000_000,
    daily_limit_msat=600_000_000,
)
OWNER_RULES = Rules(
    auto_approve_below_msat=100_000_000,
    confirm_above_msat=1_000_000_000,
    per_payment_max_msat=5_000_000_000,
    hourly_limit_msat=5_000_000_000,
    daily_limit_msat=10_000_000_000,
)


def key(kind: KeyType, n: int) -> DeviceKey:
    return DeviceKey(kind, hashlib.sha256(bytes([kind, n])).digest())


@dataclass
class World:
    """A policy with an owner phone (P-256) and helpers to enrol and pay."""

    state: SignerState = field(default_factory=MemoryState)
    owner: DeviceKey = field(default_factory=lambda: key(KeyType.P256, 0))
    counters: dict[bytes, int] = field(default_factory=dict)
    policy: Policy = field(init=False)

    def __post_init__(self) -> None:
        self.policy = Policy(self.state, AUDIT_KEY)

    def bootstrap(self, now: int = T0) -> None:
        e = Enrolment(self.owner.key_type, self.owner.pubkey, Role.OWNER, OWNER_RULES, "phone")
        assert self.policy.bootstrap_owner(e, now).approved

    def next_counter(self, k: DeviceKey) -> int:
        self.counters[k.device_id] = self.counters.get(k.device_id, 0) + 1
        return self.counters[k.device_id]

    def command(
        self,
        kind: CommandKind,
        target: DeviceKey | bytes,
        *,
        issuer: DeviceKey | None = None,
        now: int = T0,
        enrolment: Enrolment | None = None,
        rules: Rules | None = None,
    ) -> bytes:
        issuer = issuer or self.owner
        target_id = target if isinstance(target, bytes) else target.device_id
        cmd = DeviceCommand(
            kind,
            issuer.device_id,
            self.next_counter(issuer),
            now + 600,
            target_id,
            enrolment,
            rules,
        )
        return cmd.signed(issuer).encode()

    def enroll(
        self, k: DeviceKey, rules: Rules = RING_RULES, role: Role = Role.SPENDER, now: int = T0
    ) -> None:
        e = Enrolment(k.key_type, k.pubkey, role, rules, "ring")
        d = self.policy.command(self.command(CommandKind.ENROLL, k, enrolment=e, now=now), now)
        assert d.approved, d

    def auth(
        self,
        k: DeviceKey,
        amount: int,
        *,
        fee: int = 0,
        now: int = T0,
        node: bytes = NODE,
        expiry: int | None = None,
        user_present: bool = False,
        counter: int | None = None,
    ) -> PaymentAuthorisation:
        return PaymentAuthorisation(
            node_id=node,
            payment_hash=hashlib.sha256(f"{amount}/{now}/{counter}".encode()).digest(),
            amount_msat=amount,
            max_fee_msat=fee,
            expiry=now + 60 if expiry is None else expiry,
            counter=self.next_counter(k) if counter is None else counter,
            device_id=k.device_id,
            flags=1 if user_present else 0,
        ).signed(k)

    def confirm(self, auth: PaymentAuthorisation, by: DeviceKey | None = None) -> bytes:
        by = by or self.owner
        return Confirmation(auth.auth_id, by.device_id).signed(by).encode()
