"""An LDK peer: testbed/ldk/harness.mjs (LDK's WASM bindings under Node) over JSON lines.

The harness prints only JSON lines on stdout: replies `{"id":N,"ok":...}` and unsolicited
`{"event":...}`; its logs (LDK's included) go to the log file in its work directory. A
reader thread sorts stdout lines into replies (matched by id) and an event list.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from vajra.testbed import paths as tb_paths
from vajra.testbed.errors import DaemonFailed, TestbedTimeout
from vajra.testbed.procs import ManagedProcess, wait_until


class LdkPeer:
    """One LDK node run by the Node harness (KeysManager + ChannelManager + PeerManager)."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        seed_hex: str | None = None,
        log_level: str = "debug",
        start_timeout: float = 30.0,
    ) -> None:
        tp = tb_paths.installed("ldk")
        node = shutil.which("node")
        if node is None:
            raise DaemonFailed("`node` is not on PATH", name="ldk")
        self.argv = [node, str(tp.ldk_harness), "--ldk-dir", str(tp.ldk_module)]
        self.argv += ["--log-level", log_level]
        if seed_hex is not None:
            self.argv += ["--seed", seed_hex]
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vajra-ldk-"))
        self.start_timeout = start_timeout
        self.proc: ManagedProcess | None = None
        self.events: list[dict[str, Any]] = []
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._node_id: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LdkPeer:
        self.proc = ManagedProcess("ldk", self.argv, workdir=self.workdir, pipe_stdio=True).start()
        self._reader = threading.Thread(target=self._read_loop, name="ldk-stdout", daemon=True)
        self._reader.start()
        ready = wait_until(
            lambda: next((e for e in self.events if e.get("event") == "ready"), None),
            timeout=self.start_timeout,
            what="LDK harness ready",
            interval=0.05,
            proc=self.proc,
        )
        self._node_id = str(ready["node_id"])
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the harness to shut down; the supervisor kills it if it does not."""
        if self.proc is None:
            return
        if self.proc.alive():
            with contextlib.suppress(DaemonFailed, TestbedTimeout, OSError):
                self.request("shutdown", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.popen.wait(timeout)
        self.proc.stop()
        self.proc = None

    def __enter__(self) -> LdkPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read_loop(self) -> None:
        assert self.proc is not None
        stdout = self.proc.popen.stdout
        if stdout is None:
            return
        for line in stdout:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                # The protocol forbids this; keep it visible rather than crash the reader.
                msg = {"event": "garbage", "line": line[:500]}
            if not isinstance(msg, dict):
                continue
            rid = msg.get("id")
            if "event" in msg or rid is None:
                with self._lock:
                    self.events.append(msg)
                continue
            with self._lock:
                q = self._replies.get(int(rid))
            if q is not None:
                q.put(msg)

    # -- protocol --------------------------------------------------------------------------

    def request(self, cmd: str, *, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Send one command; return the reply (raise `DaemonFailed` if it is not ok)."""
        if self.proc is None or not self.proc.alive():
            raise DaemonFailed(f"{cmd}: harness not running", name="ldk", log_tail=self._tail())
        rid = next(self._ids)
        q: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._replies[rid] = q
        stdin = self.proc.popen.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps({"id": rid, "cmd": cmd, **fields}) + "\n")
            stdin.flush()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    reply = q.get(timeout=0.2)
                    break
                except queue.Empty:
                    if not self.proc.alive():
                        raise DaemonFailed(
                            f"{cmd}: harness exited", name="ldk", log_tail=self._tail()
                        ) from None
                    if time.monotonic() > deadline:
                        raise TestbedTimeout(f"ldk {cmd}: no reply in {timeout}s") from None
        finally:
            with self._lock:
                self._replies.pop(rid, None)
        if not reply.get("ok"):
            raise DaemonFailed(f"{cmd}: {reply.get('error')}", name="ldk")
        return reply

    def _tail(self) -> str:
        return self.proc.log_tail() if self.proc is not None else ""

    # -- commands --------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        if self._node_id is None:
            raise DaemonFailed("not started", name="ldk")
        return self._node_id

    def info(self) -> dict[str, Any]:
        return self.request("info")

    def connect(self, host: str, port: int, pubkey: str, timeout: float = 20.0) -> None:
        """Dial as BOLT 8 initiator; returns once `init` was exchanged."""
        self.request(
            "connect",
            host=host,
            port=port,
            pubkey=pubkey,
            timeout_ms=int(timeout * 1000),
            timeout=timeout + 5,
        )

    def listen(self, port: int = 0) -> int:
        """Accept BOLT 8 connections on 127.0.0.1:`port` (0 = any); return the port."""
        return int(self.request("listen", port=port)["port"])

    def list_peers(self) -> list[str]:
        return [str(p["node_id"]) for p in self.request("peers")["peers"]]

    def ping(self, pubkey: str, timeout: float = 10.0) -> float:
        """Make LDK ping its peers; wait for `pubkey`'s pong; return the round trip (ms)."""
        reply = self.request(
            "ping", pubkey=pubkey, timeout_ms=int(timeout * 1000), timeout=timeout + 5
        )
        return float(reply["rtt_ms"])

    def events_named(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == name]
