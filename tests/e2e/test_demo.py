"""`make demo`'s job end to end (smaller): every step runs against real btcd, LND, LDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_every_step() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vajra", "demo", "--nodes", "2000", "--no-hold", "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert summary["ok"] and summary["node_count"] == 2000
    c = summary["counters"]
    # Peers met sleeping nodes (handshakes, pongs) without waking them; one node woke for
    # the channel (open, then the chain: funding confirmed, depth reached) and slept, then
    # woke for LND's payment (the step checks the preimage and both balances to the msat).
    assert c["handshakes"] >= 10 and c["pongs"] >= 5
    assert c["wakes"] >= 3 and c["sleeps"] >= 3 and c["awake"] == 0
    steps = [s["step"] for s in summary["steps"]]
    assert steps[-3].startswith("LND opens a channel")
    assert steps[-2].startswith("LND pays the sleeping node's invoice")
    assert steps[-1].startswith("the user's ring pays LND")
