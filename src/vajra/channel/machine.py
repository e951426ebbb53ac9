"""One channel in normal operation (BOLT 2), sans-IO, with an asynchronous signer.

Theory of operation
-------------------
The owner (the runtime's channel task, a test loop) feeds inputs and drains outputs:

    ch = Channel(ledger, remote_next_point)
    ch.receive_message(msg, now)      # a decoded BOLT 2 message for this channel
    ch.command(AddHtlc(...), now)     # a local command (may raise UpdateRuleBroken)
    req = ch.next_signer_request()    # hand it to the signer ...
    ch.signer_result(result, now)     # ... and feed back its answer, maybe a refusal
    ch.messages_to_send(); ch.next_event()

Rules of this file, in the manner of `peer/connection.py`:

1. Every state change goes through `_TRANSITIONS`, a table from (state, input kind) to a
   handler. Peer input missing from the table for a state is a `ProtocolError` naming the
   state and the message; it fails the channel (an `error` is queued, state FAILED).
2. A signature is never computed here. Sending `commitment_signed` asks the signer to
   sign the peer's commitment (AWAIT_COUNTERPARTY_SIGS); receiving one asks it to
   validate ours (AWAIT_HOLDER_VALIDATION) and then to revoke the previous one
   (AWAIT_REVOCATION). While a request is out, peer messages are queued and replayed in
   order afterwards, and commands raise `ChannelBusy`: the ledger never moves under a
   request, so a result always matches what was asked.
3. A refusal to sign the peer's commitment is ordinary: nothing was sent, the updates
   stay pending, both sides still agree, and a later `SignCommitment` retries. A refusal
   to validate or revoke leaves the peer waiting for a `revoke_and_ack` that cannot come:
   the channel fails with an `error` (BOLT 2: an invalid signature fails the channel).
4. The code does not know which side opened the channel: the ledger's checks are the
   same for both directions (`vajra.channel.updates`).

5. The connection is a second dimension (`link`: UP, DOWN, REESTABLISHING), with its
   own table and rules in `vajra.channel.reestablish`: `disconnected()` / `connected()`
   are owner inputs, outputs produced while the link is not UP are not sent (what the
   peer lacks is retransmitted after `channel_reestablish`), commands raise
   `ChannelOffline`.

States:  NORMAL <-> AWAIT_COUNTERPARTY_SIGS
         NORMAL  -> AWAIT_HOLDER_VALIDATION -> AWAIT_REVOCATION -> NORMAL
         any     -> FAILED
Waiting for the peer's `revoke_and_ack` is not a state of its own: it is
`ledger.next_remote is not None`, during which updates still flow (BOLT 2 allows them).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

from vajra.channel import reestablish as link
from vajra.channel import signer_io as io
from vajra.channel.reestablish import ChannelOffline, Link
from vajra.channel.shachain import ShachainReceiver, commitment_index
from vajra.channel.spec import Side
from vajra.channel.updates import Ledger, UpdateRuleBroken
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.errors import ProtocolError, VajraError
from vajra.wire import (
    ChannelReady,
    ChannelReestablish,
    CommitmentSigned,
    ErrorMessage,
    Message,
    RevokeAndAck,
    UpdateAddHtlc,
    UpdateFailHtlc,
    UpdateFailMalformedHtlc,
    UpdateFee,
    UpdateFulfillHtlc,
)

BADONION = 0x8000
MAX_DEFERRED = 4096
"""Peer messages held while a signer request is out. An honest peer sends at most a few
per HTLC slot (2 x 483) before it must wait for us; the owner should also stop reading
the socket while `awaiting_signer` (backpressure), so this bound only stops a flood."""


class State(enum.Enum):
    NORMAL = "normal"
    AWAIT_COUNTERPARTY_SIGS = "await_counterparty_sigs"
    AWAIT_HOLDER_VALIDATION = "await_holder_validation"
    AWAIT_REVOCATION = "await_revocation"
    FAILED = "failed"


SIGNER_WAITS = frozenset(
    {State.AWAIT_COUNTERPARTY_SIGS, State.AWAIT_HOLDER_VALIDATION, State.AWAIT_REVOCATION}
)
"""States with a signer request outstanding (peer messages queue, commands wait)."""


class ChannelBusy(VajraError):
    """A command arrived while a signer request is out; retry once it is answered."""


Handler = Callable[["Channel", object], None]


class Channel:
    """One channel's BOLT 2 normal operation. See the module docstring."""

    __slots__ = (
        "_deferred",
        "_events",
        "_out",
        "_requests",
        "commit_before_revoke",
        "drop_due",
        "error_message",
        "last_revocation",
        "last_revoke",
        "ledger",
        "link",
        "local_alias",
        "local_next_point",
        "local_point",
        "prev_secret",
        "reestablish_sent",
        "remote_alias",
        "remote_next_point",
        "remote_point",
        "remote_secrets",
        "sent_commit",
        "state",
        "unsigned",
    )

    def __init__(
        self,
        ledger: Ledger,
        remote_next_point: bytes,
        local_next_point: bytes,
        *,
        local_alias: int | None = None,
        remote_alias: int | None = None,
    ) -> None:
        self.ledger = ledger
        self.state = State.NORMAL
        self.remote_point = ledger.channel.basepoints[Side.REMOTE].first_per_commitment_point
        """The peer's point of `ledger.remote_commit`."""
        self.remote_next_point = remote_next_point
        """The peer's point of its next commitment (from `channel_ready`/revoke_and_ack)."""
        self.remote_secrets = ShachainReceiver()
        self.last_revocation: tuple[int, bytes] | None = None
        self.local_point = ledger.channel.basepoints[Side.LOCAL].first_per_commitment_point
        """Our point of `ledger.local_commit` (sent as my_current_per_commitment_point)."""
        self.local_next_point = local_next_point
        """Our point of the next local commitment (channel_ready / last revoke_and_ack)."""
        self.local_alias, self.remote_alias = local_alias, remote_alias
        # What a reconnection needs (vajra.channel.reestablish):
        self.link = Link.UP
        self.unsigned: list[Message] = []
        """Our update messages no commitment_signed covers yet (ledger LOCAL.proposed)."""
        self.sent_commit: tuple[Message, ...] = ()
        """Our last commitment_signed and its updates, in order, until it is revoked."""
        self.last_revoke: RevokeAndAck | None = None
        self.prev_secret: bytes | None = None
        """The secret in the revoke_and_ack before `last_revoke`."""
        self.commit_before_revoke = False
        self.reestablish_sent = False
        self.drop_due = False
        self.error_message: ErrorMessage | None = None
        self._out: list[Message] = []
        self._requests: deque[io.SignerRequest] = deque()
        self._events: deque[io.ChannelEvent] = deque()
        self._deferred: deque[Message] = deque()

    @property
    def awaiting_signer(self) -> bool:
        return self.state in SIGNER_WAITS

    def idle_outputs(self) -> bool:
        """Nothing for the owner to collect and no peer message queued (persistable)."""
        return not (self._out or self._requests or self._events or self._deferred)

    @property
    def channel_id(self) -> bytes:
        return self.ledger.channel.channel_id

    # -- used by the helper modules (reestablish, close) ----------------------------

    def queue(self, msg: Message) -> None:
        """Send `msg` now if the link is up (else reconnection retransmits what the
        peer lacks); our channel_reestablish always goes out."""
        if self.link is Link.UP or isinstance(msg, ChannelReestablish):
            self._out.append(msg)

    def emit(self, event: io.ChannelEvent) -> None:
        self._events.append(event)

    def clear_connection(self) -> None:
        """Forget what belonged to the closed connection: messages not yet collected
        and peer messages waiting for the signer."""
        self._out.clear()
        self._deferred.clear()

    # -- owner interface --------------------------------------------------------

    def receive_message(self, msg: Message, now: float) -> None:
        """A peer message for this channel. Never raises: a broken rule fails the channel."""
        del now
        if self.state is State.FAILED or self.link is Link.DOWN:
            return  # nothing to answer; a message with no connection is the owner's slip
        if msg.NAME == "error":  # BOLT 1: the peer failed the channel; nothing to answer
            self.state = State.FAILED
            self._requests.clear()
            self._deferred.clear()
            self._events.append(io.ChannelFailed(ProtocolError("peer sent error", message="error")))
            return
        if self.state is not State.NORMAL:
            if len(self._deferred) >= MAX_DEFERRED:
                self._fail(ProtocolError("peer flooded a waiting channel", state=self.state.value))
                return
            self._deferred.append(msg)
            return
        self._dispatch(msg)

    def command(self, cmd: io.Command, now: float) -> None:
        """A local command. Raises `UpdateRuleBroken` (the update breaks a BOLT 2 rule;
        nothing changed), `ChannelBusy`, or `ProtocolError` once the channel failed."""
        del now
        if self.state is State.FAILED:
            raise ProtocolError("channel failed", state=self.state.value)
        if self.state is not State.NORMAL:
            raise ChannelBusy(f"signer request outstanding ({self.state.value})")
        if self.link is not Link.UP:
            raise ChannelOffline(f"peer not reestablished ({self.link.value})")
        _COMMANDS[type(cmd)](self, cmd)

    def disconnected(self, now: float) -> None:
        """The peer's connection closed (BOLT 2 "upon disconnection"). Idempotent."""
        del now
        if self.link is not Link.DOWN:
            link.on_disconnected(self)

    def connected(self, now: float) -> None:
        """A new connection to the peer (after `init`): our `channel_reestablish` goes
        out (at once, or when the signer answers); a failed channel resends its error.
        ProtocolError if the link is not DOWN."""
        del now
        if self.state is State.FAILED:
            self.link = Link.REESTABLISHING
            if self.error_message is not None:
                self._out.append(self.error_message)
            return
        link.on_connected(self)

    def signer_result(self, result: io.SignerResult, now: float) -> None:
        """The answer to the last `next_signer_request()`. ProtocolError if none is due."""
        del now
        handler = _TRANSITIONS.get((self.state, type(result).__name__))
        if handler is None:
            raise ProtocolError(
                "unexpected signer result", state=self.state.value, message=type(result).__name__
            )
        handler(self, result)
        if self.state is State.NORMAL:
            link.settle_link(self)
        while self.state is State.NORMAL and self._deferred:
            self._dispatch(self._deferred.popleft())

    def messages_to_send(self) -> list[Message]:
        out, self._out = self._out, []
        return out

    def next_signer_request(self) -> io.SignerRequest | None:
        return self._requests.popleft() if self._requests else None

    def next_event(self) -> io.ChannelEvent | None:
        return self._events.popleft() if self._events else None

    # -- dispatch --------------------------------------------------------------------

    def _dispatch(self, msg: Message) -> None:
        try:
            if getattr(msg, "channel_id", None) != self.channel_id:
                raise ProtocolError("wrong channel_id", state=self.state.value, message=msg.NAME)
            if self.link is Link.REESTABLISHING:
                if msg.NAME != "channel_reestablish" or not self.reestablish_sent:
                    raise ProtocolError(
                        "message before channel_reestablish",
                        state=self.link.value,
                        message=msg.NAME,
                    )
                link.on_reestablish(self, msg)  # type: ignore[arg-type]
                return
            handler = _TRANSITIONS.get((self.state, msg.NAME))
            if handler is None:
                raise ProtocolError("unexpected message", state=self.state.value, message=msg.NAME)
            handler(self, msg)
        except VajraError as e:
            self._fail(e)

    def _fail(self, error: VajraError) -> None:
        self.state = State.FAILED
        self._requests.clear()
        self._deferred.clear()
        self.error_message = ErrorMessage(self.channel_id, str(error).encode()[:1000])
        if self.link is not Link.DOWN:
            self._out.append(self.error_message)
        self._events.append(io.ChannelFailed(error))

    # -- local commands ----------------------------------------------------------------

    def _cmd_add(self, cmd: io.AddHtlc) -> None:
        htlc = self.ledger.propose_add(
            Side.LOCAL,
            self.ledger.next_htlc_id[Side.LOCAL],
            cmd.amount_msat,
            cmd.payment_hash,
            cmd.cltv_expiry,
        )
        self._update(
            UpdateAddHtlc(
                self.channel_id,
                htlc.id,
                htlc.amount_msat,
                htlc.payment_hash,
                htlc.cltv_expiry,
                cmd.onion_routing_packet,
            )
        )

    def _cmd_fulfill(self, cmd: io.FulfillHtlc) -> None:
        self.ledger.propose_settle(Side.LOCAL, cmd.htlc_id, payment_preimage=cmd.payment_preimage)
        self._update(UpdateFulfillHtlc(self.channel_id, cmd.htlc_id, cmd.payment_preimage))

    def _cmd_fail(self, cmd: io.FailHtlc) -> None:
        self.ledger.propose_settle(Side.LOCAL, cmd.htlc_id, payment_preimage=None)
        self._update(UpdateFailHtlc(self.channel_id, cmd.htlc_id, cmd.reason))

    def _cmd_fail_malformed(self, cmd: io.FailMalformedHtlc) -> None:
        if not cmd.failure_code & BADONION:
            raise UpdateRuleBroken("malformed-without-badonion", Side.LOCAL)
        self.ledger.propose_settle(Side.LOCAL, cmd.htlc_id, payment_preimage=None)
        self._update(
            UpdateFailMalformedHtlc(
                self.channel_id, cmd.htlc_id, cmd.sha256_of_onion, cmd.failure_code
            )
        )

    def _cmd_fee(self, cmd: io.UpdateFeerate) -> None:
        self.ledger.propose_fee(Side.LOCAL, cmd.feerate_per_kw)
        self._update(UpdateFee(self.channel_id, cmd.feerate_per_kw))

    def _update(self, msg: Message) -> None:
        self.unsigned.append(msg)
        self.queue(msg)

    def _cmd_sign(self, cmd: io.SignCommitment) -> None:
        del cmd
        if not self.ledger.can_send_commit():
            return
        number = self.ledger.remote_commit.number + 1
        self._requests.append(
            io.SignCounterpartyCommitment(
                number,
                self.ledger.next_remote_spec(),
                self.remote_next_point,
                self.last_revocation,
                self.ledger.known_preimages(),
            )
        )
        self.state = State.AWAIT_COUNTERPARTY_SIGS

    # -- peer messages (NORMAL) ------------------------------------------------------

    def _on_add(self, m: UpdateAddHtlc) -> None:
        self.ledger.propose_add(
            Side.REMOTE, m.id, m.amount_msat, m.payment_hash, m.cltv_expiry, message=m.NAME
        )

    def _on_fulfill(self, m: UpdateFulfillHtlc) -> None:
        self.ledger.propose_settle(
            Side.REMOTE, m.id, payment_preimage=m.payment_preimage, message=m.NAME
        )

    def _on_fail(self, m: UpdateFailHtlc) -> None:
        self.ledger.propose_settle(Side.REMOTE, m.id, payment_preimage=None, message=m.NAME)

    def _on_fail_malformed(self, m: UpdateFailMalformedHtlc) -> None:
        # BOLT 2: "if the BADONION bit in failure_code is not set ... MUST send a warning
        # and fail the channel."
        if not m.failure_code & BADONION:
            raise UpdateRuleBroken("malformed-without-badonion", Side.REMOTE, message=m.NAME)
        self.ledger.propose_settle(Side.REMOTE, m.id, payment_preimage=None, message=m.NAME)

    def _on_fee(self, m: UpdateFee) -> None:
        self.ledger.propose_fee(Side.REMOTE, m.feerate_per_kw, message=m.NAME)

    def _on_channel_ready(self, m: ChannelReady) -> None:
        # BOLT 2: "MUST ignore any redundant channel_ready"; it "MAY send channel_ready
        # with a different short_channel_id alias", which we note.
        if m.tlvs.short_channel_id is not None:
            self.remote_alias = m.tlvs.short_channel_id

    def _on_commitment_signed(self, m: CommitmentSigned) -> None:
        # BOLT 2 lets a receiver fail a commitment_signed that includes no update.
        if not self.ledger.has_changes_for_local():
            raise ProtocolError("commitment_signed without updates", state="normal", message=m.NAME)
        self._requests.append(
            io.ValidateHolderCommitment(
                self.ledger.local_commit.number + 1,
                self.ledger.next_local_spec(),
                m.signature,
                m.htlc_signature,
                self.ledger.known_preimages(),
            )
        )
        self.state = State.AWAIT_HOLDER_VALIDATION

    def _on_revoke_and_ack(self, m: RevokeAndAck) -> None:
        if self.ledger.next_remote is None:
            raise ProtocolError("revoke_and_ack without commitment", state="normal", message=m.NAME)
        # BOLT 2: "if the per_commitment_secret does not generate the previous
        # per_commitment_point: MUST send an error and fail the channel."
        if pubkey_from_secret(m.per_commitment_secret) != self.remote_point:
            raise ProtocolError("revocation secret mismatch", state="normal", message=m.NAME)
        number = self.ledger.remote_commit.number
        self.remote_secrets.insert_secret(m.per_commitment_secret, commitment_index(number))
        self.ledger.receive_revocation()
        self.sent_commit = ()
        self.last_revocation = (number, m.per_commitment_secret)
        self.remote_point, self.remote_next_point = (
            self.remote_next_point,
            m.next_per_commitment_point,
        )

    # -- signer results --------------------------------------------------------------

    def _on_counterparty_signed(self, r: io.CounterpartySigned) -> None:
        self.ledger.send_commit()
        commit = CommitmentSigned(self.channel_id, r.signature, r.htlc_signatures)
        self.sent_commit = (*self.unsigned, commit)
        self.unsigned = []
        self.commit_before_revoke = False
        self.queue(commit)
        self.state = State.NORMAL

    def _on_sign_refused(self, r: io.SignerRefused) -> None:
        self.state = State.NORMAL
        self._events.append(io.SigningRefused(r.reason, r.detail))

    def _on_holder_validated(self, r: io.HolderValidated) -> None:
        del r
        info = self.ledger.receive_commit()
        self._requests.append(io.RevokeHolderCommitment(info.number - 1))
        self.state = State.AWAIT_REVOCATION

    def _on_holder_revoked(self, r: io.HolderRevoked) -> None:
        revoke = RevokeAndAck(self.channel_id, r.per_commitment_secret, r.next_per_commitment_point)
        if self.last_revoke is not None:
            self.prev_secret = self.last_revoke.per_commitment_secret
        self.last_revoke = revoke
        self.local_point, self.local_next_point = (
            self.local_next_point,
            revoke.next_per_commitment_point,
        )
        # Our unrevoked commitment_signed (if any) went out before this revoke_and_ack.
        self.commit_before_revoke = self.ledger.next_remote is not None
        self.queue(revoke)
        self.state = State.NORMAL
        self._events.append(io.CommitmentAdvanced(self.ledger.local_commit.number))

    def _on_fatal_refusal(self, r: io.SignerRefused) -> None:
        self._fail(ProtocolError(f"signer refused: {r.reason}", state=self.state.value))


