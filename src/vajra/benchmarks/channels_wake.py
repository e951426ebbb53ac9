"""`vajra bench channels`, the runtime part: sleeping nodes that hold a channel.

A real `vajra runtime --dev` (supervisor + workers, its dev signer a `SignerCore` on the
runtime's SQLite signer state) is driven from this process by our BOLT 8 initiator. Each
channel is opened for real, through the runtime: the client is the funder, a v1
`Establishment.funder` core with its own validating signer (`ChannelSigner`), and sends
`open_channel` / `funding_created`; the hosted node (fundee) answers `accept_channel` /
`funding_signed` after its own signer requests (`new_channel`, `SetupChannel`,
commitment 0 signed and validated), writes its sealed state and watches the funding
output with the runtime's watcher. There is no chain: the channel stays at AWAIT_DEPTH
(funded, commitment 0 signed both ways; BOLT 2 reestablish applies from there).

- wake_reestablish_ms_p50/p99: after the node fell asleep (`--idle-timeout`, checked in
  `/v1/status`), TCP connect + BOLT 8 + `init` both ways + our `channel_reestablish` ->
  the node's `channel_reestablish` received: wake (lease, state key from the signer,
  sealed state read), the establishment reconnected, its answer. `reestablish_only_ms_*`:
  from sending `channel_reestablish` to the answer.
- rss_bytes_per_sleeping_node_with_channel: RSS of every runtime process (summed), as the
  slope between N and 2N sleeping nodes each holding one channel; beside it the slope of
  N -> 2N nodes without channels in the same runtime, measured first
  (`rss_bytes_per_sleeping_node_plain`), and the difference: what a channel adds (its
  sealed state is on disk; in memory the watcher's index entry for the funding script).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from vajra.benchmarks.hosting import _Runtime
from vajra.benchmarks.results import percentile
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.establish import Establishment, FundingOutpoint
from vajra.channel.establish_io import EstablishConfig, EstState, LocalKeys, OpenArgs
from vajra.channel.keys import ChannelSecrets
from vajra.channel.spec import SideParams
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import generate_secret
from vajra.noise import StaticKey
from vajra.peer import PeerConnection, SessionConfig
from vajra.peer.events import ConnectionClosed, InitReceived, MessageReceived
from vajra.signer.channels import ChannelSigner
from vajra.wire import ChannelReestablish, ErrorMessage, Message, WarningMessage

FUNDING_SAT = 200_000
_PARAMS = SideParams(
    dust_limit_sat=354,
    channel_reserve_sat=2_000,
    htlc_minimum_msat=1_000,
    max_accepted_htlcs=30,
    max_htlc_value_in_flight_msat=FUNDING_SAT * 1000,
    to_self_delay=144,
)
_TIMEOUT = 30.0


class _Client(asyncio.Protocol):
    """One initiator connection; every message above BOLT 1 lands in `inbox`."""

    def __init__(self, conn: PeerConnection) -> None:
        loop = asyncio.get_running_loop()
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = loop.create_future()
        self.inbox: asyncio.Queue[Message | Exception] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data, time.monotonic())
        while (ev := self.conn.next_event()) is not None:
            if isinstance(ev, InitReceived) and not self.ready.done():
                self.ready.set_result(None)
            elif isinstance(ev, MessageReceived):
                self.inbox.put_nowait(ev.message)
            elif isinstance(ev, ConnectionClosed):
                self._fail(ConnectionError(f"closed: {ev.reason} {ev.error}"))
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("connection lost"))

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        self.inbox.put_nowait(exc)

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    def send(self, msgs: list[Message]) -> None:
        for m in msgs:
            self.conn.send(m, time.monotonic())
        self._flush()

    async def receive(self) -> Message:
        got = await asyncio.wait_for(self.inbox.get(), _TIMEOUT)
        if isinstance(got, Exception):
            raise got
        if isinstance(got, ErrorMessage | WarningMessage):
            raise RuntimeError(f"node answered {got.NAME}: {bytes(got.data)!r}")
        return got

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _dial(key: StaticKey, node: dict[str, Any], port: int) -> _Client:
    loop = asyncio.get_running_loop()
    conn = PeerConnection.initiator(
        key, bytes.fromhex(node["node_id"]), SessionConfig(), time.monotonic()
    )
    _, proto = await loop.create_connection(lambda: _Client(conn), node["host"], port)
    await asyncio.wait_for(proto.ready, _TIMEOUT)
    return proto


@dataclass
class Funder:
    """The peer's side of one channel: a funder core and its validating signer."""

    node: dict[str, Any]
    number: int
    key: StaticKey = field(default_factory=lambda: StaticKey(generate_secret()))
    """Each funder is its own peer: wakes are rate-limited per peer node id."""
    est: Establishment = field(init=False)
    signer: ChannelSigner | None = None

    def __post_init__(self) -> None:
        tag = b"bench funder" + self.number.to_bytes(8, "big")
        self.secrets = ChannelSecrets(*(sha256(tag + bytes([i])) for i in range(6)))
        keys = LocalKeys(self.secrets.basepoints(), self.secrets.per_commitment_point(1))
        args = OpenArgs(sha256(tag + b"tmp"), FUNDING_SAT, 0, 2_500, True)
        config = EstablishConfig(CHAIN_HASHES["regtest"], _PARAMS)
        self.est = Establishment.funder(config, keys, args)

    def step(self) -> list[Message]:
        """Answer our signer's requests; the messages to send."""
        while (req := self.est.next_signer_request()) is not None:
            if isinstance(req, io.SetupChannel):
                self.signer = ChannelSigner.setup(self.secrets, req)
                self.est.signer_result(io.ChannelSetUp(), 0.0)
            elif self.signer is not None:
                self.est.signer_result(self.signer.handle(req), 0.0)
        if self.est.state is EstState.AWAIT_FUNDING_OUTPOINT:
            outpoint = OutPoint(sha256(b"bench funding" + self.number.to_bytes(8, "big")), 0)
            self.est.command(FundingOutpoint(outpoint), 0.0)
            return self.step()
        while self.est.next_event() is not None:
            pass
        return self.est.messages_to_send()


