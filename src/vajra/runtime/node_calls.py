"""Node calls: the operator's commands that a hosted node itself must carry out.

`vajra node ID pay` (and, as they land, `open` and `close`) need the node awake: its
sealed state, its channels, its live peer sessions. The admin API reaches the
supervisor; the supervisor sends a CALL packet (`control_proto.CallPush`: method name,
JSON body, chain tip height) to the worker owning the node (`index % W`); the worker
runs the method's handler here, which wakes the node through `NodeHost` if it sleeps
(lease, key, state -- the same path as a peer's message), and answers with a RESULT:
the handler's JSON answer, or {code, detail}.

    admin POST /v1/nodes/{id}/<method>  ->  Supervisor.call(node_id, method, body)
      -> CALL over the worker's control channel  ->  run_call -> CALLS[method]
      -> NodeHost (wake, act, settle)  ->  RESULT  ->  the admin answer

A handler is `NodeCall`: (host, node_id, body, height) -> answer; it validates its own
body (the admin API passes the client's JSON through) and raises `NodeCallError` with a
stable `code` for the client. Codes every call may answer: `unknown_node`,
`node_not_loaded` (the worker does not know the node yet), `no_chain_tip`,
`wake_failed`, `unknown_method`, `bad_request`, `unavailable` (the worker did not
answer), `result_too_large`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from vajra.errors import VajraError
from vajra.node.closing import CloseRefused
from vajra.node.payments import PaymentError
from vajra.runtime import close_call, open_calls
from vajra.runtime.node_host import NodeHost, WakeFailed

log = logging.getLogger("vajra.runtime.node_calls")


class NodeCallError(VajraError):
    """A node call that failed; `code` is stable (see the module docstring and each
    handler), `detail` is for humans."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


NodeCall = Callable[[NodeHost, bytes, dict[str, Any], int], Awaitable[dict[str, Any]]]
"""(host, node_id, JSON body, chain tip height or -1) -> the call's JSON answer."""


def hex_field(body: dict[str, Any], name: str, *, required: bool) -> bytes | None:
    """`body[name]` as bytes from hex; None when absent and not required. Raises
    `NodeCallError("bad_request")`."""
    value = body.get(name)
    if value is None and not required:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise NodeCallError("bad_request", f"{name} must be hex") from None


async def _pay(host: NodeHost, node_id: bytes, body: dict[str, Any], height: int) -> dict[str, Any]:
    """Method "pay" (decision 0023): body {bolt11, authorisation (hex), confirmation?
    (hex)}; answer: the payment's view once started (its final state: the payments
    list). Codes: `PaymentError`'s (`invoice_invalid`, `no_channel`, ...),
    `no_chain_tip` (the HTLC's cltv_expiry counts from the tip, BOLT 4)."""
    bolt11 = body.get("bolt11")
    if not isinstance(bolt11, str) or not bolt11:
        raise NodeCallError("bad_request", "bolt11 must be a BOLT 11 invoice string")
    auth = hex_field(body, "authorisation", required=True)
    assert auth is not None
    conf = hex_field(body, "confirmation", required=False)
    if height < 0:
        raise NodeCallError("no_chain_tip", "the runtime has no chain tip")
    try:
        return await host.pay(node_id, bolt11, auth, conf, height=height)
    except PaymentError as e:
        raise NodeCallError(e.code, str(e).removeprefix(f"{e.code}: ")) from None


async def _close(
    host: NodeHost, node_id: bytes, body: dict[str, Any], height: int
) -> dict[str, Any]:
    """Method "close": body {channel_id (hex), force?}. Cooperative (decision 0029,
    `runtime/close_call.py`): the channel's summary once our `shutdown` is out (state
    "closing"), codes `close_call.CLOSE_ERRORS`. With `force: true` a unilateral close
    (decision 0025, `runtime/node_close.py`)."""
    if body.get("force") is True:
        return await force_close_call(host, node_id, body, height)
    try:
        return await close_call.close(host, node_id, body, height)
    except CloseRefused as e:
        raise NodeCallError(e.code, e.detail) from None


from vajra.runtime.node_close import force_close_call  # noqa: E402  (it imports our helpers)

CALLS: dict[str, NodeCall] = {
    "pay": _pay,
    "close": _close,
    "open": open_calls.call_open,  # decision 0028: a funder open in three calls
    "open_funded": open_calls.call_open_funded,
    "open_abandon": open_calls.call_open_abandon,
}
"""Every node call by method name; a new command adds its handler here."""


async def run_call(
    host: NodeHost, node_id: bytes, method: str, body: dict[str, Any], height: int
) -> tuple[bool, dict[str, Any]]:
    """Run one call: (True, answer) or (False, {code, detail}). Never raises for a
    failed call: a handler's `NodeCallError`, a failed wake or any other `VajraError`
    becomes the error answer (the last two as `wake_failed`, logged)."""
    handler = CALLS.get(method)
    if handler is None:
        return False, {"code": "unknown_method", "detail": method}
    try:
        return True, await handler(host, node_id, body, height)
    except NodeCallError as e:
        return False, {"code": e.code, "detail": e.detail}
    except WakeFailed as e:
        return False, {"code": "wake_failed", "detail": e.reason}
    except VajraError as e:
        log.warning("event=node_call_failed method=%s node=%s error_type=%s error=%s",
                    method, node_id.hex(), type(e).__name__, e)  # fmt: skip
        return False, {"code": "wake_failed", "detail": str(e)}
