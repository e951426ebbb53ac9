"""Workers never outlive their supervisor.

`kill -9` of the supervisor alone (not its process group) must take the workers with
it: an orphaned worker would keep the shared port (SO_REUSEPORT), answer connections
meant for a restarted runtime with stale state, and keep identity secrets in memory.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import free_port, start_runtime

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent, the test, has not reaped it).
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def test_workers_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    port = free_port()
    rt = start_runtime(tmp_path / "store.db", create=50, workers=2, port=port)
    workers = [int(p) for p in rt.ready["worker_pids"]]
    assert workers and all(_alive(p) for p in workers)
    os.kill(rt.proc.pid, signal.SIGKILL)  # the supervisor only
    rt.proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for p in left:  # never leave them behind, even when the assertion fails
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived their supervisor"
