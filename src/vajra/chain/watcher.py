"""The one shared chain watcher of a runtime (DESIGN section 8): `WatcherApi` on durable state.

Theory of operation
-------------------
Every watched script and outpoint of every hosted node is one entry of a `CompactIndex`
(rebuilt from `chain_watch` at start); a sleeping node costs the watcher nothing else.
Blocks come in order from the follower (`follower.py`): `connect_block` scans each
transaction once for all nodes -- inputs against watched outpoints, outputs against
watched scripts -- confirms each index candidate against the durable registration (the
index keys are truncated hashes), and writes the block's events, UTXO changes and the new
cursor in ONE store transaction. An output paying a watched script is credited to the
node as a UTXO and its outpoint watched with the same purpose, so its spend is seen.

`disconnect_tip` undoes the cursor block (reorg): newest event first, a RECEIVED output is
removed and a SPENT output restored, each undone event is marked and answered by an
UNDONE event to the node; the cursor steps back. Confirmations are never stored: they are
`tip - height + 1`, so they recount themselves when the tip moves either way.

Delivery: events stay in `chain_events` until the node acknowledges them. An event whose
purpose is in `WAKE_PURPOSES` is also handed to the `on_wake` callbacks after its block
commits (the runtime wakes the owner); the others wait for the node's next wake.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from vajra.chain.db import KIND_OUTPOINT, KIND_SCRIPT, ChainDb
from vajra.chain.index import CompactIndex, outpoint_key, script_key
from vajra.chain.types import (
    WAKE_PURPOSES,
    Balance,
    BlockRef,
    ChainDataError,
    ChainEvent,
    EventKind,
    OutPoint,
    Purpose,
    Utxo,
)

_EVENT_COLS = (
    "seq, node, kind, purpose, op_txid, vout, txid, value, script, height, block_hash, wake, undoes"
)
_AUTO_WATCHED = (int(Purpose.RECEIVE), int(Purpose.CHANGE))


class ScanTx(Protocol):
    """A transaction as the scan needs it (`vajra.bitcoin.block.ScannedTx` fits)."""

    @property
    def txid(self) -> bytes: ...
    @property
    def prevouts(self) -> list[bytes]: ...
    @property
    def outputs(self) -> list[tuple[bytes, int]]: ...


def _event(row: Sequence[Any]) -> ChainEvent:
    seq, node, kind, purpose, op_txid, vout, txid, value, script, height, bh, wake, undoes = row
    return ChainEvent(
        seq=int(seq),
        node_index=int(node),
        kind=EventKind(kind),
        purpose=Purpose(purpose),
        outpoint=OutPoint(bytes(op_txid), int(vout)),
        txid=bytes(txid),
        value_sat=int(value),
        script_pubkey=bytes(script),
        height=int(height),
        block_hash=bh if isinstance(bh, bytes) else None,
        wake=bool(wake),
        undoes_seq=None if undoes is None else int(undoes),
    )


class Watcher:
    """`WatcherApi` plus the block interface the follower drives."""

    def __init__(self, db: ChainDb) -> None:
        self.db = db
        self.index = CompactIndex()
        self._wake_callbacks: list[Callable[[int, ChainEvent], None]] = []
        self._tip: BlockRef | None = None
        self.blocks_scanned = 0
        self._load()

    def _load(self) -> None:
        # Streamed into packed ints and sorted once: a million registrations load without
        # a Python object per item surviving the load.
        packed: list[int] = []
        pack = CompactIndex.pack
        with self.db.lock:
            cur = self.db.db.execute("SELECT kind, data, node, purpose FROM chain_watch")
            while batch := cur.fetchmany(65536):
                for kind, data, node, purpose in batch:
                    key = script_key(data) if kind == KIND_SCRIPT else outpoint_key(data)
                    packed.append(pack(key, node, purpose))
        self.index.load_packed(packed)
        row = self.db.query("SELECT height, hash FROM chain_blocks ORDER BY height DESC LIMIT 1")
        if row:
            self._tip = BlockRef(int(row[0][0]), bytes(row[0][1]))

    # -- WatcherApi: registration ------------------------------------------------------------

    def watch_scripts(self, node_index: int, scripts: Iterable[bytes], purpose: Purpose) -> int:
        return self._watch(node_index, KIND_SCRIPT, [bytes(s) for s in scripts], purpose)

    def watch_outpoints(
        self, node_index: int, outpoints: Iterable[OutPoint], purpose: Purpose
    ) -> int:
        return self._watch(node_index, KIND_OUTPOINT, [o.serialize() for o in outpoints], purpose)

    def watch_scripts_bulk(self, rows: Iterable[tuple[int, bytes, Purpose]]) -> int:
        """Watch many (node index, script, purpose) at once, in one store transaction
        (e.g. the gap-limit addresses of many nodes at start); return how many were new."""
        new: list[tuple[int, int, int]] = []
        # The lock spans the index update too: the follower's thread scans with it held.
        with self.db.lock:
            with self.db.tx() as db:
                for node_index, script, purpose in rows:
                    cur = db.execute(
                        "INSERT OR IGNORE INTO chain_watch VALUES (?, ?, ?, ?)",
                        (KIND_SCRIPT, script, node_index, int(purpose)),
                    )
                    if cur.rowcount:
                        new.append((script_key(script), node_index, int(purpose)))
            self.index.add_many(new)
        return len(new)

    def _watch(self, node_index: int, kind: int, datas: list[bytes], purpose: Purpose) -> int:
        if not 0 <= node_index < 1 << 32:
            raise ValueError(f"node index out of range: {node_index}")
        new: list[bytes] = []
        keyf = script_key if kind == KIND_SCRIPT else outpoint_key
        with self.db.lock:
            with self.db.tx() as db:
                for data in datas:
                    cur = db.execute(
                        "INSERT OR IGNORE INTO chain_watch VALUES (?, ?, ?, ?)",
                        (kind, data, node_index, int(purpose)),
                    )
                    if cur.rowcount:
                        new.append(data)
            for data in new:
                self.index.add(keyf(data), node_index, int(purpose))
        return len(new)

    # -- WatcherApi: reads --------------------------------------------------------------------

    def utxos(self, node_index: int) -> list[Utxo]:
        rows = self.db.query(
            "SELECT txid, vout, value, script, purpose, height FROM chain_utxos"
            " WHERE node = ? AND spent_txid IS NULL ORDER BY height, txid, vout",
            (node_index,),
        )
        return [
            Utxo(OutPoint(bytes(t), int(v)), int(val), bytes(s), Purpose(p), int(h))
            for t, v, val, s, p, h in rows
        ]

    def balance(self, node_index: int) -> Balance:
        rows = self.db.query(
            "SELECT COALESCE(SUM(CASE WHEN height > 0 THEN value END), 0),"
            " COALESCE(SUM(CASE WHEN height = 0 THEN value END), 0)"
            " FROM chain_utxos WHERE node = ? AND spent_txid IS NULL",
            (node_index,),
        )
        return Balance(int(rows[0][0]), int(rows[0][1]))

    def tip(self) -> BlockRef | None:
        return self._tip

    def block_hash_at(self, height: int) -> bytes | None:
        """The hash of the scanned block at `height`, if the watcher has one."""
        rows = self.db.query("SELECT hash FROM chain_blocks WHERE height = ?", (height,))
        return bytes(rows[0][0]) if rows else None

    def events(self, node_index: int, after_seq: int = 0, limit: int = 1000) -> list[ChainEvent]:
        rows = self.db.query(
            f"SELECT {_EVENT_COLS} FROM chain_events"
            " WHERE node = ? AND acked = 0 AND seq > ? ORDER BY seq LIMIT ?",
            (node_index, after_seq, limit),
        )
        return [_event(r) for r in rows]

    def ack_events(self, node_index: int, upto_seq: int) -> int:
        with self.db.tx() as db:
            cur = db.execute(
                "UPDATE chain_events SET acked = 1 WHERE node = ? AND acked = 0 AND seq <= ?",
                (node_index, upto_seq),
            )
            return cur.rowcount

    def on_wake(self, callback: Callable[[int, ChainEvent], None]) -> None:
        self._wake_callbacks.append(callback)

    # -- blocks ------------------------------------------------------------------------------

    def connect_block(
        self, height: int, block_hash: bytes, prev_hash: bytes, txs: Iterable[ScanTx]
    ) -> list[ChainEvent]:
        """Scan one block on top of the cursor; return the events it made (stored).

        `ChainDataError` if `prev_hash` is not the cursor's hash or `height` not the next
        one (the follower disconnects first on a reorg). The first block ever connected
        may be at any height.
        """
        tip = self._tip
        if tip is not None and (height != tip.height + 1 or prev_hash != tip.block_hash):
            raise ChainDataError(f"block {height} does not extend the watcher's tip {tip.height}")
        index = self.index
        lookup = index.lookup
        seqs: list[int] = []
        pending = self._pending_broadcasts()
        mask = (1 << 64) - 1
        # Hot loop: the prefilter test is inlined (most lookups end there); the bitmap is
        # re-read after every hit, since a credited output's outpoint is added (and may
        # merge the index) before a later transaction of the same block spends it.
        bitmap, shift = index.prefilter()
        with self.db.tx() as db:
            for tx in txs:
                txid = tx.txid
                for prevout in tx.prevouts:
                    k = hash(prevout) & mask  # = outpoint_key(prevout)
                    b = k >> shift
                    if bitmap[b >> 3] & (1 << (b & 7)) and lookup(k):
                        seqs.extend(self._spent(db, prevout, txid, height, block_hash))
                        bitmap, shift = index.prefilter()
                for vout, (script, value) in enumerate(tx.outputs):
                    k = hash(script) & mask  # = script_key(script)
                    b = k >> shift
                    if bitmap[b >> 3] & (1 << (b & 7)) and lookup(k):
                        seqs.extend(
                            self._received(db, script, txid, vout, value, height, block_hash)
                        )
                        bitmap, shift = index.prefilter()
                if txid in pending:
                    db.execute(
                        "UPDATE chain_broadcasts SET confirmed_height = ? WHERE txid = ?",
                        (height, txid),
                    )
            db.execute("INSERT OR REPLACE INTO chain_blocks VALUES (?, ?)", (height, block_hash))
        self._tip = BlockRef(height, block_hash)
        self.blocks_scanned += 1
        return self._deliver(seqs)

    def _pending_broadcasts(self) -> set[bytes]:
        # The broadcaster's unconfirmed transactions: a block holding one confirms it.
        rows = self.db.query("SELECT txid FROM chain_broadcasts WHERE confirmed_height IS NULL")
        return {bytes(r[0]) for r in rows}

    def _received(
        self,
        db: sqlite3.Connection,
        script: bytes,
        txid: bytes,
        vout: int,
        value: int,
        height: int,
        block_hash: bytes,
    ) -> list[int]:
        owners = db.execute(
            "SELECT node, purpose FROM chain_watch WHERE kind = ? AND data = ?",
            (KIND_SCRIPT, script),
        ).fetchall()
        seqs = []
        op = txid + vout.to_bytes(4, "little")
        for node, purpose in owners:
            db.execute(
                "INSERT OR REPLACE INTO chain_utxos VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (txid, vout, node, value, script, purpose, height),
            )
            cur = db.execute(
                "INSERT OR IGNORE INTO chain_watch VALUES (?, ?, ?, ?)",
                (KIND_OUTPOINT, op, node, purpose),
            )
            if cur.rowcount:
                self.index.add(outpoint_key(op), node, purpose)
            seqs.append(
                self._insert_event(
                    db,
                    node,
                    EventKind.RECEIVED,
                    purpose,
                    txid,
                    vout,
                    txid,
                    value,
                    script,
                    height,
                    block_hash,
                )
            )
        return seqs

    def _spent(
        self, db: sqlite3.Connection, prevout: bytes, txid: bytes, height: int, block_hash: bytes
    ) -> list[int]:
        owners = db.execute(
            "SELECT node, purpose FROM chain_watch WHERE kind = ? AND data = ?",
            (KIND_OUTPOINT, bytes(prevout)),
        ).fetchall()
        seqs = []
        op_txid, vout = bytes(prevout[:32]), int.from_bytes(prevout[32:36], "little")
        for node, purpose in owners:
            row = db.execute(
                "SELECT value, script FROM chain_utxos WHERE txid = ? AND vout = ? AND node = ?",
                (op_txid, vout, node),
            ).fetchone()
            value, script = (int(row[0]), bytes(row[1])) if row else (0, b"")
            db.execute(
                "UPDATE chain_utxos SET spent_txid = ?, spent_height = ?"
                " WHERE txid = ? AND vout = ? AND node = ?",
                (txid, height, op_txid, vout, node),
            )
            seqs.append(
                self._insert_event(
                    db,
                    node,
                    EventKind.SPENT,
                    purpose,
                    op_txid,
                    vout,
                    txid,
                    value,
                    script,
                    height,
                    block_hash,
                )
            )
        return seqs

    @staticmethod
    def _insert_event(
        db: sqlite3.Connection,
        node: int,
        kind: EventKind,
        purpose: int,
        op_txid: bytes,
        vout: int,
        txid: bytes,
        value: int,
        script: bytes,
        height: int,
        block_hash: bytes | None,
        undoes: int | None = None,
    ) -> int:
        wake = Purpose(purpose) in WAKE_PURPOSES
        cur = db.execute(
            "INSERT INTO chain_events (node, kind, purpose, op_txid, vout, txid, value, script,"
            " height, block_hash, wake, undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (node, int(kind), purpose, op_txid, vout, txid, value, script, height, block_hash,
             int(wake), undoes),
        )  # fmt: skip
        assert cur.lastrowid is not None
        return cur.lastrowid

    def disconnect_tip(self) -> list[ChainEvent]:
        """Undo the cursor block (a reorg took it away); return the UNDONE events made."""
        tip = self._tip
        if tip is None:
            raise ChainDataError("nothing to disconnect: the watcher has scanned no block")
        seqs: list[int] = []
        with self.db.tx() as db:
            rows = db.execute(
                f"SELECT {_EVENT_COLS} FROM chain_events WHERE block_hash = ? AND undone = 0"
                " AND kind != ? ORDER BY seq DESC",
                (tip.block_hash, int(EventKind.UNDONE)),
            ).fetchall()
            for row in rows:
                ev = _event(row)
                op, node = ev.outpoint, ev.node_index
                if ev.kind is EventKind.RECEIVED:
                    db.execute(
                        "DELETE FROM chain_utxos WHERE txid = ? AND vout = ? AND node = ?",
                        (op.txid, op.vout, node),
                    )
                    if int(ev.purpose) in _AUTO_WATCHED:
                        db.execute(
                            "DELETE FROM chain_watch WHERE kind = ? AND data = ? AND node = ?",
                            (KIND_OUTPOINT, op.serialize(), node),
                        )
                else:
                    db.execute(
                        "UPDATE chain_utxos SET spent_txid = NULL, spent_height = NULL"
                        " WHERE txid = ? AND vout = ? AND node = ?",
                        (op.txid, op.vout, node),
                    )
                db.execute("UPDATE chain_events SET undone = 1 WHERE seq = ?", (ev.seq,))
                seqs.append(
                    self._insert_event(
                        db, node, EventKind.UNDONE, int(ev.purpose), op.txid, op.vout, ev.txid,
                        ev.value_sat, ev.script_pubkey, ev.height, tip.block_hash, ev.seq,
                    )
                )  # fmt: skip
            db.execute(
                "UPDATE chain_broadcasts SET confirmed_height = NULL WHERE confirmed_height = ?",
                (tip.height,),
            )
            db.execute("DELETE FROM chain_blocks WHERE height = ?", (tip.height,))
            prev = db.execute(
                "SELECT height, hash FROM chain_blocks ORDER BY height DESC LIMIT 1"
            ).fetchone()
        self._tip = BlockRef(int(prev[0]), bytes(prev[1])) if prev else None
        return self._deliver(seqs)

    def _deliver(self, seqs: list[int]) -> list[ChainEvent]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        rows = self.db.query(
            f"SELECT {_EVENT_COLS} FROM chain_events WHERE seq IN ({marks}) ORDER BY seq",
            tuple(seqs),
        )
        events = [_event(r) for r in rows]
        for ev in events:
            if ev.wake:
                for cb in self._wake_callbacks:
                    cb(ev.node_index, ev)
        return events
