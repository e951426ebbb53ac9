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
on chain and waits for are effects (`vajra.node.effects`). The peers that asked us for
something are remembered (node id -> last time seen).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vajra.channel.establish_io import LocalKeys
from vajra.channel.signer_io import SignerResult
from vajra.errors import DecodeError
from vajra.node.channels import ChannelBook, ChannelEntry
from vajra.node.config import NodeConfig
from vajra.node.effects import Effect, Wake
from vajra.node.requests import ChannelSignerCall, NewChannelKeys, NodeRequest
from vajra.wire import Message, OpenChannel

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
    channels: dict[bytes, ChannelEntry] = field(default_factory=dict)
    """The node's channels by `channel_id` (`temporary_channel_id` while opening)."""

    def encode(self) -> bytes:
        if self.channels:  # the channel cores' encoding comes with vajra.channel.persist
            raise NotImplementedError("channels at rest need vajra.channel.persist")
        return json.dumps(
            {"v": STATE_FORMAT, "peers": self.peers, "channel_requests": self.channel_requests},
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
            return cls(peers=peers, channel_requests=int(obj["channel_requests"]))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DecodeError(f"bad node state: {e}") from None


class Node:
    """A hosted node while it is awake."""

    __slots__ = ("book", "config", "dirty", "node_id", "state")

    def __init__(self, node_id: bytes, state: NodeState, config: NodeConfig | None = None) -> None:
        self.node_id = node_id
        self.state = state
        self.config = config or NodeConfig()
        self.book = ChannelBook(state.channels, self.config)
        self.dirty = False
        """True once `state` changed since it was loaded (the runtime must write it)."""

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
        return []

    def on_wake(self, wake: Wake, now: int) -> None:
        """The runtime woke the node without a peer message: chain events for its
        funding outputs (confirmations, reorgs) or its `WakeAt` came due."""
        self.book.chain_events(wake.tip, wake.events, now)
        self.dirty = True

    def take_effects(self) -> list[Effect]:
        """What the runtime must do for the node (send, watch, wake at), in order."""
        out, self.book.effects = self.book.effects, []
        return out

    # -- signer requests (see `vajra.node.requests`) ---------------------------------

    def next_request(self) -> NodeRequest | None:
        return self.book.requests.popleft() if self.book.requests else None

    def channel_keys(self, req: NewChannelKeys, index: int, keys: LocalKeys, now: int) -> None:
        self.book.keys_granted(req, index, keys, now)
        self.dirty = True

    def signer_answer(self, req: ChannelSignerCall, result: SignerResult, now: int) -> None:
        self.book.signer_answer(req, result, now)
        self.dirty = True

    def request_failed(self, req: NodeRequest, reason: str) -> None:
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
