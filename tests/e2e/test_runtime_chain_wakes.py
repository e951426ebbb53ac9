"""Chain events and timers wake sleeping hosted nodes in a real `vajra runtime --dev --chain
btcd://...` (decision 0021): a block paying a node's FUNDING script wakes it with the
event, acknowledged only once its state is written, also when the node's worker was
killed -9 just before (the push waits for its replacement); a deadline at height H wakes
its node when the tip reaches H, also when H was reached while the runtime was killed -9.

Registrations are made with the production APIs on the store file while the runtime is
down (the watcher rebuilds its index and the timer table reloads its rows at start):
no hosted node emits `Watch`/`WakeAt` yet (channels do), and no admin door exists for
them on purpose."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime, wait_until
from tests.e2e.state_reader import read_state
from tests.interop.chain_support import Miner, script_of, source_of, url_of
from vajra.chain.db import ChainDb
from vajra.chain.types import Purpose
from vajra.chain.watcher import Watcher
from vajra.runtime.fabric import DEFAULT_POOL, AddressPool
from vajra.runtime.timers import TimerTable
from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import TestbedNotInstalled

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _events(store: Path, index: int) -> list[tuple[int, int, int, int]]:
    """(seq, height, wake, acked) of node `index`'s chain events."""
    with sqlite3.connect(store) as db:
        rows = db.execute(
            "SELECT seq, height, wake, acked FROM chain_events WHERE node = ? ORDER BY seq",
            (index,),
        ).fetchall()
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in rows]


def _all_handled(store: Path, index: int, height: int) -> bool:
    """The block's event is there, and every event of the node (the mempool's too, if the
    watcher saw the transaction before the block) is a waking one, acknowledged."""
    evs = _events(store, index)
    return any(h == height for _, h, _, _ in evs) and all(w and a for _, _, w, a in evs)


def _timers(store: Path) -> dict[int, int | None]:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT node, height FROM runtime_timers").fetchall()
    return {int(n): h for n, h in rows}


def _metric(rt: VajraProcess, name: str) -> int:
    for line in rt.admin("/metrics").splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_chain_event_and_deadline_wake_sleeping_nodes_across_a_kill9(tmp_path: Path) -> None:
    try:
        tb_paths.installed("btcd")
    except TestbedNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    miner = Miner()
    node = Btcd(tmp_path / "btcd", mining_address=miner.address)
    node.start()
    rt: VajraProcess | None = None
    try:
        node.generate(COINBASE_MATURITY + 2)
        src = source_of(node)
        coin, coin2 = miner.coinbase_coins(src, range(1, 3))
        store = tmp_path / "store.sqlite"
        env = dict(os.environ, VAJRA_CHAIN_URL=url_of(node))
        start = node.getblockcount()
        extra = ("--chain-poll", "0.05", "--chain-start-height", str(start),
                 "--idle-timeout", "1")  # fmt: skip
        rt = start_runtime(store, create=3, workers=2, extra=extra, env=env)
        port = rt.ready["listen_port"]
        pool = AddressPool.parse(DEFAULT_POOL, port)
        ids = {pool.index_of(n["host"]): bytes.fromhex(n["node_id"]) for n in rt.ready["nodes"]}
        assert sorted(ids) == [0, 1, 2]  # type: ignore[type-var]
        assert rt.stop() == 0
        # Node 1 (owned by worker 1) watches a funding script; node 2 has a deadline.
        funding = script_of("node-1 funding")
        w = Watcher(ChainDb(store))
        w.watch_scripts(1, [funding], Purpose.FUNDING)
        w.db.close()
        timers = TimerTable(store)
        timers.set(2, start + 3, None)
        timers.close()

        rt = start_runtime(store, workers=2, port=port, extra=extra, env=env)
        wait_until(
            lambda: rt.admin("/v1/status")["chain"]["height"] == start, timeout=30, what="start"
        )
        src.broadcast(miner.spend(coin, [(funding, 50_000)]))
        node.generate(1)  # tip start + 1: pays node 1's funding script
        wait_until(
            lambda: _all_handled(store, 1, start + 1),
            timeout=30, what="node 1 woken, its state written, its events acknowledged",
        )  # fmt: skip
        # The metric is the chain service's count of waking events; read it once the loop
        # has published it (a loaded machine may serve /metrics before that).
        wait_until(lambda: _metric(rt, "vajra_chain_wakes_total") >= 1, timeout=30,
                   what="vajra_chain_wakes_total >= 1")  # fmt: skip
        handled = max(seq for seq, _, _, _ in _events(store, 1))
        # Once node 1 sleeps again (--idle-timeout 1), its written state says it handled
        # the events (NodeState.chain_seq); while it is awake its lease keeps us out.
        wait_until(lambda: read_state(store, ids[1]).chain_seq == handled, timeout=30,
                   what="node 1's state read after it slept")  # fmt: skip
        # Worker 1 (node 1's owner) is killed -9: the wake pushed for the next payment
        # waits in its control channel for the replacement the supervisor starts.
        os.kill(rt.ready["worker_pids"][1], signal.SIGKILL)
        src.broadcast(miner.spend(coin2, [(funding, 60_000)]))
        node.generate(1)  # tip start + 2
        wait_until(
            lambda: _all_handled(store, 1, start + 2),
            timeout=60, what="node 1 woken by its restarted worker",
        )  # fmt: skip
        assert _metric(rt, "vajra_worker_restarts_total") == 1
        assert _timers(store) == {2: start + 3}  # not due yet
        assert _metric(rt, "vajra_timer_wakes_total") == 0
        rt.kill9()
        node.generate(1)  # the deadline's height is reached while the runtime is down
        rt = start_runtime(store, workers=2, port=port, extra=extra, env=env)
        wait_until(lambda: _timers(store) == {}, timeout=30, what="node 2's deadline done")
        wait_until(lambda: _metric(rt, "vajra_timer_wakes_total") == 1, timeout=10,
                   what="the timer wake counted")  # fmt: skip
        assert rt.stop() == 0
        rt = None
    finally:
        if rt is not None:
            rt.stop()
        node.stop()
