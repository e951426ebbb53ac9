"""BIP 69 canonical ordering of inputs and outputs.

Inputs: "Previous transaction hashes (in reversed byte-order) are to be sorted in
ascending order, lexicographically", then by output index. Outputs: by amount, then by
scriptPubKey bytes. Both sorts are stable, so equal elements keep their order (BOLT 3
breaks the remaining tie of HTLC outputs by `cltv_expiry` on its own).
"""

from __future__ import annotations

from collections.abc import Iterable

from vajra.bitcoin.tx import Tx, TxIn, TxOut


def input_key(txin: TxIn) -> tuple[bytes, int]:
    return txin.prevout.txid[::-1], txin.prevout.vout


def output_key(txout: TxOut) -> tuple[int, bytes]:
    return txout.amount_sat, txout.script_pubkey


def sort_inputs(inputs: Iterable[TxIn]) -> tuple[TxIn, ...]:
    return tuple(sorted(inputs, key=input_key))


def sort_outputs(outputs: Iterable[TxOut]) -> tuple[TxOut, ...]:
    return tuple(sorted(outputs, key=output_key))


def sort_tx(tx: Tx) -> Tx:
    """`tx` with BIP 69 ordered inputs and outputs."""
    return Tx(tx.version, sort_inputs(tx.inputs), sort_outputs(tx.outputs), tx.locktime)
