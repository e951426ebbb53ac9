"""Admin API handlers of the node wallets: thin, over `vajra.wallet.service.WalletService`
(so they port to any HTTP layer as they are).

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

from typing import Any

from vajra.errors import PolicyViolation
from vajra.runtime.admin_http import Request, Response
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.wallet.service import WalletError, WalletService

_STATUS = {"unknown_node": 404, "no_chain": 503, "signer_unavailable": 503,
           "chain_unavailable": 503}  # fmt: skip


def _error(code: str, detail: str = "", **extra: Any) -> Response:
    return Response.of({"error": code, "detail": detail, **extra}, _STATUS.get(code, 400))


async def handle(wallet: WalletService | None, node: str, action: str, req: Request) -> Response:
    if wallet is None:
        return _error("no_chain", "this runtime runs without a chain source (--chain)")
    try:
        node_id = bytes.fromhex(node)
    except ValueError:
        return _error("bad_request", "node id is hex")
    try:
        if action == "balance" and req.method == "GET":
            return Response.of(wallet.balance(node_id))
        if action == "utxos" and req.method == "GET":
            return Response.of({"utxos": wallet.utxos(node_id)})
        if action == "address" and req.method == "POST":
            return Response.of(await wallet.new_address(node_id))
        body = req.json() if req.method == "POST" else {}
        if action == "quote" and req.method == "POST":
            return Response.of(await wallet.quote(node_id, str(body["address"]),
                                                  _amount(body)))  # fmt: skip
        if action == "send" and req.method == "POST":
            return Response.of(await wallet.send(
                node_id, str(body["address"]), _amount(body),
                bytes.fromhex(str(body.get("authorisation", ""))),
                bytes.fromhex(str(body.get("confirmation", ""))),
            ))  # fmt: skip
    except WalletError as e:
        return _error(e.code, e.detail, **e.extra)
    except SignerUnavailable as e:
        return _error("signer_unavailable", e.detail)
    except PolicyViolation as v:
        return _error(v.reason, v.detail)
    return Response.of({"error": "not found"}, 404)


def _amount(body: dict[str, object]) -> int:
    v = body.get("amount_sat")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError("amount_sat must be a positive integer")
    return v
