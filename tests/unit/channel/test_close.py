"""Cooperative close: shutdown rules and the legacy closing_signed negotiation with
fee_range, both endpoints with their real signers; the result is one fully signed
transaction that both sides built and whose witness verifies."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.unit.channel.pair import CAPACITY_SAT, PUSH_MSAT, Pair, make_pair
from vajra.bitcoin.sighash import SIGHASH_ALL
from vajra.channel import signer_io as io
from vajra.channel.closing import closing_sighash
from vajra.channel.machine import State
from vajra.channel.persist import decode_channel, encode_channel
from vajra.channel.reestablish import Link
from vajra.channel.scripts import funding_script
from vajra.channel.spec import Side
from vajra.channel.updates import UpdateRuleBroken
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import der_to_compact, verify_digest
from vajra.errors import ProtocolError
from vajra.wire import ClosingSigned, ClosingSignedTlvs, Shutdown, UpdateAddHtlc

SCRIPT_A = b"\x00\x14" + b"\xaa" * 20
SCRIPT_B = b"\x00\x20" + b"\xbb" * 32
TAPROOT = b"\x51\x20" + b"\xcc" * 32


def _pair() -> Pair:
    p = make_pair()
    p.a.allow, p.b.allow = {SCRIPT_A}, {SCRIPT_B}
    return p


def _answer_shutdowns(p: Pair) -> None:
    for ep, script in ((p.a, SCRIPT_A), (p.b, SCRIPT_B)):
        ch = ep.channel
        asked = any(isinstance(e, io.ShutdownReceived) for e in ep.collect_events())
        ready = ch.state is State.NORMAL and ch.link is Link.UP
        if asked and ready and ch.shutdown.local_script is None:
            ch.command(io.Close(script, 2_000), 0.0)
        p.flush()


def _reload(p: Pair) -> None:
    """Every endpoint at rest goes through persist: closing state survives a sleep."""
    for ep in (p.a, p.b):
        if not ep.channel.awaiting_signer and ep.channel.idle_outputs():
            data = encode_channel(ep.channel)
            ep.channel = decode_channel(data)
            assert encode_channel(ep.channel) == data


def _run(p: Pair) -> None:
    for _ in range(60):
        _reload(p)
        _answer_shutdowns(p)
        if not (p.deliver(True) or p.deliver(False) or p.answer(p.a) or p.answer(p.b)):
            return
    raise AssertionError("did not settle")


def _until_first_closing_signed(p: Pair) -> None:
    for _ in range(30):
        _answer_shutdowns(p)
        if p.a_to_b and p.a_to_b[0].NAME == "closing_signed":
            return
        if not (p.deliver(True) or p.deliver(False) or p.answer(p.a) or p.answer(p.b)):
            break
    raise AssertionError("no closing_signed from A")


def _closed(p: Pair) -> tuple[io.MutualCloseReady, io.MutualCloseReady]:
    ready = [
        [e for e in ep.collect_events() if isinstance(e, io.MutualCloseReady)] for ep in (p.a, p.b)
    ]
    assert [len(r) for r in ready] == [1, 1], ready
    return ready[0][0], ready[1][0]


def _check_tx(p: Pair, ready: io.MutualCloseReady) -> None:
    led = p.a.channel.ledger
    bp = led.channel.basepoints
    script = funding_script(bp[0].funding_pubkey, bp[1].funding_pubkey)
    tx = ready.tx
    unsigned = replace(tx, inputs=(replace(tx.inputs[0], witness=()),))
    digest = closing_sighash(unsigned, script, CAPACITY_SAT)
    _, s1, s2, ws = tx.inputs[0].witness
    assert ws == script
    keys = sorted((bp[0].funding_pubkey, bp[1].funding_pubkey))
    for key, sig in zip(keys, (s1, s2), strict=True):
        assert sig[-1] == SIGHASH_ALL and verify_digest(key, der_to_compact(sig[:-1]), digest)


def test_funder_closes_and_both_get_one_signed_transaction_to_the_satoshi() -> None:
    p = _pair()
    p.a.channel.command(io.Close(SCRIPT_A, 2_500), 0.0)
    p.flush()
    _run(p)
    ready_a, ready_b = _closed(p)
    assert ready_a.tx == ready_b.tx and ready_a.fee_sat == ready_b.fee_sat
    _check_tx(p, ready_a)
    outs = {o.script_pubkey: o.amount_sat for o in ready_a.tx.outputs}
    assert outs[SCRIPT_B] == PUSH_MSAT // 1000
    assert outs[SCRIPT_A] == CAPACITY_SAT - PUSH_MSAT // 1000 - ready_a.fee_sat
    assert p.a.channel.state is p.b.channel.state is State.CLOSED


def test_fundee_closes_with_an_htlc_in_flight_which_settles_first() -> None:
    p = _pair()
    pre = b"\x05" * 32
    p.a.signer.authorise_payment(sha256(pre))
    p.a.channel.command(io.AddHtlc(20_000_000, sha256(pre), 700_000), 0.0)
    p.flush()
    p.settle_all()
    p.b.channel.command(io.Close(SCRIPT_B, 2_000), 0.0)
    p.flush()
    _run(p)
    assert p.a.channel.shutdown.local_sent and p.b.channel.shutdown.local_sent
    assert p.a.channel.state is State.NORMAL  # the HTLC must clear first
    with pytest.raises(UpdateRuleBroken) as e:
        p.a.channel.command(io.AddHtlc(1_000_000, sha256(b"x" * 32), 700_000), 0.0)
    assert e.value.rule == "htlc-add-after-shutdown"
    p.b.channel.command(io.FulfillHtlc(0, pre), 0.0)
    p.flush()
    for _ in range(4):
        for ep in (p.a, p.b):
            if ep.channel.state is State.NORMAL:
                ep.channel.command(io.SignCommitment(), 0.0)
        p.flush()
        _run(p)
    ready_a, ready_b = _closed(p)
    assert ready_a.tx == ready_b.tx
    outs = {o.script_pubkey: o.amount_sat for o in ready_a.tx.outputs}
    assert outs[SCRIPT_B] == (PUSH_MSAT + 20_000_000) // 1000


def test_signer_refuses_a_close_to_a_foreign_script_and_the_channel_fails() -> None:
    p = _pair()
    p.a.allow = set()  # SCRIPT_A is not the node wallet's
    p.a.channel.command(io.Close(SCRIPT_A, 2_500), 0.0)
    p.flush()
    _run(p)
    (failed,) = [e for e in p.a.collect_events() if isinstance(e, io.ChannelFailed)]
    assert "policy-mutual-destination-allowlisted" in str(failed.error)
    assert p.a.channel.state is State.FAILED


def test_peer_add_after_its_shutdown_fails_the_channel() -> None:
    p = _pair()
    cid = p.b.channel.channel_id
    p.b.channel.receive_message(Shutdown(cid, SCRIPT_A), 0.0)
    add = UpdateAddHtlc(cid, 0, 5_000_000, sha256(b"h"), 700_000, bytes(1366))
    p.b.channel.receive_message(add, 0.0)
    p.flush()
    (failed,) = [e for e in p.b.collect_events() if isinstance(e, io.ChannelFailed)]
    assert isinstance(failed.error, UpdateRuleBroken)
    assert failed.error.rule == "htlc-add-after-shutdown"


@pytest.mark.parametrize("anysegwit", [False, True])
def test_shutdown_script_forms(anysegwit: bool) -> None:
    p = _pair()
    p.b.channel.shutdown.anysegwit = anysegwit
    p.b.channel.receive_message(Shutdown(p.b.channel.channel_id, TAPROOT), 0.0)
    p.flush()
    if anysegwit:
        assert p.b.channel.shutdown.remote_script == TAPROOT and not p.b_to_a
    else:  # "SHOULD send a warning" and the shutdown is ignored
        assert [m.NAME for m in p.b_to_a] == ["warning"]
        assert p.b.channel.shutdown.remote_script is None
        assert p.b.channel.state is State.NORMAL
    with pytest.raises(UpdateRuleBroken) as e:
        p.a.channel.command(io.Close(b"\x76\xa9\x14" + bytes(20) + b"\x88\xac", 2_500), 0.0)
    assert e.value.rule == "shutdown-script-form"


def test_upfront_shutdown_script_binds_both_sides() -> None:
    p = _pair()
    p.b.channel.shutdown.upfront_remote = SCRIPT_A
    p.b.channel.receive_message(Shutdown(p.b.channel.channel_id, SCRIPT_B), 0.0)
    (failed,) = [e for e in p.b.collect_events() if isinstance(e, io.ChannelFailed)]
    assert isinstance(failed.error, ProtocolError)
    assert failed.error.reason == "shutdown-script-not-upfront"
    p.a.channel.shutdown.upfront_local = SCRIPT_A
    with pytest.raises(UpdateRuleBroken):
        p.a.channel.command(io.Close(SCRIPT_B, 2_500), 0.0)


def test_reconnection_resends_shutdown_and_restarts_negotiation() -> None:
    p = _pair()
    p.a.channel.command(io.Close(SCRIPT_A, 2_500), 0.0)
    p.flush()
    p.deliver(to_b=True)
    _answer_shutdowns(p)
    p.deliver(to_b=False)  # B's shutdown reaches A: A negotiates
    p.answer(p.a)
    assert [m.NAME for m in p.a_to_b] == ["closing_signed"]
    p.disconnect()
    p.reconnect()
    p.deliver(True)
    p.deliver(False)
    # channel_ready first (both at commitment 0), then: "if it has sent a previous
    # shutdown: MUST retransmit shutdown", and the funder restarts negotiating.
    assert [m.NAME for m in p.a_to_b] == ["channel_ready", "shutdown"]
    _run(p)
    ready_a, ready_b = _closed(p)
    assert ready_a.tx == ready_b.tx


def test_a_closed_side_resends_its_last_closing_signed_to_a_peer_that_lost_it() -> None:
    p = _pair()
    p.a.channel.command(io.Close(SCRIPT_A, 2_500), 0.0)
    p.flush()
    _until_first_closing_signed(p)
    p.deliver(to_b=True)
    p.answer(p.b)  # B agrees, sends the same fee and is CLOSED
    assert p.b.channel.state is State.CLOSED and [m.NAME for m in p.b_to_a] == ["closing_signed"]
    final = p.b_to_a[0]
    p.disconnect()  # ... and A never gets it
    p.reconnect()
    p.deliver(to_b=True)  # A's channel_reestablish: B (CLOSED) resends shutdown and it
    names = ["channel_reestablish", "channel_ready", "shutdown", "closing_signed"]
    assert [m.NAME for m in p.b_to_a] == names
    assert p.b_to_a[-1] == final
    _run(p)
    ready_a, ready_b = _closed(p)
    assert ready_a.tx == ready_b.tx


def test_a_closing_signature_that_does_not_verify_fails_the_channel() -> None:
    p = _pair()
    p.a.channel.command(io.Close(SCRIPT_A, 2_500), 0.0)
    p.flush()
    _until_first_closing_signed(p)
    msg = p.a_to_b.popleft()
    assert isinstance(msg, ClosingSigned)
    p.b.channel.receive_message(replace(msg, fee_satoshis=msg.fee_satoshis + 1), 0.0)
    (failed,) = [e for e in p.b.collect_events() if isinstance(e, io.ChannelFailed)]
    assert isinstance(failed.error, ProtocolError)
    assert failed.error.reason == "closing-signature-invalid"


def test_without_fee_range_the_fundee_accepts_a_fee_it_agrees_with() -> None:
    p = _pair()
    p.a.channel.command(io.Close(SCRIPT_A, 2_500), 0.0)
    p.flush()
    _until_first_closing_signed(p)
    msg = p.a_to_b.popleft()
    assert isinstance(msg, ClosingSigned) and msg.tlvs.fee_range is not None
    p.b.channel.receive_message(replace(msg, tlvs=ClosingSignedTlvs()), 0.0)  # old style
    p.flush()
    p.answer(p.b)
    (reply,) = p.b_to_a
    assert isinstance(reply, ClosingSigned) and reply.fee_satoshis == msg.fee_satoshis
    p.deliver(to_b=False)
    _closed(p)
    assert p.b.channel.ledger.channel.funder is Side.REMOTE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(htlcs=[], closer_is_a=False, feerates=(253, 253), drops=[4])  # B closed, A not
@given(
    htlcs=st.lists(st.tuples(st.integers(1_000_000, 90_000_000), st.booleans()), max_size=4),
    closer_is_a=st.booleans(),
    feerates=st.tuples(st.integers(253, 20_000), st.integers(253, 20_000)),
    drops=st.lists(st.integers(0, 40), max_size=3),
)
def test_random_closes_agree_on_one_transaction_and_pay_each_side_its_balance(
    htlcs: list[tuple[int, bool]],
    closer_is_a: bool,
    feerates: tuple[int, int],
    drops: list[int],
) -> None:
    """HTLCs in flight (fulfilled or failed only after the shutdowns), a close from
    either side at either feerate, disconnections at random steps, persist round trips
    at every step: both sides end with the same fully signed transaction, and each
    output is exactly the side's balance (less the fee for the funder)."""
    p = _pair()
    for i, (amount, _) in enumerate(htlcs):
        pre = bytes([i + 1]) * 32
        p.a.signer.authorise_payment(sha256(pre))
        p.a.channel.command(io.AddHtlc(amount, sha256(pre), 700_000), 0.0)
        p.flush()
    p.settle_all()
    closer, script = (p.a, SCRIPT_A) if closer_is_a else (p.b, SCRIPT_B)
    closer.channel.command(io.Close(script, feerates[0], feerates[1]), 0.0)
    p.flush()
    for step in range(200):
        if step in drops:
            p.disconnect()  # B's settles may be dropped (UpdatesDropped): re-issued below
            p.reconnect()
        _reload(p)
        _answer_shutdowns(p)
        moved = p.deliver(True) or p.deliver(False) or p.answer(p.a) or p.answer(p.b)
        b = p.b.channel
        both = p.a.channel.shutdown.local_sent and b.shutdown.local_sent
        if not moved and both and b.state is State.NORMAL and b.link is Link.UP:
            for h in b.ledger.settleable(Side.LOCAL):
                fulfil = htlcs[h.id][1]
                pre = bytes([h.id + 1]) * 32
                b.command(io.FulfillHtlc(h.id, pre) if fulfil else io.FailHtlc(h.id, b""), 0.0)
                moved = True
            p.flush()
        if not moved:
            for ep in (p.a, p.b):
                if ep.channel.state is State.NORMAL and ep.channel.link is Link.UP:
                    ep.channel.command(io.SignCommitment(), 0.0)
            p.flush()
        if p.a.channel.state is p.b.channel.state is State.CLOSED:
            break
    ready_a, ready_b = _closed(p)
    assert ready_a.tx == ready_b.tx
    _check_tx(p, ready_a)
    paid = sum(a for a, fulfil in htlcs if fulfil)
    balance_b = PUSH_MSAT // 1000 + paid // 1000
    balance_a = CAPACITY_SAT - PUSH_MSAT // 1000 - (paid + 999) // 1000
    outs = {o.script_pubkey: o.amount_sat for o in ready_a.tx.outputs}
    assert outs[SCRIPT_B] == balance_b
    assert outs[SCRIPT_A] == balance_a - ready_a.fee_sat
