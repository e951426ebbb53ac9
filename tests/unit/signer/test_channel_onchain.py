"""The signer's on-chain policy (decision 0025): our commitment for broadcast only if it
is the latest and not revoked, and never revoked once signed; BOLT 5 sweeps signed only
into the node's wallet, only for claims the signer rebuilds from its own copy. Each
refusal named and shown to bite; each signature checked against its key and digest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.unit.channel.pair import Pair, make_pair
from tests.unit.signer.channel_world import KEYS, open_world
from vajra.bitcoin.script import p2wpkh
from vajra.bitcoin.sighash import SegwitV0Sighasher
from vajra.bitcoin.tx import OutPoint, Tx
from vajra.channel import signer_io as io
from vajra.channel.keys import derive_pubkey
from vajra.channel.spec import Side
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import der_to_compact, pubkey_from_secret, verify_digest
from vajra.onchain.claims import Claim, ClaimKind, claims_of
from vajra.onchain.classify import CloseKind, classify
from vajra.onchain.view import view_of
from vajra.signer import channel_store as cs
from vajra.signer.channel_requests import wallet_scripts

A_PAYS = b"\x0a" * 32  # preimage of the HTLC A offers B
B_PAYS = b"\x0b" * 32  # preimage of the HTLC B offers A
WALLET = p2wpkh(pubkey_from_secret(sha256(b"a wallet key")))
FEERATE = 1_000


def _both_ways() -> Pair:
    """An anchors channel with one HTLC each way on both commitments."""
    p = make_pair(anchors=True)
    p.a.signer.authorise_payment(sha256(A_PAYS), 10**12)
    p.b.signer.authorise_payment(sha256(B_PAYS), 10**12)
    p.a.channel.command(io.AddHtlc(50_000_000, sha256(A_PAYS), 700_000), 0.0)
    p.b.channel.command(io.AddHtlc(70_000_000, sha256(B_PAYS), 700_010), 0.0)
    p.flush()
    p.settle_all()
    assert len(p.a.channel.ledger.local_commit.spec.htlcs) == 2
    return p


def _signed(result: io.SignerResult) -> Tx:
    assert isinstance(result, io.HolderCommitmentSigned | io.SweepSigned), result
    return result.tx


def _request(claims: list[Claim], preimage: bytes | None = None) -> io.SignSweep:
    return io.SignSweep(
        tuple(
            io.SweepClaim(
                c.owner,
                c.number,
                c.outpoint,
                c.value_sat,
                c.kind.value,
                preimage if c.kind is ClaimKind.HTLC_PREIMAGE else None,
            )
            for c in claims
        ),
        WALLET,
        FEERATE,
    )


def _their_close(p: Pair) -> list[Claim]:
    """B broadcasts its latest commitment: A's claims on it."""
    number = p.b.channel.ledger.local_commit.number
    tx = _signed(p.b.signer.handle(io.SignHolderCommitment(number)))
    c = classify(view_of(p.a.channel), tx)
    assert c.kind is CloseKind.COUNTERPARTY
    return claims_of(c, p.a.channel.ledger.channel)


def _check_signatures(tx: Tx, claims: list[Claim], keys: list[bytes]) -> None:
    hasher = SegwitV0Sighasher(tx)
    for n, (claim, key) in enumerate(zip(claims, keys, strict=True)):
        witness = tx.inputs[n].witness
        assert witness[-1] == claim.witness_script
        digest = hasher.sighash(n, claim.witness_script, claim.value_sat, witness[0][-1])
        assert verify_digest(key, der_to_compact(witness[0][:-1]), digest)
        real = 1 + sum(1 + len(w) for w in witness)
        assert real <= claim.witness_weight


