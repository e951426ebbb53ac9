"""Hypothesis strategies for transactions and PSBTs."""

from __future__ import annotations

from hypothesis import strategies as st

from vajra.bitcoin.psbt import KeyOrigin, Psbt, PsbtInput, PsbtOutput
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.crypto.secp256k1 import CURVE_ORDER, pubkey_from_secret

scripts = st.binary(max_size=60)
outpoints = st.builds(OutPoint, st.binary(min_size=32, max_size=32), st.integers(0, 0xFFFF_FFFF))
tx_outs = st.builds(TxOut, st.integers(0, 2**64 - 1), scripts)
witnesses = st.lists(st.binary(max_size=80), max_size=4).map(tuple)


@st.composite
def txs(draw: st.DrawFn, *, unsigned: bool = False) -> Tx:
    n_in = draw(st.integers(1, 4))
    ins = tuple(
        TxIn(
            draw(outpoints),
            b"" if unsigned else draw(scripts),
            draw(st.integers(0, 0xFFFF_FFFF)),
            () if unsigned else draw(witnesses),
        )
        for _ in range(n_in)
    )
    outs = tuple(draw(st.lists(tx_outs, max_size=4)))
    return Tx(draw(st.integers(-(2**31), 2**31 - 1)), ins, outs, draw(st.integers(0, 0xFFFF_FFFF)))


# a fixed pool of valid keys: computing a point per example dominated the run time
_POOL = [pubkey_from_secret((CURVE_ORDER - 1 - 7919 * k).to_bytes(32, "big")) for k in range(64)]
pubkeys = st.sampled_from(_POOL)
origins = st.builds(
    KeyOrigin,
    st.binary(min_size=4, max_size=4),
    st.lists(st.integers(0, 0xFFFF_FFFF), max_size=5).map(tuple),
)
# unknown keys: a type byte no typed field of that map uses, then key data
_unknown_in = st.tuples(st.integers(0x09, 0xFF), st.binary(max_size=8)).map(
    lambda t: bytes((t[0],)) + t[1]
)
_unknown_out = st.tuples(st.integers(0x03, 0xFF), st.binary(max_size=8)).map(
    lambda t: bytes((t[0],)) + t[1]
)
_unknown_global = st.tuples(st.integers(0x02, 0xFA), st.binary(max_size=8)).map(
    lambda t: bytes((t[0],)) + t[1]
)
_opt_script = st.none() | scripts


@st.composite
def psbt_inputs(draw: st.DrawFn, prev: Tx | None) -> PsbtInput:
    return PsbtInput(
        non_witness_utxo=prev,
        witness_utxo=draw(st.none() | tx_outs),
        partial_sigs=draw(st.dictionaries(pubkeys, st.binary(min_size=1, max_size=73), max_size=2)),
        sighash_type=draw(st.none() | st.integers(0, 0xFFFF_FFFF)),
        redeem_script=draw(_opt_script),
        witness_script=draw(_opt_script),
        bip32_derivations=draw(st.dictionaries(pubkeys, origins, max_size=2)),
        final_script_sig=draw(_opt_script),
        final_script_witness=draw(st.none() | witnesses),
        unknown=draw(st.dictionaries(_unknown_in, st.binary(max_size=16), max_size=2)),
    )


@st.composite
def psbts(draw: st.DrawFn) -> Psbt:
    tx = draw(txs(unsigned=True))
    inputs = []
    ins = list(tx.inputs)
    for k, txin in enumerate(tx.inputs):
        prev = None
        if draw(st.booleans()):
            # a previous transaction the input really spends (txid and vout must match)
            prev = draw(txs())
            if not prev.outputs:
                prev = Tx(prev.version, prev.inputs, (TxOut(1, b"\x51"),), prev.locktime)
            ins[k] = TxIn(
                OutPoint(prev.txid, draw(st.integers(0, len(prev.outputs) - 1))), b"", txin.sequence
            )
        inputs.append(draw(psbt_inputs(prev)))
    tx = Tx(tx.version, tuple(ins), tx.outputs, tx.locktime)
    outputs = [
        PsbtOutput(
            draw(_opt_script),
            draw(_opt_script),
            draw(st.dictionaries(pubkeys, origins, max_size=2)),
            draw(st.dictionaries(_unknown_out, st.binary(max_size=16), max_size=2)),
        )
        for _ in tx.outputs
    ]
    return Psbt(
        tx,
        inputs,
        outputs,
        xpubs=draw(st.dictionaries(st.binary(min_size=78, max_size=78), origins, max_size=2)),
        version=draw(st.none() | st.just(0)),
        unknown=draw(st.dictionaries(_unknown_global, st.binary(max_size=16), max_size=2)),
    )
