"""One graph for the whole runtime, on regtest with real LND (issue 10, decision 0027).

Topology: LND-A (alice) and LND-B (bob) with a PUBLIC channel, announced after 6
confirmations; the hosted node H (a runtime with its live signer, `vajra signer run`)
with a PRIVATE channel from LND-A. The runtime syncs gossip once, from LND-A, over its
own session (`--gossip-peer`): the A-B channel enters the one graph only after its four
signatures and its funding output on btcd are checked. Then:

- H pays an LND-B invoice under the ring's authorisation (`vajra node ID pay --device
  ring`): two hops, H -> A -> B, the second from the shared graph (a route the node
  could not know by itself), LND-A's fee exactly as its gossiped policy says; the
  attempt's outcome reaches the one scorer;
- LND-B pays H's invoice through its route hint (B -> A -> H), once whole and once in
  parts (MPP): the hint is the scid and policy of the `channel_update` LND-A sent H for
  the private channel, handed by H's session to the graph's owner;
- after each, the balances agree to the msat on every side: H's channel summary, LND-A's
  and LND-B's channel balances (`channelbalance`, msat) move by exactly the amounts and
  fees, and nothing stays pending.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.e2e.runtime_proc import VajraProcess
from tests.e2e.test_wallet_cli import OWNER_RULES, RING_RULES, Env
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import wait_until

from .conftest import LndPair

pytestmark = [pytest.mark.interop, pytest.mark.slow]

PUBLIC_SAT = 1_000_000
BOB_PUSH_SAT = 300_000
PRIVATE_SAT = 100_000
H_PUSH_SAT = 50_000
DEPTH = 3  # NodeConfig.minimum_depth


def _connect(lnd: Lnd, uri: str) -> None:
    try:
        lnd.connect(uri)
    except DaemonFailed as e:
        if "already connected" not in str(e):
            raise


def _public_channel(lnd_pair: LndPair) -> dict[str, Any]:
    """A new public alice-bob channel (alice pushes bob some, so bob can pay back),
    announced: both policies in alice's graph."""
    alice, bob, btcd = lnd_pair.alice, lnd_pair.bob, lnd_pair.btcd
    txid = alice.open_channel(bob.node_id, PUBLIC_SAT, push_amt_sat=BOB_PUSH_SAT,
                              sat_per_vbyte=2)  # fmt: skip
    btcd.wait_mempool(1)
    btcd.generate(6)  # BOLT 7: announced once the funding transaction is 6 deep

    def ours() -> dict[str, Any] | None:
        for c in alice.list_channels(active_only=True):
            if str(c["channel_point"]).startswith(txid):
                return c
        return None

    ch = wait_until(ours, timeout=120, what="the public channel active")

    def announced() -> dict[str, Any] | None:
        for e in alice.cli("describegraph")["edges"]:
            if e["chan_point"] == ch["channel_point"] and e["node1_policy"] and e["node2_policy"]:
                return dict(e)
        return None

    info = wait_until(announced, timeout=120, what="the channel announced with both policies")
    return {"channel_point": str(ch["channel_point"]), "info": info}


def _forward_fee_msat(info: dict[str, Any], from_node: str, amount_msat: int) -> int:
    """BOLT 7 fee of `from_node`'s direction of the channel for `amount_msat`."""
    pol = info["node1_policy"] if info["node1_pub"] == from_node else info["node2_policy"]
    return int(pol["fee_base_msat"]) + amount_msat * int(pol["fee_rate_milli_msat"]) // 1_000_000


def _graph(rt: VajraProcess) -> dict[str, Any]:
    return dict(rt.admin("/v1/status")["graph"])


def _summary(rt: VajraProcess, node_id: str) -> dict[str, Any]:
    (s,) = rt.admin(f"/v1/nodes/{node_id}/channels")["channels"]
    return dict(s)


def _asleep(rt: VajraProcess) -> bool:
    return rt.counters().get("awake", 0) == 0


def _balances(lnd_pair: LndPair) -> tuple[int, int]:
    return lnd_pair.alice.local_balance_msat(), lnd_pair.bob.local_balance_msat()


