"""The signer's state is tamper- and rollback-evident (decision 0012): with the signer
stopped, every edit of state.db, a truncation, a mix of old and new rows, or an edit
resealed with the key that disagrees with the audit log is refused when it opens; a
whole older copy opens but fails the anchor (the head a runtime saw)."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.signer.helpers import AUDIT_KEY, NODE, RING_RULES, T0, World, key
from vajra.errors import VajraError
from vajra.signer.anchor import AnchorMismatch, SeenHead, check_runtime_head, verify_decision
from vajra.signer.core import SignerCore
from vajra.signer.devices import DeviceStatus, KeyType, Role, Rules
from vajra.signer.integrity import StateIntegrityError
from vajra.signer.keys import SignerKeys
from vajra.signer.messages import CommandKind, Enrolment
from vajra.signer.state import SqliteState

KEYS = SignerKeys(bytes(range(64)))
STATE_KEY = KEYS.state_key()
RING = key(KeyType.P256, 1)
BIG = Rules(10**15, 10**15, 10**15, 10**16, 10**17)
QUOTA = 5


def _build(db: Path) -> tuple[World, bytes]:
    """An owner, a ring that paid once and is now frozen, two nodes, one woken, the
    owner's node quota set to QUOTA."""
    w = World(state=SqliteState(db, key=STATE_KEY))
    w.bootstrap()
    w.enroll(RING, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**9))
    assert w.policy.decide(w.auth(RING, 150_000_000, now=T0 + 5).encode(), node_id=NODE,
                           now=T0 + 5).approved  # fmt: skip
    d = w.policy.command(w.command(CommandKind.FREEZE, RING, now=T0 + 6), T0 + 6)
    assert d.approved
    core = SignerCore(KEYS, w.state)
    node = core.create_nodes(2, now=T0 + 7)[0]
    core.state_key(node, epoch=3, now=T0 + 8)
    assert w.policy.set_node_quota(QUOTA, T0 + 9).approved
    assert core.node_quota() == QUOTA
    return w, node


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    db = tmp_path / "state.db"
    w, _ = _build(db)
    assert isinstance(w.state, SqliteState)
    w.state.close()
    return db


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    for ext in ("-wal", "-shm"):
        if Path(str(src) + ext).exists():
            shutil.copy(str(src) + ext, str(dst) + ext)
    return dst


def _sql(db: Path, *stmts: str, args: tuple[object, ...] = ()) -> None:
    c = sqlite3.connect(db)
    for s in stmts:
        c.execute(s, args if "?" in s else ())
    c.commit()
    c.close()


ACTIVE, OWNER = int(DeviceStatus.ACTIVE), int(Role.OWNER)
EDITS: dict[str, Callable[[Path], None]] = {
    "unfreeze_ring": lambda db: _sql(db, f"UPDATE devices SET status={ACTIVE}"),
    "raise_limits": lambda db: _sql(db, "UPDATE devices SET rules=?", args=(BIG.encode(),)),
    "reset_counter": lambda db: _sql(db, "UPDATE devices SET last_counter=0"),
    "delete_spends": lambda db: _sql(db, "DELETE FROM spends"),
    "delete_audit_tail": lambda db: _sql(
        db, "DELETE FROM audit WHERE seq=(SELECT MAX(seq) FROM audit)"
    ),
    "insert_owner": lambda db: _sql(
        db,
        "INSERT INTO devices SELECT ?, key_type, pubkey, role, status, rules, 0, 'evil', "
        "enrolled_at, enrolled_by FROM devices LIMIT 1",
        args=(bytes(32),),
    ),
    "push_epoch": lambda db: _sql(db, f"UPDATE epochs SET epoch={2**63 - 1}"),
    "rewind_clock": lambda db: _sql(db, "UPDATE meta SET value=0 WHERE key='clock'"),
    "drop_integrity": lambda db: _sql(db, "DELETE FROM integrity"),
    "delete_node": lambda db: _sql(db, "DELETE FROM nodes WHERE node_index=1"),
    # Issue 13 item 2: the owner's node quota is a sealed row, not a config file.
    "raise_quota": lambda db: _sql(db, "UPDATE meta SET value=1000000 WHERE key='node_quota'"),
    "delete_quota": lambda db: _sql(db, "DELETE FROM meta WHERE key='node_quota'"),
    "truncate_half": lambda db: _truncate(db, 0.5),
    "truncate_empty": lambda db: _truncate(db, 0.0),
}


