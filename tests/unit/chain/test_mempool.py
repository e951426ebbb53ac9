"""Mempool scanning without processes: unconfirmed balances, each event once, settlement by
a block, eviction, a reorg that returns a transaction to the mempool, a restart."""

from __future__ import annotations

from pathlib import Path

from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.chain.db import ChainDb
from vajra.chain.follower import ChainFollower
from vajra.chain.types import Balance, EventKind, Purpose
from vajra.chain.watcher import Watcher

from .memchain import MemoryChain

A = b"\x00\x14" + b"\xaa" * 20
OTHER = b"\x00\x14" + b"\xcc" * 20


def pay(script: bytes, amount: int, prev: OutPoint | None = None, tag: int = 0) -> Tx:
    return Tx(2, (TxIn(prev or OutPoint(bytes([tag]) * 32, 1)),), (TxOut(amount, script),))


def setup(
    tmp_path: Path, src: MemoryChain | None = None
) -> tuple[MemoryChain, Watcher, ChainFollower]:
    src = src or MemoryChain()
    w = Watcher(ChainDb(tmp_path / "s.sqlite"))
    w.watch_scripts(1, [A], Purpose.RECEIVE)
    f = ChainFollower(src, w, start_height=0)
    f.sync()
    return src, w, f


def kinds(w: Watcher) -> list[tuple[EventKind, int]]:
    return [(e.kind, e.height) for e in w.events(1)]


def test_unconfirmed_then_confirmed_each_event_once(tmp_path: Path) -> None:
    src, w, f = setup(tmp_path)
    tx = pay(A, 5000, tag=1)
    src.broadcast(tx.serialize())
    assert f.sync_mempool() == 1
    assert w.balance(1) == Balance(0, 5000)
    assert f.sync_mempool() == 0 and kinds(w) == [(EventKind.RECEIVED, 0)]
    src.mine_mempool()
    f.sync()
    f.sync_mempool()
    assert w.balance(1) == Balance(5000, 0)
    assert kinds(w) == [(EventKind.RECEIVED, 0), (EventKind.RECEIVED, 1)]


def test_a_transaction_evicted_from_the_mempool_is_undone(tmp_path: Path) -> None:
    src, w, f = setup(tmp_path)
    src.broadcast(pay(A, 700, tag=2).serialize())
    f.sync_mempool()
    src.mempool.clear()  # evicted (or replaced by a conflicting transaction)
    f.sync_mempool()
    assert w.balance(1) == Balance(0, 0) and w.utxos(1) == []
    assert kinds(w) == [(EventKind.RECEIVED, 0), (EventKind.UNDONE, 0)]


def test_a_mempool_spend_leaves_both_balances(tmp_path: Path) -> None:
    src, w, f = setup(tmp_path)
    fund = pay(A, 9000, tag=3)
    src.mine([fund])
    f.sync()
    spend = pay(OTHER, 8000, OutPoint(fund.txid, 0))
    src.broadcast(spend.serialize())
    f.sync_mempool()
    assert w.balance(1) == Balance(0, 0)
    src.mempool.clear()  # the spend is dropped: the coin is ours again
    f.sync_mempool()
    assert w.balance(1) == Balance(9000, 0)
    src.broadcast(spend.serialize())
    f.sync_mempool()
    src.mine_mempool()
    f.sync()
    f.sync_mempool()
    assert w.balance(1) == Balance(0, 0)
    assert [k for k, _ in kinds(w)] == [
        EventKind.RECEIVED, EventKind.SPENT, EventKind.UNDONE, EventKind.SPENT, EventKind.SPENT,
    ]  # fmt: skip


def test_reorg_returns_a_mined_transaction_to_unconfirmed(tmp_path: Path) -> None:
    src, w, f = setup(tmp_path)
    tx = pay(A, 4242, tag=4)
    src.broadcast(tx.serialize())
    f.sync_mempool()
    src.mine_mempool()
    f.sync()
    assert w.balance(1) == Balance(4242, 0)
    src.cut(0)  # the block is reorganised away; the transaction goes back to the mempool
    src.broadcast(tx.serialize())
    src.mine([], tag=b"fork")
    src.mine([], tag=b"fork")
    f.sync()
    f.sync_mempool()
    assert w.balance(1) == Balance(0, 4242)
    assert kinds(w) == [(EventKind.RECEIVED, 0), (EventKind.RECEIVED, 1), (EventKind.UNDONE, 1)]
    src.mempool.clear()
    f.sync_mempool()
    assert w.balance(1) == Balance(0, 0)


def test_restart_rescans_the_mempool_without_doubling(tmp_path: Path) -> None:
    src, w, f = setup(tmp_path)
    src.broadcast(pay(A, 10, tag=5).serialize())
    f.sync_mempool()
    w.db.close()
    w2 = Watcher(ChainDb(tmp_path / "s.sqlite"))
    f2 = ChainFollower(src, w2)
    f2.sync()
    assert f2.sync_mempool() == 1
    assert w2.balance(1) == Balance(0, 10) and len(w2.events(1)) == 1
