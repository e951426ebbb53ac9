"""Issue 13 item 3: no unauthenticated operator doors.

A real runtime, attacked by another local user (`nobody`, through `setpriv`), by a blind
cross-site POST (text/plain) and through its metrics port; and every file it wrote is
its user's only.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime

pytestmark = pytest.mark.e2e

NOBODY = 65534
# Run as `nobody` with the system Python (the project venv lives under /root, 0700).
_AS_NOBODY = r"""
import http.client, json, socket, sys
info_path, admin, metrics_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
try:
    open(info_path).read()
    out["runtime_json"] = "read"
except PermissionError:
    out["runtime_json"] = "denied"

class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(admin)

def call(conn, method, path):
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status
    except PermissionError:
        return "denied"
    except OSError as e:
        return type(e).__name__

if ":" in admin and not admin.startswith("/"):   # an admin API on TCP
    host, port = admin.rsplit(":", 1)
    out["admin_pairing"] = call(http.client.HTTPConnection(host, int(port)), "POST", "/v1/pairing-code")
else:
    out["admin_pairing"] = call(Unix("localhost"), "POST", "/v1/pairing-code")
out["metrics_status"] = call(http.client.HTTPConnection("127.0.0.1", metrics_port), "GET", "/v1/status")
out["metrics_create"] = call(http.client.HTTPConnection("127.0.0.1", metrics_port), "POST", "/v1/nodes")
out["metrics"] = call(http.client.HTTPConnection("127.0.0.1", metrics_port), "GET", "/metrics")
print(json.dumps(out))
"""


def _as_nobody(*args: str) -> dict[str, object]:
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python is not None
    r = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         python, "-c", _AS_NOBODY, *args],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


@pytest.fixture(scope="module")
def runtime() -> Iterator[VajraProcess]:
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another local user")
    # A directory every user can enter, as /var/lib/vajra would be: only the runtime's
    # own file modes can keep `nobody` out.
    base = Path(tempfile.mkdtemp(prefix="vajra-auth-"))
    base.chmod(0o755)
    rt = start_runtime(base / "store.db", create=3, workers=1)
    try:
        yield rt
    finally:
        rt.stop()
        shutil.rmtree(base, ignore_errors=True)


def _unix_post(path: str, body: bytes, content_type: str) -> tuple[int, dict[str, object]]:
    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(path)

    conn = Unix("localhost", timeout=30)
    conn.request("POST", "/v1/nodes", body=body, headers={"Content-Type": content_type})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def test_another_local_user_gets_nothing(runtime: VajraProcess) -> None:
    info = runtime.store.parent / (runtime.store.name + ".runtime.json")
    out = _as_nobody(str(info), str(runtime.ready["admin"]), str(runtime.ready["metrics_port"]))
    assert out["runtime_json"] == "denied"
    assert out["admin_pairing"] == "denied"  # the kernel refuses connect() on a 0600 socket
    assert out["metrics_status"] == 404 and out["metrics_create"] in (404, 405)
    assert out["metrics"] == 200  # counters only, for Prometheus


def test_peer_credentials_are_checked_even_if_the_socket_is_opened_up(
    runtime: VajraProcess,
) -> None:
    sock = Path(runtime.ready["admin"])
    info = runtime.store.parent / (runtime.store.name + ".runtime.json")
    sock.chmod(0o666)  # an operator's mistake: the server still serves its own user only
    try:
        out = _as_nobody(str(info), str(sock), str(runtime.ready["metrics_port"]))
    finally:
        sock.chmod(0o600)
    assert out["admin_pairing"] == 403


def test_a_text_plain_post_is_refused(runtime: VajraProcess) -> None:
    before = runtime.admin("/v1/status")["nodes"]
    status, body = _unix_post(runtime.ready["admin"], b'{"count": 5}', "text/plain")
    assert status == 415 and body["error"] == "unsupported_media_type"
    assert runtime.admin("/v1/status")["nodes"] == before
    status, body = _unix_post(runtime.ready["admin"], b'{"count": 1}', "application/json")
    assert status == 200 and body["created"] == 1


def test_every_file_the_runtime_wrote_is_private(runtime: VajraProcess) -> None:
    written = [p for p in runtime.store.parent.iterdir() if p.name.startswith("store.db")]
    names = {p.name for p in written}
    assert {"store.db", "store.db.runtime.json", "store.db.admin.sock"} <= names, names
    for p in written:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode & 0o077 == 0, f"{p.name} is {oct(mode)}"
