"""The last phase of v1 establishment, from AWAIT_DEPTH on: `channel_ready` (with our
alias), reconnection (BOLT 2 "Message Retransmission" with no commitment past 0), and
the hand-over to `machine.Channel`. A mixin of `establish.Establishment`; the theory of
operation is in `establish.py`."""

from __future__ import annotations

from collections import deque

from vajra.channel import establish_rules as rules
from vajra.channel import signer_io as io
from vajra.channel.close import ShutdownState
from vajra.channel.establish_io import (
    REMEMBERED,
    EstablishConfig,
    EstState,
    FundingConfirmed,
    LocalKeys,
)
from vajra.channel.machine import Channel
from vajra.channel.spec import ChannelParams, CommitSpec
from vajra.channel.states import Link
from vajra.channel.updates import Ledger
from vajra.errors import ProtocolError, VajraError
from vajra.wire import ChannelReady, ChannelReadyTlvs, ChannelReestablish, Message


def _rule(name: str, state: EstState, message: str | None) -> ProtocolError:
    return rules.rule(name, state.value, message)


class ReadyPhase:
    """Methods of `Establishment` for AWAIT_DEPTH, AWAIT_CHANNEL_READY and READY."""

    config: EstablishConfig
    keys: LocalKeys
    state: EstState
    alias: int | None
    remote_alias: int | None
    remote_upfront: bytes
    params: ChannelParams | None
    spec: CommitSpec | None
    remote_second_point: bytes | None
    sent_ready: bool
    link: Link
    reestablish_sent: bool
    _out: list[Message]
    _requests: deque[io.SignerRequest]
    _events: deque[object]
    _deferred: deque[Message]

    def _fail(self, error: VajraError) -> None:
        raise NotImplementedError

    def _queue(self, msg: Message) -> None:
        if self.link is Link.UP:
            self._out.append(msg)

    def disconnected(self, now: float) -> None:
        """BOLT 2: a channel is remembered for reconnection once the funder validated
        `funding_signed` / the fundee sent it (AWAIT_DEPTH on); earlier, disconnection
        forgets it (state FAILED, event `ChannelFailed`, nothing sent)."""
        del now
        if self.state is EstState.FAILED or self.link is Link.DOWN:
            return
        self._out.clear()  # for the connection that closed
        self._deferred.clear()
        if self.state not in REMEMBERED:
            self.state = EstState.FAILED
            self._requests.clear()
            self._events.append(io.ChannelFailed(_rule("disconnected", self.state, None)))
            return
        self.link, self.reestablish_sent = Link.DOWN, False

    def connected(self, now: float) -> None:
        """A new connection (not the one the establishment began on): our
        `channel_reestablish` (next numbers 1 and 0) goes out. The old connection is gone:
        `disconnected()` is applied first if it was not (a remembered state only)."""
        if self.link is not Link.DOWN and self.state in REMEMBERED:
            self.disconnected(now)
        del now
        if self.link is not Link.DOWN or self.state is EstState.FAILED:
            return
        assert self.params is not None
        self.link, self.reestablish_sent = Link.REESTABLISHING, True
        first = self.keys.basepoints.first_per_commitment_point
        self._out.append(ChannelReestablish(self.params.channel_id, 1, 0, bytes(32), first))

    def channel(self) -> Channel:
        """The normal-operation channel, once READY."""
        if self.state is not EstState.READY or self.params is None or self.spec is None:
            raise _rule("channel not ready", self.state, None)
        assert self.remote_second_point is not None
        shutdown = ShutdownState(
            anysegwit=self.config.anysegwit, upfront_remote=self.remote_upfront
        )
        ch = Channel(
            Ledger.open(self.params, self.spec),
            self.remote_second_point,
            self.keys.second_per_commitment_point,
            local_alias=self.alias,
            remote_alias=self.remote_alias,
            shutdown=shutdown,
        )
        ch.link, ch.reestablish_sent = self.link, self.reestablish_sent
        return ch

    def _ready_message(self) -> ChannelReady:
        assert self.params is not None
        tlvs = ChannelReadyTlvs(short_channel_id=self.alias)
        return ChannelReady(self.params.channel_id, self.keys.second_per_commitment_point, tlvs)

    def _on_confirmed(self, cmd: FundingConfirmed) -> None:
        del cmd
        self._queue(self._ready_message())
        self.sent_ready = True
        self.state = EstState.READY if self.remote_second_point else EstState.AWAIT_CHANNEL_READY

    def _on_channel_ready(self, m: ChannelReady) -> None:
        assert self.params is not None
        if m.channel_id != self.params.channel_id:
            raise _rule("wrong-channel-id", self.state, m.NAME)
        self.remote_second_point = m.second_per_commitment_point
        self.remote_alias = m.tlvs.short_channel_id
        if self.sent_ready:
            self.state = EstState.READY

    def _on_reestablish(self, m: ChannelReestablish) -> None:
        """BOLT 2 with no commitment past 0 on either side: the peer's numbers must be 1
        and 0; it retransmits `channel_ready` if it sent one, and so do we."""
        assert self.params is not None
        if m.channel_id != self.params.channel_id:
            raise _rule("wrong-channel-id", self.state, m.NAME)
        behind = rules.check_reestablish_0(m, state=self.state.value)
        if behind is not None:
            self._events.append(behind)
            raise _rule("reestablish-peer-has-newer-state", self.state, m.NAME)
        self.link = Link.UP
        if self.sent_ready:
            self._out.append(self._ready_message())
