"""The gossip store: accepted BOLT 7 messages in SQLite, reloaded into the graph at start.

I/O edge of `gossip/` (the core is `gossip.core`). Tables hold the messages verbatim (so
they can be re-sent to peers and re-applied as they were signed) with what the chain told
us (capacity, when accepted). Writes go into an open transaction committed every
`batch` writes and on `commit()`/`close()`: gossip lost in a crash is re-learned from
peers, so the store trades durability of the last batch for initial sync speed.

    store = GossipStore(path)
    core = GossipCore(chain_hash, sink=store)
    store.load(core)                  # restart: the graph as it was
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol

from vajra.errors import DecodeError
from vajra.wire import ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, decode_message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gossip_channels (
    scid INTEGER PRIMARY KEY, capacity_sat INTEGER NOT NULL, seen INTEGER NOT NULL,
    announcement BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS gossip_updates (
    scid INTEGER NOT NULL, direction INTEGER NOT NULL, message BLOB NOT NULL,
    PRIMARY KEY (scid, direction));
CREATE TABLE IF NOT EXISTS gossip_nodes (node_id BLOB PRIMARY KEY, message BLOB NOT NULL);
"""

_TWO64 = 1 << 64
_TWO63 = 1 << 63


def _sql_scid(scid: int) -> int:
    """SQLite integers are signed 64-bit; a u64 scid is stored as its two's complement."""
    return scid - _TWO64 if scid >= _TWO63 else scid


def _py_scid(v: int) -> int:
    return v + _TWO64 if v < 0 else v


class GossipStore:
    """A `GossipSink` over one SQLite file (its own tables; may share the runtime's
    database file)."""

    def __init__(self, path: Path | str, *, batch: int = 1000) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._batch = batch
        self._pending = 0

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        if self._pending == 0:
            self._db.execute("BEGIN")
        self._db.execute(sql, args)
        self._pending += 1
        if self._pending >= self._batch:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            self._db.execute("COMMIT")
            self._pending = 0

    def close(self) -> None:
        self.commit()
        self._db.close()

    # --- GossipSink --------------------------------------------------------------------------

    def channel_added(self, msg: ChannelAnnouncement, capacity_sat: int, seen: int) -> None:
        self._write(
            "INSERT OR REPLACE INTO gossip_channels VALUES (?, ?, ?, ?)",
            (_sql_scid(msg.short_channel_id), capacity_sat, seen, msg.encode()),
        )

    def channel_updated(self, msg: ChannelUpdate) -> None:
        self._write(
            "INSERT OR REPLACE INTO gossip_updates VALUES (?, ?, ?)",
            (_sql_scid(msg.short_channel_id), msg.channel_flags & 1, msg.encode()),
        )

    def node_announced(self, msg: NodeAnnouncement) -> None:
        self._write(
            "INSERT OR REPLACE INTO gossip_nodes VALUES (?, ?)", (msg.node_id, msg.encode())
        )

    def channels_removed(self, short_channel_ids: list[int]) -> None:
        for scid in short_channel_ids:
            self._write("DELETE FROM gossip_channels WHERE scid = ?", (_sql_scid(scid),))
            self._write("DELETE FROM gossip_updates WHERE scid = ?", (_sql_scid(scid),))

    # --- reload ------------------------------------------------------------------------------

    def load(self, core: _Restorable) -> int:
        """Re-apply everything stored to `core` (no signature checks: the core accepted
        it before). Returns the number of channels. A row that no longer decodes is
        skipped (it cannot have been written by this store)."""
        self.commit()
        n = 0
        for scid, cap, seen, blob in self._db.execute(
            "SELECT scid, capacity_sat, seen, announcement FROM gossip_channels"
        ):
            ann = _decode(blob)
            if isinstance(ann, ChannelAnnouncement) and ann.short_channel_id == _py_scid(scid):
                core.restore_channel(ann, cap, seen)
                n += 1
        for (blob,) in self._db.execute("SELECT message FROM gossip_updates"):
            upd = _decode(blob)
            if isinstance(upd, ChannelUpdate):
                core.restore_update(upd)
        for (blob,) in self._db.execute("SELECT message FROM gossip_nodes"):
            na = _decode(blob)
            if isinstance(na, NodeAnnouncement):
                core.restore_node(na)
        return n


class _Restorable(Protocol):
    """What `load` needs of a `GossipCore`."""

    def restore_channel(self, msg: ChannelAnnouncement, capacity_sat: int, seen: int) -> None: ...
    def restore_update(self, msg: ChannelUpdate) -> None: ...
    def restore_node(self, msg: NodeAnnouncement) -> None: ...


def _decode(blob: bytes) -> object:
    try:
        return decode_message(bytes(blob))
    except DecodeError:
        return None
