"""BOLT 3 Appendices B, C and F, read from the spec: the funding transaction; every
commitment transaction (static_remotekey and anchors sets) built from the listed
parameters, signed by both funding keys, byte for byte; every HTLC-timeout/success
transaction with both signatures (SINGLE|ANYONECANPAY from the counterparty under
anchors)."""

from __future__ import annotations

import pytest

from tests.unit.channel.bolt3_vectors import (
    CommitmentVector,
    appendix_b,
    appendix_c_params,
    appendix_c_vectors,
    appendix_f_vectors,
)
from vajra.bitcoin.bip69 import sort_outputs
from vajra.bitcoin.script import p2pkh, p2wpkh, p2wsh, push_data
from vajra.bitcoin.sighash import SIGHASH_ALL, legacy_sighash
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.channel.commitment import (
    Commitment,
    CommitmentKeys,
    Htlc,
    build_commitment,
    build_htlc_tx,
    commitment_fee_sat,
    obscuring_factor,
)
from vajra.channel.keys import Basepoints, derive_privkey, derive_pubkey
from vajra.channel.scripts import funding_script
from vajra.channel.signing import (
    commitment_sighash,
    commitment_witness,
    counterparty_htlc_sighash_type,
    htlc_sighash,
    htlc_witness,
    sign_commitment,
    verify_commitment_signed,
)
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import CURVE_ORDER, PrivateKey, der_to_compact, pubkey_from_secret
from vajra.errors import ProtocolError

P = appendix_c_params()
C_VECTORS = appendix_c_vectors()
F_VECTORS = appendix_f_vectors()


def _b(key: str) -> bytes:
    v = P[key]
    assert isinstance(v, bytes)
    return v


def _i(key: str) -> int:
    v = P[key]
    assert isinstance(v, int)
    return v


def _keys() -> CommitmentKeys:
    """The commitment keys derived from the basepoints and the per-commitment point,
    checked against the keys Appendix C lists."""
    pcp = pubkey_from_secret(_b("x_local_per_commitment_secret"))
    assert pcp == _b("local_per_commitment_point")
    local = Basepoints(
        funding_pubkey=_b("local_funding_pubkey"),
        revocation_basepoint=b"",  # the owner's own revocation basepoint is not used
        payment_basepoint=_b("local_payment_basepoint"),
        delayed_payment_basepoint=_b("local_delayed_payment_basepoint"),
        htlc_basepoint=_b("local_htlc_basepoint"),
        first_per_commitment_point=pcp,
    )
    remote = Basepoints(
        funding_pubkey=_b("remote_funding_pubkey"),
        revocation_basepoint=_b("remote_revocation_basepoint"),
        payment_basepoint=_b("remote_payment_basepoint"),
        delayed_payment_basepoint=b"",
        htlc_basepoint=_b("remote_htlc_basepoint"),
        first_per_commitment_point=b"",
    )
    keys = CommitmentKeys.derive(pcp, local, remote)
    assert keys.revocation_pubkey == _b("local_revocation_pubkey")
    assert keys.local_delayed_pubkey == _b("local_delayedpubkey")
    assert keys.local_htlc_pubkey == _b("local_htlcpubkey")
    assert keys.remote_htlc_pubkey == _b("remote_htlcpubkey")
    return keys


KEYS = _keys()
PCP = KEYS.per_commitment_point
FUNDING_SCRIPT = funding_script(KEYS.local_funding_pubkey, KEYS.remote_funding_pubkey)
FUNDING = OutPoint(_b("funding_tx_id")[::-1], _i("funding_output_index"))
LOCAL_FUNDING = PrivateKey(_b("local_funding_privkey"))
REMOTE_FUNDING = PrivateKey(_b("remote_funding_privkey"))
# "We use the same values for the HTLC basepoints" as the payment basepoints
LOCAL_HTLC = PrivateKey(derive_privkey(_b("local_payment_basepoint_secret"), PCP))
REMOTE_HTLC = PrivateKey(derive_privkey(_b("remote_payment_basepoint_secret"), PCP))


def test_listed_private_keys_match() -> None:
    assert LOCAL_FUNDING.pubkey == KEYS.local_funding_pubkey
    assert REMOTE_FUNDING.pubkey == KEYS.remote_funding_pubkey
    assert (
        LOCAL_HTLC.pubkey
        == KEYS.local_htlc_pubkey
        == derive_pubkey(_b("local_htlc_basepoint"), PCP)
    )
    assert REMOTE_HTLC.pubkey == KEYS.remote_htlc_pubkey
    assert derive_privkey(_b("local_delayed_payment_basepoint_secret"), PCP) == _b(
        "local_delayed_privkey"
    )
    # "# obscured commitment number = 0x2bb038521914 ^ 42"
    assert (
        obscuring_factor(_b("local_payment_basepoint"), _b("remote_payment_basepoint"))
        == 0x2BB038521914
    )


