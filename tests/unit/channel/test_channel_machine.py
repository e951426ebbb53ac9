"""The channel transition table: what each state accepts, and how it waits for the signer."""

from __future__ import annotations

import pytest

from tests.unit.channel.pair import make_pair
from vajra.channel import signer_io as io
from vajra.channel.machine import MAX_DEFERRED, ChannelBusy, State
from vajra.channel.spec import FeeChange
from vajra.crypto.hashes import sha256
from vajra.errors import ProtocolError
from vajra.wire import (
    ChannelReady,
    ChannelReadyTlvs,
    FundingSigned,
    RevokeAndAck,
    UpdateFee,
    WarningMessage,
)


def test_a_message_outside_the_table_fails_the_channel_naming_state_and_message() -> None:
    p = make_pair()
    ch = p.b.channel
    ch.receive_message(FundingSigned(ch.channel_id, bytes(64)), 0.0)
    (event,) = [e for e in p.b.collect_events() if isinstance(e, io.ChannelFailed)]
    assert isinstance(event.error, ProtocolError)
    assert (event.error.state, event.error.message) == ("normal", "funding_signed")
    assert ch.state is State.FAILED
    assert [m.NAME for m in ch.messages_to_send()] == ["error"]


def test_a_redundant_channel_ready_is_ignored_and_its_alias_noted() -> None:
    p = make_pair()
    ch = p.b.channel
    point = p.a.signer.secrets.per_commitment_point(1)
    ch.receive_message(ChannelReady(ch.channel_id, point, ChannelReadyTlvs(0x123456)), 0.0)
    assert ch.state is State.NORMAL and not ch.messages_to_send()
    assert ch.remote_alias == 0x123456


def test_revoke_and_ack_with_nothing_to_revoke_fails_the_channel() -> None:
    p = make_pair()
    ch = p.b.channel
    ch.receive_message(RevokeAndAck(ch.channel_id, bytes(31) + b"\x01", ch.remote_point), 0.0)
    assert ch.state is State.FAILED


def test_peer_messages_wait_while_the_signer_works_and_commands_are_busy() -> None:
    p = make_pair()
    p.a.signer.authorise_payment(sha256(b"\x01" * 32))
    p.a.channel.command(io.AddHtlc(5_000_000, sha256(b"\x01" * 32), 700_000), 0.0)
    p.a.channel.command(io.SignCommitment(), 0.0)
    p.flush()
    p.answer(p.a)  # A's signer signs B's commitment 1
    p.deliver(True)  # update_add_htlc
    p.deliver(True)  # commitment_signed: B now waits for its signer
    assert p.b.channel.state is State.AWAIT_HOLDER_VALIDATION
    with pytest.raises(ChannelBusy):
        p.b.channel.command(io.SignCommitment(), 0.0)
    # A fee update arriving meanwhile is queued, not judged against a moving ledger...
    p.b.channel.receive_message(UpdateFee(p.b.channel.channel_id, 3_000), 0.0)
    assert FeeChange(3_000) not in p.b.channel.ledger.pending[1].all()
    p.answer(p.b)  # validated -> now waits for the revocation secret
    assert p.b.channel.state is State.AWAIT_REVOCATION
    p.answer(p.b)
    # ... and replayed, in order, once the signer has answered.
    assert p.b.channel.state is State.NORMAL
    assert p.b.channel.ledger.pending[1].proposed == [FeeChange(3_000)]
    assert [m.NAME for m in p.b_to_a] == ["revoke_and_ack"]


def test_a_signer_result_nobody_asked_for_is_a_typed_error() -> None:
    p = make_pair()
    with pytest.raises(ProtocolError):
        p.a.channel.signer_result(io.HolderValidated(), 0.0)


def test_a_flood_while_the_signer_works_fails_the_channel() -> None:
    p = make_pair()
    p.a.signer.authorise_payment(sha256(b"\x01" * 32))
    p.a.channel.command(io.AddHtlc(5_000_000, sha256(b"\x01" * 32), 700_000), 0.0)
    p.a.channel.command(io.SignCommitment(), 0.0)
    assert p.a.channel.awaiting_signer
    fee = UpdateFee(p.a.channel.channel_id, 3_000)
    for _ in range(MAX_DEFERRED):
        p.a.channel.receive_message(fee, 0.0)
    assert p.a.channel.awaiting_signer
    p.a.channel.receive_message(fee, 0.0)
    assert p.a.channel.state is State.FAILED


def test_a_warning_does_not_fail_the_channel() -> None:
    p = make_pair()
    ch = p.b.channel
    ch.receive_message(WarningMessage(ch.channel_id, b"closing fee_range: no overlap"), 0.0)
    assert ch.state is State.NORMAL and not ch.messages_to_send()
