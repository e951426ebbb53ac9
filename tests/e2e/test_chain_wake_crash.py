"""Chain events are re-delivered after a kill -9 between `Node.on_wake` and the node's
state write: they are acknowledged only once the state that handled them is written
(decision 0021). Real btcd, real SQLite, a real SIGKILL at that exact point (the
harness kills itself inside the store write: `tests/e2e/wake_harness.py`); the node's
watch and deadline go through the real control channel, watcher and timer table."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.state_reader import read_state
from tests.e2e.wake_harness import FUNDING
from tests.interop.chain_support import Miner, source_of, url_of
from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import TestbedNotInstalled

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _harness(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.wake_harness", *args],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip


def _line(p: subprocess.Popen[str]) -> dict[str, object]:
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line, f"harness exited {p.wait()} before its line"
    return dict(json.loads(line))


def _rows(store: Path, sql: str) -> list[tuple[int, ...]]:
    with sqlite3.connect(store) as db:
        return [tuple(int(x) for x in r) for r in db.execute(sql).fetchall()]


def test_events_come_again_after_a_kill_between_on_wake_and_the_state_write(
    tmp_path: Path,
) -> None:
    try:
        tb_paths.installed("btcd")
    except TestbedNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    miner = Miner()
    node = Btcd(tmp_path / "btcd", mining_address=miner.address)
    node.start()
    procs: list[subprocess.Popen[str]] = []
    try:
        node.generate(COINBASE_MATURITY + 1)
        src = source_of(node)
        coin = miner.coinbase_coins(src, range(1, 2))[0]
        store = tmp_path / "store.sqlite"
        due = node.getblockcount() + 2
        p = _harness("register", str(store), url_of(node), str(due), "--kill-on-write")
        procs.append(p)
        node_id = bytes.fromhex(str(_line(p)["node_id"]))
        src.broadcast(miner.spend(coin, [(FUNDING, 40_000)]))
        node.generate(1)
        assert p.wait(60) == -9  # killed inside the state write that followed on_wake
        events = _rows(store, "SELECT seq, wake, acked FROM chain_events WHERE node = 0")
        assert events and all(w == 1 and a == 0 for _, w, a in events)  # none acked
        assert _rows(store, "SELECT node, height FROM runtime_timers") == [(0, due)]
        node.generate(1)  # the deadline's height
        p = _harness("serve", str(store), url_of(node), "0")
        procs.append(p)
        served = _line(p)
        assert p.wait(60) == 0 and int(str(served["chain_wakes"])) >= 1
        after = _rows(store, "SELECT seq, acked FROM chain_events WHERE node = 0")
        assert after and all(a == 1 for _, a in after)  # delivered again, then acked
        assert _rows(store, "SELECT node FROM runtime_timers") == []  # the timer woke it
        assert read_state(store, node_id).chain_seq == max(s for s, _ in after)
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
        node.stop()
