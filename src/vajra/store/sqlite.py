"""SQLite backend of the store: the embedded default (see `base.py` for the semantics).

Durability and concurrency
--------------------------
- WAL journal, `synchronous=FULL`: every commit fsyncs the WAL before it returns. With
  NORMAL a commit acknowledged to a caller can vanish on power loss (no corruption, but a
  rollback), and in Lightning a rolled-back channel state can mean broadcasting a revoked
  commitment and losing the channel's funds. A write costs one fsync; bulk work (the
  registry) batches many rows per transaction. See docs/decisions/0004-store-format.md.
- Every write is one `BEGIN IMMEDIATE` transaction: the write lock is taken before the
  version (or lease) is read, so read-compare-write is atomic across threads and across
  processes on one file. `busy_timeout` makes a contender wait instead of failing;
  past it the caller gets `StoreUnavailable`.
- One connection per `SqliteStore`, guarded by a lock; do not share an instance across
  `fork` (open one per process). Processes sharing a file must be on one host: WAL locks
  through shared memory, which network filesystems do not provide.

Schema
------
`schema_version` holds one integer; `_MIGRATIONS[i]` takes the schema from version i to
i + 1 and all pending ones run in one transaction at open. A file with a newer schema than
this code knows is refused (`StoreCorrupt`) rather than misread.

- `kv(node_id, name, version, data)`: data NULL is a tombstone (see `base.py`). An ordinary
  rowid table: state blobs run to kilobytes, where SQLite advises against WITHOUT ROWID.
- `leases(node_id, runtime_id, epoch, expiry)`: runtime_id NULL is a released lease; the
  row stays so the epoch never goes back.
- `nodes(node_id, addr, signer, flags)`: WITHOUT ROWID so the 33-byte node id is the
  b-tree key itself (no second index); addr packed by `registry.pack_address`.

A PostgreSQL backend
--------------------
must implement `base.Store` (the `KVStore` and `NodeRegistry` protocols plus `close`) with
the same semantics; callers never change. What carries over and what does not:
- The DML below is portable SQL (standard `ON CONFLICT ... DO UPDATE ... WHERE` and
  `RETURNING`, which SQLite >= 3.35, PostgreSQL and CockroachDB all accept); only the `?`
  placeholders become `%s` for psycopg.
- SQLite-only parts stay in this file: PRAGMAs, `BEGIN IMMEDIATE` (PostgreSQL: a
  transaction with `SELECT ... FOR UPDATE` on the kv/lease row, or SERIALIZABLE with retry;
  the lease acquisition is already a single atomic upsert), `WITHOUT ROWID` (drop it:
  PostgreSQL tables are heaps with a primary-key index), type names (BLOB -> BYTEA,
  REAL -> DOUBLE PRECISION, INTEGER -> BIGINT).
- `put` on a missing row must still fail cleanly when two writers insert the same key at
  once: under PostgreSQL that is the primary-key violation, mapped to `StoreConflict`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from vajra.store.base import Lease
from vajra.store.errors import (
    LeaseHeld,
    LeaseLost,
    NodeExists,
    StoreConflict,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from vajra.store.registry import NodeRow, pack_address, unpack_address

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: kv, leases, registry.
    (
        "CREATE TABLE kv ("
        " node_id BLOB NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, data BLOB,"
        " PRIMARY KEY (node_id, name))",
        "CREATE TABLE leases ("
        " node_id BLOB NOT NULL PRIMARY KEY, runtime_id TEXT, epoch INTEGER NOT NULL,"
        " expiry REAL NOT NULL) WITHOUT ROWID",
        "CREATE TABLE nodes ("
        " node_id BLOB NOT NULL PRIMARY KEY, addr BLOB NOT NULL, signer INTEGER NOT NULL,"
        " flags INTEGER NOT NULL) WITHOUT ROWID",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_ITER_PAGE = 4096


def _translate(e: sqlite3.Error) -> StoreError:
    """SQLite's exceptions as the store's typed errors."""
    msg = str(e)
    if isinstance(e, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg):
        return StoreUnavailable(f"sqlite: {msg}")
    if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError):
        return StoreCorrupt(f"sqlite: {msg}")
    return StoreUnavailable(f"sqlite: {msg}")


class SqliteStore:
    """`base.Store` on one SQLite file (WAL); several processes may open the same file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = 10_000,
        cache_mib: int = 16,
    ) -> None:
        """Open (creating and migrating if needed) the store at `path`.

        `cache_mib` bounds SQLite's page cache per connection (per process): at a
        million registry rows, inserts ran ~68k/s with SQLite's 2 MiB default, ~78k/s
        with 16 MiB and ~88k/s with 64 MiB (bench/store_registry.py).
        """
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock
            )
        except sqlite3.Error as e:
            raise _translate(e) from e
        try:
            self._setup(busy_timeout_ms, cache_mib)
        except sqlite3.Error as e:
            self._db.close()
            raise _translate(e) from e
        except StoreError:
            self._db.close()
            raise

    def _setup(self, busy_timeout_ms: int, cache_mib: int) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.execute(f"PRAGMA cache_size = -{int(cache_mib) * 1024}")
        (mode,) = db.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode not in ("wal", "memory"):
            raise StoreCorrupt(f"cannot switch {self.path} to WAL (journal_mode={mode})")
        db.execute("PRAGMA synchronous = FULL")
        with self._write() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = cur.execute("SELECT version FROM schema_version").fetchone()
            have = 0 if row is None else int(row[0])
            if row is None:
                cur.execute("INSERT INTO schema_version (version) VALUES (0)")
            if have > SCHEMA_VERSION:
                raise StoreCorrupt(
                    f"{self.path} has schema version {have}, newer than {SCHEMA_VERSION}"
                )
            for migration in _MIGRATIONS[have:]:
                for statement in migration:
                    cur.execute(statement)
            if have != SCHEMA_VERSION:
                cur.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction holding the database's write lock from its first read."""
        with self._lock:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise _translate(e) from e
            try:
                yield cur
            except sqlite3.Error as e:
                self._db.rollback()
                raise _translate(e) from e
            except BaseException:
                self._db.rollback()
                raise
            try:
                cur.execute("COMMIT")
            except sqlite3.Error as e:
                self._db.rollback()
                raise _translate(e) from e

    def _read(self, sql: str, args: tuple[object, ...]) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise _translate(e) from e

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check_integrity(self) -> None:
        """`StoreCorrupt` unless SQLite's full integrity check passes."""
        rows = self._read("PRAGMA integrity_check", ())
        if [r[0] for r in rows] != ["ok"]:
            raise StoreCorrupt(f"{self.path}: {rows[:5]}")

    # --- versioned key-value -------------------------------------------------------------

    def get(self, node_id: bytes, key: str) -> tuple[int, bytes] | None:
        rows = self._read(
            "SELECT version, data FROM kv WHERE node_id = ? AND name = ?", (node_id, key)
        )
        if not rows or rows[0][1] is None:
            return None
        return int(rows[0][0]), bytes(rows[0][1])

    def put(
        self,
        node_id: bytes,
        key: str,
        blob: bytes,
        expected_version: int,
        *,
        lease_epoch: int | None = None,
    ) -> int:
        return self._cas(node_id, key, blob, expected_version, lease_epoch)

    def delete(
        self,
        node_id: bytes,
        key: str,
        expected_version: int,
        *,
        lease_epoch: int | None = None,
    ) -> int:
        return self._cas(node_id, key, None, expected_version, lease_epoch)

    def _cas(
        self,
        node_id: bytes,
        key: str,
        blob: bytes | None,
        expected: int,
        lease_epoch: int | None,
    ) -> int:
        with self._write() as cur:
            if lease_epoch is not None:
                self._check_fence(cur, node_id, lease_epoch)
            row = cur.execute(
                "SELECT version, data IS NULL FROM kv WHERE node_id = ? AND name = ?",
                (node_id, key),
            ).fetchone()
            stored = 0 if row is None else int(row[0])
            deleted = row is not None and bool(row[1])
            # A tombstone is a version like any other (so a version names one value
            # forever); only a live value can be deleted.
            if expected != stored or (blob is None and (row is None or deleted)):
                raise StoreConflict(node_id, key, expected, stored, deleted=deleted)
            new = stored + 1
            if row is None:
                cur.execute(
                    "INSERT INTO kv (node_id, name, version, data) VALUES (?, ?, ?, ?)",
                    (node_id, key, new, blob),
                )
            else:
                cur.execute(
                    "UPDATE kv SET version = ?, data = ? WHERE node_id = ? AND name = ?",
                    (new, blob, node_id, key),
                )
            return new

    @staticmethod
    def _current_epoch(cur: sqlite3.Cursor, node_id: bytes) -> int | None:
        """The epoch of the node's held lease, None if released or never held."""
        row = cur.execute(
            "SELECT runtime_id, epoch FROM leases WHERE node_id = ?", (node_id,)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[1])

    def _check_fence(self, cur: sqlite3.Cursor, node_id: bytes, epoch: int) -> None:
        current = self._current_epoch(cur, node_id)
        if current != epoch:
            raise LeaseLost(node_id, epoch, current)

    def list_keys(self, node_id: bytes) -> list[str]:
        rows = self._read(
            "SELECT name FROM kv WHERE node_id = ? AND data IS NOT NULL ORDER BY name",
            (node_id,),
        )
        return [str(r[0]) for r in rows]

    # --- leases --------------------------------------------------------------------------

    def acquire_lease(self, node_id: bytes, runtime_id: str, now: float, ttl: float) -> Lease:
        expiry = now + ttl
        with self._write() as cur:
            # One atomic statement: insert epoch 1, or take over (epoch + 1) a lease that is
            # released, expired or our own. It is also the PostgreSQL form.
            row = cur.execute(
                "INSERT INTO leases (node_id, runtime_id, epoch, expiry) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (node_id) DO UPDATE SET runtime_id = excluded.runtime_id,"
                " epoch = leases.epoch + 1, expiry = excluded.expiry"
                " WHERE leases.runtime_id IS NULL OR leases.expiry <= ?"
                " OR leases.runtime_id = excluded.runtime_id"
                " RETURNING epoch",
                (node_id, runtime_id, expiry, now),
            ).fetchone()
            if row is None:
                holder, epoch, held_until = cur.execute(
                    "SELECT runtime_id, epoch, expiry FROM leases WHERE node_id = ?",
                    (node_id,),
                ).fetchone()
                raise LeaseHeld(node_id, str(holder), int(epoch), float(held_until))
            return Lease(node_id, runtime_id, int(row[0]), float(expiry))

    def renew_lease(self, lease: Lease, now: float, ttl: float) -> Lease:
        expiry = now + ttl
        with self._write() as cur:
            cur.execute(
                "UPDATE leases SET expiry = ? WHERE node_id = ? AND runtime_id = ? AND epoch = ?",
                (expiry, lease.node_id, lease.runtime_id, lease.epoch),
            )
            if cur.rowcount != 1:
                raise LeaseLost(lease.node_id, lease.epoch, self._current_epoch(cur, lease.node_id))
        return Lease(lease.node_id, lease.runtime_id, lease.epoch, float(expiry))

    def raise_lease_epoch(self, lease: Lease, epoch: int) -> Lease:
        if not lease.epoch < epoch < 1 << 63:
            raise LeaseLost(lease.node_id, lease.epoch, None)
        with self._write() as cur:
            cur.execute(
                "UPDATE leases SET epoch = ? WHERE node_id = ? AND runtime_id = ? AND epoch = ?",
                (epoch, lease.node_id, lease.runtime_id, lease.epoch),
            )
            if cur.rowcount != 1:
                raise LeaseLost(lease.node_id, lease.epoch, self._current_epoch(cur, lease.node_id))
        return Lease(lease.node_id, lease.runtime_id, epoch, lease.expiry)

    def release_lease(self, lease: Lease) -> None:
        with self._write() as cur:
            cur.execute(
                "UPDATE leases SET runtime_id = NULL"
                " WHERE node_id = ? AND runtime_id = ? AND epoch = ?",
                (lease.node_id, lease.runtime_id, lease.epoch),
            )
            if cur.rowcount != 1:
                raise LeaseLost(lease.node_id, lease.epoch, self._current_epoch(cur, lease.node_id))

    def get_lease(self, node_id: bytes) -> Lease | None:
        rows = self._read(
            "SELECT runtime_id, epoch, expiry FROM leases WHERE node_id = ?", (node_id,)
        )
        if not rows or rows[0][0] is None:
            return None
        runtime_id, epoch, expiry = rows[0]
        return Lease(node_id, str(runtime_id), int(epoch), float(expiry))

    # --- registry ------------------------------------------------------------------------

    def register_nodes(self, rows: Iterable[NodeRow]) -> int:
        last: list[NodeRow] = []

        def params() -> Iterator[tuple[bytes, bytes, int, int]]:
            for r in rows:
                last[:] = [r]
                yield r.node_id, pack_address(r.host, r.port), r.signer_id, r.flags

        with self._write() as cur:
            try:
                cur.executemany(
                    "INSERT INTO nodes (node_id, addr, signer, flags) VALUES (?, ?, ?, ?)",
                    params(),
                )
            except sqlite3.IntegrityError:
                # executemany stops at the offending row: the last one generated.
                raise NodeExists(last[0].node_id) from None
            return cur.rowcount

    def set_node_flags(self, node_id: bytes, flags: int) -> None:
        with self._write() as cur:
            cur.execute("UPDATE nodes SET flags = ? WHERE node_id = ?", (flags, node_id))
            if cur.rowcount != 1:
                raise KeyError(node_id.hex())

    def get_node(self, node_id: bytes) -> NodeRow | None:
        rows = self._read(
            "SELECT node_id, addr, signer, flags FROM nodes WHERE node_id = ?", (node_id,)
        )
        return _row(rows[0]) if rows else None

    def iter_nodes(self, after: bytes | None = None) -> Iterator[NodeRow]:
        cursor = after
        while True:
            if cursor is None:
                page = self._read(
                    "SELECT node_id, addr, signer, flags FROM nodes ORDER BY node_id LIMIT ?",
                    (_ITER_PAGE,),
                )
            else:
                page = self._read(
                    "SELECT node_id, addr, signer, flags FROM nodes WHERE node_id > ?"
                    " ORDER BY node_id LIMIT ?",
                    (cursor, _ITER_PAGE),
                )
            for r in page:
                yield _row(r)
            if len(page) < _ITER_PAGE:
                return
            cursor = bytes(page[-1][0])

    def count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM nodes", ())[0][0])


def _row(r: Any) -> NodeRow:
    node_id, addr, signer, flags = r
    host, port = unpack_address(addr)
    return NodeRow(bytes(node_id), host, port, int(signer), int(flags))
