"""What a scanned transaction does to the watcher's durable state, and how it is undone.

All functions run inside the caller's store transaction (`ChainDb.tx`) and return the
sequence numbers of the events they wrote. Height 0 is the mempool.

Rules (per node that watches the script or outpoint):

| effect                        | height > 0 (a block)                         | height 0 (mempool)                          |
|-------------------------------|----------------------------------------------|---------------------------------------------|
| output pays a watched script  | UTXO upserted at the height (spend kept), RECEIVED; the output's mempool RECEIVED is *settled* | UTXO added unconfirmed; RECEIVED, unless the UTXO is already known |
| input spends a watched output | UTXO marked spent at the height, SPENT; the mempool SPENT by the same tx is settled | UTXO marked spent (height 0), SPENT, unless already seen |
| block disconnected            | its events undone newest first, UNDONE each: UTXO removed / un-spent, or, if the mempool had shown the tx, back to unconfirmed (its mempool event unsettled again) | - |
| tx left the mempool unmined   | -                                            | its unsettled mempool events undone (UTXO removed if still unconfirmed / spend cleared), UNDONE each |
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from vajra.chain.db import KIND_OUTPOINT, KIND_SCRIPT
from vajra.chain.index import outpoint_key
from vajra.chain.types import WAKE_PURPOSES, ChainEvent, EventKind, OutPoint, Purpose

EVENT_COLS = (
    "seq, node, kind, purpose, op_txid, vout, txid, value, script, height, block_hash, wake, undoes"
)
_AUTO_WATCHED = (int(Purpose.RECEIVE), int(Purpose.CHANGE))

AddToIndex = Callable[[int, int, int], None]
"""(key, node index, purpose) -> None: adds a credited output's outpoint to the index."""


def event_of(row: Sequence[Any]) -> ChainEvent:
    """A `chain_events` row (columns `EVENT_COLS`) as a `ChainEvent`."""
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
        block_hash=bytes(bh) if bh is not None else None,
        wake=bool(wake),
        undoes_seq=None if undoes is None else int(undoes),
    )


def insert_event(
    db: sqlite3.Connection,
    node: int,
    kind: EventKind,
    purpose: int,
    op: OutPoint,
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
        (node, int(kind), purpose, op.txid, op.vout, txid, value, script, height, block_hash,
         int(wake), undoes),
    )  # fmt: skip
    assert cur.lastrowid is not None
    return cur.lastrowid


def received(
    db: sqlite3.Connection,
    add: AddToIndex,
    script: bytes,
    op: OutPoint,
    value: int,
    height: int,
    block_hash: bytes | None,
) -> list[int]:
    owners = db.execute(
        "SELECT node, purpose FROM chain_watch WHERE kind = ? AND data = ?", (KIND_SCRIPT, script)
    ).fetchall()
    seqs = []
    key = op.serialize()
    for node, purpose in owners:
        if height:
            db.execute(
                "INSERT INTO chain_utxos VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)"
                " ON CONFLICT (txid, vout, node) DO UPDATE SET height = excluded.height",
                (op.txid, op.vout, node, value, script, purpose, height),
            )
            _settle(db, node, EventKind.RECEIVED, op, op.txid, 1)
        else:
            cur = db.execute(
                "INSERT OR IGNORE INTO chain_utxos VALUES (?, ?, ?, ?, ?, ?, 0, NULL, NULL)",
                (op.txid, op.vout, node, value, script, purpose),
            )
            if not cur.rowcount:
                continue  # already known (seen before a restart, or already confirmed)
        if db.execute(
            "INSERT OR IGNORE INTO chain_watch VALUES (?, ?, ?, ?)",
            (KIND_OUTPOINT, key, node, purpose),
        ).rowcount:
            add(outpoint_key(key), node, purpose)
        seqs.append(
            insert_event(
                db, node, EventKind.RECEIVED, purpose, op, op.txid, value, script, height,
                block_hash,
            )
        )  # fmt: skip
    return seqs


def spent(
    db: sqlite3.Connection, prevout: bytes, txid: bytes, height: int, block_hash: bytes | None
) -> list[int]:
    owners = db.execute(
        "SELECT node, purpose FROM chain_watch WHERE kind = ? AND data = ?",
        (KIND_OUTPOINT, bytes(prevout)),
    ).fetchall()
    seqs = []
    op = OutPoint(bytes(prevout[:32]), int.from_bytes(prevout[32:36], "little"))
    for node, purpose in owners:
        if (
            not height
            and db.execute(
                "SELECT 1 FROM chain_events WHERE node = ? AND kind = ? AND op_txid = ? AND vout = ?"
                " AND txid = ? AND undone = 0 LIMIT 1",
                (node, int(EventKind.SPENT), op.txid, op.vout, txid),
            ).fetchone()
        ):
            continue  # this spend is already known
        row = db.execute(
            "SELECT value, script FROM chain_utxos WHERE txid = ? AND vout = ? AND node = ?",
            (op.txid, op.vout, node),
        ).fetchone()
        value, script = (int(row[0]), bytes(row[1])) if row else (0, b"")
        db.execute(
            "UPDATE chain_utxos SET spent_txid = ?, spent_height = ?"
            " WHERE txid = ? AND vout = ? AND node = ?",
            (txid, height, op.txid, op.vout, node),
        )
        if height:
            _settle(db, node, EventKind.SPENT, op, txid, 1)
        seqs.append(
            insert_event(
                db, node, EventKind.SPENT, purpose, op, txid, value, script, height, block_hash
            )
        )
    return seqs


