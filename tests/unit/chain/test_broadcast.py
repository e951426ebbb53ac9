"""The broadcaster over an in-memory chain: resend until a scanned block confirms,
every refusal kept with its reason, a cap on resends, a source that is away."""

from __future__ import annotations

from pathlib import Path

import pytest

from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.chain.broadcast import Broadcaster
from vajra.chain.db import ChainDb
from vajra.chain.follower import ChainFollower
from vajra.chain.types import ChainDataError, ChainUnavailable, TxRejected
from vajra.chain.watcher import Watcher

from .memchain import MemoryChain

TX = Tx(2, (TxIn(OutPoint(b"\x01" * 32, 0)),), (TxOut(1000, b"\x00\x14" + b"\x05" * 20),))


class Refusing(MemoryChain):
    def broadcast(self, raw_tx: bytes) -> None:
        self._check()
        raise TxRejected(b"", "TX rejected: min relay fee not met", -26)


def test_resend_until_a_block_confirms(tmp_path: Path) -> None:
    src = MemoryChain()
    w = Watcher(ChainDb(tmp_path / "s.sqlite"))
    f = ChainFollower(src, w, start_height=0)
    f.sync()
    bc = Broadcaster(src, w.db)
    txid = bc.submit(TX.serialize(), now=1.0)
    assert txid == TX.txid and bc.tick(2.0) == [] and bc.status(txid) == (2, None)
    src.mine_mempool()
    f.sync()
    assert bc.status(txid) == (2, 1)
    assert bc.tick(3.0) == [] and bc.status(txid) == (2, 1)  # confirmed: not resent
    with pytest.raises(ChainDataError):
        bc.submit(b"\x01\x02", now=4.0)


def test_every_refusal_is_kept_and_resends_are_capped(tmp_path: Path) -> None:
    src = Refusing()
    bc = Broadcaster(src, ChainDb(tmp_path / "s.sqlite"), max_attempts=3)
    with pytest.raises(TxRejected) as e:
        bc.submit(TX.serialize(), now=1.0)
    assert e.value.txid == TX.txid
    assert [r.reason for r in bc.tick(2.0)] == ["TX rejected: min relay fee not met"]
    bc.tick(3.0)
    assert bc.tick(4.0) == []  # three sends: no more
    rej = bc.rejections(TX.txid)
    assert [(r.at, r.code) for r in rej] == [(1.0, -26), (2.0, -26), (3.0, -26)]
    src.down = True
    assert bc.drop(TX.txid) and bc.status(TX.txid) is None and len(bc.rejections(TX.txid)) == 3
    bc2 = Broadcaster(src, bc.db)
    bc2.db.query("SELECT 1")
    with pytest.raises(ChainUnavailable):
        bc2.submit(TX.serialize(), now=5.0)
    assert bc2.status(TX.txid) == (1, None)  # stored before the send: retried later
