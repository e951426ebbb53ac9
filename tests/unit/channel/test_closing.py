"""Closing transactions (BOLT 3 "Legacy Closing Transaction" and "Closing Transaction")."""

from __future__ import annotations

import pytest

from vajra.bitcoin.script import p2wpkh
from vajra.bitcoin.tx import OutPoint
from vajra.channel.closing import closing_sighash, legacy_closing_tx, simple_closing_tx
from vajra.channel.scripts import funding_script
from vajra.channel.signing import commitment_witness
from vajra.crypto.secp256k1 import PrivateKey, verify_digest

FUNDING = OutPoint(b"\x42" * 32, 1)
A, B = PrivateKey(b"\x01" * 32), PrivateKey(b"\x02" * 32)
SA, SB = p2wpkh(A.pubkey), p2wpkh(B.pubkey)


def test_legacy_fee_from_funder_rounding_and_dust() -> None:
    tx = legacy_closing_tx(
        funding_outpoint=FUNDING,
        local_msat=600_000_999,
        remote_msat=400_000_001,
        local_script=SA,
        remote_script=SB,
        fee_sat=1_000,
        local_is_opener=True,
        dust_limit_sat=546,
    )
    assert (tx.version, tx.locktime, tx.inputs[0].sequence) == (2, 0, 0xFFFFFFFF)
    assert sorted((o.amount_sat, o.script_pubkey) for o in tx.outputs) == [
        (400_000, SB),
        (599_000, SA),
    ]
    assert [o.amount_sat for o in tx.outputs] == [400_000, 599_000]  # BIP 69
    # the funder is the other side: the fee comes from its output
    tx = legacy_closing_tx(
        funding_outpoint=FUNDING,
        local_msat=600_000_000,
        remote_msat=400_000_000,
        local_script=SA,
        remote_script=SB,
        fee_sat=1_000,
        local_is_opener=False,
        dust_limit_sat=546,
    )
    assert {o.script_pubkey: o.amount_sat for o in tx.outputs} == {SA: 600_000, SB: 399_000}
    # below our dust limit: removed; we may drop our own output
    tx = legacy_closing_tx(
        funding_outpoint=FUNDING,
        local_msat=545_999,
        remote_msat=999_000_000,
        local_script=SA,
        remote_script=SB,
        fee_sat=0,
        local_is_opener=False,
        dust_limit_sat=546,
    )
    assert [o.script_pubkey for o in tx.outputs] == [SB]
    tx = legacy_closing_tx(
        funding_outpoint=FUNDING,
        local_msat=10_000_000,
        remote_msat=999_000_000,
        local_script=SA,
        remote_script=SB,
        fee_sat=0,
        local_is_opener=False,
        dust_limit_sat=546,
        omit_local=True,
    )
    assert [o.script_pubkey for o in tx.outputs] == [SB]


def test_simple_close() -> None:
    op_return = b"\x6a\x04abcd"
    tx = simple_closing_tx(
        funding_outpoint=FUNDING,
        closer_msat=300_000_500,
        closee_msat=700_000_000,
        closer_script=SA,
        closee_script=op_return,
        fee_sat=500,
        locktime=850_000,
    )
    assert (tx.locktime, tx.inputs[0].sequence) == (850_000, 0xFFFFFFFD)
    assert [(o.amount_sat, o.script_pubkey) for o in tx.outputs] == [(0, op_return), (299_500, SA)]
    tx = simple_closing_tx(
        funding_outpoint=FUNDING,
        closer_msat=300_000_000,
        closee_msat=700_000_000,
        closer_script=None,
        closee_script=SB,
        fee_sat=500,
        locktime=0,
    )
    assert [(o.amount_sat, o.script_pubkey) for o in tx.outputs] == [(700_000, SB)]
    with pytest.raises(ValueError):
        simple_closing_tx(
            funding_outpoint=FUNDING,
            closer_msat=100_000,
            closee_msat=0,
            closer_script=SA,
            closee_script=None,
            fee_sat=500,
            locktime=0,
        )


def test_closing_signatures_verify_and_witness_orders_keys() -> None:
    ws = funding_script(A.pubkey, B.pubkey)
    tx = legacy_closing_tx(
        funding_outpoint=FUNDING,
        local_msat=500_000_000,
        remote_msat=500_000_000,
        local_script=SA,
        remote_script=SB,
        fee_sat=300,
        local_is_opener=True,
        dust_limit_sat=546,
    )
    digest = closing_sighash(tx, ws, 1_000_000)
    sa, sb = A.sign_digest(digest), B.sign_digest(digest)
    assert verify_digest(A.pubkey, sa, digest) and verify_digest(B.pubkey, sb, digest)
    w = commitment_witness(ws, B.pubkey, b"sigB", A.pubkey, b"sigA")
    first = min(A.pubkey, B.pubkey)
    assert w == (
        b"",
        b"sigA" if first == A.pubkey else b"sigB",
        b"sigB" if first == A.pubkey else b"sigA",
        ws,
    )
