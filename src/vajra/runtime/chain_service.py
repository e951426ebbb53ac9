"""The runtime's chain service: ONE watcher, follower and broadcaster per runtime.

Owned by the supervisor (decision 0006: one of each shared thing). The follower's blocking
work (RPC, scan, store writes) runs in a worker thread via `asyncio.to_thread`, one sync
at a time, so the admin API stays responsive; the watcher's state is guarded by the
`ChainDb` lock. A source that goes away never stops the runtime: the loop logs, counts,
backs off (`follower.Backoff`) and resumes from the persisted cursor.

Wakes: the watcher hands each event whose purpose needs action to the service in the
follower's thread, after its block committed; the service counts them and, back on the
event loop once the step is done, passes them to `on_wake` and the new tip to `on_tip`
(the supervisor's `WakeRouter`: pushes to the owning worker, deadlines by height;
decision 0021). Wallet events wait in the store for the node's next wake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from vajra.chain.broadcast import Broadcaster
from vajra.chain.btcd import BtcdSource
from vajra.chain.db import ChainDb
from vajra.chain.fees import FeePolicy
from vajra.chain.follower import Backoff, ChainFollower
from vajra.chain.types import BlockRef, ChainError, ChainEvent, display_hex
from vajra.chain.watcher import Watcher

log = logging.getLogger("vajra.chain")

KEEP_DEPTH = 1000
"""Blocks of history kept for reorgs (spent outputs, acknowledged events, block rows)."""
PRUNE_EVERY = 144
"""Blocks connected between prunes (about a day on mainnet)."""


class ChainService:
    """Watcher + follower + broadcaster on the runtime's store file."""

    def __init__(
        self,
        url: str,
        store_path: str,
        *,
        poll_interval: float = 1.0,
        start_height: int | None = None,
        fee_policy: FeePolicy | None = None,
        timeout: float = 30.0,
    ) -> None:
        """`ValueError` on a malformed `url`; `ChainStateError` if the store cannot open."""
        self.source = BtcdSource.from_url(url, timeout=timeout)
        self.db = ChainDb(store_path)
        self.watcher = Watcher(self.db)
        self.follower = ChainFollower(self.source, self.watcher, start_height=start_height)
        self.broadcaster = Broadcaster(self.source, self.db)
        self.fee_policy = fee_policy or FeePolicy()
        self.poll_interval = poll_interval
        self.wakes = 0
        self._since_prune = PRUNE_EVERY  # prune once at start
        self.last_error: str | None = None
        self.connected = False
        self.on_wake: Callable[[int, ChainEvent], None] | None = None
        """Called on the event loop for each waking event, after the step that made it."""
        self.on_tip: Callable[[BlockRef | None], None] | None = None
        """Called on the event loop after a step that moved the watcher's tip."""
        self._woken: list[tuple[int, ChainEvent]] = []
        self.watcher.on_wake(self._wake)
        self.watcher.on_send(self._send_penalty)
        self.penalties_sent = 0

    def _send_penalty(self, raw_tx: bytes) -> None:
        # The follower's thread, right after the block holding a breach committed: send
        # the pre-signed penalty now (no node wake, no signer); it is already queued, so
        # a refusal or an away source only delays it to the next tick.
        self.penalties_sent += 1
        try:
            txid = self.broadcaster.submit(raw_tx, time.time())
            log.warning("event=justice_broadcast txid=%s", display_hex(txid))
        except ChainError as e:
            log.warning("event=justice_broadcast_refused error=%r", str(e))

    def _wake(self, node_index: int, event: ChainEvent) -> None:
        # The follower's thread: kept for the loop (list.append is atomic).
        self.wakes += 1
        self._woken.append((node_index, event))

    def _hand_over(self, tip_before: BlockRef | None) -> None:
        """On the loop after a step: the step's waking events, then its new tip."""
        woken, self._woken = self._woken, []
        if self.on_wake is not None:
            for node_index, event in woken:
                self.on_wake(node_index, event)
        tip = self.watcher.tip()
        if tip != tip_before and self.on_tip is not None:
            self.on_tip(tip)

    def _step(self) -> int:
        res = self.follower.sync()
        self.follower.sync_mempool()
        self._since_prune += res.connected
        if self._since_prune >= PRUNE_EVERY:
            self._since_prune = 0
            self.watcher.prune(KEEP_DEPTH)
        if res.connected or res.disconnected:
            # New blocks: resend what is still unconfirmed (refusals are recorded).
            self.broadcaster.tick(time.time())
        return res.connected

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the chain until `stop` is set; never raises a `ChainError`."""
        backoff = Backoff()
        while not stop.is_set():
            tip_before = self.watcher.tip()
            try:
                await asyncio.to_thread(self._step)
                self.connected = True
                self.last_error = None
                backoff.succeeded()
                delay = self.poll_interval
            except ChainError as e:
                self.connected = False
                self.follower.errors += 1
                self.last_error = str(e)
                delay = backoff.failed()
                log.warning("event=chain_error error=%r retry_s=%.1f", str(e), delay)
            except Exception as e:  # a bug, not chain input: log it, keep the runtime up
                self.connected = False
                self.follower.errors += 1
                self.last_error = f"internal: {type(e).__name__}"
                delay = backoff.failed()
                log.exception("event=chain_internal_error retry_s=%.1f", delay)
            # Even after a failed step: the blocks it committed before failing woke nodes.
            self._hand_over(tip_before)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    def status(self) -> dict[str, Any]:
        tip = self.watcher.tip()
        return {
            "source": self.source.name,
            "connected": self.connected,  # the last completed poll succeeded
            "height": tip.height if tip else None,
            "block_hash": display_hex(tip.block_hash) if tip else None,
            "source_height": self.follower.source_height,
            "watched_items": len(self.watcher.index),
            "blocks_scanned": self.watcher.blocks_scanned,
            "errors": self.follower.errors,
            "last_error": self.last_error,
        }

    def metrics_lines(self) -> list[str]:
        tip = self.watcher.tip()
        src_h = self.follower.source_height
        return [
            "# TYPE vajra_chain_watcher_height gauge",
            f"vajra_chain_watcher_height {tip.height if tip else -1}",
            "# TYPE vajra_chain_source_height gauge",
            f"vajra_chain_source_height {src_h if src_h is not None else -1}",
            "# TYPE vajra_chain_watched_items gauge",
            f"vajra_chain_watched_items {len(self.watcher.index)}",
            "# TYPE vajra_chain_blocks_scanned_total counter",
            f"vajra_chain_blocks_scanned_total {self.watcher.blocks_scanned}",
            "# TYPE vajra_chain_errors_total counter",
            f"vajra_chain_errors_total {self.follower.errors}",
            "# TYPE vajra_chain_wakes_total counter",
            f"vajra_chain_wakes_total {self.wakes}",
        ]

    def close(self) -> None:
        self.source.close()
        self.db.close()