def _h_channel(lnd_pair: LndPair, node_id: str) -> dict[str, Any]:
    (ch,) = [c for c in lnd_pair.alice.list_channels(active_only=True)
             if c["remote_pubkey"] == node_id]  # fmt: skip
    return ch


def _settled(lnd_pair: LndPair, rt: VajraProcess, node_id: str, h_local_msat: int) -> None:
    """H's summary shows `h_local_msat`; LND-A agrees (its sat view is the floor) and
    holds no HTLC with H."""
    wait_until(lambda: _summary(rt, node_id)["local_balance_msat"] == h_local_msat,
               timeout=30, what="H's summary balance")  # fmt: skip
    ch = _h_channel(lnd_pair, node_id)
    assert not ch.get("pending_htlcs") and int(ch["unsettled_balance"]) == 0
    assert int(ch["remote_balance"]) == h_local_msat // 1000
    s = _summary(rt, node_id)
    anchors = 660 if "ANCHORS" in str(ch.get("commitment_type", "")) else 0
    lnd_spec_sat = int(ch["local_balance"]) + int(ch["commit_fee"]) + anchors
    assert s["remote_balance_msat"] == PRIVATE_SAT * 1000 - h_local_msat
    # LND's commit_fee is what the outputs leave of the capacity: the sub-sat part of
    # H's balance is in it (BOLT 3 rounds outputs down to the sat).
    assert lnd_spec_sat == PRIVATE_SAT - h_local_msat // 1000


