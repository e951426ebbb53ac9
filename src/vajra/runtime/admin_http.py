"""A tiny HTTP/1.1 server for the runtime's loopback admin API and Prometheus metrics.

Only what `vajra nodes ...` and a Prometheus scraper need: one request per connection,
`Content-Length` bodies, JSON or text answers. It binds loopback only: whoever can reach
it can create nodes (device-signed admin requests come with the client API).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("vajra.runtime.admin")
MAX_BODY = 1 << 16


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        obj = json.loads(self.body or b"{}")
        if not isinstance(obj, dict):
            raise ValueError("body must be a JSON object")
        return obj


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def of(cls, obj: object, status: int = 200) -> Response:
        return cls(status, json.dumps(obj).encode() + b"\n")


Handler = Callable[[Request], Awaitable[Response]]
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


async def _serve_one(handler: Handler, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
        }
        n = int(headers.get("content-length", "0"))
        if not 0 <= n <= MAX_BODY:
            raise ValueError("body too large")
        body = await asyncio.wait_for(r.readexactly(n), 10) if n else b""
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            resp = await handler(Request(method, url.path, query, body))
        except (ValueError, KeyError) as e:
            resp = Response.of({"error": str(e)}, 400)
        except Exception as e:  # an admin request must never take the runtime down
            log.exception("event=admin_error path=%s", url.path)
            resp = Response.of({"error": type(e).__name__}, 500)
    except (asyncio.IncompleteReadError, ValueError, TimeoutError, ConnectionError):
        w.close()
        return
    reason = _REASONS.get(resp.status, "Error")
    w.write(
        f"HTTP/1.1 {resp.status} {reason}\r\nContent-Type: {resp.content_type}\r\n"
        f"Content-Length: {len(resp.body)}\r\nConnection: close\r\n\r\n".encode()
        + resp.body
    )
    try:
        await w.drain()
    finally:
        w.close()


async def start(handler: Handler, host: str, port: int) -> asyncio.Server:
    """Listen on host:port (0: any free port) and answer with `handler`."""

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _serve_one(handler, r, w)

    return await asyncio.start_server(on_conn, host, port)
