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

import base64
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime
from tests.e2e.test_wallet_cli import OWNER_RULES, RING_RULES, Env
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


# -- payments to the sleeping node (issue 10 receive, decision 0022) ----------------------

MIN_FINAL_CLTV = 80  # vajra.node.invoices.MIN_FINAL_CLTV_EXPIRY_DELTA


def _active_channel(lnd_pair: LndPair, runtime: Runtime) -> tuple[dict[str, Any], str]:
    """Node 0's channel with LND (opened here if the test above did not run)."""
    rt, node = runtime.proc, runtime.proc.nodes()[0]
    node_id = str(node["node_id"])
    _connect(lnd_pair, f"{node_id}@{node['host']}:{node['port']}")
    if _lnd_channel(lnd_pair, node_id, active=True) is None:
        if not any(c["remote_pubkey"] == node_id for c in lnd_pair.alice.list_channels()):
            lnd_pair.alice.cli("openchannel", f"--node_key={node_id}",
                               f"--local_amt={CAPACITY_SAT}", "--private", "--sat_per_vbyte=2")  # fmt: skip
            lnd_pair.btcd.generate(DEPTH + 3)
        wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None,
                   timeout=120, interval=1, what="the channel active")  # fmt: skip
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "ready", timeout=30,
               what="the node's summary says ready")  # fmt: skip
    return node, node_id


def _invoice(
    rt: VajraProcess, node_id: str, amount_msat: int, expiry_s: int = 600
) -> dict[str, Any]:
    body = {"amount_msat": amount_msat, "description": "interop", "expiry_s": expiry_s}
    return dict(rt.admin(f"/v1/nodes/{node_id}/invoice", body))


