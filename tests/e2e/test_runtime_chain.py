"""The runtime's chain watcher end to end: `vajra runtime --chain btcd://...` follows a real
btcd, shows its height in /v1/status and /metrics, and a kill -9 in the middle of a run of
blocks (and blocks mined while it is down) loses and doubles no event."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import VajraProcess, free_port, start_runtime, wait_until
from tests.interop.chain_support import Miner, script_of, source_of, url_of
from vajra.bitcoin.tx import Tx
from vajra.chain.db import ChainDb
from vajra.chain.types import Balance, EventKind, Purpose
from vajra.chain.watcher import Watcher
from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import TestbedNotInstalled

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN = 30  # blocks in the run, each paying the watched node once


def test_restart_during_a_run_of_blocks_loses_and_doubles_no_event(tmp_path: Path) -> None:
    try:
        tb_paths.installed("btcd")
    except TestbedNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    miner = Miner()
    node = Btcd(tmp_path / "btcd", mining_address=miner.address)
    node.start()
    rt: VajraProcess | None = None
    try:
        node.generate(COINBASE_MATURITY + RUN)
        src = source_of(node)
        coins = miner.coinbase_coins(src, range(1, RUN + 1))
        store = tmp_path / "store.sqlite"
        s5 = script_of("node-5")
        w = Watcher(ChainDb(store))
        w.watch_scripts(5, [s5], Purpose.RECEIVE)
        w.db.close()
        env = dict(os.environ, VAJRA_CHAIN_URL=url_of(node))
        start = node.getblockcount()
        extra = ("--chain-poll", "0.05", "--chain-start-height", str(start))
        paid: list[tuple[bytes, int]] = []

        def pay_and_mine(i: int) -> None:
            value = 10_000 + i
            raw = miner.spend(coins[i], [(s5, value)])
            src.broadcast(raw)
            node.generate(1)
            paid.append((Tx.parse(raw).txid, value))

        def chain_height(r: VajraProcess) -> int:
            h = r.admin("/v1/status")["chain"]["height"]
            return -1 if h is None else int(h)

        rt = start_runtime(store, workers=1, extra=extra, env=env)
        wait_until(lambda: chain_height(rt) == start, timeout=30, what="watcher at start")
        for i in range(10):
            pay_and_mine(i)
        seen_before_kill = chain_height(rt)
        rt.kill9()  # in the middle of the run: no clean shutdown
        for i in range(10, 20):
            pay_and_mine(i)  # mined while the runtime is down
        rt = start_runtime(store, workers=1, extra=extra, env=env)
        for i in range(20, RUN):
            pay_and_mine(i)
        tip = node.getblockcount()
        wait_until(lambda: chain_height(rt) == tip, timeout=60, what="watcher caught up")
        # `connected` is set when a poll completes; the height moves inside the poll (blocks
        # commit before its mempool step), so wait for the poll to finish.
        wait_until(
            lambda: rt.admin("/v1/status")["chain"]["connected"], timeout=30, what="a good poll"
        )
        status = rt.admin("/v1/status")["chain"]
        assert status["source_height"] == tip, status
        metrics = rt.admin("/metrics")
        assert f"vajra_chain_watcher_height {tip}\n" in metrics
        assert rt.stop() == 0
        rt = None
        w = Watcher(ChainDb(store))
        events = w.events(5)
        assert all(e.kind is EventKind.RECEIVED for e in events)
        confirmed = [(e.txid, e.value_sat) for e in events if e.height > 0]
        assert sorted(confirmed) == sorted(paid)  # none lost or doubled
        seen_unconfirmed = [e.txid for e in events if e.height == 0]
        assert len(seen_unconfirmed) == len(set(seen_unconfirmed))  # a restart rescans, once
        assert w.balance(5) == Balance(sum(v for _, v in paid), 0)
        assert start <= seen_before_kill <= start + 10
    finally:
        if rt is not None:
            rt.stop()
        node.stop()


def test_a_malformed_chain_url_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vajra", "runtime", "--dev", "--store", str(tmp_path / "s.db"),
         "--chain", "http://nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --chain:"), proc.stderr


def test_a_chain_source_that_is_away_leaves_the_runtime_serving(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = dict(os.environ, VAJRA_CHAIN_URL=f"btcd://u:p@127.0.0.1:{port}?notls=1")
    rt = start_runtime(
        tmp_path / "s.db", create=3, workers=1, extra=("--chain-poll", "0.1"), env=env
    )
    try:
        wait_until(
            lambda: rt.admin("/v1/status")["chain"]["errors"] >= 2, timeout=30, what="retries"
        )
        status = rt.admin("/v1/status")
        assert status["chain"]["connected"] is False and status["chain"]["height"] is None
        assert "refused" in status["chain"]["last_error"].lower()
        assert status["nodes"] == 3 and rt.proc.poll() is None
        assert "vajra_chain_watcher_height -1\n" in rt.admin("/metrics")
    finally:
        assert rt.stop() == 0
    assert "u:p@" not in rt.log_text()  # the credentials never reach the log
