"""The signer's persistent state behind one small Protocol, with an in-memory and a
SQLite implementation.

What is kept: the hosted nodes (index in the key tree, node id, channels allocated), the
device registry (including each device's last counter), each device's
recent spends (the rolling limit windows), the highest time the signer has seen (so a
clock that goes backwards never refills a limit or un-expires anything), the newest
fencing epoch per node, the signer's own copy of every channel (`channels`: one record per
(node, channel index), `vajra.signer.channel_store`, decision 0017), the owner's node quota (`meta` row `node_quota`: how many nodes
runtimes may create; absent until the owner first sets it), and the audit log. No secret is kept here: keys live only in the
sealed seed file (`vajra.signer.seed`).

Every decision runs inside one `transaction()`: reads, checks and writes (counter,
spend, clock, audit entry) commit together or not at all. The SQLite transaction is
`BEGIN IMMEDIATE`, so two signer objects (or processes) on one file serialise their
decisions and a limit can never be consumed twice; commits use `synchronous=FULL`, so an
approved payment survives a power cut before its answer leaves the signer.

Opened with the seed-derived state key (`key=`, what `vajra signer` does), the SQLite
file is tamper-evident (`vajra.signer.integrity`, decision 0012): every row is covered
by a keyed MAC checked at open, and the registry, counters, spends and nodes are
cross-checked against the audit log (`vajra.signer.replay`). Opened without the key on a
sealed file, it is read-only (status, listings); without the key on an unsealed file it
is the plain store the unit tests and benchmarks use.

Group commit (`group()`): the decisions made inside one group are SQLite savepoints of
one transaction and share its single COMMIT, i.e. one fsync for the batch instead of one
per decision. Each decision is still all-or-nothing (a refused or failed one rolls back
to its savepoint), but none is durable before the group's COMMIT: the caller holds every
answer of the group until `group()` has returned, and answers none of them if it raises.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vajra.errors import PolicyViolation
from vajra.signer.audit import GENESIS as _GENESIS
from vajra.signer.audit import AuditEntry
from vajra.signer.devices import Device, DeviceStatus, KeyType, Role, Rules
from vajra.signer.integrity import Integrity, StateIntegrityError

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Spend:
    """One approved payment's cost (amount + max fee) at the signer time it was approved."""

    time: int
    msat: int


@dataclass(frozen=True, slots=True)
class HostedNode:
    """A node this signer serves: its index in the key tree and how many channel key
    sets it has been given (channel indices are never reused)."""

    index: int
    node_id: bytes
    created_at: int
    channels: int = 0


class StaleEpoch(PolicyViolation):
    """A request carried a fencing epoch older than the newest seen for that node."""

    def __init__(self, node_id: bytes, epoch: int, newest: int) -> None:
        self.node_id = node_id
        self.epoch = epoch
        self.newest = newest
        super().__init__("stale_epoch", f"epoch {epoch} < newest {newest}")


