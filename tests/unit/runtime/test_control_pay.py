"""The supervisor -> worker PAY request on the control channel (decision 0023): packets
round-trip, malformed ones are typed errors, and `ControlServer.pay` gets the worker's
answer (or `unavailable` when none comes) over a real `SOCK_SEQPACKET` pair."""

from __future__ import annotations

import asyncio
import socket

import pytest

from vajra.runtime.control import ControlClient, ControlServer
from vajra.runtime.control_proto import (
    ControlDecodeError,
    Done,
    PayPush,
    Request,
    decode_paid,
    encode_paid,
)
from vajra.runtime.node_services import ServiceError

BOLT11 = "lnbcrt10u1" + "q" * 300


def test_pay_packets_round_trip_and_malformed_ones_are_typed_errors() -> None:
    push = PayPush(7, 4_000_000, 812, b"\x01" * 150, b"\x02" * 90, BOLT11)
    assert PayPush.decode(push.encode()) == push
    bare = PayPush(8, 1, 0, b"\x01", None, BOLT11)
    assert PayPush.decode(bare.encode()) == bare
    assert decode_paid(encode_paid(9, True, {"state": "approving"})) == (
        9, True, {"state": "approving"},
    )  # fmt: skip
    packet = push.encode()
    for bad in (packet[:14], packet[:20], packet[: -len(BOLT11)] + b"\xff"):
        with pytest.raises(ControlDecodeError):
            PayPush.decode(bad)
    for bad in (b"\x06" + bytes(9) + b"[]", b"\x06" + bytes(9) + b"{", b"\x06\x00"):
        with pytest.raises(ControlDecodeError):
            decode_paid(bad)
    with pytest.raises(ValueError):
        PayPush(1, 1, 0, b"", None, "x" * 8000).encode()


class _Handler:
    async def request(self, worker: int, req: Request) -> None:
        raise ServiceError("unexpected", "")

    def done(self, worker: int, done: Done) -> None:
        raise AssertionError("unexpected")


def test_the_worker_answers_a_pay_and_silence_is_unavailable() -> None:
    async def run() -> None:
        sup_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server = ControlServer([sup_end], _Handler())
        got: list[PayPush] = []
        client: ControlClient

        def on_pay(push: PayPush) -> None:
            got.append(push)
            if push.bolt11 == BOLT11:
                client.paid(push.id, True, {"payment_hash": "ab", "state": "approving"})
            # otherwise: no answer

        client = ControlClient(worker_end.detach(), None, lambda _: None, lambda _: None,
                               on_pay=on_pay)  # fmt: skip
        server.start()
        client.start()
        try:
            ok, body = await server.pay(0, 3, 800, b"auth", None, BOLT11)
            assert ok and body == {"payment_hash": "ab", "state": "approving"}
            assert got[0].node_index == 3 and got[0].height == 800
            assert got[0].authorisation == b"auth" and got[0].confirmation is None
            with pytest.raises(ServiceError) as e:
                await server.pay(0, 3, 800, b"auth", b"c", "lnbcrt1other", timeout=0.2)
            assert e.value.code == "unavailable"
            assert got[1].confirmation == b"c"
        finally:
            client.close()
            server.close()
            sup_end.close()

    asyncio.run(run())
