"""BIP 69: the BIP's two example transactions, shuffled, sort back to the printed order."""

from __future__ import annotations

import random

from tests.unit.bitcoin.bip_vectors import bip69_examples
from vajra.bitcoin.bip69 import sort_tx
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut


def test_examples_sort_back() -> None:
    examples = bip69_examples()
    assert len(examples) == 2 and len(examples[0][0]) == 17
    rng = random.Random(69)
    for ins, outs in examples:
        tx_in = [TxIn(OutPoint.from_str(f"{t}:{v}")) for t, v in ins]
        tx_out = [TxOut(a, s) for a, s in outs]
        for _ in range(20):
            shuffled_in, shuffled_out = tx_in[:], tx_out[:]
            rng.shuffle(shuffled_in)
            rng.shuffle(shuffled_out)
            tx = sort_tx(Tx(1, tuple(shuffled_in), tuple(shuffled_out)))
            assert [str(i.prevout) for i in tx.inputs] == [f"{t}:{v}" for t, v in ins]
            assert list(tx.outputs) == tx_out