class StateTxn(Protocol):
    """Reads and writes inside one atomic transaction."""

    def node(self, node_id: bytes) -> HostedNode | None: ...
    def nodes(self) -> list[HostedNode]: ...
    def next_node_index(self) -> int: ...
    def put_node(self, node: HostedNode) -> None: ...
    def device(self, device_id: bytes) -> Device | None: ...
    def devices(self) -> list[Device]: ...
    def put_device(self, device: Device) -> None: ...
    # Sum of a device's spends with time > since; forget those with time <= before.
    def spent_since(self, device_id: bytes, since: int) -> int: ...
    def add_spend(self, device_id: bytes, spend: Spend) -> None: ...
    def prune_spends(self, device_id: bytes, before: int) -> None: ...
    # The clock was reset back to `now` (RESET_CLOCK): spends dated later move to `now`.
    def restamp_spends(self, now: int) -> None: ...
    # (time, msat) of every kept spend of a device, oldest first (backups).
    def spend_rows(self, device_id: bytes) -> list[tuple[int, int]]: ...
    def clock(self) -> int: ...
    def set_clock(self, now: int) -> None: ...
    def epoch(self, node_id: bytes) -> int | None: ...
    def set_epoch(self, node_id: bytes, epoch: int) -> None: ...
    # The owner's node quota, None until first set (`Policy.set_node_quota`).
    def node_quota(self) -> int | None: ...
    def set_node_quota(self, nodes: int) -> None: ...
    def audit_head(self) -> AuditEntry | None: ...
    def append_audit(self, entry: AuditEntry) -> None: ...
    # The signer's copy of a channel (`vajra.signer.channel_store` bytes; decision 0017),
    # and the scriptPubKey of its funding output (the on-chain funding rule reads it).
    def channel(self, node_id: bytes, index: int) -> bytes | None: ...
    def put_channel(
        self, node_id: bytes, index: int, funding_spk: bytes, record: bytes
    ) -> None: ...
    # (channel index, record) of the node's channels whose funding output pays `spk`.
    def channels_funded_by(self, node_id: bytes, spk: bytes) -> list[tuple[int, bytes]]: ...
    # Every channel row: (node id, channel index, record), ordered (replay, backups).
    def channel_rows(self) -> list[tuple[bytes, int, bytes]]: ...


class SignerState(Protocol):
    def transaction(self) -> AbstractContextManager[StateTxn]: ...
    def group(self) -> AbstractContextManager[None]: ...
    def audit_entries(self) -> list[AuditEntry]: ...
    # (number of audit entries, hash of the last): the anchor (decision 0012).
    def head(self) -> tuple[int, bytes]: ...
    def audit_entry(self, seq: int) -> AuditEntry | None: ...
    # The oldest entry kept: seq 0, or a restored signer's `restore` entry.
    def first_audit_entry(self) -> AuditEntry | None: ...


MAX_EPOCH_STEP = 1 << 16
"""How far one request may move a node's newest epoch (issue 13 item 2). A store lease
moves it by one per tenure; a runtime catching up after a refusal moves it to the newest
plus one. A rogue holder of the link key could otherwise push it to 2^63 - 1 in one
request and lock the real runtime out of the node for good; with this bound, exhausting
the epoch space takes 2^47 audited requests, and the real runtime recovers from any
push by taking the newest epoch plus one (`runtime/node_host.py`)."""


def check_epoch(txn: StateTxn, node_id: bytes, epoch: int) -> None:
    """Fencing: refuse an epoch older than the newest seen for `node_id`, or more than
    MAX_EPOCH_STEP past it (`epoch_jump`); remember newer.

    The same epoch is accepted again (one runtime holding its lease sends many requests).
    """
    if not 0 <= epoch < 1 << 63:
        raise PolicyViolation("stale_epoch", "epoch out of range")
    newest = txn.epoch(node_id)
    if newest is not None and epoch < newest:
        raise StaleEpoch(node_id, epoch, newest)
    if epoch > (newest or 0) + MAX_EPOCH_STEP:
        raise PolicyViolation(
            "epoch_jump", f"epoch {epoch} > newest {newest or 0} + {MAX_EPOCH_STEP}"
        )
    if newest is None or epoch > newest:
        txn.set_epoch(node_id, epoch)


# --- in memory ------------------------------------------------------------------------------


