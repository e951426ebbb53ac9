"""LND force-closes a channel to a SLEEPING hosted node (issue 11, BOLT 5): the funding
spend wakes the node through the one chain watcher, the node recognises LND's latest
commitment, and once it confirms sweeps its `to_remote` (CSV 1 under anchors) to its own
wallet through its signer's sweep policy (P2WPKH at once without anchors); the wallet receives exactly the output's
value less the sweep's fee, which is the feerate asked times the sweep's weight."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.chain_support import url_of
from tests.interop.test_runtime_channels import (
    CAPACITY_SAT,
    DEPTH,
    Runtime,
    _asleep,
    _channels,
    _connect,
    _invoice,
    _lnd_channel,
    _wallet,
)
from vajra.bitcoin.tx import Tx
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

PAID_MSAT = 30_000_000


@pytest.fixture(scope="module")
def runtime(lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    store: Path = tmp_path_factory.mktemp("force-close-runtime") / "store.db"
    rt = Runtime(store, dict(os.environ, VAJRA_CHAIN_URL=url_of(lnd_pair.btcd)))
    try:
        yield rt
    finally:
        rt.proc.stop()


def _open_and_pay(lnd_pair: LndPair, runtime: Runtime) -> tuple[str, dict[str, Any]]:
    """A fresh channel LND -> node 0, then LND pays the node PAID_MSAT."""
    alice, btcd, rt = lnd_pair.alice, lnd_pair.btcd, runtime.proc
    node = rt.nodes()[0]
    node_id = str(node["node_id"])
    _connect(lnd_pair, f"{node_id}@{node['host']}:{node['port']}")
    alice.cli("openchannel", f"--node_key={node_id}", f"--local_amt={CAPACITY_SAT}",
              "--private", "--sat_per_vbyte=2")  # fmt: skip
    btcd.generate(DEPTH + 3)
    wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None, timeout=120,
               interval=1, what="the channel active")  # fmt: skip
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "ready", timeout=30,
               what="the node's summary says ready")  # fmt: skip
    alice.pay_invoice(str(_invoice(rt, node_id, PAID_MSAT)["bolt11"]))
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
    # LND picks option_static_remotekey without anchors with a hosted node: to_remote
    # is P2WPKH to the node's payment basepoint (with anchors: CSV 1), swept either way.
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
    (out,) = sweep.outputs
    fee = claim["value_sat"] - out.amount_sat
    # The commitment's feerate over the sweep's expected weight (signatures counted at
    # 73 bytes: the real weight is at most 2 bytes lighter per signature).
    assert fee * 1000 >= feerate * sweep.weight
    assert fee <= feerate * (sweep.weight + 2) // 1000
    wait_until(lambda: _wallet(rt, node_id)["confirmed_sat"] == before + out.amount_sat,
               timeout=60, interval=1, what="the swept amount confirmed in the wallet")  # fmt: skip
    assert out.amount_sat == PAID_MSAT // 1000 - fee
    # LND has left the channel (it waits out its own to_self_delay before it lists it
    # as closed)
    assert _lnd_channel(lnd_pair, node_id, active=False) is None
