"""The admin API's server (aiohttp on a Unix socket) and its one client, in process:
routes, JSON-only bodies, refusals as {error, detail} with a status, the metrics
listener serving /metrics alone, socket mode 0600."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from vajra.runtime.admin_client import AdminClient, AdminError, metrics
from vajra.runtime.admin_http import AdminProblem, AdminRoutes, Listeners, read_json


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A route table with an echo, a refusal and a crash; (socket path, metrics port)."""
    # A long directory name: the socket path passes sun_path's 108 bytes.
    d = tmp_path / ("x" * 90)
    d.mkdir()
    path = d / "admin.sock"
    ready = threading.Event()
    box: dict[str, object] = {}

    async def echo(request: web.Request) -> object:
        return {"got": await read_json(request)}

    async def refuse(_: web.Request) -> object:
        raise AdminProblem(429, "too_many", "slow down")

    async def crash(_: web.Request) -> object:
        raise RuntimeError("boom")

    async def main() -> None:
        routes = AdminRoutes()
        routes.post("/v1/echo", echo)
        routes.get("/v1/refuse", refuse)
        routes.get("/v1/crash", crash)
        lst = Listeners()
        await lst.start_admin(routes, path)
        await lst.start_metrics(lambda: "vajra_up 1\n", 0)
        box["port"] = lst.metrics_port
        stop = asyncio.Event()
        box["stop"] = (asyncio.get_running_loop(), stop)
        ready.set()
        await stop.wait()
        await lst.close()

    t = threading.Thread(target=asyncio.run, args=(main(),))
    t.start()
    assert ready.wait(10)
    try:
        yield path, int(box["port"])  # type: ignore[call-overload]
    finally:
        loop, stop = box["stop"]  # type: ignore[misc]
        loop.call_soon_threadsafe(stop.set)
        t.join(10)
    assert not path.exists()


def _raw(path: Path, method: str, target: str, body: bytes, ctype: str) -> int:
    conn = http.client.HTTPConnection("localhost", timeout=10)
    sock = socket.socket(socket.AF_UNIX)
    dfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{dfd}/{path.name}")
    finally:
        os.close(dfd)
    conn.sock = sock
    conn.request(method, target, body=body, headers={"Content-Type": ctype})
    return conn.getresponse().status


def test_routes_json_and_refusals(served: tuple[Path, int]) -> None:
    path, port = served
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    c = AdminClient(path, timeout=10)
    assert c.post("/v1/echo", {"a": 1}) == {"got": {"a": 1}}
    for target, status, error in (("/v1/refuse", 429, "too_many"), ("/v1/crash", 500, "internal"),
                                  ("/v1/none", 404, "not_found")):  # fmt: skip
        with pytest.raises(AdminError) as e:
            c.get(target)
        assert (e.value.status, e.value.error) == (status, error), e.value
    with pytest.raises(AdminError) as e:
        c.post("/v1/echo", [1])
    assert e.value.status == 400
    assert _raw(path, "POST", "/v1/echo", b'{"a": 1}', "text/plain") == 415
    assert _raw(path, "POST", "/v1/echo", b"a=1", "application/x-www-form-urlencoded") == 415
    assert "vajra_up 1" in metrics(port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/v1/echo", body=b"{}", headers={"Content-Type": "application/json"})
    assert conn.getresponse().status in (404, 405)