class MemoryState:
    """State in dicts (tests, benchmarks). Thread-safe; transactions are all-or-nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nodes: dict[bytes, HostedNode] = {}
        self.devices: dict[bytes, Device] = {}
        self.spends: dict[bytes, list[Spend]] = {}
        self.epochs: dict[bytes, int] = {}
        self.audit: list[AuditEntry] = []
        self.clock = 0
        self.node_quota: int | None = None
        self.channels: dict[tuple[bytes, int], tuple[bytes, bytes]] = {}
        """(node id, index) -> (funding scriptPubKey, record)."""

    @contextmanager
    def transaction(self) -> Iterator[StateTxn]:
        with self._lock:
            txn = _MemoryTxn(self)
            yield txn
            txn.commit()

    @contextmanager
    def group(self) -> Iterator[None]:
        """Nothing to batch in memory: each transaction applies at its end."""
        yield

    def audit_entries(self) -> list[AuditEntry]:
        with self._lock:
            return list(self.audit)

    def head(self) -> tuple[int, bytes]:
        with self._lock:
            return (len(self.audit), self.audit[-1].hash) if self.audit else (0, _GENESIS)

    def audit_entry(self, seq: int) -> AuditEntry | None:
        with self._lock:
            return self.audit[seq] if 0 <= seq < len(self.audit) else None

    def first_audit_entry(self) -> AuditEntry | None:
        with self._lock:
            return self.audit[0] if self.audit else None


class _MemoryTxn:
    """Buffers writes; `commit` applies them (an exception in the block drops them)."""

    def __init__(self, s: MemoryState) -> None:
        self._s = s
        self._nodes: dict[bytes, HostedNode] = {}
        self._devices: dict[bytes, Device] = {}
        self._added: dict[bytes, list[Spend]] = {}
        self._pruned: dict[bytes, int] = {}
        self._epochs: dict[bytes, int] = {}
        self._audit: list[AuditEntry] = []
        self._clock: int | None = None
        self._restamp: int | None = None
        self._quota: int | None = None
        self._channels: dict[tuple[bytes, int], tuple[bytes, bytes]] = {}

    def node(self, node_id: bytes) -> HostedNode | None:
        return self._nodes.get(node_id) or self._s.nodes.get(node_id)

    def nodes(self) -> list[HostedNode]:
        return sorted({**self._s.nodes, **self._nodes}.values(), key=lambda n: n.index)

    def next_node_index(self) -> int:
        return max((n.index + 1 for n in self.nodes()), default=0)

    def put_node(self, node: HostedNode) -> None:
        self._nodes[node.node_id] = node

    def device(self, device_id: bytes) -> Device | None:
        return self._devices.get(device_id) or self._s.devices.get(device_id)

    def devices(self) -> list[Device]:
        return list({**self._s.devices, **self._devices}.values())

    def put_device(self, device: Device) -> None:
        self._devices[device.device_id] = device

    def spent_since(self, device_id: bytes, since: int) -> int:
        since = max(since, self._pruned.get(device_id, since))
        stored = self._s.spends.get(device_id, [])
        return sum(s.msat for s in [*stored, *self._added.get(device_id, [])] if s.time > since)

    def add_spend(self, device_id: bytes, spend: Spend) -> None:
        self._added.setdefault(device_id, []).append(spend)

    def prune_spends(self, device_id: bytes, before: int) -> None:
        self._pruned[device_id] = max(before, self._pruned.get(device_id, before))

    def restamp_spends(self, now: int) -> None:
        self._restamp = now

    def spend_rows(self, device_id: bytes) -> list[tuple[int, int]]:
        cut = self._pruned.get(device_id)
        rows = [*self._s.spends.get(device_id, []), *self._added.get(device_id, [])]
        return [(x.time, x.msat) for x in rows if cut is None or x.time > cut]

    def clock(self) -> int:
        return self._s.clock if self._clock is None else self._clock

    def set_clock(self, now: int) -> None:
        self._clock = now

    def epoch(self, node_id: bytes) -> int | None:
        return self._epochs.get(node_id, self._s.epochs.get(node_id))

    def set_epoch(self, node_id: bytes, epoch: int) -> None:
        self._epochs[node_id] = epoch

    def node_quota(self) -> int | None:
        return self._s.node_quota if self._quota is None else self._quota

    def set_node_quota(self, nodes: int) -> None:
        self._quota = nodes

    def audit_head(self) -> AuditEntry | None:
        if self._audit:
            return self._audit[-1]
        return self._s.audit[-1] if self._s.audit else None

    def append_audit(self, entry: AuditEntry) -> None:
        self._audit.append(entry)

    def _all_channels(self) -> dict[tuple[bytes, int], tuple[bytes, bytes]]:
        return {**self._s.channels, **self._channels}

    def channel(self, node_id: bytes, index: int) -> bytes | None:
        row = self._all_channels().get((node_id, index))
        return None if row is None else row[1]

    def put_channel(self, node_id: bytes, index: int, funding_spk: bytes, record: bytes) -> None:
        self._channels[(node_id, index)] = (funding_spk, record)

    def channels_funded_by(self, node_id: bytes, spk: bytes) -> list[tuple[int, bytes]]:
        rows = self._all_channels().items()
        return sorted((i, rec) for (n, i), (f, rec) in rows if n == node_id and f == spk)

    def channel_rows(self) -> list[tuple[bytes, int, bytes]]:
        return sorted((n, i, rec) for (n, i), (_f, rec) in self._all_channels().items())

    def commit(self) -> None:
        s = self._s
        s.nodes.update(self._nodes)
        s.devices.update(self._devices)
        for d_id in self._added.keys() | self._pruned.keys():
            cut = self._pruned.get(d_id)
            kept = [*s.spends.get(d_id, []), *self._added.get(d_id, [])]
            s.spends[d_id] = kept if cut is None else [x for x in kept if x.time > cut]
        if self._restamp is not None:
            r = self._restamp
            s.spends = {d: [Spend(min(x.time, r), x.msat) for x in v] for d, v in s.spends.items()}
        s.epochs.update(self._epochs)
        s.audit.extend(self._audit)
        if self._clock is not None:
            s.clock = self._clock
        if self._quota is not None:
            s.node_quota = self._quota
        s.channels.update(self._channels)


# --- SQLite ---------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    node_index INTEGER PRIMARY KEY, node_id BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL,
    channels INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    device_id BLOB PRIMARY KEY, key_type INTEGER NOT NULL, pubkey BLOB NOT NULL,
    role INTEGER NOT NULL, status INTEGER NOT NULL, rules BLOB NOT NULL,
    last_counter INTEGER NOT NULL, label TEXT NOT NULL, enrolled_at INTEGER NOT NULL,
    enrolled_by BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS spends (
    device_id BLOB NOT NULL, time INTEGER NOT NULL, msat INTEGER NOT NULL,
    cum INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS spends_device ON spends (device_id, time);
CREATE TABLE IF NOT EXISTS epochs (node_id BLOB PRIMARY KEY, epoch INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    node_id BLOB NOT NULL, channel_index INTEGER NOT NULL, funding_spk BLOB NOT NULL,
    record BLOB NOT NULL, PRIMARY KEY (node_id, channel_index));
CREATE INDEX IF NOT EXISTS channels_funding ON channels (node_id, funding_spk);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL, subject BLOB NOT NULL,
    outcome TEXT NOT NULL, reason TEXT NOT NULL, prev_hash BLOB NOT NULL,
    signature BLOB NOT NULL);
"""