async def open_channel(funder: Funder, port: int) -> None:
    """Open `funder`'s channel to its node over a new session, up to `funding_signed`."""
    c = await _dial(funder.key, funder.node, port)
    try:
        c.send(funder.step())
        while funder.est.state is not EstState.AWAIT_DEPTH:
            if funder.est.state is EstState.FAILED:
                raise RuntimeError(f"channel to {funder.node['node_id'][:16]} failed")
            funder.est.receive_message(await c.receive(), 0.0)
            c.send(funder.step())
    finally:
        c.close()
    funder.est.disconnected(0.0)


async def reestablish(funder: Funder, port: int) -> tuple[float, float]:
    """(connect -> the node's channel_reestablish, ours sent -> theirs) in ms."""
    t0 = time.perf_counter()
    c = await _dial(funder.key, funder.node, port)
    try:
        funder.est.connected(0.0)
        t1 = time.perf_counter()
        c.send(funder.step())
        answer = await c.receive()
        t2 = time.perf_counter()
        if not isinstance(answer, ChannelReestablish):
            raise RuntimeError(f"expected channel_reestablish, got {answer.NAME}")
        funder.est.receive_message(answer, 0.0)
        funder.step()
    finally:
        c.close()
    funder.est.disconnected(0.0)
    return (t2 - t0) * 1000, (t2 - t1) * 1000


