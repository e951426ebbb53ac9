"""BOLT 2 "Message Retransmission": what each side resends, in which order, and what it
refuses, on the two-endpoint pair with real signers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.channel.pair import Endpoint, Pair, make_pair
from tests.unit.channel.test_channel_pair import _check_agreement, _check_conservation
from tests.unit.channel.test_establish import OUTPOINT, Side_, _open
from vajra.channel import signer_io as io
from vajra.channel.establish import FundingConfirmed, FundingOutpoint
from vajra.channel.establish import State as EState
from vajra.channel.machine import State
from vajra.channel.persist import decode_channel, encode_channel
from vajra.channel.reestablish import ChannelOffline
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.errors import ProtocolError
from vajra.wire import ChannelReestablish, Message, RevokeAndAck, UpdateFee

PRE = [bytes([i]) * 32 for i in range(1, 9)]
PRE_POINT = pubkey_from_secret(b"\x01" * 32)


def _add(p: Pair, n: int, amount: int = 5_000_000) -> None:
    p.a.signer.authorise_payment(sha256(PRE[n]))
    p.a.channel.command(io.AddHtlc(amount, sha256(PRE[n]), 700_000), 0.0)
    p.flush()


def _names(msgs: object) -> list[str]:
    return [m.NAME for m in msgs]  # type: ignore[attr-defined]


def _failure(p: Pair, side: str) -> ProtocolError:
    ep = p.a if side == "a" else p.b
    (failed,) = [e for e in ep.collect_events() if isinstance(e, io.ChannelFailed)]
    assert isinstance(failed.error, ProtocolError)
    return failed.error


def test_channel_ready_is_resent_while_both_next_numbers_are_1() -> None:
    p = make_pair()
    p.disconnect()
    p.reconnect()
    assert _names(p.a_to_b) == ["channel_reestablish"]
    p.deliver(to_b=True)
    p.deliver(to_b=False)
    assert _names(p.a_to_b) == ["channel_ready"] and _names(p.b_to_a) == ["channel_ready"]
    assert p.a_to_b[0].second_per_commitment_point == p.a.signer.secrets.per_commitment_point(1)
    p.settle_all()
    _check_agreement(p)


def test_lost_commitment_signed_is_resent_with_its_updates_in_order() -> None:
    p = make_pair()
    _add(p, 1)
    p.a.channel.command(io.UpdateFeerate(3_000), 0.0)
    _add(p, 2, 7_000_000)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)
    sent = list(p.a_to_b)
    assert _names(sent) == ["update_add_htlc", "update_fee", "update_add_htlc", "commitment_signed"]
    p.disconnect()  # all four lost
    p.reconnect()
    p.deliver(to_b=True)  # A's reestablish
    p.deliver(to_b=False)  # B's: next_commitment_number 1, so A resends all of it
    assert list(p.a_to_b) == [p.a_to_b[0], *sent]  # after channel_ready (both still at 1)
    assert p.a_to_b[0].NAME == "channel_ready"
    reest = [e for e in p.a.collect_events() if isinstance(e, io.Reestablished)]
    assert reest == [io.Reestablished(True, False)]
    p.settle_all()
    _check_agreement(p)
    assert len(p.a.channel.ledger.local_commit.spec.htlcs) == 2


def _revoke_then_commit_in_flight(p: Pair) -> None:
    """B sends revoke_and_ack, then its own commitment_signed; neither arrives."""
    _add(p, 1)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)
    p.deliver(to_b=True)  # the add
    p.deliver(to_b=True)  # commitment_signed
    p.answer(p.b)  # validate
    p.answer(p.b)  # revoke -> revoke_and_ack queued to A
    p.b.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.b)  # B's commitment_signed for A
    assert _names(p.b_to_a) == ["revoke_and_ack", "commitment_signed"]


def test_revoke_and_commit_are_resent_in_the_order_first_sent() -> None:
    p = make_pair()
    _revoke_then_commit_in_flight(p)
    sent = list(p.b_to_a)
    p.disconnect()
    p.reconnect()
    p.deliver(to_b=True)
    p.deliver(to_b=False)
    assert list(p.b_to_a) == sent
    p.settle_all()
    _check_agreement(p)
    _check_conservation(p)


def test_commit_then_revoke_keep_their_order_too() -> None:
    p = make_pair()
    _add(p, 1)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)
    p.deliver(to_b=True)
    # B adds its own update and signs before answering A's commitment_signed.
    p.b.signer.authorise_payment(sha256(PRE[3]))
    p.b.channel.command(io.AddHtlc(2_000_000, sha256(PRE[3]), 700_000), 0.0)
    p.b.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.b)  # B's commitment_signed (covers B's add) goes first
    p.deliver(to_b=True)  # A's commitment_signed reaches B
    p.answer(p.b)
    p.answer(p.b)  # then B's revoke_and_ack
    assert _names(p.b_to_a) == ["update_add_htlc", "commitment_signed", "revoke_and_ack"]
    sent = list(p.b_to_a)
    p.disconnect()
    p.reconnect()
    p.deliver(to_b=True)
    p.deliver(to_b=False)
    assert list(p.b_to_a) == sent
    p.settle_all()
    _check_agreement(p)


def test_uncommitted_updates_are_forgotten_on_both_sides() -> None:
    p = make_pair()
    _add(p, 1)
    p.deliver(to_b=True)  # B holds A's add, no commitment_signed covers it
    p.disconnect()
    (dropped,) = [e for e in p.a.collect_events() if isinstance(e, io.UpdatesDropped)]
    assert [c.htlc.payment_hash for c in dropped.changes] == [sha256(PRE[1])]  # type: ignore[union-attr]
    for ep in (p.a, p.b):
        assert ep.channel.ledger.next_htlc_id == [0, 0]
        assert (
            not ep.channel.ledger.pending[0].proposed and not ep.channel.ledger.pending[1].proposed
        )
    with pytest.raises(ChannelOffline):
        p.a.channel.command(io.SignCommitment(), 0.0)
    p.settle_all()
    _add(p, 2)  # the same id 0 again
    p.settle_all()
    assert p.b.channel.ledger.local_commit.spec.htlcs[0].payment_hash == sha256(PRE[2])


def test_disconnect_while_the_signer_works_waits_for_its_answer() -> None:
    p = make_pair()
    _add(p, 1)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.disconnect()
    p.reconnect()
    assert not p.a_to_b  # A's reestablish waits for the signer: its numbers may move
    p.answer(p.a)
    assert _names(p.a_to_b) == ["channel_reestablish"]  # the commitment_signed is held
    p.settle_all()
    _check_agreement(p)
    assert len(p.b.channel.ledger.local_commit.spec.htlcs) == 1


def test_a_message_before_channel_reestablish_fails_the_channel() -> None:
    p = make_pair()
    p.disconnect()
    p.reconnect()
    p.b.channel.receive_message(UpdateFee(p.b.channel.channel_id, 3_000), 0.0)
    err = _failure(p, "b")
    assert (err.reason, err.state, err.message) == (
        "message before channel_reestablish",
        "reestablishing",
        "update_fee",
    )


def _reestablish_from_a(p: Pair, **changes: object) -> None:
    p.disconnect()
    p.reconnect()
    msg: Message = p.a_to_b.popleft()
    assert isinstance(msg, ChannelReestablish)
    p.b.channel.receive_message(replace(msg, **changes), 0.0)  # type: ignore[arg-type]
    p.flush()


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"next_commitment_number": 0}, "reestablish-next-commitment-zero"),
        ({"next_commitment_number": 7}, "reestablish-peer-has-newer-commitment"),
        ({"your_last_per_commitment_secret": b"\x01" * 32}, "reestablish-wrong-secret"),
        ({"next_revocation_number": 5}, "reestablish-peer-has-newer-state"),
    ],
)
def test_peer_numbers_that_break_a_rule_fail_the_channel(
    changes: dict[str, object], rule: str
) -> None:
    p = make_pair()
    _add(p, 1)
    p.settle_all()
    _reestablish_from_a(p, **changes)
    err = _failure(p, "b")
    assert (err.reason, err.message) == (rule, "channel_reestablish")
    assert p.b.channel.state is State.FAILED and _names(p.b_to_a)[-1] == "error"


def test_a_node_restored_from_an_old_state_learns_it_is_behind_and_proven() -> None:
    p = make_pair()
    _add(p, 1)
    p.settle_all()
    backup = encode_channel(p.b.channel)  # B at local commitment 1
    _add(p, 2)
    p.settle_all()  # B at 2, has revoked 1: A holds B's secret of 1
    p.disconnect()
    p.b.channel = decode_channel(backup)
    p.b.channel.disconnected(0.0)
    p.reconnect()
    p.deliver(to_b=True)
    behind = [e for e in p.b.collect_events() if isinstance(e, io.ChannelBehind)]
    assert behind == [io.ChannelBehind(True, 2, 1)]  # A proves it with B's own secret of 1
    assert p.b.channel.state is State.FAILED
    assert _names(p.b_to_a)[-1] == "error"  # asks A to close; B must not broadcast


def test_a_failed_channel_resends_its_error_on_reconnection() -> None:
    p = make_pair()
    cid = p.b.channel.channel_id
    p.b.channel.receive_message(RevokeAndAck(cid, bytes(31) + b"\x01", PRE_POINT), 0.0)
    p.flush()
    assert _names(p.b_to_a) == ["error"]
    p.disconnect()
    p.reconnect()
    assert _names(p.b_to_a) == ["error"]


def _open_to_depth() -> tuple[Side_, Side_]:
    """Both sides signed commitment 0; the funding is not yet deep enough."""
    a, b = _open()
    for _ in range(10):
        for src, dst in ((a, b), (b, a)):
            for m in src.est.messages_to_send():
                dst.est.receive_message(m, 0.0)
            src.answer()
            if src.est.state is EState.AWAIT_FUNDING_OUTPOINT:
                src.est.command(FundingOutpoint(OUTPOINT), 0.0)
    assert a.est.state is b.est.state is EState.AWAIT_DEPTH
    return a, b


def test_establishment_before_funding_signed_is_forgotten_on_disconnect() -> None:
    a, b = _open()
    for m in a.est.messages_to_send():
        b.est.receive_message(m, 0.0)
    b.est.disconnected(0.0)
    assert b.est.state is EState.FAILED and not b.est.messages_to_send()


def test_establishment_awaiting_depth_reestablishes_and_resends_channel_ready() -> None:
    a, b = _open_to_depth()
    a.est.command(FundingConfirmed(), 0.0)
    sent = a.est.messages_to_send()
    assert _names(sent) == ["channel_ready"]  # lost in the disconnection
    for s in (a, b):
        s.est.disconnected(0.0)
    b.est.command(FundingConfirmed(), 0.0)  # confirmed while disconnected: held
    assert not b.est.messages_to_send()
    for s in (a, b):
        s.est.connected(0.0)
    ra, rb = a.est.messages_to_send(), b.est.messages_to_send()
    assert _names(ra) == _names(rb) == ["channel_reestablish"]
    assert (ra[0].next_commitment_number, ra[0].next_revocation_number) == (1, 0)  # type: ignore[attr-defined]
    a.est.receive_message(rb[0], 0.0)
    b.est.receive_message(ra[0], 0.0)
    ready_a, ready_b = a.est.messages_to_send(), b.est.messages_to_send()
    assert ready_a == sent and _names(ready_b) == ["channel_ready"]
    a.est.receive_message(ready_b[0], 0.0)
    b.est.receive_message(ready_a[0], 0.0)
    assert a.est.state is b.est.state is EState.READY
    assert a.signer is not None and b.signer is not None
    p = Pair(Endpoint(a.est.channel(), a.signer), Endpoint(b.est.channel(), b.signer))
    _add(p, 1)
    p.settle_all()
    _check_agreement(p)


def test_establishment_refuses_a_peer_claiming_commitments() -> None:
    a, b = _open_to_depth()
    for s in (a, b):
        s.est.disconnected(0.0)
        s.est.connected(0.0)
    (ra,) = a.est.messages_to_send()
    b.est.messages_to_send()
    b.est.receive_message(replace(ra, next_revocation_number=3), 0.0)  # type: ignore[arg-type]
    events = list(iter(b.est.next_event, None))
    assert io.ChannelBehind(False, 3, 0) in events
    assert b.est.state is EState.FAILED


def test_a_channel_loaded_after_a_crash_reconnects_without_disconnected() -> None:
    p = make_pair()
    _add(p, 1)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)  # commitment_signed out, never delivered: the runtime is killed
    p.a_to_b.clear()
    p.b_to_a.clear()
    p.a.channel = decode_channel(encode_channel(p.a.channel))  # link still "up" in it
    p.b.channel.disconnected(0.0)
    for ep in (p.a, p.b):
        ep.channel.connected(0.0)  # no disconnected() for A: connected() implies it
    p.flush()
    p.settle_all()
    _check_agreement(p)
    assert len(p.b.channel.ledger.local_commit.spec.htlcs) == 1
