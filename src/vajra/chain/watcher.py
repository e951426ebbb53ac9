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
UNDONE event to the node; the cursor steps back. The mempool is scanned the same way at
height 0 (`add_mempool_txs`; unconfirmed UTXOs and spends) and its effects are undone when
a transaction leaves it unmined (`expire_mempool`); the rules are in `effects.py`. Confirmations are never stored: they are
`tip - height + 1`, so they recount themselves when the tip moves either way.

Delivery: events stay in `chain_events` until the node acknowledges them. An event whose
purpose is in `WAKE_PURPOSES` is also handed to the `on_wake` callbacks after its block
commits (the runtime wakes the owner); the others wait for the node's next wake.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from vajra.chain import effects
from vajra.chain.db import KIND_OUTPOINT, KIND_SCRIPT, ChainDb
from vajra.chain.index import CompactIndex, outpoint_key, script_key
from vajra.chain.types import (
    Balance,
    BlockRef,
    ChainDataError,
    ChainEvent,
    OutPoint,
    Purpose,
    Utxo,
)


class ScanTx(Protocol):
    """A transaction as the scan needs it (`vajra.bitcoin.block.ScannedTx` fits)."""

    @property
    def txid(self) -> bytes: ...
    @property
    def prevouts(self) -> list[bytes]: ...
    @property
    def outputs(self) -> list[tuple[bytes, int]]: ...


