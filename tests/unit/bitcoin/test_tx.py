"""Transactions: the BIP 143 examples' transactions parse and re-serialize byte for byte;
malformed input raises only TxDecodeError."""

from __future__ import annotations

import itertools

import pytest

from tests.unit.bitcoin.bip_vectors import bip143_transactions
from vajra.bitcoin.tx import OutPoint, Reader, Tx, TxDecodeError, TxIn, TxOut, ser_compact_size
from vajra.crypto.hashes import double_sha256

TXS = bip143_transactions()


@pytest.mark.parametrize(("example", "raw"), TXS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TXS)])
def test_bip143_transactions_round_trip(example: str, raw: bytes) -> None:
    tx = Tx.parse(raw)
    assert tx.serialize() == raw
    assert tx.wtxid == double_sha256(raw)
    if raw[4] == 0:  # BIP 144 form: the txid leaves marker, flag and witness out
        assert tx.has_witness and tx.txid != tx.wtxid
        assert Tx.parse(tx.serialize(witness=False)).without_witness() == tx.without_witness()
        assert tx.weight == 3 * len(tx.serialize(witness=False)) + len(raw)
    else:
        assert tx.txid == tx.wtxid == double_sha256(raw)
        assert tx.weight == 4 * len(raw)


def test_signed_and_unsigned_share_the_txid_when_only_witnesses_differ() -> None:
    # Where every input of an example is native segwit (empty scriptSig), signing adds
    # witnesses only and the txid stays; where one has a scriptSig, it changes.
    pairs = [(Tx.parse(a), Tx.parse(b)) for (n, a), (m, b) in itertools.pairwise(TXS) if n == m]
    same = [(u, s) for u, s in pairs if not u.has_witness and s.has_witness]
    assert len(same) >= 4
    for unsigned, signed in same:
        native = all(not i.script_sig for i in signed.inputs)
        assert (unsigned.txid == signed.txid) is native
        assert unsigned.txid_hex == unsigned.txid[::-1].hex()


@pytest.mark.parametrize(("example", "raw"), TXS[:4])
def test_every_truncation_is_a_decode_error(example: str, raw: bytes) -> None:
    for n in range(len(raw)):
        with pytest.raises(TxDecodeError):
            Tx.parse(raw[:n])


def test_malformed_transactions() -> None:
    raw = next(r for _, r in TXS if r[4] == 0)
    with pytest.raises(TxDecodeError, match="trailing"):
        Tx.parse(raw + b"\x00")
    with pytest.raises(TxDecodeError, match="flag"):
        Tx.parse(raw[:5] + b"\x02" + raw[6:])
    # all witnesses empty in the extended form: "superfluous witness record" (Bitcoin Core)
    tx = Tx.parse(raw).without_witness()
    body = tx.serialize(witness=False)
    empty = b"\x00" * len(tx.inputs)
    with pytest.raises(TxDecodeError, match="superfluous"):
        Tx.parse(body[:4] + b"\x00\x01" + body[4:-4] + empty + body[-4:])


def test_compact_size_is_canonical() -> None:
    for n in (0, 0xFC, 0xFD, 0xFFFF, 0x10000, 0xFFFF_FFFF, 0x1_0000_0000):
        assert Reader(ser_compact_size(n)).compact_size() == n
    for bad in (
        b"\xfd\xfc\x00",
        b"\xfe\xff\xff\x00\x00",
        b"\xff" + (0xFFFF_FFFF).to_bytes(8, "little"),
    ):
        with pytest.raises(TxDecodeError):
            Reader(bad).compact_size()
    # a count the input cannot hold is refused before anything is allocated
    with pytest.raises(TxDecodeError, match="exceeds"):
        Tx.parse(b"\x01\x00\x00\x00" + b"\xfe\xff\xff\xff\x00" + bytes(50))


def test_outpoint_forms() -> None:
    op = OutPoint(bytes(range(32)), 7)
    assert OutPoint.from_bytes(op.serialize()) == op
    assert OutPoint.from_str(str(op)) == op
    for bad in ("xx:1", "00:1", f"{bytes(32).hex()}", f"{bytes(32).hex()}:-1"):
        with pytest.raises(TxDecodeError):
            OutPoint.from_str(bad)


def test_build_and_parse() -> None:
    tx = Tx(
        2,
        (
            TxIn(
                OutPoint(b"\x11" * 32, 1), sequence=0xFFFFFFFD, witness=(b"\x30" * 71, b"\x02" * 33)
            ),
        ),
        (TxOut(50_000, b"\x00\x14" + b"\x22" * 20),),
        locktime=800_000,
    )
    assert Tx.parse(tx.serialize()) == tx
    assert tx.vsize == (tx.weight + 3) // 4


def test_huge_lengths_are_decode_errors() -> None:
    """Found by the fuzzer: a script length near 2^64 once overflowed an offset."""
    from vajra.bitcoin.block import parse_block, scan_block

    huge = b"\xff" + (2**64 - 1).to_bytes(8, "little")
    tx = b"\x01\x00\x00\x00\x01" + bytes(36) + huge + bytes(60)
    with pytest.raises(TxDecodeError):
        Tx.parse(tx)
    block = bytes(80) + b"\x01" + tx
    with pytest.raises(TxDecodeError):
        parse_block(block)
    with pytest.raises(TxDecodeError):
        scan_block(block)
    segwit = (
        b"\x01\x00\x00\x00\x00\x01\x01"
        + bytes(36)
        + b"\x00"
        + bytes(4)
        + b"\x00\x01"
        + huge
        + bytes(60)
    )
    with pytest.raises(TxDecodeError):
        Tx.parse(segwit)
