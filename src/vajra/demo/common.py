"""What every demo step shares: the `vajra` CLI as a user runs it, the live signer's
process, the run's state (`Demo`) and its record (payments, refusals, balances) that
`vajra demo --json` prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vajra.testbed.btcd import Btcd
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.lnd import Lnd
from vajra.testbed.procs import wait_until
from vajra.testbed.vajra_process import VajraProcess

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
        self.proc: VajraProcess | None = None

    def init_and_pair(self, store: Path, signer_port: int) -> dict[str, Any]:
        """`vajra signer init`, a node quota for the demo, and pairing with the runtime on
        `store` whose hub listens on 127.0.0.1:`signer_port`."""
        vajra("signer", "init", "--json", env=self.env)  # the words are not shown here
        # The owner's bound on nodes runtimes may create here (default 10): the demo's 10k.
        vajra("signer", "quota", "--nodes", "1000000", env=self.env)
        code = vajra("runtime", "pairing-code", "--store", str(store), "--json")
        addr = f"127.0.0.1:{signer_port}"
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


@dataclass
class Demo:
    """Everything one demo run started; each step works on it and records into it.

    `lnd_a` is the hosted node's channel partner (its LSP, a private channel); `lnd_b`
    has a public channel with `lnd_a` and pays the node across it (issue 10's topology).
    """

    log: Callable[[str], None]
    workdir: Path
    nodes: int
    lnd_peers: int
    ldk_peers: int
    idle_timeout: float
    btcd: Btcd
    lnd_a: Lnd
    lnd_b: Lnd
    ldk: LdkPeer
    signer: SignerProcess
    store: Path
    signer_port: int
    rt: VajraProcess | None = None
    hosted: list[dict[str, Any]] = field(default_factory=list)
    channel_node: str = ""
    """The hosted node LND-A opened a channel to (hex node id)."""
    payments: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, Any] = field(default_factory=dict)
    """Named snapshots ("start", "final", ...) of every side's balance, msat."""
    close: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self) -> VajraProcess:
        assert self.rt is not None, "the runtime is not started"
        return self.rt

    def counters(self) -> dict[str, int]:
        return self.runtime.counters()

    def admin(self, path: str) -> Any:
        return self.runtime.admin(path, timeout=60)

    def node(self, *args: str) -> Any:
        """`vajra node <channel node> ARGS --store STORE --json` (JSON)."""
        return vajra("node", self.channel_node, *args, "--store", str(self.store), "--json")

    def channel_row(self) -> dict[str, Any]:
        """The node's one channel, as `vajra node ID channels` lists it (no wake)."""
        (row,) = self.node("channels")["channels"]
        return dict(row)

    def lnd_channel(self) -> dict[str, Any]:
        """LND-A's listing of its channel with the hosted node."""
        (chan,) = [c for c in self.lnd_a.list_channels() if c["remote_pubkey"] == self.channel_node]
        return dict(chan)

    def user_env(self) -> dict[str, str]:
        """The user's environment: the signer's directory and password, the devices' files,
        and the runtime's hub directory (where devices reach the signer)."""
        return {**self.signer.env, "VAJRA_DEVICE_DIR": str(self.workdir / "devices"),
                "VAJRA_RUNTIME_DIR": str(self.store) + ".hub"}  # fmt: skip

    def wait_asleep(self, what: str = "the node asleep") -> None:
        wait_until(lambda: self.counters().get("awake", 0) == 0,
                   timeout=self.idle_timeout + 30, what=what)  # fmt: skip

    def c(self, *names: str) -> str:
        """Some runtime counters, `name=value ...` (after they are next published)."""
        time.sleep(0.3)  # workers publish their counters every 0.1 s
        c = self.counters()
        return " ".join(f"{n}={c.get(n, 0)}" for n in names)

    def stop(self) -> None:
        for stopper in (self.signer, self.rt, self.ldk, self.lnd_b, self.lnd_a, self.btcd):
            if stopper is not None:
                stopper.stop()


def uri(n: dict[str, Any]) -> str:
    return f"{n['node_id']}@{n['host']}:{n['port']}"
