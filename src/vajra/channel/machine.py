"""One channel from `channel_ready` to its close (BOLT 2), sans-IO, with an async signer.

Theory of operation
-------------------
The owner (the runtime's channel task, a test loop) feeds inputs and drains outputs:

    ch = Channel(ledger, remote_next_point, local_next_point)
    ch.receive_message(msg, now)      # a decoded BOLT 2 message for this channel
    ch.command(AddHtlc(...), now)     # a local command (may raise UpdateRuleBroken)
    ch.disconnected(now); ch.connected(now)   # the peer's connection
    req = ch.next_signer_request()    # hand it to the signer ...
    ch.signer_result(result, now)     # ... and feed back its answer, maybe a refusal
    ch.messages_to_send(); ch.next_event()

Rules of this file, in the manner of `peer/connection.py`:

1. Every state change goes through `_TRANSITIONS`, a table from (state, input kind) to a
   handler (`normal.py`: updates and the commitment dance; `close.py`: shutdown and
   `closing_signed`). Peer input missing from the table for a state is a
   `ProtocolError` naming the state and the message; it fails the channel (an `error`
   is queued, state FAILED).
2. A signature is never computed here. Sending `commitment_signed` asks the signer to
   sign the peer's commitment (AWAIT_COUNTERPARTY_SIGS); receiving one asks it to
   validate ours (AWAIT_HOLDER_VALIDATION) and then to revoke the previous one
   (AWAIT_REVOCATION); a `closing_signed` asks for `SignMutualClose`
   (AWAIT_CLOSING_SIG). While a request is out, peer messages are queued and replayed in
   order afterwards, and commands raise `ChannelBusy`: the ledger never moves under a
   request, so a result always matches what was asked.
3. A refusal to sign the peer's commitment is ordinary: nothing was sent, the updates
   stay pending, both sides still agree, and a later `SignCommitment` retries. A refusal
   to validate, revoke or sign the close leaves the peer waiting for a message that
   cannot come: the channel fails with an `error`.
4. The code does not know which side opened the channel: the ledger's checks are the
   same for both directions (`vajra.channel.updates`).
5. The connection is a second dimension (`link`: UP, DOWN, REESTABLISHING) with its own
   rules in `reestablish.py`: outputs produced while the link is not UP are not sent
   (what the peer lacks is retransmitted after `channel_reestablish`), commands raise
   `ChannelOffline`.

States:  NORMAL <-> AWAIT_COUNTERPARTY_SIGS
         NORMAL  -> AWAIT_HOLDER_VALIDATION -> AWAIT_REVOCATION -> NORMAL
         NORMAL  -> NEGOTIATING <-> AWAIT_CLOSING_SIG;  NEGOTIATING -> CLOSED (it still
         reestablishes and resends its last closing_signed until the owner drops it)
         any     -> FAILED
Waiting for the peer's `revoke_and_ack` is not a state of its own: it is
`ledger.next_remote is not None`, during which updates still flow (BOLT 2 allows them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from vajra.channel import close, normal
from vajra.channel import reestablish as link
from vajra.channel import signer_io as io
from vajra.channel.close import ShutdownState
from vajra.channel.shachain import ShachainReceiver
from vajra.channel.spec import Side
from vajra.channel.states import (
    SIGNER_WAITS,
    ChannelBusy,
    ChannelOffline,
    Link,
    State,
)
from vajra.channel.updates import Ledger
from vajra.errors import ProtocolError, VajraError
from vajra.wire import ChannelReestablish, ErrorMessage, Message, RevokeAndAck

__all__ = ["SIGNER_WAITS", "Channel", "ChannelBusy", "ChannelOffline", "Link", "State"]

MAX_DEFERRED = 4096
"""Peer messages held while a signer request is out. An honest peer sends at most a few
per HTLC slot (2 x 483) before it must wait for us; the owner should also stop reading
the socket while `awaiting_signer` (backpressure), so this bound only stops a flood."""

Handler = Callable[["Channel", object], None]


class Channel:
    """One channel's BOLT 2 life after establishment. See the module docstring."""

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
        "shutdown",
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
        shutdown: ShutdownState | None = None,
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
        """`option_scid_alias`: ours (sent in channel_ready) and the peer's."""
        self.shutdown = shutdown or ShutdownState()
        # What a reconnection needs (reestablish.py):
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

    @property
    def channel_id(self) -> bytes:
        return self.ledger.channel.channel_id

    def idle_outputs(self) -> bool:
        """Nothing for the owner to collect and no peer message queued (persistable)."""
        return not (self._out or self._requests or self._events or self._deferred)

    # -- used by the handler modules -------------------------------------------------

    def queue(self, msg: Message) -> None:
        """Send `msg` now if the link is up (else reconnection retransmits what the
        peer lacks); our channel_reestablish always goes out."""
        if self.link is Link.UP or isinstance(msg, ChannelReestablish):
            self._out.append(msg)

    def emit(self, event: io.ChannelEvent) -> None:
        self._events.append(event)

    def request(self, req: io.SignerRequest, wait: State) -> None:
        self._requests.append(req)
        self.state = wait

    def to_normal(self) -> None:
        self.state = State.NORMAL

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
        if msg.NAME == "warning":  # BOLT 1: informational; the owner logs it
            return
        if msg.NAME == "error":  # BOLT 1: the peer failed the channel; nothing to answer
            self.state = State.FAILED
            self._requests.clear()
            self._deferred.clear()
            self._events.append(io.ChannelFailed(ProtocolError("peer sent error", message="error")))
            return
        if self.awaiting_signer:
            if len(self._deferred) >= MAX_DEFERRED:
                self._fail(ProtocolError("peer flooded a waiting channel", state=self.state.value))
                return
            self._deferred.append(msg)
            return
        self._dispatch(msg)

    def command(self, cmd: io.Command, now: float) -> None:
        """A local command. Raises `UpdateRuleBroken` (the update breaks a BOLT 2 rule;
        nothing changed), `ChannelBusy`, `ChannelOffline`, or `ProtocolError` once the
        channel failed, closed or is negotiating its close."""
        del now
        if self.state is not State.NORMAL:
            if self.awaiting_signer:
                raise ChannelBusy(f"signer request outstanding ({self.state.value})")
            raise ProtocolError("command not accepted", state=self.state.value)
        if self.link is not Link.UP:
            raise ChannelOffline(f"peer not reestablished ({self.link.value})")
        _COMMANDS[type(cmd)](self, cmd)
        self._progress()

    def disconnected(self, now: float) -> None:
        """The peer's connection closed (BOLT 2 "upon disconnection"). Idempotent."""
        del now
        if self.link is not Link.DOWN:
            link.on_disconnected(self)

    def connected(self, now: float) -> None:
        """A new connection to the peer (after `init`; not the one the channel was
        established on): our `channel_reestablish` goes out (at once, or when the signer answers); a failed channel resends its error.
        A new connection means the old one is gone: if `disconnected()` was not called
        (e.g. a channel loaded after a crash), it is applied first."""
        if self.link is not Link.DOWN:
            self.disconnected(now)
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
        try:
            handler(self, result)
        except VajraError as e:
            self._fail(e)
        if self.state in (State.NORMAL, State.NEGOTIATING, State.CLOSED):
            link.settle_link(self)
            self._progress()
        while not self.awaiting_signer and self._deferred:
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
        if self.state is State.FAILED:
            return
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
            else:
                handler = _TRANSITIONS.get((self.state, msg.NAME))
                if handler is None:
                    raise ProtocolError(
                        "unexpected message", state=self.state.value, message=msg.NAME
                    )
                handler(self, msg)
            close.progress(self)
        except VajraError as e:
            self._fail(e)

    def _progress(self) -> None:
        try:
            close.progress(self)
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