def _cli(rt: VajraProcess, node_id: str, *args: str) -> dict[str, Any]:
    """`vajra node ID ACTION ... --json` against the runtime's admin socket."""
    out = subprocess.run(
        [sys.executable, "-m", "vajra", "node", node_id, *args, "--json",
         "--admin", str(rt.ready["admin"])],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def _payments(rt: VajraProcess, node_id: str) -> dict[str, dict[str, Any]]:
    out = rt.admin(f"/v1/nodes/{node_id}/payments")["payments"]
    return {str(p["payment_hash"]): p for p in out}


def _lnd_payment(lnd_pair: LndPair, payment_hash: str) -> dict[str, Any]:
    for p in lnd_pair.alice.cli("listpayments", "--include_incomplete")["payments"]:
        if p["payment_hash"] == payment_hash:
            return dict(p)
    raise AssertionError(f"LND has no payment {payment_hash}")


def _send(lnd_pair: LndPair, *args: str) -> None:
    """`lncli sendpayment` that may fail (the outcome is read from `listpayments`)."""
    with contextlib.suppress(DaemonFailed):  # lncli exits non-zero for a failed payment
        lnd_pair.alice.cli("sendpayment", "--force", "--json", "--timeout=60s", *args,
                           timeout=120)  # fmt: skip


def _balances_agree(lnd_pair: LndPair, rt: VajraProcess, node_id: str, received_msat: int) -> None:
    """LND's channel and the node's summary agree to the msat."""
    ch = _lnd_channel(lnd_pair, node_id, active=True)
    assert ch is not None and int(ch["unsettled_balance"]) == 0 and not ch.get("pending_htlcs")
    (summary,) = _channels(rt, node_id)
    assert summary["local_balance_msat"] == received_msat
    assert int(ch["remote_balance"]) * 1000 == received_msat
    # LND's local balance is its spec balance less the commitment fee and, with anchors,
    # the two 330-sat anchor outputs it pays as funder.
    anchors = 660 if "ANCHORS" in str(ch.get("commitment_type", "")) else 0
    lnd_spec_sat = int(ch["local_balance"]) + int(ch["commit_fee"]) + anchors
    assert (
        lnd_spec_sat * 1000 == summary["remote_balance_msat"] == CAPACITY_SAT * 1000 - received_msat
    )


@pytest.mark.timeout(900)
def test_lnd_pays_the_sleeping_node(lnd_pair: LndPair, runtime: Runtime) -> None:
    rt = runtime.proc
    _, node_id = _active_channel(lnd_pair, runtime)
    received = sum(int(p["amount_msat"]) for p in _payments(rt, node_id).values()
                   if p["state"] == "succeeded")  # fmt: skip
    # An invoice is issued while the node sleeps (no wake), then paid: the HTLC wakes
    # it, it fulfils once the HTLC is irrevocably committed, and sleeps again.
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    before = rt.counters()
    inv = _cli(rt, node_id, "invoice", "20000000", "--description", "coffee")
    assert rt.counters().get("wakes", 0) == before.get("wakes", 0)  # issuing woke nobody
    paid = lnd_pair.alice.pay_invoice(str(inv["bolt11"]))
    assert (
        hashlib.sha256(bytes.fromhex(paid["payment_preimage"])).hexdigest() == inv["payment_hash"]
    )
    assert rt.counters()["wakes"] > before.get("wakes", 0)
    received += 20_000_000
    wait_until(lambda: _payments(rt, node_id).get(str(inv["payment_hash"]), {}).get("state")
               == "succeeded", timeout=30, what="the node records the payment")  # fmt: skip
    (rec,) = [p for p in _cli(rt, node_id, "payments")["payments"]
              if p["payment_hash"] == inv["payment_hash"]]  # fmt: skip
    assert rec["amount_msat"] == 20_000_000 and rec["preimage"] == paid["payment_preimage"]
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep after fulfilling")
    wait_until(lambda: _channels(rt, node_id)[0]["local_balance_msat"] == received, timeout=30,
               what="the summary shows the payment")  # fmt: skip
    _balances_agree(lnd_pair, rt, node_id, received)
    # Multi-part: LND splits 25,000 sat into shards of at most 10,000 over the one channel.
    inv = _invoice(rt, node_id, 25_000_000)
    paid = lnd_pair.alice.cli("payinvoice", "--force", "--json", "--timeout=60s",
                              "--max_shard_size_sat=10000", str(inv["bolt11"]), timeout=120)  # fmt: skip
    assert paid["status"] == "SUCCEEDED" and len(paid["htlcs"]) >= 3, paid
    received += 25_000_000
    wait_until(lambda: _payments(rt, node_id).get(str(inv["payment_hash"]), {}).get("state")
               == "succeeded", timeout=30, what="the MPP payment recorded")  # fmt: skip
    assert _payments(rt, node_id)[str(inv["payment_hash"])]["parts"] >= 3
    # Keysend: the preimage travels in the onion.
    _send(lnd_pair, f"--dest={node_id}", "--amt=3000", "--keysend")
    received += 3_000_000
    keysends = [p for p in lnd_pair.alice.cli("listpayments")["payments"]
                if p["value_msat"] == "3000000" and p["status"] == "SUCCEEDED"]  # fmt: skip
    assert keysends, "the keysend did not succeed"
    # Refusals, as LND reports them: an unknown hash, a wrong amount, an expired invoice.
    unknown = os.urandom(32).hex()
    _send(lnd_pair, f"--dest={node_id}", "--amt=1000", f"--payment_hash={unknown}",
          f"--final_cltv_delta={MIN_FINAL_CLTV}")  # fmt: skip
    p = _lnd_payment(lnd_pair, unknown)
    assert p["status"] == "FAILED", p
    assert p["failure_reason"] == "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS", p
    # With the invoice's payment secret (LND's pathfinding will not set one for a
    # destination whose features its graph lacks: a route built by hand instead).
    small = _invoice(rt, node_id, 5_000_000)
    failure = _send_to_route(lnd_pair, node_id, 4000, small)
    assert failure["code"] == "INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS", failure
    tip = int(lnd_pair.alice.getinfo()["block_height"])
    assert int(failure["height"]) == tip  # BOLT 4: PERM|15 carries the node's block height
    gone = _invoice(rt, node_id, 1_000_000, expiry_s=1)
    time.sleep(2)
    failure = _send_to_route(lnd_pair, node_id, 1000, gone)
    assert failure["code"] == "INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS", failure
    recs = _payments(rt, node_id)
    assert unknown not in recs  # a probe leaves no record
    assert recs[str(small["payment_hash"])]["reason"] == "amount_too_low"
    assert recs[str(gone["payment_hash"])]["reason"] == "invoice_expired"
    wait_until(lambda: _channels(rt, node_id)[0]["local_balance_msat"] == received, timeout=30,
               what="the summary shows every payment")  # fmt: skip
    _balances_agree(lnd_pair, rt, node_id, received)


def _send_to_route(
    lnd_pair: LndPair, node_id: str, amt_sat: int, invoice: dict[str, Any]
) -> dict[str, Any]:
    """One HTLC of `amt_sat` over the direct channel with the invoice's hash and secret;
    the failure LND decoded from the node's answer. LND's `buildroute` refuses a payment
    address for a node whose features its graph lacks (a private node announces none),
    so the route's last hop gets its `mpp_record` here; `sendtoroute` sends it as given."""
    route = lnd_pair.alice.cli("buildroute", f"--amt={amt_sat}", f"--hops={node_id}",
                               f"--final_cltv_delta={MIN_FINAL_CLTV}")  # fmt: skip
    secret = bytes.fromhex(_payment_addr(invoice["bolt11"]))
    last = route["route"]["hops"][-1]
    res: dict[str, Any] = {}
    for encoding in (secret.hex(), base64.b64encode(secret).decode()):  # lncli prints hex
        last["mpp_record"] = {"payment_addr": encoding, "total_amt_msat": str(amt_sat * 1000)}
        try:
            res = lnd_pair.alice.cli("sendtoroute", f"--payment_hash={invoice['payment_hash']}",
                                     f"--routes={json.dumps(route)}", timeout=120)  # fmt: skip
            break
        except DaemonFailed as e:
            res = {"error": str(e)}
    assert res.get("status") == "FAILED", res
    return dict(res["failure"])


def _payment_addr(bolt11: object) -> str:
    from vajra.invoice import decode

    return decode(str(bolt11)).payment_secret.hex()


# --- paying LND under a device's authorisation (decision 0023) ----------------------------
# Devices live in the user's signer: the `--dev` runtime above has none, so this test runs
# a runtime with its live signer (`vajra signer run`, devices enrolled by `vajra device`)
# on the same btcd and LND, set up as `tests/e2e/test_wallet_cli.py` does.

PUSH_SAT = 50_000  # LND pushes the node this much at the open: the node can pay at once


@pytest.mark.timeout(900)
def test_the_node_pays_lnd_with_the_ring(
    lnd_pair: LndPair, tmp_path_factory: pytest.TempPathFactory
) -> None:

    env = Env(tmp_path_factory.mktemp("pay-runtime"), lnd_pair.btcd)
    try:
        env.json("signer", "init", "--json")
        rt = env.start_runtime()
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
        node = rt.nodes()[0]
        node_id = str(node["node_id"])
        _connect(lnd_pair, f"{node_id}@{node['host']}:{node['port']}")
        lnd_pair.alice.cli("openchannel", f"--node_key={node_id}", f"--local_amt={CAPACITY_SAT}",
                           f"--push_amt={PUSH_SAT}", "--private", "--sat_per_vbyte=2")  # fmt: skip
        lnd_pair.btcd.generate(DEPTH + 3)
        wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None,
                   timeout=120, interval=1, what="the channel active")  # fmt: skip
        wait_until(lambda: _channels(rt, node_id)[0]["state"] == "ready", timeout=30,
                   what="the node's summary says ready")  # fmt: skip
        wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")

        # Under the ring's auto-approve limit (30,000 sat): the pay wakes the node, the
        # signer binds the ring's authorisation, the HTLC goes to LND, LND settles.
        inv = lnd_pair.alice.add_invoice(10_000_000, memo="ring tap")
        paid = env.node(node_id, "pay", str(inv["payment_request"]), "--device", "ring",
                        "--timeout", "90")  # fmt: skip
        assert paid["state"] == "succeeded" and paid["amount_msat"] == 10_000_000, paid
        assert paid["fee_msat"] == 0  # LND is the channel peer: no routing fee
        lnd_inv = lnd_pair.alice.cli("lookupinvoice", str(inv["r_hash"]))
        assert lnd_inv["state"] == "SETTLED" and paid["preimage"] == lnd_inv["r_preimage"]
        assert hashlib.sha256(bytes.fromhex(paid["preimage"])).hexdigest() == inv["r_hash"]
        local = PUSH_SAT * 1000 - 10_000_000
        wait_until(lambda: _channels(rt, node_id)[0]["local_balance_msat"] == local,
                   timeout=30, what="the summary shows the payment")  # fmt: skip
        ch = _lnd_channel(lnd_pair, node_id, active=True)
        assert ch is not None and not ch.get("pending_htlcs")
        (summary,) = _channels(rt, node_id)
        assert int(ch["remote_balance"]) * 1000 == local
        anchors = 660 if "ANCHORS" in str(ch.get("commitment_type", "")) else 0
        lnd_spec_sat = int(ch["local_balance"]) + int(ch["commit_fee"]) + anchors
        assert lnd_spec_sat * 1000 == summary["remote_balance_msat"] == CAPACITY_SAT * 1000 - local

        # Above the ring's auto-approve limit without the user present: the signer
        # refuses; nothing was offered to LND, no HTLC pending on either side.
        big = lnd_pair.alice.add_invoice(35_000_000, memo="too much for a tap")
        err = env.node(node_id, "pay", str(big["payment_request"]), "--device", "ring",
                       "--timeout", "60", rc=1)  # fmt: skip
        assert err["error"] == "payment_failed", err
        assert err["payment"]["state"] == "failed"
        assert err["detail"] == "user_presence_required", err
        assert lnd_pair.alice.cli("lookupinvoice", str(big["r_hash"]))["state"] == "OPEN"
        ch = _lnd_channel(lnd_pair, node_id, active=True)
        assert ch is not None and not ch.get("pending_htlcs")
        assert int(ch["remote_balance"]) * 1000 == local
        (summary,) = _channels(rt, node_id)
        assert summary["local_balance_msat"] == local

        # A reused authorisation: the first use reaches LND, which fails the HTLC (its
        # invoice was cancelled), so the node may try that hash again -- but the same
        # signed authorisation is refused by the signer (its counter is used up), and
        # nothing is offered to LND the second time.
        gone = lnd_pair.alice.add_invoice(5_000_000, memo="cancelled")
        lnd_pair.alice.cli("cancelinvoice", str(gone["r_hash"]))
        body = _ring_authorisation(env, node_id, str(gone["payment_request"]))
        first = rt.admin(f"/v1/nodes/{node_id}/pay", body)
        assert first["payment_hash"] == gone["r_hash"]
        done = wait_until(lambda: _final(rt, node_id, str(gone["r_hash"])), timeout=60,
                          what="the payment to a cancelled invoice fails")  # fmt: skip
        assert done["state"] == "failed" and done["reason"] != "replay", done
        again = rt.admin(f"/v1/nodes/{node_id}/pay", body)
        assert again["state"] == "failed" and again["reason"] == "replay", again
        _nothing_pending(lnd_pair, rt, node_id, local)

        # Over the hourly limit: the phone lowers the ring's hourly limit to 12,000 sat;
        # 10,000 sat went out this hour, so 5,000 sat more is refused by the signer.
        env.json("device", "rules", "set", "ring", "--by", "phone", "--json",
                 "--auto-approve-below-msat=6000000", "--confirm-above-msat=8000000",
                 "--per-payment-max-msat=10000000", "--hourly-limit-msat=12000000",
                 "--daily-limit-msat=400000000")  # fmt: skip
        hour = lnd_pair.alice.add_invoice(5_000_000, memo="one tap too many")
        err = env.node(node_id, "pay", str(hour["payment_request"]), "--device", "ring",
                       "--timeout", "60", rc=1)  # fmt: skip
        assert err["detail"] == "over_hourly_limit", err
        assert lnd_pair.alice.cli("lookupinvoice", str(hour["r_hash"]))["state"] == "OPEN"
        _nothing_pending(lnd_pair, rt, node_id, local)
    finally:
        env.close()


