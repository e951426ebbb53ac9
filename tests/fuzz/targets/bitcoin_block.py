"""Fuzz target: block decoding, both the full parser and the watcher's `scan_block`.

Invariants: only `VajraError`s; `match_block` watching everything agrees with
`scan_block`; the two accept exactly the same inputs except that the
full parser also refuses a "superfluous" all-empty witness section; where both accept,
they agree on every txid, prevout and output.
"""

from __future__ import annotations

from vajra.bitcoin.block import match_block, parse_block, scan_block
from vajra.errors import VajraError


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


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
        # watch every script and outpoint: match_block must then agree with scan_block
        _, matched = match_block(data, _Everything(), _Everything())
    except VajraError:
        matched = None
    if (matched is None) != (scanned is None):
        raise AssertionError("match_block and scan_block disagree on validity")
    if scanned is not None and matched is not None:
        hit = [s for s in scanned if s.prevouts or s.outputs]
        if [m.txid for m in matched] != [s.txid for s in hit]:
            raise AssertionError("match_block and scan_block disagree on txids")
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
