"""The watcher's durable state: registrations, scanned chain, UTXOs, events, broadcasts.

Lives in the runtime's store file (its own `chain_*` tables beside the store's, opened on
a second connection; WAL + `synchronous=FULL` like `store/sqlite.py`), so one file backs
up a runtime. One block's effects (events, UTXO changes, the cursor) are written in ONE
transaction: after a crash the watcher resumes from a cursor that matches its events
exactly, so no event is lost or doubled.

Tables
------
- `chain_blocks(height, hash)`: the chain as scanned; the highest row is the cursor.
- `chain_watch(kind, data, node, purpose)`: kind 1 = script (data = scriptPubKey),
  kind 2 = outpoint (data = 36-byte wire form). The index is rebuilt from it at start.
- `chain_utxos(txid, vout, node, value, script, purpose, height, spent_txid,
  spent_height)`: outputs credited to a node; `spent_height` 0 = spent in the mempool,
  NULL = unspent.
- `chain_events(seq, node, kind, purpose, op_txid, vout, txid, value, script, height,
  block_hash, wake, undoes, undone, acked, settled)`: `settled` marks a mempool
  (height 0) event whose transaction a block now carries (see `effects.py`).
- `chain_broadcasts(txid, raw, attempts, confirmed_height)`, `chain_rejections(txid, at,
  reason, code)`: what the broadcaster keeps sending and every refusal it got.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vajra.chain.types import ChainError

KIND_SCRIPT = 1
KIND_OUTPOINT = 2

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chain_blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chain_watch (kind INTEGER NOT NULL, data BLOB NOT NULL,"
    " node INTEGER NOT NULL, purpose INTEGER NOT NULL, PRIMARY KEY (kind, data, node))"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS chain_utxos (txid BLOB NOT NULL, vout INTEGER NOT NULL,"
    " node INTEGER NOT NULL, value INTEGER NOT NULL, script BLOB NOT NULL,"
    " purpose INTEGER NOT NULL, height INTEGER NOT NULL, spent_txid BLOB,"
    " spent_height INTEGER, PRIMARY KEY (txid, vout, node))",
    "CREATE INDEX IF NOT EXISTS chain_utxos_node ON chain_utxos (node)",
    "CREATE TABLE IF NOT EXISTS chain_events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " node INTEGER NOT NULL, kind INTEGER NOT NULL, purpose INTEGER NOT NULL,"
    " op_txid BLOB NOT NULL, vout INTEGER NOT NULL, txid BLOB NOT NULL,"
    " value INTEGER NOT NULL, script BLOB NOT NULL, height INTEGER NOT NULL,"
    " block_hash BLOB, wake INTEGER NOT NULL, undoes INTEGER,"
    " undone INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0,"
    " settled INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS chain_events_node ON chain_events (node, acked, seq)",
    "CREATE INDEX IF NOT EXISTS chain_events_block ON chain_events (block_hash)",
    "CREATE INDEX IF NOT EXISTS chain_events_spend ON chain_events (op_txid, vout, node)",
    "CREATE INDEX IF NOT EXISTS chain_events_unconfirmed ON chain_events (seq)"
    " WHERE height = 0 AND undone = 0 AND settled = 0",
    "CREATE TABLE IF NOT EXISTS chain_broadcasts (txid BLOB PRIMARY KEY, raw BLOB NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, confirmed_height INTEGER)",
    "CREATE TABLE IF NOT EXISTS chain_rejections (txid BLOB NOT NULL, at REAL NOT NULL,"
    " reason TEXT NOT NULL, code INTEGER)",
)


class ChainStateError(ChainError):
    """The watcher's tables cannot be read or written (locked past the timeout, corrupt)."""


class ChainDb:
    """One SQLite connection to the watcher's tables, guarded by a lock."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 10_000) -> None:
        self.path = os.fspath(path)
        # One lock: the follower writes from a worker thread while the admin API reads.
        self.lock = threading.RLock()
        self._depth = 0
        try:
            self.db = sqlite3.connect(
                self.path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # guarded by self.lock
            )
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # 16 MiB page cache, as the store's: bulk registration of a million scripts
            # is random b-tree inserts, several times slower with SQLite's 2 MiB default.
            self.db.execute("PRAGMA cache_size = -16384")
            self.db.execute("PRAGMA journal_mode = WAL")
            # FULL: an acknowledged block's events survive power loss (decision 0004).
            self.db.execute("PRAGMA synchronous = FULL")
            with self.tx():
                for stmt in _SCHEMA:
                    self.db.execute(stmt)
            self._read_lock = threading.Lock()
            self._reader = sqlite3.connect(
                self.path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # guarded by self._read_lock
            )
        except sqlite3.Error as e:
            raise ChainStateError(f"chain state {self.path}: {e}") from e

    def close(self) -> None:
        self._reader.close()
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction; rolled back on any exception. Nested calls
        join the outermost transaction (the follower commits a run of blocks at once)."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.db
                finally:
                    self._depth -= 1
                return
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise ChainStateError(f"chain state: {e}") from e
            self._depth = 1
            try:
                yield self.db
            except sqlite3.Error as e:
                self.db.execute("ROLLBACK")
                raise ChainStateError(f"chain state: {e}") from e
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as e:
                self.db.execute("ROLLBACK")
                raise ChainStateError(f"chain state commit: {e}") from e

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read of the committed state, on a second connection: in WAL mode a
        reader never waits for the writer, so balance and event reads answer while the
        follower holds the write lock for a run of blocks."""
        try:
            with self._read_lock:
                return list(self._reader.execute(sql, args).fetchall())
        except sqlite3.Error as e:
            raise ChainStateError(f"chain state: {e}") from e

    def query_own(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read on the writer's connection (sees its open transaction)."""
        try:
            with self.lock:
                return list(self.db.execute(sql, args).fetchall())
        except sqlite3.Error as e:
            raise ChainStateError(f"chain state: {e}") from e
