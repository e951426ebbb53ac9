"""The supervisor's wake routing with a real timer table (SQLite) and a real watcher: who
gets pushed, when a push is retried, when a deadline is done; and the control packets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vajra.chain.db import ChainDb
from vajra.chain.types import BlockRef, OutPoint, Purpose
from vajra.chain.watcher import Watcher
from vajra.node.effects import WakeAt, Watch
from vajra.runtime.control_proto import (
    ControlDecodeError,
    Done,
    Request,
    WakePush,
    decode_response,
    encode_error,
    encode_ok,
)
from vajra.runtime.node_services import ServiceError
from vajra.runtime.timers import TimerTable
from vajra.runtime.wake_router import WakeRouter


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


class Channels:
    """Stands for the workers' channels: records pushes; `full` refuses them."""

    def __init__(self) -> None:
        self.pushed: list[tuple[int, WakePush]] = []
        self.full = False

    def __call__(self, worker: int, push: WakePush) -> bool:
        if self.full:
            return False
        self.pushed.append((worker, push))
        return True


def _router(tmp_path: Path, watcher: Watcher | None = None):  # type: ignore[no-untyped-def]
    clock, chans = Clock(), Channels()
    timers = TimerTable(tmp_path / "s.db")
    r = WakeRouter(3, timers, watcher, chans, capacity=100, clock=clock, retry_after=30)
    return r, timers, clock, chans


def test_a_chain_event_is_pushed_to_the_owner_once_and_again_if_news_came(tmp_path: Path) -> None:
    async def main() -> None:
        r, _, _, chans = _router(tmp_path)
        r.chain_event(7)
        r.chain_event(7)  # a second event while the first push is in flight: no 2nd push
        assert [(w, p.node_index, p.reason) for w, p in chans.pushed] == [(1, 7, "chain")]
        first = chans.pushed[0][1]
        r.done(1, Done(first.push_id, 7, True))
        assert len(chans.pushed) == 2  # news came during the wake: go again
        r.done(1, Done(chans.pushed[1][1].push_id, 7, True))
        assert r.pending == {}
        r.done(1, Done(first.push_id, 7, True))  # a stale report changes nothing

    asyncio.run(main())


def test_failures_back_off_and_a_full_channel_or_lost_done_is_retried(tmp_path: Path) -> None:
    async def main() -> None:
        r, _, clock, chans = _router(tmp_path)
        chans.full = True
        r.chain_event(4)
        assert chans.pushed == []
        chans.full = False
        r.tick()
        assert chans.pushed == []  # backing off (1 s)
        clock.t += 1
        r.tick()
        assert len(chans.pushed) == 1
        r.done(1, Done(chans.pushed[0][1].push_id, 4, False))  # e.g. signer unavailable
        clock.t += 1
        r.tick()
        assert len(chans.pushed) == 1  # second failure: 2 s
        clock.t += 1
        r.tick()
        assert len(chans.pushed) == 2
        clock.t += 30  # no DONE at all (the worker died mid-wake)
        r.tick()
        assert len(chans.pushed) == 3 and r.retries == 3
        r.worker_restarted(1)  # a replacement is up: at once
        assert len(chans.pushed) == 4

    asyncio.run(main())


def test_a_due_deadline_wakes_its_node_and_is_done_only_after_the_wake(tmp_path: Path) -> None:
    async def main() -> None:
        r, timers, clock, chans = _router(tmp_path)
        await r.request(2, Request(1, 5, WakeAt(height=110)))
        await r.request(0, Request(2, 6, WakeAt(unix_time=int(clock.t) + 5)))
        r.on_tip(BlockRef(109, bytes(32)))
        assert chans.pushed == []
        r.on_tip(BlockRef(110, bytes(32)))
        assert [(w, p.node_index, p.reason) for w, p in chans.pushed] == [(2, 5, "timer")]
        assert len(timers) == 2  # the row lives until the wake is done
        r.done(2, Done(chans.pushed[0][1].push_id, 5, True))
        await asyncio.sleep(0.05)  # the row is deleted in a thread
        assert len(timers) == 1 and timers.heap.get(5) is None
        clock.t += 5
        r.tick()
        assert [p.node_index for _, p in chans.pushed] == [5, 6]
        # A node asking for a deadline already past is woken at once.
        await r.request(1, Request(3, 7, WakeAt(height=10)))
        assert chans.pushed[-1][1].node_index == 7
        with pytest.raises(ServiceError) as e:
            await r.request(1, Request(4, 7, Watch(Purpose.FUNDING, script_pubkey=b"\x51")))
        assert e.value.code == "no_chain"
        with pytest.raises(ServiceError):
            await r.request(0, Request(5, 100, WakeAt(height=1)))  # outside the key table
        timers.close()

    asyncio.run(main())


