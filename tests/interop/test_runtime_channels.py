"""LND opens a real channel to a SLEEPING hosted node (issue 9, the product's critical
path), and the channel survives the node sleeping, LND reconnecting and a kill -9 of the
runtime.

The runtime wakes the node for `open_channel`; the node's signer (the dev `SignerCore`,
with its own copy of the channel) gives the keys and every signature; the state is
written before `funding_signed` leaves; the one chain watcher sees the funding output
confirm and wakes the node, which sends `channel_ready` once deep enough; `lncli
listchannels` shows the channel active. The admin API lists it from the non-secret
summary while the node sleeps. After a reconnection (and after a kill -9 and restart of
the runtime on the same store), LND's `channel_reestablish` wakes the node, which answers
with its own and the channel is active again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime
from tests.interop.chain_support import url_of
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

CAPACITY_SAT = 100_000
DEPTH = 3  # NodeConfig.minimum_depth
EXTRA = ("--chain-poll", "0.2", "--idle-timeout", "3")


class Runtime:
    """The runtime under test, restartable on the same store and port."""

    def __init__(self, store: Path, env: dict[str, str]) -> None:
        self.store, self.env = store, env
        self.proc = start_runtime(store, create=2, workers=2, extra=EXTRA, env=env)

    def restart_after_kill9(self) -> None:
        self.proc.kill9()
        self.proc = start_runtime(self.store, port=self.proc.port, workers=2, extra=EXTRA,
                                  env=self.env)  # fmt: skip


@pytest.fixture(scope="module")
def runtime(lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    store: Path = tmp_path_factory.mktemp("chan-runtime") / "store.db"
    rt = Runtime(store, dict(os.environ, VAJRA_CHAIN_URL=url_of(lnd_pair.btcd)))
    try:
        yield rt
    finally:
        rt.proc.stop()


def _channels(rt: VajraProcess, node_id: str) -> list[dict[str, Any]]:
    return list(rt.admin(f"/v1/nodes/{node_id}/channels")["channels"])


def _lnd_channel(lnd_pair: LndPair, node_id: str, *, active: bool) -> dict[str, Any] | None:
    for c in lnd_pair.alice.list_channels(active_only=active):
        if c["remote_pubkey"] == node_id:
            return c
    return None


def _asleep(rt: VajraProcess) -> bool:
    return rt.counters().get("awake", 0) == 0


def _connect(lnd_pair: LndPair, uri: str) -> None:
    try:
        lnd_pair.alice.connect(uri)
    except DaemonFailed as e:  # LND may have redialled its channel peer by itself
        if "already connected" not in str(e):
            raise


def _reconnects_active(lnd_pair: LndPair, rt: VajraProcess, node: dict[str, Any]) -> None:
    """LND drops the connection, sees the channel inactive, dials again: its
    `channel_reestablish` wakes the sleeping node and the channel is active again."""
    node_id = str(node["node_id"])
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    before = rt.counters()
    try:
        lnd_pair.alice.cli("disconnect", node_id)
    except DaemonFailed as e:
        if "not connected" not in str(e):
            raise
    wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is None, timeout=60,
               what="LND sees the channel inactive")  # fmt: skip
    _connect(lnd_pair, f"{node_id}@{node['host']}:{node['port']}")
    wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None, timeout=120,
               interval=1, what="the channel active again after channel_reestablish")  # fmt: skip
    # The reestablish woke the node (workers publish counters every 0.1 s: wait for it).
    wait_until(lambda: rt.counters().get("wakes", 0) > before.get("wakes", 0), timeout=10,
               what="the wake counted")  # fmt: skip
    assert rt.counters().get("errors_sent", 0) == before.get("errors_sent", 0)  # none failed


@pytest.mark.timeout(900)
def test_lnd_channel_with_a_sleeping_node_across_reconnects_and_kill9(
    lnd_pair: LndPair, runtime: Runtime
) -> None:
    alice, btcd, rt = lnd_pair.alice, lnd_pair.btcd, runtime.proc
    node = rt.nodes()[0]
    node_id = str(node["node_id"])
    wait_until(lambda: _asleep(rt), timeout=30, what="all nodes asleep")
    _connect(lnd_pair, f"{node_id}@{node['host']}:{node['port']}")
    before = rt.counters()
    res = alice.cli("openchannel", f"--node_key={node_id}", f"--local_amt={CAPACITY_SAT}",
                    "--private", "--sat_per_vbyte=2")  # fmt: skip
    funding_txid = str(res["funding_txid"])
    # funding_signed came back: LND holds a pending channel and broadcast the funding tx.
    pending = alice.pending_channels()["pending_open_channels"]
    assert any(p["channel"]["remote_node_pub"] == node_id for p in pending), pending
    assert rt.counters()["wakes"] > before.get("wakes", 0)  # the node was woken for it
    (summary,) = _channels(rt, node_id)
    assert summary["state"] == "awaiting_depth" and summary["capacity_sat"] == CAPACITY_SAT
    assert summary["funding_txid"] == funding_txid and summary["funder"] == "remote"
    # The node sleeps; the blocks wake it (the watcher saw its funding output).
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep again")
    btcd.generate(DEPTH + 3)
    wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None, timeout=120,
               interval=1, what="LND lists the channel active")  # fmt: skip
    ch = _lnd_channel(lnd_pair, node_id, active=True)
    assert ch is not None and int(ch["capacity"]) == CAPACITY_SAT
    assert ch["channel_point"].startswith(funding_txid)
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "ready", timeout=30,
               what="the node's summary says ready")  # fmt: skip
    (summary,) = _channels(rt, node_id)
    assert summary["local_balance_msat"] == 0  # nothing pushed: all LND's
    # Balances of the commitment spec: the commitment fee (the funder's) is taken when
    # the transaction is built, so LND holds the whole capacity here.
    assert summary["remote_balance_msat"] == CAPACITY_SAT * 1000
    # Sleep, then LND reconnects: channel_reestablish wakes the node.
    _reconnects_active(lnd_pair, rt, node)
    # kill -9 of the whole runtime, restart on the same store and port: the same again.
    runtime.restart_after_kill9()
    rt = runtime.proc
    assert _channels(rt, node_id)[0]["state"] == "ready"  # the summary survived
    _reconnects_active(lnd_pair, rt, node)
