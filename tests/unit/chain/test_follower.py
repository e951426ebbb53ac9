"""The follower against an in-memory chain of real serialized blocks: catch-up, reorgs of
any depth, a source that goes away, fees clamped and falling back."""

from __future__ import annotations

from pathlib import Path

import pytest

from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.chain.db import ChainDb
from vajra.chain.fees import FeePolicy, estimate_fee
from vajra.chain.follower import Backoff, ChainFollower
from vajra.chain.types import ChainUnavailable, EventKind, Purpose
from vajra.chain.watcher import Watcher

from .memchain import MemoryChain

A = b"\x00\x14" + b"\xaa" * 20
B = b"\x00\x14" + b"\xbb" * 20


def pay(script: bytes, amount: int, prev: OutPoint | None = None, tag: int = 0) -> Tx:
    prev = prev or OutPoint(bytes([tag]) * 32, 7)
    return Tx(2, (TxIn(prev),), (TxOut(amount, script),))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[MemoryChain, Watcher, ChainFollower]:
    src = MemoryChain()
    w = Watcher(ChainDb(tmp_path / "s.sqlite"))
    w.watch_scripts(1, [A], Purpose.RECEIVE)
    w.watch_scripts(2, [B], Purpose.RECEIVE)
    return src, w, ChainFollower(src, w, start_height=0)


def test_catch_up_scans_each_block_once(setup: tuple[MemoryChain, Watcher, ChainFollower]) -> None:
    src, w, f = setup
    for i in range(20):
        src.mine([pay(A, 1000 + i, tag=i)])
    res = f.sync()
    assert (res.connected, res.disconnected, res.tip_height) == (21, 0, 20)
    assert src.fetches == 21
    assert w.balance(1).confirmed_sat == sum(1000 + i for i in range(20))
    assert f.sync().connected == 0 and src.fetches == 21


def test_deep_reorg_undoes_the_lost_branch(
    setup: tuple[MemoryChain, Watcher, ChainFollower],
) -> None:
    src, w, f = setup
    fund = pay(A, 50_000, tag=1)
    src.mine([fund])
    f.sync()
    src.mine([pay(B, 10, OutPoint(fund.txid, 0))])  # A's coins go to B at height 2
    src.mine([pay(A, 3, tag=2)])
    src.mine([])
    f.sync()
    assert (w.balance(1).confirmed_sat, w.balance(2).confirmed_sat) == (3, 10)
    # Competing branch from height 1: longer, no spend of A's coins, a payment to B.
    src.cut(1)
    for i in range(5):
        src.mine([pay(B, 7, tag=10 + i)] if i == 0 else [], tag=b"fork")
    res = f.sync()
    assert (res.disconnected, res.connected, res.tip_height) == (3, 5, 6)
    assert (w.balance(1).confirmed_sat, w.balance(2).confirmed_sat) == (50_000, 7)
    kinds = [e.kind for e in w.events(2)]
    assert kinds == [EventKind.RECEIVED, EventKind.UNDONE, EventKind.RECEIVED]


def test_a_shorter_best_chain_is_followed_down(
    setup: tuple[MemoryChain, Watcher, ChainFollower],
) -> None:
    src, w, f = setup
    src.mine([])
    src.mine([pay(A, 5, tag=3)])
    f.sync()
    src.cut(1)  # e.g. invalidateblock on the source
    res = f.sync()
    assert (res.disconnected, res.tip_height) == (1, 1)
    assert w.balance(1).confirmed_sat == 0


def test_source_away_is_a_typed_error_and_run_forever_backs_off(
    setup: tuple[MemoryChain, Watcher, ChainFollower],
) -> None:
    src, w, f = setup
    src.mine([pay(A, 9, tag=4)])
    src.down = True
    with pytest.raises(ChainUnavailable):
        f.sync()
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        if len(waits) == 4:
            src.down = False

    f.run_forever(
        lambda: len(waits) >= 6, poll_interval=1.0, backoff=Backoff(0.5, 2, 1.5), sleep=sleep
    )
    assert waits == [0.5, 1.0, 1.5, 1.5, 1.0, 1.0]
    assert f.errors == 4 and w.balance(1).confirmed_sat == 9


def test_fee_estimate_falls_back_and_is_clamped() -> None:
    src = MemoryChain()
    policy = FeePolicy(floor=2000, ceiling=50_000, fallback=10_000)
    est = estimate_fee(src, 6, policy)
    assert (est.sat_per_kvb, est.source, est.clamped, est.feerate_per_kw) == (
        10_000,
        "fallback",
        False,
        2500,
    )

    class Greedy(MemoryChain):
        def estimate_fee(self, target_blocks: int) -> int | None:
            return 900_000 if target_blocks == 1 else 100

    assert estimate_fee(Greedy(), 1, policy).sat_per_kvb == 50_000
    low = estimate_fee(Greedy(), 6, policy)
    assert (low.sat_per_kvb, low.source, low.clamped) == (2000, "node", True)
    with pytest.raises(ValueError):
        FeePolicy(floor=5, ceiling=4, fallback=4)


def test_a_reorg_while_down_is_found_from_the_persisted_cursor(tmp_path: Path) -> None:
    src = MemoryChain()
    w = Watcher(ChainDb(tmp_path / "s.sqlite"))
    w.watch_scripts(1, [A], Purpose.RECEIVE)
    ChainFollower(src, w, start_height=0).sync()
    src.mine([pay(A, 11, tag=1)])
    src.mine([pay(A, 22, tag=2)])
    ChainFollower(src, w).sync()
    w.db.close()
    # While the runtime is down, both blocks are replaced by a longer branch.
    src.cut(0)
    for i in range(3):
        src.mine([pay(A, 33, tag=3)] if i == 1 else [], tag=b"other")
    w2 = Watcher(ChainDb(tmp_path / "s.sqlite"))
    res = ChainFollower(src, w2).sync()
    assert (res.disconnected, res.connected, res.tip_height) == (2, 3, 3)
    assert w2.balance(1).confirmed_sat == 33
