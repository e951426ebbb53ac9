"""The justice store: every hosted node's sealed penalty kits, in the one shared watcher.

Theory of operation
-------------------
A kit (`justice_kit.py`) is stored as (hint, node, channel, blob) in `chain_justice`;
the hint is a 16-byte hash of the revoked commitment's txid and the blob is sealed under
a key derived from that txid, so the store learns nothing about a channel until the
revoked commitment is mined (watchtower style; DESIGN.md section 12). In memory only the
hint's first 8 bytes are kept, in a `CompactIndex` (~15 bytes an item, one for all nodes).

`on_block` runs inside the watcher's block transaction: each transaction's txid is hashed
to its hint and tested against the index (a bitmap test for nearly all); a candidate's
rows are read, each blob opened with the txid (a hint collision fails the AEAD and is
skipped), the kit's first variant (the headroom feerate) written to `chain_broadcasts`
in that same transaction and returned for sending at once. So a breach found in a
committed block is never forgotten by a crash: the broadcaster resends what is queued
until it confirms. Each further variant (the high feerate) waits in
`chain_justice_pending` for `ESCALATE_BLOCKS` more blocks; if the previous one has not
confirmed by then it replaces it in the queue (BIP 125: the penalty inputs signal
replaceability). No node is woken and no signer asked: the kits were signed when the
commitment was revoked.

A channel's kits go when its close is deep: the watcher's `prune` forgets a FUNDING
output spent more than a reorg deep and calls `prune_funding` with it (the kits were
stored with their funding outpoint); `prune_channel` drops them on demand. The per-item cost at rest is `bench enforcement`'s `justice_bytes_per_revoked_state`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from vajra.bitcoin.tx import Tx
from vajra.chain.db import ChainDb
from vajra.chain.index import CompactIndex
from vajra.chain.justice_kit import (
    HINT_SIZE,
    breach_hint,
    decode_kit,
    kit_txs,
    open_blob,
)
from vajra.errors import DecodeError

ESCALATE_BLOCKS = 2
"""Blocks a penalty variant has to confirm before the next (higher feerate) replaces it."""
_PURPOSE = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chain_justice (node INTEGER NOT NULL, channel INTEGER NOT NULL,"
    " hint BLOB NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (node, channel, hint))"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS chain_justice_hint ON chain_justice (hint)",
    "CREATE TABLE IF NOT EXISTS chain_justice_funding (outpoint BLOB NOT NULL,"
    " node INTEGER NOT NULL, channel INTEGER NOT NULL, PRIMARY KEY (outpoint, node, channel))"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS chain_justice_pending (breach BLOB NOT NULL,"
    " variant INTEGER NOT NULL, raw BLOB NOT NULL, previous BLOB NOT NULL,"
    " due_height INTEGER NOT NULL, PRIMARY KEY (breach, variant))",
)


def _key(hint: bytes) -> int:
    return int.from_bytes(hint[:8], "little")


class JusticeStore:
    """Sealed penalty kits of every node, keyed by breach hint. Uses the watcher's
    `ChainDb` (its lock and transactions)."""

    def __init__(self, db: ChainDb) -> None:
        self.db = db
        self.index = CompactIndex()
        with db.tx() as c:
            for stmt in _SCHEMA:
                c.execute(stmt)
        rows = db.query_own("SELECT hint, node FROM chain_justice")
        self.index.load_packed(
            sorted(CompactIndex.pack(_key(bytes(h)), int(n), _PURPOSE) for h, n in rows)
        )

    def __len__(self) -> int:
        return len(self.index)

    def add(
        self, node: int, channel: int, hint: bytes, blob: bytes, funding: bytes | None = None
    ) -> None:
        """Keep one sealed kit (`justice_kit.seal`) of `node`'s channel `channel` (the
        node's channel index, as the signer numbers its channels). The same (node,
        channel, hint) again replaces the blob (a re-signed kit). `funding`: the channel's
        funding outpoint (36-byte wire form): its kits go when the watcher prunes that
        output's spend (`prune_funding`), i.e. once the channel's close is deep."""
        self.add_many([(node, channel, hint, blob)])
        if funding is not None:
            with self.db.tx() as c:
                c.execute(
                    "INSERT OR IGNORE INTO chain_justice_funding VALUES (?, ?, ?)",
                    (funding, node, channel),
                )

    def add_many(self, rows: Iterable[tuple[int, int, bytes, bytes]]) -> int:
        """`add` for many kits in one transaction; returns how many."""
        batch = [(n, c, h, b) for n, c, h, b in rows]
        if any(len(h) != HINT_SIZE for _, _, h, _ in batch):
            raise ValueError("a hint is 16 bytes")
        total = len(batch)
        small = total <= 4096
        with self.db.tx() as c:
            if small:  # a re-armed kit replaces its blob; the index has it already
                known = {
                    (n, ch, h)
                    for n, ch, h, _ in batch
                    if c.execute(
                        "SELECT 1 FROM chain_justice WHERE node = ? AND channel = ? AND hint = ?",
                        (n, ch, h),
                    ).fetchone()
                }
            c.executemany("INSERT OR REPLACE INTO chain_justice VALUES (?, ?, ?, ?)", batch)
        if small:
            batch = [r for r in batch if (r[0], r[1], r[2]) not in known]
        items = [(_key(h), n, _PURPOSE) for n, _, h, _ in batch]
        if small:
            for k, n, p in items:
                self.index.add(k, n, p)
        else:
            self.index.add_many(items)  # one sort (bulk loads of new kits)
        return total

    def prune_channel(self, node: int, channel: int) -> int:
        """Forget every kit of a closed channel; returns how many."""
        with self.db.tx() as c:
            hints = c.execute(
                "SELECT hint FROM chain_justice WHERE node = ? AND channel = ?", (node, channel)
            ).fetchall()
            c.execute("DELETE FROM chain_justice WHERE node = ? AND channel = ?", (node, channel))
        for (h,) in hints:
            self.index.remove(_key(bytes(h)), node)
        return len(hints)

    def prune_funding(self, c: sqlite3.Connection, outpoint: bytes, node: int) -> int:
        """In the watcher's prune transaction `c`: the channel funded by `outpoint` was
        closed more than a reorg deep (its funding output is spent and being forgotten):
        drop its kits (no commitment of it can be mined any more). Returns how many."""
        rows = c.execute(
            "SELECT channel FROM chain_justice_funding WHERE outpoint = ? AND node = ?",
            (outpoint, node),
        ).fetchall()
        n = 0
        for (channel,) in rows:
            hints = c.execute(
                "SELECT hint FROM chain_justice WHERE node = ? AND channel = ?", (node, channel)
            ).fetchall()
            c.execute("DELETE FROM chain_justice WHERE node = ? AND channel = ?", (node, channel))
            for (h,) in hints:
                self.index.remove(_key(bytes(h)), node)
            n += len(hints)
        c.execute("DELETE FROM chain_justice_funding WHERE outpoint = ? AND node = ?",
                  (outpoint, node))  # fmt: skip
        return n

    def kits_of(self, node: int) -> int:
        rows = self.db.query("SELECT COUNT(*) FROM chain_justice WHERE node = ?", (node,))
        return int(rows[0][0])

    def on_block(self, c: sqlite3.Connection, txids: Iterable[bytes], height: int) -> list[bytes]:
        """In the watcher's block transaction `c`: the raw penalty transactions to send
        now (breaches in this block, and escalations due at `height`), already queued in
        `chain_broadcasts`."""
        out: list[bytes] = []
        if len(self.index):
            bitmap, shift = self.index.prefilter()
            lookup = self.index.lookup
            for txid in txids:
                hint = breach_hint(txid)
                k = _key(hint)
                b = k >> shift
                if bitmap[b >> 3] & (1 << (b & 7)) and lookup(k):
                    out += self._breach(c, txid, hint, height)
        out += self._escalate(c, height)
        return out

    def _breach(self, c: sqlite3.Connection, txid: bytes, hint: bytes, height: int) -> list[bytes]:
        rows = c.execute("SELECT blob FROM chain_justice WHERE hint = ?", (hint,)).fetchall()
        out = []
        for (blob,) in rows:
            try:
                txs = kit_txs(decode_kit(open_blob(bytes(blob), txid)), txid)
            except DecodeError:
                continue  # a 16-byte hint collision (or a damaged blob): not this breach
            first = txs[0].serialize()
            c.execute("INSERT OR IGNORE INTO chain_broadcasts (txid, raw) VALUES (?, ?)",
                      (txs[0].txid, first))  # fmt: skip
            previous = txs[0].txid
            for n, tx in enumerate(txs[1:], start=1):
                c.execute(
                    "INSERT OR IGNORE INTO chain_justice_pending VALUES (?, ?, ?, ?, ?)",
                    (txid, n, tx.serialize(), previous, height + n * ESCALATE_BLOCKS),
                )
                previous = tx.txid
            out.append(first)
        return out

    def _escalate(self, c: sqlite3.Connection, height: int) -> list[bytes]:
        due = c.execute(
            "SELECT breach, variant, raw, previous FROM chain_justice_pending"
            " WHERE due_height <= ? ORDER BY breach, variant",
            (height,),
        ).fetchall()
        out = []
        for breach, variant, raw, previous in due:
            c.execute(
                "DELETE FROM chain_justice_pending WHERE breach = ? AND variant = ?",
                (breach, variant),
            )
            row = c.execute(
                "SELECT confirmed_height FROM chain_broadcasts WHERE txid = ?", (previous,)
            ).fetchone()
            if row is not None and row[0] is not None:
                c.execute("DELETE FROM chain_justice_pending WHERE breach = ?", (breach,))
                continue  # the previous variant confirmed: justice is done
            tx = Tx.parse(bytes(raw))
            # The replacement pays more; stop resending the one it replaces.
            c.execute("DELETE FROM chain_broadcasts WHERE txid = ?", (previous,))
            c.execute("INSERT OR IGNORE INTO chain_broadcasts (txid, raw) VALUES (?, ?)",
                      (tx.txid, bytes(raw)))  # fmt: skip
            out.append(bytes(raw))
        return out
