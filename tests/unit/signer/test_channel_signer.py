"""The reference channel signer's policy: each refusal named, each shown to bite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.channel.pair import Pair, make_pair, secrets
from vajra.channel import signer_io as io
from vajra.channel.machine import State
from vajra.channel.scripts import funding_script
from vajra.channel.signing import commitment_sighash
from vajra.channel.spec import CommitSpec, Side, build_commitment_for
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import der_to_compact, verify_digest
from vajra.errors import PolicyViolation
from vajra.signer.channels import ChannelSigner

PREIMAGE = b"\x07" * 32


def _round_with_htlc() -> Pair:
    """A offers B one authorised 5,000 sat HTLC; both commitments advance to 1."""
    p = make_pair()
    p.a.signer.authorise_payment(sha256(PREIMAGE), 10**12)
    p.a.channel.command(io.AddHtlc(5_000_000, sha256(PREIMAGE), 700_000), 0.0)
    p.flush()
    p.settle_all()
    assert p.a.channel.ledger.local_commit.number == 1
    return p


def _sign_request(p: Pair, number: int, **changes: object) -> io.SignCounterpartyCommitment:
    led = p.a.channel.ledger
    req = io.SignCounterpartyCommitment(
        number, led.remote_commit.spec, p.a.channel.remote_point, p.a.channel.last_revocation
    )
    return replace(req, **changes)  # type: ignore[arg-type]


def test_counterparty_repeat_must_be_the_same() -> None:
    p = _round_with_htlc()
    signer = p.a.signer
    again = signer.handle(_sign_request(p, 1))
    assert isinstance(again, io.CounterpartySigned)
    spec = p.a.channel.ledger.remote_commit.spec
    other = replace(spec, feerate_per_kw=spec.feerate_per_kw + 1)
    refused = signer.handle(_sign_request(p, 1, spec=other))
    assert refused == io.SignerRefused("policy-commitment-retry-same", "number 1")


def test_counterparty_number_is_repeat_or_next() -> None:
    p = _round_with_htlc()
    refused = p.a.signer.handle(_sign_request(p, 3))
    assert isinstance(refused, io.SignerRefused)
    assert refused.reason == "policy-commitment-sequence"


def test_counterparty_next_needs_the_previous_revoked() -> None:
    p = _round_with_htlc()
    # Commitment 2 with a forged revocation of commitment 0: refused, and without any
    # revocation the signer does not sign 2 either (0 would stay unrevoked).
    forged = _sign_request(p, 2, last_revocation=(0, sha256(b"forged")))
    assert p.a.signer.handle(forged) == io.SignerRefused("policy-revocation-invalid", "number 0")
    bare = _sign_request(p, 2, last_revocation=None)
    assert p.a.signer.handle(bare) == io.SignerRefused(
        "policy-commitment-previous-revoked", "number 2"
    )
    real = _sign_request(p, 2)  # carries B's real revocation of commitment 0
    assert isinstance(p.a.signer.handle(real), io.CounterpartySigned)


def test_revoke_needs_the_next_holder_commitment_validated() -> None:
    p = make_pair()
    refused = p.b.signer.handle(io.RevokeHolderCommitment(0))
    assert refused == io.SignerRefused("policy-revoke-new-commitment-signed", "number 0")


def test_never_signs_a_revoked_holder_commitment() -> None:
    p = _round_with_htlc()
    signer = p.b.signer
    with pytest.raises(PolicyViolation) as e:
        signer.sign_holder_commitment(0)
    assert e.value.reason == "policy-commitment-holder-not-revoked"
    tx = signer.sign_holder_commitment(1)
    # Both signatures in the witness verify against the commitment's sighash.
    led = p.b.channel.ledger
    point = signer.secrets.per_commitment_point(1)
    commitment = build_commitment_for(led.channel, led.local_commit.spec, Side.LOCAL, 1, point)
    bp = led.channel.basepoints
    script = funding_script(bp[0].funding_pubkey, bp[1].funding_pubkey)
    digest = commitment_sighash(commitment, script, led.channel.capacity_sat)
    witness = tx.inputs[0].witness
    assert witness[-1] == script and tx.txid == commitment.tx.txid
    keys = sorted((bp[0].funding_pubkey, bp[1].funding_pubkey))
    for key, sig in zip(keys, witness[1:3], strict=True):
        assert sig[-1] == 1 and verify_digest(key, der_to_compact(sig[:-1]), digest)


def test_bad_commitment_signature_is_refused_and_fails_the_channel() -> None:
    p = make_pair()
    p.a.signer.authorise_payment(sha256(PREIMAGE), 10**12)
    p.a.channel.command(io.AddHtlc(5_000_000, sha256(PREIMAGE), 700_000), 0.0)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)
    sig_msg = p.a_to_b[-1]
    assert sig_msg.NAME == "commitment_signed"
    p.a_to_b[-1] = replace(sig_msg, signature=bytes(64))  # type: ignore[type-var]
    p.deliver(True)
    p.deliver(True)
    request = p.b.requests[0]
    result = p.b.signer.handle(request)
    assert result == io.SignerRefused("policy-commitment-signature", "number 1")
    p.b.channel.signer_result(result, 0.0)
    p.flush()
    assert p.b.channel.state is State.FAILED
    assert [m.NAME for m in p.b_to_a] == ["error"]


def test_htlc_signatures_must_match_the_htlc_outputs() -> None:
    p = make_pair()
    p.a.signer.authorise_payment(sha256(PREIMAGE), 10**12)
    p.a.channel.command(io.AddHtlc(5_000_000, sha256(PREIMAGE), 700_000), 0.0)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)
    sig_msg = p.a_to_b[-1]
    p.a_to_b[-1] = replace(sig_msg, htlc_signature=())  # type: ignore[type-var]
    p.deliver(True)
    p.deliver(True)
    result = p.b.signer.handle(p.b.requests[0])
    assert result == io.SignerRefused("policy-htlc-signature", "number 1")


def test_a_spec_that_creates_money_is_refused() -> None:
    p = make_pair()
    led = p.a.channel.ledger
    spec = led.remote_commit.spec
    rich = replace(spec, balance_msat=(spec.balance_msat[0], spec.balance_msat[1] + 1000))
    req = io.SignCounterpartyCommitment(1, rich, p.a.channel.remote_next_point, None)
    result = p.a.signer.handle(req)
    assert isinstance(result, io.SignerRefused)
    assert result.reason == "policy-commitment-balance"


def _shift(spec: CommitSpec, msat: int) -> CommitSpec:
    """`msat` moved from us to the peer, the total conserved."""
    a, b = spec.balance_msat
    return replace(spec, balance_msat=(a - msat, b + msat))


def test_counterparty_commitment_paying_the_peer_more_than_the_updates_allow() -> None:
    p = _round_with_htlc()
    led = p.a.channel.ledger
    req = _sign_request(p, 2, spec=_shift(led.remote_commit.spec, 1000))
    result = p.a.signer.handle(req)
    assert isinstance(result, io.SignerRefused)
    assert result.reason == "policy-commitment-payment-balance"


def test_our_htlc_goes_to_the_peer_only_against_its_preimage() -> None:
    p = _round_with_htlc()
    led = p.a.channel.ledger
    spec = led.remote_commit.spec
    htlc = spec.htlcs[0]
    paid = CommitSpec(
        spec.feerate_per_kw, (spec.balance_msat[0], spec.balance_msat[1] + htlc.amount_msat), ()
    )
    refused = p.a.signer.handle(_sign_request(p, 2, spec=paid))
    assert isinstance(refused, io.SignerRefused)
    assert refused.reason == "policy-commitment-payment-balance"
    signed = p.a.signer.handle(_sign_request(p, 2, spec=paid, preimages=(PREIMAGE,)))
    assert isinstance(signed, io.CounterpartySigned)


def test_holder_commitment_taking_our_money_is_refused() -> None:
    p = _round_with_htlc()
    led = p.b.channel.ledger
    spec = _shift(led.local_commit.spec, 1000)  # B's frame: B pays A 1 sat for nothing
    req = io.ValidateHolderCommitment(2, spec, bytes(64), ())
    result = p.b.signer.handle(req)
    assert isinstance(result, io.SignerRefused)
    assert result.reason == "policy-commitment-payment-balance"


def _setup_request() -> io.SetupChannel:
    """A's SetupChannel for the pair's channel."""
    led = make_pair().a.channel.ledger
    return io.SetupChannel(led.channel, led.local_commit.spec)


def test_setup_needs_the_channels_own_basepoints() -> None:
    req = _setup_request()
    with pytest.raises(PolicyViolation) as e:
        ChannelSigner.setup(secrets(b"bob"), req)
    assert e.value.reason == "policy-setup-basepoints"


def test_setup_is_answered_again_only_when_identical() -> None:
    req = _setup_request()
    signer = ChannelSigner.setup(secrets(b"alice"), req)
    assert signer.handle(req) == io.ChannelSetUp()
    other = replace(req, params=replace(req.params, capacity_sat=req.params.capacity_sat + 1))
    refused = signer.handle(other)
    assert isinstance(refused, io.SignerRefused) and refused.reason == "policy-setup-repeated"


def test_commitment_0_must_hold_the_initial_spec() -> None:
    req = _setup_request()
    signer = ChannelSigner.setup(secrets(b"alice"), req)
    spec = req.initial_spec
    moved = CommitSpec(
        spec.feerate_per_kw, (spec.balance_msat[0] - 1, spec.balance_msat[1] + 1), ()
    )
    point = req.params.basepoints[Side.REMOTE].first_per_commitment_point
    refused = signer.handle(io.SignCounterpartyCommitment(0, moved, point, None))
    assert refused == io.SignerRefused("policy-commitment-initial", "counterparty commitment 0")
    refused = signer.handle(io.ValidateHolderCommitment(0, moved, bytes(64), ()))
    assert refused == io.SignerRefused("policy-commitment-initial", "holder commitment 0")
    assert isinstance(
        signer.handle(io.SignCounterpartyCommitment(0, spec, point, None)), io.CounterpartySigned
    )


def test_mutual_close_needs_an_allowlisted_destination_and_a_settled_channel() -> None:
    p = make_pair()
    signer = p.a.signer
    mine, theirs = b"\x00\x14" + b"\x01" * 20, b"\x00\x14" + b"\x02" * 20
    req = io.SignMutualClose(mine, theirs, 1_000)
    refused = signer.handle(req)  # no allow-list: nothing is ours
    assert isinstance(refused, io.SignerRefused)
    assert refused.reason == "policy-mutual-destination-allowlisted"
    assert isinstance(signer.handle(req, allowlisted={mine}), io.MutualCloseSigned)
    assert isinstance(signer.handle(req, allowlisted=lambda s: s == mine), io.MutualCloseSigned)
    fee = signer.handle(replace(req, fee_sat=10**9), allowlisted={mine})
    assert isinstance(fee, io.SignerRefused) and fee.reason == "policy-mutual-fee"
    q = _round_with_htlc()  # an HTLC in flight
    busy = q.a.signer.handle(req, allowlisted={mine})
    assert isinstance(busy, io.SignerRefused) and busy.reason == "policy-mutual-not-settled"
