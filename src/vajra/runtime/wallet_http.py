"""Admin API endpoints of the node wallets: thin, over `vajra.wallet.service.WalletService`
(registered in `runtime/admin_routes.py`).

    GET  /v1/nodes/ID/wallet/balance    {confirmed_sat, unconfirmed_sat, tip_height}
    GET  /v1/nodes/ID/wallet/utxos      {utxos: [...]}
    POST /v1/nodes/ID/wallet/address    a fresh receive address {address, index, ...}
    POST /v1/nodes/ID/wallet/quote      {address, amount_sat} -> {fee_sat, sat_per_kvb, ...}
    POST /v1/nodes/ID/wallet/send       {address, amount_sat, authorisation (hex),
                                         confirmation (hex, optional)} -> {txid, ...}

Errors: {"error": code, "detail": ..., "decision": ... (a signer refusal)} with 400 (404
for an unknown node, 503 when the runtime has no chain source or the signer is away).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from vajra.errors import PolicyViolation
from vajra.runtime.admin_http import AdminProblem, read_json
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.wallet.service import WalletError, WalletService

if TYPE_CHECKING:
    from vajra.runtime.supervisor import Supervisor

_STATUS = {"unknown_node": 404, "no_chain": 503, "signer_unavailable": 503,
           "chain_unavailable": 503}  # fmt: skip

WalletCall = Callable[[WalletService, bytes, web.Request], Awaitable[object]]


def _amount(body: dict[str, object]) -> int:
    v = body.get("amount_sat")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise AdminProblem(400, "bad_request", f"amount_sat must be a positive integer, not {v!r}")
    return v


def _hex(body: dict[str, object], name: str) -> bytes:
    try:
        return bytes.fromhex(str(body.get(name, "")))
    except ValueError:
        raise AdminProblem(400, "bad_request", f"{name} must be hex") from None


async def _balance(wallet: WalletService, node_id: bytes, _: web.Request) -> object:
    return wallet.balance(node_id)


async def _utxos(wallet: WalletService, node_id: bytes, _: web.Request) -> object:
    return {"utxos": wallet.utxos(node_id)}


async def _address(wallet: WalletService, node_id: bytes, request: web.Request) -> object:
    await read_json(request)
    return await wallet.new_address(node_id)


async def _quote(wallet: WalletService, node_id: bytes, request: web.Request) -> object:
    body = await read_json(request)
    return await wallet.quote(node_id, str(body.get("address", "")), _amount(body))


async def _send(wallet: WalletService, node_id: bytes, request: web.Request) -> object:
    body = await read_json(request)
    return await wallet.send(
        node_id, str(body.get("address", "")), _amount(body),
        _hex(body, "authorisation"), _hex(body, "confirmation"),
    )  # fmt: skip


def endpoint(sup: Supervisor, call: WalletCall) -> Callable[[web.Request], Awaitable[object]]:
    """An aiohttp handler for `/v1/nodes/{id}/wallet/...` running `call` on the wallet;
    wallet and signer refusals become `AdminProblem`s with their code."""

    async def handler(request: web.Request) -> object:
        if sup.wallet is None:
            raise AdminProblem(
                503, "no_chain", "this runtime runs without a chain source (--chain)"
            )
        try:
            node_id = bytes.fromhex(request.match_info["id"])
        except ValueError:
            raise AdminProblem(400, "bad_request", "node id is hex") from None
        try:
            return await call(sup.wallet, node_id, request)
        except WalletError as e:
            raise AdminProblem(_STATUS.get(e.code, 400), e.code, e.detail, **e.extra) from None
        except SignerUnavailable as e:
            raise AdminProblem(503, "signer_unavailable", e.detail) from None
        except PolicyViolation as v:
            raise AdminProblem(400, v.reason, v.detail) from None

    return handler


def add_routes(sup: Supervisor, get: Callable[..., None], post: Callable[..., None]) -> None:
    """Register the wallet endpoints with the admin route table's `get`/`post`."""
    get("/v1/nodes/{id}/wallet/balance", endpoint(sup, _balance))
    get("/v1/nodes/{id}/wallet/utxos", endpoint(sup, _utxos))
    post("/v1/nodes/{id}/wallet/address", endpoint(sup, _address))
    post("/v1/nodes/{id}/wallet/quote", endpoint(sup, _quote))
    post("/v1/nodes/{id}/wallet/send", endpoint(sup, _send))
