"""Effects the supervisor could not take are retried (`runtime/effect_retry.py`): the
bookkeeping's backoff, timer replacement and bound; and `NodeHost` with a supervisor
that is busy for a while: the funding watch still reaches the real watcher, so a spend
still wakes the node."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from tests.e2e.runtime_proc import open_channel_msg
from tests.unit.runtime.test_node_wake import INDEX, PEER, Tx, WatcherServices
from vajra.chain.db import ChainDb
from vajra.chain.types import OutPoint, Purpose
from vajra.chain.watcher import Watcher
from vajra.node.effects import Broadcast, WakeAt, Watch
from vajra.runtime.effect_retry import EffectRetries
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import HostConfig, NodeHost
from vajra.runtime.node_services import ServiceError
from vajra.store import SealedStore, SqliteStore

NODE = b"\x02" * 33
W = Watch(Purpose.FUNDING, outpoint=OutPoint(b"\x11" * 32, 0))


def h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def test_backoff_doubles_to_a_cap_and_refusals_for_cause_are_not_retried() -> None:
    r = EffectRetries(base=1.0, cap=4.0)
    assert not r.failed(NODE, W, "bad_request", 0.0)
    assert not r.failed(NODE, W, "unknown_node", 0.0) and len(r) == 0
    assert r.failed(NODE, W, "unavailable", 100.0)
    assert r.take_due(100.9) == []
    due = r.take_due(101.0)
    assert due == [(NODE, W, 1)] and len(r) == 0
    waits = []
    attempts = 1
    now = 101.0
    for _ in range(4):  # 2 s, 4 s, then the 4 s cap
        r.failed(NODE, W, "internal", now, attempts)
        t = now
        while not (got := r.take_due(t)):
            t += 0.5
        waits.append(t - now)
        (_, _, attempts) = got[0]
        now = t
    assert waits == [2.0, 4.0, 4.0, 4.0]
    r.failed(NODE, W, "unavailable", now, attempts)
    r.succeeded(NODE, W)
    assert len(r) == 0


def test_a_newer_timer_replaces_an_older_one_and_its_success_drops_it() -> None:
    r = EffectRetries()
    r.failed(NODE, WakeAt(height=100), "unavailable", 0.0)
    r.failed(NODE, WakeAt(height=90), "unavailable", 0.0)
    assert [e for _, e, _ in r.take_due(10.0)] == [WakeAt(height=90)]
    r.failed(NODE, WakeAt(height=100), "unavailable", 0.0)
    r.succeeded(NODE, WakeAt(height=95))  # a newer timer reached the supervisor
    assert len(r) == 0
    # Distinct watches and broadcasts wait side by side; the bound drops the oldest.
    small = EffectRetries(limit=2)
    small.failed(NODE, W, "unavailable", 0.0)
    small.failed(NODE, Broadcast(b"\x01\x00"), "unavailable", 0.0)
    small.failed(NODE, Broadcast(b"\x02\x00"), "unavailable", 0.0)
    assert len(small) == 2 and small.dropped == 1
    assert {e for _, e, _ in small.take_due(5.0)} == {
        Broadcast(b"\x01\x00"),
        Broadcast(b"\x02\x00"),
    }


class BusyServices(WatcherServices):
    """The supervisor answers `unavailable` to the first `busy` watch requests."""

    def __init__(self, watcher, busy: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(watcher)
        self.busy = busy
        self.watch_calls = 0

    async def watch(self, node_id: bytes, watch: Watch) -> None:
        self.watch_calls += 1
        if self.watch_calls <= self.busy:
            raise ServiceError("unavailable", "no answer in 5 s")
        await super().watch(node_id, watch)


def test_a_watch_the_busy_supervisor_missed_still_reaches_the_watcher(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    watcher = Watcher(ChainDb(tmp_path / "s.db"))
    signer = LocalSigner.open(bytes(range(32)))
    node_id = asyncio.run(signer.create_nodes(1))[0].node_id
    services = BusyServices(watcher, busy=2)
    clock = [1000.0]
    host = NodeHost(SealedStore(store), signer, HostConfig("rt"), services=services,
                    clock=lambda: clock[0])  # fmt: skip
    woken: list[int] = []
    watcher.on_wake(lambda n, e: woken.append(n))
    funding = OutPoint(h("funding"), 1)

    async def main() -> None:
        await host.deliver(node_id, PEER, open_channel_msg())
        host._awake[node_id].node.emit(Watch(Purpose.FUNDING, outpoint=funding))
        await host.deliver(node_id, PEER, open_channel_msg())
        assert host.effect_failures == 1 and len(host.retries) == 1
        assert await host.retry_effects() == 0  # not due yet
        clock[0] += 1.0
        assert await host.retry_effects() == 1  # busy again: backs off to 2 s
        assert host.effect_failures == 2 and len(host.retries) == 1
        clock[0] += 1.0
        assert await host.retry_effects() == 0
        clock[0] += 1.0
        assert await host.retry_effects() == 1
        assert len(host.retries) == 0 and services.watch_calls == 3
        tip = watcher.tip()
        prev = tip.block_hash if tip else h("genesis")
        watcher.connect_block(5, h("block-5"), prev, [Tx(h("close"), [funding.serialize()], [])])
        assert woken == [INDEX]  # without the retry the spend would wake nobody
        await host.close()

    try:
        asyncio.run(main())
    finally:
        watcher.db.close()
        store.close()
