"""Blocks: the lean scanner agrees with the full parser; malformed blocks are typed errors."""

from __future__ import annotations

import pytest

from tests.unit.bitcoin.bip_vectors import bip143_transactions
from vajra.bitcoin.block import (
    BlockHeader,
    match_block,
    merkle_root,
    parse_block,
    scan_block,
    serialize_block,
)
from vajra.bitcoin.tx import Tx, TxDecodeError

TXS = [Tx.parse(r) for _, r in bip143_transactions()]


def _block(txs: list[Tx]) -> bytes:
    root = merkle_root([t.txid for t in txs])
    header = BlockHeader.parse(b"\x00" * 4 + b"\x11" * 32 + root + bytes(12))
    return serialize_block(header, txs)


def test_scan_agrees_with_parse() -> None:
    raw = _block(TXS)
    block = parse_block(raw)
    header, scanned = scan_block(raw)
    assert header == block.header and len(scanned) == len(TXS)
    assert merkle_root([s.txid for s in scanned]) == header.merkle_root
    for s, tx in zip(scanned, block.txs, strict=True):
        assert s.txid == tx.txid
        assert s.prevouts == [i.prevout.serialize() for i in tx.inputs]
        assert s.outputs == [(o.script_pubkey, o.amount_sat) for o in tx.outputs]
    assert header.serialize() == raw[:80]
    assert len(header.block_hash_hex) == 64


def test_every_truncation_is_a_decode_error() -> None:
    raw = _block(TXS[:3])
    for n in range(len(raw)):
        with pytest.raises(TxDecodeError):
            scan_block(raw[:n])
        with pytest.raises(TxDecodeError):
            parse_block(raw[:n])
    for extra in (b"\x00", b"\x01\x02"):
        with pytest.raises(TxDecodeError):
            scan_block(raw + extra)
        with pytest.raises(TxDecodeError):
            parse_block(raw + extra)


def test_forged_counts() -> None:
    raw = _block(TXS[:1])
    with pytest.raises(TxDecodeError):
        scan_block(raw[:80] + b"\xfe\xff\xff\xff\x7f" + raw[81:])
    with pytest.raises(TxDecodeError):
        parse_block(raw[:80] + b"\xfe\xff\xff\xff\x7f" + raw[81:])


def test_merkle_root_odd_level() -> None:
    a, b, c = (bytes([i]) * 32 for i in range(3))
    from vajra.crypto.hashes import double_sha256

    ab, cc = double_sha256(a + b), double_sha256(c + c)
    assert merkle_root([a, b, c]) == double_sha256(ab + cc)
    assert merkle_root([a]) == a


def test_match_block_finds_what_scan_block_sees() -> None:
    raw = _block(TXS)
    _, scanned = scan_block(raw)
    # watch one output script of every other transaction and one spent outpoint of others
    scripts = {s.outputs[0][0] for s in scanned[::2] if s.outputs}
    outpoints = {s.prevouts[-1] for s in scanned[1::2]}
    header, matches = match_block(raw, scripts, outpoints)
    assert header == parse_block(raw).header
    expected = []
    for k, s in enumerate(scanned):
        spends = [(j, op) for j, op in enumerate(s.prevouts) if op in outpoints]
        pays = [(j, sc, v) for j, (sc, v) in enumerate(s.outputs) if sc in scripts]
        if spends or pays:
            expected.append((k, s.txid, spends, pays))
    assert [tuple(m) for m in matches] == expected and len(expected) >= len(scanned) // 2
    assert match_block(raw, set(), set())[1] == []
    for n in range(0, len(raw), 7):
        with pytest.raises(TxDecodeError):
            match_block(raw[:n], scripts, outpoints)
