"""LND force-closes a channel to a SLEEPING hosted node (issue 11, BOLT 5): the funding
spend wakes the node through the one chain watcher, the node recognises LND's latest
commitment, and once it confirms sweeps its `to_remote` (CSV 1 under anchors) to its own
wallet through its signer's sweep policy (P2WPKH at once without anchors); the wallet receives exactly the output's
value less the sweep's fee, which is the feerate asked times the sweep's weight."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runtime_proc import start_runtime
from tests.interop.chain_support import url_of
from tests.interop.test_runtime_channels import (
    CAPACITY_SAT,
    DEPTH,
    EXTRA,
    Runtime,
    _asleep,
    _channels,
    _cli,
    _connect,
    _invoice,
    _lnd_channel,
    _wallet,
)
from vajra.bitcoin.tx import Tx
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

PAID_MSAT = 30_000_000


class _Runtime(Runtime):
    """Three nodes: one per test (a node's summary is read as its only channel); one to
    spare."""

    def __init__(self, store: Path, env: dict[str, str]) -> None:
        self.store, self.env = store, env
        self.proc = start_runtime(store, create=3, workers=2, extra=EXTRA, env=env)


@pytest.fixture(scope="module")
def runtime(lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    store: Path = tmp_path_factory.mktemp("force-close-runtime") / "store.db"
    rt = _Runtime(store, dict(os.environ, VAJRA_CHAIN_URL=url_of(lnd_pair.btcd)))
    try:
        yield rt
    finally:
        rt.proc.stop()


def _open_and_pay(
    lnd_pair: LndPair, runtime: Runtime, index: int = 0, *extra: str
) -> tuple[str, dict[str, Any]]:
    """A fresh channel LND -> node `index`, then LND pays the node PAID_MSAT."""
    alice, btcd, rt = lnd_pair.alice, lnd_pair.btcd, runtime.proc
    node = rt.nodes()[index]
    node_id = str(node["node_id"])
    _connect(lnd_pair, f"{node_id}@{node['host']}:{node['port']}")
    alice.cli("openchannel", f"--node_key={node_id}", f"--local_amt={CAPACITY_SAT}",
              "--private", "--sat_per_vbyte=2", *extra)  # fmt: skip
    btcd.generate(DEPTH + 3)
    wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None, timeout=120,
               interval=1, what="the channel active")  # fmt: skip
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "ready", timeout=30,
               what="the node's summary says ready")  # fmt: skip
    for attempt in range(3):
        try:
            alice.pay_invoice(str(_invoice(rt, node_id, PAID_MSAT)["bolt11"]))
            break
        except DaemonFailed as e:
            # LND may report the fresh channel active before its link takes HTLCs
            # (FAILURE_REASON_INSUFFICIENT_BALANCE with no HTLC sent): try again
            if "INSUFFICIENT_BALANCE" not in str(e) or attempt == 2:
                raise
            time.sleep(3)
    wait_until(lambda: _channels(rt, node_id)[0]["local_balance_msat"] == PAID_MSAT,
               timeout=30, what="the payment in the summary")  # fmt: skip
    ch = _lnd_channel(lnd_pair, node_id, active=True)
    assert ch is not None
    return node_id, ch


@pytest.mark.timeout(900)
def test_lnd_force_closes_and_the_sleeping_node_sweeps_to_remote(
    lnd_pair: LndPair, runtime: Runtime
) -> None:
    alice, btcd, rt = lnd_pair.alice, lnd_pair.btcd, runtime.proc
    node_id, ch = _open_and_pay(lnd_pair, runtime)
    # LND opens option_static_remotekey without anchors with a hosted node (the node
    # does not advertise option_anchors; `--channel_type=anchors` is refused "not
    # supported"): to_remote is P2WPKH to the node's payment basepoint, swept at once.
    # (The anchors CSV 1 path is covered by the unit tests.)
    anchors = "ANCHORS" in str(ch.get("commitment_type", ""))
    feerate = max(int(ch["fee_per_kw"]), 253)  # the sweep pays the commitment's feerate
    rt.admin(f"/v1/nodes/{node_id}/wallet/address", {})  # the node's wallet record
    before = _wallet(rt, node_id)["confirmed_sat"]
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    txid, vout = str(ch["channel_point"]).split(":")
    alice.cli("closechannel", "--force", f"--funding_txid={txid}", f"--output_index={vout}",
              timeout=180)  # fmt: skip
    # The commitment in the mempool wakes the node: it recognises LND's commitment.
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "closing_onchain", timeout=60,
               what="the node sees LND's commitment")  # fmt: skip
    onchain = _channels(rt, node_id)[0]["onchain"]
    assert onchain["close"] == "counterparty", onchain
    (claim,) = onchain["claims"]
    assert claim["kind"] == "to_remote" and claim["value_sat"] == PAID_MSAT // 1000
    # Mined: the sweep may enter the next block (CSV 1 at most); broadcast at once.
    btcd.generate(1)
    wait_until(lambda: _channels(rt, node_id)[0]["onchain"]["claims"][0]["spend_txid"]
               is not None, timeout=60, what="the sweep broadcast")  # fmt: skip
    sweep_txid = str(_channels(rt, node_id)[0]["onchain"]["claims"][0]["spend_txid"])
    btcd.generate(1)
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "closed", timeout=60,
               what="the sweep confirmed")  # fmt: skip
    sweep = Tx.parse(bytes.fromhex(btcd.call("getrawtransaction", sweep_txid)))
    assert sweep.inputs[0].sequence == (1 if anchors else 0xFFFF_FFFD)
    (out,) = sweep.outputs
    fee = claim["value_sat"] - out.amount_sat
    # The commitment's feerate over the sweep's expected weight (signatures counted at
    # 73 bytes: the real weight is at most 2 bytes lighter per signature), rounded down.
    # BOLT 3: fee = feerate * weight // 1000 (rounded down) over the expected weight,
    # which is the real one or up to 2 bytes more (a 72-byte signature)
    assert feerate * sweep.weight // 1000 <= fee <= feerate * (sweep.weight + 2) // 1000
    wait_until(lambda: _wallet(rt, node_id)["confirmed_sat"] == before + out.amount_sat,
               timeout=60, interval=1, what="the swept amount confirmed in the wallet")  # fmt: skip
    assert out.amount_sat == PAID_MSAT // 1000 - fee
    # LND has left the channel (it waits out its own to_self_delay before it lists it
    # as closed)
    assert _lnd_channel(lnd_pair, node_id, active=False) is None


TO_SELF_DELAY = 10  # LND's --remote_csv_delay: what the node's to_local waits


@pytest.mark.timeout(900)
def test_the_node_force_closes_and_sweeps_to_local_after_to_self_delay(
    lnd_pair: LndPair, runtime: Runtime
) -> None:
    """`vajra node ID close CHANNEL_ID --force`: the node's latest commitment, signed by
    its signer, is broadcast; `to_local` is swept exactly when `to_self_delay` allows
    (the node's timer wakes it at that height), to its wallet, to the satoshi."""
    btcd, rt = lnd_pair.btcd, runtime.proc
    node_id, ch = _open_and_pay(lnd_pair, runtime, 1, f"--remote_csv_delay={TO_SELF_DELAY}")
    feerate = max(int(ch["fee_per_kw"]), 253)
    rt.admin(f"/v1/nodes/{node_id}/wallet/address", {})
    before = _wallet(rt, node_id)["confirmed_sat"]
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    (summary,) = _channels(rt, node_id)
    out = _cli(rt, node_id, "close", str(summary["channel_id"]), "--force")
    assert out["state"] == "closing_onchain" and out["onchain"]["close"] == "holder", out
    commitment_txid = str(out["onchain"]["txid"])
    (claim,) = out["onchain"]["claims"]
    assert claim["kind"] == "to_local" and claim["value_sat"] == PAID_MSAT // 1000
    # LND saw our commitment (the error told it, and the mempool has it)
    wait_until(lambda: commitment_txid in btcd.call("getrawmempool"), timeout=30,
               what="the commitment in the mempool")  # fmt: skip
    btcd.generate(1)
    height = int(btcd.call("getblockcount"))
    wait_until(lambda: _channels(rt, node_id)[0]["onchain"]["claims"][0]["confirmed_at"]
               == height, timeout=60, what="the node sees its commitment mined")  # fmt: skip
    spendable = _channels(rt, node_id)[0]["onchain"]["claims"][0]["spendable_height"]
    assert spendable == height + TO_SELF_DELAY - 1  # BIP 68: the block at h + delay
    btcd.generate(TO_SELF_DELAY - 2)  # tip one short: nothing yet
    time.sleep(3)
    assert _channels(rt, node_id)[0]["onchain"]["claims"][0]["spend_txid"] is None
    btcd.generate(1)  # the timer's height: the node wakes and sweeps
    wait_until(lambda: _channels(rt, node_id)[0]["onchain"]["claims"][0]["spend_txid"]
               is not None, timeout=60, what="the to_local sweep broadcast")  # fmt: skip
    sweep_txid = str(_channels(rt, node_id)[0]["onchain"]["claims"][0]["spend_txid"])
    btcd.generate(1)
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "closed", timeout=60,
               what="the sweep confirmed")  # fmt: skip
    sweep = Tx.parse(bytes.fromhex(btcd.call("getrawtransaction", sweep_txid)))
    assert sweep.inputs[0].sequence == TO_SELF_DELAY
    (swept,) = sweep.outputs
    fee = claim["value_sat"] - swept.amount_sat
    # BOLT 3: fee = feerate * weight // 1000 (rounded down) over the expected weight,
    # which is the real one or up to 2 bytes more (a 72-byte signature)
    assert feerate * sweep.weight // 1000 <= fee <= feerate * (sweep.weight + 2) // 1000
    wait_until(lambda: _wallet(rt, node_id)["confirmed_sat"] == before + swept.amount_sat,
               timeout=60, interval=1, what="the swept amount confirmed in the wallet")  # fmt: skip
    # LND resolves its side (its to_remote, not delayed for it)
    assert _lnd_channel(lnd_pair, node_id, active=False) is None
