"""`vajra nodes ...`, metrics and the single-node dev mode, driven as a user would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from peer_loop import dial  # type: ignore[import-not-found]

from tests.e2e.runtime_proc import VajraProcess, client_key, free_port, start_runtime, wait_until
from vajra.crypto.secp256k1 import pubkey_create
from vajra.peer import InitReceived, PongReceived

pytestmark = pytest.mark.e2e


def _vajra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vajra", *args], capture_output=True, text=True, timeout=120
    )


def test_nodes_create_list_show_and_metrics(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    rt = start_runtime(store)
    try:
        r = _vajra("nodes", "--store", str(store), "create", "--count", "250", "--batch", "100")
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["created"] == 250 and summary["total"] == 250
        r = _vajra("nodes", "--store", str(store), "list", "--json")
        nodes = json.loads(r.stdout)
        assert len(nodes) == 250
        assert set(nodes[0]) == {"node_id", "host", "port", "state"}
        assert {n["state"] for n in nodes} == {"sleeping"}
        one = nodes[17]
        r = _vajra("nodes", "--store", str(store), "show", one["node_id"])
        assert json.loads(r.stdout) == one

        # A freshly created node answers at once (no restart).
        async def ping() -> None:
            d = await dial(client_key(), bytes.fromhex(one["node_id"]), one["host"], rt.port)
            await d.wait_for(InitReceived)
            d.ping(2)
            await d.wait_for(PongReceived)
            await d.close()

        asyncio.run(ping())
        wait_until(
            lambda: "vajra_pongs_total 1" in rt.admin("/metrics"), timeout=30, what="pong metric"
        )
        m = rt.admin("/metrics")
        assert 'vajra_nodes{state="sleeping"} 250' in m
        assert "vajra_handshakes_total 1" in m
        r = _vajra("nodes", "--store", str(store), "show", "02" + "00" * 32)
        assert r.returncode != 0
    finally:
        rt.stop()
    r = _vajra("nodes", "--store", str(store), "list")
    assert r.returncode != 0 and "no runtime" in r.stderr


def test_dev_node_secret_hosts_exactly_that_node(tmp_path: Path) -> None:
    secret = bytes(31) + b"\x01"  # lnprototest's node key, given as "01"
    port = free_port()
    args = [
        "runtime", "--store", str(tmp_path / "s.db"), "--listen-port", str(port),
        "--workers", "1", "--dev-node-secret", "01",
    ]  # fmt: skip
    for _ in range(2):  # a restart on the same store hosts the same single node
        proc = VajraProcess.start(args, log=tmp_path / "runtime.log")
        try:
            (node,) = proc.ready["nodes"]
            assert node["node_id"] == pubkey_create(secret).hex()
            assert node["port"] == port

            async def main(host: str = node["host"]) -> None:
                d = await dial(client_key(), pubkey_create(secret), host, port)
                await d.wait_for(InitReceived)
                await d.close()

            asyncio.run(main())
        finally:
            rc = proc.stop()
        assert rc == 0
