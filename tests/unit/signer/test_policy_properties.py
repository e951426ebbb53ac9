"""Property tests of the device rules: limits hold under any interleaving, refusals are
refused for the right reason, time going backwards never helps."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.signer.helpers import NODE, OTHER_NODE, T0, World, key
from vajra.signer.audit import AuditEntry
from vajra.signer.devices import DeviceKey, KeyType, Rules
from vajra.signer.messages import PaymentAuthorisation, decode_authorisation
from vajra.signer.policy import HOUR, Outcome, Reason

MSAT = st.integers(1, 60_000_000)

rules_st = st.builds(
    Rules,
    auto_approve_below_msat=st.integers(0, 100_000_000),
    confirm_above_msat=st.integers(0, 150_000_000),
    per_payment_max_msat=st.integers(50_000_000, 200_000_000),
    hourly_limit_msat=st.integers(0, 300_000_000) | st.integers(40_000_000, 120_000_000),
    daily_limit_msat=st.integers(0, 600_000_000) | st.integers(100_000_000, 300_000_000),
)

# One step: which device pays, amount, fee, clock step (may go backwards), presence,
# and whether an owner confirmation is attached.
step_st = st.tuples(
    st.integers(0, 2),
    MSAT,
    st.integers(0, 5_000_000),
    st.integers(-2 * HOUR, 2 * HOUR),
    st.booleans(),
    st.booleans(),
)


def _approved_spends(entries: list[AuditEntry]) -> dict[bytes, list[tuple[int, int]]]:
    """(signer time, amount + max fee) of every approved payment, per device, from the log."""
    out: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for e in entries:
        if e.kind == "payment" and e.outcome == Outcome.APPROVE:
            a = decode_authorisation(e.subject)
            out[a.device_id].append((e.time, a.total_msat))
    return out


def _assert_windows(spends: list[tuple[int, int]], rules: Rules) -> None:
    times = [t for t, _ in spends]
    assert times == sorted(times), "signer time is monotonic"
    for t, _ in spends:
        assert sum(m for u, m in spends if t - HOUR < u <= t) <= rules.hourly_limit_msat
        assert sum(m for u, m in spends if t - 24 * HOUR < u <= t) <= rules.daily_limit_msat


def _world(rules: list[Rules]) -> tuple[World, list[DeviceKey]]:
    w = World()
    w.bootstrap()
    devices = [key(KeyType.P256 if i % 2 else KeyType.SECP256K1, i + 1) for i in range(3)]
    for d, r in zip(devices, rules, strict=True):
        w.enroll(d, rules=r)
    return w, devices


@settings(max_examples=60, deadline=None)
@given(st.lists(rules_st, min_size=3, max_size=3), st.lists(step_st, min_size=5, max_size=60))
def test_no_sequence_exceeds_hourly_or_daily_limits(
    rules: list[Rules], steps: list[tuple[int, int, int, int, bool, bool]]
) -> None:
    w, devices = _world(rules)
    now = true_time = T0
    for who, amount, fee, dt, present, confirm in steps:
        now += dt  # the signer's clock, which may jump back
        true_time = max(true_time, now)  # devices' clocks are right
        auth = w.auth(devices[who], amount, fee=fee, now=true_time, user_present=present)
        conf = w.confirm(auth) if confirm else None
        w.policy.decide(auth.encode(), node_id=NODE, now=now, confirmation=conf)
    spends = _approved_spends(w.state.audit_entries())
    for d, r in zip(devices, rules, strict=True):
        _assert_windows(spends[d.device_id], r)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(rules_st, min_size=3, max_size=3),
    st.lists(st.tuples(st.integers(0, 2), MSAT), min_size=1, max_size=30),
    st.data(),
)
def test_any_delivery_order_of_concurrent_authorisations(
    rules: list[Rules], made: list[tuple[int, int]], data: st.DataObject
) -> None:
    """Devices sign concurrently; the runtime delivers in any order, with duplicates."""
    w, devices = _world([dataclasses.replace(r, confirm_above_msat=10**12) for r in rules])
    auths = [w.auth(devices[i], amount, user_present=True) for i, amount in made]
    order = data.draw(st.lists(st.sampled_from(auths), max_size=60))
    order += data.draw(st.permutations(auths))
    for k, a in enumerate(order):
        w.policy.decide(a.encode(), node_id=NODE, now=T0 + k)
    entries = w.state.audit_entries()
    spends = _approved_spends(entries)
    for d, r in zip(devices, rules, strict=True):
        _assert_windows(spends[d.device_id], r)
    seen: dict[bytes, int] = {}
    for e in entries:  # each authorisation is approved at most once, counters only rise
        if e.kind == "payment" and e.outcome == Outcome.APPROVE:
            a = decode_authorisation(e.subject)
            assert a.counter > seen.get(a.device_id, 0)
            seen[a.device_id] = a.counter


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 2 * HOUR), min_size=1, max_size=20), st.integers(1, HOUR - 1))
def test_clock_going_backwards_never_refills(backs: list[int], forward: int) -> None:
    w, devices = _world([Rules(10**12, 10**12, 10**9, 100_000_000, 10**9)] * 3)
    ring = devices[0]
    top = T0 + 3 * HOUR
    assert w.policy.decide(
        w.auth(ring, 100_000_000, now=top).encode(), node_id=NODE, now=top
    ).approved
    for back in backs:  # clock set back by up to two hours, then creeping forward
        now = top - back
        auth = w.auth(ring, 1, now=top)
        d = w.policy.decide(auth.encode(), node_id=NODE, now=now)
        assert d.reason == Reason.OVER_HOURLY_LIMIT
    now = top + forward  # still within the hour of the spend in signer time
    d = w.policy.decide(w.auth(ring, 1, now=now).encode(), node_id=NODE, now=now)
    assert d.reason == Reason.OVER_HOURLY_LIMIT


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["freeze", "remove"]),
    MSAT,
    st.integers(0, 10**6),
    st.booleans(),
    st.booleans(),
    st.integers(-100, 100_000),
    st.booleans(),
)
def test_frozen_or_removed_devices_always_refused(
    how: str,
    amount: int,
    fee: int,
    present: bool,
    confirm: bool,
    expiry_offset: int,
    right_node: bool,
) -> None:
    from vajra.signer.messages import CommandKind

    w, devices = _world([Rules(10**12, 10**12, 10**12, 10**12, 10**12)] * 3)
    ring = devices[1]
    kind = CommandKind.FREEZE if how == "freeze" else CommandKind.REMOVE
    assert w.policy.command(w.command(kind, ring), T0).approved
    auth = w.auth(
        ring,
        amount,
        fee=fee,
        user_present=present,
        expiry=T0 + expiry_offset,
        node=NODE if right_node else OTHER_NODE,
    )
    d = w.policy.decide(
        auth.encode(), node_id=NODE, now=T0, confirmation=w.confirm(auth) if confirm else None
    )
    assert d.outcome == Outcome.DENY
    assert d.reason == (Reason.DEVICE_FROZEN if how == "freeze" else Reason.DEVICE_REMOVED)


def _fresh(w: World, ring: DeviceKey, amount: int, fee: int) -> PaymentAuthorisation:
    return w.auth(ring, amount, fee=fee, user_present=True)


@settings(max_examples=60, deadline=None)
@given(MSAT, st.integers(0, 10**6), st.integers(0, 194 * 8 - 1), st.integers(1, 10**6))
def test_replayed_expired_missigned_wrong_node_refused(
    amount: int, fee: int, bit: int, late: int
) -> None:
    w, devices = _world([Rules(10**7, 10**12, 10**12, 10**12, 10**12)] * 3)
    ring = devices[2]
    p = w.policy
    # Mis-signed: any single flipped bit of a valid authorisation is refused.
    good = _fresh(w, ring, amount, fee).encode()
    bad = bytearray(good)
    bad[bit // 8] ^= 1 << (bit % 8)
    d = p.decide(bytes(bad), node_id=NODE, now=T0)
    assert d.outcome == Outcome.DENY
    assert d.reason in (Reason.MALFORMED, Reason.BAD_SIGNATURE, Reason.UNKNOWN_DEVICE)
    # Replayed.
    first = p.decide(good, node_id=NODE, now=T0)
    assert first.outcome == Outcome.APPROVE
    assert p.decide(good, node_id=NODE, now=T0).reason == Reason.REPLAY
    # Expired: signer time at or after expiry.
    a = _fresh(w, ring, amount, fee)
    assert p.decide(a.encode(), node_id=NODE, now=a.expiry + late - 1).reason == Reason.EXPIRED
    # Wrong node.
    a = w.auth(ring, amount, fee=fee, now=a.expiry + late, node=OTHER_NODE)
    assert p.decide(a.encode(), node_id=NODE, now=a.expiry - 1).reason == Reason.WRONG_NODE
