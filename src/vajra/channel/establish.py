"""BOLT 2 v1 channel establishment, both roles, sans-IO, with an asynchronous signer.

Theory of operation
-------------------
    est = Establishment.fundee(config, local_keys, peer=node_id, alias=scid)  # LND opens
    est = Establishment.funder(config, local_keys, open_args, alias=scid)
    est.receive_message(msg, now); est.command(FundingOutpoint(...) | FundingConfirmed())
    est.disconnected(now); est.connected(now)
    req = est.next_signer_request(); est.signer_result(result, now)
    est.messages_to_send(); est.next_event(); once READY: est.channel() -> machine.Channel

Rules as in `machine.py`: every step goes through `_TRANSITIONS` ((state, input) ->
handler); peer input never raises (a broken rule queues an `error`, state FAILED, event
`ChannelFailed`); signatures are signer requests answered later, reusing the normal
operation's requests for commitment number 0. The owner fetches `LocalKeys` (public
basepoints and the second per-commitment point) from the signer before it starts. The
checks themselves are functions in `establish_rules.py`.

    funder:  AWAIT_ACCEPT -> AWAIT_FUNDING_OUTPOINT (owner builds the funding tx)
             -> SETUP_SIGNER -> SIGN_REMOTE_0 -> AWAIT_FUNDING_SIGNED -> VALIDATE_LOCAL_0
             -> AWAIT_DEPTH
    fundee:  AWAIT_OPEN -> AWAIT_FUNDING_CREATED -> SETUP_SIGNER -> VALIDATE_LOCAL_0
             -> SIGN_REMOTE_0 -> AWAIT_DEPTH
    both:    AWAIT_DEPTH -(FundingConfirmed)-> sends channel_ready -> READY once the
             peer's channel_ready is in (it may come first). A zeroconf fundee sends its
             channel_ready on reaching AWAIT_DEPTH (minimum_depth 0).

Channel types (`establish_io.ChannelType`): `option_static_remotekey`, with or without
`option_anchors`, each with `option_scid_alias` (unannounced channels; our alias goes in
`channel_ready`'s `short_channel_id` TLV, the owner supplies it) and/or
`option_zeroconf` (only from a peer in `config.trusted_lsps`); any other bitmap fails the
channel. `channel_type` is required (LND and LDK send it).

The first signer request of every channel is `SetupChannel(params, initial_spec)`, sent
as soon as the funding outpoint is known and before commitment 0 is signed or validated:
the signer opens its own copy from it (DESIGN.md section 12) and answers `ChannelSetUp`.
The three states that wait for the signer (WAITING) queue peer messages; every other
state is "at rest" and can be persisted (`vajra.channel.persist`).

Reconnection (BOLT 2 "Message Retransmission"): `disconnected()` forgets the channel
before AWAIT_DEPTH (nothing was broadcast or signed for the funder yet) and otherwise
keeps it; `connected()` sends our `channel_reestablish` (next numbers 1 and 0); the
peer's is checked and `channel_ready` is resent if we had sent it. Nothing else is
accepted before it. The link carries over into the `Channel` at READY.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from vajra.bitcoin.tx import OutPoint
from vajra.channel import establish_rules as rules
from vajra.channel import signer_io as io
from vajra.channel.establish_io import (
    WAITING,
    ChannelType,
    EstablishConfig,
    EstState,
    FundingConfirmed,
    FundingOutpoint,
    FundingSignedEvent,
    LocalKeys,
    OpenArgs,
    channel_type_bytes,
)
from vajra.channel.establish_ready import ReadyPhase
from vajra.channel.keys import Basepoints
from vajra.channel.spec import ChannelParams, CommitSpec, Side, SideParams
from vajra.channel.states import Link
from vajra.errors import ProtocolError, VajraError
from vajra.wire import (
    AcceptChannel,
    ErrorMessage,
    FundingCreated,
    FundingSigned,
    Message,
    OpenChannel,
)

__all__ = [
    "WAITING",
    "ChannelType",
    "EstablishConfig",
    "Establishment",
    "FundingConfirmed",
    "FundingOutpoint",
    "FundingSignedEvent",
    "LocalKeys",
    "OpenArgs",
    "State",
    "channel_type_bytes",
]


State = EstState
Handler = Callable[["Establishment", object], None]


def _rule(name: str, state: State, message: str | None) -> ProtocolError:
    return rules.rule(name, state.value, message)


class Establishment(ReadyPhase):
    """One channel being opened. See the module docstring."""

    def __init__(
        self,
        config: EstablishConfig,
        keys: LocalKeys,
        state: State,
        *,
        peer: bytes = b"",
        alias: int | None = None,
    ) -> None:
        self.config, self.keys, self.state = config, keys, state
        self.peer = peer
        """The peer's node id (judged against `config.trusted_lsps` for zeroconf)."""
        self.alias = alias
        """Our `short_channel_id` alias for this channel (unique on the node; the owner
        picks it), sent in `channel_ready`; required for `option_scid_alias`."""
        self.remote_alias: int | None = None
        self.channel_type: ChannelType | None = None
        self.minimum_depth = config.minimum_depth
        """Confirmations before channel_ready: ours as fundee (0 for zeroconf), the
        peer's `minimum_depth` as funder."""
        self.remote_upfront = b""
        self.temporary_channel_id = b""
        self.open_args: OpenArgs | None = None
        self.remote_params: SideParams | None = None
        self.remote_basepoints: Basepoints | None = None
        self.params: ChannelParams | None = None
        self.spec: CommitSpec | None = None
        self.remote_second_point: bytes | None = None
        self.sent_ready = False
        self.link = Link.UP
        """The connection (BOLT 2 reestablish: remembered from AWAIT_DEPTH on)."""
        self.reestablish_sent = False
        self._funding_signature = b""
        """The funder's signature on our commitment 0, held while the signer sets up."""
        self._out: list[Message] = []
        self._requests: deque[io.SignerRequest] = deque()
        self._events: deque[object] = deque()
        self._deferred: deque[Message] = deque()

    @classmethod
    def fundee(
        cls,
        config: EstablishConfig,
        keys: LocalKeys,
        *,
        peer: bytes = b"",
        alias: int | None = None,
    ) -> Establishment:
        return cls(config, keys, State.AWAIT_OPEN, peer=peer, alias=alias)

    @classmethod
    def funder(
        cls,
        config: EstablishConfig,
        keys: LocalKeys,
        args: OpenArgs,
        *,
        peer: bytes = b"",
        alias: int | None = None,
    ) -> Establishment:
        """Sends `open_channel` (unannounced: `channel_flags` 0). ProtocolError if
        `args.scid_alias` without an `alias`."""
        est = cls(config, keys, State.AWAIT_ACCEPT, peer=peer, alias=alias)
        if args.scid_alias and alias is None:
            raise _rule("channel-type-scid-alias-unavailable", est.state, None)
        est.open_args, est.temporary_channel_id = args, args.temporary_channel_id
        est.channel_type = ChannelType(args.anchors, scid_alias=args.scid_alias)
        est._out.append(rules.open_message(config, keys, args, est.channel_type))
        return est

    # -- owner interface ------------------------------------------------------------

    def receive_message(self, msg: Message, now: float) -> None:
        """Never raises: a broken rule fails the establishment with an `error`."""
        del now
        if self.state is State.FAILED or self.link is Link.DOWN or msg.NAME == "warning":
            return  # a message with no connection is the owner's slip; a warning is logged
        if msg.NAME == "error":  # BOLT 1: the peer failed the channel; nothing to answer
            self.state = State.FAILED
            self._events.append(io.ChannelFailed(_rule("peer sent error", self.state, msg.NAME)))
            return
        if self.state in WAITING:
            self._deferred.append(msg)  # replayed once the signer answered (as machine.py)
            return
        self._dispatch(msg)

    def command(self, cmd: FundingOutpoint | FundingConfirmed, now: float) -> None:
        del now
        handler = _TRANSITIONS.get((self.state, type(cmd).__name__))
        if handler is None:
            raise _rule("command not expected", self.state, type(cmd).__name__)
        handler(self, cmd)

    def signer_result(self, result: io.SignerResult, now: float) -> None:
        del now
        if isinstance(result, io.SignerRefused) and self.state in WAITING:
            self._fail(_rule(f"signer refused: {result.reason}", self.state, None))
            self._deferred.clear()
            return
        handler = _TRANSITIONS.get((self.state, type(result).__name__))
        if handler is None:
            raise _rule("unexpected signer result", self.state, type(result).__name__)
        handler(self, result)
        while self._deferred and self.state not in WAITING:
            self._dispatch(self._deferred.popleft())

    def idle_outputs(self) -> bool:
        """Nothing for the owner to collect and no peer message queued (persistable)."""
        return not (self._out or self._requests or self._events or self._deferred)

    def messages_to_send(self) -> list[Message]:
        out, self._out = self._out, []
        return out

    def next_signer_request(self) -> io.SignerRequest | None:
        return self._requests.popleft() if self._requests else None

    def next_event(self) -> object | None:
        return self._events.popleft() if self._events else None

    # -- internals --------------------------------------------------------------------

    def _dispatch(self, msg: Message) -> None:
        try:
            if self.link is Link.REESTABLISHING:
                if msg.NAME != "channel_reestablish":
                    raise _rule("message before channel_reestablish", self.state, msg.NAME)
                self._on_reestablish(msg)  # type: ignore[arg-type]
                return
            handler = _TRANSITIONS.get((self.state, msg.NAME))
            if handler is None:
                raise _rule("unexpected message", self.state, msg.NAME)
            handler(self, msg)
        except VajraError as e:
            self._fail(e)

    def _fail(self, error: VajraError) -> None:
        cid = self.params.channel_id if self.params else self.temporary_channel_id
        self.state = State.FAILED
        self._requests.clear()
        if self.link is not Link.DOWN:
            self._out.append(ErrorMessage(cid or bytes(32), str(error).encode()[:1000]))
        self._events.append(io.ChannelFailed(error))

    def _commitment_zero(self, outpoint: OutPoint, funder: Side, message: str) -> None:
        assert self.open_args is not None and self.remote_params and self.remote_basepoints
        self.params, self.spec = rules.commitment_zero(
            self.config, self.keys, self.open_args, (self.remote_params, self.remote_basepoints),
            outpoint, funder, state=self.state.value, message=message,
        )  # fmt: skip

    def _request(self, req: io.SignerRequest, wait: State) -> None:
        self._requests.append(req)
        self.state = wait

    def _sign_remote_0(self) -> None:
        assert self.spec is not None and self.remote_basepoints is not None
        point = self.remote_basepoints.first_per_commitment_point
        self._request(io.SignCounterpartyCommitment(0, self.spec, point, None), State.SIGN_REMOTE_0)

    def _validate_local_0(self, signature: bytes) -> None:
        assert self.spec is not None
        self._request(
            io.ValidateHolderCommitment(0, self.spec, signature, ()), State.VALIDATE_LOCAL_0
        )

    # -- handlers ---------------------------------------------------------------------

    def _on_open(self, m: OpenChannel) -> None:
        c, state = self.config, self.state.value
        ctype = rules.open_type(c, m, peer=self.peer, alias=self.alias, state=state)
        self.remote_params, self.remote_basepoints = rules.remote_side(c, m, state)
        self.channel_type, self.temporary_channel_id = ctype, m.temporary_channel_id
        self.remote_upfront = m.tlvs.upfront_shutdown_script or b""
        self.open_args = OpenArgs(
            m.temporary_channel_id, m.funding_satoshis, m.push_msat, m.feerate_per_kw,
            ctype.anchors, ctype.scid_alias,
        )  # fmt: skip
        # Commitment 0's fee and reserve rules, judged before accepting.
        self._commitment_zero(OutPoint(m.temporary_channel_id, 0), Side.REMOTE, m.NAME)
        self.params = None
        # "if channel_type includes option_zeroconf: MUST set minimum_depth to zero"
        self.minimum_depth = 0 if ctype.zeroconf else c.minimum_depth
        self._out.append(
            rules.accept_message(c, self.keys, m.temporary_channel_id, self.minimum_depth, ctype)
        )
        self.state = State.AWAIT_FUNDING_CREATED

    def _on_accept(self, m: AcceptChannel) -> None:
        assert self.open_args is not None and self.channel_type is not None
        if m.temporary_channel_id != self.temporary_channel_id:
            raise _rule("wrong-temporary-channel-id", self.state, m.NAME)
        rules.accept_type(self.channel_type, m, state=self.state.value)
        self.remote_params, self.remote_basepoints = rules.remote_side(
            self.config, m, self.state.value
        )
        self.remote_upfront = m.tlvs.upfront_shutdown_script or b""
        self.minimum_depth = m.minimum_depth
        self._commitment_zero(OutPoint(self.temporary_channel_id, 0), Side.LOCAL, m.NAME)
        self.params = None
        self.state = State.AWAIT_FUNDING_OUTPOINT

    def _on_funding_outpoint(self, cmd: FundingOutpoint) -> None:
        self._commitment_zero(cmd.outpoint, Side.LOCAL, "FundingOutpoint")
        assert self.params is not None and self.spec is not None
        self._request(io.SetupChannel(self.params, self.spec), State.SETUP_SIGNER)

    def _on_funding_created(self, m: FundingCreated) -> None:
        if m.temporary_channel_id != self.temporary_channel_id:
            raise _rule("wrong-temporary-channel-id", self.state, m.NAME)
        self._commitment_zero(OutPoint(m.funding_txid, m.funding_output_index), Side.REMOTE, m.NAME)
        self._funding_signature = m.signature
        assert self.params is not None and self.spec is not None
        self._request(io.SetupChannel(self.params, self.spec), State.SETUP_SIGNER)

    def _on_signer_set_up(self, r: io.ChannelSetUp) -> None:
        del r
        assert self.params is not None
        if self.params.funder is Side.LOCAL:
            self._sign_remote_0()
        else:
            signature, self._funding_signature = self._funding_signature, b""
            self._validate_local_0(signature)

    def _on_funding_signed(self, m: FundingSigned) -> None:
        assert self.params is not None
        if m.channel_id != self.params.channel_id:
            raise _rule("wrong-channel-id", self.state, m.NAME)
        self._validate_local_0(m.signature)

    def _on_remote_0_signed(self, r: io.CounterpartySigned) -> None:
        assert self.params is not None
        if self.params.funder is Side.LOCAL:
            op = self.params.funding_outpoint
            self._out.append(
                FundingCreated(self.temporary_channel_id, op.txid, op.vout, r.signature)
            )
            self.state = State.AWAIT_FUNDING_SIGNED
            return
        self._out.append(FundingSigned(self.params.channel_id, r.signature))
        self.state = State.AWAIT_DEPTH
        if self.minimum_depth == 0:  # zeroconf: ready at once (the funder is trusted)
            self._on_confirmed(FundingConfirmed())

    def _on_local_0_validated(self, r: io.HolderValidated) -> None:
        del r
        assert self.params is not None
        if self.params.funder is Side.LOCAL:
            self._events.append(FundingSignedEvent(self.params.funding_outpoint))
            self.state = State.AWAIT_DEPTH
        else:
            self._sign_remote_0()


