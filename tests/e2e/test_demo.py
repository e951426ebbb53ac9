"""`make demo`'s job end to end (smaller): every step runs against real btcd, two LNDs,
LDK, a live signer and the runtime; the test reads `vajra demo --json`'s summary."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CHANNEL_SAT = 100_000
PAID_MSAT = 20_000_000  # LND-B -> the node
RING_MSAT = 4_000_000  # a tap
LARGE_MSAT = 10_000_000  # confirmed by the phone


@pytest.mark.timeout(900)  # about 4-8 min on a shared 2-core machine (two LNDs, a close)
def test_demo_tells_the_whole_story() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vajra", "demo", "--nodes", "2000", "--no-hold", "--json"],
        capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    s = json.loads(proc.stdout)
    assert s["ok"] and s["node_count"] == 2000
    c = s["counters"]
    # Peers met sleeping nodes (handshakes, pongs) without waking them; the node woke for
    # the channel (open, funding confirmed), each payment and the close, and sleeps.
    assert c["handshakes"] >= 10 and c["pongs"] >= 5
    assert s["wakes"]["wakes"] >= 6 and s["wakes"]["awake"] == 0
    steps = [x["step"] for x in s["steps"]]
    for step, start in zip(steps[-6:], ("LND-A opens", "LND-B pays", "the user's ring",
                                         "a larger payment", "the phone freezes",
                                         "LND-A closes"), strict=True):  # fmt: skip
        assert step.startswith(start), steps

    # Payments: LND-B -> LND-A -> node while it slept (the node woke for it); the ring's
    # tap and the confirmed larger payment to LND-A; each as the demo measured it.
    (recv, tap, big) = s["payments"]
    assert (recv["payer"], recv["payee"], recv["via"]) == ("lnd_b_msat", "node_msat", "lnd_a_msat")
    assert recv["amount_msat"] == PAID_MSAT and recv["fee_msat"] > 0 and recv["node_wakes"] >= 1
    assert (tap["amount_msat"], tap["fee_msat"], tap["options"]) == (RING_MSAT, 0, [])
    assert big["amount_msat"] == LARGE_MSAT and "--confirm-by" in big["options"]
    assert all(p["state"] == "succeeded" for p in s["payments"])

    # Refusals: the same large invoice without the phone; a frozen ring. Invoices stay open.
    (unconfirmed, frozen) = s["refusals"]
    assert unconfirmed["reason"] == "owner_confirmation_required", unconfirmed
    assert frozen["reason"] == "device_frozen", frozen
    assert all(r["invoice_state"] == "OPEN" for r in s["refusals"])

    # Balances to the msat: every side moved by exactly the payments; nothing created.
    b = s["balances"]
    start, end = b["start"], b["after_frozen"]
    node_end = PAID_MSAT - RING_MSAT - LARGE_MSAT
    assert start["node_msat"] == 0 and end["node_msat"] == node_end
    assert end["lnd_b_msat"] == start["lnd_b_msat"] - PAID_MSAT - recv["fee_msat"]
    assert end["lnd_a_msat"] == start["lnd_a_msat"] + recv["fee_msat"] + RING_MSAT + LARGE_MSAT
    assert sum(start.values()) == sum(end.values())
    assert b["after_confirmed"] == end  # the frozen ring's refusal moved nothing

    # The cooperative close: confirmed; the node's share in its wallet to the sat (its fee
    # share 0: LND-A funded); LND-A's settled = its share minus the whole closing fee.
    k = s["close"]
    assert k["close_type"] == "COOPERATIVE_CLOSE" and k["confirmations"] >= 1
    assert k["node_output_sat"] == node_end // 1000 and k["node_wallet_sat"] == node_end // 1000
    assert k["lnd_a_channel_msat"] == CHANNEL_SAT * 1000 - node_end
    assert k["lnd_a_settled_sat"] == k["lnd_a_channel_msat"] // 1000 - k["fee_sat"]
    assert 0 < k["fee_sat"] < 2_000 and k["node_wakes"] >= 1
    f = s["final"]
    assert f["lightning_total_start_msat"] == f["lightning_total_end_msat"]
