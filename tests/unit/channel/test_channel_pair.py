"""Two channel endpoints, each with its own real signer, through random interleavings.

Hypothesis picks adds, fulfils, fails, fee updates, commitment_signed, deliveries in
either direction and signer answers (some of them refusals, some adds not authorised
until later). Properties: every spec either endpoint holds conserves the capacity, and at
every quiescent point A's commitment built by A equals A's commitment built by B (and
the same for B's), byte for byte, with real BOLT 3 transactions and real signatures that
the other side's signer verified.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.channel.pair import CAPACITY_SAT, Endpoint, Pair, make_pair
from vajra.channel import signer_io as io
from vajra.channel.machine import ChannelBusy, State
from vajra.channel.reestablish import ChannelOffline, Link
from vajra.channel.spec import Side, build_commitment_for
from vajra.channel.updates import UpdateRuleBroken
from vajra.crypto.hashes import sha256
from vajra.wire import UpdateAddHtlc


def _specs(ep: Endpoint) -> list[object]:
    led = ep.channel.ledger
    specs = [led.local_commit.spec, led.remote_commit.spec, led.projected()]
    specs += [led.next_local_spec(), led.next_remote_spec()]
    if led.next_remote is not None:
        specs.append(led.next_remote.spec)
    return specs


def _check_conservation(p: Pair) -> None:
    for ep in (p.a, p.b):
        for spec in _specs(ep):
            assert spec.total_msat() == CAPACITY_SAT * 1000  # type: ignore[attr-defined]
            assert min(spec.balance_msat) >= 0  # type: ignore[attr-defined]


def _quiescent(p: Pair) -> bool:
    up = p.a.channel.link is Link.UP and p.b.channel.link is Link.UP
    return up and not (p.a_to_b or p.b_to_a or p.a.requests or p.b.requests)


def _check_agreement(p: Pair) -> None:
    for holder, peer in ((p.a, p.b), (p.b, p.a)):
        led, peer_led = holder.channel.ledger, peer.channel.ledger
        assert peer_led.next_remote is None
        assert led.local_commit.number == peer_led.remote_commit.number
        point = holder.signer.secrets.per_commitment_point(led.local_commit.number)
        assert peer.channel.remote_point == point
        mine = build_commitment_for(
            led.channel, led.local_commit.spec, Side.LOCAL, led.local_commit.number, point
        )
        theirs = build_commitment_for(
            peer_led.channel,
            peer_led.remote_commit.spec,
            Side.REMOTE,
            peer_led.remote_commit.number,
            point,
        )
        assert mine.tx.serialize() == theirs.tx.serialize()
        assert led.local_commit.spec == peer_led.remote_commit.spec.flipped()


def _preimage(n: int) -> bytes:
    return sha256(n.to_bytes(4, "big"))


_PROGRESS = st.tuples(
    st.sampled_from(["sign", "deliver", "answer", "pump"]),
    st.booleans(),
    st.just(0),
    st.integers(0, 3).map(lambda n: n == 0),  # one signer answer in four is a refusal
)
ACTIONS = st.one_of(
    st.tuples(st.just("add"), st.booleans(), st.integers(1, 60_000_000), st.booleans()),
    st.tuples(
        st.sampled_from(["fulfill", "fail"]), st.booleans(), st.integers(0, 50), st.booleans()
    ),
    st.tuples(st.just("fee"), st.just(True), st.integers(253, 20_000), st.just(False)),
    st.tuples(st.just("authorise"), st.booleans(), st.just(0), st.just(False)),
    # The connection drops (in-flight messages lost) and comes back at once (flag), or
    # later: at a "link" step that finds it down, or at the end.
    st.tuples(st.just("link"), st.just(True), st.just(0), st.booleans()),
    _PROGRESS,
    _PROGRESS,
    _PROGRESS,
)


def _step(p: Pair, action: tuple[str, bool, int, bool], counter: list[int]) -> None:
    kind, is_a, n, flag = action
    ep = p.a if is_a else p.b
    ch = ep.channel
    try:
        if kind == "add":
            counter[0] += 1
            payment_hash = sha256(_preimage(counter[0]))
            if flag:  # authorised up front; the others only when "authorise" comes
                ep.signer.authorise_payment(payment_hash, 10**12)
            ch.command(io.AddHtlc(n, payment_hash, 700_000), 0.0)
        elif kind in ("fulfill", "fail"):
            ready = ch.ledger.settleable(Side.LOCAL)
            if not ready:
                return
            h = ready[n % len(ready)]
            preimages = {sha256(_preimage(i)): _preimage(i) for i in range(counter[0] + 1)}
            if kind == "fulfill":
                ch.command(io.FulfillHtlc(h.id, preimages[h.payment_hash]), 0.0)
                counter[1] += 1
            elif flag:
                ch.command(io.FailMalformedHtlc(h.id, bytes(32), 0x8000 | 5), 0.0)
            else:
                ch.command(io.FailHtlc(h.id, b"nope"), 0.0)
        elif kind == "fee":
            ch.command(io.UpdateFeerate(n), 0.0)
        elif kind == "sign":
            ch.command(io.SignCommitment(), 0.0)
        elif kind == "deliver":
            p.deliver(to_b=is_a)
        elif kind == "answer":
            req = ep.requests[0] if ep.requests else None
            refuse = flag and isinstance(req, io.SignCounterpartyCommitment)
            p.answer(ep, "test-refusal" if refuse else None)
        elif kind == "authorise":
            _authorise_all(ep)
        elif kind == "link":
            if p.a.channel.link is Link.DOWN:
                p.reconnect()
            else:
                p.disconnect()
                if flag:
                    p.reconnect()
        elif kind == "pump":  # a few rounds of: deliver and answer everything, then sign
            for _ in range(4):
                while p.deliver(True) or p.deliver(False) or p.answer(p.a) or p.answer(p.b):
                    pass
                for e in (p.a, p.b):
                    if e.channel.state is State.NORMAL and e.channel.link is Link.UP:
                        e.channel.command(io.SignCommitment(), 0.0)
                p.flush()
    except (UpdateRuleBroken, ChannelBusy, ChannelOffline):
        pass  # a local command the node must refuse: nothing changed
    p.flush()


def _authorise_all(ep: Endpoint) -> None:
    for h in ep.channel.ledger.projected().offered_by(Side.LOCAL):
        ep.signer.authorise_payment(h.payment_hash, 10**12)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(actions=st.lists(ACTIONS, min_size=30, max_size=150), anchors=st.booleans())
def test_random_interleavings_agree_and_conserve(
    actions: list[tuple[str, bool, int, bool]], anchors: bool
) -> None:
    p = make_pair(anchors=anchors)
    counter = [0, 0]
    for action in actions:
        _step(p, action, counter)
        _check_conservation(p)
        if _quiescent(p):
            _check_agreement(p)
    _authorise_all(p.a)
    _authorise_all(p.b)
    p.settle_all()
    _check_conservation(p)
    _check_agreement(p)
    event(f"commitments reached: {min(p.a.channel.ledger.local_commit.number, 5)}+")
    event(f"refusals: {sum(isinstance(e, io.SigningRefused) for e in p.a.events + p.b.events) > 0}")
    event(f"fulfils: {min(counter[1], 3)}+")
    event(f"reestablished: {sum(isinstance(e, io.Reestablished) for e in p.a.events)}")
    resent = [e for e in p.a.events + p.b.events if isinstance(e, io.Reestablished)]
    event(f"resent commitment_signed: {any(e.resent_commitment_signed for e in resent)}")
    event(f"resent revoke_and_ack: {any(e.resent_revoke_and_ack for e in resent)}")
    for ep in (p.a, p.b):
        assert ep.channel.state is State.NORMAL
        assert not any(isinstance(e, io.ChannelFailed) for e in ep.events)


def test_unauthorised_outgoing_htlc_is_refused_then_signed_once_authorised() -> None:
    p = make_pair()
    preimage = _preimage(1)
    p.a.channel.command(io.AddHtlc(5_000_000, sha256(preimage), 700_000), 0.0)
    p.flush()
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)
    refused = io.SigningRefused("policy-commitment-payment-approved", "HTLC 0 not authorised")
    assert p.a.events == [refused]
    # Nothing but the update itself went out; both sides still agree on commitment 0.
    assert p.a.channel.state is State.NORMAL
    assert [m.NAME for m in p.a_to_b] == ["update_add_htlc"]
    p.a.signer.authorise_payment(sha256(preimage), 10**12)
    p.settle_all()
    _check_agreement(p)
    assert p.a.channel.ledger.local_commit.spec.htlcs[0].amount_msat == 5_000_000


def test_peer_add_breaking_a_rule_fails_the_channel_with_a_named_error() -> None:
    p = make_pair()
    cid = p.b.channel.channel_id
    bad = UpdateAddHtlc(cid, 0, 1, sha256(b"x"), 700_000, bytes(1366))  # below minimum
    p.b.channel.receive_message(bad, 0.0)
    p.flush()
    failed = [e for e in p.b.events if isinstance(e, io.ChannelFailed)]
    assert failed and isinstance(failed[0].error, UpdateRuleBroken)
    assert failed[0].error.rule == "htlc-below-minimum"
    assert p.b_to_a[0].NAME == "error"


@pytest.mark.parametrize(
    ("amount", "cltv", "rule"),
    [
        (999, 700_000, "htlc-below-minimum"),
        (5_000_000, 500_000_000, "htlc-cltv-expiry-too-high"),
        (600_000_000, 700_000, "htlc-max-value-in-flight"),
        (290_000_001, 700_000, "htlc-below-reserve"),
    ],
)
def test_local_add_checks_name_the_rule(amount: int, cltv: int, rule: str) -> None:
    p = make_pair()
    # B (the fundee, 300,000 sat, reserve 10,000 sat) offers to A.
    with pytest.raises(UpdateRuleBroken) as e:
        p.b.channel.command(io.AddHtlc(amount, sha256(b"h"), cltv), 0.0)
    assert e.value.rule == rule
    assert not p.b.channel.messages_to_send()


def test_fee_update_only_from_the_funder_and_affordable() -> None:
    p = make_pair()
    with pytest.raises(UpdateRuleBroken) as e:
        p.b.channel.command(io.UpdateFeerate(3_000), 0.0)
    assert e.value.rule == "fee-update-from-non-funder"
    with pytest.raises(UpdateRuleBroken) as e:
        p.a.channel.command(io.UpdateFeerate(10_000_000), 0.0)
    assert e.value.rule == "funder-cannot-afford-fee"


def test_max_accepted_htlcs() -> None:
    p = make_pair()
    for _ in range(30):
        p.a.channel.command(io.AddHtlc(1_000_000, sha256(b"h"), 700_000), 0.0)
    with pytest.raises(UpdateRuleBroken) as e:
        p.a.channel.command(io.AddHtlc(1_000_000, sha256(b"h"), 700_000), 0.0)
    assert e.value.rule == "htlc-max-accepted-htlcs"
