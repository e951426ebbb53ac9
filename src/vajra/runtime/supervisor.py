"""The runtime's supervisor: signer, registry, shared key table, workers, admin, metrics.

It owns everything that exists once per runtime and does no per-connection work:

- loads the registry and asks the signer for the identity secrets of its nodes, writing
  them into the shared `KeyTable` (memory only), then starts W worker processes
  (`python -m vajra.runtime.worker`) that inherit the table's descriptor;
- with the signer link (no `--dev`, decision 0008) it embeds the `SignerHub`: a node's
  identity is loaded when its signer connects (until then its address closes every
  connection), and workers ask for state keys through the supervisor
  (`signer_channel`), which forwards them to the node's `RemoteSigner`;
- creates nodes on request (`POST /v1/nodes`): signer -> registry -> key table; workers
  see a new node as soon as its row is published, without a restart;
- restarts a worker that dies (SIGKILL included): the replacement maps the same tables
  and takes the same runtime id, so it re-acquires the dead one's leases at once;
- owns the ONE timer table and routes chain and timer wakes to the worker owning each
  node over its control channel (`wake_router`, `control`; decision 0021);
- serves the admin API (0600 Unix socket, `admin_routes`) and Prometheus metrics
  (alone on the metrics port), and prints one JSON `ready`
  line on stdout when every worker listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.chain.broadcast import Broadcaster
from vajra.chain.btcd import BtcdSource
from vajra.chain.fees import FeePolicy, estimate_fee
from vajra.chain.types import ChainError
from vajra.crypto.secp256k1 import pubkey_create
from vajra.errors import PolicyViolation, VajraError
from vajra.osutil import write_private
from vajra.runtime import admin_routes
from vajra.runtime.admin_http import Listeners
from vajra.runtime.chain_service import ChainService
from vajra.runtime.control import ControlServer
from vajra.runtime.fabric import DEFAULT_POOL, AddressPool
from vajra.runtime.graph_service import GraphConfigError, GraphService
from vajra.runtime.invoice_service import InvoiceService, InvoiceSigner
from vajra.runtime.keytable import COUNTERS, GAUGES, Counters, KeyTable, NodeStates
from vajra.runtime.node_calls import NodeCallError
from vajra.runtime.node_services import ServiceError
from vajra.runtime.open_service import OpenService, supervisor_calls
from vajra.runtime.remote_signer import RemoteSigner, SignerUnavailable
from vajra.runtime.signer_api import SignerClient
from vajra.runtime.signer_channel import (
    OP_CHANNEL_REQUEST,
    OP_ECDH,
    OP_NEW_CHANNEL,
    ChannelRequest,
    ChannelServer,
)
from vajra.runtime.signer_hub import SignerHub
from vajra.runtime.timers import TimerStateError, TimerTable
from vajra.runtime.wake_router import WakeRouter
from vajra.runtime.worker import WorkerConfig
from vajra.store import NodeRow, SqliteStore
from vajra.wallet.service import ChainParts, WalletError, WalletService, WalletSigner
from vajra.wire import features as feat

log = logging.getLogger("vajra.runtime")
CREATE_BATCH = 1000
FEE_TARGET_BLOCKS = 6


class RuntimeStartError(VajraError):
    """A runtime that cannot start (bad configuration, signer/store mismatch, a worker
    that exits before it is ready)."""


@dataclass(slots=True)
class RuntimeConfig:
    store: str
    listen_port: int = 9735
    workers: int = 2
    pool: str = DEFAULT_POOL
    admin_socket: str | None = None
    """The admin API's Unix socket (default `<store>.admin.sock`)."""
    metrics_port: int | None = None
    capacity: int = 1 << 21
    runtime_id: str | None = None
    chain: str = "regtest"
    idle_timeout: float = 5.0
    lease_ttl: float = 30.0
    worker_options: dict[str, Any] = field(default_factory=dict)
    signer: dict[str, Any] = field(default_factory=dict)
    """Passed to the workers' `make_signer` (may hold a dev seed: memory and pipes only)."""
    log_level: str = "INFO"
    chain_url: str | None = None
    """The chain source (`btcd://USER:PASS@HOST:PORT?cert=PATH`); None: no chain watcher."""
    chain_poll: float = 1.0
    chain_start_height: int | None = None
    fee_policy: FeePolicy | None = None
    gossip_peers: list[str] = field(default_factory=list)
    """`NODE_ID@HOST:PORT` peers the runtime syncs the one graph from (decision 0027)."""


