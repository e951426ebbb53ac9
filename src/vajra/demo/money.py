"""The demo's payments: LND-B pays the sleeping node across LND-A (route hint); the
user's ring pays LND-A under its limits, a larger payment waits for the phone's
confirmation, a frozen ring is refused. After each, every side's balance is checked
against what the payments so far say it must be, to the msat (`expect`)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from typing import Any

from vajra.demo.common import Demo, vajra
from vajra.testbed.errors import DaemonFailed, TestbedTimeout
from vajra.testbed.procs import wait_until

PAYMENT_MSAT = 20_000_000
"""What LND-B pays the hosted node (a whole number of sat: LND lists sat)."""
OWNER_RULES = ("--auto-approve-below-msat=100000000", "--confirm-above-msat=1000000000",
               "--per-payment-max-msat=5000000000", "--hourly-limit-msat=5000000000",
               "--daily-limit-msat=10000000000")  # fmt: skip
RING_RULES = ("--auto-approve-below-msat=5000000", "--confirm-above-msat=8000000",
              "--per-payment-max-msat=15000000", "--hourly-limit-msat=50000000",
              "--daily-limit-msat=100000000")  # 5,000 sat taps  # fmt: skip
RING_PAYMENT_MSAT = 4_000_000
"""Under the ring's auto-approve limit: paid with a tap."""
LARGE_PAYMENT_MSAT = 10_000_000
"""Above the ring's confirm-above: needs the owner's phone to confirm."""
SIDES = ("node_msat", "lnd_a_msat", "lnd_b_msat")


def snapshot(d: Demo) -> dict[str, int]:
    """Every side's Lightning balance now, msat: the node's channel (its summary, no
    wake) and each LND's local balance over all its channels (`lncli channelbalance`)."""
    return {
        "node_msat": int(d.channel_row()["local_balance_msat"]),
        "lnd_a_msat": d.lnd_a.local_balance_msat(),
        "lnd_b_msat": d.lnd_b.local_balance_msat(),
    }


def expected(d: Demo) -> dict[str, int]:
    """The "start" snapshot moved by every succeeded payment: the payer loses amount +
    fee, the payee gains the amount, the router (LND-A) keeps the fee."""
    want = dict(d.balances["start"])
    for p in d.payments:
        want[p["payer"]] -= p["amount_msat"] + p["fee_msat"]
        want[p["payee"]] += p["amount_msat"]
        if p.get("via"):
            want[p["via"]] += p["fee_msat"]
    return want


def expect(d: Demo, label: str) -> dict[str, int]:
    """Wait (bounded) until every side's balance is what the payments say, to the msat;
    record it as `label`. AssertionError naming both otherwise."""
    want = expected(d)

    def settled() -> dict[str, int] | None:
        s = snapshot(d)
        return s if s == want else None

    try:
        got = wait_until(settled, timeout=30, what="balances to settle")
    except TestbedTimeout:
        raise AssertionError(f"balances disagree: want {want}, have {snapshot(d)}") from None
    chan = d.lnd_channel()
    if chan.get("pending_htlcs"):
        raise AssertionError(f"HTLCs left pending: {chan['pending_htlcs']}")
    if int(chan["remote_balance"]) * 1000 != got["node_msat"]:
        raise AssertionError(f"LND-A sees the node's balance as {chan['remote_balance']} sat")
    d.balances[label] = got
    return got


def _lnd_b_pays(d: Demo, bolt11: str) -> dict[str, Any]:
    """LND-B pays `bolt11`; its router may need a moment to hold its new channel (a
    NO_ROUTE then is retried, bounded)."""
    last: DaemonFailed | None = None
    for _ in range(5):
        try:
            return d.lnd_b.pay_invoice(bolt11)
        except DaemonFailed as e:
            last = e
            if "NO_ROUTE" not in str(e):
                raise
            d.log(f"         LND-B: {e}; trying again")
            time.sleep(2)  # a beat for LND-B's router
    assert last is not None
    raise last


