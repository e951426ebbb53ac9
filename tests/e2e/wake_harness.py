"""A runtime's chain-wake path in ONE process, for the crash test: the supervisor's side
(`ChainService` on a real btcd, `TimerTable`, `WakeRouter`, `ControlServer`) and a
worker's (`ControlClient`, `NodeHost` with the dev signer) over a real control socket
pair, on one real SQLite store. Run as `python -m tests.e2e.wake_harness MODE STORE URL`:

- `register H`: wake node 0 once and have it emit `Watch(FUNDING, script_of("harness
  funding"))` and `WakeAt(height=H)` (what channel logic will do), print `registered`,
  then serve; `--kill-on-write`: SIGKILL this process at the node's next state write,
  i.e. between `Node.on_wake` and the write (a real kill -9 at that exact point);
- `serve`: serve until the node's waking events are acked and its timer row is gone,
  print `served`, sleep the node, exit 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from typing import Any

from tests.e2e.runtime_proc import SEED
from tests.interop.chain_support import script_of
from vajra.chain.types import Purpose
from vajra.node.effects import Wake, WakeAt, Watch
from vajra.runtime.chain_service import ChainService
from vajra.runtime.control import ControlClient, ControlServer, serve_push
from vajra.runtime.control_proto import WakePush
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import HostConfig, NodeHost
from vajra.runtime.timers import TimerTable
from vajra.runtime.wake_router import WakeRouter
from vajra.store import SealedStore, SqliteStore

FUNDING = script_of("harness funding")


class KillingStore(SealedStore):
    """Dies by SIGKILL at the first write once armed."""

    armed = False

    def put(self, *a: Any, **kw: Any) -> int:
        if self.armed:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().put(*a, **kw)


async def main(mode: str, store: str, url: str, height: int, kill: bool) -> None:
    chain = ChainService(url, store, poll_interval=0.05)
    timers = TimerTable(store)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    router = WakeRouter(1, timers, chain.watcher, lambda w, p: server.push(w, p), capacity=16)
    server = ControlServer([a], router)
    chain.on_wake = lambda index, _e: router.chain_event(index)
    chain.on_tip = router.on_tip
    signer = LocalSigner.open(SEED, store + ".signer")
    id_file = store + ".harness-node"
    if not os.path.exists(id_file):
        with open(id_file, "w") as f:
            f.write((await signer.create_nodes(1))[0].node_id.hex())
    with open(id_file) as f:
        node_id = bytes.fromhex(f.read())
    sealed = KillingStore(SqliteStore(store))
    tasks: set[asyncio.Task[None]] = set()

    def on_push(push: WakePush) -> None:
        async def run() -> None:
            await serve_push(host, client, node_id, push)
            client.done(push, True)

        t = asyncio.get_running_loop().create_task(run())
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    client = ControlClient(b.fileno(), store, {node_id: 0}.get, on_push)
    host = NodeHost(sealed, signer, HostConfig("harness/w0"), services=client)
    server.start()
    client.start()
    stop = asyncio.Event()
    follow = asyncio.create_task(chain.run(stop))
    router.recover(router.pending_nodes())
    if mode == "register":
        await host.wake(node_id, Wake("timer", chain.watcher.tip()))
        node = host._awake[node_id].node
        node.emit(Watch(Purpose.FUNDING, script_pubkey=FUNDING))
        node.emit(WakeAt(height=height))
        await host.wake(node_id, Wake("timer", chain.watcher.tip()))  # runs the effects
        assert host.effect_failures == 0
        sealed.armed = kill
        print(json.dumps({"event": "registered", "node_id": node_id.hex()}), flush=True)
        await asyncio.sleep(120)  # the kill comes before this ends
        sys.exit(3)
    while True:  # serve
        router.tick()
        unacked = chain.watcher.events(0)
        if not unacked and len(timers) == 0 and not router.pending:
            break
        await asyncio.sleep(0.1)
    await host.close()
    print(json.dumps({"event": "served", "chain_wakes": host.chain_wakes}), flush=True)
    stop.set()
    await follow


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2], int(args[3]), "--kill-on-write" in args))