def _settle(
    db: sqlite3.Connection, node: int, kind: EventKind, op: OutPoint, txid: bytes, flag: int
) -> None:
    # A mempool event whose transaction a block now carries (flag 1), or no longer (0).
    db.execute(
        "UPDATE chain_events SET settled = ? WHERE node = ? AND kind = ? AND op_txid = ?"
        " AND vout = ? AND txid = ? AND height = 0 AND undone = 0",
        (flag, node, int(kind), op.txid, op.vout, txid),
    )


def _undo(db: sqlite3.Connection, ev: ChainEvent, block_hash: bytes | None) -> int:
    op, node = ev.outpoint, ev.node_index
    # A block's effect whose transaction the mempool had shown first goes back to that
    # unconfirmed state (the mempool event stands; expiry undoes it if the tx is gone).
    in_mempool = (
        ev.height > 0
        and db.execute(
            "SELECT 1 FROM chain_events WHERE node = ? AND kind = ? AND op_txid = ? AND vout = ?"
            " AND txid = ? AND height = 0 AND undone = 0 LIMIT 1",
            (node, int(ev.kind), op.txid, op.vout, ev.txid),
        ).fetchone()
        is not None
    )
    where = " WHERE txid = ? AND vout = ? AND node = ?"
    if ev.kind is EventKind.RECEIVED and in_mempool:
        db.execute("UPDATE chain_utxos SET height = 0" + where, (op.txid, op.vout, node))
    elif ev.kind is EventKind.RECEIVED:
        db.execute("DELETE FROM chain_utxos" + where, (op.txid, op.vout, node))
        if int(ev.purpose) in _AUTO_WATCHED:
            db.execute(
                "DELETE FROM chain_watch WHERE kind = ? AND data = ? AND node = ?",
                (KIND_OUTPOINT, op.serialize(), node),
            )
    elif in_mempool:
        db.execute(
            "UPDATE chain_utxos SET spent_height = 0" + where + " AND spent_txid = ?",
            (op.txid, op.vout, node, ev.txid),
        )
    else:
        db.execute(
            "UPDATE chain_utxos SET spent_txid = NULL, spent_height = NULL"
            + where
            + " AND spent_txid = ?",
            (op.txid, op.vout, node, ev.txid),
        )
    if ev.height:
        _settle(db, node, ev.kind, op, ev.txid, 0)
    db.execute("UPDATE chain_events SET undone = 1 WHERE seq = ?", (ev.seq,))
    return insert_event(
        db, node, EventKind.UNDONE, int(ev.purpose), op, ev.txid, ev.value_sat,
        ev.script_pubkey, ev.height, block_hash, ev.seq,
    )  # fmt: skip


def undo_block(db: sqlite3.Connection, block_hash: bytes) -> list[int]:
    """Undo every live event of a disconnected block, newest first."""
    rows = db.execute(
        f"SELECT {EVENT_COLS} FROM chain_events WHERE block_hash = ? AND undone = 0"
        " AND kind != ? ORDER BY seq DESC",
        (block_hash, int(EventKind.UNDONE)),
    ).fetchall()
    return [_undo(db, event_of(r), block_hash) for r in rows]


def expire_mempool(db: sqlite3.Connection, live: set[bytes]) -> list[int]:
    """Undo the unsettled mempool events of transactions no longer in the mempool."""
    rows = db.execute(
        f"SELECT {EVENT_COLS} FROM chain_events WHERE height = 0 AND undone = 0"
        " AND settled = 0 AND kind != ? ORDER BY seq DESC",
        (int(EventKind.UNDONE),),
    ).fetchall()
    seqs = []
    for r in rows:
        ev = event_of(r)
        if ev.txid in live:
            continue
        if ev.kind is EventKind.RECEIVED:
            confirmed = db.execute(
                "SELECT 1 FROM chain_utxos WHERE txid = ? AND vout = ? AND node = ? AND height > 0",
                (ev.outpoint.txid, ev.outpoint.vout, ev.node_index),
            ).fetchone()
            if confirmed:
                continue
        seqs.append(_undo(db, ev, None))
    return seqs