def receive(d: Demo) -> str:
    """LND-B pays the sleeping node's invoice across LND-A (the invoice's route hint
    names LND-A and the scid alias LND-A gave the node's private channel)."""
    d.wait_asleep()
    d.balances["start"] = snapshot(d)
    before = d.counters()
    inv = d.node("invoice", str(PAYMENT_MSAT), "--description", "vajra demo")
    if int(inv.get("route_hints", 0)) < 1:
        raise AssertionError(f"the invoice has no route hint: {inv}")
    d.log(f"         invoice {str(inv['bolt11'])[:32]}.. ({inv['route_hints']} route hint: "
          f"LND-A's alias for the private channel) signed by the node's signer, no wake "
          f"(wakes {before.get('wakes', 0)})")  # fmt: skip
    paid = _lnd_b_pays(d, str(inv["bolt11"]))
    if hashlib.sha256(bytes.fromhex(paid["payment_preimage"])).hexdigest() != inv["payment_hash"]:
        raise AssertionError("LND-B's preimage does not hash to the invoice's payment hash")
    (won,) = [h for h in paid["htlcs"] if h.get("status") == "SUCCEEDED"]
    hops = [h["pub_key"] for h in won["route"]["hops"]]
    if hops != [d.lnd_a.node_id, d.channel_node]:
        raise AssertionError(f"LND-B's route was not LND-A -> node: {hops}")
    d.wait_asleep("the node asleep after fulfilling")
    woke = d.counters()["wakes"] - before["wakes"]
    d.payments.append({
        "what": "LND-B pays the sleeping node", "payer": "lnd_b_msat", "payee": "node_msat",
        "via": "lnd_a_msat", "amount_msat": PAYMENT_MSAT, "fee_msat": int(paid["fee_msat"]),
        "payment_hash": inv["payment_hash"], "state": "succeeded", "node_wakes": woke,
        "attempts": len(paid["htlcs"]),
    })  # fmt: skip
    got = expect(d, "after_receive")
    d.log(f"         LND-B paid {PAYMENT_MSAT} msat over LND-B -> LND-A -> node (fee "
          f"{paid['fee_msat']} msat to LND-A, {len(paid['htlcs'])} attempt(s)); the node "
          f"woke {woke} time(s), fulfilled, slept; node {got['node_msat']} msat")  # fmt: skip
    return (f"paid while asleep across two hops; balances agree to the msat; "
            f"{d.c('wakes', 'sleeps', 'awake')}")  # fmt: skip


