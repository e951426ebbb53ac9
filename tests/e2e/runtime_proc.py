"""Test helpers: run `vajra runtime` as a real process and talk to its nodes.

Everything goes through what a user runs (the CLI, real sockets): `RuntimeProc.start`
launches `python -m vajra runtime --dev ...` (or, with `dev=False`, the runtime with its
embedded signer hub) in its own process group, waits for the JSON
`ready` line and `stop` sends SIGTERM (SIGKILL after a bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.crypto.secp256k1 import generate_secret, pubkey_create
from vajra.noise import StaticKey
from vajra.runtime.admin_client import AdminClient, metrics
from vajra.wire import OpenChannel

SEED = bytes(range(32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RuntimeProc:
    store: Path
    port: int
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]
    stderr_path: Path
    stderr_lines: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        store: Path,
        *,
        create: int = 0,
        workers: int = 2,
        port: int | None = None,
        extra: tuple[str, ...] = (),
        seed: bytes = SEED,
        timeout: float = 120.0,
        dev: bool = True,
        env: dict[str, str] | None = None,
    ) -> RuntimeProc:
        """`dev=False`: no --dev (the runtime embeds the signer hub; pass --signer-port
        in `extra`); `env`: the environment (default: ours plus the dev seed)."""
        port = port or free_port()
        err = store.with_suffix(".stderr.log")
        cmd = [
            sys.executable, "-m", "vajra", "runtime", *(["--dev"] if dev else []),
            "--store", str(store),
            "--listen-port", str(port), "--workers", str(workers), "--metrics-port", "0",
            "--create", str(create), *extra,
        ]  # fmt: skip
        env = dict(env or os.environ, VAJRA_DEV_SEED=seed.hex()) if dev else dict(env or os.environ)
        errf = err.open("ab")
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=errf, env=env, start_new_session=True
        )
        errf.close()
        line = _readline(proc, timeout)
        if not line:
            proc.kill()
            raise AssertionError(f"runtime exited before ready: {err.read_text()[-3000:]}")
        ready = json.loads(line)
        assert ready["event"] == "ready", ready
        return cls(store, port, proc, ready, err)

    def admin(self, path: str, body: object | None = None) -> Any:
        """One admin API call (POST when `body` is given); `/metrics` goes to the metrics
        port, the only place it is served."""
        if path == "/metrics":
            return metrics(int(self.ready["metrics_port"]))
        client = AdminClient(self.ready["admin"], timeout=300)
        return client.get(path) if body is None else client.post(path, body)

    def nodes(self, limit: int = 100_000) -> list[dict[str, Any]]:
        """The admin listing: `node_id`, `host`, `port`, `state` (as in the ready line)."""
        return list(self.admin(f"/v1/nodes?limit={limit}")["nodes"])

    def counters(self) -> dict[str, int]:
        return dict(self.admin("/v1/status")["counters"])

    def stop(self) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # Workers are in the same process group; make sure none outlives the test.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def log_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _readline(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    out: list[bytes] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    t = threading.Thread(target=lambda: out.append(stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return out[0] if out else b""


def client_key() -> StaticKey:
    return StaticKey(generate_secret())


def open_channel_msg(temp_id: bytes | None = None) -> OpenChannel:
    pt = pubkey_create(bytes(31) + b"\x07")
    return OpenChannel(
        chain_hash=CHAIN_HASHES["regtest"],
        temporary_channel_id=temp_id or random.randbytes(32),
        funding_satoshis=100_000,
        push_msat=0,
        dust_limit_satoshis=546,
        max_htlc_value_in_flight_msat=10**9,
        channel_reserve_satoshis=1000,
        htlc_minimum_msat=1,
        feerate_per_kw=253,
        to_self_delay=144,
        max_accepted_htlcs=30,
        funding_pubkey=pt,
        revocation_basepoint=pt,
        payment_basepoint=pt,
        delayed_payment_basepoint=pt,
        htlc_basepoint=pt,
        first_per_commitment_point=pt,
        channel_flags=0,
    )


async def wait_closed(host: str, port: int, timeout: float = 5.0) -> bool:
    """Connect and report whether the server closed on us without a byte (within timeout)."""
    r, w = await asyncio.open_connection(host, port)
    try:
        data = await asyncio.wait_for(r.read(100), timeout)
        return data == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        w.close()


def wait_until(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
