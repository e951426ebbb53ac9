"""LDK and a SLEEPING hosted node through the runtime (issue 9): LDK opens a real channel
to it (the node as fundee, as with LND), and cooperative closes started from each side
confirm on btcd with the node's share in its wallet to the satoshi, LDK agreeing.

One runtime (dev signer) on the session's btcd, the module's LDK node (`ldk_on_chain`,
funded by alice). Each test opens its own channel from LDK to a node of the runtime with
a push, so the node has a share; the close's fee is LDK's (the funder's, BOLT 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime
from tests.interop.chain_support import url_of
from vajra.testbed.btcd import Btcd
from vajra.testbed.ldk import LdkOpened, LdkPeer
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

CAPACITY_SAT = 120_000
PUSH_MSAT = 31_000_000
DEPTH = 3  # NodeConfig.minimum_depth (LDK as funder waits for the fundee's depth)
EXTRA = ("--chain-poll", "0.2", "--idle-timeout", "3")


@pytest.fixture(scope="module")
def runtime(lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VajraProcess]:
    store: Path = tmp_path_factory.mktemp("ldk-runtime") / "store.db"
    env = dict(os.environ, VAJRA_CHAIN_URL=url_of(lnd_pair.btcd))
    rt = start_runtime(store, create=3, workers=2, extra=EXTRA, env=env)
    try:
        yield rt
    finally:
        rt.stop()


def _channels(rt: VajraProcess, node_id: str) -> list[dict[str, Any]]:
    return list(rt.admin(f"/v1/nodes/{node_id}/channels")["channels"])


def _channel(rt: VajraProcess, node_id: str, channel_id: str) -> dict[str, Any]:
    (c,) = [c for c in _channels(rt, node_id) if c.get("channel_id") == channel_id]
    return c


def _wallet(rt: VajraProcess, node_id: str) -> dict[str, Any]:
    return dict(rt.admin(f"/v1/nodes/{node_id}/wallet/balance"))


def _asleep(rt: VajraProcess) -> bool:
    return rt.counters().get("awake", 0) == 0


def _cli(rt: VajraProcess, node_id: str, *args: str) -> dict[str, Any]:
    """`vajra node ID ACTION ... --json` against the runtime's admin socket."""
    out = subprocess.run(
        [sys.executable, "-m", "vajra", "node", node_id, *args, "--json",
         "--admin", str(rt.ready["admin"])],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def _outputs(btcd: Btcd, txid: str) -> dict[str, int]:
    """scriptPubKey hex -> sat of a transaction btcd knows."""
    tx = btcd.getrawtransaction(txid)
    return {str(o["scriptPubKey"]["hex"]): round(o["value"] * 100_000_000) for o in tx["vout"]}


def _open_to_sleeping_node(
    ldk: LdkPeer, btcd: Btcd, rt: VajraProcess, index: int
) -> tuple[str, LdkOpened]:
    """LDK connects to node `index` (asleep), opens with a push; the node wakes for it,
    sleeps while the funding confirms, and is woken by the watcher to send
    `channel_ready`: LDK lists the channel usable, the node's summary says ready."""
    node = rt.nodes()[index]
    node_id = str(node["node_id"])
    rt.admin(f"/v1/nodes/{node_id}/wallet/address", {})  # the wallet its share goes to
    wait_until(lambda: _asleep(rt), timeout=30, what="the nodes asleep")
    if node_id not in ldk.list_peers():
        ldk.connect(str(node["host"]), int(node["port"]), node_id)
    wakes = rt.counters().get("wakes", 0)
    opened = ldk.open_channel(node_id, CAPACITY_SAT, push_msat=PUSH_MSAT)
    # open_channel woke the node (workers publish counters every 0.1 s: wait for it).
    wait_until(lambda: rt.counters().get("wakes", 0) > wakes, timeout=10, what="the wake")
    summary = _channel(rt, node_id, opened.channel_id)
    assert summary["state"] == "awaiting_depth" and summary["funder"] == "remote"
    assert summary["funding_txid"] == opened.funding_txid
    assert summary["capacity_sat"] == CAPACITY_SAT
    ldk.wait_event("broadcast", where={"txid": opened.funding_txid, "ok": True})
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep again")
    btcd.generate(DEPTH + 3)

    def usable() -> bool:
        ldk.sync()
        c = ldk.channel(opened.channel_id)
        return c is not None and c.is_usable

    wait_until(usable, timeout=120, interval=1, what="LDK lists the channel usable")
    wait_until(lambda: _channel(rt, node_id, opened.channel_id)["state"] == "ready",
               timeout=30, what="the node's summary says ready")  # fmt: skip
    summary = _channel(rt, node_id, opened.channel_id)
    assert summary["local_balance_msat"] == PUSH_MSAT
    assert summary["remote_balance_msat"] == CAPACITY_SAT * 1000 - PUSH_MSAT
    c = ldk.channel(opened.channel_id)
    assert c is not None and c.counterparty == node_id and c.capacity_sat == CAPACITY_SAT
    return node_id, opened


def _closed_to_the_sat(
    ldk: LdkPeer, btcd: Btcd, rt: VajraProcess, node_id: str, opened: LdkOpened,
    before_sat: int, reason: str,
) -> None:  # fmt: skip
    """The agreed closing tx confirms; the node records it closed at its height, its
    wallet holds exactly its channel balance more; LDK saw the same close."""
    wait_until(lambda: "closing_txid" in _channel(rt, node_id, opened.channel_id),
               timeout=60, what="the node's summary names the closing tx")  # fmt: skip
    closing_txid = str(_channel(rt, node_id, opened.channel_id)["closing_txid"])
    btcd.wait_mempool(1)
    btcd.generate(1)
    wait_until(lambda: _channel(rt, node_id, opened.channel_id)["state"] == "closed",
               timeout=60, what="the node's summary says closed")  # fmt: skip
    summary = _channel(rt, node_id, opened.channel_id)
    assert summary["closing_txid"] == closing_txid
    assert summary["closing_height"] == btcd.getblockcount()
    share_sat = PUSH_MSAT // 1000
    wait_until(lambda: _wallet(rt, node_id)["confirmed_sat"] == before_sat + share_sat,
               timeout=60, interval=1, what="the node's share confirmed in its wallet")  # fmt: skip
    outs = _outputs(btcd, closing_txid)
    assert share_sat in outs.values() and sum(outs.values()) < CAPACITY_SAT  # LDK paid the fee
    ldk.sync()
    ev = ldk.wait_event("channel_closed", where={"channel_id": opened.channel_id}, timeout=30)
    assert ev["reason"] == reason, ev


@pytest.mark.timeout(900)
def test_ldk_opens_to_a_sleeping_node_and_closes_cooperatively(
    ldk_on_chain: LdkPeer, lnd_pair: LndPair, runtime: VajraProcess
) -> None:
    ldk, btcd, rt = ldk_on_chain, lnd_pair.btcd, runtime
    node_id, opened = _open_to_sleeping_node(ldk, btcd, rt, 0)
    before = _wallet(rt, node_id)["confirmed_sat"]
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    # LDK (the funder) starts the close: its shutdown wakes the node, which answers with
    # its wallet's script; LDK proposes the fee with its fee_range, the node agrees.
    ldk.close_channel(opened.channel_id, node_id)
    _closed_to_the_sat(ldk, btcd, rt, node_id, opened, before,
                       "LocallyInitiatedCooperativeClosure")  # fmt: skip


@pytest.mark.timeout(900)
def test_the_node_closes_cooperatively_with_ldk(
    ldk_on_chain: LdkPeer, lnd_pair: LndPair, runtime: VajraProcess
) -> None:
    ldk, btcd, rt = ldk_on_chain, lnd_pair.btcd, runtime
    node_id, opened = _open_to_sleeping_node(ldk, btcd, rt, 1)
    before = _wallet(rt, node_id)["confirmed_sat"]
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    # The operator closes: the runtime wakes the node, which sends its shutdown over
    # LDK's session; LDK answers and, as funder, proposes the fee.
    view = _cli(rt, node_id, "close", opened.channel_id)
    assert view["channel_id"] == opened.channel_id and view["state"] == "closing"
    assert "closing_txid" in view  # the CLI waited for the agreed transaction
    _closed_to_the_sat(ldk, btcd, rt, node_id, opened, before,
                       "CounterpartyInitiatedCooperativeClosure")  # fmt: skip
