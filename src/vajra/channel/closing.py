"""BOLT 3 closing transactions: the legacy one (`closing_signed`) and the
`option_simple_close` one (`closing_complete` / `closing_sig`).

Both spend the funding output with `0 <sig1> <sig2>` (`signing.commitment_witness`
builds it, since it is the same 2-of-2) and order outputs by BIP 69 (BOLT 3
"Transaction Output Ordering": amount, then scriptPubKey).
"""

from __future__ import annotations

from vajra.bitcoin.bip69 import sort_outputs
from vajra.bitcoin.sighash import SIGHASH_ALL, SegwitV0Sighasher
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut

OP_RETURN = 0x6A


def legacy_closing_tx(
    *,
    funding_outpoint: OutPoint,
    local_msat: int,
    remote_msat: int,
    local_script: bytes,
    remote_script: bytes,
    fee_sat: int,
    local_is_opener: bool,
    dust_limit_sat: int,
    omit_local: bool = False,
) -> Tx:
    """BOLT 3 "Legacy Closing Transaction" as the node whose `dust_limit_sat` applies
    builds it: outputs rounded down, `fee_satoshis` from the funder's output, outputs
    below the dust limit removed, our own output optionally eliminated ("MAY eliminate
    its own output"). Version 2, locktime 0, sequence 0xFFFFFFFF."""
    local_sat, remote_sat = local_msat // 1000, remote_msat // 1000
    if local_is_opener:
        local_sat -= fee_sat
    else:
        remote_sat -= fee_sat
    outs = [
        TxOut(v, s)
        for v, s, keep in (
            (local_sat, local_script, not omit_local),
            (remote_sat, remote_script, True),
        )
        if keep and v >= dust_limit_sat
    ]
    if not outs:
        raise ValueError("no output above the dust limit")
    return Tx(2, (TxIn(funding_outpoint, b"", 0xFFFF_FFFF),), sort_outputs(outs), 0)


def simple_closing_tx(
    *,
    funding_outpoint: OutPoint,
    closer_msat: int,
    closee_msat: int,
    closer_script: bytes | None,
    closee_script: bytes | None,
    fee_sat: int,
    locktime: int,
) -> Tx:
    """BOLT 3 "Closing Transaction" (option_simple_close): the closer pays `fee_sat`; an
    `OP_RETURN` script gets amount 0; a side passes None to omit its output. Version 2,
    `locktime` from `closing_complete`, sequence 0xFFFFFFFD."""
    outs = []
    for msat, script, fee in (
        (closer_msat, closer_script, fee_sat),
        (closee_msat, closee_script, 0),
    ):
        if script is None:
            continue
        amount = 0 if script[:1] == bytes((OP_RETURN,)) else msat // 1000 - fee
        if amount < 0:
            raise ValueError("the closer's balance does not cover the fee")
        outs.append(TxOut(amount, script))
    if not outs:
        raise ValueError("a closing transaction has at least one output")
    return Tx(2, (TxIn(funding_outpoint, b"", 0xFFFF_FFFD),), sort_outputs(outs), locktime)


def closing_sighash(tx: Tx, funding_script: bytes, funding_amount_sat: int) -> bytes:
    """The digest both funding keys sign (SIGHASH_ALL)."""
    return SegwitV0Sighasher(tx).sighash(0, funding_script, funding_amount_sat, SIGHASH_ALL)
