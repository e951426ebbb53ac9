"""The generic sweep builder: BOLT 3/5 weights, fee, sighashes a real key signs, errors."""

from __future__ import annotations

import hashlib

import coincurve
import pytest

from vajra.bitcoin.script import p2pkh, p2sh, p2tr, p2wpkh, p2wsh
from vajra.bitcoin.sighash import SIGHASH_ALL, bip143_sighash
from vajra.bitcoin.tx import OutPoint, Tx
from vajra.channel.scripts import offered_htlc_script, received_htlc_script, to_local_script
from vajra.channel.sweep import (
    SIGNATURE_WITNESS_SIZE,
    SweepDust,
    SweepFeerateInvalid,
    SweepInput,
    SweepInputInvalid,
    SweepNoInputs,
    SweepTooHeavy,
    SweepWitnessTooHeavy,
    assemble,
    build_sweep,
    dust_limit_sat,
    fee_for_weight_sat,
    witness_weight,
)
from vajra.crypto.secp256k1 import PrivateKey

KEY = PrivateKey(hashlib.sha256(b"revocation").digest())
DELAYED = PrivateKey(hashlib.sha256(b"delayed").digest()).pubkey
REMOTE_HTLC = PrivateKey(hashlib.sha256(b"remote htlc").digest()).pubkey
LOCAL_HTLC = PrivateKey(hashlib.sha256(b"local htlc").digest()).pubkey
HASH = hashlib.sha256(b"preimage").digest()
DEST = p2wpkh(PrivateKey(hashlib.sha256(b"wallet").digest()).pubkey)


def _to_local_input(n: int, value_sat: int, delay: int = 144) -> SweepInput:
    ws = to_local_script(KEY.pubkey, delay, DELAYED)
    return SweepInput(
        OutPoint(hashlib.sha256(bytes([n])).digest(), n),
        value_sat,
        ws,
        0xFFFF_FFFF,
        witness_weight([SIGNATURE_WITNESS_SIZE, 1], ws),
    )


def test_witness_weights_match_bolt5_appendix_a() -> None:
    # offered_htlc_penalty_witness: 243 bytes for the 133-byte offered script
    offered = offered_htlc_script(KEY.pubkey, REMOTE_HTLC, LOCAL_HTLC, HASH, anchors=False)
    assert len(offered) == 133
    assert witness_weight([73, 33], offered) == 243
    # accepted_htlc_penalty_witness: 249 bytes for the 139-byte script (3-byte expiry)
    received = received_htlc_script(
        KEY.pubkey, REMOTE_HTLC, LOCAL_HTLC, HASH, 500_000, anchors=False
    )
    assert len(received) == 139
    assert witness_weight([73, 33], received) == 249
    # to_local_penalty_witness: 160 bytes counts an 8-byte delay (a real one is shorter)
    # and lists `one_length` but not the one-byte `1` itself: we count it (+1)
    ws = to_local_script(KEY.pubkey, 144, DELAYED)
    assert witness_weight([73, 1], ws) == 160 - (83 - len(ws)) + 1
    # anchors add OP_1 OP_CSV OP_DROP (3 bytes) to each HTLC script
    anchored = offered_htlc_script(KEY.pubkey, REMOTE_HTLC, LOCAL_HTLC, HASH, anchors=True)
    assert witness_weight([73, 33], anchored) == 246


def test_penalty_weight_is_bolt5_formula() -> None:
    """BOLT 5: 53 bytes of non-witness data around a P2WSH output, a 164-weight txinput,
    2 bytes of witness header, plus the witness."""
    inp = _to_local_input(0, 100_000)
    s = build_sweep([inp], p2wsh(b"\x51"), 2500)
    assert s.weight == 4 * 53 + 164 + 2 + inp.witness_weight
    assert s.fee_sat == 2500 * s.weight // 1000
    assert s.amount_sat == 100_000 - s.fee_sat
    assert s.tx.version == 2 and s.tx.locktime == 0