def _ring_authorisation(env: Any, node_id: str, bolt11: str) -> dict[str, str]:
    """What `vajra node ID pay --device ring` POSTs: the ring's signed authorisation for
    the invoice's own hash and amount (kept, so the test can submit it twice)."""
    from vajra.cli_device import DeviceFile
    from vajra.node.payments import read_invoice
    from vajra.signer.messages import PaymentAuthorisation

    inv = read_invoice(bolt11, int(time.time()))
    assert inv.amount_msat is not None
    dev = DeviceFile(Path(env.env["VAJRA_DEVICE_DIR"]) / "ring.json")
    auth = PaymentAuthorisation(
        bytes.fromhex(node_id), inv.payment_hash, inv.amount_msat, 10_000,
        int(time.time()) + 300, dev.next_counter(), dev.key.device_id, 0,
    ).signed(dev.key)  # fmt: skip
    return {"bolt11": bolt11, "authorisation": auth.encode().hex()}


def _final(rt: VajraProcess, node_id: str, payment_hash: str) -> dict[str, Any] | None:
    for p in rt.admin(f"/v1/nodes/{node_id}/payments")["payments"]:
        if p["payment_hash"] == payment_hash and p["state"] in ("succeeded", "failed"):
            return dict(p)
    return None


def _nothing_pending(lnd_pair: LndPair, rt: VajraProcess, node_id: str, local: int) -> None:
    """No HTLC pending on either side and the balances where they were."""
    ch = _lnd_channel(lnd_pair, node_id, active=True)
    assert ch is not None and not ch.get("pending_htlcs"), ch
    assert int(ch["remote_balance"]) * 1000 == local
    (summary,) = _channels(rt, node_id)
    assert summary["local_balance_msat"] == local


