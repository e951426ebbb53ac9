"""A worker's channel plumbing: which live session reaches a peer of an awake node, and
the node configuration the worker's options give (asyncio edge, no I/O of its own).

A node's channel cores address peers by node id (`SendTo` effects), not by connection.
`PeerRoutes` keeps the session each peer last talked to a node on: a session registers
once the peer's `init` is in (and again whenever it hands a message to the node: it is
then the peer's live session; a newer one replaces it) and leaves when it closes. A node
woken by the chain or a timer (no session of its own) reaches its peer this way, e.g.
its `channel_ready` once the funding is deep enough. One dict entry per open session,
none per node: a sleeping node costs nothing here. A `SendTo` with no route (the peer's
session lives in another worker, or none is open) is dropped: BOLT 2
`channel_reestablish` retransmits what a peer missed.
"""

from __future__ import annotations

from typing import Protocol

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.node.config import InboundPolicy, NodeConfig
from vajra.wire import Message


class Reachable(Protocol):
    """What a session offers the routes: send messages now (encrypt, write, flush)."""

    def push(self, messages: list[Message]) -> None: ...


class PeerRoutes:
    """Live sessions of awake nodes by (node id, peer node id)."""

    __slots__ = ("_by_node",)

    def __init__(self) -> None:
        self._by_node: dict[bytes, dict[bytes, Reachable]] = {}

    def add(self, node_id: bytes, peer: bytes, session: Reachable) -> None:
        self._by_node.setdefault(node_id, {})[peer] = session

    def remove(self, node_id: bytes, peer: bytes, session: Reachable) -> bool:
        """Forget `session`; True if it was the peer's live one (False: a newer session
        replaced it, or the node slept): only then has the peer really gone."""
        peers = self._by_node.get(node_id)
        if peers is None or peers.get(peer) is not session:
            return False
        del peers[peer]
        if not peers:
            del self._by_node[node_id]
        return True

    def drop_node(self, node_id: bytes) -> None:
        """The node sleeps: its sessions stay open (hibernation answers them) but no
        effect can address them any more."""
        self._by_node.pop(node_id, None)

    def session(self, node_id: bytes, peer: bytes) -> Reachable | None:
        """The live session between `node_id` and `peer`, if any."""
        return self._by_node.get(node_id, {}).get(peer)

    def has(self, node_id: bytes, peer: bytes) -> bool:
        """A live session between the node and `peer` is in this worker."""
        return peer in self._by_node.get(node_id, {})

    def send(self, node_id: bytes, peer: bytes, msg: Message) -> bool:
        session = self._by_node.get(node_id, {}).get(peer)
        if session is None:
            return False
        session.push([msg])
        return True

    def __len__(self) -> int:
        return sum(len(p) for p in self._by_node.values())


def node_config(chain: str, min_channel_sat: int, channel_peers: list[str]) -> NodeConfig:
    """The `NodeConfig` of every node of a worker (`vajra runtime --min-channel-sat`,
    `--channel-peer`)."""
    allowed = frozenset(bytes.fromhex(p) for p in channel_peers) if channel_peers else None
    return NodeConfig(
        chain_hash=CHAIN_HASHES[chain],
        inbound=InboundPolicy(min_funding_sat=min_channel_sat, allowed_peers=allowed),
    )
