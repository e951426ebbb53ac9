"""`vajra demo` (what `make demo` runs): a runtime hosting many nodes, met by real peers.

btcd (regtest) mines; LND gets coins; a live signer (`vajra signer`, its own process with
its own seed) pairs with a runtime, which hosts N nodes (10,000 by default) created
through that signer; LND connects to a few hosted nodes (the runtime completes BOLT 8 and `init`
for them while they sleep); LDK connects to others and pings them (the runtime answers
with pongs, still without waking them); then LND opens a real channel to one sleeping
hosted node, which **wakes** it: its state is decrypted with a key the signer releases,
the live signer gives the channel's keys and every signature from its own copy of the
channel, the node's state is written before `funding_signed` leaves, and the node sleeps
while the funding transaction waits for blocks; the runtime's chain watcher sees it
confirm and wakes the node, which sends `channel_ready`: LND lists the channel active
and `vajra node ID channels` shows it, the node asleep again; then LND pays an invoice of
the sleeping node (issued and signed by its signer without waking it): the HTLC wakes
the node, which fulfils once the HTLC is irrevocably committed and sleeps again, both
sides' balances agreeing to the msat; then the user's ring (a device enrolled by the
owner's phone) pays an LND invoice under its auto-approve limit with `vajra node ID pay`,
a larger payment is refused by the signer, the phone freezes the ring and its next
payment is refused, balances still agreeing to the msat. Every step prints what
happened; `--hold` keeps everything running with addresses to try until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import free_port, wait_until
from vajra.testbed.selfcheck import Steps
from vajra.testbed.vajra_process import VajraProcess

DEMO_PASSWORD = "vajra demo password (regtest only)"
CHANNEL_SAT = 100_000
PAYMENT_MSAT = 20_000_000
"""What LND pays the hosted node in the demo (a whole number of sat: LND lists sat)."""


def vajra(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Any:
    """Run a `vajra` command as a user would; its last stdout line, parsed as JSON."""
    p = subprocess.run(
        [sys.executable, "-m", "vajra", *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip
    if p.returncode != 0:
        raise DaemonFailed(f"vajra {args[0]} {args[1]}: {p.stderr.strip()[-400:]}", name="vajra")
    return json.loads(p.stdout.strip().splitlines()[-1])


class SignerProcess:
    """`vajra signer` for the demo: init, pair with the runtime, run (dials the runtime)."""

    def __init__(self, workdir: Path) -> None:
        self.env = {
            **os.environ,
            "VAJRA_SIGNER_DIR": str(workdir / "signer"),
            "VAJRA_SIGNER_PASSWORD": DEMO_PASSWORD,
        }
        self.log = workdir / "signer.log"
        self.proc: VajraProcess | None = None

    def init_and_pair(self, runtime: RuntimeProcess) -> dict[str, Any]:
        vajra("signer", "init", "--json", env=self.env)  # the words are not shown here
        # The owner's bound on nodes runtimes may create here (default 10): the demo's 10k.
        vajra("signer", "quota", "--nodes", "1000000", env=self.env)
        code = vajra("runtime", "pairing-code", "--store", str(runtime.store), "--json")
        addr = f"127.0.0.1:{runtime.signer_port}"
        # The code goes through a 0600 file, never argv (`ps` shows argv to everyone).
        code_file = self.log.with_name("pairing-code")
        fd = os.open(code_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(code["code"] + "\n")
        try:
            return dict(vajra("signer", "pair", "--runtime", addr, "--code-file",
                              str(code_file), "--json", env=self.env))  # fmt: skip
        finally:
            code_file.unlink()

    def run(self, timeout: float = 120.0) -> None:
        self.proc = VajraProcess.start(
            ["signer", "run"], log=self.log, env=self.env, ready_event="running",
            timeout=timeout, name="signer",
        )  # fmt: skip

    def audit(self) -> dict[str, Any]:
        return dict(vajra("signer", "audit", "--json", env=self.env))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


class RuntimeProcess:
    """`vajra runtime` (embedding the signer hub) as a child process in its own group."""

    def __init__(self, workdir: Path, nodes: int, idle_timeout: float, btcd: Btcd) -> None:
        self.workdir = workdir
        self.btcd = btcd
        self.nodes = nodes
        self.idle_timeout = idle_timeout
        self.store = workdir / "store.db"
        self.port = free_port()
        self.signer_port = free_port()
        self.proc: VajraProcess | None = None
        self.ready: dict[str, Any] = {}

    def start(self, timeout: float = 600.0) -> dict[str, Any]:
        extra = [
            "--signer-port", str(self.signer_port), "--signer-host", "127.0.0.1",
            "--idle-timeout", str(self.idle_timeout), "--chain-poll", "0.2",
        ]  # fmt: skip
        # The runtime never sees the signer's password or seed.
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAJRA_SIGNER")}
        b = self.btcd  # the chain watcher's source, in the environment (not argv)
        env["VAJRA_CHAIN_URL"] = (
            f"btcd://{b.rpcuser}:{b.rpcpass}@127.0.0.1:{b.rpc_port}?cert={b.rpc_cert}"
        )
        self.proc = VajraProcess.runtime(
            self.store, port=self.port, extra=extra, env=env,
            log=self.workdir / "runtime.log", timeout=timeout,
        )  # fmt: skip
        self.ready = self.proc.ready
        return self.ready

    def admin(self, path: str) -> Any:
        assert self.proc is not None
        return self.proc.admin(path, timeout=60)

    def counters(self) -> dict[str, int]:
        assert self.proc is not None
        return self.proc.counters()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def _uri(n: dict[str, Any]) -> str:
    return f"{n['node_id']}@{n['host']}:{n['port']}"


@dataclass
class _Demo:
    """Everything one demo run started; each step below works on it."""

    log: Callable[[str], None]
    nodes: int
    lnd_peers: int
    ldk_peers: int
    idle_timeout: float
    btcd: Btcd
    lnd: Lnd
    ldk: LdkPeer
    rt: RuntimeProcess
    signer: SignerProcess
    rng: random.Random = field(default_factory=random.Random)
    hosted: list[dict[str, Any]] = field(default_factory=list)
    channel_node: str = ""
    """The hosted node LND opened a channel to (hex node id)."""

    def stop(self) -> None:
        for stopper in (self.signer, self.rt, self.ldk, self.lnd, self.btcd):
            stopper.stop()


def _chain(d: _Demo) -> str:
    d.btcd.start()
    d.lnd.start()
    d.btcd.set_mining_address(d.lnd.new_address("p2wkh"))
    d.btcd.generate(COINBASE_MATURITY + 10)
    d.lnd.wait_synced()
    bal = wait_until(d.lnd.confirmed_balance_sat, timeout=60, what="LND's coins")
    return f"btcd height={d.btcd.getblockcount()}; LND {d.lnd.node_id[:16]}.. has {bal} sat"


def _runtime(d: _Demo) -> str:
    ready = d.rt.start()
    return (
        f"{ready['workers']} workers on port {d.rt.port}; signer hub on "
        f"{d.rt.signer_port}, runtime key {str(ready.get('runtime_pubkey'))[:16]}.."
    )


def _pair(d: _Demo) -> str:
    paired = d.signer.init_and_pair(d.rt)
    d.signer.run()
    wait_until(lambda: any(s.get("connected") for s in d.rt.admin("/v1/signers")["signers"]),
               timeout=30, what="the signer to dial in")  # fmt: skip
    return f"signer id {paired['signer_id']} paired (one-time code, pinned keys) and connected"


def _create(d: _Demo) -> str:
    out = vajra("nodes", "--store", str(d.rt.store), "create", "--count", str(d.nodes),
                "--signer", "1", timeout=1800)  # fmt: skip
    d.hosted = d.rt.admin(f"/v1/nodes?limit={min(d.nodes, 100_000)}")["nodes"]
    return f"{out['created']} nodes created by the signer; identities in runtime memory only"


def _lnd_connects(d: _Demo) -> str:
    picked = d.rng.sample(d.hosted, min(d.lnd_peers, len(d.hosted)))
    for n in picked:
        d.lnd.connect(_uri(n))
        d.log(f"         LND -> {_uri(n)}: connected (init exchanged, node asleep)")
    ids = d.lnd.peer_ids()
    missing = [n for n in picked if n["node_id"] not in ids]
    if missing:
        raise AssertionError(f"LND does not list {len(missing)} hosted nodes")
    return f"LND lists {len(picked)} hosted nodes as peers; counters {_c(d.rt, 'handshakes', 'inits', 'wakes')}"


def _ldk_pings(d: _Demo) -> str:
    d.ldk.start()
    picked = d.rng.sample(d.hosted, min(d.ldk_peers, len(d.hosted)))
    rtts = []
    for n in picked:
        d.ldk.connect(str(n["host"]), int(n["port"]), str(n["node_id"]))
        rtts.append(d.ldk.ping(str(n["node_id"])))
    return f"{len(picked)} pongs (rtt ms {[round(x) for x in rtts]}); {_c(d.rt, 'pongs', 'wakes')}"


def _channel(d: _Demo) -> str:
    target = d.rng.choice(d.hosted)
    nid = d.channel_node = str(target["node_id"])
    d.lnd.connect(_uri(target))
    wait_until(lambda: d.rt.counters().get("awake", 0) == 0, timeout=60,
               what="every node asleep")  # fmt: skip
    before = d.rt.counters()
    res = d.lnd.cli("openchannel", f"--node_key={nid}", f"--local_amt={CHANNEL_SAT}",
                    "--private", "--sat_per_vbyte=2")  # fmt: skip
    d.log(f"         node {nid[:16]}.. woke and accepted; LND broadcast funding tx "
          f"{str(res['funding_txid'])[:16]}.. after the node's funding_signed")  # fmt: skip
    wait_until(lambda: d.rt.counters()["sleeps"] > before["sleeps"],
               timeout=d.idle_timeout + 30, what="the node to sleep while blocks come")  # fmt: skip
    d.btcd.generate(6)

    def active() -> bool:
        return any(c["remote_pubkey"] == nid for c in d.lnd.list_channels(active_only=True))

    wait_until(active, timeout=120, interval=1, what="LND to list the channel active")
    (row,) = vajra("node", nid, "channels", "--store", str(d.rt.store), "--json")["channels"]
    d.log(f"         vajra node {nid[:16]}.. channels: {row['state']}, {row['capacity_sat']} "
          f"sat, our balance {row['local_balance_msat']} msat")  # fmt: skip
    wait_until(lambda: d.rt.counters().get("awake", 0) == 0, timeout=d.idle_timeout + 30,
               what="the node asleep again")  # fmt: skip
    kinds: dict[str, int] = {}
    audit = d.signer.audit()
    for e in audit["entries"]:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    d.log(f"         signer audit (chain verified={audit['verified']}): {kinds}")
    return f"channel active on LND, listed by the runtime, node asleep; {_c(d.rt, 'wakes', 'sleeps', 'awake')}"


def _receive(d: _Demo) -> str:
    nid = d.channel_node
    wait_until(lambda: d.rt.counters().get("awake", 0) == 0, timeout=d.idle_timeout + 30,
               what="the node asleep")  # fmt: skip
    before = d.rt.counters()
    inv = vajra("node", nid, "invoice", str(PAYMENT_MSAT), "--description", "vajra demo",
                "--store", str(d.rt.store), "--json")  # fmt: skip
    d.log(f"         invoice {str(inv['bolt11'])[:32]}.. signed by the node's signer "
          f"(wakes so far {before.get('wakes', 0)}, none for the invoice)")  # fmt: skip
    paid = d.lnd.pay_invoice(str(inv["bolt11"]))
    if hashlib.sha256(bytes.fromhex(paid["payment_preimage"])).hexdigest() != inv["payment_hash"]:
        raise AssertionError("LND's preimage does not hash to the invoice's payment hash")
    wait_until(lambda: d.rt.counters().get("awake", 0) == 0, timeout=d.idle_timeout + 30,
               what="the node asleep after fulfilling")  # fmt: skip

    def summary() -> dict[str, Any]:
        (row,) = vajra("node", nid, "channels", "--store", str(d.rt.store), "--json")["channels"]
        return dict(row)

    wait_until(lambda: int(summary()["local_balance_msat"]) == PAYMENT_MSAT, timeout=30,
               what="the node's channel summary to show the payment")  # fmt: skip
    (chan,) = [c for c in d.lnd.list_channels() if c["remote_pubkey"] == nid]
    d.log(f"         LND paid {PAYMENT_MSAT} msat (fee {paid.get('fee_msat', '0')} msat); "
          f"node balance {summary()['local_balance_msat']} msat, LND remote balance "
          f"{int(chan['remote_balance']) * 1000} msat")  # fmt: skip
    if int(chan["remote_balance"]) * 1000 != PAYMENT_MSAT:
        raise AssertionError(f"LND's remote balance {chan['remote_balance']} sat disagrees")
    return (f"paid while asleep: the node woke, fulfilled and slept; balances agree to the "
            f"msat; {_c(d.rt, 'wakes', 'sleeps', 'awake')}")  # fmt: skip


OWNER_RULES = ("--auto-approve-below-msat=100000000", "--confirm-above-msat=1000000000",
               "--per-payment-max-msat=5000000000", "--hourly-limit-msat=5000000000",
               "--daily-limit-msat=10000000000")  # fmt: skip
RING_RULES = ("--auto-approve-below-msat=5000000", "--confirm-above-msat=8000000",
              "--per-payment-max-msat=15000000", "--hourly-limit-msat=50000000",
              "--daily-limit-msat=100000000")  # 5,000 sat taps  # fmt: skip
RING_PAYMENT_MSAT = 4_000_000


def _user(d: _Demo) -> dict[str, str]:
    """The user's environment: the signer's directory and password, the devices' files, and
    the runtime's hub directory (where devices reach the signer)."""
    return {**d.signer.env, "VAJRA_DEVICE_DIR": str(d.rt.workdir / "devices"),
            "VAJRA_RUNTIME_DIR": str(d.rt.store) + ".hub"}  # fmt: skip