# -- LND closes cooperatively (decision 0016 negotiation; the share lands in the wallet) ---


def _wallet(rt: VajraProcess, node_id: str) -> dict[str, Any]:
    return dict(rt.admin(f"/v1/nodes/{node_id}/wallet/balance"))


@pytest.mark.timeout(900)
def test_lnd_closes_cooperatively_and_the_share_lands_in_the_node_wallet(
    lnd_pair: LndPair, runtime: Runtime
) -> None:
    alice, btcd, rt = lnd_pair.alice, lnd_pair.btcd, runtime.proc
    _, node_id = _active_channel(lnd_pair, runtime)
    if _channels(rt, node_id)[0]["local_balance_msat"] < 10_000_000:  # run alone: a share
        alice.pay_invoice(str(_invoice(rt, node_id, 20_000_000)["bolt11"]))
        wait_until(lambda: _channels(rt, node_id)[0]["local_balance_msat"] >= 20_000_000,
                   timeout=30, what="the payment in the summary")  # fmt: skip
    # The node's wallet record (the account xpub the close script is derived from).
    rt.admin(f"/v1/nodes/{node_id}/wallet/address", {})
    before = _wallet(rt, node_id)
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    (summary,) = _channels(rt, node_id)
    share_sat = int(summary["local_balance_msat"]) // 1000
    ch = _lnd_channel(lnd_pair, node_id, active=True)
    assert ch is not None
    txid, vout = str(ch["channel_point"]).split(":")
    # LND (the funder) starts the close: its shutdown wakes the sleeping node, which
    # answers with its wallet's script, and both negotiate the fee (LND pays it).
    alice.cli("closechannel", f"--funding_txid={txid}", f"--output_index={vout}",
              "--sat_per_vbyte=2", timeout=180)  # fmt: skip
    # Agreed and broadcast: "closing" with the closing txid until the watcher sees it mined.
    wait_until(lambda: "closing_txid" in _channels(rt, node_id)[0], timeout=60,
               what="the node's summary names the closing tx")  # fmt: skip
    closing_txid = str(_channels(rt, node_id)[0]["closing_txid"])
    assert _channels(rt, node_id)[0]["state"] == "closing"
    btcd.generate(DEPTH)
    # The funding outpoint's spend wakes the node: closed, at the closing tx's height.
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "closed", timeout=60,
               what="the node's summary says closed")  # fmt: skip
    (summary,) = _channels(rt, node_id)
    assert summary["closing_txid"] == closing_txid and summary["closing_height"] > 0
    wait_until(lambda: _wallet(rt, node_id)["confirmed_sat"]
               == before["confirmed_sat"] + share_sat, timeout=60, interval=1,
               what="the node's share confirmed in its wallet")  # fmt: skip
    closed = alice.cli("closedchannels")["channels"]
    # By channel point: runtimes on the same dev seed have the same node ids, and other
    # modules sharing this LND may have closed channels with "this" node id before.
    (ours,) = [c for c in closed if c["channel_point"] == f"{txid}:{vout}"]
    assert ours["remote_pubkey"] == node_id
    assert ours["close_type"] == "COOPERATIVE_CLOSE", ours
    assert int(ours["settled_balance"]) + share_sat < CAPACITY_SAT  # the fee is LND's
    out = _cli(rt, node_id, "channels")
    assert [c["state"] for c in out["channels"]] == ["closed"]


