"""The supervisor's side of chain and timer wakes (decision 0021).

Theory of operation
-------------------
Triggers: the chain service reports a waking event for node i (`chain_event`, on the
loop, after the block's events committed), a new tip (`on_tip`: deadlines by height)
and the clock (`tick`, once a second: deadlines by time, retries). Each trigger makes or
refreshes node i's *pending wake* (memory only; one entry per node with a wake in
flight, whatever the number of events):

    trigger  -> pending[i] (fresh)  -> push WAKE to worker i % W  -> awaiting DONE
    DONE ok  -> fresh since the push? push again : forget it (timer: `done(i, gen)`)
    DONE failed, channel full, no DONE within `retry_after` -> push again after a
             backoff (1 s doubling to 60 s): a dead worker's replacement reads the pushes
             queued in its channel, a wake refused for want of a signer is retried.

Nothing is lost to a crash: the events are durable in `chain_events` until the node
acknowledges them (after its state write), the deadline in `runtime_timers` until the
wake is done; at start `recover` makes a pending wake for every node with unacknowledged
waking events, and the timer table reloads its rows (due ones fire at the first check).

Requests from workers: `Watch` -> the one watcher (keyed by the node's index; `drop`:
unwatched), `WakeAt`
-> the timer table, ACK -> `Watcher.ack_events`. SQLite work runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vajra.chain.types import BlockRef, ChainDataError, ChainError, TxRejected
from vajra.chain.watcher import Watcher
from vajra.node.effects import WakeAt, Watch
from vajra.runtime.control_proto import (
    BroadcastTx,
    Done,
    EnsureWallet,
    JusticeBlob,
    Request,
    WakePush,
)
from vajra.runtime.node_services import ServiceError
from vajra.runtime.timers import TimerStateError, TimerTable

log = logging.getLogger("vajra.runtime.wakes")
RETRY_AFTER = 30.0
"""Seconds without a DONE after which a push is sent again (the worker died mid-wake)."""
BACKOFF_MAX = 60.0
FIRE_BATCH = 1000
"""Deadlines popped per check (tip or clock tick): a mass expiry is spread over ticks
(the workers wake ~hundreds of nodes a second at best: a signer round trip each)."""


@dataclass(slots=True)
class _Pending:
    timer_gen: int | None = None
    """The due deadline this node owes a wake for (None: chain events only)."""
    fresh: bool = True
    """A trigger came since the last push: push again once the one in flight is done."""
    push_id: int = 0
    pushed_gen: int | None = None
    """The deadline the push in flight carries (done with it when the wake is)."""
    next_try: float = 0.0
    """When to push (again): 0 now; after a push, its retry time; after a failure, backoff."""
    failures: int = 0


class WakeRouter:
    """Pending wakes, the timer table and the workers' requests (a `ControlHandler`)."""

    def __init__(
        self,
        workers: int,
        timers: TimerTable,
        watcher: Watcher | None,
        push: Callable[[int, WakePush], bool],
        *,
        capacity: int,
        clock: Callable[[], float] = time.time,
        retry_after: float = RETRY_AFTER,
        broadcast: Callable[[bytes], bytes] | None = None,
        ensure_wallet: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        """`broadcast`: the supervisor's one broadcaster (raw tx -> txid, blocking; may
        raise `ChainDataError` / `TxRejected`), for OP_BROADCAST (None: no chain);
        `ensure_wallet`: node index -> its wallet record made if missing (may raise
        `ServiceError`), for OP_WALLET (None: no wallets, no chain)."""
        self.workers = workers
        self.timers = timers
        self.watcher = watcher
        self._push = push
        self.capacity = capacity
        self._clock = clock
        self.retry_after = retry_after
        self.broadcast = broadcast
        self.ensure_wallet = ensure_wallet
        self.pending: dict[int, _Pending] = {}
        self._height: int | None = None  # the last tip `on_tip` saw
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_push = 0
        self.pushes = 0
        self.retries = 0

    # --- triggers --------------------------------------------------------------------------

    def chain_event(self, index: int) -> None:
        self._trigger(index, None)
        self._flush()

    def on_tip(self, tip: BlockRef | None) -> None:
        self._height = tip.height if tip is not None else None
        self._fire(self._height)

    def tick(self) -> None:
        tip = self.watcher.tip() if self.watcher is not None else None
        self._fire(tip.height if tip is not None else self._height)

    def pending_nodes(self) -> list[int]:
        """Nodes with unacknowledged waking events (blocking: a read of the store)."""
        if self.watcher is None:
            return []
        rows = self.watcher.db.query(
            "SELECT DISTINCT node FROM chain_events WHERE acked = 0 AND wake = 1"
        )
        return [int(r[0]) for r in rows]

    def recover(self, nodes: list[int]) -> None:
        """At start: a pending wake for each of `nodes` (`pending_nodes`)."""
        for index in nodes:
            self._trigger(index, None)
        self._flush()

    def _fire(self, height: int | None) -> None:
        for d in self.timers.due(height, int(self._clock()), FIRE_BATCH):
            self._trigger(d.index, d.gen)
        self._flush()

    def _trigger(self, index: int, timer_gen: int | None) -> None:
        p = self.pending.get(index)
        if p is None:
            self.pending[index] = _Pending(timer_gen)
            return
        p.fresh = True  # pushed again at once if idle, or when the wake in flight is done
        if timer_gen is not None:
            p.timer_gen = timer_gen
        if p.push_id == 0:
            p.next_try = 0.0

    def _flush(self) -> None:
        """Push every pending wake whose time has come."""
        now = self._clock()
        tip = self.watcher.tip() if self.watcher is not None else None
        for index, p in self.pending.items():
            if p.next_try > now:
                continue
            if p.push_id:
                self.retries += 1  # no DONE in time, or a backoff ended
            self._next_push += 1
            p.push_id, p.pushed_gen, p.fresh = self._next_push, p.timer_gen, False
            reason = "timer" if p.timer_gen is not None else "chain"
            if self._push(index % self.workers, WakePush(p.push_id, index, reason, tip)):
                self.pushes += 1
                p.next_try = now + self.retry_after
            else:
                p.next_try = now + self._backoff(p)

    def _backoff(self, p: _Pending) -> float:
        p.failures += 1
        return float(min(BACKOFF_MAX, 2.0 ** (p.failures - 1)))

    def done(self, worker: int, done: Done) -> None:
        p = self.pending.get(done.node_index)
        if p is None or p.push_id != done.push_id:
            return  # an older push's report: the newer one decides
        if not done.ok:
            p.next_try = self._clock() + self._backoff(p)
            return
        p.failures = 0
        gen, p.pushed_gen = p.pushed_gen, None
        if gen is not None:
            if p.timer_gen == gen:
                p.timer_gen = None
            task = asyncio.get_running_loop().create_task(self._timer_done(done.node_index, gen))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if p.fresh or p.timer_gen is not None:
            p.push_id, p.next_try = 0, 0.0  # a trigger came during the wake: go again
            self._flush()
        else:
            del self.pending[done.node_index]

    def worker_restarted(self, worker: int) -> None:
        """A worker died and its replacement is up: the wakes it had in flight go again
        now rather than after `retry_after`."""
        for index, p in self.pending.items():
            if index % self.workers == worker and p.push_id:
                p.next_try = 0.0
        self._flush()

    async def _timer_done(self, index: int, gen: int) -> None:
        try:
            await asyncio.to_thread(self.timers.done, index, gen)
        except TimerStateError as e:
            log.warning("event=timer_done_failed node=%d error=%s", index, e)

    # --- requests (ControlHandler) -------------------------------------------------------

    async def request(self, worker: int, req: Request) -> None:
        index = req.node_index
        # Any worker may ask for any node: a node wakes where its connection was accepted
        # when the session could not move to its owner (decision 0006's fallback).
        if not 0 <= index < self.capacity:
            raise ServiceError("unknown_node", f"index {index} outside the key table")
        body = req.body
        try:
            if isinstance(body, WakeAt):
                await asyncio.to_thread(self.timers.set, index, body.height, body.unix_time)
                # A deadline already reached fires at once, not at the next tick.
                self.tick()
                return
            if self.watcher is None:
                raise ServiceError("no_chain", "the runtime runs without --chain")
            if isinstance(body, BroadcastTx):
                await self._broadcast(body.raw_tx)
                return
            if isinstance(body, JusticeBlob):
                justice = self.watcher.justice
                await asyncio.to_thread(
                    justice.add, index, body.channel_index, body.hint, body.blob, body.funding
                )
                return
            if isinstance(body, EnsureWallet):
                if self.ensure_wallet is None:
                    raise ServiceError("no_chain", "the runtime keeps no wallets")
                await self.ensure_wallet(index)
                return
            if isinstance(body, Watch):
                await asyncio.to_thread(self._watch, index, body)
            else:
                await asyncio.to_thread(self.watcher.ack_events, index, body)
        except (ChainError, TimerStateError, ValueError) as e:
            raise ServiceError("unavailable", str(e)) from None

    async def _broadcast(self, raw_tx: bytes) -> None:
        """A node's signed transaction to the one broadcaster: stored, sent, and resent
        until it confirms. A refusal by the chain source is answered `rejected` (the
        transaction stays queued: the refusal may be temporary)."""
        if self.broadcast is None:
            raise ServiceError("no_chain", "the runtime has no broadcaster")
        try:
            await asyncio.to_thread(self.broadcast, raw_tx)
        except (ChainDataError, TxRejected) as e:
            raise ServiceError("rejected", str(e)[:200]) from None

    def _watch(self, index: int, w: Watch) -> None:
        assert self.watcher is not None
        if w.drop and w.script_pubkey is not None:
            self.watcher.unwatch_scripts(index, [w.script_pubkey])
        elif w.drop and w.outpoint is not None:
            self.watcher.unwatch_outpoints(index, [w.outpoint])
        elif w.script_pubkey is not None:
            self.watcher.watch_scripts(index, [w.script_pubkey], w.purpose)
        elif w.outpoint is not None:
            self.watcher.watch_outpoints(index, [w.outpoint], w.purpose)
