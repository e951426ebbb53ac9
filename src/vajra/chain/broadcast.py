"""The broadcaster: sends each transaction until a block confirms it; keeps every refusal.

A transaction given to `submit` is stored (`chain_broadcasts`) and sent at once; every
`tick` re-sends each one the watcher has not yet seen in a block (the watcher sets
`confirmed_height` when it scans the block holding it, and clears it if that block is
disconnected, so a reorged-out transaction is sent again). Every refusal is recorded
with the node's own reason (`chain_rejections`): a refusal is not final -- a transaction
refused for a missing input (its parent not yet relayed) may be accepted later -- so it
is retried until the operator or the owner drops it. A source that is away stops the
tick (`ChainUnavailable` propagates; the caller backs off); nothing is lost, the
transactions stay stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.bitcoin.tx import Tx, TxDecodeError
from vajra.chain.db import ChainDb
from vajra.chain.types import ChainDataError, ChainSource, TxRejected


@dataclass(frozen=True, slots=True)
class Rejection:
    txid: bytes
    at: float
    reason: str
    code: int | None


class Broadcaster:
    """Rebroadcast until confirmed, over the watcher's `ChainDb`."""

    def __init__(self, source: ChainSource, db: ChainDb, *, max_attempts: int = 2016) -> None:
        """`max_attempts`: sends after which a never-confirming transaction is no longer
        resent (about two weeks of blocks; it stays stored, with its refusals)."""
        self.source = source
        self.db = db
        self.max_attempts = max_attempts

    def submit(self, raw_tx: bytes, now: float) -> bytes:
        """Store and send `raw_tx`; return its txid. A refusal is recorded (and re-raised
        as `TxRejected`); the transaction stays queued for the next `tick` either way.
        `ChainDataError` if `raw_tx` is not a transaction."""
        try:
            txid = Tx.parse(raw_tx).txid
        except TxDecodeError as e:
            raise ChainDataError(f"not a transaction: {e}") from e
        with self.db.tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO chain_broadcasts (txid, raw) VALUES (?, ?)", (txid, raw_tx)
            )
        self._send(txid, raw_tx, now)
        return txid

    def tick(self, now: float) -> list[Rejection]:
        """Re-send every unconfirmed transaction; return this round's refusals."""
        rows = self.db.query(
            "SELECT txid, raw FROM chain_broadcasts WHERE confirmed_height IS NULL"
            " AND attempts < ?",
            (self.max_attempts,),
        )
        out = []
        for txid, raw in rows:
            try:
                self._send(bytes(txid), bytes(raw), now)
            except TxRejected as e:
                out.append(Rejection(bytes(txid), now, e.reason, e.code))
        return out

    def _send(self, txid: bytes, raw: bytes, now: float) -> None:
        with self.db.tx() as c:
            c.execute("UPDATE chain_broadcasts SET attempts = attempts + 1 WHERE txid = ?", (txid,))
        try:
            self.source.broadcast(raw)
        except TxRejected as e:
            with self.db.tx() as c:
                c.execute(
                    "INSERT INTO chain_rejections VALUES (?, ?, ?, ?)",
                    (txid, now, e.reason, e.code),
                )
            raise TxRejected(txid, e.reason, e.code) from e

    def drop(self, txid: bytes) -> bool:
        """Stop sending `txid` (its rejections stay on record); False if not queued."""
        with self.db.tx() as c:
            return c.execute("DELETE FROM chain_broadcasts WHERE txid = ?", (txid,)).rowcount > 0

    def status(self, txid: bytes) -> tuple[int, int | None] | None:
        """(attempts, confirmed height or None), or None if `txid` is not queued."""
        rows = self.db.query(
            "SELECT attempts, confirmed_height FROM chain_broadcasts WHERE txid = ?", (txid,)
        )
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def rejections(self, txid: bytes) -> list[Rejection]:
        """Every refusal of `txid`, oldest first."""
        rows = self.db.query(
            "SELECT txid, at, reason, code FROM chain_rejections WHERE txid = ? ORDER BY rowid",
            (txid,),
        )
        return [Rejection(bytes(t), float(a), str(r), c) for t, a, r, c in rows]
