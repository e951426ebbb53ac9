"""Node calls on the control channel (`runtime/node_calls.py`): CALL/RESULT packets
round-trip, malformed ones are typed errors, `ControlServer.call` gets the worker's
answer (or `unavailable` when none comes) over a real `SOCK_SEQPACKET` pair, and
`run_call` turns every failure into a {code, detail} answer."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from vajra.runtime import node_calls
from vajra.runtime.control import ControlClient, ControlServer
from vajra.runtime.control_proto import (
    MAX_PACKET,
    CallPush,
    ControlDecodeError,
    Done,
    Request,
    decode_result,
    encode_result,
)
from vajra.runtime.node_calls import NodeCallError, run_call
from vajra.runtime.node_host import NodeHost, WakeFailed
from vajra.runtime.node_services import ServiceError

BOLT11 = "lnbcrt10u1" + "q" * 300


def test_call_packets_round_trip_and_malformed_ones_are_typed_errors() -> None:
    push = CallPush(7, 4_000_000, 812, "pay", {"bolt11": BOLT11, "authorisation": "01" * 150})
    assert CallPush.decode(push.encode()) == push
    no_tip = CallPush(8, 1, -1, "close", {})
    assert CallPush.decode(no_tip.encode()) == no_tip
    assert decode_result(encode_result(9, True, {"state": "approving"})) == (
        9, True, {"state": "approving"},
    )  # fmt: skip
    packet = push.encode()
    for bad in (packet[:14], packet[:22], packet[:25] + b"\xff" + packet[26:], packet[:-1],
                packet[:21] + b"\x00" + packet[22:], packet[:22] + b"\xe9" + packet[23:]):  # fmt: skip
        with pytest.raises(ControlDecodeError):
            CallPush.decode(bad)
    with pytest.raises(ControlDecodeError):  # a JSON body that is not an object
        CallPush.decode(packet[:26] + b"[]")
    for bad in (b"\x06" + bytes(9) + b"[]", b"\x06" + bytes(9) + b"{", b"\x06\x00"):
        with pytest.raises(ControlDecodeError):
            decode_result(bad)
    with pytest.raises(ValueError):
        CallPush(1, 1, 0, "pay", {"bolt11": "x" * MAX_PACKET}).encode()
    with pytest.raises(ValueError):
        CallPush(1, 1, 0, "", {}).encode()
    # An answer too large for a packet becomes a typed error, not a truncated JSON.
    rid, ok, body = decode_result(encode_result(3, True, {"blob": "x" * MAX_PACKET}))
    assert (rid, ok, body["code"]) == (3, False, "result_too_large")


class _Handler:
    async def request(self, worker: int, req: Request) -> None:
        raise ServiceError("unexpected", "")

    def done(self, worker: int, done: Done) -> None:
        raise AssertionError("unexpected")


def test_the_worker_answers_a_call_and_silence_is_unavailable() -> None:
    async def run() -> None:
        sup_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server = ControlServer([sup_end], _Handler())
        got: list[CallPush] = []
        client: ControlClient

        def on_call(push: CallPush) -> None:
            got.append(push)
            if push.method == "pay":
                client.result(push.id, True, {"payment_hash": "ab", "state": "approving"})
            # otherwise: no answer

        client = ControlClient(worker_end.detach(), None, lambda _: None, lambda _: None,
                               on_call=on_call)  # fmt: skip
        server.start()
        client.start()
        try:
            ok, body = await server.call(0, 3, 800, "pay", {"bolt11": BOLT11})
            assert ok and body == {"payment_hash": "ab", "state": "approving"}
            assert (got[0].node_index, got[0].height, got[0].body) == (3, 800, {"bolt11": BOLT11})
            with pytest.raises(ServiceError) as e:
                await server.call(0, 3, 800, "close", {"channel_id": "00"}, timeout=0.2)
            assert e.value.code == "unavailable"
            assert got[1].method == "close"
        finally:
            client.close()
            server.close()
            sup_end.close()

    asyncio.run(run())


def test_run_call_answers_every_failure_as_code_and_detail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host: Any = object()  # the handlers below never touch it

    async def refuses(
        h: NodeHost, node: bytes, body: dict[str, Any], height: int
    ) -> dict[str, Any]:
        raise NodeCallError("peer_offline", "no session")

    async def lost(h: NodeHost, node: bytes, body: dict[str, Any], height: int) -> dict[str, Any]:
        raise WakeFailed(node, "lease_lost")

    async def echoes(h: NodeHost, node: bytes, body: dict[str, Any], height: int) -> dict[str, Any]:
        return {"node": node.hex(), "height": height, **body}

    monkeypatch.setattr(node_calls, "CALLS", {"refuses": refuses, "lost": lost, "echo": echoes})

    async def run() -> None:
        node = b"\x02" * 33
        assert await run_call(host, node, "echo", {"a": 1}, 5) == (
            True, {"node": node.hex(), "height": 5, "a": 1},
        )  # fmt: skip
        assert await run_call(host, node, "refuses", {}, 5) == (
            False, {"code": "peer_offline", "detail": "no session"},
        )  # fmt: skip
        assert await run_call(host, node, "lost", {}, 5) == (
            False, {"code": "wake_failed", "detail": "lease_lost"},
        )  # fmt: skip
        ok, err = await run_call(host, node, "nope", {}, 5)
        assert (ok, err["code"]) == (False, "unknown_method")

    asyncio.run(run())


def test_the_pay_call_checks_its_body_before_waking_the_node() -> None:
    host: Any = object()  # touching it would raise: the body is refused first

    async def run() -> None:
        node = b"\x02" * 33
        for body, code in (
            ({}, "bad_request"),
            ({"bolt11": BOLT11}, "bad_request"),
            ({"bolt11": BOLT11, "authorisation": "zz"}, "bad_request"),
            ({"bolt11": BOLT11, "authorisation": "00", "confirmation": 5}, "bad_request"),
            ({"bolt11": BOLT11, "authorisation": "00"}, "no_chain_tip"),
        ):
            ok, err = await run_call(host, node, "pay", body, -1)
            assert (ok, err["code"]) == (False, code), body

    asyncio.run(run())
