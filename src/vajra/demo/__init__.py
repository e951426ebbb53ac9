"""`vajra demo` (what `make demo` runs): a runtime hosting many nodes, met by real peers,
the whole story of issues 9 and 10 on regtest with exact balances.

btcd (regtest) mines; LND-A gets coins and opens a public channel to LND-B; a live
signer (`vajra signer run`, its own process with its own seed) pairs with a runtime,
which hosts N nodes (10,000 by default) created through that signer; LND-A connects to
a few hosted nodes (the runtime completes BOLT 8 and `init` for them while they sleep);
LDK connects to others and pings them (pongs, still without waking them); then LND-A
opens a real private channel to one sleeping hosted node, which **wakes** (its state
decrypted with a key the signer releases; the signer gives the channel's keys and
every signature from its own copy), sleeps while the funding waits for blocks, and is
woken by the chain watcher to send `channel_ready`. LND-B pays the node's invoice
(route hint: LND-A and the scid alias it gave the private channel) while the node
sleeps: the HTLC wakes it, it fulfils and sleeps. The user's ring (enrolled by the
owner's phone) pays LND-A under its auto-approve limit with `vajra node ID pay`; a
larger payment is refused until the phone confirms it, then paid; the phone freezes the
ring and its next payment is refused. After every payment each side's balance is what
the payments say, to the msat. Last, LND-A closes the channel cooperatively: the node's
share lands in its on-chain wallet and LND-A's in its own, each to the sat against the
confirmed closing tx. Every step prints what happened; `vajra demo --json` prints one
summary (balances, payments, refusals, wakes, the close); `--hold` keeps everything
running with addresses to try until Ctrl-C.

Modules: `common` (the CLI as a user runs it, the signer process, the run's state),
`setup` (chain, runtime, signer, nodes, peers, the channel), `money` (payments and
balance checks), `close` (the cooperative close).
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vajra.demo import close, money, setup
from vajra.demo.common import Demo, SignerProcess, uri
from vajra.testbed.btcd import Btcd
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import free_port
from vajra.testbed.selfcheck import Steps

__all__ = ["run_demo"]

LSP_ARGS = ("--protocol.option-scid-alias",)
"""LND-A is the hosted node's LSP: it offers option_scid_alias, so it gives the private
channel an alias in `channel_ready` and forwards by it (the node's route hints name it)."""


def _hold(d: Demo, tries: list[str]) -> None:
    d.log("\nEverything is running. Try, with any Lightning node on this machine:")
    for t in tries:
        d.log(f"  {t}")
    for name, lnd in (("LND-A", d.lnd_a), ("LND-B", d.lnd_b)):
        d.log(f"{name}: lncli --lnddir={lnd.lnddir} --rpcserver=127.0.0.1:{lnd.rpc_port} ...")
    d.log("Ctrl-C stops everything.")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


def _final(d: Demo) -> dict[str, Any]:
    """Every side's final balance, printed; the Lightning totals add up to the msat."""
    start, last = d.balances["start"], d.balances["after_frozen"]
    c = d.close
    final = {
        "node_channel_msat": last["node_msat"], "node_wallet_sat": c["node_wallet_sat"],
        "lnd_a_channels_msat_before_close": last["lnd_a_msat"],
        "lnd_a_channels_msat": d.lnd_a.local_balance_msat(),
        "lnd_a_settled_sat": c["lnd_a_settled_sat"], "closing_fee_sat": c["fee_sat"],
        "lnd_b_channels_msat": last["lnd_b_msat"],
        "lightning_total_start_msat": sum(start.values()),
        "lightning_total_end_msat": sum(last.values()),
    }  # fmt: skip
    d.log("\nFinal balances (msat unless named sat):")
    for p in d.payments:
        d.log(f"  {p['what']:<42} {p['amount_msat']:>11} msat, fee {p['fee_msat']} msat")
    d.log(f"  {'side':<8}{'start':>14}{'end':>14}{'change':>14}")
    for side in money.SIDES:
        d.log(f"  {side[:-5]:<8}{start[side]:>14}{last[side]:>14}{last[side] - start[side]:>+14}")
    d.log(f"  {'total':<8}{sum(start.values()):>14}{sum(last.values()):>14}"
          f"{sum(last.values()) - sum(start.values()):>+14}")  # fmt: skip
    d.log(f"  close: node {c['node_channel_msat']} msat -> {c['node_output_sat']} sat in its "
          f"wallet; LND-A {c['lnd_a_channel_msat']} msat -> {c['lnd_a_settled_sat']} sat + "
          f"{c['fee_sat']} sat fee; {c['msat_lost_to_rounding']} msat below a sat")  # fmt: skip
    if final["lightning_total_start_msat"] != final["lightning_total_end_msat"]:
        raise AssertionError(f"the Lightning totals differ: {final}")
    return final


def run_demo(
    log: Callable[[str], None] = print,
    *,
    nodes: int = 10_000,
    lnd_peers: int = 5,
    ldk_peers: int = 5,
    idle_timeout: float = 3.0,
    hold: bool = False,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run the demo; return a JSON-able summary (`ok`, `steps`, `counters`, `balances`,
    `payments`, `refusals`, `close`, `final`, `wall_s`). Everything started is stopped at
    the end; a failed check raises AssertionError, a peer or process failure a
    `VajraError` (the summary is then not returned)."""
    t0 = time.monotonic()
    base = workdir or Path(tempfile.mkdtemp(prefix="vajra-demo-"))
    steps = Steps(log)
    summary: dict[str, Any] = {"ok": False, "workdir": str(base), "steps": steps.steps}
    btcd = Btcd(base / "btcd")
    d = Demo(
        log, base, nodes, lnd_peers, ldk_peers, idle_timeout, btcd,
        Lnd(btcd, base / "lnd", alias="demo-lnd-a", extra_args=LSP_ARGS), Lnd(btcd, base / "lnd-b", alias="demo-lnd-b"),
        LdkPeer(base / "ldk"), SignerProcess(base), base / "store.db", free_port(),
    )  # fmt: skip
    rng = random.Random()
    plan: list[tuple[str, Callable[[Demo], str]]] = [
        ("btcd regtest + LND-A with coins, a public channel to LND-B", setup.chain),
        ("start the runtime (it embeds the signer hub)", setup.runtime),
        ("a live signer: init, pair with the runtime, run", setup.pair),
        (f"create {nodes} nodes through the signer", setup.create),
        ("LND-A connects to sleeping hosted nodes",
         lambda d: setup.lnd_connects(d, rng.sample(d.hosted, min(lnd_peers, len(d.hosted))))),
        ("LDK connects and pings other sleeping nodes",
         lambda d: setup.ldk_pings(d, rng.sample(d.hosted, min(ldk_peers, len(d.hosted))))),
        ("LND-A opens a channel to a sleeping hosted node: it wakes, confirms, is active",
         lambda d: setup.channel(d, rng.choice(d.hosted))),
        ("LND-B pays the sleeping node's invoice via LND-A: it wakes, fulfils, sleeps",
         money.receive),
        ("the user's ring pays LND-A under its auto-approve limit", money.ring_pays),
        ("a larger payment is refused until the phone confirms it", money.confirmed),
        ("the phone freezes the ring: its next payment is refused", money.frozen),
        ("LND-A closes the channel cooperatively: each share on chain to the sat", close.close),
    ]  # fmt: skip
    try:
        for name, step in plan:
            steps.run(name, lambda step=step: step(d))  # type: ignore[misc]
        summary["final"] = _final(d)
        summary["node_count"] = len(d.hosted)
        summary["channel_node"] = d.channel_node
        summary["counters"] = d.counters()
        summary["balances"] = d.balances
        summary["payments"] = d.payments
        summary["refusals"] = d.refusals
        summary["close"] = d.close
        summary["wakes"] = {k: summary["counters"].get(k, 0) for k in ("wakes", "sleeps", "awake")}
        summary["try"] = [f"lncli connect {uri(n)}" for n in d.hosted[:3]]
        summary["wall_s"] = round(time.monotonic() - t0, 1)
        summary["ok"] = True
        if hold:
            _hold(d, summary["try"])
    finally:
        d.stop()
    return summary
