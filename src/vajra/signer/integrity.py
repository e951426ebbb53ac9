"""Keyed integrity of the signer's SQLite state: any edit, insertion, deletion or mix of
old and new rows made while the signer was stopped is found when it opens the file.

Theory of operation (decision 0012). The key `k` is derived from the seed
(`SignerKeys.state_key`), so whoever can write `state.db` but does not hold the unlocked
seed cannot produce a state the signer accepts.

- Every row of every table (except `integrity` itself) contributes
  `PRF(row) = HMAC-SHA256(k, 0x01 || table || canonical text)` to an accumulator
  `acc = sum of PRF(row) mod 2^256` (a keyed multiset hash). New tables are covered
  automatically: the columns are read from the schema when the file is opened, so the
  channel state the signer will keep rides on the same mechanism with no extra code.
- `acc` is never stored. The file holds `mac = HMAC-SHA256(k, 0x02 || TAG || version ||
  acc || audit length || audit head hash)` in table `integrity`. An attacker who has seen
  any number of old copies of the file knows only old MACs, never an `acc` or a PRF
  value, so they can neither forge a MAC for an edited state nor combine rows of several
  copies. Only a whole old copy verifies: that is a rollback, which the audit head
  anchored outside the box catches (`vajra.signer.anchor`).
- Writes are tracked without any per-method code: TEMP triggers (per connection, not
  stored in the file) call a Python function with each inserted, deleted or updated
  row, which adds or subtracts its PRF to the transaction's delta. `seal` writes the new
  MAC in the same transaction; `committed` folds the delta into `acc`.
- `verify` recomputes `acc` from every row (one HMAC per row; `vajra bench signer`
  reports the cost as `sealed_open_ms_per_1k_rows`) and compares MACs in constant time. The canonical text of a row is SQLite's
  `quote()` of each column, joined by commas (computed in SQLite, so the triggers and
  the recompute cannot disagree). It runs when the file is opened and again at
  the start of any transaction after another connection committed (SQLite's
  `data_version`), so a legitimate second writer (a CLI command next to the daemon) is
  re-verified rather than trusted.
"""

from __future__ import annotations

import hmac
import sqlite3
import struct

from vajra.errors import VajraError

VERSION = 1
TAG = b"vajra/signer-state/v1"
MOD = 1 << 256
TABLE = "integrity"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, mac BLOB NOT NULL)"
)


class StateIntegrityError(VajraError):
    """The signer's state does not verify: edited, truncated, mixed or never sealed.

    `vajra signer run` stops on it; recovery is in docs/signer.md ("When the signer
    refuses to start")."""


def _prefix(table: str) -> bytes:
    return b"\x01" + len(table.encode()).to_bytes(2, "big") + table.encode()


def _row_sql(alias: str, cols: list[str]) -> str:
    """SQL giving a row's canonical text: SQLite's `quote()` of each column (an SQL
    literal: typed, escaped, unambiguous), comma-separated. Computed inside SQLite, the
    same way for the triggers and for `recompute`."""
    dot = f"{alias}." if alias else ""
    return " || ',' || ".join(f"quote({dot}{_quote(c)})" for c in cols)