def _fatal_refusal(ch: Channel, r: io.SignerRefused) -> None:
    raise ProtocolError(f"signer refused: {r.reason}", state=ch.state.value)


_COMMANDS: dict[type, Handler] = {
    io.AddHtlc: normal.cmd_add,  # type: ignore[dict-item]
    io.FulfillHtlc: normal.cmd_fulfill,  # type: ignore[dict-item]
    io.FailHtlc: normal.cmd_fail,  # type: ignore[dict-item]
    io.FailMalformedHtlc: normal.cmd_fail_malformed,  # type: ignore[dict-item]
    io.UpdateFeerate: normal.cmd_fee,  # type: ignore[dict-item]
    io.SignCommitment: normal.cmd_sign,  # type: ignore[dict-item]
    io.Close: close.cmd_close,  # type: ignore[dict-item]
}

_N, _S, _V, _R, _G, _C, _X = (
    State.NORMAL,
    State.AWAIT_COUNTERPARTY_SIGS,
    State.AWAIT_HOLDER_VALIDATION,
    State.AWAIT_REVOCATION,
    State.NEGOTIATING,
    State.AWAIT_CLOSING_SIG,
    State.CLOSED,
)
_TRANSITIONS: dict[tuple[State, str], Handler] = {
    (_N, "update_add_htlc"): normal.on_add,  # type: ignore[dict-item]
    (_N, "update_fulfill_htlc"): normal.on_fulfill,  # type: ignore[dict-item]
    (_N, "update_fail_htlc"): normal.on_fail,  # type: ignore[dict-item]
    (_N, "update_fail_malformed_htlc"): normal.on_fail_malformed,  # type: ignore[dict-item]
    (_N, "update_fee"): normal.on_fee,  # type: ignore[dict-item]
    (_N, "channel_ready"): normal.on_channel_ready,  # type: ignore[dict-item]
    (_N, "commitment_signed"): normal.on_commitment_signed,  # type: ignore[dict-item]
    (_N, "revoke_and_ack"): normal.on_revoke_and_ack,  # type: ignore[dict-item]
    (_N, "shutdown"): close.on_shutdown,  # type: ignore[dict-item]
    (_G, "shutdown"): close.on_shutdown,  # type: ignore[dict-item]
    (_G, "closing_signed"): close.on_closing_signed,  # type: ignore[dict-item]
    (_G, "channel_ready"): normal.on_channel_ready,  # type: ignore[dict-item]
    # CLOSED until the closing transaction confirms: the peer may not have our last
    # closing_signed (BOLT 2: it "must be retransmitted upon reconnection").
    (_X, "shutdown"): close.on_shutdown,  # type: ignore[dict-item]
    (_X, "closing_signed"): close.on_closing_signed_after_close,  # type: ignore[dict-item]
    (_X, "channel_ready"): normal.on_channel_ready,  # type: ignore[dict-item]
    (_S, "CounterpartySigned"): normal.on_counterparty_signed,  # type: ignore[dict-item]
    (_S, "SignerRefused"): normal.on_sign_refused,  # type: ignore[dict-item]
    (_V, "HolderValidated"): normal.on_holder_validated,  # type: ignore[dict-item]
    (_V, "SignerRefused"): _fatal_refusal,  # type: ignore[dict-item]
    (_R, "HolderRevoked"): normal.on_holder_revoked,  # type: ignore[dict-item]
    (_R, "SignerRefused"): _fatal_refusal,  # type: ignore[dict-item]
    (_C, "MutualCloseSigned"): close.on_close_signed,  # type: ignore[dict-item]
    (_C, "SignerRefused"): _fatal_refusal,  # type: ignore[dict-item]
}
