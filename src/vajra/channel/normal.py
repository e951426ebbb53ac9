"""The handlers of BOLT 2 "Normal Operation" that `machine.py`'s tables call: local
commands, the peer's update / commitment_signed / revoke_and_ack messages, and the
signer's answers. Each takes the `Channel` and one input; rules and states are described
in `machine.py`'s theory of operation; the update checks live in `updates.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vajra.channel import signer_io as io
from vajra.channel.shachain import commitment_index
from vajra.channel.spec import Side
from vajra.channel.states import State
from vajra.channel.updates import UpdateRuleBroken
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.errors import ProtocolError
from vajra.wire import (
    ChannelReady,
    CommitmentSigned,
    Message,
    RevokeAndAck,
    UpdateAddHtlc,
    UpdateFailHtlc,
    UpdateFailMalformedHtlc,
    UpdateFee,
    UpdateFulfillHtlc,
)

if TYPE_CHECKING:
    from vajra.channel.machine import Channel

BADONION = 0x8000


def _update(ch: Channel, msg: Message) -> None:
    ch.unsigned.append(msg)
    ch.queue(msg)


# -- local commands ----------------------------------------------------------------------


def cmd_add(ch: Channel, cmd: io.AddHtlc) -> None:
    # BOLT 2: "MUST NOT send an update_add_htlc after a shutdown."
    if ch.shutdown.local_sent or ch.shutdown.remote_script is not None:
        raise UpdateRuleBroken("htlc-add-after-shutdown", Side.LOCAL)
    led = ch.ledger
    htlc = led.propose_add(
        Side.LOCAL, led.next_htlc_id[Side.LOCAL], cmd.amount_msat, cmd.payment_hash,
        cmd.cltv_expiry,
    )  # fmt: skip
    _update(
        ch,
        UpdateAddHtlc(
            ch.channel_id, htlc.id, htlc.amount_msat, htlc.payment_hash, htlc.cltv_expiry,
            cmd.onion_routing_packet,
        ),
    )  # fmt: skip


def cmd_fulfill(ch: Channel, cmd: io.FulfillHtlc) -> None:
    ch.ledger.propose_settle(Side.LOCAL, cmd.htlc_id, payment_preimage=cmd.payment_preimage)
    _update(ch, UpdateFulfillHtlc(ch.channel_id, cmd.htlc_id, cmd.payment_preimage))


def cmd_fail(ch: Channel, cmd: io.FailHtlc) -> None:
    ch.ledger.propose_settle(Side.LOCAL, cmd.htlc_id, payment_preimage=None)
    _update(ch, UpdateFailHtlc(ch.channel_id, cmd.htlc_id, cmd.reason))


def cmd_fail_malformed(ch: Channel, cmd: io.FailMalformedHtlc) -> None:
    if not cmd.failure_code & BADONION:
        raise UpdateRuleBroken("malformed-without-badonion", Side.LOCAL)
    ch.ledger.propose_settle(Side.LOCAL, cmd.htlc_id, payment_preimage=None)
    _update(
        ch,
        UpdateFailMalformedHtlc(ch.channel_id, cmd.htlc_id, cmd.sha256_of_onion, cmd.failure_code),
    )


def cmd_fee(ch: Channel, cmd: io.UpdateFeerate) -> None:
    ch.ledger.propose_fee(Side.LOCAL, cmd.feerate_per_kw)
    _update(ch, UpdateFee(ch.channel_id, cmd.feerate_per_kw))


def cmd_sign(ch: Channel, cmd: io.SignCommitment) -> None:
    del cmd
    led = ch.ledger
    if not led.can_send_commit():
        return
    ch.request(
        io.SignCounterpartyCommitment(
            led.remote_commit.number + 1, led.next_remote_spec(), ch.remote_next_point,
            ch.last_revocation, led.known_preimages(),
        ),
        State.AWAIT_COUNTERPARTY_SIGS,
    )  # fmt: skip


# -- peer messages -----------------------------------------------------------------------


def on_add(ch: Channel, m: UpdateAddHtlc) -> None:
    # BOLT 2: the sender "MUST NOT send an update_add_htlc after a shutdown"
    if ch.shutdown.remote_script is not None:
        raise UpdateRuleBroken("htlc-add-after-shutdown", Side.REMOTE, message=m.NAME)
    ch.ledger.propose_add(
        Side.REMOTE, m.id, m.amount_msat, m.payment_hash, m.cltv_expiry, message=m.NAME
    )


def on_fulfill(ch: Channel, m: UpdateFulfillHtlc) -> None:
    ch.ledger.propose_settle(Side.REMOTE, m.id, payment_preimage=m.payment_preimage, message=m.NAME)


def on_fail(ch: Channel, m: UpdateFailHtlc) -> None:
    ch.ledger.propose_settle(Side.REMOTE, m.id, payment_preimage=None, message=m.NAME)


def on_fail_malformed(ch: Channel, m: UpdateFailMalformedHtlc) -> None:
    # BOLT 2: "if the BADONION bit in failure_code is not set ... MUST send a warning and
    # fail the channel."
    if not m.failure_code & BADONION:
        raise UpdateRuleBroken("malformed-without-badonion", Side.REMOTE, message=m.NAME)
    ch.ledger.propose_settle(Side.REMOTE, m.id, payment_preimage=None, message=m.NAME)


def on_fee(ch: Channel, m: UpdateFee) -> None:
    ch.ledger.propose_fee(Side.REMOTE, m.feerate_per_kw, message=m.NAME)


def on_channel_ready(ch: Channel, m: ChannelReady) -> None:
    # BOLT 2: "MUST ignore any redundant channel_ready"; a peer "MAY send channel_ready
    # with a different short_channel_id alias", which we note.
    if m.tlvs.short_channel_id is not None:
        ch.remote_alias = m.tlvs.short_channel_id


def on_announcement_signatures(ch: Channel, m: object) -> None:
    """Ignored, a deliberate deviation: BOLT 7 says a node receiving it "MUST respond
    with its own", but we cannot announce channels yet (no signer request for the
    `channel_announcement` signatures), and failing a working channel for it would
    punish every `lncli openchannel` without `--private` (see ARCHITECTURE.md)."""
    del ch, m


def on_commitment_signed(ch: Channel, m: CommitmentSigned) -> None:
    led = ch.ledger
    # BOLT 2 lets a receiver fail a commitment_signed that includes no update.
    if not led.has_changes_for_local():
        raise ProtocolError("commitment_signed without updates", state="normal", message=m.NAME)
    ch.request(
        io.ValidateHolderCommitment(
            led.local_commit.number + 1, led.next_local_spec(), m.signature, m.htlc_signature,
            led.known_preimages(),
        ),
        State.AWAIT_HOLDER_VALIDATION,
    )  # fmt: skip


def on_revoke_and_ack(ch: Channel, m: RevokeAndAck) -> None:
    led = ch.ledger
    if led.next_remote is None:
        raise ProtocolError("revoke_and_ack without commitment", state="normal", message=m.NAME)
    # BOLT 2: "if the per_commitment_secret does not generate the previous
    # per_commitment_point: MUST send an error and fail the channel."
    if pubkey_from_secret(m.per_commitment_secret) != ch.remote_point:
        raise ProtocolError("revocation secret mismatch", state="normal", message=m.NAME)
    number = led.remote_commit.number
    ch.remote_secrets.insert_secret(m.per_commitment_secret, commitment_index(number))
    led.receive_revocation()
    ch.sent_commit = ()
    ch.last_revocation = (number, m.per_commitment_secret)
    ch.remote_point, ch.remote_next_point = ch.remote_next_point, m.next_per_commitment_point


# -- signer results ----------------------------------------------------------------------


def on_counterparty_signed(ch: Channel, r: io.CounterpartySigned) -> None:
    ch.ledger.send_commit()
    commit = CommitmentSigned(ch.channel_id, r.signature, r.htlc_signatures)
    ch.sent_commit = (*ch.unsigned, commit)
    ch.unsigned = []
    ch.commit_before_revoke = False
    ch.queue(commit)
    ch.to_normal()


def on_sign_refused(ch: Channel, r: io.SignerRefused) -> None:
    ch.to_normal()
    ch.emit(io.SigningRefused(r.reason, r.detail))


def on_holder_validated(ch: Channel, r: io.HolderValidated) -> None:
    del r
    info = ch.ledger.receive_commit()
    ch.request(io.RevokeHolderCommitment(info.number - 1), State.AWAIT_REVOCATION)


def on_holder_revoked(ch: Channel, r: io.HolderRevoked) -> None:
    revoke = RevokeAndAck(ch.channel_id, r.per_commitment_secret, r.next_per_commitment_point)
    if ch.last_revoke is not None:
        ch.prev_secret = ch.last_revoke.per_commitment_secret
    ch.last_revoke = revoke
    ch.local_point, ch.local_next_point = ch.local_next_point, revoke.next_per_commitment_point
    # Our unrevoked commitment_signed (if any) went out before this revoke_and_ack.
    ch.commit_before_revoke = ch.ledger.next_remote is not None
    ch.queue(revoke)
    ch.to_normal()
    ch.emit(io.CommitmentAdvanced(ch.ledger.local_commit.number))
