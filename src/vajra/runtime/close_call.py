"""The node call "close": the operator closes a channel cooperatively (`vajra node ID
close CHANNEL_ID`, `POST /v1/nodes/ID/close`; decision 0029).

Runs in the worker owning the node, through the generic node-call mechanism (the
supervisor's `call(node_id, "close", body)` wakes the node if needed):

1. body `{"channel_id": 64 hex}`; `{"force": true}` is refused `not_supported` (a
   unilateral close belongs to the enforcement work, issue 11);
2. the node wallet's close script (`NodeHost.close_script`: BIP 84 change at
   `CLOSE_CHANGE_INDEX`, inside the signer's allow-list); none: `no_wallet`;
3. under the node's lock: the channel checks (`vajra.node.closing.check_close_out`),
   then a live session to the peer in this worker (`peer_offline` otherwise: the
   runtime does not dial out yet, so the peer must be connected to the node; nothing
   is changed and the operator may retry), then `Node.close_channel`: `Close` in the
   channel core, the wallet script watched;
4. the state is written, then our `shutdown` goes out; the negotiation runs as the
   peer's messages arrive (each a wake of the node, the signer signing our
   `closing_signed`); the agreed transaction leaves through the runtime's broadcaster
   and the chain watcher reports its confirmation (`closing` -> `closed` in the
   channel summary).

Answers the channel's summary (`ChannelEntry.summary()`: `state` "closing"). Errors are
`CloseRefused` with a stable `code` (`node_calls` answers them as `NodeCallError`s): bad_request, not_supported, no_wallet,
unknown_channel, channel_not_ready, channel_failed, already_closing, peer_offline.
"""

from __future__ import annotations

from typing import Any

from vajra.node import Node
from vajra.node.closing import CloseRefused, check_close_out
from vajra.runtime.node_host import NodeHost

CLOSE_ERRORS = {
    "bad_request": 400, "not_supported": 400, "no_wallet": 409, "unknown_channel": 404,
    "channel_not_ready": 409, "channel_failed": 409, "already_closing": 409,
    "peer_offline": 409,
}  # fmt: skip
"""The handler's error codes and the admin API's HTTP status for each."""


def channel_id_of(body: dict[str, Any]) -> bytes:
    """The 32-byte `channel_id` of a close body. Raises `CloseRefused` `bad_request`."""
    raw = body.get("channel_id")
    try:
        cid = bytes.fromhex(raw) if isinstance(raw, str) else b""
    except ValueError:
        cid = b""
    if len(cid) != 32:
        raise CloseRefused("bad_request", "channel_id: 64 hex digits (vajra node ID channels)")
    return cid


async def close(
    host: NodeHost, node_id: bytes, body: dict[str, Any], height: int
) -> dict[str, Any]:
    """The "close" node call (see the module docstring). Raises `CloseRefused`."""
    cid = channel_id_of(body)
    if body.get("force"):
        raise CloseRefused("not_supported", "force close is not built yet (issue 11)")
    script = await host.close_script(node_id)
    if script is None:
        raise CloseRefused("no_wallet", "the node has no wallet yet (vajra node ID address)")

    def start(node: Node, now: int) -> dict[str, Any]:
        entry = node.state.channels.get(cid)
        check_close_out(entry, cid)
        assert entry is not None
        if not host.peer_reachable(node_id, entry.peer):
            raise CloseRefused("peer_offline", f"no session with {entry.peer.hex()}")
        return dict(node.close_channel(cid, script, now))

    return await host.act(node_id, start, height=height)
