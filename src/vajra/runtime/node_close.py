"""Node call "close" with `force: true` (`vajra node ID close CHANNEL_ID --force`): a
unilateral close the operator asks for (BOLT 5, decision 0025); without it
`node_calls` runs the cooperative close (`runtime/close_call.py`).

The node's worker wakes it (`NodeHost.act`), `Node.force_close` asks the signer for our
latest commitment (`SignHolderCommitment`: refused for a revoked or not-latest one), and
the settle broadcasts it, sends the peer an `error` and records the resolution before
the answer returns. Body: {channel_id (hex), force (true)}; answer: the channel's
summary (state `closing_onchain`, `onchain` with the commitment's txid and the claims),
or the signer's refusal in `onchain_refused`. Codes: `bad_request`, `unknown_channel`,
`channel_not_open` (not in normal operation, or already closing on chain).
"""

from __future__ import annotations

from typing import Any

from vajra.node import Node
from vajra.runtime.node_host import NodeHost


async def force_close_call(
    host: NodeHost, node_id: bytes, body: dict[str, Any], height: int
) -> dict[str, Any]:
    """See the module docstring."""
    # node_calls imports this module for its CALLS table; its helpers are taken here
    from vajra.runtime.node_calls import NodeCallError, hex_field

    cid = hex_field(body, "channel_id", required=True)
    assert cid is not None

    def start(node: Node, now: int) -> str:
        if height >= 0:
            node.set_tip(height)
        entry = node.state.channels.get(cid)
        if entry is None:
            return "unknown_channel"
        if not node.force_close(cid, "operator"):
            return "channel_not_open"
        return ""

    problem = await host.act(node_id, start, height=height)
    if problem:
        raise NodeCallError(problem, cid.hex())
    summary = await host.act(
        node_id, lambda node, now: node.state.channels[cid].summary(), height=height
    )
    return {"channel_id": cid.hex(), **summary}
