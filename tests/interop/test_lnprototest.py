"""BOLT 1 conformance scenarios (testbed/lnprototest/scenarios) through the Vajra Runner.

lnprototest and pyln-proto live in the test bed's own virtualenv, so its pytest runs as a
child process, starting the Vajra node command given in VAJRA_NODE_CMD. The scenarios
must all pass, and must actually run (a collection of zero tests fails too).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vajra.testbed import paths as tb_paths
from vajra.testbed.procs import free_port

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "testbed" / "lnprototest" / "scenarios"


def _node_command(node: str, tmp: Path) -> list[str]:
    if node == "core":  # the protocol core alone behind the test-only asyncio edge
        return [sys.executable, "-m", "tests.interop.peers.vajra_single_node", "--secret", "01"]
    # The runtime (supervisor + workers, hibernation) hosting one node with the forced key.
    return [
        sys.executable, "-m", "vajra", "runtime", "--dev", "--store", str(tmp / "store.db"),
        "--listen-port", str(free_port()), "--workers", "2", "--dev-node-secret", "01",
    ]  # fmt: skip


@pytest.mark.parametrize("node", ["core", "runtime"])
def test_bolt1_scenarios(node: str, tmp_path: Path) -> None:
    python = str(tb_paths.installed("lnprototest").lnprototest_python)
    env = {
        **os.environ,
        "VAJRA_NODE_CMD": json.dumps(_node_command(node, tmp_path)),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SCENARIOS)],
        cwd=SCENARIOS,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    m = re.search(r"(\d+) passed", out)
    assert m and int(m.group(1)) >= 10, out[-2000:]
