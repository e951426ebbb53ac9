"""The demo's last step: LND-A closes its channel with the sleeping node cooperatively
(`lncli closechannel`), and each side's money is followed onto the chain to the sat.

The node answers LND-A's `shutdown` (it wakes for it) with a script of its own on-chain
wallet (`node/closing.py`; the wallet record must exist: `vajra node ID address` made
it), both negotiate the closing fee (BOLT 2 `closing_signed`, decision 0016), the
signer signs the node's half, and LND-A broadcasts. The checks: the closing tx confirms
with exactly two outputs; the node's output is its channel balance (floor to the sat:
BOLT 3 outputs are whole sat) and arrives in the node's wallet (`vajra node ID balance`);
its share of the closing fee is 0 (BOLT 2: the funder, LND-A, pays it all); LND-A's
output (`lncli closedchannels` settled_balance) is its share of the channel minus the
closing fee the chain shows (capacity - outputs), and its share as LND-A itself counts
it (local balance + commit fee + anchors) is the capacity minus the node's, to the msat.
"""

from __future__ import annotations

from typing import Any

from vajra.demo.common import Demo
from vajra.demo.setup import CHANNEL_SAT
from vajra.testbed.procs import wait_until

ANCHOR_SAT = 330
"""BOLT 3 `option_anchors`: each anchor output's value (two, paid by the funder)."""
CLOSE_DEPTH = 3


def _sat(btc: float) -> int:
    return round(btc * 100_000_000)


def lnd_share_msat(chan: dict[str, Any]) -> int:
    """LND's own count of its side of a channel, msat: local balance, the commitment fee
    and (anchor channels) both anchors, which the funder pays; plus unsettled HTLCs."""
    anchors = 2 * ANCHOR_SAT if "ANCHORS" in str(chan.get("commitment_type", "")) else 0
    return 1000 * (int(chan["local_balance"]) + int(chan["commit_fee"]) + anchors
                   + int(chan.get("unsettled_balance", 0)))  # fmt: skip


def close(d: Demo) -> str:
    addr = d.node("address")["address"]
    before_sat = int(d.node("balance")["confirmed_sat"])
    d.log(f"         the node's on-chain wallet (vajra node ID address): {addr}, "
          f"{before_sat} sat")  # fmt: skip
    d.wait_asleep()
    node_msat = int(d.channel_row()["local_balance_msat"])
    chan = d.lnd_channel()
    lnd_msat = lnd_share_msat(chan)
    if node_msat + lnd_msat != CHANNEL_SAT * 1000:
        raise AssertionError(f"before the close: node {node_msat} + LND-A {lnd_msat} msat "
                             f"!= capacity {CHANNEL_SAT} sat")  # fmt: skip
    txid, vout = str(chan["channel_point"]).split(":")
    wakes = d.counters()["wakes"]
    res = d.lnd_a.cli("closechannel", f"--funding_txid={txid}", f"--output_index={vout}",
                      "--sat_per_vbyte=2", timeout=180)  # fmt: skip
    closing_txid = str(res["closing_txid"])
    d.log(f"         LND-A's shutdown woke the node; fee negotiated, the signer signed the "
          f"node's half; closing tx {closing_txid[:16]}.. broadcast")  # fmt: skip
    wait_until(lambda: closing_txid in d.btcd.getrawmempool(), timeout=30,
               what="the closing tx in btcd's mempool")  # fmt: skip
    d.btcd.generate(CLOSE_DEPTH)
    # "closed" once the closing tx is agreed, or (newer runtimes) once its spend of the
    # funding output confirms: after the blocks, either way.
    wait_until(lambda: d.channel_row()["state"] == "closed", timeout=60, interval=1,
               what="the node's summary to say closed")  # fmt: skip
    tx = d.btcd.getrawtransaction(closing_txid)
    if int(tx.get("confirmations", 0)) < CLOSE_DEPTH:
        raise AssertionError(f"the closing tx has {tx.get('confirmations')} confirmations")
    outs = sorted(_sat(o["value"]) for o in tx["vout"])
    fee_sat = CHANNEL_SAT - sum(outs)
    node_sat = node_msat // 1000
    lnd_sat = lnd_msat // 1000 - fee_sat  # the funder pays the whole closing fee
    if outs != sorted([node_sat, lnd_sat]):
        raise AssertionError(f"closing outputs {outs} sat; want node {node_sat}, LND-A {lnd_sat}")
    wait_until(lambda: int(d.node("balance")["confirmed_sat"]) == before_sat + node_sat,
               timeout=60, interval=1, what="the node's share confirmed in its wallet")  # fmt: skip

    def lnd_closed() -> dict[str, Any] | None:
        for c in d.lnd_a.cli("closedchannels")["channels"]:
            if c["remote_pubkey"] == d.channel_node:
                return dict(c)
        return None

    closed = wait_until(lnd_closed, timeout=60, what="LND-A to list the channel closed")
    if closed["close_type"] != "COOPERATIVE_CLOSE" or closed["closing_tx_hash"] != closing_txid:
        raise AssertionError(f"LND-A's closed channel: {closed}")
    if int(closed["settled_balance"]) != lnd_sat:
        raise AssertionError(f"LND-A settled {closed['settled_balance']} sat, want {lnd_sat}")
    d.wait_asleep("the node asleep after the close")
    d.close = {
        "closing_txid": closing_txid, "confirmations": int(tx["confirmations"]),
        "initiator": "lnd_a", "close_type": closed["close_type"],
        "fee_sat": fee_sat, "fee_paid_by": "lnd_a (the funder)",
        "node_channel_msat": node_msat, "node_fee_share_sat": 0,
        "node_output_sat": node_sat, "node_wallet_sat": before_sat + node_sat,
        "lnd_a_channel_msat": lnd_msat, "lnd_a_settled_sat": lnd_sat,
        "msat_lost_to_rounding": node_msat % 1000 + lnd_msat % 1000,
        "node_wakes": d.counters()["wakes"] - wakes,
    }  # fmt: skip
    d.log(f"         node: {node_msat} msat in the channel -> {node_sat} sat in its wallet "
          f"(fee share 0: LND-A funded); LND-A: {lnd_msat} msat -> {lnd_sat} sat settled "
          f"+ {fee_sat} sat closing fee; capacity {CHANNEL_SAT} sat")  # fmt: skip
    return (f"closed cooperatively, {CLOSE_DEPTH} confirmations; both sides' shares on "
            f"chain to the sat; {d.c('wakes', 'sleeps', 'awake')}")  # fmt: skip
