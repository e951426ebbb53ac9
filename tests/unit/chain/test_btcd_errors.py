"""The btcd source's failure modes on real sockets: refused, silent, garbage, RPC errors,
and a batch; each is a typed chain error, never a bare exception."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from vajra.chain.btcd import BtcdSource
from vajra.chain.types import (
    ChainDataError,
    ChainRpcError,
    ChainTimeout,
    ChainUnavailable,
    TxRejected,
)


def serve(reply: Callable[[bytes], bytes | None]) -> Iterator[int]:
    """A one-thread HTTP server on loopback answering each request with `reply(body)`
    (None: say nothing)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    stop = threading.Event()
    conns: list[socket.socket] = []

    def loop() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except TimeoutError:
                continue
            conns.append(c)
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += c.recv(65536)
            out = reply(body)
            if out is not None:
                c.sendall(out)
                c.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield port
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def http(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
        status, len(body), body,
    )  # fmt: skip


def source(port: int) -> BtcdSource:
    return BtcdSource("127.0.0.1", port, "u", "p", tls=False, timeout=0.5)


def test_refused_is_unavailable() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ChainUnavailable):
        source(port).tip()


def test_a_silent_source_times_out() -> None:
    for port in serve(lambda body: None):
        with pytest.raises(ChainTimeout):
            source(port).tip()


def test_garbage_and_wrong_blocks_are_data_errors() -> None:
    for port in serve(lambda body: http(200, b"<html>")):
        with pytest.raises(ChainDataError):
            source(port).tip()
    for port in serve(lambda body: http(200, json.dumps({"result": "00" * 81}).encode())):
        with pytest.raises(ChainDataError, match="does not hash"):
            source(port).block(b"\x11" * 32)
    for port in serve(lambda body: http(401, b"")):
        with pytest.raises(ChainUnavailable, match="401"):
            source(port).tip()


def test_rpc_errors_are_typed_and_rejections_carry_the_reason() -> None:
    def reply(body: bytes) -> bytes:
        req = json.loads(body)
        if isinstance(req, list):  # a batch: one good, one out of range
            out = [
                {"id": req[0]["id"], "result": "11" * 32, "error": None},
                {"id": req[1]["id"], "result": None,
                 "error": {"code": -1, "message": "Block number out of range"}},
            ]  # fmt: skip
            return http(200, json.dumps(out).encode())
        err = {"code": -26, "message": "TX rejected: min relay fee not met"}
        if req["method"] == "getblockhash":
            err = {"code": -1, "message": "Block number out of range"}
        if req["method"] == "estimatefee":
            return http(
                200, json.dumps({"id": req["id"], "result": 0.0002, "error": None}).encode()
            )
        return http(500, json.dumps({"id": req["id"], "result": None, "error": err}).encode())

    for port in serve(reply):
        src = source(port)
        assert src.block_hash(10**6) is None
        assert src.block_hashes([1, 2]) == [b"\x11" * 32, None]
        assert src.estimate_fee(6) == 20_000  # 0.0002 BTC/kB
        with pytest.raises(TxRejected, match="min relay fee not met"):
            src.broadcast(b"\x00" * 10)
        with pytest.raises(ChainRpcError):
            src.call("getblockchaininfo")


def test_url_parsing() -> None:
    s = BtcdSource.from_url("btcd://al%40ice:p%3Ass@host.example:8334?notls=1")
    assert (s.host, s.port, repr(s)) == ("host.example", 8334, "BtcdSource(host.example:8334)")
    assert "al@ice" not in repr(s) and "p:ss" not in repr(s)
    bad_urls = ("http://u:p@h:1", "btcd://h:1", "btcd://u:p@h", "btcd://u:p@h:1?cert=/no/such")
    for bad in bad_urls:
        with pytest.raises(ValueError):
            BtcdSource.from_url(bad)