def test_sweeps_their_commitment_to_the_wallet() -> None:
    p = _both_ways()
    claims = _their_close(p)
    kinds = sorted(c.kind.value for c in claims)
    assert kinds == ["htlc_preimage", "htlc_timeout", "to_remote"]
    result = p.a.signer.handle(_request(claims, B_PAYS), allowlisted={WALLET})
    assert isinstance(result, io.SweepSigned)
    tx = result.tx
    assert [i.prevout for i in tx.inputs] == [c.outpoint for c in claims]
    assert [o.script_pubkey for o in tx.outputs] == [WALLET]
    assert tx.outputs[0].amount_sat == sum(c.value_sat for c in claims) - result.fee_sat
    # the feerate asked over the expected weight (the real one or a few bytes more)
    assert FEERATE * tx.weight // 1000 <= result.fee_sat <= FEERATE * (tx.weight + 6) // 1000
    assert tx.locktime == 700_000  # the timeout claim's cltv_expiry
    assert all(i.sequence == 1 for i in tx.inputs)  # option_anchors: CSV 1 everywhere
    bp = p.a.channel.ledger.channel.basepoints[Side.LOCAL]
    their_point = p.a.channel.remote_point
    keys = [
        bp.payment_basepoint
        if c.kind is ClaimKind.TO_REMOTE
        else derive_pubkey(bp.htlc_basepoint, their_point)
        for c in claims
    ]
    _check_signatures(tx, claims, keys)
    (pre,) = [n for n, c in enumerate(claims) if c.kind is ClaimKind.HTLC_PREIMAGE]
    assert tx.inputs[pre].witness[1] == B_PAYS


def test_sweeps_our_to_local_after_a_force_close() -> None:
    p = _both_ways()
    number = p.a.channel.ledger.local_commit.number
    tx = _signed(p.a.signer.handle(io.SignHolderCommitment(number)))
    c = classify(view_of(p.a.channel), tx)
    assert c.kind is CloseKind.HOLDER
    (to_local,) = [
        x for x in claims_of(c, p.a.channel.ledger.channel) if x.kind is ClaimKind.TO_LOCAL
    ]
    sweep = _signed(p.a.signer.handle(_request([to_local]), allowlisted={WALLET}))
    assert sweep.inputs[0].sequence == 144  # the peer's to_self_delay on our to_local
    bp = p.a.channel.ledger.channel.basepoints[Side.LOCAL]
    key = derive_pubkey(bp.delayed_payment_basepoint, p.a.channel.local_point)
    _check_signatures(sweep, [to_local], [key])
    # the output of one of our HTLC transactions (second stage) is signed the same way
    second = replace(to_local, kind=ClaimKind.SECOND_STAGE, outpoint=OutPoint(sha256(b"h"), 0))
    s2 = _signed(p.a.signer.handle(_request([second]), allowlisted={WALLET}))
    _check_signatures(s2, [second], [key])


def _refusal(p: Pair, request: io.SignSweep, allow: set[bytes] | None = None) -> str:
    result = p.a.signer.handle(request, allowlisted={WALLET} if allow is None else allow)
    assert isinstance(result, io.SignerRefused), result
    return result.reason


