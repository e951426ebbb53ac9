"""`vajra demo` (what `make demo` runs): a runtime hosting many nodes, met by real peers.

btcd (regtest) mines; LND gets coins; a live signer (`vajra signer`, its own process with
its own seed) pairs with a runtime, which hosts N nodes (10,000 by default) created
through that signer; LND connects to a few hosted nodes (the runtime completes BOLT 8 and `init`
for them while they sleep); LDK connects to others and pings them (the runtime answers
with pongs, still without waking them); then LND tries to open a channel to one hosted
node, which **wakes** it: its state is decrypted with a key the signer releases, the node
answers `open_channel` with a BOLT 1 `error` (channels come later), records the peer, and
goes back to sleep after the idle timeout. Every step prints what happened; `--hold`
keeps everything running with addresses to try until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vajra.osutil import die_with_parent
from vajra.runtime.admin_client import AdminClient
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import free_port, wait_until
from vajra.testbed.selfcheck import Steps

DEMO_PASSWORD = "vajra demo password (regtest only)"


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
        self.proc: subprocess.Popen[str] | None = None

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

    def run(self) -> None:
        err = self.log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vajra", "signer", "run"],
            env=self.env, stdout=subprocess.PIPE, stderr=err, text=True,
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        err.close()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line or json.loads(line).get("event") != "running":
            raise DaemonFailed("signer did not start; see signer.log", name="signer")

    def audit(self) -> dict[str, Any]:
        return dict(vajra("signer", "audit", "--json", env=self.env))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class RuntimeProcess:
    """`vajra runtime` (embedding the signer hub) as a child process in its own group."""

    def __init__(self, workdir: Path, nodes: int, idle_timeout: float) -> None:
        self.workdir = workdir
        self.nodes = nodes
        self.idle_timeout = idle_timeout
        self.store = workdir / "store.db"
        self.port = free_port()
        self.signer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}

    def start(self, timeout: float = 600.0) -> dict[str, Any]:
        cmd = [
            sys.executable, "-m", "vajra", "runtime", "--store", str(self.store),
            "--listen-port", str(self.port), "--signer-port", str(self.signer_port),
            "--signer-host", "127.0.0.1", "--idle-timeout", str(self.idle_timeout),
        ]  # fmt: skip
        # The runtime never sees the signer's password or seed.
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAJRA_SIGNER")}
        log = (self.workdir / "runtime.log").open("ab")
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            env=env,
            preexec_fn=die_with_parent,
        )
        log.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline()
            if line.strip():
                break
        if not line.strip():
            self.stop()
            raise DaemonFailed("runtime did not become ready; see runtime.log", name="runtime")
        self.ready = json.loads(line)
        return self.ready

    def admin(self, path: str) -> Any:
        return AdminClient(self.ready["admin"], timeout=60).get(path)

    def counters(self) -> dict[str, int]:
        return dict(self.admin("/v1/status")["counters"])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _uri(n: dict[str, Any]) -> str:
    return f"{n['node_id']}@{n['host']}:{n['port']}"


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
    lnd = Lnd(btcd, base / "lnd", alias="demo-lnd")
    ldk = LdkPeer(base / "ldk")
    rt = RuntimeProcess(base, nodes, idle_timeout)
    signer = SignerProcess(base)
    rng = random.Random()
    try:

        def chain() -> str:
            btcd.start()
            lnd.start()
            btcd.set_mining_address(lnd.new_address("p2wkh"))
            btcd.generate(COINBASE_MATURITY + 10)
            lnd.wait_synced()
            bal = wait_until(lnd.confirmed_balance_sat, timeout=60, what="LND's coins")
            return f"btcd height={btcd.getblockcount()}; LND {lnd.node_id[:16]}.. has {bal} sat"

        steps.run("btcd regtest + an LND node with coins", chain)

        def runtime() -> str:
            ready = rt.start()
            return (
                f"{ready['workers']} workers on port {rt.port}; signer hub on "
                f"{rt.signer_port}, runtime key {str(ready.get('runtime_pubkey'))[:16]}.."
            )

        steps.run("start the runtime (it embeds the signer hub)", runtime)

        def pair() -> str:
            paired = signer.init_and_pair(rt)
            signer.run()
            wait_until(lambda: any(s.get("connected") for s in rt.admin("/v1/signers")["signers"]),
                       timeout=30, what="the signer to dial in")  # fmt: skip
            return (
                f"signer id {paired['signer_id']} paired (one-time code, pinned keys) and connected"
            )

        steps.run("a live signer: init, pair with the runtime, run", pair)

        def create() -> str:
            out = vajra("nodes", "--store", str(rt.store), "create", "--count", str(nodes),
                        "--signer", "1", timeout=1800)  # fmt: skip
            return (
                f"{out['created']} nodes created by the signer; identities in runtime memory only"
            )

        steps.run(f"create {nodes} nodes through the signer", create)
        hosted = rt.admin(f"/v1/nodes?limit={min(nodes, 100_000)}")["nodes"]
        summary["node_count"] = len(hosted)

        def lnd_connects() -> str:
            picked = rng.sample(hosted, min(lnd_peers, len(hosted)))
            for n in picked:
                lnd.connect(_uri(n))
                log(f"         LND -> {_uri(n)}: connected (init exchanged, node asleep)")
            ids = lnd.peer_ids()
            missing = [n for n in picked if n["node_id"] not in ids]
            if missing:
                raise AssertionError(f"LND does not list {len(missing)} hosted nodes")
            return f"LND lists {len(picked)} hosted nodes as peers; counters {_c(rt, 'handshakes', 'inits', 'wakes')}"

        steps.run("LND connects to sleeping hosted nodes", lnd_connects)

        def ldk_pings() -> str:
            ldk.start()
            picked = rng.sample(hosted, min(ldk_peers, len(hosted)))
            rtts = []
            for n in picked:
                ldk.connect(str(n["host"]), int(n["port"]), str(n["node_id"]))
                rtts.append(ldk.ping(str(n["node_id"])))
            return f"{len(picked)} pongs (rtt ms {[round(x) for x in rtts]}); {_c(rt, 'pongs', 'wakes')}"

        steps.run("LDK connects and pings other sleeping nodes", ldk_pings)

        def wake() -> str:
            target = rng.choice(hosted)
            lnd.connect(_uri(target))
            before = rt.counters()
            try:
                lnd.cli("openchannel", "--node_key", target["node_id"], "--local_amt", "100000")
                raise AssertionError("a hosted node without channel support accepted a channel")
            except DaemonFailed as e:
                answer = str(e).split(" exited ", 1)[-1][:200]
            wait_until(lambda: rt.counters()["wakes"] > before["wakes"], timeout=30,
                       what="the node to wake")  # fmt: skip
            log(f"         node {target['node_id'][:16]}.. woke; LND was told: {answer}")
            wait_until(lambda: rt.counters()["sleeps"] > before["sleeps"],
                       timeout=idle_timeout + 30, what="the node to sleep again")  # fmt: skip
            audit = signer.audit()
            keys = [e for e in audit["entries"] if e["kind"] == "state_key"]
            log(f"         signer audit: {len(keys)} state_key release(s), chain verified="
                f"{audit['verified']}")  # fmt: skip
            return f"woke, answered open_channel with an error, slept again; {_c(rt, 'wakes', 'sleeps', 'awake')}"

        steps.run("LND opens a channel to a hosted node: it wakes, answers, sleeps", wake)
        summary["counters"] = rt.counters()
        summary["try"] = [f"lncli connect {_uri(n)}" for n in hosted[:3]]
        summary["ok"] = True
        if hold:
            log("\nEverything is running. Try, with any Lightning node on this machine:")
            for t in summary["try"]:
                log(f"  {t}")
            log(f"LND: lncli --lnddir={lnd.lnddir} --rpcserver=127.0.0.1:{lnd.rpc_port} ...")
            log("Ctrl-C stops everything.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    finally:
        signer.stop()
        rt.stop()
        ldk.stop()
        lnd.stop()
        btcd.stop()
    return summary


def _c(rt: RuntimeProcess, *names: str) -> str:
    time.sleep(0.3)  # workers publish their counters every 0.1 s
    c = rt.counters()
    return " ".join(f"{n}={c.get(n, 0)}" for n in names)
