"""The awake node: what a hosted node does with a message its runtime could not answer.

Theory of operation
-------------------
The runtime wakes a node when a peer sends something beyond BOLT 1 control and benign
gossip. It decrypts the node's `NodeState`, builds a `Node` around it and calls
`handle(peer, message, now)`, which returns the messages to send back to that peer;
`state` is then sealed and written back if `dirty`. No I/O, no clock: `now` is a
parameter, and the node never knows whether it has been asleep.

Until channels exist (BOLT 2 comes later) the node declines every channel: an
`open_channel` gets a BOLT 1 `error` naming its `temporary_channel_id` (BOLT 2: the
receiver of `open_channel` may fail the channel by sending `error`), and the peer that
asked is remembered in the state (node id -> last time seen), which is what shows that a
wake went through the whole read-decrypt-process-encrypt-write path.

Besides replies, a node collects `Effect`s (`node/effects.py`: messages to other peers,
chain watches, its next deadline) that the runtime drains with `take_effects()` after each
input, and it is woken without a peer message by `on_wake(Wake, now)` (chain events,
a due timer). Chain events are delivered at least once: the state keeps the highest
event `seq` handled (`chain_seq`), so a re-delivered event (the runtime died after the
node handled it, before it acknowledged it) is recognised and skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vajra.errors import DecodeError
from vajra.node.effects import Effect, Wake
from vajra.wire import ErrorMessage, Message, OpenChannel

MAX_PEERS = 1000
"""Peers remembered per node; the least recently seen are forgotten beyond this."""
STATE_FORMAT = 1

_NO_CHANNELS = b"vajra: this node does not accept channels yet"


@dataclass(slots=True)
class NodeState:
    """Everything a node keeps between wakes (sealed at rest by the runtime)."""

    peers: dict[str, int] = field(default_factory=dict)
    """Hex node id of each peer that asked us for something -> last time (unix seconds)."""
    channel_requests: int = 0
    """`open_channel` messages received (and declined) so far."""
    chain_seq: int = 0
    """The highest chain event `seq` handled (events at or below it are not news)."""

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": STATE_FORMAT,
                "peers": self.peers,
                "channel_requests": self.channel_requests,
                "chain_seq": self.chain_seq,
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
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DecodeError(f"bad node state: {e}") from None


class Node:
    """A hosted node while it is awake."""

    __slots__ = ("_effects", "dirty", "node_id", "state")

    def __init__(self, node_id: bytes, state: NodeState) -> None:
        self.node_id = node_id
        self.state = state
        self.dirty = False
        """True once `state` changed since it was loaded (the runtime must write it)."""
        self._effects: list[Effect] = []

    def emit(self, effect: Effect) -> None:
        """Ask the runtime for something beyond the replies (carried out after the state
        this input produced is written)."""
        self._effects.append(effect)

    def take_effects(self) -> list[Effect]:
        """The effects collected since the last call, in order (the runtime drains them
        after every input)."""
        out, self._effects = self._effects, []
        return out

    def on_wake(self, wake: Wake, now: int) -> None:
        """The runtime woke the node without a peer message (`wake.reason`: "chain" or
        "timer"). Events with `seq <= state.chain_seq` were handled before a crash cut
        their acknowledgement and are skipped; the rest are marked handled (channel logic
        acting on them comes with the channels)."""
        del now  # used once channels act on events and deadlines
        newest = max((e.seq for e in wake.events), default=0)
        if newest > self.state.chain_seq:
            self.state.chain_seq = newest
            self.dirty = True

    def handle(self, peer: bytes, msg: Message, now: int) -> list[Message]:
        """Process one message from `peer`; the messages to send back to it."""
        if isinstance(msg, OpenChannel):
            self._remember(peer, now)
            self.state.channel_requests += 1
            # BOLT 1: an error naming the channel; BOLT 2 lets the receiver of
            # `open_channel` refuse it this way ("fail the channel").
            return [ErrorMessage(channel_id=msg.temporary_channel_id, data=_NO_CHANNELS)]
        channel_id = getattr(msg, "channel_id", None)
        if isinstance(channel_id, bytes) and len(channel_id) == 32:
            # A message about a channel we do not have. BOLT 2 (channel_reestablish):
            # for an unknown channel_id "SHOULD send an error"; the same answer fits the
            # rest of the channel messages.
            self._remember(peer, now)
            return [ErrorMessage(channel_id=channel_id, data=b"vajra: unknown channel")]
        return []

    def _remember(self, peer: bytes, now: int) -> None:
        peers = self.state.peers
        key = peer.hex()
        peers.pop(key, None)
        peers[key] = now  # insertion order = recency
        while len(peers) > MAX_PEERS:
            del peers[next(iter(peers))]
        self.dirty = True
