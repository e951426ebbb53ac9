"""The runtime under abuse: killed workers, a killed runtime, hostile peers, secret hygiene."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from pathlib import Path

import pytest
from peer_loop import dial  # type: ignore[import-not-found]

from tests.e2e.runtime_proc import (
    SEED,
    RuntimeProc,
    client_key,
    open_channel_msg,
    wait_until,
)
from tests.e2e.state_reader import read_state
from vajra.noise import StaticKey
from vajra.peer import ErrorReceived, InitReceived, PongReceived
from vajra.runtime.local_signer import LocalSigner

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def _init_and_pong(n: dict[str, str], port: int, timeout: float = 10.0) -> None:
    d = await dial(client_key(), bytes.fromhex(n["node_id"]), n["host"], port)
    await d.wait_for(InitReceived, timeout)
    d.ping(4)
    await d.wait_for(PongReceived, timeout)
    await d.close()


async def _try(n: dict[str, str], port: int) -> bool:
    try:
        await asyncio.wait_for(_init_and_pong(n, port, 5), 6)
        return True
    except (AssertionError, OSError, TimeoutError):
        return False


def test_kill9_worker_under_load_is_restarted(tmp_path: Path) -> None:
    rt = RuntimeProc.start(tmp_path / "s.db", create=1000)
    try:
        nodes = rt.nodes()
        victim = rt.ready["worker_pids"][0]
        stop = False
        results: list[bool] = []

        async def load() -> None:
            while not stop:
                batch = random.sample(nodes, 20)
                results.extend(await asyncio.gather(*(_try(n, rt.port) for n in batch)))

        async def main() -> None:
            nonlocal stop
            task = asyncio.create_task(load())
            await asyncio.sleep(1.0)
            os.kill(victim, signal.SIGKILL)
            await asyncio.sleep(3.0)
            stop = True
            await task

        asyncio.run(main())
        assert results.count(True) > 0
        wait_until(lambda: rt.admin("/v1/status")["restarts"] >= 1, 15, "worker restart")
        pids = rt.admin("/v1/status")["workers"]
        assert victim not in pids and all(pids)
        # Every node reachable again: a sample of 100, all must answer.
        sample = random.sample(nodes, 100)

        async def check() -> list[bool]:
            return list(await asyncio.gather(*(_try(n, rt.port) for n in sample)))

        assert all(asyncio.run(check()))
        assert "event=worker_died" in rt.log_text()
    finally:
        rt.stop()


def test_kill9_whole_runtime_then_restart(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    rt = RuntimeProc.start(store, create=500, extra=("--idle-timeout", "30"))
    nodes = rt.nodes()
    woken = random.choice(nodes)
    me = client_key()

    async def wake() -> None:
        d = await dial(me, bytes.fromhex(woken["node_id"]), woken["host"], rt.port)
        await d.wait_for(InitReceived)
        d.conn.send(open_channel_msg(), 0.0)
        d._flush()
        await d.wait_for(ErrorReceived)
        await d.close()

    asyncio.run(wake())  # the node is awake, its lease held, when we kill everything
    rt.kill9()
    rt2 = RuntimeProc.start(store, port=rt.port)
    try:
        assert rt2.ready["node_count"] == 500
        sample = [woken, *random.sample(nodes, 30)]

        async def check() -> list[bool]:
            return list(await asyncio.gather(*(_try(n, rt2.port) for n in sample)))

        assert all(asyncio.run(check()))
        # Same runtime id (host:port) -> the restarted worker re-takes the lease at once,
        # and the state written before the kill is there (no rollback, no corruption).
        asyncio.run(wake())
        rt2.stop()
        st = read_state(store, bytes.fromhex(woken["node_id"]))
        assert st.channel_requests == 2 and me.pubkey.hex() in st.peers
    finally:
        rt2.stop()


async def _ended(task: asyncio.Task[None]) -> None:
    """The runtime ended the connection (closed or reset) within 10 s."""
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(task, 10)


def test_hostile_peers_are_cut_off_others_keep_answering(tmp_path: Path) -> None:
    rt = RuntimeProc.start(
        tmp_path / "s.db", create=300, extra=("--handshake-timeout", "2", "--max-per-node", "50")
    )
    try:
        nodes = rt.nodes()
        target = nodes[0]
        host, port = target["host"], rt.port

        async def main() -> None:
            # 1. garbage bytes instead of act one: closed at once.
            r, w = await asyncio.open_connection(host, port)
            w.write(os.urandom(200))
            assert await asyncio.wait_for(r.read(100), 5) == b""
            w.close()
            # 2. half-finished handshakes held open: cut at the deadline.
            held = []
            for _ in range(20):
                r, w = await asyncio.open_connection(host, port)
                w.write(b"\x00" + os.urandom(20))  # part of act one, then silence
                held.append((r, w))
            # 3. many connections to one node: beyond the per-node limit, refused.
            extra = [await asyncio.open_connection(host, port) for _ in range(120)]
            closed = 0
            for r, _ in extra:
                try:
                    if await asyncio.wait_for(r.read(1), 0.5) == b"":
                        closed += 1
                except TimeoutError:
                    pass
                except ConnectionError:
                    closed += 1
            assert closed >= 120 - 2 * 50  # per worker limit, 2 workers
            # 4. a ping flood on an established session: cut off.
            d = await dial(client_key(), bytes.fromhex(nodes[1]["node_id"]), nodes[1]["host"], port)
            await d.wait_for(InitReceived)
            for _ in range(2000):
                d.conn.ping(time.monotonic(), 1)
            d._flush()
            await _ended(d.task)
            assert d.task.done()
            # 5. an oversize / forged frame after the handshake: cut off.
            d2 = await dial(
                client_key(), bytes.fromhex(nodes[2]["node_id"]), nodes[2]["host"], port
            )
            await d2.wait_for(InitReceived)
            d2.writer.write(os.urandom(70000))
            await _ended(d2.task)
            # Meanwhile other nodes keep answering.
            others = random.sample(nodes[3:], 30)
            ok = await asyncio.gather(*(_try(n, port) for n in others))
            assert all(ok)
            # The half-open handshakes die at the 2 s deadline (those beyond the
            # per-source limit of 8 per node per worker were refused at once: a reset).
            await asyncio.sleep(3.5)
            for r, _ in held:
                try:
                    data = await asyncio.wait_for(r.read(100), 5)
                except ConnectionResetError:
                    data = b""
                assert data == b""
            for _, w in held + extra:
                w.close()

        asyncio.run(main())
        wait_until(lambda: rt.counters()["limit_cutoffs"] >= 20, 5, "cutoff counter")
        assert rt.counters()["handshake_failures"] >= 1
    finally:
        rt.stop()


def test_store_and_logs_hold_no_secrets(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    rt = RuntimeProc.start(store, create=200, extra=("--idle-timeout", "1"))
    try:
        nodes = rt.nodes()
        woken = random.sample(nodes, 10)

        async def wake(n: dict[str, str]) -> None:
            d = await dial(client_key(), bytes.fromhex(n["node_id"]), n["host"], rt.port)
            await d.wait_for(InitReceived)
            d.conn.send(open_channel_msg(), 0.0)
            d._flush()
            await d.wait_for(ErrorReceived)
            await d.close()

        async def main() -> None:
            await asyncio.gather(*(wake(n) for n in woken))

        asyncio.run(main())
        wait_until(lambda: rt.counters()["sleeps"] >= 10, 15, "nodes to sleep")
    finally:
        rt.stop()
    # Every secret we know of: identity secrets and state keys of all nodes, the seed.
    signer = LocalSigner.open(SEED)
    grants = asyncio.run(signer.create_nodes(len(nodes)))
    assert {g.node_id.hex() for g in grants} == {n["node_id"] for n in nodes}
    secrets = [SEED]
    for g in grants:
        secrets.append(g.identity_secret)
        secrets.append(asyncio.run(signer.state_key(g.node_id, 1)))  # any epoch: same key
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.name.endswith(".stderr.log") for p in files)
    assert any(p.name.endswith(".db-wal") or p.name == "s.db" for p in files)
    for p in files:
        data = p.read_bytes()
        text = data.decode("latin-1").lower()
        for s in secrets:
            assert s not in data, f"secret bytes in {p.name}"
            assert s.hex() not in text, f"secret hex in {p.name}"
    assert StaticKey  # (imported for type of client keys)
