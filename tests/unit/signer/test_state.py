"""Signer state: SQLite persistence across restarts, concurrent signers, fencing."""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.signer.helpers import AUDIT_KEY, NODE, OTHER_NODE, RING_RULES, T0, World, key
from vajra.errors import PolicyViolation
from vajra.signer import audit
from vajra.signer.devices import KeyType
from vajra.signer.messages import CommandKind
from vajra.signer.policy import Outcome, Policy, Reason
from vajra.signer.state import (
    MemoryState,
    SignerState,
    Spend,
    SqliteState,
    StaleEpoch,
    StateTxn,
)


def test_restart_keeps_limits_counters_and_audit_chain(tmp_path: Path) -> None:
    db = tmp_path / "signer.sqlite"
    w = World(state=SqliteState(db))
    w.bootstrap()
    ring = key(KeyType.P256, 1)
    w.enroll(ring, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**12))
    spent = w.auth(ring, 150_000_000, now=T0 + 10)
    assert w.policy.decide(spent.encode(), node_id=NODE, now=T0 + 10).approved
    assert w.policy.authorise_request("ecdh", node_id=NODE, epoch=7, subject=b"", now=T0).approved
    head = audit.verify(w.state.audit_entries(), AUDIT_KEY.pubkey)
    count = len(w.state.audit_entries())
    assert isinstance(w.state, SqliteState)
    w.state.close()

    # A new process on the same file.
    state = SqliteState(db)
    policy = Policy(state, AUDIT_KEY)
    assert policy.decide(spent.encode(), node_id=NODE, now=T0 + 20).reason == Reason.REPLAY
    more = w.auth(ring, 60_000_000, now=T0 + 20)  # 150M + 60M > 200M/hour
    assert (
        policy.decide(more.encode(), node_id=NODE, now=T0 + 20).reason == Reason.OVER_HOURLY_LIMIT
    )
    assert policy.usage(ring.device_id, T0 + 20).hourly_msat == 150_000_000
    d = policy.authorise_request("ecdh", node_id=NODE, epoch=6, subject=b"", now=T0)
    assert d.reason == Reason.STALE_EPOCH
    entries = state.audit_entries()
    audit.verify(entries, AUDIT_KEY.pubkey)
    assert entries[count - 1].hash == head == entries[count].prev_hash  # the chain continued
    # The clock survived too: the audit time never went back.
    assert entries[-1].time == T0 + 20
    state.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_fencing(kind: str, tmp_path: Path) -> None:
    state: SignerState = MemoryState() if kind == "memory" else SqliteState(tmp_path / "s.db")
    p = Policy(state, AUDIT_KEY)

    def req(node: bytes, epoch: int) -> str:
        return p.authorise_request(
            "sign_invoice", node_id=node, epoch=epoch, subject=b"x", now=T0
        ).reason

    assert req(NODE, 3) == Reason.OK
    assert req(NODE, 3) == Reason.OK  # the lease holder keeps its epoch
    assert req(NODE, 5) == Reason.OK  # a new lease holder
    assert req(NODE, 3) == Reason.STALE_EPOCH  # the old runtime is fenced off
    assert req(NODE, 4) == Reason.STALE_EPOCH
    assert req(OTHER_NODE, 1) == Reason.OK  # per node
    assert req(NODE, -1) == Reason.STALE_EPOCH
    entries = state.audit_entries()
    assert [e.outcome for e in entries] == ["approve"] * 3 + ["deny"] * 2 + ["approve", "deny"]
    audit.verify(entries, AUDIT_KEY.pubkey)


def test_request_checks_refuse_with_their_reason() -> None:
    p = Policy(MemoryState(), AUDIT_KEY)

    def refuse(txn: StateTxn) -> None:
        raise PolicyViolation("fee_too_high", "feerate 900 > cap 500")

    d = p.authorise_request(
        "sign_closing", node_id=NODE, epoch=1, subject=b"", now=T0, check=refuse
    )
    assert (d.outcome, d.reason) == (Outcome.DENY, "fee_too_high")
    # A stale epoch is refused before the check runs, and a refused request records no epoch.
    assert isinstance(StaleEpoch(NODE, 1, 2), PolicyViolation)


