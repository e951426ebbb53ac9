"""`bitcoin/` and BOLT 3 against a real full node: btcd parses nothing for us, it only
accepts or refuses. Every transaction below is built, signed and serialized by Vajra and
must pass btcd's consensus and policy checks (`sendrawtransaction`):

- a PSBT spend of a P2WPKH coinbase (BIP 143 sighash, P2WPKH finalizer), creating a P2TR
  output and a BOLT 3 funding output;
- a BIP 341 key-path spend of the P2TR output (Schnorr, SIGHASH_DEFAULT);
- an option_anchors commitment transaction with an offered and a received HTLC, both
  funding signatures;
- its HTLC-timeout and HTLC-success transactions, each with a fee input and change added
  after the counterparty signed SINGLE|ANYONECANPAY (the reason anchors use that flag);
- `to_remote` (CSV 1) with both anchors in one transaction, `to_local` after
  `to_self_delay`, and the revocation path of an HTLC transaction's output;
- a static_remotekey commitment (fee from the non-owner opener), its self-paying
  HTLC-timeout transaction and the P2WPKH `to_remote` spent with the payment basepoint key.

And every block btcd mines is parsed by `parse_block`, `scan_block` and `match_block`
and checked against btcd's own view (block hash, txids, merkle root).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vajra.bitcoin.block import match_block, merkle_root, parse_block, scan_block
from vajra.bitcoin.psbt import Psbt
from vajra.bitcoin.psbt_roles import extract, finalize, sign_input
from vajra.bitcoin.script import p2tr, p2wpkh, p2wpkh_script_code, p2wsh, script_to_address
from vajra.bitcoin.sighash import (
    SIGHASH_ALL,
    SIGHASH_DEFAULT,
    SegwitV0Sighasher,
    TaprootSighasher,
    taproot_output_key,
    taproot_tweak,
)
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.channel.commitment import (
    CommitmentKeys,
    Htlc,
    build_commitment,
    build_htlc_tx,
    obscuring_factor,
)
from vajra.channel.keys import Basepoints, derive_privkey, derive_revocation_privkey
from vajra.channel.scripts import funding_script
from vajra.channel.signing import (
    commitment_sighash,
    commitment_witness,
    counterparty_htlc_sighash_type,
    htlc_sighash,
    htlc_witness,
)
from vajra.crypto.hashes import hash160, sha256
from vajra.crypto.secp256k1 import CURVE_ORDER, PrivateKey
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import DaemonFailed

pytestmark = pytest.mark.interop

WALLET = PrivateKey(sha256(b"vajra interop wallet"))
WALLET_SPK = p2wpkh(WALLET.pubkey)
FEE = 2_000  # sat per spend: well above btcd's 1 sat/vB relay floor for these sizes


def _k(label: str) -> PrivateKey:
    return PrivateKey(sha256(label.encode()))


@pytest.fixture(scope="module")
def chain(testbed_paths: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Btcd]:
    """btcd mining to our own P2WPKH key, with matured coinbases."""
    node = Btcd(
        Path(tmp_path_factory.mktemp("btcd-bitcoin")),
        mining_address=script_to_address(WALLET_SPK, "regtest"),
    )
    node.start()
    try:
        node.generate(COINBASE_MATURITY + 5)
        yield node
    finally:
        node.stop()


def _block(chain: Btcd, height: int) -> bytes:
    return bytes.fromhex(chain.call("getblock", chain.call("getblockhash", height), 0))


def _coinbase(chain: Btcd, height: int) -> Tx:
    return parse_block(_block(chain, height)).txs[0]


def _send(chain: Btcd, tx: Tx) -> None:
    assert chain.sendrawtransaction(tx.serialize().hex()) == tx.txid_hex


def _sign_v0(
    tx: Tx, n: int, key: PrivateKey, script_code: bytes, amount: int, hash_type: int = SIGHASH_ALL
) -> bytes:
    digest = SegwitV0Sighasher(tx).sighash(n, script_code, amount, hash_type)
    return key.sign_digest_der(digest) + bytes((hash_type,))


def _sweep(
    prev: Tx,
    vout: int,
    key: PrivateKey,
    witness_script: bytes,
    extra: list[bytes],
    *,
    sequence: int = 0xFFFFFFFF,
) -> Tx:
    """Spend one P2WSH output to the wallet: witness `<sig> extra... <script>`."""
    amount = prev.outputs[vout].amount_sat
    tx = Tx(
        2, (TxIn(OutPoint(prev.txid, vout), b"", sequence),), (TxOut(amount - FEE, WALLET_SPK),)
    )
    sig = _sign_v0(tx, 0, key, witness_script, amount)
    return tx.with_witnesses([(sig, *extra, witness_script)])


def test_every_block_parses_like_btcd_sees_it(chain: Btcd) -> None:
    for height in range(0, chain.getblockcount() + 1, 7):
        raw = _block(chain, height)
        info = chain.call("getblock", chain.call("getblockhash", height), 1)
        block = parse_block(raw)
        header, scanned = scan_block(raw)
        assert header.block_hash_hex == info["hash"] == block.header.block_hash_hex
        assert [t.txid_hex for t in block.txs] == info["tx"]
        assert [s.txid for s in scanned] == [t.txid for t in block.txs]
        assert merkle_root([s.txid for s in scanned]) == header.merkle_root
        assert header.merkle_root[::-1].hex() == info["merkleroot"]


def test_psbt_taproot_and_bolt3_on_chain(chain: Btcd) -> None:
    # -- 1. PSBT: a coinbase to a BOLT 3 funding output, a P2TR output and change -------
    local_funding, remote_funding = _k("local funding"), _k("remote funding")
    fscript = funding_script(local_funding.pubkey, remote_funding.pubkey)
    internal = _k("taproot internal")
    xonly = internal.pubkey[1:]
    q = taproot_output_key(xonly)
    cb = _coinbase(chain, 1)
    funding_sat, taproot_sat = 1_000_000, 100_000
    change = cb.outputs[0].amount_sat - funding_sat - taproot_sat - FEE
    unsigned = Tx(
        2,
        (TxIn(OutPoint(cb.txid, 0), b"", 0xFFFFFFFD),),
        (
            TxOut(funding_sat, p2wsh(fscript)),
            TxOut(taproot_sat, p2tr(q)),
            TxOut(change, WALLET_SPK),
        ),
    )
    psbt = Psbt.from_tx(unsigned)
    psbt.inputs[0].witness_utxo = cb.outputs[0]
    psbt = Psbt.from_base64(psbt.to_base64())  # as it would travel to the signer
    sign_input(psbt, 0, WALLET)
    finalize(psbt)
    tx1 = extract(psbt)
    _send(chain, tx1)
    (h,) = chain.generate(1)
    _, matches = match_block(
        bytes.fromhex(chain.call("getblock", h, 0)),
        {p2wsh(fscript), p2tr(q)},
        {OutPoint(cb.txid, 0).serialize()},
    )
    assert [(m.txid, [v for v, _, _ in m.pays], [j for j, _ in m.spends]) for m in matches] == [
        (tx1.txid, [0, 1], [0])
    ]

    # -- 2. BIP 341 key path -------------------------------------------------------------
    spend = Tx(2, (TxIn(OutPoint(tx1.txid, 1)),), (TxOut(taproot_sat - FEE, WALLET_SPK),))
    digest = TaprootSighasher(spend, [tx1.outputs[1]]).sighash(0, SIGHASH_DEFAULT)
    secret = int.from_bytes(internal.secret, "big")
    if internal.pubkey[0] == 3:  # BIP 341 taproot_tweak_seckey: negate for an odd Y
        secret = CURVE_ORDER - secret
    tweaked = (secret + int.from_bytes(taproot_tweak(xonly), "big")) % CURVE_ORDER
    sig = PrivateKey(tweaked.to_bytes(32, "big")).sign_schnorr(digest)
    _send(chain, spend.with_witnesses([(sig,)]))

    # -- 3. an anchors commitment transaction with two HTLCs -----------------------------
    s = {n: _k(n) for n in ("lp", "ld", "lh", "lr", "rp", "rd", "rh", "rr")}
    pcs = sha256(b"per commitment secret")
    pcp = PrivateKey(pcs).pubkey
    local = Basepoints(
        local_funding.pubkey, s["lr"].pubkey, s["lp"].pubkey, s["ld"].pubkey, s["lh"].pubkey, pcp
    )
    remote = Basepoints(
        remote_funding.pubkey, s["rr"].pubkey, s["rp"].pubkey, s["rd"].pubkey, s["rh"].pubkey, pcp
    )
    keys = CommitmentKeys.derive(pcp, local, remote)
    height = chain.getblockcount()
    preimage = sha256(b"the preimage")
    htlcs = [
        Htlc(True, 50_000_000, sha256(b"unknown to us"), height),  # offered: times out now
        Htlc(False, 40_000_000, sha256(preimage), height + 500),  # received: we know the preimage
    ]
    to_self_delay, feerate, anchors = 2, 2_500, True
    c = build_commitment(
        funding_outpoint=OutPoint(tx1.txid, 0),
        keys=keys,
        to_self_delay=to_self_delay,
        dust_limit_sat=546,
        feerate_per_kw=feerate,
        to_local_msat=610_000_000,
        to_remote_msat=300_000_000,
        owner_is_opener=True,
        htlcs=htlcs,
        commitment_number=7,
        obscuring_factor=obscuring_factor(local.payment_basepoint, remote.payment_basepoint),
        anchors=anchors,
    )
    digest = commitment_sighash(c, fscript, funding_sat)
    lsig = local_funding.sign_digest_der(digest) + b"\x01"
    rsig = remote_funding.sign_digest_der(digest) + b"\x01"
    commit = c.tx.with_witnesses(
        [commitment_witness(fscript, local_funding.pubkey, lsig, remote_funding.pubkey, rsig)]
    )
    _send(chain, commit)
    chain.generate(1)  # HTLC outputs and to_remote carry `1 OP_CHECKSEQUENCEVERIFY`

    # -- 4. HTLC transactions, fee added after the counterparty's SINGLE|ANYONECANPAY ----
    local_htlc = PrivateKey(derive_privkey(s["lh"].secret, pcp))
    remote_htlc = PrivateKey(derive_privkey(s["rh"].secret, pcp))
    fee_sources = iter(_coinbase(chain, h) for h in (2, 3))
    second_stage = []
    for vout, out in c.htlc_outputs:
        assert out.htlc is not None and out.witness_script is not None
        bare = build_htlc_tx(
            c, vout, keys, to_self_delay=to_self_delay, feerate_per_kw=feerate, anchors=anchors
        )
        assert bare.outputs[0].amount_sat == out.txout.amount_sat  # zero-fee HTLC transaction
        rtype = counterparty_htlc_sighash_type(anchors=anchors)
        r = remote_htlc.sign_digest_der(
            htlc_sighash(bare, out.witness_script, out.txout.amount_sat, rtype)
        ) + bytes((rtype,))
        fee_cb = next(fee_sources)
        bumped = Tx(
            2,
            (*bare.inputs, TxIn(OutPoint(fee_cb.txid, 0))),
            (*bare.outputs, TxOut(fee_cb.outputs[0].amount_sat - FEE, WALLET_SPK)),
            bare.locktime,
        )
        lo = _sign_v0(bumped, 0, local_htlc, out.witness_script, out.txout.amount_sat)
        w = _sign_v0(
            bumped,
            1,
            WALLET,
            p2wpkh_script_code(hash160(WALLET.pubkey)),
            fee_cb.outputs[0].amount_sat,
        )
        pre = None if out.htlc.offered else preimage
        full = bumped.with_witnesses(
            [htlc_witness(r, lo, pre, out.witness_script), (w, WALLET.pubkey)]
        )
        _send(chain, full)
        second_stage.append(full)

    # -- 5. to_remote (CSV 1) with both anchors in one transaction -------------------------
    kinds = {o.kind: i for i, o in enumerate(c.outputs)}
    spends = [
        (kinds["to_remote"], s["rp"]),
        (kinds["local_anchor"], local_funding),
        (kinds["remote_anchor"], remote_funding),
    ]
    total = sum(c.tx.outputs[i].amount_sat for i, _ in spends)
    sweep = Tx(
        2,
        tuple(
            TxIn(OutPoint(commit.txid, i), b"", 1 if i == kinds["to_remote"] else 0xFFFFFFFF)
            for i, _ in spends
        ),
        (TxOut(total - FEE, WALLET_SPK),),
    )
    wits = []
    for n, (i, key) in enumerate(spends):
        ws = c.outputs[i].witness_script
        assert ws is not None
        wits.append((_sign_v0(sweep, n, key, ws, c.tx.outputs[i].amount_sat), ws))
    _send(chain, sweep.with_witnesses(wits))

    # -- 6. revocation path of an HTLC transaction's output (a penalty needs no delay) ----
    rev = PrivateKey(derive_revocation_privkey(s["rr"].secret, pcs))
    assert rev.pubkey == keys.revocation_pubkey
    ws = c.outputs[kinds["to_local"]].witness_script
    assert ws is not None  # the HTLC transactions pay the same script as to_local
    _send(chain, _sweep(second_stage[0], 0, rev, ws, [b"\x01"]))

    # -- 7. to_local after to_self_delay ------------------------------------------------
    delayed = PrivateKey(derive_privkey(s["ld"].secret, pcp))
    early = _sweep(commit, kinds["to_local"], delayed, ws, [b""], sequence=to_self_delay)
    with pytest.raises(DaemonFailed, match=r"(?i)sequence|lock|final|BIP68"):
        _send(chain, early)
    chain.generate(to_self_delay)
    _send(chain, early)
    chain.generate(1)
    assert chain.getrawmempool() == []


def test_static_remotekey_commitment_on_chain(chain: Btcd) -> None:
    """Without anchors: P2WPKH `to_remote`, HTLC scripts without the CSV, HTLC
    transactions paying their own fee and signed SIGHASH_ALL by both sides."""
    local_funding, remote_funding = _k("s local funding"), _k("s remote funding")
    fscript = funding_script(local_funding.pubkey, remote_funding.pubkey)
    cb = _coinbase(chain, 4)
    funding_sat = 500_000
    unsigned = Tx(
        2,
        (TxIn(OutPoint(cb.txid, 0)),),
        (
            TxOut(funding_sat, p2wsh(fscript)),
            TxOut(cb.outputs[0].amount_sat - funding_sat - FEE, WALLET_SPK),
        ),
    )
    psbt = Psbt.from_tx(unsigned)
    psbt.inputs[0].witness_utxo = cb.outputs[0]
    sign_input(psbt, 0, WALLET)
    finalize(psbt)
    funding_tx = extract(psbt)
    _send(chain, funding_tx)

    s = {n: _k("s " + n) for n in ("lp", "ld", "lh", "lr", "rp", "rd", "rh", "rr")}
    pcp = _k("s pcs").pubkey
    local = Basepoints(
        local_funding.pubkey, s["lr"].pubkey, s["lp"].pubkey, s["ld"].pubkey, s["lh"].pubkey, pcp
    )
    remote = Basepoints(
        remote_funding.pubkey, s["rr"].pubkey, s["rp"].pubkey, s["rd"].pubkey, s["rh"].pubkey, pcp
    )
    keys = CommitmentKeys.derive(pcp, local, remote)
    height = chain.getblockcount()
    feerate = 2_500
    c = build_commitment(
        funding_outpoint=OutPoint(funding_tx.txid, 0),
        keys=keys,
        to_self_delay=144,
        dust_limit_sat=546,
        feerate_per_kw=feerate,
        to_local_msat=200_000_000,
        to_remote_msat=240_000_000,
        owner_is_opener=False,  # the fee comes from to_remote this time
        htlcs=[Htlc(True, 60_000_000, sha256(b"s unknown"), height)],
        commitment_number=1,
        obscuring_factor=obscuring_factor(remote.payment_basepoint, local.payment_basepoint),
        anchors=False,
    )
    assert sorted(o.kind for o in c.outputs) == ["offered_htlc", "to_local", "to_remote"]
    digest = commitment_sighash(c, fscript, funding_sat)
    lsig = local_funding.sign_digest_der(digest) + b"\x01"
    rsig = remote_funding.sign_digest_der(digest) + b"\x01"
    commit = c.tx.with_witnesses(
        [commitment_witness(fscript, local_funding.pubkey, lsig, remote_funding.pubkey, rsig)]
    )
    _send(chain, commit)  # no CSV anywhere: the HTLC transaction can follow in the mempool

    ((vout, out),) = c.htlc_outputs
    assert out.witness_script is not None
    htlc_tx = build_htlc_tx(c, vout, keys, to_self_delay=144, feerate_per_kw=feerate, anchors=False)
    assert htlc_tx.outputs[0].amount_sat == 60_000 - feerate * 663 // 1000
    local_htlc = PrivateKey(derive_privkey(s["lh"].secret, pcp))
    remote_htlc = PrivateKey(derive_privkey(s["rh"].secret, pcp))
    r = _sign_v0(htlc_tx, 0, remote_htlc, out.witness_script, out.txout.amount_sat)
    lo = _sign_v0(htlc_tx, 0, local_htlc, out.witness_script, out.txout.amount_sat)
    _send(chain, htlc_tx.with_witnesses([htlc_witness(r, lo, None, out.witness_script)]))

    # to_remote is plain P2WPKH to the remote payment basepoint (option_static_remotekey)
    i = next(k for k, o in enumerate(c.outputs) if o.kind == "to_remote")
    assert c.tx.outputs[i].script_pubkey == p2wpkh(s["rp"].pubkey)
    amount = c.tx.outputs[i].amount_sat
    assert amount == 240_000 - c.base_fee_sat
    sweep = Tx(2, (TxIn(OutPoint(commit.txid, i)),), (TxOut(amount - FEE, WALLET_SPK),))
    sig = _sign_v0(sweep, 0, s["rp"], p2wpkh_script_code(hash160(s["rp"].pubkey)), amount)
    _send(chain, sweep.with_witnesses([(sig, s["rp"].pubkey)]))
    chain.generate(1)
    assert chain.getrawmempool() == []