def test_signed_sweep_pays_at_least_the_feerate_and_signatures_verify() -> None:
    inputs = [_to_local_input(n, 50_000 + n) for n in range(3)]
    s = build_sweep(inputs, DEST, 1000, locktime=500)
    assert [i.prevout for i in s.tx.inputs] == [i.outpoint for i in inputs]
    assert s.tx.locktime == 500
    stacks = []
    for n, (inp, digest) in enumerate(zip(inputs, s.sighashes, strict=True)):
        # the digest is the BIP 143 SIGHASH_ALL of that input with its witness script
        assert digest == bip143_sighash(s.tx, n, inp.witness_script, inp.value_sat, SIGHASH_ALL)
        der = KEY.sign_digest_der(digest)
        assert coincurve.PublicKey(KEY.pubkey).verify(der, digest, hasher=None)
        stacks.append((der + bytes([SIGHASH_ALL]), b"\x01"))
    signed = assemble(s, stacks)
    assert signed.txid == s.tx.txid  # witnesses do not change the txid
    assert Tx.parse(signed.serialize()) == signed
    # never heavier than paid for; a DER signature is 71-73 bytes with its sighash byte
    assert s.weight - 2 * len(inputs) <= signed.weight <= s.weight
    assert s.fee_sat >= fee_for_weight_sat(1000, signed.weight)
    assert sum(i.value_sat for i in inputs) - signed.outputs[0].amount_sat == s.fee_sat


def test_assemble_refuses_a_heavier_witness() -> None:
    inp = _to_local_input(0, 100_000)
    s = build_sweep([inp], DEST, 1000)
    with pytest.raises(SweepWitnessTooHeavy):
        assemble(s, [(bytes(74), b"\x01")])
    with pytest.raises(Exception, match="1 inputs"):
        assemble(s, [])


def test_dust_limits_are_bitcoin_cores() -> None:
    assert dust_limit_sat(DEST) == 294
    assert dust_limit_sat(p2wsh(b"\x51")) == 330
    assert dust_limit_sat(p2tr(bytes(32))) == 330
    assert dust_limit_sat(p2pkh(KEY.pubkey)) == 546
    assert dust_limit_sat(p2sh(b"\x51")) == 540


def test_dust_after_fee_is_a_typed_refusal() -> None:
    inp = _to_local_input(0, 1_000)
    with pytest.raises(SweepDust) as e:
        build_sweep([inp], DEST, 5000)
    assert e.value.value_sat == 1_000 and e.value.dust_limit_sat == 294
    assert e.value.fee_sat == 5000 * build_sweep([inp], DEST, 253).weight // 1000
    # and exactly at the threshold it builds
    w = build_sweep([inp], DEST, 253).weight
    ok = build_sweep([_to_local_input(0, 294 + fee_for_weight_sat(1000, w))], DEST, 1000)
    assert ok.amount_sat == 294


@pytest.mark.parametrize(
    ("inputs", "feerate", "error"),
    [
        ([], 1000, SweepNoInputs),
        ([_to_local_input(0, 10_000)], 252, SweepFeerateInvalid),
        ([_to_local_input(0, 0)], 1000, SweepInputInvalid),
        ([_to_local_input(0, 10_000), _to_local_input(0, 20_000)], 1000, SweepInputInvalid),
        ([SweepInput(OutPoint(bytes(32), 0), 10_000, b"", 0, 10)], 1000, SweepInputInvalid),
        (
            [SweepInput(OutPoint(bytes(32), 0), 10_000, b"\x51", 1 << 32, 3)],
            1000,
            SweepInputInvalid,
        ),
        ([SweepInput(OutPoint(bytes(32), 0), 10_000, bytes(80), 0, 50)], 1000, SweepInputInvalid),
        ([SweepInput(OutPoint(bytes(32), 0), 10**8, b"\x51", 0, 400_000)], 1000, SweepTooHeavy),
    ],
)
def test_refusals(inputs: list[SweepInput], feerate: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        build_sweep(inputs, DEST, feerate)
