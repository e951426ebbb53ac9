"""The awake node: what a hosted node does with a message its runtime could not answer.

Theory of operation
-------------------
The runtime wakes a node when a peer sends something beyond BOLT 1 control and benign
gossip. It decrypts the node's `NodeState`, builds a `Node` around it and calls
`handle(peer, message, now)`, which returns the messages to send back to that peer;
`state` is then sealed and written back if `dirty`. No I/O, no clock: `now` is a
parameter, and the node never knows whether it has been asleep.

Channels (`vajra.node.channels`): `open_channel` is judged by the operator's inbound
policy (`vajra.node.config`), then the node asks the signer for the channel's keys and
runs the BOLT 2 establishment and normal operation in the channel cores. The node never
signs: every signature is a `vajra.node.requests` request the runtime answers (maybe with
a refusal) before it writes the state and sends anything; what the node sends, watches
on chain and waits for are effects (`vajra.node.effects`) the runtime drains with
`take_effects()` after each input. The peers that asked us for something are remembered
(node id -> last time seen).

A node is woken without a peer message by `on_wake(Wake, now)` (chain events for its
funding outputs, a due timer). Chain events are delivered at least once: the state keeps
the highest event `seq` handled (`chain_seq`), so a re-delivered event (the runtime died
after the node handled it, before it acknowledged it) is recognised and skipped.

Payments are received by `vajra.node.receive` (decision 0022): after every input the
node decides the HTLCs that became irrevocably committed (the onion peeled with
`ReceiveKeys`, the invoice looked up with a `LookupInvoice` request), and fulfils or
fails them. The node's one timer (`WakeAt`) is the earliest of its funding depths and
its MPP timeout. `tip_height` is the newest chain tip the runtime told it of.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vajra.bitcoin.tx import OutPoint
from vajra.channel.establish_io import LocalKeys
from vajra.channel.signer_io import (
    ApprovePayment,
    SignerRefused,
    SignerResult,
    SignHolderCommitment,
    SignHtlcTransaction,
    SignSweep,
)
from vajra.errors import DecodeError
from vajra.node.channels import ChannelBook, ChannelEntry, decode_entry, encode_entry
from vajra.node.config import NodeConfig
from vajra.node.effects import Effect, Wake, WakeAt
from vajra.node.enforce import known_preimages
from vajra.node.funding import OpenRequest
from vajra.node.invoices import ReceiveKeys, decode_record
from vajra.node.payer import Payer
from vajra.node.payments import Payment
from vajra.node.receive import Receiver, ReceiveState
from vajra.node.received import ReceivedPayment
from vajra.node.requests import (
    ChannelSignerCall,
    CloseScript,
    LookupInvoice,
    NewChannelKeys,
    NodeRequest,
)
from vajra.wire import Message, OpenChannel, UpdateAddHtlc

MAX_PEERS = 1000
"""Peers remembered per node; the least recently seen are forgotten beyond this."""
STATE_FORMAT = 1


@dataclass(slots=True)
class NodeState:
    """Everything a node keeps between wakes (sealed at rest by the runtime)."""

    peers: dict[str, int] = field(default_factory=dict)
    """Hex node id of each peer that asked us for something -> last time (unix seconds)."""
    channel_requests: int = 0
    """`open_channel` messages received so far."""
    chain_seq: int = 0
    """The highest chain event `seq` handled (events at or below it are not news)."""
    channels: dict[bytes, ChannelEntry] = field(default_factory=dict)
    """The node's channels by `channel_id` (`temporary_channel_id` while opening)."""
    tip_height: int = 0
    """The newest chain tip height the runtime gave the node (0: none yet)."""
    receive: ReceiveState = field(default_factory=ReceiveState)
    """Incoming HTLCs being decided (`vajra.node.receive`)."""
    received: list[ReceivedPayment] = field(default_factory=list)
    """Received payments, oldest first (`vajra.node.received`)."""
    payments: dict[bytes, Payment] = field(default_factory=dict)
    """Outgoing payments by payment hash (`vajra.node.payments`, decision 0023)."""
    enforce_at: int = 0
    """The height on-chain enforcement last asked to be woken at (0: none)."""

    def encode(self) -> bytes:
        """JSON; each channel's core as `vajra.channel.persist` bytes (hex). Raises
        `NotAtRest` if a channel still waits for the signer (the runtime answers every
        request before it writes)."""
        return json.dumps(
            {
                "v": STATE_FORMAT,
                "peers": self.peers,
                "channel_requests": self.channel_requests,
                "chain_seq": self.chain_seq,
                "channels": [
                    encode_entry(k, e)
                    for k, e in self.channels.items()
                    if e.est is not None or e.chan is not None
                ],
                "tip_height": self.tip_height,
                "receive": self.receive.to_json(),
                "received": [p.to_json() for p in self.received],
                "payments": [p.to_json() for p in self.payments.values()],
                "enforce_at": self.enforce_at,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> NodeState:
        try:
            obj = json.loads(data)
            if obj.get("v") != STATE_FORMAT:
                raise DecodeError(f"unknown node state format {obj.get('v')!r}")
            peers = {str(k): int(v) for k, v in dict(obj["peers"]).items()}
            return cls(
                peers=peers,
                channel_requests=int(obj["channel_requests"]),
                chain_seq=int(obj.get("chain_seq", 0)),  # absent in states before chain wakes
                channels=dict(decode_entry(c) for c in obj.get("channels", [])),
                tip_height=int(obj.get("tip_height", 0)),
                receive=ReceiveState.from_json(obj.get("receive")),
                received=[ReceivedPayment.from_json(p) for p in obj.get("received", [])],
                payments={
                    p.payment_hash: p
                    for p in (Payment.from_json(dict(o)) for o in obj.get("payments", []))
                },
                enforce_at=int(obj.get("enforce_at", 0)),
            )
        except (ValueError, KeyError, TypeError, AttributeError, AssertionError) as e:
            raise DecodeError(f"bad node state: {e}") from None


class Node:
    """A hosted node while it is awake."""

    __slots__ = (
        "_asked", "_rearm", "book", "config", "dirty", "node_id", "payer", "receiver", "state",
    )  # fmt: skip

    def __init__(
        self,
        node_id: bytes,
        state: NodeState,
        config: NodeConfig | None = None,
        keys: ReceiveKeys | None = None,
    ) -> None:
        """`keys`: the node's receive keys (from its identity secret); without them the
        node holds incoming HTLCs undecided."""
        self.node_id = node_id
        self.state = state
        self.config = config or NodeConfig()
        self.book = ChannelBook(state.channels, self.config)
        self.receiver = Receiver(self.book, state.receive, state.received, keys)
        self._asked: set[bytes] = set()
        self._rearm = False
        """A wake may have consumed the node's timer row: ask for the deadline again."""
        self.payer = Payer(node_id, state.payments, self.book)
        """Sends payments; the runtime sets `payer.context` (graph, scorer, height)."""
        self.dirty = False
        """True once `state` changed since it was loaded (the runtime must write it)."""

    def emit(self, effect: Effect) -> None:
        """Ask the runtime for something beyond the replies (carried out after the state
        this input produced is written)."""
        self.book.effects.append(effect)

    def handle(self, peer: bytes, msg: Message, now: int) -> list[Message]:
        """Process one message from `peer`. Returns the BOLT 1 replies owed at once (none
        today); everything a channel sends is a `SendTo` effect (`take_effects`), after
        the signer requests it needs (`next_request`) are answered."""
        if isinstance(msg, OpenChannel):
            self._remember(peer, now)
            self.state.channel_requests += 1
            self.book.open_channel(peer, msg)
        elif isinstance(
            getattr(msg, "channel_id", getattr(msg, "temporary_channel_id", None)), bytes
        ):
            self._remember(peer, now)
            self.book.message(peer, msg, now)
            if isinstance(msg, UpdateAddHtlc):
                self.receiver.htlc_added(msg)
            self.payer.peer_message(peer, msg, now)
            self.payer.after_input(now)
        self._receive(now)
        return []

    def pay(
        self, bolt11: str, authorisation: bytes, confirmation: bytes | None, now: int
    ) -> Payment:
        """Start paying a BOLT 11 invoice under a device's signed authorisation (its
        payment hash and amount must be the invoice's). The signer is asked to bind it
        first (`next_request`); the HTLC follows its approval. Raises
        `vajra.node.payments.PaymentError` (stable `code`) before asking anything."""
        p = self.payer.pay(bolt11, authorisation, confirmation, now)
        self.dirty = True
        return p

    def payments(self) -> list[dict[str, object]]:
        """Every payment for the operator's listing: outgoing ones (`Payer.views`), then
        received ones (`ReceivedPayment.summary`), in one shape (decisions 0022, 0023)."""
        return self.payer.views() + self.received_payments()

    def open_channel_out(self, peer: bytes, req: OpenRequest, now: int) -> None:
        """Open a channel to `peer` as funder (`vajra.node.funding`): the runtime holds a
        session to it. Raises `OpenRefused` (state unchanged)."""
        self.book.open_out(peer, req)
        self._remember(peer, now)

    def funding_built(self, temporary_channel_id: bytes, outpoint: OutPoint, now: int) -> bool:
        """The wallet's answer to `FundChannel`; False if no opening waits for it."""
        self.dirty = True
        return self.book.funding_built(temporary_channel_id, outpoint, now)

    def funding_failed(self, temporary_channel_id: bytes, reason: str) -> None:
        """The wallet could not answer `FundChannel`: the opening is abandoned."""
        self.book.funding_failed(temporary_channel_id, reason)
        self.dirty = True

    def peer_disconnected(self, peer: bytes, now: int) -> None:
        """The runtime lost its connection to `peer` while the node was awake."""
        self.book.peer_disconnected(peer, now)
        self.dirty = True

    def peer_connected(self, peer: bytes, now: int) -> None:
        """A new connection from `peer` exchanged `init`: each channel with it sends its
        `channel_reestablish` (BOLT 2 "upon reconnection: MUST transmit
        channel_reestablish for each channel") as a `SendTo` effect."""
        self.book.peer_connected(peer, now)
        self.dirty = True

    def on_wake(self, wake: Wake, now: int) -> None:
        """The runtime woke the node without a peer message (`wake.reason`: "chain" or
        "timer"): funding outputs confirmed or undone, depths reached. Events with
        `seq <= state.chain_seq` were handled before a crash cut their acknowledgement
        and are skipped."""
        self._rearm = True
        if wake.tip is not None:
            self.set_tip(wake.tip.height)
        news = tuple(e for e in wake.events if e.seq > self.state.chain_seq)
        if news:
            self.state.chain_seq = max(e.seq for e in news)
            self.dirty = True
        before = len(self.book.effects)
        self.book.chain_events(wake.tip, news, now)
        if news or len(self.book.effects) != before:
            self.dirty = True
        self._receive(now)

    def set_tip(self, height: int) -> None:
        """The chain tip the runtime knows (cltv checks of incoming HTLCs need it)."""
        if height > self.state.tip_height:
            self.state.tip_height = height
            self.dirty = True

    def receive(self, now: int) -> None:
        """Run the receive pass (after `set_tip`, or when an MPP timeout is due)."""
        self._receive(now)

    def take_effects(self) -> list[Effect]:
        """The effects collected since the last call, in order (the runtime drains them
        after every input): send, watch, wake at. The node's one `WakeAt` combines the
        channels' funding depth, the receive path's MPP timeout and on-chain enforcement's
        next height (a claim maturing, an offered HTLC's deadline: `vajra.node.enforce`)."""
        out, self.book.effects = self.book.effects, []
        rs = self.state.receive
        deadline = self.receiver.next_deadline() or 0
        # on-chain enforcement: a claim maturing or an offered HTLC's deadline (BOLT 2)
        enforce_at = self.book.enforcer.next_height(self.state.tip_height, self._preimages())
        enforce_at = enforce_at or 0
        moved = enforce_at != self.state.enforce_at
        asked = [e for e in out if isinstance(e, WakeAt)]
        if asked or deadline != rs.deadline or moved or (self._rearm and (deadline or enforce_at)):
            self._rearm = False
            heights = [w.height for w in asked if w.height is not None]
            depth = self.book.depth_deadline()
            if not heights and depth is not None:
                heights.append(depth)
            if enforce_at:
                heights.append(enforce_at)
            height = min(heights) if heights else None
            if moved:
                self.state.enforce_at = enforce_at
                self.dirty = True
            timer = WakeAt(height=height, unix_time=deadline or None)
            rest = [e for e in out if not isinstance(e, WakeAt)]
            at = next((i for i, e in enumerate(out) if isinstance(e, WakeAt)), len(rest))
            out = [*rest[:at], timer, *rest[at:]]  # where the first one was asked
            if deadline != rs.deadline:
                rs.deadline = deadline
                self.dirty = True
        return out

    def force_close(self, channel_id: bytes, why: str = "requested") -> bool:
        """Close `channel_id` unilaterally (BOLT 5): the signer is asked for our latest
        commitment (`next_request`), which is broadcast with its answer. False if the
        channel is unknown, not open, or already closing on chain."""
        started = self.book.enforcer.force_close(channel_id, why)
        self.dirty = self.dirty or started
        return started

    def _preimages(self) -> dict[bytes, bytes]:
        return known_preimages(self.state.payments, list(self.state.received))

    def _receive(self, now: int) -> None:
        self.book.enforcer.run(self.state.tip_height, self._preimages())
        r = self.receiver
        r.changed = False
        for h in r.run(self.state.tip_height, now):
            if h not in self._asked:
                self._asked.add(h)
                self.book.requests.append(LookupInvoice(h))
        if r.changed:
            self.dirty = True

    def invoice_found(self, payment_hash: bytes, record: bytes | None, now: int) -> None:
        """The runtime's answer to `LookupInvoice`: the stored record, or None."""
        invoice = None
        if record is not None:
            try:
                invoice = decode_record(record, self.node_id)
            except DecodeError:
                invoice = None  # not a record of ours: the HTLC fails as unknown
        self.receiver.invoice_found(payment_hash, invoice)
        self._receive(now)

    def close_script(self, channel_id: bytes, script: bytes | None, now: int) -> None:
        """The runtime's answer to `CloseScript`: the wallet script our `shutdown` pays
        (None: the node has no wallet record yet; the channel asks again at its next
        input)."""
        self.book.close_script(channel_id, script, now)
        self.book.enforcer.run(self.state.tip_height, self._preimages())  # sweeps waiting
        self.dirty = True

    def close_channel(self, channel_id: bytes, script: bytes, now: int) -> dict[str, object]:
        """The operator closes `channel_id` cooperatively, the node's share paid to
        `script` (the wallet's close script, `vajra.node.closing`): our `shutdown` is
        sent (a `SendTo`) as soon as BOLT 2 allows, the negotiation follows the peer's
        answers. Returns the channel's summary. Raises `CloseRefused` (nothing changed)."""
        self.book.close_out(channel_id, script, now)
        self.dirty = True
        return self.state.channels[channel_id].summary()

    def received_payments(self) -> list[dict[str, object]]:
        """Received payments for the operator's listing (`ReceivedPayment.summary`)."""
        return [p.summary() for p in self.state.received]

    # -- signer requests (see `vajra.node.requests`) ---------------------------------

    def next_request(self) -> NodeRequest | None:
        return self.book.requests.popleft() if self.book.requests else None

    def channel_keys(self, req: NewChannelKeys, index: int, keys: LocalKeys, now: int) -> None:
        self.book.keys_granted(req, index, keys, now)
        self.dirty = True

    def signer_answer(self, req: ChannelSignerCall, result: SignerResult, now: int) -> None:
        if isinstance(req.request, ApprovePayment):
            self.payer.approval(req.request, result, now)
        elif isinstance(req.request, SignHolderCommitment | SignSweep | SignHtlcTransaction):
            self.book.enforcer.answer(req, result)
        else:
            self.book.signer_answer(req, result, now)
        self.payer.after_input(now)
        self.dirty = True
        self._receive(now)

    def request_failed(self, req: NodeRequest, reason: str, now: int = 0) -> None:
        if isinstance(req, LookupInvoice):
            self._asked.discard(req.payment_hash)  # the next input asks again
            self.receiver.wanted.discard(req.payment_hash)
            return
        if isinstance(req, CloseScript):
            self.book.close_script(req.channel_id, None, now)
            return
        if isinstance(req, ChannelSignerCall) and isinstance(req.request, ApprovePayment):
            self.payer.unavailable(req.request, reason, now)
        elif isinstance(req, ChannelSignerCall) and isinstance(
            req.request, SignHolderCommitment | SignSweep | SignHtlcTransaction
        ):
            self.book.enforcer.answer(req, SignerRefused("signer-unavailable", reason))
        else:
            self.book.request_failed(req, reason)
        self.dirty = True

    def channel_summaries(self) -> list[dict[str, object]]:
        """Non-secret facts about every channel (the operator's listing)."""
        return [e.summary() for e in self.state.channels.values()]

    def _remember(self, peer: bytes, now: int) -> None:
        peers = self.state.peers
        key = peer.hex()
        peers.pop(key, None)
        peers[key] = now  # insertion order = recency
        while len(peers) > MAX_PEERS:
            del peers[next(iter(peers))]
        self.dirty = True