# -- the node closes cooperatively (vajra node ID close, decision 0029) --------------------

PUSH_SAT = 27_000


@pytest.mark.timeout(900)
def test_the_node_closes_cooperatively_with_lnd(lnd_pair: LndPair, runtime: Runtime) -> None:
    alice, btcd, rt = lnd_pair.alice, lnd_pair.btcd, runtime.proc
    node = rt.nodes()[1]
    node_id = str(node["node_id"])
    rt.admin(f"/v1/nodes/{node_id}/wallet/address", {})  # the wallet its share goes to
    wait_until(lambda: _asleep(rt), timeout=30, what="the nodes asleep")
    _connect(lnd_pair, f"{node_id}@{node['host']}:{node['port']}")
    alice.cli("openchannel", f"--node_key={node_id}", f"--local_amt={CAPACITY_SAT}",
              f"--push_amt={PUSH_SAT}", "--private", "--sat_per_vbyte=2")  # fmt: skip
    btcd.generate(DEPTH + 3)
    wait_until(lambda: _lnd_channel(lnd_pair, node_id, active=True) is not None, timeout=120,
               interval=1, what="LND lists the channel active")  # fmt: skip
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "ready", timeout=30,
               what="the node's summary says ready")  # fmt: skip
    (summary,) = _channels(rt, node_id)
    assert summary["local_balance_msat"] == PUSH_SAT * 1000
    cid = str(summary["channel_id"])
    before = _wallet(rt, node_id)
    # Typed errors, one line of JSON on stderr: nothing changes.
    bad = subprocess.run(
        [sys.executable, "-m", "vajra", "node", node_id, "close", "00" * 32, "--json",
         "--admin", str(rt.ready["admin"])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1 and json.loads(bad.stderr)["error"] == "unknown_channel"
    wait_until(lambda: _asleep(rt), timeout=30, what="the node asleep")
    # The operator closes: the node wakes, sends its shutdown over LND's session; LND
    # answers and, as funder, proposes the fee; the CLI returns with the agreed tx.
    view = _cli(rt, node_id, "close", cid)
    assert view["channel_id"] == cid and view["state"] == "closing"
    closing_txid = str(view["closing_txid"])
    btcd.wait_mempool(1)
    btcd.generate(1)
    wait_until(lambda: _channels(rt, node_id)[0]["state"] == "closed", timeout=60,
               what="the node's summary says closed")  # fmt: skip
    (summary,) = _channels(rt, node_id)
    assert summary["closing_txid"] == closing_txid
    assert summary["closing_height"] == btcd.getblockcount()
    wait_until(lambda: _wallet(rt, node_id)["confirmed_sat"]
               == before["confirmed_sat"] + PUSH_SAT, timeout=60, interval=1,
               what="the node's share confirmed in its wallet")  # fmt: skip

    btcd.generate(DEPTH)  # LND lists a cooperative close as closed after some depth

    def lnd_closed() -> dict[str, Any] | None:
        closed = alice.cli("closedchannels")["channels"]
        return next((c for c in closed if c["closing_tx_hash"] == closing_txid), None)

    ours = wait_until(lnd_closed, timeout=60, what="LND lists the channel closed")
    assert ours["close_type"] == "COOPERATIVE_CLOSE", ours
    assert ours["closing_tx_hash"] == closing_txid
    assert ours["close_initiator"] == "INITIATOR_REMOTE", ours
    assert int(ours["settled_balance"]) + PUSH_SAT < CAPACITY_SAT  # the fee is LND's
