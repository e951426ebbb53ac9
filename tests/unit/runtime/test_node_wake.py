"""`NodeHost.wake` and the effects after every input with the real store, an in-process signer and a real
watcher on the same SQLite file: chain events reach the node, are acknowledged only after
the state is written, and the node's Watch/WakeAt effects reach the runtime."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.e2e.runtime_proc import open_channel_msg
from vajra.chain.db import ChainDb
from vajra.chain.types import BlockRef, ChainEvent, OutPoint, Purpose
from vajra.chain.watcher import Watcher
from vajra.node import Node, NodeState
from vajra.node.effects import Wake, WakeAt, Watch
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import STATE_KEY, HostConfig, NodeHost
from vajra.runtime.node_services import ServiceError
from vajra.store import SealedStore, SqliteStore

PEER = bytes([2]) + bytes(range(32))
INDEX = 7


class Tx(NamedTuple):
    txid: bytes
    prevouts: list[bytes]
    outputs: list[tuple[bytes, int]]


def h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


class WatcherServices:
    """`NodeServices` straight over a watcher (what the supervisor does behind the control
    channel), with the timer requests recorded."""

    def __init__(self, watcher: Watcher) -> None:
        self.w = watcher
        self.timers: list[WakeAt] = []
        self.acks: list[int] = []

    async def watch(self, node_id: bytes, watch: Watch) -> None:
        if watch.script_pubkey is not None:
            self.w.watch_scripts(INDEX, [watch.script_pubkey], watch.purpose)
        elif watch.outpoint is not None:
            self.w.watch_outpoints(INDEX, [watch.outpoint], watch.purpose)
        else:
            raise ServiceError("bad_request", "empty watch")

    async def set_timer(self, node_id: bytes, at: WakeAt) -> None:
        self.timers.append(at)

    async def store_justice(
        self, node_id: bytes, channel_index: int, hint: bytes, funding: bytes, blob: bytes
    ) -> None:
        self.w.justice.add(INDEX, channel_index, hint, blob, funding)

    async def pending_events(self, node_id: bytes) -> tuple[BlockRef | None, list[ChainEvent]]:
        return self.w.tip(), self.w.events(INDEX)

    async def ack_events(self, node_id: bytes, upto_seq: int) -> None:
        self.acks.append(upto_seq)
        self.w.ack_events(INDEX, upto_seq)


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "s.db")
    watcher = Watcher(ChainDb(tmp_path / "s.db"))
    signer = LocalSigner.open(bytes(range(32)))
    node_id = asyncio.run(signer.create_nodes(1))[0].node_id
    yield store, watcher, signer, node_id
    watcher.db.close()
    store.close()


def _state(store: SqliteStore, signer: LocalSigner, node_id: bytes) -> NodeState:
    lease = store.acquire_lease(node_id, "reader", 2e9, 5)
    sealed = SealedStore(store)
    sealed.unlock(node_id, asyncio.run(signer.state_key(node_id, lease.epoch)))
    got = sealed.get(node_id, STATE_KEY)
    store.release_lease(lease)
    assert got is not None
    return NodeState.decode(got[1])


def _pay(w: Watcher, height: int, script: bytes, label: str) -> None:
    tip = w.tip()
    prev = tip.block_hash if tip else h("genesis")
    tx = Tx(h(label), [h("coin-" + label) + bytes(4)], [(script, 10_000)])
    w.connect_block(height, h(f"block-{height}"), prev, [tx])


def test_node_effects_drain_and_on_wake_skips_handled_events() -> None:
    node = Node(b"\x02" * 33, NodeState(chain_seq=5))
    node.emit(WakeAt(height=10))
    node.emit(Watch(Purpose.FUNDING, outpoint=OutPoint(h("f"), 0)))
    assert [type(e) for e in node.take_effects()] == [WakeAt, Watch]
    assert node.take_effects() == []
    ev = _event(5)
    node.on_wake(Wake("chain", None, (ev,)), 0)
    assert not node.dirty  # seq 5 was handled before: not news
    node.on_wake(Wake("chain", None, (ev, _event(9))), 0)
    assert node.dirty and node.state.chain_seq == 9
    assert NodeState.decode(node.state.encode()).chain_seq == 9
    assert NodeState.decode(b'{"v":1,"peers":{},"channel_requests":0}').chain_seq == 0


def _event(seq: int) -> ChainEvent:
    from vajra.chain.types import EventKind

    op = OutPoint(h(str(seq)), 0)
    return ChainEvent(seq, INDEX, EventKind.RECEIVED, Purpose.RECEIVE, op, op.txid, 1, b"", 1,
                      None, False)  # fmt: skip


def test_wake_hands_events_writes_then_acks(env) -> None:  # type: ignore[no-untyped-def]
    store, watcher, signer, node_id = env
    services = WatcherServices(watcher)
    host = NodeHost(SealedStore(store), signer, HostConfig("rt"), services=services)
    script = b"\x00\x14" + h("funding")[:20]
    watcher.watch_scripts(INDEX, [script], Purpose.FUNDING)
    _pay(watcher, 1, script, "a")

    async def main() -> None:
        tip, events = await services.pending_events(node_id)
        assert len(events) == 1 and events[0].wake
        await host.wake(node_id, Wake("chain", tip, tuple(events)))
        assert host.chain_wakes == 1 and host.wakes == 1
        assert services.acks == [events[0].seq]
        assert watcher.events(INDEX) == []  # acknowledged
        await host.close()

    asyncio.run(main())
    assert _state(store, signer, node_id).chain_seq == services.acks[0]


def test_a_failed_write_leaves_the_events_unacknowledged(env) -> None:  # type: ignore[no-untyped-def]
    store, watcher, signer, node_id = env
    services = WatcherServices(watcher)
    sealed = SealedStore(store)
    host = NodeHost(sealed, signer, HostConfig("rt"), services=services)
    script = b"\x00\x14" + h("w")[:20]
    watcher.watch_scripts(INDEX, [script], Purpose.SWEEP)
    _pay(watcher, 1, script, "a")

    class Crash(Exception):
        pass

    def put(*a: object, **kw: object) -> int:
        raise Crash  # the process dies between on_wake and the state write

    async def main() -> None:
        tip, events = await services.pending_events(node_id)
        real_put = sealed.put
        sealed.put = put  # type: ignore[method-assign]
        with pytest.raises(Crash):
            await host.wake(node_id, Wake("chain", tip, tuple(events)))
        sealed.put = real_put  # type: ignore[method-assign]
        assert services.acks == [] and len(watcher.events(INDEX)) == 1
        await host.sleep(node_id)
        await host.wake(node_id, Wake("chain", tip, tuple(watcher.events(INDEX))))
        assert services.acks == [events[0].seq] and watcher.events(INDEX) == []
        await host.close()

    asyncio.run(main())


def test_effects_go_out_after_every_input_and_wallet_events_wait_for_a_wake(env) -> None:  # type: ignore[no-untyped-def]
    store, watcher, signer, node_id = env
    services = WatcherServices(watcher)
    host = NodeHost(SealedStore(store), signer, HostConfig("rt"), services=services)
    wallet = b"\x00\x14" + h("wallet")[:20]
    watcher.watch_scripts(INDEX, [wallet], Purpose.RECEIVE)
    woken: list[int] = []
    watcher.on_wake(lambda n, e: woken.append(n))
    _pay(watcher, 1, wallet, "a")
    assert woken == []  # a wallet receipt wakes nobody

    async def main() -> None:
        # A peer message wakes the node: its wallet event is handed over, then acked.
        await host.deliver(node_id, PEER, open_channel_msg())
        assert len(services.acks) == 1 and watcher.events(INDEX) == []
        awake = host._awake[node_id]
        funding = OutPoint(h("funding"), 1)
        awake.node.emit(Watch(Purpose.FUNDING, outpoint=funding))
        awake.node.emit(WakeAt(height=120))
        awake.node.emit(Watch(Purpose.FUNDING))  # neither script nor outpoint: refused
        await host.deliver(node_id, PEER, open_channel_msg())
        assert services.timers == [WakeAt(height=120)]
        assert host.effect_failures == 1
        # The watch is live: a spend of the funding outpoint is a waking event.
        tip = watcher.tip()
        assert tip is not None
        close = Tx(h("close"), [funding.serialize()], [])
        watcher.connect_block(2, h("block-2"), tip.block_hash, [close])
        assert woken == [INDEX]
        await host.close()

    asyncio.run(main())