_DEVICE_COLS = (
    "device_id, key_type, pubkey, role, status, rules, last_counter, label, enrolled_at, "
    "enrolled_by"
)
_NODE_COLS = "node_index, node_id, created_at, channels"
_AUDIT_COLS = "seq, time, kind, subject, outcome, reason, prev_hash, signature"

_Row = tuple[Any, ...]  # sqlite3 rows are untyped


def _device(row: _Row) -> Device:
    d_id, kt, pk, role, status, rules, counter, label, at, by = row
    return Device(
        device_id=d_id,
        key_type=KeyType(kt),
        pubkey=pk,
        role=Role(role),
        status=DeviceStatus(status),
        rules=Rules.decode(rules),
        last_counter=counter,
        label=label,
        enrolled_at=at,
        enrolled_by=by,
    )


def _audit(row: _Row) -> AuditEntry:
    seq, t, kind, subject, outcome, reason, prev, sig = row
    return AuditEntry(int(seq), int(t), kind, bytes(subject), outcome, reason, prev, sig)


class SqliteState:
    """State in one SQLite file (WAL). Several objects may share the file."""

    def __init__(
        self,
        path: str | Path,
        *,
        durable: bool = True,
        key: bytes | None = None,
        create: bool = True,
    ) -> None:
        """`durable=False` (tests, benchmarks) skips the fsync per decision: a power cut
        could then lose the last decisions, i.e. re-open their counters and limits.

        `key` (the seed-derived state key): verify the file's MAC and cross-check it
        against the audit log now, seal every transaction. `create=False`: the file
        must already be sealed (`vajra signer run` never starts on a fresh state).
        Raises StateIntegrityError (with the reason) when the file does not verify."""
        self._lock = threading.RLock()  # re-entered by transaction() inside group()
        self._grouped = False
        self._integrity: Integrity | None = None
        self._begin = "BEGIN IMMEDIATE"
        if not create and not Path(path).exists():
            raise StateIntegrityError(f"signer state {path} is missing")
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._init_schema()
            if key is not None:
                self._open_sealed(key, create)
            elif self._is_sealed():
                self._db.execute("PRAGMA query_only = ON")  # no key: look, never write
                self._begin = "BEGIN"

        except sqlite3.DatabaseError as e:
            raise StateIntegrityError(f"signer state {path} is unreadable: {e}") from None

    def _init_schema(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(stmt)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                self._db.execute("INSERT INTO meta VALUES ('clock', 0)")
            elif row[0] != SCHEMA_VERSION:
                self._db.execute("ROLLBACK")
                raise RuntimeError(f"signer state schema {row[0]} is not {SCHEMA_VERSION}")
            self._db.execute("COMMIT")

    def _is_sealed(self) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='integrity'"
            ).fetchone()
            is not None
            and self._db.execute("SELECT 1 FROM integrity").fetchone() is not None
        )

    def _head(self) -> tuple[int, bytes]:
        row = self._db.execute(
            f"SELECT {_AUDIT_COLS} FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, _GENESIS
        e = _audit(row)
        return e.seq + 1, e.hash

    def _open_sealed(self, key: bytes, create: bool) -> None:
        from vajra.signer.replay import cross_check

        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                integ = Integrity(self._db, key)
                if integ.sealed():
                    integ.verify(*self._head())
                    cross_check(_SqliteTxn(self._db), self._all_audit())
                elif create and self._empty():
                    integ.seal(*self._head())
                else:
                    raise StateIntegrityError(
                        "the signer state carries no integrity record (it was replaced, "
                        "or written by a version without integrity protection)"
                    )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            integ.committed()
            self._integrity = integ

    def _empty(self) -> bool:
        return all(
            self._db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is None
            for t in ("nodes", "devices", "spends", "epochs", "channels", "audit")
        )

    def _all_audit(self) -> list[AuditEntry]:
        rows = self._db.execute(f"SELECT {_AUDIT_COLS} FROM audit ORDER BY seq").fetchall()
        return [_audit(r) for r in rows]

    def head(self) -> tuple[int, bytes]:
        """The audit head this state presents: (number of entries, hash of the last)."""
        with self._lock:
            return self._head()

    def audit_entry(self, seq: int) -> AuditEntry | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_AUDIT_COLS} FROM audit WHERE seq=?", (seq,)
            ).fetchone()
        return None if row is None else _audit(row)

    def first_audit_entry(self) -> AuditEntry | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_AUDIT_COLS} FROM audit ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else _audit(row)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def group(self) -> Iterator[None]:
        """Group commit: transactions in this block share one COMMIT (one fsync) and one
        integrity seal; raises (after rolling all of them back) if that COMMIT fails. See
        the module header."""
        with self._lock:
            if self._grouped:  # already in a group: its COMMIT covers this one
                yield
                return
            with self._outer():
                self._grouped = True
                try:
                    yield
                finally:
                    self._grouped = False

    @contextmanager
    def transaction(self) -> Iterator[StateTxn]:
        with self._lock:
            if self._grouped:
                yield from self._savepoint()
                return
            with self._outer():
                yield _SqliteTxn(self._db)

    @contextmanager
    def _outer(self) -> Iterator[None]:
        """One SQLite transaction, verified first if another connection wrote, and sealed
        (the state's MAC, decision 0012) just before its COMMIT."""
        self._db.execute(self._begin)
        integ = self._integrity
        try:
            if integ is not None:
                if integ.stale():  # another connection wrote: verify, do not trust
                    integ.verify(*self._head())
                integ.begin()
            yield
            if integ is not None and integ.dirty:
                integ.seal(*self._head())
            self._db.execute("COMMIT")
            if integ is not None:
                integ.committed()
        except BaseException:
            # Also after a failed COMMIT (disk full, I/O error): nothing of the
            # decision may stay half-applied, and the connection must stay usable.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if integ is not None:
                integ.rolled_back()
            raise

    def _savepoint(self) -> Iterator[StateTxn]:
        """One decision inside a group: all-or-nothing by itself, durable with the group.
        A rolled-back decision also takes its rows out of the integrity accumulator (a
        ROLLBACK TO fires no trigger)."""
        integ = self._integrity
        mark = integ.mark() if integ is not None else 0
        self._db.execute("SAVEPOINT decision")
        try:
            yield _SqliteTxn(self._db)
        except BaseException:
            self._db.execute("ROLLBACK TO decision")
            self._db.execute("RELEASE decision")
            if integ is not None:
                integ.rewind(mark)
            raise
        self._db.execute("RELEASE decision")

    def audit_entries(self) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_AUDIT_COLS} FROM audit ORDER BY seq").fetchall()
        return [_audit(r) for r in rows]