def _pay(d: Demo, bolt11: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """`vajra node ID pay ... --device ring`: (exit code, its JSON: stdout or stderr)."""
    p = subprocess.run(
        [sys.executable, "-m", "vajra", "node", d.channel_node, "pay", bolt11, "--device",
         "ring", "--timeout", "90", *extra, "--store", str(d.store), "--json"],
        capture_output=True, text=True, timeout=180, env=d.user_env(), check=False,
    )  # fmt: skip
    out = p.stdout if p.returncode == 0 else p.stderr
    return p.returncode, dict(json.loads(out.strip().splitlines()[-1]))


def _ring_paid(d: Demo, what: str, inv: dict[str, Any], amount_msat: int, *extra: str) -> str:
    before = d.counters()["wakes"]
    rc, paid = _pay(d, str(inv["payment_request"]), *extra)
    if rc != 0 or paid.get("state") != "succeeded":
        raise AssertionError(f"{what}: the ring's payment did not succeed: {paid}")
    if d.lnd_a.cli("lookupinvoice", str(inv["r_hash"]))["r_preimage"] != paid["preimage"]:
        raise AssertionError("LND-A's preimage differs from the node's")
    d.payments.append({
        "what": what, "payer": "node_msat", "payee": "lnd_a_msat", "device": "ring",
        "amount_msat": amount_msat, "fee_msat": int(paid["fee_msat"]),
        "payment_hash": paid.get("payment_hash", ""), "state": paid["state"],
        "node_wakes": d.counters()["wakes"] - before, "options": list(extra),
    })  # fmt: skip
    return f"{paid['state']}, fee {paid['fee_msat']} msat, preimage {str(paid['preimage'])[:16]}.."


def _refused(d: Demo, what: str, inv: dict[str, Any], amount_msat: int, *extra: str) -> str:
    rc, refused = _pay(d, str(inv["payment_request"]), *extra)
    if rc == 0:
        raise AssertionError(f"{what}: the payment went through: {refused}")
    state = d.lnd_a.cli("lookupinvoice", str(inv["r_hash"]))["state"]
    if state != "OPEN":
        raise AssertionError(f"{what}: LND-A's invoice is {state} after a refusal")
    reason = str(refused.get("detail") or refused.get("error"))
    d.refusals.append({"what": what, "device": "ring", "amount_msat": amount_msat,
                       "exit_code": rc, "reason": reason, "invoice_state": state})  # fmt: skip
    return reason


def ring_pays(d: Demo) -> str:
    """The phone (owner) enrols the ring; the ring taps to pay under its limit."""
    env = d.user_env()
    phone = vajra("device", "create", "--type", "p256", "--name", "phone", "--json", env=env)
    vajra("device", "create", "--type", "secp256k1", "--name", "ring", "--json", env=env)
    vajra("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
          "--label", "phone", "--json", *OWNER_RULES, env=env)  # fmt: skip
    vajra("device", "enroll", "--name", "ring", "--by", "phone", "--label", "ring",
          *RING_RULES, env=env)  # fmt: skip
    d.log("         phone is the owner; the ring is enrolled by it: taps below 5,000 sat, "
          "above 8,000 sat the phone confirms")  # fmt: skip
    inv = d.lnd_a.add_invoice(RING_PAYMENT_MSAT, memo="coffee, paid with the ring")
    out = _ring_paid(d, "the ring pays LND-A (a tap)", inv, RING_PAYMENT_MSAT)
    d.log(f"         ring paid LND-A {RING_PAYMENT_MSAT} msat: {out}")
    got = expect(d, "after_ring")
    return f"node {got['node_msat']} msat = LND-A's view of it; nothing pending"


def confirmed(d: Demo) -> str:
    """A payment above the ring's confirm-above: refused without the phone, then paid
    with the phone's confirmation (a second device, decision 0023)."""
    inv = d.lnd_a.add_invoice(LARGE_PAYMENT_MSAT, memo="dinner: the phone confirms")
    why = _refused(d, "the ring alone, above its confirm limit", inv, LARGE_PAYMENT_MSAT,
                   "--user-present")  # fmt: skip
    d.log(f"         ring (squeezed) pays {LARGE_PAYMENT_MSAT} msat: refused ({why}); "
          f"LND-A's invoice still OPEN")  # fmt: skip
    out = _ring_paid(d, "the ring with the phone's confirmation", inv, LARGE_PAYMENT_MSAT,
                     "--user-present", "--confirm-by", "phone")  # fmt: skip
    d.log(f"         the phone confirms the same invoice: {out}")
    got = expect(d, "after_confirmed")
    return f"refused, then paid once confirmed; node {got['node_msat']} msat, nothing pending"


def frozen(d: Demo) -> str:
    """The phone freezes the ring; its next tap is refused and nothing moves."""
    vajra("device", "freeze", "ring", "--by", "phone", "--local", env=d.user_env())
    small = d.lnd_a.add_invoice(1_000_000, memo="after the freeze")
    why = _refused(d, "the ring after the phone froze it", small, 1_000_000)
    d.log(f"         the phone froze the ring; its next tap: refused ({why})")
    got = expect(d, "after_frozen")
    d.wait_asleep("the node asleep again")
    return f"the refusal left every side unchanged; node {got['node_msat']} msat"
