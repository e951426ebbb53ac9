"""A generic sweep: P2WSH outputs (BOLT 3 scripts) spent into one destination script.

Written by the `enforce` helper in the shape the `justice` helper announced for this
file (inputs with witness script, sequence, value and expected witness weight -> one
transaction to a destination at a feerate); on merge the justice version of this file
is the one to keep if both exist.

`build_sweep` returns the unsigned transaction (version 2, inputs in the order given:
the caller sorts them BIP 69 if it wants; one output) with, per input, the BIP 143
SIGHASH_ALL digest to sign; `assemble` puts each witness stack and its script in. The
fee is BOLT 3's `feerate_per_kw * weight // 1000` over the expected weight, witnesses
counted with 73-byte signatures, so the signed transaction pays at least the feerate.
Sans-IO and pure; errors are `SweepError`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.script import witness_program
from vajra.bitcoin.sighash import SIGHASH_ALL, SegwitV0Sighasher
from vajra.bitcoin.tx import SEQUENCE_FINAL, OutPoint, Tx, TxIn, TxOut, ser_compact_size
from vajra.errors import VajraError

FEERATE_PER_KW_FLOOR = 253
"""1 sat/vB: the lowest feerate that relays."""
MAX_STANDARD_TX_WEIGHT = 400_000


class SweepError(VajraError):
    """A sweep that cannot be built as asked (no inputs, a bad input or feerate, dust)."""


@dataclass(frozen=True, slots=True)
class SweepInput:
    """`outpoint` worth `value_sat`, spent through the P2WSH `witness_script` with
    nSequence `sequence`; `witness_weight` is the expected witness size in bytes
    (item count and length prefixes included, `witness_weight` below)."""

    outpoint: OutPoint
    value_sat: int
    witness_script: bytes
    sequence: int
    witness_weight: int


@dataclass(frozen=True, slots=True)
class Sweep:
    tx: Tx
    inputs: tuple[SweepInput, ...]
    sighashes: tuple[bytes, ...]
    weight: int
    fee_sat: int

    @property
    def amount_sat(self) -> int:
        return self.tx.outputs[0].amount_sat


def witness_weight(item_sizes: Sequence[int], witness_script: bytes) -> int:
    """Witness bytes: the item count, each item with its length prefix, the script."""
    items = [*item_sizes, len(witness_script)]
    return len(ser_compact_size(len(items))) + sum(len(ser_compact_size(n)) + n for n in items)


def dust_limit_sat(script_pubkey: bytes) -> int:
    """Bitcoin Core's dust threshold at 3 sat/vB: 294 P2WPKH, 330 P2WSH/P2TR, 546 P2PKH."""
    size = len(TxOut(0, script_pubkey).serialize())
    return 3 * (size + (67 if witness_program(script_pubkey) is not None else 148))


def build_sweep(
    inputs: Sequence[SweepInput], destination: bytes, feerate_per_kw: int, *, locktime: int = 0
) -> Sweep:
    """The unsigned sweep (module docstring). `SweepError` for no inputs, a repeated or
    malformed input, a feerate below the floor, a transaction over the standard weight,
    or an output below the destination's dust limit after the fee."""
    if not inputs:
        raise SweepError("no inputs to sweep")
    if feerate_per_kw < FEERATE_PER_KW_FLOOR:
        raise SweepError(f"feerate {feerate_per_kw} sat/kw below {FEERATE_PER_KW_FLOOR}")
    if len({i.outpoint for i in inputs}) != len(inputs):
        raise SweepError("an outpoint is spent twice")
    for i in inputs:
        if i.value_sat <= 0 or not 0 <= i.sequence <= SEQUENCE_FINAL or not i.witness_script:
            raise SweepError(f"{i.outpoint}: malformed input")
        if i.witness_weight < witness_weight([], i.witness_script):
            raise SweepError(f"{i.outpoint}: witness weight cannot hold its script")
    total = sum(i.value_sat for i in inputs)
    txins = tuple(TxIn(i.outpoint, b"", i.sequence) for i in inputs)
    draft = Tx(2, txins, (TxOut(0, destination),), locktime)
    # 4 x the stripped size, the 2-byte segwit marker and flag, the witnesses
    weight = 4 * len(draft.serialize(witness=False)) + 2 + sum(i.witness_weight for i in inputs)
    if weight > MAX_STANDARD_TX_WEIGHT:
        raise SweepError(f"weight {weight} over {MAX_STANDARD_TX_WEIGHT}")
    fee = feerate_per_kw * weight // 1000
    if total - fee < dust_limit_sat(destination):
        raise SweepError(f"{total} sat minus a {fee} sat fee is dust")
    tx = Tx(2, txins, (TxOut(total - fee, destination),), locktime)
    hasher = SegwitV0Sighasher(tx)
    digests = tuple(
        hasher.sighash(n, i.witness_script, i.value_sat, SIGHASH_ALL) for n, i in enumerate(inputs)
    )
    return Sweep(tx, tuple(inputs), digests, weight, fee)


def assemble(sweep: Sweep, stacks: Sequence[Sequence[bytes]]) -> Tx:
    """The signed sweep: input i's witness is `stacks[i]` then its witness script.
    `SweepError` if a stack is heavier than the weight its fee paid for."""
    if len(stacks) != len(sweep.inputs):
        raise SweepError(f"{len(stacks)} witnesses for {len(sweep.inputs)} inputs")
    out: list[tuple[bytes, ...]] = []
    for inp, stack in zip(sweep.inputs, stacks, strict=True):
        if witness_weight([len(x) for x in stack], inp.witness_script) > inp.witness_weight:
            raise SweepError(f"{inp.outpoint}: witness heavier than expected")
        out.append((*stack, inp.witness_script))
    return sweep.tx.with_witnesses(out)