class _SqliteTxn:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def node(self, node_id: bytes) -> HostedNode | None:
        row = self._db.execute(
            f"SELECT {_NODE_COLS} FROM nodes WHERE node_id=?", (node_id,)
        ).fetchone()
        return None if row is None else HostedNode(*row)

    def nodes(self) -> list[HostedNode]:
        rows = self._db.execute(f"SELECT {_NODE_COLS} FROM nodes ORDER BY node_index")
        return [HostedNode(*r) for r in rows.fetchall()]

    def next_node_index(self) -> int:
        return int(
            self._db.execute("SELECT COALESCE(MAX(node_index) + 1, 0) FROM nodes").fetchone()[0]
        )

    def put_node(self, n: HostedNode) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO nodes ({_NODE_COLS}) VALUES (?,?,?,?)",
            (n.index, n.node_id, n.created_at, n.channels),
        )

    def device(self, device_id: bytes) -> Device | None:
        row = self._db.execute(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE device_id=?", (device_id,)
        ).fetchone()
        return None if row is None else _device(row)

    def devices(self) -> list[Device]:
        rows = self._db.execute(f"SELECT {_DEVICE_COLS} FROM devices ORDER BY enrolled_at")
        return [_device(r) for r in rows.fetchall()]

    def put_device(self, d: Device) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO devices ({_DEVICE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                d.device_id,
                int(d.key_type),
                d.pubkey,
                int(d.role),
                int(d.status),
                d.rules.encode(),
                d.last_counter,
                d.label,
                d.enrolled_at,
                d.enrolled_by,
            ),
        )

    # Each spend row carries `cum`, the device's running total up to and including it, so
    # a window sum is two index lookups however many payments the day holds. Rows are
    # inserted in signer-clock order (the clock never goes back), so (time, rowid) order
    # is insertion order.

    def _cum(self, device_id: bytes, where: str = "", args: tuple[int, ...] = ()) -> int | None:
        row = self._db.execute(
            f"SELECT cum FROM spends WHERE device_id=? {where} ORDER BY time DESC, rowid DESC "
            "LIMIT 1",
            (device_id, *args),
        ).fetchone()
        return None if row is None else int(row[0])

    def _base(self, device_id: bytes) -> int:
        """The running total before the oldest row still kept."""
        row = self._db.execute(
            "SELECT cum - msat FROM spends WHERE device_id=? ORDER BY time, rowid LIMIT 1",
            (device_id,),
        ).fetchone()
        return 0 if row is None else int(row[0])

    def spent_since(self, device_id: bytes, since: int) -> int:
        last = self._cum(device_id)
        if last is None:
            return 0
        before = self._cum(device_id, "AND time<=?", (since,))
        return last - (self._base(device_id) if before is None else before)

    def add_spend(self, device_id: bytes, spend: Spend) -> None:
        cum = (self._cum(device_id) or 0) + spend.msat
        self._db.execute(
            "INSERT INTO spends VALUES (?,?,?,?)", (device_id, spend.time, spend.msat, cum)
        )

    def prune_spends(self, device_id: bytes, before: int) -> None:
        self._db.execute("DELETE FROM spends WHERE device_id=? AND time<=?", (device_id, before))
        # Keep running totals far from SQLite's 64-bit limit (a day's sum is below 2^62).
        base = self._base(device_id)
        if base > 1 << 61:
            self._db.execute("UPDATE spends SET cum = cum - ? WHERE device_id=?", (base, device_id))

    def restamp_spends(self, now: int) -> None:
        self._db.execute("UPDATE spends SET time=? WHERE time>?", (now, now))

    def spend_rows(self, device_id: bytes) -> list[tuple[int, int]]:
        rows = self._db.execute(
            "SELECT time, msat FROM spends WHERE device_id=? ORDER BY time, rowid", (device_id,)
        )
        return [(int(t), int(m)) for t, m in rows.fetchall()]

    def clock(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='clock'").fetchone()[0])

    def set_clock(self, now: int) -> None:
        self._db.execute("UPDATE meta SET value=? WHERE key='clock'", (now,))

    def epoch(self, node_id: bytes) -> int | None:
        row = self._db.execute("SELECT epoch FROM epochs WHERE node_id=?", (node_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_epoch(self, node_id: bytes, epoch: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO epochs VALUES (?,?)", (node_id, epoch))

    def node_quota(self) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key='node_quota'").fetchone()
        return None if row is None else int(row[0])

    def set_node_quota(self, nodes: int) -> None:
        # A row of `meta`: covered by the state's MAC like every row (decision 0012).
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('node_quota', ?)", (nodes,))

    def audit_head(self) -> AuditEntry | None:
        row = self._db.execute(
            f"SELECT {_AUDIT_COLS} FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else _audit(row)

    def append_audit(self, e: AuditEntry) -> None:
        self._db.execute(
            f"INSERT INTO audit ({_AUDIT_COLS}) VALUES (?,?,?,?,?,?,?,?)",
            (e.seq, e.time, e.kind, e.subject, e.outcome, e.reason, e.prev_hash, e.signature),
        )

    # Channel records (decision 0017): rows of `channels`, so the MAC's triggers cover
    # every write like any other table's.

    def channel(self, node_id: bytes, index: int) -> bytes | None:
        row = self._db.execute(
            "SELECT record FROM channels WHERE node_id=? AND channel_index=?", (node_id, index)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def put_channel(self, node_id: bytes, index: int, funding_spk: bytes, record: bytes) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO channels VALUES (?,?,?,?)",
            (node_id, index, funding_spk, record),
        )

    def channels_funded_by(self, node_id: bytes, spk: bytes) -> list[tuple[int, bytes]]:
        rows = self._db.execute(
            "SELECT channel_index, record FROM channels WHERE node_id=? AND funding_spk=? "
            "ORDER BY channel_index",
            (node_id, spk),
        )
        return [(int(i), bytes(r)) for i, r in rows.fetchall()]

    def channel_rows(self) -> list[tuple[bytes, int, bytes]]:
        rows = self._db.execute(
            "SELECT node_id, channel_index, record FROM channels ORDER BY node_id, channel_index"
        )
        return [(bytes(n), int(i), bytes(r)) for n, i, r in rows.fetchall()]
