"""BOLT 1 and BOLT 2 conformance scenarios (testbed/lnprototest/scenarios) through the
Vajra Runner.

lnprototest and pyln-proto live in the test bed's own virtualenv, so its pytest runs as a
child process, starting the Vajra node command given in VAJRA_NODE_CMD (for BOLT 2 a
hosted node with the dev signer on VAJRA_DEV_SEED, whose keys the Runner derives). Every scenario
in the scenario files must run and pass (against the bare protocol core, the named
runtime-only scenarios must skip instead): the child's JUnit report must list exactly
those scenarios with those outcomes, and its summary line must count nothing else (no
other skip, xfail, xpass, deselection or error), so a scenario that stops running fails.
"""

from __future__ import annotations

import ast
import hashlib
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
DEV_SEED = hashlib.sha256(b"vajra lnprototest BOLT 2 dev seed").hexdigest()
BOLT1_FILES = sorted(f for f in SCENARIOS.glob("test_*.py") if not f.name.startswith("test_bolt2"))


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


def _scenarios(files: list[Path]) -> set[str]:
    """Every `test_*` function defined at the top of `files` (from the source, not from
    the child's collection, so a scenario the child fails to collect counts)."""
    out = set()
    for f in files:
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


def _run(files: list[Path], env: dict[str, str], tmp: Path, skipped: set[str]) -> None:
    """Run the scenario `files` in lnprototest's venv; every scenario in them must pass
    except exactly `skipped`, which must skip, and the summary must count nothing else."""
    python = str(tb_paths.installed("lnprototest").lnprototest_python)
    env = {
        **os.environ,
        **env,
        # The runner imports Vajra's launcher (vajra.testbed.vajra_process) from src/.
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    report = tmp / "junit.xml"
    proc = subprocess.run(
        [
            python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
            *map(str, files),
        ],
        cwd=SCENARIOS, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    expected = _scenarios(files)
    want = {name: "skipped" if name in skipped else "passed" for name in expected}
    outcomes = _junit_outcomes(report)
    assert outcomes == want, (outcomes, out[-2000:])
    # The summary: "N passed in Xs" (plus exactly the expected skips) and nothing else
    # counted (warnings aside).
    summary = re.findall(r"^=*\s*(\d+ passed[^\n]*) in [\d.]+s", out, re.M)
    assert summary, out[-2000:]
    counted = [p for p in summary[-1].split(", ") if not re.fullmatch(r"\d+ warnings?", p)]
    want_counted = [f"{len(expected) - len(skipped)} passed"]
    if skipped:
        want_counted.append(f"{len(skipped)} skipped")
    assert counted == want_counted, summary[-1]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("node", ["core", "runtime"])
def test_bolt1_scenarios(node: str, tmp_path: Path) -> None:
    files = BOLT1_FILES
    assert len(_scenarios(files)) >= 14  # the BOLT 1 scenario file as written
    skipped = RUNTIME_ONLY & _scenarios(files) if node == "core" else set()
    env = {"VAJRA_NODE_CMD": json.dumps(_node_command(node, tmp_path))}
    _run(files, env, tmp_path, skipped)


@pytest.mark.timeout(900)
def test_bolt2_scenarios(tmp_path: Path) -> None:
    """The BOLT 2 scenarios (open, reestablish, shutdown) against a hosted node with the
    dev signer; the Runner starts btcd first and gives the node a fresh store per start
    (VAJRA_DEV_SEED puts it in channel mode: `vajra_runner.py`)."""
    files = [SCENARIOS / "test_bolt2_channels.py"]
    assert len(_scenarios(files)) >= 4
    cmd = [
        sys.executable, "-m", "vajra", "runtime", "--dev", "--create", "1", "--workers", "2",
        "--listen-port", str(free_port()), "--chain-poll", "0.2", "--metrics-port", "0",
    ]  # fmt: skip
    env = {"VAJRA_NODE_CMD": json.dumps(cmd), "VAJRA_DEV_SEED": DEV_SEED}
    _run(files, env, tmp_path, set())
