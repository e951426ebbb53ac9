"""The test bed itself: the self-check passes, the fixtures work, nothing is left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.interop.conftest import BURN_ADDRESS, LndPair
from vajra.testbed.btcd import Btcd
from vajra.testbed.errors import TestbedError
from vajra.testbed.ldk import LdkPeer
from vajra.testbed.procs import leftover_pids, live_processes, started_pgids, wait_until
from vajra.testbed.selfcheck import run_selfcheck

pytestmark = pytest.mark.interop


def test_selfcheck_passes(tmp_path: Path) -> None:
    lines: list[str] = []
    summary = run_selfcheck(lines.append, workdir=tmp_path / "selfcheck")
    report = "\n".join(lines)
    assert summary["ok"], f"{summary.get('error')}\n{report}"
    names = [s["step"] for s in summary["steps"]]
    assert "alice pays bob's invoice; balances move exactly" in names
    assert "LDK dials LND (init, ping/pong)" in names
    assert "Electrum venv" in names
    assert summary["leftover_pids"] == []
    json.dumps(summary)  # JSON-able, as the CLI prints it


def test_btcd_mines(btcd: Btcd) -> None:
    h0 = btcd.getblockcount()
    hashes = btcd.generate(3)
    assert len(hashes) == 3
    assert btcd.getblockcount() == h0 + 3
    assert btcd.getbestblockhash() == hashes[-1]


def test_mining_address_cannot_change_after_genesis(btcd: Btcd) -> None:
    btcd.generate(1)
    with pytest.raises(TestbedError, match="wipe its regtest chain"):
        btcd.set_mining_address(BURN_ADDRESS)
    assert btcd.getblockcount() > 0  # still running, chain intact


def test_ldk_pings_lnd(ldk_peer: LdkPeer, lnd_pair: LndPair) -> None:
    alice = lnd_pair.alice
    ldk_peer.connect("127.0.0.1", alice.p2p_port, alice.node_id)
    wait_until(lambda: ldk_peer.node_id in alice.peer_ids(), timeout=30, what="alice lists LDK")
    rtt_ms = ldk_peer.ping(alice.node_id, timeout=10.0)  # raises if no pong within 10 s
    assert 0 <= rtt_ms < 10_000, rtt_ms  # LDK's wall clock, whole ms
    assert any(e["node_id"] == alice.node_id for e in ldk_peer.events_named("pong"))
    assert ldk_peer.events_named("garbage") == []  # the harness's stdout is JSON lines only


def test_cleanup_when_a_test_raises(tmp_path: Path) -> None:
    """Daemons started in a `with` block are gone after an exception escapes it."""
    before = started_pgids()
    with (
        pytest.raises(RuntimeError, match="boom"),
        Btcd(tmp_path / "btcd") as node,
        LdkPeer(tmp_path / "ldk") as peer,
    ):
        assert node.getblockcount() == 0
        assert len(peer.node_id) == 66
        raise RuntimeError("boom")
    mine = started_pgids() - before
    assert len(mine) == 2
    assert leftover_pids(mine) == []
    assert not [p for p in live_processes() if p.pid in mine]


def test_daemon_dies_with_a_killed_test_process(tmp_path: Path) -> None:
    """A test process killed with SIGKILL (no atexit, no finally) takes its daemons along.

    A child Python process starts btcd and reports its PID; we SIGKILL the child; btcd
    must die too (PR_SET_PDEATHSIG set by the supervisor).
    """
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from vajra.testbed.btcd import Btcd
        b = Btcd(Path({str(tmp_path / "btcd")!r})).start()
        print(b.proc.pid, flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert child.stdout is not None
        btcd_pid = int(child.stdout.readline())
        assert _alive(btcd_pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        wait_until(lambda: not _alive(btcd_pid), timeout=10, what=f"btcd {btcd_pid} to die")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
