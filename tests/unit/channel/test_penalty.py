"""Penalty transactions on BOLT 3 Appendix C's commitments, with its keys: the remote side
(holding `remote_revocation_basepoint_secret`) punishes the local side's commitment once
`x_local_per_commitment_secret` is known."""

from __future__ import annotations

import hashlib

import coincurve
import pytest

from tests.unit.channel.bolt3_vectors import appendix_c_params, appendix_c_vectors
from tests.unit.channel.test_bolt3_transactions import KEYS, _commitment
from vajra.bitcoin.script import p2wpkh
from vajra.bitcoin.sighash import SIGHASH_ALL
from vajra.bitcoin.tx import Tx
from vajra.channel.commitment import build_htlc_tx
from vajra.channel.keys import derive_revocation_privkey
from vajra.channel.penalty import (
    KIND_HTLC,
    KIND_TO_LOCAL,
    PENALTY_SEQUENCE,
    PenaltyError,
    build_penalty,
    commitment_penalty,
    second_stage_penalty,
    sign_penalty,
)
from vajra.channel.sweep import fee_for_weight_sat
from vajra.crypto.secp256k1 import PrivateKey

P = appendix_c_params()
VECTORS = {v.name: v for v in appendix_c_vectors()}
WALLET = p2wpkh(PrivateKey(bytes([7]) * 32).pubkey)
DELAY = int(P["local_delay"])


def _revocation_privkey() -> bytes:
    base, secret = P["remote_revocation_basepoint_secret"], P["x_local_per_commitment_secret"]
    assert isinstance(base, bytes) and isinstance(secret, bytes)
    return derive_revocation_privkey(base, secret)


def test_revocation_privkey_matches_appendix_c_revocation_pubkey() -> None:
    assert (
        PrivateKey(_revocation_privkey()).pubkey
        == KEYS.revocation_pubkey
        == P["local_revocation_pubkey"]
    )


@pytest.mark.parametrize("anchors", [False, True])
def test_penalty_takes_to_local_and_every_htlc(anchors: bool) -> None:
    v = VECTORS["commitment tx with all five HTLCs untrimmed (minimum feerate)"]
    revoked = _commitment(v, anchors=anchors)
    plan = commitment_penalty(revoked, KEYS.revocation_pubkey)
    kinds = {o.kind for o in revoked.outputs}
    assert "to_local" in kinds
    expected = [
        i for i, o in enumerate(revoked.outputs)
        if o.kind in ("to_local", "offered_htlc", "received_htlc")
    ]  # fmt: skip
    assert [i.sweep_input.outpoint.vout for i in plan.inputs] == expected
    assert len(expected) == 6  # to_local and five HTLCs
    assert all(i.sweep_input.outpoint.txid == revoked.tx.txid for i in plan.inputs)
    sweep = build_penalty(plan, WALLET, 2500)
    signed = sign_penalty(plan, sweep, _revocation_privkey())
    assert Tx.parse(signed.serialize()) == signed
    assert signed.weight <= sweep.weight
    assert sweep.fee_sat == fee_for_weight_sat(2500, sweep.weight)
    assert signed.outputs[0].amount_sat == plan.value_sat - sweep.fee_sat
    pub = coincurve.PublicKey(KEYS.revocation_pubkey)
    for txin, inp, digest in zip(signed.inputs, plan.inputs, sweep.sighashes, strict=True):
        sig, item, script = txin.witness
        assert txin.sequence == PENALTY_SEQUENCE
        assert sig[-1] == SIGHASH_ALL and pub.verify(sig[:-1], digest, hasher=None)
        assert script == inp.sweep_input.witness_script
        assert item == (b"\x01" if inp.kind == KIND_TO_LOCAL else KEYS.revocation_pubkey)
        if inp.kind == KIND_HTLC:  # OP_DUP OP_HASH160 <RIPEMD160(SHA256(revocationpubkey))>
            h = hashlib.new("ripemd160", hashlib.sha256(item).digest()).digest()
            assert script[3:23] == h


def test_trimmed_htlcs_are_not_inputs_and_nothing_revocable_is_an_error() -> None:
    v = VECTORS["commitment tx with three outputs untrimmed (maximum feerate)"]
    revoked = _commitment(v, anchors=False)
    plan = commitment_penalty(revoked, KEYS.revocation_pubkey)
    assert {i.kind for i in plan.inputs} == {KIND_TO_LOCAL, KIND_HTLC}
    assert len(plan.inputs) == sum(1 for o in revoked.outputs if o.kind != "to_remote")
    with pytest.raises(PenaltyError):
        commitment_penalty(revoked, PrivateKey(bytes([9]) * 32).pubkey)


def test_refusals_of_a_wrong_key() -> None:
    v = VECTORS["simple commitment tx with no HTLCs"]
    plan = commitment_penalty(_commitment(v, anchors=False), KEYS.revocation_pubkey)
    sweep = build_penalty(plan, WALLET, 1000)
    with pytest.raises(PenaltyError):
        sign_penalty(plan, sweep, bytes([5]) * 32)


@pytest.mark.parametrize("anchors", [False, True])
def test_second_stage_htlc_transactions_are_punished(anchors: bool) -> None:
    v = VECTORS["commitment tx with all five HTLCs untrimmed (minimum feerate)"]
    revoked = _commitment(v, anchors=anchors)
    for index, _ in revoked.htlc_outputs:
        htlc_tx = build_htlc_tx(
            revoked, index, KEYS, to_self_delay=DELAY, feerate_per_kw=v.feerate_per_kw,
            anchors=anchors,
        )  # fmt: skip
        plan = second_stage_penalty(
            htlc_tx, KEYS.revocation_pubkey, DELAY, KEYS.local_delayed_pubkey
        )
        assert [i.sweep_input.outpoint.vout for i in plan.inputs] == [0]
        sweep = build_penalty(plan, WALLET, 253)
        signed = sign_penalty(plan, sweep, _revocation_privkey())
        assert signed.inputs[0].witness[1] == b"\x01"
    with pytest.raises(PenaltyError):
        second_stage_penalty(htlc_tx, KEYS.revocation_pubkey, DELAY + 1, KEYS.local_delayed_pubkey)
