"""The sans-IO node's state and its answers to opens it cannot accept (channels in
test_node_channels.py)."""

from __future__ import annotations

import pytest

from tests.e2e.runtime_proc import open_channel_msg
from vajra.errors import DecodeError
from vajra.node import MAX_PEERS, Node, NodeState
from vajra.node.effects import SendTo
from vajra.wire import ErrorMessage, GossipTimestampFilter

PEER = bytes([2]) + bytes(range(32))


def test_open_channel_without_channel_type_gets_error_naming_temporary_channel_id() -> None:
    node = Node(b"\x02" * 33, NodeState())
    tid = bytes(range(32))
    assert node.handle(PEER, open_channel_msg(tid), now=1000) == []
    (eff,) = node.take_effects()
    assert isinstance(eff, SendTo) and eff.peer == PEER
    assert isinstance(eff.message, ErrorMessage) and eff.message.channel_id == tid
    assert node.next_request() is None  # refused before asking the signer for keys
    assert node.dirty
    assert node.state.peers == {PEER.hex(): 1000}
    assert node.state.channel_requests == 1


def test_state_round_trip_and_recency() -> None:
    node = Node(b"\x02" * 33, NodeState())
    for i in range(MAX_PEERS + 5):
        node.handle(bytes([3]) + i.to_bytes(32, "big"), open_channel_msg(), now=i)
    st = NodeState.decode(node.state.encode())
    assert st == node.state
    assert len(st.peers) == MAX_PEERS
    assert (bytes([3]) + (0).to_bytes(32, "big")).hex() not in st.peers  # oldest forgotten


def test_messages_without_a_channel_do_nothing() -> None:
    node = Node(b"\x02" * 33, NodeState())
    assert node.handle(PEER, GossipTimestampFilter(bytes(32), 0, 1), now=1) == []
    assert not node.dirty


@pytest.mark.parametrize("blob", [b"", b"[]", b'{"v": 2}', b'{"v": 1, "peers": 3}', b"\xff"])
def test_bad_state_is_a_decode_error(blob: bytes) -> None:
    with pytest.raises(DecodeError):
        NodeState.decode(blob)
