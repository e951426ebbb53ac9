"""Sighashes: every BIP 143 example preimage and BIP 341 key-path vector, read from the
BIP files; each hash type the examples cover (ALL, NONE, SINGLE, each | ANYONECANPAY)."""

from __future__ import annotations

import pytest

from tests.unit.bitcoin.bip_vectors import bip143_sighashes, bip341_wallet_vectors
from vajra.bitcoin.script import p2tr, script_to_address
from vajra.bitcoin.sighash import (
    SegwitV0Sighasher,
    SighashError,
    TaprootSighasher,
    bip143_sighash,
    taproot_output_key,
    taproot_tweak,
)
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.crypto.hashes import double_sha256
from vajra.crypto.secp256k1 import CURVE_ORDER, PrivateKey

CASES = bip143_sighashes()


def test_every_bip143_hash_type_is_covered() -> None:
    assert {c.hash_type for c in CASES} == {0x01, 0x02, 0x03, 0x81, 0x82, 0x83}
    assert len(CASES) >= 14


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.example}-{c.hash_type:#x}-{i}" for i, c in enumerate(CASES)]
)
def test_bip143_sighash(case: object) -> None:
    from tests.unit.bitcoin.bip_vectors import Bip143Case

    assert isinstance(case, Bip143Case)
    assert double_sha256(case.preimage) == case.sighash  # the vector was read right
    tx = Tx.parse(case.tx)
    (index,) = [i for i, t in enumerate(tx.inputs) if t.prevout.serialize() == case.outpoint]
    assert tx.inputs[index].sequence == case.sequence
    got = bip143_sighash(tx, index, case.script_code, case.amount_sat, case.hash_type)
    assert got == case.sighash


def test_bip143_bad_requests() -> None:
    tx = Tx.parse(CASES[0].tx)
    h = SegwitV0Sighasher(tx)
    for bad_type in (0x00, 0x04, 0x41, 0x180):
        with pytest.raises(SighashError):
            h.sighash(0, b"", 1, bad_type)
    with pytest.raises(SighashError):
        h.sighash(len(tx.inputs), b"", 1, 1)


KEYPATH = bip341_wallet_vectors()["keyPathSpending"]


def _keypath_cases() -> list[tuple[Tx, list[TxOut], dict[str, object]]]:
    out = []
    for block in KEYPATH:
        given = block["given"]
        tx = Tx.parse(bytes.fromhex(given["rawUnsignedTx"]))
        spent = [
            TxOut(u["amountSats"], bytes.fromhex(u["scriptPubKey"])) for u in given["utxosSpent"]
        ]
        out += [(tx, spent, s) for s in block["inputSpending"]]
    return out


KEYPATH_CASES = _keypath_cases()


def test_bip341_hash_types_covered() -> None:
    types = {c[2]["given"]["hashType"] for c in KEYPATH_CASES}  # type: ignore[index]
    assert types == {0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83}


@pytest.mark.parametrize(("tx", "spent", "case"), KEYPATH_CASES)
def test_bip341_keypath(tx: Tx, spent: list[TxOut], case: dict[str, dict[str, object]]) -> None:
    given, inter, expected = case["given"], case["intermediary"], case["expected"]
    index, hash_type = int(str(given["txinIndex"])), int(str(given["hashType"]))
    h = TaprootSighasher(tx, spent)
    # the vectors' sigMsg starts with the epoch byte 0x00 that hash_TapSighash prefixes
    assert "00" + h.sig_msg(index, hash_type).hex() == inter["sigMsg"]
    digest = h.sighash(index, hash_type)
    assert digest.hex() == inter["sigHash"]
    # the output key and the signature the vector's witness carries
    internal = bytes.fromhex(str(inter["internalPubkey"]))
    root = given["merkleRoot"]
    merkle = bytes.fromhex(str(root)) if root else None
    assert taproot_tweak(internal, merkle).hex() == inter["tweak"]
    assert p2tr(taproot_output_key(internal, merkle)) == spent[index].script_pubkey
    tweaked = bytes.fromhex(str(inter["tweakedPrivkey"]))
    secret = int(str(given["internalPrivkey"]), 16)
    pub = PrivateKey(secret.to_bytes(32, "big")).pubkey
    if pub[0] == 3:  # BIP 341 taproot_tweak_seckey: negate for an odd Y
        secret = CURVE_ORDER - secret
    t = int.from_bytes(taproot_tweak(internal, merkle), "big")
    assert ((secret + t) % CURVE_ORDER).to_bytes(32, "big") == tweaked
    sig = PrivateKey(tweaked).sign_schnorr(digest)
    (witness,) = expected["witness"]  # type: ignore[misc]
    suffix = b"" if hash_type == 0 else bytes((hash_type,))
    assert (sig + suffix).hex() == witness


def test_bip341_scriptpubkeys_without_scripts() -> None:
    for v in bip341_wallet_vectors()["scriptPubKey"]:
        if v["given"]["scriptTree"] is not None:
            continue  # script trees are not built here; key path only
        internal = bytes.fromhex(v["given"]["internalPubkey"])
        key = taproot_output_key(internal)
        assert key.hex() == v["intermediary"]["tweakedPubkey"]
        assert p2tr(key).hex() == v["expected"]["scriptPubKey"]
        assert script_to_address(p2tr(key), "bitcoin") == v["expected"]["bip350Address"]


def test_bip341_single_without_output_and_bad_types() -> None:
    tx = Tx(2, (TxIn(OutPoint(bytes(32), 0)), TxIn(OutPoint(bytes(32), 1))), (TxOut(1, b"\x51"),))
    h = TaprootSighasher(tx, [TxOut(5, b"\x51\x20" + bytes(32))] * 2)
    h.sighash(0, 0x03)
    with pytest.raises(SighashError):
        h.sighash(1, 0x03)
    for bad in (0x04, 0x80, 0x84):
        with pytest.raises(SighashError):
            h.sighash(0, bad)
    with pytest.raises(SighashError):
        TaprootSighasher(tx, [])
    # an annex changes the message
    assert h.sighash(0, 0, annex=b"\x50") != h.sighash(0, 0)
