"""Fuzz target: arbitrary bytes as BOLT 7 gossip through decode + `GossipCore.apply` on a
graph holding one real signed channel (so updates and node announcements reach the
signature checks and the graph). Invariant beyond "only VajraError escapes": nothing
unsigned ever enters the graph (the channel count stays 1)."""

from __future__ import annotations

import contextlib

from tests.unit.gossip.helpers import CHAIN, NOW, Lookup, announce, secret, update
from vajra.errors import VajraError
from vajra.gossip.core import GossipCore
from vajra.gossip.sign import sign_node_announcement

_LOOKUP = Lookup()
_ANN = announce("alice", "bob", 100, lookup=_LOOKUP)
_CORE = GossipCore(CHAIN)
_CORE.apply(_ANN, _LOOKUP, NOW)


def seeds() -> list[bytes]:
    return [
        announce("carol", "dave", 200).encode(),
        update(_ANN, "alice", NOW).encode(),
        update(_ANN, "bob", NOW, disabled=True).encode(),
        sign_node_announcement(secret("alice"), NOW, alias=b"alice").encode(),
    ]


def fuzz_one(data: bytes) -> None:
    with contextlib.suppress(VajraError):
        _CORE.apply_bytes(data, _LOOKUP, NOW)
    assert _CORE.graph.channel_count == 1
