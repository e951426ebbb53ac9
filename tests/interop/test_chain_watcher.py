"""The shared chain watcher against real btcd: payments and confirmations, the broadcaster's
rebroadcast and rejections, fees on regtest, a source that goes away, and a reorg made by
two btcds mining competing branches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vajra.chain.broadcast import Broadcaster
from vajra.chain.db import ChainDb
from vajra.chain.fees import FeePolicy, estimate_fee
from vajra.chain.follower import ChainFollower
from vajra.chain.types import Balance, ChainUnavailable, EventKind, OutPoint, Purpose, TxRejected
from vajra.chain.watcher import Watcher
from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import TestbedNotInstalled

from .chain_support import Miner, join, part, script_of, source_of, txid_of
from .conftest import BURN_ADDRESS

pytestmark = [pytest.mark.interop, pytest.mark.slow]

MINER = Miner()


@pytest.fixture(scope="session")
def btcd_installed() -> tb_paths.TestbedPaths:
    """Only btcd is needed here (not the whole test bed)."""
    try:
        return tb_paths.installed("btcd")
    except TestbedNotInstalled as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def mined(
    btcd_installed: tb_paths.TestbedPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Btcd]:
    """A btcd whose first 20 coinbases (ours) are mature."""
    node = Btcd(tmp_path_factory.mktemp("btcd-chain"), mining_address=MINER.address)
    node.start()
    try:
        node.generate(COINBASE_MATURITY + 20)
        yield node
    finally:
        node.stop()


def test_watcher_sees_a_payment_and_counts_its_confirmations(mined: Btcd, tmp_path: Path) -> None:
    src = source_of(mined)
    coin = MINER.coinbase_coins(src, range(1, 2))[0]
    w = Watcher(ChainDb(tmp_path / "store.sqlite"))
    follower = ChainFollower(src, w)
    follower.sync()  # starts at btcd's tip: nothing older is scanned
    s7 = script_of("node-7")
    w.watch_scripts(7, [s7], Purpose.RECEIVE)
    bc = Broadcaster(src, w.db)
    raw = MINER.spend(coin, [(s7, 123_456)])
    txid = bc.submit(raw, now=1.0)
    assert mined.wait_mempool(1) == [txid[::-1].hex()]
    assert bc.tick(now=1.5) == []  # btcd: "already have transaction" is not a refusal
    follower.sync()
    assert follower.sync_mempool() == 1
    assert w.balance(7) == Balance(0, 123_456)
    [ev0] = w.events(7)
    assert (ev0.kind, ev0.height, ev0.outpoint) == (EventKind.RECEIVED, 0, OutPoint(txid, 0))
    [height] = [int(mined.call("getblock", h)["height"]) for h in mined.generate(1)]
    assert follower.sync().connected == 1
    follower.sync_mempool()
    assert w.balance(7) == Balance(123_456, 0)
    [_, ev] = w.events(7)
    assert (ev.kind, ev.value_sat, ev.outpoint, ev.height, ev.wake) == (
        EventKind.RECEIVED, 123_456, OutPoint(txid, 0), height, False,
    )  # fmt: skip
    assert bc.status(txid) == (2, height)
    mined.generate(5)
    follower.sync()
    [u] = w.utxos(7)
    tip = w.tip()
    assert tip is not None and tip.height == height + 5 and u.confirmations(tip.height) == 6
    assert len(w.events(7)) == 2 and w.balance(7).confirmed_sat == 123_456
    # A double spend of the same coin: refused by btcd, the reason recorded.
    with pytest.raises(TxRejected) as err:
        bc.submit(MINER.spend(coin, [(s7, 1)]), now=2.0)
    [rej] = bc.rejections(err.value.txid)
    assert "already been spent" in rej.reason or "spent" in rej.reason, rej.reason
    assert bc.tick(now=3.0)[0].reason == rej.reason  # still retried, still refused
    assert len(bc.rejections(err.value.txid)) == 2
    assert bc.tick(now=3.0) and bc.status(txid) == (2, height)  # the confirmed one is not resent
    # btcd has seen a fee-paying transaction confirm: its estimate, clamped to the ceiling.
    est = estimate_fee(src, 6, FeePolicy(floor=1012, ceiling=2000, fallback=1500))
    assert (est.sat_per_kvb, est.source, est.clamped) == (2000, "node", True)


def test_fresh_chain_fee_fallback_and_a_source_that_goes_away(
    btcd_installed: tb_paths.TestbedPaths, tmp_path: Path
) -> None:
    node = Btcd(tmp_path / "btcd", mining_address=BURN_ADDRESS)
    node.start()
    src = source_of(node)
    src.timeout = 2.0
    w = Watcher(ChainDb(tmp_path / "store.sqlite"))
    f = ChainFollower(src, w, start_height=0)
    # btcd answers estimatefee with 0 on a chain without fee data: the operator's fallback.
    est = estimate_fee(src, 6, FeePolicy(floor=1012, ceiling=100_000, fallback=5000))
    assert (est.sat_per_kvb, est.source) == (5000, "fallback")
    node.generate(3)
    assert f.sync().tip_height == 3
    node.stop()
    with pytest.raises(ChainUnavailable):
        f.sync()
    with pytest.raises(ChainUnavailable):
        src.broadcast(b"\x00")
    assert w.tip() is not None and w.tip().height == 3  # type: ignore[union-attr]


def test_reorg_between_two_btcds_undoes_the_lost_branch(
    btcd_installed: tb_paths.TestbedPaths, tmp_path: Path
) -> None:
    a = Btcd(tmp_path / "a", mining_address=MINER.address)
    b = Btcd(tmp_path / "b", mining_address=BURN_ADDRESS)
    try:
        a.start()
        b.start()
        a.generate(COINBASE_MATURITY + 5)
        join(a, b)
        part(a, b)
        src_a, src_b = source_of(a), source_of(b)
        coin, other = MINER.coinbase_coins(src_a, range(1, 3))
        w = Watcher(ChainDb(tmp_path / "store.sqlite"))
        s1, s2, s3 = script_of("node-1"), script_of("node-2"), script_of("node-3")
        w.watch_scripts(1, [s1], Purpose.RECEIVE)
        w.watch_scripts(2, [s2], Purpose.RECEIVE)
        w.watch_scripts(3, [s3], Purpose.RECEIVE)
        follower = ChainFollower(src_a, w)
        follower.sync()
        fork_height = a.getblockcount()
        # Branch A (will lose): coin -> node 1; a payment to node 3 that B also mines.
        lost = MINER.spend(coin, [(s1, 40_000)])
        both = MINER.spend(other, [(s3, 3_333)])
        src_a.broadcast(lost)
        src_a.broadcast(both)
        a.generate(2)
        follower.sync()
        assert (w.balance(1).confirmed_sat, w.balance(3).confirmed_sat) == (40_000, 3_333)
        # Branch B (wins, one block longer): the same coin double-spent to node 2.
        src_b.broadcast(MINER.spend(coin, [(s2, 30_000)]))
        src_b.broadcast(both)
        b.generate(3)
        join(a, b)
        res = follower.sync()
        assert (res.disconnected, res.connected) == (2, 3)
        assert w.tip() is not None and w.tip().height == fork_height + 3  # type: ignore[union-attr]
        assert w.balance(1).confirmed_sat == 0
        assert w.balance(2).confirmed_sat == 30_000
        assert w.balance(3).confirmed_sat == 3_333  # undone on A, found again on B
        assert [e.kind for e in w.events(1)] == [EventKind.RECEIVED, EventKind.UNDONE]
        kinds3 = [e.kind for e in w.events(3)]
        assert kinds3 == [EventKind.RECEIVED, EventKind.UNDONE, EventKind.RECEIVED]
        assert [e.outpoint.txid for e in w.events(1)] == [txid_of(lost)] * 2
    finally:
        b.stop()
        a.stop()