class Watcher:
    """`WatcherApi` plus the block interface the follower drives."""

    def __init__(self, db: ChainDb) -> None:
        self.db = db
        self.index = CompactIndex()
        self._wake_callbacks: list[Callable[[int, ChainEvent], None]] = []
        self._tip: BlockRef | None = None
        self.blocks_scanned = 0
        self._batching = 0
        self._held_wakes: list[ChainEvent] = []
        self._load()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Connect/disconnect several blocks in ONE store transaction (catch-up: one fsync
        per run of blocks instead of per block). Wakes are held until it commits; if it
        fails, nothing of it stays and the cursor is re-read from the store."""
        with self.db.lock:
            self._batching += 1
            ok = False
            try:
                with self.db.tx():
                    yield
                ok = True
            finally:
                self._batching -= 1
                if not self._batching:
                    held, self._held_wakes = self._held_wakes, []
                    if not ok:
                        self._tip = self._read_tip()
                        held = []
        for ev in held:
            self._wake(ev)

    def _read_tip(self) -> BlockRef | None:
        row = self.db.query_own(
            "SELECT height, hash FROM chain_blocks ORDER BY height DESC LIMIT 1"
        )
        return BlockRef(int(row[0][0]), bytes(row[0][1])) if row else None

    def _wake(self, ev: ChainEvent) -> None:
        for cb in self._wake_callbacks:
            cb(ev.node_index, ev)

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
        self._tip = self._read_tip()

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

    def unwatch_scripts(self, node_index: int, scripts: Iterable[bytes]) -> int:
        """Stop watching scripts for `node_index` (e.g. a closed channel's funding
        script, decision 0029); return how many registrations went. Events and UTXO rows
        already written stay (a reorg still undoes them)."""
        return self._unwatch(node_index, KIND_SCRIPT, [bytes(s) for s in scripts])

    def unwatch_outpoints(self, node_index: int, outpoints: Iterable[OutPoint]) -> int:
        """Stop watching outpoints for `node_index` (a closed channel's funding outpoint)."""
        return self._unwatch(node_index, KIND_OUTPOINT, [o.serialize() for o in outpoints])

    def _unwatch(self, node_index: int, kind: int, datas: list[bytes]) -> int:
        keyf = script_key if kind == KIND_SCRIPT else outpoint_key
        n = 0
        with self.db.lock:
            with self.db.tx() as db:
                for data in datas:
                    n += db.execute(
                        "DELETE FROM chain_watch WHERE kind = ? AND data = ? AND node = ?",
                        (kind, data, node_index),
                    ).rowcount
            for data in datas:
                self.index.remove(keyf(data), node_index)
        return n

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
        """The node's wallet funds: RECEIVE and CHANGE outputs only (a channel's funding
        output or a sweep target is watched under the node too, but is not its wallet's
        to spend)."""
        rows = self.db.query(
            "SELECT COALESCE(SUM(CASE WHEN height > 0 THEN value END), 0),"
            " COALESCE(SUM(CASE WHEN height = 0 THEN value END), 0)"
            " FROM chain_utxos WHERE node = ? AND spent_txid IS NULL AND purpose IN (?, ?)",
            (node_index, int(Purpose.RECEIVE), int(Purpose.CHANGE)),
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
            f"SELECT {effects.EVENT_COLS} FROM chain_events"
            " WHERE node = ? AND acked = 0 AND seq > ? ORDER BY seq LIMIT ?",
            (node_index, after_seq, limit),
        )
        return [effects.event_of(r) for r in rows]

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
        pending = self._pending_broadcasts()
        with self.db.tx() as db:
            seqs = self._scan(db, txs, height, block_hash, pending)
            db.execute("INSERT OR REPLACE INTO chain_blocks VALUES (?, ?)", (height, block_hash))
        self._tip = BlockRef(height, block_hash)
        self.blocks_scanned += 1
        return self._deliver(seqs)

    def _pending_broadcasts(self) -> set[bytes]:
        # The broadcaster's unconfirmed transactions: a block holding one confirms it.
        rows = self.db.query_own("SELECT txid FROM chain_broadcasts WHERE confirmed_height IS NULL")
        return {bytes(r[0]) for r in rows}

    def _scan(
        self,
        db: sqlite3.Connection,
        txs: Iterable[ScanTx],
        height: int,
        block_hash: bytes | None,
        pending: set[bytes],
    ) -> list[int]:
        """Scan transactions once for every node (height 0: the mempool); return event seqs."""
        index = self.index
        lookup, add = index.lookup, index.add
        seqs: list[int] = []
        mask = (1 << 64) - 1
        # Hot loop: the prefilter test is inlined (most lookups end there); the bitmap is
        # re-read after every hit, since a credited output's outpoint is added (and may
        # merge the index) before a later transaction of the same block spends it.
        bitmap, shift = index.prefilter()
        for tx in txs:
            txid = tx.txid
            for prevout in tx.prevouts:
                k = hash(prevout) & mask  # = outpoint_key(prevout)
                b = k >> shift
                if bitmap[b >> 3] & (1 << (b & 7)) and lookup(k):
                    seqs.extend(effects.spent(db, prevout, txid, height, block_hash))
                    bitmap, shift = index.prefilter()
            for vout, (script, value) in enumerate(tx.outputs):
                k = hash(script) & mask  # = script_key(script)
                b = k >> shift
                if bitmap[b >> 3] & (1 << (b & 7)) and lookup(k):
                    op = OutPoint(txid, vout)
                    seqs.extend(effects.received(db, add, script, op, value, height, block_hash))
                    bitmap, shift = index.prefilter()
            if txid in pending:
                db.execute(
                    "UPDATE chain_broadcasts SET confirmed_height = ? WHERE txid = ?",
                    (height, txid),
                )
        return seqs

    def disconnect_tip(self) -> list[ChainEvent]:
        """Undo the cursor block (a reorg took it away); return the UNDONE events made."""
        tip = self._tip
        if tip is None:
            raise ChainDataError("nothing to disconnect: the watcher has scanned no block")
        with self.db.tx() as db:
            seqs = effects.undo_block(db, tip.block_hash)
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

    def prune(self, keep_depth: int = 1000) -> int:
        """Forget what no reorg we follow can bring back: outputs spent more than
        `keep_depth` blocks below the tip (their rows, and the outpoints the watcher added
        for them, also in the index), acknowledged events that deep, scanned-block rows
        and confirmed broadcasts. Returns how many UTXO rows went. A reorg deeper than
        `keep_depth` cannot be undone (as with a pruned full node)."""
        tip = self._tip
        if tip is None or tip.height <= keep_depth:
            return 0
        cutoff = tip.height - keep_depth
        with self.db.tx() as db:
            rows = db.execute(
                "SELECT txid, vout, node, purpose FROM chain_utxos"
                " WHERE spent_height > 0 AND spent_height <= ?",
                (cutoff,),
            ).fetchall()
            for txid, vout, node, purpose in rows:
                op = OutPoint(bytes(txid), int(vout))
                db.execute(
                    "DELETE FROM chain_utxos WHERE txid = ? AND vout = ? AND node = ?",
                    (op.txid, op.vout, node),
                )
                if int(purpose) in (int(Purpose.RECEIVE), int(Purpose.CHANGE)):
                    db.execute(
                        "DELETE FROM chain_watch WHERE kind = ? AND data = ? AND node = ?",
                        (KIND_OUTPOINT, op.serialize(), node),
                    )
                    self.index.remove(outpoint_key(op.serialize()), int(node))
            db.execute(
                "DELETE FROM chain_events WHERE acked = 1"
                " AND ((height > 0 AND height <= ?) OR (height = 0 AND undone = 1))",
                (cutoff,),
            )
            db.execute("DELETE FROM chain_blocks WHERE height <= ?", (cutoff,))
            db.execute("DELETE FROM chain_broadcasts WHERE confirmed_height <= ?", (cutoff,))
        return len(rows)

    # -- the mempool --------------------------------------------------------------------------

    def add_mempool_txs(self, txs: Iterable[ScanTx]) -> list[ChainEvent]:
        """Scan mempool transactions (height 0): unconfirmed UTXOs and spends, each event
        once however often the transaction is seen (see `effects.py`)."""
        with self.db.tx() as db:
            seqs = self._scan(db, txs, 0, None, set())
        return self._deliver(seqs)

    def expire_mempool(self, live: set[bytes]) -> list[ChainEvent]:
        """Undo the unconfirmed effects of transactions that left the mempool unmined
        (`live`: the txids in the source's mempool now, read at the watcher's tip)."""
        with self.db.tx() as db:
            seqs = effects.expire_mempool(db, live)
        return self._deliver(seqs)

    def _deliver(self, seqs: list[int]) -> list[ChainEvent]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        rows = self.db.query_own(
            f"SELECT {effects.EVENT_COLS} FROM chain_events WHERE seq IN ({marks}) ORDER BY seq",
            tuple(seqs),
        )
        events = [effects.event_of(r) for r in rows]
        for ev in events:
            if ev.wake:
                if self._batching:
                    self._held_wakes.append(ev)
                else:
                    self._wake(ev)
        return events
