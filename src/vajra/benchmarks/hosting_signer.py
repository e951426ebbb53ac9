"""`vajra bench hosting --signer`: wakes whose state keys come from a live signer.

The runtime runs without --dev, with its embedded signer hub; a real `vajra signer`
(init, pair, run) dials it over loopback, so every wake asks the signer for the node's
state key over the link. Dialling and timing reuse `vajra.benchmarks.hosting`.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vajra.benchmarks.hosting import _judge, _Runtime, _wake_phase
from vajra.benchmarks.results import percentile
from vajra.crypto.secp256k1 import generate_secret
from vajra.noise import StaticKey
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.procs import free_port, wait_until
from vajra.testbed.vajra_process import VajraProcess

SIGNER_TARGETS = {"wake_ms_p99": ("<=", 20.0)}


class _SignedRuntime(_Runtime):
    """`vajra runtime` without --dev plus a real `vajra signer` (init, pair, run) on
    loopback: every wake gets its state key over the signer link."""

    def __init__(self, workdir: Path, workers: int) -> None:
        self.workdir = workdir
        signer_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VAJRA_SIGNER")}
        signer_env = dict(self.env, VAJRA_SIGNER_DIR=str(workdir / "signer"),
                          VAJRA_SIGNER_PASSWORD=os.urandom(16).hex())  # fmt: skip
        self.signer: VajraProcess | None = None
        self._vajra(signer_env, "signer", "init", "--json")
        self._vajra(signer_env, "signer", "quota", "--nodes", str(1 << 24))  # the owner's bound
        self.extra = (
            "--signer-port", str(signer_port), "--signer-host", "127.0.0.1",
            "--idle-timeout", "2", "--log-level", "WARNING",
        )  # fmt: skip
        self.workers = workers
        self.port = free_port()
        self.start_runtime()
        code = self.call("/v1/pairing-code", {})["code"]
        self._vajra(signer_env, "signer", "pair", "--runtime", f"127.0.0.1:{signer_port}",
                    "--code", code)  # fmt: skip
        self.signer = VajraProcess.start(
            ["signer", "run", "--max-backoff", "0.5"], log=workdir / "signer.log",
            env=signer_env, ready_event="running", name="signer",
        )  # fmt: skip
        self.wait_loaded()

    def start_runtime(self) -> None:
        self.proc = VajraProcess.runtime(
            self.workdir / "store.db", port=self.port, workers=self.workers, extra=self.extra,
            env=self.env, log=self.workdir / "runtime.log",
        )  # fmt: skip

    def wait_loaded(self, timeout: float = 60.0) -> None:
        """Until every paired signer is connected and its nodes are in the key table."""
        wait_until(
            lambda: all(s["loaded"] for s in self.call("/v1/signers")["signers"]),
            timeout=timeout, interval=0.01, what="the signer to connect and load its nodes",
        )  # fmt: skip

    def restart_runtime(self) -> float:
        """Stop the runtime (SIGTERM), start it again; seconds from starting the process
        until the signer has redialled and released every identity (nodes reachable)."""
        _Runtime.stop(self)
        t = time.perf_counter()
        self.start_runtime()
        self.wait_loaded()
        return time.perf_counter() - t

    @staticmethod
    def _vajra(env: dict[str, str], *args: str) -> None:
        p = subprocess.run([sys.executable, "-m", "vajra", *args], env=env,
                           capture_output=True, timeout=120)  # fmt: skip
        if p.returncode != 0:
            raise DaemonFailed(f"vajra {' '.join(args[:2])} failed", name="vajra",
                               log_tail=p.stderr.decode()[-2000:])  # fmt: skip

    def stop(self) -> None:
        super().stop()
        if self.signer is not None:
            self.signer.stop()


def run_with_signer(nodes: int, *, workers: int = 2, wake_samples: int = 200) -> dict[str, Any]:
    """wake_ms_p50/p99 with state keys from a live signer over the link on loopback:
    `open_channel` on an established session -> BOLT 1 `error`, one sleeping node each
    (lease, worker -> supervisor -> signer link -> signer decision + audit entry, sealed
    read, node, sealed write with fsync). restart_reachable_s: the runtime restarted
    (SIGTERM), from starting its process (interpreters, workers) until the signer (redial
    backoff capped at 0.5 s) has released every node's identity again."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="vajra-bench-signer-wake-") as tmp:
        rt = _SignedRuntime(Path(tmp), workers)
        try:
            t0 = time.perf_counter()
            done = 0
            while done < nodes:
                body = {"count": min(10_000, nodes - done), "signer": 1}
                done += rt.call("/v1/nodes", body)["created"]
            create_s = time.perf_counter() - t0
            listing = rt.call(f"/v1/nodes?limit={nodes}")["nodes"]
            sample = random.sample(listing, min(len(listing), wake_samples))
            key = StaticKey(generate_secret())

            from vajra.runtime.worker import run as run_loop

            lat = run_loop(_wake_phase(rt, key, sample))
            time.sleep(1.0)
            counters = rt.call("/v1/status")["counters"]
            restart_s = rt.restart_runtime()
        finally:
            rt.stop()
    result: dict[str, Any] = {
        "nodes": nodes,
        "workers": workers,
        "signer": "vajra signer run, link on loopback",
        "wake_samples": len(lat),
        "wake_ms_p50": round(statistics.median(lat), 3),
        "wake_ms_p99": round(percentile(lat, 0.99), 3),
        "wake_ms_max": round(max(lat), 3),
        "nodes_created_per_s": round(nodes / create_s),
        "restart_reachable_s": round(restart_s, 3),
        # Other work on the machine skews the tail; the 1-minute load average, as seen
        # before and after the run (2 cores: above ~2 means we shared them).
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "wakes_counted": counters["wakes"],
        "wake_failures": counters["wake_failures"],
    }
    return _judge(result, SIGNER_TARGETS)
