"""The follower: moves the watcher's cursor to the chain source's tip, block by block.

Theory of operation
-------------------
`sync()` compares the watcher's cursor with the source's best chain and steps:

| situation                                           | step                        |
|-----------------------------------------------------|-----------------------------|
| no cursor yet                                       | connect `start_height`      |
| next block's `prev_block` == cursor hash            | connect it (fetch + scan)   |
| next block's `prev_block` != cursor hash (reorg)    | disconnect the cursor block |
| cursor at the source's height but another hash      | disconnect the cursor block |
| cursor above the source's height (shorter chain)    | disconnect the cursor block |
| cursor == source tip                                | done                        |

`sync_mempool()` then, at the tip only, scans the transactions new to the source's
mempool (height 0) and expires the ones that left it unmined.

Each block is fetched once and scanned once (`bitcoin.block.scan_block`) for every node.
Behind the tip, blocks are fetched `batch` at a time (`block_hashes` + `blocks`: two round
trips per batch); the `prev_block` check still runs per block, so a branch that changes
under a prefetch is caught like any other reorg.
After downtime the same loop catches up from the persisted cursor; a reorg of depth d
costs d disconnects and the new branch's connects. A source that goes away or times out
raises `ChainUnavailable` out of `sync`; `run_forever` turns that into a `Backoff` wait,
so the watcher never crashes on it and resumes where its cursor is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vajra.bitcoin.block import ScannedTx, scan_block
from vajra.bitcoin.tx import Tx, TxDecodeError
from vajra.chain.types import (
    BlockRef,
    ChainDataError,
    ChainError,
    ChainSource,
    ChainUnavailable,
)
from vajra.chain.watcher import Watcher

log = logging.getLogger("vajra.chain")


@dataclass
class Backoff:
    """Exponential backoff with a cap: `initial`, x`factor` per failure, at most `cap` s."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    _next: float = field(default=0.0, init=False)

    def failed(self) -> float:
        """Record a failure; return how long to wait before the next try."""
        self._next = self.initial if self._next == 0 else min(self.cap, self._next * self.factor)
        return self._next

    def succeeded(self) -> None:
        self._next = 0.0


@dataclass
class SyncResult:
    connected: int = 0
    disconnected: int = 0
    tip_height: int | None = None


