"""The runtime with a live signer, through the commands a user runs (real processes).

`vajra signer init`; `vajra runtime` without --dev (it embeds the signer hub);
`vajra runtime pairing-code`; `vajra signer pair`; `vajra signer run`; `vajra nodes
create --count 200 --signer 1`. A random node answers init + ping; `open_channel` wakes it
with a state key the signer released (its audit log shows the decision), it answers
`error` and sleeps. Signer stopped: a wake fails cleanly (typed error logged, the peer
gets a BOLT 1 warning), the runtime keeps serving pings; signer back: wakes work again.
Runtime killed with -9 and restarted: its nodes are unreachable until the signer
reconnects, then reachable. Last, nothing the runtime wrote holds a secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peer_loop import dial  # type: ignore[import-not-found]

from tests.e2e.runtime_proc import (
    VajraProcess,
    client_key,
    free_port,
    open_channel_msg,
    start_runtime,
    wait_closed,
    wait_until,
)
from vajra.crypto.hashes import sha256
from vajra.peer import ErrorReceived, InitReceived, PongReceived, WarningReceived
from vajra.runtime.signer_hub import admin_call
from vajra.signer.keys import SignerKeys
from vajra.signer.seed import mnemonic_to_seed

pytestmark = pytest.mark.e2e
N_NODES = 200
PASSWORD = "correct horse battery staple"


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.rt_dir = tmp / "rt"
        self.rt_dir.mkdir()
        self.store = self.rt_dir / "store.db"
        self.signer_dir = tmp / "signer"
        self.logs = tmp / "signer-logs"
        self.logs.mkdir()
        self.env = {
            **os.environ,
            "VAJRA_SIGNER_PASSWORD": PASSWORD,
            "VAJRA_SIGNER_DIR": str(self.signer_dir),
        }
        self.port = free_port()
        self.signer_port = free_port()
        self.runtime: VajraProcess | None = None
        self.signer: VajraProcess | None = None

    def json(self, *args: str) -> Any:
        p = subprocess.run(
            [sys.executable, "-m", "vajra", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def start_runtime(self) -> VajraProcess:
        extra = ("--signer-port", str(self.signer_port), "--signer-host", "127.0.0.1",
                 "--idle-timeout", "1")  # fmt: skip
        # The runtime's environment holds no signer secret (only the signer's has one).
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAJRA_SIGNER")}
        self.runtime = start_runtime(self.store, port=self.port, dev=False, env=env, extra=extra)
        return self.runtime

    def start_signer(self) -> None:
        self.signer = VajraProcess.start(
            ["signer", "run", "--max-backoff", "0.5"], log=self.logs / "signer.stderr",
            env=self.env, ready_event="running", name="signer",
        )  # fmt: skip

    def stop_signer(self) -> None:
        assert self.signer is not None
        self.signer.stop()
        self.signer = None

    def signer_state(self) -> dict[str, Any]:
        assert self.runtime is not None
        signers = self.runtime.admin("/v1/signers")["signers"]
        assert len(signers) == 1
        return dict(signers[0])

    def close(self) -> None:
        if self.signer is not None:
            self.signer.kill9()
        if self.runtime is not None:
            self.runtime.stop()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


async def _ping(node: dict[str, Any], port: int) -> None:
    d = await dial(client_key(), bytes.fromhex(node["node_id"]), node["host"], port)
    await d.wait_for(InitReceived)
    d.ping(8)
    assert (await d.wait_for(PongReceived)).byteslen == 8
    await d.close()


async def _open_channel(node: dict[str, Any], port: int) -> Any:
    """Send open_channel; the first error, warning or close the node answers with."""
    d = await dial(client_key(), bytes.fromhex(node["node_id"]), node["host"], port)
    await d.wait_for(InitReceived)
    d.conn.send(open_channel_msg(bytes(range(32))), 0.0)
    d._flush()
    for _ in range(200):
        for ev in d.events:
            if isinstance(ev, ErrorReceived | WarningReceived):
                await d.close()
                return ev
        if d.conn.closed:
            return "closed"
        await asyncio.sleep(0.05)
    raise AssertionError(f"no answer to open_channel: {d.events}")


def test_runtime_with_live_signer(env: Env) -> None:
    # --- signer, runtime, pairing, nodes ---------------------------------------------------
    init = env.json("signer", "init", "--json")
    assert env.json("signer", "quota", "--nodes", str(N_NODES)) == {"node_quota": N_NODES}
    rt = env.start_runtime()
    assert rt.ready["signer_port"] == env.signer_port
    # The link key is in clear (no VAJRA_RUNTIME_KEY_PASSWORD): said at every start.
    assert rt.ready["link_key_sealed"] is False
    assert "WARNING: the runtime's link key is stored in clear" in rt.log_text()
    assert rt.ready["node_count"] == 0
    code = env.json("runtime", "pairing-code", "--store", str(env.store), "--json")
    assert code["runtime_pubkey"] == rt.ready["runtime_pubkey"]
    runtime_addr = f"127.0.0.1:{env.signer_port}"
    paired = env.json("signer", "pair", "--runtime", runtime_addr, "--code", code["code"], "--json")
    assert paired["signer_id"] == 1
    env.start_signer()
    wait_until(lambda: env.signer_state()["loaded"], timeout=30, what="signer connected")
    created = env.json(
        "nodes", "--store", str(env.store), "create", "--count", str(N_NODES), "--signer", "1"
    )
    assert created["created"] == N_NODES
    nodes = rt.nodes()
    assert len(nodes) == N_NODES and {n["state"] for n in nodes} == {"sleeping"}
    # The embedded hub's admin socket (devices submit through it) answers; it does not
    # create nodes behind the registry's back.
    hub_dir = Path(str(env.store) + ".hub")
    rtt_ms = admin_call(hub_dir, {"op": "ping", "signer_id": 1})["rtt_ms"]
    assert 0 < rtt_ms < 30_000, rtt_ms  # a PING answered by the signer over the link
    assert admin_call(hub_dir, {"op": "create_nodes", "count": 1})["error"] == "bad_request"

    # --- a random node: init + pong; open_channel wakes it with the signer's state key -----
    node, other, third = random.sample(nodes, 3)
    asyncio.run(_ping(node, rt.port))
    ev = asyncio.run(_open_channel(node, rt.port))
    assert isinstance(ev, ErrorReceived) and ev.channel_id == bytes(range(32))
    wait_until(
        lambda: rt.admin(f"/v1/nodes/{node['node_id']}")["state"] == "sleeping",
        timeout=30,
        what="sleep",
    )
    assert rt.counters()["wakes"] == 1

    # --- signer stopped: a wake fails cleanly; sleeping nodes still answer -----------------
    env.stop_signer()
    audit = env.json("signer", "audit", "--json")
    assert audit["verified"] is True
    subject = sha256(bytes.fromhex(node["node_id"]) + sha256(b"")).hex()
    released = [
        e for e in audit["entries"] if e["kind"] == "state_key" and e["subject_sha256"] == subject
    ]
    assert released and released[-1]["outcome"] == "approve"
    wait_until(lambda: not env.signer_state()["connected"], timeout=30, what="signer disconnected")
    ev = asyncio.run(_open_channel(other, rt.port))
    assert ev == "closed" or isinstance(ev, WarningReceived), ev
    wait_until(
        lambda: "error_type=SignerUnavailable" in rt.log_text(),
        timeout=30,
        what="typed error logged",
    )
    assert rt.proc.poll() is None
    wait_until(lambda: rt.counters()["wake_failures"] >= 1, timeout=30, what="wake failure counted")
    asyncio.run(_ping(third, rt.port))
    asyncio.run(_ping(node, rt.port))

    # --- signer back: wakes work again -------------------------------------------------------
    env.start_signer()
    wait_until(lambda: env.signer_state()["connected"], timeout=30, what="signer reconnected")
    ev = asyncio.run(_open_channel(other, rt.port))
    assert isinstance(ev, ErrorReceived), ev

    # --- kill -9 the runtime; restarted, nodes wait for their signer ------------------------
    rt.kill9()
    env.stop_signer()
    rt = env.start_runtime()
    assert rt.ready["node_count"] == 0  # registered, not loaded: no signer yet
    assert {n["state"] for n in rt.nodes()} == {"registered"}

    async def unreachable() -> None:
        for n in (node, other, third):
            assert await wait_closed(n["host"], rt.port)

    asyncio.run(unreachable())
    env.start_signer()
    wait_until(lambda: env.signer_state()["loaded"], timeout=30, what="signer's nodes loaded")
    assert rt.admin("/v1/status")["nodes"] == N_NODES
    asyncio.run(_ping(third, rt.port))
    ev = asyncio.run(_open_channel(node, rt.port))  # its lease: re-taken by the same id
    assert isinstance(ev, ErrorReceived), ev
    env.stop_signer()
    rt.stop()

    # --- secrets: nothing the runtime wrote holds one ---------------------------------------
    seed = mnemonic_to_seed(init["mnemonic"])
    keys = SignerKeys(seed)
    secrets = {"seed": seed, "link_key": keys.link_key().secret,
               "pairing_code": code["code"].encode()}  # fmt: skip
    for i in range(N_NODES):
        nk = keys.node(i)
        secrets[f"identity{i}"] = nk.identity.secret
        secrets[f"state_key{i}"] = nk.state_key()
    written = [p for p in env.rt_dir.rglob("*") if p.is_file()]
    assert any(p.name == "signers.json" for p in written)
    assert any(p.name.endswith(".stderr.log") for p in written)
    for path in written:
        blob = path.read_bytes()
        for what, s in secrets.items():
            for form in (s, s.hex().encode(), s.hex().upper().encode()):
                assert form not in blob, f"{what} found in {path}"