_COMMANDS: dict[type, Handler] = {
    io.AddHtlc: Channel._cmd_add,  # type: ignore[dict-item]
    io.FulfillHtlc: Channel._cmd_fulfill,  # type: ignore[dict-item]
    io.FailHtlc: Channel._cmd_fail,  # type: ignore[dict-item]
    io.FailMalformedHtlc: Channel._cmd_fail_malformed,  # type: ignore[dict-item]
    io.UpdateFeerate: Channel._cmd_fee,  # type: ignore[dict-item]
    io.SignCommitment: Channel._cmd_sign,  # type: ignore[dict-item]
}

_N, _S, _V, _R = (
    State.NORMAL,
    State.AWAIT_COUNTERPARTY_SIGS,
    State.AWAIT_HOLDER_VALIDATION,
    State.AWAIT_REVOCATION,
)
_TRANSITIONS: dict[tuple[State, str], Handler] = {
    (_N, "update_add_htlc"): Channel._on_add,  # type: ignore[dict-item]
    (_N, "update_fulfill_htlc"): Channel._on_fulfill,  # type: ignore[dict-item]
    (_N, "update_fail_htlc"): Channel._on_fail,  # type: ignore[dict-item]
    (_N, "update_fail_malformed_htlc"): Channel._on_fail_malformed,  # type: ignore[dict-item]
    (_N, "update_fee"): Channel._on_fee,  # type: ignore[dict-item]
    (_N, "channel_ready"): Channel._on_channel_ready,  # type: ignore[dict-item]
    (_N, "commitment_signed"): Channel._on_commitment_signed,  # type: ignore[dict-item]
    (_N, "revoke_and_ack"): Channel._on_revoke_and_ack,  # type: ignore[dict-item]
    (_S, "CounterpartySigned"): Channel._on_counterparty_signed,  # type: ignore[dict-item]
    (_S, "SignerRefused"): Channel._on_sign_refused,  # type: ignore[dict-item]
    (_V, "HolderValidated"): Channel._on_holder_validated,  # type: ignore[dict-item]
    (_V, "SignerRefused"): Channel._on_fatal_refusal,  # type: ignore[dict-item]
    (_R, "HolderRevoked"): Channel._on_holder_revoked,  # type: ignore[dict-item]
    (_R, "SignerRefused"): Channel._on_fatal_refusal,  # type: ignore[dict-item]
}
