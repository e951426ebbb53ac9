"""The watcher without processes: scan, events, balances, reorg undo, restart, wakes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import pytest

from vajra.chain.db import ChainDb
from vajra.chain.types import ChainDataError, ChainEvent, EventKind, OutPoint, Purpose
from vajra.chain.watcher import Watcher


class Tx(NamedTuple):
    txid: bytes
    prevouts: list[bytes]
    outputs: list[tuple[bytes, int]]


def h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def p2wpkh(label: str) -> bytes:
    return b"\x00\x14" + h(label)[:20]


def op(txid: bytes, vout: int) -> bytes:
    return txid + vout.to_bytes(4, "little")


ALICE, BOB = 3, 1_000_000
A1, A2, B1 = p2wpkh("alice-1"), p2wpkh("alice-2"), p2wpkh("bob-1")
STRANGER = p2wpkh("stranger")


@pytest.fixture
def db(tmp_path: Path) -> ChainDb:
    return ChainDb(tmp_path / "store.sqlite")


def chain(w: Watcher, blocks: list[list[Tx]], start: int = 1, tag: str = "main") -> list[bytes]:
    hashes = []
    for i, txs in enumerate(blocks):
        tip = w.tip()
        prev = tip.block_hash if tip else h("genesis")
        bh = h(f"{tag}-{start + i}")
        w.connect_block(start + i, bh, prev, txs)
        hashes.append(bh)
    return hashes


def test_receive_and_spend_make_events_and_exact_balances(db: ChainDb) -> None:
    w = Watcher(db)
    assert w.watch_scripts(ALICE, [A1, A2], Purpose.RECEIVE) == 2
    assert w.watch_scripts(ALICE, [A1], Purpose.RECEIVE) == 0
    assert w.watch_scripts(BOB, [B1], Purpose.RECEIVE) == 1
    fund = Tx(h("fund"), [op(h("coinbase"), 0)], [(A1, 50_000), (STRANGER, 7), (B1, 1_234)])
    chain(w, [[fund]])
    assert w.balance(ALICE).confirmed_sat == 50_000
    assert w.balance(BOB).confirmed_sat == 1_234
    [ev] = w.events(ALICE)
    assert (ev.kind, ev.value_sat, ev.outpoint, ev.height, ev.wake) == (
        EventKind.RECEIVED, 50_000, OutPoint(fund.txid, 0), 1, False,
    )  # fmt: skip
    # Alice spends to Bob and back to her own change address, in the next block.
    spend = Tx(h("spend"), [op(fund.txid, 0)], [(B1, 20_000), (A2, 29_000)])
    chain(w, [[spend]], start=2)
    assert w.balance(ALICE).confirmed_sat == 29_000
    assert w.balance(BOB).confirmed_sat == 21_234
    kinds = [(e.kind, e.height) for e in w.events(ALICE)]
    assert kinds == [(EventKind.RECEIVED, 1), (EventKind.SPENT, 2), (EventKind.RECEIVED, 2)]
    [u] = w.utxos(ALICE)
    assert u.outpoint == OutPoint(spend.txid, 1) and u.confirmations(w.tip().height) == 1  # type: ignore[union-attr]
    assert w.ack_events(ALICE, w.events(ALICE)[-1].seq) == 3
    assert w.events(ALICE) == []


def test_reorg_undoes_the_lost_branch_and_balances_come_out_exact(db: ChainDb) -> None:
    w = Watcher(db)
    w.watch_scripts(ALICE, [A1, A2], Purpose.RECEIVE)
    fund = Tx(h("fund"), [], [(A1, 10_000)])
    spend = Tx(h("spend"), [op(fund.txid, 0)], [(STRANGER, 9_000)])
    lost = Tx(h("lost"), [], [(A2, 555)])
    chain(w, [[fund], [spend, lost], [Tx(h("x"), [], [(A2, 1)])]])
    assert w.balance(ALICE).confirmed_sat == 556
    undone = w.disconnect_tip() + w.disconnect_tip()
    assert [e.kind for e in undone] == [EventKind.UNDONE] * 3
    assert w.balance(ALICE).confirmed_sat == 10_000  # the spend is undone too
    assert w.tip().height == 1  # type: ignore[union-attr]
    # The winning branch: the spend never happens, a different payment arrives.
    other = Tx(h("other"), [], [(A2, 777)])
    chain(w, [[other], [], []], start=2, tag="fork")
    assert w.balance(ALICE).confirmed_sat == 10_777
    evs = w.events(ALICE)
    undo = {e.undoes_seq for e in evs if e.kind is EventKind.UNDONE}
    live = [e for e in evs if e.kind is not EventKind.UNDONE and e.seq not in undo]
    assert sorted(e.value_sat for e in live) == [777, 10_000]


def test_receive_and_spend_in_one_block_then_disconnect(db: ChainDb) -> None:
    w = Watcher(db)
    w.watch_scripts(ALICE, [A1], Purpose.RECEIVE)
    a = Tx(h("a"), [], [(A1, 100)])
    b = Tx(h("b"), [op(a.txid, 0)], [(A1, 90)])
    chain(w, [[a, b]])
    assert w.balance(ALICE).confirmed_sat == 90
    w.disconnect_tip()
    assert w.balance(ALICE).confirmed_sat == 0 and w.utxos(ALICE) == []
    assert w.tip() is None


def test_funding_spend_wakes_the_owner_and_wallet_receipts_do_not(db: ChainDb) -> None:
    w = Watcher(db)
    woken: list[tuple[int, ChainEvent]] = []
    w.on_wake(lambda n, e: woken.append((n, e)))
    funding = OutPoint(h("funding"), 1)
    w.watch_outpoints(BOB, [funding], Purpose.FUNDING)
    w.watch_scripts(ALICE, [A1], Purpose.RECEIVE)
    close = Tx(h("close"), [funding.serialize()], [(A1, 5)])
    chain(w, [[close]])
    assert [(n, e.kind, e.txid) for n, e in woken] == [(BOB, EventKind.SPENT, close.txid)]
    w.disconnect_tip()
    assert [e.kind for _, e in woken] == [EventKind.SPENT, EventKind.UNDONE]


def test_restart_resumes_from_the_cursor_with_the_index_rebuilt(tmp_path: Path) -> None:
    db = ChainDb(tmp_path / "s.sqlite")
    w = Watcher(db)
    w.watch_scripts(ALICE, [A1], Purpose.RECEIVE)
    fund = Tx(h("fund"), [], [(A1, 42)])
    chain(w, [[fund], []])
    db.close()
    w2 = Watcher(ChainDb(tmp_path / "s.sqlite"))
    assert w2.tip() == w.tip()
    assert len(w2.index) == 2  # the script and the credited outpoint
    chain(w2, [[Tx(h("spend"), [op(fund.txid, 0)], [])]], start=3)
    assert w2.balance(ALICE).confirmed_sat == 0
    assert [e.kind for e in w2.events(ALICE)] == [EventKind.RECEIVED, EventKind.SPENT]


def test_a_block_that_does_not_extend_the_tip_is_refused(db: ChainDb) -> None:
    w = Watcher(db)
    chain(w, [[]])
    with pytest.raises(ChainDataError):
        w.connect_block(2, h("b2"), h("not-the-tip"), [])
    with pytest.raises(ChainDataError):
        w.connect_block(3, h("b3"), w.tip().block_hash, [])  # type: ignore[union-attr]


def test_broadcast_confirmation_is_recorded_and_undone(db: ChainDb) -> None:
    w = Watcher(db)
    tx = Tx(h("mine"), [], [])
    with db.tx() as c:
        c.execute("INSERT INTO chain_broadcasts (txid, raw) VALUES (?, ?)", (tx.txid, b"raw"))
    chain(w, [[tx]])
    assert db.query("SELECT confirmed_height FROM chain_broadcasts") == [(1,)]
    w.disconnect_tip()
    assert db.query("SELECT confirmed_height FROM chain_broadcasts") == [(None,)]


def test_a_failed_batch_leaves_nothing_and_holds_its_wakes(db: ChainDb) -> None:
    w = Watcher(db)
    woken: list[ChainEvent] = []
    w.on_wake(lambda n, e: woken.append(e))
    funding = OutPoint(h("funding"), 0)
    w.watch_outpoints(BOB, [funding], Purpose.FUNDING)
    chain(w, [[]])
    with pytest.raises(RuntimeError), w.batch():
        chain(w, [[Tx(h("close"), [funding.serialize()], [])], []], start=2)
        assert woken == []  # held until the run commits
        raise RuntimeError("source went away mid-run")
    assert woken == [] and w.events(BOB) == [] and w.tip().height == 1  # type: ignore[union-attr]
    with w.batch():
        chain(w, [[Tx(h("close"), [funding.serialize()], [])], []], start=2)
        assert woken == []
    assert [e.kind for e in woken] == [EventKind.SPENT] and w.tip().height == 3  # type: ignore[union-attr]


def test_prune_forgets_deeply_spent_outputs_and_acked_events(db: ChainDb) -> None:
    w = Watcher(db)
    w.watch_scripts(ALICE, [A1], Purpose.RECEIVE)
    fund = Tx(h("fund"), [], [(A1, 10)])
    keep = Tx(h("keep"), [], [(A1, 20)])
    chain(w, [[fund, keep], [Tx(h("spend"), [op(fund.txid, 0)], [])]])
    chain(w, [[] for _ in range(10)], start=3)
    assert len(w.index) == 3  # the script and two credited outpoints
    w.ack_events(ALICE, 10**9)
    assert w.prune(keep_depth=5) == 1
    assert len(w.index) == 2 and w.balance(ALICE).confirmed_sat == 20
    assert db.query("SELECT count(*) FROM chain_events") == [(0,)]
    assert db.query("SELECT min(height) FROM chain_blocks") == [(8,)]
    w2 = Watcher(ChainDb(db.path))  # the pruned outpoint is gone from the store too
    assert len(w2.index) == 2


def test_a_channel_funding_output_wakes_its_node_and_is_not_wallet_balance(db: ChainDb) -> None:
    """A hosted node watches its channel's funding script (decision 0020): the output
    confirming is a waking FUNDING event, but the node's wallet cannot spend it, so it is
    not in the balance."""
    w = Watcher(db)
    woken: list[tuple[int, ChainEvent]] = []
    w.on_wake(lambda n, e: woken.append((n, e)))
    funding_script = b"\x00\x20" + h("2-of-2")
    w.watch_scripts(ALICE, [funding_script], Purpose.FUNDING)
    w.watch_scripts(ALICE, [A1], Purpose.RECEIVE)
    fund = Tx(h("lnd funds"), [op(h("coinbase"), 0)], [(funding_script, 100_000), (A1, 700)])
    chain(w, [[fund]])
    assert [(n, e.kind, e.purpose, e.height) for n, e in woken] == [
        (ALICE, EventKind.RECEIVED, Purpose.FUNDING, 1)
    ]
    assert w.balance(ALICE).confirmed_sat == 700  # the wallet's output only


def test_unwatched_scripts_and_outpoints_are_no_longer_news_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    """A closed channel's funding script and outpoint leave the index and `chain_watch`
    (decision 0029); another node watching the same script keeps it."""
    db = ChainDb(tmp_path / "s.sqlite")
    w = Watcher(db)
    script = b"\x00\x20" + h("2-of-2")
    w.watch_scripts(ALICE, [script], Purpose.FUNDING)
    w.watch_scripts(BOB, [script], Purpose.FUNDING)
    fund = Tx(h("fund"), [op(h("coinbase"), 0)], [(script, 100_000)])
    chain(w, [[fund]])
    funding = OutPoint(fund.txid, 0)
    assert w.unwatch_scripts(ALICE, [script]) == 1
    assert w.unwatch_outpoints(ALICE, [funding]) == 1
    assert w.unwatch_outpoints(ALICE, [funding]) == 0
    w = Watcher(ChainDb(tmp_path / "s.sqlite"))  # the index rebuilt from chain_watch
    close = Tx(h("close"), [funding.serialize()], [(script, 99_000)])
    chain(w, [[close]], start=2)
    assert {(e.node_index, e.kind) for e in w.events(ALICE)} == {(ALICE, EventKind.RECEIVED)}
    kinds = [e.kind for e in w.events(BOB)]
    assert kinds == [EventKind.RECEIVED, EventKind.SPENT, EventKind.RECEIVED]
