"""A generic sweep: spend P2WSH outputs (BOLT 3 scripts) to one destination script.

Every on-chain resolution Vajra makes -- BOLT 5 sweeps of `to_local` after
`to_self_delay`, HTLC outputs by timeout or preimage, penalty transactions by the
revocation path -- is the same shape: some inputs, each a P2WSH output of known value
spent through a known witness script with a known nSequence, into one output paying the
node's own wallet. `build_sweep` builds that transaction unsigned and hands back, per
input, the BIP 143 `SIGHASH_ALL` digest the signer signs; `assemble` puts the witnesses
in and checks the transaction is no heavier than the fee was paid for.

Weight (BOLT 3 "Fees", BIP 141): `weight = 4 * non-witness size + witness size`, where the
witness part is the 2-byte segwit marker and flag plus each input's witness
(`number_of_witness_elements`, then each item with its length), exactly as BOLT 5's
Appendix A counts `to_local_penalty_witness: 160 bytes`. The caller gives each input's
*expected* witness weight (signatures counted at 73 bytes, the DER maximum); the fee is
`feerate_per_kw * weight // 1000` (BOLT 3 rounds down), so the signed transaction pays at
least `feerate_per_kw` whenever the real witness is no heavier than expected.

Sans-IO and pure. Errors are `SweepError` subclasses (a `VajraError`): no inputs, an input
the caller described wrongly, a feerate below the relay floor, or an output that would
be dust once the fee is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.script import witness_program
from vajra.bitcoin.sighash import SIGHASH_ALL, SegwitV0Sighasher
from vajra.bitcoin.tx import (
    MAX_MONEY_SAT,
    SEQUENCE_FINAL,
    OutPoint,
    Tx,
    TxIn,
    TxOut,
    ser_compact_size,
)
from vajra.errors import VajraError

# BOLT 3 / Bitcoin Core: 253 sat/kw is the lowest feerate that relays (1 sat/vB).
FEERATE_PER_KW_FLOOR = 253
# The largest transaction Bitcoin Core relays (MAX_STANDARD_TX_WEIGHT).
MAX_STANDARD_TX_WEIGHT = 400_000
# A signature in a witness counted at its DER maximum plus the sighash byte.
SIGNATURE_WITNESS_SIZE = 73
_SEGWIT_MARKER_FLAG_WEIGHT = 2


class SweepError(VajraError):
    """A sweep that cannot be built as asked."""


class SweepNoInputs(SweepError):
    """Nothing to spend."""


class SweepInputInvalid(SweepError):
    """An input described wrongly: value out of range, bad nSequence, empty witness
    script, a witness weight too small to hold its script, or a repeated outpoint."""


class SweepFeerateInvalid(SweepError):
    """A feerate below `FEERATE_PER_KW_FLOOR` (it would not relay)."""


class SweepTooHeavy(SweepError):
    """The signed transaction would exceed `MAX_STANDARD_TX_WEIGHT`."""


class SweepDust(SweepError):
    """The output after the fee is below the destination's dust threshold; nothing is
    worth sweeping at this feerate. `value_sat` is the total in, `fee_sat` the fee."""

    def __init__(self, value_sat: int, fee_sat: int, dust_limit_sat: int) -> None:
        self.value_sat = value_sat
        self.fee_sat = fee_sat
        self.dust_limit_sat = dust_limit_sat
        super().__init__(
            f"{value_sat} sat in minus {fee_sat} sat fee is below the"
            f" {dust_limit_sat} sat dust limit"
        )


class SweepWitnessTooHeavy(SweepError):
    """`assemble` was given a witness heavier than the weight the fee was paid for."""


@dataclass(frozen=True, slots=True)
class SweepInput:
    """One output to spend: `outpoint`, its `value_sat`, the P2WSH `witness_script`
    (also the BIP 143 scriptCode), the input's `sequence` (e.g. `to_self_delay` for a
    delayed `to_local`, 1 for anchors' CSV 1, 0xFFFFFFFF otherwise) and
    `witness_weight`: the expected witness size in bytes, element count and length
    prefixes included (BOLT 5 Appendix A; `witness_weight` below computes it)."""

    outpoint: OutPoint
    value_sat: int
    witness_script: bytes
    sequence: int
    witness_weight: int


@dataclass(frozen=True, slots=True)
class Sweep:
    """An unsigned sweep: `tx` (version 2, inputs in the given order, one output),
    `sighashes[i]` the BIP 143 SIGHASH_ALL digest of input i, `weight` the expected
    weight once signed, `fee_sat` = total in - output."""

    tx: Tx
    inputs: tuple[SweepInput, ...]
    sighashes: tuple[bytes, ...]
    weight: int
    fee_sat: int

    @property
    def amount_sat(self) -> int:
        return self.tx.outputs[0].amount_sat


def witness_weight(item_sizes: Sequence[int], witness_script: bytes) -> int:
    """Expected witness size in bytes (= weight units): the element count, then each
    item of the given size with its length prefix, then the witness script with its.
    E.g. a `to_local` penalty: `witness_weight([73, 1], to_local_script)` = 160."""
    items = [*item_sizes, len(witness_script)]
    return len(ser_compact_size(len(items))) + sum(len(ser_compact_size(n)) + n for n in items)


def dust_limit_sat(script_pubkey: bytes) -> int:
    """Bitcoin Core's dust threshold at the default 3 sat/vB dust relay feerate
    (`GetDustThreshold`): 294 for P2WPKH, 330 for P2WSH and P2TR, 546 for P2PKH."""
    out_size = len(TxOut(0, script_pubkey).serialize())
    # the spend's size: 32+4+1+107/4+4 = 67 for a witness program, 32+4+1+107+4 = 148 else
    spend = 67 if witness_program(script_pubkey) is not None else 148
    return 3 * (out_size + spend)


def fee_for_weight_sat(feerate_per_kw: int, weight: int) -> int:
    """BOLT 3: `fee = feerate_per_kw * weight / 1000`, rounded down."""
    return feerate_per_kw * weight // 1000


def _check_input(i: SweepInput) -> None:
    if not 0 < i.value_sat <= MAX_MONEY_SAT:
        raise SweepInputInvalid(f"{i.outpoint}: value {i.value_sat} sat out of range")
    if not 0 <= i.sequence <= SEQUENCE_FINAL:
        raise SweepInputInvalid(f"{i.outpoint}: nSequence {i.sequence} out of range")
    if not i.witness_script:
        raise SweepInputInvalid(f"{i.outpoint}: empty witness script")
    if i.witness_weight < witness_weight([], i.witness_script):
        raise SweepInputInvalid(
            f"{i.outpoint}: witness weight {i.witness_weight} cannot hold its script"
        )


def build_sweep(
    inputs: Sequence[SweepInput],
    destination: bytes,
    feerate_per_kw: int,
    *,
    locktime: int = 0,
) -> Sweep:
    """One unsigned transaction spending every input to `destination` (a scriptPubKey)
    at `feerate_per_kw` (sat per 1000 weight units, BOLT 3 weight rules), `locktime`
    set as given (an HTLC timeout path needs the CLTV expiry; then no input may have
    nSequence 0xFFFFFFFF, which the caller's sequences decide).

    Raises `SweepNoInputs`, `SweepInputInvalid`, `SweepFeerateInvalid`,
    `SweepTooHeavy`, or `SweepDust` when the output after the fee is below
    `dust_limit_sat(destination)`.
    """
    if not inputs:
        raise SweepNoInputs("no inputs to sweep")
    if feerate_per_kw < FEERATE_PER_KW_FLOOR:
        raise SweepFeerateInvalid(
            f"feerate {feerate_per_kw} sat/kw is below the {FEERATE_PER_KW_FLOOR} floor"
        )
    if not 0 <= locktime <= 0xFFFF_FFFF:
        raise SweepInputInvalid(f"locktime {locktime} out of range")
    seen: set[OutPoint] = set()
    for i in inputs:
        _check_input(i)
        if i.outpoint in seen:
            raise SweepInputInvalid(f"{i.outpoint} spent twice")
        seen.add(i.outpoint)
    total = sum(i.value_sat for i in inputs)
    txins = tuple(TxIn(i.outpoint, b"", i.sequence) for i in inputs)
    draft = Tx(2, txins, (TxOut(0, destination),), locktime)
    weight = (
        4 * len(draft.serialize(witness=False))
        + _SEGWIT_MARKER_FLAG_WEIGHT
        + sum(i.witness_weight for i in inputs)
    )
    if weight > MAX_STANDARD_TX_WEIGHT:
        raise SweepTooHeavy(f"weight {weight} exceeds {MAX_STANDARD_TX_WEIGHT}")
    fee = fee_for_weight_sat(feerate_per_kw, weight)
    dust = dust_limit_sat(destination)
    if total - fee < dust:
        raise SweepDust(total, fee, dust)
    tx = Tx(2, txins, (TxOut(total - fee, destination),), locktime)
    hasher = SegwitV0Sighasher(tx)
    sighashes = tuple(
        hasher.sighash(n, i.witness_script, i.value_sat, SIGHASH_ALL) for n, i in enumerate(inputs)
    )
    return Sweep(tx, tuple(inputs), sighashes, weight, fee)


def assemble(sweep: Sweep, stacks: Sequence[Sequence[bytes]]) -> Tx:
    """The signed transaction: `stacks[i]` is input i's witness *without* its witness
    script (e.g. `(sig, b"\\x01")` for `to_local` by revocation), which is appended.

    Raises `SweepWitnessTooHeavy` if a witness is heavier than the input's
    `witness_weight` (the fee would fall short of the promised feerate), `SweepError`
    on a wrong number of stacks.
    """
    if len(stacks) != len(sweep.inputs):
        raise SweepError(f"{len(stacks)} witnesses for {len(sweep.inputs)} inputs")
    witnesses: list[tuple[bytes, ...]] = []
    for inp, stack in zip(sweep.inputs, stacks, strict=True):
        w = (*stack, inp.witness_script)
        actual = witness_weight([len(x) for x in stack], inp.witness_script)
        if actual > inp.witness_weight:
            raise SweepWitnessTooHeavy(
                f"{inp.outpoint}: witness {actual} > expected {inp.witness_weight}"
            )
        witnesses.append(w)
    return sweep.tx.with_witnesses(witnesses)
