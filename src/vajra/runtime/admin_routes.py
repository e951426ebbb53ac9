"""The runtime's admin endpoints (served by `admin_http` on the 0600 admin socket).

One function per endpoint; `routes(sup)` lists them. To add one: write
`async def _thing(sup, request) -> JSON-able` and one line in `routes`. Answers hold
public data only (node ids, addresses, states, counters), never a secret; the pairing
code is the one exception, shown to the operator who asked for it and never logged.

| method | path | body / query | answer |
|---|---|---|---|
| GET | /v1/status | | nodes, signers, workers, restarts, counters |
| GET | /v1/signers | | [{signer_id, link_pubkey, connected, loaded}] |
| POST | /v1/pairing-code | {} | {code, expires, runtime_pubkey, signer_port} |
| GET | /v1/nodes | ?after=ID&limit=N (<= 100,000) | {nodes: [...], next: ID or null} |
| POST | /v1/nodes | {count, signer?} | {created, total, first, last} |
| GET | /v1/nodes/{id} | | {id, host, port, state[, worker]} |
| GET | /v1/nodes/{id}/channels | | {node_id, channels: [summary...]} (the non-secret summary the node's worker writes after each change: no wake, no state key) |
| POST | /v1/nodes/{id}/invoice | {amount_msat (null: any), description, expiry_s?} | {bolt11, payment_hash, amount_msat, expires_at, ...} (issued without waking the node: `runtime/invoice_service.py`, decision 0022) |
| GET | /v1/nodes/{id}/payments | | {node_id, payments: [{direction, payment_hash, amount_msat, fee_msat, state, reason, preimage (succeeded only), created_at, settled_at}...]} (sent and received; the list the node's worker writes after each change: no wake; decisions 0022, 0023) |
| POST | /v1/nodes/{id}/close | {channel_id (hex), force: true} | the channel's summary once the node broadcast its commitment (state closing_onchain, onchain: txid and claims; a signer refusal in onchain_refused); codes unknown_channel 404, channel_not_open 409, unsupported 400 (decision 0025) |
| POST | /v1/nodes/{id}/pay | {bolt11, authorisation (hex), confirmation? (hex)} | the payment's view {payment_hash, state, ...} once the node started it (the worker owning the node wakes it; decision 0023); its final state: poll /payments |
| POST | /v1/nodes/{id}/close | {channel_id (hex)} | the channel's summary (state closing) once our `shutdown` is sent (node call "close", decision 0029); errors: `no_wallet`, `unknown_channel` 404, `channel_not_ready`, `channel_failed`, `already_closing`, `peer_offline` 409; the agreed closing tx and `closed`: poll /channels |
| POST | /v1/nodes/{id}/open, /v1/nodes/{id}/open/{channel_id}/fund | see `runtime/open_http.py` | the node opens a channel as funder (decision 0028) |
| | /v1/nodes/{id}/wallet/... | | the node wallets: see `runtime/wallet_http.py` |
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from vajra.errors import PolicyViolation
from vajra.runtime import open_http, wallet_http
from vajra.runtime.admin_http import AdminProblem, AdminRoutes, read_json
from vajra.runtime.close_call import CLOSE_ERRORS
from vajra.runtime.invoice_service import InvoiceError
from vajra.runtime.node_calls import NodeCallError
from vajra.runtime.node_host import CHANNELS_KEY
from vajra.runtime.payment_routing import PAYMENTS_KEY
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.signer.link_pairing import PairingError

if TYPE_CHECKING:
    from vajra.runtime.supervisor import Supervisor

MAX_CREATE_PER_REQUEST = 100_000
MAX_LIST = 100_000


def _int(value: object, name: str, lo: int, hi: int) -> int:
    """`value` as an int in [lo, hi]; 400 naming the field otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AdminProblem(400, "bad_request", f"{name} must be an integer, not {value!r}")
    try:
        n = int(value)
    except ValueError:
        raise AdminProblem(
            400, "bad_request", f"{name} must be an integer, not {value!r}"
        ) from None
    if not lo <= n <= hi:
        raise AdminProblem(400, "bad_request", f"{name} must be {lo}..{hi}, not {n}")
    return n


