"""Coin selection and the unsigned spend, sans-IO.

Selection is largest-first over the node's confirmed coins (few inputs, so small fees
and small PSBTs for the signer link), deterministic for a given coin set. Sizes are
BIP 141 virtual bytes of P2WPKH spends: 10.5 vB of transaction overhead (version,
locktime, counts, segwit marker and flag), 68 vB per P2WPKH input (41 bytes + a
107-weight witness, rounded up), 8 + 1 + len(script) vB per output. The fee is
ceil(vbytes * sat_per_kvb / 1000), never below the 1 sat/vB relay floor.

Change: if what is left after the amount and the fee (with a change output) is at least
`DUST_SAT`, it goes to a fresh change address of the node's own wallet; otherwise it is
left to the fee (and no change output is made). Inputs and outputs are in BIP 69 order;
inputs signal replaceability (BIP 125, nSequence 0xFFFFFFFD).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.bip69 import sort_inputs, sort_outputs
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.errors import VajraError

TX_OVERHEAD_VB = 10.5
P2WPKH_INPUT_VB = 68
DUST_SAT = 546
MIN_RELAY_SAT_PER_KVB = 1000
SEQUENCE_RBF = 0xFFFF_FFFD


class InsufficientFunds(VajraError):
    """The node's confirmed coins do not cover the amount and the fee."""

    def __init__(self, needed_sat: int, available_sat: int) -> None:
        self.needed_sat = needed_sat
        self.available_sat = available_sat
        super().__init__(f"needs {needed_sat} sat, {available_sat} sat available")


@dataclass(frozen=True, slots=True)
class Coin:
    """A spendable output of the node's wallet and the key path that spends it."""

    outpoint: OutPoint
    value_sat: int
    script_pubkey: bytes
    change: int
    index: int


@dataclass(frozen=True, slots=True)
class Spend:
    """An unsigned spend: the transaction, the coins of its inputs (in input order) and
    the index of the change output (None: no change)."""

    tx: Tx
    coins: tuple[Coin, ...]
    change_output: int | None
    fee_sat: int


def output_vbytes(script: bytes) -> int:
    return 8 + 1 + len(script)


def fee_for(n_inputs: int, output_scripts: Sequence[bytes], sat_per_kvb: int) -> int:
    vb = TX_OVERHEAD_VB + P2WPKH_INPUT_VB * n_inputs + sum(map(output_vbytes, output_scripts))
    rate = max(sat_per_kvb, MIN_RELAY_SAT_PER_KVB)
    return math.ceil(vb * rate / 1000)


def build_spend(
    coins: Sequence[Coin],
    destination: bytes,
    amount_sat: int,
    sat_per_kvb: int,
    change_script: bytes,
) -> Spend:
    """Select coins and build the unsigned transaction paying `amount_sat` to
    `destination`. `InsufficientFunds` if the coins cannot pay amount and fee."""
    if amount_sat < 1:
        raise ValueError("amount_sat must be positive")
    ordered = sorted(coins, key=lambda c: (-c.value_sat, c.outpoint.txid, c.outpoint.vout))
    chosen: list[Coin] = []
    total = 0
    for coin in ordered:
        chosen.append(coin)
        total += coin.value_sat
        fee_change = fee_for(len(chosen), (destination, change_script), sat_per_kvb)
        fee_plain = fee_for(len(chosen), (destination,), sat_per_kvb)
        if total - amount_sat - fee_change >= DUST_SAT:
            change = total - amount_sat - fee_change
            return _spend(chosen, destination, amount_sat, change_script, change, fee_change)
        if total - amount_sat - fee_plain >= 0:
            return _spend(chosen, destination, amount_sat, change_script, 0,
                          total - amount_sat)  # fmt: skip
    need = amount_sat + fee_for(max(1, len(chosen)), (destination,), sat_per_kvb)
    raise InsufficientFunds(need, total)


def _spend(chosen: list[Coin], destination: bytes, amount_sat: int, change_script: bytes,
           change_sat: int, fee_sat: int) -> Spend:  # fmt: skip
    by_outpoint = {c.outpoint: c for c in chosen}
    inputs = sort_inputs(TxIn(c.outpoint, sequence=SEQUENCE_RBF) for c in chosen)
    outs = [TxOut(amount_sat, destination)]
    if change_sat:
        outs.append(TxOut(change_sat, change_script))
    outputs = sort_outputs(outs)
    change_at = None
    if change_sat:
        change_at = next(i for i, o in enumerate(outputs)
                         if o.script_pubkey == change_script and o.amount_sat == change_sat)  # fmt: skip
    tx = Tx(2, inputs, outputs, 0)
    return Spend(tx, tuple(by_outpoint[i.prevout] for i in inputs), change_at, fee_sat)
