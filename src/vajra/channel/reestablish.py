"""BOLT 2 "Message Retransmission" for a channel in normal operation (or closing).

Theory of operation
-------------------
The connection is a second dimension of a `machine.Channel`, beside its signer-wait
state: `Link.UP` (messages flow), `Link.DOWN` (no connection), `Link.REESTABLISHING`
(connected; our `channel_reestablish` is out or about to be, the peer's not yet in).

    (UP | REESTABLISHING, disconnected)  -> DOWN: both sides' uncommitted updates are
        forgotten ("MUST reverse any uncommitted updates sent by the other side"; the
        peer reverses ours) — deferred until a signer request in flight is answered, as
        the ledger never moves under one; our dropped updates are reported
        (`UpdatesDropped`); peer messages queued for the signer are dropped (the peer
        retransmits whatever our `channel_reestablish` says we lack)
    (DOWN, connected)                   -> REESTABLISHING: our `channel_reestablish` is
        sent at once, or as soon as the signer answers (its numbers must not move after
        it is sent); a FAILED channel resends its `error` instead
    (REESTABLISHING, channel_reestablish) -> UP: the peer's numbers are checked against
        ours and what it lacks is retransmitted — `channel_ready` (both next numbers 1),
        our last `revoke_and_ack`, our last `commitment_signed` with its updates in
        their original order, and the two in the order first sent; then our `shutdown`
        if we sent one (`vajra.channel.close`)
    (REESTABLISHING, anything else)     -> FAILED ("MUST wait to receive the other
        node's channel_reestablish before sending any other messages")

What a reconnection needs is kept on the channel (and persisted): the update messages of
our unrevoked `commitment_signed` and the signature (`sent_commit`), our last
`revoke_and_ack` and the secret before it, which of the two went first, our current and
next per-commitment points.

Numbers (eclair's convention, which LND and LDK share): our `next_commitment_number` is
`local_commit.number + 1`; `next_revocation_number` is `remote_commit.number` (a
`revoke_and_ack` carries the secret of the commitment it revokes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vajra.channel import close
from vajra.channel import signer_io as io
from vajra.channel.states import ChannelOffline, Link
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.errors import ProtocolError, VajraError
from vajra.wire import ChannelReady, ChannelReadyTlvs, ChannelReestablish, Message

if TYPE_CHECKING:
    from vajra.channel.machine import Channel

__all__ = ["ChannelOffline", "Link", "on_reestablish", "our_reestablish", "settle_link"]

_NAME = "channel_reestablish"


def our_reestablish(ch: Channel) -> ChannelReestablish:
    led = ch.ledger
    # "if next_revocation_number equals 0: MUST set your_last_per_commitment_secret to
    # all zeroes; otherwise ... the last per_commitment_secret it received"
    last = ch.last_revocation[1] if ch.last_revocation and led.remote_commit.number else bytes(32)
    return ChannelReestablish(
        ch.channel_id,
        led.local_commit.number + 1,
        led.remote_commit.number,
        last,
        ch.local_point,
    )


def on_disconnected(ch: Channel) -> None:
    ch.link = Link.DOWN
    ch.reestablish_sent = False
    ch.clear_connection()
    ch.drop_due = True
    if not ch.awaiting_signer:
        settle_link(ch)


def on_connected(ch: Channel) -> None:
    ch.link = Link.REESTABLISHING
    if not ch.awaiting_signer:
        settle_link(ch)


def settle_link(ch: Channel) -> None:
    """Run once no signer request is out: forget what the disconnection erased, then send
    our `channel_reestablish` if we are reconnecting."""
    if ch.drop_due:
        ch.drop_due = False
        dropped = ch.ledger.drop_uncommitted()
        ch.unsigned.clear()
        if dropped:
            ch.emit(io.UpdatesDropped(tuple(dropped)))
    if ch.link is Link.REESTABLISHING and not ch.reestablish_sent:
        ch.reestablish_sent = True
        ch.queue(our_reestablish(ch))


def on_reestablish(ch: Channel, m: ChannelReestablish) -> None:
    """The peer's `channel_reestablish` (BOLT 2 requirements on "A node" and "A receiving
    node"). Raises ProtocolError to fail the channel; reports `ChannelBehind` first when
    the peer knows a newer state than ours (we must then not broadcast ours)."""
    led = ch.ledger
    n_local, n_remote = led.local_commit.number, led.remote_commit.number
    pnc, pnr = m.next_commitment_number, m.next_revocation_number

    def broken(rule: str) -> ProtocolError:
        return ProtocolError(rule, state=ch.state.value, message=_NAME)

    if pnc == 0:  # "MUST immediately fail the channel and broadcast"
        raise broken("reestablish-next-commitment-zero")
    # The peer's next_revocation_number is the number of our commitment whose
    # revocation it awaits: n_local - 1 (it lacks our last revoke_and_ack) or n_local.
    if pnr > n_local:
        proven = _secret_is_ours(ch, pnr - 1, m.your_last_per_commitment_secret)
        ch.emit(io.ChannelBehind(proven, pnr, n_local))
        raise broken("reestablish-peer-has-newer-state")
    if pnr < n_local - 1:
        raise broken("reestablish-revocation-number")
    if not _secret_matches(ch, pnr, m.your_last_per_commitment_secret):
        raise broken("reestablish-wrong-secret")
    # The peer's next_commitment_number is the number of its commitment it awaits from
    # us: our unrevoked next_remote (it lacks our commitment_signed), or the one after.
    sent = n_remote + 1 if led.next_remote is not None else None
    expected = n_remote + 2 if sent is not None else n_remote + 1
    if pnc > expected:
        ch.emit(io.ChannelBehind(False, pnc, expected))
        raise broken("reestablish-peer-has-newer-commitment")
    if pnc != expected and pnc != sent:
        raise broken("reestablish-commitment-number")
    resend_commit = pnc == sent
    resend_revoke = pnr == n_local - 1
    if resend_revoke and ch.last_revoke is None:
        raise broken("reestablish-revocation-number")
    ch.link = Link.UP
    if pnc == 1 and n_local == 0:  # both next_commitment_numbers are 1
        ch.queue(ready_message(ch))
    order: list[Message] = []
    if resend_revoke and ch.last_revoke is not None:
        order.append(ch.last_revoke)
    if resend_commit:
        commit = list(ch.sent_commit)
        order = commit + order if ch.commit_before_revoke else order + commit
    for msg in order:
        ch.queue(msg)
    ch.emit(io.Reestablished(resend_commit, resend_revoke))
    close.on_reconnected(ch)


def ready_message(ch: Channel) -> ChannelReady:
    """Our `channel_ready` (with our alias when `option_scid_alias` is in use)."""
    return ChannelReady(
        ch.channel_id, ch.local_next_point, ChannelReadyTlvs(short_channel_id=ch.local_alias)
    )


def _secret_matches(ch: Channel, pnr: int, secret: bytes) -> bool:
    """`your_last_per_commitment_secret` must be our secret of commitment `pnr - 1` (all
    zeroes when `pnr` is 0), which we sent in one of our last two `revoke_and_ack`s."""
    if pnr == 0:
        return secret == bytes(32)
    last = ch.last_revoke
    if last is None:
        return False
    n_local = ch.ledger.local_commit.number
    if pnr - 1 == n_local - 1:
        return secret == last.per_commitment_secret
    return pnr - 1 == n_local - 2 and secret == ch.prev_secret


def _secret_is_ours(ch: Channel, number: int, secret: bytes) -> bool:
    """Whether `secret` is provably our per-commitment secret of `number`: checkable
    with public data only for the two points we hold (current and next)."""
    n_local = ch.ledger.local_commit.number
    points = {n_local: ch.local_point, n_local + 1: ch.local_next_point}
    if number not in points:
        return False
    try:
        return pubkey_from_secret(secret) == points[number]
    except VajraError:
        return False
