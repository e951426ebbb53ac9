"""Device registry and payment-authorisation decisions, one rule at a time."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.signer.helpers import (
    AUDIT_KEY,
    NODE,
    OTHER_NODE,
    RING_RULES,
    T0,
    World,
    key,
)
from vajra.signer import audit
from vajra.signer.devices import DeviceKey, DeviceStatus, KeyType, Role, Rules
from vajra.signer.messages import CommandKind, Enrolment, decode_authorisation
from vajra.signer.policy import Outcome, Reason

CURVES = [KeyType.SECP256K1, KeyType.P256]


@pytest.fixture
def world() -> World:
    w = World()
    w.bootstrap()
    return w


@pytest.mark.parametrize("curve", CURVES)
def test_auto_approve_then_presence_then_owner(world: World, curve: KeyType) -> None:
    ring = key(curve, 1)
    world.enroll(ring)
    p = world.policy
    d = p.decide(world.auth(ring, 5_000_000).encode(), node_id=NODE, now=T0)
    assert (d.outcome, d.reason) == (Outcome.APPROVE, Reason.AUTO_APPROVED)

    mid = world.auth(ring, 20_000_000)
    d = p.decide(mid.encode(), node_id=NODE, now=T0)
    assert (d.outcome, d.reason) == (Outcome.NEEDS_CONFIRMATION, Reason.USER_PRESENCE_REQUIRED)
    squeezed = world.auth(ring, 20_000_000, user_present=True)
    d = p.decide(squeezed.encode(), node_id=NODE, now=T0)
    assert (d.outcome, d.reason) == (Outcome.APPROVE, Reason.USER_PRESENT)

    big = world.auth(ring, 60_000_000, user_present=True)
    d = p.decide(big.encode(), node_id=NODE, now=T0)
    assert (d.outcome, d.reason) == (Outcome.NEEDS_CONFIRMATION, Reason.OWNER_CONFIRMATION_REQUIRED)
    # Needs-confirmation consumed nothing: the same authorisation comes back confirmed.
    d = p.decide(big.encode(), node_id=NODE, now=T0 + 5, confirmation=world.confirm(big))
    assert (d.outcome, d.reason) == (Outcome.APPROVE, Reason.OWNER_CONFIRMED)
    assert p.usage(ring.device_id, T0 + 5).hourly_msat == 85_000_000
    # ... and only once.
    d = p.decide(big.encode(), node_id=NODE, now=T0 + 6, confirmation=world.confirm(big))
    assert d.reason == Reason.REPLAY


def test_bad_confirmations_do_not_burn_the_authorisation(world: World) -> None:
    ring, spender2 = key(KeyType.SECP256K1, 1), key(KeyType.SECP256K1, 2)
    world.enroll(ring)
    world.enroll(spender2)
    big = world.auth(ring, 60_000_000)
    other = world.auth(ring, 61_000_000, counter=99)
    for conf in (
        b"junk",
        world.confirm(other),  # for another authorisation
        world.confirm(big, by=spender2),  # not an owner
        world.confirm(big, by=ring),  # the paying device itself
    ):
        d = world.policy.decide(big.encode(), node_id=NODE, now=T0, confirmation=conf)
        assert (d.outcome, d.reason) == (Outcome.DENY, Reason.BAD_CONFIRMATION)
    d = world.policy.decide(big.encode(), node_id=NODE, now=T0, confirmation=world.confirm(big))
    assert d.reason == Reason.OWNER_CONFIRMED


@pytest.mark.parametrize("curve", CURVES)
def test_refusals_with_their_reasons(world: World, curve: KeyType) -> None:
    ring = key(curve, 1)
    world.enroll(ring)
    p = world.policy

    def decide(data: bytes, node: bytes = NODE, now: int = T0) -> str:
        return p.decide(data, node_id=node, now=now).reason

    assert decide(b"\x01" * 10) == Reason.MALFORMED
    stranger = key(curve, 9)
    assert decide(world.auth(stranger, 1000).encode()) == Reason.UNKNOWN_DEVICE
    forged = dataclasses.replace(world.auth(ring, 1000), amount_msat=999)
    assert decide(forged.encode()) == Reason.BAD_SIGNATURE
    assert decide(world.auth(ring, 1000, node=OTHER_NODE).encode()) == Reason.WRONG_NODE
    assert decide(world.auth(ring, 1000, expiry=T0).encode()) == Reason.EXPIRED
    assert decide(world.auth(ring, 1000, expiry=T0 + 86401).encode()) == Reason.EXPIRY_TOO_FAR
    assert decide(world.auth(ring, 400_000_000, fee=100_000_001).encode()) == (
        Reason.OVER_PER_PAYMENT_MAX
    )
    ok = world.auth(ring, 1000)
    assert decide(ok.encode()) == Reason.AUTO_APPROVED
    assert decide(ok.encode()) == Reason.REPLAY
    older = world.auth(ring, 1000, counter=ok.counter - 1)
    assert decide(older.encode()) == Reason.REPLAY


def test_fee_counts_against_limits(world: World) -> None:
    ring = key(KeyType.SECP256K1, 1)
    world.enroll(ring, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**12))
    p = world.policy
    a = world.auth(ring, 150_000_000, fee=40_000_000)
    assert p.decide(a.encode(), node_id=NODE, now=T0).approved
    b = world.auth(ring, 5_000_000, fee=5_000_001)  # 190M + 10.000001M > 200M
    assert p.decide(b.encode(), node_id=NODE, now=T0).reason == Reason.OVER_HOURLY_LIMIT
    c = world.auth(ring, 5_000_000, fee=5_000_000)
    assert p.decide(c.encode(), node_id=NODE, now=T0).approved


def test_rolling_windows(world: World) -> None:
    ring = key(KeyType.SECP256K1, 1)
    world.enroll(ring, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**12))
    p = world.policy

    def pay(amount: int, now: int) -> str:
        return p.decide(world.auth(ring, amount, now=now).encode(), node_id=NODE, now=now).reason

    assert pay(200_000_000, T0) == Reason.AUTO_APPROVED
    assert pay(1, T0 + 3599) == Reason.OVER_HOURLY_LIMIT
    assert pay(200_000_000, T0 + 3600) == Reason.AUTO_APPROVED  # the first left the hour
    assert pay(200_000_000, T0 + 7200) == Reason.AUTO_APPROVED
    assert pay(1, T0 + 10_800) == Reason.OVER_DAILY_LIMIT  # 600M in the day
    assert pay(200_000_000, T0 + 86_400) == Reason.AUTO_APPROVED  # first left the day


def test_clock_going_back_does_not_refill(world: World) -> None:
    ring = key(KeyType.SECP256K1, 1)
    world.enroll(ring, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**12))
    p = world.policy
    late = T0 + 5000
    assert p.decide(
        world.auth(ring, 200_000_000, now=late).encode(), node_id=NODE, now=late
    ).approved
    # The clock jumps back two hours: the hour is still used up, and the audit time holds.
    d = p.decide(world.auth(ring, 1, now=late).encode(), node_id=NODE, now=T0 - 2000)
    assert d.reason == Reason.OVER_HOURLY_LIMIT
    assert world.state.audit_entries()[-1].time == late


@pytest.mark.parametrize("curve", CURVES)
def test_freeze_unfreeze_remove(world: World, curve: KeyType) -> None:
    ring = key(curve, 1)
    world.enroll(ring)
    p = world.policy

    def pay() -> str:
        return p.decide(world.auth(ring, 1000).encode(), node_id=NODE, now=T0).reason

    assert p.command(world.command(CommandKind.FREEZE, ring), T0).approved
    assert pay() == Reason.DEVICE_FROZEN
    assert p.command(world.command(CommandKind.UNFREEZE, ring), T0).approved
    assert pay() == Reason.AUTO_APPROVED
    d = p.command(world.command(CommandKind.UNFREEZE, ring), T0)
    assert d.reason == Reason.INVALID_TRANSITION
    assert p.command(world.command(CommandKind.REMOVE, ring), T0).approved
    assert pay() == Reason.DEVICE_REMOVED
    assert p.command(world.command(CommandKind.UNFREEZE, ring), T0).reason == Reason.DEVICE_REMOVED
    # A removed key cannot come back with a fresh counter.
    e = Enrolment(ring.key_type, ring.pubkey, Role.SPENDER, RING_RULES)
    again = world.command(CommandKind.ENROLL, ring, enrolment=e)
    assert p.command(again, T0).reason == Reason.ALREADY_ENROLLED


def test_commands_need_an_active_owner(world: World) -> None:
    ring, ring2 = key(KeyType.SECP256K1, 1), key(KeyType.P256, 2)
    world.enroll(ring)
    world.enroll(ring2)
    p = world.policy
    d = p.command(world.command(CommandKind.FREEZE, ring2, issuer=ring), T0)
    assert d.reason == Reason.NOT_OWNER
    # The only owner cannot freeze or remove itself: nobody could unfreeze.
    assert p.command(world.command(CommandKind.FREEZE, world.owner), T0).reason == Reason.LAST_OWNER
    assert p.command(world.command(CommandKind.REMOVE, world.owner), T0).reason == Reason.LAST_OWNER
    # A second owner makes it possible; a frozen owner's commands are refused.
    laptop = key(KeyType.SECP256K1, 3)
    world.enroll(laptop, role=Role.OWNER)
    assert p.command(world.command(CommandKind.FREEZE, world.owner, issuer=laptop), T0).approved
    d = p.command(world.command(CommandKind.FREEZE, ring), T0)
    assert d.reason == Reason.DEVICE_FROZEN
    rules = dataclasses.replace(RING_RULES, hourly_limit_msat=1)
    cmd = world.command(CommandKind.SET_RULES, ring, issuer=laptop, rules=rules)
    assert p.command(cmd, T0).approved
    assert [d.rules for d in p.devices() if d.device_id == ring.device_id] == [rules]
    expired = world.command(CommandKind.UNFREEZE, world.owner, issuer=laptop, now=T0 - 601)
    assert p.command(expired, T0).reason == Reason.EXPIRED
    assert p.command(b"\x01\x02", T0).reason == Reason.MALFORMED


def test_bootstrap_only_without_active_owner() -> None:
    w = World()
    spender = Enrolment(KeyType.P256, w.owner.pubkey, Role.SPENDER, RING_RULES)
    assert w.policy.bootstrap_owner(spender, T0).reason == Reason.NOT_OWNER
    w.bootstrap()
    other = key(KeyType.SECP256K1, 5)
    e = Enrolment(other.key_type, other.pubkey, Role.OWNER, RING_RULES)
    assert w.policy.bootstrap_owner(e, T0).reason == Reason.OWNER_EXISTS


def test_every_decision_is_audited(world: World) -> None:
    ring = key(KeyType.P256, 1)
    world.enroll(ring)
    a = world.auth(ring, 1000)
    decisions = [
        world.policy.decide(a.encode(), node_id=NODE, now=T0),
        world.policy.decide(a.encode(), node_id=NODE, now=T0),
        world.policy.decide(b"garbage", node_id=NODE, now=T0),
    ]
    entries = world.state.audit_entries()
    assert len(entries) == 2 + len(decisions)  # bootstrap, enrol, three decisions
    audit.verify(entries, AUDIT_KEY.pubkey)
    for d in decisions:
        e = entries[d.audit_seq]
        assert (e.outcome, e.reason) == (d.outcome.value, d.reason)
    assert decode_authorisation(entries[2].subject) == a


def test_device_status_and_keys_roundtrip() -> None:
    for curve in CURVES:
        k = DeviceKey(curve, b"\x07" * 32)
        assert k.device_id != DeviceKey(curve, b"\x08" * 32).device_id
        assert "07" * 32 not in repr(k)
    assert DeviceStatus.FROZEN != DeviceStatus.REMOVED
    assert Rules.decode(RING_RULES.encode()) == RING_RULES
    with pytest.raises(ValueError):
        Rules(hourly_limit_msat=-1)


def test_oversized_input_is_malformed_not_a_crash(world: World) -> None:
    huge = b"\x01" * 100_000
    d = world.policy.decide(huge, node_id=NODE, now=T0)
    assert (d.reason, d.device_id) == (Reason.MALFORMED, None)
    assert world.policy.command(huge, T0).reason == Reason.MALFORMED
    d = world.policy.authorise_request("sign", node_id=NODE, epoch=0, subject=huge, now=T0)
    assert d.approved
    audit.verify(world.state.audit_entries(), AUDIT_KEY.pubkey)


def test_decision_names_the_authorisation(world: World) -> None:
    ring = key(KeyType.SECP256K1, 1)
    world.enroll(ring)
    a = world.auth(ring, 1000)
    assert world.policy.decide(a.encode(), node_id=NODE, now=T0).subject_id == a.auth_id
