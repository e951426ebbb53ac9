"""Fuzz target: transaction decoding (`Tx.parse`, BIP 144 segwit form and legacy).

Invariants: only `VajraError`s; a transaction that parses re-serializes to exactly the
input; its BIP 143 sighashes compute for every input (any other exception is a crash).
"""

from __future__ import annotations

from vajra.bitcoin.sighash import SegwitV0Sighasher
from vajra.bitcoin.tx import Tx
from vajra.errors import VajraError


def seeds() -> list[bytes]:
    """Every transaction the BIP 143 examples print."""
    try:
        from tests.unit.bitcoin.bip_vectors import bip143_transactions

        return [raw for _, raw in bip143_transactions()]
    except OSError:
        return []


def fuzz_one(data: bytes) -> None:
    try:
        tx = Tx.parse(data)
    except VajraError:
        return
    if tx.serialize() != data:
        raise AssertionError("re-serializing a parsed transaction changed the bytes")
    h = SegwitV0Sighasher(tx)
    for n in range(len(tx.inputs)):
        for hash_type in (0x01, 0x02, 0x03, 0x81, 0x82, 0x83):
            h.sighash(n, tx.inputs[n].script_sig, tx.locktime, hash_type)
