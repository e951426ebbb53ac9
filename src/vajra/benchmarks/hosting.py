"""`vajra bench hosting`: one runtime hosting N nodes, measured from a client process.

The runtime runs as its own process tree (`vajra runtime --dev`, supervisor + workers);
this process is the client: it creates the nodes through the admin API and dials them
with our BOLT 8 initiator over loopback, each node at its own address.

- pss_bytes_per_node: proportional set size (PSS: shared pages split between the
  processes mapping them, so the shared key table is counted once) of every runtime
  process, divided by N; `pss_marginal_bytes_per_node` subtracts the runtime's footprint
  before any node existed. rss_bytes_per_node: the same with RSS (shared pages counted
  in every process mapping them). (Until 2026-11-30 the PSS figure was published as
  `rss_bytes_per_node`.)
- connect_init_ms_p50/p99: TCP connect + BOLT 8 + both `init`s, random sleeping nodes,
  one at a time.
- handshakes_per_s_per_core: handshakes completed / runtime CPU seconds spent (all
  runtime processes), with `handshake_concurrency` clients dialling at once.
- pongs_per_s: pongs received per wall second over `pong_connections` sessions to
  distinct sleeping nodes, each keeping `ping_depth` pings in flight (sent together,
  then waiting for all their pongs) and pacing itself to `PING_RATE` pings/s, below the
  runtime's per-connection flood limit (so at most 56,000 pongs/s over 1,000 sessions);
  pong_cpu_us: runtime CPU microseconds per pong in that phase.
- session_pss_bytes: PSS growth of the runtime per idle established session, as the
  slope between N and 2N live sessions (N = `pong_connections` / 2, each set idle and
  compacted before it is measured), from a runtime that never had a session before:
  the first N pay the allocator's one-time growth, the next N what a session costs.
  `session_pss_bytes_first_n`: the first N's growth per session, for comparison. (Was
  `session_rss_bytes`, measured against a baseline taken after opening and closing as
  many sessions, whose retained pages hid part of the cost.)
- wake_ms_p50/p99: `open_channel` sent on an established session -> BOLT 1 `error`
  received: lease, state key from the signer (in-process, dev), sealed state read,
  node, sealed write with fsync.

The client shares the machine's cores with the runtime; wall-clock rates are therefore
bounded by both, while the per-core and per-pong figures use runtime CPU time only.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from vajra.benchmarks.results import percentile
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.crypto.secp256k1 import generate_secret, pubkey_create
from vajra.noise import StaticKey
from vajra.peer import (
    ConnectionClosed,
    ErrorReceived,
    InitReceived,
    PeerConnection,
    PongReceived,
    SessionConfig,
)
from vajra.testbed.vajra_process import VajraProcess
from vajra.wire import OpenChannel

TARGETS = {
    "pss_bytes_per_node": ("<=", 1024),
    "connect_init_ms_p99": ("<=", 5.0),
    "handshakes_per_s_per_core": (">=", 3500),
    "pongs_per_s": (">=", 30_000),
    "pong_cpu_us": ("<=", 40.0),
    "session_pss_bytes": ("<=", 4096),
    "wake_ms_p99": ("<=", 20.0),
}
_TICK = os.sysconf("SC_CLK_TCK")


class _Client(asyncio.Protocol):
    """One initiator connection, driven like the runtime drives its responders."""

    def __init__(self, conn: PeerConnection) -> None:
        loop = asyncio.get_running_loop()
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = loop.create_future()
        self.waiter: asyncio.Future[None] | None = None
        self.pending = 0  # answers still awaited by `request`
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._flush()

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        conn.receive_data(data, time.monotonic())
        while (ev := conn.next_event()) is not None:
            if isinstance(ev, InitReceived):
                if not self.ready.done():
                    self.ready.set_result(None)
            elif isinstance(ev, PongReceived | ErrorReceived):
                self.pending -= 1
                w = self.waiter
                if self.pending <= 0 and w is not None and not w.done():
                    w.set_result(None)
            elif isinstance(ev, ConnectionClosed):
                self._fail(ConnectionError(f"closed: {ev.reason} {ev.error}"))
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("connection lost"))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        for f in (self.ready, self.waiter):
            if f is not None and not f.done():
                f.set_exception(exc)

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    async def request(self, send: Any, answers: int = 1) -> None:
        """Send (pings or a message) and wait for `answers` answers (pongs or an error)."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.pending = answers
        send()
        self._flush()
        await self.waiter


async def _dial(key: StaticKey, node: dict[str, Any], port: int) -> _Client:
    loop = asyncio.get_running_loop()
    conn = PeerConnection.initiator(
        key, bytes.fromhex(node["node_id"]), SessionConfig(), time.monotonic()
    )
    _, proto = await loop.create_connection(lambda: _Client(conn), node["host"], port)
    await asyncio.wait_for(proto.ready, 10)
    return proto


# --- the runtime under test --------------------------------------------------------------