class ChainFollower:
    """Drives one `Watcher` from one `ChainSource`. Blocking; run it in a thread."""

    def __init__(
        self,
        source: ChainSource,
        watcher: Watcher,
        *,
        start_height: int | None = None,
        on_block: Callable[[int], None] | None = None,
        batch: int = 50,
    ) -> None:
        """`start_height`: where a watcher with no cursor begins (default: the source's
        tip at first sync; nothing older is scanned -- register before funds arrive)."""
        self.source = source
        self.watcher = watcher
        self.start_height = start_height
        self.on_block = on_block
        self.batch = max(1, batch)
        self._ahead: dict[int, bytes] = {}
        self._target = BlockRef(-1, b"")
        self._seen: set[bytes] = set()
        """Mempool txids scanned (cleared on a disconnect: their txs may return)."""
        self.source_height: int | None = None
        self.errors = 0

    def sync(self, max_blocks: int | None = None) -> SyncResult:
        """Step until the cursor is the source's tip (or `max_blocks` connects).

        Raises `ChainUnavailable`/`ChainTimeout` if the source goes away (the cursor stays
        at the last block fully written) and `ChainDataError` on a block that does not parse.
        """
        res = SyncResult()
        self._target = self.source.tip()
        self.source_height = self._target.height
        done = False
        while not done and (max_blocks is None or res.connected < max_blocks):
            # A run of up to `batch` steps commits once (Watcher.batch); a failure inside
            # it loses only that run, and the cursor stays at the last committed block.
            self._prefetch()
            with self.watcher.batch():
                for _ in range(self.batch):
                    if not self._step(res):
                        done = True
                        break
                    if max_blocks is not None and res.connected >= max_blocks:
                        break
        tip = self.watcher.tip()
        res.tip_height = tip.height if tip else None
        return res

    def _step(self, res: SyncResult) -> bool:
        """One row of the table above; False when the cursor is the source's tip."""
        src, w, target = self.source, self.watcher, self._target
        cur = w.tip()
        if cur is None:
            start = self.start_height if self.start_height is not None else target.height
            self._connect(start, None)
            res.connected += 1
            return True
        # Our tip is not on the source's best chain (or the chain got shorter).
        off_chain = (cur.height == target.height and cur.block_hash != target.block_hash) or (
            cur.height > target.height and src.block_hash(cur.height) != cur.block_hash
        )
        if off_chain:
            self._ahead.clear()
            self._seen.clear()
            w.disconnect_tip()
            res.disconnected += 1
            return True
        if cur.height >= target.height:
            self._target = target = src.tip()
            self.source_height = target.height
            return not (cur.height == target.height and cur.block_hash == target.block_hash)
        if self._connect(cur.height + 1, cur.block_hash, target.height):
            res.connected += 1
        else:
            self._seen.clear()
            w.disconnect_tip()
            res.disconnected += 1
        return True

    def _fetch(self, height: int, last: int) -> bytes:
        """The block at `height`, prefetching up to `batch` blocks (to `last`) at once."""
        raw = self._ahead.pop(height, None)
        if raw is not None:
            return raw
        self._load_ahead(height, last)
        return self._ahead.pop(height)

    def _prefetch(self) -> None:
        # Network before the store lock: the run that follows finds its blocks here.
        cur = self.watcher.tip()
        if (
            cur is not None
            and cur.height < self._target.height
            and cur.height + 1 not in self._ahead
        ):
            self._load_ahead(cur.height + 1, self._target.height)

    def _load_ahead(self, height: int, last: int) -> None:
        self._ahead.clear()
        heights = list(range(height, min(last, height + self.batch - 1) + 1))
        hashes = (
            self.source.block_hashes(heights)
            if len(heights) > 1
            else [self.source.block_hash(height)]
        )
        known = []
        for bh in hashes:
            if bh is None:
                break
            known.append(bh)
        if not known:
            raise ChainUnavailable(f"{self.source.name}: no block at height {height} any more")
        raws = self.source.blocks(known) if len(known) > 1 else [self.source.block(known[0])]
        self._ahead = {height + i: r for i, r in enumerate(raws)}

    def _connect(self, height: int, expect_prev: bytes | None, last: int | None = None) -> bool:
        """Fetch and scan the block at `height`; False if it does not build on our cursor."""
        raw = self._fetch(height, height if last is None else last)
        try:
            header, txs = scan_block(raw)
        except TxDecodeError as e:
            raise ChainDataError(f"block {height}: {e}") from e
        if expect_prev is not None and header.prev_block != expect_prev:
            self._ahead.clear()  # fetched from a branch we are leaving
            return False
        self.watcher.connect_block(height, header.block_hash, header.prev_block, txs)
        if self.on_block is not None:
            self.on_block(height)
        return True

    def sync_mempool(self) -> int:
        """Scan transactions new to the source's mempool; expire the ones that left it.

        Only when the cursor is the source's tip (otherwise a transaction that left the
        mempool for a block we have not scanned would look evicted); returns how many
        transactions were scanned. Each is fetched once per mempool visit (`_seen`); a
        restart rescans the mempool, and the watcher writes each event once anyway.
        """
        tip, cur = self.source.tip(), self.watcher.tip()
        if cur is None or tip != cur:
            return 0
        live = self.source.mempool_txids()
        new = [t for t in live if t not in self._seen]
        txs = []
        for i in range(0, len(new), self.batch):
            chunk = new[i : i + self.batch]
            for txid, raw in zip(chunk, self.source.raw_transactions(chunk), strict=True):
                if raw is None:
                    continue
                try:
                    tx = Tx.parse(raw)
                except TxDecodeError:
                    log.warning("mempool transaction %s does not parse; skipped", txid[::-1].hex())
                    continue
                if tx.txid != txid:
                    raise ChainDataError(
                        f"{self.source.name}: mempool tx is not {txid[::-1].hex()}"
                    )
                txs.append(
                    ScannedTx(
                        tx.txid,
                        [txin.prevout.serialize() for txin in tx.inputs],
                        [(o.script_pubkey, o.amount_sat) for o in tx.outputs],
                    )
                )
        self.watcher.add_mempool_txs(txs)
        self._seen = set(live)
        if self.source.tip() == cur:
            self.watcher.expire_mempool(self._seen)
        return len(txs)

    def run_forever(
        self,
        should_stop: Callable[[], bool],
        *,
        poll_interval: float = 1.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Sync every `poll_interval` s until `should_stop()`; back off while the source is away."""
        backoff = backoff or Backoff()
        while not should_stop():
            try:
                self.sync()
                self.sync_mempool()
                backoff.succeeded()
                delay = poll_interval
            except ChainError as e:
                self.errors += 1
                delay = backoff.failed()
                log.warning("chain follower: %s; retrying in %.1f s", e, delay)
            sleep(delay)
