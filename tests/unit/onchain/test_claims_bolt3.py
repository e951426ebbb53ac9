"""Classification and BOLT 5 claims against the BOLT 3 vectors' own transactions: the
signed commitment of Appendix C / F is recognised as ours from the local side and as the
peer's from the remote side; every claim names an output of that transaction with the
script it pays, and the vectors' HTLC-timeout/success transactions spend exactly the
claims we derive, with the nLockTime and nSequence we derive, into the second-stage
script we derive."""

from __future__ import annotations

import pytest

from tests.unit.channel.bolt3_vectors import (
    CommitmentVector,
    appendix_c_vectors,
    appendix_f_vectors,
)
from tests.unit.onchain.vectors import counterparty_view, holder_view, i
from vajra.bitcoin.script import p2wpkh, p2wsh
from vajra.bitcoin.tx import OutPoint, Tx, TxIn
from vajra.channel.commitment import commitment_number_fields
from vajra.channel.spec import Side
from vajra.onchain.claims import ClaimKind, claims_of, to_remote_script
from vajra.onchain.classify import CloseKind, classify, classify_txid
from vajra.onchain.resolution import begin

C = {v.name: v for v in appendix_c_vectors()}
F = {v.name: v for v in appendix_f_vectors()}
C_HTLCS = [v for v in C.values() if v.htlcs]
F_HTLCS = [v for v in F.values() if v.htlcs]


@pytest.mark.parametrize(
    ("v", "anchors"),
    [(v, False) for v in C_HTLCS] + [(v, True) for v in F_HTLCS],
    ids=[f"C:{v.name}" for v in C_HTLCS] + [f"F:{v.name}" for v in F_HTLCS],
)
def test_our_commitment_claims(v: CommitmentVector, anchors: bool) -> None:
    view = holder_view(v, anchors=anchors)
    tx = Tx.parse(v.tx)
    c = classify(view, tx)
    assert c.kind is CloseKind.HOLDER and c.ref is view.holder
    claims = claims_of(c, view.params)
    # every claim is an output of the signed commitment, paying the claim's script
    for cl in claims:
        assert cl.outpoint.txid == tx.txid
        assert tx.outputs[cl.outpoint.vout].script_pubkey == p2wsh(cl.witness_script)
        assert tx.outputs[cl.outpoint.vout].amount_sat == cl.value_sat
    kinds = [cl.kind for cl in claims]
    to_local = [cl for cl in claims if cl.kind is ClaimKind.TO_LOCAL]
    assert len(to_local) <= 1 and all(cl.csv == i("local_delay") for cl in to_local)
    assert ClaimKind.TO_REMOTE not in kinds  # the peer's on our commitment
    # The vectors' HTLC transactions spend our HTLC claims one for one
    htlc_claims = {cl.outpoint: cl for cl in claims if cl.htlc is not None}
    assert len(htlc_claims) == len(v.htlc_txs)
    r = begin(view, c)
    assert r.second_stage_keys is not None
    for expected in v.htlc_txs:
        htx = Tx.parse(expected.tx)
        cl = htlc_claims[htx.inputs[0].prevout]
        offered = cl.htlc is not None and cl.htlc[0] is Side.LOCAL
        assert cl.kind is (ClaimKind.HTLC_TIMEOUT_TX if offered else ClaimKind.HTLC_SUCCESS_TX)
        assert htx.locktime == cl.cltv  # cltv_expiry for a timeout, 0 for a success
        assert htx.inputs[0].sequence == cl.csv  # 1 under anchors, else 0
        assert htx.inputs[0].witness[-1] == cl.witness_script
        # witness weight: ours is the upper bound of the real one (73-byte signatures)
        real = 1 + sum(1 + len(w) for w in htx.inputs[0].witness)
        assert real <= cl.witness_weight <= real + 4
        # the second stage: its output pays the delayed script we will sweep
        r.on_broadcast(htx.txid, [cl.outpoint])
        r.on_confirmed(tx.txid, 100)
        r.on_spent(cl.outpoint, htx.txid, 101, view.params)
        (second,) = [t.claim for t in r.claims if t.claim.outpoint == OutPoint(htx.txid, 0)]
        assert second.kind is ClaimKind.SECOND_STAGE
        assert htx.outputs[0].script_pubkey == p2wsh(second.witness_script)
        assert htx.outputs[0].amount_sat == second.value_sat
        assert second.csv == i("local_delay")


@pytest.mark.parametrize(
    ("v", "anchors"),
    [(v, False) for v in C_HTLCS] + [(v, True) for v in F_HTLCS],
    ids=[f"C:{v.name}" for v in C_HTLCS] + [f"F:{v.name}" for v in F_HTLCS],
)
def test_their_commitment_claims(v: CommitmentVector, anchors: bool) -> None:
    view = counterparty_view(v, anchors=anchors)
    tx = Tx.parse(v.tx)
    c = classify(view, tx)
    assert c.kind is CloseKind.COUNTERPARTY and c.ref is view.counterparty[0]
    claims = claims_of(c, view.params)
    spk = to_remote_script(view.params)
    remote_outs = [n for n, o in enumerate(tx.outputs) if o.script_pubkey == spk]
    to_remote = [cl for cl in claims if cl.kind is ClaimKind.TO_REMOTE]
    assert [cl.outpoint.vout for cl in to_remote] == remote_outs
    # option_anchors: CSV 1; else P2WPKH, spendable at once
    assert all(cl.csv == (1 if anchors else 0) for cl in to_remote)
    assert all(cl.is_p2wpkh is not anchors for cl in to_remote)
    for cl in claims:
        spk = tx.outputs[cl.outpoint.vout].script_pubkey
        if cl.is_p2wpkh:
            assert spk == p2wpkh(view.params.basepoints[Side.LOCAL].payment_basepoint)
        else:
            assert spk == p2wsh(cl.witness_script)
        if cl.htlc is None:
            continue
        we_offered = cl.htlc[0] is Side.LOCAL  # our frame: the vector's remote side
        assert cl.kind is (ClaimKind.HTLC_TIMEOUT if we_offered else ClaimKind.HTLC_PREIMAGE)
        assert cl.csv == (1 if anchors else 0)
        assert (cl.cltv > 0) is we_offered
    assert not [cl for cl in claims if cl.kind is ClaimKind.TO_LOCAL]


def test_revoked_future_mutual_unknown() -> None:
    v = C_HTLCS[0]
    view = holder_view(v, anchors=False)
    tx = Tx.parse(v.tx)
    factor = view.params.obscuring_factor

    def renumbered(n: int) -> Tx:
        locktime, sequence = commitment_number_fields(n, factor)
        txin = tx.inputs[0]
        return Tx(2, (TxIn(txin.prevout, b"", sequence),), tx.outputs, locktime)

    assert classify(view, renumbered(41)).kind is CloseKind.REVOKED
    assert classify(view, renumbered(41)).number == 41
    assert classify(view, renumbered(43)).kind is CloseKind.FUTURE
    closing = Tx(2, (TxIn(tx.inputs[0].prevout),), tx.outputs, 0)
    assert classify(view, closing).kind is CloseKind.MUTUAL
    assert classify_txid(view, closing.txid).kind is CloseKind.UNKNOWN
    assert classify_txid(view, tx.txid).kind is CloseKind.HOLDER
    assert claims_of(classify(view, closing), view.params) == []
