"""A channel peer reconnects: the node sends its `channel_reestablish` first (asyncio edge).

BOLT 2 "upon reconnection: ... MUST transmit `channel_reestablish` for each channel" -- a
node does not wait for the peer's. A hosted node is usually asleep when its peer
reconnects, and `init` alone wakes nobody (decision 0014): so once a session's `init`
is in, the worker asks whether the peer has a channel with the node -- from the awake
node's state, or for a sleeping node from its clear channel summary (`CHANNELS_KEY`,
one store read, no state key) -- and only then queues `PEER_CONNECTED` on the session,
which wakes the node (within the wake limits) and runs `Node.peer_connected`. Anyone
else's connection costs one summary read and no wake: BOLT 8 authenticated the peer's
node id, so only a channel's real peer can cause the wake.

`PEER_CONNECTED` goes first in the session's queue or not at all: if a message of the
peer's already went to the node on this session (e.g. its own `channel_reestablish`,
whose handling sends ours), the node has learnt of the connection that way.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Final

from vajra.errors import VajraError

if TYPE_CHECKING:
    from vajra.runtime.worker import Session

log = logging.getLogger("vajra.runtime.reconnect")

REMEMBERED: Final = frozenset({"awaiting_depth", "ready", "closing"})
"""Channel phases (`ChannelEntry.phase`) a reconnection reestablishes (BOLT 2: from
`funding_signed` on; closed and failed channels do not)."""


class PeerConnected:
    """The session-queue input "this peer's new connection exchanged `init`"."""

    NAME: Final = "peer_connected"

    def __repr__(self) -> str:
        return "PEER_CONNECTED"


PEER_CONNECTED: Final = PeerConnected()


def has_channel_with(summary: bytes | None, peer: bytes) -> bool:
    """Whether the node's clear channel summary (JSON list of `ChannelEntry.summary()`)
    lists a channel with `peer` that a reconnection reestablishes. A damaged summary
    counts as none (the peer's own `channel_reestablish` still wakes the node)."""
    if not summary:
        return False
    try:
        entries = json.loads(summary)
        return any(e.get("peer") == peer.hex() and e.get("state") in REMEMBERED for e in entries)
    except (ValueError, AttributeError, TypeError):
        return False


async def on_init(session: Session, peer: bytes) -> None:
    """After the peer's `init` on `session`: queue `PEER_CONNECTED` if the peer has a
    channel with the session's node (see the module docstring)."""
    w, node_id = session.w, session.node_id
    try:
        if not await w.host.is_channel_peer(node_id, peer):
            return
    except VajraError as e:  # the store: the peer's own channel_reestablish still works
        log.warning("event=reconnect_check_failed node=%s error=%s", node_id.hex(), e)
        return
    if session.conn is None or session.conn.closed or session.queue is not None:
        return
    if session.channel_peer:  # a message of the peer's reached the node first
        return
    if session.move_to_owner():
        return
    if not w.host.is_awake(node_id) and not w.wake_limiter.allow(node_id, peer, time.monotonic()):
        w.count["wakes_refused"] += 1
        return
    w.count["wake_triggers"] += 1
    session.enqueue(PEER_CONNECTED)