class _Runtime:
    """`vajra runtime --dev` under test (a `VajraProcess`) and what the benchmark reads
    of it: admin calls, its processes' memory and CPU time."""

    def __init__(self, workdir: Path, workers: int) -> None:
        self.workdir = workdir
        self.proc = VajraProcess.runtime(
            workdir / "store.db", workers=workers, dev_seed=os.urandom(32),
            extra=("--idle-timeout", "2", "--log-level", "WARNING"),
            log=workdir / "runtime.log",
        )  # fmt: skip
        self.port = self.proc.port

    def call(self, path: str, body: object | None = None) -> Any:
        return self.proc.admin(path, body, timeout=3600)

    def pids(self) -> list[int]:
        return [self.proc.pid, *[p for p in self.call("/v1/status")["workers"] if p]]

    def memory(self) -> tuple[int, int]:
        """(PSS, RSS) bytes summed over the runtime's processes."""
        pss = rss = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
        return pss, rss

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / _TICK

    def stop(self) -> None:
        self.proc.stop(30)


def _open_channel() -> OpenChannel:
    pt = pubkey_create(bytes(31) + b"\x07")
    return OpenChannel(
        CHAIN_HASHES["regtest"], os.urandom(32), 100_000, 0, 546, 10**9, 1000, 1, 253, 144,
        30, pt, pt, pt, pt, pt, pt, 0,
    )  # fmt: skip


# --- phases ------------------------------------------------------------------------------


async def _open(key: StaticKey, nodes: list[dict[str, Any]], port: int) -> list[_Client]:
    out: list[_Client] = []
    for i in range(0, len(nodes), 100):
        out += await asyncio.gather(*(_dial(key, x, port) for x in nodes[i : i + 100]))
    return out


async def _idle_sessions(
    rt: _Runtime, key: StaticKey, nodes: list[dict[str, Any]]
) -> tuple[list[_Client], int, int]:
    """(the open sessions, PSS bytes per session between N and 2N, per session for the
    first N): N = len(nodes) // 2, each half idle and compacted before measuring."""
    half = len(nodes) // 2
    settle = 5.0  # > compact_after (2 s) + a sweep (1 s), with margin
    await asyncio.sleep(settle)
    m0, _ = rt.memory()
    clients = await _open(key, nodes[:half], rt.port)
    await asyncio.sleep(settle)
    m1, _ = rt.memory()
    clients += await _open(key, nodes[half : 2 * half], rt.port)
    await asyncio.sleep(settle)
    m2, _ = rt.memory()
    return clients, round((m2 - m1) / half), round((m1 - m0) / half)


async def _connect_init(key: StaticKey, nodes: list[dict[str, Any]], port: int) -> list[float]:
    out = []
    for n in nodes:
        t0 = time.perf_counter()
        c = await _dial(key, n, port)
        out.append((time.perf_counter() - t0) * 1000)
        assert c.transport is not None
        c.transport.close()
    return out


async def _handshakes(
    key: StaticKey, nodes: list[dict[str, Any]], port: int, seconds: float, conc: int
) -> int:
    done = 0
    end = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < end:
            c = await _dial(key, random.choice(nodes), port)
            done += 1
            assert c.transport is not None
            c.transport.close()

    await asyncio.gather(*(loop() for _ in range(conc)))
    return done


PING_RATE = 56.0
"""Pings per second per connection at most: under the runtime's per-connection limit
(64/s sustained, worker default), which would otherwise close a connection as a flood."""


async def _pongs(clients: list[_Client], seconds: float, depth: int) -> tuple[int, int]:
    """(pongs received, connections lost) in `seconds`."""
    count = lost = 0
    end = time.monotonic() + seconds
    period = depth / PING_RATE

    def pings(c: _Client) -> None:
        now = time.monotonic()
        for _ in range(depth):
            c.conn.ping(now, 0)

    async def loop(c: _Client) -> None:
        nonlocal count, lost
        while (t0 := time.monotonic()) < end:
            try:
                await c.request(lambda: pings(c), depth)
            except ConnectionError:
                lost += 1
                return
            count += depth
            left = period - (time.monotonic() - t0)
            if left > 0:
                await asyncio.sleep(left)

    await asyncio.gather(*(loop(c) for c in clients))
    return count, lost


