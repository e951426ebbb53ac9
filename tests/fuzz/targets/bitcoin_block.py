"""Fuzz target: block decoding, both the full parser and the watcher's `scan_block`.

Invariants: only `VajraError`s; the two accept exactly the same inputs except that the
full parser also refuses a "superfluous" all-empty witness section; where both accept,
they agree on every txid, prevout and output.
"""

from __future__ import annotations

from vajra.bitcoin.block import parse_block, scan_block
from vajra.errors import VajraError


def seeds() -> list[bytes]:
    """A block made of the BIP 143 example transactions."""
    try:
        from tests.unit.bitcoin.bip_vectors import bip143_transactions
        from vajra.bitcoin.block import BlockHeader, serialize_block
        from vajra.bitcoin.tx import Tx

        txs = [Tx.parse(raw) for _, raw in bip143_transactions()]
    except OSError:
        return []
    header = BlockHeader.parse(bytes(80))
    return [serialize_block(header, txs[:k]) for k in (1, 2, len(txs))]


def fuzz_one(data: bytes) -> None:
    try:
        _, scanned = scan_block(data)
    except VajraError:
        scanned = None
    try:
        block = parse_block(data)
    except VajraError:
        return
    if scanned is None:
        raise AssertionError("scan_block refused a block parse_block accepts")
    for s, tx in zip(scanned, block.txs, strict=True):
        if s.txid != tx.txid:
            raise AssertionError("scan_block and parse_block disagree on a txid")
        if s.prevouts != [i.prevout.serialize() for i in tx.inputs]:
            raise AssertionError("scan_block and parse_block disagree on prevouts")
        if s.outputs != [(o.script_pubkey, o.amount_sat) for o in tx.outputs]:
            raise AssertionError("scan_block and parse_block disagree on outputs")
