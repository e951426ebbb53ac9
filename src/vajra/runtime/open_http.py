"""Admin API endpoints of a node's own channel opens (decision 0028), over
`runtime/open_service.OpenService` (registered in `runtime/admin_routes.py`).

    POST /v1/nodes/ID/open       {peer (hex node id), host, port, funding_sat,
                                  push_msat?, anchors? (default true)}
        -> {channel_id, temporary_channel_id, funding_script, amount_sat, fee_sat,
            funding_txid, funding_vout, state: "awaiting_authorisation", ...}
           once the peer's funding_signed is validated (nothing is on chain yet)
    POST /v1/nodes/ID/open/CHANNEL_ID/fund   {authorisation (hex), confirmation? (hex)}
        -> the channel's view {channel_id, state, funding_txid, txid, fee_sat, ...}:
           the funding transaction signed under the device's on-chain authorisation
           for exactly that script, amount and a maximum fee, and broadcast

Errors {"error": code, "detail": ...}: 400 bad_request / insufficient_funds / open
refusals; 403 signer_refused (with the signer's `decision`); 404 unknown_node,
no_such_opening; 502 peer_unreachable, peer_refused (the peer's error text),
peer_disconnected, open_failed; 503 no_chain, node_not_loaded, wake_failed,
unavailable, signer_unavailable, connection_limit; 504 peer_timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from vajra.runtime.admin_http import AdminProblem, read_json
from vajra.runtime.open_service import OpenError

if TYPE_CHECKING:
    from vajra.runtime.supervisor import Supervisor

STATUS = {
    "signer_refused": 403, "unknown_node": 404, "no_such_opening": 404,
    "peer_unreachable": 502, "peer_refused": 502, "peer_disconnected": 502,
    "open_failed": 502, "no_chain": 503, "node_not_loaded": 503, "wake_failed": 503,
    "unavailable": 503, "signer_unavailable": 503, "connection_limit": 503,
    "chain_unavailable": 503, "peer_timeout": 504,
}  # fmt: skip


def _hex(
    body: dict[str, Any], name: str, size: int | None = None, *, required: bool = True
) -> bytes:
    v = body.get(name)
    if v is None and not required:
        return b""
    try:
        if not isinstance(v, str):
            raise ValueError
        out = bytes.fromhex(v)
    except ValueError:
        raise AdminProblem(400, "bad_request", f"{name} must be hex") from None
    if size is not None and len(out) != size:
        raise AdminProblem(400, "bad_request", f"{name} must be {size} bytes")
    return out


def _int(body: dict[str, Any], name: str, default: int | None = None) -> int:
    v = body.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise AdminProblem(400, "bad_request", f"{name} must be a non-negative integer")
    return v


def _node(request: web.Request, name: str = "id", size: int = 33) -> bytes:
    try:
        out = bytes.fromhex(request.match_info[name])
    except ValueError:
        out = b""
    if len(out) != size:
        raise AdminProblem(400, "bad_request", f"{name} must be {size} bytes of hex")
    return out


async def _open(sup: Supervisor, request: web.Request) -> object:
    node_id = _node(request)
    body = await read_json(request)
    peer = _hex(body, "peer", 33)
    host = body.get("host")
    if not isinstance(host, str) or not host:
        raise AdminProblem(400, "bad_request", "host must be the peer's host name or address")
    port = _int(body, "port")
    if not 0 < port < 65536:
        raise AdminProblem(400, "bad_request", "port must be 1..65535")
    anchors = body.get("anchors", True)
    if not isinstance(anchors, bool):
        raise AdminProblem(400, "bad_request", "anchors must be true or false")
    return await sup.opens.open(node_id, peer, host, port, _int(body, "funding_sat"),
                                _int(body, "push_msat", 0), anchors)  # fmt: skip


async def _fund(sup: Supervisor, request: web.Request) -> object:
    node_id = _node(request)
    channel_id = _node(request, "channel_id", 32)
    body = await read_json(request)
    auth = _hex(body, "authorisation")
    conf = _hex(body, "confirmation", required=False)
    return await sup.opens.fund(node_id, channel_id, auth, conf)


def _endpoint(
    sup: Supervisor, fn: Callable[[Supervisor, web.Request], Awaitable[object]]
) -> Callable[[web.Request], Awaitable[object]]:
    async def handler(request: web.Request) -> object:
        try:
            return await fn(sup, request)
        except OpenError as e:
            raise AdminProblem(STATUS.get(e.code, 400), e.code, e.detail, **e.extra) from None

    return handler


def add_routes(sup: Supervisor, post: Callable[..., None]) -> None:
    """Register the open endpoints with the admin route table's `post`."""
    post("/v1/nodes/{id}/open", _endpoint(sup, _open))
    post("/v1/nodes/{id}/open/{channel_id}/fund", _endpoint(sup, _fund))