def test_vectors_were_read() -> None:
    assert len(C_VECTORS) == 16 and len(F_VECTORS) == 9
    assert sum(len(v.htlc_txs) for v in C_VECTORS) >= 30
    assert sum(len(v.htlc_txs) for v in F_VECTORS) >= 15


def _der(key: PrivateKey, digest: bytes, hash_type: int) -> bytes:
    return key.sign_digest_der(digest) + bytes((hash_type,))


def _commitment(v: CommitmentVector, *, anchors: bool) -> Commitment:
    htlcs = [
        Htlc(h.offered, h.amount_msat, sha256(h.payment_preimage), h.cltv_expiry) for h in v.htlcs
    ]
    return build_commitment(
        funding_outpoint=FUNDING,
        keys=KEYS,
        to_self_delay=_i("local_delay"),
        dust_limit_sat=v.dust_limit_sat,
        feerate_per_kw=v.feerate_per_kw,
        to_local_msat=v.to_local_msat,
        to_remote_msat=v.to_remote_msat,
        owner_is_opener=True,
        htlcs=htlcs,
        commitment_number=_i("commitment_number"),
        obscuring_factor=obscuring_factor(
            _b("local_payment_basepoint"), _b("remote_payment_basepoint")
        ),
        anchors=anchors,
    )


def _check(v: CommitmentVector, *, anchors: bool) -> None:
    preimages = {sha256(h.payment_preimage): h.payment_preimage for h in v.htlcs}
    c = _commitment(v, anchors=anchors)
    amount = _i("funding_amount_satoshi")
    digest = commitment_sighash(c, FUNDING_SCRIPT, amount)
    remote_sig = _der(REMOTE_FUNDING, digest, SIGHASH_ALL)
    local_sig = _der(LOCAL_FUNDING, digest, SIGHASH_ALL)
    assert remote_sig[:-1] == v.remote_sig
    if v.local_sig is not None:
        assert local_sig[:-1] == v.local_sig
    witness = commitment_witness(
        FUNDING_SCRIPT, KEYS.local_funding_pubkey, local_sig, KEYS.remote_funding_pubkey, remote_sig
    )
    signed = c.tx.with_witnesses([witness])
    assert signed.serialize().hex() == v.tx.hex()
    assert c.base_fee_sat <= amount - sum(o.amount_sat for o in c.tx.outputs)
    # HTLC transactions, in the order of the commitment's HTLC outputs
    outs = c.htlc_outputs
    assert len(outs) == len(v.htlc_txs)
    for (vout, out), expected in zip(outs, v.htlc_txs, strict=True):
        assert out.htlc is not None and out.witness_script is not None
        htlc_tx = build_htlc_tx(
            c,
            vout,
            KEYS,
            to_self_delay=_i("local_delay"),
            feerate_per_kw=v.feerate_per_kw,
            anchors=anchors,
        )
        ws, value = out.witness_script, out.txout.amount_sat
        remote_type = counterparty_htlc_sighash_type(anchors=anchors)
        r = _der(REMOTE_HTLC, htlc_sighash(htlc_tx, ws, value, remote_type), remote_type)
        lo = _der(LOCAL_HTLC, htlc_sighash(htlc_tx, ws, value, SIGHASH_ALL), SIGHASH_ALL)
        assert r[:-1] == expected.remote_sig
        if expected.local_sig is not None:
            assert lo[:-1] == expected.local_sig
        preimage = None if out.htlc.offered else preimages[out.htlc.payment_hash]
        full = htlc_tx.with_witnesses([htlc_witness(r, lo, preimage, ws)])
        assert full.serialize().hex() == expected.tx.hex()


@pytest.mark.parametrize("v", C_VECTORS, ids=[v.name for v in C_VECTORS])
def test_appendix_c_static_remotekey(v: CommitmentVector) -> None:
    _check(v, anchors=False)


@pytest.mark.parametrize("v", F_VECTORS, ids=[v.name for v in F_VECTORS])
def test_appendix_f_anchors(v: CommitmentVector) -> None:
    _check(v, anchors=True)


def test_fee_example() -> None:
    """BOLT 3 "Fees" example: two untrimmed HTLCs at 5000 sat/kw -> base fee 5340."""
    assert commitment_fee_sat(5000, 2, anchors=False) == 5340


