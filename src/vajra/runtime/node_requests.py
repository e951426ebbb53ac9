"""The host's signer loop: answer every request an awake node has before anything of
its is written or sent (asyncio edge of `vajra.node.requests`).

    while (req := node.next_request()) is not None:
        NewChannelKeys    -> signer.new_channel(node, epoch)          -> node.channel_keys
        ChannelSignerCall -> signer.channel_request(node, epoch, i, r) -> node.signer_answer
        LookupInvoice     -> lookup(node, payment_hash) (the store)     -> node.invoice_found
        CloseScript       -> close_script(node, channel_id) (the store) -> node.close_script

Every call carries the node's lease epoch (the signer fences each request, as it does
state keys). A policy refusal of a channel request is *returned* by the signer as
`SignerRefused` and fed back like any result: the channel core decides what it means. A
key request the signer cannot serve (unreachable, or a refusal such as `stale_epoch`)
refuses that open: nothing was promised to the peer yet. A channel request that cannot
be asked at all raises `ChannelSignerLost`: the core is waiting mid-protocol (e.g. owes a
`revoke_and_ack`) and cannot be written in that state, so the host drops the awake node
without writing and the worker disconnects the peer; BOLT 2 `channel_reestablish`
resumes from the last state written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from vajra.errors import PolicyViolation, VajraError
from vajra.node import Node
from vajra.node.requests import ChannelSignerCall, CloseScript, LookupInvoice, NewChannelKeys
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.runtime.signer_api import SignerClient

MAX_REQUESTS_PER_INPUT = 10_000
"""Bound on signer round trips one input may cause (a commitment dance needs a handful;
a bug that loops must not spin forever)."""


class ChannelSignerLost(VajraError):
    """A channel request could not reach the signer (or was fenced out); the node's
    unwritten state must be dropped."""

    def __init__(self, node_id: bytes, reason: str) -> None:
        self.node_id = node_id
        self.reason = reason
        super().__init__(f"channel signer lost node={node_id.hex()} reason={reason}")


def _reason(e: VajraError) -> str:
    if isinstance(e, PolicyViolation):
        return e.reason
    if isinstance(e, SignerUnavailable):
        return "signer_unavailable"
    return type(e).__name__


InvoiceLookup = Callable[[bytes, bytes], Awaitable[bytes | None]]
"""(node id, payment hash) -> the stored invoice record or None (`vajra.node.invoices`)."""


CloseScriptLookup = Callable[[bytes], Awaitable[bytes | None]]
"""node id -> the node wallet's close script (`vajra.node.requests.CloseScript`), or None
(no wallet record yet)."""


async def answer_requests(
    node: Node,
    signer: SignerClient,
    epoch: int,
    now: int,
    lookup: InvoiceLookup | None = None,
    *,
    close_script: CloseScriptLookup | None = None,
) -> int:
    """Answer every pending request of `node`; the number of signer calls made.
    Raises `ChannelSignerLost` (see the module docstring). An invoice lookup that fails
    (`VajraError` from the store) is retried at the node's next input."""
    calls = rounds = 0
    while (req := node.next_request()) is not None:
        rounds += 1
        calls += not isinstance(req, LookupInvoice | CloseScript)
        if rounds > MAX_REQUESTS_PER_INPUT:
            raise ChannelSignerLost(node.node_id, "request_loop")
        if isinstance(req, CloseScript):
            try:
                script = None if close_script is None else await close_script(node.node_id)
            except VajraError as e:
                node.request_failed(req, type(e).__name__, now)
                continue
            node.close_script(req.channel_id, script, now)
        elif isinstance(req, LookupInvoice):
            try:
                record = None if lookup is None else await lookup(node.node_id, req.payment_hash)
            except VajraError as e:
                node.request_failed(req, type(e).__name__)
                continue
            node.invoice_found(req.payment_hash, record, now)
        elif isinstance(req, NewChannelKeys):
            try:
                index, keys = await signer.new_channel(node.node_id, epoch)
            except (PolicyViolation, SignerUnavailable) as e:
                node.request_failed(req, _reason(e))
                continue
            node.channel_keys(req, index, keys, now)
        elif isinstance(req, ChannelSignerCall):
            try:
                result = await signer.channel_request(
                    node.node_id, epoch, req.channel_index, req.request
                )
            except (PolicyViolation, SignerUnavailable) as e:
                raise ChannelSignerLost(node.node_id, _reason(e)) from None
            node.signer_answer(req, result, now)
    return calls
