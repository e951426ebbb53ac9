"""The one client of the runtime's admin API (CLI, demo, benchmarks, tests).

Blocking, stdlib `http.client` over the admin Unix socket (`admin_http`): each call is
one HTTP/1.1 request with a JSON body and a JSON answer. Found from a store through
`<store>.runtime.json`, which the runtime writes (0600) once it is ready.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path
from typing import Any

from vajra.errors import VajraError


class AdminError(VajraError):
    """The runtime refused a request (`status` >= 400, its `error` code and detail) or
    could not be reached (`status` 0)."""

    def __init__(
        self, status: int, error: str, detail: str = "", body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail or error)
        self.status = status
        self.error = error
        self.detail = detail
        self.body: dict[str, Any] = body if body is not None else {"error": error, "detail": detail}
        """The whole JSON answer (e.g. a signer refusal's `decision`)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        # Through the directory's descriptor: a path longer than sun_path (108 bytes) works.
        dfd = os.open(self.path.parent, os.O_PATH | os.O_DIRECTORY)
        try:
            s.connect(f"/proc/self/fd/{dfd}/{self.path.name}")
        except OSError:
            s.close()
            raise
        finally:
            os.close(dfd)
        self.sock = s


class AdminClient:
    """`get(path)` / `post(path, body)` -> the decoded JSON answer; AdminError otherwise."""

    def __init__(self, socket_path: str | Path, timeout: float = 600.0) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout

    @classmethod
    def for_store(cls, store: str, timeout: float = 600.0) -> AdminClient:
        """The client for the runtime running on `store` (AdminError if none is)."""
        from vajra.runtime.supervisor import runtime_file

        rf = runtime_file(store)
        try:
            info = json.loads(rf.read_text())
            return cls(info["admin"], timeout)
        except FileNotFoundError:
            raise AdminError(0, "not_running", f"no runtime is running on {store} "
                             f"({rf} does not exist)") from None  # fmt: skip
        except PermissionError:
            raise AdminError(0, "forbidden", f"{rf} is not readable by this user") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AdminError(0, "not_running", f"{rf}: {e}") from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: object) -> Any:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: object | None = None) -> Any:
        conn = _UnixConnection(self.socket_path, self.timeout)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except PermissionError:
            raise AdminError(0, "forbidden", f"{self.socket_path}: permission denied "
                             "(the admin socket serves the runtime's own user)") from None  # fmt: skip
        except (OSError, http.client.HTTPException) as e:
            raise AdminError(0, "unreachable", f"cannot reach the runtime at "
                             f"{self.socket_path}: {e}") from None  # fmt: skip
        finally:
            conn.close()
        try:
            out = json.loads(raw)
        except ValueError:
            raise AdminError(
                resp.status, "bad_answer", raw[:200].decode(errors="replace")
            ) from None
        if resp.status >= 400:
            if isinstance(out, dict):
                raise AdminError(
                    resp.status, str(out.get("error")), str(out.get("detail", "")), out
                )
            raise AdminError(resp.status, "error", str(out))
        return out


def metrics(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> str:
    """The Prometheus text from a runtime's `--metrics-port`."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()
