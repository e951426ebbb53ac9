"""`PeerRoutes`: a node's `SendTo` reaches the peer's live session, never another's, and
nothing once the session closed or the node slept; `node_config` from the flags."""

from __future__ import annotations

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.runtime.channel_sessions import PeerRoutes, node_config
from vajra.wire import Message, Ping

NODE, OTHER_NODE = b"\x02" * 33, b"\x03" * 33
PEER, OTHER_PEER = b"\x02" + b"\x01" * 32, b"\x02" + b"\x02" * 32


class Sess:
    def __init__(self) -> None:
        self.got: list[Message] = []

    def push(self, messages: list[Message]) -> None:
        self.got += messages


def test_send_reaches_the_live_session_of_that_peer_only() -> None:
    routes, old, new, other = PeerRoutes(), Sess(), Sess(), Sess()
    msg = Ping(1, b"")
    assert not routes.send(NODE, PEER, msg)  # no session: dropped
    routes.add(NODE, PEER, old)
    routes.add(NODE, PEER, new)  # a newer session replaces the old one
    routes.add(NODE, OTHER_PEER, other)
    assert routes.send(NODE, PEER, msg) and new.got == [msg] and old.got == []
    assert not routes.send(OTHER_NODE, PEER, msg)  # another node's peer: not this session
    assert not routes.remove(NODE, PEER, old)  # the old session closing: not a disconnect
    assert routes.send(NODE, PEER, msg) and len(new.got) == 2
    assert routes.remove(NODE, PEER, new)
    assert not routes.send(NODE, PEER, msg)
    routes.drop_node(NODE)  # the node sleeps
    assert not routes.send(NODE, OTHER_PEER, msg) and len(routes) == 0


def test_node_config_from_the_runtime_flags() -> None:
    cfg = node_config("regtest", 50_000, [PEER.hex()])
    assert cfg.chain_hash == CHAIN_HASHES["regtest"]
    assert cfg.inbound.min_funding_sat == 50_000
    assert cfg.inbound.refusal(OTHER_PEER, 60_000) is not None
    assert cfg.inbound.refusal(PEER, 49_999) is not None
    assert cfg.inbound.refusal(PEER, 50_000) is None
    assert node_config("regtest", 20_000, []).inbound.allowed_peers is None


def test_the_clear_summary_names_the_peers_a_reconnection_wakes_the_node_for() -> None:
    import json

    from vajra.runtime.reconnect import has_channel_with

    peer, other = bytes([2]) * 33, bytes([3]) * 33
    rows = [
        {"peer": peer.hex(), "state": "ready"},
        {"peer": other.hex(), "state": "closed"},
    ]
    blob = json.dumps(rows).encode()
    assert has_channel_with(blob, peer)
    assert not has_channel_with(blob, other)  # closed: nothing to reestablish
    for state in ("awaiting_depth", "closing"):
        assert has_channel_with(json.dumps([{"peer": other.hex(), "state": state}]).encode(), other)
    assert not has_channel_with(
        json.dumps([{"peer": peer.hex(), "state": "opening"}]).encode(), peer
    )
    assert not has_channel_with(None, peer) and not has_channel_with(b"", peer)
    assert not has_channel_with(b"{garbage", peer) and not has_channel_with(b"[1, 2]", peer)
