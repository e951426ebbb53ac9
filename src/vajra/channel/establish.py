"""BOLT 2 v1 channel establishment, both roles, sans-IO, with an asynchronous signer.

Theory of operation
-------------------
    est = Establishment.fundee(config, local_keys, now)          # LND opens to us
    est = Establishment.funder(config, local_keys, open_args, now)
    est.receive_message(msg, now); est.command(FundingOutpoint(...) | FundingConfirmed())
    req = est.next_signer_request(); est.signer_result(result, now)
    est.messages_to_send(); est.next_event(); once READY: est.channel() -> machine.Channel

Rules as in `machine.py`: every step goes through `_TRANSITIONS` ((state, input) ->
handler); peer input never raises (a broken rule queues an `error`, state FAILED, event
`ChannelFailed`); signatures are signer requests answered later, reusing the normal
operation's requests for commitment number 0. The owner fetches `LocalKeys` (public
basepoints and the second per-commitment point) from the signer before it starts.

    funder:  AWAIT_ACCEPT -> AWAIT_FUNDING_OUTPOINT (owner builds the funding tx)
             -> SETUP_SIGNER -> SIGN_REMOTE_0 -> AWAIT_FUNDING_SIGNED -> VALIDATE_LOCAL_0
             -> AWAIT_DEPTH
    fundee:  AWAIT_OPEN -> AWAIT_FUNDING_CREATED -> SETUP_SIGNER -> VALIDATE_LOCAL_0
             -> SIGN_REMOTE_0 -> AWAIT_DEPTH
    both:    AWAIT_DEPTH -(FundingConfirmed)-> sends channel_ready -> READY once the
             peer's channel_ready is in (it may come first).

Reconnection (BOLT 2 "Message Retransmission"): `disconnected()` forgets the channel
before AWAIT_DEPTH (nothing was broadcast or signed for the funder yet) and otherwise
keeps it; `connected()` sends our `channel_reestablish` (next numbers 1 and 0); the
peer's is checked and `channel_ready` is resent if we had sent it. Nothing else is
accepted before it. The link carries over into the `Channel` at READY.

The first signer request of every channel is `SetupChannel(params, initial_spec)`, sent
as soon as the funding outpoint is known and before commitment 0 is signed or validated:
the signer opens its own copy from it (DESIGN.md section 12) and answers `ChannelSetUp`.
The three states that wait for the signer (SETUP_SIGNER, SIGN_REMOTE_0,
VALIDATE_LOCAL_0) queue peer messages; every other state is "at rest" and can be
persisted (`vajra.channel.persist`).

Channel types: `option_static_remotekey`, with `option_anchors_zero_fee_htlc_tx` when
the funder proposes it; `channel_type` is required (LND and LDK send it).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.establish_io import (
    MIN_DUST_LIMIT_SAT,
    EstablishConfig,
    FundingConfirmed,
    FundingOutpoint,
    FundingSignedEvent,
    LocalKeys,
    OpenArgs,
    channel_type_bytes,
)
from vajra.channel.keys import Basepoints
from vajra.channel.machine import Channel
from vajra.channel.reestablish import Link
from vajra.channel.spec import ChannelParams, CommitSpec, Side, SideParams

__all__ = [
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
from vajra.channel.updates import Ledger
from vajra.errors import ProtocolError, VajraError
from vajra.wire import (
    AcceptChannel,
    AcceptChannelTlvs,
    ChannelReady,
    ChannelReestablish,
    ErrorMessage,
    FundingCreated,
    FundingSigned,
    Message,
    OpenChannel,
    OpenChannelTlvs,
)


class State(enum.Enum):
    AWAIT_OPEN = "await_open"
    AWAIT_ACCEPT = "await_accept"
    AWAIT_FUNDING_OUTPOINT = "await_funding_outpoint"
    AWAIT_FUNDING_CREATED = "await_funding_created"
    AWAIT_FUNDING_SIGNED = "await_funding_signed"
    SETUP_SIGNER = "setup_signer"
    SIGN_REMOTE_0 = "sign_remote_0"
    VALIDATE_LOCAL_0 = "validate_local_0"
    AWAIT_DEPTH = "await_depth"
    AWAIT_CHANNEL_READY = "await_channel_ready"
    READY = "ready"
    FAILED = "failed"


Handler = Callable[["Establishment", object], None]

WAITING = frozenset({State.SETUP_SIGNER, State.SIGN_REMOTE_0, State.VALIDATE_LOCAL_0})
"""States with a signer request outstanding: peer messages wait, nothing is persisted."""
REMEMBERED = frozenset({State.AWAIT_DEPTH, State.AWAIT_CHANNEL_READY, State.READY})
"""States a disconnection does not forget (BOLT 2 "MUST remember the channel")."""


_MSG = {
    State.AWAIT_OPEN: "open_channel",
    State.AWAIT_ACCEPT: "accept_channel",
    State.AWAIT_FUNDING_CREATED: "funding_created",
}
"""The input a state's checks judge, for the error's `message`."""


def _rule(name: str, state: State, message: str | None) -> ProtocolError:
    return ProtocolError(name, state=state.value, message=message)


class Establishment:
    """One channel being opened. See the module docstring."""

    def __init__(self, config: EstablishConfig, keys: LocalKeys, state: State) -> None:
        self.config, self.keys, self.state = config, keys, state
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
    def fundee(cls, config: EstablishConfig, keys: LocalKeys) -> Establishment:
        return cls(config, keys, State.AWAIT_OPEN)

    @classmethod
    def funder(cls, config: EstablishConfig, keys: LocalKeys, args: OpenArgs) -> Establishment:
        est = cls(config, keys, State.AWAIT_ACCEPT)
        est.open_args, est.temporary_channel_id = args, args.temporary_channel_id
        lp, bp = config.local, keys.basepoints
        est._out.append(
            OpenChannel(
                config.chain_hash, args.temporary_channel_id, args.funding_sat, args.push_msat,
                lp.dust_limit_sat, lp.max_htlc_value_in_flight_msat, lp.channel_reserve_sat,
                lp.htlc_minimum_msat, args.feerate_per_kw, lp.to_self_delay,
                lp.max_accepted_htlcs, bp.funding_pubkey, bp.revocation_basepoint,
                bp.payment_basepoint, bp.delayed_payment_basepoint, bp.htlc_basepoint,
                bp.first_per_commitment_point, 0,
                OpenChannelTlvs(channel_type=channel_type_bytes(anchors=args.anchors)),
            )
        )  # fmt: skip
        return est

    # -- owner interface ------------------------------------------------------------

    def receive_message(self, msg: Message, now: float) -> None:
        """Never raises: a broken rule fails the establishment with an `error`."""
        del now
        if self.state is State.FAILED:
            return
        if msg.NAME == "error":  # BOLT 1: the peer failed the channel; nothing to answer
            self.state = State.FAILED
            self._events.append(io.ChannelFailed(_rule("peer sent error", self.state, msg.NAME)))
            return
        if self.link is Link.DOWN:
            return  # a message with no connection is the owner's slip
        if self.state in WAITING:
            self._deferred.append(msg)  # replayed once the signer answered (as machine.py)
            return
        self._dispatch(msg)

    def disconnected(self, now: float) -> None:
        """BOLT 2: a channel is remembered for reconnection once the funder validated
        `funding_signed` / the fundee sent it (AWAIT_DEPTH on); earlier, disconnection
        forgets it (state FAILED, event `ChannelFailed`, nothing sent)."""
        del now
        if self.state is State.FAILED or self.link is Link.DOWN:
            return
        self._out.clear()  # for the connection that closed
        if self.state not in REMEMBERED:
            self.state = State.FAILED
            self._requests.clear()
            self._deferred.clear()
            self._events.append(io.ChannelFailed(_rule("disconnected", self.state, None)))
            return
        self.link, self.reestablish_sent = Link.DOWN, False
        self._deferred.clear()

    def connected(self, now: float) -> None:
        """A new connection: our `channel_reestablish` (next numbers 1 and 0) goes out."""
        del now
        if self.link is not Link.DOWN or self.state is State.FAILED:
            return
        assert self.params is not None
        self.link, self.reestablish_sent = Link.REESTABLISHING, True
        self._out.append(
            ChannelReestablish(
                self.params.channel_id, 1, 0, bytes(32),
                self.keys.basepoints.first_per_commitment_point,
            )
        )  # fmt: skip

    def _queue(self, msg: Message) -> None:
        if self.link is Link.UP:
            self._out.append(msg)

    def _on_reestablish(self, m: ChannelReestablish) -> None:
        """BOLT 2 with no commitment past 0 on either side: the peer's numbers must be 1
        and 0; it retransmits `channel_ready` if it sent one, and so do we."""
        if m.next_commitment_number == 0:
            raise _rule("reestablish-next-commitment-zero", self.state, m.NAME)
        if m.next_commitment_number > 1 or m.next_revocation_number > 0:
            self._events.append(
                io.ChannelBehind(False, max(m.next_commitment_number, m.next_revocation_number), 0)
            )
            raise _rule("reestablish-peer-has-newer-state", self.state, m.NAME)
        if m.your_last_per_commitment_secret != bytes(32):
            raise _rule("reestablish-wrong-secret", self.state, m.NAME)
        self.link = Link.UP
        if self.sent_ready:
            self._out.append(self._ready_message())

    def _dispatch(self, msg: Message) -> None:
        try:
            if self.link is Link.REESTABLISHING:
                if msg.NAME != "channel_reestablish" or (
                    self.params is not None and msg.channel_id != self.params.channel_id  # type: ignore[attr-defined]
                ):
                    raise _rule("message before channel_reestablish", self.state, msg.NAME)
                self._on_reestablish(msg)  # type: ignore[arg-type]
                return
            handler = _TRANSITIONS.get((self.state, msg.NAME))
            if handler is None:
                raise _rule("unexpected message", self.state, msg.NAME)
            handler(self, msg)
        except VajraError as e:
            self._fail(e)

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

    def channel(self) -> Channel:
        """The normal-operation channel, once READY."""
        if self.state is not State.READY or self.params is None or self.spec is None:
            raise _rule("channel not ready", self.state, None)
        assert self.remote_second_point is not None
        ch = Channel(
            Ledger.open(self.params, self.spec),
            self.remote_second_point,
            self.keys.second_per_commitment_point,
        )
        ch.link, ch.reestablish_sent = self.link, self.reestablish_sent
        return ch

    def _fail(self, error: VajraError) -> None:
        cid = self.params.channel_id if self.params else self.temporary_channel_id
        self.state = State.FAILED
        self._requests.clear()
        if self.link is not Link.DOWN:
            self._out.append(ErrorMessage(cid or bytes(32), str(error).encode()[:1000]))
        self._events.append(io.ChannelFailed(error))

    # -- checks shared by both roles ------------------------------------------------

    def _check_remote(self, m: OpenChannel | AcceptChannel, anchors_ok: bool) -> bool:
        """BOLT 2 "The receiving node MUST fail the channel if" (the parts both roles
        share). Returns whether the channel has anchors."""
        c, name = self.config, m.NAME

        def broken(rule: str) -> ProtocolError:
            return _rule(rule, self.state, name)

        ctype = m.tlvs.channel_type
        if ctype is None:
            raise broken("channel-type-required")
        if ctype not in (channel_type_bytes(anchors=False), channel_type_bytes(anchors=True)):
            raise broken("channel-type-unsupported")
        anchors = ctype == channel_type_bytes(anchors=True)
        if anchors and not anchors_ok:
            raise broken("channel-type-not-proposed")
        if m.to_self_delay > c.max_to_self_delay:
            raise broken("to-self-delay-too-large")
        if m.max_accepted_htlcs > 483:
            raise broken("max-accepted-htlcs-too-large")
        if m.dust_limit_satoshis < MIN_DUST_LIMIT_SAT:
            raise broken("dust-limit-too-small")
        if m.dust_limit_satoshis > m.channel_reserve_satoshis and m.channel_reserve_satoshis:
            raise broken("dust-limit-above-reserve")
        if m.channel_reserve_satoshis < c.local.dust_limit_sat:
            raise broken("reserve-below-our-dust-limit")
        self.remote_params = SideParams(
            m.dust_limit_satoshis, m.channel_reserve_satoshis, m.htlc_minimum_msat,
            m.max_accepted_htlcs, m.max_htlc_value_in_flight_msat, m.to_self_delay,
        )  # fmt: skip
        self.remote_basepoints = Basepoints(
            m.funding_pubkey, m.revocation_basepoint, m.payment_basepoint,
            m.delayed_payment_basepoint, m.htlc_basepoint, m.first_per_commitment_point,
        )  # fmt: skip
        return anchors

    def _setup(self, outpoint: OutPoint | None, funder: Side) -> None:
        """The channel's parameters and commitment 0, with BOLT 2's checks on them: run
        once the parameters are agreed (outpoint None: the checks only) and again with
        the funding outpoint."""
        args, rp, rb = self.open_args, self.remote_params, self.remote_basepoints
        assert args is not None and rp is not None and rb is not None
        # BOLT 2: channel_id is funding_txid XOR funding_output_index (last 2 bytes).
        outpoint = outpoint or OutPoint(self.temporary_channel_id, 0)
        cid = bytearray(outpoint.txid)
        cid[30] ^= outpoint.vout >> 8 & 0xFF
        cid[31] ^= outpoint.vout & 0xFF
        self.params = ChannelParams(
            bytes(cid), outpoint, args.funding_sat, funder, args.anchors,
            (self.config.local, rp), (self.keys.basepoints, rb),
        )  # fmt: skip
        funder_msat = args.funding_sat * 1000 - args.push_msat
        balances = [0, 0]
        balances[funder], balances[funder.other] = funder_msat, args.push_msat
        self.spec = CommitSpec(args.feerate_per_kw, (balances[0], balances[1]), ())
        funder_need = self.params.fee_msat(self.spec, Side.LOCAL)
        funder_need = max(funder_need, self.params.fee_msat(self.spec, Side.REMOTE))
        if funder_msat < funder_need:
            raise _rule("funder-cannot-afford-fee", self.state, _MSG.get(self.state))
        if all(b <= self.params.reserve_msat(s) for s, b in zip(Side, balances, strict=True)):
            raise _rule("both-balances-below-reserve", self.state, _MSG.get(self.state))

    def _setup_signer(self) -> None:
        assert self.params is not None and self.spec is not None
        self._requests.append(io.SetupChannel(self.params, self.spec))
        self.state = State.SETUP_SIGNER

    def _sign_remote_0(self) -> None:
        assert self.spec is not None and self.remote_basepoints is not None
        point = self.remote_basepoints.first_per_commitment_point
        self._requests.append(io.SignCounterpartyCommitment(0, self.spec, point, None))
        self.state = State.SIGN_REMOTE_0

    def _validate_local_0(self, signature: bytes) -> None:
        assert self.spec is not None
        self._requests.append(io.ValidateHolderCommitment(0, self.spec, signature, ()))
        self.state = State.VALIDATE_LOCAL_0

    # -- handlers ---------------------------------------------------------------------

    def _on_open(self, m: OpenChannel) -> None:
        c, name = self.config, m.NAME
        if m.chain_hash != c.chain_hash:
            raise _rule("open-unknown-chain", self.state, name)
        if not c.feerate_range[0] <= m.feerate_per_kw <= c.feerate_range[1]:
            raise _rule("open-feerate-out-of-range", self.state, name)
        if m.funding_satoshis < c.min_funding_sat:
            raise _rule("open-funding-too-small", self.state, name)
        if m.push_msat > m.funding_satoshis * 1000:
            raise _rule("open-push-exceeds-funding", self.state, name)
        anchors = self._check_remote(m, anchors_ok=True)
        self.temporary_channel_id = m.temporary_channel_id
        self.open_args = OpenArgs(
            m.temporary_channel_id, m.funding_satoshis, m.push_msat, m.feerate_per_kw, anchors
        )
        # "the funder's amount for the initial commitment transaction is not sufficient
        # for full fee payment" / "both to_local and to_remote amounts ... are less than
        # or equal to channel_reserve_satoshis": judged now, before accepting.
        self._setup(None, Side.REMOTE)
        self.params = None
        lp, bp = c.local, self.keys.basepoints
        self._out.append(
            AcceptChannel(
                m.temporary_channel_id, lp.dust_limit_sat, lp.max_htlc_value_in_flight_msat,
                lp.channel_reserve_sat, lp.htlc_minimum_msat, c.minimum_depth,
                lp.to_self_delay, lp.max_accepted_htlcs, bp.funding_pubkey,
                bp.revocation_basepoint, bp.payment_basepoint, bp.delayed_payment_basepoint,
                bp.htlc_basepoint, bp.first_per_commitment_point,
                AcceptChannelTlvs(channel_type=channel_type_bytes(anchors=anchors)),
            )
        )  # fmt: skip
        self.state = State.AWAIT_FUNDING_CREATED

    def _on_accept(self, m: AcceptChannel) -> None:
        assert self.open_args is not None
        if m.temporary_channel_id != self.temporary_channel_id:
            raise _rule("wrong-temporary-channel-id", self.state, m.NAME)
        anchors = self._check_remote(m, anchors_ok=self.open_args.anchors)
        if anchors != self.open_args.anchors:
            raise _rule("channel-type-mismatch", self.state, m.NAME)
        self._setup(None, Side.LOCAL)
        self.params = None
        self.state = State.AWAIT_FUNDING_OUTPOINT

    def _on_funding_outpoint(self, cmd: FundingOutpoint) -> None:
        self._setup(cmd.outpoint, Side.LOCAL)
        self._setup_signer()

    def _on_funding_created(self, m: FundingCreated) -> None:
        if m.temporary_channel_id != self.temporary_channel_id:
            raise _rule("wrong-temporary-channel-id", self.state, m.NAME)
        self._setup(OutPoint(m.funding_txid, m.funding_output_index), Side.REMOTE)
        self._funding_signature = m.signature
        self._setup_signer()

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
        else:
            self._out.append(FundingSigned(self.params.channel_id, r.signature))
            self.state = State.AWAIT_DEPTH

    def _on_local_0_validated(self, r: io.HolderValidated) -> None:
        del r
        assert self.params is not None
        if self.params.funder is Side.LOCAL:
            self._events.append(FundingSignedEvent(self.params.funding_outpoint))
            self.state = State.AWAIT_DEPTH
        else:
            self._sign_remote_0()

    def _on_confirmed(self, cmd: FundingConfirmed) -> None:
        del cmd
        assert self.params is not None
        self._queue(self._ready_message())
        self.sent_ready = True
        self.state = State.READY if self.remote_second_point else State.AWAIT_CHANNEL_READY

    def _ready_message(self) -> ChannelReady:
        assert self.params is not None
        return ChannelReady(self.params.channel_id, self.keys.second_per_commitment_point)

    def _on_channel_ready(self, m: ChannelReady) -> None:
        assert self.params is not None
        if m.channel_id != self.params.channel_id:
            raise _rule("wrong-channel-id", self.state, m.NAME)
        self.remote_second_point = m.second_per_commitment_point
        if self.sent_ready:
            self.state = State.READY


_S = State
_TRANSITIONS: dict[tuple[State, str], Handler] = {
    (_S.AWAIT_OPEN, "open_channel"): Establishment._on_open,  # type: ignore[dict-item]
    (_S.AWAIT_ACCEPT, "accept_channel"): Establishment._on_accept,  # type: ignore[dict-item]
    (_S.AWAIT_FUNDING_OUTPOINT, "FundingOutpoint"): Establishment._on_funding_outpoint,  # type: ignore[dict-item]
    (_S.AWAIT_FUNDING_CREATED, "funding_created"): Establishment._on_funding_created,  # type: ignore[dict-item]
    (_S.AWAIT_FUNDING_SIGNED, "funding_signed"): Establishment._on_funding_signed,  # type: ignore[dict-item]
    (_S.SETUP_SIGNER, "ChannelSetUp"): Establishment._on_signer_set_up,  # type: ignore[dict-item]
    (_S.SIGN_REMOTE_0, "CounterpartySigned"): Establishment._on_remote_0_signed,  # type: ignore[dict-item]
    (_S.VALIDATE_LOCAL_0, "HolderValidated"): Establishment._on_local_0_validated,  # type: ignore[dict-item]
    (_S.AWAIT_DEPTH, "FundingConfirmed"): Establishment._on_confirmed,  # type: ignore[dict-item]
    (_S.AWAIT_DEPTH, "channel_ready"): Establishment._on_channel_ready,  # type: ignore[dict-item]
    (_S.AWAIT_CHANNEL_READY, "channel_ready"): Establishment._on_channel_ready,  # type: ignore[dict-item]
}