def _new_nodes(rt: _Runtime, n: int, seen: set[str], signer: bool) -> list[dict[str, Any]]:
    done = 0
    while done < n:
        body: dict[str, int] = {"count": min(10_000, n - done)}
        if signer:
            body["signer"] = 1
        done += rt.call("/v1/nodes", body)["created"]
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = rt.call("/v1/nodes?limit=100000" + (f"&after={after}" if after else ""))
        out += [x for x in page["nodes"] if x["node_id"] not in seen]
        after = page["next"]
        if after is None:
            break
    seen.update(x["node_id"] for x in out)
    if len(out) != n:
        raise RuntimeError(f"created {n} nodes, listed {len(out)} new")
    return out


async def _open_all(funders: list[Funder], port: int, conc: int) -> None:
    for i in range(0, len(funders), conc):
        await asyncio.gather(*(open_channel(f, port) for f in funders[i : i + conc]))


async def _asleep(rt: _Runtime, deadline_s: float = 120.0) -> None:
    """Wait until no node is awake (`/v1/status` `counters.awake`)."""
    end = time.monotonic() + deadline_s
    while rt.call("/v1/status")["counters"].get("awake", 0) > 0:
        if time.monotonic() > end:
            raise RuntimeError("nodes did not fall asleep")
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)


def run(
    nodes: int, samples: int, *, workers: int, workdir: Any, signer: bool = False, conc: int = 16
) -> dict[str, Any]:
    """The runtime figures (see the module docstring) for N = `nodes`. `signer`: the
    runtime without --dev and a real `vajra signer run` on loopback (as `vajra bench
    hosting --signer`): every signer request of the wakes and the opens over the link."""
    from vajra.benchmarks.hosting_signer import _SignedRuntime
    from vajra.runtime.worker import run as run_loop

    rt = _SignedRuntime(workdir, workers) if signer else _Runtime(workdir, workers)
    try:
        out = run_loop(_measure(rt, nodes, samples, conc, signer))
    finally:
        rt.stop()
    out["signer"] = "vajra signer run, link on loopback" if signer else "--dev (in-process)"
    return out  # type: ignore[no-any-return]


async def _measure(rt: _Runtime, n: int, samples: int, conc: int, signer: bool) -> dict[str, Any]:
    seen: set[str] = set()
    await asyncio.sleep(0.5)
    rss: list[int] = []
    for _ in range(2):  # N, 2N plain nodes
        _new_nodes(rt, n, seen, signer)
        await _asleep(rt)
        rss.append(rt.memory()[1])
    funders: list[Funder] = []
    t_open = time.perf_counter()
    for _ in range(2):  # N, 2N nodes, each with a channel
        batch = [Funder(x, len(funders) + i) for i, x in enumerate(_new_nodes(rt, n, seen, signer))]
        await _open_all(batch, rt.port, conc)
        funders += batch
        await _asleep(rt)
        rss.append(rt.memory()[1])
    open_s = time.perf_counter() - t_open
    full: list[float] = []
    only: list[float] = []
    for f in funders[: max(1, samples)]:
        a, b = await reestablish(f, rt.port)
        full.append(a)
        only.append(b)
    await asyncio.sleep(1.0)  # workers publish their counters every 0.1 s
    status = rt.call("/v1/status")["counters"]
    plain, with_channel = (rss[1] - rss[0]) / n, (rss[3] - rss[2]) / n
    return {
        "nodes": n,
        "channels": len(funders),
        "wake_reestablish_ms_p50": round(statistics.median(full), 3),
        "wake_reestablish_ms_p99": round(percentile(full, 0.99), 3),
        "reestablish_only_ms_p50": round(statistics.median(only), 3),
        "reestablish_only_ms_p99": round(percentile(only, 0.99), 3),
        "wake_samples": len(full),
        "rss_bytes_per_sleeping_node_with_channel": round(with_channel),
        "rss_bytes_per_sleeping_node_plain": round(plain),
        "rss_bytes_per_channel": round(with_channel - plain),
        "runtime_rss_bytes": rss,
        "channel_opens_per_s_wall": round(len(funders) / open_s, 1),
        "wakes_counted": status.get("wakes"),
        "wake_failures": status.get("wake_failures"),
    }
