"""Node call "close" (`vajra node ID close CHANNEL_ID --force`, decision 0025) on a
`NodeHost` with the dev signer's sealed core: the node's latest commitment is signed
by its signer, the peer gets an `error`, the summary shows the resolution; the call's
codes for what it cannot do."""

from __future__ import annotations

import asyncio

from tests.unit.runtime.test_node_host_pay import HEIGHT, OUTPOINT, _open, env  # noqa: F401
from vajra.runtime.node_calls import run_call
from vajra.wire import ErrorMessage


def test_force_close_through_the_node_call(env) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    store, signer, node_id, _ = env
    host, _peer, sent = _open(store, signer, node_id)
    sent.clear()
    (cid,) = host._awake[node_id].node.state.channels
    ok, out = asyncio.run(
        run_call(host, node_id, "close", {"channel_id": "00" * 32, "force": True}, HEIGHT)
    )
    assert (ok, out["code"]) == (False, "unknown_channel")
    body = {"channel_id": cid.hex(), "force": True}
    ok, out = asyncio.run(run_call(host, node_id, "close", body, HEIGHT))
    assert ok, out
    assert out["state"] == "closing_onchain" and out["onchain"]["close"] == "holder"
    (claim,) = out["onchain"]["claims"]  # the node's balance, 40,000 sat pushed to it
    assert claim["kind"] == "to_local" and claim["value_sat"] == 40_000
    assert any(isinstance(m, ErrorMessage) and m.channel_id == cid for m in sent)
    ok, out = asyncio.run(run_call(host, node_id, "close", body, HEIGHT))
    assert (ok, out["code"]) == (False, "channel_not_open")
    asyncio.run(host.close())