def runtime_file(store: str) -> Path:
    """Where a running runtime says how to reach its admin API (no secrets in it; 0600)."""
    return Path(store + ".runtime.json")


def admin_socket(store: str) -> Path:
    """The admin API's default Unix socket for a store."""
    return Path(store + ".admin.sock")


class Supervisor:
    def __init__(
        self, cfg: RuntimeConfig, signer: SignerClient | None, hub: SignerHub | None = None
    ) -> None:
        if (signer is None) == (hub is None):
            raise ValueError("a runtime has either an in-process signer or a signer hub")
        self.cfg = cfg
        self.signer = signer
        self.hub = hub
        self.pool = AddressPool.parse(cfg.pool, cfg.listen_port)
        self.store = SqliteStore(cfg.store)
        self.keys = KeyTable.create(min(cfg.capacity, self.pool.size))
        self.counters = Counters.create(cfg.workers)
        self.states = NodeStates.create(self.keys.capacity)
        # Handover inboxes: (sending end, worker's receiving end) per worker; the
        # supervisor keeps both open so a restarted worker finds its inbox again.
        self.inboxes = [
            socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(cfg.workers)
        ]
        for a, b in self.inboxes:
            os.set_inheritable(a.fileno(), True)
            os.set_inheritable(b.fileno(), True)
        # Signer channels (hub mode): (supervisor end, worker end) per worker, both kept.
        self.channels = (
            [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(cfg.workers)]
            if hub is not None
            else []
        )
        for _, b in self.channels:
            os.set_inheritable(b.fileno(), True)
        self.channel_server: ChannelServer | None = None
        # Control channels (always): (supervisor end, worker end) per worker, both kept,
        # so wake pushes for a dead worker wait for its replacement (decision 0021).
        self.controls = [
            socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(cfg.workers)
        ]
        for _, b in self.controls:
            os.set_inheritable(b.fileno(), True)
        self.loaded_signers: set[int] = set()
        self.waiting_signers: set[int] = set()
        """Signers whose nodes are registered but not yet in the key table."""
        self._signer_locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.runtime_id = cfg.runtime_id or f"{socket.gethostname()}:{cfg.listen_port}"
        self.next_index = 0
        self.node_count = 0
        self.skipped = 0
        self.procs: list[asyncio.subprocess.Process | None] = [None] * cfg.workers
        self.restarts = 0
        self.stopping = False
        self._create_lock = asyncio.Lock()
        self.listeners = Listeners()
        self._chain_stop = asyncio.Event()
        self._chain_task: asyncio.Task[None] | None = None
        self.wallet: WalletService | None = None
        """The node wallets, once a chain is attached (`attach_chain`)."""
        self.invoices = InvoiceService(
            self.store, cfg.chain, self._identity, self._invoice_signer, self.runtime_id
        )
        """The nodes' BOLT 11 invoices (decision 0022): issued here, no wake."""
        self.opens = OpenService(supervisor_calls(self.call), lambda: self.wallet, self.store)
        """The nodes' own channel opens awaiting their device (decision 0028)."""
        self.chain: ChainService | None = None
        self._close_broadcaster: Broadcaster | None = None
        self._close_lock = threading.Lock()
        if cfg.chain_url:
            try:
                self.chain = ChainService(
                    cfg.chain_url,
                    cfg.store,
                    poll_interval=cfg.chain_poll,
                    start_height=cfg.chain_start_height,
                    fee_policy=cfg.fee_policy,
                )
            except (ValueError, ChainError) as e:
                raise RuntimeStartError(f"--chain: {e}") from e
        if self.chain is not None:
            self.attach_chain(self.chain)
        try:
            self.timers = TimerTable(cfg.store)
        except TimerStateError as e:
            raise RuntimeStartError(str(e)) from e
        try:
            self.graph = GraphService(cfg.store, CHAIN_HASHES[cfg.chain], cfg.workers,
                                      cfg.gossip_peers, cfg.chain_url)  # fmt: skip
        except GraphConfigError as e:
            raise RuntimeStartError(str(e)) from e
        self.invoices.peer_policy = self.graph.shared.peer_policy
        self.wakes = WakeRouter(
            cfg.workers,
            self.timers,
            self.chain.watcher if self.chain is not None else None,
            lambda worker, push: self.control_server.push(worker, push),
            capacity=self.keys.capacity,
            broadcast=self._close_broadcast if self.chain is not None else None,
            ensure_wallet=self._ensure_wallet,
        )
        self.control_server = ControlServer([a for a, _ in self.controls], self.wakes)
        self._wake_task: asyncio.Task[None] | None = None
        if self.chain is not None:
            self.chain.on_wake = lambda index, _event: self.wakes.chain_event(index)
            self.chain.on_tip = self.wakes.on_tip

    # --- nodes ---------------------------------------------------------------------------

    async def load(self) -> None:
        """Fill the key table from the registry with secrets released by the signer.
        Hub mode: only note which signers have nodes; each signer's nodes load when it
        connects (`load_signer`)."""
        if self.hub is not None:
            for row in await asyncio.to_thread(self._registry):
                index = self.pool.index_of(row.host)
                if index is None or row.port != self.pool.port or index >= self.keys.capacity:
                    self.skipped += 1
                    continue
                self.next_index = max(self.next_index, index + 1)
                self.waiting_signers.add(row.signer_id)
            # Reserve the indices (rows stay empty, so their addresses close at once).
            self.keys.publish(self.next_index)
            if self.skipped:
                log.warning("event=nodes_skipped count=%d reason=outside_pool_or_port",
                            self.skipped)  # fmt: skip
            return
        batch: dict[int, list[tuple[int, bytes]]] = {}  # epoch -> [(index, node id)]
        for row, epoch in await asyncio.to_thread(self._registry_with_epochs):
            index = self.pool.index_of(row.host)
            if index is None or row.port != self.pool.port or index >= self.keys.capacity:
                self.skipped += 1
                continue
            group = batch.setdefault(epoch, [])
            group.append((index, row.node_id))
            if len(group) >= CREATE_BATCH:
                await self._load_group(epoch, group)
                batch[epoch] = []
        for epoch, group in batch.items():
            if group:
                await self._load_group(epoch, group)
        if self.skipped:
            log.warning("event=nodes_skipped count=%d reason=outside_pool_or_port", self.skipped)

    # SQLite reads and writes of the registry run in a thread (`asyncio.to_thread`; the
    # store serialises its own connection): the loop keeps serving the wake path and the
    # workers' signer requests meanwhile (decision 0008).

    def _registry(self, signer_id: int | None = None) -> list[NodeRow]:
        """Every registered node (of `signer_id`, if given). Blocking: call in a thread."""
        return [r for r in self.store.iter_nodes() if signer_id in (None, r.signer_id)]

    def _registry_with_epochs(self) -> list[tuple[NodeRow, int]]:
        """Every registered node with its lease epoch (0: none). Blocking."""
        out = []
        for row in self.store.iter_nodes():
            lease = self.store.get_lease(row.node_id)
            out.append((row, lease.epoch if lease is not None else 0))
        return out

    def _page(self, after: bytes | None, limit: int) -> list[NodeRow]:
        """Up to `limit` registered nodes after node id `after`, in id order. Blocking."""
        return list(itertools.islice(self.store.iter_nodes(after), limit))

    def _on_signer_connected(self, rs: RemoteSigner) -> None:
        task = asyncio.get_running_loop().create_task(self.load_signer(rs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def load_signer(self, rs: RemoteSigner) -> None:
        """A signer connected: ask it (batched) for the identity secrets of its nodes and
        publish them; its nodes become reachable. Once per runtime and signer; a link
        lost half-way is retried at the next connect (rows already written stay)."""
        sid = rs.signer_id
        lock = self._signer_locks.setdefault(sid, asyncio.Lock())
        async with lock:
            if sid in self.loaded_signers:
                return
            t0 = time.monotonic()
            group: list[tuple[int, bytes]] = []
            loaded = 0
            try:
                for row in await asyncio.to_thread(self._registry, sid):
                    index = self.pool.index_of(row.host)
                    if index is None or row.port != self.pool.port or index >= self.keys.capacity:
                        continue
                    group.append((index, row.node_id))
                    if len(group) >= CREATE_BATCH:
                        await self._load_group(0, group, rs)
                        loaded += len(group)
                        group = []
                if group:
                    await self._load_group(0, group, rs)
                    loaded += len(group)
            except (SignerUnavailable, PolicyViolation, RuntimeStartError) as e:
                log.warning("event=signer_load_failed signer_id=%d loaded=%d error=%s "
                            "detail=%s", sid, loaded, type(e).__name__, e)  # fmt: skip
                return
            self.loaded_signers.add(sid)
            self.waiting_signers.discard(sid)
            log.info("event=signer_nodes_loaded signer_id=%d nodes=%d ms=%.1f", sid, loaded,
                     (time.monotonic() - t0) * 1000)  # fmt: skip

    async def _load_group(
        self, epoch: int, group: list[tuple[int, bytes]], signer: SignerClient | None = None
    ) -> None:
        client = signer or self.signer
        assert client is not None
        secrets = await client.identity_secrets([n for _, n in group], epoch)
        # One spot check per batch: a signer with another seed would yield other keys.
        if pubkey_create(secrets[0]) != group[0][1]:
            raise RuntimeStartError("the signer's keys do not match the registry (wrong seed?)")
        for (index, node_id), secret in zip(group, secrets, strict=True):
            if self.keys.node_id(index) is None:
                self.node_count += 1
            self.keys.put(index, node_id, secret)
            self.next_index = max(self.next_index, index + 1)
        self.keys.publish(self.next_index)

    def _client(self, signer_id: int | None) -> SignerClient:
        if self.hub is None:
            assert self.signer is not None
            return self.signer
        if signer_id is None:
            pins = sorted(self.hub.pins.pins)
            if len(pins) != 1:
                raise ValueError("give the signer id (several or no signers are paired)")
            signer_id = pins[0]
        try:
            return self.hub.signer(signer_id)
        except KeyError:
            raise ValueError(f"no signer {signer_id} is paired") from None

    async def resolve(self, req: ChannelRequest) -> bytes:
        """A worker's signer request (hub mode): the node's signer answers; the epoch
        passes through unchanged."""
        assert self.hub is not None
        row = await asyncio.to_thread(self.store.get_node, req.node_id)
        if row is None:
            raise PolicyViolation("unknown_node", req.node_id.hex())
        try:
            rs = self.hub.signer(row.signer_id)
        except KeyError:
            raise SignerUnavailable(row.signer_id, "not paired") from None
        if req.op == OP_ECDH:
            return await rs.ecdh(req.node_id, req.extra, req.epoch)
        if req.op == OP_NEW_CHANNEL:
            index, keys = await rs.new_channel_bytes(req.node_id, req.epoch)
            return index.to_bytes(4, "big") + keys
        if req.op == OP_CHANNEL_REQUEST:  # opaque both ways (decision 0017)
            index = int.from_bytes(req.extra[:4], "big")
            return await rs.channel_request_bytes(req.node_id, req.epoch, index, req.extra[4:])
        return await rs.state_key(req.node_id, req.epoch)

    async def create_nodes(self, count: int, signer_id: int | None = None) -> list[NodeRow]:
        """Create nodes with the signer, register them, publish them to the workers."""
        rows: list[NodeRow] = []
        signer = self._client(signer_id)
        async with self._create_lock:
            while len(rows) < count:
                n = min(CREATE_BATCH, count - len(rows), self.keys.capacity - self.next_index)
                if n <= 0:
                    raise ValueError(f"address pool / key table full at {self.next_index}")
                grants = await signer.create_nodes(n)
                first = self.next_index
                batch = [
                    NodeRow(
                        g.node_id,
                        self.pool.host_of(first + i),
                        self.pool.port,
                        signer.signer_id,
                    )
                    for i, g in enumerate(grants)
                ]
                await asyncio.to_thread(self.store.register_nodes, batch)
                for i, g in enumerate(grants):
                    self.keys.put(first + i, g.node_id, g.identity_secret)
                self.next_index = first + len(grants)
                self.node_count += len(grants)
                self.keys.publish(self.next_index)
                rows.extend(batch)
                await asyncio.sleep(0)
        log.info("event=nodes_created count=%d total=%d", len(rows), self.node_count)
        return rows

    def node_json(self, row: NodeRow) -> dict[str, Any]:
        index = self.pool.index_of(row.host)
        loaded = index is not None and self.keys.node_id(index) == row.node_id
        state = "registered"
        out: dict[str, Any] = {"node_id": row.node_id.hex(), "host": row.host, "port": row.port}
        if loaded and index is not None:
            worker = self.states.get(index)
            state = "awake" if worker else "sleeping"
            if worker:
                out["worker"] = worker - 1
        out["state"] = state
        return out

    # --- wallets -------------------------------------------------------------------------

    def attach_chain(self, chain: ChainService) -> None:
        """Serve the node wallets over the runtime's one watcher and broadcast table
        (decision 0011). The wallet has its own connection to the chain source: the
        follower's runs in a worker thread and a `BtcdSource` serves one thread at a
        time; its `Broadcaster` writes the same table the chain service rebroadcasts."""
        assert self.cfg.chain_url is not None
        source = BtcdSource.from_url(self.cfg.chain_url)
        policy = chain.fee_policy
        parts = ChainParts(
            chain.watcher,
            Broadcaster(source, chain.db),
            lambda: estimate_fee(source, FEE_TARGET_BLOCKS, policy).sat_per_kvb,
        )
        self.wallet = WalletService(
            self.store, parts, self.cfg.chain, self._wallet_signer, self._node_index,
            self.runtime_id,
        )  # fmt: skip

    async def call(self, node_id: bytes, method: str, body: dict[str, object]) -> dict[str, object]:
        """Run node call `method` on the node, in the worker owning it (`index % W`, over
        its control channel; `runtime/node_calls.py`), waking it if needed: the call's
        answer. Raises `NodeCallError` (`unknown_node`, `unavailable`, `bad_request`, or
        the worker's answer's code)."""
        index = await asyncio.to_thread(self._node_index, node_id)
        if index is None:
            raise NodeCallError("unknown_node", node_id.hex())
        tip = self.chain.watcher.tip() if self.chain is not None else None
        try:
            ok, out = await self.control_server.call(
                index % self.cfg.workers, index, tip.height if tip else -1, method, body
            )
        except ServiceError as e:
            raise NodeCallError(e.code, e.detail) from None
        if not ok:
            raise NodeCallError(str(out.get("code", "internal")), str(out.get("detail", "")))
        return out

    async def _ensure_wallet(self, index: int) -> None:
        """OP_WALLET: the node at fabric `index` gets its wallet record if it has none."""
        if self.wallet is None:
            raise ServiceError("no_chain", "the runtime runs without --chain")
        node_id = self.keys.node_id(index) if 0 <= index < self.keys.capacity else None
        if node_id is None:
            raise ServiceError("unknown_node", f"no node at index {index}")
        try:
            await self.wallet.ensure(node_id)
        except WalletError as e:
            raise ServiceError("unavailable", str(e)) from None

    def _close_broadcast(self, raw_tx: bytes) -> bytes:
        """Nodes' own transactions (cooperative closes; OP_BROADCAST, decision 0021):
        into the runtime's broadcast table, which the chain service resends until they
        confirm. Its own source connection (one thread at a time), serialised by a lock;
        blocking (called off the loop)."""
        assert self.chain is not None and self.cfg.chain_url is not None
        with self._close_lock:
            if self._close_broadcaster is None:
                source = BtcdSource.from_url(self.cfg.chain_url)
                self._close_broadcaster = Broadcaster(source, self.chain.db)
            return self._close_broadcaster.submit(raw_tx, time.time())

    def _node_index(self, node_id: bytes) -> int | None:
        """The node's index in the address fabric: the watcher's node key."""
        row = self.store.get_node(node_id)
        return None if row is None else self.pool.index_of(row.host)

    def _identity(self, node_id: bytes) -> bytes | None:
        """The node's identity secret from the key table (None: not loaded)."""
        index = self._node_index(node_id)
        if index is None or index >= self.keys.capacity or self.keys.node_id(index) != node_id:
            return None
        return self.keys.secret(index)

    def _invoice_signer(self, node_id: bytes) -> InvoiceSigner:
        if self.hub is None:
            assert self.signer is not None
            if not hasattr(self.signer, "sign_invoice"):
                raise KeyError("this dev signer cannot sign invoices")
            return self.signer  # type: ignore[return-value]
        row = self.store.get_node(node_id)
        if row is None:
            raise KeyError(f"no node {node_id.hex()}")
        return self.hub.signer(row.signer_id)

    def _wallet_signer(self, node_id: bytes) -> WalletSigner:
        if self.hub is None:
            assert self.signer is not None
            if not isinstance(self.signer, WalletSigner):
                raise KeyError("the --dev signer has no wallet")
            return self.signer
        row = self.store.get_node(node_id)
        if row is None:
            raise KeyError(f"no node {node_id.hex()}")
        return self.hub.signer(row.signer_id)

    # --- workers -------------------------------------------------------------------------

    def _worker_config(self, i: int) -> WorkerConfig:
        c = self.cfg
        return WorkerConfig(
            index=i,
            workers=c.workers,
            port=c.listen_port,
            pool=c.pool,
            store=c.store,
            runtime_id=f"{self.runtime_id}/w{i}",
            keys_fd=self.keys.fd,
            counters_fd=self.counters.fd,
            states_fd=self.states.fd,
            inbox_fd=self.inboxes[i][1].fileno() if c.workers > 1 else -1,
            signer_fd=self.channels[i][1].fileno() if self.channels else -1,
            control_fd=self.controls[i][1].fileno(),
            route_fd=self.graph.worker_fd(i),
            chain_events=self.chain is not None,
            outbox_fds=[a.fileno() for a, _ in self.inboxes] if c.workers > 1 else [],
            chain=c.chain,
            idle_timeout=c.idle_timeout,
            lease_ttl=c.lease_ttl,
            signer=c.signer if self.hub is None else {"kind": "supervisor"},
            log_level=c.log_level,
            **c.worker_options,
        )

    async def _spawn(self, i: int) -> None:
        fds = (self.keys.fd, self.counters.fd, self.states.fd,
               *(s.fileno() for pair in self.inboxes for s in pair),
               *(b.fileno() for _, b in self.channels),
               *(b.fileno() for _, b in self.controls),
               *(self.graph.worker_fd(j) for j in range(self.cfg.workers)))  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vajra.runtime.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=fds,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(self._worker_config(i).to_json().encode() + b"\n")
        await proc.stdin.drain()
        proc.stdin.close()
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise RuntimeStartError(f"worker {i} exited before it was ready")
        self.procs[i] = proc
        log.info("event=worker_started worker=%d pid=%d", i, proc.pid)

    async def _watch(self, i: int) -> None:
        while not self.stopping:
            proc = self.procs[i]
            if proc is None:
                return
            rc = await proc.wait()
            if self.stopping:
                return
            self.restarts += 1
            awake = self.states.clear_worker(i)
            self.counters.reset_gauges(i)
            log.warning("event=worker_died worker=%d pid=%d rc=%d awake_lost=%d", i, proc.pid,
                        rc, awake)  # fmt: skip
            await asyncio.sleep(0.1)
            try:
                await self._spawn(i)
                self.wakes.worker_restarted(i)
            except Exception:
                log.exception("event=worker_restart_failed worker=%d", i)
                await asyncio.sleep(1.0)

    # --- admin and metrics ---------------------------------------------------------------

    async def list_nodes(self, after: bytes | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` registry rows after node id `after`, as `node_json` (the SQLite
        reads in a thread: the loop relays wakes)."""
        return [self.node_json(r) for r in await asyncio.to_thread(self._page, after, limit)]

    def signers_json(self) -> list[dict[str, Any]]:
        if self.hub is None:
            return []
        return [
            {"signer_id": sid, "link_pubkey": pk.hex(), "connected": self.hub.signer(sid).connected,
             "loaded": sid in self.loaded_signers}
            for sid, pk in sorted(self.hub.pins.pins.items())
        ]  # fmt: skip

    def status(self) -> dict[str, Any]:
        return {
            "nodes": self.node_count,
            "signers": self.signers_json(),
            "workers": [p.pid if p else None for p in self.procs],
            "restarts": self.restarts,
            "counters": self.counters.totals(),
            "chain": self.chain.status() if self.chain is not None else None,
            "wakes": {"timers": len(self.timers), "pending": len(self.wakes.pending),
                      "pushes": self.wakes.pushes, "retries": self.wakes.retries},
            "graph": self.graph.status(),
        }  # fmt: skip

    def metrics_text(self) -> str:
        t = self.counters.totals()
        awake = t["awake"]
        lines = [
            "# TYPE vajra_nodes gauge",
            f'vajra_nodes{{state="sleeping"}} {self.node_count - awake}',
            f'vajra_nodes{{state="awake"}} {awake}',
            "# TYPE vajra_worker_restarts_total counter",
            f"vajra_worker_restarts_total {self.restarts}",
        ]
        for name in COUNTERS:
            if name == "awake":
                continue
            kind = "gauge" if name in GAUGES else "counter"
            metric = f"vajra_{name}" + ("" if kind == "gauge" else "_total")
            lines += [f"# TYPE {metric} {kind}", f"{metric} {t[name]}"]
        lines += [
            "# TYPE vajra_timers gauge",
            f"vajra_timers {len(self.timers)}",
            "# TYPE vajra_wakes_pending gauge",
            f"vajra_wakes_pending {len(self.wakes.pending)}",
            "# TYPE vajra_wake_pushes_total counter",
            f"vajra_wake_pushes_total {self.wakes.pushes}",
            "# TYPE vajra_wake_push_retries_total counter",
            f"vajra_wake_push_retries_total {self.wakes.retries}",
        ]
        if self.chain is not None:
            lines += self.chain.metrics_lines()
        return "\n".join(lines) + "\n"

    # --- run -----------------------------------------------------------------------------

    async def run(self, *, create: int = 0, exactly_one: bool = False) -> None:
        """Load, optionally create nodes, start workers, print `ready`, serve until
        SIGTERM/SIGINT. `exactly_one`: the store must hold one node or none (then one is
        created) -- the fixed-identity dev mode."""
        t0 = time.monotonic()
        await self.load()
        if self.hub is not None:
            if create or exactly_one:
                raise RuntimeStartError(
                    "--create needs --dev; with a signer use `vajra nodes create`"
                )
            await self._start_hub()
        await self._initial_nodes(create, exactly_one)
        info = await self._start_servers()
        self.control_server.start()
        self.graph.start()
        for i in range(self.cfg.workers):
            await self._spawn(i)
        self._wake_task = asyncio.create_task(self._wake_clock())
        watchers = [asyncio.create_task(self._watch(i)) for i in range(self.cfg.workers)]
        if self.chain is not None:
            self._chain_task = asyncio.create_task(self.chain.run(self._chain_stop))
        write_private(runtime_file(self.cfg.store), json.dumps(info).encode() + b"\n")
        # Handlers before the ready line: a caller may send SIGTERM as soon as it reads it.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self._print_ready(info, t0)
        await stop.wait()
        await self._shutdown(watchers)

    async def _wake_clock(self) -> None:
        """Waking events left unacknowledged by a previous run, then once a second:
        deadlines by time, retries of pushes (decision 0021)."""
        try:
            n = await asyncio.to_thread(self.wakes.pending_nodes)
            self.wakes.recover(n)
        except ChainError as e:
            log.warning("event=wake_recovery_failed error=%s", e)
        while not self.stopping:
            try:
                self.wakes.tick()
            except Exception:  # a bug: log it, keep the clock (and every deadline) going
                log.exception("event=wake_tick_failed")
            await asyncio.sleep(1.0)

    async def _start_hub(self) -> None:
        """Hub mode: the signer hub (signers dial in) and the workers' signer channels."""
        assert self.hub is not None
        self.hub.on_connect = self._on_signer_connected
        self.hub.admin_creates_nodes = False
        await self.hub.start()
        # Device commands and payment authorisations (`vajra device ... --runtime
        # <store>.hub`) go through the hub's 0600 admin socket, as with the standalone hub.
        await self.hub.start_admin()
        self.channel_server = ChannelServer([a for a, _ in self.channels], self.resolve)
        self.channel_server.start()

    async def _initial_nodes(self, create: int, exactly_one: bool) -> None:
        if exactly_one:
            if self.node_count == 0:
                await self.create_nodes(1)
            elif self.node_count != 1:
                raise RuntimeStartError("--dev-node-secret needs a store holding only that node")
        elif create:
            await self.create_nodes(create)

    async def _start_servers(self) -> dict[str, Any]:
        """The admin API (0600 Unix socket) and metrics listeners; what the runtime file
        and ready line say."""
        admin_path = Path(self.cfg.admin_socket or admin_socket(self.cfg.store)).absolute()
        await self.listeners.start_admin(admin_routes.routes(self), admin_path)
        if self.cfg.metrics_port is not None:
            await self.listeners.start_metrics(self.metrics_text, self.cfg.metrics_port)
        info: dict[str, Any] = {"admin": str(admin_path), "pid": os.getpid(),
                "metrics_port": self.listeners.metrics_port,
                "listen_port": self.cfg.listen_port}  # fmt: skip
        if self.hub is not None:
            info["signer_port"] = self.hub.port
            info["runtime_pubkey"] = self.hub.pubkey.hex()
            info["link_key_sealed"] = self.hub.key_sealed
        return info

    async def _print_ready(self, info: dict[str, Any], t0: float) -> None:
        sample = [
            {"node_id": row.node_id.hex(), "host": row.host, "port": row.port}
            for row in await asyncio.to_thread(self._page, None, 16)
        ]
        ready = {"event": "ready", **info, "workers": self.cfg.workers,
                 "worker_pids": [p.pid if p else None for p in self.procs],
                 "node_count": self.node_count, "nodes": sample,
                 "features": feat.advertised(),
                 "startup_s": round(time.monotonic() - t0, 3)}  # fmt: skip
        print(json.dumps(ready), flush=True)
        log.info("event=ready nodes=%d workers=%d port=%d", self.node_count, self.cfg.workers,
                 self.cfg.listen_port)  # fmt: skip

    async def _shutdown(self, watchers: list[asyncio.Task[None]]) -> None:
        self.stopping = True
        log.info("event=stopping")
        for p in self.procs:
            if p is not None and p.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        for p in self.procs:
            if p is not None:
                try:
                    await asyncio.wait_for(p.wait(), 10)
                except TimeoutError:
                    p.kill()
        for w in watchers:
            w.cancel()
        if self._wake_task is not None:
            self._wake_task.cancel()
        self.control_server.close()
        await self.graph.close()
        if self._chain_task is not None and self.chain is not None:
            self._chain_stop.set()
            await self._chain_task
            self.chain.close()
        if self.channel_server is not None:
            self.channel_server.close()
        if self.hub is not None:
            await self.hub.close()
        await self.listeners.close()
        with contextlib.suppress(OSError):
            runtime_file(self.cfg.store).unlink()
        self.timers.close()
        self.store.close()
        log.info("event=stopped")
