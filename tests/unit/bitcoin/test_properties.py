"""Property tests: transactions, blocks and PSBTs round-trip; hostile bytes only ever
raise DecodeError subclasses (the fuzz targets' invariants, run here on random input)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import bitcoin_block, bitcoin_tx, psbt
from tests.unit.bitcoin.strategies import psbts, txs
from vajra.bitcoin.block import BlockHeader, merkle_root, parse_block, scan_block, serialize_block
from vajra.bitcoin.psbt import Psbt
from vajra.bitcoin.tx import Tx

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# PSBT examples are large nested structures (mostly generation time); the atheris
# target covers PSBT parsing far more widely in the fuzz run
PSBT_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(txs())
def test_tx_round_trip(tx: Tx) -> None:
    raw = tx.serialize()
    back = Tx.parse(raw)
    assert back == tx and back.serialize() == raw
    assert Tx.parse(tx.serialize(witness=False)) == tx.without_witness()
    assert back.txid == tx.without_witness().txid


@SETTINGS
@given(st.lists(txs(), min_size=1, max_size=5))
def test_block_scan_matches_parse(block_txs: list[Tx]) -> None:
    root = merkle_root([t.txid for t in block_txs])
    raw = serialize_block(BlockHeader.parse(bytes(36) + root + bytes(12)), block_txs)
    block = parse_block(raw)
    assert list(block.txs) == block_txs
    _, scanned = scan_block(raw)
    assert [s.txid for s in scanned] == [t.txid for t in block_txs]
    assert [s.prevouts for s in scanned] == [
        [i.prevout.serialize() for i in t.inputs] for t in block_txs
    ]
    assert [s.outputs for s in scanned] == [
        [(o.script_pubkey, o.amount_sat) for o in t.outputs] for t in block_txs
    ]


@PSBT_SETTINGS
@given(psbts())
def test_psbt_round_trip(p: Psbt) -> None:
    raw = p.serialize()
    back = Psbt.parse(raw)
    assert back == p
    assert back.serialize() == raw
    assert Psbt.from_base64(p.to_base64()) == p
    assert p.combine(back) == p


@SETTINGS
@given(st.binary(max_size=400))
def test_decoders_on_random_bytes(data: bytes) -> None:
    bitcoin_tx.fuzz_one(data)
    bitcoin_block.fuzz_one(data)
    psbt.fuzz_one(data)


@PSBT_SETTINGS
@given(psbts(), st.data())
def test_psbt_mutations_only_raise_decode_errors(p: Psbt, data: st.DataObject) -> None:
    raw = bytearray(p.serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    psbt.fuzz_one(bytes(raw))