def test_watch_and_ack_reach_the_watcher_and_recovery_finds_unacked_events(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        w = Watcher(ChainDb(tmp_path / "s.db"))
        r, _, _, chans = _router(tmp_path, w)
        funding = OutPoint(bytes(range(32)), 1)
        await r.request(1, Request(1, 4, Watch(Purpose.FUNDING, outpoint=funding)))
        spend = _Tx(bytes([9]) * 32, [funding.serialize()], [])
        w.connect_block(1, bytes([1]) * 32, bytes(32), [spend])
        (ev,) = w.events(4)
        assert ev.wake
        assert r.pending_nodes() == [4]
        r.recover([4])
        assert chans.pushed[0][1].node_index == 4 and chans.pushed[0][1].tip is not None
        await r.request(1, Request(2, 4, ev.seq))
        assert w.events(4) == [] and r.pending_nodes() == []
        # A closed channel's funding script and outpoint are dropped (decision 0029):
        # nothing paying or spending them is news for the node any more.
        script = b"\x00\x20" + bytes(range(32))
        await r.request(1, Request(3, 4, Watch(Purpose.FUNDING, script_pubkey=script)))
        out = OutPoint(bytes([7]) * 32, 0)
        await r.request(1, Request(4, 4, Watch(Purpose.FUNDING, outpoint=out)))
        await r.request(1, Request(5, 4, Watch(Purpose.FUNDING, script_pubkey=script, drop=True)))
        await r.request(1, Request(6, 4, Watch(Purpose.FUNDING, outpoint=out, drop=True)))
        later = [_Tx(bytes([8]) * 32, [out.serialize()], [(script, 5_000)])]
        w.connect_block(2, bytes([2]) * 32, bytes([1]) * 32, later)
        assert w.events(4) == []

    asyncio.run(main())


class _Tx:
    def __init__(self, txid: bytes, prevouts: list[bytes], outputs: list[tuple[bytes, int]]):
        self.txid, self.prevouts, self.outputs = txid, prevouts, outputs


def test_control_packets_round_trip_and_malformed_ones_are_typed_errors() -> None:
    op = OutPoint(bytes(range(32)), 7)
    for body in (
        Watch(Purpose.SWEEP, script_pubkey=b"\x00\x14" + bytes(20)),
        Watch(Purpose.FUNDING, outpoint=op),
        Watch(Purpose.FUNDING, outpoint=op, drop=True),
        Watch(Purpose.FUNDING, script_pubkey=b"\x00\x20" + bytes(32), drop=True),
        WakeAt(height=5),
        WakeAt(unix_time=1_700_000_000),
        WakeAt(),
        123,
    ):
        req = Request(99, 4_000_000, body)
        assert Request.decode(req.encode()) == req
    push = WakePush(5, 3, "timer", BlockRef(7, bytes(range(32))))
    assert WakePush.decode(push.encode()) == push
    assert WakePush.decode(WakePush(5, 3, "chain", None).encode()).tip is None
    assert Done.decode(Done(1, 2, False).encode()) == Done(1, 2, False)
    assert decode_response(encode_ok(5)) == (5, None)
    assert decode_response(encode_error(5, "no_chain", "x")) == (5, ("no_chain", "x"))
    with pytest.raises(ValueError):
        Request(1, 1, Watch(Purpose.FUNDING)).encode()
    good = Request(1, 1, Watch(Purpose.FUNDING, outpoint=op)).encode()
    for bad in (good[:-1], good[:14] + b"\x09" + good[15:], b"\x01" + bytes(5), b""):
        with pytest.raises(ControlDecodeError):
            Request.decode(bad)
    with pytest.raises(ControlDecodeError):
        WakePush.decode(push.encode()[:-1])


def test_broadcast_op_reaches_the_broadcaster_and_a_refusal_is_typed(tmp_path: Path) -> None:
    from tests.unit.chain.memchain import MemoryChain
    from vajra.bitcoin.tx import Tx, TxIn, TxOut
    from vajra.chain.broadcast import Broadcaster
    from vajra.chain.types import TxRejected
    from vajra.runtime.control_proto import BroadcastTx

    class Refusing(MemoryChain):
        def broadcast(self, raw_tx: bytes) -> None:
            raise TxRejected(b"", "TX rejected: min relay fee not met", -26)

    tx = Tx(2, (TxIn(OutPoint(b"\x01" * 32, 0)),), (TxOut(1000, b"\x00\x14" + b"\x05" * 20),))
    raw = tx.serialize()
    req = Request(7, 4, BroadcastTx(raw))
    assert Request.decode(req.encode()) == req
    with pytest.raises(ControlDecodeError):
        Request.decode(Request(8, 4, BroadcastTx(raw)).encode()[: -len(raw)])  # empty body

    async def main() -> None:
        w = Watcher(ChainDb(tmp_path / "s.db"))
        src = MemoryChain()
        bc = Broadcaster(src, w.db)
        clock, chans = Clock(), Channels()
        timers = TimerTable(tmp_path / "t.db")
        r = WakeRouter(1, timers, w, chans, capacity=10, clock=clock,
                       broadcast=lambda b: bc.submit(b, 1.0))  # fmt: skip
        await r.request(0, req)
        assert bc.status(tx.txid) == (1, None)  # stored and sent, resent until confirmed
        assert tx.txid in src.mempool
        bad = Broadcaster(Refusing(), ChainDb(tmp_path / "r.db"))
        r.broadcast = lambda b: bad.submit(b, 1.0)
        with pytest.raises(ServiceError) as e:
            await r.request(0, req)
        assert e.value.code == "rejected"
        r.broadcast = None
        with pytest.raises(ServiceError) as e:
            await r.request(0, req)
        assert e.value.code == "no_chain"
        timers.close()

    asyncio.run(main())


def test_justice_op_stores_the_kit_in_the_watcher(tmp_path: Path) -> None:
    """OP_JUSTICE (decision 0026): a worker's sealed penalty kit lands in the one
    watcher's justice store under the node's index; malformed bodies are refused."""
    from vajra.chain.justice_kit import seal
    from vajra.runtime.control_proto import JusticeBlob

    hint, blob = seal(b"kit", b"\x07" * 32, 5)
    funding = bytes(range(36))
    req = Request(9, 4, JusticeBlob(3, hint, funding, blob))
    assert Request.decode(req.encode()) == req
    with pytest.raises(ControlDecodeError):
        Request.decode(req.encode()[: -len(blob)])  # no blob
    with pytest.raises(ValueError):
        Request(9, 4, JusticeBlob(3, hint[:15], funding, blob)).encode()
    with pytest.raises(ValueError):
        Request(9, 4, JusticeBlob(3, hint, funding, bytes(10_001))).encode()

    async def main() -> None:
        w = Watcher(ChainDb(tmp_path / "s.db"))
        timers = TimerTable(tmp_path / "t.db")
        r = WakeRouter(1, timers, w, Channels(), capacity=10, clock=Clock())
        await r.request(0, req)
        assert len(w.justice) == 1 and w.justice.kits_of(4) == 1
        await r.request(0, req)  # the same kit again (a re-armed node): still one
        assert len(w.justice) == 1
        assert w.justice.prune_channel(4, 3) == 1
        timers.close()

    asyncio.run(main())


def test_wallet_op_reaches_the_supervisors_wallet_and_its_refusal_is_typed(tmp_path: Path) -> None:
    # OP_WALLET: a worker whose node must name its close script asks the supervisor to
    # make the node's wallet record (BOLT 2: a peer's shutdown is answered with ours).
    from vajra.runtime.control_proto import EnsureWallet

    req = Request(9, 5, EnsureWallet())
    assert Request.decode(req.encode()) == req
    with pytest.raises(ControlDecodeError):
        Request.decode(req.encode() + b"\x00")  # the op has no body

    async def main() -> None:
        w = Watcher(ChainDb(tmp_path / "s.db"))
        made: list[int] = []

        async def ensure(index: int) -> None:
            if index == 6:
                raise ServiceError("unavailable", "signer_unavailable")
            made.append(index)

        timers = TimerTable(tmp_path / "t.db")
        r = WakeRouter(1, timers, w, Channels(), capacity=10, clock=Clock(), ensure_wallet=ensure)
        await r.request(0, req)
        assert made == [5]
        with pytest.raises(ServiceError) as e:
            await r.request(0, Request(10, 6, EnsureWallet()))
        assert e.value.code == "unavailable"
        r.ensure_wallet = None
        with pytest.raises(ServiceError) as e:
            await r.request(0, req)
        assert e.value.code == "no_chain"
        assert made == [5]
        timers.close()

    asyncio.run(main())