async def _wakes(clients: list[_Client]) -> list[float]:
    out = []
    for c in clients:
        t0 = time.perf_counter()
        await c.request(lambda c=c: c.conn.send(_open_channel(), time.monotonic()))
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run(
    nodes: int,
    *,
    workers: int = 2,
    connect_samples: int = 300,
    wake_samples: int = 200,
    pong_connections: int = 1000,
    seconds: float = 5.0,
    handshake_concurrency: int = 32,
    ping_depth: int = 4,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vajra-bench-hosting-") as tmp:
        rt = _Runtime(Path(tmp), workers)
        try:
            return _measure(rt, nodes, connect_samples, wake_samples, pong_connections,
                            seconds, handshake_concurrency, workers, ping_depth)  # fmt: skip
        finally:
            rt.stop()


def _create_and_list(rt: _Runtime, n: int) -> tuple[list[dict[str, Any]], float]:
    """Create `n` nodes through the admin API; (the whole listing, seconds creating)."""
    t0 = time.perf_counter()
    done = 0
    while done < n:
        done += rt.call("/v1/nodes", {"count": min(10_000, n - done)})["created"]
    create_s = time.perf_counter() - t0
    listing: list[dict[str, Any]] = []
    after = None
    while True:
        q = "/v1/nodes?limit=100000" + (f"&after={after}" if after else "")
        page = rt.call(q)
        listing += page["nodes"]
        after = page["next"]
        if after is None:
            break
    assert len(listing) == n, (len(listing), n)
    return listing, create_s


async def _pong_phase(
    rt: _Runtime, clients: list[_Client], seconds: float, depth: int
) -> dict[str, Any]:
    cpu0 = rt.cpu_seconds()
    t = time.perf_counter()
    pongs, lost = await _pongs(clients, seconds, depth)
    wall = time.perf_counter() - t
    pong_cpu = rt.cpu_seconds() - cpu0
    return {
        "pong_connections_lost": lost,
        "pongs_per_s": round(pongs / wall),
        "pong_cpu_us": round(pong_cpu / pongs * 1e6, 1) if pongs else None,
        "pong_connections": len(clients),
        "pings_in_flight_per_connection": depth,
    }


async def _handshake_phase(
    rt: _Runtime, key: StaticKey, nodes: list[dict[str, Any]], seconds: float, conc: int
) -> dict[str, Any]:
    cpu0 = rt.cpu_seconds()
    hs = await _handshakes(key, nodes, rt.port, seconds, conc)
    hs_cpu = rt.cpu_seconds() - cpu0
    return {
        "handshakes_per_s_per_core": round(hs / hs_cpu) if hs_cpu else None,
        "handshakes_per_s_wall": round(hs / seconds),
    }


async def _wake_phase(rt: _Runtime, key: StaticKey, nodes: list[dict[str, Any]]) -> list[float]:
    clients = [await _dial(key, x, rt.port) for x in nodes]
    lat = await _wakes(clients)
    _close(clients)
    return lat


def _close(clients: list[_Client]) -> None:
    for c in clients:
        if c.transport is not None:
            c.transport.close()


def _judge(result: dict[str, Any], targets: dict[str, tuple[str, float]]) -> dict[str, Any]:
    """`result` with its `targets` and `meets_targets` (a None figure meets nothing)."""
    result["targets"] = {k: f"{op} {v}" for k, (op, v) in targets.items()}
    result["meets_targets"] = {
        k: (result[k] is not None and (result[k] <= v if op == "<=" else result[k] >= v))
        for k, (op, v) in targets.items()
    }
    return result


def _measure(
    rt: _Runtime,
    n: int,
    connect_samples: int,
    wake_samples: int,
    pong_connections: int,
    seconds: float,
    conc: int,
    workers: int,
    ping_depth: int,
) -> dict[str, Any]:
    time.sleep(0.5)
    base_pss, _ = rt.memory()
    listing, create_s = _create_and_list(rt, n)
    time.sleep(1.0)
    pss, rss = rt.memory()
    sample = random.sample(listing, min(n, connect_samples + wake_samples + pong_connections))
    pong_nodes = sample[connect_samples : connect_samples + pong_connections]
    wake_nodes = sample[connect_samples + pong_connections :][:wake_samples]
    key = StaticKey(generate_secret())

    async def client() -> dict[str, Any]:
        out: dict[str, Any] = {"client_event_loop": type(asyncio.get_running_loop()).__module__}
        # Idle sessions first: the runtime has never had a session (clean baseline).
        clients, slope, first = await _idle_sessions(rt, key, pong_nodes)
        out["session_pss_bytes"] = slope
        out["session_pss_bytes_first_n"] = first
        lat = await _connect_init(key, sample[:connect_samples], rt.port)
        out["connect_init_ms_p50"] = round(statistics.median(lat), 3)
        out["connect_init_ms_p99"] = round(percentile(lat, 0.99), 3)
        out |= await _pong_phase(rt, clients, seconds, ping_depth)
        _close(clients)
        out |= await _handshake_phase(rt, key, listing, seconds, conc)
        lat = await _wake_phase(rt, key, wake_nodes)
        out["wake_ms_p50"] = round(statistics.median(lat), 3)
        out["wake_ms_p99"] = round(percentile(lat, 0.99), 3)
        return out

    from vajra.runtime.worker import run as run_loop

    measured = run_loop(client())
    time.sleep(1.0)  # workers publish their counters every 0.1 s
    counters = rt.call("/v1/status")["counters"]
    return _judge(
        {
            "nodes": n,
            "pss_bytes_per_node": round(pss / n),
            "rss_bytes_per_node": round(rss / n),
            "pss_marginal_bytes_per_node": round((pss - base_pss) / n),
            **measured,
            "workers": workers,
            "runtime_pss_bytes": pss,
            "runtime_rss_bytes": rss,
            "runtime_pss_bytes_at_zero_nodes": base_pss,
            "nodes_created_per_s": round(n / create_s),
            "wakes_counted": counters["wakes"],
            "wake_failures": counters["wake_failures"],
        },
        TARGETS,
    )