def _pay(d: _Demo, bolt11: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """`vajra node ID pay ... --device ring`: (exit code, its JSON: stdout or stderr)."""
    p = subprocess.run(
        [sys.executable, "-m", "vajra", "node", d.channel_node, "pay", bolt11, "--device",
         "ring", "--timeout", "90", *extra, "--store", str(d.rt.store), "--json"],
        capture_output=True, text=True, timeout=180, env=_user(d), check=False,
    )  # fmt: skip
    out = p.stdout if p.returncode == 0 else p.stderr
    return p.returncode, dict(json.loads(out.strip().splitlines()[-1]))


def _ring_pays(d: _Demo) -> str:
    env = _user(d)
    phone = vajra("device", "create", "--type", "p256", "--name", "phone", "--json", env=env)
    vajra("device", "create", "--type", "secp256k1", "--name", "ring", "--json", env=env)
    vajra("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
          "--label", "phone", "--json", *OWNER_RULES, env=env)  # fmt: skip
    vajra("device", "enroll", "--name", "ring", "--by", "phone", "--label", "ring",
          *RING_RULES, env=env)  # fmt: skip
    d.log("         phone is the owner; the ring is enrolled by it: taps below 5,000 sat")
    inv = d.lnd.add_invoice(RING_PAYMENT_MSAT, memo="coffee, paid with the ring")
    rc, paid = _pay(d, str(inv["payment_request"]))
    if rc != 0 or paid.get("state") != "succeeded":
        raise AssertionError(f"the ring's payment did not succeed: {paid}")
    if d.lnd.cli("lookupinvoice", str(inv["r_hash"]))["r_preimage"] != paid["preimage"]:
        raise AssertionError("LND's preimage differs from the node's")
    d.log(f"         ring paid LND {RING_PAYMENT_MSAT} msat: {paid['state']}, fee "
          f"{paid['fee_msat']} msat, preimage {str(paid['preimage'])[:16]}..")  # fmt: skip
    big = d.lnd.add_invoice(6_000_000, memo="more than a tap")
    rc, refused = _pay(d, str(big["payment_request"]))
    if rc == 0:
        raise AssertionError("a payment over the ring's limit went through")
    d.log(f"         6,000 sat without the user present: refused ({refused.get('detail')}); "
          f"LND's invoice {d.lnd.cli('lookupinvoice', str(big['r_hash']))['state']}")  # fmt: skip
    vajra("device", "freeze", "ring", "--by", "phone", "--local", env=env)
    small = d.lnd.add_invoice(1_000_000, memo="after the freeze")
    rc, frozen = _pay(d, str(small["payment_request"]))
    if rc == 0:
        raise AssertionError("a frozen ring paid")
    d.log(f"         the phone froze the ring; its next tap: refused ({frozen.get('detail')})")
    local = PAYMENT_MSAT - RING_PAYMENT_MSAT
    (row,) = vajra("node", d.channel_node, "channels", "--store", str(d.rt.store),
                   "--json")["channels"]  # fmt: skip
    (chan,) = [c for c in d.lnd.list_channels() if c["remote_pubkey"] == d.channel_node]
    if int(row["local_balance_msat"]) != local or int(chan["remote_balance"]) * 1000 != local:
        raise AssertionError(f"balances disagree: node {row['local_balance_msat']} msat, "
                             f"LND sees {chan['remote_balance']} sat")  # fmt: skip
    if chan.get("pending_htlcs"):
        raise AssertionError("an HTLC is left pending")
    wait_until(lambda: d.rt.counters().get("awake", 0) == 0, timeout=d.idle_timeout + 30,
               what="the node asleep again")  # fmt: skip
    return (f"final: node {local} msat = LND's view of it; nothing pending; the refusals "
            f"left both sides unchanged")  # fmt: skip


def _hold(d: _Demo, tries: list[str]) -> None:
    d.log("\nEverything is running. Try, with any Lightning node on this machine:")
    for t in tries:
        d.log(f"  {t}")
    d.log(f"LND: lncli --lnddir={d.lnd.lnddir} --rpcserver=127.0.0.1:{d.lnd.rpc_port} ...")
    d.log("Ctrl-C stops everything.")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


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
    """Run the demo; return a JSON-able summary. Everything started is stopped at the end."""
    base = workdir or Path(tempfile.mkdtemp(prefix="vajra-demo-"))
    steps = Steps(log)
    summary: dict[str, Any] = {"ok": False, "workdir": str(base), "steps": steps.steps}
    btcd = Btcd(base / "btcd")
    d = _Demo(
        log, nodes, lnd_peers, ldk_peers, idle_timeout, btcd,
        Lnd(btcd, base / "lnd", alias="demo-lnd"), LdkPeer(base / "ldk"),
        RuntimeProcess(base, nodes, idle_timeout, btcd), SignerProcess(base),
    )  # fmt: skip
    plan: list[tuple[str, Callable[[_Demo], str]]] = [
        ("btcd regtest + an LND node with coins", _chain),
        ("start the runtime (it embeds the signer hub)", _runtime),
        ("a live signer: init, pair with the runtime, run", _pair),
        (f"create {nodes} nodes through the signer", _create),
        ("LND connects to sleeping hosted nodes", _lnd_connects),
        ("LDK connects and pings other sleeping nodes", _ldk_pings),
        ("LND opens a channel to a sleeping hosted node: it wakes, confirms, is active", _channel),
        ("LND pays the sleeping node's invoice: it wakes, fulfils, sleeps", _receive),
        (
            "the user's ring pays LND under its limits; over the limit and frozen: refused",
            _ring_pays,
        ),
    ]
    try:
        for name, step in plan:
            steps.run(name, lambda step=step: step(d))  # type: ignore[misc]
        summary["node_count"] = len(d.hosted)
        summary["counters"] = d.rt.counters()
        summary["try"] = [f"lncli connect {_uri(n)}" for n in d.hosted[:3]]
        summary["ok"] = True
        if hold:
            _hold(d, summary["try"])
    finally:
        d.stop()
    return summary


def _c(rt: RuntimeProcess, *names: str) -> str:
    time.sleep(0.3)  # workers publish their counters every 0.1 s
    c = rt.counters()
    return " ".join(f"{n}={c.get(n, 0)}" for n in names)
