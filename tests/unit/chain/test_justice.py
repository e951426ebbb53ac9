"""The justice store in the shared watcher: sealed kits of real penalty transactions
(BOLT 3 Appendix C keys), found when the revoked commitment's txid is mined, sent at
once with no node and no signer, escalated, pruned, kept across a restart."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.unit.channel.test_bolt3_transactions import C_VECTORS, KEYS, _commitment
from tests.unit.channel.test_penalty import WALLET, _revocation_privkey
from vajra.bitcoin.tx import Tx
from vajra.chain.db import ChainDb
from vajra.chain.justice import ESCALATE_BLOCKS
from vajra.chain.justice_kit import (
    JusticeKitError,
    breach_hint,
    decode_kit,
    encode_kit,
    kit_from_txs,
    kit_txs,
    open_blob,
    seal,
)
from vajra.chain.watcher import Watcher
from vajra.channel.penalty import build_penalty, commitment_penalty, sign_penalty
from vajra.crypto.aead import AuthenticationError


class ScanTx(NamedTuple):
    txid: bytes
    prevouts: list[bytes]
    outputs: list[tuple[bytes, int]]


def _penalties(vector: int) -> tuple[Tx, list[Tx]]:
    """The revoked commitment and its penalty at 2,500 and at 25,000 sat/kw."""
    revoked = _commitment(C_VECTORS[vector], anchors=False)
    plan = commitment_penalty(revoked, KEYS.revocation_pubkey)
    txs = [
        sign_penalty(plan, build_penalty(plan, WALLET, f), _revocation_privkey())
        for f in (2_500, 25_000)
    ]
    return revoked.tx, txs


def _scan(tx: Tx) -> ScanTx:
    return ScanTx(
        tx.txid,
        [i.prevout.serialize() for i in tx.inputs],
        [(o.script_pubkey, o.amount_sat) for o in tx.outputs],
    )


@pytest.mark.parametrize("vector", [0, 1, 5])
def test_kit_round_trip_gives_back_the_signed_transactions(vector: int) -> None:
    revoked, txs = _penalties(vector)
    kit = kit_from_txs(revoked.txid, txs)
    raw = encode_kit(kit)
    assert decode_kit(raw) == kit
    assert kit_txs(decode_kit(raw), revoked.txid) == txs
    hint, blob = seal(raw, revoked.txid, secrets.randbits(64))
    assert hint == breach_hint(revoked.txid)
    assert open_blob(blob, revoked.txid) == raw
    with pytest.raises(AuthenticationError):
        open_blob(blob, txs[0].txid)  # another txid: another key
    with pytest.raises(JusticeKitError):
        decode_kit(raw[:-1])
    with pytest.raises(JusticeKitError):
        decode_kit(raw + b"\x00")
    # the sealed blob of a state without HTLCs fits the 512 B budget with room to spare
    if vector == 0:
        assert len(blob) + len(hint) < 400


def test_kit_refuses_transactions_that_are_not_variants_of_one_penalty() -> None:
    revoked, txs = _penalties(1)
    _, other = _penalties(0)
    with pytest.raises(JusticeKitError):
        kit_from_txs(revoked.txid, [txs[0], other[0]])
    with pytest.raises(JusticeKitError):
        kit_from_txs(other[0].txid, txs)  # does not spend that txid
    with pytest.raises(JusticeKitError):
        kit_from_txs(revoked.txid, [])


def _watcher(db: ChainDb, sent: list[bytes]) -> Watcher:
    w = Watcher(db)
    w.on_send(sent.append)
    return w


def _mine(w: Watcher, height: int, txs: list[ScanTx]) -> None:
    tip = w.tip()
    prev = tip.block_hash if tip else bytes(32)
    w.connect_block(height, height.to_bytes(32, "little"), prev, txs)


def test_breach_in_a_block_sends_the_penalty_at_once_then_escalates(tmp_path: Path) -> None:
    db = ChainDb(tmp_path / "store.sqlite")
    sent: list[bytes] = []
    w = _watcher(db, sent)
    revoked, txs = _penalties(1)
    hint, blob = seal(encode_kit(kit_from_txs(revoked.txid, txs)), revoked.txid, 7)
    w.justice.add(5, 1, hint, blob)
    # other nodes' kits for other commitments share the index
    for n in range(50):
        other = bytes([n]) * 32
        w.justice.add(n, 9, *seal(b"junk", other, n))
    assert len(w.justice) == 51
    _mine(w, 100, [ScanTx(bytes([9]) * 32, [], [])])
    assert sent == []
    _mine(w, 101, [_scan(revoked)])
    assert sent == [txs[0].serialize()]  # the headroom variant, in the block's commit
    queued = db.query("SELECT txid FROM chain_broadcasts WHERE confirmed_height IS NULL")
    assert [bytes(r[0]) for r in queued] == [txs[0].txid]
    for height in range(102, 101 + ESCALATE_BLOCKS):
        _mine(w, height, [])
    assert len(sent) == 1
    _mine(w, 101 + ESCALATE_BLOCKS, [])
    assert sent[1:] == [txs[1].serialize()]  # not confirmed: the high feerate replaces it
    queued = db.query("SELECT txid FROM chain_broadcasts WHERE confirmed_height IS NULL")
    assert [bytes(r[0]) for r in queued] == [txs[1].txid]


def test_no_escalation_once_the_penalty_confirms_and_restart_keeps_kits(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    revoked, txs = _penalties(1)
    w = _watcher(ChainDb(path), [])
    w.justice.add(5, 1, *seal(encode_kit(kit_from_txs(revoked.txid, txs)), revoked.txid, 1))
    w.db.close()
    sent: list[bytes] = []
    w = _watcher(ChainDb(path), sent)  # a restart: the index is rebuilt from the store
    assert len(w.justice) == 1
    _mine(w, 10, [_scan(revoked)])
    _mine(w, 11, [_scan(txs[0])])  # the penalty confirms
    for height in range(12, 12 + 2 * ESCALATE_BLOCKS):
        _mine(w, height, [])
    assert sent == [txs[0].serialize()]


def test_prune_on_close_forgets_the_channel(tmp_path: Path) -> None:
    sent: list[bytes] = []
    w = _watcher(ChainDb(tmp_path / "store.sqlite"), sent)
    revoked, txs = _penalties(1)
    sealed = seal(encode_kit(kit_from_txs(revoked.txid, txs)), revoked.txid, 3)
    w.justice.add(5, 1, *sealed)
    w.justice.add(6, 2, *seal(b"x", bytes(32), 4))
    assert w.justice.prune_channel(5, 1) == 1
    assert w.justice.prune_channel(5, 1) == 0
    assert len(w.justice) == 1 and w.justice.kits_of(6) == 1
    _mine(w, 1, [_scan(revoked)])
    assert sent == []


def test_a_hint_collision_is_skipped(tmp_path: Path) -> None:
    """A blob stored under the hint of a txid but sealed for another (what a 16-byte
    collision would look like) fails its AEAD and sends nothing."""
    sent: list[bytes] = []
    w = _watcher(ChainDb(tmp_path / "store.sqlite"), sent)
    revoked, txs = _penalties(1)
    _, blob = seal(encode_kit(kit_from_txs(revoked.txid, txs)), revoked.txid, 3)
    w.justice.add(5, 1, breach_hint(bytes([1]) * 32), blob)
    _mine(w, 1, [ScanTx(bytes([1]) * 32, [], [])])
    assert sent == []


def test_kits_go_once_the_channels_close_is_deeper_than_a_reorg(tmp_path: Path) -> None:
    """Stored with the funding outpoint, a channel's kits stay while its close could be
    reorged away and go when the watcher prunes the spent funding output."""
    from vajra.bitcoin.tx import OutPoint
    from vajra.chain.types import Purpose

    sent: list[bytes] = []
    w = _watcher(ChainDb(tmp_path / "store.sqlite"), sent)
    funding_script = b"\x00\x20" + bytes(range(32))
    w.watch_scripts(5, [funding_script], Purpose.FUNDING)
    fund = ScanTx(b"\xf0" * 32, [], [(funding_script, 100_000)])
    _mine(w, 1, [fund])
    funding = OutPoint(fund.txid, 0).serialize()
    revoked, txs = _penalties(1)
    sealed = seal(encode_kit(kit_from_txs(revoked.txid, txs)), revoked.txid, 3)
    w.justice.add(5, 1, *sealed, funding=funding)
    w.justice.add(6, 1, *seal(b"other", bytes(32), 4), funding=bytes(36))
    close = ScanTx(b"\xc1" * 32, [funding], [(b"\x51", 99_000)])
    _mine(w, 2, [close])
    for h in range(3, 6):
        _mine(w, h, [])
    w.prune(keep_depth=10)  # the close is 4 deep: a reorg could still undo it
    assert w.justice.kits_of(5) == 1
    w.prune(keep_depth=3)
    assert w.justice.kits_of(5) == 0 and w.justice.kits_of(6) == 1
    assert len(w.justice) == 1
    _mine(w, 6, [_scan(revoked)])
    assert sent == []