def _truncate(db: Path, frac: float) -> None:
    _sql(db, "PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(int(size * frac))


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_every_edit_of_a_stopped_signers_state_is_refused(
    sealed: Path, tmp_path: Path, edit: str
) -> None:
    SqliteState(_copy(sealed, tmp_path / "ok.db"), key=STATE_KEY, create=False).close()
    db = _copy(sealed, tmp_path / f"{edit}.db")
    EDITS[edit](db)
    with pytest.raises(StateIntegrityError):
        SqliteState(db, key=STATE_KEY, create=False)


def test_a_missing_state_is_refused_not_recreated(tmp_path: Path) -> None:
    with pytest.raises(StateIntegrityError, match="missing"):
        SqliteState(tmp_path / "gone.db", key=STATE_KEY, create=False)
    assert not (tmp_path / "gone.db").exists()


def test_rows_from_an_older_copy_are_refused(sealed: Path, tmp_path: Path) -> None:
    old = _copy(sealed, tmp_path / "old.db")  # the ring is frozen here...
    st = SqliteState(sealed, key=STATE_KEY, create=False)
    w = World(state=st)
    w.counters[w.owner.device_id] = 2
    assert w.policy.command(w.command(CommandKind.UNFREEZE, RING, now=T0 + 9), T0 + 9).approved
    st.close()
    # ...take the old (frozen, lower counter) device rows into the new file.
    _sql(sealed, f"ATTACH '{old}' AS old", "DELETE FROM devices",
         "INSERT INTO devices SELECT * FROM old.devices")  # fmt: skip
    with pytest.raises(StateIntegrityError):
        SqliteState(sealed, key=STATE_KEY, create=False)


def test_an_edit_resealed_with_the_key_still_disagrees_with_the_log(sealed: Path) -> None:
    """The second line: a state made consistent with its MAC (a bug, or someone holding
    the seed) but not with the signed log is refused by the cross-check."""
    st = SqliteState(sealed, key=STATE_KEY, create=False)
    with st.transaction():
        st._db.execute(f"UPDATE devices SET status={ACTIVE}")
    st.close()
    with pytest.raises(StateIntegrityError, match=r"disagrees with its audit log.*status"):
        SqliteState(sealed, key=STATE_KEY, create=False)


def test_an_edit_while_running_is_found_at_the_next_decision(sealed: Path) -> None:
    st = SqliteState(sealed, key=STATE_KEY, create=False)
    _sql(sealed, f"UPDATE devices SET status={ACTIVE}")  # another connection, no key
    w = World(state=st)
    with pytest.raises(StateIntegrityError):
        w.policy.decide(w.auth(RING, 1000, now=T0 + 10).encode(), node_id=NODE, now=T0 + 10)


def test_without_the_key_a_sealed_state_is_read_only(sealed: Path) -> None:
    st = SqliteState(sealed)
    with st.transaction() as txn:
        assert len(txn.devices()) == 2
    with pytest.raises(sqlite3.OperationalError), st.transaction() as txn:
        txn.set_clock(T0 + 100)


def test_a_rolled_back_copy_opens_but_fails_the_anchor(sealed: Path, tmp_path: Path) -> None:
    old = _copy(sealed, tmp_path / "old.db")
    st = SqliteState(sealed, key=STATE_KEY, create=False)
    w = World(state=st)
    w.counters[w.owner.device_id] = 2
    w.policy.command(w.command(CommandKind.UNFREEZE, RING, now=T0 + 9), T0 + 9)
    seen = st.head()  # what the runtime saw
    st.close()
    back = SqliteState(old, key=STATE_KEY, create=False)  # a genuine older file
    with pytest.raises(AnchorMismatch, match="rolled back"):
        check_runtime_head(back, *seen)
    check_runtime_head(back, *back.head())
    check_runtime_head(back, 0, bytes(32))
    # A fork: same length, other entry.
    w2 = World(state=back)
    w2.counters[w2.owner.device_id] = 5
    w2.policy.command(w2.command(CommandKind.REMOVE, RING, now=T0 + 9), T0 + 9)
    assert back.head()[0] == seen[0]
    with pytest.raises(AnchorMismatch, match="forked"):
        check_runtime_head(back, *seen)


def test_devices_verify_signed_decisions_and_catch_a_rollback(tmp_path: Path) -> None:
    w = World(state=SqliteState(tmp_path / "s.db", key=STATE_KEY))
    w.bootstrap()
    e = Enrolment(RING.key_type, RING.pubkey, Role.SPENDER, RING_RULES, "ring")
    data = w.command(CommandKind.ENROLL, RING, enrolment=e)
    d = w.policy.command(data, T0)
    assert d.entry is not None

    def check(subject: bytes, outcome: str, seen: SeenHead, sig: bytes | None = None) -> SeenHead:
        assert d.entry is not None
        return verify_decision(
            AUDIT_KEY.pubkey, seq=d.entry.seq, time=d.entry.time, kind=d.entry.kind,
            subject=subject, outcome=outcome, reason=d.entry.reason,
            prev_hash=d.entry.prev_hash, signature=sig or d.entry.signature, seen=seen,
        )  # fmt: skip

    seen = check(data, "approve", SeenHead())
    assert seen.length == d.entry.seq + 1

    with pytest.raises(VajraError, match="not signed"):
        check(data, "deny", SeenHead())  # a relay cannot change the outcome
    with pytest.raises(VajraError, match="not signed"):
        check(data[:-1] + b"\x00", "approve", SeenHead())  # nor answer another request
    with pytest.raises(AnchorMismatch, match="rolled back"):
        check(data, "approve", seen)  # the same position again: the signer went back


def test_a_table_added_later_is_covered_without_code(sealed: Path) -> None:
    """A table a later version adds rides on the same MAC (as `channels` did, decision
    0017): tracked as soon as it exists, an edit of it while stopped is refused."""
    st = SqliteState(sealed, key=STATE_KEY, create=False)
    with st.transaction():
        st._db.execute("CREATE TABLE later_table (id BLOB PRIMARY KEY, balance_msat INTEGER)")
    with st.transaction():
        st._db.execute("INSERT INTO later_table VALUES (?, 1000)", (b"c1",))
    st.close()
    SqliteState(sealed, key=STATE_KEY, create=False).close()
    _sql(sealed, "UPDATE later_table SET balance_msat=1000000000")
    with pytest.raises(StateIntegrityError):
        SqliteState(sealed, key=STATE_KEY, create=False)


@pytest.mark.parametrize("quota", [None, 1_000_000])
def test_a_quota_resealed_with_the_key_still_disagrees_with_the_log(
    sealed: Path, quota: int | None
) -> None:
    """The node quota must be what the owner's last `quota` audit entry set: a quota row
    raised or removed behind the log's back (with the key, so the MAC matches) is
    refused by the cross-check; one set through the audited path opens."""
    st = SqliteState(sealed, key=STATE_KEY, create=False)
    with st.transaction():
        if quota is None:
            st._db.execute("DELETE FROM meta WHERE key='node_quota'")
        else:
            st._db.execute("UPDATE meta SET value=? WHERE key='node_quota'", (quota,))
    st.close()
    with pytest.raises(StateIntegrityError, match=r"disagrees with its audit log.*quota"):
        SqliteState(sealed, key=STATE_KEY, create=False)


def test_the_quota_set_by_the_owner_is_audited_and_reopens(sealed: Path) -> None:
    st = SqliteState(sealed, key=STATE_KEY, create=False)
    core = SignerCore(KEYS, st)
    d = core.policy.set_node_quota(2, T0 + 10)
    assert (d.approved, d.kind, d.reason) == (True, "quota", "applied")
    assert d.entry is not None and d.entry.subject == (2).to_bytes(8, "big")
    st.close()
    st = SqliteState(sealed, key=STATE_KEY, create=False)  # MAC and cross-check pass
    assert SignerCore(KEYS, st).node_quota() == 2
    with pytest.raises(ValueError):
        SignerCore(KEYS, st).policy.set_node_quota(-1, T0 + 11)