def test_appendix_b_funding_transaction() -> None:
    b = appendix_b()

    def raw(k: str) -> bytes:
        v = b[k]
        assert isinstance(v, bytes)
        return v

    coinbase = Tx.parse(raw("Block_1_coinbase_transaction"))
    assert raw("Block_1_coinbase_privkey")[-1] == 1  # the "compressed" marker
    key = PrivateKey(raw("Block_1_coinbase_privkey")[:32])
    spent = coinbase.outputs[0]
    assert spent.script_pubkey == p2pkh(key.pubkey)
    assert coinbase.txid == raw("input_txid")[::-1]
    script = funding_script(raw("local_funding_pubkey"), raw("remote_funding_pubkey"))
    assert script == FUNDING_SCRIPT
    # the change goes to the same key's P2WPKH (the appendix does not print it; the
    # signature below only verifies with this output)
    outs = sort_outputs(
        [
            TxOut(int(b["funding_satoshis"]), p2wsh(script)),
            TxOut(int(b["change_satoshis"]), p2wpkh(key.pubkey)),
        ]
    )
    assert outs[int(b["funding_output"])].script_pubkey == p2wsh(script)
    assert int(b["input_satoshis"]) - sum(o.amount_sat for o in outs) > 0
    unsigned = Tx(2, (TxIn(OutPoint(coinbase.txid, int(b["input_index"]))),), outs)
    sig = _der(key, legacy_sighash(unsigned, 0, spent.script_pubkey, SIGHASH_ALL), SIGHASH_ALL)
    signed = Tx(
        2, (TxIn(unsigned.inputs[0].prevout, push_data(sig) + push_data(key.pubkey)),), outs
    )
    assert signed.serialize() == raw("funding_tx")
    assert signed.txid == FUNDING.txid


@pytest.mark.parametrize(
    ("v", "anchors"),
    [(v, False) for v in C_VECTORS] + [(v, True) for v in F_VECTORS],
    ids=[f"C {v.name}" for v in C_VECTORS] + [f"F {v.name}" for v in F_VECTORS],
)
def test_commitment_signed_round(v: CommitmentVector, anchors: bool) -> None:
    """The remote's `commitment_signed` for our commitment, made by `sign_commitment`
    with the remote's keys, is the vector's signatures; `verify_commitment_signed`
    accepts it and refuses every tampered variant."""
    c = _commitment(v, anchors=anchors)
    amount = _i("funding_amount_satoshi")
    params = {
        "to_self_delay": _i("local_delay"),
        "feerate_per_kw": v.feerate_per_kw,
        "anchors": anchors,
    }
    sig, htlc_sigs = sign_commitment(
        c, KEYS, FUNDING_SCRIPT, amount, REMOTE_FUNDING, REMOTE_HTLC, **params
    )
    assert sig == der_to_compact(v.remote_sig)
    assert htlc_sigs == [der_to_compact(h.remote_sig) for h in v.htlc_txs]
    verify_commitment_signed(c, KEYS, FUNDING_SCRIPT, amount, sig, htlc_sigs, **params)
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    high_s = sig[:32] + (CURVE_ORDER - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    for wrong in (bad, high_s):
        with pytest.raises(ProtocolError, match="commitment signature"):
            verify_commitment_signed(c, KEYS, FUNDING_SCRIPT, amount, wrong, htlc_sigs, **params)
    with pytest.raises(ProtocolError, match="HTLC signatures for"):
        verify_commitment_signed(
            c,
            KEYS,
            FUNDING_SCRIPT,
            amount,
            sig,
            [*htlc_sigs, htlc_sigs[0] if htlc_sigs else sig],
            **params,
        )
    if len(htlc_sigs) >= 2:
        swapped = [htlc_sigs[1], htlc_sigs[0], *htlc_sigs[2:]]
        with pytest.raises(ProtocolError, match="HTLC signature 0"):
            verify_commitment_signed(c, KEYS, FUNDING_SCRIPT, amount, sig, swapped, **params)
    if htlc_sigs and anchors:
        # an ALL signature where anchors require SINGLE|ANYONECANPAY is refused
        tx = build_htlc_tx(c, c.htlc_outputs[0][0], KEYS, **params)
        out = c.htlc_outputs[0][1]
        assert out.witness_script is not None
        all_sig = REMOTE_HTLC.sign_digest(
            htlc_sighash(tx, out.witness_script, out.txout.amount_sat, SIGHASH_ALL)
        )
        with pytest.raises(ProtocolError, match="HTLC signature 0"):
            verify_commitment_signed(
                c, KEYS, FUNDING_SCRIPT, amount, sig, [all_sig, *htlc_sigs[1:]], **params
            )