@pytest.mark.timeout(900)
def test_h_pays_lnd_b_over_the_shared_graph_and_lnd_b_pays_h_by_its_hint(
    lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory
) -> None:
    alice, bob, btcd = lnd_pair.alice, lnd_pair.bob, lnd_pair.btcd
    _connect(alice, bob.uri)
    public = _public_channel(lnd_pair)
    env = Env(tmp_path_factory.mktemp("graph-runtime"), btcd)
    try:
        env.json("signer", "init", "--json")
        rt = env.start_runtime("--gossip-peer", f"{alice.node_id}@{alice.p2p_host}")
        code = env.json("runtime", "pairing-code", "--store", str(env.store), "--json")
        env.json("signer", "pair", "--runtime", f"127.0.0.1:{rt.ready['signer_port']}",
                 "--code", code["code"], "--json")  # fmt: skip
        env.start_signer()
        wait_until(lambda: rt.admin("/v1/signers")["signers"][0]["loaded"], timeout=20,
                   what="signer loaded")  # fmt: skip
        env.json("nodes", "--store", str(env.store), "create", "--count", "1", "--signer", "1")
        phone = env.json("device", "create", "--type", "p256", "--name", "phone", "--json")
        env.json("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
        env.json("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
                 "--label", "phone", "--json", *OWNER_RULES)  # fmt: skip
        assert env.json("device", "enroll", "--name", "ring", "--by", "phone", "--label",
                        "ring", *RING_RULES)["outcome"] == "approve"  # fmt: skip

        # The one graph: LND-A's gossip, verified (signatures, funding output on btcd).
        wait_until(lambda: _graph(rt)["channels"] >= 1, timeout=60,
                   what="the public channel in the runtime's graph")  # fmt: skip
        g = _graph(rt)
        assert g["gossip"]["messages"].get("added", 0) >= 3, g  # announcement + 2 updates
        refused = {k: v for k, v in g["gossip"]["messages"].items()
                   if k not in {"added", "updated", "duplicate", "outdated", "unknown_channel",
                                "unknown_node"}}  # fmt: skip
        assert not refused, g  # nothing LND sent failed a BOLT 7 check

        node = rt.nodes()[0]
        node_id = str(node["node_id"])
        _connect(alice, f"{node_id}@{node['host']}:{node['port']}")
        alice.cli("openchannel", f"--node_key={node_id}", f"--local_amt={PRIVATE_SAT}",
                  f"--push_amt={H_PUSH_SAT}", "--private", "--sat_per_vbyte=2")  # fmt: skip
        btcd.generate(DEPTH + 3)
        wait_until(lambda: any(c["remote_pubkey"] == node_id
                               for c in alice.list_channels(active_only=True)),
                   timeout=120, interval=1, what="H's channel active")  # fmt: skip
        wait_until(lambda: _summary(rt, node_id)["state"] == "ready", timeout=30,
                   what="H's summary says ready")  # fmt: skip
        h_local = H_PUSH_SAT * 1000
        _settled(lnd_pair, rt, node_id, h_local)
        wait_until(lambda: _asleep(rt), timeout=30, what="H asleep")

        # --- H -> A -> B: the route's second hop comes from the shared graph -----------
        amount = 10_000_000
        fee = _forward_fee_msat(public["info"], alice.node_id, amount)
        a0, b0 = _balances(lnd_pair)
        inv = bob.add_invoice(amount, memo="two hops")
        paid = env.node(node_id, "pay", str(inv["payment_request"]), "--device", "ring",
                        "--max-fee-msat", "5000", "--timeout", "90")  # fmt: skip
        assert paid["state"] == "succeeded", paid
        assert paid["amount_msat"] == amount and paid["fee_msat"] == fee > 0, (paid, fee)
        assert bob.lookup_invoice(str(inv["r_hash"]))["state"] == "SETTLED"
        assert hashlib.sha256(bytes.fromhex(paid["preimage"])).hexdigest() == inv["r_hash"]
        h_local -= amount + fee
        _settled(lnd_pair, rt, node_id, h_local)
        wait_until(lambda: _balances(lnd_pair) == (a0 + fee, b0 + amount), timeout=30,
                   what="LND-A earned the fee, LND-B the amount (msat)")  # fmt: skip
        g = _graph(rt)
        assert g["routes"] >= 1 and g["reports"] >= 1 and g["scored_directions"] >= 2, g

        # --- B -> A -> H: LND-B routes to the private node by the invoice's hint ---------
        # LND-A sent H its channel_update for the private channel; H's session handed it
        # to the graph's owner, and the invoice's hint carries its scid and fees.
        wait_until(lambda: _graph(rt)["peer_updates"] >= 1, timeout=30,
                   what="LND-A's private channel_update handed to the graph's owner")  # fmt: skip
        wait_until(lambda: _asleep(rt), timeout=30, what="H asleep")
        amount = 20_000_000
        a0, b0 = _balances(lnd_pair)
        hinv = rt.admin(f"/v1/nodes/{node_id}/invoice",
                        {"amount_msat": amount, "description": "by the hint"})  # fmt: skip
        assert hinv["route_hints"] == 1, hinv
        res = bob.pay_invoice(str(hinv["bolt11"]))
        assert (
            hashlib.sha256(bytes.fromhex(res["payment_preimage"])).hexdigest()
            == (hinv["payment_hash"])
        )
        bob_fee = int(res["fee_msat"])
        assert bob_fee > 0  # LND-A forwarded it
        h_local += amount
        _settled(lnd_pair, rt, node_id, h_local)
        wait_until(lambda: _balances(lnd_pair) == (a0 + bob_fee, b0 - amount - bob_fee),
                   timeout=30, what="LND-A earned the fee, LND-B paid amount + fee (msat)")  # fmt: skip

        # --- B -> A -> H in parts (MPP through the hint) ---------------------------------
        amount = 25_000_000
        a0, b0 = _balances(lnd_pair)
        hinv = rt.admin(f"/v1/nodes/{node_id}/invoice",
                        {"amount_msat": amount, "description": "in parts"})  # fmt: skip
        res = bob.cli("payinvoice", "--force", "--json", "--timeout=60s",
                      "--max_shard_size_sat=10000", str(hinv["bolt11"]), timeout=120)  # fmt: skip
        assert res["status"] == "SUCCEEDED" and len(res["htlcs"]) >= 3, res
        bob_fee = int(res["fee_msat"])
        h_local += amount
        _settled(lnd_pair, rt, node_id, h_local)
        wait_until(lambda: _balances(lnd_pair) == (a0 + bob_fee, b0 - amount - bob_fee),
                   timeout=30, what="MPP: fees and amount to the msat")  # fmt: skip
        recs = {p["payment_hash"]: p for p in rt.admin(f"/v1/nodes/{node_id}/payments")["payments"]}
        assert recs[hinv["payment_hash"]]["state"] == "succeeded"
        assert recs[hinv["payment_hash"]]["parts"] >= 3
    finally:
        env.close()
