"""A SLEEPING hosted node opens channels as funder through the runtime (issue 9 items 5-6,
decision 0028): `vajra node ID open PEER_ID@HOST:PORT AMOUNT_SAT --device phone --json`.

Everything real: `vajra runtime --chain` (2 workers) with its live signer (`vajra signer
run`) and devices from `vajra device`, the session's btcd and LND (alice), the module's
LDK node. The node's wallet gets coins from alice (`vajra node ID address`); the node
sleeps; the open wakes it in its worker, which dials the peer as the node (BOLT 8
initiator), runs open_channel ... funding_signed with every channel signature from the
signer; the wallet drafts the funding transaction; the device authorises exactly that
funding output; the signer signs it, the runtime broadcasts it. After the minimum depth
the channel is active on both sides (`lncli listchannels`; LDK usable) and `vajra node
ID channels --json` says ready, with our funding txid; the node's wallet keeps exactly
its change.

Also: a peer nobody listens for is `peer_unreachable`; an empty wallet is
`insufficient_funds` (the peer told, the opening forgotten); a funding over the device's
per-payment limit is refused by the signer (nothing broadcast); LND refusing a second
pending channel is `peer_refused` with LND's text -- each JSON on stderr, exit 1. And
(issue 10) over the node -> LDK channel, LDK pays the node's invoice and the node pays
LDK's, balances to the msat on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.runtime_proc import VajraProcess, free_port
from tests.e2e.test_wallet_cli import OWNER_RULES, RING_RULES, Env
from tests.interop.conftest import LndPair
from vajra.testbed.ldk import LdkChannel, LdkPeer
from vajra.testbed.procs import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.slow]

CAPACITY_SAT = 80_000  # under the phone's auto-approve limit (100,000 sat)
PUSH_MSAT = 3_000_000
WALLET_SAT = 300_000
DEPTH = 3  # NodeConfig.minimum_depth


class Opener:
    """The module's runtime, signer and devices; `nodes`: one fresh node per peer."""

    def __init__(self, env: Env) -> None:
        self.env = env
        env.json("signer", "init", "--json")
        self.rt: VajraProcess = env.start_runtime()
        code = env.json("runtime", "pairing-code", "--store", str(env.store), "--json")
        env.json("signer", "pair", "--runtime", f"127.0.0.1:{self.rt.ready['signer_port']}",
                 "--code", code["code"], "--json")  # fmt: skip
        env.start_signer()
        wait_until(lambda: self.rt.admin("/v1/signers")["signers"][0]["loaded"], timeout=20,
                   what="signer loaded")  # fmt: skip
        env.json("nodes", "--store", str(env.store), "create", "--count", "3", "--signer", "1")
        phone = env.json("device", "create", "--type", "p256", "--name", "phone", "--json")
        env.json("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
        env.json("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
                 "--label", "phone", "--json", *OWNER_RULES)  # fmt: skip
        assert env.json("device", "enroll", "--name", "ring", "--by", "phone", "--label",
                        "ring", *RING_RULES)["outcome"] == "approve"  # fmt: skip
        self.nodes = [str(n["node_id"]) for n in self.rt.nodes()]
        self.ldk_channel: str | None = None

    def fund_wallet(self, lnd_pair: LndPair, node_id: str) -> None:
        addr = self.env.node(node_id, "address")["address"]
        lnd_pair.alice.cli("sendcoins", "--addr", addr, "--amt", WALLET_SAT)
        lnd_pair.btcd.wait_mempool(1)
        lnd_pair.btcd.generate(1)
        wait_until(lambda: self.balance(node_id) == WALLET_SAT, timeout=30,
                   what="the node's wallet sees alice's coins")  # fmt: skip

    def balance(self, node_id: str) -> int:
        return int(self.env.node(node_id, "balance")["confirmed_sat"])

    def asleep(self) -> bool:
        return self.rt.counters().get("awake", 0) == 0

    def channels(self, node_id: str) -> list[dict[str, Any]]:
        return list(self.env.node(node_id, "channels")["channels"])


@pytest.fixture(scope="module")
def opener(lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opener]:
    env = Env(tmp_path_factory.mktemp("open-runtime"), lnd_pair.btcd)
    # LND's sendcoins wants its coins some blocks past the first maturity.
    lnd_pair.btcd.generate(10)
    lnd_pair.alice.wait_synced()
    try:
        yield Opener(env)
    finally:
        env.close()


def _open_and_confirm(
    o: Opener, lnd_pair: LndPair, node_id: str, uri: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fund the node's wallet, let it sleep, open to `uri`, mine to depth: the open's
    answer and the node's ready summary."""
    o.fund_wallet(lnd_pair, node_id)
    wait_until(o.asleep, timeout=30, what="the node asleep before the open")
    wakes = o.rt.counters().get("wakes", 0)
    out = o.env.node(node_id, "open", uri, str(CAPACITY_SAT), "--device", "phone",
                     "--push-msat", str(PUSH_MSAT), "--no-anchors")  # fmt: skip
    assert o.rt.counters().get("wakes", 0) > wakes  # the open woke the node
    assert out["state"] == "awaiting_depth" and out["capacity_sat"] == CAPACITY_SAT, out
    assert out["funder"] == "local" and out["txid"] == out["funding_txid"], out
    assert out["decision"]["outcome"] == "approve" and out["broadcast_rejection"] is None, out
    lnd_pair.btcd.wait_mempool(1)
    lnd_pair.btcd.generate(DEPTH + 3)

    def ready() -> dict[str, Any] | None:
        chans = [c for c in o.channels(node_id) if c.get("channel_id") == out["channel_id"]]
        return chans[0] if chans and chans[0]["state"] == "ready" else None

    wait_until(lambda: ready() is not None, timeout=90, interval=0.5,
               what="the node's summary says ready")  # fmt: skip
    summary = ready()
    assert summary is not None and summary["funding_txid"] == out["funding_txid"]
    assert summary["remote_balance_msat"] == PUSH_MSAT
    # The wallet keeps exactly its change: what alice sent - capacity - the funding fee.
    wait_until(lambda: o.balance(node_id) == WALLET_SAT - CAPACITY_SAT - out["fee_sat"],
               timeout=30, what="the node's wallet holds its change")  # fmt: skip
    return out, summary


@pytest.mark.timeout(900)
def test_a_sleeping_node_opens_to_lnd(lnd_pair: LndPair, opener: Opener) -> None:
    alice, node_id = lnd_pair.alice, opener.nodes[0]
    uri = f"{alice.node_id}@127.0.0.1:{alice.p2p_port}"
    out, _ = _open_and_confirm(opener, lnd_pair, node_id, uri)

    def lnd_channel() -> dict[str, Any] | None:
        for c in alice.list_channels(active_only=True):
            if c["remote_pubkey"] == node_id:
                return c
        return None

    wait_until(lambda: lnd_channel() is not None, timeout=90, interval=1,
               what="LND lists the channel active")  # fmt: skip
    ch = lnd_channel()
    assert ch is not None and int(ch["capacity"]) == CAPACITY_SAT
    assert ch["channel_point"] == f"{out['funding_txid']}:{out['funding_vout']}"
    assert int(ch["local_balance"]) == PUSH_MSAT // 1000 and not ch["initiator"]


@pytest.mark.timeout(900)
def test_a_sleeping_node_opens_to_ldk(
    lnd_pair: LndPair, ldk_on_chain: LdkPeer, opener: Opener
) -> None:
    ldk, node_id = ldk_on_chain, opener.nodes[1]
    assert ldk.listen_port is not None
    out, _ = _open_and_confirm(opener, lnd_pair, node_id,
                               f"{ldk.node_id}@127.0.0.1:{ldk.listen_port}")  # fmt: skip

    def ldk_channel() -> LdkChannel | None:
        ldk.sync()
        for c in ldk.list_channels():
            if c.counterparty == node_id and c.is_usable:
                return c
        return None

    wait_until(lambda: ldk_channel() is not None, timeout=90, interval=1,
               what="LDK: the channel usable")  # fmt: skip
    ch = ldk_channel()
    assert ch is not None and ch.capacity_sat == CAPACITY_SAT and not ch.is_outbound
    assert ch.funding_txid == out["funding_txid"]
    assert ch.funding_output_index == out["funding_vout"]
    opener.ldk_channel = out["channel_id"]


LDK_PAYS_MSAT = 1_000_000
NODE_PAYS_MSAT = 400_000
RESERVE_MSAT = CAPACITY_SAT // 100 * 1000  # what the node (funder) asks LDK to keep


def _ldk_usable(ldk: LdkPeer, node_id: str) -> LdkChannel | None:
    ldk.sync()
    return next((c for c in ldk.list_channels() if c.counterparty == node_id and c.is_usable),
                None)  # fmt: skip


@pytest.mark.timeout(900)
def test_ldk_and_the_node_pay_each_other_over_it(
    lnd_pair: LndPair, ldk_on_chain: LdkPeer, opener: Opener
) -> None:
    """Issue 10: over the node -> LDK channel, LDK pays the node's invoice and the node
    pays LDK's (`vajra node ID pay --device`); balances agree to the msat."""
    if opener.ldk_channel is None:
        # Not a skip: without that channel this issue-10 check has not run, which is a
        # failure to report, not a pass to hide (the open test fails on its own too).
        pytest.fail("the node -> LDK channel of test_a_sleeping_node_opens_to_ldk is missing")
    ldk, node_id, env = ldk_on_chain, opener.nodes[1], opener.env
    wait_until(lambda: _ldk_usable(ldk, node_id) is not None, timeout=60, what="usable")
    wait_until(opener.asleep, timeout=30, what="the node asleep")
    # LDK pays the sleeping node: the HTLC wakes it; it fulfils from its invoice.
    inv = env.node(node_id, "invoice", str(LDK_PAYS_MSAT), "--description", "from ldk")
    sent = ldk.pay(str(inv["bolt11"]))
    assert sent["payment_hash"] == inv["payment_hash"] and sent["fee_msat"] == 0, sent
    wait_until(lambda: any(p["payment_hash"] == inv["payment_hash"] and p["state"] == "succeeded"
                           for p in env.node(node_id, "payments")["payments"]),
               timeout=30, what="the node lists the payment received")  # fmt: skip
    # The node pays LDK's invoice under the phone's authorisation.
    bolt11 = ldk.invoice(NODE_PAYS_MSAT, "from the node")
    paid = env.node(node_id, "pay", bolt11, "--device", "phone", "--timeout", "90")
    assert paid["state"] == "succeeded" and paid["amount_msat"] == NODE_PAYS_MSAT, paid
    assert paid["fee_msat"] == 0  # LDK is the channel peer
    ldk.wait_event("payment_claimed", where={"payment_hash": paid["payment_hash"]})
    # Balances to the msat: the node's summary and LDK's channel.
    remote = PUSH_MSAT - LDK_PAYS_MSAT + NODE_PAYS_MSAT
    local = CAPACITY_SAT * 1000 - remote

    def settled() -> bool:
        (c,) = [c for c in opener.channels(node_id) if c.get("channel_id") == opener.ldk_channel]
        ch = _ldk_usable(ldk, node_id)
        return (c["local_balance_msat"] == local and c["remote_balance_msat"] == remote
                and ch is not None and ch.outbound_msat + RESERVE_MSAT == remote)  # fmt: skip

    wait_until(settled, timeout=30, what="both sides agree on the balances")


@pytest.mark.timeout(900)
def test_open_errors_are_typed(lnd_pair: LndPair, opener: Opener) -> None:
    alice, node_id, env = lnd_pair.alice, opener.nodes[2], opener.env
    # Nobody listens there: the dial fails, nothing is asked of the wallet or signer.
    nobody = f"{alice.node_id}@127.0.0.1:{free_port()}"
    err = env.node(node_id, "open", nobody, str(CAPACITY_SAT), "--device", "ring", rc=1)
    assert err["error"] == "peer_unreachable", err
    # No coins yet: the wallet cannot draft; the peer is told and the node forgets it.
    uri = f"{alice.node_id}@127.0.0.1:{alice.p2p_port}"
    err = env.node(node_id, "open", uri, str(CAPACITY_SAT), "--device", "ring",
                   "--no-anchors", rc=1)  # fmt: skip
    assert err["error"] == "insufficient_funds", err
    assert not opener.channels(node_id)
    # Over the ring's per-payment limit (50,000 sat): the signer refuses the funding
    # transaction; nothing reaches the chain.
    opener.fund_wallet(lnd_pair, node_id)
    mempool = len(lnd_pair.btcd.getrawmempool())
    err = env.node(node_id, "open", uri, str(CAPACITY_SAT), "--device", "ring",
                   "--no-anchors", rc=1)  # fmt: skip
    assert err["error"] == "signer_refused", err
    assert err["decision"]["outcome"] == "deny" and err["channel_id"], err
    err_channel = err["channel_id"]
    assert len(lnd_pair.btcd.getrawmempool()) == mempool
    assert opener.balance(node_id) == WALLET_SAT
    # LND now holds that channel pending (it sent funding_signed; the funding never came)
    # and allows one pending channel per peer: the next open is refused with its text.
    err = env.node(node_id, "open", uri, str(CAPACITY_SAT), "--device", "ring",
                   "--no-anchors", rc=1)  # fmt: skip
    assert err["error"] == "peer_refused" and "pending" in err["detail"].lower(), err
    (kept,) = opener.channels(node_id)  # the refused opening is forgotten
    assert kept["channel_id"] == err_channel and kept["funder"] == "local"
