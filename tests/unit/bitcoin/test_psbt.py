"""PSBT (BIP 174) vectors read from the BIP: every invalid PSBT refused, every valid one
round-trips (hex and base64), the signer-check failures caught, and the whole role chain
(creator, updater, signers, combiner, finalizer, extractor) reproduces the BIP's bytes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.bitcoin.bip_vectors import (
    bip174_invalid,
    bip174_signer_fails,
    bip174_valid,
    bip174_workflow,
)
from vajra.bitcoin.psbt import KeyOrigin, Psbt, PsbtError
from vajra.bitcoin.psbt_roles import extract, finalize, sighash, sign_input, signing_data
from vajra.bitcoin.script import p2sh, witness_program
from vajra.bitcoin.sighash import SIGHASH_ALL
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.crypto.base58 import base58check_decode
from vajra.crypto.bip32 import ExtendedPrivateKey, parse_extended_key, parse_path
from vajra.crypto.hashes import hash160, sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.errors import DecodeError

INVALID, VALID, SIGNER_FAILS = bip174_invalid(), bip174_valid(), bip174_signer_fails()


def test_vectors_were_read() -> None:
    assert (len(INVALID), len(VALID), len(SIGNER_FAILS)) == (20, 10, 4)


@pytest.mark.parametrize(("case", "raw", "b64"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid(case: str, raw: bytes, b64: str) -> None:
    for parse in (lambda: Psbt.parse(raw), lambda: Psbt.from_base64(b64)):
        with pytest.raises(PsbtError) as e:
            parse()
        if "typed key" in case:
            assert "key" in str(e.value)
        if "duplicate" in case:
            assert "duplicate" in str(e.value)


@pytest.mark.parametrize(
    ("case", "raw", "b64"), VALID + SIGNER_FAILS, ids=[c[0] for c in VALID + SIGNER_FAILS]
)
def test_valid_round_trip(case: str, raw: bytes, b64: str) -> None:
    psbt = Psbt.parse(raw)
    assert psbt.serialize() == raw
    assert Psbt.from_base64(b64).serialize() == raw
    assert psbt.to_base64() == b64


@pytest.mark.parametrize(("case", "raw", "b64"), SIGNER_FAILS, ids=[c[0] for c in SIGNER_FAILS])
def test_signer_checks(case: str, raw: bytes, b64: str) -> None:
    psbt = Psbt.parse(raw)
    failures = []
    for n in range(len(psbt.inputs)):
        try:
            signing_data(psbt, n)
        except PsbtError as e:
            failures.append(str(e))
    assert failures, case
    key = {
        "Witness UTXO": "witness UTXO",
        "redeemScript": "redeemScript",
        "witnessScript": "witnessScript",
    }
    assert any(v in f for k, v in key.items() if k in case for f in failures), failures


def _wif(s: str) -> PrivateKey:
    raw = base58check_decode(s)
    assert raw[0] == 0xEF and len(raw) == 34 and raw[33] == 1  # testnet, compressed
    return PrivateKey(raw[1:33])


def test_role_chain() -> None:
    w = bip174_workflow()
    _, master = parse_extended_key(w.master_tprv)
    assert isinstance(master, ExtendedPrivateKey)

    # creator
    tx = Tx(
        2,
        tuple(TxIn(OutPoint.from_str(f"{t}:{i}")) for t, i in w.inputs),
        tuple(TxOut(int(Decimal(a) * 100_000_000), s) for s, a in w.outputs),
    )
    psbt = Psbt.from_tx(tx)
    assert psbt.serialize() == w.created

    # updater: UTXOs, scripts and key origins, as a wallet that knows them would add them
    prev = {t.txid: t for t in (Tx.parse(r) for r in w.previous_txs)}
    origins = {}
    for pub, path in w.key_paths:
        node = master.derive(parse_path(path))
        assert node.pubkey == pub
        origins[pub] = KeyOrigin(master.fingerprint, parse_path(path))
    for txin, inp in zip(tx.inputs, psbt.inputs, strict=True):
        spent = prev[txin.prevout.txid].outputs[txin.prevout.vout]
        (redeem,) = [r for r in w.redeem_scripts if p2sh(r) == spent.script_pubkey]
        inp.redeem_script = redeem
        wp = witness_program(redeem)
        if wp is None:
            inp.non_witness_utxo = prev[txin.prevout.txid]
            inner = redeem
        else:
            inp.witness_utxo = spent
            (inner,) = [s for s in w.witness_scripts if sha256(s) == wp[1]]
            inp.witness_script = inner
        inp.bip32_derivations = {k: o for k, o in origins.items() if k in inner}
    for txout, out in zip(tx.outputs, psbt.outputs, strict=True):
        out.bip32_derivations = {
            k: o for k, o in origins.items() if hash160(k) in txout.script_pubkey
        }
    assert psbt.serialize() == w.updated

    for inp in psbt.inputs:
        inp.sighash_type = SIGHASH_ALL
    assert psbt.serialize() == w.with_sighash_all

    # two signers, each with its own keys (RFC 6979 nonces, so the bytes are fixed)
    signed = []
    for keys, expected in zip(w.signer_keys, w.signed, strict=True):
        mine = Psbt.parse(w.with_sighash_all)
        for wif, path in keys:
            key = _wif(wif)
            assert key.pubkey in origins and origins[key.pubkey].path == parse_path(path)
            for n, inp in enumerate(mine.inputs):
                if key.pubkey in inp.bip32_derivations:
                    sign_input(mine, n, key)
        assert mine.serialize() == expected
        signed.append(mine)

    combined = signed[0].combine(signed[1])
    assert combined.serialize() == w.combined
    finalize(combined)
    assert combined.serialize() == w.finalized
    assert extract(combined).serialize() == w.extracted

    # combining PSBTs with unknown keys orders them lexicographically
    a, b = (Psbt.parse(r) for r in w.unknown_inputs)
    assert a.combine(b).serialize() == w.unknown_combined


def test_p2wpkh_wallet_flow() -> None:
    """The runtime's flow: an unsigned PSBT with witness_utxo and key origins, the signer
    fills partial_sigs, P2WPKH finalize, extract; the sighash type is enforced."""
    from vajra.bitcoin.script import p2wpkh

    key = PrivateKey(bytes(31) + b"\x07")
    spent = TxOut(100_000, p2wpkh(key.pubkey))
    tx = Tx(
        2,
        (TxIn(OutPoint(b"\x01" * 32, 0), sequence=0xFFFFFFFD),),
        (TxOut(90_000, p2wpkh(key.pubkey)),),
    )
    psbt = Psbt.from_tx(tx)
    psbt.inputs[0].witness_utxo = spent
    psbt.inputs[0].bip32_derivations[key.pubkey] = KeyOrigin(
        b"\xaa" * 4, parse_path("m/84'/1'/0'/0/0")
    )
    wire = Psbt.from_base64(psbt.to_base64())
    with pytest.raises(PsbtError):
        extract(wire)
    sig = sign_input(wire, 0, key)
    assert wire.inputs[0].partial_sigs == {key.pubkey: sig}
    finalize(wire)
    final = extract(wire)
    assert final.inputs[0].witness == (sig, key.pubkey)
    assert final.txid == tx.txid
    # the PSBT's sighash type is the only one a signer may use
    other = Psbt.from_tx(tx)
    other.inputs[0].witness_utxo = spent
    other.inputs[0].sighash_type = 0x83
    with pytest.raises(PsbtError):
        sighash(other, 0, SIGHASH_ALL)
    assert sighash(other, 0) != sighash(psbt, 0)
    with pytest.raises(PsbtError):
        finalize(Psbt.from_tx(tx))  # no UTXO, no signature


def test_combine_refuses_other_transactions() -> None:
    a = Psbt.parse(VALID[0][1])
    b = Psbt.parse(VALID[1][1])
    with pytest.raises(PsbtError):
        a.combine(b)
    with pytest.raises(DecodeError):
        Psbt.from_base64("not base64!")


def test_fee_and_previous_tx_requirement() -> None:
    from vajra.bitcoin.psbt_roles import fee_sat
    from vajra.bitcoin.script import p2wpkh

    key = PrivateKey(bytes(31) + b"\x09")
    prev = Tx(
        2,
        (TxIn(OutPoint(b"\x05" * 32, 3)),),
        (TxOut(70_000, b"\x51"), TxOut(50_000, p2wpkh(key.pubkey))),
    )
    tx = Tx(2, (TxIn(OutPoint(prev.txid, 1)),), (TxOut(49_000, p2wpkh(key.pubkey)),))
    psbt = Psbt.from_tx(tx)
    psbt.inputs[0].witness_utxo = prev.outputs[1]
    assert fee_sat(psbt) == 1_000
    with pytest.raises(PsbtError, match="previous transaction"):
        sign_input(psbt, 0, key, require_previous_tx=True)
    psbt.inputs[0].non_witness_utxo = prev
    wire = Psbt.parse(psbt.serialize())
    sign_input(wire, 0, key, require_previous_tx=True)
    # a witness UTXO that lies about the amount is caught against the previous tx
    wire.inputs[0].witness_utxo = TxOut(60_000, p2wpkh(key.pubkey))
    with pytest.raises(PsbtError, match="disagree"):
        fee_sat(wire)
    overpaid = Psbt.from_tx(Tx(2, tx.inputs, (TxOut(60_000, b"\x51"),)))
    overpaid.inputs[0].witness_utxo = prev.outputs[1]
    with pytest.raises(PsbtError, match="exceed"):
        fee_sat(overpaid)


def test_change_detection() -> None:
    from vajra.bitcoin.psbt_roles import change_outputs
    from vajra.bitcoin.script import p2wpkh
    from vajra.crypto.bip32 import master_key

    master = master_key(bytes(range(32)))
    fp = master.fingerprint
    path = parse_path("m/84'/1'/0'/1/0")
    mine = master.derive(path).pubkey
    stranger = PrivateKey(b"\x05" * 32).pubkey
    tx = Tx(
        2,
        (TxIn(OutPoint(b"\x01" * 32, 0)),),
        (
            TxOut(1_000, p2wpkh(stranger)),
            TxOut(2_000, p2wpkh(mine)),
            TxOut(3_000, p2wpkh(stranger)),
        ),
    )
    psbt = Psbt.from_tx(tx)
    psbt.outputs[1].bip32_derivations[mine] = KeyOrigin(fp, path)
    # a lie: the stranger's key claimed under our fingerprint and some path
    psbt.outputs[2].bip32_derivations[stranger] = KeyOrigin(fp, parse_path("m/84'/1'/0'/1/1"))

    def derive(p: tuple[int, ...]) -> bytes:
        return master.derive(p).pubkey

    assert change_outputs(psbt, fp, derive) == [1]
    assert change_outputs(psbt, b"\x00\x00\x00\x00", derive) == []