_S = State
_TRANSITIONS: dict[tuple[State, str], Handler] = {
    (_S.AWAIT_OPEN, "open_channel"): Establishment._on_open,  # type: ignore[dict-item]
    (_S.AWAIT_ACCEPT, "accept_channel"): Establishment._on_accept,  # type: ignore[dict-item]
    (_S.AWAIT_FUNDING_OUTPOINT, "FundingOutpoint"): Establishment._on_funding_outpoint,  # type: ignore[dict-item]
    (_S.AWAIT_FUNDING_CREATED, "funding_created"): Establishment._on_funding_created,  # type: ignore[dict-item]
    (_S.SETUP_SIGNER, "ChannelSetUp"): Establishment._on_signer_set_up,  # type: ignore[dict-item]
    (_S.AWAIT_FUNDING_SIGNED, "funding_signed"): Establishment._on_funding_signed,  # type: ignore[dict-item]
    (_S.SIGN_REMOTE_0, "CounterpartySigned"): Establishment._on_remote_0_signed,  # type: ignore[dict-item]
    (_S.VALIDATE_LOCAL_0, "HolderValidated"): Establishment._on_local_0_validated,  # type: ignore[dict-item]
    (_S.AWAIT_DEPTH, "FundingConfirmed"): Establishment._on_confirmed,  # type: ignore[dict-item]
    (_S.AWAIT_DEPTH, "channel_ready"): Establishment._on_channel_ready,  # type: ignore[dict-item]
    (_S.AWAIT_CHANNEL_READY, "channel_ready"): Establishment._on_channel_ready,  # type: ignore[dict-item]
    (_S.READY, "channel_ready"): Establishment._on_channel_ready,  # type: ignore[dict-item]
}
