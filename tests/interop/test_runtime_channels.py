"""LND opens a real channel to a SLEEPING hosted node (issue 9, the product's critical
path): the runtime wakes the node for `open_channel`, the node's dev signer (a real
`SignerCore` with its own copy of the channel) gives the keys and every signature, the
state is written before `funding_signed` leaves, the one chain watcher sees the funding
output confirm, the node sends `channel_ready`, and `lncli listchannels` shows the channel
active. The admin API lists it from the non-secret summary, the node asleep."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime
from tests.interop.chain_support import url_of
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

CAPACITY_SAT = 100_000
DEPTH = 3  # NodeConfig.minimum_depth


@pytest.fixture(scope="module")
def runtime(lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VajraProcess]:
    store: Path = tmp_path_factory.mktemp("chan-runtime") / "store.db"
    env = dict(os.environ, VAJRA_CHAIN_URL=url_of(lnd_pair.btcd))
    extra = ("--chain-poll", "0.2", "--idle-timeout", "3")
    rt = start_runtime(store, create=2, workers=2, extra=extra, env=env)
    try:
        yield rt
    finally:
        rt.stop()


def _channels(rt: VajraProcess, node_id: str) -> list[dict[str, Any]]:
    return list(rt.admin(f"/v1/nodes/{node_id}/channels")["channels"])


def _lnd_channel(lnd_pair: LndPair, node_id: str, *, active: bool) -> dict[str, Any] | None:
    for c in lnd_pair.alice.list_channels(active_only=active):
        if c["remote_pubkey"] == node_id:
            return c
    return None


def _asleep(rt: VajraProcess) -> bool:
    return rt.counters().get("awake", 0) == 0


@pytest.mark.timeout(600)
def test_lnd_opens_a_channel_to_a_sleeping_node(lnd_pair: LndPair, runtime: VajraProcess) -> None:
    alice, btcd = lnd_pair.alice, lnd_pair.btcd
    node = runtime.nodes()[0]
    node_id = str(node["node_id"])
    wait_until(lambda: _asleep(runtime), timeout=30, what="all nodes asleep")
    alice.connect(f"{node_id}@{node['host']}:{node['port']}")
    before = runtime.counters()
    res = alice.cli("openchannel", f"--node_key={node_id}", f"--local_amt={CAPACITY_SAT}",
                    "--private", "--sat_per_vbyte=2")  # fmt: skip
    funding_txid = str(res["funding_txid"])
    # funding_signed came back: LND holds a pending channel and broadcast the funding tx.
    pending = alice.pending_channels()["pending_open_channels"]
    assert any(p["channel"]["remote_node_pub"] == node_id for p in pending), pending
    assert runtime.counters()["wakes"] > before.get("wakes", 0)  # the node was woken for it
    (summary,) = _channels(runtime, node_id)
    assert summary["state"] == "awaiting_depth" and summary["capacity_sat"] == CAPACITY_SAT
    assert summary["funding_txid"] == funding_txid and summary["funder"] == "remote"
    # The node sleeps; the blocks wake it (the watcher saw its funding output).
    wait_until(lambda: _asleep(runtime), timeout=30, what="the node asleep again")
    btcd.generate(DEPTH + 3)
    wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None, timeout=120,
               interval=1, what="LND lists the channel active")  # fmt: skip
    ch = _lnd_channel(lnd_pair, node_id, active=True)
    assert ch is not None and int(ch["capacity"]) == CAPACITY_SAT
    assert ch["channel_point"].startswith(funding_txid)
    wait_until(lambda: _channels(runtime, node_id)[0]["state"] == "ready", timeout=30,
               what="the node's summary says ready")  # fmt: skip
    (summary,) = _channels(runtime, node_id)
    assert summary["remote_balance_msat"] + summary["local_balance_msat"] <= CAPACITY_SAT * 1000
    assert summary["local_balance_msat"] == 0  # nothing pushed: all LND's