def test_concurrent_signers_on_one_file_never_exceed_a_limit(tmp_path: Path) -> None:
    """Eight signer objects (as eight processes would) decide one device's authorisations
    at once; BEGIN IMMEDIATE serialises them, so the hourly limit holds exactly."""
    db = tmp_path / "signer.sqlite"
    w = World(state=SqliteState(db))
    w.bootstrap()
    ring = key(KeyType.SECP256K1, 1)
    rules = dataclasses.replace(RING_RULES, auto_approve_below_msat=10**12, hourly_limit_msat=10**8)
    w.enroll(ring, rules=rules)
    auths = [w.auth(ring, 7_000_000, now=T0).encode() for _ in range(80)]
    results: list[str] = []
    lock = threading.Lock()

    def worker(part: list[bytes]) -> None:
        policy = Policy(SqliteState(db), AUDIT_KEY)
        for a in part:
            d = policy.decide(a, node_id=NODE, now=T0)
            with lock:
                results.append(d.reason)

    threads = [threading.Thread(target=worker, args=(auths[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80
    approved = results.count(Reason.AUTO_APPROVED)
    assert 1 <= approved <= 10**8 // 7_000_000
    assert set(results) <= {Reason.AUTO_APPROVED, Reason.REPLAY, Reason.OVER_HOURLY_LIMIT}
    check = SqliteState(db)
    audit.verify(check.audit_entries(), AUDIT_KEY.pubkey)
    assert Policy(check, AUDIT_KEY).usage(ring.device_id, T0).hourly_msat == approved * 7_000_000


def test_failed_transaction_leaves_no_trace(tmp_path: Path) -> None:
    for state in (MemoryState(), SqliteState(tmp_path / "t.db")):
        w = World(state=state)
        w.bootstrap()
        before = len(state.audit_entries())
        with pytest.raises(RuntimeError), state.transaction() as txn:
            txn.set_clock(T0 + 999)
            txn.set_epoch(NODE, 9)
            raise RuntimeError("crash mid-decision")
        with state.transaction() as txn:
            assert txn.epoch(NODE) is None and txn.clock() == T0
        assert len(state.audit_entries()) == before
        # Freeze over the same state still works afterwards.
        ring = key(KeyType.P256, 4)
        w.enroll(ring)
        assert w.policy.command(w.command(CommandKind.FREEZE, ring), T0).approved


_ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "prune", "sum"]),
        st.integers(0, 1),  # device
        st.integers(0, 5000),  # time step (the signer clock only moves forward)
        st.integers(0, 10**17),  # msat (a day of them stays below 2^63), or a look-back
    ),
    max_size=40,
)


@settings(max_examples=50, deadline=None)
@given(_ops)
def test_sqlite_window_sums_match_the_memory_model(ops: list[tuple[str, int, int, int]]) -> None:
    """SQLite answers window sums from running totals; the memory state sums rows."""
    with tempfile.TemporaryDirectory() as d:
        states: list[SignerState] = [MemoryState(), SqliteState(Path(d) / "s.db")]
        t = 0
        for op, dev, step, x in ops:
            t += step
            device = bytes([dev]) * 32
            answers = []
            for state in states:
                with state.transaction() as txn:
                    if op == "add":
                        txn.add_spend(device, Spend(t, x))
                    elif op == "prune":
                        txn.prune_spends(device, t - x % 10_000)
                    answers.append(txn.spent_since(device, t - x % 10_000))
            assert answers[0] == answers[1], (op, answers)


def test_group_commit_makes_decisions_durable_together_and_each_all_or_nothing(
    tmp_path: Path,
) -> None:
    """`group()`: the batch is invisible to another connection (not committed, so not
    durable) until the group ends; then all of it is there. A decision that fails inside
    the group rolls back alone; a group that fails loses the whole batch."""
    db = tmp_path / "signer.sqlite"
    w = World(state=SqliteState(db))
    w.bootstrap()
    ring = key(KeyType.P256, 1)
    w.enroll(ring)
    assert isinstance(w.state, SqliteState)
    before = len(w.state.audit_entries())
    observer = SqliteState(db)
    with w.state.group():
        for i in range(5):
            a = w.auth(ring, 1000 + i, now=T0 + 10)
            assert w.policy.decide(a.encode(), node_id=NODE, now=T0 + 10).approved
        with pytest.raises(ZeroDivisionError), w.state.transaction() as txn:
            txn.set_clock(T0 + 10**6)
            raise ZeroDivisionError  # a failing decision: its write is rolled back alone
        assert len(observer.audit_entries()) == before  # nothing committed yet
    entries = observer.audit_entries()
    assert len(entries) == before + 5
    audit.verify(entries, AUDIT_KEY.pubkey)
    with w.state.transaction() as txn:
        assert txn.clock() == T0 + 10  # the failed decision's clock never landed
    # A failed group: every decision in it is gone, the state usable afterwards.
    with pytest.raises(OSError), w.state.group():
        a = w.auth(ring, 7000, now=T0 + 20)
        assert w.policy.decide(a.encode(), node_id=NODE, now=T0 + 20).approved
        raise OSError("the commit did not happen")
    assert len(observer.audit_entries()) == before + 5
    a = w.auth(ring, 8000, now=T0 + 30)
    assert w.policy.decide(a.encode(), node_id=NODE, now=T0 + 30).approved
    assert len(observer.audit_entries()) == before + 6
    observer.close()
    w.state.close()