def _node_id(text: str, name: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 33:
        raise AdminProblem(400, "bad_request", f"{name} must be a 33-byte hex node id")
    return raw


async def _status(sup: Supervisor, _: web.Request) -> object:
    return sup.status()


async def _signers(sup: Supervisor, _: web.Request) -> object:
    return {"signers": sup.signers_json()}


async def _pairing_code(sup: Supervisor, request: web.Request) -> object:
    await read_json(request)
    if sup.hub is None:
        raise AdminProblem(400, "no_hub", "no signer hub (--dev runtime)")
    try:
        p = sup.hub.pairing_code()  # the code is in the answer only, never logged
    except PairingError as e:
        raise AdminProblem(429, e.reason, str(e)) from None
    return {"code": p.code, "expires": int(p.expires), "runtime_pubkey": sup.hub.pubkey.hex(),
            "signer_port": sup.hub.port}  # fmt: skip


async def _list_nodes(sup: Supervisor, request: web.Request) -> object:
    q = request.query
    after = _node_id(q["after"], "after") if "after" in q else None
    limit = _int(q.get("limit", "1000"), "limit", 1, MAX_LIST)
    out = await sup.list_nodes(after, limit)
    return {"nodes": out, "next": out[-1]["node_id"] if len(out) >= limit else None}


async def _create_nodes(sup: Supervisor, request: web.Request) -> object:
    body = await read_json(request)
    count = _int(body.get("count"), "count", 1, MAX_CREATE_PER_REQUEST)
    sid = body.get("signer")
    signer_id = None if sid is None else _int(sid, "signer", 1, 1 << 31)
    try:
        rows = await sup.create_nodes(count, signer_id)
    except SignerUnavailable as e:
        raise AdminProblem(503, "signer_unavailable", e.detail) from None
    except PolicyViolation as v:
        raise AdminProblem(403, v.reason, v.detail) from None
    return {"created": len(rows), "total": sup.node_count,
            "first": sup.node_json(rows[0]), "last": sup.node_json(rows[-1])}  # fmt: skip


async def _show_node(sup: Supervisor, request: web.Request) -> object:
    found = await asyncio.to_thread(sup.store.get_node, _node_id(request.match_info["id"], "id"))
    if found is None:
        raise AdminProblem(404, "no_such_node", request.match_info["id"])
    return sup.node_json(found)


async def _node_channels(sup: Supervisor, request: web.Request) -> object:
    node_id = _node_id(request.match_info["id"], "id")
    if await asyncio.to_thread(sup.store.get_node, node_id) is None:
        raise AdminProblem(404, "no_such_node", request.match_info["id"])
    got = await asyncio.to_thread(sup.store.get, node_id, CHANNELS_KEY)
    try:
        channels = json.loads(got[1]) if got is not None else []
    except ValueError:
        raise AdminProblem(500, "internal", "unreadable channel summary") from None
    return {"node_id": node_id.hex(), "channels": channels}


_INVOICE_STATUS = {"unknown_node": 404, "node_not_loaded": 503, "signer_unavailable": 503}


async def _node_invoice(sup: Supervisor, request: web.Request) -> object:
    node_id = _node_id(request.match_info["id"], "id")
    body = await read_json(request)
    amount = body.get("amount_msat")
    amount_msat = None if amount is None else _int(amount, "amount_msat", 1, 21 * 10**18)
    description = body.get("description", "")
    if not isinstance(description, str):
        raise AdminProblem(400, "bad_request", "description must be a string")
    expiry_s = _int(body.get("expiry_s", 3600), "expiry_s", 1, 365 * 24 * 3600)
    try:
        return await sup.invoices.create(node_id, amount_msat, description, expiry_s)
    except InvoiceError as e:
        raise AdminProblem(_INVOICE_STATUS.get(e.code, 400), e.code, e.detail) from None
    except SignerUnavailable as e:
        raise AdminProblem(503, "signer_unavailable", e.detail) from None
    except PolicyViolation as v:
        raise AdminProblem(403, v.reason, v.detail) from None


async def _node_payments(sup: Supervisor, request: web.Request) -> object:
    node_id = _node_id(request.match_info["id"], "id")
    if await asyncio.to_thread(sup.store.get_node, node_id) is None:
        raise AdminProblem(404, "no_such_node", request.match_info["id"])
    got = await asyncio.to_thread(sup.store.get, node_id, PAYMENTS_KEY)
    try:
        payments = json.loads(got[1]) if got is not None else []
    except ValueError:
        raise AdminProblem(500, "internal", "unreadable payments list") from None
    return {"node_id": node_id.hex(), "payments": payments}


_CALL_STATUS = {"unknown_node": 404, "node_not_loaded": 503, "no_chain_tip": 503,
                "wake_failed": 503, "unavailable": 503, "duplicate_payment": 409,
                "unknown_method": 404, "result_too_large": 500, "unknown_channel": 404,
                "channel_not_open": 409}  # fmt: skip
"""HTTP status of a node call's error code; any other code is the client's (400)."""


async def node_call(sup: Supervisor, request: web.Request, method: str) -> object:
    """POST /v1/nodes/{id}/<method>: the JSON body passed to node call `method`
    (`runtime/node_calls.py`), its answer returned; its error as a problem."""
    node_id = _node_id(request.match_info["id"], "id")
    body = await read_json(request)
    try:
        return await sup.call(node_id, method, body)
    except NodeCallError as e:
        raise AdminProblem(_CALL_STATUS.get(e.code, 400), e.code, e.detail) from None


async def _node_pay(sup: Supervisor, request: web.Request) -> object:
    return await node_call(sup, request, "pay")


_CALL_STATUS.update(CLOSE_ERRORS)


async def _node_close(sup: Supervisor, request: web.Request) -> object:
    return await node_call(sup, request, "close")


Endpoint = Callable[["Supervisor", web.Request], Awaitable[object]]


def routes(sup: Supervisor) -> AdminRoutes:
    r = AdminRoutes()

    def bind(fn: Endpoint) -> Callable[[web.Request], Awaitable[Any]]:
        async def handler(request: web.Request) -> object:
            return await fn(sup, request)

        return handler

    r.get("/v1/status", bind(_status))
    r.get("/v1/signers", bind(_signers))
    r.post("/v1/pairing-code", bind(_pairing_code))
    r.get("/v1/nodes", bind(_list_nodes))
    r.post("/v1/nodes", bind(_create_nodes))
    r.get("/v1/nodes/{id}", bind(_show_node))
    r.get("/v1/nodes/{id}/channels", bind(_node_channels))
    r.post("/v1/nodes/{id}/invoice", bind(_node_invoice))
    r.get("/v1/nodes/{id}/payments", bind(_node_payments))
    r.post("/v1/nodes/{id}/pay", bind(_node_pay))
    r.post("/v1/nodes/{id}/close", bind(_node_close))
    wallet_http.add_routes(sup, r.get, r.post)
    open_http.add_routes(sup, r.post)
    return r
