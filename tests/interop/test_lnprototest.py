"""BOLT 1 conformance scenarios (testbed/lnprototest/scenarios) through the Vajra Runner.

lnprototest and pyln-proto live in the test bed's own virtualenv, so its pytest runs as a
child process, starting the Vajra node command given in VAJRA_NODE_CMD. Every scenario
in the scenario files must run and pass (against the bare protocol core, the named
runtime-only scenarios must skip instead): the child's JUnit report must list exactly
those scenarios with those outcomes, and its summary line must count nothing else (no
other skip, xfail, xpass, deselection or error), so a scenario that stops running fails.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
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


# Scenarios only a hosted node can pass: the protocol core alone (behind the test-only
# edge) answers no gossip query, so against it these skip, and must skip, by name.
RUNTIME_ONLY = {"test_gossip_query_after_blocks"}


def _scenarios() -> set[str]:
    """Every `test_*` function defined at the top of the scenario files (from the source,
    not from the child's collection, so a scenario the child fails to collect counts)."""
    out = set()
    for f in sorted(SCENARIOS.glob("test_*.py")):
        tree = ast.parse(f.read_text())
        out |= {
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")
        }
    return out


def _junit_outcomes(report: Path) -> dict[str, str]:
    """Test name -> "passed", "skipped", "failure" or "error", from a JUnit XML report."""
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for tag in ("skipped", "failure", "error"):
            if case.find(tag) is not None:
                outcome = tag
        out[case.attrib["name"]] = outcome
    return out


@pytest.mark.parametrize("node", ["core", "runtime"])
def test_bolt1_scenarios(node: str, tmp_path: Path) -> None:
    python = str(tb_paths.installed("lnprototest").lnprototest_python)
    env = {
        **os.environ,
        "VAJRA_NODE_CMD": json.dumps(_node_command(node, tmp_path)),
        # The runner imports Vajra's launcher (vajra.testbed.vajra_process) from src/.
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    report = tmp_path / "junit.xml"
    proc = subprocess.run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            str(SCENARIOS),
        ],
        cwd=SCENARIOS,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    expected = _scenarios()
    assert len(expected) >= 14, expected  # the BOLT 1 scenario file as written
    skipped = RUNTIME_ONLY & expected if node == "core" else set()
    want = {name: "skipped" if name in skipped else "passed" for name in expected}
    outcomes = _junit_outcomes(report)
    assert outcomes == want, (outcomes, out[-2000:])
    # The summary: "N passed in Xs" (plus exactly the runtime-only skips against the core)
    # and nothing else counted (warnings aside).
    summary = re.findall(r"^=*\s*(\d+ passed[^\n]*) in [\d.]+s", out, re.M)
    assert summary, out[-2000:]
    counted = [p for p in summary[-1].split(", ") if not re.fullmatch(r"\d+ warnings?", p)]
    want_counted = [f"{len(expected) - len(skipped)} passed"]
    if skipped:
        want_counted.append(f"{len(skipped)} skipped")
    assert counted == want_counted, summary[-1]