def test_sweep_refusals() -> None:
    p = _both_ways()
    claims = _their_close(p)
    good = _request(claims, B_PAYS)
    assert _refusal(p, good, allow={p2wpkh(bytes(33))}) == "policy-sweep-destination-allowlisted"
    first = good.claims[0]

    def one(**changes: object) -> io.SignSweep:
        return replace(good, claims=(replace(first, **changes), *good.claims[1:]))  # type: ignore[arg-type]

    assert _refusal(p, one(value_sat=first.value_sat + 1)) == "policy-sweep-input-mismatch"
    assert (
        _refusal(p, one(outpoint=OutPoint(first.outpoint.txid, 99)))
        == "policy-sweep-input-mismatch"
    )
    assert _refusal(p, one(number=first.number + 5)) == "policy-sweep-unknown-commitment"
    assert _refusal(p, one(kind="to_local")) == "policy-sweep-kind"
    (pre,) = [n for n, c in enumerate(claims) if c.kind is ClaimKind.HTLC_PREIMAGE]
    no_preimage = list(good.claims)
    no_preimage[pre] = replace(no_preimage[pre], preimage=sha256(b"wrong"))
    assert _refusal(p, replace(good, claims=tuple(no_preimage))) == "policy-sweep-preimage"
    (to_remote,) = [c for c in claims if c.kind is ClaimKind.TO_REMOTE]
    lone = _request([to_remote])
    weight = _signed(p.a.signer.handle(lone, allowlisted={WALLET})).weight
    greedy = replace(lone, feerate_per_kw=to_remote.value_sat * 600 // weight)  # ~60% fee
    assert _refusal(p, greedy) == "policy-sweep-fee"
    assert _refusal(p, replace(lone, feerate_per_kw=100)) == "policy-sweep-unbuildable"


def test_holder_commitment_only_latest_and_never_revoked_after() -> None:
    p = _both_ways()
    n = p.a.channel.ledger.local_commit.number
    old = p.a.signer.handle(io.SignHolderCommitment(n - 1))
    assert isinstance(old, io.SignerRefused)
    assert old.reason == "policy-commitment-holder-not-revoked"
    assert isinstance(p.a.signer.handle(io.SignHolderCommitment(n)), io.HolderCommitmentSigned)
    # B settles its HTLC: A validates commitment n+1, and is asked to revoke n
    p.a.channel.command(io.FulfillHtlc(0, B_PAYS), 0.0)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    broadcast_done = False
    for _ in range(50):
        if p.deliver(True) or p.deliver(False):
            continue
        if not p.a.requests:
            if not p.answer(p.b):  # idle: B signs A's next commitment
                p.b.channel.command(io.SignCommitment(), 0.0)
                p.flush()
            continue
        req = p.a.requests[0]
        if isinstance(req, io.RevokeHolderCommitment) and req.number == n:
            # n+1 validated, n not yet revoked: n is not the latest any more ...
            late = p.a.signer.handle(io.SignHolderCommitment(n))
            assert isinstance(late, io.SignerRefused)
            assert late.reason == "policy-commitment-holder-not-latest"
            # ... and n, signed for broadcast above, is never revoked
            refused = p.a.signer.handle(req)
            assert refused == io.SignerRefused("policy-revoke-after-broadcast", f"number {n}")
            broadcast_done = True
            break
        p.answer(p.a)
    assert broadcast_done


def test_through_the_sealed_core_the_broadcast_mark_is_kept(tmp_path: Path) -> None:
    """Over the link's path (bytes, audited, sealed record): the commitment signed for
    broadcast is remembered across a signer restart; sweeps pay only the node's own
    BIP 84 wallet (the allow-list the core derives, not the caller's)."""
    w = open_world(tmp_path / "state.db")
    n = w.pair.a.channel.ledger.local_commit.number
    signed = w.request(io.SignHolderCommitment(n))
    assert isinstance(signed, io.HolderCommitmentSigned)
    assert signed.tx.inputs[0].prevout == w.params.funding_outpoint
    w.reopen()
    # the mark that refuses any later revocation of n is in the sealed record
    record = w.record()
    assert record is not None
    stored = cs.decode(record, KEYS.node(0).channel(w.index))
    assert stored.holder_broadcast == n
    c = classify(view_of(w.pair.a.channel), signed.tx)
    (to_local,) = [x for x in claims_of(c, w.params) if x.kind is ClaimKind.TO_LOCAL]
    foreign = w.request(_request([to_local]))  # WALLET is not this node's wallet
    assert isinstance(foreign, io.SignerRefused)
    assert foreign.reason == "policy-sweep-destination-allowlisted"
    own = min(wallet_scripts(w.core, 0))
    ok = w.request(replace(_request([to_local]), destination=own))
    assert isinstance(ok, io.SweepSigned) and ok.tx.outputs[0].script_pubkey == own


def test_without_anchors_to_remote_is_p2wpkh_and_swept_at_once() -> None:
    """`option_static_remotekey` without anchors (LND's choice with a hosted node):
    `to_remote` is P2WPKH to our payment basepoint, spendable at once, witness
    <sig> <pubkey> signed over the BIP 143 P2WPKH scriptCode."""
    p = make_pair(anchors=False)
    p.a.signer.authorise_payment(sha256(A_PAYS), 10**12)
    p.a.channel.command(io.AddHtlc(50_000_000, sha256(A_PAYS), 700_000), 0.0)
    p.flush()
    p.settle_all()
    (to_remote,) = [c for c in _their_close(p) if c.kind is ClaimKind.TO_REMOTE]
    assert to_remote.csv == 0 and to_remote.is_p2wpkh
    tx = _signed(p.a.signer.handle(_request([to_remote]), allowlisted={WALLET}))
    assert tx.inputs[0].sequence == 0xFFFF_FFFD  # no relative delay, RBF-signalling
    sig, pubkey = tx.inputs[0].witness
    bp = p.a.channel.ledger.channel.basepoints[Side.LOCAL]
    assert pubkey == bp.payment_basepoint
    digest = SegwitV0Sighasher(tx).sighash(0, to_remote.witness_script, to_remote.value_sat, 1)
    assert verify_digest(pubkey, der_to_compact(sig[:-1]), digest)
    assert 1 + sum(1 + len(w) for w in tx.inputs[0].witness) <= to_remote.witness_weight


def test_our_htlc_transactions_after_a_force_close() -> None:
    """Without anchors: the HTLC-timeout (an HTLC we offered, at its cltv_expiry) and
    HTLC-success (one we received, with its preimage) transactions of the commitment we
    broadcast, the peer's stored signature and ours, each verifying (BOLT 3)."""
    p = make_pair(anchors=False)
    p.a.signer.authorise_payment(sha256(A_PAYS), 10**12)
    p.b.signer.authorise_payment(sha256(B_PAYS), 10**12)
    p.a.channel.command(io.AddHtlc(50_000_000, sha256(A_PAYS), 700_000), 0.0)
    p.b.channel.command(io.AddHtlc(70_000_000, sha256(B_PAYS), 700_010), 0.0)
    p.flush()
    p.settle_all()
    n = p.a.channel.ledger.local_commit.number
    view = view_of(p.a.channel)
    c = classify(view, view.holder.build(view.params).tx)
    claims = claims_of(c, view.params)
    (timeout,) = [x for x in claims if x.kind is ClaimKind.HTLC_TIMEOUT_TX]
    (success,) = [x for x in claims if x.kind is ClaimKind.HTLC_SUCCESS_TX]

    def sign(claim: Claim, preimage: bytes | None = None) -> io.SignerResult:
        return p.a.signer.handle(io.SignHtlcTransaction(n, claim.outpoint, preimage))

    # not before the commitment is signed for broadcast
    assert sign(timeout) == io.SignerRefused("policy-htlc-commitment", f"number {n}")
    commitment = _signed(p.a.signer.handle(io.SignHolderCommitment(n)))
    assert commitment.txid == c.txid
    bp = view.params.basepoints
    point = p.a.channel.local_point
    ours_key = derive_pubkey(bp[Side.LOCAL].htlc_basepoint, point)
    theirs_key = derive_pubkey(bp[Side.REMOTE].htlc_basepoint, point)
    for claim, preimage in ((timeout, None), (success, B_PAYS)):
        result = sign(claim, preimage)
        assert isinstance(result, io.HtlcTransactionSigned), result
        tx = result.tx
        assert [i.prevout for i in tx.inputs] == [claim.outpoint]
        assert tx.locktime == claim.cltv and tx.inputs[0].sequence == 0
        empty, theirs, ours, pre, script = tx.inputs[0].witness
        assert empty == b"" and script == claim.witness_script
        assert pre == (preimage or b"")
        digest = SegwitV0Sighasher(tx).sighash(0, script, claim.value_sat, 1)
        assert verify_digest(theirs_key, der_to_compact(theirs[:-1]), digest)
        assert verify_digest(ours_key, der_to_compact(ours[:-1]), digest)
    assert sign(success, sha256(b"wrong")) == io.SignerRefused(
        "policy-htlc-preimage", str(success.outpoint)
    )
    (to_local,) = [x for x in claims if x.kind is ClaimKind.TO_LOCAL]
    assert sign(to_local) == io.SignerRefused("policy-htlc-output", str(to_local.outpoint))
    anchors = _both_ways()
    m = anchors.a.channel.ledger.local_commit.number
    anchors.a.signer.handle(io.SignHolderCommitment(m))
    refused = anchors.a.signer.handle(io.SignHtlcTransaction(m, timeout.outpoint))
    assert isinstance(refused, io.SignerRefused) and refused.reason == "policy-htlc-anchors-fee"