def _tables(db: sqlite3.Connection) -> dict[str, list[str]]:
    """Every user table of the main schema (but `integrity`) and its columns, in order."""
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM main.sqlite_master WHERE type='table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {
        n: [r[1] for r in db.execute(f"PRAGMA main.table_info({_quote(n)})")]
        for n in names
        if n != TABLE
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Integrity:
    """The MAC of one connection's view of the state (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("state key must be 32 bytes")
        self._db = db
        self._key = key
        self._acc: int | None = None
        self._delta = 0
        self._seen_version: int | None = None
        self._pending: int | None = None
        db.execute(_SCHEMA)
        db.execute("PRAGMA recursive_triggers = ON")  # REPLACE fires the delete trigger
        db.create_function("vajra_row", 3, self._on_row)
        self._schema = -1
        self._install()

    def _install(self) -> None:
        """Triggers for every table (again when the schema changed: a table added later,
        by this or another connection, is tracked from its first row)."""
        version = int(self._db.execute("PRAGMA schema_version").fetchone()[0])
        if version == self._schema:
            return
        for table, cols in _tables(self._db).items():
            self._triggers(table, cols)
        self._schema = int(self._db.execute("PRAGMA schema_version").fetchone()[0])

    # --- PRF and MAC ------------------------------------------------------------------------

    def _prf(self, table: str, text: str) -> int:
        msg = _prefix(table) + text.encode()
        return int.from_bytes(hmac.digest(self._key, msg, "sha256"), "big")

    def _mac(self, acc: int, audit_length: int, head_hash: bytes) -> bytes:
        msg = b"\x02" + TAG + struct.pack(">HQ", VERSION, audit_length)
        return hmac.new(self._key, msg + acc.to_bytes(32, "big") + head_hash, "sha256").digest()

    def _on_row(self, sign: int, table: str, text: str) -> int:
        self._delta = (self._delta + sign * self._prf(table, text)) % MOD
        return 0

    def _triggers(self, table: str, cols: list[str]) -> None:
        t = _quote(table)
        lit = "'" + table.replace("'", "''") + "'"

        def args(alias: str) -> str:
            return _row_sql(alias, cols)

        name = "vajra_" + "".join(c if c.isalnum() else "_" for c in table)
        new, old = args("NEW"), args("OLD")
        for suffix in ("i", "d", "u"):  # columns may have changed (a migration)
            self._db.execute(f"DROP TRIGGER IF EXISTS temp.{name}_{suffix}")
        self._db.execute(
            f"CREATE TEMP TRIGGER {name}_i AFTER INSERT ON main.{t} "
            f"BEGIN SELECT vajra_row(1, {lit}, {new}); END"
        )
        self._db.execute(
            f"CREATE TEMP TRIGGER {name}_d AFTER DELETE ON main.{t} "
            f"BEGIN SELECT vajra_row(-1, {lit}, {old}); END"
        )
        self._db.execute(
            f"CREATE TEMP TRIGGER {name}_u AFTER UPDATE ON main.{t} "
            f"BEGIN SELECT vajra_row(-1, {lit}, {old}); SELECT vajra_row(1, {lit}, {new}); END"
        )

    # --- life cycle -------------------------------------------------------------------------

    def sealed(self) -> bool:
        return self._db.execute(f"SELECT 1 FROM {TABLE} WHERE id=1").fetchone() is not None

    def recompute(self) -> int:
        acc, key = 0, self._key
        for table, cols in _tables(self._db).items():
            prefix = _prefix(table)
            sql = f"SELECT {_row_sql('', cols)} FROM main.{_quote(table)}"
            for (text,) in self._db.execute(sql):
                acc += int.from_bytes(hmac.digest(key, prefix + text.encode(), "sha256"), "big")
        return acc % MOD

    def verify(self, audit_length: int, head_hash: bytes) -> None:
        """Recompute the accumulator from every row and check the stored MAC (inside a
        transaction). StateIntegrityError if it is missing or does not match."""
        row = self._db.execute(f"SELECT version, mac FROM {TABLE} WHERE id=1").fetchone()
        if row is None:
            raise StateIntegrityError("the signer state carries no integrity record")
        if row[0] != VERSION:
            raise StateIntegrityError(f"state integrity version {row[0]} is not {VERSION}")
        acc = self.recompute()
        if not hmac.compare_digest(bytes(row[1]), self._mac(acc, audit_length, head_hash)):
            raise StateIntegrityError(
                "the signer state was modified outside the signer (its MAC does not match: "
                "a row was edited, inserted or deleted, or the audit log was cut)"
            )
        self._acc = acc
        self._seen_version = self.data_version()

    def data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def stale(self) -> bool:
        """True if another connection committed since this one last verified or wrote."""
        return self._acc is None or self.data_version() != self._seen_version

    def begin(self) -> None:
        self._delta = 0
        self._install()

    def seal(self, audit_length: int, head_hash: bytes) -> None:
        """Write the MAC of the state as this transaction leaves it (before COMMIT)."""
        base = self.recompute() if self._acc is None else self._acc
        if self._acc is None:  # a first seal: `recompute` already saw this transaction
            self._delta = 0
        acc = (base + self._delta) % MOD
        self._db.execute(
            f"INSERT OR REPLACE INTO {TABLE} (id, version, mac) VALUES (1, ?, ?)",
            (VERSION, self._mac(acc, audit_length, head_hash)),
        )
        self._pending = acc

    def committed(self) -> None:
        if self._pending is not None:
            self._acc = self._pending
        self._pending = None
        self._delta = 0
        self._seen_version = self.data_version()

    def rolled_back(self) -> None:
        self._delta = 0
        self._pending = None

    def mark(self) -> int:
        """The accumulated change so far (a savepoint's start, for `rewind`)."""
        return self._delta

    def rewind(self, mark: int) -> None:
        """Forget the rows changed since `mark` (their savepoint was rolled back)."""
        self._delta = mark

    @property
    def dirty(self) -> bool:
        return self._delta != 0
