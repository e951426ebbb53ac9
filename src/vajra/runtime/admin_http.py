"""The runtime's admin API and metrics endpoint, served by aiohttp (decision 0013).

Two listeners, never the same one:

- the **admin API** on a Unix socket (`<store>.admin.sock`, mode 0600, created under a
  0177 umask so no other user ever sees it writable). The kernel refuses `connect` to
  anyone without write permission on the file; the server also reads the peer's
  credentials (`SO_PEERCRED`) and answers 403 to any uid but its own and root. A web page
  cannot reach a Unix socket, and a request with a body must say
  `Content-Type: application/json` (415 otherwise), so a blind cross-site POST has no
  way in either;
- **`/metrics`** alone (Prometheus text) on TCP `127.0.0.1:--metrics-port`: counters
  only, nothing that changes state or names a secret; every other path is 404 there.

Routes are added by the owner of each feature with `AdminRoutes.get/post` (see
`runtime/admin_routes.py`); a handler takes the aiohttp request and returns a JSON-able
object, raising `AdminProblem` (or `ValueError`/`KeyError`: 400) for a refusal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger("vajra.runtime.admin")
MAX_BODY = 1 << 16
JSON = "application/json"

JsonHandler = Callable[[web.Request], Awaitable[object]]


class AdminProblem(Exception):
    """A refused admin request: HTTP `status`, a stable `error` code and a detail."""

    def __init__(self, status: int, error: str, detail: str = "", **extra: object) -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = extra
        """More fields of the answer (e.g. a signer refusal's `decision`): public data only."""


def json_response(obj: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(obj).encode() + b"\n", content_type=JSON)


def _problem(status: int, error: str, detail: str = "", **extra: object) -> web.Response:
    body: dict[str, object] = {"error": error}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return json_response(body, status)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 if it is not one)."""
    try:
        obj = json.loads(await request.read() or b"{}")
    except ValueError:
        raise AdminProblem(400, "bad_json", "the body is not JSON") from None
    if not isinstance(obj, dict):
        raise AdminProblem(400, "bad_json", "the body must be a JSON object")
    return obj


def peer_uid(request: web.Request) -> int | None:
    """The uid of the process at the other end of a Unix socket (None: not one)."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    ))  # fmt: skip
    return int(uid)


@web.middleware
async def _guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:  # fmt: skip
    uid = peer_uid(request)
    if uid is None or uid not in (os.getuid(), 0):
        log.warning("event=admin_refused why=peer_uid uid=%s path=%s", uid, request.path)
        return _problem(403, "forbidden", "the admin API serves its own user only")
    has_body = request.can_read_body or request.method in ("POST", "PUT", "PATCH", "DELETE")
    if has_body and request.content_type != JSON:
        return _problem(415, "unsupported_media_type", f"send Content-Type: {JSON}")
    try:
        return await handler(request)
    except web.HTTPException as e:
        return _problem(e.status, e.reason.lower().replace(" ", "_"))
    except AdminProblem as p:
        return _problem(p.status, p.error, p.detail, **p.extra)
    except (ValueError, KeyError) as e:
        return _problem(400, "bad_request", str(e))
    except Exception as e:  # an admin request must never take the runtime down
        log.exception("event=admin_error path=%s", request.path)
        return _problem(500, "internal", type(e).__name__)


class AdminRoutes:
    """The admin API's route table: one line per endpoint."""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY)

    def _add(self, method: str, path: str, fn: JsonHandler) -> None:
        async def route(request: web.Request) -> web.StreamResponse:
            return json_response(await fn(request))

        self.app.router.add_route(method, path, route)

    def get(self, path: str, fn: JsonHandler) -> None:
        self._add("GET", path, fn)

    def post(self, path: str, fn: JsonHandler) -> None:
        self._add("POST", path, fn)


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at `path`, mode 0600 from the start (a 0177 umask around
    bind), bound through `/proc/self/fd/N/` so a store path longer than sun_path's 108
    bytes still works."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    old = os.umask(0o177)
    try:
        sock.bind(f"/proc/self/fd/{dfd}/{path.name}")
    finally:
        os.umask(old)
        os.close(dfd)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Listeners:
    """The running admin socket and metrics port."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self.admin_path: Path | None = None
        self.metrics_port: int | None = None

    async def start_admin(self, routes: AdminRoutes, path: Path) -> None:
        runner = web.AppRunner(routes.app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        await web.SockSite(runner, bind_unix(path)).start()
        self.admin_path = path

    async def start_metrics(self, text: Callable[[], str], port: int) -> None:
        async def metrics(_: web.Request) -> web.StreamResponse:
            return web.Response(
                body=text().encode(), headers={"Content-Type": "text/plain; version=0.0.4"}
            )

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.setblocking(False)
        await web.SockSite(runner, sock).start()
        self.metrics_port = int(sock.getsockname()[1])

    async def close(self) -> None:
        for r in self._runners:
            await r.cleanup()
        self._runners.clear()
        if self.admin_path is not None:
            with contextlib.suppress(OSError):
                self.admin_path.unlink()
